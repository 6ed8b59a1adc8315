import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def _generate_square_subsequent_mask(params: dict[str, Tensor], sz) -> Tensor:
    return torch.log(torch.tril(torch.ones(sz, sz)))


def causal_block(
    params: dict[str, Tensor],
    src: Tensor,
    *,
    dropout: float = 0.1,
    d_model: int = 32,
    training: bool = False,
) -> Tensor:
    # src: [sequence length, batch size, d_model]
    mask = _generate_square_subsequent_mask(params, len(src)).to(src.device)
    x = src * math.sqrt(d_model)
    attended = F.multi_head_attention_forward(
        x,
        x,
        x,
        embed_dim_to_check=32,
        num_heads=4,
        in_proj_weight=params["self_attn.in_proj_weight"],
        in_proj_bias=params["self_attn.in_proj_bias"],
        bias_k=None,
        bias_v=None,
        add_zero_attn=False,
        dropout_p=0.0,
        out_proj_weight=params["self_attn.out_proj.weight"],
        out_proj_bias=params["self_attn.out_proj.bias"],
        need_weights=False,
        attn_mask=mask,
    )[0]
    x = F.layer_norm(x + attended, (32,), params["norm1.weight"], params["norm1.bias"])
    x = F.layer_norm(
        x
        + F.linear(
            F.dropout(
                F.relu(F.linear(x, params["linear1.weight"], params["linear1.bias"])),
                p=dropout,
                training=training,
            ),
            params["linear2.weight"],
            params["linear2.bias"],
        ),
        (32,),
        params["norm2.weight"],
        params["norm2.bias"],
    )
    return x


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


def init_params(dim_feedforward: int = 64) -> dict[str, Tensor]:
    """Fresh weights for `causal_block`, equal to a new `CausalBlock`'s under the same
    seed.
    """
    params: dict[str, Tensor] = {}
    params["self_attn.out_proj.weight"] = nn.init.kaiming_uniform_(
        torch.empty(32, 32), a=math.sqrt(5)
    )
    params["self_attn.out_proj.bias"] = nn.init.uniform_(
        torch.empty(32), -1 / math.sqrt(32), 1 / math.sqrt(32)
    )
    nn.init.constant_(params["self_attn.out_proj.bias"], 0.0)
    params["self_attn.in_proj_weight"] = nn.init.xavier_uniform_(torch.empty(96, 32))
    params["self_attn.in_proj_bias"] = torch.zeros(96)
    params["norm1.weight"] = torch.ones(32)
    params["norm1.bias"] = torch.zeros(32)
    params |= kaiming_params("linear1", dim_feedforward, 32)
    params |= kaiming_params("linear2", 32, dim_feedforward)
    params["norm2.weight"] = torch.ones(32)
    params["norm2.bias"] = torch.zeros(32)
    return params
