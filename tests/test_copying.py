"""Models that keep functions over their own layers convert, and are checked, as themselves.

minGPT stores its MLP as ``self.mlpf = lambda x: m.dropout(m.c_proj(m.act(m.c_fc(x))))``
over a ``ModuleDict`` ``m``. A plain ``copy.deepcopy`` shares that lambda, so
a copy would call the original's layers: its trace fails ("module is not
installed as a submodule") and a train step on it would compute the
original's gradients. :func:`nnconvert.copying.copy_model` rebinds it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.copying import copy_model
from nnconvert.options import Style

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace


class ClosureMLP(nn.Module):
    """minGPT's Block MLP, as published: a lambda over a ModuleDict, kept on ``self``."""

    def __init__(self, dim: int = 8):
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.mlp = nn.ModuleDict(
            dict(
                c_fc=nn.Linear(dim, 4 * dim),
                c_proj=nn.Linear(4 * dim, dim),
                act=nn.GELU(),
                dropout=nn.Dropout(0.1),
            )
        )
        m = self.mlp
        self.mlpf = lambda x: m.dropout(m.c_proj(m.act(m.c_fc(x))))

    def forward(self, x):
        return x + self.mlpf(self.ln(x))


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([ClosureMLP(), ClosureMLP()])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def test_the_copy_s_function_calls_the_copy_s_layers():
    model = ClosureMLP()
    copied = copy_model(model)
    with torch.no_grad():
        copied.mlp.c_fc.weight.zero_()
        copied.mlp.c_fc.bias.zero_()
    x = torch.randn(2, 8)
    # GELU(0) = 0, so the copy's MLP adds only c_proj's bias; the original's does not
    expected = x + copied.mlp.c_proj.bias
    assert torch.allclose(copied.eval()(x), expected)
    assert not torch.allclose(model.eval()(x), expected)


def test_a_function_without_closure_and_the_original_are_left_alone():
    model = ClosureMLP()
    model.plain = len  # a builtin: nothing to rebind
    copied = copy_model(model)
    assert copied.plain is len
    assert copied.mlpf is not model.mlpf
    assert model.mlpf.__closure__[0].cell_contents is model.mlp


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_lambda_over_a_module_dict_converts_and_is_checked(style):
    model = Stack()
    conversion = nnconvert.convert(model, style, (torch.randn(3, 8),))
    report = conversion.check(train=True)
    assert any("gradients" in r.label for r in report.results)
    assert "mlpf" not in conversion.source
