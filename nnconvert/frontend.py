"""What a front end hands the conversion: the module, and what the front end recognised.

Two front ends read models. A class is taken as it is. A function over a
weight dict (:mod:`nnconvert.functional`) is wrapped with its weights as a
module, and some of that module's structure is built from what the function
does. Both give a :class:`ModelInput`; the forward pipeline (trace ->
passes -> printer) takes that and never asks which front end made it:
whatever a front end knows that the module itself does not show travels
here, as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from torch import Tensor, nn


@dataclass(frozen=True)
class ModelInput:
    """A model to convert, as its front end read it."""

    module: nn.Module
    #: The name the input has as a function (a functional input's); None for
    #: a class. Converting to functional style keeps it.
    function_name: str | None = None
    #: Dotted paths of submodules the front end built rather than found
    #: declared in the input (an ``nn.Sequential`` rebuilt from a block's
    #: function). Class styles place them where first used, as any layer the
    #: conversion adds, not in the input's attribute order.
    built_paths: frozenset[str] = frozenset()
    #: How to build the original anew, when the front end knows (the CLI
    #: calls the file's class, factory or ``init_params()`` again): returns
    #: its fresh ``state_dict()``. A functional output's ``init_params()`` is
    #: compared with it under the same seed, and its docstring says what
    #: matched; without it, the docstring claims no equality. Runs the
    #: model's own code, so only a caller that already runs it provides one.
    fresh_state: Callable[[], Mapping[str, Tensor]] | None = None
    #: The docstring of a functional input's ``init_params()``, whose claim
    #: about the original carries over to an output that reproduces that
    #: ``init_params()`` bit for bit (the original class is not there to
    #: compare with again).
    init_params_doc: str | None = None
    #: The user's function that built ``module`` (``--class ConvMixer``). Where
    #: the module's class is torch's own (the ``nn.Sequential`` ConvMixer's
    #: factory returns), the output is named after the function, not
    #: ``Sequential``.
    factory_name: str | None = None

    @property
    def name(self) -> str:
        """How the input calls itself: its function's name, else its class name."""
        return self.function_name or type(self.module).__name__


def model_input(model: nn.Module | ModelInput) -> ModelInput:
    """``model`` as a :class:`ModelInput`: a plain module is a class-style input."""
    return model if isinstance(model, ModelInput) else ModelInput(model)


__all__ = ["ModelInput", "model_input"]
