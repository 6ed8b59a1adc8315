"""Embeddings beyond the table's examples: ``max_norm`` renormalises the weight in place.

``tests/test_layers.py`` converts every example of the ``nn.Embedding`` row
(``padding_idx``, ``max_norm`` with ``norm_type``, ``scale_grad_by_freq``,
``sparse``) in every style. Here: that the renormalisation is a side effect
kept where the original makes it (a read of the weight before the lookup sees
the old rows, one after it the new ones; a lookup nobody reads still runs),
and that the train check compares the weights after the step, so a rewrite
that skipped the renormalisation would fail it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.check import check_equivalent, function_candidate
from nnconvert.errors import CheckError
from nnconvert.options import Style

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace


class RenormOrder(nn.Module):
    """Reads the weight before and after lookups that renormalise it."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4, max_norm=1.0)

    def forward(self, x):
        before = self.emb.weight.sum()
        y = self.emb(x)
        self.emb(x.flip(0))  # unused: still renormalises the rows it looks up
        return y.sum(-1) + before + self.emb.weight.sum()


def _renorm_model() -> RenormOrder:
    torch.manual_seed(0)
    model = RenormOrder()
    with torch.no_grad():
        model.emb.weight.mul_(3)  # rows longer than max_norm
    return model


def _tokens() -> tuple[torch.Tensor]:
    return (torch.tensor([[1, 2, 3], [4, 5, 6]]),)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_max_norm_renormalises_where_the_original_does(style):
    conversion = nnconvert.convert(_renorm_model(), style, _tokens())
    report = conversion.check(train=True)
    assert "train, parameters after the step" in [r.label for r in report.results]
    if style is Style.FUNCTIONAL:
        lines = conversion.source.splitlines()
        lookup = '    F.embedding(x.flip(0), params["emb.weight"], max_norm=1.0)'
        assert lookup in lines  # a statement of its own: nobody reads it


def test_a_rewrite_that_does_not_renormalise_fails_the_check():
    """The same outputs, but the weight left as it was: the train check sees it."""

    def no_renorm(params, x):
        return F.embedding(x, params["weight"].clone(), max_norm=1.0)  # a copy

    model = nn.Embedding(10, 4, max_norm=1.0)
    with torch.no_grad():
        model.weight.mul_(3)
    inputs = _tokens()
    check_equivalent(model, lambda m: function_candidate(no_renorm, m), inputs)
    with pytest.raises(CheckError, match="train parameters"):
        check_equivalent(
            model, lambda m: function_candidate(no_renorm, m), inputs, train=True
        )


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_sparse_gradients_are_compared(style):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 4, sparse=True), nn.Linear(4, 2))
    conversion = nnconvert.convert(model, style, _tokens())
    report = conversion.check(train=True)
    gradients = [r for r in report.results if "gradients" in r.label]
    assert gradients and gradients[0].max_abs == 0.0


class Bags(nn.Module):
    """Bags given by offsets into one flat input, weighted per sample, as ``torchtext``'s classifiers do."""

    def __init__(self, include_last_offset=False, padding_idx=None):
        super().__init__()
        self.weighted = nn.EmbeddingBag(
            20,
            6,
            mode="sum",
            include_last_offset=include_last_offset,
            padding_idx=padding_idx,
        )
        self.pooled = nn.EmbeddingBag(
            20, 6, mode="max", include_last_offset=include_last_offset
        )
        self.fc = nn.Linear(12, 3)

    def forward(self, text, offsets, weights):
        a = self.weighted(text, offsets, per_sample_weights=weights)
        b = self.pooled(text, offsets)
        return self.fc(torch.cat([a, b], 1))


def _bag_inputs(include_last_offset: bool) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    text = torch.randint(0, 20, (9,))
    offsets = torch.tensor([0, 2, 6] + ([9] if include_last_offset else []))
    return text, offsets, torch.rand(9)


BAG_CASES = [
    pytest.param({}, id="offsets"),
    pytest.param({"include_last_offset": True}, id="include_last_offset"),
    pytest.param({"padding_idx": 0}, id="padding_idx"),
]


@pytest.mark.parametrize("options", BAG_CASES)
@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_embedding_bag_with_offsets_and_weights(style, options):
    torch.manual_seed(0)
    model = Bags(**options)
    inputs = _bag_inputs(options.get("include_last_offset", False))
    if "padding_idx" in options:
        inputs = (inputs[0].masked_fill(inputs[0] < 4, 0), *inputs[1:])
    conversion = nnconvert.convert(model, style, inputs)
    conversion.check(train=True)
    if style is Style.FUNCTIONAL:
        assert "F.embedding_bag(" in conversion.source
        assert "per_sample_weights=weights" in conversion.source
    else:
        assert 'nn.EmbeddingBag(20, 6, mode="max"' in conversion.source


@pytest.mark.parametrize("options", BAG_CASES)
@pytest.mark.parametrize("to", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_embedding_bag_lifts_back(to, options):
    """``F.embedding_bag`` over a functional file's weights becomes the layer again."""
    from .helpers import load_output

    torch.manual_seed(0)
    model = Bags(**options)
    inputs = _bag_inputs(options.get("include_last_offset", False))
    functional = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    again = nnconvert.convert(load_output(functional), to, inputs)
    again.check(train=True)
    assert again.source == nnconvert.convert(model, to, inputs).source


class FrozenPositions(nn.Module):
    """Whisper's encoder: a position table built frozen (``requires_grad_(False)``)."""

    def __init__(self):
        super().__init__()
        self.positions = nn.Embedding(5, 4)
        self.positions.requires_grad_(False)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x + self.positions(torch.arange(x.shape[1])))


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_frozen_parameter_has_its_gradient_compared(style):
    """The check asks every parameter of both sides for a gradient, a frozen one too."""
    model = FrozenPositions()
    report = nnconvert.convert(model, style, (torch.randn(2, 5, 4),)).check(train=True)
    gradients = report.results[-1]
    assert gradients.label == "train, gradients of every parameter and input"
    assert "output['positions.weight']" in [d.what for d in gradients.differences]
    assert not model.positions.weight.requires_grad  # the model itself is left alone
