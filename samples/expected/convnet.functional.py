import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def conv_net(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    if training:
        params["bn1.num_batches_tracked"] += 1
    x = F.relu(
        F.batch_norm(
            F.conv2d(x, params["conv1.weight"], padding=1),
            params["bn1.running_mean"],
            params["bn1.running_var"],
            params["bn1.weight"],
            params["bn1.bias"],
            training=training,
        ),
        inplace=True,
    )
    if training:
        params["bn2.num_batches_tracked"] += 1
    x = F.relu(
        F.batch_norm(
            F.conv2d(x, params["conv2.weight"], stride=2, padding=1),
            params["bn2.running_mean"],
            params["bn2.running_var"],
            params["bn2.weight"],
            params["bn2.bias"],
            training=training,
        ),
        inplace=True,
    )
    x = F.adaptive_avg_pool2d(x, 1)
    x = torch.flatten(x, 1)
    x = F.dropout(x, p=0.2, training=training)
    return F.linear(x, params["fc.weight"], params["fc.bias"])


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
    """Fresh weights for `conv_net`, equal to a new `ConvNet`'s under the same seed."""
    params: dict[str, Tensor] = {}
    params |= kaiming_params("conv1", 16, 3, 3, 3, bias=False)
    params["bn1.weight"] = torch.ones(16)
    params["bn1.bias"] = torch.zeros(16)
    params["bn1.running_mean"] = torch.zeros(16)
    params["bn1.running_var"] = torch.ones(16)
    params["bn1.num_batches_tracked"] = torch.tensor(0)
    params |= kaiming_params("conv2", 32, 16, 3, 3, bias=False)
    params["bn2.weight"] = torch.ones(32)
    params["bn2.bias"] = torch.zeros(32)
    params["bn2.running_mean"] = torch.zeros(32)
    params["bn2.running_var"] = torch.ones(32)
    params["bn2.num_batches_tracked"] = torch.tensor(0)
    params |= kaiming_params("fc", num_classes, 32)
    return params
