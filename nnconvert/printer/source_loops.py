"""The user's own ``for`` statement behind an unrolled loop, read from the source.

An unrolled loop (:mod:`nnconvert.passes.unrolled`) prints best as the user
wrote it: under the ``for``'s variable, with the lists it grows by their
names and the way they grow (``outputs += [output]``). The source also says
what the graph cannot: which guard is a ``range``'s length, and whether the
function reads how many steps ran (then the loop must stay unrolled).
Nothing here is needed: a model without source prints its loops with
names from the plan.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from torch import fx

from ..passes.unrolled import Unrolled, member_item
from ..source_map import call_span, statement_line
from ..source_text import (
    is_container,
    loop_around,
    one_argument_call,
    read_file,
)


@dataclass(frozen=True)
class SourceLoop:
    """What the user's ``for`` statement says: its variable, its lists and how they grow."""

    element: str | None
    #: appended variable -> list variable (``None``: an expression is appended)
    lists: dict[str | None, str]
    appends: str
    #: the function reads how many steps ran (``len(outputs)``, the loop's
    #: variable after it): the trace made that a constant, so the loop must
    #: stay unrolled, its length guarded
    counted: bool = False
    #: the ``for`` statement's line
    line: int = 0


def count_and_source(
    unrolled: Unrolled,
) -> tuple[tuple[fx.Node, ...], SourceLoop | None]:
    """The user's ``for`` statement, and for a loop over indices the guard of its length.

    A loop over ``range(future)`` made its guard on its ``for`` line. A
    sequence's ``for`` is on the line that made the sequence, or that asked
    its length (a sequence made before, ``for piece in pieces:``). A loop over
    ``range(x.size(1))`` is the ``for ... in range(...)`` around its first
    step; it made its guard (``x.size(1) == 5``) on its own line, so the
    guard on that line is its length. Without such a guard (``range(3)``),
    or without the source, the loop runs the traced count.
    """
    if unrolled.counter is not None:  # ``for i in range(future):``, on the guard's line
        loop = _loop_at(unrolled.length_guard[-1], around=False)
        return (), _source_loop(loop) if loop is not None else None
    if unrolled.times is not None:  # ``for k in range(self.block_size):`` around it
        loop = _loop_at(unrolled.body[0], around=True)
        return (), _source_loop(loop) if loop is not None else None
    if unrolled.stepped is None:
        loop = _loop_at(unrolled.sequence, around=False)
        if loop is None and unrolled.length_guard:  # ``for piece in pieces:``
            # iterating asked the length on the ``for`` line
            loop = _loop_at(unrolled.length_guard[0], around=False)
        return (), _source_loop(loop) if loop is not None else None
    found = _loop_at(unrolled.elements[0], around=True)
    if found is None or not one_argument_call(found[0].iter, "range"):
        return (), None
    step = statement_line(unrolled.elements[0])
    for guard in unrolled.counts:
        frame = statement_line(guard[-1])
        if frame is not None and (frame.file, frame.line) == (
            step.file,
            found[0].lineno,
        ):
            return guard, _source_loop(found)
    return (), _source_loop(found)


def member_variable(call: fx.Node, container: str) -> str | None:
    """The user's name for the member of ``for <name> in self.<container>:`` around ``call``.

    DINO's ``for blk in self.blocks: x = blk(x)`` prints with ``blk``;
    None where the source's ``for`` is not over that container or unpacks
    its members (``for attn, ff in self.layers:``).
    """
    target = _member_target(call, container)
    return target.id if isinstance(target, ast.Name) else None


def member_variables(call: fx.Node, container: str) -> tuple[str, ...] | None:
    """The user's names for a member's items: ``("attn", "ff")`` of ``for attn, ff in self.layers:``.

    None where the source's ``for`` around ``call`` is not over that
    container or does not unpack its members into plain names.
    """
    target = _member_target(call, container)
    if not isinstance(target, ast.Tuple) or not all(
        isinstance(item, ast.Name) for item in target.elts
    ):
        return None
    return tuple(item.id for item in target.elts)


def member_loop_line(call: fx.Node, container: str) -> int | None:
    """The line of the user's ``for ... in self.<container>:`` around ``call``,
    or of a functional file's ``for i in range(n):`` over its members."""
    found = _loop_at(call, around=True)
    if found is None:
        return None
    loop = found[0]
    over_range = (
        isinstance(loop.iter, ast.Call)
        and isinstance(loop.iter.func, ast.Name)
        and loop.iter.func.id == "range"
    )
    over_members = _member_item(*found, container) is not None
    return loop.lineno if over_members or over_range else None


def _member_target(call: fx.Node, container: str) -> ast.expr | None:
    """The target of the user's ``for ... in self.<container>:`` around ``call``."""
    found = _loop_at(call, around=True)
    return _member_item(*found, container) if found is not None else None


def _member_item(loop: ast.For, function: ast.AST, container: str) -> ast.expr | None:
    """What ``loop`` (in ``function``) names each member of ``self.<container>``
    (``enumerate``'s index and ``zip``'s other items aside); None for a loop
    over anything else.

    The loop may run over a local bound once to an expression reading the
    container (XCiT's ``layers = dropout_layers(self.layers, ...)``): the
    trace ran it over the members it found.
    """
    if is_container(loop.iter, container, function):
        return loop.target
    # ``for i, (attn, ff) in enumerate(self.layers):``: whatever the body read
    # through ``i`` the trace made a constant, the same in every copy, so the
    # loop prints over the items alone
    if (
        one_argument_call(loop.iter, "enumerate")
        and is_container(loop.iter.args[0], container, function)
        and isinstance(loop.target, ast.Tuple)
        and len(loop.target.elts) == 2
    ):
        return loop.target.elts[1]
    # ``for level, (transformer, aggregate) in zip(reversed(range(n)),
    # self.layers):`` (NesT): the other sequences' items are constants too
    if (
        isinstance(loop.iter, ast.Call)
        and isinstance(loop.iter.func, ast.Name)
        and loop.iter.func.id == "zip"
        and not loop.iter.keywords
        and isinstance(loop.target, ast.Tuple)
        and len(loop.target.elts) == len(loop.iter.args)
    ):
        for sequence, target in zip(loop.iter.args, loop.target.elts):
            if is_container(sequence, container, function):
                return target
    return None


def _loop_at(node: fx.Node, around: bool) -> tuple[ast.For, ast.AST] | None:
    """The user's ``for`` on ``node``'s line, or (``around``) the innermost one around it.

    With the function it is in (the module, outside any).
    """
    frame = statement_line(node)
    parsed = read_file(frame.file) if frame else None
    if parsed is None:
        return None
    if not around:
        loops = [n for n in ast.walk(parsed.tree) if isinstance(n, ast.For)]
        loop = next((n for n in loops if n.lineno == frame.line), None)
    else:
        loop = loop_around(parsed.tree, frame.line)
    if loop is None:
        return None
    functions = [
        n
        for n in ast.walk(parsed.tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        and n.lineno <= loop.lineno <= n.end_lineno
    ]
    return loop, max(functions, key=lambda n: n.lineno, default=parsed.tree)


def _source_loop(found: tuple[ast.For, ast.AST]) -> SourceLoop:
    """What the user's ``for`` says: its variable, its lists and how they grow."""
    loop, function = found
    element = loop.target.id if isinstance(loop.target, ast.Name) else None
    lists: dict[str | None, str] = {}
    appends = "append"
    for statement in ast.walk(loop):
        grown = _grown_list(statement)
        if grown is not None:
            (target, value), appends = grown
            lists[value] = target
    counted = _counts_steps(loop, function, set(lists.values()))
    return SourceLoop(element, lists, appends, counted, loop.lineno)


def _counts_steps(loop: ast.For, function: ast.AST, lists: set[str]) -> bool:
    """``function`` reads the loop's variable after it, or the length of a list it grows.

    Either is a number the trace saw as a constant (``torch.cat(outputs) /
    len(outputs)`` divides by 20): true for the traced length only.
    """
    targets = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in targets
            and node.lineno > loop.end_lineno
        ):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "len"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in lists
        ):
            return True
    return False


def _grown_list(statement: ast.AST) -> tuple[tuple[str, str | None], str] | None:
    """``outputs += [output]`` / ``outputs.append(output)``: ((list, value), form).

    The value is ``None`` when it is no plain name (``outputs += [self.out(h)]``).
    """
    if (
        isinstance(statement, ast.AugAssign)
        and isinstance(statement.op, ast.Add)
        and isinstance(statement.target, ast.Name)
        and isinstance(statement.value, ast.List)
        and len(statement.value.elts) == 1
    ):
        return (statement.target.id, _name(statement.value.elts[0])), "extend"
    if (
        isinstance(statement, ast.Call)
        and isinstance(statement.func, ast.Attribute)
        and statement.func.attr == "append"
        and isinstance(statement.func.value, ast.Name)
        and len(statement.args) == 1
    ):
        return (statement.func.value.id, _name(statement.args[0])), "append"
    return None


def _name(expression: ast.expr) -> str | None:
    return expression.id if isinstance(expression, ast.Name) else None


def keyword_variable(call: fx.Node, keyword: str) -> str | None:
    """The variable the user's call passes as ``keyword``: ``block_size`` of
    NesT's ``rearrange(x, ..., b1 = block_size)``; None where it passes
    anything else or the call cannot be found (:func:`.source_map.call_span`).
    """
    span = call_span(call)
    source = read_file(span.file) if span is not None else None
    if source is None:
        return None
    for node in ast.walk(source.tree):
        if (
            isinstance(node, ast.Call)
            and (node.lineno, node.col_offset) == (span.line, span.column)
            and (node.end_lineno, node.end_col_offset)
            == (span.end_line, span.end_column)
        ):
            value = next((k.value for k in node.keywords if k.arg == keyword), None)
            return value.id if isinstance(value, ast.Name) else None
    return None


def flag_variable(call: fx.Node, container: str) -> str | None:
    """The user's name for whether a member ``call`` runs in a step of their loop.

    The ``if`` around it where that tests a plain name (a functional
    file's ``if has_aggregate:``, read back), else ``has_`` and the name
    the user's ``for`` gives the member's item (NesT's ``for transformer,
    aggregate in self.layers``: ``has_aggregate``; ScalableViT's ``if
    exists(peg):`` over ``for ssa, ff1, peg, iwsa, ff2 in self.layers``:
    ``has_peg``); None where the source says neither.
    """
    found = _loop_at(call, around=True)
    frame = statement_line(call)
    if found is None or frame is None:
        return None
    tests = [
        statement.test
        for statement in ast.walk(found[0])
        if isinstance(statement, ast.If)
        and statement.body[0].lineno <= frame.line <= statement.body[-1].end_lineno
    ]
    innermost = max(tests, key=lambda test: test.lineno, default=None)
    if isinstance(innermost, ast.Name):
        return innermost.id
    names = member_variables(call, container)
    item = member_item(call, container)  # ``2`` of ``layers.0.2``
    if names and item.isdigit() and int(item) < len(names):
        return f"has_{names[int(item)]}"
    return None
