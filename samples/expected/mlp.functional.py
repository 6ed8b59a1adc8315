import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def mlp(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    h = F.layer_norm(x, (32,), params["norm.weight"], params["norm.bias"])
    h = F.gelu(
        F.linear(h, params["fc1.weight"], params["fc1.bias"]), approximate="tanh"
    )
    h = F.dropout(h, p=0.1, training=training)
    x = x + F.linear(h, params["fc2.weight"], params["fc2.bias"])
    x = torch.tanh(x)
    return F.softmax(F.linear(x, params["head.weight"], params["head.bias"]), dim=-1)


def norm_params(prefix: str, *shape: int, bias: bool = True) -> dict[str, Tensor]:
    """A normalisation layer's affine weight (ones) and bias (zeros) of `shape`."""
    params = {f"{prefix}.weight": torch.ones(shape)}
    if bias:
        params[f"{prefix}.bias"] = torch.zeros(shape)
    return params


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


def init_params(dim: int = 32, hidden: int = 64, classes: int = 5) -> dict[str, Tensor]:
    """Fresh weights for `mlp`, equal to a new `MLP`'s under the same seed."""
    params: dict[str, Tensor] = {}
    params |= norm_params("norm", dim)
    params |= kaiming_params("fc1", hidden, dim)
    params |= kaiming_params("fc2", dim, hidden)
    params |= kaiming_params("head", classes, dim)
    return params
