"""An optional submodule whose absence leaves another value: the user's ``if``/``else``.

kuangliu's pre-activation ResNet block writes

    shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x

so the instances with a ``shortcut`` and those without it trace to graphs
that differ by more than the call: without it, what read the call's result
reads ``x``, not the call's input ``out``. The two graphs are one class
(function) when the graph with the call, the call replaced by one value it
already has (its *stand-in*), is the graph without it
(:func:`find_stand_ins`, decided on the graphs' signatures, never on text).
The body printed is then the graph with the call, each such call joined
with its stand-in in a :func:`~nnconvert.branches.choose` on
:func:`~nnconvert.branches.submodule_given` (:func:`with_choices`), which
the statement plan writes as the user's branch:

    if self.shortcut is not None:
        shortcut = self.shortcut(out)
    else:
        shortcut = x

(functional style: ``if has_shortcut:``).
"""

from __future__ import annotations

from typing import Callable

from torch import fx

from ..branches import choose, submodule_given
from .literal_holes import copy_graph

#: Each optional call -> the value the graph without it reads in its place.
StandIns = dict[fx.Node, fx.Node]


def find_stand_ins(
    graph: fx.Graph,
    calls: frozenset[fx.Node],
    matches: Callable[[StandIns], bool],
) -> StandIns | None:
    """The values that stand for ``calls`` in ``graph`` when they are absent.

    ``matches(stand_ins)`` says whether ``graph`` with each call replaced by
    its stand-in (by its input where it has none) is the graph without the
    calls. ``{}``: each call stands for its input (``x = self.downsample(x)``,
    the in-place case). Else, for a single call, the value computed before it
    that makes them match, nearest first; None where no value does.
    """
    if matches({}):
        return {}
    if len(calls) != 1:
        return None
    (call,) = calls
    before = list(graph.nodes)
    before = before[: before.index(call)]
    for candidate in reversed(before):
        if candidate is not call.args[0] and matches({call: candidate}):
            return {call: candidate}
    return None


def with_choices(
    graph: fx.Graph, stand_ins: StandIns
) -> tuple[fx.Graph, dict[fx.Node, fx.Node]]:
    """A copy of ``graph`` whose readers of each call read ``choose(given, call, stand-in)``.

    ``given`` is one :func:`~nnconvert.branches.submodule_given` node per
    submodule, placed before its first call. Returns the copy and, for each
    node of ``graph``, its copy.
    """
    copied = copy_graph(graph)
    copies = dict(zip(graph.nodes, copied.nodes))
    conditions: dict[str, fx.Node] = {}
    for call, stand_in in stand_ins.items():
        node, alternative = copies[call], copies[stand_in]
        target = str(node.target)
        if target not in conditions:
            with copied.inserting_before(node):
                conditions[target] = copied.call_function(submodule_given, (target,))
        with copied.inserting_after(node):
            joined = copied.call_function(
                choose, (conditions[target], node, alternative)
            )
        joined.meta = dict(node.meta)
        node.replace_all_uses_with(joined, delete_user_cb=lambda u: u is not joined)
    copied.lint()
    return copied, copies


__all__ = ["StandIns", "find_stand_ins", "with_choices"]
