"""Module and mixed style: a planned class as text.

Everything structural (members, parameters, optional submodules, the body's
statement plan) is in the :class:`~.class_plan.ClassPlan`; this module only writes
it, with an expression printer of the class's own.
"""

from __future__ import annotations

from torch import nn

from ..naming import is_plain_identifier
from ..options import Style
from .body import print_body
from .class_plan import ClassPlan
from .constructors import Assign, render_value
from .expressions import ExpressionPrinter
from .imports import Printed
from .values import literal


def class_text(plan: ClassPlan, style: Style) -> Printed:
    """``class Name(nn.Module): ...`` for ``plan``, and the imports it uses."""
    printer = ExpressionPrinter(style)
    printer.use("nn")
    parameters = [
        p.name if is_positional else f"{p.name}={render_value(p.default, printer)}"
        for p, is_positional in plan.signature
    ] + [f"{o}=None" for o in plan.optional]
    head = f"    def __init__({', '.join(['self', *parameters])}):\n"
    forward = ""
    if plan.statements is not None:
        module = plan.template.instance.module
        body = print_body(
            plan.template.graph,
            style,
            plan.statements,
            keyed_by_string=isinstance(module, nn.ModuleDict),
        )
        printer.imports.merge(body.imports)
        forward = (
            f"    def forward({', '.join(['self', *body.parameters])}):\n"
            + "".join(f"        {line}\n" for line in body.lines)
        )
    if plan.template.sequential:
        (assign,) = plan.init
        text = (
            f"class {plan.name}(nn.Sequential):\n"
            + head
            + f"        {render_value(assign.value, printer)}\n"
        )
        return Printed(text + ("\n" + forward if forward else ""), printer.imports)
    init = ["super().__init__()"] + [_statement(a, printer) for a in plan.init]
    # a ModuleDict subclass stays one: its keys may be "0", "1", ...
    base = (
        "ModuleDict"
        if isinstance(plan.template.instance.module, nn.ModuleDict)
        else "Module"
    )
    text = (
        f"class {plan.name}(nn.{base}):\n"
        + head
        + "".join(f"        {line}\n" for line in init)
        + "\n"
        + forward
    )
    return Printed(text, printer.imports)


def _statement(assign: Assign, printer: ExpressionPrinter) -> str:
    """One line of ``__init__``: an attribute, a buffer, or a ModuleDict key."""
    value = render_value(assign.value, printer)
    if assign.buffer:
        flag = "" if assign.persistent else ", persistent=False"
        return f"self.register_buffer({literal(assign.attribute)}, {value}{flag})"
    if is_plain_identifier(assign.attribute):
        return f"self.{assign.attribute} = {value}"
    # an nn.ModuleDict subclass keyed "0", "1", ... (torchvision's IntermediateLayerGetter)
    return f"self[{literal(assign.attribute)}] = {value}"
