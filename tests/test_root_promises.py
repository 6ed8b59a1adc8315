"""A root parameter the output keeps builds what the source's class builds with it.

CCT's tokenizer pools by ``pooling_kernel_size`` and its classifier's
positional embedding is as long as the tokenizer's output, a length the
constructor computes by running the tokenizer: the printer writes that
length as a number, so a root that kept ``pooling_kernel_size`` would build
another model than the source when given another value. Each kept
parameter is tried with another value and dropped where it fails
(:mod:`nnconvert.root_promises`); those that stay keep their promise.
"""

from __future__ import annotations

import inspect

import black
import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style
from nnconvert.root_promises import without_parameters


class Tokens(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(pool)

    def forward(self, x):
        return self.pool(self.conv(x)).flatten(2).transpose(1, 2)

    def length(self, size):
        return self.forward(torch.zeros(1, 3, size, size)).shape[1]


class Classifier(nn.Module):
    def __init__(self, width, length):
        super().__init__()
        self.positions = nn.Parameter(torch.zeros(1, length, width))
        self.fc = nn.Linear(width, 2)

    def forward(self, x):
        return self.fc((x + self.positions).mean(1))


class Pooled(nn.Module):
    """The classifier's length is the tokenizer's, run once in ``__init__``."""

    def __init__(self, pool=2, width=4, size=8):
        super().__init__()
        self.tokens = Tokens(pool)
        self.classifier = Classifier(width, self.tokens.length(size))

    def forward(self, x):
        return self.classifier(self.tokens(x))


def _root_parameters(conversion: nnconvert.Conversion) -> dict[str, object]:
    if conversion.style is Style.FUNCTIONAL:
        root = conversion.namespace()["init_params"]
        parameters = inspect.signature(root).parameters.values()
    else:
        root = conversion.namespace()[conversion.name]
        parameters = list(inspect.signature(root.__init__).parameters.values())[1:]
    return {p.name: p.default for p in parameters}


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_parameter_that_sizes_what_the_output_writes_as_a_number_is_dropped(style):
    with nnconvert.record_constructors():
        model = Pooled().eval()
    inputs = (torch.randn(2, 3, 8, 8),)
    conversion = nnconvert.convert(model, style, inputs, keep_source=False)
    conversion.check(train=True)
    kept = _root_parameters(conversion)
    assert "pool" not in kept
    for name, default in kept.items():  # each one left builds what the source does
        if type(default) is not int:
            continue
        original = Pooled(**{name: 2 * default}).state_dict()
        if conversion.style is Style.FUNCTIONAL:
            made = conversion.namespace()["init_params"](**{name: 2 * default})
        else:
            made = conversion.namespace()[conversion.name](**{name: 2 * default})
            made = made.state_dict()
        assert {k: v.shape for k, v in made.items()} == {
            k: v.shape for k, v in original.items()
        }


def test_without_record_nothing_is_tried():
    """A model built outside ``record_constructors``: its arguments are unknown."""
    inputs = (torch.randn(2, 3, 8, 8),)
    conversion = nnconvert.convert(Pooled().eval(), Style.MODULE, inputs)
    conversion.check()


def test_a_dropped_parameter_is_written_as_its_default_where_it_is_read():
    source = (
        "class Net(nn.Module):\n"
        "    def __init__(self, pool=2, width=4):\n"
        "        super().__init__()\n"
        "        self.tokens = Tokens(pool=pool)\n"
        "        self.fc = nn.Linear(width, pool * width)\n"
    )
    dropped = without_parameters(source, "Net.__init__", ["pool"])
    assert black.format_str(dropped, mode=black.Mode()) == (
        "class Net(nn.Module):\n"
        "    def __init__(self, width=4):\n"
        "        super().__init__()\n"
        "        self.tokens = Tokens(pool=2)\n"
        "        self.fc = nn.Linear(width, 2 * width)\n"
    )
    functional = (
        "def init_params(n: int = 3, *, k: int = 1) -> dict:\n    return f(n, k)\n"
    )
    dropped = without_parameters(functional, "init_params", ["k"])
    assert black.format_str(dropped, mode=black.Mode()) == (
        "def init_params(n: int = 3) -> dict:\n    return f(n, 1)\n"
    )


def test_a_parameter_the_body_binds_again_is_not_dropped():
    source = "def init_params(n=3):\n    n = n + 1\n    return n\n"
    assert without_parameters(source, "init_params", ["n"]) is None
