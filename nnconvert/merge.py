"""Two traces of one module, merged into one graph with the branch the user wrote.

A trace sees one answer to each question Python asks (``if self.training:``,
``if targets is not None:``). The module is traced once per answer and the
two graphs are merged *structurally*, on the graphs and never on printed
text:

1. **value numbering**: a node of each graph is numbered by what it computes
   (its op, target and the numbers of its arguments); nodes with the same
   number in both graphs are one node of the merged graph;
2. **anti-unification from the outputs**: where the two outputs differ, the
   merge walks back while both sides make the same call with different
   arguments (``x + out`` against ``x + out.div(keep) * mask``) and joins the
   first arguments that differ in a :func:`~nnconvert.branches.choose` node;
   what only one side computes becomes that side's branch;
3. **order**: nodes keep the order the traces ran them in, so random draws
   and in-place ops happen in the original order under either answer.

Side effects that nothing reads (an in-place op only one side runs) are
carried over with the guard of their side.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import operator
from dataclasses import dataclass
from typing import Any, Callable, Collection, Hashable

import torch
from torch import fx

from .attributes import attribute_at
from .branches import choose, only_when, tested_input
from .errors import ConversionError
from .passes.graph_utils import TRAINING_ATTRIBUTE, is_impure
from .source_map import NAMES, node_frames

#: Makes the condition node in the merged graph from its inputs by name
#: (placeholders by target, ``"training"`` for the training flag).
ConditionMaker = Callable[[fx.Graph, dict[str, fx.Node]], fx.Node]


@dataclass(frozen=True)
class _Origin:
    """Where a merged node comes from: its position in each trace that has it."""

    in_true: float | None
    in_false: float | None


def merge_traces(
    when_true: fx.GraphModule,
    when_false: fx.GraphModule,
    condition: ConditionMaker,
    *,
    primary: bool,
    pure_blocks: Collection[str] = frozenset(),
) -> fx.GraphModule:
    """One graph that computes ``when_true``'s result where ``condition`` holds, else ``when_false``'s.

    ``primary`` says which trace's example values (``node.meta``) the merged
    nodes keep where the two disagree: the answer the example inputs give.
    ``pure_blocks``: the ``call_module`` targets of the user's blocks that
    compute nothing but their result (:mod:`nnconvert.block_purity`). Two
    calls of one of them on different arguments become one call over
    chosen arguments, as calls of a library layer do; any other block's
    calls stay on their own sides.
    """
    merged, _ = merge_graphs(
        when_true, when_false, condition, primary=primary, pure_blocks=pure_blocks
    )
    return merged


def merge_graphs(
    when_true: fx.GraphModule,
    when_false: fx.GraphModule,
    condition: ConditionMaker,
    *,
    primary: bool,
    pure_blocks: Collection[str] = frozenset(),
    attributes: dict[str, Any] | None = None,
) -> tuple[fx.GraphModule, Callable[[int, fx.Node], fx.Node]]:
    """:func:`merge_traces`, and where a node of either side that the result keeps went.

    The second result maps ``(side, node)`` (side 0: ``when_true``) to
    the node of the merged graph, None for a node the result does not keep.

    ``attributes``: values the condition reads through ``get_attr`` that
    neither graph reads (``self.stride`` of :mod:`~.printer.attribute_tests`).
    """
    merger = _Merger(when_true.graph, when_false.graph, primary, pure_blocks)
    graph = merger.merge(condition)
    graph.set_codegen(when_false.graph._codegen)
    roots = dict(attributes or {})
    for module in (when_true, when_false):
        for node in module.graph.nodes:
            if node.op in ("get_attr", "call_module") and node.target not in roots:
                roots[node.target] = attribute_at(module, str(node.target))
    merged = fx.GraphModule(roots, graph, class_name=type(when_false).__name__)
    merged.meta.update((when_true if primary else when_false).meta)
    return merged, merger.kept


class _Merger:
    def __init__(
        self,
        true_graph: fx.Graph,
        false_graph: fx.Graph,
        primary: bool,
        pure_blocks: Collection[str] = frozenset(),
    ):
        self.sides = (true_graph, false_graph)
        self.primary = primary
        self.pure_blocks = pure_blocks
        ranks = paired_ranks(true_graph, false_graph)
        interned: dict[Hashable, int] = {}  # one numbering for both graphs
        self.numbers = (
            value_numbers(true_graph, ranks[0], interned),
            value_numbers(false_graph, ranks[1], interned),
        )
        self.positions = tuple(
            {node: float(i) for i, node in enumerate(g.nodes)} for g in self.sides
        )
        common = set(self.numbers[0].values()) & set(self.numbers[1].values())
        self.common = common
        self.by_number = tuple(
            {number: node for node, number in numbers.items()}
            for numbers in self.numbers
        )
        self.graph = fx.Graph()
        self.origin: dict[fx.Node, _Origin] = {}
        self.shared: dict[Hashable, fx.Node] = {}
        self.copied: tuple[dict[fx.Node, fx.Node], dict[fx.Node, fx.Node]] = ({}, {})
        self.unified: dict[tuple[fx.Node, fx.Node], fx.Node] = {}
        self.condition: fx.Node | None = None
        self.alike: dict[tuple[fx.Node, fx.Node], bool] = {}
        self.paired: dict[tuple[fx.Node, fx.Node], bool] = {}

    # -- the merge -------------------------------------------------------------

    def merge(self, condition: ConditionMaker) -> fx.Graph:
        inputs = {}  # what a condition may read: the inputs, the training flag
        for side in (0, 1):
            for node in self.sides[side].nodes:
                if node.op == "placeholder" or (
                    node.op == "get_attr" and node.target == TRAINING_ATTRIBUTE
                ):
                    inputs[str(node.target)] = self.take(side, node)
        self.condition = condition(self.graph, inputs)
        if self.condition.op != "placeholder":  # a flag input stays in its place
            self.origin[self.condition] = _Origin(-0.5, -0.5)
        true_output = _output(self.sides[0]).args[0]
        false_output = _output(self.sides[1]).args[0]
        result = self.unify(true_output, false_output)
        self._side_effects()
        output = self.graph.output(result)
        self.origin[output] = _Origin(float("inf"), float("inf"))
        _reorder(self.graph, self._order_keys())
        self.graph.lint()
        return self.graph

    def _side_effects(self) -> None:
        """Side effects nothing reads, each under the answer whose trace ran it.

        An effect both sides run on the same merged values (``outputs.pooled
        = projected`` after a block called with and without ``mask``) is one
        effect, run under either answer: written once, not once in each
        branch. Twins are paired in the order of both traces, so random
        draws keep their order. An effect its own trace already marks as one
        answer's (an inner branch's ``only_when``) is left to that mark:
        marked here as well, it would run wherever the outer answer holds.
        """
        # (side, effect, the node of its trace) of one side only
        alone: list[tuple[int, fx.Node, fx.Node]] = []
        twins: set[fx.Node] = set()
        last = -1.0  # true-side position of the last pair
        for side in (0, 1):
            for node in self.sides[side].nodes:
                if node.op == "output" or not is_impure(node) or self.has(side, node):
                    continue
                if side == 1 and not _marked(node):
                    ones = [(e, n) for s, e, n in alone if s == 0 and e not in twins]
                    twin = self._twin(
                        node, [e for e, _ in ones], last
                    ) or self._joined_twin(node, ones, last, alone)
                    if twin is not None:
                        self.copied[1][node] = twin
                        last = _true_position(self.origin[twin])
                        self.origin[twin] = _Origin(last, self.positions[1][node])
                        twins.add(twin)
                        continue
                effect = self.take(side, node)
                if self.numbers[side][node] not in self.common and not _marked(node):
                    alone.append((side, effect, node))
        for side, effect, _ in alone:
            if effect not in twins:
                marker = self.graph.call_function(
                    only_when, (self.condition, side == 0, effect)
                )
                self.origin[marker] = self.origin[effect]

    def _twin(
        self, node: fx.Node, candidates: list[fx.Node], after: float
    ) -> fx.Node | None:
        """The true side's effect that does what false-side ``node`` does, on the same values."""
        for candidate in candidates:
            if (
                candidate.op == node.op
                and candidate.target == node.target
                and _true_position(self.origin[candidate]) > after
                and self._same_arguments(candidate, node)
            ):
                return candidate
        return None

    def _joined_twin(
        self,
        node: fx.Node,
        candidates: list[tuple[fx.Node, fx.Node]],
        after: float,
        alone: list[tuple[int, fx.Node, fx.Node]],
    ) -> fx.Node | None:
        """One effect over the merge's joined values, where each side's twin reads its own.

        Swin's ``b, n_h, n_w, _, h = *x.shape, self.heads`` after ``if
        self.shifted: x = self.cyclic_shift(x)``, read back from a
        functional file, guards ``len(x.shape)`` in each trace: the shifted
        trace on ``roll(x)``, the other on ``x``. The merge already joined
        the two as ``choose(shifted, roll(x), x)`` for the lines after; the
        guard reads that too, once, instead of once in each branch. Only an
        effect nothing reads is joined, on each side, and only where every
        value it reads is one merged value, a joined one or the same pure
        call over such values (:meth:`_paired`).
        """
        for candidate, ours in candidates:  # (its copy, the true side's effect)
            if (
                ours.users
                or node.users
                or ours.op != node.op
                or ours.target != node.target
                or _true_position(self.origin[candidate]) <= after
                or not _identical(
                    (ours.args, dict(ours.kwargs)),
                    (node.args, dict(node.kwargs)),
                    self._paired,
                )
            ):
                continue
            joined = self._same_call(ours, node)
            self.copied[0][ours] = joined
            alone[:] = [(s, joined if e is candidate else e, n) for s, e, n in alone]
            self._erase_unread(candidate)
            return joined
        return None

    def _paired(self, ours: fx.Node, theirs: fx.Node) -> bool:
        """True-side ``ours`` and false-side ``theirs`` are one value of the merge.

        The same value number, a pair the merge joined (:meth:`unify`), or
        the same pure call over such pairs.
        """
        if self.numbers[0][ours] == self.numbers[1][theirs]:
            return True
        if (ours, theirs) in self.unified:
            return True
        if (ours, theirs) not in self.paired:  # a value read twice is asked once
            self.paired[ours, theirs] = self._same_pure_call(ours, theirs)
        return self.paired[ours, theirs]

    def _same_pure_call(self, ours: fx.Node, theirs: fx.Node) -> bool:
        return (
            ours.op in _CALLS
            and ours.op == theirs.op
            and ours.target == theirs.target
            and not self._impure(ours)
            and not self._impure(theirs)
            and _identical(
                (ours.args, dict(ours.kwargs)),
                (theirs.args, dict(theirs.kwargs)),
                self._paired,
            )
        )

    def _erase_unread(self, node: fx.Node) -> None:
        """Erase a copy nothing reads any more, and the pure copies only it read."""
        inputs = node.all_input_nodes
        self.graph.erase_node(node)
        self.origin.pop(node, None)
        for copies in (*self.copied, self.shared):
            for key in [k for k, v in copies.items() if v is node]:
                del copies[key]
        for value in inputs:
            if not value.users and not is_impure(value) and value.op != "placeholder":
                self._erase_unread(value)

    def _same_arguments(self, merged: fx.Node, node: fx.Node) -> bool:
        """``merged`` is given what the false side's ``node`` is given.

        A value the merge already holds must be the same node; one it does
        not may be computed alike from the same values (a pure call): both
        traces of Whisper's attention guard ``len(k.shape)``, where ``k``
        is one merged call, each through its own ``getattr`` and ``len``.
        """
        return _identical(
            (merged.args, dict(merged.kwargs)),
            (node.args, dict(node.kwargs)),
            self._stands_for,
        )

    def _stands_for(self, merged: fx.Node, node: fx.Node) -> bool:
        """The merged graph's ``merged`` computes the false side's ``node``."""
        kept = self.kept(1, node)
        if kept is not None:
            return kept is merged
        return (
            node.op in ("call_function", "call_method")
            and not is_impure(node)
            and merged.op == node.op
            and merged.target == node.target
            and self._same_arguments(merged, node)
        )

    def has(self, side: int, node: fx.Node) -> bool:
        number = self.numbers[side][node]
        return (number in self.common and number in self.shared) or node in self.copied[
            side
        ]

    def kept(self, side: int, node: fx.Node) -> fx.Node | None:
        """Where ``node`` of one side is in the merged graph, None if nowhere (no copy made)."""
        if node in self.copied[side]:
            return self.copied[side][node]
        number = self.numbers[side][node]
        return self.shared.get(number) if number in self.common else None

    def take(self, side: int, node: fx.Node) -> fx.Node:
        """``node`` of one side in the merged graph: shared if both sides compute it."""
        number = self.numbers[side][node]
        if node in self.copied[side]:
            return self.copied[side][node]
        if number in self.common:
            if number not in self.shared:
                true_node = self.by_number[0][number]
                false_node = self.by_number[1][number]
                source = true_node if self.primary else false_node
                copy = self.graph.node_copy(
                    source, lambda n: self.take(0 if self.primary else 1, n)
                )
                self.shared[number] = copy
                self.origin[copy] = _Origin(
                    self.positions[0][true_node], self.positions[1][false_node]
                )
            return self.shared[number]
        copies = self.copied[side]
        if node not in copies:
            copy = self.graph.node_copy(node, lambda n: self.take(side, n))
            copies[node] = copy
            position = self.positions[side][node]
            self.origin[copy] = (
                _Origin(position, None) if side == 0 else _Origin(None, position)
            )
        return copies[node]

    def unify(self, a: Any, b: Any) -> Any:
        """The merged value that is ``a`` on the true side and ``b`` on the false side."""
        if isinstance(a, fx.Node) and isinstance(b, fx.Node):
            if self.numbers[0][a] == self.numbers[1][b]:
                return self.take(0, a)
            key = (a, b)
            if key not in self.unified:
                same = self._unifiable(a, b) or self._same_but_tested(a, b)
                if same:
                    self.unified[key] = self._same_call(a, b)
                else:
                    self.unified[key] = self._wrapped(a, b) or self._choose(a, b)
            return self.unified[key]
        if isinstance(a, fx.Node) and b is None and self._tested(a):
            return self.take(0, a)  # ``mask if mask is not None else None`` is ``mask``
        if isinstance(a, fx.Node) or isinstance(b, fx.Node):
            return self._choose(a, b)
        if type(a) is type(b) and isinstance(a, (tuple, list)) and len(a) == len(b):
            return type(a)(self.unify(x, y) for x, y in zip(a, b))
        if type(a) is type(b) and isinstance(a, dict) and list(a) == list(b):
            return {k: self.unify(a[k], b[k]) for k in a}
        if type(a) is type(b) and _equal(a, b):
            return a
        return self._choose(a, b)

    def _wrapped(self, a: fx.Node, b: fx.Node) -> fx.Node | None:
        """One side's result is the other's passed through one more call: the call alone chosen.

        Swin's ``if self.shifted: out = self.cyclic_back_shift(out)`` ends
        one trace with ``roll(y)`` and the other with ``y``, each ``y``
        the same call over other arguments. Chosen whole, the two ``y``
        would be two copies of the block's body, one per branch; merged,
        they are one ``y``, and only the ``roll`` runs under its answer:
        ``choose(roll(y), y)``. The extra call must be pure (a draw or an
        in-place op keeps its own side) and read the rest on its side.
        """
        for side, outer, other in ((0, a, b), (1, b, a)):
            if (
                outer.op not in _CALLS
                or self._impure(outer)
                or not outer.args
                or not isinstance(outer.args[0], fx.Node)
            ):
                continue
            inner, theirs = outer.args[0], other
            if not _alike_values(outer, inner, theirs):
                continue
            pair = (inner, theirs) if side == 0 else (theirs, inner)
            same = self.numbers[0][pair[0]] == self.numbers[1][pair[1]]
            if not same and not self._unifiable(*pair):
                continue
            shared = self.unify(*pair)
            self.copied[side].setdefault(inner, shared)
            wrapper = self.graph.node_copy(outer, lambda n: self.take(side, n))
            self.copied[side][outer] = wrapper
            position = self.positions[side][outer]
            self.origin[wrapper] = (
                _Origin(position, None) if side == 0 else _Origin(None, position)
            )
            return self._choose(a, b)
        return None

    def _unifiable(self, a: fx.Node, b: fx.Node) -> bool:
        """The same call with other arguments: merged into one call over chosen arguments."""
        if a.op != b.op or a.op in ("placeholder", "output", "get_attr"):
            return False
        if a.target is not b.target and a.target != b.target:
            return False
        if self._impure(a) or self._impure(b):
            return False  # each draw or in-place op runs on its own side, once
        if _written_apart(a, b):
            return False  # each branch of the source makes its own call
        return (
            len(a.args) == len(b.args)
            and list(a.kwargs) == list(b.kwargs)
            and all(_same_kind(x, y) for x, y in zip(a.args, b.args))
        )

    def _impure(self, node: fx.Node) -> bool:
        """:func:`is_impure`, but a call of a block known to be pure is pure."""
        if node.op == "call_module" and str(node.target) in self.pure_blocks:
            return False
        return is_impure(node)

    def _tested(self, a: fx.Node) -> bool:
        """The condition is ``a is not None``: passing ``a`` on is right on both sides."""
        tested = tested_input(self.condition)
        return tested is not None and tested is self.take(0, a)

    def _same_but_tested(self, a: fx.Node, b: fx.Node) -> bool:
        """One call on both sides: ``block(x, mask=mask)`` and ``block(x, mask=None)``.

        Where the condition is ``mask is not None`` the two are the same call
        (even of a block that draws random numbers): it runs once either way.
        """
        if (a, b) not in self.alike:
            self.alike[(a, b)] = False  # a cycle cannot make it true
            same = (
                a.op == b.op
                and a.target == b.target
                and a.op in _CALLS
                and len(a.args) == len(b.args)
                and list(a.kwargs) == list(b.kwargs)
            )
            pairs = [*zip(a.args, b.args), *zip(a.kwargs.values(), b.kwargs.values())]
            self.alike[(a, b)] = same and all(self._alike(x, y) for x, y in pairs)
        return self.alike[(a, b)]

    def _alike(self, x: Any, y: Any) -> bool:
        """``x`` (true side) and ``y`` (false side) are one value where the condition holds."""
        if isinstance(x, fx.Node) and isinstance(y, fx.Node):
            same = self.numbers[0][x] == self.numbers[1][y]
            return same or self._same_but_tested(x, y)
        if isinstance(x, fx.Node):
            return y is None and (self._made_from_tested(x) or self._tested(x))
        return not isinstance(y, fx.Node) and type(x) is type(y) and _equal(x, y)

    def _made_from_tested(self, x: fx.Node) -> bool:
        """``x`` (true side) computes from the tested input alone: ``mask.unsqueeze(1)``.

        Where the condition is ``mask is not None``, attention-is-all-you-need
        writes ``if mask is not None: mask = mask.unsqueeze(1)`` and then one
        call with ``mask=mask``: the call given ``mask.unsqueeze(1)`` on one
        side and None on the other is that one call, over the choice.
        """
        tested_node = tested_input(self.condition)
        if tested_node is None or tested_node.op != "placeholder":
            return False
        tested = tested_node.target
        seen: set[fx.Node] = set()
        stack, reads_it = [x], False
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node.op == "placeholder":
                if node.target != tested:
                    return False
                reads_it = True
            elif node.op not in ("call_function", "call_method") or is_impure(node):
                return False  # a layer, a weight or a draw: not the input alone
            stack += node.all_input_nodes
        return reads_it

    def _same_call(self, a: fx.Node, b: fx.Node) -> fx.Node:
        args = self.unify(a.args, b.args)
        kwargs = self.unify(dict(a.kwargs), dict(b.kwargs))
        node = self.graph.create_node(a.op, a.target, tuple(args), kwargs, name=a.name)
        node.meta = dict((a if self.primary else b).meta)
        self.origin[node] = _Origin(self.positions[0][a], self.positions[1][b])
        # what else reads ``a`` runs only where the condition holds, where
        # ``node`` is ``a``: it reads ``node`` rather than a second copy of ``a``
        self.copied[0].setdefault(a, node)
        self.copied[1].setdefault(b, node)
        return node

    def _choose(self, a: Any, b: Any) -> fx.Node:
        when_true = fx.node.map_arg(a, lambda n: self.take(0, n))
        when_false = fx.node.map_arg(b, lambda n: self.take(1, n))
        node = self.graph.call_function(choose, (self.condition, when_true, when_false))
        source = a if self.primary else b
        if isinstance(source, fx.Node):
            node.meta = dict(source.meta)
        else:
            node.meta = {"value": source}
        tested = tested_input(self.condition)
        if tested is not None and tested is when_true and tested.op == "placeholder":
            # the input where it was given, its stand-in where not: the user's
            # ``context = default(context, x)``, which goes on as ``context``
            node.meta[NAMES] = (str(tested.target),)
        self.origin[node] = _Origin(
            _last_position(a, self.positions[0]), _last_position(b, self.positions[1])
        )
        return node

    def _order_keys(self) -> dict[fx.Node, float]:
        """Sort keys: true-side positions, false-only nodes after their false-side predecessor."""
        keys: dict[fx.Node, float] = {}
        anchors = sorted(  # (false-side position, true-side position) of nodes in both
            (o.in_false, o.in_true)
            for o in self.origin.values()
            if o.in_false is not None and o.in_true is not None
        )
        positions = [f for f, _ in anchors]
        latest = list(itertools.accumulate((t for _, t in anchors), max))
        for node, origin in self.origin.items():
            if origin.in_true is not None:
                keys[node] = origin.in_true
            elif origin.in_false is not None:
                before = bisect.bisect_left(positions, origin.in_false)
                anchor = latest[before - 1] if before else -1.0
                keys[node] = anchor + 0.5 + origin.in_false * 1e-9
        for node, origin in self.origin.items():
            if node not in keys:  # a choice between constants: just before its reader
                keys[node] = min((keys.get(u, 0.0) for u in node.users), default=0.0)
                keys[node] -= 1e-6
        return keys


def value_numbers(
    graph: fx.Graph,
    ranks: dict[fx.Node, Hashable] | None = None,
    interned: dict[Hashable, int] | None = None,
) -> dict[fx.Node, int]:
    """A number per node that two graphs give alike when the node computes the same.

    What a node computes is its op, target and arguments (argument nodes by
    their own numbers); the k-th of several identical calls (two draws
    ``torch.rand(3)``) is told apart by k, unless ``ranks`` tells it apart
    (:func:`paired_ranks`). ``interned`` (structure -> number) is shared by
    the graphs compared. A number stands for its structure, so a key stays
    as small however deep the graph: a key holding its arguments' keys in
    turn would spell out every path through shared values, and hashing it
    would take time exponential in the depth (:mod:`.passes.guards` met it).
    """
    numbers: dict[fx.Node, int] = {}
    seen: dict[Hashable, int] = {}
    ranks = ranks or {}
    interned = {} if interned is None else interned
    for node in graph.nodes:
        base = _base(node, numbers)
        seen[base] = seen.get(base, 0) + 1
        key = (base, ranks.get(node, seen[base]))
        numbers[node] = interned.setdefault(key, len(interned))
    return numbers


def paired_ranks(
    true_graph: fx.Graph, false_graph: fx.Graph
) -> tuple[dict[fx.Node, Hashable], dict[fx.Node, Hashable]]:
    """Ranks for pure calls one trace makes more often than the other, paired by use.

    Whisper's attention, read back from module style, reads ``q.shape``
    once more where a mask is given (``if mask is not None: n_ctx =
    q.shape[1]``) than where it is not. Told apart by k, the one read of
    the trace without a mask would be the other's first, ``n_ctx``'s; the
    guard and the ``view`` that read it would then differ on both sides
    and be written twice, once under each answer. Pure calls compute the
    same however often they run, so such reads are paired by what reads
    them instead (their users' kinds, in order, the longest common
    sequence); a read without a twin ranks alone. Calls made as often on
    both sides keep k (and impure calls always do: each draw is its own).
    """
    interned: dict[Hashable, int] = {}  # one numbering for both graphs
    classes = (_classes(true_graph, interned), _classes(false_graph, interned))
    groups: dict[Hashable, tuple[list[fx.Node], list[fx.Node]]] = {}
    for side in (0, 1):
        for node, number in classes[side].items():
            if not is_impure(node):
                groups.setdefault(number, ([], []))[side].append(node)
    ranks: tuple[dict[fx.Node, Hashable], dict[fx.Node, Hashable]] = ({}, {})
    for true_nodes, false_nodes in groups.values():
        if len(true_nodes) == len(false_nodes):
            continue

        def uses(node: fx.Node, side: int) -> tuple:
            return tuple(sorted(classes[side][u] for u in node.users))

        pairs = _common_sequence(
            [uses(n, 0) for n in true_nodes], [uses(n, 1) for n in false_nodes]
        )
        for pair, (i, j) in enumerate(pairs):
            ranks[0][true_nodes[i]] = ranks[1][false_nodes[j]] = ("paired", pair)
        for side, nodes in ((0, true_nodes), (1, false_nodes)):
            for i, node in enumerate(nodes):
                ranks[side].setdefault(node, ("alone", side, i))
    return ranks


def _classes(graph: fx.Graph, interned: dict[Hashable, int]) -> dict[fx.Node, int]:
    """A number per node by what it computes, alike for repeated pure calls.

    ``interned``: structure -> number, shared by the graphs compared.
    """
    numbers: dict[fx.Node, Hashable] = {}
    seen: dict[Hashable, int] = {}
    for node in graph.nodes:
        key: Hashable = _base(node, numbers)
        if is_impure(node):  # each its own: the k-th, as value_numbers tells them
            seen[key] = seen.get(key, 0) + 1
            key = (key, seen[key])
        numbers[node] = interned.setdefault(key, len(interned))
    return numbers


def _common_sequence(a: list, b: list) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of ``a`` and ``b``."""
    lengths = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in reversed(range(len(a))):
        for j in reversed(range(len(b))):
            lengths[i][j] = (
                lengths[i + 1][j + 1] + 1
                if a[i] == b[j]
                else max(lengths[i + 1][j], lengths[i][j + 1])
            )
    pairs, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _base(node: fx.Node, numbers: dict[fx.Node, int]) -> Hashable:
    """What ``node`` computes: its op, target and arguments by their ``numbers``."""
    if node.op == "placeholder":
        return ("placeholder", str(node.target))
    return (
        node.op,
        _frozen(node.target, numbers),
        _frozen(node.args, numbers),
        _frozen(dict(node.kwargs), numbers),
    )


def _frozen(value: Any, numbers: dict[fx.Node, Hashable]) -> Hashable:
    if isinstance(value, fx.Node):
        return ("node", numbers[value])
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_frozen(v, numbers) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _frozen(v, numbers)) for k, v in value.items()))
    if isinstance(value, torch.Tensor):
        return ("tensor", id(value))
    if isinstance(value, slice):
        return (
            "slice",
            tuple(_frozen(v, numbers) for v in (value.start, value.stop, value.step)),
        )
    try:
        hash(value)
    except TypeError:
        return ("repr", type(value).__name__, repr(value))
    return (type(value).__name__, id(value) if callable(value) else value)


_CALLS = ("call_module", "call_function", "call_method")


def _alike_values(*nodes: fx.Node) -> bool:
    """The nodes' example values are tensors of one shape and dtype.

    A call that moves its input (``torch.roll``, a shift block) gives what
    it was given in another order: the result the other trace returns. A
    call that makes something else of it (``mask == 0``, a slice) only
    looks like one more step: the merge would pair values that merely
    share a call.
    """
    values = [node.meta.get("value") for node in nodes]
    if not all(isinstance(v, torch.Tensor) for v in values):
        return False
    first = values[0]
    return all(v.shape == first.shape and v.dtype == first.dtype for v in values)


def _written_apart(a: fx.Node, b: fx.Node) -> bool:
    """Whether the user wrote the two calls on different lines, one in each branch.

    ``logits = self.lm_head(x)`` under ``if targets is not None:`` and
    ``logits = self.lm_head(x[:, [-1], :])`` under ``else:`` stay two calls,
    each in its branch with its comment, as written; one call over a chosen
    argument would be a rewrite of the source. Without source, the calls
    are merged as before.
    """
    if a.op == "call_function" and a.target in _PLUMBING:
        return False  # taking a tuple apart is no call the user wrote
    frames_a, frames_b = node_frames(a), node_frames(b)
    return bool(frames_a and frames_b) and frames_a[-1] != frames_b[-1]


#: what unpacks a result rather than computes: ``out, attn = ...`` in each
#: branch, the printer's own lines after a block call, merge as before
_PLUMBING = frozenset({operator.getitem})


def _same_kind(a: Any, b: Any) -> bool:
    """Arguments one call can take on either side, a node on one and a constant on the other.

    A structure is no such constant: ``weight[position_ids]`` against
    ``weight[start : start + length]`` (Whisper's positions) stay two
    lookups under the ``if``, rather than one over a chosen index.
    """
    return isinstance(a, fx.Node) == isinstance(b, fx.Node) or (
        not isinstance(a, _STRUCTURES) and not isinstance(b, _STRUCTURES)
    )


_STRUCTURES = (tuple, list, dict, slice)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, slice) and isinstance(b, slice):  # unhashable before 3.12
        return _equal((a.start, a.stop, a.step), (b.start, b.stop, b.step))
    try:
        return bool(a == b) and hash(a) == hash(b)
    except Exception:
        return a is b


def _identical(
    a: Any, b: Any, same: Callable[[fx.Node, fx.Node], bool] = operator.is_
) -> bool:
    """The same arguments: the same nodes (by ``same``), in the same structure,
    around equal constants."""
    if isinstance(a, fx.Node) or isinstance(b, fx.Node):
        return isinstance(a, fx.Node) and isinstance(b, fx.Node) and same(a, b)
    if isinstance(a, (tuple, list)):  # fx's immutable_list is a list
        return (
            isinstance(b, (tuple, list))
            and isinstance(a, tuple) == isinstance(b, tuple)
            and len(a) == len(b)
            and all(_identical(x, y, same) for x, y in zip(a, b))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and list(a) == list(b)
            and all(_identical(a[k], b[k], same) for k in a)
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, slice):
        return _identical((a.start, a.stop, a.step), (b.start, b.stop, b.step), same)
    return _equal(a, b)


def _true_position(origin: _Origin) -> float:
    return -1.0 if origin.in_true is None else origin.in_true


def _marked(node: fx.Node) -> bool:
    """An effect that an ``only_when`` of its own graph puts under one answer."""
    return any(
        user.op == "call_function" and user.target is only_when and user.args[2] is node
        for user in node.users
    )


def _output(graph: fx.Graph) -> fx.Node:
    return next(n for n in reversed(graph.nodes) if n.op == "output")


def _last_position(value: Any, positions: dict[fx.Node, float]) -> float | None:
    found: list[float] = []
    fx.node.map_arg(value, lambda n: found.append(positions[n]))
    return max(found) if found else None


def _reorder(graph: fx.Graph, keys: dict[fx.Node, float]) -> None:
    """Put the nodes in key order, each after the nodes it reads."""
    nodes = list(graph.nodes)
    waiting = {node: len(set(node.all_input_nodes)) for node in nodes}
    ready = [(keys.get(n, 0.0), i, n) for i, n in enumerate(nodes) if not waiting[n]]
    heapq.heapify(ready)
    index = {node: i for i, node in enumerate(nodes)}
    ordered: list[fx.Node] = []
    while ready:
        _, _, node = heapq.heappop(ready)
        ordered.append(node)
        for user in node.users:
            waiting[user] -= 1
            if not waiting[user]:
                heapq.heappush(ready, (keys.get(user, 0.0), index[user], user))
    if len(ordered) != len(nodes):
        raise ConversionError("merging two traces made a cycle; this is a bug")
    # placeholders first, in their order, as fx requires
    placeholders = [n for n in ordered if n.op == "placeholder"]
    rest = [n for n in ordered if n.op != "placeholder"]
    anchor = graph._root
    for node in placeholders + rest:
        anchor.append(node)
        anchor = node
