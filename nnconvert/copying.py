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

import copy
import types
from typing import Any, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def copy_model(model: M) -> M:
    """``copy.deepcopy(model)``, with the functions stored on its modules rebound to the copy."""
    return _rebound_copy(model, {})


def meta_copy(model: M) -> M:
    """:func:`copy_model` with every tensor the modules hold on the ``meta`` device.

    For running a model only to learn its values' shapes and dtypes: a meta
    tensor has no data, so neither the copy nor the run costs what the real
    weights would (a ResNet-50's 100 MB cloned per traced block). Parameters
    stay parameters (same ``requires_grad``); tied tensors stay tied.
    """
    memo: dict[int, Any] = {}
    for module in model.modules():
        for value in vars(module).values():
            if isinstance(value, dict):  # _parameters, _buffers
                tensors = [v for v in value.values() if isinstance(v, torch.Tensor)]
            else:
                tensors = [value] if isinstance(value, torch.Tensor) else []
            for tensor in tensors:
                if id(tensor) not in memo:
                    memo[id(tensor)] = _on_meta(tensor)
    return _rebound_copy(model, memo)


def _rebound_copy(model: M, memo: dict[int, Any]) -> M:
    """``copy.deepcopy(model, memo)``, its modules' closures rebound to the copy."""
    copied = copy.deepcopy(model, memo)
    for module in copied.modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, types.FunctionType) and value.__closure__:
                setattr(module, name, _rebound(value, memo))
    return copied


def _on_meta(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor``'s shape, strides and dtype without data; a parameter stays one."""
    twin = tensor.detach().to("meta")
    if isinstance(tensor, nn.Parameter):
        return nn.Parameter(twin, requires_grad=tensor.requires_grad)
    return twin


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
