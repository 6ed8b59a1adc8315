"""Layers kept as modules: attention and recurrent layers.

Their ``forward`` is more than one functional call (fast paths, packed
sequences, flattened weights), so the table has no functional form for them
(``function=None``): module and mixed style write their constructors, and
functional style refuses them with a message naming the layer.
"""

from __future__ import annotations

from torch import nn

from .spec import Example, OpSpec


def _unless_embed_dim(attribute: str):
    def read(module: nn.Module):
        value = getattr(module, attribute)
        return None if value == module.embed_dim else value

    return read


_RNN = (
    "input_size, hidden_size, num_layers=1, bias=True, batch_first=False, "
    "dropout=0.0, bidirectional=False"
)

SPECS = (
    OpSpec(
        nn.MultiheadAttention,
        None,
        name="attn",
        ctor_positional=2,
        ctor_attributes={
            "bias": lambda m: m.in_proj_bias is not None,
            "add_bias_kv": lambda m: m.bias_k is not None,
            "kdim": _unless_embed_dim("kdim"),
            "vdim": _unless_embed_dim("vdim"),
        },
        examples=(
            Example("nn.MultiheadAttention(8, 2, batch_first=True)", ((2, 5, 8),) * 3),
            Example("nn.MultiheadAttention(8, 4, bias=False)", ((5, 2, 8),) * 3),
            Example(
                "nn.MultiheadAttention(8, 2, add_bias_kv=True, kdim=6, vdim=4)",
                ((5, 2, 8), (5, 2, 6), (5, 2, 4)),
            ),
        ),
    ),
    OpSpec(
        nn.LSTM,
        None,
        name="lstm",
        ctor_positional=2,
        ctor_signature=_RNN + ", proj_size=0",
        examples=(
            Example("nn.LSTM(4, 8, batch_first=True)", ((2, 5, 4),)),
            Example("nn.LSTM(4, 8, num_layers=2, bidirectional=True)", ((5, 2, 4),)),
            Example("nn.LSTM(4, 8, proj_size=3)", ((5, 2, 4),)),
        ),
    ),
    OpSpec(
        nn.GRU,
        None,
        name="gru",
        ctor_positional=2,
        ctor_signature=_RNN,
        examples=(Example("nn.GRU(4, 8, num_layers=2, bias=False)", ((5, 2, 4),)),),
    ),
    OpSpec(
        nn.RNN,
        None,
        name="rnn",
        ctor_positional=2,
        ctor_signature=_RNN.replace(
            "num_layers=1,", "num_layers=1, nonlinearity='tanh',"
        ),
        examples=(
            Example(
                'nn.RNN(4, 8, nonlinearity="relu", batch_first=True)', ((2, 5, 4),)
            ),
        ),
    ),
)
