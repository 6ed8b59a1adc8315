import torch
import torch.nn as nn


class GRUClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(50, 16, padding_idx=0)
        self.dropout1 = nn.Dropout(0.3)
        self.gru = nn.GRU(
            16, 24, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True
        )
        self.dropout2 = nn.Dropout(0.3)
        self.fc = nn.Linear(48, 4)

    def forward(self, tokens):
        tokens = self.embedding(tokens)
        tokens = self.dropout1(tokens)
        tokens = self.gru(tokens)[1]
        out = tokens[-2]
        tokens = tokens[-1]
        out = torch.cat((out, tokens), dim=1)
        out = self.dropout2(out)
        out = self.fc(out)
        return out
