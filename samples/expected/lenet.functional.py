import torch
import torch.nn.functional as F
from torch import Tensor


def net(params: dict[str, Tensor], x: Tensor) -> Tensor:
    x = F.conv2d(x, params["conv1.weight"], params["conv1.bias"])
    x = F.relu(x)
    x = F.max_pool2d(x, 2)
    x = F.conv2d(x, params["conv2.weight"], params["conv2.bias"])
    x = F.relu(x)
    x = F.max_pool2d(x, 2)
    x = torch.flatten(x, 1)
    x = F.linear(x, params["fc1.weight"], params["fc1.bias"])
    x = F.relu(x)
    x = F.linear(x, params["fc2.weight"], params["fc2.bias"])
    x = F.relu(x)
    x = F.linear(x, params["fc3.weight"], params["fc3.bias"])
    return x
