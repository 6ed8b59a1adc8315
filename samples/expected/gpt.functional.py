import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def causal_self_attention(
    params: dict[str, Tensor], x: Tensor, *, training: bool = False
) -> Tensor:
    out = F.linear(x, params["c_attn.weight"], params["c_attn.bias"])
    out, out2, out3 = out.split(16, dim=2)
    out2 = out2.view(x.size()[0], x.size()[1], 2, x.size()[2] // 2)
    out2 = out2.transpose(1, 2)
    out = out.view(x.size()[0], x.size()[1], 2, x.size()[2] // 2)
    out = out.transpose(1, 2)
    out3 = out3.view(x.size()[0], x.size()[1], 2, x.size()[2] // 2)
    out3 = out3.transpose(1, 2)
    out4 = out2.transpose(-2, -1)
    out = out @ out4
    out = out * (1.0 / math.sqrt(out2.size(-1)))
    out2 = params["bias"][:, :, : x.size()[1], : x.size()[1]]
    out2 = out2 == 0
    out = out.masked_fill(out2, -float("inf"))
    out = F.softmax(out, dim=-1)
    out = F.dropout(out, p=0.1, training=training)
    out = out @ out3
    out = out.transpose(1, 2)
    out = out.contiguous()
    out = out.view(x.size()[0], x.size()[1], x.size()[2])
    out = F.linear(out, params["c_proj.weight"], params["c_proj.bias"])
    out = F.dropout(out, p=0.1, training=training)
    return out


def mlp(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    x = F.linear(x, params["0.weight"], params["0.bias"])
    x = F.gelu(x)
    x = F.linear(x, params["2.weight"], params["2.bias"])
    x = F.dropout(x, p=0.1, training=training)
    return x


def block(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    out = F.layer_norm(x, (16,), params["ln_1.weight"], params["ln_1.bias"])
    out = causal_self_attention(sub_params(params, "attn."), out, training=training)
    x = x + out
    out = F.layer_norm(x, (16,), params["ln_2.weight"], params["ln_2.bias"])
    out = mlp(sub_params(params, "mlp."), out, training=training)
    x = x + out
    return x


def gpt(
    params: dict[str, Tensor],
    idx: Tensor,
    targets: Tensor | None = None,
    *,
    training: bool = False,
) -> tuple[Tensor, Tensor]:
    if idx.size()[1] > 16:
        raise ValueError(
            "input shape differs from the traced one; convert again with this shape"
        )
    out = torch.arange(0, idx.size()[1], dtype=torch.int64, device=idx.device)
    idx = F.embedding(idx, params["wte.weight"])
    out = F.embedding(out, params["wpe.weight"])
    idx = idx + out
    idx = F.dropout(idx, p=0.1, training=training)
    for i in range(2):
        idx = block(sub_params(params, f"h.{i}."), idx, training=training)
    idx = F.layer_norm(idx, (16,), params["ln_f.weight"], params["ln_f.bias"])
    if targets is None:
        idx = idx[:, [-1], :]
    idx = F.linear(idx, params["wte.weight"])
    if targets is not None:
        out = idx.view(-1, idx.size(-1))
        out2 = targets.view(-1)
        out = F.cross_entropy(out, out2, ignore_index=-1)
    else:
        out = None
    return (idx, out)


def init_params() -> dict[str, Tensor]:
    """Fresh weights for `gpt`, with the original `state_dict()` keys.

    Same shapes and dtypes; each layer is initialised as `torch.nn` initialises it by
    default, so after the same `torch.manual_seed`, the tensors of its `nn` layers equal
    those of a newly built `GPT`, bit for bit (nnconvert compared them).

    Warning: the model's own code creates the 2 tensors marked below; nnconvert cannot
    reproduce them and leaves them uninitialised (`torch.empty`): set them before use.
    """
    params: dict[str, Tensor] = {}
    params["wte.weight"] = nn.init.normal_(torch.empty(64, 16))
    params["wpe.weight"] = nn.init.normal_(torch.empty(16, 16))
    params["h.0.ln_1.weight"] = torch.ones(16)
    params["h.0.ln_1.bias"] = torch.zeros(16)
    # CausalSelfAttention's own tensor: set it before use
    params["h.0.attn.bias"] = torch.empty(1, 1, 16, 16)
    params["h.0.attn.c_attn.weight"] = nn.init.kaiming_uniform_(
        torch.empty(48, 16), a=math.sqrt(5)
    )
    params["h.0.attn.c_attn.bias"] = nn.init.uniform_(
        torch.empty(48), -1 / math.sqrt(16), 1 / math.sqrt(16)
    )
    params["h.0.attn.c_proj.weight"] = nn.init.kaiming_uniform_(
        torch.empty(16, 16), a=math.sqrt(5)
    )
    params["h.0.attn.c_proj.bias"] = nn.init.uniform_(
        torch.empty(16), -1 / math.sqrt(16), 1 / math.sqrt(16)
    )
    params["h.0.ln_2.weight"] = torch.ones(16)
    params["h.0.ln_2.bias"] = torch.zeros(16)
    params["h.0.mlp.0.weight"] = nn.init.kaiming_uniform_(
        torch.empty(64, 16), a=math.sqrt(5)
    )
    params["h.0.mlp.0.bias"] = nn.init.uniform_(
        torch.empty(64), -1 / math.sqrt(16), 1 / math.sqrt(16)
    )
    params["h.0.mlp.2.weight"] = nn.init.kaiming_uniform_(
        torch.empty(16, 64), a=math.sqrt(5)
    )
    params["h.0.mlp.2.bias"] = nn.init.uniform_(
        torch.empty(16), -1 / math.sqrt(64), 1 / math.sqrt(64)
    )
    params["h.1.ln_1.weight"] = torch.ones(16)
    params["h.1.ln_1.bias"] = torch.zeros(16)
    # CausalSelfAttention's own tensor: set it before use
    params["h.1.attn.bias"] = torch.empty(1, 1, 16, 16)
    params["h.1.attn.c_attn.weight"] = nn.init.kaiming_uniform_(
        torch.empty(48, 16), a=math.sqrt(5)
    )
    params["h.1.attn.c_attn.bias"] = nn.init.uniform_(
        torch.empty(48), -1 / math.sqrt(16), 1 / math.sqrt(16)
    )
    params["h.1.attn.c_proj.weight"] = nn.init.kaiming_uniform_(
        torch.empty(16, 16), a=math.sqrt(5)
    )
    params["h.1.attn.c_proj.bias"] = nn.init.uniform_(
        torch.empty(16), -1 / math.sqrt(16), 1 / math.sqrt(16)
    )
    params["h.1.ln_2.weight"] = torch.ones(16)
    params["h.1.ln_2.bias"] = torch.zeros(16)
    params["h.1.mlp.0.weight"] = nn.init.kaiming_uniform_(
        torch.empty(64, 16), a=math.sqrt(5)
    )
    params["h.1.mlp.0.bias"] = nn.init.uniform_(
        torch.empty(64), -1 / math.sqrt(16), 1 / math.sqrt(16)
    )
    params["h.1.mlp.2.weight"] = nn.init.kaiming_uniform_(
        torch.empty(16, 64), a=math.sqrt(5)
    )
    params["h.1.mlp.2.bias"] = nn.init.uniform_(
        torch.empty(16), -1 / math.sqrt(64), 1 / math.sqrt(64)
    )
    params["ln_f.weight"] = torch.ones(16)
    params["ln_f.bias"] = torch.zeros(16)
    params["lm_head.weight"] = nn.init.kaiming_uniform_(
        torch.empty(64, 16), a=math.sqrt(5)
    )
    # tied weights: one tensor under both keys, as in the original
    params["wte.weight"] = params["lm_head.weight"]
    return params
