"""A loss layer the model holds and calls in ``forward`` (minDiffusion's DDPM).

``self.criterion = nn.MSELoss()`` and ``return self.criterion(noise,
prediction)``: the layer converts in every style, as ``F.mse_loss`` in
functional style. The table's examples cannot give class indices as
targets, so cross entropy over integer labels is tested here; a loss with
a class-weight tensor is refused, naming it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style


class DDPM(nn.Module):
    """The pattern of minDiffusion's DDPM: a small net and a criterion it holds."""

    def __init__(self, criterion: nn.Module = nn.MSELoss()):
        super().__init__()
        self.eps_model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4))
        self.criterion = criterion

    def forward(self, x, noise):
        return self.criterion(noise, self.eps_model(x))


class Classifier(nn.Module):
    def __init__(self, criterion: nn.Module):
        super().__init__()
        self.head = nn.Linear(4, 3)
        self.criterion = criterion

    def forward(self, x, labels):
        return self.criterion(self.head(x), labels)


def _converted(model: nn.Module, style: Style, inputs: tuple) -> str:
    conversion = nnconvert.convert(model, style, inputs)
    conversion.check()
    conversion.check(train=True)
    return conversion.source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_held_criterion_converts(style):
    torch.manual_seed(0)
    source = _converted(DDPM(), style, (torch.randn(3, 4), torch.randn(3, 4)))
    if style is Style.FUNCTIONAL:
        assert "F.mse_loss(" in source
    else:  # the class kept as written: criterion: nn.Module = nn.MSELoss()
        assert "self.criterion(noise, " in source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_cross_entropy_over_class_indices(style):
    torch.manual_seed(0)
    model = Classifier(nn.CrossEntropyLoss(ignore_index=1, label_smoothing=0.1))
    inputs = (torch.randn(5, 4), torch.tensor([0, 2, 1, 0, 1]))
    source = _converted(model, style, inputs)
    if style is Style.FUNCTIONAL:
        assert "F.cross_entropy(" in source
        assert "ignore_index=1" in source and "label_smoothing=0.1" in source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_class_weight_tensor_is_refused(style):
    model = Classifier(nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0])))
    inputs = (torch.randn(5, 4), torch.tensor([0, 2, 1, 0, 1]))
    with pytest.raises(nnconvert.ConversionError, match="'weight' tensor"):
        nnconvert.convert(model, style, inputs)
