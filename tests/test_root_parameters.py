"""The root keeps the ``__init__`` parameters the source writes through, in a ViT's style.

Two uses used to make a root parameter partial (written as a number
somewhere, so dropped everywhere) though the output writes them through
the name: an einops ``Rearrange(pattern, p1=patch_size)``, whose keywords
are its ``**axes_lengths``, and ``self.scale = dim_head ** -0.5`` (DINO's
``qk_scale or head_dim ** -0.5``), an attribute ``forward`` reads that the
class sets as the source does. Each output is checked in train mode, built
again with other values it must build what the source builds, and read
back it converts to the same text.
"""

from __future__ import annotations

import pytest
import torch
from einops.layers.torch import Rearrange
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output, recorded_conversion

CLASS_STYLES = [Style.MODULE, Style.MIXED]
IMAGES = (torch.randn(2, 3, 8, 8),)


class Attention(nn.Module):
    """vit-pytorch's and DINO's: ``self.scale`` from the parameters, read by ``forward``."""

    def __init__(self, dim, num_heads=2, qk_scale=None):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = qk_scale or head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class PatchViT(nn.Module):
    """Patches cut by ``Rearrange(..., p1=patch_size)``, attended with a scale of ``dim``."""

    def __init__(self, image_size=8, patch_size=4, channels=3, dim=16, num_heads=2):
        super().__init__()
        patch_dim = channels * patch_size * patch_size
        num_patches = (image_size // patch_size) ** 2
        self.to_patches = nn.Sequential(
            Rearrange(
                "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size
            ),
            nn.Linear(patch_dim, dim),
        )
        self.pos = nn.Parameter(torch.randn(num_patches, dim))
        self.attn = Attention(dim, num_heads)
        self.head = nn.Linear(dim, 10)

    def forward(self, img):
        x = self.to_patches(img) + self.pos
        return self.head(self.attn(x).mean(dim=1))


class FixedHeads(nn.Module):
    """The head count only picks a layer: the head width cannot be kept."""

    def __init__(self, dim=16, num_heads=2):
        super().__init__()
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.proj = nn.Linear(dim, dim) if num_heads > 1 else nn.Identity()

    def forward(self, x):
        return self.proj(x * self.scale)


class GraphConv(nn.Module):
    """pytorch/examples' GCN layer: its weight drawn as ``torch.Tensor(sizes)``, then initialised."""

    def __init__(self, input_dim, output_dim):
        super().__init__()
        self.kernel = nn.Parameter(torch.Tensor(input_dim, output_dim))
        nn.init.xavier_normal_(self.kernel)

    def forward(self, x, adj):
        return adj @ (x @ self.kernel)


class GCN(nn.Module):
    def __init__(self, input_dim=6, hidden_dim=5, output_dim=3):
        super().__init__()
        self.gc1 = GraphConv(input_dim, hidden_dim)
        self.gc2 = GraphConv(hidden_dim, output_dim)

    def forward(self, x, adj):
        return self.gc2(torch.relu(self.gc1(x, adj)), adj)


GRAPH = (torch.randn(4, 6), torch.eye(4))


def _patch_vit(style: Style) -> nnconvert.Conversion:
    return recorded_conversion(PatchViT, style, IMAGES)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_patch_size_and_the_scale_are_written_through_the_parameters(style):
    source = _patch_vit(style).source
    assert (
        "def __init__(self, image_size=8, patch_size=4, channels=3, dim=16, "
        "num_heads=2):" in source
    )
    assert "p1=patch_size, p2=patch_size" in source
    assert "nn.Linear(patch_dim, dim)" in source
    assert "Attention(dim, num_heads" in source  # positional or by keyword
    assert "self.scale = qk_scale or head_dim**-0.5" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_root_built_with_other_values_is_the_source_built_so(style):
    conversion = _patch_vit(style)
    built = conversion.namespace()[conversion.name]
    changes = (
        ({"patch_size": 2}, IMAGES),
        ({"channels": 1}, (torch.randn(2, 1, 8, 8),)),
        ({"dim": 32}, IMAGES),
        ({"num_heads": 4}, IMAGES),
        ({"image_size": 16}, (torch.randn(2, 3, 16, 16),)),
    )
    for changed, inputs in changes:
        torch.manual_seed(0)
        original = PatchViT(**changed).eval()
        output = built(**changed).eval()
        output.load_state_dict(original.state_dict())
        torch.testing.assert_close(output(*inputs), original(*inputs))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_output_read_back_converts_to_the_same_text(style):
    first = _patch_vit(style)
    again = nnconvert.convert(load_output(first), style, IMAGES)
    again.check(train=True)
    assert again.source == first.source


@pytest.mark.printed_from_trace
def test_a_local_reading_a_dropped_parameter_is_not_written():
    """``head_dim = dim // num_heads`` with ``num_heads`` dropped: ``self.scale`` is a number.

    ``num_heads`` only picks ``self.proj``'s layer, which the output writes
    as the one built: the root drops it, and the local reading it cannot be
    written, nor the scale computed from it. (``dim=16``, which sizes
    ``self.proj``, is kept by :mod:`nnconvert.printer.root_arguments`,
    which does not see the scale.)
    """
    source = recorded_conversion(FixedHeads, Style.MODULE, (torch.randn(2, 16),)).source
    assert "num_heads" not in source and "head_dim" not in source
    assert "self.scale = 0.3535533905932738" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_drawn_parameter_is_sized_through_the_parameters(style):
    """``nn.Parameter(torch.Tensor(input_dim, output_dim))``: the root keeps all three widths."""
    conversion = recorded_conversion(GCN, style, GRAPH)
    source = conversion.source
    assert "def __init__(self, input_dim=6, hidden_dim=5, output_dim=3):" in source
    assert "(input_dim, output_dim))" in source  # torch.empty, or as written
    built = conversion.namespace()[conversion.name]
    for changed in ({"input_dim": 7}, {"hidden_dim": 2}, {"output_dim": 4}):
        torch.manual_seed(0)
        original = GCN(**changed).eval()
        output = built(**changed).eval()
        output.load_state_dict(original.state_dict())
        x = torch.randn(4, changed.get("input_dim", 6))
        torch.testing.assert_close(output(x, GRAPH[1]), original(x, GRAPH[1]))
    again = nnconvert.convert(load_output(conversion), style, GRAPH)
    again.check(train=True)
    assert again.source == source
