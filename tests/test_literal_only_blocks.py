"""Blocks of one class that differ only in literals are one definition (issue 11).

Small models reproducing what split real networks' classes: a literal inside a
helper method (GAT's ``self.a[:, : self.n_hidden, :]`` in
``_get_attention_scores``) and slice bounds that differ between instances
(ShuffleNet's channel split). Each test asserts that the output defines one
class or function for the block, that the checker passes in eval and train
mode, and that converting the output again gives the same text.
"""

from __future__ import annotations

import ast

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output

STYLES = [Style.MODULE, Style.FUNCTIONAL, Style.MIXED]


class Attention(nn.Module):
    """GAT's layer in small: the head width is read in a helper method's slices."""

    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.W = nn.Parameter(torch.randn(features, hidden))
        self.a = nn.Parameter(torch.randn(2 * hidden, 1))

    def scores(self, h):
        source = self.a[: self.hidden, :]
        target = self.a[self.hidden :, :]
        return h @ source + (h @ target).mT

    def forward(self, x):
        h = x @ self.W
        return torch.softmax(self.scores(h), dim=-1) @ h


class TwoAttentions(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Attention(6, 8)
        self.second = Attention(8, 3)

    def forward(self, x):
        return self.second(torch.relu(self.first(x)))


class Split(nn.Module):
    """ShuffleNet's split in small: the bound is a number fixed when traced.

    With a weight: a functional file's block without weights reads back inlined.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x[:, : self.channels] * self.scale, x[:, self.channels :]


class TwoSplits(nn.Module):
    def __init__(self):
        super().__init__()
        self.split1 = Split(2)
        self.split2 = Split(3)

    def forward(self, x):
        a, b = self.split1(x)
        c, d = self.split2(torch.cat([b, a], 1))
        return torch.cat([d, c], 1)


def converted(
    model: nn.Module, inputs: tuple, style: Style, round_trip: bool = True
) -> nnconvert.Conversion:
    """``model`` in ``style``, checked in eval and train mode against the original.

    And converted again in its own style, to the same text, unless
    ``round_trip`` is False.
    """
    torch.manual_seed(0)
    conversion = nnconvert.convert(model.eval(), style, inputs)
    conversion.check()
    conversion.check(train=True)
    if round_trip:
        again = nnconvert.convert(load_output(conversion), style, inputs)
        assert again.source == conversion.source  # stable in its own style
    return conversion


def functions(source: str) -> dict[str, ast.FunctionDef]:
    """The top-level functions of ``source``, by name."""
    tree = ast.parse(source)
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def read_back_as_module(model: nn.Module, inputs: tuple) -> str:
    """module -> functional -> module, checked: the text module -> module gives.

    Printed from the trace (``keep_source=False``): a functional file holds
    no construction to keep.
    """
    functional = converted(model.eval(), inputs, Style.FUNCTIONAL)
    direct = nnconvert.convert(model, Style.MODULE, inputs, keep_source=False)
    back = nnconvert.convert(load_output(functional), Style.MODULE, inputs)
    back.check()
    assert back.source == direct.source
    return back.source


def block_definitions(source: str, stem: str) -> list[str]:
    """The definitions written for the block whose class is named ``stem``.

    Its classes, or its functions over ``params``: not a function building
    one of its tensors (``attention_a(hidden=8)``, named after its class).
    """
    return [
        n.name
        for n in ast.parse(source).body
        if isinstance(n, ast.ClassDef)
        and n.name.lower().startswith(stem)
        or isinstance(n, ast.FunctionDef)
        and n.name.startswith(stem)
        and [a.arg for a in n.args.args[:1]] == ["params"]
    ]


@pytest.mark.parametrize("style", STYLES)
def test_literals_of_a_helper_method_do_not_split_its_class(style):
    conversion = converted(TwoAttentions(), (torch.randn(5, 6),), style)
    assert block_definitions(conversion.source, "attention") == [
        "Attention" if style is not Style.FUNCTIONAL else "attention"
    ]
    # the helper method reads the width the block was built with
    scores = next(
        n
        for n in ast.walk(ast.parse(conversion.source))
        if isinstance(n, ast.FunctionDef) and n.name == "scores"
    )
    assert "8" not in ast.unparse(scores) and "3" not in ast.unparse(scores)


def test_a_helper_method_takes_its_literals_as_keywords_in_functional_style():
    conversion = converted(TwoAttentions(), (torch.randn(5, 6),), Style.FUNCTIONAL)
    tree = {
        n.name: n
        for n in ast.parse(conversion.source).body
        if isinstance(n, ast.FunctionDef)
    }
    (keyword,) = [a.arg for a in tree["scores"].args.kwonlyargs]
    assert keyword in [a.arg for a in tree["attention"].args.kwonlyargs]
    assert f"{keyword}={keyword}" in ast.unparse(tree["attention"])


@pytest.mark.parametrize("style", STYLES)
def test_slice_bounds_that_differ_do_not_split_a_class(style):
    conversion = converted(TwoSplits(), (torch.randn(2, 5, 4),), style)
    expected = "split" if style is Style.FUNCTIONAL else "Split"
    assert block_definitions(conversion.source, "split") == [expected]


class DropPath(nn.Module):
    """Stochastic depth as DINO and timm write it."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        keep = torch.rand(x.shape[0], 1, device=x.device) >= self.p
        return x * keep / (1 - self.p)


class Residual(nn.Module):
    """DINO's ``Block``: ``DropPath(rate)`` where the rate is set, else ``nn.Identity()``."""

    def __init__(self, dim: int, rate: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)
        self.drop_path = DropPath(rate) if rate > 0 else nn.Identity()

    def forward(self, x):
        x = x + self.drop_path(self.fc1(self.norm(x)))
        x = x + self.drop_path(self.fc2(x))
        return x


class Depth(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(Residual(8, rate) for rate in (0.0, 0.1, 0.2))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_an_identity_called_twice_is_an_optional_submodule(style):
    conversion = converted(Depth(), (torch.randn(2, 8),), style)
    assert block_definitions(conversion.source, "residual") == ["Residual"]
    assert "drop_path=None" in conversion.source
    assert conversion.source.count("if self.drop_path is not None:") == 2


def test_an_identity_called_twice_is_an_optional_call_in_functional_style():
    # not read back: a functional file's block without weights (the DropPath)
    # reads back inlined into its caller, with or without this change
    conversion = converted(Depth(), (torch.randn(2, 8),), Style.FUNCTIONAL, False)
    assert block_definitions(conversion.source, "residual") == ["residual"]
    assert conversion.source.count("if has_drop_path:") == 2
    # the first block, without one, is called with False: the loop's first value
    assert "(False, True, True)" in conversion.source
    assert "has_drop_path=has_drop_path" in conversion.source


class Layer(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.relu(self.fc(x)) + x


class Dense(nn.Module):
    """DenseNet's stages in small: Sequentials of one block, each of its own length."""

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(*(Layer(8) for _ in range(2)))
        self.stage2 = nn.Sequential(*(Layer(8) for _ in range(3)))
        self.stage3 = nn.Sequential(*(Layer(8) for _ in range(5)))

    def forward(self, x):
        return self.stage3(self.stage2(self.stage1(x)))


def test_sequentials_of_one_block_and_different_lengths_are_one_function():
    conversion = converted(Dense(), (torch.randn(2, 8),), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    assert "stage" in defined and not {"stage1", "stage2", "stage3"} & set(defined)
    assert [a.arg for a in defined["stage"].args.kwonlyargs] == ["num_blocks"]
    assert "range(num_blocks)" in ast.unparse(defined["stage"])
    root = ast.unparse(defined["dense"])
    for stage, length in (("stage1", 2), ("stage2", 3), ("stage3", 5)):
        assert f"'{stage}.'), " in root.replace('"', "'")
        assert f"num_blocks={length})" in root  # the stages nest as written


def test_a_stage_function_with_its_length_reads_back_as_sequentials():
    """module -> functional -> module gives the text module -> module gives."""
    source = read_back_as_module(Dense(), (torch.randn(2, 8),))
    assert "nn.Sequential(Layer(), Layer(), Layer())" in source


class Cell(nn.Module):
    """PNASNet's ``CellA`` in small: its width a literal of ``forward``."""

    def __init__(self, planes: int):
        super().__init__()
        self.planes = planes
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return torch.relu(self.fc(x)[:, : self.planes]).sum(1, keepdim=True) + x


class Cells(nn.Module):
    """PNASNet's stages in small: Sequentials of one length whose cells differ in width."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(*(Cell(2) for _ in range(3)))
        self.middle = nn.Linear(8, 8)
        self.layer2 = nn.Sequential(*(Cell(4) for _ in range(3)))
        self.layer3 = nn.Sequential(*(Cell(6) for _ in range(3)))

    def forward(self, x):
        return self.layer3(self.layer2(self.middle(self.layer1(x))))


def test_stages_whose_members_differ_in_a_literal_are_one_function():
    """One ``layer`` taking the width its loop hands on, not ``layer1``/``2``/``3``."""
    conversion = converted(Cells(), (torch.randn(2, 8),), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    assert "layer" in defined and not {"layer1", "layer2", "layer3"} & set(defined)
    assert [a.arg for a in defined["layer"].args.kwonlyargs] == ["planes"]
    assert "cell(sub_params(params, f'{i}.'), x, planes=planes" in ast.unparse(
        defined["layer"]
    )
    root = ast.unparse(defined["cells"])
    for stage, planes in (("layer1", 2), ("layer2", 4), ("layer3", 6)):
        assert f"'{stage}.'), " in root
        assert f"planes={planes}" in root


def test_stages_handing_a_keyword_on_read_back_as_sequentials():
    """module -> functional -> module gives the text module -> module gives."""
    source = read_back_as_module(Cells(), (torch.randn(2, 8),))
    assert "nn.Sequential(Cell(4), Cell(4), Cell(4))" in source


class Basic(nn.Module):
    """kuangliu's CIFAR ``BasicBlock``: an empty ``nn.Sequential()`` shortcut or a projection."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)) + self.shortcut(x))


class Shortcuts(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(Basic(3, 4, 1), Basic(4, 4, 1))
        self.layer2 = nn.Sequential(Basic(4, 8, 1), Basic(8, 8, 1))
        self.layer3 = nn.Sequential(Basic(8, 8, 2), Basic(8, 8, 1))

    def forward(self, x):
        return self.layer3(self.layer2(self.layer1(x)))


def image() -> tuple[torch.Tensor]:
    return (torch.randn(2, 3, 8, 8),)


def test_an_empty_sequential_shortcut_is_an_optional_call_in_functional_style():
    conversion = converted(Shortcuts(), image(), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    assert block_definitions(conversion.source, "basic") == ["basic"]
    assert [a.arg for a in defined["basic"].args.kwonlyargs] == [
        "stride",
        "has_shortcut",
        "training",
    ]
    assert "if has_shortcut:" in ast.unparse(defined["basic"])
    text = conversion.source.replace('"', "'")
    assert "has_shortcut=True" in text and "has_shortcut=False" in text


class Projections(nn.Module):
    """Stages passing no setting on (one computing with one reads back as a class)."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(Basic(3, 4, 1), Basic(4, 4, 1))
        self.layer2 = nn.Sequential(Basic(4, 8, 1), Basic(8, 8, 1))

    def forward(self, x):
        return self.layer2(self.layer1(x))


def test_a_block_with_an_optional_call_reads_back_as_the_module_style_gives_it():
    """module -> functional -> module gives the text module -> module gives."""
    read_back_as_module(Projections(), image())
