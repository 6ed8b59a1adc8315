import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def lstm_cell(
    input: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    hx: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """``nn.LSTMCell``: one time step of the LSTM gate equations."""
    batched = input.dim() == 2
    if not batched:  # one sample: a batch of one
        input = input.unsqueeze(0)
        hx = None if hx is None else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
    if hx is None:
        zeros = input.new_zeros(input.shape[0], weight_hh.shape[1])
        hx = (zeros, zeros)
    h, c = hx
    gates = F.linear(input, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    if not batched:
        return h.squeeze(0), c.squeeze(0)
    return h, c


def sine_steps(params: dict[str, Tensor], input: Tensor) -> Tensor:
    h_t = torch.zeros(input.size(0), 16)
    c_t = torch.zeros(input.size(0), 16)
    h_t2 = torch.zeros(input.size(0), 16)
    c_t2 = torch.zeros(input.size(0), 16)
    outputs = []
    # one time step at a time: (batch, 1) each
    for input_t in input.split(1, dim=1):
        h_t, c_t = lstm_cell(
            input_t,
            params["lstm1.weight_ih"],
            params["lstm1.weight_hh"],
            params["lstm1.bias_ih"],
            params["lstm1.bias_hh"],
            hx=(h_t, c_t),
        )
        h_t2, c_t2 = lstm_cell(
            h_t,
            params["lstm2.weight_ih"],
            params["lstm2.weight_hh"],
            params["lstm2.bias_ih"],
            params["lstm2.bias_hh"],
            hx=(h_t2, c_t2),
        )
        # the prediction for the next value
        output = F.linear(h_t2, params["linear.weight"], params["linear.bias"])
        outputs += [output]
    output = torch.cat(outputs, dim=1)
    return output


def cell_params(
    prefix: str, input_size: int, hidden_size: int, bias: bool = True, *, gates: int
) -> dict[str, Tensor]:
    """An `nn.LSTMCell` (4 `gates`), `nn.GRUCell` (3) or `nn.RNNCell` (1)."""
    bound = 1 / math.sqrt(hidden_size)
    shapes = {
        "weight_ih": (gates * hidden_size, input_size),
        "weight_hh": (gates * hidden_size, hidden_size),
    }
    if bias:
        shapes["bias_ih"] = (gates * hidden_size,)
        shapes["bias_hh"] = (gates * hidden_size,)
    return {
        f"{prefix}.{name}": nn.init.uniform_(torch.empty(shape), -bound, bound)
        for name, shape in shapes.items()
    }


def init_params() -> dict[str, Tensor]:
    """Fresh weights for `sine_steps`, equal to a new `SineSteps`'s under the same seed."""
    params: dict[str, Tensor] = {}
    params |= cell_params("lstm1", 1, 16, gates=4)
    params |= cell_params("lstm2", 16, 16, gates=4)
    params["linear.weight"] = nn.init.kaiming_uniform_(
        torch.empty(1, 16), a=math.sqrt(5)
    )
    params["linear.bias"] = nn.init.uniform_(
        torch.empty(1), -1 / math.sqrt(16), 1 / math.sqrt(16)
    )
    return params
