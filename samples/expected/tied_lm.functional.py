import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def mlp(params: dict[str, Tensor], x: Tensor) -> Tensor:
    return F.linear(
        F.gelu(F.linear(x, params["c_fc.weight"], params["c_fc.bias"])),
        params["c_proj.weight"],
        params["c_proj.bias"],
    )


def tied_lm(params: dict[str, Tensor], idx: Tensor) -> Tensor:
    pos = torch.arange(0, idx.size(1), dtype=torch.int64, device=idx.device)
    x = F.embedding(idx, params["transformer.wte.weight"]) + F.embedding(
        pos, params["transformer.wpe.weight"]
    )
    x = x + mlp(
        sub_params(params, "transformer.mlp."),
        F.layer_norm(
            x, (16,), params["transformer.ln.weight"], params["transformer.ln.bias"]
        ),
    )
    x = F.layer_norm(
        x, (16,), params["transformer.ln_f.weight"], params["transformer.ln_f.bias"]
    )
    return F.linear(x, params["transformer.wte.weight"])


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


def init_params(vocab_size: int = 50, block_size: int = 8) -> dict[str, Tensor]:
    """Fresh weights for `tied_lm`, equal to a new `TiedLM`'s under the same seed."""
    params: dict[str, Tensor] = {}
    params |= embedding_params("transformer.wte", vocab_size, 16)
    params |= embedding_params("transformer.wpe", block_size, 16)
    params["transformer.ln.weight"] = torch.ones(16)
    params["transformer.ln.bias"] = torch.zeros(16)
    params |= kaiming_params("transformer.mlp.c_fc", 64, 16)
    params |= kaiming_params("transformer.mlp.c_proj", 16, 64)
    params["transformer.ln_f.weight"] = torch.ones(16)
    params["transformer.ln_f.bias"] = torch.zeros(16)
    params |= kaiming_params("lm_head", vocab_size, 16, bias=False)
    # tied weights: one tensor under both keys, as in the original
    # weight tying
    params["transformer.wte.weight"] = params["lm_head.weight"]
    return params
