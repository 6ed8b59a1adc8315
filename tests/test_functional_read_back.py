"""Functional files read back as the model they were written from: byte-stable round trips.

Small models with the shapes of the real-world suite's lucidrains models
that converted to functional style and back gave another text (SPEC
invariant 5): a head ``nn.Sequential(LayerNorm, Reduce, Linear)`` whose
parameter-free einops layer sits between blocks (NesT), two heads of other
widths sharing one function with a keyword (CrossViT), one class of two
shapes with different inputs (CaiT's ``LayerScale``), a block keyword named
like a keyword of a call it does not fill (CvT's ``dim`` beside
``.chunk(2, dim=1)``), a parameter-free ``nn.Sequential`` built before a
layer with weights (MaxViT's ``attend``), a block size derived from another
(``heads = dim // dim_head``), an optional input its function guards
(Perceiver's ``mask``), a layer its function never runs (SepViT's stage
with one window), and a user's function kept in another layout than
black's. Each converts, checks in eval and train mode, and reads back to
the same text; the test also says what the text keeps.
"""

from __future__ import annotations

import ast
import importlib.util

import torch
import torch.nn.functional as F
from einops.layers.torch import Reduce
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_benchmark, load_output, recorded_conversion


class ChannelNorm(nn.Module):
    """A LayerNorm of the user's own: a block, not a layer."""

    def __init__(self, dim):
        super().__init__()
        self.g = nn.Parameter(torch.ones(dim))
        self.b = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, unbiased=False, keepdim=True)
        return (x - mean) / (var + 1e-5).sqrt() * self.g + self.b


class PooledHead(nn.Module):
    """NesT's head: the einops layer between two members with weights."""

    def __init__(self, dim=8, num_classes=10):
        super().__init__()
        self.mlp_head = nn.Sequential(
            ChannelNorm(dim),
            Reduce("b n d -> b d", "mean"),
            nn.Linear(dim, num_classes),
        )

    def forward(self, x):
        return self.mlp_head(x)


class TwoHeads(nn.Module):
    """CrossViT's heads: one function for both, taking the norm's width."""

    def __init__(self, small=8, large=12, num_classes=10):
        super().__init__()
        self.small = nn.Linear(small, large)
        self.sm_head = nn.Sequential(nn.LayerNorm(small), nn.Linear(small, num_classes))
        self.lg_head = nn.Sequential(nn.LayerNorm(large), nn.Linear(large, num_classes))

    def forward(self, x):
        return self.sm_head(x) + self.lg_head(self.small(x))


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.to_qk = nn.Linear(dim, dim * 2)

    def forward(self, x, context=None):
        context = x if context is None else context
        q, k = self.to_qk(context).chunk(2, dim=-1)
        return q * k


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.Linear(dim, dim)

    def forward(self, x):
        return self.net(x)


class LayerScale(nn.Module):
    """CaiT's: around attention (two inputs) or a feed-forward (one)."""

    def __init__(self, dim, fn):
        super().__init__()
        self.scale = nn.Parameter(torch.full((1, 1, dim), 0.1))
        self.fn = fn

    def forward(self, x, **kwargs):
        return self.fn(x, **kwargs) * self.scale


class ScaledLayers(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.attn = LayerScale(dim, Attention(dim))
        self.ff = LayerScale(dim, FeedForward(dim))

    def forward(self, x):
        return self.ff(self.attn(x, context=x))


class Project(nn.Module):
    """CvT's depthwise convolution: its forward reads ``dim_in`` (``groups=dim_in``)."""

    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.dim_in = dim_in
        self.proj = nn.Linear(dim_in, dim_out)

    def forward(self, x):
        return self.proj(x.reshape(-1, self.dim_in)).reshape(*x.shape[:-1], -1)


class ChunkedAttention(nn.Module):
    """CvT's: ``dim`` handed on as ``dim_in``, and a ``dim=1`` that is not it."""

    def __init__(self, dim, heads=2):
        super().__init__()
        self.heads = heads
        self.to_q = Project(dim_in=dim, dim_out=dim)
        self.to_kv = Project(dim_in=dim, dim_out=dim * 2)

    def forward(self, x):
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=-1)
        q = q.reshape(*q.shape[:-1], self.heads, -1)
        k = k.reshape(*k.shape[:-1], self.heads, -1)
        return (q * k).flatten(-2) + v


class Stages(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(
            [ChunkedAttention(8), Project(8, 16), ChunkedAttention(16, heads=4)]
        )

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class WindowAttention(nn.Module):
    """MaxViT's: ``attend`` (no weights) built between layers with weights."""

    def __init__(self, dim, dim_head=4):
        super().__init__()
        self.heads = dim // dim_head
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.attend = nn.Sequential(nn.Softmax(dim=-1), nn.Dropout(0.1))
        self.to_out = nn.Sequential(nn.Linear(dim, dim, bias=False), nn.Dropout(0.1))
        self.rel_pos_bias = nn.Linear(4, self.heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        sim = q @ k.transpose(-2, -1)
        bias = self.rel_pos_bias.weight.sum(1)
        attn = self.attend(sim + bias[:, None, None])
        out = (attn @ v).transpose(1, 2).reshape(b, n, -1)
        return self.norm(self.to_out(out))


class WindowStages(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(
            [WindowAttention(8), nn.Linear(8, 16), WindowAttention(16)]
            + [nn.Linear(16, 8), WindowAttention(8), nn.Linear(8, 16)]
            + [WindowAttention(16), nn.Linear(16, 8), WindowAttention(8)]
        )

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class MaskedBlock(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        x = self.norm(x)
        if mask is not None:
            x = x.masked_fill(~mask[..., None], 0.0)
        return self.proj(x)


class Masked(nn.Module):
    """Perceiver's optional ``mask``, handed to a block that tests it."""

    def __init__(self, dim=8):
        super().__init__()
        self.block = MaskedBlock(dim)

    def forward(self, data, mask=None):
        return self.block(data, mask=mask)


class UnusedNormBlock(nn.Module):
    """SepViT's stage with one window: its function never runs the norm it holds."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)
        self.scale = nn.Parameter(torch.ones(8))

    def forward(self, x):
        return self.fc(x) * self.scale


class UnusedNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([UnusedNormBlock() for _ in range(2)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def tokens():
    return (torch.randn(2, 5, 8),)


def functional(build) -> nnconvert.Conversion:
    """``build()`` (constructors recorded) in functional style, checked, read back alike."""
    conversion = recorded_conversion(build, Style.FUNCTIONAL, tokens())
    conversion.check()
    assert_read_back_alike(conversion)
    return conversion


def assert_read_back_alike(conversion: nnconvert.Conversion) -> None:
    again = nnconvert.convert(
        load_output(conversion), conversion.style, conversion.example_inputs
    )
    assert again.source == conversion.source


def function(source: str, name: str) -> ast.FunctionDef:
    tree = ast.parse(source)
    return next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name
    )


def test_a_leaf_between_blocks_reads_back_as_its_sequential_member():
    conversion = functional(PooledHead)
    read = load_output(conversion).module
    assert isinstance(read.mlp_head, nn.Sequential)
    assert isinstance(read.mlp_head[1], Reduce)
    # the root's num_classes comes back with the Sequential it sizes
    init = function(conversion.source, "init_params")
    assert [a.arg for a in init.args.args] == ["num_classes"]


def test_a_sequential_function_taking_a_keyword_reads_back_as_sequentials():
    conversion = functional(TwoHeads)
    read = load_output(conversion).module
    assert type(read.sm_head) is nn.Sequential and type(read.lg_head) is nn.Sequential
    assert read.lg_head[0].normalized_shape == (12,)
    assert "normalized_shape" in ast.unparse(function(conversion.source, "sm_head"))
    init = function(conversion.source, "init_params")
    assert "num_classes" in [a.arg for a in init.args.args]


def test_two_shapes_of_a_class_keep_its_name_read_back():
    """The second shape is named after the block it wraps, in both styles, read back too."""
    conversion = functional(ScaledLayers)
    assert "layer_scale_feed_forward" in {
        n.name for n in ast.parse(conversion.source).body if hasattr(n, "name")
    }
    read = load_output(conversion).module
    assert type(read.attn).__name__ == type(read.ff).__name__ == "LayerScale"
    assert type(read.attn) is not type(read.ff)  # other inputs: other classes
    module = nnconvert.convert(read, Style.MODULE, tokens(), keep_source=False)
    assert "class LayerScale(" in module.source
    assert "class LayerScaleFeedForward(" in module.source
    direct = nnconvert.convert(
        ScaledLayers(), Style.MODULE, tokens(), keep_source=False
    )
    assert "class LayerScaleFeedForward(" in direct.source


def test_a_keyword_is_the_users_beside_a_call_keyword_of_its_name():
    conversion = functional(Stages)
    attention = function(conversion.source, "chunked_attention")
    assert [a.arg for a in attention.args.kwonlyargs][:2] == ["dim", "heads"]
    assert "dim_in=dim" in ast.unparse(attention)


def test_a_block_without_weights_reads_back_where_it_was_built():
    conversion = functional(WindowStages)
    read = load_output(conversion).module
    assert list(read.layers.get_submodule("0")._modules) == [
        "to_qkv",
        "attend",
        "to_out",
        "rel_pos_bias",
        "norm",
    ]
    # the block init function derives heads from dim, as __init__ does
    init = ast.unparse(function(conversion.source, "window_attention_params"))
    assert "dim // 4" in init


def test_an_optional_input_reads_back_with_its_layers():
    conversion = functional(Masked)
    read = load_output(conversion).module
    assert type(read.block.norm) is nn.LayerNorm
    assert type(read.block.proj) is nn.Linear


#: A user's function written as black would not write it, and a model calling it.
KEPT_HELPER = """\
import torch
from torch import nn


def scaled(x):
    y = torch.mul(x, 2.)
    return torch.cat([y, y], dim = -1)


class KeptHelper(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        return scaled(self.proj(x))
"""


def test_a_kept_function_is_laid_out_as_black_lays_it_out(tmp_path):
    path = tmp_path / "kept_helper.py"
    path.write_text(KEPT_HELPER)
    spec = importlib.util.spec_from_file_location("kept_helper", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for style in Style:
        conversion = recorded_conversion(module.KeptHelper, style, tokens())
        assert "y = torch.mul(x, 2.0)" in conversion.source
        assert "torch.cat([y, y], dim=-1)" in conversion.source
        assert_read_back_alike(conversion)


def test_root_parameters_dropped_leave_no_trailing_comma():
    from nnconvert.printer.program import format_source
    from nnconvert.root_promises import without_parameters

    source = (
        "def init_params(\n    num_classes: int = 10,\n    depth: int = 2,\n"
        "    channels: int = 3,\n) -> dict:\n    return {'a': depth}\n"
    )
    edited = without_parameters(source, "init_params", ["depth"])
    assert edited is not None
    assert ",\n)" not in edited  # black lays the shorter signature out anew
    assert format_source(edited).startswith(
        "def init_params(num_classes: int = 10, channels: int = 3) -> dict:"
    )
    assert "{'a': 2}" in edited


def test_a_layer_its_function_never_runs_is_no_build_of_the_model_read_back():
    conversion = functional(UnusedNorm)
    # the norm's tensors are written as its row writes them, and the
    # docstring counts the one tensor __init__ computes, read back too
    assert 'params[f"layers.{i}.norm.weight"] = torch.ones(8)' in conversion.source
    assert "The 2 tensors below that the model's own" in conversion.source


def test_a_wrapper_is_named_after_the_class_it_wraps_only_where_that_differs():
    """Perceiver: ``pre_norm`` around cross attention, ``pre_norm_feed_forward``, and
    ``pre_norm_2`` around latent attention, another shape of ``Attention``.

    Read back, that shape (``attention_2``, of other inputs) is a class of
    its own named ``Attention``: by name the class the first wrapper holds,
    so it tells nothing apart and the wrapper stays ``pre_norm_2``.
    """
    realworld = load_benchmark("realworld")
    entry = next(e for e in realworld.ENTRIES if e.name == "lucidrains_perceiver")
    module = realworld.import_model_file(realworld.SUITE / entry.file)
    model = realworld.build_model(entry, module).eval()
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, entry.inputs())
    names = [n.name for n in ast.parse(conversion.source).body if hasattr(n, "name")]
    assert {"pre_norm", "pre_norm_feed_forward", "pre_norm_2"} <= set(names)
    again = nnconvert.convert(load_output(conversion), Style.FUNCTIONAL, entry.inputs())
    assert again.source == conversion.source
