"""Sizes a block's ``__init__`` computes from its parameters are written as it computes them.

ResNeXt's ``Block(in_planes, cardinality, bottleneck_width, stride)`` builds
its convolutions ``group_width = cardinality * bottleneck_width`` wide; a
squeeze-and-excitation block squeezes to ``planes // 16``. No parameter's
argument equals those widths, so a shared class took them as parameters
of its own named after the layer argument they fill
(``Block(in_planes, out_channels, out_channels_2, stride)``). Now the class
takes the user's parameters and computes the sizes
(:mod:`nnconvert.printer.derived_sizes`), through the user's local where
the ``__init__`` named one. Every output still passes the eval and train
checks, and converts again to the same text.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.options import Style
from nnconvert.printer.derived_sizes import Derived, derived_sizes

from .helpers import load_output, recorded_conversion

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

CLASS_STYLES = (Style.MODULE, Style.MIXED)


class Block(nn.Module):
    """ResNeXt's grouped block, cut down: its widths are computed from its arguments."""

    def __init__(self, in_planes, cardinality=32, bottleneck_width=4, stride=1):
        super().__init__()
        group_width = cardinality * bottleneck_width
        self.conv1 = nn.Conv2d(in_planes, group_width, 1, bias=False)
        self.conv2 = nn.Conv2d(
            group_width, group_width, 3, stride=stride, padding=1, groups=cardinality
        )
        self.conv3 = nn.Conv2d(group_width, 2 * group_width, 1, bias=False)

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = F.relu(self.conv2(out))
        return F.relu(self.conv3(out))


class Squeeze(nn.Module):
    """A squeeze-and-excitation gate: ``planes // 16`` written inline."""

    def __init__(self, planes):
        super().__init__()
        self.fc1 = nn.Conv2d(planes, planes // 16, 1)
        self.fc2 = nn.Conv2d(planes // 16, planes, 1)

    def forward(self, x):
        w = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(w))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stage1 = Block(16, 2, 16)
        self.gate1 = Squeeze(64)
        self.stage2 = Block(64, 2, 32, stride=2)
        self.gate2 = Squeeze(128)

    def forward(self, x):
        return self.gate2(self.stage2(self.gate1(self.stage1(x))))


def _converted(style: Style) -> nnconvert.Conversion:
    return recorded_conversion(Net, style, (torch.randn(2, 16, 8, 8),))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_computed_width_is_computed_from_the_users_parameters(style):
    """The source says how (:mod:`nnconvert.printer.source_arguments`): as written.

    ``cardinality`` is 2 in both blocks, so no column of values makes it a
    parameter; the source's ``groups=cardinality`` does.
    """
    source = _converted(style).source
    signature = (
        "def __init__(self, in_planes, cardinality, bottleneck_width, stride=1):"
    )
    assert signature in source
    assert "        group_width = cardinality * bottleneck_width\n" in source
    assert "nn.Conv2d(in_planes, group_width, 1, bias=False)" in source
    assert "nn.Conv2d(group_width, 2 * group_width, 1, bias=False)" in source
    assert "groups=cardinality" in source
    assert "self.stage2 = Block(64, 2, 32, stride=2)" in source
    assert "out_channels" not in source


class Widened(nn.Module):
    """A width the source computes by a call: no expression of the source is kept."""

    def __init__(self, planes, ratio=2.0):
        super().__init__()
        self.fc = nn.Conv2d(planes, round(planes * ratio), 1)

    def forward(self, x):
        return F.relu(self.fc(x))


class TwoWidened(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Widened(4)
        self.b = Widened(8)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_width_the_source_computes_by_a_call_is_found_from_the_values(style):
    """``round(planes * ratio)`` is no form the source reader keeps: derived_sizes finds ``planes * 2``."""
    conversion = recorded_conversion(TwoWidened, style, (torch.randn(2, 4, 6, 6),))
    assert "def __init__(self, planes):" in conversion.source
    assert "nn.Conv2d(planes, planes * 2, 1)" in conversion.source
    conversion.check(train=True)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_width_without_a_local_is_written_inline(style):
    source = _converted(style).source
    assert "def __init__(self, planes):" in source
    assert "nn.Conv2d(planes, planes // 16, 1)" in source
    assert "self.gate2 = Squeeze(128)" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_output_converts_again_to_the_same_text(style):
    first = _converted(style)
    model = first.load()  # built again under the constructor record
    again = nnconvert.convert(model, style, (torch.randn(2, 16, 8, 8),))
    again.check(train=True)
    assert again.source == first.source


def test_functional_style_still_checks():
    assert "def net(" in _converted(Style.FUNCTIONAL).source


class Bottleneck(nn.Module):
    """ResNeXt's block with its norms: enough lines for functional style to write an init function."""

    def __init__(self, in_planes, cardinality, bottleneck_width, stride=1):
        super().__init__()
        group_width = cardinality * bottleneck_width
        self.conv1 = nn.Conv2d(in_planes, group_width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(group_width)
        self.conv2 = nn.Conv2d(
            group_width, group_width, 3, stride=stride, padding=1, groups=cardinality
        )
        self.bn2 = nn.BatchNorm2d(group_width)
        self.conv3 = nn.Conv2d(group_width, 2 * group_width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(2 * group_width)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)))


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(
            Bottleneck(16, 2, 16),
            Bottleneck(64, 2, 32, 2),
            Bottleneck(128, 2, 16),
            Bottleneck(64, 2, 32),
        )

    def forward(self, x):
        return self.blocks(x)


def test_a_block_init_function_computes_the_size_and_reads_back_the_same():
    inputs = (torch.randn(2, 16, 8, 8),)
    first = recorded_conversion(Stack, Style.FUNCTIONAL, inputs)
    assert (
        "def bottleneck_params(\n"
        "    prefix: str, in_planes: int, bottleneck_width: int\n"
        ") -> dict[str, Tensor]:\n"
        "    group_width = bottleneck_width * 2\n"
    ) in first.source
    assert 'params |= bottleneck_params("blocks.1", 64, 32)' in first.source
    # read back, the init call's computed size is the block's local again
    again = nnconvert.convert(load_output(first), Style.FUNCTIONAL, inputs)
    assert again.source == first.source


# -- the search --------------------------------------------------------------------


def _arguments(**columns):
    return [dict(zip(columns, row)) for row in zip(*columns.values())]


def test_each_form_is_found():
    arguments = _arguments(a=[4, 8, 6], b=[2, 3, 5])
    columns = [
        ("times", [12, 24, 18]),
        ("floor", [1, 2, 1]),
        ("product", [8, 24, 30]),
        ("quotient", [2, 2, 1]),  # a // b: never looked for (see the module)
        ("sum", [6, 11, 11]),
        ("none", [7, 1, 5]),
    ]
    found = derived_sizes(columns, arguments, ["a", "b"])
    assert found == {
        "times": Derived("a * 3", ("a",)),
        "floor": Derived("a // 4", ("a",)),
        "product": Derived("a * b", ("a", "b")),
        "sum": Derived("a + b", ("a", "b")),
    }


def test_the_smaller_factor_wins_and_constant_arguments_take_no_part():
    # DLA's Tree: the root is 2 * out_channels, also 4 * in_channels here
    arguments = _arguments(in_channels=[16, 32], out_channels=[32, 64], level=[2, 2])
    found = derived_sizes([("root", [64, 128])], arguments, list(arguments[0]))
    assert found == {"root": Derived("out_channels * 2", ("out_channels",))}
    # level is 2 in both: 64 = 32 * level would be a coincidence
    found = derived_sizes([("x", [4, 4])], arguments, ["level"])
    assert found == {}


def test_booleans_and_floats_are_no_sizes():
    arguments = _arguments(a=[True, False], b=[2.0, 4.0], c=[2, 4])
    found = derived_sizes(
        [("x", [4.0, 8.0]), ("y", [4, 8])], arguments, ["a", "b", "c"]
    )
    assert found == {"y": Derived("c * 2", ("c",))}
