"""Optional submodules whose calls are a whole statement: one class, the branch the user wrote.

Whisper's ``ResidualAttentionBlock`` builds ``cross_attn`` and
``cross_attn_ln`` only for the decoder, and ``forward`` adds
``self.cross_attn(self.cross_attn_ln(x), xa)[0]`` to ``x`` where they exist.
Two calls on one value and an addition are more than the in-place optional
call of a ResNet's ``downsample``, so the two shapes were two classes (SPEC
invariant 4). They are one now: the shapes' graphs merged under ``self.cross
is not None`` (``class_plan._merged_optional``); in functional style one
function under ``if has_cross:``, a flag its callers pass
(``function_plan._optional_submodule``, ``tested_paths.join_paths``).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import defined_names, load_output, recorded_conversion

CLASS_STYLES = [Style.MODULE, Style.MIXED]


class LayerNorm(nn.LayerNorm):
    """Whisper's own: a user-defined layer both shapes call after the branch."""

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


class Block(nn.Module):
    def __init__(self, dim: int, cross: bool = False):
        super().__init__()
        self.ln = LayerNorm(dim)
        self.cross = nn.Linear(dim, dim) if cross else None
        self.cross_ln = LayerNorm(dim) if cross else None
        self.mlp = nn.Linear(dim, dim)
        self.mlp_ln = LayerNorm(dim)

    def forward(self, x, xa=None):
        x = x + self.ln(x)
        if self.cross is not None:
            x = x + self.cross(self.cross_ln(x) + xa)
        x = x + self.mlp(self.mlp_ln(x))
        return x


class EncoderDecoder(nn.Module):
    def __init__(self, dim: int = 8):
        super().__init__()
        self.encoder = Block(dim)
        self.decoder = Block(dim, cross=True)

    def forward(self, audio, text):
        return self.decoder(text, self.encoder(audio))


def _inputs():
    return torch.randn(2, 3, 8), torch.randn(2, 3, 8)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_optional_submodules_called_in_a_statement_are_one_class(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(
        EncoderDecoder(), style, _inputs(), keep_source=False
    )
    conversion.check(train=True)
    assert [n for n in defined_names(conversion.source) if "Block" in n] == ["Block"]
    assert "def __init__(self, cross=None, cross_ln=None):" in conversion.source
    # the branch holds the statement, the layer after it is called once
    assert (
        "        if self.cross is not None:\n"
        "            x = x + self.cross(self.cross_ln(x) + xa)\n"
        "        x = x + self.mlp(self.mlp_ln(x))\n"
    ) in conversion.source
    assert "self.encoder = Block()" in conversion.source
    assert "Block(cross=nn.Linear(8, 8), cross_ln=LayerNorm(8))" in conversion.source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_joined_class_converts_again_to_the_same_text(style):
    torch.manual_seed(0)
    first = nnconvert.convert(EncoderDecoder(), style, _inputs(), keep_source=False)
    again = nnconvert.convert(load_output(first), style, _inputs(), keep_source=False)
    again.check(train=True)
    assert again.source == first.source


def test_functional_style_joins_both_shapes_under_a_flag_its_callers_pass():
    """One function: ``if has_cross:`` where the class tests ``self.cross is not None``."""
    torch.manual_seed(0)
    conversion = nnconvert.convert(EncoderDecoder(), Style.FUNCTIONAL, _inputs())
    conversion.check(train=True)
    source = conversion.source
    assert [n for n in defined_names(source) if n.startswith("block")] == ["block"]
    assert "*, has_cross: bool" in source
    assert (
        "    if has_cross:\n"
        "        x = x + F.linear(\n"
        '            layer_norm(sub_params(params, "cross_ln."), x) + xa,\n'
    ) in source
    assert "audio, has_cross=False)" in source and "has_cross=True," in source
    again = nnconvert.convert(
        load_output(conversion, "EncoderDecoder"), Style.FUNCTIONAL, _inputs()
    )
    assert again.source == source


class ScaledBlock(nn.Module):
    """A helper method whose literal differs between the shapes, beside an optional ``cross``."""

    def __init__(self, dim: int, cross: bool = False):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.scale = 2.0 if cross else 0.5
        self.cross = nn.Linear(dim, dim) if cross else None

    def attention(self, x):
        return self.fc(x) * self.scale

    def forward(self, x):
        x = x + self.attention(x)
        if self.cross is not None:
            x = x + self.cross(x)
        return x


class ScaledPair(nn.Module):
    def __init__(self):
        super().__init__()
        self.plain = ScaledBlock(8)
        self.crossed = ScaledBlock(8, cross=True)

    def forward(self, x):
        return self.crossed(self.plain(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_shapes_that_differ_beyond_the_submodule_stay_two_classes(style):
    """``scale`` differs too: the branch would not be the whole difference."""
    torch.manual_seed(0)
    conversion = nnconvert.convert(
        ScaledPair(), style, (torch.randn(2, 3, 8),), keep_source=False
    )
    conversion.check(train=True)
    names = defined_names(conversion.source)
    assert [n for n in names if n.startswith("ScaledBlock")] == [
        "ScaledBlock",
        "ScaledBlockWithCross",
    ]


# -- built on the user's flag ----------------------------------------------------


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_flag_that_builds_the_optional_submodules_builds_them_again(style):
    """``Block(dim, cross=False)`` builds ``self.cross`` itself: the class does so again."""
    conversion = recorded_conversion(
        EncoderDecoder, style, _inputs(), keep_source=False
    )
    # dim is 8 in both: the source's nn.Linear(dim, dim) makes it a parameter
    assert "def __init__(self, dim, cross=False):" in conversion.source
    assert "self.cross = nn.Linear(dim, dim) if cross else None" in conversion.source
    assert "self.cross_ln = LayerNorm(dim) if cross else None" in conversion.source
    assert "self.decoder = Block(8, cross=True)" in conversion.source
    assert "self.encoder = Block(8)" in conversion.source
    # built again under the record, it reads back the same
    again = nnconvert.convert(conversion.load(), style, _inputs(), keep_source=False)
    assert again.source == conversion.source


class Gate(nn.Module):
    def __init__(self, width, gated=False):
        super().__init__()
        self.proj = nn.Linear(width, width)
        self.gate = nn.Linear(width, width) if gated else None

    def forward(self, x):
        x = self.proj(x)
        if self.gate is not None:
            x = x * self.gate(x)
        return x


class Gates(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Gate(4)
        self.b = Gate(4, gated=True)
        self.up = nn.Linear(4, 8)
        self.c = Gate(8, gated=True)

    def forward(self, x):
        return self.c(self.up(self.b(self.a(x))))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_literal_of_the_built_submodule_is_the_parameter_that_holds_it(style):
    conversion = recorded_conversion(
        Gates, style, (torch.randn(2, 4),), keep_source=False
    )
    assert "def __init__(self, width, gated=False):" in conversion.source
    assert "self.gate = nn.Linear(width, width) if gated else None" in conversion.source
    assert "self.c = Gate(8, gated=True)" in conversion.source


def test_without_a_record_the_submodules_stay_parameters():
    torch.manual_seed(0)
    model = Gates()  # no record: no flag is known
    conversion = nnconvert.convert(
        model, Style.MODULE, (torch.randn(2, 4),), keep_source=False
    )
    conversion.check(train=True)
    assert "def __init__(self, in_features, gate=None):" in conversion.source


# -- built under the user's condition --------------------------------------------


class BasicBlock(nn.Module):
    """kuangliu's CIFAR block: the projection is built where the shape changes."""

    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, 1, stride=stride),
                nn.BatchNorm2d(self.expansion * planes),
            )

    def forward(self, x):
        out = self.conv2(torch.relu(self.conv1(x)))
        return torch.relu(out + self.shortcut(x))


class Stages(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            BasicBlock(8, 8), BasicBlock(8, 16, 2), BasicBlock(16, 16)
        )

    def forward(self, x):
        return self.layers(x)


def _stages(style: Style, record: bool = True) -> nnconvert.Conversion:
    inputs = (torch.randn(2, 8, 8, 8),)
    return recorded_conversion(Stages, style, inputs, record=record, keep_source=False)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_users_condition_builds_the_optional_submodule_again(style):
    source = _stages(style).source
    assert "def __init__(self, in_planes, planes, stride=1):" in source
    # self.expansion (1) put in and folded: in_planes != planes
    assert "if stride != 1 or in_planes != planes" in source
    assert "nn.Conv2d(in_planes, planes, 1, stride=stride)" in source
    assert "BasicBlock(8, 16, stride=2)" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_condition_reads_back_the_same(style):
    first = _stages(style)
    inputs = (torch.randn(2, 8, 8, 8),)
    again = nnconvert.convert(first.load(), style, inputs, keep_source=False)
    assert again.source == first.source


def test_without_a_record_the_projection_stays_a_parameter():
    assert "shortcut=None" in _stages(Style.MODULE, record=False).source


def test_functional_style_keeps_its_flag():
    assert "has_shortcut" in _stages(Style.FUNCTIONAL).source


class Pooled(nn.Module):
    """CLIP's ``Bottleneck``: an ``nn.Identity()`` where no pool is needed."""

    def __init__(self, planes, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(planes, planes, 3, padding=1, dilation=stride)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()

    def forward(self, x):
        return self.avgpool(torch.relu(self.conv(x)))


class PooledStages(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = Pooled(4), Pooled(4, 2), Pooled(4)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


def test_an_identity_in_the_users_else_is_no_submodule():
    """Module style: mixed writes the pool as ``F.avg_pool2d``, no submodule (two classes)."""
    inputs = (torch.randn(2, 4, 8, 8),)
    conversion = recorded_conversion(
        PooledStages, Style.MODULE, inputs, keep_source=False
    )
    # the pool's size is the stride: the one parameter that is 2 wherever it is built
    assert "self.avgpool = nn.AvgPool2d(stride) if stride > 1 else None" in (
        conversion.source
    )
    assert "def __init__(self, planes, stride=1):" in conversion.source
    assert "self.b = Pooled(4, stride=2)" in conversion.source


class Cell(nn.Module):
    """PNASNet's ``CellA``: two submodules under one ``if``."""

    def __init__(self, planes, stride=1):
        super().__init__()
        self.sep = nn.Conv2d(planes, planes, 3, stride=stride, padding=1)
        if stride == 2:
            self.conv1 = nn.Conv2d(planes, planes, 1)
            self.bn1 = nn.BatchNorm2d(planes)
        self.stride = stride

    def forward(self, x):
        y = self.sep(x)
        if self.stride == 2:
            x = self.bn1(self.conv1(x[:, :, ::2, ::2]))
        return torch.relu(x + y)


class Cells(nn.Module):
    def __init__(self):
        super().__init__()
        self.cells = nn.Sequential(Cell(4), Cell(4, 2), Cell(4))

    def forward(self, x):
        return self.cells(x)


def test_two_submodules_under_one_condition_read_back_the_same():
    inputs = (torch.randn(2, 4, 8, 8),)
    first = recorded_conversion(Cells, Style.MODULE, inputs, keep_source=False)
    # planes is 4 in every cell, a parameter as the source writes it
    conv1 = "self.conv1 = nn.Conv2d(planes, planes, 1) if stride == 2 else None"
    assert conv1 in first.source
    assert "self.bn1 = nn.BatchNorm2d(planes) if stride == 2 else None" in first.source
    # the output writes one test per attribute: read back, they are one condition
    again = nnconvert.convert(first.load(), Style.MODULE, inputs, keep_source=False)
    assert again.source == first.source


class CastLinear(nn.Linear):
    """Whisper's ``Linear``: its bias cast where it has one."""

    def forward(self, x):
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight.to(x.dtype), bias)


class KeyQuery(nn.Module):
    def __init__(self):
        super().__init__()
        self.key = CastLinear(8, 8, bias=False)
        self.query = CastLinear(8, 8)

    def forward(self, x):
        return self.key(x) * self.query(x)


def test_functional_style_joins_a_layer_with_and_without_its_bias():
    """One ``cast_linear`` under ``if has_bias:``, as the class is one class."""
    torch.manual_seed(0)
    inputs = (torch.randn(2, 8),)
    conversion = nnconvert.convert(KeyQuery(), Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    source = conversion.source
    assert [n for n in defined_names(source) if "linear" in n] == ["cast_linear"]
    assert "    if has_bias:\n" in source
    assert 'sub_params(params, "key."), x, has_bias=False)' in source
    assert 'sub_params(params, "query."), x, has_bias=True' in source
    again = nnconvert.convert(
        load_output(conversion, "KeyQuery"), Style.FUNCTIONAL, inputs
    )
    assert again.source == source


class MaybeResidual(nn.Module):
    """LeViT's ``attn_res = (x if self.attn_residual else 0)``."""

    def __init__(self, residual, base=0.0):
        super().__init__()
        self.residual = residual
        self.base = base
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        res = x if self.residual else self.base
        return self.fc(x) + res


class Residuals(nn.Module):
    def __init__(self, bases=(0.0, 0.0)):
        super().__init__()
        self.a = MaybeResidual(True)
        self.b = MaybeResidual(False, bases[0])
        self.c = MaybeResidual(False, bases[1])

    def forward(self, x):
        return self.c(self.b(self.a(x)))


def test_functional_style_joins_a_value_or_a_literal_under_the_flag():
    """The ``else`` path's number is that path's, kept in the joined body."""
    torch.manual_seed(0)
    inputs = (torch.randn(2, 8),)
    conversion = nnconvert.convert(Residuals(), Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    assert [n for n in defined_names(conversion.source) if n.startswith("maybe")] == [
        "maybe_residual"
    ]
    assert " if residual else 0.0\n" in conversion.source


def test_paths_whose_members_differ_in_that_literal_stay_apart():
    """``b`` adds 0.0 and ``c`` 1.0: one joined body would add ``b``'s number for both."""
    torch.manual_seed(0)
    inputs = (torch.randn(2, 8),)
    model = Residuals(bases=(0.0, 1.0))
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    assert " if residual else " not in conversion.source
