"""``forward``'s flags, traced both ways: ``if return_embeddings: return x``.

Perceiver's ``forward(self, data, mask=None, return_embeddings=False)``
branches on a ``bool`` argument. The tracer answers the test from the
example (``False``) and the output refused the other value ("traced with
return_embeddings=False; convert again ..."), so a user who fetched the
embeddings could not. The root is traced again with each such flag flipped
(:func:`flipped_flags`), each trace loses its refusal of the value the
other covers (:func:`without_flag_guards`), and the two merge under the
flag itself (:func:`flag_condition`): the output has both paths, and the
check runs both (SPEC invariant 7).

Only the flags the trace refused (a test of the flag decided a branch) and
at most :data:`FLAGS_UP_TO` of them: each doubles the traces. Flags of a
block are not flipped: its parent passes them, as the traced call did.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

from torch import fx, nn

from .branches import is_choose, is_expect
from .printer.literal_holes import copy_graph
from .range_counts import argument_value, with_argument
from .source_map import SOURCE
from .trace import forward_parameters

#: the most flags of one ``forward`` traced both ways
FLAGS_UP_TO = 2
#: ``meta`` key of a merged graph that joined a flag's two traces
FLAGS_MERGED = "flags_merged"
#: ``meta`` key of a join on a flag: the frame of the source's ``if`` that tests it
FLAG_TEST = "flag_test"


def flipped_flags(
    module: nn.Module, inputs: Sequence[Any], graph: fx.Graph
) -> list[tuple[str, bool, tuple[Any, ...]]]:
    """``(name, value, inputs)`` for each flag ``graph`` refused another value of.

    ``value`` is the flipped one (``True`` for ``return_embeddings=False``),
    ``inputs`` the example's with it.
    """
    refused = [flag for flag in flag_values(module, inputs) if _refused(graph, flag[0])]
    return refused[:FLAGS_UP_TO]


def flag_values(
    module: nn.Module, inputs: Sequence[Any]
) -> list[tuple[str, bool, tuple[Any, ...]]]:
    """``(name, value, inputs)`` for every flag of ``forward``: a parameter whose
    default is a ``bool``, flipped from what ``inputs`` give it, and the
    inputs with it (what the check runs: ``check.other_flags``)."""
    found = []
    for parameter in forward_parameters(module):
        value = argument_value(module, inputs, parameter.name)
        if type(parameter.default) is not bool or type(value) is not bool:
            continue
        flipped = with_argument(module, inputs, parameter.name, not value)
        if flipped is not None:
            found.append((parameter.name, not value, tuple(flipped)))
    return found


def without_flag_guards(module: fx.GraphModule, name: str) -> fx.GraphModule:
    """A copy of ``module`` without its refusals of another value of the flag ``name``."""
    return without_refusals(module, lambda node: _refuses_flag(node, name))


def without_refusals(
    module: fx.GraphModule, refused: Callable[[fx.Node], bool]
) -> fx.GraphModule:
    """A copy of ``module`` without the refusals ``refused`` picks, and their unread tests.

    Merged with a trace that took the other path, a refusal of it would be
    wrong: the merged graph knows what to do there (a flag's other value,
    an optional input given). The graph is copied, not the model's layers:
    the merge keeps calling them.
    """
    copied = fx.GraphModule(module, copy_graph(module.graph), type(module).__name__)
    copied.meta.update(module.meta)
    for node in list(copied.graph.nodes):
        if refused(node):
            condition = node.args[0]
            copied.graph.erase_node(node)
            if condition.op != "placeholder" and not condition.users:
                copied.graph.erase_node(condition)
    copied.recompile()
    return copied


def mark_flag_tests(merged: fx.GraphModule, name: str, before: fx.GraphModule) -> None:
    """The joins ``merged`` makes on the flag ``name`` come from the source's ``if``.

    The refusal the trace made (in ``before``) was made on the line of the
    user's ``if return_embeddings:``; the joins that test the flag hold its
    frame (:data:`FLAG_TEST`), so that the comments above that ``if`` stand
    above the printed one (:func:`nnconvert.printer.body.body_lines`).
    """
    frames = next(
        (
            n.meta.get(SOURCE)
            for n in before.graph.nodes
            if _refuses_flag(n, name) and n.meta.get(SOURCE)
        ),
        None,
    )
    if frames is None:
        return
    for node in merged.graph.nodes:
        if is_choose(node) and _tests_flag(node.args[0], name):
            node.meta[FLAG_TEST] = frames[0]  # what the merge gave it stays


def flag_condition(name: str) -> Callable[[fx.Graph, dict[str, fx.Node]], fx.Node]:
    """The merge's condition: the flag's own input (``if return_embeddings:``)."""

    def condition(graph: fx.Graph, inputs: dict[str, fx.Node]) -> fx.Node:
        return inputs[name]

    return condition


def _refused(graph: fx.Graph, name: str) -> bool:
    return any(_refuses_flag(n, name) for n in graph.nodes)


def _refuses_flag(node: fx.Node, name: str) -> bool:
    """``node`` is the tracer's refusal of the flag ``name``'s other value."""
    return is_expect(node) and _tests_flag(node.args[0], name)


def _tests_flag(condition: Any, name: str) -> bool:
    """``flag`` or ``not flag``: what the tracer's refusal of the flag's other value tests."""
    if not isinstance(condition, fx.Node):
        return False
    if condition.op == "call_function" and condition.target is operator.not_:
        condition = condition.args[0]
    return (
        isinstance(condition, fx.Node)
        and condition.op == "placeholder"
        and condition.target == name
    )


__all__ = [
    "FLAG_TEST",
    "FLAGS_MERGED",
    "FLAGS_UP_TO",
    "flag_condition",
    "flag_values",
    "flipped_flags",
    "mark_flag_tests",
    "without_flag_guards",
    "without_refusals",
]
