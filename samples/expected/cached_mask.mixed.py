import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(32, 4)
        self.norm1 = nn.LayerNorm(32)
        self.linear1 = nn.Linear(32, 64)
        self.linear2 = nn.Linear(64, 32)
        self.norm2 = nn.LayerNorm(32)

    def forward(self, src):
        len_ = len(src)
        len_ = torch.ones(len_, len_)
        len_ = torch.tril(len_)
        len_ = torch.log(len_)
        len_ = len_.to(src.device)
        src = src * 5.656854249492381
        src = src + self.self_attn(src, src, src, need_weights=False, attn_mask=len_)[0]
        src = self.norm1(src)
        out = F.dropout(F.relu(self.linear1(src)), p=0.1, training=self.training)
        src = src + self.linear2(out)
        src = self.norm2(src)
        return src
