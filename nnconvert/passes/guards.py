"""Shape guards that an earlier guard already implies are dropped.

The concrete tracer records a guard each time Python asks a traced value a
question, and Python sometimes asks one question twice: ``q.view(*q.shape[:2],
h, -1)`` iterates ``q.shape[:2]`` (one guard on its length) and then asks its
length again as a size hint for the argument tuple (a second, identical
guard). Before::

    if len(q.shape[:2]) != 2:
        raise ValueError(...)
    if len(q.shape[:2]) != 2:
        raise ValueError(...)
    q = q.view(*q.shape[:2], 2, -1)

After::

    if len(q.shape[:2]) != 2:
        raise ValueError(...)
    q = q.view(*q.shape[:2], 2, -1)

A guard goes only when an earlier guard checks the same condition on the
same values (equal by value numbering, never by printed text) and runs
wherever the later one runs: its branch conditions are a subset of the
later guard's. Guards in two exclusive branches both stay, so no input that
a guard refused before gets through (SPEC invariant 7).
"""

from __future__ import annotations

from typing import Any, Hashable

import torch
from torch import fx

from ..branches import guards, is_expect, is_only_when
from .graph_utils import is_impure

#: ``node.meta`` key of a kept guard: how many later guards it implied (and
#: took the place of). A guard on a plain argument asked more than once
#: (``range(future)`` of two loops) is no one loop's count.
IMPLIED_GUARDS = "implied_guards"


def drop_implied_guards(graph: fx.Graph) -> bool:
    """Erase each guard an earlier, dominating guard already implies. True if any went.

    The values the erased guard checked are read from the kept guard's
    (the first of each pair in graph order): ``q.shape`` read for the kept
    guard and again for the call after it is one value, so the call's sizes
    still read the value the guard checked. The conditions left unread go
    with dead-code removal.
    """
    branch_guards = guards(graph)
    numbers = _ValueNumbers()
    order = {node: index for index, node in enumerate(graph.nodes)}
    kept: dict[Hashable, list[tuple[frozenset[tuple[int, bool]], fx.Node]]] = {}
    implied: list[tuple[fx.Node, fx.Node]] = []  # (guard, the kept guard)
    for node in graph.nodes:
        if not is_expect(node):
            continue
        condition = numbers.of(node.args[0])
        runs_under = frozenset(
            (id(test), answer) for test, answer in branch_guards.get(node, ())
        )
        earlier = [g for under, g in kept.get(condition, ()) if under <= runs_under]
        if earlier:
            implied.append((node, earlier[0]))
        else:
            kept.setdefault(condition, []).append((runs_under, node))
    for node, kept_guard in implied:
        kept_guard.meta[IMPLIED_GUARDS] = kept_guard.meta.get(IMPLIED_GUARDS, 0) + 1
        _share_values(node.args[0], kept_guard.args[0], order)
        _erase_with_markers(node)
    return bool(implied)


def hoist_argument_guards(graph: fx.Graph) -> bool:
    """Move each guard on plain arguments alone to the top of the body. True if any moved.

    ``if return_attns: raise ...`` (the trace took ``return_attns=False``)
    asks nothing the body computes, so it can ask first: the input is
    refused before any work, and a loop whose first step alone kept the
    guard (:func:`drop_implied_guards` took the others) has alike steps
    again, which print as one ``for`` (the Transformer encoder's layers).
    Only a guard that runs unconditionally, whose condition is operators
    (``not``, ``==``, ``and``) over arguments that are not tensors.
    """
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if not placeholders:
        return False
    anchor = placeholders[-1]
    branch_guards = guards(graph)
    moved = False
    for node in list(graph.nodes):
        if not is_expect(node) or node.users or branch_guards.get(node):
            continue
        chain = _on_arguments_alone(node.args[0])
        if chain is None:
            continue
        for step in [*chain, node]:
            if step is not anchor.next:
                anchor.append(step)
            anchor = step
        moved = True
    return moved


def _on_arguments_alone(value: Any) -> list[fx.Node] | None:
    """The operator nodes computing ``value`` from non-tensor arguments, in order; else None."""
    found: list[fx.Node] = []

    def visit(node: Any) -> bool:
        if not isinstance(node, fx.Node) or node in found:
            return True
        if node.op == "placeholder":
            return not isinstance(node.meta.get("value"), torch.Tensor)
        if node.op != "call_function" or getattr(node.target, "__module__", None) != (
            "_operator"
        ):
            return False
        if not all(visit(a) for a in node.all_input_nodes):
            return False
        found.append(node)
        return True

    return found if visit(value) else None


def _share_values(one: Any, other: Any, order: dict[fx.Node, int]) -> None:
    """Make equal-numbered ``one`` and ``other`` one node: the earlier in ``order``."""
    if not isinstance(one, fx.Node) or not isinstance(other, fx.Node) or one is other:
        return
    first, later = sorted((one, other), key=order.__getitem__)
    later.replace_all_uses_with(first)
    for a, b in zip(first.all_input_nodes, later.all_input_nodes):
        _share_values(a, b, order)


def _erase_with_markers(node: fx.Node) -> None:
    """Erase ``node`` and the ``only_when`` markers that put it under a branch."""
    for user in list(node.users):
        if is_only_when(user):
            _erase_with_markers(user)
    node.graph.erase_node(node)


class _ValueNumbers:
    """A key per value: equal keys compute the same thing from the same inputs.

    Pure calls are keyed by their op, target and their arguments' keys;
    inputs, attributes and impure calls (random draws, in-place ops) by
    the node itself, so two draws never compare equal. A node's key is a
    number standing for that structure (one per distinct structure): a
    structure that held its arguments' structures in turn would grow with
    the whole graph above it, and hashing it (once per guard) would walk
    every path through the graph.
    """

    def __init__(self) -> None:
        self._numbers: dict[fx.Node, Hashable] = {}
        self._by_structure: dict[Hashable, int] = {}

    def of(self, value: Any) -> Hashable:
        if isinstance(value, fx.Node):
            if value not in self._numbers:
                self._numbers[value] = self._number(value)
            return self._numbers[value]
        if isinstance(value, (tuple, list)):
            return (type(value).__name__, tuple(self.of(v) for v in value))
        if isinstance(value, dict):
            return ("dict", tuple((k, self.of(v)) for k, v in value.items()))
        if isinstance(value, slice):
            return (
                "slice",
                self.of(value.start),
                self.of(value.stop),
                self.of(value.step),
            )
        try:
            hash(value)
        except TypeError:
            return ("object", id(value))
        return (type(value).__name__, value)

    def _number(self, node: fx.Node) -> Hashable:
        if node.op not in ("call_function", "call_method") or is_impure(node):
            structure: Hashable = ("node", id(node))
        else:
            structure = (
                node.op,
                node.target,
                self.of(node.args),
                self.of(dict(node.kwargs)),
            )
        return self._by_structure.setdefault(structure, len(self._by_structure))
