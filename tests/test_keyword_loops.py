"""Functional loops over blocks whose calls differ only in literal keywords.

DINO's ViT runs ``for blk in self.blocks: x = blk(x)`` over blocks of one
class, the first built without its drop path; functional style calls each
block's one function with ``has_drop_path=False``, then ``True``. Such calls
still print as the loop the user wrote, over the keyword's values beside the
index (``for i, has_halve in enumerate((False, True, True)):``), or over
their ``zip`` where several keywords differ (:mod:`nnconvert.printer.loops`);
from the second member on where the first calls another function
(``enumerate(..., start=1)``).
Every output is checked against the original in eval and train mode, and
converts to itself byte for byte (SPEC invariant 5).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import checked_conversion, load_output


class Halve(nn.Module):
    def forward(self, x):
        return x * 0.5


class Block(nn.Module):
    """A layer, an optional step without weights, and a scale set at construction."""

    def __init__(self, dim, halve=True, scale=1.0):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.halve = Halve() if halve else nn.Identity()
        self.scale = scale

    def forward(self, x):
        return self.halve(torch.tanh(self.fc(x))) * self.scale + x


class Flagged(nn.Module):
    """Every block but the first halves: one keyword, ``has_halve``, differs."""

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, halve=i > 0) for i in range(depth)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class FlaggedScaled(nn.Module):
    """Two keywords differ between the blocks: ``scale`` and ``has_halve``."""

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList(
            [Block(dim, halve=i > 0, scale=1.0 / (i + 2)) for i in range(depth)]
        )

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class Shadowed(Flagged):
    """The caller has a variable of the keyword's name, read after the loop."""

    def forward(self, x):
        has_halve = x * 2
        for block in self.blocks:
            x = block(x)
        return x + has_halve


class Stage(nn.Module):
    """Blocks, then its own optional step: its function takes ``has_halve`` too."""

    def __init__(self, dim, halve):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, halve=i > 0) for i in range(2)])
        self.halve = Halve() if halve else nn.Identity()

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.halve(x)


class Stages(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.stage1 = Stage(dim, False)
        self.stage2 = Stage(dim, True)

    def forward(self, x):
        return self.stage2(self.stage1(x))


class Stem(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.relu(self.fc(x))


class Headed(nn.Module):
    """A list whose first member is of another class: the loop runs over the rest."""

    def __init__(self, dim=8, scales=(0.5, 0.25, 0.125)):
        super().__init__()
        self.blocks = nn.ModuleList([Stem(dim)] + [Block(dim, scale=s) for s in scales])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class HeadedAlike(Headed):
    """The same, its blocks called alike: a loop over a range."""

    def __init__(self):
        super().__init__(scales=(0.5, 0.5, 0.5))


LOOPS = {
    Flagged: (
        "    for i, has_halve in enumerate((False, True, True)):\n"
        '        x = block(sub_params(params, f"blocks.{i}."), x, has_halve=has_halve)\n'
    ),
    FlaggedScaled: (
        "    for i, (scale, has_halve) in enumerate(\n"
        "        zip((0.5, 0.3333333333333333, 0.25), (False, True, True))\n"
        "    ):\n"
        "        x = block(\n"
        '            sub_params(params, f"blocks.{i}."), x, scale=scale, has_halve=has_halve\n'
        "        )\n"
    ),
    Headed: (
        '    x = stem(sub_params(params, "blocks.0."), x)\n'
        "    for i, scale in enumerate((0.5, 0.25, 0.125), start=1):\n"
        '        x = block(sub_params(params, f"blocks.{i}."), x, scale=scale)\n'
    ),
    HeadedAlike: (
        '    x = stem(sub_params(params, "blocks.0."), x)\n'
        "    for i in range(1, 4):\n"
        '        x = block(sub_params(params, f"blocks.{i}."), x)\n'
    ),
}


def _inputs():
    torch.manual_seed(0)
    return (torch.randn(2, 5, 8),)


def _converted(cls: type[nn.Module], style: Style) -> nnconvert.Conversion:
    return checked_conversion(cls, style, _inputs())


@pytest.mark.parametrize("cls", list(LOOPS), ids=lambda c: c.__name__)
def test_calls_differing_in_literal_keywords_loop_over_their_values(cls):
    source = _converted(cls, Style.FUNCTIONAL).source
    assert LOOPS[cls] in source
    assert '"blocks.1."' not in source and '"blocks.2."' not in source


@pytest.mark.parametrize("cls", list(LOOPS), ids=lambda c: c.__name__)
def test_the_keyword_loop_converts_to_itself(cls):
    """functional -> functional reproduces the loop byte for byte."""
    direct = _converted(cls, Style.FUNCTIONAL)
    again = nnconvert.convert(
        load_output(direct, cls.__name__), Style.FUNCTIONAL, _inputs()
    )
    assert LOOPS[cls] in again.source
    assert again.source == direct.source


@pytest.mark.parametrize("via", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_class_styles_read_back_give_the_same_loop(via):
    """original -> via -> functional is original -> functional, the loop included."""
    direct = _converted(Flagged, Style.FUNCTIONAL)
    again = nnconvert.convert(
        load_output(_converted(Flagged, via)), Style.FUNCTIONAL, _inputs()
    )
    assert LOOPS[Flagged] in again.source
    assert again.source == direct.source


def test_a_keyword_named_as_a_variable_of_the_caller_loops_under_another_name():
    """The loop may not overwrite ``has_halve``, which the caller reads after it."""
    conversion = _converted(Shadowed, Style.FUNCTIONAL)
    assert (
        "    has_halve = x * 2\n"
        "    for i, has_halve_2 in enumerate((False, True, True)):\n"
        '        x = block(sub_params(params, f"blocks.{i}."), x, has_halve=has_halve_2)\n'
        "    return x + has_halve\n"
    ) in conversion.source
    again = nnconvert.convert(
        load_output(conversion, "Shadowed"), Style.FUNCTIONAL, _inputs()
    )
    assert again.source == conversion.source


def test_a_keyword_named_as_the_callers_own_keyword_loops_under_another_name():
    """The loop may not overwrite the stage's ``has_halve``, which it reads after it."""
    conversion = _converted(Stages, Style.FUNCTIONAL)
    assert (
        "    for i, has_halve_2 in enumerate((False, True)):\n"
        '        x = block(sub_params(params, f"blocks.{i}."), x, has_halve=has_halve_2)\n'
        "    if has_halve:\n"
    ) in conversion.source
    again = nnconvert.convert(
        load_output(conversion, "Stages"), Style.FUNCTIONAL, _inputs()
    )
    assert again.source == conversion.source
