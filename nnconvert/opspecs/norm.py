"""Normalisation layers: batch, layer, group, instance, RMS and local response norm."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .spec import TRAINING, Example, OpSpec, WeightRef, count_batch


def _batch_norm_training(module: nn.Module):
    """Batch statistics are used while training, or always when none are tracked."""
    return TRAINING if module.track_running_stats else True


def _count_batches(module: nn.Module) -> list:
    """In train mode BatchNorm first advances ``num_batches_tracked``."""
    if not module.track_running_stats:
        return []
    return [(count_batch, (WeightRef("num_batches_tracked"), TRAINING))]


def _has_bias_if_affine(module: nn.Module) -> bool:
    """``bias=False`` only matters with ``affine=True``."""
    return module.bias is not None if module.affine else True


def _batch_norm(module, examples) -> OpSpec:
    return OpSpec(
        module,
        F.batch_norm,
        name="bn",
        call_positional=5,
        weights=("running_mean", "running_var", "weight", "bias"),
        attributes={
            "training": _batch_norm_training,
            "momentum": lambda m: 0.0 if m.momentum is None else m.momentum,
        },
        ctor_attributes={"bias": _has_bias_if_affine},
        updates=_count_batches,
        examples=examples,
    )


SPECS = (
    _batch_norm(
        nn.BatchNorm2d,
        (
            Example("nn.BatchNorm2d(3)"),
            Example("nn.BatchNorm2d(3, eps=0.001, momentum=0.01)"),
            Example("nn.BatchNorm2d(3, affine=False)"),
        ),
    ),
)
