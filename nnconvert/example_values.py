"""Example values: copies for every run, and the plain Python forms fx's graphs need."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import fx


def clone_inputs(values: Sequence[Any]) -> tuple[Any, ...]:
    """Copies of the tensors in ``values`` (also inside lists, tuples and dicts).

    Every run on example inputs gets its own copies, so that in-place ops in
    a model never change the inputs the next run sees.
    """

    def clone(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.clone()
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
            return type(value)(*(clone(v) for v in value))
        if isinstance(value, (list, tuple)):
            return type(value)(clone(v) for v in value)
        if isinstance(value, dict):
            return {k: clone(v) for k, v in value.items()}
        return value

    return tuple(clone(v) for v in values)


def mutable(value: Any) -> Any:
    """fx's frozen lists and dicts in node arguments as plain ones.

    Generated code passes list literals, which the callee may change
    (FPN's ``results.extend(...)``, swin3d's ``window_size[i] = ...``); running
    the graph must allow the same.
    """
    if isinstance(value, fx.immutable_collections.immutable_list):
        return [mutable(v) for v in value]
    if isinstance(value, fx.immutable_collections.immutable_dict):
        return {k: mutable(v) for k, v in value.items()}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(mutable(v) for v in value)
    return value


def to_meta(value: Any) -> Any:
    """Keep shape and dtype of tensors (as ``meta`` tensors), plain values as they are."""
    return fx.node.map_aggregate(
        value, lambda v: v.to("meta") if isinstance(v, torch.Tensor) else v
    )
