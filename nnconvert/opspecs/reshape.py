"""Layers that only move elements: flatten, unflatten, shuffles, padding-free reshapes."""

from __future__ import annotations

import torch
from torch import nn

from .spec import Alias, Example, OpSpec

SPECS = (
    OpSpec(
        nn.Flatten,
        torch.flatten,
        signature="input, start_dim=0, end_dim=-1",
        name="flatten",
        call_positional=3,
        ctor_positional=2,
        aliases=(Alias("flatten", "input, start_dim=0, end_dim=-1"),),
        examples=(Example("nn.Flatten()"), Example("nn.Flatten(0, 2)")),
    ),
)
