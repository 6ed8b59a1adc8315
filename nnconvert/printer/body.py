"""One function body as text: the statement plan rendered line by line.

What is a statement, what is inlined, unpacked, or named what is decided
before, on the graph (:mod:`.statements`); this module only writes it, with an
expression printer of the body's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import fx, nn

from ..branches import Guard, is_expect, is_only_when, negated
from ..opspecs.helpers import helper_for
from ..options import Style
from ..source_text import CommentFeed
from ..naming import is_plain_identifier
from .expressions import ATOM, BINARY, INPLACE, ExpressionPrinter
from .imports import Imports
from .loops import Loop
from .statements import StatementPlan, Unpacks, is_read
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
    loops: Sequence[Loop] = (),
) -> Body:
    """``graph`` written as ``plan`` says, by an expression printer of its own.

    ``callees`` (functional style): each block call's function and whether it
    takes ``training``; ``owners`` (class styles): the module whose body it is,
    so that attribute paths are written as its containers index them;
    ``leaves`` (functional style): each third-party layer call's module-level layer;
    ``loops``: runs of calls printed as one ``for`` (:mod:`.loops`).
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
    lines = body_lines(
        graph,
        plan.inlined,
        printer,
        plan.unpacks,
        plan.optional,
        plan.guards,
        plan.branch_ends,
        {loop.calls[0]: loop.lines(printer, plan) for loop in loops},
        {call for loop in loops for call in loop.calls[1:]},
    )
    return Body(parameters, lines, printer.imports)


# -- lines ------------------------------------------------------------------


def body_lines(
    graph: fx.Graph,
    inlined: frozenset[fx.Node],
    printer: ExpressionPrinter,
    unpacks: Unpacks | None = None,
    optional: frozenset[fx.Node] = frozenset(),
    guarded: dict[fx.Node, Guard] | None = None,
    branch_ends: frozenset[fx.Node] = frozenset(),
    loops: dict[fx.Node, list[str]] | None = None,
    looped: set[fx.Node] = frozenset(),
) -> list[str]:
    """Every statement of ``graph``, each inside the ``if`` of its guard.

    ``loops``: the lines of a loop at its first call; the other calls of a
    loop (``looped``) print nothing of their own.
    """
    loops = loops or {}
    unpacks = unpacks or {}
    guarded = guarded or {}
    elements = {t for targets in unpacks.values() for t in targets if t is not None}
    statements: list[tuple[Guard, fx.Node | None, list[str]]] = []
    comments = CommentFeed()
    for node in graph.nodes:
        if (
            node in inlined
            or node.op == "placeholder"
            or node in elements
            or is_only_when(node)  # a mark: its effect is printed in the branch
            or node in looped
        ):
            continue
        if node in loops:
            statements.append((guarded.get(node, ()), None, loops[node]))
            continue
        guard = guarded.get(node, ())
        if node in branch_ends:
            condition, if_true, if_false = node.args
            if node in unpacks:  # ``out, _ = self.encoder_attn(...)`` on one side
                name = _unpack_target(unpacks[node], printer)
            else:
                name = printer.names[node]
            for polarity, value in ((True, if_true), (False, if_false)):
                text = printer.argument(value)
                lines = [] if text == name else [f"{name} = {text}"]
                statements.append((guard + ((condition, polarity),), None, lines))
            continue
        statements.append((guard, node, _statement(node, printer, unpacks, optional)))
    comments.prepare([node for _, node, lines in statements if lines and node])
    entries = [
        (guard, _commented(lines, node, comments) if node else lines)
        for guard, node, lines in statements
    ]
    return _nested(entries, printer, 0)


def _commented(lines: list[str], node: fx.Node, comments: CommentFeed) -> list[str]:
    """The user's comments on ``node``'s line before its statement (the rest before ``return``).

    Never on a statement that prints nothing: a comment alone cannot be a block.
    """
    if not lines:
        return lines
    above = comments.before(node)
    if node.op == "output":
        above += comments.rest()
    return above + lines


def _statement(
    node: fx.Node,
    printer: ExpressionPrinter,
    unpacks: Unpacks,
    optional: frozenset[fx.Node],
) -> list[str]:
    """The lines of one statement node."""
    if node in unpacks:
        return [
            f"{_unpack_target(unpacks[node], printer)} = {printer.definition(node)}"
        ]
    if node.op == "output":
        return [f"return {printer.argument(node.args[0])}"]
    if is_expect(node):  # a shape guard
        condition, message = node.args
        return [
            f"if {condition_text(condition, False, printer)}:",
            f"    raise ValueError({printer.argument(message)})",
        ]
    if node.op == "call_function" and _is_statement_helper(node):
        arguments = [printer.argument(a) for a in node.args]
        return helper_for(node.target).print(arguments)  # if training: ...
    if node in optional:
        layer = printer.attribute_path(str(node.target))
        assignment = f"{printer.names[node]} = {printer.definition(node)}"
        return [f"if {layer} is not None:", f"    {assignment}"]
    if _is_attribute_assignment(node):
        target, name, value = node.args
        return [f"{printer.operand(target, ATOM)}.{name} = {printer.argument(value)}"]
    if node.op == "call_function" and node.target in INPLACE:
        target, value = node.args
        lines = [
            f"{printer.argument(target)} {INPLACE[node.target]} {printer.argument(value)}"
        ]
        if is_read(node) and printer.names[node] != printer.argument(target):
            lines.append(f"{printer.names[node]} = {printer.argument(target)}")
        return lines
    expression = printer.definition(node)
    return [f"{printer.names[node]} = {expression}"] if is_read(node) else [expression]


def _nested(
    entries: list[tuple[Guard, list[str]]], printer: ExpressionPrinter, depth: int
) -> list[str]:
    """Lines under their guards: consecutive statements under one condition share its ``if``.

    ``entries`` share their first ``depth`` conditions; the statements of
    each answer keep their order, the true side printed first.
    """
    lines: list[str] = []
    index = 0
    while index < len(entries):
        guard, statement = entries[index]
        if len(guard) <= depth:
            lines += statement
            index += 1
            continue
        condition = guard[depth][0]
        end = index
        while (
            end < len(entries)
            and len(entries[end][0]) > depth
            and entries[end][0][depth][0] is condition
        ):
            end += 1
        group = entries[index:end]
        sides = [
            _nested([e for e in group if e[0][depth][1] is answer], printer, depth + 1)
            for answer in (True, False)
        ]
        if sides[0]:
            lines.append(f"if {condition_text(condition, True, printer)}:")
            lines += _indented(sides[0])
            if sides[1]:
                lines.append("else:")
                lines += _indented(sides[1])
        elif sides[1]:
            lines.append(f"if {condition_text(condition, False, printer)}:")
            lines += _indented(sides[1])
        index = end
    return lines


def condition_text(condition: fx.Node, answer: bool, printer: ExpressionPrinter) -> str:
    """``self.training``, ``mask is None``: the condition, or its opposite."""
    if answer:
        return printer.argument(condition)
    opposite = negated(condition)
    if opposite is not None:
        comparison, (left, right) = opposite
        symbol, precedence = BINARY[comparison]
        return (
            f"{printer.operand(left, precedence)} {symbol} "
            f"{printer.operand(right, precedence, right=True)}"
        )
    return f"not {printer.operand(condition, 5)}"


def _indented(lines: list[str]) -> list[str]:
    return ["    " + line if line else line for line in lines]


def _is_attribute_assignment(node: fx.Node) -> bool:
    """``setattr(o, "name", v)`` recorded by the tracer: written ``o.name = v``."""
    return (
        node.op == "call_function"
        and node.target is setattr
        and len(node.args) == 3
        and is_plain_identifier(str(node.args[1]))
    )


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
            text += ": Tensor | None" if node.args == (None,) else ": Tensor"
            printer.use("Tensor")
        if node.args:
            text += (
                f"={literal(node.args[0])}"
                if not hint
                else f" = {literal(node.args[0])}"
            )
        parameters.append(text)
    return parameters
