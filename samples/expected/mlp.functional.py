import torch
import torch.nn.functional as F
from torch import Tensor


def mlp(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    out = F.layer_norm(x, (32,), params["norm.weight"], params["norm.bias"])
    out = F.linear(out, params["fc1.weight"], params["fc1.bias"])
    out = F.gelu(out, approximate="tanh")
    out = F.dropout(out, p=0.1, training=training)
    out = F.linear(out, params["fc2.weight"], params["fc2.bias"])
    x = x + out
    x = torch.tanh(x)
    x = F.linear(x, params["head.weight"], params["head.bias"])
    x = F.softmax(x, dim=-1)
    return x
