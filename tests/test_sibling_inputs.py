"""Instances of one class called with different optional inputs: one definition, every path.

Whisper's ``MultiHeadAttention`` is called with ``mask`` (the decoder's
self-attention), with ``xa`` (its cross-attention) and with neither (the
encoder). Each instance is traced on the optional inputs any instance of its
class was given (``traced_inputs.borrowed_from_siblings``), with and without
every subset of them (``hierarchy.traced``), so the three instances share one
merged graph: one class, one function. Each test checks the output against
the original, and calls it on the paths the model itself never takes.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import defined_names

STYLES = list(Style)


class Attention(nn.Module):
    """Whisper's: keys from ``xa`` where given, causal where a ``mask`` is given."""

    def __init__(self, dim: int = 8, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x, xa=None, mask=None):
        q = self.query(x)
        k = self.key(x if xa is None else xa)
        v = self.value(x if xa is None else xa)
        n_ctx = q.shape[1]
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        causal = mask is not None and n_ctx > 1
        a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out(a.transpose(1, 2).flatten(2))


class AdditiveAttention(Attention):
    """A mask added to the scores: it fits the decoder's keys, not the encoder's."""

    def forward(self, x, xa=None, mask=None):
        q = self.query(x)
        k = self.key(x if xa is None else xa)
        v = self.value(x if xa is None else xa)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        if mask is not None:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            a = F.scaled_dot_product_attention(q, k, v)
        return self.out(a.transpose(1, 2).flatten(2))


class EncoderDecoder(nn.Module):
    """Three attention instances: given nothing, a mask, keys from elsewhere."""

    def __init__(self, dim: int = 8, attention: type[nn.Module] = Attention):
        super().__init__()
        self.encoder = attention(dim)
        self.decoder = attention(dim)
        self.cross = attention(dim)

    def forward(self, audio, text):
        audio = self.encoder(audio)
        n = text.shape[1]
        mask = torch.full((n, n), float("-inf")).triu(1)
        text = text + self.decoder(text, mask=mask)
        return text + self.cross(text, audio)


def _inputs():
    return torch.randn(2, 6, 8), torch.randn(2, 4, 8)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_instances_given_different_optional_inputs_are_one_definition(style):
    model = EncoderDecoder()
    conversion = nnconvert.convert(model, style, _inputs())
    conversion.check(train=True)
    names = defined_names(conversion.source)
    wanted = "attention" if style is Style.FUNCTIONAL else "Attention"
    assert wanted in names
    assert not [n for n in names if re.fullmatch(rf"{wanted}_?\d+", n)], names


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_the_joined_definition_takes_every_path_of_the_original(style):
    """Called directly: with both inputs, with either, with neither; the model takes three."""
    torch.manual_seed(0)
    model = EncoderDecoder().eval()
    conversion = nnconvert.convert(model, style, _inputs())
    x, xa, mask = torch.randn(2, 4, 8), torch.randn(2, 6, 8), torch.ones(1)
    if style is Style.FUNCTIONAL:
        prefix = "cross."
        weights = {
            k[len(prefix) :]: v
            for k, v in model.state_dict().items()
            if k.startswith(prefix)
        }
        attention = conversion.namespace()["attention"]

        def converted(*args, **kwargs):
            return attention(weights, *args, **kwargs)

    else:
        converted = conversion.load().eval().cross
    for given in [{}, {"xa": xa}, {"mask": mask}, {"xa": xa, "mask": mask}]:
        torch.testing.assert_close(converted(x, **given), model.cross(x, **given))


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_sibling_input_an_instance_cannot_take_is_not_borrowed(style):
    """The decoder's additive mask does not fit the encoder's keys: the output is still right."""
    model = EncoderDecoder(attention=AdditiveAttention)
    nnconvert.convert(model, style, _inputs()).check(train=True)


def test_an_instance_given_two_optional_inputs_keeps_the_path_without_both():
    """Traced with ``xa`` and ``mask``: the path without either is traced too.

    Before, the trace without ``mask`` kept ``xa`` given, so the output
    called without both read its keys from ``xa``, None.
    """
    torch.manual_seed(0)
    model = Attention().eval()
    x, xa = torch.randn(2, 4, 8), torch.randn(2, 6, 8)
    conversion = nnconvert.convert(model, Style.MODULE, (x, xa, torch.ones(1)))
    conversion.check()
    torch.testing.assert_close(conversion.load().eval()(x), model(x))
