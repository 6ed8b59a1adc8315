import torch
import torch.nn as nn
import torch.nn.functional as F


class BertEncoder(nn.Module):
    def __init__(
        self,
        vocab_size=100,
        hidden=32,
        heads=4,
        layers=2,
        intermediate=64,
        max_len=16,
        classes=3,
        dropout=0.1,
    ):
        super().__init__()
        self.token_embeddings = nn.Embedding(vocab_size, hidden)
        self.position_embeddings = nn.Embedding(max_len, hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = dropout
        layer = nn.TransformerEncoderLayer(
            hidden,
            heads,
            dim_feedforward=intermediate,
            dropout=dropout,
            activation="gelu",
            layer_norm_eps=1e-12,
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers)
        # the pooler: the first ([CLS]) token through a dense layer and tanh
        self.pooler = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, input_ids, attention_mask):
        positions = torch.arange(input_ids.size(1), device=input_ids.device)
        x = self.token_embeddings(input_ids) + self.position_embeddings(positions)
        x = F.dropout(self.embedding_norm(x), p=self.dropout, training=self.training)
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return self.classifier(pooled)
