"""Shared pieces of the op-spec rows' ``init`` hooks: how ``nn`` creates tensors.

Each helper returns source text that makes exactly the calls a layer's
``reset_parameters`` makes, on a tensor of the shape and dtype the layer holds:
``nn.init.uniform_(torch.empty(4), -1 / math.sqrt(8), 1 / math.sqrt(8))``.
Shapes and dtypes are read from the instance and bounds are written as the
formula ``reset_parameters`` evaluates (constants as exact ``repr`` literals),
so the draws are bit-identical to the layer's.

A dtype other than the default is written as ``dtype=``, the way the module
style writes ``nn.Linear(8, 4, dtype=torch.float64)``: the draws then match a
layer *built* in that dtype (a layer built in float32 and converted with
``.double()`` drew in float32).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .spec import TensorInit


def _number(value: float) -> str:
    if math.isnan(value):
        return 'float("nan")'
    if math.isinf(value):
        return 'float("inf")' if value > 0 else '-float("inf")'
    return repr(value)


def _dtype(tensor: torch.Tensor) -> str:
    if tensor.dtype == torch.get_default_dtype():
        return ""
    return f", dtype={tensor.dtype}"


def _factory(function: str, tensor: torch.Tensor) -> str:
    """``torch.empty(4, 8)``, ``torch.zeros(4, dtype=torch.float64)``, ``torch.ones(())``."""
    shape = ", ".join(str(d) for d in tensor.shape) or "()"
    return f"torch.{function}({shape}{_dtype(tensor)})"


def empty(tensor: torch.Tensor) -> str:
    return _factory("empty", tensor)


def zeros(tensor: torch.Tensor) -> str:
    """``init.zeros_`` / ``.zero_()`` on a fresh tensor."""
    return _factory("zeros", tensor)


def ones(tensor: torch.Tensor) -> str:
    """``init.ones_`` / ``.fill_(1)`` on a fresh tensor."""
    return _factory("ones", tensor)


def full(tensor: torch.Tensor, value: float) -> str:
    """``init.constant_(t, value)`` on a fresh tensor (the value as a float)."""
    shape = tuple(tensor.shape)
    shape_text = f"({shape[0]},)" if len(shape) == 1 else str(shape)
    return f"torch.full({shape_text}, {_number(float(value))}{_dtype(tensor)})"


def filled_value(tensor: torch.Tensor) -> float | None:
    """The inverse of :func:`full`: the value ``init.constant_`` filled ``tensor`` with.

    The shortest decimal that rounds to the tensor's entries in its dtype
    (``0.1`` for a float32 ``0.1``, not ``0.10000000149011612``), so that
    :func:`full` writes it back as it was written; None unless every entry
    is that value (and for an empty or non-floating tensor).
    """
    if not tensor.is_floating_point() or tensor.numel() == 0:
        return None
    exact = tensor.reshape(-1)[0].item()
    value = exact
    for digits in range(1, 18):
        candidate = float(f"{exact:.{digits}g}")
        if torch.tensor(candidate, dtype=tensor.dtype).item() == exact:
            value = candidate
            break
    filled = torch.full_like(tensor, value, memory_format=torch.contiguous_format)
    return value if torch.equal(filled, tensor) else None


def uniform_fan_in(tensor: torch.Tensor, fan_in: int) -> str:
    """``init.uniform_(t, -bound, bound)`` with ``bound = 1 / math.sqrt(fan_in)``.

    Written as that formula, which is exact: ``-1 / s`` is ``-(1 / s)`` in
    floating point.
    """
    if fan_in <= 0:
        return f"nn.init.uniform_({empty(tensor)}, 0, 0)"
    bound = f"1 / math.sqrt({fan_in})"
    return f"nn.init.uniform_({empty(tensor)}, -{bound}, {bound})"


def kaiming_uniform_and_bias(module: nn.Module) -> list[TensorInit]:
    """``nn.Linear``, ``nn.Conv*d``, ``nn.ConvTranspose*d``: their ``reset_parameters``.

    ``kaiming_uniform_(weight, a=math.sqrt(5))``, then the bias uniform in
    ``±1/sqrt(fan_in)``.
    """
    weight = module.weight
    inits = [
        TensorInit(
            "weight", f"nn.init.kaiming_uniform_({empty(weight)}, a=math.sqrt(5))"
        )
    ]
    if module.bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
        inits.append(TensorInit("bias", uniform_fan_in(module.bias, fan_in)))
    return inits


def affine_ones_zeros(module: nn.Module) -> list[TensorInit]:
    """Normalisation layers: weight ``ones_``, bias ``zeros_`` (each if present)."""
    inits = []
    if getattr(module, "weight", None) is not None:
        inits.append(TensorInit("weight", ones(module.weight)))
    if getattr(module, "bias", None) is not None:
        inits.append(TensorInit("bias", zeros(module.bias)))
    return inits


__all__ = [
    "affine_ones_zeros",
    "empty",
    "filled_value",
    "full",
    "kaiming_uniform_and_bias",
    "ones",
    "uniform_fan_in",
    "zeros",
]
