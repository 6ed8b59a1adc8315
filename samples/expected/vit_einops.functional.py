import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from einops import rearrange, repeat
from einops.layers.torch import Rearrange, Reduce


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


rearrange_layer = Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=4, p2=4)
reduce_layer = Reduce("b n d -> b d", "mean")


def to_patch_embedding(params: dict[str, Tensor], x: Tensor) -> Tensor:
    x = rearrange_layer(x)
    x = F.layer_norm(x, (48,), params["1.weight"], params["1.bias"])
    x = F.linear(x, params["2.weight"], params["2.bias"])
    return x


def attention(
    params: dict[str, Tensor],
    x: Tensor,
    *,
    heads: int = 2,
    scale: float = 0.3535533905932738,
) -> Tensor:
    x = F.layer_norm(x, (32,), params["norm.weight"], params["norm.bias"])
    q, k, v = F.linear(x, params["to_qkv.weight"]).chunk(3, dim=-1)
    q = rearrange(q, "b n (h d) -> b h n d", h=heads)
    k = rearrange(k, "b n (h d) -> b h n d", h=heads)
    v = rearrange(v, "b n (h d) -> b h n d", h=heads)
    attn = torch.matmul(q, k.transpose(-1, -2)) * scale
    out = torch.matmul(F.softmax(attn, dim=-1), v)
    out = rearrange(out, "b h n d -> b n (h d)")
    return F.linear(out, params["to_out.weight"], params["to_out.bias"])


def vi_t(params: dict[str, Tensor], img: Tensor, *, training: bool = False) -> Tensor:
    x = to_patch_embedding(sub_params(params, "to_patch_embedding."), img)
    cls_tokens = repeat(params["cls_token"], "1 1 d -> b 1 d", b=x.shape[0])
    x = torch.cat((cls_tokens, x), dim=1)
    x = F.dropout(x + params["pos_embedding"], p=0.1, training=training)
    x = x + attention(sub_params(params, "attn."), x)
    return F.linear(reduce_layer(x), params["head.weight"], params["head.bias"])


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


def pos_embedding() -> Tensor:
    num_patches = (16 // 4) ** 2
    return torch.randn(1, num_patches + 1, 32)


def init_params(num_classes: int = 10) -> dict[str, Tensor]:
    """Fresh weights for `vi_t`, equal to a new `ViT`'s under the same seed.

    The 2 tensors below that the model's own `__init__` draws at random are drawn by the
    same code, where it draws them.
    """
    params: dict[str, Tensor] = {}
    params["to_patch_embedding.1.weight"] = torch.ones(48)
    params["to_patch_embedding.1.bias"] = torch.zeros(48)
    params |= kaiming_params("to_patch_embedding.2", 32, 48)
    params["cls_token"] = torch.randn(1, 1, 32)
    params["pos_embedding"] = pos_embedding()
    params["attn.norm.weight"] = torch.ones(32)
    params["attn.norm.bias"] = torch.zeros(32)
    params |= kaiming_params("attn.to_qkv", 48, 32, bias=False)
    params |= kaiming_params("attn.to_out", 32, 16)
    params |= kaiming_params("head", num_classes, 32)
    return params
