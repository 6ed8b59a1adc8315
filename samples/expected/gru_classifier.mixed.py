import torch
import torch.nn as nn
import torch.nn.functional as F


class GRUClassifier(nn.Module):
    def __init__(self, vocab_size=50, embed_dim=16, hidden_dim=24, num_classes=4):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.gru = nn.GRU(
            embed_dim,
            hidden_dim,
            num_layers=2,
            batch_first=True,
            bidirectional=True,
            dropout=0.1,
        )
        self.fc = nn.Linear(2 * hidden_dim, num_classes)

    def forward(self, tokens):
        embedded = F.dropout(self.embedding(tokens), p=0.3, training=self.training)
        _, hidden = self.gru(embedded)
        # hidden: (num_layers * 2, batch, hidden_dim); the last layer's two directions
        hidden = torch.cat((hidden[-2], hidden[-1]), dim=1)
        return self.fc(F.dropout(hidden, p=0.3, training=self.training))
