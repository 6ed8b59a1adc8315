"""The docstring of ``__init__`` stays with what stands for it in the output.

Module and mixed style: its first paragraph, on the emitted ``__init__``
(an ``Args:`` section would describe parameters the output's ``__init__``,
built for one configuration, mostly no longer has). Functional style has
``init_params()`` for the constructor: its docstring quotes that first
paragraph, and each block class's under its function's name, and a class
converted from the functional output has it back on its ``__init__``, so
round trips through functional style keep it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output
from .test_source_map import converted

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

CLASS_STYLES = [Style.MODULE, Style.MIXED]


class Configured(nn.Module):
    def __init__(self, width=4, depth=2):
        """Initializes the stack of layers.

        Args:
            width (int): features per layer.
            depth (int): how many layers.
        """
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Plain(nn.Module):
    def __init__(self):
        """Builds one layer,
        and says so on two lines.

        It takes no parameters; this paragraph goes all the same.
        """
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_an_init_docstring_stays_on_the_emitted_init(style):
    text = converted(Configured(), style, torch.randn(3, 4))
    # the output keeps the width (it sizes the layers), not the depth: the
    # Args section, which would describe both, is left out
    assert (
        '    def __init__(self, width=4):\n        """Initializes the stack of layers."""\n'
        in text
    )
    assert "Args:" not in text
    text = converted(Plain(), style, torch.randn(3, 4))
    assert (
        "    def __init__(self):\n"
        '        """Builds one layer, and says so on two lines."""\n'
        "        super().__init__()\n" in text
    )
    assert "this paragraph" not in text


def test_functional_style_says_it_in_init_params():
    text = converted(Configured(), Style.FUNCTIONAL, torch.randn(3, 4))
    init_params = text[text.index("def init_params") :]
    assert (
        "    The original `__init__`: Initializes the stack of layers.\n"
        '    """\n' in init_params
    )
    assert text.count("Initializes the stack of layers.") == 1


@pytest.mark.parametrize("to", list(Style), ids=lambda s: s.value)
def test_the_init_docstring_survives_a_round_trip_through_functional(to):
    inputs = (torch.randn(3, 4),)
    for model in (Configured(), Plain(), Blocks()):  # Blocks: its blocks' too
        name = type(model).__name__
        direct = nnconvert.convert(model, to, inputs).source
        first = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
        again = nnconvert.convert(load_output(first, name), to, inputs)
        assert again.source == direct


class Residual(nn.Module):
    def __init__(self, width):
        """Wraps a layer with a residual connection."""
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc(x)


class Inner(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return self.fc(x)


class Blocks(nn.Module):
    def __init__(self):
        """A stack of residual blocks."""
        super().__init__()
        self.first = Residual(4)
        self.inner = Inner(4)
        self.second = Residual(4)

    def forward(self, x):
        return self.second(self.inner(self.first(x)))


def test_functional_style_says_each_block_class_init_once_under_its_function():
    text = converted(Blocks(), Style.FUNCTIONAL, torch.randn(3, 4))
    init_params = text[text.index("def init_params") :]
    assert (
        "    The original `__init__`: A stack of residual blocks.\n\n"
        "    The original `__init__` of `residual`: Wraps a layer with a residual "
        'connection.\n    """\n' in init_params
    )
    assert text.count("Wraps a layer") == 1


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_each_class_has_its_init_docstring_back_from_functional(style):
    inputs = (torch.randn(3, 4),)
    first = nnconvert.convert(Blocks(), Style.FUNCTIONAL, inputs)
    again = nnconvert.convert(load_output(first, "Blocks"), style, inputs).source
    # each class has its own, the inner block none
    assert '"""Wraps a layer with a residual connection."""' in again
    assert again.count("A stack of residual blocks.") == 1
