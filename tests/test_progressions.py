"""Constructor calls whose numbers step evenly are one comprehension (issue 11).

kuangliu's DenseNet builds a stage of 24 ``Bottleneck(in_planes, 12)``
with ``in_planes`` growing by 12 each time; printed from its instances, the
stage is one line, ``nn.Sequential(*[Bottleneck(96 + 12 * i, 12) for i in
range(24)])``, which builds the same blocks in the same order.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style
from nnconvert.printer.progressions import progression

from .helpers import load_output


@pytest.mark.parametrize(
    "items, expected",
    [
        (
            ["B(24, 12)", "B(36, 12)", "B(48, 12)"],
            "[B(24 + 12 * i, 12) for i in range(3)]",
        ),
        (["B(0)", "B(1)", "B(2)", "B(3)"], "[B(i) for i in range(4)]"),
        (["B(8, 4)", "B(6, 4)", "B(4, 4)"], "[B(8 - 2 * i, 4) for i in range(3)]"),
        # a sum next to an operator keeps its parentheses
        (["B(2 * 3)", "B(2 * 4)", "B(2 * 5)"], "[B(2 * (3 + i)) for i in range(3)]"),
        # ``i`` is taken: the next free name
        (["B(i, 1)", "B(i, 2)", "B(i, 3)"], "[B(i, 1 + j) for j in range(3)]"),
        # two numbers stepping, nested in another call
        (
            ["S(C(3, 8), C(8, 8))", "S(C(4, 16), C(8, 16))", "S(C(5, 24), C(8, 24))"],
            "[S(C(3 + i, 8 + 8 * i), C(8, 8 + 8 * i)) for i in range(3)]",
        ),
    ],
)
def test_stepping_calls_are_one_comprehension(items, expected):
    assert progression(items).comprehension == expected


@pytest.mark.parametrize(
    "items",
    [
        ["B(1)", "B(2)"],  # two read plainly
        ["B(1)", "B(1)", "B(1)"],  # alike: ``for _ in range(3)`` elsewhere
        ["B(1)", "B(2)", "B(4)"],  # uneven steps
        ["B(1.0)", "B(2.0)", "B(3.0)"],  # floats
        ['B(1, "a")', 'B(2, "b")', 'B(3, "c")'],  # a string differs
        ["B(1)", "C(2)", "B(3)"],  # another callee
        ["B(1)", "B(2, 3)", "B(3)"],  # another shape
    ],
)
def test_other_calls_stay_written_out(items):
    assert progression(items) is None


class Dense(nn.Module):
    def __init__(self, in_planes, growth_rate):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([self.conv(torch.relu(self.bn(x))), x], 1)


class DenseStage(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        in_planes = 4
        for _ in range(4):
            layers.append(Dense(in_planes, 2))
            in_planes += 2
        self.stage = nn.Sequential(*layers)
        self.heads = nn.ModuleList([nn.Linear(12 - 2 * k, 3) for k in range(3)])

    def forward(self, x):
        out = self.stage(x).mean((2, 3))
        return [head(out[:, : 12 - 2 * k]) for k, head in enumerate(self.heads)]


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_a_growing_stage_is_one_line(style):
    torch.manual_seed(0)
    inputs = (torch.randn(2, 4, 5, 5),)
    with nnconvert.record_constructors():  # as the command line builds it
        model = DenseStage()
    conversion = nnconvert.convert(model, style, inputs, keep_source=False)
    conversion.check(train=True)
    assert (
        "self.stage = nn.Sequential(*[Dense(4 + 2 * i, 2) for i in range(4)])"
        in conversion.source
    )
    assert "[nn.Linear(12 - 2 * i, 3) for i in range(3)]" in conversion.source
    again = nnconvert.convert(
        load_output(conversion, "DenseStage"), style, inputs, keep_source=False
    )
    assert again.source == conversion.source
