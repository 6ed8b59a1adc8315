"""Loops over ``range(n)`` of a plain int argument: printed as the user's ``for``, for any ``n``.

``for i in range(future):`` with ``future=0`` runs no step on the example;
the conversion traces it again with steps (:mod:`nnconvert.range_counts`)
and writes the body once under ``for i in range(future):``, without a
guard, in every style. Each model below is converted to every style,
checked (the check itself runs the argument at other counts), run at
counts it was not traced with, and converted again through every style.
A loop whose steps differ keeps its guard.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.check import other_counts
from nnconvert.options import Style

from .helpers import load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)


class TimeSequence(nn.Module):
    """pytorch/examples' time-sequence prediction, shrunk: a data loop, then ``range(future)``."""

    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, 6)
        self.lstm2 = nn.LSTMCell(6, 6)
        self.linear = nn.Linear(6, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 6)
        c_t = torch.zeros(input.size(0), 6)
        h_t2 = torch.zeros(input.size(0), 6)
        c_t2 = torch.zeros(input.size(0), 6)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):  # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs


class Refine(nn.Module):
    """A refinement loop whose default runs it once: traced with more steps."""

    def __init__(self):
        super().__init__()
        self.block = nn.Linear(4, 4)

    def forward(self, x, steps=1):
        for _ in range(steps):
            x = x + torch.tanh(self.block(x))
        return x


class Residual(nn.Module):
    """A block of the user's own, kept as a class (a function in functional style)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return x + torch.tanh(self.fc(x))


class RefineBlocks(nn.Module):
    """The loop calls a block of its own, which the example (no steps) never calls."""

    def __init__(self):
        super().__init__()
        self.block = Residual()

    def forward(self, x, steps=0):
        for _ in range(steps):
            x = self.block(x)
        return x


class Decode(nn.Module):
    """A ``generate``-like decode: two carried values, an encoder before, none of it listed."""

    def __init__(self):
        super().__init__()
        self.encode = nn.Linear(3, 5)
        self.cell = nn.GRUCell(3, 5)
        self.out = nn.Linear(5, 3)

    def forward(self, x, max_steps=0):
        h = torch.tanh(self.encode(x))
        y = self.out(h)
        for _ in range(max_steps):
            h = self.cell(y, h)
            y = self.out(h)
        return y, h


class CountGiven(nn.Module):
    """A count with no default: the example gives it, the loop runs any other."""

    def __init__(self):
        super().__init__()
        self.step = nn.Linear(4, 4)

    def forward(self, x, n):
        states = []
        for _ in range(n):
            x = torch.relu(self.step(x))
            states.append(x)
        return torch.stack(states, dim=1)


class Scaled(nn.Module):
    """Steps that differ (each reads its own ``i``): no loop, the guard stays."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Linear(4, 4)

    def forward(self, x, steps=0):
        for i in range(steps):
            x = x + i * self.scale(x)
        return x


class CountsAfter(nn.Module):
    """Reads the loop's variable after it: a number the trace fixed, so no loop."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, steps=0):
        i = 0
        for i in range(steps):
            x = x + self.fc(x)
        return x * (i + 1)


class TwoLoops(nn.Module):
    """Two loops count to one argument: one guard asks for both, so neither is a loop."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, steps=0):
        for _ in range(steps):
            x = x + self.fc(x)
        for _ in range(steps):
            x = torch.tanh(x)
        return x


#: (model, example inputs, the ``for`` line, the argument, counts to run it at)
LOOPS = [
    (TimeSequence, lambda: (torch.randn(2, 5),), "for i in range(future):", "future"),
    (Refine, lambda: (torch.randn(2, 4),), "for _ in range(steps):", "steps"),
    (Decode, lambda: (torch.randn(2, 3),), "for _ in range(max_steps):", "max_steps"),
    (RefineBlocks, lambda: (torch.randn(2, 4),), "for _ in range(steps):", "steps"),
    (CountGiven, lambda: (torch.randn(2, 4), 2), "for _ in range(n):", "n"),
    # given as 1: traced again with 3 steps, the given count replaced
    (CountGiven, lambda: (torch.randn(2, 4), 1), "for _ in range(n):", "n"),
]
COUNTS = (0, 1, 2, 3, 5, 7)


def _with_count(inputs: tuple, count: int) -> tuple:
    return (inputs[0], count)


def _converted(cls: type[nn.Module], style: Style, inputs: tuple):
    torch.manual_seed(0)
    return nnconvert.convert(cls().eval(), style, inputs)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "cls, make_inputs, header, argument",
    LOOPS,
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_a_loop_over_a_count_argument_prints_once_without_a_guard(
    cls, make_inputs, header, argument, style
):
    torch.manual_seed(0)
    inputs = make_inputs()
    conversion = _converted(cls, style, inputs)
    source = conversion.source
    assert source.count(header) == 1
    assert "raise ValueError" not in source
    report = conversion.check(train=True)
    checked = " ".join(result.label for result in report.results)
    assert f"eval, {argument}=5" in checked and f"train ({argument}=5)" in checked
    # counts it was not traced with, the loaded output against the original
    loaded = load_output(conversion).module.eval()
    model = conversion.model
    for count in COUNTS:
        with torch.no_grad():
            try:
                expected = model(*_with_count(inputs, count))
            except RuntimeError:  # ``torch.stack([])``: the rewrite refuses it too
                with pytest.raises(RuntimeError):
                    loaded(*_with_count(inputs, count))
                continue
            actual = loaded(*_with_count(inputs, count))
        torch.testing.assert_close(actual, expected)


def test_the_loop_grows_the_list_the_data_loop_made():
    """One list, made before the data loop, grown by both loops, read once."""
    source = _converted(TimeSequence, Style.MODULE, (torch.randn(2, 5),)).source
    forward = source.split("def forward(", 1)[1]
    assert forward.count("outputs = []") == 1
    assert forward.count("outputs += [output]") == 2
    assert "for input_t in input.split(1, dim=1):" in forward
    lines = [line.strip() for line in forward.splitlines()]
    # the comment on the ``for`` line stands above the loop
    at = lines.index("for i in range(future):")
    assert lines[at - 1] == "# if we should predict the future"
    assert "h_t, c_t = self.lstm1(output, hx=(h_t, c_t))" in lines[at + 1]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_steps_that_differ_keep_the_guard(style):
    inputs = (torch.randn(2, 4),)
    conversion = _converted(Scaled, style, inputs)
    assert "for i in range" not in conversion.source
    assert "if steps != 0:" in conversion.source
    report = conversion.check(train=True)
    assert "steps=3: the rewrite's guard refuses it" in report.skipped
    loaded = load_output(conversion).module.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs), conversion.model(*inputs))
        with pytest.raises(ValueError, match="traced with steps=0"):
            loaded(inputs[0], 3)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("cls", [CountsAfter, TwoLoops], ids=lambda c: c.__name__)
def test_a_loop_that_cannot_print_keeps_the_default_trace(cls, style):
    """Traced with steps, the loop stays unrolled: converted as the example runs it instead."""
    inputs = (torch.randn(2, 4),)
    conversion = _converted(cls, style, inputs)
    assert "for i in range" not in conversion.source
    assert "traced with steps=0; convert again with this steps" in conversion.source
    conversion.check(train=True)


def test_the_check_runs_the_counts_a_for_counts_to():
    model, inputs = TimeSequence(), (torch.randn(2, 5),)
    assert [label for _, label, _ in other_counts(model, inputs)] == [
        "future=3",
        "future=5",
    ]
    given = [label for _, label, _ in other_counts(CountGiven(), (inputs[0], 2))]
    assert given == ["n=0", "n=3", "n=5"]


@pytest.mark.parametrize("to", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("via", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "cls, make_inputs, header",
    [
        (TimeSequence, *LOOPS[0][1:3]),
        (Decode, *LOOPS[2][1:3]),
        (RefineBlocks, *LOOPS[3][1:3]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_the_loop_survives_round_trips(cls, make_inputs, header, via, to):
    """original -> via -> to is original -> to, byte for byte, the loop read back as one."""
    torch.manual_seed(0)
    inputs = make_inputs()
    direct = _converted(cls, to, inputs)
    through = _converted(cls, via, inputs)
    assert header in through.source
    name = cls.__name__ if via is Style.FUNCTIONAL else None
    again = nnconvert.convert(load_output(through, name), to, inputs)
    assert again.source == direct.source
    assert header in again.source and "raise ValueError" not in again.source


class ShiftedContext(nn.Module):
    """makemore's MLP language model, shrunk: ``range(self.block_size)``, a fixed count."""

    def __init__(self, vocab_size=11, block_size=4, n_embd=6):
        super().__init__()
        self.block_size = block_size
        self.vocab_size = vocab_size
        self.wte = nn.Embedding(vocab_size + 1, n_embd)
        self.head = nn.Linear(block_size * n_embd, vocab_size)

    def forward(self, idx):
        # gather the embeddings of the previous tokens
        embs = []
        for k in range(self.block_size):
            tok_emb = self.wte(idx)  # (b, t, n_embd)
            idx = torch.roll(idx, 1, 1)
            idx[:, 0] = self.vocab_size  # special <BLANK> token
            embs.append(tok_emb)
        return self.head(torch.cat(embs, -1))


class FixedRefinement(nn.Module):
    """Three refinement steps of one layer, written ``for _ in range(3)``."""

    def __init__(self):
        super().__init__()
        self.step = nn.Linear(5, 5)

    def forward(self, x):
        for _ in range(3):
            x = x + torch.tanh(self.step(x))
        return x


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "cls, inputs, header",
    [
        (ShiftedContext, lambda: (torch.randint(0, 11, (2, 7)),), "for k in range(4):"),
        (FixedRefinement, lambda: (torch.randn(3, 5),), "for _ in range(3):"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_a_loop_over_a_fixed_count_prints_once(cls, inputs, header, style):
    """A ``range`` of a number no input sets: the traced count, the body once, read back as one."""
    torch.manual_seed(0)
    example = inputs()
    conversion = _converted(cls, style, example)
    assert conversion.source.count(header) == 1
    conversion.check(train=True)
    name = cls.__name__ if style is Style.FUNCTIONAL else None
    again = nnconvert.convert(load_output(conversion, name), style, example)
    assert again.source == conversion.source


def test_the_comment_above_a_fixed_count_loop_stays_above_it():
    source = _converted(
        ShiftedContext, Style.FUNCTIONAL, (torch.randint(0, 11, (2, 7)),)
    )
    lines = [line.strip() for line in source.source.splitlines()]
    at = lines.index("for k in range(4):")
    assert lines[at - 2 : at] == [
        "# gather the embeddings of the previous tokens",
        "embs = []",
    ]
    assert lines[at + 1] == "# (b, t, n_embd)"
