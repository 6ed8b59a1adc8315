import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def num_flat_features(params: dict[str, Tensor], x: Tensor) -> int:
    size = x.size()[1:]  # all dimensions except the batch dimension
    num_features = 1
    for s in size:
        num_features *= s
    return num_features


def net(params: dict[str, Tensor], x: Tensor) -> Tensor:
    # Max pooling over a (2, 2) window
    x = F.max_pool2d(
        F.relu(F.conv2d(x, params["conv1.weight"], params["conv1.bias"])), 2
    )
    # If the size is a square you can only specify a single number
    x = F.max_pool2d(
        F.relu(F.conv2d(x, params["conv2.weight"], params["conv2.bias"])), 2
    )
    x = x.view(-1, num_flat_features(params, x))
    x = F.relu(F.linear(x, params["fc1.weight"], params["fc1.bias"]))
    x = F.relu(F.linear(x, params["fc2.weight"], params["fc2.bias"]))
    x = F.linear(x, params["fc3.weight"], params["fc3.bias"])
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


def init_params() -> dict[str, Tensor]:
    """Fresh weights for `net`, equal to a new `Net`'s under the same seed."""
    params: dict[str, Tensor] = {}
    # 1 input image channel, 6 output channels, 5x5 square convolution
    # kernel
    params |= kaiming_params("conv1", 6, 1, 5, 5)
    params |= kaiming_params("conv2", 16, 6, 5, 5)
    # an affine operation: y = Wx + b
    params |= kaiming_params("fc1", 120, 400)
    params |= kaiming_params("fc2", 84, 120)
    params |= kaiming_params("fc3", 10, 84)
    return params
