"""The transformer functions as nnconvert printed them before trimmed definitions.

A record, never imported or run: functional files written then define
``transformer_encoder_layer`` ... ``transformer`` with every option of their
layer, exactly as below. Functional input recognises these definitions too
(:mod:`nnconvert.functional.source`) and calls today's functions of
:mod:`.transformer` for them, which compute the same.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


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
    transpose = batch_first and src.dim() == 3  # attention runs sequence first

    def self_attention(x: Tensor) -> Tensor:
        if transpose:
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
        if transpose:
            x = x.transpose(1, 0)
        return F.dropout(x, dropout, training)

    def feed_forward(x: Tensor) -> Tensor:
        x = F.dropout(activation(F.linear(x, w1, b1)), dropout, training)
        return F.dropout(F.linear(x, w2, b2), dropout, training)

    def norm(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return F.layer_norm(x, (d_model,), weight, bias, layer_norm_eps)

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
    keep = None if src_key_padding_mask is None else src_key_padding_mask.logical_not()
    if (
        nested
        and not training
        and src.dim() == 3
        and keep is not None
        and mask is None
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
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            dropout,
            training,
            mask,
            src_key_padding_mask,
            bool(is_causal),
        )
    if zero_padded is not None:
        src = src.where(zero_padded, 0.0)
    if norm_eps is not None:
        weight, *bias = weights[num_layers * per_layer :]
        src = F.layer_norm(src, src.shape[-1:], weight, *bias, eps=norm_eps)
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
    transpose = batch_first and tgt.dim() == 3  # attention runs sequence first

    def attention(x, kv, in_w, in_b, out_w, out_b, mask, padding, causal):
        if transpose:
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
        if transpose:
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

    def norm(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return F.layer_norm(x, (d_model,), weight, bias, layer_norm_eps)

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
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            dropout,
            training,
            tgt_mask,
            memory_mask,
            tgt_key_padding_mask,
            memory_key_padding_mask,
            bool(tgt_is_causal),
            memory_is_causal,
        )
    if norm_eps is not None:
        weight, *bias = weights[num_layers * per_layer :]
        tgt = F.layer_norm(tgt, tgt.shape[-1:], weight, *bias, eps=norm_eps)
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
    settings = (nhead, activation, layer_norm_eps, batch_first, norm_first, bias)
    encoder_weights = num_encoder_layers * (12 if bias else 6) + (2 if bias else 1)
    memory = transformer_encoder(
        src,
        weights[:encoder_weights],
        num_encoder_layers,
        *settings,
        dropout,
        training,
        layer_norm_eps,
        nested,
        src_mask,
        src_key_padding_mask,
        src_is_causal,
    )
    return transformer_decoder(
        tgt,
        memory,
        weights[encoder_weights:],
        num_decoder_layers,
        *settings,
        dropout,
        training,
        layer_norm_eps,
        tgt_mask,
        memory_mask,
        tgt_key_padding_mask,
        memory_key_padding_mask,
        tgt_is_causal,
        memory_is_causal,
    )
