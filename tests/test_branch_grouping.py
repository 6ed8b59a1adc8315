"""Statements under one guard print together: :func:`grouped_by_guard`.

The merge keeps the order the traces ran in, so two chains computed under
different conditions interleave node by node, and each node would open an
``if`` of its own (T5's relative position bias, once for self- and once
for cross-attention). Pure nodes regroup; side effects and unguarded
code keep their places.
"""

from __future__ import annotations

import operator

import torch.nn.functional as F
from torch import fx

from nnconvert.branches import choose, guards
from nnconvert.printer.statements import grouped_by_guard


def two_chains(
    *,
    draw_between: bool = False,
    plain_between: bool = False,
    dropout_side: bool = False,
):
    """``choose(c, exp(exp(x)), sin(sin(x)))`` with the chains' nodes interleaved."""
    graph = fx.Graph()
    x, c = graph.placeholder("x"), graph.placeholder("c")
    a1 = graph.call_method("exp", (x,))
    b1 = graph.call_method("sin", (x,))
    if dropout_side:  # the false side draws: ``sin(dropout(sin(x)))``
        b1 = graph.call_function(F.dropout, (b1,), {"p": 0.5})
    middle = None
    if draw_between:  # an in-place op: the program's order around it holds
        middle = graph.call_method("add_", (x, 1))
    if plain_between:  # under no guard: never moved
        middle = graph.call_function(operator.mul, (x, 2))
    a2 = graph.call_method("exp", (a1,))
    b2 = graph.call_method("sin", (b1,))
    joined = graph.call_function(choose, (c, a2, b2))
    graph.output((joined, middle) if plain_between else joined)
    return graph, [a1, b1, middle, a2, b2, joined]


def order(graph: fx.Graph) -> list[str]:
    return [n.name for n in graph.nodes if n.op not in ("placeholder", "output")]


def test_each_sides_chain_runs_together():
    graph, _ = two_chains()
    grouped_by_guard(graph, guards(graph))
    assert order(graph) == ["exp", "exp_1", "sin", "sin_1", "choose"]
    graph.lint()


def test_a_side_effect_stays_between_what_ran_before_and_after_it():
    graph, _ = two_chains(draw_between=True)
    grouped_by_guard(graph, guards(graph))
    assert order(graph) == ["exp", "sin", "add_", "exp_1", "sin_1", "choose"]


def test_unguarded_code_stays_where_the_source_has_it():
    graph, _ = two_chains(plain_between=True)
    grouped_by_guard(graph, guards(graph))
    assert order(graph) == ["exp", "sin", "mul", "exp_1", "sin_1", "choose"]


def test_a_draw_keeps_its_place_in_the_random_stream():
    graph, _ = two_chains(dropout_side=True)
    grouped_by_guard(graph, guards(graph))
    assert order(graph) == ["exp", "sin", "dropout", "exp_1", "sin_1", "choose"]


def test_a_grouped_graph_stays_as_it_is():
    graph, _ = two_chains()
    grouped_by_guard(graph, guards(graph))
    first = order(graph)
    grouped_by_guard(graph, guards(graph))
    assert order(graph) == first
