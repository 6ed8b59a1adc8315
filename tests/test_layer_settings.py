"""A parameter-free layer's setting, both ways (:mod:`nnconvert.printer.layer_settings`).

Mixed style holds ``nn.Dropout(dropout)``'s rate in an attribute its call
reads; module style, from such a file, builds the layer under that
attribute again, unless something else reads the attribute too.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnconvert.options import Style

from .helpers import recorded_conversion

pytestmark = pytest.mark.printed_from_trace


class Built(nn.Module):
    def __init__(self, upscale_factor=2):
        super().__init__()
        self.conv = nn.Conv2d(1, upscale_factor**2, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

    def forward(self, x):
        return self.pixel_shuffle(self.conv(x))


class Read(nn.Module):
    def __init__(self, dropout=0.25):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.attn_dropout = dropout

    def forward(self, x):
        return F.dropout(self.fc(x), p=self.attn_dropout, training=self.training)


class ReadTwice(Read):
    def forward(self, x):
        x = F.dropout(self.fc(x), p=self.attn_dropout, training=self.training)
        return x * self.attn_dropout


def _converted(build: type, style: Style, x: torch.Tensor) -> str:
    """Built under the constructor record, as the CLI builds a file's class."""
    return recorded_conversion(build, style, (x,)).source


def test_mixed_style_reads_the_setting_from_an_attribute_named_as_its_argument():
    """Printed from the trace, the root keeps no ``upscale_factor`` (its
    ``upscale_factor**2`` is no expression the printer writes): the
    attribute holds the number, under the argument's name."""
    source = _converted(Built, Style.MIXED, torch.randn(2, 1, 4, 4))
    assert "self.upscale_factor = 2" in source
    assert "F.pixel_shuffle(self.conv(x), self.upscale_factor)" in source
    assert "nn.PixelShuffle" not in source


def test_module_style_builds_the_layer_under_the_setting_it_reads():
    source = _converted(Read, Style.MODULE, torch.randn(3, 4))
    assert "self.attn_dropout = nn.Dropout(dropout)" in source
    assert "self.attn_dropout(self.fc(x))" in source


def test_a_setting_read_elsewhere_too_stays_and_the_layer_takes_its_stem():
    source = _converted(ReadTwice, Style.MODULE, torch.randn(3, 4))
    assert "self.attn_dropout = nn.Dropout" not in source
    assert "self.dropout = nn.Dropout(" in source
