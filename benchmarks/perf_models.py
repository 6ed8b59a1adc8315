"""The models ``benchmarks/perf.py`` converts: real-sized nets and synthetic graphs.

torchvision is not installed here, so the ResNet-50 is written out in the
torchvision layout (Bottleneck blocks, ``downsample`` Sequentials, the same
widths and depths). The synthetic models stress one dimension each: a deep
chain (one long graph), wide branches (one node with thousands of users), and
many distinct block classes (thousands of small traces and definitions).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nnconvert import loading  # noqa: E402

#: A model and its example inputs.
Case = tuple[nn.Module, tuple[Any, ...]]


def lenet() -> Case:
    """The tutorial LeNet of ``samples/lenet.py``: the concrete tracer's case."""
    path = ROOT / "samples" / "lenet.py"
    module = loading.import_file(path)
    model = loading.build_model(loading.pick_model(module, path, None), path, {})
    return model, (torch.randn(2, 1, 32, 32),)


class Bottleneck(nn.Module):
    """torchvision's ResNet Bottleneck (expansion 4, stride on the 3x3 conv)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet50(nn.Module):
    """torchvision's ``resnet50`` layout: layers of 3, 4, 6, 3 Bottlenecks."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, 2)
        self.layer3 = self._make_layer(256, 6, 2)
        self.layer4 = self._make_layer(512, 3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet50() -> Case:
    """ResNet-50 (25.6 M parameters) at 64x64, as the NOTES' torchvision figure."""
    return ResNet50(), (torch.randn(2, 3, 64, 64),)


class EncoderBlock(nn.Module):
    """A pre-norm transformer block: attention and an MLP, each with a residual."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        )

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """12 pre-norm blocks over token embeddings, ViT-Small-sized (384 wide, 6 heads)."""

    def __init__(self, depth: int = 12, dim: int = 384, heads: int = 6):
        super().__init__()
        self.embed = nn.Linear(dim, dim)
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(x).mean(1)


def transformer() -> Case:
    """The 12-layer pre-norm transformer on 2 sequences of 16 tokens."""
    return Transformer(), (torch.randn(2, 16, 384),)


def large_transformer() -> Case:
    """The same transformer at 1.2 B parameters (24 blocks, 2048 wide), on the ``meta`` device.

    Meta tensors have shapes and no data: the model is built in a moment
    and takes no memory, and conversion (which needs shapes only) runs as on
    real weights. Its check cannot run (no values): :func:`large_check_copy`
    is the same class at a size that can.
    """
    with torch.device("meta"):
        model = Transformer(depth=24, dim=2048, heads=16)
    return model, (torch.randn(1, 16, 2048, device="meta"),)


def large_check_copy() -> Case:
    """A smaller copy of :func:`large_transformer` with real weights, for its check."""
    return Transformer(depth=2, dim=256, heads=4), (torch.randn(2, 16, 256),)


class Chain(nn.Module):
    """``depth`` blocks of Linear -> LayerNorm -> GELU in one forward: a long graph."""

    def __init__(self, depth: int, width: int = 8):
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(depth))

    def forward(self, x):
        for fc, norm in zip(self.fcs, self.norms):
            x = F.gelu(norm(fc(x)))
        return x


class Wide(nn.Module):
    """``width`` parallel Linear branches of one input, summed: a node with many users."""

    def __init__(self, width: int, features: int = 8):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Linear(features, features) for _ in range(width)
        )

    def forward(self, x):
        total = x
        for branch in self.branches:
            total = total + torch.tanh(branch(x))
        return total


class _Block(nn.Module):
    """Linear -> LayerNorm -> GELU; the synthetic models subclass it per block."""

    def __init__(self, width: int):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        return F.gelu(self.norm(self.fc(x)))


class Distinct(nn.Module):
    """``count`` blocks, each of a class of its own: that many traces and definitions."""

    def __init__(self, count: int, width: int = 8):
        super().__init__()
        classes = [type(f"Block{i}", (_Block,), {}) for i in range(count)]
        self.blocks = nn.ModuleList(cls(width) for cls in classes)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


#: Synthetic families: graph nodes per unit, and the model for ``n`` units.
SYNTHETIC: dict[str, tuple[int, Callable[[int], nn.Module]]] = {
    "deep chain": (3, Chain),
    "wide branches": (3, Wide),
    "distinct blocks": (6, Distinct),
}


def synthetic(family: str, nodes: int) -> Case:
    """A ``family`` model of about ``nodes`` graph nodes in all."""
    per_unit, make = SYNTHETIC[family]
    return make(max(1, nodes // per_unit)), (torch.randn(2, 8),)


#: The named real-sized models.
MODELS: dict[str, Callable[[], Case]] = {
    "LeNet": lenet,
    "ResNet-50": resnet50,
    "transformer (12 layers)": transformer,
}
