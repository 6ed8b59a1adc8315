"""Dropout layers: their functional forms take the module's ``training`` flag."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .spec import OpSpec


def _dropout(module, function) -> OpSpec:
    return OpSpec(module, function, name="dropout", training="training")


SPECS = (_dropout(nn.Dropout, F.dropout),)
