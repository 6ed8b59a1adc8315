"""A helper method that never reads ``self`` keeps its own lines in every style.

:mod:`nnconvert.printer.written_helpers`: LeNet's ``num_flat_features``
loops over ``x.size()[1:]``; printed from the trace it was ``return 400``
behind a shape guard. Its own text is a function of its arguments, so it
stands in module, mixed and functional style, for every shape.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert

from .helpers import load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = ["module", "functional", "mixed"]


class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(24, 5)

    def forward(self, x):
        x = F.relu(x)
        return self.fc(x.view(-1, self.features(x)))

    def features(self, x):
        """How many numbers each sample holds."""
        # every dimension but the batch's
        count = 1
        for size in x.size()[1:]:
            count *= size
        return count


class Scaled(nn.Module):
    """Its helper reads ``self``: printed from the trace."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(24, 5)
        self.scale = 2.0

    def forward(self, x):
        return self.fc(self.flat(x))

    def flat(self, x):
        out = x.flatten(1)
        return out * self.scale


TABLE = {"first": 1}


class ReadsTheFile(nn.Module):
    """Its helper reads a table of the file, which the output does not hold."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(24, 5)

    def forward(self, x):
        return self.fc(x.flatten(self.start(x)))

    def start(self, x):
        return TABLE["first"] + 0 * x.dim()


class UsesMath(nn.Module):
    """Its helper reads ``math``, which the output imports by that name."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(24, 5)

    def forward(self, x):
        return self.fc(x.flatten(1)) * self.factor(x)

    # fmt: off
    def factor(self, x):
        # written as black would not: black lays it out in the output
        return 1/math.sqrt(x.size(-1))
    # fmt: on


def _inputs(batch=2):
    return (torch.randn(batch, 2, 3, 4),)


@pytest.mark.parametrize("style", STYLES)
def test_a_helper_that_never_reads_self_keeps_its_lines(style):
    torch.manual_seed(0)
    model = Flat()
    result = nnconvert.convert(model, style, _inputs())
    result.check(train=True)
    assert "        for size in x.size()[1:]:\n" in result.source.replace(
        "\n    for", "\n        for"
    )
    assert "# every dimension but the batch's" in result.source
    assert "raise" not in result.source  # no shape guard: its loop reads any shape
    inputs = (torch.randn(3, 4, 6),)  # another shape, which the guard refused
    expected = model(*inputs)
    loaded = result.load()
    if style == "functional":
        got = loaded(dict(model.state_dict()), *inputs)
    else:
        got = loaded(*inputs)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(
    "model_class, absent", [(Scaled, "out = x.flatten(1)\n"), (ReadsTheFile, "TABLE")]
)
@pytest.mark.parametrize("style", STYLES)
def test_a_helper_that_reads_more_than_its_arguments_is_printed_from_the_trace(
    model_class, absent, style
):
    torch.manual_seed(0)
    result = nnconvert.convert(model_class(), style, _inputs())
    result.check(train=True)
    assert absent not in result.source


@pytest.mark.parametrize("style", STYLES)
def test_a_helper_reading_an_imported_module_keeps_its_lines(style):
    torch.manual_seed(0)
    result = nnconvert.convert(UsesMath(), style, _inputs())
    result.check(train=True)
    assert "return 1 / math.sqrt(x.size(-1))" in result.source
    assert "import math\n" in result.source


@pytest.mark.parametrize("model_class", [Flat, UsesMath])
@pytest.mark.parametrize("via", STYLES)
def test_round_trips_keep_the_lines(via, model_class):
    torch.manual_seed(0)
    model = model_class()
    to = "module"
    direct = nnconvert.convert(model, to, _inputs())
    through = nnconvert.convert(model, via, _inputs())
    name = model_class.__name__
    again = nnconvert.convert(load_output(through, name), to, _inputs())
    assert again.source == direct.source
