"""Tensors ``forward`` makes from Python data, written as the expression that made them.

fx keeps such a tensor as a constant; functional style writes it at module
level, from the user's own expression where one in the statement rebuilds
it bit for bit (:mod:`nnconvert.source_constants`), else by its value.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd import Variable

import nnconvert
from nnconvert.options import Style

from .helpers import load_output


class IdentityOffset(nn.Module):
    """PointNet's feature transform, shrunk: an identity numpy makes in ``forward``."""

    def __init__(self, k=5):
        super().__init__()
        self.k = k
        self.fc = nn.Linear(k * k, k * k)

    def forward(self, x):
        batchsize = x.size()[0]
        x = self.fc(x)
        iden = (
            Variable(torch.from_numpy(np.eye(self.k).flatten().astype(np.float32)))
            .view(1, self.k * self.k)
            .repeat(batchsize, 1)
        )
        x = x + iden
        return x.view(-1, self.k, self.k)


class LocalTable(nn.Module):
    """A constant made from a local list: no expression of the statement alone makes it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(20, 20)

    def forward(self, x):
        scale = [0.5 + i / 40 for i in range(20)]
        weights = torch.tensor(scale)
        return self.fc(x) * weights


def _functional(cls: type[nn.Module]) -> nnconvert.Conversion:
    torch.manual_seed(0)
    inputs = (torch.randn(3, 25 if cls is IdentityOffset else 20),)
    conversion = nnconvert.convert(cls().eval(), Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    return conversion


def test_a_numpy_constant_is_written_as_the_users_expression():
    conversion = _functional(IdentityOffset)
    source = conversion.source
    expected = (
        "IDEN = torch.from_numpy(np.eye(5).flatten().astype(np.float32)).view(1, 5 * 5)"
    )
    assert expected in source
    assert "import numpy as np" in source
    assert "unpack_tensor" not in source and "Variable" not in source
    assert "iden = IDEN.repeat(batchsize, 1)" in source
    # read back, the constant keeps its expression
    read = load_output(conversion, "IdentityOffset")
    again = nnconvert.convert(read, Style.FUNCTIONAL, conversion.example_inputs)
    assert again.source == source


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_class_styles_read_from_it_write_the_value(style):
    """A class holds no module-level constant: the value, as before."""
    conversion = _functional(IdentityOffset)
    read = load_output(conversion, "IdentityOffset")
    nnconvert.convert(read, style, conversion.example_inputs).check(train=True)


def test_a_constant_no_expression_makes_alone_is_written_by_its_value():
    source = _functional(LocalTable).source
    assert "unpack_tensor(" in source
    assert "torch.tensor(scale)" not in source


class RelativeTable(nn.Module):
    """Swin's relative positions: a plain tensor attribute, sliced in ``forward``."""

    def __init__(self, window=2):
        super().__init__()
        cells = torch.tensor([[i, j] for i in range(window) for j in range(window)])
        self.relative_indices = cells[None, :, :] - cells[:, None, :] + window - 1
        self.pos_embedding = nn.Parameter(torch.randn(2 * window - 1, 2 * window - 1))

    def forward(self, x):
        table = self.pos_embedding[
            self.relative_indices[:, :, 0], self.relative_indices[:, :, 1]
        ]
        return x + table


def test_a_literal_that_spells_its_value_stays_where_it_is_read():
    """The slices are written as literals where they are read; read back, so again.

    Before, the read-back took each ``torch.tensor([[1, 1, ...]])`` for a
    constant of the user's and wrote it at module level
    (``CONSTANT = torch.tensor(...)``): Swin's functional round trip differed.
    """
    torch.manual_seed(0)
    inputs = (torch.randn(3, 4, 4),)
    conversion = nnconvert.convert(RelativeTable().eval(), Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    source = conversion.source
    assert "torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2]" in source
    assert "CONSTANT" not in source
    read = load_output(conversion, "RelativeTable")
    again = nnconvert.convert(read, Style.FUNCTIONAL, inputs)
    assert again.source == source
