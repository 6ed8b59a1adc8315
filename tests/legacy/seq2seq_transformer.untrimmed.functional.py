import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


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


def token_embedding(
    params: dict[str, Tensor], tokens: Tensor, *, emb_size: int = 32
) -> Tensor:
    return F.embedding(tokens.long(), params["embedding.weight"]) * math.sqrt(emb_size)


def positional_encoding(
    params: dict[str, Tensor], token_embedding2: Tensor, *, training: bool = False
) -> Tensor:
    # (seq_len, batch, emb_size) plus the encoding of each position
    return F.dropout(
        token_embedding2 + params["pos_embedding"][: token_embedding2.size(0), :],
        p=0.1,
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
        [
            params["transformer.encoder.layers.0.self_attn.in_proj_weight"],
            params["transformer.encoder.layers.0.self_attn.in_proj_bias"],
            params["transformer.encoder.layers.0.self_attn.out_proj.weight"],
            params["transformer.encoder.layers.0.self_attn.out_proj.bias"],
            params["transformer.encoder.layers.0.linear1.weight"],
            params["transformer.encoder.layers.0.linear1.bias"],
            params["transformer.encoder.layers.0.linear2.weight"],
            params["transformer.encoder.layers.0.linear2.bias"],
            params["transformer.encoder.layers.0.norm1.weight"],
            params["transformer.encoder.layers.0.norm1.bias"],
            params["transformer.encoder.layers.0.norm2.weight"],
            params["transformer.encoder.layers.0.norm2.bias"],
            params["transformer.encoder.layers.1.self_attn.in_proj_weight"],
            params["transformer.encoder.layers.1.self_attn.in_proj_bias"],
            params["transformer.encoder.layers.1.self_attn.out_proj.weight"],
            params["transformer.encoder.layers.1.self_attn.out_proj.bias"],
            params["transformer.encoder.layers.1.linear1.weight"],
            params["transformer.encoder.layers.1.linear1.bias"],
            params["transformer.encoder.layers.1.linear2.weight"],
            params["transformer.encoder.layers.1.linear2.bias"],
            params["transformer.encoder.layers.1.norm1.weight"],
            params["transformer.encoder.layers.1.norm1.bias"],
            params["transformer.encoder.layers.1.norm2.weight"],
            params["transformer.encoder.layers.1.norm2.bias"],
            params["transformer.encoder.norm.weight"],
            params["transformer.encoder.norm.bias"],
            params["transformer.decoder.layers.0.self_attn.in_proj_weight"],
            params["transformer.decoder.layers.0.self_attn.in_proj_bias"],
            params["transformer.decoder.layers.0.self_attn.out_proj.weight"],
            params["transformer.decoder.layers.0.self_attn.out_proj.bias"],
            params["transformer.decoder.layers.0.multihead_attn.in_proj_weight"],
            params["transformer.decoder.layers.0.multihead_attn.in_proj_bias"],
            params["transformer.decoder.layers.0.multihead_attn.out_proj.weight"],
            params["transformer.decoder.layers.0.multihead_attn.out_proj.bias"],
            params["transformer.decoder.layers.0.linear1.weight"],
            params["transformer.decoder.layers.0.linear1.bias"],
            params["transformer.decoder.layers.0.linear2.weight"],
            params["transformer.decoder.layers.0.linear2.bias"],
            params["transformer.decoder.layers.0.norm1.weight"],
            params["transformer.decoder.layers.0.norm1.bias"],
            params["transformer.decoder.layers.0.norm2.weight"],
            params["transformer.decoder.layers.0.norm2.bias"],
            params["transformer.decoder.layers.0.norm3.weight"],
            params["transformer.decoder.layers.0.norm3.bias"],
            params["transformer.decoder.layers.1.self_attn.in_proj_weight"],
            params["transformer.decoder.layers.1.self_attn.in_proj_bias"],
            params["transformer.decoder.layers.1.self_attn.out_proj.weight"],
            params["transformer.decoder.layers.1.self_attn.out_proj.bias"],
            params["transformer.decoder.layers.1.multihead_attn.in_proj_weight"],
            params["transformer.decoder.layers.1.multihead_attn.in_proj_bias"],
            params["transformer.decoder.layers.1.multihead_attn.out_proj.weight"],
            params["transformer.decoder.layers.1.multihead_attn.out_proj.bias"],
            params["transformer.decoder.layers.1.linear1.weight"],
            params["transformer.decoder.layers.1.linear1.bias"],
            params["transformer.decoder.layers.1.linear2.weight"],
            params["transformer.decoder.layers.1.linear2.bias"],
            params["transformer.decoder.layers.1.norm1.weight"],
            params["transformer.decoder.layers.1.norm1.bias"],
            params["transformer.decoder.layers.1.norm2.weight"],
            params["transformer.decoder.layers.1.norm2.bias"],
            params["transformer.decoder.layers.1.norm3.weight"],
            params["transformer.decoder.layers.1.norm3.bias"],
            params["transformer.decoder.norm.weight"],
            params["transformer.decoder.norm.bias"],
        ],
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


def init_params(
    src_vocab_size: int = 60, tgt_vocab_size: int = 50
) -> dict[str, Tensor]:
    """Fresh weights for `seq2_seq_transformer`, with the original `state_dict()` keys.

    Same shapes and dtypes; each layer is initialised as `torch.nn` initialises it by
    default, so after the same `torch.manual_seed`, the tensors of its `nn` layers equal
    those of a newly built `Seq2SeqTransformer`, bit for bit (nnconvert compared them).

    Warning: the model's own code creates the 1 tensor marked below; nnconvert cannot
    reproduce it and leaves it uninitialised (`torch.empty`): set it before use.
    """
    params: dict[str, Tensor] = {}
    params |= transformer_params("transformer", 32, 2, 2, 64)
    params |= kaiming_params("generator", tgt_vocab_size, 32)
    params |= embedding_params("src_tok_emb.embedding", src_vocab_size, 32)
    params |= embedding_params("tgt_tok_emb.embedding", tgt_vocab_size, 32)
    # PositionalEncoding's own tensor: set it before use
    params["positional_encoding.pos_embedding"] = torch.empty(64, 1, 32)
    return params
