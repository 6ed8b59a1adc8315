import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def causal_self_attention(
    params: dict[str, Tensor],
    x: Tensor,
    *,
    n_embd: int = 16,
    n_head: int = 2,
    dropout: float = 0.1,
    training: bool = False,
) -> Tensor:
    # batch size, sequence length, embedding dimensionality (n_embd)
    B, T, C = x.size()
    # key, query, value projections for all heads, but in a batch
    q, k, v = F.linear(x, params["c_attn.weight"], params["c_attn.bias"]).split(
        n_embd, dim=2
    )
    # (B, nh, T, hs)
    k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
    # (B, nh, T, hs)
    q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
    # (B, nh, T, hs)
    v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
    # causal self-attention; Self-attend: (B, nh, T, hs) x (B, nh, hs, T) -> (B, nh, T, T)
    att = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(k.size(-1)))
    # causal mask to ensure that attention is only applied to the left in the input sequence
    att = att.masked_fill(params["bias"][:, :, :T, :T] == 0, -float("inf"))
    att = F.softmax(att, dim=-1)
    att = F.dropout(att, p=dropout, training=training)
    # (B, nh, T, T) x (B, nh, T, hs) -> (B, nh, T, hs)
    y = att @ v
    # re-assemble all head outputs side by side
    y = y.transpose(1, 2).contiguous().view(B, T, C)
    # output projection
    return F.dropout(
        F.linear(y, params["c_proj.weight"], params["c_proj.bias"]),
        p=dropout,
        training=training,
    )


def mlp(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    x = F.linear(x, params["0.weight"], params["0.bias"])
    x = F.gelu(x)
    x = F.linear(x, params["2.weight"], params["2.bias"])
    x = F.dropout(x, p=0.1, training=training)
    return x


def block(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    x = x + causal_self_attention(
        sub_params(params, "attn."),
        F.layer_norm(x, (16,), params["ln_1.weight"], params["ln_1.bias"]),
        training=training,
    )
    x = x + mlp(
        sub_params(params, "mlp."),
        F.layer_norm(x, (16,), params["ln_2.weight"], params["ln_2.bias"]),
        training=training,
    )
    return x


def gpt(
    params: dict[str, Tensor],
    idx: Tensor,
    targets: Tensor | None = None,
    *,
    block_size: int = 16,
    dropout: float = 0.1,
    training: bool = False,
) -> tuple[Tensor, Tensor]:
    t = idx.size(1)
    if t > block_size:
        raise ValueError("the model asserts t <= self.block_size; this input fails it")
    # shape (t)
    pos = torch.arange(0, t, dtype=torch.int64, device=idx.device)
    x = F.dropout(
        F.embedding(idx, params["wte.weight"]) + F.embedding(pos, params["wpe.weight"]),
        p=dropout,
        training=training,
    )
    for i in range(2):
        x = block(sub_params(params, f"h.{i}."), x, training=training)
    x = F.layer_norm(x, (16,), params["ln_f.weight"], params["ln_f.bias"])
    if targets is not None:
        # if we are given some desired targets also calculate the loss
        logits = F.linear(x, params["wte.weight"])
        loss = F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
        )
    else:
        # inference-time mini-optimization: only forward the lm_head on the very last position
        # note: using list [-1] to preserve the time dim
        logits = F.linear(x[:, [-1], :], params["wte.weight"])
        loss = None
    return logits, loss


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


def init_params(vocab_size: int = 64) -> dict[str, Tensor]:
    """Fresh weights for `gpt`, equal to a new `GPT`'s under the same seed.

    The 2 tensors below that the model's own `__init__` computes from literals alone are
    built by the same code.
    """
    params: dict[str, Tensor] = {}
    params |= embedding_params("wte", vocab_size, 16)
    params |= embedding_params("wpe", 16, 16)
    for i in range(2):
        params[f"h.{i}.ln_1.weight"] = torch.ones(16)
        params[f"h.{i}.ln_1.bias"] = torch.zeros(16)
        params[f"h.{i}.attn.bias"] = torch.tril(torch.ones(16, 16)).view(1, 1, 16, 16)
        params |= kaiming_params(f"h.{i}.attn.c_attn", 48, 16)
        params |= kaiming_params(f"h.{i}.attn.c_proj", 16, 16)
        params[f"h.{i}.ln_2.weight"] = torch.ones(16)
        params[f"h.{i}.ln_2.bias"] = torch.zeros(16)
        params |= kaiming_params(f"h.{i}.mlp.0", 64, 16)
        params |= kaiming_params(f"h.{i}.mlp.2", 16, 64)
    params["ln_f.weight"] = torch.ones(16)
    params["ln_f.bias"] = torch.zeros(16)
    params |= kaiming_params("lm_head", vocab_size, 16, bias=False)
    # tied weights: one tensor under both keys, as in the original
    # https://paperswithcode.com/method/weight-tying
    params["wte.weight"] = params["lm_head.weight"]
    return params
