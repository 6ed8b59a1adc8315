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


class PaddedConv(nn.Module):
    """``stride`` is the user's; the padding, computed, is a keyword named after ``F.pad``."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int
    ):
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        return self.conv(self.pad(x))


class PaddedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = PaddedConv(3, 4, 3, 1)
        self.conv2 = PaddedConv(4, 4, 5, 2)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


def test_a_block_keeps_the_order_of_its_keywords():
    """``*, stride, pad``: the user's name first, as written, though only ``pad`` is declared."""
    assert_functional_fixed_point(PaddedNet(), (torch.randn(2, 3, 9, 9),))


class Root(nn.Module):
    """A block whose input is a list of tensors."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 4, 1)

    def forward(self, xs):
        return self.conv(torch.cat(xs, 1))


class TwoBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.left = nn.Conv2d(3, 4, 1)
        self.right = nn.Conv2d(3, 4, 1)
        self.root = Root()

    def forward(self, x):
        return self.root([self.left(x), self.right(x)])


def test_a_block_taking_a_list_of_tensors_stays_a_block():
    """``root(sub_params(params, "root."), [a, b])`` is a block though no argument is a tensor."""
    assert_functional_fixed_point(TwoBranches(), (torch.randn(2, 3, 5, 5),))


def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class Stages(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = _stage(3, 4)
        self.layer1 = _stage(4, 4)
        self.layer2 = _stage(4, 8)

    def forward(self, x):
        return self.layer2(self.layer1(self.base(x)))


def test_sequentials_sharing_a_function_are_all_plain_sequentials():
    """One function ``base`` for ``base``, ``layer1``, ``layer2``: no ``Base`` subclass at layer1."""
    assert_functional_fixed_point(Stages(), (torch.randn(2, 3, 5, 5),))
