"""A torch layer without tensors that ``forward`` never calls stays an attribute.

DINO's ``self.head = nn.Identity()`` (a classifier head fine-tuning
replaces) is the model's attribute and what the user's ``# Classifier head``
describes: the class styles keep it, built as the source built it, under
its comment. Layers mixed style calls as functions are not spare.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style


class WithSpareHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.act = nn.GELU()
        self.drop = nn.Dropout(0.1)
        # Classifier head
        self.head = nn.Identity()

    def forward(self, x):
        return self.drop(self.act(self.body(x)))


def _converted(style: Style) -> nnconvert.Conversion:
    torch.manual_seed(0)
    conversion = nnconvert.convert(
        WithSpareHead(), style, (torch.randn(2, 4),), keep_source=False
    )
    conversion.check(train=True)
    return conversion


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_class_styles_keep_a_spare_layer(style):
    conversion = _converted(style)
    assert "        # Classifier head\n        self.head = nn.Identity()\n" in (
        conversion.source
    )
    assert isinstance(conversion.load().head, nn.Identity)


def test_mixed_style_still_calls_its_parameter_free_layers():
    source = _converted(Style.MIXED).source
    assert "self.act" not in source and "self.drop" not in source
    assert "F.gelu(" in source and "F.dropout(" in source


def test_functional_style_has_no_attribute_to_keep():
    assert "Identity" not in _converted(Style.FUNCTIONAL).source
