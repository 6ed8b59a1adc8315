import torch.nn as nn
import torch.nn.functional as F


class CharLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(40, 16)
        self.lstm = nn.LSTM(16, 32, num_layers=2, batch_first=True, dropout=0.2)
        self.decoder = nn.Linear(32, 40)

    def forward(self, x, hidden=None):
        x = F.dropout(self.embed(x), p=0.2, training=self.training)
        x, outs = self.lstm(x, hx=hidden)
        x = F.dropout(x, p=0.2, training=self.training)
        x = self.decoder(x)
        return (x, outs)
