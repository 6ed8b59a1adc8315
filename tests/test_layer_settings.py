"""A parameter-free layer's setting, read where the class already holds it (:mod:`nnconvert.printer.layer_settings`).

nanoGPT sets ``self.dropout = config.dropout`` beside ``self.resid_dropout =
nn.Dropout(config.dropout)``. Called as a function, the layer's rate is the
attribute the class already holds: mixed style reads ``self.dropout`` and
adds no statement of its own; functional style reads the keyword
``dropout`` that the attribute became, so that the one keyword sets every
rate the source set from one value. Each output is checked in train mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output, recorded_conversion

#: the printer's mixed style is under test too (``keep_source=False``)
pytestmark = pytest.mark.printed_from_trace


class Residual(nn.Module):
    """The layer's rate and the attribute the class reads it from, set from one parameter."""

    def __init__(self, dim=8, dropout=0.1):
        super().__init__()
        self.dropout = dropout
        self.fc = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc(x)) + F.dropout(x, self.dropout, self.training)


class Renamed(nn.Module):
    """The attribute holding the rate has a name of its own."""

    def __init__(self, dim=8, dropout=0.1):
        super().__init__()
        self.p_drop = dropout
        self.fc = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc(x)) + F.dropout(x, self.p_drop, self.training)


@dataclass
class Config:
    dim: int = 8
    dropout: float = 0.1


class Attention(nn.Module):
    """As nanoGPT's: two layers and the flash call's rate, all from ``config.dropout``."""

    def __init__(self, config):
        super().__init__()
        self.proj = nn.Linear(config.dim, config.dim)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.dropout = config.dropout

    def forward(self, x):
        y = F.dropout(x, self.dropout, self.training)
        return self.resid_dropout(self.proj(self.attn_dropout(y)))


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        config = Config()
        self.blocks = nn.ModuleList([Attention(config) for _ in range(2)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


@pytest.mark.parametrize("keep_source", [True, False], ids=["kept", "traced"])
def test_mixed_style_reads_the_attribute_the_class_holds(keep_source):
    inputs = (torch.randn(3, 8),)
    cases = (
        (Residual, "dropout", ["drop"]),
        (Renamed, "p_drop", ["drop"]),
        (Stack, "dropout", ["attn_dropout", "resid_dropout"]),
    )
    for build, attribute, layers in cases:
        conversion = recorded_conversion(
            build, Style.MIXED, inputs, keep_source=keep_source
        )
        source = conversion.source
        for layer in layers:
            assert not re.search(rf"self\.{layer}\b", source), source
        assert len(re.findall(r"F\.dropout\(", source)) == len(layers) + 1, source
        assert not re.search(r"F\.dropout\([^)]*\b0\.1\b", source), source
        assert len(re.findall(rf"self\.{attribute}\b", source)) == len(layers) + 2
        assert len(re.findall(rf"^ +self\.{attribute} = ", source, re.M)) == 1
        again = nnconvert.convert(load_output(conversion), Style.MIXED, inputs)
        assert again.source == source


def test_functional_style_reads_one_keyword_for_every_rate():
    inputs = (torch.randn(3, 8),)
    conversion = recorded_conversion(Residual, Style.FUNCTIONAL, inputs)
    source = conversion.source
    assert "dropout: float = 0.1," in source, source
    assert source.count("p=dropout,") == 2, source
    assert "0.1, training" not in source and "p=0.1" not in source, source
    function = conversion.load()
    params = dict(conversion.model.state_dict())
    # every rate is the keyword's: with 1.0, both dropouts zero their input
    out = function(params, *inputs, dropout=1.0, training=True)
    assert torch.equal(out, torch.zeros_like(out))
    renamed = recorded_conversion(Renamed, Style.FUNCTIONAL, inputs).source
    assert "p_drop: float = 0.1," in renamed and "dropout: float" not in renamed
    assert renamed.count("p=p_drop,") == 2, renamed
    stacked = recorded_conversion(Stack, Style.FUNCTIONAL, inputs).source
    block = stacked[: stacked.index("\ndef stack(")]
    assert block.count("p=dropout,") == 3 and "p=0.1" not in block, block
