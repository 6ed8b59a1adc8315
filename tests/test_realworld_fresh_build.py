"""The real-world benchmark's *fresh build* and *other shapes* columns (``benchmarks/realworld.py``).

A user who builds a converted model anew and trains it from scratch gets
the output's own initialisation (SPEC invariant 7). The benchmark measures
it per model and style: of the ``state_dict`` tensors, how many equal a
newly built original's bit for bit under one seed, or why one did not
build. These tests hold that measurement to small models whose answer is
known, and the table to its totals.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_benchmark
from .test_shape_guards import PoolsLargeInputs  # the tracer answers its width
from .test_structures import Upsampler  # reads its input's height and width

realworld = load_benchmark("realworld")


class ZeroBias(nn.Module):
    """A layer whose ``__init__`` zeroes its bias, and says so on stdout."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        nn.init.zeros_(self.fc.bias)
        print("built")

    def forward(self, x):
        return torch.relu(self.fc(x))


class Scaled(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, 3)

    def forward(self, x):
        return torch.relu(self.fc(x))


def inputs() -> tuple[torch.Tensor]:
    return (torch.randn(2, 4),)


def converted(entry, style: str) -> nnconvert.Conversion:
    model = realworld.build_model(entry, None)
    return nnconvert.convert(model, to=style, example_inputs=entry.inputs())


@pytest.mark.parametrize("style", realworld.STYLES)
def test_a_conversion_that_keeps_the_initialisation_counts_every_tensor(
    style: str, capsys
) -> None:
    """The output's class built with no arguments, or its ``init_params()``,
    quietly, and the caller's random state untouched."""
    entry = realworld.Entry("zero_bias", "unused.py", lambda _: ZeroBias(), inputs)
    conversion = converted(entry, style)
    capsys.readouterr()
    state = torch.get_rng_state()
    assert realworld.fresh_build(entry, None, conversion) == "2/2"
    assert torch.equal(torch.get_rng_state(), state)
    assert capsys.readouterr().out == ""


#: Outputs written by hand, so that what they draw is known: ``fc.bias`` the
#: default way (ZeroBias zeroes it), and ``fc.bias`` zeroed beside a key the
#: original does not have.
WRITTEN = {
    Style.MODULE: (
        "ZeroBias",
        """
        from torch import nn

        class ZeroBias(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
        """,
        "1/2",
    ),
    Style.FUNCTIONAL: (
        "zero_bias",
        """
        import math
        import torch
        from torch import nn

        def init_params():
            weight = nn.init.kaiming_uniform_(torch.empty(3, 4), a=math.sqrt(5))
            return {"fc.weight": weight, "fc.bias": torch.zeros(3), "extra": weight}
        """,
        "2/3",
    ),
}


@pytest.mark.parametrize("style", WRITTEN, ids=lambda s: s.value)
def test_fresh_build_counts_the_tensors_equal_to_a_new_original(style: Style) -> None:
    """``n/m``: the tensors equal bit for bit over the keys of either side."""
    entry = realworld.Entry("zero_bias", "unused.py", lambda _: ZeroBias(), inputs)
    name, source, cell = WRITTEN[style]
    model = realworld.build_model(entry, None)
    conversion = nnconvert.Conversion(
        textwrap.dedent(source), name, style, model, inputs()
    )
    assert realworld.fresh_build(entry, None, conversion) == cell


def test_a_build_that_fails_is_its_cell() -> None:
    """An original that cannot be built again (its builder ran out) is reported, not hidden."""
    widths = [4]
    entry = realworld.Entry("once", "unused.py", lambda _: Scaled(widths.pop()), inputs)
    conversion = converted(entry, "module")
    assert realworld.fresh_build(entry, None, conversion) == (
        "error: IndexError: pop from empty list"
    )


def test_the_total_sums_the_tensors_of_the_models_that_built() -> None:
    outcome = realworld.Outcome
    roots = {"a": "2/2", "b": "1/2; n: another state_dict", "c": "-", "d": "no output"}
    results = {
        "a": {
            s: outcome("pass", 0.1, "1/2", roots["a"], "1/1") for s in realworld.STYLES
        },
        "b": {
            s: outcome("pass", 0.1, "3/3", roots["b"], "1/2; refused: x")
            for s in realworld.STYLES
        },
        "c": {
            s: outcome("pass", 0.1, "error: TypeError: x", roots["c"], "-")
            for s in realworld.STYLES
        },
        "d": {s: outcome("ValueError: y", 0.1, "no output") for s in realworld.STYLES},
    }
    header, _, *rows, total = realworld.table(results).splitlines()
    assert header.endswith(
        "| module fresh build | functional fresh build | mixed fresh build "
        "| module root parameters | functional root parameters "
        "| mixed root parameters | module other shapes | functional other shapes "
        "| mixed other shapes |"
    )
    assert rows[0].endswith("| 1/2 | 1/2 | 1/2 | 2/2 | 2/2 | 2/2 | 1/1 | 1/1 | 1/1 |")
    assert total == (
        "| **total** | **3/4** | **3/4** | **3/4** | "
        + " | ".join(["**4/5** tensors, 1/4 models"] * 3)
        + " | "
        + " | ".join(["**3/4** parameters, 2 models"] * 3)
        + " | "
        + " | ".join(["**2/3** shapes, 1 models refuse one"] * 3)
        + " |"
    )


@pytest.mark.parametrize("style", realworld.STYLES)
def test_other_shapes_counts_the_shapes_the_output_runs(style: str) -> None:
    """A guard answered from the example refuses a shape the original accepts: listed."""
    images = (torch.randn(2, 3, 6, 6),)
    cells = {}
    for build in (PoolsLargeInputs, Upsampler):
        # printed from the trace: mixed style would keep the source as written
        conversion = nnconvert.convert(
            build(), to=style, example_inputs=images, keep_source=False
        )
        cells[build] = realworld.other_shapes_cell(conversion.check(train=True))
    assert cells[PoolsLargeInputs] == ("0/1; refused: last two dimensions doubled")
    assert cells[Upsampler] == "1/1"


def test_an_output_whose_check_fails_has_its_shapes_not_checked(monkeypatch) -> None:
    """The output exists, so its cell is not ``no output``; the check stopped
    before the other shapes, so they are ``not checked``, and no total counts them."""

    def fails(*_, **__):
        raise nnconvert.ConversionError("outputs differ")

    monkeypatch.setattr(nnconvert.Conversion, "check", fails)
    entry = realworld.Entry("failing", "cifar_lenet.py", lambda _: ZeroBias(), inputs)
    outcome = realworld.convert_and_check(entry, "module")
    assert outcome.result == "ConversionError: outputs differ"
    assert outcome.shapes == realworld.NOT_CHECKED == "not checked"
    assert realworld.shapes_total([outcome.shapes, "1/1"]) == (
        "**1/1** shapes, 0 models refuse one"
    )
