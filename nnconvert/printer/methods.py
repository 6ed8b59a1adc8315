"""Helper methods kept as methods (module and mixed style) or functions (functional).

The pass :mod:`nnconvert.passes.methods` left each kept helper call as one
node whose target (a :class:`~nnconvert.passes.methods.MethodCall`) holds
the method's body; here those bodies are planned and written, once per
method, in the order the graph first calls them.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import fx, nn

from ..options import Style
from ..passes.methods import MethodCall, is_method_call
from ..source_text import docstring_lines, function_docstring
from .body import Body, print_body
from .statements import StatementPlan, plan_statements
from .written_helpers import written_body


@dataclass(frozen=True)
class MethodPlan:
    """One helper method: its call target (name and body) and how its body reads."""

    call: MethodCall
    statements: StatementPlan


def methods_of(graph: fx.Graph) -> list[MethodCall]:
    """The helper methods ``graph`` calls, each once, in the order first called.

    With those they call (DETR's ``forward_post`` calls ``with_pos_embed``),
    each after its first caller.
    """
    found: dict[str, MethodCall] = {}

    def visit(graph: fx.Graph) -> None:
        for node in graph.nodes:
            if is_method_call(node) and node.target.name not in found:
                found[node.target.name] = node.target
                visit(node.target.body)

    visit(graph)
    return list(found.values())


def plan_methods(
    graph: fx.Graph, style: Style, reserved: frozenset[str]
) -> list[MethodPlan]:
    """The statement plan of each helper method ``graph`` calls."""
    return [
        MethodPlan(call, plan_statements(call.body, style, reserved))
        for call in methods_of(graph)
    ]


def method_body(
    plan: MethodPlan, style: Style, owners: tuple[nn.Module, ...], **options
) -> Body:
    """The method's body printed, as :func:`~.body.print_body` prints ``forward``'s.

    A method that never reads ``self`` keeps its own lines instead
    (:mod:`.written_helpers`).
    """
    call = plan.call
    printed = print_body(call.body, style, plan.statements, owners=owners, **options)
    return written_body(call.function, call.body, printed) or printed


def method_text(plan: MethodPlan, body: Body) -> str:
    """``    def name(self, ...):`` and its lines, at class depth."""
    parameters = ", ".join(["self", *body.parameters])
    docstring = function_docstring(plan.call.function)
    lines = docstring_lines(docstring, " " * 8) if docstring else []
    return (
        f"    def {plan.call.name}({parameters}):\n"
        + "".join(f"{line}\n" for line in lines)
        + "".join(f"        {line}\n" for line in body.lines)
    )
