import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def patch_embed(params: dict[str, Tensor], x: Tensor) -> Tensor:
    x = F.conv2d(x, params["proj.weight"], params["proj.bias"], stride=4)
    return torch.flatten(x, 2).transpose(1, 2)


def block(params: dict[str, Tensor], x: Tensor) -> Tensor:
    h = F.layer_norm(x, (32,), params["norm1.weight"], params["norm1.bias"])
    h = h.transpose(1, 0)
    x = x + F.multi_head_attention_forward(
        h,
        h,
        h,
        embed_dim_to_check=32,
        num_heads=4,
        in_proj_weight=params["attn.in_proj_weight"],
        in_proj_bias=params["attn.in_proj_bias"],
        bias_k=None,
        bias_v=None,
        add_zero_attn=False,
        dropout_p=0.0,
        out_proj_weight=params["attn.out_proj.weight"],
        out_proj_bias=params["attn.out_proj.bias"],
        need_weights=False,
    )[0].transpose(1, 0)
    return x + F.linear(
        F.gelu(
            F.linear(
                F.layer_norm(x, (32,), params["norm2.weight"], params["norm2.bias"]),
                params["fc1.weight"],
                params["fc1.bias"],
            )
        ),
        params["fc2.weight"],
        params["fc2.bias"],
    )


def tiny_vi_t(params: dict[str, Tensor], x: Tensor) -> Tensor:
    x = patch_embed(sub_params(params, "patch_embed."), x)
    cls_token = params["cls_token"].expand(x.shape[0], -1, -1)
    x = torch.cat((cls_token, x), dim=1)
    x = x + params["pos_embed"]
    for i in range(2):
        x = block(sub_params(params, f"blocks.{i}."), x)
    x = F.layer_norm(x, (32,), params["norm.weight"], params["norm.bias"])
    return F.linear(x[:, 0], params["head.weight"], params["head.bias"])


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


def pos_embed() -> Tensor:
    num_patches = (16 // 4) ** 2
    return torch.randn(1, num_patches + 1, 32) * 0.02


def init_params(num_classes: int = 10) -> dict[str, Tensor]:
    """Fresh weights for `tiny_vi_t`, equal to a new `TinyViT`'s under the same seed.

    The 1 tensor below that the model's own `__init__` computes from literals alone is
    built by the same code.

    The 1 tensor below that the model's own `__init__` draws at random is drawn by the
    same code, where it draws it.
    """
    params: dict[str, Tensor] = {}
    params |= kaiming_params("patch_embed.proj", 32, 3, 4, 4)
    params["cls_token"] = torch.zeros(1, 1, 32)
    params["pos_embed"] = pos_embed()
    for i in range(2):
        params[f"blocks.{i}.norm1.weight"] = torch.ones(32)
        params[f"blocks.{i}.norm1.bias"] = torch.zeros(32)
        params[f"blocks.{i}.attn.out_proj.weight"] = nn.init.kaiming_uniform_(
            torch.empty(32, 32), a=math.sqrt(5)
        )
        params[f"blocks.{i}.attn.out_proj.bias"] = nn.init.uniform_(
            torch.empty(32), -1 / math.sqrt(32), 1 / math.sqrt(32)
        )
        nn.init.constant_(params[f"blocks.{i}.attn.out_proj.bias"], 0.0)
        params[f"blocks.{i}.attn.in_proj_weight"] = nn.init.xavier_uniform_(
            torch.empty(96, 32)
        )
        params[f"blocks.{i}.attn.in_proj_bias"] = torch.zeros(96)
        params[f"blocks.{i}.norm2.weight"] = torch.ones(32)
        params[f"blocks.{i}.norm2.bias"] = torch.zeros(32)
        params |= kaiming_params(f"blocks.{i}.fc1", 64, 32)
        params |= kaiming_params(f"blocks.{i}.fc2", 32, 64)
    params["norm.weight"] = torch.ones(32)
    params["norm.bias"] = torch.zeros(32)
    params |= kaiming_params("head", num_classes, 32)
    return params
