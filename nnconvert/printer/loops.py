"""Loops: consecutive calls through every member of a container, chained, as one ``for``.

``for block in self.blocks: x = block(x)`` traces into one call per member
(``blocks.0``, ``blocks.1``, …), each taking the one before's result. Such a
run prints as the loop the user wrote: in class styles over the container,
in functional style over ``range(n)`` with each member's slice of the
weights (``sub_params(params, f"blocks.{i}.")``).

A run is a loop only when it reads as one without changing what runs: the
calls are consecutive statements, cover the container's members in order,
pass the previous result first (so every result has the one variable the
loop assigns) and the same other arguments (Whisper's ``block(x, xa,
mask=self.mask)``), run unconditionally, and call the same code: members of
one class (class styles), one function (functional).

In functional style a loop may also start after the container's first
members, when it runs to its last and they call other functions
(EfficientNet's first block, without expansion, then fifteen of another
shape: ``for i, (...) in enumerate([...], start=1):``); and the calls may
differ in the values of literal
keywords (DINO's first block has no drop path: ``has_drop_path=False``,
then ``True``): the loop runs over those values beside the index,
``for i, has_drop_path in enumerate((False, True)):``, or over their
``zip`` where several differ; keywords equal in every call stay literal.
Class styles keep such calls written out: there the values are the
members' own, and a member's call takes no keyword its siblings' do not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

from torch import fx, nn

from ..errors import ConversionError
from ..naming import first_free
from ..opspecs.helpers import SUB_PARAMS
from ..options import Style
from ..passes.unrolled import is_loop_literal
from ..ties import tied_outside
from .layout import black_lines
from .expressions import ExpressionPrinter, with_tied
from .names import RESERVED
from .source_loops import member_variable
from .containers import is_list_of
from .rolled_loops import CUT_TO
from .statements import StatementPlan

#: fewest calls printed as a loop
MIN_LOOP = 2
#: fewest calls printed as a loop after the container's first members (two
#: written out beside the call before them read as well, in fewer lines)
MIN_TAIL_LOOP = 3


@dataclass(frozen=True)
class Loop:
    """A run of chained calls printed as a ``for``: its calls and container prefix."""

    calls: tuple[fx.Node, ...]
    container: str  # "blocks" (the container's path), "" for the body's own members
    #: functional style: the keyword holding the number of members, where
    #: one function serves Sequentials of different lengths ("": the number)
    count: str = ""
    #: names the loop's variables may not take (the function's keywords and
    #: the names its body's variables avoid)
    reserved: frozenset[str] = frozenset()
    #: the member the loop starts at (functional style: the ones before call
    #: other functions)
    start: int = 0

    def lines(self, printer: ExpressionPrinter, plan: StatementPlan) -> list[str]:
        """``for block in self.blocks:`` / ``for i in range(n):`` and its one statement.

        A run whose first call takes another variable than the run assigns
        starts from it: DETR's ``output = src`` before ``for layer in
        self.layers: output = layer(output, ...)``.
        """
        first = self.calls[0]
        variable = plan.names[first]
        start = []
        if plan.names.get(first.args[0]) != variable:
            start = [f"{variable} = {printer.argument(first.args[0])}"]
        return start + self._loop_lines(printer, plan, first, variable)

    def _loop_lines(
        self,
        printer: ExpressionPrinter,
        plan: StatementPlan,
        first: fx.Node,
        variable: str,
    ) -> list[str]:
        taken = set(plan.names.values()) | RESERVED | self.reserved
        functional = printer.style is Style.FUNCTIONAL
        varying = varying_keywords(self.calls) if functional else {}
        values = {k: first_free(k, taken, "_") for k in varying}
        taken |= set(values.values())
        # every call of the run passes these (``blk(x, xa, size=(H, W))``)
        others = [printer.argument(a) for a in first.args[1:]]
        others += [
            f"{k}={values[k] if k in values else printer.argument(v)}"
            for k, v in first.kwargs.items()
        ]
        if functional:
            index = first_free("i", taken, "_")
            prefix = f"{self.container}." if self.container else ""
            function, training = printer.callees[str(first.target)]
            (weights,) = SUB_PARAMS.print(["params", f'f"{prefix}{{{index}}}."'])
            weights = with_tied(weights, _tied_in_every_call(self.calls))
            arguments = [weights, variable, *others]
            if training:
                arguments.append("training=training")
            call = f"{function}({', '.join(arguments)})"
            return [
                f"for {self._over(index, varying, values, printer)}:",
                f"    {variable} = {call}",
            ]
        written = member_variable(first, self.container)
        member = first_free(written or singular(self.container), taken, "_")
        return [
            f"for {member} in {printer.attribute_path(self.container)}:",
            f"    {variable} = {member}({', '.join([variable, *others])})",
        ]

    def _over(
        self,
        index: str,
        varying: dict[str, list[Any]],
        values: dict[str, str],
        printer: ExpressionPrinter,
    ) -> str:
        """``i in range(n)``, or with the keywords' values: ``i, flag in enumerate((...))``."""
        if varying:
            columns = {values[k]: column for k, column in varying.items()}
            return enumerated_values(index, columns, printer, self.start)
        if self.start:
            return f"{index} in range({self.start}, {self.start + len(self.calls)})"
        return f"{index} in range({self.count or len(self.calls)})"


def enumerated_values(
    index: str,
    columns: dict[str, list[Any]],
    printer: ExpressionPrinter,
    start: int = 0,
) -> str:
    """``i, flag in enumerate((...))``: a loop's index beside its variables' values.

    ``columns``: each variable and its value in every step. Several are
    zipped columns, or one row per step (``[(1, 32, True), (2, 144, False),
    ...]``) where black writes that in fewer lines: a table like the user's
    ``cfg``, where columns too long for a line would each be spread over many.
    """
    after = f", start={start}" if start else ""
    texts = [_tuple_text(column, printer) for column in columns.values()]
    if len(texts) == 1:
        return f"{index}, {next(iter(columns))} in enumerate({texts[0]}{after})"
    names = ", ".join(columns)
    zipped = f"{index}, ({names}) in enumerate(zip({', '.join(texts)}){after})"
    rows = [_tuple_text(list(row), printer) for row in zip(*columns.values())]
    listed = f"{index}, ({names}) in enumerate([{', '.join(rows)}]{after})"
    return min((zipped, listed), key=_lines_in_a_function)


def _lines_in_a_function(header: str) -> int:
    """The lines black writes ``for <header>:`` in, in a function's body."""
    return black_lines(f"def f():\n    for {header}:\n        pass\n")


def _tuple_text(column: list[Any], printer: ExpressionPrinter) -> str:
    """``(False, True)``: one keyword's values, a call's each."""
    return "(" + ", ".join(printer.argument(v) for v in column) + ")"


def varying_keywords(calls: Sequence[fx.Node]) -> dict[str, list[Any]]:
    """The keywords whose literal values differ between ``calls``, each with its values in order.

    In the order the first call passes them; empty where every call passes
    the same.
    """
    first = calls[0]
    return {
        key: [call.kwargs[key] for call in calls]
        for key, value in first.kwargs.items()
        if any(not _same_value(call.kwargs[key], value) for call in calls[1:])
    }


def _same_keywords(node: fx.Node, first: fx.Node, style: Style) -> bool:
    """``node`` passes ``first``'s keywords: the same, or in functional style other literals.

    Functional style loops over a keyword's values (:meth:`Loop._over`);
    only keywords that are literals in both calls may differ.
    """
    if node.kwargs == first.kwargs:
        return True
    if style is not Style.FUNCTIONAL or list(node.kwargs) != list(first.kwargs):
        return False
    return all(
        _same_value(value, first.kwargs[key])
        or (is_loop_literal(value) and is_loop_literal(first.kwargs[key]))
        for key, value in node.kwargs.items()
    )


def _same_value(value: Any, other: Any) -> bool:
    """Equal and of one type, element by element: ``1`` is not ``1.0`` nor ``True``."""
    if isinstance(value, tuple) and isinstance(other, tuple):
        return len(value) == len(other) and all(map(_same_value, value, other))
    return type(value) is type(other) and value == other


def _tied_in_every_call(calls: Sequence[fx.Node]) -> dict[str, str]:
    """What every looped block shares with a layer outside it (:func:`~nnconvert.ties.tied_outside`).

    The loop hands each block the same tensors; blocks that share different
    ones cannot be written as one call, and say so.
    """
    found = [tied_outside(_original(call), str(call.target)) for call in calls]
    for call, tied in zip(calls, found):
        if tied != found[0]:
            key, first = next(iter((tied or found[0]).items()))
            raise ConversionError(
                f"tied weights {first!r} and '{call.target}.{key}': the blocks of "
                "one loop share different tensors with layers outside them, which "
                "functional style cannot pass them in one call; convert to module "
                "or mixed style"
            )
    return found[0]


def _original(node: fx.Node) -> nn.Module:
    return node.graph.owning_module.meta.get("original", node.graph.owning_module)


def find_loops(
    graph: fx.Graph,
    plan: StatementPlan,
    style: Style,
    owner: nn.Module,
    callees: dict[str, tuple[str, bool]] | None = None,
    reserved: frozenset[str] = frozenset(),
    counts: dict[str, str] | None = None,
) -> list[Loop]:
    """The runs of ``graph`` that print as loops (module docstring).

    ``owner`` holds the containers; ``callees`` (functional style) are each
    block call's function: a loop's calls all call one. ``reserved``: names
    a loop's variables may not take (:attr:`Loop.reserved`). ``counts``:
    each container of a graph cut to two copies and the keyword that says
    how many members it has (:mod:`.rolled_loops`).
    """
    statements = [
        n
        for n in graph.nodes
        if n not in plan.inlined and n.op not in ("placeholder", "output")
    ]
    loops = []
    index = 0
    while index < len(statements):
        run = _run_from(statements, index, plan, style)
        # the run from each later member is the rest of this one (the members
        # pass the first's keywords), and a loop starts at member 0: so each
        # start is tried once, and a chain of n distinct blocks costs n, not n²
        found = None
        for start in range(len(run)):
            if start and not str(run[start].target).endswith(("0", ".0")):
                continue
            found = _as_loop(
                run[start:], plan, style, owner, callees or {}, counts=counts or {}
            )
            if found is not None:
                break
        if found is None and style is Style.FUNCTIONAL:
            found = _tail_loop(run, plan, owner, callees or {})
        if found is not None:
            loops.append(dataclasses.replace(found, reserved=reserved))
        index += max(len(run), 1)
    return loops


def _run_from(
    statements: list[fx.Node], index: int, plan: StatementPlan, style: Style
) -> list[fx.Node]:
    """The chain of calls starting at ``statements[index]``, each taking the one before.

    Each passes the one before's result first, and what the first passes
    after it (in functional style, literal keywords may differ:
    :func:`_same_keywords`), through a member of the first's container: a
    chain running on into the next container (``for layer in self.a: ...``
    then ``for layer in self.b: ...``) is two runs, each its own loop.
    """
    first = statements[index]
    if not _is_member_call(first, plan) or not isinstance(first.args[0], fx.Node):
        return []
    container = _container(first)
    run = [first]
    for node in statements[index + 1 :]:
        previous = run[-1]
        if not (
            _is_member_call(node, plan)
            and _container(node) == container
            and node.args[0] is previous
            and len(previous.users) == 1
            and node.args[1:] == first.args[1:]
            and _same_keywords(node, first, style)
        ):
            break
        run.append(node)
    return run


def _tail_loop(
    run: list[fx.Node],
    plan: StatementPlan,
    owner: nn.Module,
    callees: dict[str, tuple[str, bool]],
) -> Loop | None:
    """The longest end of ``run`` that calls one function through a container's last members.

    Functional style: the members before call other functions, and stay
    calls of their own before the loop.
    """
    for start in range(len(run) - MIN_TAIL_LOOP + 1):
        tail = run[start:]
        if any(str(n.target) not in callees for n in tail):
            continue
        if len({callees[str(n.target)] for n in tail}) != 1:
            continue
        return _as_loop(tail, plan, Style.FUNCTIONAL, owner, callees, partial=True)
    return None


def _container(node: fx.Node) -> str:
    """``blocks`` for a call of ``blocks.3``."""
    return str(node.target).rpartition(".")[0]


def _is_member_call(node: fx.Node, plan: StatementPlan) -> bool:
    """A plain call of a numbered member: ``self.blocks[3](x)``, ``self.blocks[3](x, xa)``."""
    return (
        node.op == "call_module"
        and len(node.args) >= 1
        and str(node.target).rpartition(".")[2].isdigit()
        and not plan.guards.get(node)
        and node not in plan.optional
        and node not in plan.unpacks
    )


def _as_loop(
    run: list[fx.Node],
    plan: StatementPlan,
    style: Style,
    owner: nn.Module,
    callees: dict[str, tuple[str, bool]],
    partial: bool = False,
    counts: dict[str, str] | None = None,
) -> Loop | None:
    """``run`` as a loop, if it covers its container in order and calls one body.

    ``partial``: from any member to the container's last (functional style).
    ``counts``: see :func:`find_loops`.
    """
    if len(run) < MIN_LOOP:
        return None
    container, _, first_member = str(run[0].target).rpartition(".")
    start = int(first_member) if partial and first_member.isdigit() else 0
    functional = style is Style.FUNCTIONAL
    if not container and not functional:
        return None  # a Sequential subclass's own members: its forward is Sequential's
    if functional and (
        any(str(n.target) not in callees for n in run)
        or len({callees[str(n.target)] for n in run}) != 1
    ):
        return None
    prefix = f"{container}." if container else ""
    members = range(start, start + len(run))
    if [str(n.target) for n in run] != [f"{prefix}{i}" for i in members]:
        return None
    try:
        holder = owner.get_submodule(container)
    except AttributeError:
        return None
    cut = counts is not None and container in counts
    if cut and (start or len(run) != CUT_TO):
        return None
    if not cut and not is_list_of(holder, start + len(run)):
        return None
    variable = plan.names.get(run[0])
    if variable is None or any(plan.names.get(n) != variable for n in run):
        return None
    given = [*run[0].args[1:], *run[0].kwargs.values()]
    if plan.names.get(run[0].args[0]) != variable and any(
        isinstance(a, fx.Node) and plan.names.get(a) == variable for a in given
    ):
        return None  # ``output = src`` before the loop would hide what it passes
    if not functional and len({type(m) for m in holder.children()}) != 1:
        return None
    count = counts[container] if cut else ""
    return Loop(tuple(run), container, count=count, start=start)


def singular(container: str) -> str:
    """``blocks`` -> ``block``: the loop variable over a container."""
    name = container.rpartition(".")[2]
    if len(name) > 1 and name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return "block"
