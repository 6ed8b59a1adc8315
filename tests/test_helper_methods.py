"""A helper method of the user's class that ``forward`` calls stays a method (issue 11).

``self.encode(x)`` keeps its name and parameters: a method of the class in
module and mixed style, a function over ``params`` in functional style,
called from ``forward``. Where that cannot be proved to compute the same,
the method is inlined as before (a literal argument, two calls with
different bodies).
"""

from __future__ import annotations

import ast
import functools
from typing import Optional

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace


class TinyVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 8)
        self.fc21 = nn.Linear(8, 3)
        self.fc22 = nn.Linear(8, 3)
        self.fc3 = nn.Linear(3, 8)
        self.fc4 = nn.Linear(8, 12)

    def encode(self, x):
        """The mean and log-variance of q(z | x)."""
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        # a fixed draw, so that the check compares like with like
        eps = torch.ones_like(std) * 0.1
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 12))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


class Twice(nn.Module):
    """One helper called twice on values of the same shape: one method."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def step(self, h):
        return torch.tanh(self.fc(h))

    def forward(self, x):
        return self.step(self.step(x))


class Scaler(nn.Module):
    """A helper given a literal: inlined, its body would hide the number."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def scaled(self, h, factor):
        return self.fc(h) * factor

    def forward(self, x):
        return self.scaled(x, 2.0)


def _converted(model: nn.Module, style: Style, *inputs) -> nnconvert.Conversion:
    torch.manual_seed(0)
    return nnconvert.convert(model, to=style, example_inputs=inputs)


def _checked(model: nn.Module, style: Style, *inputs) -> nnconvert.Conversion:
    """``model`` converted to ``style``, its output checked in eval and train mode."""
    conversion = _converted(model, style, *inputs)
    conversion.check(train=True)
    return conversion


def _converted_again(conversion: nnconvert.Conversion, *inputs) -> str:
    """The output loaded back and converted to its own style: the round trip's text."""
    name = type(conversion.model).__name__
    again = load_output(conversion, name)
    return nnconvert.convert(again, to=conversion.style, example_inputs=inputs).source


def _definitions(source: str, style: Style) -> set[str]:
    """The methods of the top class, or the top-level functions of a functional file."""
    tree = ast.parse(source)
    if style is Style.FUNCTIONAL:
        return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_vae_keeps_its_methods(style):
    torch.manual_seed(0)
    source = _checked(TinyVAE(), style, torch.randn(4, 12)).source
    assert {"encode", "reparameterize", "decode"} <= _definitions(source, style)
    if style is Style.FUNCTIONAL:
        assert "mu, logvar = encode(params, x.view(-1, 12))" in source
        assert "def decode(params: dict[str, Tensor], z: Tensor) -> Tensor:" in source
        assert "z = reparameterize(params, mu, logvar)" in source
    else:
        assert "mu, logvar = self.encode(x.view(-1, 12))" in source
        assert "def decode(self, z):" in source
        assert "z = self.reparameterize(mu, logvar)" in source
    # the docstring and the comment stand in their method
    assert '"""The mean and log-variance of q(z | x)."""' in source
    assert "# a fixed draw, so that the check compares like with like" in source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_kept_method_can_be_called_on_its_own(style):
    torch.manual_seed(0)
    model = TinyVAE().eval()
    conversion = _converted(model, style, torch.randn(4, 12))
    z = torch.randn(5, 3)
    expected = model.decode(z)
    loaded = conversion.load()
    if style is Style.FUNCTIONAL:
        namespace = conversion.namespace()
        got = namespace["decode"](dict(model.state_dict()), z)
    else:
        got = loaded.eval().decode(z)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_method_called_twice_is_written_once(style):
    torch.manual_seed(0)
    source = _checked(Twice(), style, torch.randn(2, 6)).source
    assert source.count("def step(") == 1
    call = "step(params, " if style is Style.FUNCTIONAL else "self.step("
    assert source.count(call) == 2


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_method_given_a_literal_is_inlined(style):
    source = _checked(Scaler(), style, torch.randn(2, 6)).source
    assert "scaled" not in _definitions(source, style)


@pytest.mark.parametrize("to", list(Style), ids=lambda s: s.value)
@pytest.mark.parametrize("via", list(Style), ids=lambda s: s.value)
def test_round_trips_keep_the_methods(via, to):
    """original -> via -> to is original -> to, byte for byte: the methods come back."""
    torch.manual_seed(0)
    model = TinyVAE()
    inputs = (torch.randn(4, 12),)
    direct = _converted(model, to, *inputs)
    again = nnconvert.convert(
        load_output(_converted(model, via, *inputs), "TinyVAE"),
        to=to,
        example_inputs=inputs,
    )
    assert again.source == direct.source


class Noisy(nn.Module):
    """Helpers that depend on the mode: one called only in training, one branching inside."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def jitter(self, h):
        return h * 0.5 + 1.0

    def head(self, h):
        if self.training:
            return torch.relu(self.fc(h))
        return torch.tanh(self.fc(h))

    def forward(self, x):
        if self.training:
            x = self.jitter(x) * 2.0
        return self.head(x)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_methods_that_depend_on_the_mode_compute_the_same(style):
    torch.manual_seed(0)
    conversion = _checked(Noisy(), style, torch.randn(2, 6))
    assert _converted_again(conversion, torch.randn(2, 6)) == conversion.source


class Flattening(nn.Module):
    """A helper named like the layer module style adds for what it does."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 2)

    def flatten(self, x):
        return torch.flatten(x, 1)

    def forward(self, x):
        return self.fc(self.flatten(x))


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_layer_module_style_adds_never_hides_a_method(style):
    source = _checked(Flattening(), style, torch.randn(2, 3, 4)).source
    assert "flatten" in _definitions(source, style)
    assert "self.flatten =" not in source


class TwoShapes(nn.Module):
    """One helper whose shape guards differ between its two calls."""

    def flat(self, h):
        features = 1
        for size in h.size()[1:]:
            features *= size
        return h.view(-1, features)

    def forward(self, x, y):
        return torch.cat([self.flat(x), self.flat(y)], 1)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_calls_that_trace_to_different_bodies_are_inlined(style):
    inputs = (torch.randn(2, 3, 4), torch.randn(2, 5))
    source = _checked(TwoShapes(), style, *inputs).source
    assert "flat" not in _definitions(source, style)


class Dropping(nn.Module):
    """A helper that follows the mode (dropout) and one that calls a block."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.encoder = nn.Sequential(nn.Linear(6, 6), nn.ReLU())

    def hidden(self, h):
        return F.dropout(self.fc(h), 0.0, self.training)

    def encode(self, h):
        return self.encoder(h)

    def forward(self, x):
        return self.encode(self.hidden(x))


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_helper_reading_the_mode_and_one_calling_a_block_are_kept(style):
    conversion = _checked(Dropping(), style, torch.randn(2, 6))
    definitions = _definitions(conversion.source, style)
    assert {"hidden", "encode"} <= definitions
    if style is Style.FUNCTIONAL:
        assert "hidden(params, x, training=training)" in conversion.source
        assert 'return encoder(sub_params(params, "encoder."), h)' in conversion.source
    else:
        assert "        return self.encoder(h)\n" in conversion.source
    assert _converted_again(conversion, torch.randn(2, 6)) == conversion.source


class NoisyBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return F.dropout(self.fc(x), 0.0, self.training)


class Scaled(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.scale = scale

    def forward(self, x):
        return self.fc(x) * self.scale


class Nothing(nn.Module):
    def forward(self, x):
        return x


class ThroughBlocks(nn.Module):
    """DINO's ``prepare_tokens``, CLIP's ``encode_image``: a helper that calls blocks.

    One block follows the mode, two share a function that takes their
    scale, one does nothing (functional style calls no function for it).
    (A functional file's blocks are told by their weights: these have some.)
    """

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.noisy = NoisyBlock()
        self.first = Scaled(2.0)
        self.second = Scaled(3.0)
        self.skip = Nothing()

    def encode(self, h):
        """Through the blocks."""
        h = self.noisy(self.fc(h))
        return self.skip(self.second(self.first(h)))

    def forward(self, x):
        return self.encode(x) + self.encode(x * 2)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_helper_calling_blocks_is_kept_with_its_name_and_parameters(style):
    conversion = _checked(ThroughBlocks(), style, torch.randn(2, 6))
    source = conversion.source
    assert source.count('"""Through the blocks."""') == 1
    if style is Style.FUNCTIONAL:
        assert (
            "def encode(params: dict[str, Tensor], h: Tensor, *, training: bool = False)"
            in source
        )
        flat = "".join(source.split())  # black wraps the one return statement
        assert flat.count("encode(params,x") == 2
        assert "encode(params,x*2,training=training)" in flat
        assert 'scaled(sub_params(params, "first."), h, scale=2.0)' in source
        assert "skip" not in source  # a block that does nothing is no call
    else:
        assert "    def encode(self, h):" in source
        assert source.count("self.encode(") == 2
        assert "self.second(" in source
    assert _converted_again(conversion, torch.randn(2, 6)) == source


class Stacked(nn.Module):
    def __init__(self):
        super().__init__()
        self.noisy = NoisyBlock()
        self.first = Scaled(2.0)
        self.second = Scaled(3.0)

    def encode(self, h):
        return self.second(self.first(self.noisy(h)))

    def forward(self, x):
        return torch.tanh(self.encode(x))


@pytest.mark.parametrize("to", list(Style), ids=lambda s: s.value)
@pytest.mark.parametrize("via", list(Style), ids=lambda s: s.value)
def test_round_trips_keep_a_helper_that_calls_blocks(via, to):
    """original -> via -> to is original -> to: the helper and its block calls come back.

    Through functional style too: ``Scaled``'s keyword is ``scale``, after its
    ``__init__``, and read back it names the class's parameter again.
    """
    inputs = (torch.randn(4, 6),)
    direct = _converted(Stacked(), to, *inputs)
    assert "encode" in direct.source
    first = _converted(Stacked(), via, *inputs)
    again = nnconvert.convert(
        load_output(first, "Stacked"), to=to, example_inputs=inputs
    )
    assert again.source == direct.source


class Head(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.proj = nn.Linear(width, width)

    def split(self, h):
        """Two halves of the last dimension."""
        return h.chunk(2, dim=-1)

    def forward(self, x):
        a, b = self.split(self.proj(x))
        return a * torch.sigmoid(b)


class TwoHeads(nn.Module):
    """Blocks of one class with a helper: one class (or function), one helper."""

    def __init__(self):
        super().__init__()
        self.first = Head(8)
        self.second = Head(4)

    def forward(self, x):
        return self.second(self.first(x))


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_blocks_helper_is_written_once_for_its_class(style):
    conversion = _checked(TwoHeads(), style, torch.randn(2, 8))
    source = conversion.source
    assert source.count("def split(") == 1
    call = (
        "a, b = split(params, " if style is Style.FUNCTIONAL else "a, b = self.split("
    )
    assert call in source
    assert '"""Two halves of the last dimension."""' in source
    assert _converted_again(conversion, torch.randn(2, 8)) == source


class CastingConv1d(nn.Conv1d):
    """Whisper's ``Conv1d``: overrides the library's ``_conv_forward``, which
    ``nn.Conv1d.forward`` calls; it is no helper of the user's ``forward``."""

    def _conv_forward(self, x, weight, bias):
        return super()._conv_forward(
            x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype)
        )


class AudioStem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = CastingConv1d(4, 8, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_an_override_the_library_calls_is_no_helper(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(AudioStem(), style, (torch.randn(2, 4, 6),))
    conversion.check(train=True)


class MaskedBlock(nn.Module):
    """OpenAI CLIP's ``ResidualAttentionBlock``: a helper method reads a mask kept
    on ``self`` outside the state_dict, which the output rebuilds from bytes."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2)
        self.attn_mask = torch.full((6, 6), float("-inf")).triu_(1)
        self.attn_mask[0, 0] = 0.123456789  # no short literal says it exactly

    def attention(self, x):
        return self.attn(x, x, x, need_weights=False, attn_mask=self.attn_mask)[0]

    def forward(self, x):
        return x + self.attention(x)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_helper_method_s_constants_get_their_helpers(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(MaskedBlock(), style, (torch.randn(6, 2, 8),))
    conversion.check(train=True)
    assert "def attention(" in conversion.source


class PostNormLayer(nn.Module):
    """DETR's ``TransformerEncoderLayer``, cut down: ``forward`` hands its inputs,
    optional ones too, to ``forward_post``, which adds ``pos`` only when given."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2)
        # normalised after the residual
        self.norm = nn.LayerNorm(8)

    def with_pos_embed(self, tensor, pos: Optional[Tensor]):
        return tensor if pos is None else tensor + pos

    def forward_post(
        self, src, src_mask: Optional[Tensor] = None, pos: Optional[Tensor] = None
    ):
        q = k = self.with_pos_embed(src, pos)
        src2 = self.attn(q, k, value=src, attn_mask=src_mask)[0]
        return self.norm(src + src2)

    def forward(self, src, src_mask=None, pos=None):
        return self.forward_post(src, src_mask, pos)


class LiteralNone(nn.Module):
    """A helper handed None as written (``self.post(x, None)``), not an input."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def post(self, x, bias: Optional[Tensor] = None):
        return self.fc(x) if bias is None else self.fc(x) + bias

    def forward(self, x):
        return self.post(x, None)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_helper_handed_optional_inputs_stays_a_method(style):
    torch.manual_seed(0)
    model = PostNormLayer().eval()
    src, pos = torch.randn(5, 2, 8), torch.randn(5, 2, 8)
    conversion = _checked(model, style, src, None, pos)
    source = conversion.source
    # the helper it calls too, as written: it never reads ``self``
    assert {"forward_post", "with_pos_embed"} <= _definitions(source, style)
    assert "return tensor if pos is None else tensor + pos" in source
    if style is Style.FUNCTIONAL:
        assert "return forward_post(params, src, src_mask, pos)" in source
        assert "q = with_pos_embed(params, src, pos)" in source
    else:
        assert "return self.forward_post(src, src_mask, pos)" in source
        assert "def forward_post(self, src, src_mask=None, pos=None):" in source
        assert "q = self.with_pos_embed(src, pos)" in source
    # the method refuses the mask it never saw, once
    assert source.count("if src_mask is not None:") == 1
    if style is Style.FUNCTIONAL:
        function, params = conversion.namespace()["forward_post"], model.state_dict()
        run = functools.partial(function, dict(params))
    else:
        run = conversion.load().eval().forward_post
    for given in (pos, None):  # the method on its own, with and without ``pos``
        torch.testing.assert_close(run(src, None, given), model(src, None, given))
    with pytest.raises(ValueError, match="traced with src_mask=None"):
        run(src, torch.zeros(5, 5), pos)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_helper_handed_optional_inputs_converts_again_to_the_same_text(style):
    torch.manual_seed(0)
    inputs = (torch.randn(5, 2, 8), None, torch.randn(5, 2, 8))
    conversion = _checked(PostNormLayer(), style, *inputs)
    assert _converted_again(conversion, *inputs) == conversion.source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_helper_handed_a_written_none_computes_the_same(style):
    """``None`` written at the call is no input to pass on: the call is inlined."""
    source = _checked(LiteralNone(), style, torch.randn(2, 6)).source
    assert "post" not in _definitions(source, style)


class Adding(nn.Module):
    """A helper calling another helper, as DINO's ``prepare_tokens`` calls
    ``interpolate_pos_encoding``, which returns ``self.pos_embed`` itself
    where the input's size needs no interpolation."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.pos_embed = nn.Parameter(torch.randn(1, 6))

    def position(self, x, n):
        if x.shape[0] == n:
            return self.pos_embed
        return self.pos_embed.expand(n, -1)

    def shift(self, h):
        return h + 1.0

    def prepare(self, x):
        n = x.shape[0]
        h = self.shift(self.fc(x))
        return h + self.position(h, n)

    def forward(self, x):
        return self.prepare(x)


class Scaling(Adding):
    """Another class whose helpers have the same names and other bodies."""

    def shift(self, h):
        return h * 2.0


class BothShifts(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Adding()
        self.second = Scaling()

    def forward(self, x):
        return self.second(self.first(x))


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_helpers_calling_helpers_are_kept_each_for_its_class(style):
    torch.manual_seed(0)
    inputs = (torch.randn(1, 6),)
    conversion = _checked(BothShifts(), style, *inputs)
    source = conversion.source
    assert source.count("h + 1.0") == 1 and source.count("h * 2.0") == 1
    if style is Style.FUNCTIONAL:
        # each block's ``prepare`` calls its own ``shift``
        assert "def shift(" in source and "def shift_2(" in source
        assert "shift(params, " in source and "shift_2(params, " in source
        # ``position``, the same in both classes, is one function
        assert source.count("def position") == 1
    else:
        assert "h = self.shift(self.fc(x))" in source
        assert "return h + self.position(h, n)" in source
        assert "return self.pos_embed" in source
    assert _converted_again(conversion, *inputs) == source


class OneLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = PostNormLayer()

    def forward(self, src, pos=None):
        return self.layer(src, None, pos)


def test_an_init_comment_on_what_only_a_helper_reads_is_said_in_its_function():
    """Functional style has no ``__init__``: the comment above the block's
    ``self.norm`` stands where ``norm``'s weights are read, in ``forward_post``."""
    torch.manual_seed(0)
    inputs = (torch.randn(5, 2, 8), torch.randn(5, 2, 8))
    source = _checked(OneLayer(), Style.FUNCTIONAL, *inputs).source
    tree = ast.parse(source)
    (helper,) = [n for n in tree.body if getattr(n, "name", "") == "forward_post"]
    text = ast.get_source_segment(source, helper)
    assert "# normalised after the residual" in text
    assert source.count("# normalised after the residual") == 1


class CrossAttention(nn.Module):
    """Whisper's ``MultiHeadAttention``, cut down: a helper returning ``out, qk``
    with ``qk`` None, unpacking the shapes of keys that come from ``x`` or ``xa``."""

    def __init__(self, n_state: int = 8, n_head: int = 2):
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.out = nn.Linear(n_state, n_state)

    def forward(self, x, xa=None, mask=None):
        q = self.query(x)
        k = self.key(x if xa is None else xa)
        wv, qk = self.qkv_attention(q, k, mask)
        return self.out(wv), qk

    def qkv_attention(self, q, k, mask=None):
        n_batch, n_ctx, n_state = q.shape
        q = q.view(*q.shape[:2], self.n_head, -1).permute(0, 2, 1, 3)
        k = k.view(*k.shape[:2], self.n_head, -1).permute(0, 2, 1, 3)
        a = F.scaled_dot_product_attention(
            q, k, k, is_causal=mask is not None and n_ctx > 1
        )
        out = a.permute(0, 2, 1, 3).flatten(start_dim=2)
        qk = None
        return out, qk


class CrossDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = CrossAttention()
        self.cross_attn = CrossAttention()
        self.register_buffer("mask", torch.ones(6, 6).triu_(1), persistent=False)

    def forward(self, x, xa):
        x = x + self.attn(x, mask=self.mask)[0]
        return x + self.cross_attn(x, xa)[0]


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_helper_returning_none_beside_a_tensor_stays_a_method(style):
    """Both traces of the block guard the keys' shape alike: one guard, and the
    helper that unpacks it stays a method returning ``out, None``."""
    torch.manual_seed(0)
    model = CrossDecoder().eval()
    x, xa = torch.randn(2, 6, 8), torch.randn(2, 5, 8)
    conversion = _checked(model, style, x, xa)
    source = conversion.source
    if style is Style.FUNCTIONAL:
        assert "def qkv_attention(\n" in source
    else:
        assert "def qkv_attention(self, q, k, mask=None):" in source
    assert "return out, None" in source
    call = (
        "qkv_attention(params, q, k, mask"
        if style is Style.FUNCTIONAL
        else "self.qkv_attention(q, k, mask)"
    )
    assert f"wv, _ = {call}" in source
    if style is Style.FUNCTIONAL:
        function = conversion.namespace()["qkv_attention"]
        run = functools.partial(function, {}, n_head=2)
    else:
        run = conversion.load().eval().attn.qkv_attention
    q, k = torch.randn(2, 6, 8), torch.randn(2, 5, 8)
    got, none = run(q, k)
    torch.testing.assert_close(got, model.attn.qkv_attention(q, k)[0])
    assert none is None
    assert _converted_again(conversion, x, xa) == conversion.source
