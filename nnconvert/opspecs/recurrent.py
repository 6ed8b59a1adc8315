"""Recurrent layers (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``, and their cells) and the functions functional style writes for them.

A recurrent layer's ``forward`` is a loop over layers, directions and time
steps that PyTorch runs in one fused kernel (``_VF.lstm``). Functional style
writes that loop out instead, as a person writes it: :func:`lstm`,
:func:`gru` and :func:`rnn` below are helper rows (:mod:`.helpers`) whose
source a functional file defines once and calls as
``lstm(x, [params["rnn.weight_ih_l0"], ...], num_layers=2)``. The loop is
slower than the kernel; it is there to be read: the gate equations of the
PyTorch docs, one time step at a time.

The weights are the layer's own tensors in its ``_flat_weights`` order (per
layer and direction: ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``,
``weight_hr``), so the keys stay the module's. The results equal the kernel's
to rounding: same equations, summed in another order. Between layers, train
mode applies ``F.dropout`` to each layer's output, as the kernel does on CPU
(``at::dropout``, the same draws in the same order), so outputs under one seed
line up with the module's.

The cells (``nn.LSTMCell``, ``nn.GRUCell``, ``nn.RNNCell``) are one time
step: :func:`lstm_cell`, :func:`gru_cell`, :func:`rnn_cell` write the same
gate equations over the cell's four tensors, passed one by one
(``lstm_cell(x, params["cell.weight_ih"], ..., hx=(h, c))``); functional
style calls their dict forms (:mod:`.recurrent_dict`) over the cell's slice,
``lstm_cell(sub_params(params, "cell."), x, hx=(h, c))``.

Each function is self-contained (only ``torch``, ``F`` and ``Tensor``): its
source is printed verbatim into the generated file.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import recurrent_dict
from .inits import uniform_fan_in
from .layer_params import recurrent_call
from .spec import (
    Arguments,
    DictForm,
    Example,
    OpSpec,
    Shapes,
    TensorInit,
    WeightRef,
    WeightsHook,
)


def lstm(
    input: Tensor,
    weights: list[Tensor],
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

    ``weights`` per layer and direction: ``weight_ih``, ``weight_hh``, then
    ``bias_ih``, ``bias_hh`` (with ``bias``) and ``weight_hr`` (with ``proj_size``).
    """
    batched = input.dim() == 3
    if not batched:  # one sequence: a batch of one
        input = input.unsqueeze(1)
        hx = None if hx is None else (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
    elif batch_first:
        input = input.transpose(0, 1)
    directions = 2 if bidirectional else 1
    hidden_size = weights[0].shape[0] // 4
    if hx is None:
        shape = (num_layers * directions, input.shape[1])
        hx = (
            input.new_zeros(*shape, proj_size or hidden_size),
            input.new_zeros(*shape, hidden_size),
        )
    per_direction = len(weights) // (num_layers * directions)
    h_n, c_n = [], []
    for layer in range(num_layers):
        if layer > 0:
            input = F.dropout(input, dropout, training)
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            w_ih, w_hh, *rest = weights[k * per_direction : (k + 1) * per_direction]
            b_ih, b_hh = rest[:2] if bias else (None, None)
            w_hr = rest[-1] if proj_size > 0 else None
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


def rnn(
    input: Tensor,
    weights: list[Tensor],
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
        hidden_size = weights[0].shape[0]
        hx = input.new_zeros(num_layers * directions, input.shape[1], hidden_size)
    activation = torch.tanh if nonlinearity == "tanh" else torch.relu
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
                h = activation(F.linear(input[t], w_ih, b_ih) + F.linear(h, w_hh, b_hh))
                output[t] = h
            outputs.append(torch.stack(output))
            h_n.append(h)
        input = torch.cat(outputs, -1)
    h_n = torch.stack(h_n)
    if not batched:
        return input.squeeze(1), h_n.squeeze(1)
    return (input.transpose(0, 1) if batch_first else input), h_n


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


def gru_cell(
    input: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    hx: Tensor | None = None,
) -> Tensor:
    """``nn.GRUCell``: one time step of the GRU gate equations."""
    batched = input.dim() == 2
    if not batched:  # one sample: a batch of one
        input = input.unsqueeze(0)
        hx = None if hx is None else hx.unsqueeze(0)
    if hx is None:
        hx = input.new_zeros(input.shape[0], weight_hh.shape[1])
    r_x, z_x, n_x = F.linear(input, weight_ih, bias_ih).chunk(3, -1)
    r_h, z_h, n_h = F.linear(hx, weight_hh, bias_hh).chunk(3, -1)
    r = torch.sigmoid(r_x + r_h)
    z = torch.sigmoid(z_x + z_h)
    n = torch.tanh(n_x + r * n_h)
    h = (1 - z) * n + z * hx
    return h if batched else h.squeeze(0)


def rnn_cell(
    input: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    hx: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """``nn.RNNCell``: ``h = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu), one time step."""
    batched = input.dim() == 2
    if not batched:  # one sample: a batch of one
        input = input.unsqueeze(0)
        hx = None if hx is None else hx.unsqueeze(0)
    if hx is None:
        hx = input.new_zeros(input.shape[0], weight_hh.shape[1])
    activation = torch.tanh if nonlinearity == "tanh" else torch.relu
    h = activation(
        F.linear(input, weight_ih, bias_ih) + F.linear(hx, weight_hh, bias_hh)
    )
    return h if batched else h.squeeze(0)


#: The recurrent functions, for :mod:`.helpers` (their definitions are printed).
FUNCTIONS = (lstm, gru, rnn, lstm_cell, gru_cell, rnn_cell)


# -- the rows -------------------------------------------------------------------


def _flat_weights(module: nn.Module) -> list[WeightRef]:
    """The call's ``weights``: the layer's tensors in its ``_flat_weights`` order."""
    return [WeightRef(name) for name in module._flat_weights_names]


def _ctor_from_weights(gates: int) -> WeightsHook:
    """``input_size``, ``hidden_size`` (and LSTM's ``proj_size``) from the first weights' shapes.

    ``weight_ih_l0`` is ``(gates * hidden_size, input_size)``; ``weight_hh_l0``
    is ``(gates * hidden_size, proj_size or hidden_size)``. The other
    constructor arguments are the call's (same names); the rebuilt layer's
    call and shapes are compared with the call's by ``layer_from_call``.
    """

    def hook(arguments: Arguments, shapes: Shapes, prologue: list) -> Arguments | None:
        found = shapes.get("weights")
        if prologue or not found or any(s is None or len(s) != 2 for s in found[:2]):
            return None
        (rows, input_size), (_, out_size) = found[0], found[1]
        hidden_size = rows // gates
        ctor: Arguments = {"input_size": input_size, "hidden_size": hidden_size}
        if "proj_size" in arguments:
            ctor["proj_size"] = out_size if out_size != hidden_size else 0
        return ctor

    return hook


def _canonical(arguments: Arguments) -> Arguments:
    """``training`` only where it changes something: dropout between two or more layers.

    The loop reads the flag for nothing else, so a one-layer or dropout-free
    layer's call (and the function around it) does not take it.
    """
    if arguments.get("dropout", 0.0) == 0 or arguments.get("num_layers", 1) == 1:
        arguments["training"] = False
    return arguments


def _uniform_init(module: nn.Module) -> list[TensorInit]:
    """``reset_parameters``: every weight ``uniform_(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``, in ``parameters()`` order."""
    return [
        TensorInit(name, uniform_fan_in(tensor, module.hidden_size))
        for name, tensor in module.named_parameters()
    ]


_CTOR = (
    "input_size, hidden_size, num_layers=1, bias=True, batch_first=False, "
    "dropout=0.0, bidirectional=False"
)


#: A layer's tensors for one layer and direction, in ``_flat_weights_names`` order.
_TENSORS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def _flat_order(key: str) -> tuple[int, bool, int]:
    """``weight_hh_l1_reverse`` -> ``(1, True, 1)``: sorts keys as ``_flat_weights_names``.

    Raises ValueError for a key no recurrent layer has.
    """
    name, _, rest = key.rpartition("_l")
    layer, _, reverse = rest.partition("_")
    if reverse not in ("", "reverse"):
        raise ValueError(key)
    return int(layer), bool(reverse), _TENSORS.index(name)


def _row(
    module: type[nn.Module],
    function: Callable,
    gates: int,
    examples: tuple[Example, ...],
    ctor_signature: str = _CTOR,
) -> OpSpec:
    """One recurrent row: the layer, its function, how many gates its weights stack.

    Functional style calls the function of the same name in
    :mod:`.recurrent_dict`, over the layer's weights as one dict.
    """
    dict_function = getattr(recurrent_dict, function.__name__)
    return OpSpec(
        module,
        function,
        name=function.__name__,
        call_positional=2,
        ctor_positional=2,
        weights=("weights",),
        training="training",
        attributes={"weights": _flat_weights},
        canonical=_canonical,
        ctor_from_weights=_ctor_from_weights(gates),
        init=_uniform_init,
        init_call=recurrent_call,
        examples=examples,
        ctor_signature=ctor_signature,
        forward_signature="input, hx=None",
        dict_form=DictForm(dict_function, list_order=_flat_order),
    )


_L, _B, _H = 5, 2, 4  # sequence length, batch, input size of the examples


def _examples(layer: str, *configurations: str) -> tuple[Example, ...]:
    """``nn.<layer>(4, 8, <configuration>)`` on a ``(5, 2, 4)`` input (batch first: ``(2, 5, 4)``)."""
    examples = []
    for configuration in configurations:
        text = f"nn.{layer}(4, 8{', ' if configuration else ''}{configuration})"
        shape = (_B, _L, _H) if "batch_first=True" in configuration else (_L, _B, _H)
        examples.append(Example(text, (shape,)))
    return tuple(examples)


#: The configurations every recurrent row is tested with (and LSTM's ``proj_size``).
_COMMON = (
    "",
    "batch_first=True",
    "num_layers=2, bidirectional=True",
    "num_layers=2, bias=False",
    "num_layers=3, dropout=0.5",
)

SPECS = (
    _row(
        nn.LSTM,
        lstm,
        4,
        _examples(
            "LSTM",
            *_COMMON,
            "proj_size=3",
            "num_layers=2, bidirectional=True, proj_size=3",
        )
        + (
            Example("nn.LSTM(4, 8)", ((_L, _H),)),  # one sequence, unbatched
            # batch_first moves no dimension of one sequence
            Example("nn.LSTM(4, 8, batch_first=True, bidirectional=True)", ((_L, _H),)),
        ),
        _CTOR + ", proj_size=0",
    ),
    _row(
        nn.GRU,
        gru,
        3,
        _examples("GRU", *_COMMON)
        + (
            Example("nn.GRU(4, 8)", ((_L, _B, _H),), keywords=(("hx", (1, _B, 8)),)),
            Example("nn.GRU(4, 8, batch_first=True)", ((_L, _H),)),  # unbatched
        ),
    ),
    _row(
        nn.RNN,
        rnn,
        1,
        _examples("RNN", *_COMMON, 'nonlinearity="relu"')
        + (Example("nn.RNN(4, 8, bidirectional=True)", ((_L, _H),)),),  # unbatched
        _CTOR.replace("num_layers=1,", "num_layers=1, nonlinearity='tanh',"),
    ),
)


# -- the cells --------------------------------------------------------------------


def _has_bias(module: nn.Module) -> bool:
    """A cell's ``bias`` is not an attribute: ``bias_ih`` is None without one."""
    return module.bias_ih is not None


def _cell_from_weights(
    call: Arguments, shapes: Shapes, prologue: list
) -> Arguments | None:
    """``weight_ih`` is ``(gates * hidden_size, input_size)``, ``weight_hh`` ``(gates * hidden_size, hidden_size)``."""
    if prologue or shapes.get("weight_ih") is None or shapes.get("weight_hh") is None:
        return None
    return {
        "input_size": shapes["weight_ih"][1],
        "hidden_size": shapes["weight_hh"][1],
        "bias": shapes.get("bias_ih") is not None,
    }


def _cell_row(
    module: type[nn.Module],
    function: Callable,
    examples: tuple[Example, ...],
    ctor_signature: str = "input_size, hidden_size, bias=True",
) -> OpSpec:
    """One cell row: four tensors by name, the state passed by the caller.

    Functional style calls the function of the same name in
    :mod:`.recurrent_dict`, over the cell's four tensors as one dict.
    """
    # ``lstm_cell(sub_params(params, "lstm1."), x, hx=(h, c))``: black gives a
    # call over four keys eight lines, this one one to three, and the file
    # defines the cell's function either way, the dict form's some lines
    # shorter (no code for unbatched input); ``sub_params`` costs four lines
    # where the file has none. One call pays, even one without biases (two
    # keys, one line): 37 lines against 39 for a GRUCell(4, 8, bias=False).
    dict_form = DictForm(getattr(recurrent_dict, function.__name__), fewest_calls=1)
    return OpSpec(
        module,
        function,
        name=function.__name__,
        call_positional=5,
        ctor_positional=2,
        weights=("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
        ctor_attributes={"bias": _has_bias},
        ctor_from_weights=_cell_from_weights,
        init=_uniform_init,
        init_call=recurrent_call,
        examples=examples,
        ctor_signature=ctor_signature,
        forward_signature="input, hx=None",
        dict_form=dict_form,
    )


def _cell_examples(layer: str, *configurations: str) -> tuple[Example, ...]:
    """``nn.<layer>(4, 8, <configuration>)`` on a ``(2, 4)`` input, and one unbatched ``(4,)``."""
    examples = [
        Example(f"nn.{layer}(4, 8{', ' if c else ''}{c})", ((_B, _H),))
        for c in ("", "bias=False", *configurations)
    ]
    examples.append(Example(f"nn.{layer}(4, 8)", ((_H,),)))
    return tuple(examples)


CELL_SPECS = (
    _cell_row(
        nn.LSTMCell,
        lstm_cell,
        _cell_examples("LSTMCell"),
    ),
    _cell_row(
        nn.GRUCell,
        gru_cell,
        _cell_examples("GRUCell")
        + (Example("nn.GRUCell(4, 8)", ((_B, _H),), keywords=(("hx", (_B, 8)),)),),
    ),
    _cell_row(
        nn.RNNCell,
        rnn_cell,
        _cell_examples(
            "RNNCell", 'nonlinearity="relu"', 'bias=False, nonlinearity="relu"'
        )
        + (Example("nn.RNNCell(4, 8)", ((_H,),), keywords=(("hx", (8,)),)),),
        "input_size, hidden_size, bias=True, nonlinearity='tanh'",
    ),
)

SPECS = SPECS + CELL_SPECS
