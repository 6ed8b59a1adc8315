import torch.nn as nn
import torch.nn.functional as F


class CharLSTM(nn.Module):
    def __init__(self, vocab_size=40, embed_size=16, hidden_size=32, num_layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(
            embed_size, hidden_size, num_layers, dropout=0.2, batch_first=True
        )
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, hidden=None):
        # x: (batch, seq_len) character indices
        emb = F.dropout(self.embed(x), p=0.2, training=self.training)
        output, hidden = self.lstm(emb, hidden)
        output = F.dropout(output, p=0.2, training=self.training)
        # logits for the next character at every position
        logits = self.decoder(output)
        return logits, hidden
