"""The literals of a graph as slots: what lets one definition serve every instance of a block.

A MobileNetV2 writes one ``Block`` class whose instances differ only in the
numbers they were built with (``groups=144``, ``stride=2``). Their graphs are
the same once those literals are set aside: :func:`literal_slots` splits a
graph into that abstract shape (comparable data) and the literal in each
slot; :func:`holes` finds the slots whose literal differs between members of
a group, which become parameters of the one shared definition
(``def block(params, x, *, groups: int, stride: int)``).

A keyword a spec'd call leaves out holds the spec's default, so an instance
with ``stride=1`` (omitted) and one with ``stride=2`` still share a body.
Literals that the printer reads as structure are never slots: a
``getitem`` index (an unpacked tuple), a ``getattr`` name, strings, and the
arguments of branch marks. The bounds of a slice are slots, though: GAT's
``self.a[:, :self.n_hidden, :]`` and ShuffleNet's ``x[:, :c]`` are one body
whatever width each instance was built with.
"""

from __future__ import annotations

import builtins
import dataclasses
import keyword
import operator
from dataclasses import dataclass
from typing import Any, Callable

from torch import fx

from ..branches import is_choose, is_condition, is_expect, is_only_when, setting
from ..opspecs import specs_for_function
from ..passes.graph_utils import is_training_flag
from ..passes.methods import is_method_call
from ..opspecs.spec import REQUIRED
from ..naming import first_free, identifier
from .signature import graph_signature

#: A slot: (node position, "kw" or "arg", keyword name or argument position),
#: (node position, "slice", (index item or None, "start"/"stop"/"step")) for
#: a bound of a ``getitem``'s slice, or (node position, "method", slot) for a
#: slot of the body of the helper method the node calls.
Slot = tuple[int, str, Any]


class _Hole:
    """Stands for a literal in the abstract shape.

    Its repr is a name, so that fx can write code for a graph that holds it
    (:func:`abstracted`), which is merged and printed, never run.
    """

    def __repr__(self) -> str:
        return "_HOLE"


_HOLE = _Hole()


@dataclass(frozen=True)
class Slots:
    """A graph's abstract shape, its literal per slot and each keyword slot's default."""

    shape: tuple
    values: dict[Slot, Any]
    defaults: dict[Slot, Any]


def literal_slots(
    graph: fx.Graph,
    skipped: frozenset[fx.Node] = frozenset(),
    stand_ins: dict[fx.Node, fx.Node] | None = None,
) -> Slots:
    """``graph`` with its free literals set aside: the shape, and the literal in each slot.

    A spec'd call's literal keywords leave the shape entirely (an omitted one
    is its default); other calls keep their keyword names in the shape.
    ``skipped`` nodes stand for their input in the shape (optional calls),
    or for their value in ``stand_ins``.
    """
    values: dict[Slot, Any] = {}
    defaults: dict[Slot, Any] = {}
    targets: dict[fx.Node, Any] = {}
    for position, node in enumerate(graph.nodes):
        if is_method_call(node):  # its body's literals are the block's too
            inner = literal_slots(node.target.body)
            values.update({(position, "method", s): v for s, v in inner.values.items()})
            defaults.update(
                {(position, "method", s): v for s, v in inner.defaults.items()}
            )
            targets[node] = ("method", node.target.name, inner.shape)
        for key, value in _slice_bounds(node).items():
            values[(position, "slice", key)] = value
        for i in _training_choice_numbers(node):
            values[(position, "arg", i)] = node.args[i]
        if not _may_hold_holes(node):
            continue
        for i, value in enumerate(node.args):
            if is_free_literal(value):
                values[(position, "arg", i)] = value
        for name, value in node.kwargs.items():
            if is_free_literal(value):
                values[(position, "kw", name)] = value
        for name, default in (_keyword_defaults(node) or {}).items():
            defaults[(position, "kw", name)] = default
    shape = graph_signature(
        graph,
        skipped,
        abstract=_abstract_of(graph),
        targets=targets,
        stand_ins=stand_ins,
    )
    return Slots(shape, values, defaults)


def abstracted(graph: fx.Graph) -> fx.Graph:
    """A copy of ``graph`` whose free literals all read one marker; nodes keep their positions.

    Two graphs that differ only in literals compute alike here, so a merge
    (:func:`~nnconvert.merge.merge_graphs`) makes one call of two that
    differ only in literals; :func:`restore_literals` puts a side's back.
    A spec'd call's literal keywords are left out, as its shape leaves them.
    """
    copied = copy_graph(graph)
    for node, (args, kwargs) in _abstract_of(copied).items():
        node.args, node.kwargs = args, kwargs
    return copied


def restore_literals(node: fx.Node, original: fx.Node) -> None:
    """``node`` (from :func:`abstracted`, maybe merged) with ``original``'s literals again."""
    node.args = _restored(node.args, original.args)
    kwargs = {
        k: _restored(node.kwargs[k], v) if k in node.kwargs else v
        for k, v in original.kwargs.items()
    }
    node.kwargs = {
        **kwargs,
        **{k: v for k, v in node.kwargs.items() if k not in kwargs},
    }


def restore_choices(node: fx.Node, original: fx.Node, branch: int) -> None:
    """The ``choose`` nodes among ``node``'s arguments take ``original``'s literal as ``branch``.

    Merging ``x + h`` with ``x + 0`` chooses between ``h`` and the hole that
    stood for ``0`` (:meth:`~nnconvert.merge._Merger._choose`); the choice is
    a node of the merge, which :func:`restore_literals` leaves alone. Its
    ``branch`` (1 for the side that answers the test True, 2 for the other)
    is the literal ``original`` (that side's node) has in the same place.
    """

    def fill(value: Any, literal: Any) -> None:
        if (
            isinstance(value, fx.Node)
            and is_choose(value)
            and value.args[branch] is _HOLE
            and not isinstance(literal, fx.Node)
        ):
            args = list(value.args)
            args[branch] = literal
            value.args = tuple(args)

    for value, literal in zip(node.args, original.args):
        fill(value, literal)
    for key, value in node.kwargs.items():
        if key in original.kwargs:
            fill(value, original.kwargs[key])


def unfilled_choice(graph: fx.Graph) -> bool:
    """A ``choose`` of ``graph`` still holds a hole: no side's node gave its literal.

    The merge may unify a side's calls into a node of its own (LeViT's
    residual sums, one of them ``x + 0``), which no side's literals
    restore: the paths are then not joined.
    """
    return any(is_choose(n) and _HOLE in n.args for n in graph.nodes)


def _restored(value: Any, original: Any) -> Any:
    if value is _HOLE:
        return original
    if isinstance(value, (tuple, list)) and type(original) is type(value):
        if len(value) == len(original):
            return type(value)(_restored(v, o) for v, o in zip(value, original))
    if isinstance(value, slice) and isinstance(original, slice):
        return slice(
            _restored(value.start, original.start),
            _restored(value.stop, original.stop),
            _restored(value.step, original.step),
        )
    return value


def moved(slots: Slots, positions: dict[int, int]) -> Slots:
    """``slots`` with each node position moved to ``positions[position]``.

    For a block without an optional call, read in the coordinates of the
    graph that makes it (its nodes are that graph's, the calls aside).
    """

    def at(slot: Slot) -> Slot:
        return (positions[slot[0]], *slot[1:])

    return Slots(
        slots.shape,
        {at(slot): value for slot, value in slots.values.items()},
        {at(slot): value for slot, value in slots.defaults.items()},
    )


def holes(members: list[Slots]) -> list[Slot]:
    """The slots whose literal differs between ``members`` (of one abstract shape), in order.

    A keyword slot some member leaves out holds its default there; a slot
    left out by a call with no known default cannot be a hole, so the
    members then do not share a body (:func:`can_share`).
    """
    slots = sorted({s for m in members for s in m.values}, key=_order)
    return [
        slot for slot in slots if len({_repr(value_of(m, slot)) for m in members}) > 1
    ]


def can_share(members: list[Slots]) -> bool:
    """Every member has a value for every slot (given, or a known default)."""
    slots = {s for m in members for s in m.values}
    return all(
        slot in m.values or slot in m.defaults for m in members for slot in slots
    )


def value_of(member: Slots, slot: Slot) -> Any:
    """The literal ``member`` has in ``slot`` (its default where it leaves it out)."""
    if slot in member.values:
        return member.values[slot]
    return member.defaults[slot]


#: Each parameter of a shared definition and the slots it fills.
Named = list[tuple[str, list[Slot]]]


def named_holes(members: list[Slots], taken: set[str]) -> Named:
    """Each parameter and the slots it fills; one name for slots that always agree.

    Named after the keyword the literal sets (``groups``, ``stride``),
    ``value`` for a positional literal; never a name in ``taken``, a
    builtin or a keyword.
    """
    named: Named = []
    by_values: dict[tuple[str, tuple], int] = {}
    for slot in holes(members):
        stem = _stem(slot)
        values = tuple(_repr(value_of(m, slot)) for m in members)
        if (stem, values) in by_values:
            named[by_values[(stem, values)]][1].append(slot)
            continue
        name = stem
        if hasattr(builtins, name) or keyword.iskeyword(name):
            name += "_"
        name = first_free(name, taken | {n for n, _ in named}, "_")
        by_values[(stem, values)] = len(named)
        named.append((name, [slot]))
    return named


def _stem(slot: Slot) -> str:
    """What a parameter filling ``slot`` is named after: its keyword, else ``value``."""
    if slot[1] == "method":
        return _stem(slot[2])
    return identifier(str(slot[2])) if slot[1] == "kw" else "value"


def filled(graph: fx.Graph, named: Named, text: Callable[[str], Any]) -> fx.Graph:
    """A copy of ``graph`` that reads ``text(name)`` where each hole's literal was.

    A helper method's body reads them too: its call's target becomes a
    :class:`~nnconvert.passes.methods.MethodCall` over a filled copy of the
    body, naming the parameters it reads (``keywords``).
    """
    if not named:
        return graph
    copied = copy_graph(graph)
    nodes = list(copied.nodes)
    in_methods: dict[int, dict[str, list[Slot]]] = {}
    for name, slots in named:
        for position, kind, key in slots:
            node = nodes[position]
            if kind == "method":
                in_methods.setdefault(position, {}).setdefault(name, []).append(key)
            elif kind == "slice":
                node.args = (node.args[0], _with_bound(node.args[1], key, text(name)))
            elif kind == "kw":
                node.kwargs = {**node.kwargs, key: text(name)}
            else:
                args = list(node.args)
                args[key] = text(name)
                node.args = tuple(args)
    for position, inner in in_methods.items():
        node = nodes[position]
        call = node.target
        body = filled(call.body, list(inner.items()), text)
        keywords = tuple(dict.fromkeys((*call.keywords, *inner)))
        node.target = dataclasses.replace(call, filled=body, keywords=keywords)
    return copied


def copy_graph(graph: fx.Graph) -> fx.Graph:
    """A copy of ``graph`` with every node's meta; nodes keep their positions."""
    copied = fx.Graph(owning_module=graph.owning_module)
    value = copied.graph_copy(graph, {})
    output = next(n for n in graph.nodes if n.op == "output")
    copied.output(value).meta = dict(output.meta)
    return copied


def _order(slot: Slot) -> tuple:
    return (slot[0], slot[1], str(slot[2]))


def _repr(value: Any) -> str:
    return f"{type(value).__name__}:{value!r}"


def _abstract_of(graph: fx.Graph) -> dict[fx.Node, Any]:
    """Per node, the argument and keyword values the shape compares instead of its own."""
    found = {}
    for node in graph.nodes:
        bounds = _slice_bounds(node)
        if bounds:
            index = node.args[1]
            for key in bounds:
                index = _with_bound(index, key, _HOLE)
            found[node] = ((node.args[0], index), node.kwargs)
        choices = _training_choice_numbers(node)
        if choices:
            args = tuple(_HOLE if i in choices else a for i, a in enumerate(node.args))
            found[node] = (args, node.kwargs)
        if not _may_hold_holes(node):
            continue
        args = tuple(_HOLE if is_free_literal(a) else a for a in node.args)
        kwargs = {k: _HOLE if is_free_literal(v) else v for k, v in node.kwargs.items()}
        if _keyword_defaults(node) is not None:
            kwargs = {k: v for k, v in kwargs.items() if v is not _HOLE}
        found[node] = (args, kwargs)
    return found


def _training_choice_numbers(node: fx.Node) -> tuple[int, ...]:
    """The argument positions of a number on either side of ``x if self.training else y``.

    nanoGPT's ``dropout_p=self.dropout if self.training else 0`` traces, in
    each mode, to one number; the merge joins them in a ``choose`` on the
    training flag. A block built with another rate differs there only, as
    in any call's literal. Other choices (on an optional input, of None or
    a flag) are structure.
    """
    if not is_choose(node) or not is_training_flag(node.args[0]):
        return ()
    return tuple(i for i in (1, 2) if type(node.args[i]) in (int, float))


def _may_hold_holes(node: fx.Node) -> bool:
    """A call whose literal arguments may differ between instances of one body."""
    if node.op not in ("call_function", "call_method", "call_module"):
        return False
    if node.target is setting:  # a tested attribute, as its keyword
        return True
    if node.target in (operator.getitem, getattr):
        return False
    return not (
        is_choose(node) or is_condition(node) or is_expect(node) or is_only_when(node)
    )


def _slice_bounds(node: fx.Node) -> dict[tuple[int | None, str], int]:
    """The integer bounds of the slices a ``getitem`` indexes with, by place.

    The key is the slice's position in a tuple index (None: the index is the
    slice) and which bound it is. ``None`` bounds (``x[:, :n]``'s start) are
    how the slice is written, not literals, and stay structure.
    """
    if node.op != "call_function" or node.target is not operator.getitem:
        return {}
    if len(node.args) != 2 or node.kwargs:
        return {}
    index = node.args[1]
    items = enumerate(index) if isinstance(index, tuple) else [(None, index)]
    return {
        (at, bound): getattr(item, bound)
        for at, item in items
        if isinstance(item, slice)
        for bound in ("start", "stop", "step")
        if type(getattr(item, bound)) is int
    }


def _with_bound(index: Any, key: tuple[int | None, str], value: Any) -> Any:
    """``index`` with the slice bound at ``key`` replaced by ``value``."""
    at, bound = key
    item = index if at is None else index[at]
    parts = {b: getattr(item, b) for b in ("start", "stop", "step")}
    parts[bound] = value
    changed = slice(parts["start"], parts["stop"], parts["step"])
    if at is None:
        return changed
    return index[:at] + (changed,) + index[at + 1 :]


def _keyword_defaults(node: fx.Node) -> dict[str, Any] | None:
    """Each keyword's default for a spec'd function call (None: no spec, keywords are shape)."""
    if node.op != "call_function":
        return None
    specs = specs_for_function(node.target)
    if not specs:
        return None
    return {
        p.name: p.default
        for p in specs[0].argument_parameters
        if p.default is not REQUIRED
    }


def is_free_literal(value: Any) -> bool:
    """A number, bool, None or tuple of numbers: a literal an instance may set."""
    if value is None or isinstance(value, (bool, int, float)):
        return True
    return (
        isinstance(value, (tuple, list))
        and bool(value)
        and all(isinstance(v, (bool, int, float)) for v in value)
    )
