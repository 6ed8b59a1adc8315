"""Transformer layers (``nn.TransformerEncoderLayer``, ``nn.TransformerEncoder``) and the functions functional style writes for them.

A transformer layer's ``forward`` is a handful of calls -- self-attention,
dropout, a residual sum and a layer norm, then the feed-forward block alike
-- which PyTorch sometimes runs as one fused kernel (the "sparsity fast
path", ``torch._transformer_encoder_layer_fwd``: eval mode, no grad,
``batch_first`` and a few more conditions). Functional style writes the
calls out instead: :func:`transformer_encoder_layer` and
:func:`transformer_encoder` below are the rows' canonical functions, which
take the weights as one list; functional style calls their dict forms
(:mod:`.transformer_dict`, the rows' ``DictForm``) over the layer's slice
of the weight dict, ``transformer_encoder(x, sub_params(params,
"encoder."), num_layers=2, nhead=4)``, and files written with these
(``transformer_encoder(x, [params["encoder.layers.0.self_attn.in_proj_weight"], ...], ...)``)
still read back. Both make the calls of the layers' own slow path, in
the same order, so train-mode dropout draws line up with the module's;
where the module takes the fused kernel the results agree to rounding.

The weights are the layer's ``state_dict()`` in order, so the keys stay the
module's: per layer ``self_attn.in_proj_weight``, ``self_attn.in_proj_bias``,
``self_attn.out_proj.weight``, ``self_attn.out_proj.bias``,
``linear1.weight``, ``linear1.bias``, ``linear2.weight``, ``linear2.bias``,
``norm1.weight``, ``norm1.bias``, ``norm2.weight``, ``norm2.bias`` (the
biases only with ``bias=True``); an encoder's layers one after the other,
then its final ``norm``'s weight (and bias).

Each function is self-contained (only ``torch``, ``F`` and ``Tensor``; the
encoder calls the layer's function, printed before it): its source is
printed into the generated file trimmed to the options the file's calls
pass (:mod:`.trimmed`; a call of another of these functions passes each
option by keyword, so a trimmed caller passes only what it kept). Earlier
versions printed them whole: :mod:`.earlier_transformer` keeps that text
for reading such files back.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConversionError
from .attention import _init as attention_init
from . import transformer_dict
from .inits import affine_ones_zeros, empty, kaiming_uniform_and_bias
from .layer_params import (
    transformer_call,
    transformer_layer_call,
    transformer_stack_call,
)
from .spec import (
    Arguments,
    DictForm,
    Example,
    OpSpec,
    Shapes,
    TensorInit,
    WeightRef,
)


def transformer_encoder_layer(
    src: Tensor,
    weights: list[Tensor],
    nhead: int,
    activation: str | Callable[[Tensor], Tensor] = "relu",
    layer_norm_eps: float = 1e-05,
    batch_first: bool = False,
    norm_first: bool = False,
    bias: bool = True,
    dropout: float = 0.1,
    training: bool = False,
    src_mask: Tensor | None = None,
    src_key_padding_mask: Tensor | None = None,
    is_causal: bool = False,
) -> Tensor:
    """``nn.TransformerEncoderLayer``: self-attention, then feed-forward, each with a residual sum and a layer norm.

    ``weights``: ``self_attn.in_proj_weight``, ``self_attn.in_proj_bias``,
    ``self_attn.out_proj.weight``, ``self_attn.out_proj.bias``, ``linear1``,
    ``linear2``, ``norm1``, ``norm2`` (weight, bias each); no biases without ``bias``.
    """
    if bias:
        in_w, in_b, out_w, out_b, w1, b1, w2, b2, n1_w, n1_b, n2_w, n2_b = weights
    else:
        in_w, out_w, w1, w2, n1_w, n2_w = weights
        in_b = out_b = b1 = b2 = n1_b = n2_b = None
    if isinstance(activation, str):  # "relu" or "gelu"
        activation = getattr(F, activation)
    d_model = in_w.shape[1]

    def self_attention(x: Tensor) -> Tensor:
        if batch_first and x.dim() == 3:  # attention runs sequence first
            x = x.transpose(1, 0)
        x, _ = F.multi_head_attention_forward(
            x,
            x,
            x,
            d_model,
            nhead,
            in_w,
            in_b,
            None,
            None,
            False,
            dropout,
            out_w,
            out_b,
            training=training,
            key_padding_mask=src_key_padding_mask,
            need_weights=False,
            attn_mask=src_mask,
            is_causal=is_causal,
        )
        if batch_first and x.dim() == 3:
            x = x.transpose(1, 0)
        return F.dropout(x, dropout, training)

    def feed_forward(x: Tensor) -> Tensor:
        x = F.dropout(activation(F.linear(x, w1, b1)), dropout, training)
        return F.dropout(F.linear(x, w2, b2), dropout, training)

    def norm(x: Tensor, weight: Tensor, shift: Tensor | None) -> Tensor:
        return F.layer_norm(x, (d_model,), weight, shift, eps=layer_norm_eps)

    x = src
    if norm_first:
        x = x + self_attention(norm(x, n1_w, n1_b))
        x = x + feed_forward(norm(x, n2_w, n2_b))
    else:
        x = norm(x + self_attention(x), n1_w, n1_b)
        x = norm(x + feed_forward(x), n2_w, n2_b)
    return x


def transformer_encoder(
    src: Tensor,
    weights: list[Tensor],
    num_layers: int,
    nhead: int,
    activation: str | Callable[[Tensor], Tensor] = "relu",
    layer_norm_eps: float = 1e-05,
    batch_first: bool = False,
    norm_first: bool = False,
    bias: bool = True,
    dropout: float = 0.1,
    training: bool = False,
    norm_eps: float | None = None,
    nested: bool = False,
    mask: Tensor | None = None,
    src_key_padding_mask: Tensor | None = None,
    is_causal: bool | None = None,
) -> Tensor:
    """``nn.TransformerEncoder``: ``num_layers`` encoder layers, then a final layer norm (with ``norm_eps``).

    ``weights``: each layer's, as :func:`transformer_encoder_layer` takes
    them, then the final norm's weight (and bias). ``nested``: the layer's
    eval fast path may run on a nested tensor (``enable_nested_tensor`` and
    a layer that allows it); it then returns zeros at padded positions, and
    so does this function, under the same conditions.
    """
    per_layer = 12 if bias else 6
    if nested:
        keep = None
        if src_key_padding_mask is not None and mask is None:
            keep = src_key_padding_mask.logical_not()
        if (
            not training
            and src.dim() == 3
            and keep is not None
            and bool((keep.int().cummin(-1).values == keep.int()).all())  # left-aligned
            and not (
                torch.is_grad_enabled()
                and any(t.requires_grad for t in [src, *weights[:per_layer]])
            )
        ):
            zero_padded = keep.unsqueeze(-1)
        else:
            zero_padded = None
    for k in range(num_layers):
        src = transformer_encoder_layer(
            src,
            weights[k * per_layer : (k + 1) * per_layer],
            nhead,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            batch_first=batch_first,
            norm_first=norm_first,
            bias=bias,
            dropout=dropout,
            training=training,
            src_mask=mask,
            src_key_padding_mask=src_key_padding_mask,
            is_causal=bool(is_causal),
        )
    if nested and zero_padded is not None:
        src = src.where(zero_padded, 0.0)
    if norm_eps is not None:
        norm_weight, *norm_bias = weights[num_layers * per_layer :]
        src = F.layer_norm(src, src.shape[-1:], norm_weight, *norm_bias, eps=norm_eps)
    return src


def transformer_decoder_layer(
    tgt: Tensor,
    memory: Tensor,
    weights: list[Tensor],
    nhead: int,
    activation: str | Callable[[Tensor], Tensor] = "relu",
    layer_norm_eps: float = 1e-05,
    batch_first: bool = False,
    norm_first: bool = False,
    bias: bool = True,
    dropout: float = 0.1,
    training: bool = False,
    tgt_mask: Tensor | None = None,
    memory_mask: Tensor | None = None,
    tgt_key_padding_mask: Tensor | None = None,
    memory_key_padding_mask: Tensor | None = None,
    tgt_is_causal: bool = False,
    memory_is_causal: bool = False,
) -> Tensor:
    """``nn.TransformerDecoderLayer``: self-attention, attention over ``memory``, feed-forward; each with a residual sum and a layer norm.

    ``weights``: ``self_attn`` and ``multihead_attn`` (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj.weight``, ``out_proj.bias`` each), ``linear1``,
    ``linear2``, ``norm1``, ``norm2``, ``norm3`` (weight, bias each); no
    biases without ``bias``.
    """
    if bias:
        sa_w, sa_b, sa_out_w, sa_out_b, ca_w, ca_b, ca_out_w, ca_out_b = weights[:8]
        w1, b1, w2, b2, n1_w, n1_b, n2_w, n2_b, n3_w, n3_b = weights[8:]
    else:
        sa_w, sa_out_w, ca_w, ca_out_w, w1, w2, n1_w, n2_w, n3_w = weights
        sa_b = sa_out_b = ca_b = ca_out_b = b1 = b2 = n1_b = n2_b = n3_b = None
    if isinstance(activation, str):  # "relu" or "gelu"
        activation = getattr(F, activation)
    d_model = sa_w.shape[1]

    def attention(x, kv, in_w, in_b, out_w, out_b, mask, padding, causal):
        if batch_first and x.dim() == 3:  # attention runs sequence first
            x, kv = x.transpose(1, 0), (x if kv is x else kv).transpose(1, 0)
        x, _ = F.multi_head_attention_forward(
            x,
            kv,
            kv,
            d_model,
            nhead,
            in_w,
            in_b,
            None,
            None,
            False,
            dropout,
            out_w,
            out_b,
            training=training,
            key_padding_mask=padding,
            need_weights=False,
            attn_mask=mask,
            is_causal=causal,
        )
        if batch_first and x.dim() == 3:
            x = x.transpose(1, 0)
        return F.dropout(x, dropout, training)

    def self_attention(x: Tensor) -> Tensor:
        return attention(
            x,
            x,
            sa_w,
            sa_b,
            sa_out_w,
            sa_out_b,
            tgt_mask,
            tgt_key_padding_mask,
            tgt_is_causal,
        )

    def memory_attention(x: Tensor) -> Tensor:
        return attention(
            x,
            memory,
            ca_w,
            ca_b,
            ca_out_w,
            ca_out_b,
            memory_mask,
            memory_key_padding_mask,
            memory_is_causal,
        )

    def feed_forward(x: Tensor) -> Tensor:
        x = F.dropout(activation(F.linear(x, w1, b1)), dropout, training)
        return F.dropout(F.linear(x, w2, b2), dropout, training)

    def norm(x: Tensor, weight: Tensor, shift: Tensor | None) -> Tensor:
        return F.layer_norm(x, (d_model,), weight, shift, eps=layer_norm_eps)

    x = tgt
    if norm_first:
        x = x + self_attention(norm(x, n1_w, n1_b))
        x = x + memory_attention(norm(x, n2_w, n2_b))
        x = x + feed_forward(norm(x, n3_w, n3_b))
    else:
        x = norm(x + self_attention(x), n1_w, n1_b)
        x = norm(x + memory_attention(x), n2_w, n2_b)
        x = norm(x + feed_forward(x), n3_w, n3_b)
    return x


def transformer_decoder(
    tgt: Tensor,
    memory: Tensor,
    weights: list[Tensor],
    num_layers: int,
    nhead: int,
    activation: str | Callable[[Tensor], Tensor] = "relu",
    layer_norm_eps: float = 1e-05,
    batch_first: bool = False,
    norm_first: bool = False,
    bias: bool = True,
    dropout: float = 0.1,
    training: bool = False,
    norm_eps: float | None = None,
    tgt_mask: Tensor | None = None,
    memory_mask: Tensor | None = None,
    tgt_key_padding_mask: Tensor | None = None,
    memory_key_padding_mask: Tensor | None = None,
    tgt_is_causal: bool | None = None,
    memory_is_causal: bool = False,
) -> Tensor:
    """``nn.TransformerDecoder``: ``num_layers`` decoder layers, then a final layer norm (with ``norm_eps``).

    ``weights``: each layer's, as :func:`transformer_decoder_layer` takes
    them, then the final norm's weight (and bias).
    """
    per_layer = 18 if bias else 9
    for k in range(num_layers):
        tgt = transformer_decoder_layer(
            tgt,
            memory,
            weights[k * per_layer : (k + 1) * per_layer],
            nhead,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            batch_first=batch_first,
            norm_first=norm_first,
            bias=bias,
            dropout=dropout,
            training=training,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=bool(tgt_is_causal),
            memory_is_causal=memory_is_causal,
        )
    if norm_eps is not None:
        norm_weight, *norm_bias = weights[num_layers * per_layer :]
        tgt = F.layer_norm(tgt, tgt.shape[-1:], norm_weight, *norm_bias, eps=norm_eps)
    return tgt


def transformer(
    src: Tensor,
    tgt: Tensor,
    weights: list[Tensor],
    num_encoder_layers: int,
    num_decoder_layers: int,
    nhead: int,
    activation: str | Callable[[Tensor], Tensor] = "relu",
    layer_norm_eps: float = 1e-05,
    batch_first: bool = False,
    norm_first: bool = False,
    bias: bool = True,
    dropout: float = 0.1,
    training: bool = False,
    nested: bool = False,
    src_mask: Tensor | None = None,
    tgt_mask: Tensor | None = None,
    memory_mask: Tensor | None = None,
    src_key_padding_mask: Tensor | None = None,
    tgt_key_padding_mask: Tensor | None = None,
    memory_key_padding_mask: Tensor | None = None,
    src_is_causal: bool | None = None,
    tgt_is_causal: bool | None = None,
    memory_is_causal: bool = False,
) -> Tensor:
    """``nn.Transformer``: the encoder over ``src``, then the decoder over ``tgt`` and the encoder's output.

    ``weights``: the encoder's, as :func:`transformer_encoder` takes them
    (its final norm included), then the decoder's.
    """
    encoder_weights = num_encoder_layers * (12 if bias else 6) + (2 if bias else 1)
    memory = transformer_encoder(
        src,
        weights[:encoder_weights],
        num_encoder_layers,
        nhead,
        activation=activation,
        layer_norm_eps=layer_norm_eps,
        batch_first=batch_first,
        norm_first=norm_first,
        bias=bias,
        dropout=dropout,
        training=training,
        norm_eps=layer_norm_eps,
        nested=nested,
        mask=src_mask,
        src_key_padding_mask=src_key_padding_mask,
        is_causal=src_is_causal,
    )
    return transformer_decoder(
        tgt,
        memory,
        weights[encoder_weights:],
        num_decoder_layers,
        nhead,
        activation=activation,
        layer_norm_eps=layer_norm_eps,
        batch_first=batch_first,
        norm_first=norm_first,
        bias=bias,
        dropout=dropout,
        training=training,
        norm_eps=layer_norm_eps,
        tgt_mask=tgt_mask,
        memory_mask=memory_mask,
        tgt_key_padding_mask=tgt_key_padding_mask,
        memory_key_padding_mask=memory_key_padding_mask,
        tgt_is_causal=tgt_is_causal,
        memory_is_causal=memory_is_causal,
    )


#: The transformer functions, for :mod:`.helpers` (their definitions are
#: printed, each after the ones it calls).
FUNCTIONS = (
    transformer_encoder_layer,
    transformer_encoder,
    transformer_decoder_layer,
    transformer_decoder,
    transformer,
)
#: Parameters every definition keeps, whatever its calls pass: the
#: activation (a closure calls it after the function replaces a name by
#: its function) and the dropout probability and flag the sublayers read.
KEPT = ("activation", "dropout", "training")
#: Function -> the functions of this module it calls.
NEEDS = {
    transformer_encoder: (transformer_encoder_layer,),
    transformer_decoder: (transformer_decoder_layer,),
    transformer: (transformer_encoder, transformer_decoder),
}


# -- the rows -------------------------------------------------------------------


def _state_weights(module: nn.Module) -> list[WeightRef]:
    """The call's ``weights``: the layer's ``state_dict()`` keys, in order."""
    return [WeightRef(name) for name in module.state_dict()]


def _activation(module: nn.Module) -> str | Callable:
    """``"relu"``/``"gelu"`` for ``F.relu``/``F.gelu``, given as a string or as the function.

    The layer stores the function either way (and its fused kernel tells
    only these two apart). Another function or an activation module is
    refused: the printer writes no function values as arguments yet.
    """
    function = module.activation
    for name in ("relu", "gelu"):
        if function is getattr(F, name):
            return name
    raise ConversionError(
        f"nn.{type(module).__name__} with activation {function!r}: only "
        '"relu" and "gelu" (or F.relu, F.gelu) can be written'
    )


def _ctor_activation(module: nn.Module) -> str | Callable:
    """The constructor's ``activation``: its default ``F.relu`` unwritten, ``"gelu"`` as the docs write it."""
    found = _activation(module)
    return F.relu if found == "relu" else found


def _layer_settings(layer: nn.Module) -> Arguments:
    """What an encoder layer's call passes besides weights and inputs: read from its submodules."""
    return {
        "nhead": layer.self_attn.num_heads,
        "activation": _activation(layer),
        "layer_norm_eps": layer.norm1.eps,
        "batch_first": layer.self_attn.batch_first,
        "norm_first": layer.norm_first,
        "bias": layer.linear1.bias is not None,
        "dropout": layer.dropout.p,
    }


def _setting(name: str) -> Callable[[nn.Module], object]:
    """A getter of one of :func:`_layer_settings` for a layer."""
    return lambda module: _layer_settings(module)[name]


def _first_layer_setting(name: str) -> Callable[[nn.Module], object]:
    """One setting of an encoder's layers, which must agree (they are deep copies of one)."""

    def read(module: nn.Module) -> object:
        values = [_layer_settings(layer)[name] for layer in module.layers]
        if any(v != values[0] for v in values):
            raise ConversionError(
                f"nn.{type(module).__name__}: its layers differ in {name!r} "
                "(changed after construction); its constructor cannot build that"
            )
        return values[0]

    return read


def _canonical(arguments: Arguments) -> Arguments:
    """``training`` only where it changes something: with dropout, or an eval-only fast path."""
    if arguments.get("dropout", 0.1) == 0 and not arguments.get("nested"):
        arguments["training"] = False
    return arguments


def _layer_hook(linear1: int) -> Callable:
    """``ctor_from_weights`` of a layer whose ``linear1.weight`` is tensor ``linear1`` (half that without biases)."""

    def hook(arguments: Arguments, shapes: Shapes, prologue: list) -> Arguments | None:
        """``d_model`` and ``dim_feedforward`` from ``self_attn.in_proj_weight`` and ``linear1.weight``."""
        found = shapes.get("weights")
        at = linear1 if arguments.get("bias", True) else linear1 // 2
        if prologue or not found or len(found) <= at or None in found:
            return None
        return {"d_model": found[0][1], "dim_feedforward": found[at][0]}

    return hook


_encoder_layer_from_weights = _layer_hook(4)
_decoder_layer_from_weights = _layer_hook(8)


def _encoder_norm(module: nn.Module) -> float | None:
    """The final norm's ``eps``; None without one. Only a plain ``nn.LayerNorm`` over the last dimension."""
    norm = module.norm
    if norm is None:
        return None
    if type(norm) is not nn.LayerNorm or len(norm.normalized_shape) != 1:
        raise ConversionError(
            f"nn.{type(module).__name__} with norm={norm!r}: only an nn.LayerNorm "
            "over the last dimension has a functional form here"
        )
    if not norm.elementwise_affine:
        raise ConversionError(
            f"nn.{type(module).__name__} with a norm without elementwise_affine: "
            "no functional form here"
        )
    return norm.eps


def _encoder_from_weights(
    arguments: Arguments, shapes: Shapes, prologue: list
) -> Arguments | None:
    """The layer (built from the first layer's weights and the call's settings), ``norm`` from what follows."""
    found = shapes.get("weights")
    per_layer = 12 if arguments.get("bias", True) else 6
    layers = arguments.get("num_layers")
    if prologue or not found or not isinstance(layers, int) or layers < 1:
        return None
    settings = {
        k: arguments[k]
        for k in (
            "nhead",
            "activation",
            "layer_norm_eps",
            "batch_first",
            "norm_first",
            "bias",
            "dropout",
        )
        if k in arguments
    }
    layer_ctor = _encoder_layer_from_weights(
        arguments, {"weights": found[:per_layer]}, []
    )
    if layer_ctor is None:
        return None
    layer = nn.TransformerEncoderLayer(**layer_ctor, **settings)
    ctor: Arguments = {"encoder_layer": layer, "num_layers": layers}
    rest = found[layers * per_layer :]
    eps = arguments.get("norm_eps")
    if eps is not None:
        if not rest:
            return None
        ctor["norm"] = nn.LayerNorm(rest[0][0], eps=eps, bias=len(rest) > 1)
    if not arguments.get("nested", False):  # False unless the layer allows it
        ctor["enable_nested_tensor"] = False
        if _allows_nested(layer):
            return ctor
        del ctor["enable_nested_tensor"]
    return ctor


def _decoder_from_weights(
    arguments: Arguments, shapes: Shapes, prologue: list
) -> Arguments | None:
    """The layer (built from the first layer's weights and the call's settings), ``norm`` from what follows."""
    found = shapes.get("weights")
    per_layer = 18 if arguments.get("bias", True) else 9
    layers = arguments.get("num_layers")
    if prologue or not found or not isinstance(layers, int) or layers < 1:
        return None
    settings = {k: arguments[k] for k in _SETTINGS if k in arguments}
    layer_ctor = _decoder_layer_from_weights(
        arguments, {"weights": found[:per_layer]}, []
    )
    if layer_ctor is None:
        return None
    layer = nn.TransformerDecoderLayer(**layer_ctor, **settings)
    ctor: Arguments = {"decoder_layer": layer, "num_layers": layers}
    rest = found[layers * per_layer :]
    eps = arguments.get("norm_eps")
    if eps is not None:
        if not rest:
            return None
        ctor["norm"] = nn.LayerNorm(rest[0][0], eps=eps, bias=len(rest) > 1)
    return ctor


def _allows_nested(layer: nn.Module) -> bool:
    """Whether ``nn.TransformerEncoder`` would run this layer on nested tensors (its ``__init__``'s test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nn.TransformerEncoder(layer, 1).use_nested_tensor


def _nested(module: nn.Module) -> bool:
    """``use_nested_tensor``: ``enable_nested_tensor`` and a layer that allows it.

    Only with ``mask_check``: without it the fast path also takes padding
    that is not left-aligned, which the function does not mirror.
    """
    if module.use_nested_tensor and not module.mask_check:
        raise ConversionError(
            "nn.TransformerEncoder with mask_check=False and nested tensors: "
            "no functional form here (pass enable_nested_tensor=False)"
        )
    return module.use_nested_tensor


def _prefixed(prefix: str, inits: list[TensorInit]) -> list[TensorInit]:
    """A submodule's inits as its parent's: attributes under ``prefix``."""
    return [
        TensorInit(
            prefix + i.attribute,
            i.expression,
            i.then,
            None if i.copy_of is None else prefix + i.copy_of,
            i.before,
        )
        for i in inits
    ]


def _layer_init(module: nn.Module) -> list[TensorInit]:
    """As ``__init__`` builds them: ``self_attn`` (its own order), a decoder's ``multihead_attn``, ``linear1``, ``linear2``, the norms."""
    inits = _prefixed("self_attn.", attention_init(module.self_attn))
    if hasattr(module, "multihead_attn"):  # a decoder layer's attention over memory
        inits += _prefixed("multihead_attn.", attention_init(module.multihead_attn))
    inits += _prefixed("linear1.", kaiming_uniform_and_bias(module.linear1))
    inits += _prefixed("linear2.", kaiming_uniform_and_bias(module.linear2))
    for norm in ("norm1", "norm2", "norm3"):
        if hasattr(module, norm):
            inits += _prefixed(f"{norm}.", affine_ones_zeros(getattr(module, norm)))
    return inits


def _stack_init(module: nn.Module) -> list[TensorInit]:
    """The layer given to the constructor, drawn once; every layer a copy of it; then ``norm``."""
    inits = _prefixed("layers.0.", _layer_init(module.layers[0]))
    for i in range(1, len(module.layers)):
        inits += [
            TensorInit(f"layers.{i}.{k}", "", copy_of=f"layers.0.{k}")
            for k in module.layers[i].state_dict()
        ]
    if module.norm is not None:
        inits += _prefixed("norm.", affine_ones_zeros(module.norm))
    return inits


def _transformer_init(module: nn.Module) -> list[TensorInit]:
    """The encoder's and the decoder's draws, then ``xavier_uniform_`` of every matrix, in ``parameters()`` order.

    That is ``nn.Transformer``'s ``__init__``: its layers draw as they are
    built, then ``_reset_parameters`` draws every parameter with more than
    one dimension anew (the layers' copies too). The first draws of those
    matrices still happen: they are written as statements whose value is
    unused, before the next tensor that keeps its first draw.
    """
    built = _prefixed("encoder.", _stack_init(module.encoder))
    built += _prefixed("decoder.", _stack_init(module.decoder))
    matrices = [name for name, p in module.named_parameters() if p.dim() > 1]
    inits: list[TensorInit] = []
    pending: list[str] = []
    for init in built:
        if init.attribute in matrices:
            if init.copy_of is None:  # drawn, then replaced
                pending.append(init.expression)
            continue
        inits.append(_after(init, pending))
        pending = []
    for name in matrices:
        tensor = module.get_parameter(name)
        xavier = TensorInit(name, f"nn.init.xavier_uniform_({empty(tensor)})")
        inits.append(_after(xavier, pending))
        pending = []
    return inits


def _after(init: TensorInit, draws: list[str]) -> TensorInit:
    """``init`` preceded by draws whose values are unused (see :func:`_transformer_init`)."""
    if not draws:
        return init
    comment = "# drawn by the constructor, then replaced by xavier_uniform_ below"
    before = (*init.before, comment, *draws)
    return TensorInit(init.attribute, init.expression, init.then, init.copy_of, before)


def _transformer_from_weights(
    arguments: Arguments, shapes: Shapes, prologue: list
) -> Arguments | None:
    """``d_model`` and ``dim_feedforward`` from the first encoder layer's tensors; the rest is the call's."""
    return _encoder_layer_from_weights(arguments, shapes, prologue)


def _standard(module: nn.Module) -> nn.Module:
    """``module``, if its encoder and decoder are the ones its constructor builds (no custom ones)."""
    if (type(module.encoder), type(module.decoder)) != (
        nn.TransformerEncoder,
        nn.TransformerDecoder,
    ):
        raise ConversionError(
            "nn.Transformer with a custom encoder or decoder: no op spec "
            "for it (write the encoder and decoder as submodules of your own)"
        )
    return module


def _transformer_setting(name: str) -> Callable[[nn.Module], object]:
    """One setting of every layer of the encoder and the decoder, which must agree."""
    read = _first_layer_setting(name)

    def both(module: nn.Module) -> object:
        value = read(_standard(module).encoder)
        if read(module.decoder) != value:
            raise ConversionError(
                f"nn.Transformer: its encoder and decoder differ in {name!r}"
            )
        return value

    return both


def _standard_norms(module: nn.Module) -> bool:
    """``nested``, after checking the final norms are the ones the constructor builds."""
    for part in (_standard(module).encoder, module.decoder):
        if _encoder_norm(part) != part.layers[0].norm1.eps:
            raise ConversionError(
                "nn.Transformer whose final norms differ from its layers' eps: "
                "no functional form here"
            )
    return _nested(module.encoder)


#: What a transformer layer's call passes besides weights, inputs and masks.
_SETTINGS = (
    "nhead",
    "activation",
    "layer_norm_eps",
    "batch_first",
    "norm_first",
    "bias",
    "dropout",
)

_D, _L, _N = 16, 5, 2  # d_model, sequence length, batch of the examples


def _layer_examples(*configurations: str) -> tuple[Example, ...]:
    """``nn.TransformerEncoderLayer(16, 4, <configuration>)`` on a ``(5, 2, 16)`` input (batch first: ``(2, 5, 16)``)."""
    examples = []
    for configuration in configurations:
        text = f"nn.TransformerEncoderLayer({_D}, 4{', ' if configuration else ''}{configuration})"
        shape = (_N, _L, _D) if "batch_first=True" in configuration else (_L, _N, _D)
        examples.append(Example(text, (shape,)))
    return tuple(examples)


def _dict_form(function: Callable) -> DictForm:
    """The row's call over its weights as one dict: ``function`` of :mod:`.transformer_dict`."""
    return DictForm(function, list_order=transformer_dict.state_order)


_ENCODER_LAYER_FORWARD = (
    "src, src_mask=None, src_key_padding_mask=None, is_causal=False"
)

SPECS = (
    OpSpec(
        nn.TransformerEncoderLayer,
        transformer_encoder_layer,
        name="encoder_layer",
        call_positional=2,
        ctor_positional=2,
        weights=("weights",),
        training="training",
        attributes={
            "weights": _state_weights,
            **{
                name: _setting(name)
                for name in (
                    "nhead",
                    "activation",
                    "layer_norm_eps",
                    "batch_first",
                    "norm_first",
                    "bias",
                    "dropout",
                )
            },
        },
        ctor_attributes={
            "d_model": lambda m: m.self_attn.embed_dim,
            "dim_feedforward": lambda m: m.linear1.out_features,
            "activation": _ctor_activation,
            **{
                name: _setting(name)
                for name in (
                    "nhead",
                    "layer_norm_eps",
                    "batch_first",
                    "norm_first",
                    "bias",
                    "dropout",
                )
            },
        },
        canonical=_canonical,
        ctor_from_weights=_encoder_layer_from_weights,
        init=_layer_init,
        init_call=transformer_layer_call,
        examples=_layer_examples(
            "dim_feedforward=32",
            "dim_feedforward=32, dropout=0.0, batch_first=True",
            'dim_feedforward=24, activation="gelu", norm_first=True',
            "dim_feedforward=32, layer_norm_eps=0.001, bias=False",
        )
        + (
            Example(
                # a float mask: sequence first (the fused kernel, batch first
                # only, gives NaN for one in torch 2.13; tests/test_transformer.py
                # has boolean masks in the fast path)
                "nn.TransformerEncoderLayer(16, 2, dim_feedforward=32)",
                ((_L, _N, _D),),
                keywords=(("src_mask", (_L, _L)),),
            ),
            Example(
                "nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)",
                ((_L, _D),),  # one sequence, unbatched
            ),
        ),
        forward_signature=_ENCODER_LAYER_FORWARD,
        first_weight="self_attn.in_proj_weight",
        dict_form=_dict_form(transformer_dict.transformer_encoder_layer),
    ),
    OpSpec(
        nn.TransformerEncoder,
        transformer_encoder,
        name="encoder",
        call_positional=2,
        ctor_positional=1,
        weights=("weights",),
        training="training",
        attributes={
            "weights": _state_weights,
            "num_layers": lambda m: len(m.layers),
            "norm_eps": _encoder_norm,
            "nested": _nested,
            **{
                name: _first_layer_setting(name)
                for name in (
                    "nhead",
                    "activation",
                    "layer_norm_eps",
                    "batch_first",
                    "norm_first",
                    "bias",
                    "dropout",
                )
            },
        },
        ctor_attributes={
            "encoder_layer": lambda m: m.layers[0],
            "num_layers": lambda m: len(m.layers),
        },
        canonical=_canonical,
        ctor_from_weights=_encoder_from_weights,
        init=_stack_init,
        init_call=transformer_stack_call,
        examples=(
            Example(
                "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, dim_feedforward=32), num_layers=2)",
                ((_L, _N, _D),),
            ),
            Example(
                "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, "
                'activation="gelu", batch_first=True, norm_first=True), num_layers=2, '
                "norm=nn.LayerNorm(16), enable_nested_tensor=False)",
                ((_N, _L, _D),),
            ),
            Example(
                "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, "
                "dropout=0.0, bias=False), num_layers=3, "
                "norm=nn.LayerNorm(16, bias=False))",
                ((_L, _N, _D),),
                keywords=(("src_key_padding_mask", (_N, _L)),),
            ),
        ),
        forward_signature="src, mask=None, src_key_padding_mask=None, is_causal=None",
        first_weight="layers.0.self_attn.in_proj_weight",
        dict_form=_dict_form(transformer_dict.transformer_encoder),
    ),
    OpSpec(
        nn.TransformerDecoderLayer,
        transformer_decoder_layer,
        name="decoder_layer",
        inputs=2,
        call_positional=3,
        ctor_positional=2,
        weights=("weights",),
        training="training",
        attributes={
            "weights": _state_weights,
            **{name: _setting(name) for name in _SETTINGS},
        },
        ctor_attributes={
            "d_model": lambda m: m.self_attn.embed_dim,
            "dim_feedforward": lambda m: m.linear1.out_features,
            "activation": _ctor_activation,
            **{name: _setting(name) for name in _SETTINGS if name != "activation"},
        },
        canonical=_canonical,
        ctor_from_weights=_decoder_layer_from_weights,
        init=_layer_init,
        init_call=transformer_layer_call,
        examples=(
            Example(
                "nn.TransformerDecoderLayer(16, 4, dim_feedforward=32)",
                ((_L, _N, _D), (7, _N, _D)),
            ),
            Example(
                "nn.TransformerDecoderLayer(16, 2, dim_feedforward=24, dropout=0.0, "
                'activation="gelu", batch_first=True, norm_first=True)',
                ((_N, _L, _D), (_N, 7, _D)),
            ),
            Example(
                "nn.TransformerDecoderLayer(16, 4, dim_feedforward=32, "
                "layer_norm_eps=0.001, bias=False)",
                ((_L, _N, _D), (7, _N, _D)),
                keywords=(("tgt_mask", (_L, _L)), ("memory_key_padding_mask", (_N, 7))),
            ),
        ),
        forward_signature=(
            "tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None, "
            "memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False"
        ),
        first_weight="self_attn.in_proj_weight",
        dict_form=_dict_form(transformer_dict.transformer_decoder_layer),
    ),
    OpSpec(
        nn.TransformerDecoder,
        transformer_decoder,
        name="decoder",
        inputs=2,
        call_positional=3,
        ctor_positional=1,
        weights=("weights",),
        training="training",
        attributes={
            "weights": _state_weights,
            "num_layers": lambda m: len(m.layers),
            "norm_eps": _encoder_norm,
            **{name: _first_layer_setting(name) for name in _SETTINGS},
        },
        ctor_attributes={
            "decoder_layer": lambda m: m.layers[0],
            "num_layers": lambda m: len(m.layers),
        },
        canonical=_canonical,
        ctor_from_weights=_decoder_from_weights,
        init=_stack_init,
        init_call=transformer_stack_call,
        examples=(
            Example(
                "nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 4, dim_feedforward=32), num_layers=2)",
                ((_L, _N, _D), (7, _N, _D)),
            ),
            Example(
                "nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 2, dim_feedforward=32, "
                "batch_first=True, bias=False), num_layers=2, norm=nn.LayerNorm(16, bias=False))",
                ((_N, _L, _D), (_N, 7, _D)),
                keywords=(("memory_mask", (_L, 7)),),
            ),
        ),
        forward_signature=(
            "tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None, "
            "memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False"
        ),
        first_weight="layers.0.self_attn.in_proj_weight",
        dict_form=_dict_form(transformer_dict.transformer_decoder),
    ),
    OpSpec(
        nn.Transformer,
        transformer,
        name="transformer",
        inputs=2,
        call_positional=3,
        ctor_positional=2,
        weights=("weights",),
        training="training",
        attributes={
            "weights": _state_weights,
            "num_encoder_layers": lambda m: len(_standard(m).encoder.layers),
            "num_decoder_layers": lambda m: len(_standard(m).decoder.layers),
            "nested": _standard_norms,
            **{name: _transformer_setting(name) for name in _SETTINGS},
        },
        ctor_attributes={
            "d_model": lambda m: m.d_model,
            "num_encoder_layers": lambda m: len(_standard(m).encoder.layers),
            "num_decoder_layers": lambda m: len(_standard(m).decoder.layers),
            "dim_feedforward": lambda m: (
                _standard(m).encoder.layers[0].linear1.out_features
            ),
            "activation": lambda m: _ctor_activation(_standard(m).encoder.layers[0]),
            "custom_encoder": lambda m: None,
            "custom_decoder": lambda m: None,
            **{
                name: _transformer_setting(name)
                for name in _SETTINGS
                if name != "activation"
            },
        },
        canonical=_canonical,
        ctor_from_weights=_transformer_from_weights,
        init=_transformer_init,
        init_call=transformer_call,
        examples=(
            Example(
                "nn.Transformer(16, 4, num_encoder_layers=2, num_decoder_layers=1, "
                "dim_feedforward=32)",
                ((_L, _N, _D), (7, _N, _D)),
            ),
            Example(
                "nn.Transformer(16, 2, num_encoder_layers=1, num_decoder_layers=2, "
                'dim_feedforward=24, activation="gelu", batch_first=True, norm_first=True)',
                ((_N, _L, _D), (_N, 7, _D)),
                keywords=(("tgt_mask", (7, 7)),),
            ),
            Example(
                "nn.Transformer(16, 4, num_encoder_layers=1, num_decoder_layers=1, "
                "dim_feedforward=32, dropout=0.0, layer_norm_eps=0.001, bias=False)",
                ((_L, _N, _D), (7, _N, _D)),
                keywords=(("src_key_padding_mask", (_N, _L)),),
            ),
        ),
        forward_signature=(
            "src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, "
            "src_key_padding_mask=None, tgt_key_padding_mask=None, "
            "memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None, "
            "memory_is_causal=False"
        ),
        first_weight="encoder.layers.0.self_attn.in_proj_weight",
        dict_form=_dict_form(transformer_dict.transformer),
    ),
)
