"""A model that owns raw parameters and a buffer and calls functions on them.

The style of hand-written research code: no layer classes, so the module style
keeps the calls and only the parameter-free ops become layers.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Scorer(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, dim) / dim**0.5)
        self.bias = nn.Parameter(torch.zeros(dim))
        self.register_buffer("scale", torch.full((dim,), 0.5))

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        y = F.leaky_relu(y, 0.1) * self.scale
        return F.log_softmax(y, dim=1)


def example_inputs():
    return (torch.randn(3, 16),)
