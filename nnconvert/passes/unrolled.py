"""Loops over data that the trace unrolled: found on the graph, as data for the printer.

``for input_t in input.split(1, dim=1): h, c = self.cell(input_t, (h, c));
outputs += [self.linear(h)]`` traces into one copy of the body per element
of the sequence. This module finds such runs (:func:`find_unrolled`); the
printer writes them as the loop again (:mod:`nnconvert.printer.data_loops`).

A run is a loop only when every copy is the same computation and nothing
tells the copies apart but their place in the sequence:

- the sequence is one node's tuple (``split``, ``chunk``, ``unbind``), and
  copy *i* is the only reader of element *i*;
- the copies are consecutive blocks of the graph, node for node the same
  op, the same module or function, the same constants; an argument of copy
  *i* is a node of copy *i* (the same position as in copy 0), its element,
  a value made before the run (the same one in every copy), or a value of
  copy *i - 1* (carried: ``h``), where copy 0 reads a value made before
  (its initial value, the same one for every carried position);
- a value of copy *i < n - 1* is read after the run only as one place of a
  list of that position's value in every copy (``torch.cat(outputs)``);
- where the source is known, each position of every copy comes from the
  same line as in copy 0 (a body the user wrote out by hand stays so).

The sequence's length guard (``len(seq) == 20``, from the tracer asking
how often to loop) goes with the loop, which runs for any length; a length
read anywhere else makes the run stay unrolled.

A loop over indices (``for t in range(x.size(1)): ... x[:, t]``) has no
sequence node: its elements are indexings of one tensor, ``x[:, 0]`` …
``x[:, n - 1]``, each inside its copy, alike but for the step. Which guard
is its ``range``'s length is read from the source by the printer.

A loop over a plain int argument (``for i in range(future):``, ``future``
traced as 3 by :mod:`nnconvert.range_counts`) has neither a sequence nor
indexings: the tracer's guard ``future == 3`` was made on the ``for``
line, and the copies are the nodes made on the lines of that ``for``'s
body, read from the source (:func:`_unrolled_counted`). They must be all
of what those lines made, so a body written out by hand twice is never
taken for two steps. The guard goes with the loop, which runs
``range(future)`` for any ``future``.

A loop over the members of a container (``for attn, ff in self.layers: x =
attn(x) + x; x = ff(x) + x``) has neither: copy *i* is what the trace made
of member *i*, and the copies are alike but for the member they read
(``layers.0.0`` against ``layers.1.0``): :func:`find_member_loops`. A
single call per member is :mod:`nnconvert.printer.loops`' simpler case.
In functional style a later step may lack some of the first step's member
calls (ScalableViT's ``PEG(dim) if is_first else None``, NesT's last
``nn.Identity()``): each such call passes its input through where it is
absent, and the printer tests a flag per step (:func:`_with_absent_items`).
Where the first step is the odd one (RegionViT's first stage, without
downsampling), the loop runs from the second member on (:attr:`Unrolled.start`).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any, Callable, Iterator

import torch
from torch import fx

from ..branches import guarded_equality, is_expect
from ..source_map import node_frames, statement_line
from ..source_text import (
    member_loop_statements,
    range_loop_around,
    range_loop_lines,
)
from .graph_utils import is_impure
from .guards import IMPLIED_GUARDS

#: fewest copies written as a loop
MIN_COPIES = 2


@dataclass(frozen=True)
class Collected:
    """A list of one body position's value in every copy, read after the loop."""

    position: int
    reader: fx.Node  # the node that reads the list (``torch.cat(outputs, dim=1)``)
    items: tuple[fx.Node, ...]  # the list's nodes, copy 0 first
    #: the whole list the reader reads: ``items``, or more when another loop
    #: grows the same list before or after this one (``outputs += [output]``
    #: in a loop over the data, then in one over ``range(future)``)
    whole: tuple[fx.Node, ...] = ()


@dataclass(frozen=True)
class Unrolled:
    """One unrolled loop: its sequence, its copies and what flows between them."""

    #: ``input.split(1, dim=1)``; a loop over members has none
    sequence: fx.Node | None
    elements: tuple[fx.Node, ...]  # ``sequence[i]``, in order
    #: copy i: its nodes in graph order (the last one's unread values: ``None``)
    copies: tuple[tuple[fx.Node | None, ...], ...]
    #: position in a copy -> the value copy 0 reads in its place (its initial value)
    carried: dict[int, fx.Node]
    collected: tuple[Collected, ...]
    #: ``len(sequence)``, its comparison and the guard: gone with the loop
    length_guard: tuple[fx.Node, ...]
    #: a loop over indices (``x[:, t]`` for ``t in range(...)``): where in the
    #: index the step stands (-1: the whole index, ``x[t]``); ``None`` for a
    #: loop over a sequence's elements
    stepped: int | None = None
    #: a loop over indices: the guards that may be its ``range``'s length
    #: (``x.size(1) == 5``; the printer keeps the one on the ``for`` line)
    counts: tuple[tuple[fx.Node, ...], ...] = ()
    #: a loop over a container's members: its path (``"layers"``); copy *i*
    #: reads member *i* where copy 0 reads member 0, and there is no sequence
    members: str | None = None
    #: a loop over ``range(counter)``: the plain int argument it counts to
    #: (its guard ``counter == n`` is :attr:`length_guard`)
    counter: fx.Node | None = None
    #: a loop over indices: the other tensors each step indexes by its step
    #: (``deltaB_u[:, i]`` beside ``deltaA[:, i]``), each run with its place
    also_stepped: tuple[tuple[tuple[fx.Node, ...], int], ...] = ()
    #: a loop over ``range(n)`` of a number no input sets (``range(self.block_size)``,
    #: ``range(3)``): how often it ran, the same in every trace
    times: int | None = None
    #: a loop over members: the member copy 0 reads (functional style: the
    #: members before it call other functions, written out before the loop)
    start: int = 0
    #: a loop over members, functional style: the body positions of member
    #: calls some steps lack (``None`` in their copies, the value passed
    #: through), each with whether it runs in each step
    optional: tuple[tuple[int, tuple[bool, ...]], ...] = ()

    @property
    def body(self) -> tuple[fx.Node, ...]:
        return self.copies[0]

    def nodes(self) -> set[fx.Node]:
        """Every node the loop stands for (its sequence is not one: see the printer)."""
        found = set(self.elements) | set(self.length_guard)
        for copy in self.copies:
            found.update(n for n in copy if n is not None)
        return found


def find_unrolled(graph: fx.Graph) -> list[Unrolled]:
    """The unrolled loops of ``graph``, in graph order (module docstring)."""
    order = list(graph.nodes)
    index = {node: i for i, node in enumerate(order)}
    found = []
    for node in order:
        loop = _unrolled_over(node, order, index)
        if loop is not None:
            found.append(loop)
    taken = {n for loop in found for n in loop.nodes()}
    count_guards = [g for g in map(_count_guard, order) if g is not None]
    runs = _stepped_slices(order)
    for elements, stepped in runs:
        if elements[0] in taken:
            continue  # read by a loop over another tensor's steps
        others = tuple(run for run in runs if len(run[0]) == len(elements))
        loop = _unrolled_steps(elements, stepped, order, index, count_guards, others)
        if loop is not None:
            found.append(loop)
            taken |= loop.nodes()
    for guard in filter(None, map(_argument_count_guard, order)):
        loop = _unrolled_counted(guard, order, index)
        if loop is not None:
            found.append(loop)
            taken |= loop.nodes()
    for region in _range_loop_regions(order, taken):
        loop = _unrolled_times(region, order, index)
        if loop is not None and not loop.nodes() & taken:  # nested: the outer one
            found.append(loop)
            taken |= loop.nodes()
    return _lists_filled(found, index)


def _lists_filled(loops: list[Unrolled], index: dict[fx.Node, int]) -> list[Unrolled]:
    """The loops whose lists loops fill: each list the items of its loops, in their order.

    A list that also holds a value of no loop (``[first, *steps]``) would
    print as a variable that misses it: its loops stay unrolled.
    """
    while True:
        parts: dict[tuple[fx.Node, ...], list[tuple[fx.Node, ...]]] = {}
        for loop in loops:
            for collected in loop.collected:
                parts.setdefault(collected.whole, []).append(collected.items)
        filled = {
            whole
            for whole, runs in parts.items()
            if sum(sorted(runs, key=lambda run: index[run[0]]), ()) == whole
        }
        kept = [
            loop for loop in loops if all(c.whole in filled for c in loop.collected)
        ]
        if len(kept) == len(loops):
            return kept
        loops = kept


def counted_loop_over(graph: fx.Graph, argument: str) -> bool:
    """Whether ``graph`` holds a loop over ``range(argument)`` that prints as one."""
    return any(
        loop.counter is not None and loop.counter.target == argument
        for loop in find_unrolled(graph)
    )


def find_member_loops(
    graph: fx.Graph,
    containers: dict[str, int],
    chained: bool = False,
    varying: bool = False,
) -> list[Unrolled]:
    """The loops over the members of ``containers`` (path -> number of members).

    Every node that calls a member (a ``call_module`` under ``layers.i``) must
    fall into copy *i*, and every tensor of a member (``get_attr``, which the
    graph may hold anywhere before) must be read by copy *i* alone: a member
    used anywhere else (after the loop, by hand) leaves the calls as they are.
    So must each call's result, unless ``chained``: then a call may hand its
    result to the next copy (``for block in self.blocks: x = block(x)``,
    which the printer writes as :mod:`nnconvert.printer.loops` finds it).
    ``varying``: the calls of one place may pass other literals as
    keywords (a functional block function's ``groups=64``, then ``96``;
    NesT's ``rearrange(..., b1=block_size)``),
    which the printer loops over beside the index, and later steps may lack
    some of the first step's member calls (:func:`_with_absent_items`);
    where the members do not all make one loop, those from the second on
    may, the first written out before them, unless it is read after them.
    A container of one member is a loop only where the user's ``for`` says
    so (:func:`_one_member_loop`).
    """
    order = list(graph.nodes)
    index = {node: i for i, node in enumerate(order)}
    found = []
    for container, count in containers.items():
        readers: list[list[fx.Node]] = [[] for _ in range(count)]
        for node in order:
            member = member_of(node, container)
            if member is not None and member < count:
                readers[member].append(node)
        calls = [
            [n for n in r if n.op != "get_attr"] or _reads(r, index) for r in readers
        ]
        if count == 1 and calls[0]:
            one = _one_member_loop(
                container, readers[0], calls[0], order, index, chained
            )
            loop = one and _as_loop(one, index, varying)
            if loop is not None:
                found.append(loop)
            continue
        if count < MIN_COPIES or not all(calls):
            continue
        loop = _member_loop(container, calls, readers, order, index, chained, varying)
        first_read_last = max(index[n] for n in readers[0])
        if (
            loop is None
            and varying
            and count - 1 >= MIN_COPIES
            and first_read_last < index[calls[1][0]]  # the first is not read after
        ):
            # functional style: the first member calls other functions (RegionViT's
            # first stage has no downsampling): the loop runs from the second on
            loop = _member_loop(
                container, calls[1:], readers[1:], order, index, chained, varying, 1
            )
        if loop is not None:
            found.append(loop)
    return found


def _member_loop(
    container: str,
    calls: list[list[fx.Node]],
    readers: list[list[fx.Node]],
    order: list[fx.Node],
    index: dict[fx.Node, int],
    chained: bool,
    varying: bool,
    start: int = 0,
) -> Unrolled | None:
    """The loop over ``container``'s members ``start`` … (``calls`` and
    ``readers`` are theirs), as :func:`find_member_loops` asks of it."""
    starts = [index[c[0]] for c in calls]
    drafts: Iterator[Unrolled] = (
        Unrolled(None, (), copies, {}, (), (), members=container, start=start)
        for copies in _cuts(starts, -1, order, container, start)
        # a member call the last step lacks is absent, not a dropped value
        if not (varying and _lacks_a_member_call(copies, container, start))
    )
    if varying:
        absent = _with_absent_items(container, readers, starts, order, start)
        drafts = chain(drafts, absent)
    for draft in drafts:
        if not all(
            set(c) <= set(copy)
            and all(
                set(n.users) <= set(copy)
                for n in r
                if n.op == "get_attr" or not chained
            )
            for c, r, copy in zip(calls, readers, draft.copies)
        ):
            continue
        loop = _as_loop(draft, index, varying)
        # a list it shares with other code stays as it is
        if loop is not None and all(c.whole == c.items for c in loop.collected):
            return loop
    return None


def _with_absent_items(
    container: str,
    readers: list[list[fx.Node]],
    starts: list[int],
    order: list[fx.Node],
    start: int = 0,
) -> Iterator[Unrolled]:
    """Cuts of a loop whose later steps lack some of the first step's member calls.

    ``for ssa, ff1, peg, iwsa, ff2 in self.layers: ... if exists(peg): x =
    peg(x)`` over members built ``PEG(dim) if is_first else None`` calls
    ``layers.0.2`` alone; NesT's ``Aggregate(...) if not is_last else
    nn.Identity()`` leaves its last step without the call. Every step's
    items must be among the first step's, and each item some step lacks
    is only called whole in the first (``x = peg(x)``: one call of the
    item, no tensor of it read otherwise), so that where it is absent the
    step reads the call's first argument in its place
    (:class:`_CopyMatcher`). A copy holds ``None`` at an absent call's
    position; :attr:`Unrolled.optional` says which steps run each. The
    body may start before its first member call, as :func:`_cuts` tries.
    ``readers`` are those of the members from ``start`` on.
    """
    items = [{member_item(n, container) for n in r} for r in readers]
    if any(not found <= items[0] for found in items[1:]):
        return
    absent_items = set().union(*(items[0] - found for found in items[1:]))
    if not absent_items:
        return
    optional: dict[str, list[fx.Node]] = {}
    for node in readers[0]:
        item = member_item(node, container)
        if item in absent_items:
            whole = f"{container}.{start}.{item}"
            if node.op != "call_module" or str(node.target) != whole:
                return
            if not (node.args and isinstance(node.args[0], fx.Node)):
                return
            optional.setdefault(item, []).append(node)
    for offset in range(starts[1] - starts[0]):
        begin = [s - offset for s in starts]
        if begin[0] < 0 or any(b <= a for a, b in zip(begin, begin[1:])):
            return
        body = tuple(order[begin[0] : begin[1]])
        copies = [body]
        for k in range(1, len(readers)):
            absent = {n for i, ns in optional.items() if i not in items[k] for n in ns}
            size = len(body) - len(absent & set(body))
            end = begin[k + 1] if k + 1 < len(readers) else begin[k] + size
            if end - begin[k] != size or end > len(order):
                break
            taken = iter(order[begin[k] : end])
            copies.append(tuple(None if n in absent else next(taken) for n in body))
        else:
            present = tuple(
                (
                    body.index(node),
                    tuple(item in found for found in items),
                )
                for item, nodes in optional.items()
                for node in nodes
                if node in body
            )
            if len(present) != sum(map(len, optional.values())):
                continue
            yield Unrolled(
                None,
                (),
                tuple(copies),
                {},
                (),
                (),
                members=container,
                start=start,
                optional=present,
            )


def _lacks_a_member_call(
    copies: tuple[tuple[fx.Node | None, ...], ...], container: str, start: int = 0
) -> bool:
    """The last copy has no node where the first calls one of its member's items."""
    return any(
        node is None
        and first.op == "call_module"
        and member_of(first, container) == start
        for node, first in zip(copies[-1], copies[0])
    )


def member_item(node: fx.Node, container: str) -> str:
    """The item of its member that ``node`` reads: ``"2"`` for ``layers.1.2.proj``."""
    member = member_of(node, container)
    rest = str(node.target)[len(f"{container}.{member}") :]
    return rest.lstrip(".").partition(".")[0]


def _one_member_loop(
    container: str,
    readers: list[fx.Node],
    calls: list[fx.Node],
    order: list[fx.Node],
    index: dict[fx.Node, int],
    chained: bool,
) -> Unrolled | None:
    """The user's ``for`` over a container of one member, as a loop of one step.

    The trace of ``for attn, ff in self.layers: x = attn(x) + x; x = ff(x)
    + x`` over one member is the body once: nothing in the graph tells it
    from code written once. The source does (:func:`member_loop_statements`):
    the step is what the ``for``'s body made, every node on its lines, in
    the order of its statements (a body made twice, or by an inner loop,
    is not one step). It must hold the member's ``calls`` and every reader
    of its tensors (``readers``: those and its ``get_attr`` s); unless
    ``chained``, nothing after it reads the member calls' results either,
    as :func:`find_member_loops` asks of every copy. A step that is one call
    stays a call: a functional file read back holds a block whose function
    is only that call as the ``nn.Sequential`` it chains, whose member's
    call no source line makes, so the loop would not come back.
    """
    frame = statement_line(calls[0])
    statements = member_loop_statements(frame, container) if frame else None
    if not statements:
        return None

    def statement_of(node: fx.Node) -> int | None:
        made = statement_line(node)
        if made is None or (made.file, made.first_line) != (
            frame.file,
            frame.first_line,
        ):
            return None
        return next((k for k, s in enumerate(statements) if made.line in s), None)

    places = {n: statement_of(n) for n in order if n.op != "get_attr"}
    region = [n for n, place in places.items() if place is not None]
    if not region or any(places[a] > places[b] for a, b in zip(region, region[1:])):
        return None
    copy = tuple(order[index[region[0]] : index[region[-1]] + 1])
    if any(n.op != "get_attr" and places[n] is None for n in copy):
        return None
    if len(region) == 1:  # ``for blk in self.blocks: x = blk(x)`` over one block
        return None  # read back, a chain of one call is an nn.Sequential's body
    inside = set(copy)
    if not set(calls) <= inside or any(
        not set(n.users) <= inside for n in readers if n.op == "get_attr" or not chained
    ):
        return None
    return Unrolled(None, (), (copy,), {}, (), (), members=container)


def is_loop_literal(value: Any) -> bool:
    """A value a keyword may loop over: ``bool``, ``int``, ``float``, ``str``, ``None``, tuples of them.

    Of exactly those types: the printer writes the values as literals in
    the loop's header. One test for the loops over single calls
    (:mod:`nnconvert.printer.loops`) and over members' bodies (``varying``).
    """
    if isinstance(value, tuple):
        return all(is_loop_literal(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def _reads(tensors: list[fx.Node], index: dict[fx.Node, int]) -> list[fx.Node]:
    """The nodes that read a member's ``tensors`` (its ``get_attr`` s), in graph
    order (``index``): a plain layer's functional call (``F.linear(x,
    params["layers.0.weight"], ...)``), which stands for its call in functional style.
    """
    users = {user for tensor in tensors for user in tensor.users}
    return sorted(users, key=index.__getitem__)


def member_of(node: fx.Node, container: str) -> int | None:
    """The member of ``container`` that ``node`` calls or reads (``layers.3.0`` -> 3)."""
    if node.op not in ("call_module", "get_attr"):
        return None
    prefix = f"{container}."
    target = str(node.target)
    if not target.startswith(prefix):
        return None
    member = target[len(prefix) :].partition(".")[0]
    return int(member) if member.isdigit() else None


def member_target(target: str, container: str, member: int, first: int = 0) -> str:
    """``target`` of member ``member`` read as member ``first``'s (``layers.3.0`` -> ``layers.0.0``)."""
    prefix = f"{container}.{member}"
    if target == prefix or target.startswith(f"{prefix}."):
        return f"{container}.{first}{target[len(prefix):]}"
    return target


def _unrolled_over(
    sequence: fx.Node, order: list[fx.Node], index: dict[fx.Node, int]
) -> Unrolled | None:
    """The loop over ``sequence``'s elements, if its copies are one body."""
    elements = _elements(sequence)
    if elements is None:
        return None
    guard = _length_guard(sequence, len(elements))
    if guard is None:
        return None
    if any(not e.users for e in elements):
        return None
    starts = [min(index[u] for u in e.users) for e in elements]
    prefix_end = max(index[n] for n in (*elements, *guard))
    for copies in _cuts(starts, prefix_end, order):
        loop = _as_loop(Unrolled(sequence, elements, copies, {}, (), guard), index)
        if loop is not None:
            return loop
    return None


def _cuts(
    starts: list[int],
    prefix_end: int,
    order: list[fx.Node],
    members: str | None = None,
    first: int = 0,
) -> Iterator[tuple[tuple[fx.Node | None, ...], ...]]:
    """The ways to cut the graph into copies, step *i* reading its element at ``starts[i]``.

    The steps are evenly spaced; the body may start before it reads its
    element, so each offset is tried, nearest first. ``members``: the
    container of a loop over members (:func:`find_member_loops`), from its
    member ``first`` on.
    """
    size = starts[1] - starts[0]
    if size <= 0 or any(s != starts[0] + i * size for i, s in enumerate(starts)):
        return
    for offset in range(size):
        begin = starts[0] - offset
        last = begin + size * (len(starts) - 1)
        if begin <= prefix_end:
            return
        copies = tuple(
            tuple(order[begin + i * size : begin + (i + 1) * size])
            for i in range(len(starts) - 1)
        )
        following = order[last : last + size]
        final = _last_copy(following, copies[0], members, first + len(starts), first)
        yield copies + (final,)


def _stepped_slices(order: list[fx.Node]) -> list[tuple[tuple[fx.Node, ...], int]]:
    """Runs of ``x[:, 0]``, ``x[:, 1]``, … ``x[:, n - 1]``: one tensor indexed by each step.

    Each indexing has one integer in its index, at one place, the rest whole
    slices; the runs are the indexings that differ only in that integer,
    which counts 0, 1, … in graph order. Returns each run and where the
    integer stands (-1: the index is the integer, ``x[t]``).
    """
    runs: dict[tuple, list[fx.Node]] = {}
    for node in order:
        found = _step_index(node)
        if found is not None:
            key, step = found
            run = runs.setdefault(key, [])
            if step != len(run):
                runs[key] = [node] if step == 0 else []  # not a run from 0: start again
                continue
            run.append(node)
    return [(tuple(run), key[1]) for key, run in runs.items() if len(run) >= MIN_COPIES]


#: ``x[:, t]``: the whole of a dimension
_WHOLE = slice(None, None, None)


def _step_index(node: fx.Node) -> tuple[tuple, int] | None:
    """``((x, place, index without its integer), integer)`` for ``x[:, 3]``; else None."""
    if not (
        node.op == "call_function"
        and node.target is operator.getitem
        and len(node.args) == 2
        and isinstance(node.args[0], fx.Node)
        and not _is_sequence(node.args[0])
    ):
        return None
    source, index = node.args
    if type(index) is int:
        return (source, -1, ()), index
    if not isinstance(index, tuple):
        return None
    places = [i for i, part in enumerate(index) if type(part) is int]
    if len(places) != 1 or any(
        part != _WHOLE for i, part in enumerate(index) if i != places[0]
    ):
        return None
    place = places[0]
    return (source, place, (len(index),)), index[place]


def _unrolled_steps(
    elements: tuple[fx.Node, ...],
    stepped: int,
    order: list[fx.Node],
    index: dict[fx.Node, int],
    count_guards: list[tuple[fx.Node, ...]],
    runs: tuple[tuple[tuple[fx.Node, ...], int], ...] = (),
) -> Unrolled | None:
    """The loop over ``range(n)`` whose step *i* reads ``elements[i]`` (``x[:, i]``).

    ``count_guards``: every :func:`_count_guard` of the graph, in order
    (found once for all the slices). ``runs``: the runs of indexings as
    long as ``elements``, which a step may also read (mamba's selective
    scan reads ``deltaA[:, i]``, ``deltaB_u[:, i]`` and ``C[:, i, :]``).
    """
    source = elements[0].args[0]
    counts = tuple(
        guard
        for guard in count_guards
        if index[guard[2]] < index[elements[0]] and guard[1].args[1] == len(elements)
    )
    starts = [index[e] for e in elements]
    for copies in _cuts(starts, index[source], order):
        also = tuple(
            (run, place)
            for run, place in runs
            if run is not elements
            and all(node in copy for node, copy in zip(run, copies))
        )
        draft = Unrolled(source, elements, copies, {}, (), (), stepped, counts)
        loop = _as_loop(replace(draft, also_stepped=also), index)
        if loop is not None:
            return loop
    return None


def _argument_count_guard(node: fx.Node) -> tuple[fx.Node, ...] | None:
    """``(future, future == 3, expect)``: a guard that a plain int argument is ``n >= 2``.

    The tracer makes it where ``range(future)`` asked the argument's value;
    one that also stands for other questions of the same value (a second
    ``range(future)``, :data:`~.guards.IMPLIED_GUARDS`) is no loop's alone.
    """
    if node.meta.get(IMPLIED_GUARDS):
        return None
    comparison = _guarded_equality(node)
    if not (
        comparison is not None
        and comparison.args[0].op == "placeholder"
        and comparison.args[1] >= MIN_COPIES
    ):
        return None
    return (comparison.args[0], comparison, node)


def _guarded_equality(node: fx.Node) -> fx.Node | None:
    """The comparison ``value == n`` that the guard ``node`` checks, read by nothing else."""
    comparison = guarded_equality(node)
    return comparison if comparison is not None and len(comparison.users) == 1 else None


def _unrolled_counted(
    guard: tuple[fx.Node, ...], order: list[fx.Node], index: dict[fx.Node, int]
) -> Unrolled | None:
    """The loop over ``range(counter)`` that ``guard`` (``counter == n``) counted.

    Its copies are every node made on the ``for``'s body lines (read from
    the source: without it, none), cut into ``n`` alike consecutive copies;
    the last may lack nodes nothing read.
    """
    counter, comparison, expect = guard
    frame = statement_line(expect)
    lines = range_loop_lines(frame, str(counter.target)) if frame else None
    if lines is None:
        return None
    region = [
        n
        for n in order
        if n not in guard
        and (f := statement_line(n)) is not None
        and (f.file, f.function, f.first_line)
        == (frame.file, frame.function, frame.first_line)
        and f.line in lines
    ]
    draft = Unrolled(None, (), (), {}, (), (comparison, expect), counter=counter)
    return _region_cut(region, comparison.args[1], draft, order, index)


def _region_cut(
    region: list[fx.Node],
    count: int,
    draft: Unrolled,
    order: list[fx.Node],
    index: dict[fx.Node, int],
) -> Unrolled | None:
    """``region`` (every node a ``for`` body's lines made) as ``count`` alike copies.

    The copies are consecutive and cover the region; the last may lack
    nodes nothing read. ``draft`` gives the loop's other fields.
    """
    if len(region) < count:
        return None
    begin, end = index[region[0]], index[region[-1]]
    span = end - begin + 1
    for size in range(span // count, span // (count - 1) + 1):
        if size <= 0 or (count - 1) * size >= span:
            continue
        starts = [begin + i * size for i in range(count)]
        for copies in _cuts(starts, begin - 1, order):
            covered = {n for copy in copies for n in copy if n is not None}
            if not covered >= set(region) or max(map(index.get, covered)) > end:
                continue
            loop = _as_loop(replace(draft, copies=copies), index)
            if loop is not None:
                return loop
    return None


def _range_loop_regions(
    order: list[fx.Node], taken: set[fx.Node]
) -> list[list[fx.Node]]:
    """The nodes made in the body of each ``for ... in range(...)`` of the source.

    Only loops no input counts (``range(self.block_size)``, ``range(3)``):
    a loop over an argument or a length is found by its guard, and a region
    holding a node another loop claimed (``taken``) is none of these.
    """
    regions: dict[tuple, list[fx.Node]] = {}
    for node in order:
        frame = statement_line(node)
        loop = range_loop_around(frame) if frame is not None else None
        if loop is not None:
            key = (frame.file, frame.function, frame.first_line, loop.start)
            regions.setdefault(key, []).append(node)
    return [
        region
        for region in regions.values()
        if not taken & set(region) and not any(is_expect(n) for n in region)
    ]


def _unrolled_times(
    region: list[fx.Node], order: list[fx.Node], index: dict[fx.Node, int]
) -> Unrolled | None:
    """The loop over ``range(n)`` whose body made ``region``, ``n`` as many copies as fit.

    makemore's ``for k in range(self.block_size): tok_emb = self.wte(idx); ...``
    traced 8 times. The most copies first: two steps taken as one copy
    would compute the same but read as another loop.
    """
    first_line = statement_line(region[0]).line
    opening = [n for n in region if statement_line(n).line == first_line]
    for count in range(len(opening), MIN_COPIES - 1, -1):
        if len(opening) % count:
            continue
        draft = Unrolled(None, (), (), {}, (), (), times=count)
        loop = _region_cut(region, count, draft, order, index)
        if loop is not None:
            return loop
    return None


def _count_guard(node: fx.Node) -> tuple[fx.Node, ...] | None:
    """``(x.size(1), == n, expect)``: a guard on a length that nothing else reads."""
    comparison = _guarded_equality(node)
    if comparison is None:
        return None
    length = comparison.args[0]
    is_size = length.op == "call_method" and length.target == "size"
    is_len = length.op == "call_function" and length.target is len
    if not (is_size or is_len or _is_shape_item(length)) or len(length.users) != 1:
        return None
    return (length, comparison, node)


def _is_shape_item(node: fx.Node) -> bool:
    """``x.shape[1]``, ``x.size()[1]``: one dimension, as ``b, l, d = u.shape`` binds ``l``."""
    if not (
        node.op == "call_function"
        and node.target is operator.getitem
        and isinstance(node.args[0], fx.Node)
        and type(node.args[1]) is int
    ):
        return False
    sizes = node.args[0]
    is_shape = sizes.op == "call_function" and sizes.target is getattr
    is_shape = is_shape and sizes.args[1:] == ("shape",)
    is_sizes = (
        sizes.op == "call_method" and sizes.target == "size" and not sizes.args[1:]
    )
    return is_shape or is_sizes


def _last_copy(
    following: list[fx.Node],
    body: tuple[fx.Node, ...],
    members: str | None = None,
    count: int = 0,
    start: int = 0,
) -> tuple[fx.Node | None, ...]:
    """The last copy, ``None`` where the trace dropped a value nothing read.

    The last step's ``c_t`` feeds no next step: dead-code removal took its
    ``getitem`` away. Only pure positions may be missing; computing them in
    the loop is harmless. ``members``: the container whose member
    ``count - 1`` the last copy reads where the first reads member ``start``.
    """

    def target(node: fx.Node) -> object:
        if members is None or node.op not in ("call_module", "get_attr"):
            return node.target
        return member_target(str(node.target), members, count - 1, start)

    def constants(node: fx.Node) -> list[Any]:
        """A member loop's step reads no element: its constants are copy 0's
        (``_, region_tokens = ...`` kept ``[1]``, not ``[0]``)."""
        if members is None:
            return []
        return [a for a in node.args if isinstance(a, (int, float, str))]

    found: list[fx.Node | None] = []
    rest = iter(following)
    candidate = next(rest, None)
    for first in body:
        if (
            candidate is not None
            and (candidate.op, target(candidate)) == (first.op, first.target)
            and constants(candidate) == constants(first)
        ):
            found.append(candidate)
            candidate = next(rest, None)
        elif is_impure(first):
            found.append(candidate)  # not the same op: the comparison refuses it
        else:
            found.append(None)
    return tuple(found)


def _elements(sequence: fx.Node) -> tuple[fx.Node, ...] | None:
    """``sequence[0]`` … ``sequence[n - 1]``, one node each, if that is all that indexes it."""
    if not _is_sequence(sequence):
        return None
    by_position: dict[int, fx.Node] = {}
    for user in sequence.users:
        if user.op == "call_function" and user.target is len:
            continue
        if not (
            user.op == "call_function"
            and user.target is operator.getitem
            and len(user.args) == 2
            and user.args[0] is sequence
            and type(user.args[1]) is int
            and user.args[1] not in by_position
        ):
            return None
        by_position[user.args[1]] = user
    count = len(by_position)
    if count < MIN_COPIES or sorted(by_position) != list(range(count)):
        return None
    return tuple(by_position[i] for i in range(count))


#: what makes a tuple of a tensor's parts, as method and as ``torch`` function
_SEQUENCES = ("split", "chunk", "unbind", "tensor_split")


def _is_sequence(node: fx.Node) -> bool:
    """``x.split(1, dim=1)``, ``torch.unbind(x, 1)``, …: a tensor's parts, in order."""
    if node.op == "call_method":
        return node.target in _SEQUENCES
    return node.op == "call_function" and any(
        node.target is getattr(torch, name) for name in _SEQUENCES
    )


def _length_guard(sequence: fx.Node, count: int) -> tuple[fx.Node, ...] | None:
    """The nodes of ``expect(len(sequence) == count)``, if the length is read nowhere else.

    ``()`` when nothing asks the length (``x.chunk(4)`` always has four).
    """
    lengths = [u for u in sequence.users if u.target is len]
    found: list[fx.Node] = []
    for length in lengths:
        if len(length.users) != 1:
            return None
        (comparison,) = length.users
        if not (
            comparison.op == "call_function"
            and comparison.target is operator.eq
            and comparison.args == (length, count)
            and len(comparison.users) == 1
            and is_expect(next(iter(comparison.users)))
        ):
            return None
        found += [length, comparison, next(iter(comparison.users))]
    return tuple(found)


def _as_loop(
    draft: Unrolled, index: dict[fx.Node, int], varying: bool = False
) -> Unrolled | None:
    """``draft``'s copies as one loop's body, if they are the same computation.

    ``draft`` has the copies as cut; what flows between them is found here
    (module docstring). ``varying``: as :func:`find_member_loops` takes it.
    """
    elements, copies = draft.elements, draft.copies
    body = copies[0]
    begin = index[body[0]]
    if any(n.op in ("placeholder", "output") for n in body):
        return None
    if not all(set(e.users) <= set(copy) for e, copy in zip(elements, copies)):
        return None
    if draft.stepped is not None and (
        index[draft.sequence] >= begin
        or any(e not in copy for e, copy in zip(elements, copies))
    ):
        return None
    for run, _ in draft.also_stepped:
        if index[run[0].args[0]] >= begin or not all(
            set(e.users) <= set(copy) for e, copy in zip(run, copies)
        ):
            return None
    carried: dict[int, fx.Node] = {}
    invariants: set[fx.Node] = set()
    for number, copy in enumerate(copies):
        matcher = _CopyMatcher(
            copies,
            number,
            elements,
            carried,
            lambda n: index[n] < begin,
            invariants,
            draft.members,
            {node: run[0] for run, _ in draft.also_stepped for node in run},
            varying,
            {body[p] for p, runs in draft.optional if not runs[number]},
            draft.start,
        )
        for node, first in zip(copy, body):
            if node is None:
                continue
            if not matcher.same_node(node, first):
                return None
            if node_frames(first) and _lines(node) != _lines(first):
                return None
    initial = list(carried.values())
    # one variable per carried value, which no copy reads as a constant; a
    # weight is never a step's state (a body cut in the wrong place reads
    # the next step's weights from the step before)
    if len(set(initial)) != len(initial) or invariants & set(initial):
        return None
    if any(n.op == "get_attr" for n in initial):
        return None
    end = max(index[n] for n in copies[-1] if n is not None)
    collected = _collected(copies, end, index)
    if collected is None:
        return None
    return replace(draft, carried=carried, collected=collected)


def _lines(node: fx.Node) -> tuple[tuple[str, int], ...]:
    return tuple((f.file, f.line) for f in node_frames(node))


@dataclass
class _CopyMatcher:
    """Compares copy ``number`` with copy 0, argument by argument; notes carried values."""

    copies: tuple[tuple[fx.Node, ...], ...]
    number: int
    elements: tuple[fx.Node, ...]
    carried: dict[int, fx.Node]
    before: Callable[[fx.Node], bool]  # made before the run
    invariants: set[fx.Node]
    members: str | None = None  # a loop over this container's members
    #: each indexing of another stepped tensor -> its run's step 0
    steps: dict[fx.Node, fx.Node] = field(default_factory=dict)
    #: a call's literal keywords may differ from copy 0's
    varying: bool = False
    #: copy 0's calls this copy lacks: it reads each one's first argument instead
    absent: set[fx.Node] = field(default_factory=set)
    start: int = 0  # the member copy 0 reads

    def _as_first(self, target: str) -> str:
        """A target of this copy's member, read as copy 0's member's."""
        assert self.members is not None
        return member_target(target, self.members, self.start + self.number, self.start)

    def same_node(self, node: fx.Node, first: fx.Node) -> bool:
        target = node.target
        if self.members is not None and node.op in ("call_module", "get_attr"):
            target = self._as_first(str(target))
        if (node.op, target) != (first.op, first.target):
            return False
        if self.elements and node is self.elements[self.number] and node is not first:
            # ``x[:, i]`` against ``x[:, 0]``: one run, so one tensor and index
            return first is self.elements[0]
        if node in self.steps and node is not first:  # ``C[:, i, :]``, another run
            return self.steps[node] is first
        return self.same(node.args, first.args) and self._same_keywords(node, first)

    def _same_keywords(self, node: fx.Node, first: fx.Node) -> bool:
        """The same keywords, with other literal values where they may vary."""
        if not (self.varying and node.op in ("call_module", "call_function")):
            return self.same(node.kwargs, first.kwargs)
        if list(node.kwargs) != list(first.kwargs):
            return False
        return all(
            self.same(value, first.kwargs[key])
            or (is_loop_literal(value) and is_loop_literal(first.kwargs[key]))
            for key, value in node.kwargs.items()
        )

    def same(self, value: Any, first: Any) -> bool:
        if isinstance(value, fx.Node) or isinstance(first, fx.Node):
            return (
                isinstance(value, fx.Node)
                and isinstance(first, fx.Node)
                and self._same_input(value, first)
            )
        if type(value) is not type(first):
            return False
        if isinstance(value, (tuple, list)):
            return len(value) == len(first) and all(
                self.same(v, f) for v, f in zip(value, first)
            )
        if isinstance(value, dict):
            return list(value) == list(first) and all(
                self.same(value[k], first[k]) for k in value
            )
        if isinstance(value, slice):
            return self.same(
                (value.start, value.stop, value.step),
                (first.start, first.stop, first.step),
            )
        try:
            return bool(value == first)
        except Exception:  # a value without a plain equality is not a constant we know
            return False

    def _same_input(self, value: fx.Node, first: fx.Node) -> bool:
        """``value`` (read by copy ``number``) stands where copy 0 reads ``first``."""
        if first in self.absent:  # ``x = peg(x)`` where this step has no ``peg``
            return self._same_input(value, first.args[0])
        copy = self.copies[self.number]
        body = self.copies[0]
        if value in copy:
            return first is body[copy.index(value)]
        if self.elements and value is self.elements[self.number]:
            return first is self.elements[0]
        if value in self.elements:
            return False
        if self.number and value in self.copies[self.number - 1]:
            position = self.copies[self.number - 1].index(value)
            initial = self.carried.setdefault(position, first)
            return (
                initial is first and self.before(first) and first not in self.elements
            )
        if self.number:  # copy 0's reads from before are carried or constant
            self.invariants.add(value)
        if self.members is not None and value.op == first.op == "get_attr":
            # a tensor of member *i* where copy 0 reads member 0's
            target = self._as_first(str(value.target))
            return target == first.target and self.before(value)
        return value is first and self.before(value)


def _collected(
    copies: tuple[tuple[fx.Node, ...], ...], end: int, index: dict[fx.Node, int]
) -> tuple[Collected, ...] | None:
    """The lists that read a position of every copy after the run (``None``: a copy is read otherwise).

    Values of the last copy may be read after the run as they are: the loop
    leaves them in its variables.
    """
    found: dict[tuple[int, fx.Node], Collected] = {}
    for number, copy in enumerate(copies[:-1]):
        for position, node in enumerate(copy):
            for user in node.users if node is not None else ():
                if user in copy or user in copies[number + 1]:
                    continue
                if index[user] <= end:
                    return None
                items = tuple(c[position] for c in copies)
                if None in items:  # a value some steps do not make
                    return None
                whole = _list_holding(user, node, items)
                if whole is None:
                    return None
                found[(position, user)] = Collected(position, user, items, whole)
    return tuple(found.values())


def _list_holding(
    user: fx.Node, node: fx.Node, items: tuple[fx.Node, ...]
) -> tuple[fx.Node, ...] | None:
    """The list in which ``user`` reads ``node``, if it reads it only there.

    The list holds ``items`` one after the other, alone or among items of
    the same list's other loops (the printer keeps such a loop only when
    loops fill all of it).
    """
    lists: list[tuple[fx.Node, ...]] = []
    stray = False

    def visit(value: Any) -> None:
        nonlocal stray
        if isinstance(value, list) and _holds_run(value, items):
            lists.append(tuple(value))
        elif isinstance(value, (tuple, list)):
            for v in value:
                visit(v)
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif value is node:
            stray = True

    visit((user.args, user.kwargs))
    if stray or len(set(lists)) != 1:
        return None
    return lists[0]


def _holds_run(value: list, items: tuple[fx.Node, ...]) -> bool:
    """``value`` has ``items`` one after the other, from its first up to its last."""
    for start in range(len(value) - len(items) + 1):
        if all(v is i for v, i in zip(value[start:], items)):
            return True
    return False
