"""Affine layers and lookups: Linear, Bilinear, Identity, Embedding."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .spec import Example, OpSpec


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
        examples=(
            Example("nn.Linear(8, 4)", ((2, 8),)),
            Example("nn.Linear(8, 4, bias=False)", ((2, 5, 8),)),
        ),
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
        examples=(
            Example("nn.Bilinear(3, 4, 5)", ((2, 3), (2, 4))),
            Example("nn.Bilinear(3, 3, 2, bias=False)", ((2, 3), (2, 3))),
        ),
    ),
    OpSpec(
        nn.Identity,
        None,
        name="identity",
        ctor_positional=0,
        examples=(Example("nn.Identity()", ((2, 3),)),),
    ),
    OpSpec(
        nn.Embedding,
        F.embedding,
        name="embedding",
        call_positional=2,
        ctor_positional=2,
        weights=("weight",),
        examples=(
            Example("nn.Embedding(10, 4)", ((2, 5),), high=10),
            Example("nn.Embedding(10, 4, padding_idx=0)", ((2, 5),), high=10),
            Example("nn.Embedding(10, 4, max_norm=1.0)", ((2, 5),), high=10),
        ),
    ),
)
