"""``format_source`` hands black only some lines; its result must be black's, exactly.

Not on the hot path: every sample and structure-test output, in every style,
formatted by :func:`nnconvert.printer.program.format_source` from the
printer's raw text, must equal ``black.format_str`` of that raw text, and
black must leave it unchanged.
"""

from __future__ import annotations

import black
import pytest
import torch

import nnconvert
from nnconvert.options import Style
from nnconvert.printer import program

from .helpers import SAMPLE_FILES, load_sample
from .test_structures import INPUTS, MODELS


def _raw_and_formatted(model, inputs, style: Style) -> tuple[str, str]:
    """The printer's text before formatting, and the converted source."""
    original = program.format_source
    program.format_source = lambda text: text
    try:
        raw = nnconvert.convert(model, style, inputs).source
    finally:
        program.format_source = original
    return raw, nnconvert.convert(model, style, inputs).source


def _assert_black_agrees(raw: str, source: str) -> None:
    reference = black.format_str(raw, mode=black.Mode())
    assert program.format_source(raw) == reference
    assert source == reference
    assert black.format_str(source, mode=black.Mode()) == source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample_outputs_are_what_black_makes_of_them(sample, style):
    model, inputs = load_sample(sample)
    _assert_black_agrees(*_raw_and_formatted(model, inputs, style))


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_structure_outputs_are_what_black_makes_of_them(model_class, style):
    torch.manual_seed(0)
    _assert_black_agrees(*_raw_and_formatted(model_class(), INPUTS[model_class], style))


@pytest.mark.parametrize(
    "text",
    [
        "def f(x):\n    return x ** 2 + x[1 : 2]\n",
        "x = {'a': 1}  # comment\n",
        'def f():\n    """Doc.\n\n    More.\n    """\n    return 1\n',
        "import torch\nclass A:\n    pass\n@dec\ndef f():\n    pass\n",
        "y = f(\n    1,\n)\n",
    ],
)
def test_lines_black_respaces_go_to_black(text):
    assert program.format_source(text) == black.format_str(text, mode=black.Mode())
