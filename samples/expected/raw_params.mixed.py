import torch
import torch.nn as nn
import torch.nn.functional as F


class Scorer(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, dim) / dim**0.5)
        self.bias = nn.Parameter(torch.zeros(dim))
        self.register_buffer("scale", torch.full((dim,), 0.5))

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        y = F.leaky_relu(y, 0.1) * self.scale
        return F.log_softmax(y, dim=1)
