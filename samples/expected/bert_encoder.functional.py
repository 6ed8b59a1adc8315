import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def transformer_encoder_layer(
    src: Tensor,
    weights: dict[str, Tensor],
    nhead: int,
    activation: str | Callable[[Tensor], Tensor] = "relu",
    layer_norm_eps: float = 1e-05,
    batch_first: bool = False,
    dropout: float = 0.1,
    training: bool = False,
    src_key_padding_mask: Tensor | None = None,
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
    dropout: float = 0.1,
    training: bool = False,
    nested: bool = False,
    src_key_padding_mask: Tensor | None = None,
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
        if src_key_padding_mask is not None:
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
            dropout=dropout,
            training=training,
            src_key_padding_mask=src_key_padding_mask,
        )
    if nested and zero_padded is not None:
        src = src.where(zero_padded, 0.0)
    return src


def bert_encoder(
    params: dict[str, Tensor],
    input_ids: Tensor,
    attention_mask: Tensor,
    *,
    dropout: float = 0.1,
    training: bool = False,
) -> Tensor:
    positions = torch.arange(input_ids.size(1), device=input_ids.device)
    x = F.embedding(input_ids, params["token_embeddings.weight"]) + F.embedding(
        positions, params["position_embeddings.weight"]
    )
    x = F.dropout(
        F.layer_norm(
            x,
            (32,),
            params["embedding_norm.weight"],
            params["embedding_norm.bias"],
            eps=1e-12,
        ),
        p=dropout,
        training=training,
    )
    x = transformer_encoder(
        x,
        sub_params(params, "encoder."),
        num_layers=2,
        nhead=4,
        activation="gelu",
        layer_norm_eps=1e-12,
        batch_first=True,
        training=training,
        nested=True,
        src_key_padding_mask=attention_mask == 0,
    )
    pooled = torch.tanh(
        F.linear(x[:, 0], params["pooler.weight"], params["pooler.bias"])
    )
    return F.linear(pooled, params["classifier.weight"], params["classifier.bias"])


def embedding_params(
    prefix: str, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None
) -> dict[str, Tensor]:
    """An `nn.Embedding` or `nn.EmbeddingBag`: normal rows, the `padding_idx` row zeroed."""
    weight = nn.init.normal_(torch.empty(num_embeddings, embedding_dim))
    if padding_idx is not None:
        weight[padding_idx] = 0
    return {f"{prefix}.weight": weight}


def kaiming_params(prefix: str, *shape: int, bias: bool = True) -> dict[str, Tensor]:
    """An `nn.Linear` or `nn.Conv*d` whose weight has `shape`, drawn as they draw it."""
    weight = nn.init.kaiming_uniform_(torch.empty(shape), a=math.sqrt(5))
    params = {f"{prefix}.weight": weight}
    if bias:
        bound = 1 / math.sqrt(math.prod(shape[1:]))
        params[f"{prefix}.bias"] = nn.init.uniform_(
            torch.empty(shape[0]), -bound, bound
        )
    return params


def clone_params(
    params: dict[str, Tensor], source: str, target: str
) -> dict[str, Tensor]:
    """The layer at `source` again at `target`, as `copy.deepcopy` copies a layer.

    `nn.TransformerEncoder` and `nn.TransformerDecoder` build their layers
    as copies of the one they are given: equal tensors, no draws.
    """
    return {
        target + key[len(source) :]: tensor.clone()
        for key, tensor in params.items()
        if key.startswith(source + ".")
    }


def init_params(
    vocab_size: int = 100, max_len: int = 16, classes: int = 3
) -> dict[str, Tensor]:
    """Fresh weights for `bert_encoder`, equal to a new `BertEncoder`'s under the same
    seed.
    """
    params: dict[str, Tensor] = {}
    params |= embedding_params("token_embeddings", vocab_size, 32)
    params |= embedding_params("position_embeddings", max_len, 32)
    params["embedding_norm.weight"] = torch.ones(32)
    params["embedding_norm.bias"] = torch.zeros(32)
    params["encoder.layers.0.self_attn.out_proj.weight"] = nn.init.kaiming_uniform_(
        torch.empty(32, 32), a=math.sqrt(5)
    )
    params["encoder.layers.0.self_attn.out_proj.bias"] = nn.init.uniform_(
        torch.empty(32), -1 / math.sqrt(32), 1 / math.sqrt(32)
    )
    nn.init.constant_(params["encoder.layers.0.self_attn.out_proj.bias"], 0.0)
    params["encoder.layers.0.self_attn.in_proj_weight"] = nn.init.xavier_uniform_(
        torch.empty(96, 32)
    )
    params["encoder.layers.0.self_attn.in_proj_bias"] = torch.zeros(96)
    params |= kaiming_params("encoder.layers.0.linear1", 64, 32)
    params |= kaiming_params("encoder.layers.0.linear2", 32, 64)
    params["encoder.layers.0.norm1.weight"] = torch.ones(32)
    params["encoder.layers.0.norm1.bias"] = torch.zeros(32)
    params["encoder.layers.0.norm2.weight"] = torch.ones(32)
    params["encoder.layers.0.norm2.bias"] = torch.zeros(32)
    params |= clone_params(params, "encoder.layers.0", "encoder.layers.1")
    # the pooler: the first ([CLS]) token through a dense layer and tanh
    params |= kaiming_params("pooler", 32, 32)
    params |= kaiming_params("classifier", classes, 32)
    return params
