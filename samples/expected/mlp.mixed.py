import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(32)
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 32)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        h = self.norm(x)
        h = F.gelu(self.fc1(h), approximate="tanh")
        h = F.dropout(h, p=0.1, training=self.training)
        x = x + self.fc2(h)
        x = torch.tanh(x)
        return F.softmax(self.head(x), dim=-1)
