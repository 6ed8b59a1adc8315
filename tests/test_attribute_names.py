"""A plain attribute ``forward`` reads keeps its name in every style (issue 11).

nanoGPT writes ``k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)``;
fx sees only the 2, and the output printed ``k.view(B, T, 2, C // 2)``. The
source map says which literal the user wrote as ``self.n_head``
(:mod:`nnconvert.printer.attribute_reads`): class styles read it from
``self`` and set it in ``__init__`` (a constructor parameter where instances
differ), functional style takes it as a keyword of the block's function. The
literals written as numbers on the same line (``transpose(1, 2)``) stay numbers.

Each model is small and written the way people write attention: a config
object, a head count read twice on one line, a float scale, one class used
twice with equal values and once with different ones. Every conversion is
checked in eval and train mode, converted again to the same text, and
module -> functional -> module must give what module -> module gives.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output

STYLES = [Style.MODULE, Style.FUNCTIONAL, Style.MIXED]


@dataclass
class Config:
    n_embd: int = 8
    n_head: int = 2


class CausalSelfAttention(nn.Module):
    """nanoGPT's attention in small, its sizes read from a config object."""

    def __init__(self, config: Config):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.scale = (config.n_embd // config.n_head) ** -0.5

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Transformer(nn.Module):
    """The attention used once: its head count is the same in every instance."""

    def __init__(self, config: Config = Config()):
        super().__init__()
        self.ln = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)

    def forward(self, x):
        return x + self.attn(self.ln(x))


class Heads(nn.Module):
    """Splits the features into heads, mixes them, and joins them again.

    The constructor's argument is called ``heads``, the attribute
    ``n_head``: the output names it after what ``forward`` reads.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.mix = nn.Linear(width // heads, width // heads)
        self.n_head = heads

    def forward(self, x):
        B, T, C = x.shape
        h = self.mix(x.view(B, T, self.n_head, C // self.n_head))
        return h.transpose(1, 2).reshape(B, T, C)


class SameHeads(nn.Module):
    """One class used twice with equal values."""

    def __init__(self):
        super().__init__()
        self.first = Heads(8, 2)
        self.second = Heads(8, 2)

    def forward(self, x):
        return self.second(torch.relu(self.first(x)))


class OtherHeads(nn.Module):
    """One class used twice with different values."""

    def __init__(self):
        super().__init__()
        self.first = Heads(8, 2)
        self.second = Heads(8, 4)

    def forward(self, x):
        return self.second(torch.relu(self.first(x)))


class MappedHeads(nn.Module):
    """vit-pytorch splits q, k, v by a lambda that reads ``self.n_head``."""

    def __init__(self):
        super().__init__()
        self.qk = nn.Linear(8, 16)
        self.n_head = 2

    def forward(self, x):
        B, T, C = x.shape
        q, k = map(
            lambda t: t.view(B, T, self.n_head, C // self.n_head),
            self.qk(x).chunk(2, -1),
        )
        return (q * k).sum(-1)


class SplitByHelper(nn.Module):
    """A helper method reads the head count: the functional helper takes it on."""

    def __init__(self):
        super().__init__()
        self.qk = nn.Linear(8, 16)
        self.n_head = 2

    def split(self, t):
        B, T, C = t.shape
        return t.view(B, T, self.n_head, C // self.n_head)

    def forward(self, x):
        q, k = self.qk(x).chunk(2, -1)
        return (self.split(q) * self.split(k)).sum(-1)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = SplitByHelper()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(self.attn(x))


class StarredHeads(nn.Module):
    """Whisper unpacks the leading sizes: the head count is counted from the end."""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 8)
        self.n_head = 2

    def forward(self, x):
        q = self.q(x)
        return q.view(*q.shape[:2], self.n_head, -1).permute(0, 2, 1, 3)


class LocalHeads(nn.Module):
    """lucidrains' attention: ``b, n, _, h = *x.shape, self.heads``, then ``h=h``."""

    def __init__(self):
        super().__init__()
        self.qk = nn.Linear(8, 16)
        self.heads = 2

    def forward(self, x):
        b, n, _, h = *x.shape, self.heads
        q, k = map(lambda t: t.reshape(b, n, h, -1), self.qk(x).chunk(2, -1))
        return (q * k).sum(-1)


class DropoutAttention(nn.Module):
    """nanoGPT's flash path: the rate in train mode, none in eval mode."""

    def __init__(self, dropout=0.1):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.dropout = dropout

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, -1)
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0, is_causal=True
        )


class SameRates(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = DropoutAttention()
        self.b = DropoutAttention()

    def forward(self, x):
        return self.b(self.a(x))


class OtherRates(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = DropoutAttention(0.1)
        self.b = DropoutAttention(0.25)

    def forward(self, x):
        return self.b(self.a(x))


def _inputs() -> tuple[torch.Tensor, ...]:
    torch.manual_seed(1)
    return (torch.randn(2, 5, 8),)


def converted(model: nn.Module, style: Style) -> nnconvert.Conversion:
    """``model`` in ``style``: checked in eval and train mode, stable in its own style.

    Mixed style printed from the trace: a mixed source is otherwise kept as
    written, ``self.n_head`` and all.
    """
    torch.manual_seed(0)
    inputs = _inputs()
    conversion = nnconvert.convert(model.eval(), style, inputs, keep_source=False)
    conversion.check()
    conversion.check(train=True)
    again = nnconvert.convert(load_output(conversion), style, inputs)
    assert again.source == conversion.source
    return conversion


def _definition(source: str, name: str) -> str:
    """The text of the class or function ``name`` in ``source``."""
    node = next(
        n
        for n in ast.parse(source).body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == name
    )
    return ast.get_source_segment(source, node)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_the_head_count_keeps_its_name_and_the_literals_beside_it_stay(style):
    source = converted(Transformer(), style).source
    if style is Style.FUNCTIONAL:
        text = _definition(source, "causal_self_attention")
        assert "n_embd: int = 8" in text and "n_head: int = 2" in text
        assert "scale: float = 0.5" in text
        reads = "k.view(B, T, n_head, C // n_head).transpose(1, 2)"
        assert reads in text and "n_embd, dim=2" in text
        assert "* scale" in text
    else:
        text = _definition(source, "CausalSelfAttention")
        assert "self.n_head = 2" in text and "self.n_embd = 8" in text
        assert "self.scale = 0.5" in text
        reads = "k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)"
        assert reads in text and ".split(self.n_embd, dim=2)" in text
        assert "* self.scale" in text
    # the numbers the source wrote as numbers are numbers still
    assert "transpose(-2, -1)" in text and "dim=-1" in text


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_class_used_twice_with_equal_values_reads_its_attribute(style):
    source = converted(SameHeads(), style).source
    if style is Style.FUNCTIONAL:
        text = _definition(source, "heads")
        assert "n_head: int = 2" in text
        assert "C // n_head" in text
        assert "n_head=" not in _definition(source, "same_heads")  # the default
    else:
        text = _definition(source, "Heads")
        assert "self.n_head = 2" in text
        assert "x.view(B, T, self.n_head, C // self.n_head)" in text


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_value_that_differs_is_a_parameter_named_after_the_attribute(style):
    source = converted(OtherHeads(), style).source
    if style is Style.FUNCTIONAL:
        text = _definition(source, "heads")
        assert "*, n_head: int" in text and "C // n_head" in text
        caller = _definition(source, "other_heads")
        assert "n_head=2" in caller and "n_head=4" in caller
    else:
        text = _definition(source, "Heads")
        assert "def __init__(self, in_features, n_head):" in text
        assert "self.n_head = n_head" in text
        assert "x.view(B, T, self.n_head, C // self.n_head)" in text
        assert "Heads(4, 2)" in source and "Heads(2, 4)" in source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_function_inside_forward_reads_the_attribute_of_its_self(style):
    source = converted(MappedHeads(), style).source
    name = "n_head" if style is Style.FUNCTIONAL else "self.n_head"
    assert f"view(B, T, {name}, C // {name})" in source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_helper_method_reads_the_attribute(style):
    source = converted(Model(), style).source
    if style is Style.FUNCTIONAL:
        assert (
            "def split(params: dict[str, Tensor], t: Tensor, *, n_head: int)" in source
        )
        assert "t.view(B, T, n_head, C // n_head)" in source
        assert "n_head: int = 2" in _definition(source, "split_by_helper")
    else:
        text = _definition(source, "SplitByHelper")
        assert "self.n_head = 2" in text
        assert "t.view(B, T, self.n_head, C // self.n_head)" in text


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_an_argument_after_a_starred_one_is_counted_from_the_end(style):
    source = converted(StarredHeads(), style).source
    name = "n_head" if style is Style.FUNCTIONAL else "self.n_head"
    assert f"view(*q.shape[:2], {name}, -1).permute(0, 2, 1, 3)" in source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_the_rate_chosen_by_the_mode_keeps_its_name(style):
    """``self.dropout if self.training else 0`` stays so; the numbers are the instances'."""
    name = "dropout" if style is Style.FUNCTIONAL else "self.dropout"
    training = "training" if style is Style.FUNCTIONAL else "self.training"
    for model in (SameRates(), OtherRates()):
        source = converted(model, style).source
        assert f"dropout_p={name} if {training} else 0," in source
        definitions = [n for n in ast.parse(source).body if hasattr(n, "name")]
        attention = (
            "dropout_attention" if style is Style.FUNCTIONAL else "DropoutAttention"
        )
        # one definition for both blocks, whatever their rates
        assert [n.name for n in definitions].count(attention) == 1
        assert not any(n.name.startswith(attention + "2") for n in definitions)
    if style is Style.FUNCTIONAL:
        assert "dropout=0.25" in source
    else:
        assert "DropoutAttention(0.25)" in source


@pytest.mark.parametrize(
    "model",
    [Transformer, SameHeads, OtherHeads, Model, StarredHeads, SameRates, OtherRates],
)
def test_module_to_functional_to_module_keeps_the_names(model):
    inputs = _inputs()
    torch.manual_seed(0)
    original = model().eval()
    # printed from the trace: the functional file holds no construction to keep
    direct = nnconvert.convert(original, Style.MODULE, inputs, keep_source=False)
    direct = direct.source
    functional = nnconvert.convert(original, Style.FUNCTIONAL, inputs)
    again = nnconvert.convert(load_output(functional), Style.MODULE, inputs)
    assert "self.n_head" in direct or "self.dropout" in direct
    assert again.source == direct
    again.check(train=True)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_local_bound_once_to_the_attribute_reads_the_attribute(style):
    source = converted(LocalHeads(), style).source
    name = "heads" if style is Style.FUNCTIONAL else "self.heads"
    # the ``map`` of the lambda as written (:mod:`nnconvert.printer.mapped_values`)
    assert f"q, k = map(lambda t: t.reshape(b, n, {name}, -1), (q, k))" in source


class RMSNorm(nn.Module):
    """denoising-diffusion-pytorch's: the scale multiplies after a weight does."""

    def __init__(self, dim):
        super().__init__()
        self.scale = dim**0.5
        self.g = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return torch.nn.functional.normalize(x, dim=-1) * self.g * self.scale


class Normed(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = RMSNorm(8)
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(self.norm(x))


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_product_beside_a_weights_reads_the_attribute(style):
    """Two products on the line, one by a weight: the literal is the other's."""
    source = converted(Normed(), style).source
    if style is Style.FUNCTIONAL:
        text = _definition(source, "rms_norm")
        assert 'params["g"] * scale' in text and "value" not in text
    else:
        text = _definition(source, "RMSNorm")
        assert "self.scale = 2.8284271247461903" in text
        assert "* self.g * self.scale" in text
