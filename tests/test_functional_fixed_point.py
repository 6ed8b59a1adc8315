"""Functional output converted to functional again is the same text (SPEC invariant 5).

Read back, a functional file must take the module structure the original had
(blocks, their names and order), so that printing it again gives the same
file. Each model here has one shape that once read back differently; each
test also checks the second conversion computes what the first one does.
"""

from __future__ import annotations

import torch
from torch import nn

import nnconvert

from .helpers import load_output


def assert_functional_fixed_point(model: nn.Module, inputs: tuple) -> None:
    """``model`` -> functional -> functional prints the same, and checks in eval and train."""
    torch.manual_seed(0)
    first = nnconvert.convert(model.eval(), to="functional", example_inputs=inputs)
    again = nnconvert.convert(
        load_output(first, type(model).__name__), to="functional", example_inputs=inputs
    )
    assert again.source == first.source
    again.check(train=True)


class Shuffle(nn.Module):
    """A block without weights: its function is handed an empty slice."""

    def __init__(self, groups: int = 2):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.size()
        x = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2)
        return x.reshape(n, c, h, w)


class ShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.shuffle = Shuffle()
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.shuffle(self.conv(x)))


def test_a_block_without_weights_stays_a_block():
    """``shuffle(sub_params(params, "shuffle."), x)`` is read back as the block, not inlined."""
    assert_functional_fixed_point(ShuffleNet(), (torch.randn(2, 3, 5, 5),))
