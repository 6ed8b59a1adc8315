"""Layers kept as modules: recurrent layers.

Their ``forward`` is more than one functional call (packed sequences,
flattened weights, a loop over layers and directions), so the table has no
functional form for them (``function=None``): module and mixed style write
their constructors, and functional style refuses them with a message naming
the layer. (``nn.MultiheadAttention`` has one: :mod:`.attention`.)
"""

from __future__ import annotations

from torch import nn

from .spec import Example, OpSpec

_RNN = (
    "input_size, hidden_size, num_layers=1, bias=True, batch_first=False, "
    "dropout=0.0, bidirectional=False"
)

SPECS = (
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
