import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("bias", torch.empty(1, 1, 16, 16))
        self.c_attn = nn.Linear(16, 48)
        self.softmax = nn.Softmax(dim=-1)
        self.dropout1 = nn.Dropout(0.1)
        self.c_proj = nn.Linear(16, 16)
        self.dropout2 = nn.Dropout(0.1)

    def forward(self, x):
        out = self.c_attn(x)
        out, out2, out3 = out.split(16, dim=2)
        out2 = out2.view(x.size()[0], x.size()[1], 2, x.size()[2] // 2)
        out2 = out2.transpose(1, 2)
        out = out.view(x.size()[0], x.size()[1], 2, x.size()[2] // 2)
        out = out.transpose(1, 2)
        out3 = out3.view(x.size()[0], x.size()[1], 2, x.size()[2] // 2)
        out3 = out3.transpose(1, 2)
        out4 = out2.transpose(-2, -1)
        out = out @ out4
        out = out * (1.0 / math.sqrt(out2.size(-1)))
        out2 = self.bias[:, :, : x.size()[1], : x.size()[1]]
        out2 = out2 == 0
        out = out.masked_fill(out2, -float("inf"))
        out = self.softmax(out)
        out = self.dropout1(out)
        out = out @ out3
        out = out.transpose(1, 2)
        out = out.contiguous()
        out = out.view(x.size()[0], x.size()[1], x.size()[2])
        out = self.c_proj(out)
        out = self.dropout2(out)
        return out


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(16)
        self.attn = CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(16)
        self.mlp = nn.Sequential(
            nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 16), nn.Dropout(0.1)
        )

    def forward(self, x):
        out = self.ln_1(x)
        out = self.attn(out)
        x = x + out
        out = self.ln_2(x)
        out = self.mlp(out)
        x = x + out
        return x


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(64, 16)
        self.wpe = nn.Embedding(16, 16)
        self.dropout = nn.Dropout(0.1)
        self.h = nn.ModuleList([Block(), Block()])
        self.ln_f = nn.LayerNorm(16)
        self.lm_head = nn.Linear(16, 64, bias=False)
        self.wte.weight = self.lm_head.weight

    def forward(self, idx, targets=None):
        if idx.size()[1] > 16:
            raise ValueError(
                "input shape differs from the traced one; convert again with this shape"
            )
        out = torch.arange(0, idx.size()[1], dtype=torch.int64, device=idx.device)
        idx = self.wte(idx)
        out = self.wpe(out)
        idx = idx + out
        idx = self.dropout(idx)
        for block in self.h:
            idx = block(idx)
        idx = self.ln_f(idx)
        if targets is None:
            idx = idx[:, [-1], :]
        idx = self.lm_head(idx)
        if targets is not None:
            out = idx.view(-1, idx.size(-1))
            out2 = targets.view(-1)
            out = F.cross_entropy(out, out2, ignore_index=-1)
        else:
            out = None
        return (idx, out)
