import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def gru(
    input: Tensor,
    weights: list[Tensor],
    hx: Tensor | None = None,
    num_layers: int = 1,
    bias: bool = True,
    batch_first: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    bidirectional: bool = False,
) -> tuple[Tensor, Tensor]:
    """``nn.GRU``: the gate equations, one time step at a time.

    ``weights`` per layer and direction: ``weight_ih``, ``weight_hh``, then
    ``bias_ih``, ``bias_hh`` (with ``bias``).
    """
    batched = input.dim() == 3
    if not batched:  # one sequence: a batch of one
        input = input.unsqueeze(1)
        hx = None if hx is None else hx.unsqueeze(1)
    elif batch_first:
        input = input.transpose(0, 1)
    directions = 2 if bidirectional else 1
    if hx is None:
        hidden_size = weights[0].shape[0] // 3
        hx = input.new_zeros(num_layers * directions, input.shape[1], hidden_size)
    per_direction = len(weights) // (num_layers * directions)
    h_n = []
    for layer in range(num_layers):
        if layer > 0:
            input = F.dropout(input, dropout, training)
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            w_ih, w_hh, *rest = weights[k * per_direction : (k + 1) * per_direction]
            b_ih, b_hh = rest[:2] if bias else (None, None)
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


def gru_classifier(
    params: dict[str, Tensor], tokens: Tensor, *, training: bool = False
) -> Tensor:
    embedded = F.dropout(
        F.embedding(tokens, params["embedding.weight"], padding_idx=0),
        p=0.3,
        training=training,
    )
    hidden = gru(
        embedded,
        [
            params["gru.weight_ih_l0"],
            params["gru.weight_hh_l0"],
            params["gru.bias_ih_l0"],
            params["gru.bias_hh_l0"],
            params["gru.weight_ih_l0_reverse"],
            params["gru.weight_hh_l0_reverse"],
            params["gru.bias_ih_l0_reverse"],
            params["gru.bias_hh_l0_reverse"],
            params["gru.weight_ih_l1"],
            params["gru.weight_hh_l1"],
            params["gru.bias_ih_l1"],
            params["gru.bias_hh_l1"],
            params["gru.weight_ih_l1_reverse"],
            params["gru.weight_hh_l1_reverse"],
            params["gru.bias_ih_l1_reverse"],
            params["gru.bias_hh_l1_reverse"],
        ],
        num_layers=2,
        batch_first=True,
        dropout=0.1,
        training=training,
        bidirectional=True,
    )[1]
    # hidden: (num_layers * 2, batch, hidden_dim); the last layer's two directions
    hidden = torch.cat((hidden[-2], hidden[-1]), dim=1)
    return F.linear(
        F.dropout(hidden, p=0.3, training=training),
        params["fc.weight"],
        params["fc.bias"],
    )


def init_params() -> dict[str, Tensor]:
    """Fresh weights for `gru_classifier`, with the original `state_dict()` keys.

    Same shapes and dtypes; each layer is initialised as `torch.nn` initialises it by
    default, so after the same `torch.manual_seed`, the tensors equal those of a newly
    built `GRUClassifier`, bit for bit (nnconvert compared them).
    """
    params: dict[str, Tensor] = {}
    params["embedding.weight"] = nn.init.normal_(torch.empty(50, 16))
    params["embedding.weight"][0] = 0
    params["gru.weight_ih_l0"] = nn.init.uniform_(
        torch.empty(72, 16), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.weight_hh_l0"] = nn.init.uniform_(
        torch.empty(72, 24), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.bias_ih_l0"] = nn.init.uniform_(
        torch.empty(72), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.bias_hh_l0"] = nn.init.uniform_(
        torch.empty(72), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.weight_ih_l0_reverse"] = nn.init.uniform_(
        torch.empty(72, 16), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.weight_hh_l0_reverse"] = nn.init.uniform_(
        torch.empty(72, 24), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.bias_ih_l0_reverse"] = nn.init.uniform_(
        torch.empty(72), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.bias_hh_l0_reverse"] = nn.init.uniform_(
        torch.empty(72), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.weight_ih_l1"] = nn.init.uniform_(
        torch.empty(72, 48), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.weight_hh_l1"] = nn.init.uniform_(
        torch.empty(72, 24), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.bias_ih_l1"] = nn.init.uniform_(
        torch.empty(72), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.bias_hh_l1"] = nn.init.uniform_(
        torch.empty(72), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.weight_ih_l1_reverse"] = nn.init.uniform_(
        torch.empty(72, 48), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.weight_hh_l1_reverse"] = nn.init.uniform_(
        torch.empty(72, 24), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.bias_ih_l1_reverse"] = nn.init.uniform_(
        torch.empty(72), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["gru.bias_hh_l1_reverse"] = nn.init.uniform_(
        torch.empty(72), -1 / math.sqrt(24), 1 / math.sqrt(24)
    )
    params["fc.weight"] = nn.init.kaiming_uniform_(torch.empty(4, 48), a=math.sqrt(5))
    params["fc.bias"] = nn.init.uniform_(
        torch.empty(4), -1 / math.sqrt(48), 1 / math.sqrt(48)
    )
    return params
