import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def relative_position_index() -> Tensor:
    # get pair-wise relative position index for each token inside the window
    coords_h = torch.arange(14)
    coords_w = torch.arange(14)
    # 2, Wh, Ww
    coords = torch.stack(torch.meshgrid([coords_h, coords_w], indexing="ij"))
    coords_flatten = torch.flatten(coords, 1)  # 2, Wh*Ww
    # 2, Wh*Ww, Wh*Ww
    relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
    # Wh*Ww, Wh*Ww, 2
    relative_coords = relative_coords.permute(1, 2, 0).contiguous()
    relative_coords[:, :, 0] += 14 - 1  # shift to start from 0
    relative_coords[:, :, 1] += 14 - 1
    relative_coords[:, :, 0] *= 2 * 14 - 1
    relative_position_index = relative_coords.sum(-1)  # Wh*Ww, Wh*Ww
    return relative_position_index


RELATIVE_POSITION_INDEX = relative_position_index()


def window_attention(
    params: dict[str, Tensor], x: Tensor, *, num_heads: int = 2, scale: float = 0.25
) -> Tensor:
    """Window based multi-head self attention (W-MSA) with relative position bias."""
    B_, N, C = x.shape
    qkv = (
        F.linear(x, params["qkv.weight"], params["qkv.bias"])
        .reshape(B_, N, 3, num_heads, C // num_heads)
        .permute(2, 0, 3, 1, 4)
    )
    # make torchscript happy (cannot use tensor as tuple)
    q, k, v = qkv[0], qkv[1], qkv[2]
    q = q * scale
    attn = q @ k.transpose(-2, -1)
    # Wh*Ww,Wh*Ww,nH
    relative_position_bias = params["relative_position_bias_table"][
        RELATIVE_POSITION_INDEX.view(-1)
    ].view(196, 196, -1)
    # nH, Wh*Ww, Wh*Ww
    relative_position_bias = relative_position_bias.permute(2, 0, 1).contiguous()
    attn = attn + relative_position_bias.unsqueeze(0)
    attn = F.softmax(attn, dim=-1)
    x = (attn @ v).transpose(1, 2).reshape(B_, N, C)
    x = F.linear(x, params["proj.weight"], params["proj.bias"])
    return x


def init_params() -> dict[str, Tensor]:
    """Fresh weights for `window_attention`, equal to a new `WindowAttention`'s under
    the same seed.

    Calls on `params` between the assignments are the model's own initialisation code,
    run where its `__init__` runs it.
    """
    params: dict[str, Tensor] = {}
    # define a parameter table of relative position bias
    # 2*Wh-1 * 2*Ww-1, nH
    params["relative_position_bias_table"] = torch.empty(729, 2)
    params["qkv.weight"] = nn.init.kaiming_uniform_(torch.empty(96, 32), a=math.sqrt(5))
    params["qkv.bias"] = nn.init.uniform_(
        torch.empty(96), -1 / math.sqrt(32), 1 / math.sqrt(32)
    )
    params["proj.weight"] = nn.init.kaiming_uniform_(
        torch.empty(32, 32), a=math.sqrt(5)
    )
    params["proj.bias"] = nn.init.uniform_(
        torch.empty(32), -1 / math.sqrt(32), 1 / math.sqrt(32)
    )
    nn.init.trunc_normal_(params["relative_position_bias_table"], std=0.02)
    return params
