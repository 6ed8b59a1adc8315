import torch
import torch.nn as nn
import torch.nn.functional as F


class GRUClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(50, 16, padding_idx=0)
        self.gru = nn.GRU(
            16, 24, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True
        )
        self.fc = nn.Linear(48, 4)

    def forward(self, tokens):
        tokens = F.dropout(self.embedding(tokens), p=0.3, training=self.training)
        tokens = self.gru(tokens)[1]
        out = tokens[-2]
        tokens = tokens[-1]
        out = torch.cat((out, tokens), dim=1)
        out = F.dropout(out, p=0.3, training=self.training)
        out = self.fc(out)
        return out
