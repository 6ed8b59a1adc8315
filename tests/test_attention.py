"""``nn.MultiheadAttention`` as ``F.multi_head_attention_forward``: beyond the table's examples.

The table-generated tests (``tests/test_layers.py``) call the layer with three
different tensors. Here: self-attention (one tensor as query, key and value --
what transformers do, and what the layer's fused eval kernel needs), the
``batch_first`` transposes, masks and flags passed by the caller, unbatched
input, and ``init_params()`` of a model holding the layer.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import assert_same_construction, functional, load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

CALL = "F.multi_head_attention_forward("


class EncoderBlock(nn.Module):
    """Pre-norm self-attention, as torchvision's ViT writes it."""

    def __init__(self, dim: int = 16, heads: int = 4, batch_first: bool = True):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=batch_first)

    def forward(self, x):
        y = self.norm(x)
        y, _ = self.attn(y, y, y, need_weights=False)
        return x + y


def _call_text(source: str) -> str:
    start = source.index(CALL)
    return source[start : source.index("\n    )", start)]


def test_self_attention_transposes_once_and_keeps_query_is_key():
    inputs = (torch.randn(2, 5, 16),)
    conversion = nnconvert.convert(EncoderBlock(), Style.FUNCTIONAL, inputs)
    source = conversion.source
    call = _call_text(source)
    # forward transposes once when query is key is value, so that the function
    # still sees one tensor (it then projects q, k and v in one matmul)
    assert source.count(".transpose(1, 0)") == 2, source  # the input, the output
    pattern = r"\(\s*(\w+),\s*\1,\s*\1,\s*embed_dim_to_check=16,\s*num_heads=4,"
    assert re.search(pattern, call), call  # the flags by name
    assert "need_weights=False" in call
    assert "training" not in call  # no dropout: the flag changes nothing
    assert 'params["attn.out_proj.weight"]' in call
    # eval (the layer's fused kernel, without grad) and train (its slow path)
    report = conversion.check(train=True)
    assert any("gradients" in r.label for r in report.results)


def test_class_styles_keep_the_layer_and_the_call():
    inputs = (torch.randn(2, 5, 16),)
    for style in (Style.MODULE, Style.MIXED):
        conversion = nnconvert.convert(EncoderBlock(), style, inputs)
        source = conversion.source
        assert "nn.MultiheadAttention(16, 4, batch_first=True)" in source
        assert re.search(r"self\.attn\((\w+), \1, \1, need_weights=False\)", source)
        assert CALL not in source and "transpose" not in source
        conversion.check(train=True)


def test_unbatched_input_is_not_transposed():
    """``forward`` transposes only 3-D inputs, whatever ``batch_first`` says."""
    inputs = (torch.randn(5, 16),)
    conversion = nnconvert.convert(EncoderBlock(), Style.FUNCTIONAL, inputs)
    assert CALL in conversion.source
    assert "transpose" not in conversion.source
    conversion.check(train=True)


class Masked(nn.Module):
    """Both masks, per-head weights, and both outputs returned."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)

    def forward(self, x, memory, padding, mask):
        out, weights = self.attn(
            x,
            memory,
            memory,
            key_padding_mask=padding,
            attn_mask=mask,
            average_attn_weights=False,
        )
        return out * 2, weights.sum(1)


def test_masks_and_flags_are_passed_on():
    padding = torch.zeros(2, 3, dtype=torch.bool)
    padding[:, -1] = True
    mask = torch.tensor([[False, True, False]] * 4)
    inputs = (torch.randn(2, 4, 8), torch.randn(2, 3, 8), padding, mask)
    conversion = nnconvert.convert(Masked(), Style.FUNCTIONAL, inputs)
    call = _call_text(conversion.source)
    for text in (
        "key_padding_mask=padding",
        "attn_mask=mask",
        "average_attn_weights=False",
        "training=training",  # dropout=0.5
    ):
        assert text in call, call
    assert "need_weights" not in call
    assert conversion.source.count(".transpose(1, 0)") == 3  # x, memory, output
    conversion.check(train=True)  # same dropout draws as the layer's


class CausalPositional(nn.Module):
    """A causal mask with ``is_causal``, and ``need_weights`` passed positionally."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2)

    def forward(self, x, mask):
        return self.attn(x, x, x, None, False, mask, is_causal=True)[0]


def test_positional_and_causal_arguments_are_passed_on_by_name():
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    inputs = (torch.randn(5, 2, 8), mask)
    conversion = nnconvert.convert(CausalPositional(), Style.FUNCTIONAL, inputs)
    call = _call_text(conversion.source)
    assert "need_weights=False" in call and "is_causal=True" in call
    assert "attn_mask=mask" in call and "key_padding_mask" not in call
    assert "transpose" not in conversion.source  # batch_first=False
    conversion.check(train=True)


def test_class_styles_name_the_arguments_after_the_inputs():
    """As the functional call does: a functional input's call reads the same."""
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    inputs = (torch.randn(5, 2, 8), mask)
    for style in (Style.MODULE, Style.MIXED):
        conversion = nnconvert.convert(CausalPositional(), style, inputs)
        expected = (
            "self.attn(x, x, x, need_weights=False, attn_mask=mask, is_causal=True)"
        )
        assert expected in conversion.source, conversion.source
        conversion.check(train=True)


def test_init_params_draws_out_proj_first():
    """``out_proj`` (an ``nn.Linear``) draws when built, before ``in_proj_weight``."""
    namespace = functional(EncoderBlock(), (torch.randn(2, 5, 16),))
    source = namespace["__source__"]
    assert "Warning" not in source
    assert_same_construction(EncoderBlock, namespace["init_params"], reordered=True)
    assert list(namespace["init_params"]()) == [
        "norm.weight",
        "norm.bias",
        "attn.out_proj.weight",
        "attn.out_proj.bias",
        "attn.in_proj_weight",
        "attn.in_proj_bias",
    ]


def test_a_functional_file_becomes_the_layer_again():
    """functional -> module/mixed gives what module -> module/mixed gives."""
    inputs = (torch.randn(2, 5, 16),)
    model = EncoderBlock()
    wrapper = load_output(nnconvert.convert(model, Style.FUNCTIONAL, inputs))
    for style in (Style.MODULE, Style.MIXED):
        again = nnconvert.convert(wrapper, style, inputs)
        assert again.source == nnconvert.convert(model, style, inputs).source
        again.check(train=True)
