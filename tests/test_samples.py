"""Golden files: every sample in every style, compared byte for byte and checked.

``samples/<name>.py`` is the input; ``samples/expected/<name>.<style>.py`` is
the expected output. Refresh them after an intended change with::

    python -m pytest tests/test_samples.py --update-goldens

and read the diff as a reviewer would before committing it.
"""

from __future__ import annotations

import black
import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import (
    NAMED_STATELESS_SAMPLES,
    SAMPLE_FILES,
    STATELESS_ARGUMENTS_NOT_CARRIED,
    STATELESS_ARGUMENTS_SAMPLES,
    golden_path,
    inlined_stateless_layers,
    load_sample,
)

CLASS_STYLES = [Style.MODULE, Style.MIXED]


def test_there_are_samples():
    assert len(SAMPLE_FILES) >= 4


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample_matches_golden_and_is_equivalent(sample, style, update_goldens):
    model, inputs = load_sample(sample)
    conversion = nnconvert.convert(model, style, inputs)
    report = conversion.check(train=True)
    assert [r.label for r in report.results][:1] == [
        f"eval, example inputs (batch {inputs[0].shape[0]})"
    ]
    assert black.format_str(conversion.source, mode=black.Mode()) == conversion.source
    golden = golden_path(sample, style)
    if update_goldens:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(conversion.source)
    assert golden.exists(), f"no golden file {golden}; run with --update-goldens"
    assert conversion.source == golden.read_text()


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.stem)
def test_converting_an_output_to_its_own_style_reproduces_it(sample, style):
    model, inputs = load_sample(sample)
    first = nnconvert.convert(model, style, inputs)
    again = nnconvert.convert(first.load(), style, inputs)
    assert again.source == first.source


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.stem)
def test_mixed_and_functional_outputs_convert_on_to_the_same_module(sample, request):
    """module -> X -> module gives module -> module, for every class style X.

    Through mixed style, but for the names of the parameter-free layers the
    model holds (``STATELESS_NAMES_NOT_CARRIED``) and their arguments.
    """
    if sample.stem in STATELESS_ARGUMENTS_SAMPLES:
        mark = pytest.mark.xfail(strict=True, reason=STATELESS_ARGUMENTS_NOT_CARRIED)
        request.applymarker(mark)
    model, inputs = load_sample(sample)
    direct = nnconvert.convert(model, Style.MODULE, inputs).source
    via = nnconvert.convert(model, Style.MODULE, inputs).load()
    assert nnconvert.convert(via, Style.MODULE, inputs).source == direct
    # through mixed style, printed from the trace: the mixed output's
    # construction is the printer's, not the sample's
    direct = nnconvert.convert(model, Style.MODULE, inputs, keep_source=False).source
    via = nnconvert.convert(model, Style.MIXED, inputs).load()
    again = nnconvert.convert(via, Style.MODULE, inputs, keep_source=False).source
    if sample.stem in NAMED_STATELESS_SAMPLES:
        assert again != direct
        assert inlined_stateless_layers(again) == inlined_stateless_layers(direct)
    else:
        assert again == direct


class _Constants(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x) * torch.tensor([1.0, 2.0, 3.0]) + torch.ones(
            3, dtype=torch.float64
        )


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_small_tensor_constants_are_written_as_literals(style):
    model = _Constants()
    conversion = nnconvert.convert(model, style, (torch.randn(2, 3),))
    flat = "".join(conversion.source.split())  # black may wrap the one statement
    assert "*torch.tensor([1.0,2.0,3.0])" in flat
    assert "torch.ones(3,dtype=torch.float64)" in flat  # written as it is built
    assert "_tensor_constant" not in conversion.source
    assert "_tensor_constant0" not in vars(model)
    conversion.check(train=True)


def test_large_tensor_constants_are_written_exactly():
    """Any size: packed bytes (``tests/test_tensor_values.py`` has the details).

    Random numbers: no code of ``__init__`` rebuilds them (a table that
    ``torch.arange`` computes is written as that code: ``tests/test_init_slices.py``).
    """

    class Big(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = torch.rand(100)  # neither parameter nor buffer

        def forward(self, x):
            return x + self.table

    conversion = nnconvert.convert(Big(), Style.FUNCTIONAL, (torch.randn(2, 100),))
    assert "unpack_tensor(" in conversion.source
    conversion.check(train=True)
