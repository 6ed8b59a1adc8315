"""Activations: every parameter-free nonlinearity in ``torch.nn`` (and PReLU)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .spec import Alias, Example, OpSpec

SPECS = (
    OpSpec(
        nn.ReLU,
        F.relu,
        name="relu",
        ctor_positional=0,
        aliases=(
            Alias(torch.relu, "input"),
            Alias("relu", "input"),
            Alias(F.relu_, "input", {"inplace": True}),
            Alias(torch.relu_, "input", {"inplace": True}),
            Alias("relu_", "input", {"inplace": True}),
        ),
        examples=(Example("nn.ReLU()"), Example("nn.ReLU(inplace=True)")),
    ),
    OpSpec(
        nn.Sigmoid,
        torch.sigmoid,
        signature="input",
        name="sigmoid",
        ctor_positional=0,
        aliases=(Alias(F.sigmoid, "input"), Alias("sigmoid", "input")),
        examples=(Example("nn.Sigmoid()"),),
    ),
    OpSpec(
        nn.Tanh,
        torch.tanh,
        signature="input",
        name="tanh",
        ctor_positional=0,
        aliases=(Alias(F.tanh, "input"), Alias("tanh", "input")),
        examples=(Example("nn.Tanh()"),),
    ),
)
