"""Statements grouped as the source wrote them, in every style (printer/grouping.py).

What one source statement made prints as one statement again: calls nested
as written, a tuple assignment as one line, a returned expression after
``return``. Each output is checked against the original, and converting it
to its own style again must change nothing.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import nnconvert
from nnconvert.options import Style
from nnconvert.printer.statements import _keep_evaluation_order

from .helpers import load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace


class Grouped(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 8)

    def forward(self, x):
        x = torch.tanh(self.fc2(F.relu(self.fc1(x))))
        for _ in range(2):
            x = torch.sin(x) * 2
        a, b = x[:, :4], x[:, 4:]
        return a * b


def _flat(source: str) -> str:
    """The text without whitespace: black may wrap a long statement."""
    return "".join(source.split())


#: The nested statement as each style spells it.
NESTED = {
    Style.MODULE: "x=self.tanh(self.fc2(self.relu(self.fc1(x))))",
    Style.MIXED: "x=torch.tanh(self.fc2(F.relu(self.fc1(x))))",
    Style.FUNCTIONAL: 'x=torch.tanh(F.linear(F.relu(F.linear(x,params["fc1.weight"]',
}


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_one_source_statement_prints_as_one_statement(style):
    """Nested, a tuple assignment, a return: and the same read back from any style."""
    model, inputs = Grouped(), (torch.randn(3, 4),)
    conversion = nnconvert.convert(model, style, inputs)
    assert NESTED[style] in _flat(conversion.source)
    assert "a, b = x[:, :4], x[:, 4:]" in conversion.source
    assert "return a * b" in conversion.source
    conversion.check(train=True)
    for via in Style:  # each output carries the grouping
        reloaded = load_output(nnconvert.convert(model, via, inputs))
        assert nnconvert.convert(reloaded, style, inputs).source == conversion.source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_loop_body_is_not_nested_into_its_next_pass(style):
    """``x = torch.sin(x) * 2`` twice: each pass binds ``x``, so each is a statement."""
    conversion = nnconvert.convert(Grouped(), style, (torch.randn(3, 4),))
    assert "torch.sin(torch.sin(" not in conversion.source
    assert "torch.sin(x) * 2" in conversion.source


def test_nesting_keeps_the_order_calls_run_in():
    """``torch.add(b, a)`` with ``a`` computed first: nesting both would run ``b`` first."""
    graph = fx.Graph()
    x = graph.placeholder("x")
    a = graph.call_function(torch.rand_like, (x,))
    b = graph.call_function(torch.rand_like, (x,))
    total = graph.call_function(torch.add, (b, a))
    graph.output(total)
    kept = _keep_evaluation_order(graph, {a, b}, set(), {})
    assert kept in ({a}, {b})
