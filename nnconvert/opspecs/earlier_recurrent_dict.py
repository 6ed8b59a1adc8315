"""The recurrent functions over a dict of weights as nnconvert printed them before trimmed definitions.

A record, never imported or run: functional files written then define
``lstm``, ``gru`` and ``rnn`` with every option of their layer, exactly as
below. Functional input recognises these definitions too
(:mod:`nnconvert.functional.source`) and calls today's functions of
:mod:`.recurrent_dict` for them, which compute the same.
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
    ``bias_ih_l0`` (none without ``bias``) … per layer, ``_reverse`` for the
    second direction.
    """
    batched = input.dim() == 3
    if not batched:  # one sequence: a batch of one
        input = input.unsqueeze(1)
        hx = None if hx is None else (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
    elif batch_first:
        input = input.transpose(0, 1)
    directions = 2 if bidirectional else 1
    hidden_size = weights["weight_ih_l0"].shape[0] // 4
    if hx is None:
        shape = (num_layers * directions, input.shape[1])
        hx = (
            input.new_zeros(*shape, proj_size or hidden_size),
            input.new_zeros(*shape, hidden_size),
        )
    h_n, c_n = [], []
    for layer in range(num_layers):
        if layer > 0:
            input = F.dropout(input, dropout, training)
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            key = f"l{layer}_reverse" if direction == 1 else f"l{layer}"
            w_ih, w_hh = weights[f"weight_ih_{key}"], weights[f"weight_hh_{key}"]
            b_ih, b_hh = weights.get(f"bias_ih_{key}"), weights.get(f"bias_hh_{key}")
            w_hr = weights.get(f"weight_hr_{key}")
            h, c = hx[0][k], hx[1][k]
            steps = range(input.shape[0])
            output = [None] * len(steps)
            for t in reversed(steps) if direction == 1 else steps:
                gates = F.linear(input[t], w_ih, b_ih) + F.linear(h, w_hh, b_hh)
                i, f, g, o = gates.chunk(4, -1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                if w_hr is not None:
                    h = F.linear(h, w_hr)
                output[t] = h
            outputs.append(torch.stack(output))
            h_n.append(h)
            c_n.append(c)
        input = torch.cat(outputs, -1)
    h_n, c_n = torch.stack(h_n), torch.stack(c_n)
    if not batched:
        return input.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
    return (input.transpose(0, 1) if batch_first else input), (h_n, c_n)


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
    ``bias_ih_l0`` (none without ``bias``) … per layer, ``_reverse`` for the
    second direction.
    """
    batched = input.dim() == 3
    if not batched:  # one sequence: a batch of one
        input = input.unsqueeze(1)
        hx = None if hx is None else hx.unsqueeze(1)
    elif batch_first:
        input = input.transpose(0, 1)
    directions = 2 if bidirectional else 1
    if hx is None:
        hidden_size = weights["weight_ih_l0"].shape[0] // 3
        hx = input.new_zeros(num_layers * directions, input.shape[1], hidden_size)
    h_n = []
    for layer in range(num_layers):
        if layer > 0:
            input = F.dropout(input, dropout, training)
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            key = f"l{layer}_reverse" if direction == 1 else f"l{layer}"
            w_ih, w_hh = weights[f"weight_ih_{key}"], weights[f"weight_hh_{key}"]
            b_ih, b_hh = weights.get(f"bias_ih_{key}"), weights.get(f"bias_hh_{key}")
            h = hx[k]
            steps = range(input.shape[0])
            output = [None] * len(steps)
            for t in reversed(steps) if direction == 1 else steps:
                r_x, z_x, n_x = F.linear(input[t], w_ih, b_ih).chunk(3, -1)
                r_h, z_h, n_h = F.linear(h, w_hh, b_hh).chunk(3, -1)
                r = torch.sigmoid(r_x + r_h)
                z = torch.sigmoid(z_x + z_h)
                n = torch.tanh(n_x + r * n_h)
                h = (1 - z) * n + z * h
                output[t] = h
            outputs.append(torch.stack(output))
            h_n.append(h)
        input = torch.cat(outputs, -1)
    h_n = torch.stack(h_n)
    if not batched:
        return input.squeeze(1), h_n.squeeze(1)
    return (input.transpose(0, 1) if batch_first else input), h_n


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
    ``bias_ih_l0`` (none without ``bias``) … per layer, ``_reverse`` for the
    second direction.
    """
    batched = input.dim() == 3
    if not batched:  # one sequence: a batch of one
        input = input.unsqueeze(1)
        hx = None if hx is None else hx.unsqueeze(1)
    elif batch_first:
        input = input.transpose(0, 1)
    directions = 2 if bidirectional else 1
    if hx is None:
        hidden_size = weights["weight_ih_l0"].shape[0]
        hx = input.new_zeros(num_layers * directions, input.shape[1], hidden_size)
    activation = torch.tanh if nonlinearity == "tanh" else torch.relu
    h_n = []
    for layer in range(num_layers):
        if layer > 0:
            input = F.dropout(input, dropout, training)
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            key = f"l{layer}_reverse" if direction == 1 else f"l{layer}"
            w_ih, w_hh = weights[f"weight_ih_{key}"], weights[f"weight_hh_{key}"]
            b_ih, b_hh = weights.get(f"bias_ih_{key}"), weights.get(f"bias_hh_{key}")
            h = hx[k]
            steps = range(input.shape[0])
            output = [None] * len(steps)
            for t in reversed(steps) if direction == 1 else steps:
                h = activation(F.linear(input[t], w_ih, b_ih) + F.linear(h, w_hh, b_hh))
                output[t] = h
            outputs.append(torch.stack(output))
            h_n.append(h)
        input = torch.cat(outputs, -1)
    h_n = torch.stack(h_n)
    if not batched:
        return input.squeeze(1), h_n.squeeze(1)
    return (input.transpose(0, 1) if batch_first else input), h_n
