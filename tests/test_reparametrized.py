"""A layer whose weight a hook or parametrization recomputes is refused, naming it and the way out.

locuslab's TCN wraps its convolutions in ``torch.nn.utils.weight_norm``:
traced, the layer call reads one fixed ``weight``, and the output computed
another function (the check caught it). The conversion now stops before
tracing, with the layer's path and the call that removes the
reparametrisation.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations, spectral_norm, weight_norm

import nnconvert
from nnconvert.errors import InputError


class Wrapped(nn.Module):
    def __init__(self, wrap):
        super().__init__()
        self.head = nn.Linear(3, 3)
        self.conv = wrap(nn.Conv1d(3, 4, 2))

    def forward(self, x):
        return self.conv(self.head(x.transpose(1, 2)).transpose(1, 2))


@pytest.mark.parametrize(
    "wrap, message",
    [
        (
            weight_norm,
            r"layer 'conv' \(Conv1d\) .* WeightNorm hook .*remove_weight_norm",
        ),
        (spectral_norm, r"layer 'conv' \(Conv1d\) .* SpectralNorm hook"),
        (
            parametrizations.weight_norm,
            r"layer 'conv' \(ParametrizedConv1d\) .*remove_parametrizations",
        ),
    ],
    ids=["weight_norm", "spectral_norm", "parametrizations"],
)
@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_a_reparametrized_layer_is_refused_by_name(wrap, message, style):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # weight_norm's deprecation
        model = Wrapped(wrap)
    with pytest.raises(InputError, match=message):
        nnconvert.convert(model, style, (torch.randn(2, 3, 5),))


def test_with_the_reparametrization_removed_the_model_converts():
    """What the message says to do works: the same function, converted and checked."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = Wrapped(weight_norm)
    x = torch.randn(2, 3, 5)
    before = model(x)
    torch.nn.utils.remove_weight_norm(model.conv)
    torch.testing.assert_close(model(x), before)
    nnconvert.convert(model, "functional", (x,)).check(train=True)
