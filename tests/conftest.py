"""Shared pytest set-up: the ``--update-goldens`` flag that refreshes samples/expected/.

Tests of how the printer writes the class styles mark themselves
``printed_from_trace``: their models are classes of the test file, written
in mixed style, which ``convert`` would otherwise return as written in
mixed style (:mod:`nnconvert.as_written`, :mod:`nnconvert.calls_rewritten`)
or with their own construction (:mod:`nnconvert.construction_kept`;
``keep_source``) or calls (:mod:`nnconvert.calls_as_layers`); the mark has every conversion of the test print from the
trace, the CLI's too.

The tests run thousands of tiny models; torch's intra-op threads only cost
there (3x slower on a busy 2-core machine), so they run on one thread.
"""

from __future__ import annotations

import pytest
import torch

import nnconvert.api


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="Rewrite samples/expected/ from the current output instead of comparing.",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(1)
    config.addinivalue_line(
        "markers",
        "printed_from_trace: class styles print from the trace, never keep the source",
    )


@pytest.fixture(autouse=True)
def _printed_from_trace(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("printed_from_trace") is not None:
        monkeypatch.setattr(nnconvert.api, "as_written", lambda *_, **__: None)
        monkeypatch.setattr(
            nnconvert.api, "with_source_construction", lambda *_, **__: None
        )
        monkeypatch.setattr(
            nnconvert.api, "with_layer_calls_rewritten", lambda *_, **__: None
        )
        monkeypatch.setattr(
            nnconvert.api, "with_calls_as_layers", lambda *_, **__: None
        )
