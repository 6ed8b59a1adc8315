import torch
import torch.nn as nn
import torch.nn.functional as F


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(16, 16))
        self.bias = nn.Parameter(torch.empty(16))
        self.register_buffer("scale", torch.empty(16))

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        y = F.leaky_relu(y, 0.1) * self.scale
        return F.log_softmax(y, dim=1)
