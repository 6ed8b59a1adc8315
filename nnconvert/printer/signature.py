"""A graph as comparable data: what decides that two instances print the same body."""

from __future__ import annotations

from typing import Any

import torch
from torch import fx


def graph_signature(
    graph: fx.Graph,
    skipped: frozenset[fx.Node] = frozenset(),
    abstract: dict[fx.Node, tuple] | None = None,
    targets: dict[fx.Node, Any] | None = None,
    stand_ins: dict[fx.Node, fx.Node] | None = None,
) -> tuple:
    """``graph`` as comparable data: equal signatures print the same body.

    Each node is its op, target, arguments (other nodes by position) and the
    kind of value it makes (a tensor is inlined differently from a shape, a
    tuple is unpacked). A skipped node stands for its (only) input, or for
    its value in ``stand_ins`` (an optional call whose absence leaves
    another value: ``self.shortcut(out) if ... else x``).
    ``abstract`` gives some nodes arguments to compare instead of their own
    (:mod:`.literal_holes` sets their literals aside), and ``targets`` some
    call targets to compare instead of their own (a helper method's body,
    its literals aside).
    """
    abstract = abstract or {}
    targets = targets or {}
    stand_ins = stand_ins or {}
    index: dict[fx.Node, Any] = {}

    def ref(value: Any) -> Any:
        if isinstance(value, fx.Node):
            return index[value]
        if isinstance(value, (tuple, list)):
            return (type(value).__name__, tuple(ref(v) for v in value))
        if isinstance(value, dict):
            return ("dict", tuple((k, ref(v)) for k, v in value.items()))
        if isinstance(value, slice):
            return ("slice", ref(value.start), ref(value.stop), ref(value.step))
        return (type(value).__name__, repr(value))

    entries = []
    for node in graph.nodes:
        if node in skipped:
            index[node] = index[stand_ins.get(node, node.args[0])]
            continue
        if node in targets:
            target = targets[node]
        elif isinstance(node.target, str):
            target = node.target
        else:
            target = _callable_key(node.target)
        kind = _value_kind(node.meta.get("value"))
        args, kwargs = abstract.get(node, (node.args, node.kwargs))
        entries.append((node.op, target, ref(args), ref(kwargs), kind))
        index[node] = len(entries) - 1
    return tuple(entries)


def _callable_key(function: Any) -> str:
    module = getattr(function, "__module__", "") or ""
    return f"{module}.{getattr(function, '__qualname__', repr(function))}"


def _value_kind(value: Any) -> Any:
    """What the statement plan and the return hint read of a node's value."""
    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, tuple):
        return ("tuple", type(value) is tuple, tuple(_value_kind(v) for v in value))
    if isinstance(value, list):
        return "list"
    return "other"
