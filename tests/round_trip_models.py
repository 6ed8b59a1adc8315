"""Small models with the shapes on which the real-world suite's round trips broke.

Each reproduces one failure ``benchmarks/round_trips.md`` reported, with the
real model it comes from named in its docstring; ``tests/test_round_trips.py``
trips each through the styles it broke in. They live outside the test files
so that their source (which the output follows, SPEC invariant 8) is plain
Python that pytest does not rewrite.
"""

from __future__ import annotations

import torch
from torch import nn


class MaskedProjection(nn.Module):
    """Whisper's ``MultiHeadAttention``: an optional ``mask`` input, passed by name."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x, mask=None):
        x = self.proj(x)
        if mask is not None:
            x = x + mask
        return x


class MaskedBlock(nn.Module):
    """Whisper's ``ResidualAttentionBlock``: hands its own ``mask`` on by name."""

    def __init__(self):
        super().__init__()
        self.attn = MaskedProjection()

    def forward(self, x, mask=None):
        return x + self.attn(x, mask=mask)


class UnmaskedEncoder(nn.Module):
    """Whisper's ``AudioEncoder``: calls its blocks with ``mask=None`` spelled out.

    Functional style writes ``masked_block(sub_params(params, "block."), x,
    mask=None)``: a literal passed by name to an input, not a block setting.
    """

    def __init__(self):
        super().__init__()
        self.block = MaskedBlock()

    def forward(self, x):
        return self.block(x, mask=None)


class HeadsSplit(nn.Module):
    """Whisper's ``qkv_attention``: ``n_ctx`` read from ``q.shape``, used only with a mask.

    Class styles write ``if mask is not None: n_ctx = q.shape[1]`` above the
    guard that ``q.view(*q.shape[:2], ...)`` needs; traced again, the trace
    with a mask reads ``q.shape`` once more than the one without.
    """

    def __init__(self):
        super().__init__()
        self.query = nn.Linear(4, 4)

    def forward(self, x, mask=None):
        q = self.query(x)
        n_batch, n_ctx, n_state = q.shape
        q = q.view(*q.shape[:2], 2, -1)
        if mask is not None:
            q = q * n_ctx
        return q.flatten(2)


class MaskedAndNot(nn.Module):
    """Whisper's decoder block: one attention given the mask, one without."""

    def __init__(self):
        super().__init__()
        self.attn = HeadsSplit()
        self.cross = HeadsSplit()

    def forward(self, x, mask):
        return self.attn(x, mask=mask) + self.cross(x)


class CastsToItsWeight(nn.Module):
    """CLIP's ``ModifiedResNet``: the input cast to the first convolution's dtype.

    Functional style reads ``params["conv1.weight"].dtype``; read back, that
    read of the tensor is no second use that keeps ``conv1`` from being
    an ``nn.Conv2d`` again.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, bias=False)

    def forward(self, x):
        x = x.type(self.conv1.weight.dtype)
        return self.conv1(x)


class ReadsItsEmbedding(nn.Module):
    """Whisper's ``TextDecoder``: the logits read the token embedding's weight as a tensor.

    Read back, that read beside the ``F.embedding`` call is no second use
    that keeps ``token_embedding`` from being an ``nn.Embedding`` again.
    """

    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(10, 4)

    def forward(self, x):
        x = self.token_embedding(x)
        return x @ torch.transpose(self.token_embedding.weight, 0, 1)


#: name -> (the model, its example inputs, the (via, to) trips that broke)
MODELS = {
    "literal_keyword_input": (
        UnmaskedEncoder,
        lambda: (torch.randn(2, 4),),
        [("functional", "functional"), ("functional", "module")],
    ),
    "pure_read_under_a_branch": (
        MaskedAndNot,
        lambda: (torch.randn(2, 3, 4), torch.randn(3, 3)),
        [("module", "module"), ("mixed", "mixed")],
    ),
    "weight_dtype_read": (
        CastsToItsWeight,
        lambda: (torch.randn(2, 3, 8, 8),),
        [("functional", "functional"), ("functional", "module")],
    ),
    "embedding_read_as_a_tensor": (
        ReadsItsEmbedding,
        lambda: (torch.randint(0, 10, (2, 5)),),
        [("functional", "functional")],
    ),
}
