"""Calls of libraries known to be pure merge like torch's own: einops.

vit-pytorch's attention takes an optional ``context`` (``context =
default(context, x)``), so its instances trace once with and once without
it, and the two traces are merged. Every step after that line is the same
computation on another value, and merges into one call over the chosen
value, as long as each step is pure: einops' ``rearrange`` is, where a call
of an unknown package might work by side effect and stays on its side (the
whole attention was written twice, once under ``if context is not None:``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nnconvert.opspecs.impurity import is_library
from nnconvert.options import Style

from .helpers import checked_conversion

einops = pytest.importorskip("einops")

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace


def default(value, otherwise):
    return value if value is not None else otherwise


class Attention(nn.Module):
    def __init__(self, dim=16, heads=2, dim_head=8):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim_head * heads, bias=False)
        self.to_kv = nn.Linear(dim, dim_head * heads * 2, bias=False)
        self.dropout = nn.Dropout(0.1)
        self.to_out = nn.Linear(dim_head * heads, dim)

    def forward(self, x, context=None):
        x = self.norm(x)
        context = default(context, x)
        qkv = (self.to_q(x), *self.to_kv(context).chunk(2, dim=-1))
        q, k, v = (
            einops.rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in qkv
        )
        attn = self.dropout((q @ k.transpose(-1, -2)).softmax(dim=-1))
        out = einops.rearrange(attn @ v, "b h n d -> b n (h d)")
        return self.to_out(out)


class CrossAttention(nn.Module):
    """One attention over itself, one over a context: both traces of the class."""

    def __init__(self):
        super().__init__()
        self.itself = Attention()
        self.across = Attention()

    def forward(self, x, context):
        return self.itself(x) + self.across(x, context=context)


def test_einops_is_a_pure_library():
    assert is_library(einops.rearrange) and is_library(einops.repeat)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_the_steps_after_an_optional_input_are_written_once(style):
    inputs = (torch.randn(2, 5, 16), torch.randn(2, 3, 16))
    source = checked_conversion(CrossAttention, style, inputs).source
    assert source.count('"b h n d -> b n (h d)"') == 1
    assert source.count("dropout(") == 1
    assert source.count("if context is not None") <= 1
    # the choice goes on under the input's name, as ``default(context, x)`` did
    assert "context = context if context is not None else " in source
