"""A function the user's library marks with ``torch.fx.wrap`` stays one call (issue 13).

torchvision's swin calls ``_get_relative_position_bias``, wrapped in its own
module. fx keeps a wrapped function opaque only in the module that wrapped it,
and its autowrap skips names starting with ``_``: a file that imports such a
function (the converted output does) had it inlined, so the round trip was
not stable. It must stay one call, in every style, on every conversion.
"""

from __future__ import annotations

import sys

import pytest

from .helpers import run, write

LIBRARY = """
import torch
import torch.fx


def _get_bias(table: torch.Tensor, n: int) -> torch.Tensor:
    bias = table[:n, :n]
    return bias.permute(1, 0).contiguous()


torch.fx.wrap("_get_bias")
"""

MODEL = """
import torch
from torch import nn
import torch.nn.functional as F
from {library} import _get_bias


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.table = nn.Parameter(torch.randn(10, 10))

    def forward(self, x):
        b = _get_bias(self.table, x.shape[-1])
        return F.relu(self.fc(x)) + b


def example_inputs():
    return (torch.randn(8, 8),)
"""


@pytest.fixture
def wrapping_library(tmp_path, monkeypatch):
    """An importable module (unique per test) that wraps ``_get_bias``; its name."""
    name = f"wraplib_{abs(hash(str(tmp_path)))}"
    write(tmp_path, f"{name}.py", LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_a_wrapped_function_stays_one_call_and_the_round_trip_is_stable(
    tmp_path, wrapping_library, style
):
    model = write(tmp_path, "m.py", MODEL.format(library=wrapping_library))
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    result = run("convert", model, "--to", style, "-o", first)
    assert result.exit_code == 0, result.output
    text = first.read_text()
    assert f"from {wrapping_library} import _get_bias\n" in text
    assert "_get_bias(" in text.split("import _get_bias", 1)[1]
    assert ".permute(" not in text  # not inlined
    again = run("convert", first, "--to", style, "-o", second, "--input-shape", "8,8")
    assert again.exit_code == 0, again.output
    assert second.read_text() == text
    assert run("check", model, first).exit_code == 0


def test_module_to_functional_to_module_is_module_to_module(tmp_path, wrapping_library):
    model = write(tmp_path, "m.py", MODEL.format(library=wrapping_library))
    module, functional, back = (tmp_path / f"{n}.py" for n in ("a", "b", "c"))
    # printed from the trace: the functional file holds no construction to keep
    direct = ("--to", "module", "--no-keep-source", "-o", module)
    assert run("convert", model, *direct).exit_code == 0
    assert run("convert", model, "--to", "functional", "-o", functional).exit_code == 0
    result = run(
        "convert", functional, "--to", "module", "-o", back, "--input-shape", "8,8"
    )
    assert result.exit_code == 0, result.output
    assert back.read_text() == module.read_text()


def test_the_registration_is_undone_after_the_trace(tmp_path, wrapping_library):
    """Tracing registers the user's names with fx only while it runs.

    What stays under the name is the library's own ``torch.fx.wrap`` call,
    made at its import (fx's generated code registers its aliases of it too).
    """
    from torch import fx

    registry = fx._symbolic_trace._wrapped_fns_to_patch
    before = set(registry)
    model = write(tmp_path, "m.py", MODEL.format(library=wrapping_library))
    assert run("convert", model, "--to", "mixed", "--no-check").exit_code == 0
    added = [(k[1], registry[k].get("__name__")) for k in set(registry) - before]
    assert [a for a in added if a[0] == "_get_bias"] == [
        ("_get_bias", wrapping_library)
    ]
