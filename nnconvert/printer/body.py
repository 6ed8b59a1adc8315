"""One function body as text: the statement plan rendered line by line.

What is a statement, what is inlined, unpacked, or named what is decided
before, on the graph (:mod:`.statements`); this module only writes it, with an
expression printer of the body's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn

from ..opspecs.helpers import helper_for
from ..options import Style
from .expressions import INPLACE, ExpressionPrinter
from .imports import Imports
from .statements import StatementPlan, Unpacks
from .values import literal


@dataclass(frozen=True)
class Body:
    """A printed body: its signature's parameters, its lines and the imports they use."""

    parameters: list[str]
    lines: list[str]
    imports: Imports


def print_body(
    graph: fx.Graph,
    style: Style,
    plan: StatementPlan,
    *,
    callees: dict[str, tuple[str, bool]] | None = None,
    owners: tuple[nn.Module, ...] = (),
    leaves: dict | None = None,
) -> Body:
    """``graph`` written as ``plan`` says, by an expression printer of its own.

    ``callees`` (functional style): each block call's function and whether it
    takes ``training``; ``owners`` (class styles): the module whose body it is,
    so that attribute paths are written as its containers index them;
    ``leaves`` (functional style): each third-party layer call's module-level layer.
    """
    printer = ExpressionPrinter(
        style,
        names=dict(plan.names),
        callees=dict(callees or {}),
        owners=owners,
        leaves=dict(leaves or {}),
    )
    hint = style is Style.FUNCTIONAL
    parameters = signature_parameters(graph, printer, hint)
    lines = body_lines(graph, plan.inlined, printer, plan.unpacks, plan.optional)
    return Body(parameters, lines, printer.imports)


# -- lines ------------------------------------------------------------------


def body_lines(
    graph: fx.Graph,
    inlined: frozenset[fx.Node],
    printer: ExpressionPrinter,
    unpacks: Unpacks | None = None,
    optional: frozenset[fx.Node] = frozenset(),
) -> list[str]:
    unpacks = unpacks or {}
    elements = {t for targets in unpacks.values() for t in targets if t is not None}
    lines = []
    for node in graph.nodes:
        if node in inlined or node.op == "placeholder" or node in elements:
            continue
        if node in unpacks:
            lines.append(
                f"{_unpack_target(unpacks[node], printer)} = {printer.definition(node)}"
            )
        elif node.op == "output":
            lines.append(f"return {printer.argument(node.args[0])}")
        elif node.op == "call_function" and _is_statement_helper(node):
            arguments = [printer.argument(a) for a in node.args]
            lines += helper_for(node.target).print(arguments)  # if training: ...
        elif node in optional:
            layer = printer.attribute_path(str(node.target))
            assignment = f"{printer.names[node]} = {printer.definition(node)}"
            lines += [f"if {layer} is not None:", f"    {assignment}"]
        elif node.op == "call_function" and node.target in INPLACE:
            target, value = node.args
            lines.append(
                f"{printer.argument(target)} {INPLACE[node.target]} {printer.argument(value)}"
            )
            if node.users and printer.names[node] != printer.argument(target):
                lines.append(f"{printer.names[node]} = {printer.argument(target)}")
        else:
            expression = printer.definition(node)
            if node.users:
                lines.append(f"{printer.names[node]} = {expression}")
            else:
                lines.append(expression)
    return lines


def _is_statement_helper(node: fx.Node) -> bool:
    """A helper row printed as statements of its own (``count_batch``'s ``if``)."""
    helper = helper_for(node.target)
    return helper is not None and helper.is_statement


def _unpack_target(targets: list[fx.Node | None], printer: ExpressionPrinter) -> str:
    """``a, _, c`` (``a, *_`` when the rest is unread)."""
    names = [printer.names[t] if t is not None else "_" for t in targets]
    while len(names) > 1 and names[-1] == "_" and names[-2] == "_":
        names.pop()
    if names[-1] == "_" and len(names) < len(targets):
        names[-1] = "*_"
    return ", ".join(names)


def signature_parameters(
    graph: fx.Graph, printer: ExpressionPrinter, hint: bool
) -> list[str]:
    parameters = []
    for node in graph.nodes:
        if node.op != "placeholder":
            continue
        text = printer.names[node]
        value = node.meta.get("value")
        if hint and isinstance(value, torch.Tensor):
            text += ": Tensor"
            printer.use("Tensor")
        if node.args:
            text += (
                f"={literal(node.args[0])}"
                if not hint
                else f" = {literal(node.args[0])}"
            )
        parameters.append(text)
    return parameters
