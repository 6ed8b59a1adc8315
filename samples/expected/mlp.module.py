import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, dim=32, hidden=64, classes=5):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.gelu = nn.GELU(approximate="tanh")
        self.dropout = nn.Dropout(0.1)
        self.fc2 = nn.Linear(hidden, dim)
        self.head = nn.Linear(dim, classes)
        self.tanh = nn.Tanh()
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x):
        h = self.norm(x)
        h = self.gelu(self.fc1(h))
        h = self.dropout(h)
        x = x + self.fc2(h)
        x = self.tanh(x)
        return self.softmax(self.head(x))
