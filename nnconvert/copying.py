"""Deep copies of a model that keep its functions pointing into the copy.

``copy.deepcopy`` copies modules, tensors and containers but shares
functions, closures included. minGPT keeps its MLP as
``self.mlpf = lambda x: m.dropout(m.c_proj(m.act(m.c_fc(x))))`` over a
``ModuleDict`` ``m``: in a plain deep copy that lambda still calls the
original's layers, so tracing the copy meets modules that are not its
submodules, and a train step on the copy computes gradients of the
original's weights. :func:`copy_model` rebuilds every such function with
closure cells holding what the copy made of their contents.
"""

from __future__ import annotations

import collections
import copy
import types
from typing import Any, TypeVar

import torch
from torch import nn

from . import (
    built_values,
    declared_inits,
    init_arguments,
    root_sizes,
    state_builds,
    ties,
)

M = TypeVar("M", bound=nn.Module)

#: Container types whose empty instances :func:`_rebound_copy` makes itself.
_EMPTY_COPIED = (collections.OrderedDict, set)


def copy_model(model: M) -> M:
    """``copy.deepcopy(model)``, with the functions stored on its modules rebound to the copy."""
    return _rebound_copy(model, {})


def copy_sharing_parameters(model: M) -> M:
    """:func:`copy_model`, except that the copy holds ``model``'s own parameters.

    For runs that only read the weights: the tracers' and annotation's runs
    under ``torch.no_grad()``, on the conversion's own copy of the user's
    model (the caller's model is never shared). Cloning every parameter for
    each traced block was most of the conversion's time on a ResNet-50.
    Buffers are still copied: BatchNorm updates its statistics in place in
    train mode.
    """
    return _rebound_copy(model, {id(p): p for p in model.parameters()})


def _rebound_copy(model: M, memo: dict[int, Any]) -> M:
    """``copy.deepcopy(model, memo)``, its modules' closures rebound to the copy.

    Every module holds a dozen empty hook containers (``OrderedDict``,
    ``set``), which ``deepcopy`` copies the slow way (``__reduce_ex__``):
    they are given fresh empty ones of the same type up front, what
    ``deepcopy`` would make of them, at a fraction of the cost.
    """
    for module in model.modules():
        for value in vars(module).values():
            if type(value) in _EMPTY_COPIED and not value:
                memo.setdefault(id(value), type(value)())
            elif isinstance(value, torch.Tensor) and not value.is_leaf:
                # a tensor computed from the weights and kept as a plain
                # attribute (the legacy ``weight_norm``'s ``weight``, which
                # its hook recomputes before every call): ``deepcopy``
                # refuses a non-leaf tensor, so the copy holds its value
                memo.setdefault(id(value), value.detach().clone())
    copied = copy.deepcopy(model, memo)
    init_arguments.carry(model.modules(), memo)
    root_sizes.carry(model.modules(), memo)
    ties.carry(model.modules(), memo)
    declared_inits.carry(model.modules(), memo)
    built_values.carry(model.modules(), memo)
    state_builds.carry(model.modules(), memo)
    for module in copied.modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, types.FunctionType) and value.__closure__:
                setattr(module, name, _rebound(value, memo))
    return copied


def _rebound(function: types.FunctionType, memo: dict[int, Any]) -> types.FunctionType:
    """``function`` with each closure cell holding the copy of its contents, if one was made."""
    cells = tuple(
        types.CellType(_copy_of(cell, memo)) for cell in function.__closure__ or ()
    )
    rebound = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        cells,
    )
    rebound.__kwdefaults__ = function.__kwdefaults__
    rebound.__dict__.update(function.__dict__)
    return rebound


def _copy_of(cell: types.CellType, memo: dict[int, Any]) -> Any:
    try:
        contents = cell.cell_contents
    except ValueError:  # an empty cell: a name the function assigns later
        return None
    return memo.get(id(contents), contents)
