import torch
import torch.nn as nn


class PatchEmbed(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 32, 4, stride=4)
        self.flatten = nn.Flatten(2)

    def forward(self, x):
        x = self.proj(x)
        x = self.flatten(x)
        x = x.transpose(1, 2)
        return x


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(32)
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.norm2 = nn.LayerNorm(32)
        self.fc1 = nn.Linear(32, 64)
        self.gelu = nn.GELU()
        self.fc2 = nn.Linear(64, 32)

    def forward(self, x):
        h = self.norm1(x)
        h = self.attn(h, h, h, need_weights=False)[0]
        x = x + h
        out = self.norm2(x)
        out = self.fc1(out)
        out = self.gelu(out)
        out = self.fc2(out)
        x = x + out
        return x


class TinyViT(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.cls_token = nn.Parameter(torch.empty(1, 1, 32))
        self.pos_embed = nn.Parameter(torch.empty(1, 17, 32))
        self.patch_embed = PatchEmbed()
        self.blocks = nn.ModuleList([Block() for _ in range(2)])
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        cls_token = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls_token, x), dim=1)
        x = x + self.pos_embed
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        x = x[:, 0]
        x = self.head(x)
        return x
