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


def downsample(
    params: dict[str, Tensor], x: Tensor, *, training: bool = False
) -> Tensor:
    x = F.conv2d(x, params["0.weight"], stride=2)
    x = batch_norm(sub_params(params, "1."), x, training=training)
    return x


def basic_block(
    params: dict[str, Tensor],
    x: Tensor,
    *,
    stride: int,
    has_downsample: bool,
    training: bool = False,
) -> Tensor:
    out = F.conv2d(x, params["conv1.weight"], stride=stride, padding=1)
    out = batch_norm(sub_params(params, "bn1."), out, training=training)
    out = F.relu(out, inplace=True)
    out = F.conv2d(out, params["conv2.weight"], padding=1)
    out = batch_norm(sub_params(params, "bn2."), out, training=training)
    if has_downsample:
        x = downsample(sub_params(params, "downsample."), x, training=training)
    out = out + x
    out = F.relu(out, inplace=True)
    return out


def layer1(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    for i in range(2):
        x = basic_block(
            sub_params(params, f"{i}."),
            x,
            stride=1,
            has_downsample=False,
            training=training,
        )
    return x


def layer(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    for i, (stride, has_downsample) in enumerate(zip((2, 1), (True, False))):
        x = basic_block(
            sub_params(params, f"{i}."),
            x,
            stride=stride,
            has_downsample=has_downsample,
            training=training,
        )
    return x


def res_net(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    x = F.conv2d(x, params["conv1.weight"], padding=1)
    x = batch_norm(sub_params(params, "bn1."), x, training=training)
    x = F.relu(x, inplace=True)
    x = layer1(sub_params(params, "layer1."), x, training=training)
    x = layer(sub_params(params, "layer2."), x, training=training)
    x = layer(sub_params(params, "layer3."), x, training=training)
    x = F.adaptive_avg_pool2d(x, 1)
    x = torch.flatten(x, 1)
    x = F.linear(x, params["fc.weight"], params["fc.bias"])
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


def batch_norm_params(prefix: str, num_features: int) -> dict[str, Tensor]:
    """An `nn.BatchNorm*d`: affine weight and bias, then its running statistics."""
    return {
        f"{prefix}.weight": torch.ones(num_features),
        f"{prefix}.bias": torch.zeros(num_features),
        f"{prefix}.running_mean": torch.zeros(num_features),
        f"{prefix}.running_var": torch.ones(num_features),
        f"{prefix}.num_batches_tracked": torch.tensor(0),
    }


def basic_block_params(
    prefix: str, inplanes: int, planes: int, has_downsample: bool = False
) -> dict[str, Tensor]:
    params: dict[str, Tensor] = {}
    if has_downsample:
        params |= kaiming_params(
            f"{prefix}.downsample.0", planes, inplanes, 1, 1, bias=False
        )
        params |= batch_norm_params(f"{prefix}.downsample.1", planes)
    params |= kaiming_params(f"{prefix}.conv1", planes, inplanes, 3, 3, bias=False)
    params |= batch_norm_params(f"{prefix}.bn1", planes)
    params |= kaiming_params(f"{prefix}.conv2", planes, planes, 3, 3, bias=False)
    params |= batch_norm_params(f"{prefix}.bn2", planes)
    return params


def init_params(num_classes: int = 10) -> dict[str, Tensor]:
    """Fresh weights for `res_net`, equal to a new `ResNet`'s under the same seed."""
    params: dict[str, Tensor] = {}
    params |= kaiming_params("conv1", 16, 3, 3, 3, bias=False)
    params |= batch_norm_params("bn1", 16)
    params |= basic_block_params("layer1.0", 16, 16)
    params |= basic_block_params("layer1.1", 16, 16)
    params |= basic_block_params("layer2.0", 16, 32, has_downsample=True)
    params |= basic_block_params("layer2.1", 32, 32)
    params |= basic_block_params("layer3.0", 32, 64, has_downsample=True)
    params |= basic_block_params("layer3.1", 64, 64)
    params |= kaiming_params("fc", num_classes, 64)
    return params
