"""Train/eval mode, set for a while and given back: every submodule keeps its own flag.

``model.train(flag)`` sets one flag on every submodule, so putting back
``model.train(was_training)`` after converting or tracing would lose a model
whose submodules were in different modes (a frozen BatchNorm in eval inside a
model in train mode). :func:`modes_kept` restores each module's own flag.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


@contextmanager
def modes_kept(model: nn.Module) -> Iterator[nn.Module]:
    """On exit, every submodule of ``model`` (and ``model``) has its own flag back.

    Whatever happens inside: ``model.eval()``, a tracer replacing the flags
    with graph values, an exception.
    """
    saved = [(module, module.training) for module in model.modules()]
    try:
        yield model
    finally:
        for module, training in saved:
            module.training = training


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside; every submodule's own flag back on exit."""
    with modes_kept(model):
        yield model.eval()


__all__ = ["eval_mode", "modes_kept"]
