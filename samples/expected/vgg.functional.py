import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def features(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    x = F.conv2d(x, params["0.weight"], params["0.bias"], padding=1)
    x = F.relu(x, inplace=True)
    x = F.max_pool2d(x, 2)
    x = F.conv2d(x, params["3.weight"], params["3.bias"], padding=1)
    if training:
        params["4.num_batches_tracked"] += 1
    x = F.batch_norm(
        x,
        params["4.running_mean"],
        params["4.running_var"],
        params["4.weight"],
        params["4.bias"],
        training=training,
    )
    x = F.relu(x, inplace=True)
    x = F.max_pool2d(x, 2)
    return x


def classifier(
    params: dict[str, Tensor], x: Tensor, *, training: bool = False
) -> Tensor:
    x = F.linear(x, params["0.weight"], params["0.bias"])
    x = F.relu(x, inplace=True)
    x = F.dropout(x, training=training)
    x = F.linear(x, params["3.weight"], params["3.bias"])
    return x


def vgg(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    x = features(sub_params(params, "features."), x, training=training)
    x = F.adaptive_avg_pool2d(x, 2)
    x = torch.flatten(x, 1)
    x = classifier(sub_params(params, "classifier."), x, training=training)
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


def init_params(num_classes: int = 10) -> dict[str, Tensor]:
    """Fresh weights for `vgg`, equal to a new `VGG`'s under the same seed."""
    params: dict[str, Tensor] = {}
    params |= kaiming_params("features.0", 16, 3, 3, 3)
    params |= kaiming_params("features.3", 32, 16, 3, 3)
    params["features.4.weight"] = torch.ones(32)
    params["features.4.bias"] = torch.zeros(32)
    params["features.4.running_mean"] = torch.zeros(32)
    params["features.4.running_var"] = torch.ones(32)
    params["features.4.num_batches_tracked"] = torch.tensor(0)
    params |= kaiming_params("classifier.0", 64, 128)
    params |= kaiming_params("classifier.3", num_classes, 64)
    return params
