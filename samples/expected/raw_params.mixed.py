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
        x = F.linear(x, self.weight, self.bias)
        x = F.leaky_relu(x, 0.1)
        x = x * self.scale
        x = F.log_softmax(x, dim=1)
        return x
