"""Calls of the user's own blocks under a branch: joined when the block is pure.

Whisper's attention computes ``scaled_dot_product_attention(q, k, v,
is_causal=mask is not None and n_ctx > 1)`` and then ``self.out(...)``, a
``Linear`` subclass of its own. Traced with and without ``mask``, the two
traces differ only in ``is_causal``; the merge joins them into one call over
a chosen argument when every call after it may be joined too. A block that
computes only its result (:mod:`nnconvert.block_purity`) may; one that draws
random numbers must run on its own side, once, where its trace ran it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import nnconvert
from nnconvert.block_purity import _pure_layer, computes_only_its_result
from nnconvert.options import Style
from nnconvert.trace import trace

from .helpers import load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)


class Projection(nn.Linear):
    """Whisper's ``Linear``: the weights cast to the input's dtype, nothing else."""

    def forward(self, x):
        return F.linear(x, self.weight.to(x.dtype), self.bias.to(x.dtype))


class Head(nn.Module):
    """A pure block around a pure block: pure through both."""

    def __init__(self):
        super().__init__()
        self.proj = Projection(8, 8)

    def forward(self, x):
        return torch.tanh(self.proj(x))


class NoisyHead(nn.Module):
    """Pure but for its dropout, which draws in train mode."""

    def __init__(self):
        super().__init__()
        self.proj = Projection(8, 8)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.proj(x))


class FunctionalNoise(nn.Module):
    """Draws through ``F.dropout``, which no name marks as in place."""

    def __init__(self):
        super().__init__()
        self.proj = Projection(8, 8)

    def forward(self, x):
        return F.dropout(self.proj(x), 0.5, self.training)


class Attention(nn.Module):
    """Whisper's ``qkv_attention``: the mask only decides ``is_causal``."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.out = Head()

    def forward(self, x, mask=None):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        a = F.scaled_dot_product_attention(
            q, k, v, is_causal=mask is not None and x.shape[1] > 1
        )
        return self.out(a)


class NoisyAttention(Attention):
    def __init__(self):
        super().__init__()
        self.out = NoisyHead()


class FunctionalNoiseAttention(Attention):
    def __init__(self):
        super().__init__()
        self.out = FunctionalNoise()


def _inputs():
    return torch.randn(2, 5, 8), torch.zeros(5, 5)


def _convert(model_class: type, style: Style) -> nnconvert.Conversion:
    torch.manual_seed(0)
    conversion = nnconvert.convert(model_class(), style, _inputs())
    report = conversion.check(train=True)
    labels = " ".join(result.label for result in report.results)
    assert "without mask" in labels and "train, outputs" in labels
    return conversion


def _calls_of_attention(source: str) -> int:
    return source.count("scaled_dot_product_attention(")


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_pure_block_under_a_branch_is_called_once(style):
    """The two traces differ in ``is_causal`` alone: one attention, one ``out``."""
    conversion = _convert(Attention, style)
    assert _calls_of_attention(conversion.source) == 1
    again = nnconvert.convert(load_output(conversion), style, _inputs())
    again.check(train=True)
    assert again.source == conversion.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_flag_only_one_side_computes_is_a_conditional_argument(style):
    """``choose(mask is not None, T > 1, False)`` reads as one argument, no ``if``."""
    source = _convert(Attention, style).source
    assert "is_causal=x.shape[1] > 1 if mask is not None else False" in source
    assert "else:" not in source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("model_class", [NoisyAttention, FunctionalNoiseAttention])
def test_a_block_that_draws_stays_on_its_own_side(model_class, style):
    """Each side draws its dropout mask once, where its trace drew it: two calls."""
    conversion = _convert(model_class, style)
    assert _calls_of_attention(conversion.source) == 2


class Normalised(nn.Module):
    """Updates its running statistics in train mode."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(8)

    def forward(self, x):
        return self.norm(x)


class DropPath(nn.Module):
    """timm's stochastic depth: ``bernoulli_`` draws."""

    def forward(self, x):
        mask = x.new_empty(x.shape[0], 1).bernoulli_(0.5)
        return x * mask


def _keep_user_blocks(module: nn.Module) -> bool:
    return isinstance(module, (Projection, NoisyHead, Head))


def _pure(module: nn.Module, known: tuple[type, ...] = ()) -> bool:
    """What :func:`computes_only_its_result` says of ``module``'s eval and train traces."""
    example = (torch.randn(2, 8),)
    graphs = [
        trace(module.eval(), example, _keep_user_blocks),
        trace(module.train(), example, _keep_user_blocks),
    ]
    return computes_only_its_result(graphs, lambda block: isinstance(block, known))


def test_a_block_is_pure_when_the_blocks_it_calls_are():
    assert _pure(Projection(8, 8))
    assert _pure(Head(), known=(Projection,))
    assert not _pure(Head())  # a block not known to be pure is not


@pytest.mark.parametrize(
    "block",
    [NoisyHead, FunctionalNoise, Normalised, DropPath],
    ids=lambda c: c.__name__,
)
def test_a_block_that_draws_or_updates_buffers_is_not_pure(block):
    assert not _pure(block(), known=(Projection,))


def causal_mask(x: torch.Tensor) -> torch.Tensor | None:
    """Hugging Face's mask builders: None when run, built while traced (an ``fx.Proxy``)."""
    if not isinstance(x, torch.fx.Proxy):
        return None
    length = x.shape[1]
    return torch.ones(length, length).tril()


class MaskedNoise(nn.Module):
    """Pure without a mask; with one, it draws random numbers too."""

    def __init__(self):
        super().__init__()
        self.proj = Projection(8, 8)

    def forward(self, x, mask=None):
        x = self.proj(x)
        if mask is not None:
            # a draw that leaves the value as it is (the model's run, without
            # a mask, makes none): only the order of draws can tell
            x = x + 0 * torch.rand_like(x) * mask[:, :1]
        return x


class ScaledDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = MaskedNoise()

    def forward(self, x, scale=None):
        mask = causal_mask(x)
        if scale is None:
            return self.layer(x * 2, mask)
        return self.layer(x * scale, mask)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_block_traced_again_with_what_draws_is_no_longer_joined(style):
    """The model's run gives ``layer`` no mask (pure); the traced parent hands it one.

    Traced again with it, ``layer`` draws: the parent's merge, made when it
    looked pure, is made again, and its two calls stay on their own sides.
    """
    torch.manual_seed(0)
    inputs = (torch.randn(2, 5, 8), torch.tensor(3.0))
    conversion = nnconvert.convert(ScaledDecoder(), style, inputs)
    conversion.check(train=True)
    source = conversion.source
    root = source[
        source.index("ScaledDecoder" if "class " in source else "scaled_decoder(") :
    ]
    assert root.count("self.layer(") + root.count('"layer."') == 2


class ScaledNoise(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = NoisyHead()

    def forward(self, x, scale=None):
        if scale is None:
            return self.layer(x * 2)
        return self.layer(x * scale)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_each_side_of_an_if_assigns_the_name_after_it(style):
    """Not ``out = self.layer(x * 2); x = out`` on the side traced first.

    Both sides read ``x``; on each side's own path it dies there, so each
    side's call takes it over, as a chain does.
    """
    torch.manual_seed(0)
    inputs = (torch.randn(2, 5, 8), torch.tensor(3.0))
    conversion = nnconvert.convert(ScaledNoise(), style, inputs)
    conversion.check(train=True)
    lines = [line.strip() for line in conversion.source.splitlines()]
    assert "x = out" not in lines
    assert sum(line.startswith("x = ") and "x * " in line for line in lines) == 2
    again = nnconvert.convert(load_output(conversion), style, inputs)
    assert again.source == conversion.source


@pytest.mark.parametrize(
    "layer, pure",
    [
        (nn.ReLU(), True),
        (nn.Linear(4, 4), True),
        (nn.RReLU(), False),  # its op-spec function draws (the impurity table)
        (nn.Dropout(0.1), False),
        (nn.LSTM(4, 4, num_layers=2, dropout=0.1), False),
        (nn.BatchNorm1d(4), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, nn.Module) else "",
)
def test_a_library_layer_is_pure_unless_it_draws_or_keeps_statistics(layer, pure):
    assert _pure_layer(layer, lambda block: False) is pure
