"""Adopting layers: a host whose tensors feed one layer's functional calls becomes that layer.

``F.conv2d(x, params["conv1.weight"], params["conv1.bias"], stride=2)`` makes
host ``conv1`` an ``nn.Conv2d(3, 16, 3, stride=2)`` holding the same tensors
(found by :func:`nnconvert.passes.lift.find_layers`), so that
``init_params()`` and the module style see ``nn.Conv2d``, not a host. The
function still only reads the tensors, so the wrapper computes what it did;
it may read them as tensors elsewhere too (Whisper's logits read the token
embedding's weight), as a module's code reads its layer's. A tensor tied
between hosts is read under one key: each call's read is first moved to its
own host's (:mod:`.tied_reads`).
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..errors import ConversionError
from ..leaves import is_leaf
from ..modes import eval_mode
from ..passes.canonicalize import canonicalize
from ..passes.lift import find_layers
from ..passes.weight_dicts import spell_out_dict_calls
from ..trace import trace
from .tied_reads import move_tied_reads


def adopt_layers(
    model: nn.Module,
    example_inputs: Sequence[Any],
    initial: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Replace the wrapper's plain hosts by the layers the function's calls over them make.

    ``initial`` (the weights as ``init_params()`` creates them, by key)
    gives a layer the constructor arguments that only its initial values
    show (``nn.PReLU(4, init=0.1)``, not ``nn.PReLU(4)``); never the weights
    the function runs with, which training may have changed. Leaves the
    hosts alone when the function cannot be traced (the conversion reports
    why).
    """
    training = model.training
    try:
        with eval_mode(model):
            graph_module = trace(model, _with_defaults(model, example_inputs), is_leaf)
            graph_module.meta["original"] = model
            canonicalize(graph_module)
            spell_out_dict_calls(
                graph_module.graph
            )  # batch_norm(...): the canonical call
    except ConversionError:
        return
    move_tied_reads(graph_module.graph, model)
    # the function reads tensors as it likes; a host is the layer its calls make
    found = find_layers(graph_module, initial, read_as_tensors=True)
    for owner, lift in found.items():
        parent, _, name = owner.rpartition(".")
        setattr(model.get_submodule(parent), name, lift.layer.train(training))


def _with_defaults(model: nn.Module, example_inputs: Sequence[Any]) -> tuple[Any, ...]:
    """The example inputs and the defaults of the inputs they leave out, as a call passes them.

    ``perceiver(params, data, mask=None)`` given ``data`` alone: traced with
    ``mask`` None, its guard ``if mask is not None: raise ...`` passes, where
    an input left to fx would be a proxy, and not None.
    """
    try:
        bound = inspect.signature(model.forward).bind(*example_inputs)
    except TypeError:
        return tuple(example_inputs)
    bound.apply_defaults()
    return tuple(bound.args)


__all__ = ["adopt_layers"]
