"""Affine layers and lookups: Linear, Bilinear, Identity, Embedding, EmbeddingBag."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .inits import empty, kaiming_uniform_and_bias, uniform_fan_in
from .layer_params import embedding_call, kaiming_call
from .spec import Example, OpSpec, TensorInit, identity


def _has_bias(module: nn.Module) -> bool:
    return module.bias is not None


def _bilinear_init(module: nn.Module) -> list[TensorInit]:
    """Weight and bias uniform in ``±1/sqrt(in1_features)``."""
    fan_in = module.weight.size(1)
    inits = [TensorInit("weight", uniform_fan_in(module.weight, fan_in))]
    if module.bias is not None:
        inits.append(TensorInit("bias", uniform_fan_in(module.bias, fan_in)))
    return inits


def _embedding_init(module: nn.Module) -> list[TensorInit]:
    """``normal_``, then the ``padding_idx`` row zeroed."""
    zero_row = (
        () if module.padding_idx is None else (f"{{}}[{module.padding_idx}] = 0",)
    )
    return [TensorInit("weight", f"nn.init.normal_({empty(module.weight)})", zero_row)]


def _linear_from_weights(call, shapes, prologue) -> dict:
    """``weight`` is ``(out_features, in_features)``."""
    out_features, in_features = shapes["weight"]
    return {
        "in_features": in_features,
        "out_features": out_features,
        "bias": shapes["bias"] is not None,
    }


def _bilinear_from_weights(call, shapes, prologue) -> dict:
    """``weight`` is ``(out_features, in1_features, in2_features)``."""
    out_features, in1, in2 = shapes["weight"]
    return {
        "in1_features": in1,
        "in2_features": in2,
        "out_features": out_features,
        "bias": shapes["bias"] is not None,
    }


def _embedding_from_weights(call, shapes, prologue) -> dict:
    """``weight`` is ``(num_embeddings, embedding_dim)``."""
    num_embeddings, embedding_dim = shapes["weight"]
    return {"num_embeddings": num_embeddings, "embedding_dim": embedding_dim}


SPECS = (
    OpSpec(
        nn.Linear,
        F.linear,
        signature="input, weight, bias=None",
        name="fc",
        call_positional=3,
        ctor_positional=2,
        weights=("weight", "bias"),
        ctor_from_weights=_linear_from_weights,
        ctor_attributes={"bias": _has_bias},
        init=kaiming_uniform_and_bias,
        init_call=kaiming_call,
        examples=(
            Example("nn.Linear(8, 4)", ((2, 8),)),
            Example("nn.Linear(8, 4, bias=False)", ((2, 5, 8),)),
        ),
    ),
    OpSpec(
        nn.Bilinear,
        F.bilinear,
        signature="input1, input2, weight, bias=None",
        name="bilinear",
        inputs=2,
        call_positional=4,
        ctor_positional=3,
        weights=("weight", "bias"),
        ctor_from_weights=_bilinear_from_weights,
        ctor_attributes={"bias": _has_bias},
        init=_bilinear_init,
        examples=(
            Example("nn.Bilinear(3, 4, 5)", ((2, 3), (2, 4))),
            Example("nn.Bilinear(3, 3, 2, bias=False)", ((2, 3), (2, 3))),
        ),
    ),
    OpSpec(
        nn.Identity,
        identity,
        name="identity",
        ctor_positional=0,
        examples=(Example("nn.Identity()", ((2, 3),)),),
    ),
    OpSpec(
        nn.Embedding,
        F.embedding,
        name="embedding",
        call_positional=2,
        ctor_positional=2,
        weights=("weight",),
        ctor_from_weights=_embedding_from_weights,
        init=_embedding_init,
        init_call=embedding_call,
        examples=(
            Example("nn.Embedding(10, 4)", ((2, 5),), high=10),
            Example("nn.Embedding(10, 4, padding_idx=0)", ((2, 5),), high=10),
            Example("nn.Embedding(10, 4, max_norm=1.0)", ((2, 5),), high=10),
            Example(
                "nn.Embedding(10, 4, max_norm=1.5, norm_type=1.0)", ((2, 5),), high=10
            ),
            Example("nn.Embedding(10, 4, scale_grad_by_freq=True)", ((2, 5),), high=10),
            Example("nn.Embedding(10, 4, sparse=True)", ((2, 5),), high=10),
            Example(
                "nn.Embedding(10, 4, padding_idx=3, max_norm=0.5, scale_grad_by_freq=True)",
                ((7,),),
                high=10,
            ),
            Example(
                "nn.Embedding(10, 4, padding_idx=3, max_norm=2.0, sparse=True)",
                ((2, 5),),
                high=10,
            ),
        ),
    ),
    OpSpec(
        nn.EmbeddingBag,
        F.embedding_bag,
        name="embedding_bag",
        call_positional=2,
        ctor_positional=2,
        weights=("weight",),
        ctor_from_weights=_embedding_from_weights,
        init=_embedding_init,
        init_call=embedding_call,
        forward_signature="input, offsets=None, per_sample_weights=None",
        examples=(
            Example("nn.EmbeddingBag(10, 4)", ((2, 5),), high=10),
            Example('nn.EmbeddingBag(10, 4, mode="sum")', ((2, 5),), high=10),
            Example('nn.EmbeddingBag(10, 4, mode="max")', ((2, 5),), high=10),
            Example("nn.EmbeddingBag(10, 4, padding_idx=0)", ((3, 6),), high=10),
            Example(
                'nn.EmbeddingBag(10, 4, max_norm=1.0, norm_type=1.0, mode="sum")',
                ((2, 5),),
                high=10,
            ),
            Example(
                "nn.EmbeddingBag(10, 4, scale_grad_by_freq=True, padding_idx=2)",
                ((2, 5),),
                high=10,
            ),
            Example(
                'nn.EmbeddingBag(10, 4, mode="sum", sparse=True)', ((2, 5),), high=10
            ),
        ),
    ),
)
