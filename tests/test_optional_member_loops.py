"""Functional loops whose later steps lack some of the first step's member calls.

ScalableViT builds each step of its ``for ssa, ff1, peg, iwsa, ff2 in
self.layers:`` with ``PEG(dim) if is_first else None`` and calls ``peg``
under ``if exists(peg):``; NesT ends its stages with ``nn.Identity()``.
The trace holds the call in some steps only. Functional style still prints
the user's loop, over a flag per step beside the index (``for i, has_peg in
enumerate((True, False)):``), the call under ``if has_peg:``
(:func:`nnconvert.passes.unrolled._with_absent_items`,
:class:`nnconvert.printer.data_loops.LoopFlag`). A function's literal
keyword that differs by step is a variable of the loop too, named as the
user's call passes it (NesT's ``rearrange(..., b1=block_size)``). Where
the first step is the one without the call (RegionViT's first stage has
no downsampling), that step is written out and the loop runs from the
second member on, ``for i in range(1, 4):``. Every output is checked
against the original in eval and train mode and converts to itself byte for
byte (SPEC invariant 5); a loop that cannot print so stays written out,
still equivalent.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import checked_conversion, load_output


class Residual(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.tanh(self.fc(x))


class Mix(nn.Module):
    """A block some steps lack: weights of its own, its result replaces ``x``."""

    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return self.proj(x) * 0.5 + x


class FirstOnly(nn.Module):
    """ScalableViT's shape: the middle call in the first step only (``None`` after).

    Its flag is named after the user's name for the member (``has_extra``),
    not after its function (``mix``).
    """

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([Residual(dim), Mix(dim) if i == 0 else None, Residual(dim)])
            for i in range(depth)
        )

    def forward(self, x):
        for attn, extra, ff in self.layers:
            x = attn(x) + x
            if extra is not None:
                x = extra(x)
            x = ff(x) + x
        return x


class AllButLast(nn.Module):
    """NesT's shape: every step but the last ends with the call (``nn.Identity`` last)."""

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([Residual(dim), Mix(dim) if i < depth - 1 else nn.Identity()])
            for i in range(depth)
        )

    def forward(self, x):
        for block, aggregate in self.layers:
            x = block(x) + x
            x = aggregate(x)
        return x * 2


class Levels(AllButLast):
    """NesT's shape: a function's literal keyword differs by step (``shifts=scale``)."""

    def forward(self, x):
        for level, (block, aggregate) in enumerate(self.layers):
            scale = 2**level
            x = block(torch.roll(x, shifts=scale, dims=1)) + x
            x = aggregate(x)
        return x


class ZippedLevels(Levels):
    """NesT's own loop: ``zip`` of the levels, counted down, and the members."""

    def forward(self, x):
        for level, (block, aggregate) in zip(reversed(range(3)), self.layers):
            scale = 2**level
            x = block(torch.roll(x, shifts=scale, dims=1)) + x
            x = aggregate(x)
        return x


class FirstWithout(nn.Module):
    """RegionViT's shape: the first step lacks the call the others make (``nn.Identity``)."""

    def __init__(self, dim=8, depth=4):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([Mix(dim) if i else nn.Identity(), Residual(dim)])
            for i in range(depth)
        )

    def forward(self, x):
        for down, block in self.layers:
            x = down(x)
            x = block(x) + x
        return x


class InlinedMix(nn.Module):
    """The optional call inside an expression: no statement to put under an ``if``."""

    def __init__(self, dim=8, depth=2):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([Residual(dim), Mix(dim) if i == 0 else nn.Identity()])
            for i in range(depth)
        )

    def forward(self, x):
        for block, mix in self.layers:
            x = mix(block(x)) + x
        return x


LOOPS = {
    FirstOnly: (
        "    for i, has_extra in enumerate((True, False, False)):\n"
        '        x = residual(sub_params(params, f"layers.{i}.0."), x) + x\n'
        "        if has_extra:\n"
        '            x = mix(sub_params(params, f"layers.{i}.1."), x)\n'
        '        x = residual(sub_params(params, f"layers.{i}.2."), x) + x\n'
        "    return x\n"
    ),
    AllButLast: (
        "    for i, has_aggregate in enumerate((True, True, False)):\n"
        '        x = residual(sub_params(params, f"layers.{i}.0."), x) + x\n'
        "        if has_aggregate:\n"
        '            x = mix(sub_params(params, f"layers.{i}.1."), x)\n'
        "    return x * 2\n"
    ),
    Levels: (
        "    for i, (scale, has_aggregate) in enumerate(zip((1, 2, 4), (True, True, False))):\n"
        "        x = (\n"
        "            residual(\n"
        '                sub_params(params, f"layers.{i}.0."),\n'
        "                torch.roll(x, shifts=scale, dims=1),\n"
        "            )\n"
        "            + x\n"
        "        )\n"
        "        if has_aggregate:\n"
        '            x = mix(sub_params(params, f"layers.{i}.1."), x)\n'
        "    return x\n"
    ),
    ZippedLevels: (
        "    for i, (scale, has_aggregate) in enumerate(zip((4, 2, 1), (True, True, False))):\n"
    ),
    FirstWithout: (
        '    x = residual(sub_params(params, "layers.0.1."), x) + x\n'
        "    for i in range(1, 4):\n"
        '        x = mix(sub_params(params, f"layers.{i}.0."), x)\n'
        '        x = residual(sub_params(params, f"layers.{i}.1."), x) + x\n'
        "    return x\n"
    ),
}


def _inputs():
    torch.manual_seed(0)
    return (torch.randn(2, 5, 8),)


@pytest.mark.parametrize("cls", list(LOOPS), ids=lambda c: c.__name__)
def test_a_call_some_steps_lack_prints_under_a_flag_of_the_loop(cls):
    source = checked_conversion(cls, Style.FUNCTIONAL, _inputs()).source
    assert LOOPS[cls] in source
    forward = source.split("\ndef init_params")[0]
    assert '"layers.1.' not in forward and '"layers.2.' not in forward
    assert '"layers.3.' not in forward


@pytest.mark.parametrize("cls", list(LOOPS), ids=lambda c: c.__name__)
def test_the_flagged_loop_converts_to_itself(cls):
    """functional -> functional reproduces the loop byte for byte."""
    direct = checked_conversion(cls, Style.FUNCTIONAL, _inputs())
    again = nnconvert.convert(
        load_output(direct, cls.__name__), Style.FUNCTIONAL, _inputs()
    )
    assert again.source == direct.source


@pytest.mark.parametrize("via", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
@pytest.mark.parametrize("cls", list(LOOPS), ids=lambda c: c.__name__)
def test_the_flagged_loop_reads_back_from_a_class_style(cls, via):
    """original -> via -> functional still computes the original, checked."""
    again = nnconvert.convert(
        load_output(checked_conversion(cls, via, _inputs())),
        Style.FUNCTIONAL,
        _inputs(),
    )
    again.check()
    again.check(train=True)


def test_an_optional_call_inside_an_expression_stays_written_out():
    """``x = mix(block(x)) + x``: no statement of its own to skip, so no loop."""
    source = checked_conversion(InlinedMix, Style.FUNCTIONAL, _inputs()).source
    assert "for i" not in source
    assert '"layers.1.0."' in source
