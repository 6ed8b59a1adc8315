import torch
import torch.nn.functional as F
from torch import Tensor


def conv_net(params: dict[str, Tensor], x: Tensor, *, training: bool = False) -> Tensor:
    x = F.conv2d(x, params["conv1.weight"], padding=1)
    if training:
        params["bn1.num_batches_tracked"] += 1
    x = F.batch_norm(
        x,
        params["bn1.running_mean"],
        params["bn1.running_var"],
        params["bn1.weight"],
        params["bn1.bias"],
        training=training,
    )
    x = F.relu(x, inplace=True)
    x = F.conv2d(x, params["conv2.weight"], stride=2, padding=1)
    if training:
        params["bn2.num_batches_tracked"] += 1
    x = F.batch_norm(
        x,
        params["bn2.running_mean"],
        params["bn2.running_var"],
        params["bn2.weight"],
        params["bn2.bias"],
        training=training,
    )
    x = F.relu(x, inplace=True)
    x = F.adaptive_avg_pool2d(x, 1)
    x = torch.flatten(x, 1)
    x = F.dropout(x, p=0.2, training=training)
    x = F.linear(x, params["fc.weight"], params["fc.bias"])
    return x
