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


def init_params() -> dict[str, Tensor]:
    """Fresh weights for `mlp`, with the original `state_dict()` keys.

    Same shapes and dtypes; each layer is initialised as `torch.nn` initialises it by
    default, so after the same `torch.manual_seed`, the tensors equal those of a newly
    built `MLP`, bit for bit (nnconvert compared them).
    """
    params: dict[str, Tensor] = {}
    params["norm.weight"] = torch.ones(32)
    params["norm.bias"] = torch.zeros(32)
    params["fc1.weight"] = nn.init.kaiming_uniform_(torch.empty(64, 32), a=math.sqrt(5))
    params["fc1.bias"] = nn.init.uniform_(
        torch.empty(64), -1 / math.sqrt(32), 1 / math.sqrt(32)
    )
    params["fc2.weight"] = nn.init.kaiming_uniform_(torch.empty(32, 64), a=math.sqrt(5))
    params["fc2.bias"] = nn.init.uniform_(
        torch.empty(32), -1 / math.sqrt(64), 1 / math.sqrt(64)
    )
    params["head.weight"] = nn.init.kaiming_uniform_(torch.empty(5, 32), a=math.sqrt(5))
    params["head.bias"] = nn.init.uniform_(
        torch.empty(5), -1 / math.sqrt(32), 1 / math.sqrt(32)
    )
    return params
