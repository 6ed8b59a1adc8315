"""Random models from the op-spec table convert, check and reconvert to themselves.

A hypothesis strategy (:func:`models`) builds a model on one input shape from
layers that keep that shape: every example of the op-spec table that does
(run once, at import), and a table of layers with drawn hyper-parameters
(:data:`PARAMETRIC`). It nests them in chains (``nn.Sequential``, loops over
an ``nn.ModuleList`` / over an ``nn.ModuleDict`` with odd keys), residual
adds, two-branch products, tied weights (``self.decode.weight =
self.encode.weight``), one block registered under two names, an
``nn.ParameterDict`` and a buffer under odd names, and user blocks inside
user blocks; the output may concatenate two branches. Dtype float32 or
float64.

Every model converts in every style with ``Conversion.check(train=True)``
passing, and the output converted to its own style is the same text.

Profiles: ``ci`` (the default: derandomized, a fixed number of examples) and
``long`` (``HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py``,
2000 per style, or ``FUZZ_EXAMPLES``); the counts of a long run are in ``benchmarks/fuzz.md``.
"""

from __future__ import annotations

import os
from typing import Callable

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import nnconvert
from nnconvert.opspecs import SPECS, Example
from nnconvert.options import Style
from nnconvert.ties import ties

from .helpers import build_inputs, build_layer, load_output

settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")),
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: the input shapes models are built on: (batch, channels, ...)
SHAPES = ((2, 3, 8, 8), (2, 4, 10), (4, 6))


def _shape_keeping(example: Example) -> bool:
    """One float input, no keywords, and the output has the input's shape."""
    if example.high is not None or example.keywords or len(example.inputs) != 1:
        return False
    if example.inputs[0] not in SHAPES:
        return False
    if "inplace=True" in example.layer:  # in a branch, the original's own
        return False  # backward fails: it changes the input the other side saved
    layer = build_layer(example).eval()
    with torch.no_grad():
        out = layer(*build_inputs(example))
    return isinstance(out, torch.Tensor) and tuple(out.shape) == example.inputs[0]


#: shape -> table examples that keep it
TABLE: dict[tuple[int, ...], list[str]] = {shape: [] for shape in SHAPES}
for _spec in SPECS:
    if _spec.function is None:  # kept layers (nn.LSTM) have no functional style
        continue
    for _example in _spec.examples:
        if _shape_keeping(_example):
            TABLE[_example.inputs[0]].append(_example.layer)


def _parametric(draw, shape: tuple[int, ...]) -> nn.Module | None:
    """A shape-keeping layer with drawn hyper-parameters, or None when none fits."""
    channels, last, rank = shape[1], shape[-1], len(shape)
    conv = {3: nn.Conv1d, 4: nn.Conv2d}.get(rank)
    batch_norm = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}[rank]
    choices: list[Callable[[], nn.Module]] = [
        lambda: nn.Linear(last, last, bias=draw(st.booleans())),
        lambda: nn.LayerNorm(last, elementwise_affine=draw(st.booleans())),
        lambda: batch_norm(
            channels,
            momentum=draw(st.sampled_from([0.1, 0.5, None])),
            affine=draw(st.booleans()),
        ),
        lambda: nn.Dropout(draw(st.sampled_from([0.0, 0.2, 0.5]))),
        lambda: nn.LeakyReLU(draw(st.sampled_from([0.01, 0.2]))),
        lambda: nn.Hardtanh(-draw(st.sampled_from([1.0, 2.0])), 1.5),
        lambda: nn.GroupNorm(
            draw(st.sampled_from([d for d in (1, channels) if channels % d == 0])),
            channels,
        ),
    ]
    if conv is not None:
        choices.append(
            lambda: conv(
                channels,
                channels,
                draw(st.sampled_from([1, 3])),
                padding="same",
                bias=draw(st.booleans()),
                groups=draw(st.sampled_from([1, channels])),
            )
        )
    return draw(st.sampled_from(choices))()


def _layer(draw, shape: tuple[int, ...]) -> nn.Module:
    if TABLE[shape] and draw(st.booleans()):
        return build_layer(Example(draw(st.sampled_from(TABLE[shape]))))
    return _parametric(draw, shape)


#: ModuleDict keys: names, and names that are not Python (issue 13)
KEYS = st.sampled_from(["a", "b", "head", "class", "None", "x y", 'q"t', "ä", "key2"])

# -- user blocks --------------------------------------------------------------


class ListChain(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class DictChain(nn.Module):
    def __init__(self, layers: dict[str, nn.Module]):
        super().__init__()
        self.stages = nn.ModuleDict(layers)

    def forward(self, x):
        for stage in self.stages.values():
            x = stage(x)
        return x


class Residual(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class Gate(nn.Module):
    def __init__(self, left: nn.Module, right: nn.Module):
        super().__init__()
        self.left = left
        self.right = right

    def forward(self, x):
        return self.left(x) * torch.sigmoid(self.right(x))


class StochasticDepth(nn.Module):
    """A residual branch dropped per sample in train mode only: ``if self.training:``."""

    def __init__(self, body: nn.Module, drop_prob: float):
        super().__init__()
        self.body = body
        self.drop_prob = drop_prob

    def forward(self, x):
        out = self.body(x)
        if self.training:
            keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1)) >= self.drop_prob
            out = out * keep.to(out.dtype) / (1 - self.drop_prob)
        return x + out


class Tied(nn.Module):
    """An encoder and a decoder that share one weight."""

    def __init__(self, features: int, bias: bool):
        super().__init__()
        self.encode = nn.Linear(features, features)
        self.decode = nn.Linear(features, features, bias=bias)
        self.decode.weight = self.encode.weight

    def forward(self, x):
        return self.decode(torch.tanh(self.encode(x)))


class OddNames(nn.Module):
    """A scale in an ``nn.ParameterDict`` and a shift buffer, under drawn odd names."""

    def __init__(self, body: nn.Module, key: str, features: int):
        super().__init__()
        self.body = body
        self.scales = nn.ParameterDict({key: nn.Parameter(torch.rand(features) + 0.5)})
        self.register_buffer(key + "_shift", torch.randn(features))
        self.key = key

    def forward(self, x):
        x = self.body(x) * self.scales[self.key]
        return x + getattr(self, self.key + "_shift")


class Shared(nn.Module):
    """One block under two names, each called once."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.first = block
        self.second = block

    def forward(self, x):
        return self.second(self.first(x))


class Model(nn.Module):
    def __init__(self, body: nn.Module, head: nn.Module | None):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x):
        x = self.body(x)
        if self.head is None:
            return x
        return torch.cat([x, self.head(x)], dim=1)


def _block(draw, shape: tuple[int, ...], depth: int) -> nn.Module:
    """A shape-keeping module: a layer, or a structure of smaller blocks."""
    kinds = ["layer"] if depth == 0 else list(_STRUCTURES)
    kind = draw(st.sampled_from(kinds))
    if kind == "layer":
        return _layer(draw, shape)
    return _STRUCTURES[kind](draw, shape, depth - 1)


def _blocks(draw, shape, depth) -> list[nn.Module]:
    return [_block(draw, shape, depth) for _ in range(draw(st.integers(1, 3)))]


_STRUCTURES: dict[str, Callable[..., nn.Module]] = {
    "layer": lambda draw, shape, depth: _layer(draw, shape),
    "sequential": lambda draw, shape, depth: nn.Sequential(
        *_blocks(draw, shape, depth)
    ),
    "list": lambda draw, shape, depth: ListChain(_blocks(draw, shape, depth)),
    "dict": lambda draw, shape, depth: DictChain(
        dict(
            zip(
                draw(st.lists(KEYS, min_size=1, max_size=3, unique=True)),
                _blocks(draw, shape, depth),
            )
        )
    ),
    "residual": lambda draw, shape, depth: Residual(_block(draw, shape, depth)),
    "stochastic_depth": lambda draw, shape, depth: StochasticDepth(
        _block(draw, shape, depth), draw(st.sampled_from([0.1, 0.5]))
    ),
    "gate": lambda draw, shape, depth: Gate(
        _block(draw, shape, depth), _block(draw, shape, depth)
    ),
    "tied": lambda draw, shape, depth: Tied(shape[-1], draw(st.booleans())),
    "shared": lambda draw, shape, depth: Shared(_block(draw, shape, depth)),
    "odd_names": lambda draw, shape, depth: OddNames(
        _block(draw, shape, depth), draw(KEYS), shape[-1]
    ),
}


@st.composite
def models(draw) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """``(model, example inputs)``: a random model and an input it takes."""
    shape = draw(st.sampled_from(SHAPES))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    torch.manual_seed(draw(st.integers(0, 2**16)))
    body = _block(draw, shape, draw(st.integers(0, 2)))
    head = _block(draw, shape, 0) if draw(st.booleans()) else None
    model = Model(body, head).to(dtype)
    return model, (torch.randn(shape, dtype=dtype),)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
@given(case=models())
def test_random_models_convert_check_and_reconvert(case, style):
    model, inputs = case
    conversion = nnconvert.convert(model, style, inputs)
    conversion.check(train=True)
    if style is Style.FUNCTIONAL and _functional_form_loses(model):
        return  # README, Limits, "Functional input": the round trip cannot hold
    again = nnconvert.convert(load_output(conversion), style, inputs)
    assert again.source == conversion.source


#: what a functional file cannot say (README, Limits, "Functional input")
_BLOCKS = (
    ListChain,
    DictChain,
    Residual,
    StochasticDepth,
    Gate,
    Shared,
    nn.Sequential,
)


def _functional_form_loses(model: nn.Module) -> bool:
    """A block or container without weights, trailing ``nn.Identity()`` members, or a tied tensor.

    A block's slice of the weights is empty, so its function reads as a
    helper and its calls come back in the caller; functional style drops a
    Sequential's trailing identities.
    """
    if ties(model):
        return True  # a tied weight is read under one key (README, Limits)
    for module in model.modules():
        if isinstance(module, _BLOCKS) and not module.state_dict():
            return True
        if isinstance(module, nn.Sequential) and isinstance(module[-1], nn.Identity):
            return True
    return False
