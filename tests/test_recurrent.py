"""Recurrent layers in functional style: what the table-generated tests do not reach.

``tests/test_layers.py``, ``test_round_trips.py`` and ``test_init_params.py``
run every example of ``opspecs/recurrent.py`` (layers, directions, batch
first, projections, no bias, dropout between layers, unbatched input, a given
GRU state). Here: an LSTM's ``(h0, c0)`` given by the caller, two layers
sharing one printed definition, the names the definitions take, and that the
loops agree with the fused kernel to rounding -- with dropout in train mode
too, whose draws line up under one seed. For the cells (``nn.LSTMCell``,
``nn.GRUCell``, ``nn.RNNCell``, whose examples the table runs too): a state
given by the caller in every style, the functional call over the cell's
slice (``lstm_cell(sub_params(params, "cell."), x, hx=(h, c))``) lifted
back to the cell (written out where a weight-normed cell's call shares its
name), and each step function, over the tensors one by one or as one dict,
equal to the cell's kernel, batched or not.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.naming import MODULE_NAMES
from nnconvert.opspecs import recurrent_dict
from nnconvert.opspecs.helpers import HELPERS
from nnconvert.opspecs.recurrent import gru, gru_cell, lstm, lstm_cell, rnn, rnn_cell
from nnconvert.options import Style

from .helpers import defined_names, load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace


def test_every_defined_helper_is_a_reserved_name():
    """A model called ``LSTM`` must not become a function ``lstm`` hiding the helper."""
    for helper in HELPERS:
        if helper.definition is not None:
            assert helper.name in MODULE_NAMES


class Tagger(nn.Module):
    """Two recurrent layers, the first given its initial state."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(4, 8, batch_first=True)
        self.decoder = nn.LSTM(8, 6, bidirectional=True, batch_first=True)

    def forward(self, x, h0, c0):
        y, (h, c) = self.encoder(x, (h0, c0))
        z, _ = self.decoder(y)
        return z, h, c


def tagger_inputs():
    torch.manual_seed(0)
    return torch.randn(2, 5, 4), torch.randn(1, 2, 8), torch.randn(1, 2, 8)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_initial_states_and_two_layers(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(Tagger(), style, tagger_inputs())
    conversion.check(train=True)
    if style is Style.FUNCTIONAL:
        source = conversion.source
        assert source.count("def lstm(") == 1  # defined once, called twice
        assert "lstm(\n        x,\n" in source or "lstm(x," in source
        assert "hx=(h0, c0)" in source


@pytest.mark.parametrize("to", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_initial_states_lift_back(to):
    torch.manual_seed(0)
    model, inputs = Tagger(), tagger_inputs()
    functional = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    again = nnconvert.convert(load_output(functional), to, inputs)
    assert again.source == nnconvert.convert(model, to, inputs).source
    assert "nn.LSTM(8, 6, batch_first=True, bidirectional=True)" in again.source


def test_a_model_named_like_a_helper_keeps_the_helper():
    """``class LSTM`` becomes ``def lstm_``: the file's ``lstm`` stays the loop."""
    model_class = type("LSTM", (Tagger,), {})
    torch.manual_seed(0)
    conversion = nnconvert.convert(model_class(), Style.FUNCTIONAL, tagger_inputs())
    assert conversion.name == "lstm_"
    conversion.check(train=True)


class RNNCell(nn.Module):
    """makemore's own cell: a linear map of input and state, no ``nn.RNNCell``."""

    def __init__(self):
        super().__init__()
        self.xh_to_h = nn.Linear(12, 8)

    def forward(self, xt, hprev):
        return torch.tanh(self.xh_to_h(torch.cat([xt, hprev], dim=1)))


class RNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = RNNCell()

    def forward(self, x):
        h = x.new_zeros(x.shape[0], 8)
        for t in range(x.shape[1]):
            h = self.cell(x[:, t], h)
        return h


def test_a_model_without_recurrent_layers_takes_their_names():
    """No ``nn.RNN`` in the model, so no ``rnn`` helper in the file: makemore's
    ``RNN`` and ``RNNCell`` are ``rnn`` and ``rnn_cell``, not ``rnn_`` and
    ``rnn_cell_2``, and the file reads back to itself."""
    torch.manual_seed(0)
    inputs = (torch.randn(2, 5, 4),)
    conversion = nnconvert.convert(RNN(), Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    assert conversion.name == "rnn"
    assert defined_names(conversion.source) == [
        "sub_params",
        "rnn_cell",
        "rnn",
        "init_params",
    ]
    again = nnconvert.convert(load_output(conversion, "RNN"), Style.FUNCTIONAL, inputs)
    assert again.source == conversion.source
    again.check()


def _flat(layer: nn.Module) -> list[torch.Tensor]:
    return [getattr(layer, name) for name in layer._flat_weights_names]


CONFIGURATIONS = [
    (nn.LSTM, lstm, dict(num_layers=3, dropout=0.5, bidirectional=True)),
    (nn.LSTM, lstm, dict(num_layers=2, dropout=0.3, proj_size=3, bias=False)),
    (nn.GRU, gru, dict(num_layers=3, dropout=0.5, bidirectional=True)),
    (nn.RNN, rnn, dict(num_layers=3, dropout=0.5, nonlinearity="relu")),
    (nn.RNN, rnn, dict(num_layers=2, dropout=0.5, batch_first=True)),
]


@pytest.mark.parametrize(
    "layer_class, function, options",
    CONFIGURATIONS,
    ids=[f"{c.__name__}-{o}" for c, _, o in CONFIGURATIONS],
)
def test_the_loop_is_the_kernel_with_dropout_in_train_mode(
    layer_class, function, options
):
    """Outputs, final states and gradients equal the fused kernel's, dropout masks included."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # projections: "not supported with oneDNN"
        layer = layer_class(4, 8, **options).train()
    x = torch.randn(7, 3, 4, requires_grad=True)
    torch.manual_seed(1)
    expected_out, expected_state = layer(x)
    torch.manual_seed(1)
    weights = _flat(layer)
    out, state = function(x, weights, training=True, **options)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(state, expected_state)
    loss = out.square().sum() + sum(s.sum() for s in _states(state))
    expected_loss = expected_out.square().sum() + sum(
        s.sum() for s in _states(expected_state)
    )
    got = torch.autograd.grad(loss, [x, *weights])
    wanted = torch.autograd.grad(expected_loss, [x, *weights])
    torch.testing.assert_close(got, wanted)


def _states(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


class CellLoop(nn.Module):
    """Cells stepped by hand, as a decoder does: an LSTMCell given ``(h, c)``, a GRUCell after it."""

    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(4, 8)
        self.head = nn.GRUCell(8, 6, bias=False)

    def forward(self, x, h, c):
        h, c = self.cell(x, (h, c))
        return self.head(h), c


def cell_inputs():
    torch.manual_seed(0)
    return torch.randn(3, 4), torch.randn(3, 8), torch.randn(3, 8)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_cells_with_a_given_state(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(CellLoop(), style, cell_inputs())
    conversion.check(train=True)
    if style is Style.FUNCTIONAL:
        assert conversion.source.count("def lstm_cell(") == 1
        assert "hx=(h, c)" in conversion.source
        assert "def gru_cell(" in conversion.source


def test_a_cell_is_called_over_its_slice():
    """``lstm_cell(sub_params(params, "cell."), x, hx=(h, c))``, not four keys one by one.

    The cell rows' dict form (``recurrent_dict``): eval and train checks
    pass, and the file reads back to itself.
    """
    torch.manual_seed(0)
    model, inputs = CellLoop(), cell_inputs()
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    body = conversion.source.split("def init_params(")[0]
    assert 'lstm_cell(sub_params(params, "cell."), x, hx=(h, c))' in body
    assert 'gru_cell(sub_params(params, "head."), h)' in body
    assert "def lstm_cell(\n    weights: dict[str, Tensor]," in body
    assert 'params["cell.' not in body and 'params["head.' not in body
    conversion.check()
    conversion.check(train=True)
    again = nnconvert.convert(load_output(conversion), Style.FUNCTIONAL, inputs)
    assert again.source == conversion.source


class NormedCells(nn.Module):
    """A weight-normed GRUCell (no dict holds its weight) before a plain one."""

    def __init__(self):
        super().__init__()
        self.cell = nn.utils.weight_norm(nn.GRUCell(4, 8), "weight_ih")
        self.head = nn.GRUCell(8, 8)

    def forward(self, x):
        return self.head(self.cell(x))


def test_a_cell_without_a_dict_form_has_every_cell_written_out():
    """Both forms print as ``gru_cell`` and a file defines one: the calls over tensors.

    The weight-normed cell's call passes ``torch._weight_norm(...)``; the
    plain cell's call is written out too, and the file reads back to itself.
    """
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # weight_norm is deprecated
        model = NormedCells()
    inputs = (torch.randn(3, 4),)
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    assert conversion.source.count("def gru_cell(") == 1
    assert "sub_params(" not in conversion.source
    assert 'params["head.weight_ih"],' in conversion.source
    conversion.check(train=True)
    again = nnconvert.convert(load_output(conversion), Style.FUNCTIONAL, inputs)
    assert again.source == conversion.source


@pytest.mark.parametrize("to", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_cells_lift_back(to):
    torch.manual_seed(0)
    model, inputs = CellLoop(), cell_inputs()
    functional = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    again = nnconvert.convert(load_output(functional), to, inputs)
    again.check(train=True)
    assert again.source == nnconvert.convert(model, to, inputs).source
    assert "nn.GRUCell(8, 6, bias=False)" in again.source


CELLS = [
    (nn.LSTMCell, lstm_cell, {}, True),
    (nn.LSTMCell, lstm_cell, {}, False),
    (nn.GRUCell, gru_cell, {}, True),
    (nn.RNNCell, rnn_cell, {"nonlinearity": "relu"}, True),
    (nn.RNNCell, rnn_cell, {}, False),
]


@pytest.mark.parametrize(
    "layer_class, function, options, bias",
    CELLS,
    ids=[f"{c.__name__}-{o}-{b}" for c, _, o, b in CELLS],
)
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("form", ["list", "dict"])
def test_the_cell_is_the_kernel(layer_class, function, options, bias, batched, form):
    """Outputs and gradients equal the cell's fused kernel, with a given state and without.

    Both forms: the tensors one by one (the row's function), and as one
    dict (``recurrent_dict``, what functional style calls).
    """
    torch.manual_seed(0)
    layer = layer_class(4, 8, bias=bias, **options)
    shape = (3,) if batched else ()
    x = torch.randn(*shape, 4, requires_grad=True)
    h = torch.randn(*shape, 8)
    hx = (h, torch.randn(*shape, 8)) if layer_class is nn.LSTMCell else h
    weights = [layer.weight_ih, layer.weight_hh, layer.bias_ih, layer.bias_hh]
    over_dict = getattr(recurrent_dict, function.__name__)
    for state in (None, hx):
        expected = layer(x, state)
        if form == "list":
            got = function(x, *weights, hx=state, **options)
        else:
            got = over_dict(dict(layer.named_parameters()), x, hx=state, **options)
        torch.testing.assert_close(got, expected)
        present = [x, *(w for w in weights if w is not None)]
        wanted = torch.autograd.grad(sum(s.sum() for s in _states(expected)), present)
        found = torch.autograd.grad(sum(s.sum() for s in _states(got)), present)
        torch.testing.assert_close(found, wanted)
