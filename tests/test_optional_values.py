"""A block whose optional submodule, when absent, leaves another value: one definition.

kuangliu's pre-activation ResNet block writes ``shortcut = self.shortcut(out)
if hasattr(self, "shortcut") else x``: instances with a ``shortcut`` and
without one trace to graphs that differ by more than the call (without it,
``out += shortcut`` reads ``x``, not ``out``). They are still one class (one
function in functional style), with the user's ``if``/``else``; the output
computes the same in eval and train mode and converts to itself unchanged.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.api import Conversion
from nnconvert.options import Style

from .helpers import defined_names, load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

IMAGE = (torch.randn(2, 4, 8, 8),)


class PreActBlock(nn.Module):
    """Pre-activation block: the shortcut, where there is one, reads ``out``."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False)
            )

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out += shortcut
        return out


class PreActNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = PreActBlock(4, 4)
        self.layer2 = PreActBlock(4, 8, stride=2)
        self.layer3 = PreActBlock(8, 8)

    def forward(self, x):
        return self.layer3(self.layer2(self.layer1(x)))


def _converted(style: Style) -> Conversion:
    torch.manual_seed(0)
    conversion = nnconvert.convert(PreActNet(), style, IMAGE)
    conversion.check(train=True)
    return conversion


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_one_class_with_the_users_branch(style):
    source = _converted(style).source
    assert source.count("class PreActBlock") == 1  # no PreActBlockWithShortcut
    assert ", stride=1, shortcut=None):\n" in source
    assert (
        "        if self.shortcut is not None:\n"
        "            shortcut = self.shortcut(out)\n"
        "        else:\n"
        "            shortcut = x\n"
    ) in source


def test_one_function_with_a_flag():
    source = _converted(Style.FUNCTIONAL).source
    assert "def pre_act_block(" in source
    assert "def pre_act_block_2(" not in source
    assert "    if has_shortcut:\n" in source
    assert source.count("has_shortcut=True") == 1
    assert source.count("has_shortcut=False") == 2


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_the_output_converts_to_itself_unchanged(style):
    """The ``if``/``else`` reads back as the two shapes, merged again alike."""
    first = _converted(style)
    blocks = [d for d in defined_names(first.source) if "block" in d.lower()]
    assert blocks == ["pre_act_block" if style is Style.FUNCTIONAL else "PreActBlock"]
    again = nnconvert.convert(load_output(first), style, IMAGE)
    again.check(train=True)
    assert again.source == first.source


class ResBottleneck(nn.Module):
    """torchvision's RegNet block: with its projection, ``self.f`` still reads the
    block's input, not the projected one."""

    def __init__(self, width: int, project: bool):
        super().__init__()
        self.proj = nn.Conv2d(width, width, 1) if project else None
        self.f = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x):
        if self.proj is not None:
            x = self.proj(x) + self.f(x)
        else:
            x = x + self.f(x)
        return F.relu(x)


class ResStage(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(ResBottleneck(4, True), ResBottleneck(4, False))

    def forward(self, x):
        return self.blocks(x)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_join_never_overwrites_the_input_a_later_statement_reads(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(ResStage(), style, IMAGE)
    conversion.check(train=True)
    if style is not Style.FUNCTIONAL:
        assert "x = self.proj(x)" not in conversion.source


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


class LayerScaleBlock(nn.Module):
    """ConvNeXt's block: its input kept under a second name, an optional last call.

    ``shortcut = x`` gives the input a second name (:mod:`nnconvert.printer.
    second_names`); the ``scale`` only some instances build is a block with a
    setting of its own, which its caller passes as a keyword.
    """

    def __init__(self, dim, factor):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.scale = Scale(factor) if factor > 0 else nn.Identity()

    def forward(self, x):
        shortcut = x
        x = self.conv(x)
        x = F.relu(x)
        return shortcut + self.scale(x)


class LayerScaleStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(
            LayerScaleBlock(4, 0.0), LayerScaleBlock(4, 0.5), LayerScaleBlock(4, 0.25)
        )

    def forward(self, x):
        return self.blocks(x)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_second_name_beside_an_optional_call_with_a_setting(style):
    """Telling whether the call passes its input through names the block's
    values; that must not move the nodes its settings are recorded by."""
    torch.manual_seed(0)
    conversion = nnconvert.convert(LayerScaleStack(), style, IMAGE)
    conversion.check(train=True)
    assert "shortcut = x" in conversion.source
    if style is Style.FUNCTIONAL:
        assert "def layer_scale_block_2(" not in conversion.source
        assert "    if has_scale:\n" in conversion.source
        assert 'x = scale(sub_params(params, "scale."), x, factor=factor)' in (
            conversion.source
        )
