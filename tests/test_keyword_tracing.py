"""What Hugging Face's code needs of the tracer, on plain models (no ``transformers``).

* a decorated ``forward`` (``functools.wraps``) and one taking ``**kwargs``:
  blocks called with keywords that land in ``**kwargs`` keep receiving them;
* sizes unpacked from the first dimension on (``batch, length =
  x.shape[:-1]``) stay symbolic: other batch sizes and lengths run;
* a module built inside ``forward`` (``nn.CrossEntropyLoss()(logits, y)``)
  is traced through;
* an output dataclass that is also an ``OrderedDict`` keeps its class.

Every case converts in every style and passes the check side by side.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.options import Style

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace


def logged(function):
    """A decorator as libraries write them: ``(*args, **kwargs)`` around ``forward``."""

    @functools.wraps(function)
    def wrapper(self, *args, **kwargs):
        kwargs.setdefault("scale", 1.0)  # adds a keyword, as HF's config defaults do
        return function(self, *args, **kwargs)

    return wrapper


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    @logged
    def forward(self, x, mask=None, scale=None, **kwargs):
        batch, length = x.shape[:-1]
        q, k, v = self.qkv(x).view(batch, length, 3, 8).unbind(2)
        scores = q @ k.transpose(1, 2) * scale
        if mask is not None:
            scores = scores + mask[:, None, :]
        if kwargs["bias"] is not None:
            scores = scores + kwargs["bias"]
        return F.dropout(scores.softmax(-1), 0.1, self.training) @ v


@dataclass
class Output(OrderedDict):
    """``transformers.ModelOutput`` in miniature: a dataclass and an ``OrderedDict``."""

    hidden: torch.Tensor | None = None
    loss: torch.Tensor | None = None

    def __post_init__(self):
        for name in ("hidden", "loss"):
            if getattr(self, name) is not None:
                self[name] = getattr(self, name)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.head = nn.Linear(8, 3)

    def forward(self, x, mask=None, labels=None):
        hidden = self.attention(x, mask=mask, bias=x.new_zeros(()))
        logits = self.head(hidden).mean(1)
        loss = None
        if labels is not None:
            loss = nn.CrossEntropyLoss()(logits, labels)
        return Output(hidden=hidden, loss=loss)


def _inputs() -> tuple:
    torch.manual_seed(0)
    mask = torch.zeros(2, 5)
    mask[1, 3:] = float("-inf")
    return torch.randn(2, 5, 8), mask, torch.tensor([0, 2])


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_keyword_inputs_decorators_and_output_classes(style: Style) -> None:
    model = Model().eval()
    conversion = nnconvert.convert(model, style, _inputs())
    report = conversion.check(train=True)
    labels = [r.label for r in report.results]
    assert "eval, batch 3" in labels
    assert "eval, without mask" in labels and "eval, without labels" in labels
    if style is Style.MODULE:  # every op with an nn class is a layer
        assert "self.cross_entropy = nn.CrossEntropyLoss()" in conversion.source
        assert "self.cross_entropy(logits, labels)" in conversion.source
    else:
        assert "F.cross_entropy(" in conversion.source
    assert "Output(" in conversion.source


def test_sizes_from_the_first_dimension_stay_symbolic() -> None:
    """``batch, length = x.shape[:-1]`` is no guard: a longer input runs."""
    model = Model().eval()
    new = nnconvert.convert(model, "module", _inputs()).load()
    x = torch.randn(4, 9, 8)
    with torch.no_grad():
        torch.testing.assert_close(new(x).hidden, model(x).hidden)
    assert "view(2, 5" not in nnconvert.convert(model, "module", _inputs()).source


@dataclass
class Pooled(OrderedDict):
    """An output whose attributes are its items, as ``ModelOutput``'s are."""

    hidden: torch.Tensor | None = None
    pooled: torch.Tensor | None = None

    def __post_init__(self):
        for name in ("hidden", "pooled"):
            if getattr(self, name) is not None:
                self[name] = getattr(self, name)

    def __setattr__(self, name, value):
        if name in self.keys() and value is not None:
            self[name] = value
        super().__setattr__(name, value)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x, mask=None):
        hidden = self.layer(x)
        if mask is not None:
            hidden = hidden * mask[..., None]
        return Pooled(hidden=hidden, pooled=hidden.mean(1))


class Projected(nn.Module):
    """CLIP's ``get_text_features``: a block's output object, changed and returned."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.projection = nn.Linear(8, 4)

    def forward(self, x, mask=None):
        outputs = self.encoder(x, mask)
        outputs.pooled = self.projection(outputs.pooled)
        return outputs.pooled * 2, outputs


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_an_attribute_assigned_on_a_block_output_is_kept(style: Style) -> None:
    """``outputs.pooled = ...`` reaches whoever gets ``outputs``: written as that assignment."""
    model = Projected().eval()
    inputs = (torch.randn(2, 5, 8), torch.ones(2, 5))
    conversion = nnconvert.convert(model, style, inputs)
    # once, before the mask's branch: both traces assign the same value
    assert conversion.source.count("outputs.pooled = ") == 1
    # without the assignment the check fails: the returned outputs' pooled is 8 wide
    report = conversion.check(train=True)
    assert "eval, without mask" in [r.label for r in report.results]


class Masks:
    """Hugging Face's mask builders (``AttentionMaskConverter``'s static methods)."""

    @staticmethod
    def causal(x: torch.Tensor) -> torch.Tensor | None:
        """Skipped (None) when run, built while traced.

        ``is_tracing(x)`` holds for an ``fx.Proxy``; the mask then stays in the
        graph (``torch.compile`` cannot skip on values), where the plain run
        lets attention use ``is_causal=True`` instead. (A module-level
        function of the user's file would be kept as written, and called.)
        """
        if not isinstance(x, torch.fx.Proxy):
            return None
        length = x.shape[1]
        return torch.ones(length, length, dtype=torch.bool).tril()


class CausalAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x, mask=None):
        q, k, v = self.qkv(x).chunk(3, -1)
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class CausalLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = CausalAttention()

    def forward(self, x, mask=None):
        return x + self.attention(x, mask=mask)


class CausalDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([CausalLayer(), CausalLayer()])

    def forward(self, x):
        mask = Masks.causal(x)
        for layer in self.layers:
            x = layer(x, mask)
        return x


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_blocks_take_what_the_traced_parent_hands_them(style: Style) -> None:
    """The traced decoder passes a mask its layers never got in the model's run.

    Each layer (and, through it, its attention) is traced again with the
    mask the parent's graph passes, and without it: the output runs.
    """
    torch.manual_seed(0)
    conversion = nnconvert.convert(
        CausalDecoder().eval(), style, (torch.randn(2, 5, 8),)
    )
    conversion.check(train=True)
    assert "attn_mask=mask" in conversion.source
