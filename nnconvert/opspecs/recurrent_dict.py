"""The recurrent layers' and cells' functions over their weights as one dict, as functional style calls them.

``lstm(x, sub_params(params, "lstm."), num_layers=2)``: the same loops as
:mod:`.recurrent`'s :func:`~.recurrent.lstm`, :func:`~.recurrent.gru` and
:func:`~.recurrent.rnn`, which take the weights as a list in the layer's
``_flat_weights`` order and stay the rows' canonical functions (files
written with them still read back). Here each layer and direction reads
its tensors by the names ``nn.LSTM`` gives them (``weight_ih_l1_reverse``),
so a call passes the layer's slice of the weight dict instead of a list of
keys. The rows' ``DictForm`` names these functions.

The cells likewise: ``lstm_cell(sub_params(params, "lstm1."), x, hx=(h, c))``
is one time step of :mod:`.recurrent`'s :func:`~.recurrent.lstm_cell`
(:func:`~.recurrent.gru_cell`, :func:`~.recurrent.rnn_cell`), which take
the cell's four tensors one by one and stay the cell rows' canonical
functions. Here the cell reads them by name (``weight_ih``, ``weight_hh``,
``bias_ih``, ``bias_hh``). The dict comes first, as BatchNorm's
``batch_norm`` takes it: the canonical call takes separate tensors, not a
list whose place the dict could take.

Each function is self-contained (only ``torch``, ``F`` and ``Tensor``) and
is the source a functional file defines it from, trimmed to the options
the file's calls pass (:mod:`.trimmed`): the code for an option stands
under a test of it (``if bidirectional:``, ``... if batch_first else ...``,
``proj_size or hidden_size``, ``if hx is None:``), which is folded away
where every call leaves the option at its default. Input without a batch
dimension (one sequence, ``(time, feature)``; one sample for a cell,
``(feature,)``) needs no code of its own: the steps run on whatever stands
before the feature dimension, and ``batch_first`` moves dimension -2,
which is the batch only when there is one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def lstm(
    input: Tensor,
    weights: dict[str, Tensor],
    hx: tuple[Tensor, Tensor] | None = None,
    num_layers: int = 1,
    bias: bool = True,
    batch_first: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    bidirectional: bool = False,
    proj_size: int = 0,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """``nn.LSTM``: the gate equations, one time step at a time.

    ``weights`` is the layer's state_dict: ``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0``, ``bias_hh_l0`` … per layer (``_reverse`` for a second
    direction).
    """

    def run(x: Tensor, key: str, h: Tensor, c: Tensor) -> tuple[Tensor, ...]:
        w_ih, w_hh = weights[f"weight_ih_{key}"], weights[f"weight_hh_{key}"]
        b_ih, b_hh = weights.get(f"bias_ih_{key}"), weights.get(f"bias_hh_{key}")
        output = []
        for x_t in x:
            gates = F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
            i, f, g, o = gates.chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            if proj_size:
                h = F.linear(h, weights[f"weight_hr_{key}"])
            output.append(h)
        return torch.stack(output), h, c

    if batch_first:  # (batch, time, feature) -> (time, batch, feature)
        input = input.movedim(-2, 0)
    if hx is None:
        hidden_size = weights["weight_ih_l0"].shape[0] // 4
        shape = (num_layers * (2 if bidirectional else 1), *input.shape[1:-1])
        hx = (
            input.new_zeros(*shape, proj_size or hidden_size),
            input.new_zeros(*shape, hidden_size),
        )
    initial = zip(hx[0], hx[1])  # (h, c) of each layer and direction, in order
    h_n, c_n = [], []
    for layer in range(num_layers):
        if training and dropout and layer > 0:
            input = F.dropout(input, dropout, training)
        output, h, c = run(input, f"l{layer}", *next(initial))
        h_n.append(h)
        c_n.append(c)
        if bidirectional:  # the second direction reads the sequence backwards
            back, h, c = run(input.flip(0), f"l{layer}_reverse", *next(initial))
            output = torch.cat([output, back.flip(0)], -1)
            h_n.append(h)
            c_n.append(c)
        input = output
    if batch_first:
        input = input.movedim(0, -2)
    return input, (torch.stack(h_n), torch.stack(c_n))


def gru(
    input: Tensor,
    weights: dict[str, Tensor],
    hx: Tensor | None = None,
    num_layers: int = 1,
    bias: bool = True,
    batch_first: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    bidirectional: bool = False,
) -> tuple[Tensor, Tensor]:
    """``nn.GRU``: the gate equations, one time step at a time.

    ``weights`` is the layer's state_dict: ``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0``, ``bias_hh_l0`` … per layer (``_reverse`` for a second
    direction).
    """

    def run(x: Tensor, key: str, h: Tensor) -> tuple[Tensor, Tensor]:
        w_ih, w_hh = weights[f"weight_ih_{key}"], weights[f"weight_hh_{key}"]
        b_ih, b_hh = weights.get(f"bias_ih_{key}"), weights.get(f"bias_hh_{key}")
        output = []
        for x_t in x:
            r_x, z_x, n_x = F.linear(x_t, w_ih, b_ih).chunk(3, -1)
            r_h, z_h, n_h = F.linear(h, w_hh, b_hh).chunk(3, -1)
            r = torch.sigmoid(r_x + r_h)
            z = torch.sigmoid(z_x + z_h)
            n = torch.tanh(n_x + r * n_h)
            h = (1 - z) * n + z * h
            output.append(h)
        return torch.stack(output), h

    if batch_first:  # (batch, time, feature) -> (time, batch, feature)
        input = input.movedim(-2, 0)
    if hx is None:
        hidden_size = weights["weight_hh_l0"].shape[1]
        shape = (num_layers * (2 if bidirectional else 1), *input.shape[1:-1])
        hx = input.new_zeros(*shape, hidden_size)
    initial = iter(hx)  # the state of each layer and direction, in order
    h_n = []
    for layer in range(num_layers):
        if training and dropout and layer > 0:
            input = F.dropout(input, dropout, training)
        output, h = run(input, f"l{layer}", next(initial))
        h_n.append(h)
        if bidirectional:  # the second direction reads the sequence backwards
            back, h = run(input.flip(0), f"l{layer}_reverse", next(initial))
            output = torch.cat([output, back.flip(0)], -1)
            h_n.append(h)
        input = output
    if batch_first:
        input = input.movedim(0, -2)
    return input, torch.stack(h_n)


def rnn(
    input: Tensor,
    weights: dict[str, Tensor],
    hx: Tensor | None = None,
    num_layers: int = 1,
    nonlinearity: str = "tanh",
    bias: bool = True,
    batch_first: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    bidirectional: bool = False,
) -> tuple[Tensor, Tensor]:
    """``nn.RNN``: ``h = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu), one time step at a time.

    ``weights`` is the layer's state_dict: ``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0``, ``bias_hh_l0`` … per layer (``_reverse`` for a second
    direction).
    """

    def run(x: Tensor, key: str, h: Tensor) -> tuple[Tensor, Tensor]:
        w_ih, w_hh = weights[f"weight_ih_{key}"], weights[f"weight_hh_{key}"]
        b_ih, b_hh = weights.get(f"bias_ih_{key}"), weights.get(f"bias_hh_{key}")
        output = []
        for x_t in x:
            h = F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
            h = torch.tanh(h) if nonlinearity == "tanh" else torch.relu(h)
            output.append(h)
        return torch.stack(output), h

    if batch_first:  # (batch, time, feature) -> (time, batch, feature)
        input = input.movedim(-2, 0)
    if hx is None:
        hidden_size = weights["weight_hh_l0"].shape[1]
        shape = (num_layers * (2 if bidirectional else 1), *input.shape[1:-1])
        hx = input.new_zeros(*shape, hidden_size)
    initial = iter(hx)  # the state of each layer and direction, in order
    h_n = []
    for layer in range(num_layers):
        if training and dropout and layer > 0:
            input = F.dropout(input, dropout, training)
        output, h = run(input, f"l{layer}", next(initial))
        h_n.append(h)
        if bidirectional:  # the second direction reads the sequence backwards
            back, h = run(input.flip(0), f"l{layer}_reverse", next(initial))
            output = torch.cat([output, back.flip(0)], -1)
            h_n.append(h)
        input = output
    if batch_first:
        input = input.movedim(0, -2)
    return input, torch.stack(h_n)


def lstm_cell(
    weights: dict[str, Tensor],
    input: Tensor,
    hx: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """``nn.LSTMCell``: one time step of the LSTM gate equations.

    ``weights`` is the cell's state_dict: ``weight_ih``, ``weight_hh``,
    ``bias_ih``, ``bias_hh`` (no biases without ``bias``).
    """
    if hx is None:
        zeros = input.new_zeros(*input.shape[:-1], weights["weight_hh"].shape[1])
        hx = (zeros, zeros)
    h, c = hx
    w_ih, w_hh = weights["weight_ih"], weights["weight_hh"]
    b_ih, b_hh = weights.get("bias_ih"), weights.get("bias_hh")
    gates = F.linear(input, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_cell(
    weights: dict[str, Tensor],
    input: Tensor,
    hx: Tensor | None = None,
) -> Tensor:
    """``nn.GRUCell``: one time step of the GRU gate equations.

    ``weights`` is the cell's state_dict: ``weight_ih``, ``weight_hh``,
    ``bias_ih``, ``bias_hh`` (no biases without ``bias``).
    """
    if hx is None:
        hx = input.new_zeros(*input.shape[:-1], weights["weight_hh"].shape[1])
    w_ih, w_hh = weights["weight_ih"], weights["weight_hh"]
    b_ih, b_hh = weights.get("bias_ih"), weights.get("bias_hh")
    r_x, z_x, n_x = F.linear(input, w_ih, b_ih).chunk(3, -1)
    r_h, z_h, n_h = F.linear(hx, w_hh, b_hh).chunk(3, -1)
    r = torch.sigmoid(r_x + r_h)
    z = torch.sigmoid(z_x + z_h)
    n = torch.tanh(n_x + r * n_h)
    return (1 - z) * n + z * hx


def rnn_cell(
    weights: dict[str, Tensor],
    input: Tensor,
    hx: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """``nn.RNNCell``: ``h = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu), one time step.

    ``weights`` is the cell's state_dict: ``weight_ih``, ``weight_hh``,
    ``bias_ih``, ``bias_hh`` (no biases without ``bias``).
    """
    if hx is None:
        hx = input.new_zeros(*input.shape[:-1], weights["weight_hh"].shape[1])
    w_ih, w_hh = weights["weight_ih"], weights["weight_hh"]
    b_ih, b_hh = weights.get("bias_ih"), weights.get("bias_hh")
    h = F.linear(input, w_ih, b_ih) + F.linear(hx, w_hh, b_hh)
    return torch.tanh(h) if nonlinearity == "tanh" else torch.relu(h)


#: The cells' functions, in the order of :data:`.recurrent.FUNCTIONS`' last three.
CELLS = (lstm_cell, gru_cell, rnn_cell)
#: The functions, in the order of :data:`.recurrent.FUNCTIONS`.
FUNCTIONS = (lstm, gru, rnn) + CELLS
#: Parameters every definition keeps, whatever its calls pass: ``num_layers``
#: sizes the loop over layers (a loop of one is still the loop).
KEPT = ("num_layers",)
