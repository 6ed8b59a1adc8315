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
        return F.dropout(x, dropout, training)

    def linear(x: Tensor, name: str) -> Tensor:
        return F.linear(x, weights[f"{name}.weight"], weights.get(f"{name}.bias"))

    def feed_forward(x: Tensor) -> Tensor:
        x = F.dropout(activation(linear(x, "linear1")), dropout, training)
        return F.dropout(linear(x, "linear2"), dropout, training)

    def norm(x: Tensor, name: str) -> Tensor:
        weight, shift = weights[f"{name}.weight"], weights.get(f"{name}.bias")
        return F.layer_norm(x, (d_model,), weight, shift)

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
    dropout: float = 0.1,
    training: bool = False,
    norm_eps: float | None = None,
    src_key_padding_mask: Tensor | None = None,
) -> Tensor:
    """``nn.TransformerEncoder``: ``num_layers`` encoder layers, then a final layer norm (with ``norm_eps``).

    ``weights`` is the encoder's state_dict: each layer's under
    ``layers.0.``, ``layers.1.`` …, as :func:`transformer_encoder_layer`
    takes them, then ``norm.weight`` (and ``norm.bias``).
    """
    for i in range(num_layers):
        src = transformer_encoder_layer(
            src,
            sub_params(weights, f"layers.{i}."),
            nhead,
            activation=activation,
            dropout=dropout,
            training=training,
            src_key_padding_mask=src_key_padding_mask,
        )
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
    dropout: float = 0.1,
    training: bool = False,
    tgt_mask: Tensor | None = None,
    tgt_key_padding_mask: Tensor | None = None,
    memory_key_padding_mask: Tensor | None = None,
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
        return F.dropout(x, dropout, training)

    def self_attention(x: Tensor) -> Tensor:
        return attention(x, x, "self_attn", tgt_mask, tgt_key_padding_mask, False)

    def memory_attention(x: Tensor) -> Tensor:
        return attention(
            x, memory, "multihead_attn", None, memory_key_padding_mask, False
        )

    def linear(x: Tensor, name: str) -> Tensor:
        return F.linear(x, weights[f"{name}.weight"], weights.get(f"{name}.bias"))

    def feed_forward(x: Tensor) -> Tensor:
        x = F.dropout(activation(linear(x, "linear1")), dropout, training)
        return F.dropout(linear(x, "linear2"), dropout, training)

    def norm(x: Tensor, name: str) -> Tensor:
        weight, shift = weights[f"{name}.weight"], weights.get(f"{name}.bias")
        return F.layer_norm(x, (d_model,), weight, shift)

    x = tgt
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
    dropout: float = 0.1,
    training: bool = False,
    norm_eps: float | None = None,
    tgt_mask: Tensor | None = None,
    tgt_key_padding_mask: Tensor | None = None,
    memory_key_padding_mask: Tensor | None = None,
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
            dropout=dropout,
            training=training,
            tgt_mask=tgt_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
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
    dropout: float = 0.1,
    training: bool = False,
    tgt_mask: Tensor | None = None,
    src_key_padding_mask: Tensor | None = None,
    tgt_key_padding_mask: Tensor | None = None,
    memory_key_padding_mask: Tensor | None = None,
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
        dropout=dropout,
        training=training,
        norm_eps=1e-05,
        src_key_padding_mask=src_key_padding_mask,
    )
    return transformer_decoder(
        tgt,
        memory,
        sub_params(weights, "decoder."),
        num_decoder_layers,
        nhead,
        activation=activation,
        dropout=dropout,
        training=training,
        norm_eps=1e-05,
        tgt_mask=tgt_mask,
        tgt_key_padding_mask=tgt_key_padding_mask,
        memory_key_padding_mask=memory_key_padding_mask,
    )


def token_embedding(
    params: dict[str, Tensor], tokens: Tensor, *, emb_size: int = 32
) -> Tensor:
    return F.embedding(tokens.long(), params["embedding.weight"]) * math.sqrt(emb_size)


def positional_encoding(
    params: dict[str, Tensor],
    token_embedding2: Tensor,
    *,
    dropout: float = 0.1,
    training: bool = False,
) -> Tensor:
    # (seq_len, batch, emb_size) plus the encoding of each position
    return F.dropout(
        token_embedding2 + params["pos_embedding"][: token_embedding2.size(0), :],
        p=dropout,
        training=training,
    )


def seq2_seq_transformer(
    params: dict[str, Tensor],
    src: Tensor,
    tgt: Tensor,
    src_padding_mask: Tensor,
    tgt_padding_mask: Tensor,
    *,
    training: bool = False,
) -> Tensor:
    # the decoder may not look ahead: -inf above the diagonal
    tgt_mask = tgt.size(0)
    tgt_mask = torch.triu(
        torch.full((tgt_mask, tgt_mask), -float("inf"), dtype=None, device=None),
        diagonal=1,
    )
    src_emb = positional_encoding(
        sub_params(params, "positional_encoding."),
        token_embedding(sub_params(params, "src_tok_emb."), src),
        training=training,
    )
    tgt_emb = positional_encoding(
        sub_params(params, "positional_encoding."),
        token_embedding(sub_params(params, "tgt_tok_emb."), tgt),
        training=training,
    )
    outs = transformer(
        src_emb,
        tgt_emb,
        sub_params(params, "transformer."),
        num_encoder_layers=2,
        num_decoder_layers=2,
        nhead=4,
        training=training,
        tgt_mask=tgt_mask,
        src_key_padding_mask=src_padding_mask,
        tgt_key_padding_mask=tgt_padding_mask,
        memory_key_padding_mask=src_padding_mask,
    )
    return F.linear(outs, params["generator.weight"], params["generator.bias"])


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


def attention_params(
    prefix: str, embed_dim: int, bias: bool = True
) -> dict[str, Tensor]:
    """An `nn.MultiheadAttention`: `out_proj` draws as it is built, then `_reset_parameters`."""
    out_proj = kaiming_params(f"{prefix}.out_proj", embed_dim, embed_dim, bias=bias)
    weight = nn.init.xavier_uniform_(torch.empty(3 * embed_dim, embed_dim))
    params = {f"{prefix}.in_proj_weight": weight}
    if bias:
        params[f"{prefix}.in_proj_bias"] = torch.zeros(3 * embed_dim)
        out_proj[f"{prefix}.out_proj.bias"] = torch.zeros(embed_dim)
    return params | out_proj


def norm_params(prefix: str, *shape: int, bias: bool = True) -> dict[str, Tensor]:
    """A normalisation layer's affine weight (ones) and bias (zeros) of `shape`."""
    params = {f"{prefix}.weight": torch.ones(shape)}
    if bias:
        params[f"{prefix}.bias"] = torch.zeros(shape)
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


def transformer_params(
    prefix: str,
    d_model: int,
    num_encoder_layers: int,
    num_decoder_layers: int,
    dim_feedforward: int,
    bias: bool = True,
) -> dict[str, Tensor]:
    """An `nn.Transformer`: per stack, its first layer as built, the others copies of it.

    Then `_reset_parameters` draws every matrix anew with `xavier_uniform_`,
    in `parameters()` order (the order of the keys here).
    """
    params = {}
    stacks = {"encoder": num_encoder_layers, "decoder": num_decoder_layers}
    for stack, count in stacks.items():
        first = f"{prefix}.{stack}.layers.0"
        attentions = ["self_attn", "multihead_attn"][: 1 + (stack == "decoder")]
        for name in attentions:
            params |= attention_params(f"{first}.{name}", d_model, bias=bias)
        params |= kaiming_params(
            f"{first}.linear1", dim_feedforward, d_model, bias=bias
        )
        params |= kaiming_params(
            f"{first}.linear2", d_model, dim_feedforward, bias=bias
        )
        for norm in range(1, len(attentions) + 2):
            params |= norm_params(f"{first}.norm{norm}", d_model, bias=bias)
        for layer in range(1, count):
            params |= clone_params(params, first, f"{prefix}.{stack}.layers.{layer}")
        params |= norm_params(f"{prefix}.{stack}.norm", d_model, bias=bias)
    for tensor in params.values():
        if tensor.dim() > 1:
            nn.init.xavier_uniform_(tensor)
    return params


def embedding_params(
    prefix: str, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None
) -> dict[str, Tensor]:
    """An `nn.Embedding` or `nn.EmbeddingBag`: normal rows, the `padding_idx` row zeroed."""
    weight = nn.init.normal_(torch.empty(num_embeddings, embedding_dim))
    if padding_idx is not None:
        weight[padding_idx] = 0
    return {f"{prefix}.weight": weight}


def pos_embedding() -> Tensor:
    den = torch.exp(-torch.arange(0, 32, 2) * math.log(10000) / 32)
    pos = torch.arange(0, 64).reshape(64, 1)
    pos_embedding = torch.zeros((64, 32))
    pos_embedding[:, 0::2] = torch.sin(pos * den)
    pos_embedding[:, 1::2] = torch.cos(pos * den)
    pos_embedding = pos_embedding.unsqueeze(-2)
    return pos_embedding


def init_params(
    src_vocab_size: int = 60, tgt_vocab_size: int = 50
) -> dict[str, Tensor]:
    """Fresh weights for `seq2_seq_transformer`, equal to a new `Seq2SeqTransformer`'s
    under the same seed.

    The 1 tensor below that the model's own `__init__` computes from literals alone is
    built by the same code.
    """
    params: dict[str, Tensor] = {}
    params |= transformer_params("transformer", 32, 2, 2, 64)
    params |= kaiming_params("generator", tgt_vocab_size, 32)
    params |= embedding_params("src_tok_emb.embedding", src_vocab_size, 32)
    params |= embedding_params("tgt_tok_emb.embedding", tgt_vocab_size, 32)
    params["positional_encoding.pos_embedding"] = pos_embedding()
    return params
