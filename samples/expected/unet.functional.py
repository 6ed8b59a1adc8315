import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def batch_norm(
    weights: dict[str, Tensor], input: Tensor, training: bool = False
) -> Tensor:
    """``nn.BatchNorm*d`` over its state_dict: train mode counts the batch first."""
    if training and "num_batches_tracked" in weights:
        weights["num_batches_tracked"] += 1
    stats = weights.get("running_mean"), weights.get("running_var")
    affine = weights.get("weight"), weights.get("bias")
    return F.batch_norm(input, *stats, *affine, training, 0.1, 1e-05)


def double_conv(
    params: dict[str, Tensor], x: Tensor, *, training: bool = False
) -> Tensor:
    """(conv => BN => ReLU) * 2"""
    x = F.conv2d(x, params["double_conv.0.weight"], padding=1)
    x = batch_norm(sub_params(params, "double_conv.1."), x, training=training)
    x = F.relu(x, inplace=True)
    x = F.conv2d(x, params["double_conv.3.weight"], padding=1)
    x = batch_norm(sub_params(params, "double_conv.4."), x, training=training)
    x = F.relu(x, inplace=True)
    return x


def down(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    return double_conv(
        sub_params(params, "conv."), F.max_pool2d(x, 2), training=training
    )


def up(
    params: dict[str, Tensor], x1: Tensor, x2: Tensor, *, training: bool = False
) -> Tensor:
    x1 = F.conv_transpose2d(x1, params["up.weight"], params["up.bias"], stride=2)
    x = torch.cat([x2, x1], dim=1)
    return double_conv(sub_params(params, "conv."), x, training=training)


def u_net(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    x1 = double_conv(sub_params(params, "inc."), x, training=training)
    x2 = down(sub_params(params, "down1."), x1, training=training)
    x3 = down(sub_params(params, "down2."), x2, training=training)
    x = up(sub_params(params, "up1."), x3, x2, training=training)
    x = up(sub_params(params, "up2."), x, x1, training=training)
    return F.conv2d(x, params["outc.weight"], params["outc.bias"])


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


def batch_norm_params(prefix: str, num_features: int) -> dict[str, Tensor]:
    """An `nn.BatchNorm*d`: affine weight and bias, then its running statistics."""
    return {
        f"{prefix}.weight": torch.ones(num_features),
        f"{prefix}.bias": torch.zeros(num_features),
        f"{prefix}.running_mean": torch.zeros(num_features),
        f"{prefix}.running_var": torch.ones(num_features),
        f"{prefix}.num_batches_tracked": torch.tensor(0),
    }


def init_params(n_channels: int = 3, n_classes: int = 2) -> dict[str, Tensor]:
    """Fresh weights for `u_net`, equal to a new `UNet`'s under the same seed."""
    params: dict[str, Tensor] = {}
    params |= kaiming_params("inc.double_conv.0", 8, n_channels, 3, 3, bias=False)
    params |= batch_norm_params("inc.double_conv.1", 8)
    params |= kaiming_params("inc.double_conv.3", 8, 8, 3, 3, bias=False)
    params |= batch_norm_params("inc.double_conv.4", 8)
    params |= kaiming_params("down1.conv.double_conv.0", 16, 8, 3, 3, bias=False)
    params |= batch_norm_params("down1.conv.double_conv.1", 16)
    params |= kaiming_params("down1.conv.double_conv.3", 16, 16, 3, 3, bias=False)
    params |= batch_norm_params("down1.conv.double_conv.4", 16)
    params |= kaiming_params("down2.conv.double_conv.0", 32, 16, 3, 3, bias=False)
    params |= batch_norm_params("down2.conv.double_conv.1", 32)
    params |= kaiming_params("down2.conv.double_conv.3", 32, 32, 3, 3, bias=False)
    params |= batch_norm_params("down2.conv.double_conv.4", 32)
    params["up1.up.weight"] = nn.init.kaiming_uniform_(
        torch.empty(32, 16, 2, 2), a=math.sqrt(5)
    )
    params["up1.up.bias"] = nn.init.uniform_(
        torch.empty(16), -1 / math.sqrt(64), 1 / math.sqrt(64)
    )
    params |= kaiming_params("up1.conv.double_conv.0", 16, 32, 3, 3, bias=False)
    params |= batch_norm_params("up1.conv.double_conv.1", 16)
    params |= kaiming_params("up1.conv.double_conv.3", 16, 16, 3, 3, bias=False)
    params |= batch_norm_params("up1.conv.double_conv.4", 16)
    params["up2.up.weight"] = nn.init.kaiming_uniform_(
        torch.empty(16, 8, 2, 2), a=math.sqrt(5)
    )
    params["up2.up.bias"] = nn.init.uniform_(
        torch.empty(8), -1 / math.sqrt(32), 1 / math.sqrt(32)
    )
    params |= kaiming_params("up2.conv.double_conv.0", 8, 16, 3, 3, bias=False)
    params |= batch_norm_params("up2.conv.double_conv.1", 8)
    params |= kaiming_params("up2.conv.double_conv.3", 8, 8, 3, 3, bias=False)
    params |= batch_norm_params("up2.conv.double_conv.4", 8)
    params |= kaiming_params("outc", n_classes, 8, 1, 1)
    return params
