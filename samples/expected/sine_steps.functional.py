import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def lstm_cell(
    weights: dict[str, Tensor], input: Tensor, hx: tuple[Tensor, Tensor] | None = None
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


def sine_steps(params: dict[str, Tensor], input: Tensor) -> Tensor:
    h_t = torch.zeros(input.size(0), 16)
    c_t = torch.zeros(input.size(0), 16)
    h_t2 = torch.zeros(input.size(0), 16)
    c_t2 = torch.zeros(input.size(0), 16)
    outputs = []
    # one time step at a time: (batch, 1) each
    for input_t in input.split(1, dim=1):
        h_t, c_t = lstm_cell(sub_params(params, "lstm1."), input_t, hx=(h_t, c_t))
        h_t2, c_t2 = lstm_cell(sub_params(params, "lstm2."), h_t, hx=(h_t2, c_t2))
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
