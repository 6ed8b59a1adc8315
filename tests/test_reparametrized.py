"""A layer whose weight a hook or parametrization recomputes converts, or is refused by name.

locuslab's TCN wraps its convolutions in ``torch.nn.utils.weight_norm``:
traced, the layer call reads one fixed ``weight``, and an output that did not
know computed another function (the check caught it). A ``weight_norm`` hook
on a table layer now converts (``tests/test_weight_norm.py``); any other
reparametrisation (``spectral_norm``, ``torch.nn.utils.parametrizations``,
``weight_norm`` on a layer nnconvert has no row for or on a tensor its row
does not read as one weight) stops the conversion before tracing, with the
layer's path and the call that removes the reparametrisation. So does any
other hook on a layer (StyleGAN's ``EqualLR`` pre-hook), which the trace
would not record.
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
        (spectral_norm, r"layer 'conv' \(Conv1d\) .* SpectralNorm hook"),
        (
            parametrizations.weight_norm,
            r"layer 'conv' \(ParametrizedConv1d\) .*remove_parametrizations",
        ),
        (
            lambda layer: weight_norm(Scaled(layer)),
            r"layer 'conv' \(Scaled\) .* WeightNorm hook .*remove_weight_norm",
        ),
        (
            lambda layer: weight_norm(Conv1d(3, 4, 2)),
            r"layer 'conv' \(Conv1d\) .* WeightNorm hook .*remove_weight_norm",
        ),
    ],
    ids=["spectral_norm", "parametrizations", "user_module", "layer_subclass"],
)
@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_a_reparametrized_layer_is_refused_by_name(wrap, message, style):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # weight_norm's deprecation
        model = Wrapped(wrap)
    with pytest.raises(InputError, match=message):
        nnconvert.convert(model, style, (torch.randn(2, 3, 5),))


class Scaled(nn.Module):
    """A user's module holding a weight it reads in its own ``forward``: no row."""

    def __init__(self, layer):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(4, 3, 1))
        self.layer = layer

    def forward(self, x):
        return self.layer(x) * self.weight.sum()


class Conv1d(nn.Conv1d):
    """A subclass of a table layer, which may read its weight as it likes."""


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_weight_norm_on_a_table_layer_converts_and_computes_the_same(style):
    """What was refused: the same model, converted and checked in eval and train mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = Wrapped(weight_norm)
        conversion = nnconvert.convert(model, style, (torch.randn(2, 3, 5),))
    report = conversion.check(train=True)
    assert any("gradients" in r.label for r in report.results), report
    written = (
        "weight_norm(nn.Conv1d(3, 4, 2))"
        if style != "functional"
        else ("torch._weight_norm(")
    )
    assert written in conversion.source


def test_weight_norm_on_a_recurrent_weight_is_refused():
    """``nn.LSTM`` passes its weights as one list, read by a getter: not one argument."""

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = weight_norm(nn.LSTM(3, 4), name="weight_hh_l0")

        def forward(self, x):
            return self.lstm(x)[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Recurrent()
    with pytest.raises(InputError, match=r"layer 'lstm' \(LSTM\) .* WeightNorm"):
        nnconvert.convert(model, "module", (torch.randn(5, 2, 3),))


def test_with_the_reparametrization_removed_the_model_converts():
    """What the message says to do works: the same function, converted and checked."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = Wrapped(spectral_norm)
    x = torch.randn(2, 3, 5)
    model.eval()
    before = model(x)
    torch.nn.utils.remove_spectral_norm(model.conv)
    torch.testing.assert_close(model(x), before)
    nnconvert.convert(model, "functional", (x,)).check(train=True)


class EqualLR:
    """StyleGAN's equalized learning rate: ``weight`` from ``weight_orig`` before every call."""

    def __call__(self, module, inputs):
        module.weight = module.weight_orig * 2


def _equal_lr(layer: nn.Module) -> nn.Module:
    weight = layer.weight
    del layer._parameters["weight"]
    layer.register_parameter("weight_orig", nn.Parameter(weight.data))
    layer.register_forward_pre_hook(EqualLR())
    return layer


def _output_hook(layer: nn.Module) -> nn.Module:
    layer.register_forward_hook(lambda module, inputs, output: output * 3)
    return layer


def _gradient_hook(layer: nn.Module) -> nn.Module:
    layer.register_full_backward_hook(lambda module, grad_in, grad_out: None)
    return layer


@pytest.mark.parametrize(
    "wrap, message",
    [
        (_equal_lr, r"layer 'conv' \(Conv1d\) runs a forward pre-hook \(EqualLR\)"),
        (_output_hook, r"layer 'conv' \(Conv1d\) runs a forward hook .* after every"),
        (_gradient_hook, r"layer 'conv' \(Conv1d\) runs a backward hook"),
        (
            lambda layer: nn.LazyConv1d(4, 2),
            r"layer 'conv' \(LazyConv1d\) is a lazy layer .* run the model once",
        ),
    ],
    ids=["forward_pre_hook", "forward_hook", "backward_hook", "lazy"],
)
@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_a_layer_with_a_hook_is_refused_by_name(wrap, message, style):
    """Traced, the layer's call is recorded without its hook: the output would differ."""
    model = Wrapped(wrap)
    with pytest.raises(InputError, match=message):
        nnconvert.convert(model, style, (torch.randn(2, 3, 5),))


def test_a_lazy_layer_run_once_converts():
    model = Wrapped(lambda layer: nn.LazyConv1d(4, 2))
    model(torch.randn(2, 3, 5))
    conversion = nnconvert.convert(model, "functional", (torch.randn(2, 3, 5),))
    conversion.check(train=True)
