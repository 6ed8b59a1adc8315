"""Loops over data: a body the trace unrolled per element prints as the user's ``for`` again.

Each model steps a cell over a sequence it splits (``split``, ``unbind``),
carries state from step to step and collects per-step outputs; its output,
in every style, is one loop (a single call of the cell), runs at the traced
length and at another one, and equals the original at both. A model whose
steps differ, or whose user wrote every step out, keeps its steps.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import nnconvert
from nnconvert.check import other_shapes
from nnconvert.options import Style
from nnconvert.passes.unrolled import find_unrolled

from .helpers import load_output, same_but_stateless_names

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)


class SplitLSTM(nn.Module):
    """pytorch/examples' time-sequence model, shrunk: two carried states, ``+=`` to a list."""

    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(1, 6)
        self.head = nn.Linear(6, 1)

    def forward(self, x):
        outputs = []
        h_t = torch.zeros(x.size(0), 6)
        c_t = torch.zeros(x.size(0), 6)
        for x_t in x.split(1, dim=1):
            h_t, c_t = self.cell(x_t, (h_t, c_t))
            output = self.head(h_t)
            outputs += [output]
        return torch.cat(outputs, dim=1)


class UnbindGRU(nn.Module):
    """The carried state is what is collected; the last state is read after the loop."""

    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(3, 5)

    def forward(self, x, h):
        states = []
        for step in x.unbind(1):
            h = self.cell(torch.relu(step), h)
            states.append(h)
        return torch.stack(states, dim=1), h * 2


class Elman(nn.Module):
    """Functional steps: weights read in the body, a tanh of two projections."""

    def __init__(self):
        super().__init__()
        self.ih = nn.Linear(3, 4)
        self.hh = nn.Linear(4, 4, bias=False)

    def forward(self, x):
        h = torch.zeros(x.size(0), 4)
        hidden = []
        for x_t in torch.unbind(x, dim=1):
            # one step of the recurrence
            h = torch.tanh(self.ih(x_t) + self.hh(h))
            hidden.append(h)
        return torch.stack(hidden, dim=1)


class DropSteps(nn.Module):
    """Traced in train and eval mode (it branches on ``self.training``); dropout in the body."""

    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(3, 5)
        self.drop = nn.Dropout(0.3)

    def forward(self, x, h):
        if self.training:
            x = x * 2
        outs = []
        for step in x.unbind(1):
            h = self.cell(self.drop(step), h)
            outs.append(F.dropout(h, 0.1, self.training))
        return torch.stack(outs, 1)


class PiecesFirst(nn.Module):
    """The sequence is made before the state: the loop runs over its variable."""

    def __init__(self):
        super().__init__()
        self.init = nn.Linear(3, 5)
        self.cell = nn.GRUCell(3, 5)

    def forward(self, x):
        pieces = x.unbind(1)
        h = torch.tanh(self.init(x.mean(1)))
        outs = []
        for piece in pieces:
            h = self.cell(piece, h)
            outs.append(h)
        return torch.stack(outs, 1)


class RangeRNN(nn.Module):
    """Steps over indices: ``x[:, t]`` for ``t in range(x.size(1))``."""

    def __init__(self):
        super().__init__()
        self.cell = nn.RNNCell(3, 4)

    def forward(self, x):
        h = torch.zeros(x.size(0), 4)
        outs = []
        for t in range(x.size(1)):
            h = self.cell(x[:, t], h)
            outs.append(h)
        return torch.stack(outs, dim=1)


class FirstSteps(nn.Module):
    """A fixed number of steps, whatever the length: ``range(3)`` stays ``range(3)``."""

    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(3, 4)

    def forward(self, x):
        h = x.new_zeros(x.size(1), 4)
        outs = []
        for t in range(3):
            h = self.cell(x[t], h)
            outs.append(h)
        return torch.cat(outs, dim=1)


class AppendsAnExpression(nn.Module):
    """The list grows by an expression: its value is named after the list."""

    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(1, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        outputs = []
        h = torch.zeros(x.size(0), 8)
        c = torch.zeros(x.size(0), 8)
        for x_t in x.split(1, dim=1):
            h, c = self.cell(x_t, (h, c))
            outputs += [self.out(h)]
        return torch.cat(outputs, dim=1)


class PerStepCells(nn.Module):
    """Each step has its own cell: the steps differ and must stay written out."""

    def __init__(self):
        super().__init__()
        self.cells = nn.ModuleList(nn.GRUCell(3, 5) for _ in range(4))

    def forward(self, x, h):
        states = []
        for cell, step in zip(self.cells, x.unbind(1)):
            h = cell(step, h)
            states.append(h)
        return torch.stack(states, dim=1)


class Averaged(nn.Module):
    """Divides by how many steps ran: a number the trace froze, so the steps stay."""

    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(3, 5)

    def forward(self, x, h):
        states = []
        for step in x.unbind(1):
            h = self.cell(step, h)
            states.append(h)
        return torch.stack(states, dim=1).sum(1) / len(states)


class OneLine(nn.Module):
    """Both halves on one line, by hand: the same line, but no ``for`` in the source."""

    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(3, 5)

    def forward(self, x, h):
        a, b, c, d = x.unbind(1)
        return torch.stack(
            [self.cell(a, h), self.cell(b, h), self.cell(c, h), self.cell(d, h)], 1
        )


class WrittenOut(nn.Module):
    """The user wrote each step: the output keeps them (the source's own shape)."""

    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(3, 5)

    def forward(self, x, h):
        a, b, c = x.unbind(1)
        h1 = self.cell(a, h)
        h2 = self.cell(b, h1)
        h3 = self.cell(c, h2)
        return torch.stack([h1, h2, h3], dim=1)


def _inputs(*shapes: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    return tuple(torch.randn(*shape) for shape in shapes)


class Residual(nn.Module):
    """One layer of a deep recurrent stack."""

    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, h):
        return h + torch.tanh(self.fc(h))


class DeepSteps(nn.Module):
    """A loop over blocks inside the loop over steps: both stay loops."""

    def __init__(self, width=3, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList([Residual(width) for _ in range(depth)])

    def forward(self, x):
        outputs = []
        for t in range(x.size(1)):
            h = x[:, t]
            for block in self.blocks:
                h = block(h)
            outputs.append(h)
        return torch.stack(outputs, 1)


class SelectiveScan(nn.Module):
    """mamba-minimal's selective scan, shrunk: each step reads three tensors at ``i``.

    Its length is ``l`` of ``b, l, d = u.shape``.
    """

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 3)

    def forward(self, u):
        b, l, d = u.shape
        a = torch.sigmoid(self.proj(u))
        c = torch.tanh(u)
        x = torch.zeros((b, d), device=u.device)
        ys = []
        for i in range(l):
            x = a[:, i] * x + u[:, i]
            y = x * c[:, i, :]
            ys.append(y)
        return torch.stack(ys, dim=1)


ROLLED = [
    (SplitLSTM, ((2, 7),), "for x_t in x.split(1, dim=1):", (2, 11)),
    (UnbindGRU, ((2, 5, 3), (2, 5)), "for step in x.unbind(1):", (2, 9, 3)),
    (Elman, ((3, 6, 3),), "for x_t in torch.unbind(x, dim=1):", (3, 2, 3)),
    (RangeRNN, ((2, 5, 3),), "for t in range(x.size(1)):", (2, 8, 3)),
    (DropSteps, ((2, 5, 3), (2, 5)), "for step in x.unbind(1):", (2, 9, 3)),
    (PiecesFirst, ((2, 4, 3),), "for piece in pieces:", (2, 7, 3)),
    (FirstSteps, ((5, 2, 3),), "for t in range(3):", (7, 2, 3)),
    (DeepSteps, ((2, 5, 3),), "for t in range(x.size(1)):", (2, 8, 3)),
    (SelectiveScan, ((2, 5, 3),), "for i in range(l):", (2, 8, 3)),
]


def _run(conversion: nnconvert.Conversion, inputs) -> object:
    loaded = load_output(conversion).module.eval()
    with torch.no_grad():
        return loaded(*inputs)


def _forward(conversion: nnconvert.Conversion) -> str:
    """The text of the model's own ``forward`` (or the model's function)."""
    head = (
        f"def {conversion.name}("
        if conversion.style is Style.FUNCTIONAL
        else "    def forward("
    )
    text = conversion.source
    if conversion.style is not Style.FUNCTIONAL:  # the root class is written last
        text = text.rsplit(f"\nclass {conversion.name}(", 1)[1]
    text = text.split(head, 1)[1]
    return head + text.split("\ndef ", 1)[0].split("\n    def ", 1)[0]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "cls, shapes, header, other", ROLLED, ids=lambda v: getattr(v, "__name__", "")
)
def test_an_unrolled_loop_prints_as_the_users_loop(cls, shapes, header, other, style):
    torch.manual_seed(0)
    model = cls().eval()
    inputs = _inputs(*shapes)
    conversion = nnconvert.convert(model, style, inputs)
    forward = _forward(conversion)
    assert forward.count(header) == 1
    # one step written once, whatever the traced length; no length guard
    assert "[1]" not in forward and "raise ValueError" not in forward
    assert len(forward.splitlines()) < 30
    conversion.check(train=True)
    # another length than the traced one: the loop runs it, and agrees
    longer = (_inputs(other)[0], *inputs[1:])
    with torch.no_grad():
        expected = model(*longer)
    torch.testing.assert_close(_run(conversion, longer), expected)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_loop_over_blocks_inside_a_loop_over_steps_stays_a_loop(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(DeepSteps().eval(), style, _inputs((2, 5, 3)))
    lines = _forward(conversion).splitlines()
    inner = (
        "for i in range(3):"
        if style is Style.FUNCTIONAL
        else "for block in self.blocks:"
    )
    outer = next(i for i, line in enumerate(lines) if "for t in range" in line)
    (nested,) = [i for i, line in enumerate(lines) if line.strip() == inner]
    assert _indent(lines[nested]) == _indent(lines[outer]) + 4
    assert "blocks.1" not in "\n".join(lines) and "blocks[1]" not in "\n".join(lines)


def test_the_list_grows_as_the_source_grows_it():
    """``outputs += [output]`` stays; ``states.append(h)`` stays."""
    torch.manual_seed(0)
    split = nnconvert.convert(SplitLSTM(), Style.MIXED, _inputs((2, 7)))
    assert "outputs = []" in split.source and "outputs += [output]" in split.source
    assert "torch.cat(outputs, dim=1)" in split.source
    unbind = nnconvert.convert(UnbindGRU(), Style.MODULE, _inputs((2, 5, 3), (2, 5)))
    assert "states.append(h)" in unbind.source
    appended = nnconvert.convert(AppendsAnExpression(), Style.MIXED, _inputs((2, 9)))
    assert "output = self.out(h)\n            outputs += [output]" in appended.source
    assert "torch.cat(outputs, dim=1)" in appended.source
    appended.check(train=True)
    assert "torch.stack(states, dim=1)" in unbind.source and "h * 2" in unbind.source


class RenamedState(nn.Module):
    """makemore's RNN: the step's result is renamed before the list takes it."""

    def __init__(self):
        super().__init__()
        self.cell = nn.RNNCell(3, 4)

    def forward(self, x):
        hprev = torch.zeros(x.size(0), 4)
        hiddens = []
        for i in range(x.size(1)):
            ht = self.cell(x[:, i], hprev)
            hprev = ht
            hiddens.append(ht)
        return torch.stack(hiddens, 1)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_the_list_keeps_its_name_when_its_value_is_renamed(style):
    """``hiddens``, not ``hprevs``: the one list the loop grows is the source's."""
    torch.manual_seed(0)
    conversion = nnconvert.convert(RenamedState(), style, _inputs((2, 5, 3)))
    forward = _forward(conversion)
    assert "hiddens = []" in forward and "hiddens.append(hprev)" in forward
    assert "torch.stack(hiddens, 1)" in forward
    conversion.check(train=True)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_functional_loop_reads_the_same_weights_each_step(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(SplitLSTM(), style, _inputs((2, 7)))
    expected = (
        'sub_params(params, "cell.")' if style is Style.FUNCTIONAL else "self.cell("
    )
    assert _forward(conversion).count(expected) == 1


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "cls", [PerStepCells, WrittenOut, Averaged, OneLine], ids=lambda c: c.__name__
)
def test_steps_that_differ_or_were_written_out_stay(cls, style):
    torch.manual_seed(0)
    steps = 3 if cls is WrittenOut else 4
    inputs = _inputs((2, steps, 3), (2, 5))
    conversion = nnconvert.convert(cls().eval(), style, inputs)
    forward = _forward(conversion)
    assert "for " not in forward
    assert forward.count("cell") >= steps  # every step written out
    conversion.check(train=True)


def test_the_finder_refuses_copies_that_read_different_constants():
    """Same ops, same module, one constant differs: not one body."""

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(3, 5)

        def forward(self, x, h):
            outs = []
            for i, step in enumerate(x.unbind(1)):
                h = self.cell(step * (i + 1), h)
                outs.append(h)
            return torch.stack(outs, dim=1)

    torch.manual_seed(0)
    inputs = _inputs((2, 3, 3), (2, 5))
    graph = fx.Tracer().trace(_Unrolled(Scaled(), 3))
    assert find_unrolled(graph) == []
    conversion = nnconvert.convert(Scaled().eval(), Style.MIXED, inputs)
    assert "for " not in _forward(conversion)
    conversion.check(train=True)


class _Unrolled(nn.Module):
    """``model`` with its loop written out for plain fx (which cannot iterate a proxy)."""

    def __init__(self, model: nn.Module, steps: int):
        super().__init__()
        self.model = model
        self.steps = steps

    def forward(self, x, h):
        parts = x.unbind(1)
        outs = []
        for i in range(self.steps):
            h = self.model.cell(parts[i] * (i + 1), h)
            outs.append(h)
        return torch.stack(outs, dim=1)


@pytest.mark.parametrize("to", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("via", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "cls, shapes",
    [(c, s) for c, s, _, _ in ROLLED],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_the_loop_survives_round_trips(cls, shapes, via, to):
    """original -> via -> to is original -> to, byte for byte: the loop is traced and re-rolled again."""
    torch.manual_seed(0)
    model, inputs = cls().eval(), _inputs(*shapes)
    direct = nnconvert.convert(model, to, inputs)
    through = nnconvert.convert(model, via, inputs)
    name = type(model).__name__ if via is Style.FUNCTIONAL else None
    again = nnconvert.convert(load_output(through, name), to, inputs)
    if to is Style.MODULE and via is not Style.MODULE:  # self.drop comes back by stem
        assert same_but_stateless_names(again.source, direct.source)
    else:
        assert again.source == direct.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_comment_in_the_loop_stays_in_the_loop(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(Elman(), style, _inputs((3, 6, 3)))
    lines = _forward(conversion).splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("for "))
    comment = lines.index(
        " " * (_indent(lines[head]) + 4) + "# one step of the recurrence"
    )
    append = next(i for i, line in enumerate(lines) if "hidden.append(h)" in line)
    assert head < comment < append


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_the_check_runs_a_batch_first_sequence_at_another_length(style):
    """``(batch, length, features)`` takes no other feature size: the length is doubled."""
    torch.manual_seed(0)
    inputs = _inputs((2, 5, 3), (2, 5))
    assert [label for label, _ in other_shapes(UnbindGRU(), inputs)] == [
        "eval, other input shape (dimension 1 doubled)"
    ]
    report = str(nnconvert.convert(UnbindGRU(), style, inputs).check())
    assert "ok    eval, other input shape (dimension 1 doubled)" in report
