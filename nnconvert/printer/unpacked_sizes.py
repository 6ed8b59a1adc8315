"""Sizes the source unpacked into a call print unpacked again: ``q.view(*q.shape[:2], h, -1)``.

The tracer turns ``*q.shape[:2]`` into one graph value per size, so the
call reads ``q.view(q.shape[0], q.shape[1], 2, -1)``. Where the graph also
holds the guard the unpacking left (``len(q.shape[:2]) == 2``, which refuses
an input with fewer dimensions before the call), the two spellings compute
the same thing, and the printer writes the source's.

Written as the source wrote it, the unpacking needs its guard no more: the
call then does for every input what the source's call does, and the guard
would only refuse inputs the source accepts (:func:`unpacking_guards`).
Whisper's attention printed four lines of guard before each of its three
``view`` calls.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Container, Sequence

from torch import fx

from ..branches import is_expect


@dataclass(frozen=True)
class UnpackedSizes:
    """``*sizes[:count]`` as one call argument: ``sizes`` is ``x.shape`` or ``x.size()``."""

    sizes: fx.Node
    count: int


def with_unpacked_sizes(args: Sequence[Any], named: Container[fx.Node]) -> list[Any]:
    """``args`` with each run ``sizes[0], ..., sizes[n - 1]`` (n >= 2) as one :class:`UnpackedSizes`.

    Only runs of sizes printed inline (none in ``named``: a size with its own
    variable is read elsewhere too, and keeps its statement) and guarded by
    ``len(sizes[:n]) == n``.
    """
    result: list[Any] = []
    index = 0
    while index < len(args):
        sizes = _size_source(args[index], 0, named)
        count = 0
        if sizes is not None:
            while index + count < len(args) and (
                _size_source(args[index + count], count, named) is sizes
            ):
                count += 1
        if count >= 2 and _length_guarded(sizes, count):
            result.append(UnpackedSizes(sizes, count))
            index += count
        else:
            result.append(args[index])
            index += 1
    return result


def unpacking_guards(graph: fx.Graph, named: Container[fx.Node]) -> set[fx.Node]:
    """The length guards of the unpackings that print as ``*sizes[:n]``: they go unprinted.

    Only a guard that a printed unpacking found (:func:`with_unpacked_sizes`
    on a call's arguments, as :meth:`ExpressionPrinter._call` prints them)
    goes; a guard on sizes printed one by one, or unpacked into names, stays.
    """
    found: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op not in ("call_function", "call_method", "call_module"):
            continue
        for value in with_unpacked_sizes(node.args, named):
            if isinstance(value, UnpackedSizes):
                found.update(_length_guards(value.sizes, value.count))
    return found


def _size_source(
    value: Any, position: int, named: Container[fx.Node]
) -> fx.Node | None:
    """The ``x.shape`` that ``value`` reads as ``x.shape[position]``, if it does."""
    if not (
        isinstance(value, fx.Node)
        and value not in named
        and value.op == "call_function"
        and value.target is operator.getitem
        and value.args[1] == position
        and isinstance(value.args[0], fx.Node)
        and _is_sizes(value.args[0])
    ):
        return None
    return value.args[0]


def _is_sizes(node: fx.Node) -> bool:
    """``x.shape`` or ``x.size()``."""
    if node.op == "call_function" and node.target is getattr:
        return node.args[1:] == ("shape",)
    if node.op == "call_method" and node.target == "size":
        return len(node.args) == 1 and not node.kwargs
    return False


def _length_guarded(sizes: fx.Node, count: int) -> bool:
    """A guard refuses a tensor whose first ``count`` sizes are fewer than ``count``."""
    return bool(_length_guards(sizes, count))


def _length_guards(sizes: fx.Node, count: int) -> list[fx.Node]:
    """The guards that refuse a tensor whose first ``count`` sizes are fewer than ``count``.

    A guard may read another ``x.shape`` node of the same tensor: the
    tracer makes one per question the source asks.
    """
    tensor = sizes.args[0]
    heads = (
        head
        for shape in tensor.users
        if _is_sizes(shape)
        for head in shape.users
        if head.target is operator.getitem
        and head.args[1] in (slice(None, count, None), slice(0, count, None))
    )
    return [
        guard
        for head in heads
        for length in head.users
        if length.target is len
        for comparison in length.users
        if comparison.target is operator.eq and comparison.args == (length, count)
        for guard in comparison.users
        if is_expect(guard)
    ]
