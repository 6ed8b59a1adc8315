"""Recognising blocks: sub-functions called over a submodule's slice of the weights.

``--to functional`` writes a block as a function of its own, called with the
weights under the block's key prefix: ``basic_block(sub_params(params,
"layer1.0."), x)``. Running the wrapper once on the example inputs, with a
:class:`BlockCalls` passed to the run, records every such call; a prefix
called with one function is a block of that function (the wrapper is then
built again with a wrapper of that function at ``layer1.0``,
:func:`~.wrapper.build_wrapper`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..example_values import clone_inputs
from ..modes import eval_mode
from .leaf_layers import LeafCalls, recording_steps
from .wrapper import FunctionalModel


@dataclass
class BlockCalls:
    """What one run saw: key prefix -> the function called over it (None: two functions).

    ``settings``: the literal keywords each prefix's call passed
    (``block(sub_params(params, "layers.0."), x, groups=8)``: the block's
    function is shared by instances built with other numbers, as
    ``--to functional`` writes one function per block class). ``leaves``:
    the calls of module-level third-party layers (:mod:`.leaf_layers`).
    """

    by_prefix: dict[str, Callable | None] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    leaves: LeafCalls = field(default_factory=LeafCalls)

    def record(
        self, prefix: str, function: Callable, settings: dict[str, Any] | None = None
    ) -> None:
        """``function`` was called with exactly the weights under ``prefix``."""
        settings = settings or {}
        known = self.settings.setdefault(prefix, settings)
        if self.by_prefix.setdefault(prefix, function) is not function or (
            repr(known) != repr(settings)
        ):
            self.by_prefix[prefix] = None

    def blocks(self) -> dict[str, Callable]:
        """Prefix -> function, for the prefixes only one function was called over."""
        return {p: f for p, f in self.by_prefix.items() if f is not None}

    def block_settings(self) -> dict[str, dict[str, Any]]:
        """Prefix -> the literal keywords its block's function is called with."""
        return {p: self.settings[p] for p in self.blocks() if self.settings.get(p)}


def find_blocks(model: FunctionalModel, example_inputs: Sequence[Any]) -> BlockCalls:
    """Every call of a sub-function over a submodule's weights (:meth:`BlockCalls.blocks`).

    Runs the model once on the example inputs (in eval mode, without grad).
    A function that fails on them has no blocks: the conversion reports why.
    """
    calls = BlockCalls()
    try:
        with torch.no_grad(), eval_mode(model):
            bound = inspect.signature(model.forward).bind(*clone_inputs(example_inputs))
            bound.apply_defaults()
            with recording_steps(calls.leaves, model.function.__globals__):
                model._run(*bound.args, recorder=calls)
    except Exception:
        return BlockCalls()
    return calls


__all__ = ["BlockCalls", "find_blocks"]
