"""Small models with the shapes on which the real-world suite's round trips broke.

Each reproduces one failure ``benchmarks/round_trips.md`` reported, with the
real model it comes from named in its docstring; ``tests/test_round_trips.py``
trips each through the styles it broke in. They live outside the test files
so that their source (which the output follows, SPEC invariant 8) is plain
Python that pytest does not rewrite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


class SkipsItsExpansion(nn.Module):
    """cifar EfficientNet's ``Block`` with ``expand_ratio=1``: ``conv1`` and ``bn1`` unused.

    Read back, no call says which layers their tensors were; the
    ``kaiming_params`` and ``batch_norm_params`` calls that made them are
    written again, not ``torch.empty``. Without biases, ``kaiming_params``
    saves no lines: the weights are written one statement each, and those
    statements are written again.
    """

    def __init__(self, expand_ratio=1, bias=True):
        super().__init__()
        self.expand_ratio = expand_ratio
        self.conv1 = nn.Conv2d(4, 4, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=bias)
        self.bn2 = nn.BatchNorm2d(4)
        self.conv3 = nn.Conv2d(4, 8, 1, bias=bias)
        self.bn3 = nn.BatchNorm2d(8)

    def forward(self, x):
        out = x if self.expand_ratio == 1 else self.bn1(self.conv1(x))
        out = self.bn2(self.conv2(out))
        return self.bn3(self.conv3(out))


class PoolsWithItsProjections(nn.Module):
    """CLIP's ``AttentionPool2d``: its ``nn.Linear`` s' tensors handed to one function.

    ``F.multi_head_attention_forward`` reads the projections' weights and a
    ``torch.cat`` of their biases; read back, no layer call says they were
    ``nn.Linear`` s, and their ``kaiming_params`` calls are written again.
    """

    def __init__(self):
        super().__init__()
        self.k_proj = nn.Linear(8, 8)
        self.q_proj = nn.Linear(8, 8)
        self.v_proj = nn.Linear(8, 8)
        self.c_proj = nn.Linear(8, 8)
        self.num_heads = 2

    def forward(self, x):
        x, _ = F.multi_head_attention_forward(
            query=x[:1],
            key=x,
            value=x,
            embed_dim_to_check=x.shape[-1],
            num_heads=self.num_heads,
            q_proj_weight=self.q_proj.weight,
            k_proj_weight=self.k_proj.weight,
            v_proj_weight=self.v_proj.weight,
            in_proj_weight=None,
            in_proj_bias=torch.cat(
                [self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]
            ),
            bias_k=None,
            bias_v=None,
            add_zero_attn=False,
            dropout_p=0,
            out_proj_weight=self.c_proj.weight,
            out_proj_bias=self.c_proj.bias,
            use_separate_proj_weight=True,
            training=self.training,
            need_weights=False,
        )
        return x.squeeze(0)


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
    "unused_layers": (
        SkipsItsExpansion,
        lambda: (torch.randn(2, 4, 6, 6),),
        [("functional", "functional")],
    ),
    "unused_layers_written_tensor_by_tensor": (
        lambda: SkipsItsExpansion(bias=False),
        lambda: (torch.randn(2, 4, 6, 6),),
        [("functional", "functional")],
    ),
    "linear_tensors_read_by_one_function": (
        PoolsWithItsProjections,
        lambda: (torch.randn(5, 2, 8),),
        [("functional", "functional")],
    ),
}
