"""One-layer models built from the op-spec table's examples, for the generated tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nnconvert.opspecs import TRAINING, Example, OpSpec


class LayerModel(nn.Module):
    """``forward`` is one call of ``self.layer``: the module-style input."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


class TwoInputLayerModel(LayerModel):
    def forward(self, x, y):
        return self.layer(x, y)


class ThreeInputLayerModel(LayerModel):
    def forward(self, x, y, z):
        return self.layer(x, y, z)


class FunctionalCallModel(nn.Module):
    """``forward`` is the layer's functional call, written out: the functional-style input."""

    def __init__(self, spec: OpSpec, layer: nn.Module):
        super().__init__()
        self.function = spec.function
        self.arguments = spec.explicit_call_arguments(layer)

    def call_arguments(self) -> dict:
        return {
            k: self.training if v is TRAINING else v for k, v in self.arguments.items()
        }

    def forward(self, x):
        return self.function(x, **self.call_arguments())


class TwoInputFunctionalCallModel(FunctionalCallModel):
    def forward(self, x, y):
        return self.function(x, y, **self.call_arguments())


class KeywordLayerModel(LayerModel):
    """``forward(a, b, c, …)`` calls the layer with the example's keywords.

    The first inputs go positionally; each keyword that is a shape takes the
    next input, in order (``self.layer(a, b, c, need_weights=False,
    attn_mask=d)``).
    """

    def __init__(self, layer: nn.Module, positional: int, keywords: tuple):
        super().__init__(layer)
        self.positional = positional
        self.keywords = keywords

    def call(self, *inputs):
        rest = iter(inputs[self.positional :])
        keywords = {k: next(rest) if _is_shape(v) else v for k, v in self.keywords}
        return self.layer(*inputs[: self.positional], **keywords)


def _keyword_model_class(count: int) -> type:
    """A :class:`KeywordLayerModel` whose ``forward`` takes ``count`` named inputs."""
    names = ", ".join(f"x{i}" for i in range(count))
    namespace: dict = {}
    exec(f"def forward(self, {names}):\n    return self.call({names})\n", namespace)
    return type(
        f"KeywordLayerModel{count}",
        (KeywordLayerModel,),
        {"forward": namespace["forward"]},
    )


def _is_shape(value) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) for v in value)


def layer_model(example: Example) -> nn.Module:
    layer = build_layer(example)
    if example.keywords or len(example.inputs) > 3:
        model_class = _keyword_model_class(len(input_shapes(example)))
        return model_class(layer, len(example.inputs), example.keywords)
    models = (LayerModel, TwoInputLayerModel, ThreeInputLayerModel)
    return models[len(example.inputs) - 1](layer)


def input_shapes(example: Example) -> tuple[tuple[int, ...], ...]:
    """The shapes of every model input: the positional ones, then keyword tensors."""
    return example.inputs + tuple(v for _, v in example.keywords if _is_shape(v))


def functional_call_model(spec: OpSpec, example: Example) -> nn.Module:
    layer = build_layer(example)
    model_class = (FunctionalCallModel, TwoInputFunctionalCallModel)[
        len(example.inputs) - 1
    ]
    return model_class(spec, layer)


def build_layer(example: Example) -> nn.Module:
    return eval(example.layer, {"nn": nn, "torch": torch, "F": F})


def build_inputs(example: Example, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    if example.high is not None:
        return tuple(
            torch.randint(0, example.high, s, generator=generator)
            for s in input_shapes(example)
        )
    return tuple(torch.randn(s, generator=generator) for s in input_shapes(example))


class AliasCallModel(nn.Module):
    """``forward`` calls another spelling of a layer's function (``torch.relu``, ``x.relu()``)."""

    def __init__(self, target, arguments: dict):
        super().__init__()
        self.target = target
        self.arguments = arguments

    def forward(self, x):
        if isinstance(self.target, str):
            return getattr(x, self.target)(**self.arguments)
        return self.target(x, **self.arguments)
