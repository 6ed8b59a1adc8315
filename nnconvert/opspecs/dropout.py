"""Dropout layers: their functional forms take the module's ``training`` flag."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .spec import Example, OpSpec


def _dropout(module, function, examples) -> OpSpec:
    return OpSpec(
        module, function, name="dropout", training="training", examples=examples
    )


SPECS = (
    _dropout(
        nn.Dropout,
        F.dropout,
        (Example("nn.Dropout()"), Example("nn.Dropout(0.2, inplace=True)", ((4, 10),))),
    ),
)
