"""Affine layers and lookups: Linear, Bilinear, Identity, Embedding."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .spec import OpSpec


def _has_bias(module: nn.Module) -> bool:
    return module.bias is not None


SPECS = (
    OpSpec(
        nn.Linear,
        F.linear,
        signature="input, weight, bias=None",
        name="fc",
        call_positional=3,
        ctor_positional=2,
        weights=("weight", "bias"),
        ctor_attributes={"bias": _has_bias},
    ),
    OpSpec(
        nn.Bilinear,
        F.bilinear,
        signature="input1, input2, weight, bias=None",
        name="bilinear",
        inputs=2,
        call_positional=4,
        ctor_positional=3,
        weights=("weight", "bias"),
        ctor_attributes={"bias": _has_bias},
    ),
    OpSpec(nn.Identity, None, name="identity", ctor_positional=0),
    OpSpec(
        nn.Embedding,
        F.embedding,
        name="embedding",
        call_positional=2,
        ctor_positional=2,
        weights=("weight",),
    ),
)
