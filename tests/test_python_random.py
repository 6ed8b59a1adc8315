"""A forward that draws from Python's or NumPy's random numbers is refused, loudly.

keon/seq2seq's teacher forcing (``random.random() < teacher_forcing_ratio``)
used to convert: the numbers drawn while tracing became constants, the check
passed on the example inputs, and the output computed something else on the
next call (``nnconvert/python_random.py``).
"""

from __future__ import annotations

import random
from random import random as bound_random

import numpy as np
import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.errors import ConversionError


class TeacherForcing(nn.Module):
    """keon/seq2seq's decision, in one step."""

    def __init__(self, ratio: float = 0.5):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.ratio = ratio

    def forward(self, x, target):
        output = self.fc(x)
        is_teacher = random.random() < self.ratio
        return target if is_teacher else output


class NumpyNoise(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) * float(np.random.uniform(0.9, 1.1))


class BoundDraw(nn.Module):
    """``from random import random``: no module attribute to watch, the state tells."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) * (2.0 if bound_random() < 0.5 else 1.0)


class ChosenOutside(nn.Module):
    """The error's advice taken: the caller draws, forward gets a bool."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, target, is_teacher: bool = False):
        output = self.fc(x)
        return target if is_teacher else output


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(2, 4), torch.randn(2, 4)


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_a_python_draw_in_forward_is_refused_with_its_line(style):
    with pytest.raises(ConversionError) as refused:
        nnconvert.convert(TeacherForcing(), style, inputs())
    message = str(refused.value)
    assert "Python's global random generator" in message
    assert f"random.random() at {__file__}:" in message
    assert "pass it in" in message


def test_a_numpy_draw_in_forward_is_refused():
    with pytest.raises(ConversionError, match="NumPy's global random generator"):
        nnconvert.convert(NumpyNoise(), "functional", inputs()[:1])


def test_a_draw_through_a_name_bound_at_import_is_refused_too():
    with pytest.raises(ConversionError, match="Python's global random generator"):
        nnconvert.convert(BoundDraw(), "module", inputs()[:1])


def test_a_refused_trace_leaves_the_generators_as_they_were():
    """The refusal restores both streams: converting draws nothing of the user's."""
    from nnconvert.python_random import python_draws_refused

    random.seed(1)
    np.random.seed(1)
    with pytest.raises(ConversionError):
        with python_draws_refused("Net"):
            random.random()
            np.random.rand()
    assert random.random() == random.Random(1).random()
    assert np.random.rand() == np.random.RandomState(1).rand()


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_the_choice_made_outside_and_passed_in_converts_both_ways(style):
    x, target = inputs()
    conversion = nnconvert.convert(ChosenOutside(), style, (x, target, True))
    conversion.check(train=True)
    converted = conversion.load()
    weights = dict(conversion.model.state_dict())
    for is_teacher in (False, True):
        given = (x, target, is_teacher)
        rewritten = (
            converted(*given) if style != "functional" else converted(weights, *given)
        )
        assert torch.equal(rewritten, conversion.model(*given))
