import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def drop_path(
    x, drop_prob: float = 0.0, training: bool = False, scale_by_keep: bool = True
):
    """Drop paths (Stochastic Depth) per sample (when applied in main path of residual blocks)."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    # work with diff dim tensors, not just 2D ConvNets
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0 and scale_by_keep:
        random_tensor.div_(keep_prob)
    return x * random_tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def drop_path_2(
    params: dict[str, Tensor],
    x: Tensor,
    *,
    drop_prob: float = 0.2,
    scale_by_keep: bool = True,
    training: bool = False,
) -> Tensor:
    """Drop paths (Stochastic Depth) per sample  (when applied in main path of residual blocks)."""
    return drop_path(x, drop_prob, training, scale_by_keep)


def block(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    shortcut = x
    x = F.conv2d(
        x, params["dwconv.weight"], params["dwconv.bias"], padding=3, groups=16
    )
    # (N, C, H, W) -> (N, H, W, C)
    x = x.permute(0, 2, 3, 1)
    x = F.layer_norm(x, (16,), params["norm.weight"], params["norm.bias"], eps=1e-06)
    x = F.linear(x, params["pwconv1.weight"], params["pwconv1.bias"])
    x = F.gelu(x)
    x = F.linear(x, params["pwconv2.weight"], params["pwconv2.bias"])
    x = params["gamma"] * x
    # (N, H, W, C) -> (N, C, H, W)
    x = x.permute(0, 3, 1, 2)
    return shortcut + drop_path_2(
        sub_params(params, "drop_path."), x, training=training
    )


def blocks(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    for i in range(2):
        x = block(sub_params(params, f"{i}."), x, training=training)
    return x


def stage(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    x = blocks(
        sub_params(params, "blocks."),
        F.conv2d(x, params["stem.weight"], params["stem.bias"], stride=4),
        training=training,
    )
    return F.linear(x.mean([-2, -1]), params["head.weight"], params["head.bias"])


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


def init_params(num_classes: int = 10) -> dict[str, Tensor]:
    """Fresh weights for `stage`, equal to a new `Stage`'s under the same seed.

    The 2 tensors below that the model's own `__init__` computes from literals alone are
    built by the same code.
    """
    params: dict[str, Tensor] = {}
    params |= kaiming_params("stem", 16, 3, 4, 4)
    # one rate for every block (ConvNeXt grows it with depth)
    for i in range(2):
        params[f"blocks.{i}.gamma"] = 0.5 * torch.ones(16)
        params |= kaiming_params(f"blocks.{i}.dwconv", 16, 1, 7, 7)
        params[f"blocks.{i}.norm.weight"] = torch.ones(16)
        params[f"blocks.{i}.norm.bias"] = torch.zeros(16)
        params |= kaiming_params(f"blocks.{i}.pwconv1", 64, 16)
        params |= kaiming_params(f"blocks.{i}.pwconv2", 16, 64)
    params |= kaiming_params("head", num_classes, 16)
    return params
