import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, dim=32, hidden=64, classes=5):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        h = self.norm(x)
        h = F.gelu(self.fc1(h), approximate="tanh")
        h = F.dropout(h, p=0.1, training=self.training)
        x = x + self.fc2(h)
        x = torch.tanh(x)
        return self.head(x).softmax(dim=-1)
