"""Tensors outside the state_dict: written exactly, whatever their size, or refused.

A non-persistent buffer, a plain tensor attribute or a constant ``forward``
makes is written into the output as code that rebuilds it
(:mod:`nnconvert.tensor_values`): a literal when small, else its packed
bytes. The value written is the value the model has, bit for bit, for every
dtype and layout; a spelling that would change it is never written. A tensor
``forward`` caches on ``self`` is rebuilt from the input instead.
"""

from __future__ import annotations

import math
import sys

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert import tensor_values
from nnconvert.opspecs.helpers import UNPACK_TENSOR
from nnconvert.options import Style
from nnconvert.printer.classes import tensor_value
from nnconvert.printer.constructors import render_value
from nnconvert.printer.expressions import ExpressionPrinter
from nnconvert.tensor_values import MAX_LITERAL, same_bits, tensor_call, unpack_tensor

from .helpers import load_sample, SAMPLES

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

DTYPES = [
    torch.float32,
    torch.float64,
    torch.int64,
    torch.bool,
    torch.float16,
    torch.bfloat16,
    torch.int8,
    torch.uint8,
    torch.int32,
    torch.complex64,
]


def some_tensor(dtype: torch.dtype, numel: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(numel)
    if dtype is torch.bool:
        return torch.rand(numel, generator=generator) > 0.5
    if dtype.is_floating_point or dtype.is_complex:
        return (torch.randn(numel, generator=generator) * 1e3).to(dtype)
    return torch.randint(0, 100, (numel,), generator=generator).to(dtype)


def written(tensor: torch.Tensor) -> tuple[str, torch.Tensor]:
    """The source text class styles write for ``tensor``, and what that text evaluates to."""
    text = render_value(tensor_value("t", tensor), ExpressionPrinter(Style.MODULE))
    namespace = {"torch": torch, "unpack_tensor": unpack_tensor}
    return text, eval(text, namespace)


@pytest.mark.parametrize("numel", [1, MAX_LITERAL, MAX_LITERAL + 1, 38416])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_dtype_round_trips_bit_for_bit(dtype, numel):
    tensor = some_tensor(dtype, numel)
    text, rebuilt = written(tensor)
    assert same_bits(rebuilt, tensor), text[:200]
    literal = numel <= MAX_LITERAL and not dtype.is_complex
    assert text.startswith("torch.tensor(" if literal else "unpack_tensor("), text[:80]


@pytest.mark.parametrize(
    "make",
    [
        lambda t: t.t(),  # transposed
        lambda t: t[::2, 1::3],  # stepped slices
        lambda t: t[:1].expand(40, -1),  # stride 0
        lambda t: t.reshape(2, 20, 10).permute(2, 0, 1),
    ],
    ids=["transposed", "stepped", "expanded", "permuted"],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool], ids=str)
def test_non_contiguous_tensors_keep_their_values(dtype, make):
    tensor = make(some_tensor(dtype, 400).reshape(40, 10))
    assert not tensor.is_contiguous()
    _, rebuilt = written(tensor)
    assert same_bits(rebuilt, tensor)
    assert torch.equal(rebuilt, tensor)


def test_special_floats_keep_their_bits():
    signed_zero = torch.tensor([0.0, -0.0, math.inf, -math.inf])
    text, rebuilt = written(signed_zero)
    assert text == 'torch.tensor([0.0, -0.0, float("inf"), -float("inf")])'
    assert same_bits(rebuilt, signed_zero)
    # a NaN with a payload: float("nan") would change its bits, so the bytes are written
    payload = torch.tensor([1.0, 2.0]).view(torch.int32)
    payload[1] = 0x7FC00123
    nan = payload.view(torch.float32)
    text, rebuilt = written(nan)
    assert text.startswith("unpack_tensor(")
    assert same_bits(rebuilt, nan)


def test_zero_dim_and_empty_tensors():
    for tensor in (
        torch.tensor(0.5),
        torch.tensor(3),
        torch.empty(0, 3, dtype=torch.int64),
    ):
        _, rebuilt = written(tensor)
        assert same_bits(rebuilt, tensor)


def test_same_bits_tells_what_equality_does_not():
    assert not same_bits(torch.tensor([0.0]), torch.tensor([-0.0]))
    assert not same_bits(torch.tensor([1]), torch.tensor([1], dtype=torch.int32))
    assert not same_bits(torch.zeros(2, 3), torch.zeros(3, 2))
    nan = torch.tensor([math.nan])
    assert same_bits(nan, nan.clone())


def test_a_packing_that_changes_the_value_is_refused(monkeypatch):
    """If the bytes did not rebuild the value, nothing would be written."""
    original = tensor_values.pack_tensor

    def corrupting(tensor):
        data, dtype, shape = original(tensor + 1)
        return data, dtype, shape

    monkeypatch.setattr(tensor_values, "pack_tensor", corrupting)
    with pytest.raises(nnconvert.ConversionError, match="cannot be written exactly"):
        tensor_call(torch.arange(100.0), "table")


def test_a_literal_that_changes_the_value_falls_back_to_the_bytes(monkeypatch):
    """A literal with the wrong dtype is caught; the bytes are written instead."""
    monkeypatch.setattr(tensor_values, "inferred_dtype", lambda value: value.dtype)
    tensor = torch.tensor([1, 2, 3], dtype=torch.int16)  # literal would infer int64
    function, args, kwargs = tensor_call(tensor, "small")
    assert function is unpack_tensor
    assert same_bits(function(*args, **kwargs), tensor)


def test_a_tensor_that_requires_grad_is_refused():
    with pytest.raises(nnconvert.ConversionError, match="requires grad"):
        tensor_call(torch.randn(3, requires_grad=True), "w")


def test_packed_text_is_written_in_short_lines():
    text, _ = written(torch.randn(1000))
    data = text.split("(", 1)[1].rsplit(", torch.float32", 1)[0]
    chunks = data.split(" ")
    assert len(chunks) > 1 and all(len(c) <= 66 for c in chunks)


def test_the_helper_prints_as_its_own_source():
    namespace: dict = {}
    exec(
        "import base64, zlib, torch\nfrom torch import Tensor\n"
        + UNPACK_TENSOR.definition,
        namespace,
    )
    tensor = torch.randn(5, 7)
    assert same_bits(
        namespace["unpack_tensor"](*tensor_values.pack_tensor(tensor)), tensor
    )


# -- models -------------------------------------------------------------------


def posemb_sincos_2d(h, w, dim, temperature: int = 10000, dtype=torch.float32):
    """lucidrains/vit-pytorch's simple_vit position embedding, as published."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    omega = torch.arange(dim // 4) / (dim // 4 - 1)
    omega = 1.0 / (temperature**omega)
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    pe = torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1)
    return pe.type(dtype)


class SimpleViTEmbedding(nn.Module):
    """A plain tensor attribute, a float table, and tables of other dtypes."""

    def __init__(self, dim=32):
        super().__init__()
        self.to_patch = nn.Linear(48, dim)
        self.pos_embedding = posemb_sincos_2d(h=4, w=4, dim=dim)  # plain attribute
        self.register_buffer("keep", torch.rand(16, dim) > 0.3, persistent=False)
        self.register_buffer("order", torch.randperm(16), persistent=False)
        self.register_buffer(
            "scale", torch.linspace(0.5, 1.5, dim, dtype=torch.float64)
        )

    def forward(self, x):
        x = self.to_patch(x) + self.pos_embedding
        x = x.masked_fill(self.keep, 0.0)[:, self.order]
        return x * self.scale.float()


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_attributes_outside_the_state_dict_convert_in_every_style(style):
    torch.manual_seed(0)
    model = SimpleViTEmbedding()
    conversion = nnconvert.convert(model, style, (torch.randn(2, 16, 48),))
    conversion.check(train=True)
    source = conversion.source
    assert source.count("def unpack_tensor(") == 1
    if style is Style.FUNCTIONAL:
        assert '"pos_embedding"' not in source and '"keep"' not in source
        return
    flat = "".join(source.split())
    assert "self.pos_embedding=unpack_tensor(" in flat
    assert 'self.register_buffer("keep",unpack_tensor(' in flat
    assert 'self.register_buffer("order",torch.tensor([' in flat
    loaded = conversion.load()
    assert "pos_embedding" not in dict(
        loaded.named_buffers()
    )  # still a plain attribute
    assert set(loaded.state_dict()) == set(model.state_dict())
    for name in ("pos_embedding", "keep", "order"):
        assert same_bits(getattr(loaded, name), getattr(model, name))


class ForwardConstant(nn.Module):
    def forward(self, x):
        return x + torch.tensor([float(i) ** 0.5 for i in range(100)])


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_large_constant_forward_makes_is_written_exactly(style):
    conversion = nnconvert.convert(ForwardConstant(), style, (torch.randn(2, 100),))
    conversion.check(train=True)
    assert "unpack_tensor(" in conversion.source
    assert "_tensor_constant" not in conversion.source


# -- a mask forward caches on self --------------------------------------------


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
@pytest.mark.parametrize("ran_before", [None, 5], ids=["fresh", "ran-at-5"])
def test_a_mask_cached_on_self_is_built_from_the_input(style, ran_before):
    """No frozen mask: the check's second size (8 tokens, not 7) needs an 8x8 one."""
    loaded, inputs = load_sample(SAMPLES / "cached_mask.py")
    model = loaded.module
    if ran_before is not None:
        model(torch.randn(ran_before, 2, 32))
    cached = model.src_mask
    conversion = nnconvert.convert(model, style, inputs)
    report = conversion.check(train=True)
    assert any("batch 8" in r.label for r in report.results)
    assert "unpack_tensor" not in conversion.source
    assert "torch.tensor(" not in conversion.source
    assert "len(src)" in conversion.source
    assert model.src_mask is cached  # the user's model is left as it was


def test_len_is_only_patched_while_tracing():
    loaded, inputs = load_sample(SAMPLES / "cached_mask.py")
    model = loaded.module
    namespace = sys.modules[type(model).__module__].__dict__
    nnconvert.convert(model, Style.MODULE, inputs)
    assert "len" not in namespace


class RecastsItsMask(nn.Module):
    """OpenAI CLIP's ``ResidualAttentionBlock``: ``forward`` rebinds the mask on ``self``.

    ``self.attn_mask = self.attn_mask.to(dtype=x.dtype, device=x.device)``
    stores a traced value on the module while it is traced; the attribute
    must be the tensor again for the graph that reads it.
    """

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2)
        self.attn_mask = torch.full((4, 4), float("-inf")).triu_(1)

    def forward(self, x):
        self.attn_mask = self.attn_mask.to(dtype=x.dtype, device=x.device)
        return self.attn(x, x, x, need_weights=False, attn_mask=self.attn_mask)[0]


class RecastingStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(RecastsItsMask(), RecastsItsMask())

    def forward(self, x):
        return self.blocks(x)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_tensor_forward_rebinds_on_self_is_read_back_as_the_tensor(style):
    torch.manual_seed(0)
    model = RecastingStack()
    mask = model.blocks[0].attn_mask
    conversion = nnconvert.convert(model, style, (torch.randn(4, 2, 8),))
    conversion.check(train=True)
    assert model.blocks[0].attn_mask is mask  # the user's model is left as it was


def test_sparse_tensors_compare_by_their_values_and_layout():
    """Whisper's ``all_heads.to_sparse()`` buffer: no strided bytes to compare."""
    dense = torch.zeros(4, 2, dtype=torch.bool)
    dense[2:] = True
    assert same_bits(dense.to_sparse(), dense.clone().to_sparse())
    other = dense.clone()
    other[0, 0] = True
    assert not same_bits(dense.to_sparse(), other.to_sparse())
    assert not same_bits(dense.to_sparse(), dense)  # a layout of its own
