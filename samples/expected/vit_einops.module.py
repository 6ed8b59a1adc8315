import torch
import torch.nn as nn
from einops import rearrange, repeat
from einops.layers.torch import Rearrange, Reduce


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(32)
        self.to_qkv = nn.Linear(32, 48, bias=False)
        self.softmax = nn.Softmax(dim=-1)
        self.to_out = nn.Linear(16, 32)

    def forward(self, x):
        x = self.norm(x)
        x = self.to_qkv(x)
        x, out, out2 = x.chunk(3, dim=-1)
        x = rearrange(x, "b n (h d) -> b h n d", h=2)
        out = rearrange(out, "b n (h d) -> b h n d", h=2)
        out2 = rearrange(out2, "b n (h d) -> b h n d", h=2)
        out = out.transpose(-1, -2)
        x = torch.matmul(x, out)
        x = x * 0.3535533905932738
        x = self.softmax(x)
        x = torch.matmul(x, out2)
        x = rearrange(x, "b h n d -> b n (h d)")
        x = self.to_out(x)
        return x


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.cls_token = nn.Parameter(torch.empty(1, 1, 32))
        self.pos_embedding = nn.Parameter(torch.empty(1, 17, 32))
        self.to_patch_embedding = nn.Sequential(
            Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=4, p2=4),
            nn.LayerNorm(48),
            nn.Linear(48, 32),
        )
        self.dropout = nn.Dropout(0.1)
        self.attn = Attention()
        self.pool = Reduce("b n d -> b d", "mean")
        self.head = nn.Linear(32, 10)

    def forward(self, img):
        img = self.to_patch_embedding(img)
        out = repeat(self.cls_token, "1 1 d -> b 1 d", b=img.shape[0])
        out = torch.cat((out, img), dim=1)
        out = out + self.pos_embedding
        out = self.dropout(out)
        out2 = self.attn(out)
        out = out + out2
        out = self.pool(out)
        out = self.head(out)
        return out
