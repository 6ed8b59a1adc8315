"""The transformer layers' functions over their weights as one dict, as functional style calls them.

``transformer_encoder(x, sub_params(params, "encoder."), num_layers=2, nhead=4)``:
the same calls as :mod:`.transformer`'s functions, in the same order (so
train-mode dropout draws line up with the module's), which take the
weights as a list in ``state_dict()`` order and stay the rows' canonical
functions (files written with them still read back). Here each function
reads its tensors by the names the layer's own ``state_dict()`` gives
them (``self_attn.in_proj_weight``, ``linear1.bias``), and a stack hands
each of its layers that layer's slice (``sub_params(weights,
f"layers.{i}.")``), so a call passes the layer's slice of the weight dict
instead of a list of every key. The rows' ``DictForm`` names these
functions.

A layer built with ``bias=False`` has no bias keys: ``weights.get`` gives
None for them, as the list form's unpacking did. ``bias`` stays a
parameter all the same: a call says how its layer was built, and reading
it back into the list form (``passes/weight_dicts.py``) and the layer
needs that. Each function is
self-contained (``torch``, ``F``, ``Tensor`` and ``sub_params``, which a
file calling any of them defines) and is the source a functional file
defines it from, trimmed to the options the file's calls pass
(:mod:`.trimmed`).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .slices import sub_params


def transformer_encoder_layer(
    src: Tensor,
    weights: dict[str, Tensor],
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

    ``weights`` is the layer's state_dict: ``self_attn.in_proj_weight``,
    ``self_attn.in_proj_bias``, ``self_attn.out_proj.weight`` and ``.bias``,
    then ``linear1``, ``linear2``, ``norm1``, ``norm2`` (``.weight``,
    ``.bias`` each); no biases without ``bias``.
    """
    if isinstance(activation, str):  # "relu" or "gelu"
        activation = getattr(F, activation)
    d_model = weights["self_attn.in_proj_weight"].shape[1]

    def self_attention(x: Tensor) -> Tensor:
        if batch_first and x.dim() == 3:  # attention runs sequence first
            x = x.transpose(1, 0)
        x, _ = F.multi_head_attention_forward(
            x,
            x,
            x,
            d_model,
            nhead,
            weights["self_attn.in_proj_weight"],
            weights.get("self_attn.in_proj_bias"),
            None,
            None,
            False,
            dropout,
            weights["self_attn.out_proj.weight"],
            weights.get("self_attn.out_proj.bias"),
            training=training,
            key_padding_mask=src_key_padding_mask,
            need_weights=False,
            attn_mask=src_mask,
            is_causal=is_causal,
        )
        if batch_first and x.dim() == 3:
            x = x.transpose(1, 0)
        return F.dropout(x, dropout, training)

    def linear(x: Tensor, name: str) -> Tensor:
        return F.linear(x, weights[f"{name}.weight"], weights.get(f"{name}.bias"))

    def feed_forward(x: Tensor) -> Tensor:
        x = F.dropout(activation(linear(x, "linear1")), dropout, training)
        return F.dropout(linear(x, "linear2"), dropout, training)

    def norm(x: Tensor, name: str) -> Tensor:
        weight, shift = weights[f"{name}.weight"], weights.get(f"{name}.bias")
        return F.layer_norm(x, (d_model,), weight, shift, eps=layer_norm_eps)

    x = src
    if norm_first:
        x = x + self_attention(norm(x, "norm1"))
        x = x + feed_forward(norm(x, "norm2"))
    else:
        x = norm(x + self_attention(x), "norm1")
        x = norm(x + feed_forward(x), "norm2")
    return x


def transformer_encoder(
    src: Tensor,
    weights: dict[str, Tensor],
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

    ``weights`` is the encoder's state_dict: each layer's under
    ``layers.0.``, ``layers.1.`` …, as :func:`transformer_encoder_layer`
    takes them, then ``norm.weight`` (and ``norm.bias``). ``nested``: the
    layer's eval fast path may run on a nested tensor
    (``enable_nested_tensor`` and a layer that allows it); it then returns
    zeros at padded positions, and so does this function, under the same
    conditions.
    """
    if nested:
        keep = None
        if src_key_padding_mask is not None and mask is None:
            keep = src_key_padding_mask.logical_not()
        first_layer = sub_params(weights, "layers.0.").values()
        if (
            not training
            and src.dim() == 3
            and keep is not None
            and bool((keep.int().cummin(-1).values == keep.int()).all())  # left-aligned
            and not (
                torch.is_grad_enabled()
                and any(t.requires_grad for t in [src, *first_layer])
            )
        ):
            zero_padded = keep.unsqueeze(-1)
        else:
            zero_padded = None
    for i in range(num_layers):
        src = transformer_encoder_layer(
            src,
            sub_params(weights, f"layers.{i}."),
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
        weight, shift = weights["norm.weight"], weights.get("norm.bias")
        src = F.layer_norm(src, src.shape[-1:], weight, shift, eps=norm_eps)
    return src


def transformer_decoder_layer(
    tgt: Tensor,
    memory: Tensor,
    weights: dict[str, Tensor],
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

    ``weights`` is the layer's state_dict: ``self_attn.`` and
    ``multihead_attn.`` (``in_proj_weight``, ``in_proj_bias``,
    ``out_proj.weight``, ``out_proj.bias`` each), then ``linear1``,
    ``linear2``, ``norm1``, ``norm2``, ``norm3`` (``.weight``, ``.bias``
    each); no biases without ``bias``.
    """
    if isinstance(activation, str):  # "relu" or "gelu"
        activation = getattr(F, activation)
    d_model = weights["self_attn.in_proj_weight"].shape[1]

    def attention(x, kv, name, mask, padding, causal):
        if batch_first and x.dim() == 3:  # attention runs sequence first
            x, kv = x.transpose(1, 0), (x if kv is x else kv).transpose(1, 0)
        x, _ = F.multi_head_attention_forward(
            x,
            kv,
            kv,
            d_model,
            nhead,
            weights[f"{name}.in_proj_weight"],
            weights.get(f"{name}.in_proj_bias"),
            None,
            None,
            False,
            dropout,
            weights[f"{name}.out_proj.weight"],
            weights.get(f"{name}.out_proj.bias"),
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
            x, x, "self_attn", tgt_mask, tgt_key_padding_mask, tgt_is_causal
        )

    def memory_attention(x: Tensor) -> Tensor:
        return attention(
            x,
            memory,
            "multihead_attn",
            memory_mask,
            memory_key_padding_mask,
            memory_is_causal,
        )

    def linear(x: Tensor, name: str) -> Tensor:
        return F.linear(x, weights[f"{name}.weight"], weights.get(f"{name}.bias"))

    def feed_forward(x: Tensor) -> Tensor:
        x = F.dropout(activation(linear(x, "linear1")), dropout, training)
        return F.dropout(linear(x, "linear2"), dropout, training)

    def norm(x: Tensor, name: str) -> Tensor:
        weight, shift = weights[f"{name}.weight"], weights.get(f"{name}.bias")
        return F.layer_norm(x, (d_model,), weight, shift, eps=layer_norm_eps)

    x = tgt
    if norm_first:
        x = x + self_attention(norm(x, "norm1"))
        x = x + memory_attention(norm(x, "norm2"))
        x = x + feed_forward(norm(x, "norm3"))
    else:
        x = norm(x + self_attention(x), "norm1")
        x = norm(x + memory_attention(x), "norm2")
        x = norm(x + feed_forward(x), "norm3")
    return x


def transformer_decoder(
    tgt: Tensor,
    memory: Tensor,
    weights: dict[str, Tensor],
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

    ``weights`` is the decoder's state_dict: each layer's under
    ``layers.0.``, ``layers.1.`` …, as :func:`transformer_decoder_layer`
    takes them, then ``norm.weight`` (and ``norm.bias``).
    """
    for i in range(num_layers):
        tgt = transformer_decoder_layer(
            tgt,
            memory,
            sub_params(weights, f"layers.{i}."),
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
        weight, shift = weights["norm.weight"], weights.get("norm.bias")
        tgt = F.layer_norm(tgt, tgt.shape[-1:], weight, shift, eps=norm_eps)
    return tgt


def transformer(
    src: Tensor,
    tgt: Tensor,
    weights: dict[str, Tensor],
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

    ``weights`` is the model's state_dict: the encoder's under ``encoder.``,
    as :func:`transformer_encoder` takes them (its final norm included),
    the decoder's under ``decoder.``.
    """
    memory = transformer_encoder(
        src,
        sub_params(weights, "encoder."),
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
        sub_params(weights, "decoder."),
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


#: The functions, in the order of :data:`.transformer.FUNCTIONS` (callees first).
FUNCTIONS = (
    transformer_encoder_layer,
    transformer_encoder,
    transformer_decoder_layer,
    transformer_decoder,
    transformer,
)
#: Function -> the functions of this module it calls.
NEEDS = {
    transformer_encoder: (transformer_encoder_layer,),
    transformer_decoder: (transformer_decoder_layer,),
    transformer: (transformer_encoder, transformer_decoder),
}

#: The names a transformer layer's ``state_dict()`` keys are made of, in the
#: order the keys come (``layers`` before an encoder's final ``norm``, a
#: layer's ``self_attn`` before ``linear1``).
_KEY_PARTS = (
    "encoder",
    "decoder",
    "layers",
    "norm",
    "self_attn",
    "multihead_attn",
    "linear1",
    "linear2",
    "norm1",
    "norm2",
    "norm3",
    "in_proj_weight",
    "in_proj_bias",
    "out_proj",
    "weight",
    "bias",
)


def state_order(key: str) -> tuple[tuple[int, int], ...]:
    """``layers.1.linear1.bias`` -> a sort key that puts a transformer's keys in ``state_dict()`` order.

    The list form's order (``DictForm.list_order``). Raises ValueError for
    a key no transformer layer has.
    """
    return tuple(
        (0, int(part)) if part.isdigit() else (1, _KEY_PARTS.index(part))
        for part in key.split(".")
    )
