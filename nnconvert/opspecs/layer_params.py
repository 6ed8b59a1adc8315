"""Whole layers in ``init_params()``: one call creates all of a layer's tensors.

Written tensor by tensor, a convolution costs two statements of three lines
each after black; a model of forty layers, a few hundred lines. The common
layers instead get one call each of a small function the output defines once
(only when it uses it)::

    params |= kaiming_params("features.0", 64, 3, 3, 3)
    params |= batch_norm_params("features.1", 64)

Each function below is that definition (its source is what the output
prints) and makes exactly the draws its layers' constructors make, in their
order, on tensors of the default dtype; the rows' ``init_call`` hooks
(:class:`~nnconvert.opspecs.spec.LayerInit`) say which layer calls which,
with what arguments, and decline (None) for a configuration the function
does not cover, which is then written tensor by tensor
(:class:`~nnconvert.opspecs.spec.TensorInit`). ``tests/test_layer_params.py``
checks, for every example of every row, that the call gives the keys, the
order and the values bit for bit of a freshly built layer.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import Tensor, nn

from .spec import LayerInit


def kaiming_params(prefix: str, *shape: int, bias: bool = True) -> dict[str, Tensor]:
    """An `nn.Linear` or `nn.Conv*d` whose weight has `shape`, drawn as they draw it."""
    weight = nn.init.kaiming_uniform_(torch.empty(shape), a=math.sqrt(5))
    params = {f"{prefix}.weight": weight}
    if bias:
        bound = 1 / math.sqrt(math.prod(shape[1:]))
        params[f"{prefix}.bias"] = nn.init.uniform_(
            torch.empty(shape[0]), -bound, bound
        )
    return params


def norm_params(prefix: str, *shape: int, bias: bool = True) -> dict[str, Tensor]:
    """A normalisation layer's affine weight (ones) and bias (zeros) of `shape`."""
    params = {f"{prefix}.weight": torch.ones(shape)}
    if bias:
        params[f"{prefix}.bias"] = torch.zeros(shape)
    return params


def batch_norm_params(prefix: str, num_features: int) -> dict[str, Tensor]:
    """An `nn.BatchNorm*d`: affine weight and bias, then its running statistics."""
    return {
        f"{prefix}.weight": torch.ones(num_features),
        f"{prefix}.bias": torch.zeros(num_features),
        f"{prefix}.running_mean": torch.zeros(num_features),
        f"{prefix}.running_var": torch.ones(num_features),
        f"{prefix}.num_batches_tracked": torch.tensor(0),
    }


#: Every function above, as the output defines it: name -> source.
DEFINITIONS: dict[str, str] = {
    function.__name__: inspect.getsource(function)
    for function in (kaiming_params, norm_params, batch_norm_params)
}


def _default_dtype(module: nn.Module) -> bool:
    """The functions draw in the default dtype only (a layer built in float64 draws otherwise)."""
    return all(
        t.dtype == torch.get_default_dtype()
        for t in module.state_dict().values()
        if t.is_floating_point()
    )


def _has(module: nn.Module, name: str) -> bool:
    return getattr(module, name, None) is not None


def kaiming_call(module: nn.Module) -> LayerInit | None:
    """``nn.Linear`` and ``nn.Conv*d`` (not transposed: its bias follows the weight's second axis)."""
    shape = tuple(module.weight.shape)
    if not _default_dtype(module) or 0 in shape:
        return None
    return LayerInit(kaiming_params, shape, _bias_keyword(module))


def _bias_keyword(module: nn.Module) -> tuple[tuple[str, bool], ...]:
    """``bias=False`` for a layer without one; nothing (the default) otherwise."""
    return () if _has(module, "bias") else (("bias", False),)


def norm_call(module: nn.Module) -> LayerInit | None:
    """``nn.LayerNorm``, ``nn.GroupNorm``, ``nn.RMSNorm`` and affine instance norms.

    Only a layer whose tensors are exactly its affine ones: an instance norm
    that tracks running statistics declines.
    """
    if not _has(module, "weight") or not _default_dtype(module):
        return None
    if getattr(module, "track_running_stats", False):
        return None
    shape = tuple(module.weight.shape)
    if not shape:
        return None
    return LayerInit(norm_params, shape, _bias_keyword(module))


def batch_norm_call(module: nn.Module) -> LayerInit | None:
    """``nn.BatchNorm*d``, affine with running statistics (the default); else None."""
    if not (module.affine and module.track_running_stats and _has(module, "bias")):
        return None
    if not _default_dtype(module):
        return None
    return LayerInit(batch_norm_params, (module.num_features,))


__all__ = [
    "DEFINITIONS",
    "batch_norm_call",
    "batch_norm_params",
    "kaiming_call",
    "kaiming_params",
    "norm_call",
    "norm_params",
]
