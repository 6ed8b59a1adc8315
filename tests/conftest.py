"""Shared pytest set-up: the ``--update-goldens`` flag that refreshes samples/expected/.

The tests run thousands of tiny models; torch's intra-op threads only cost
there (3x slower on a busy 2-core machine), so they run on one thread.
"""

from __future__ import annotations

import pytest
import torch


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
