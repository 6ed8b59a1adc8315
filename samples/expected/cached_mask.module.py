import math

import torch
import torch.nn as nn


class CausalBlock(nn.Module):
    def __init__(self, d_model=32, nhead=4, dim_feedforward=64, dropout=0.1):
        super().__init__()
        self.src_mask = None
        self.d_model = d_model
        self.self_attn = nn.MultiheadAttention(d_model, nhead)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def _generate_square_subsequent_mask(self, sz):
        return torch.log(torch.tril(torch.ones(sz, sz)))

    def forward(self, src):
        # src: [sequence length, batch size, d_model]
        if self.src_mask is None or self.src_mask.size(0) != len(src):
            mask = self._generate_square_subsequent_mask(len(src)).to(src.device)
            self.src_mask = mask
        x = src * math.sqrt(self.d_model)
        attended = self.self_attn(x, x, x, attn_mask=self.src_mask, need_weights=False)[
            0
        ]
        x = self.norm1(x + attended)
        x = self.norm2(x + self.linear2(self.dropout(self.relu(self.linear1(x)))))
        return x
