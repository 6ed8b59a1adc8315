"""``torch.autograd.Variable(t)`` in traced code: old model files wrap tensors so.

The gram-ai capsule network (written for PyTorch 0.3) starts its routing
from ``Variable(torch.zeros(*priors.size()))`` and picks its classes from
``Variable(torch.eye(10))``. The legacy constructor refuses a proxy; it
returns ``t`` detached, which the tracer records as ``t.detach()``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.autograd import Variable

import nnconvert
from nnconvert.options import Style

from .helpers import checked_conversion


class Routing(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        priors = self.fc(x)
        logits = Variable(torch.zeros(*priors.size()))
        for _ in range(2):
            logits = logits + (priors * logits.softmax(-1)).sum(-1, keepdim=True)
        picked = Variable(torch.eye(4)).index_select(0, priors.argmax(-1))
        return priors * logits + picked


class LeafInForward(Routing):
    def forward(self, x):
        return self.fc(x) * Variable(torch.ones(4), requires_grad=True)


@pytest.mark.parametrize("style", list(Style))
def test_a_variable_of_a_traced_tensor_converts(style):
    conversion = checked_conversion(Routing, style, (torch.randn(3, 4),))
    if style is Style.FUNCTIONAL:
        assert "Variable" not in conversion.source
        assert ".detach()" in conversion.source


def test_a_variable_with_other_arguments_is_refused():
    with pytest.raises(nnconvert.ConversionError, match="torch.autograd.Variable"):
        nnconvert.convert(LeafInForward(), Style.FUNCTIONAL, (torch.randn(3, 4),))
