"""Normalisation layers: batch, layer, group, instance, RMS and local response norm."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .helpers import batch_norm, count_batch, cumulative_momentum
from .inits import affine_ones_zeros, ones, zeros
from .layer_params import batch_norm_call, norm_call
from .spec import (
    TRAINING,
    Alias,
    Computed,
    DictForm,
    Example,
    OpSpec,
    TensorInit,
    WeightRef,
)


def _batch_norm_training(module: nn.Module):
    """Batch statistics are used while training, or always when none are tracked."""
    return TRAINING if module.track_running_stats else True


def _count_batches(module: nn.Module) -> list:
    """In train mode BatchNorm first advances ``num_batches_tracked``."""
    if not module.track_running_stats:
        return []
    return [(count_batch, (WeightRef("num_batches_tracked"), TRAINING))]


#: ``momentum=None`` with tracked statistics: one over the batches counted so far.
CUMULATIVE_MOMENTUM = Computed(
    cumulative_momentum, (WeightRef("num_batches_tracked"), TRAINING)
)


def _batch_norm_momentum(module: nn.Module):
    """The momentum ``forward`` passes; ``None`` is a cumulative average.

    With tracked statistics, ``momentum=None`` makes ``forward`` pass
    ``1.0 / float(num_batches_tracked)`` in train mode, right after counting
    the batch, and 0.0 (unused) in eval mode: :data:`CUMULATIVE_MOMENTUM`.
    Without tracked statistics nothing is averaged and ``forward`` passes 0.0.
    """
    if module.momentum is not None:
        return module.momentum
    return CUMULATIVE_MOMENTUM if module.track_running_stats else 0.0


def _instance_norm_momentum(module: nn.Module) -> float:
    """``momentum=None`` passes 0.0, as ``forward`` does."""
    return 0.0 if module.momentum is None else module.momentum


def _has_bias_if_affine(module: nn.Module) -> bool:
    """``bias=False`` only matters with ``affine=True``."""
    return module.bias is not None if module.affine else True


def _has_bias_if_elementwise_affine(module: nn.Module) -> bool:
    """``bias=False`` only matters with ``elementwise_affine=True``."""
    return module.bias is not None if module.elementwise_affine else True


def _normalized_shape(module: nn.Module):
    """``nn.LayerNorm(16)``: the layer stores ``(16,)``, people write ``16``."""
    shape = module.normalized_shape
    return shape[0] if len(shape) == 1 else shape


def _norm_base_init(module: nn.Module) -> list[TensorInit]:
    """Batch and instance norm: affine ones/zeros, running statistics zeros/ones/0."""
    inits = affine_ones_zeros(module)
    if module.track_running_stats:
        inits += [
            TensorInit("running_mean", zeros(module.running_mean)),
            TensorInit("running_var", ones(module.running_var)),
            TensorInit("num_batches_tracked", "torch.tensor(0)"),
        ]
    return inits


def _norm_from_weights(call, shapes, prologue) -> dict:
    """Batch and instance norm: the statistics are ``running_*``, the affine ``weight``/``bias``."""
    stats, weight = shapes["running_mean"], shapes["weight"]
    tracked, affine = stats is not None, weight is not None
    ctor = {
        "num_features": (stats or weight)[0],
        "affine": affine,
        "bias": shapes["bias"] is not None if affine else True,
        "track_running_stats": tracked,
    }
    momentum = call["momentum"]
    if isinstance(momentum, Computed):  # only BatchNorm's cumulative average
        if momentum != CUMULATIVE_MOMENTUM or not tracked:
            return None
        ctor["momentum"] = None
    elif not tracked and momentum == 0.0:  # _batch_norm_momentum's None
        ctor["momentum"] = None
    return ctor


def _layer_norm_from_weights(call, shapes, prologue) -> dict:
    """``normalized_shape`` is in the call; ``weight`` makes it affine."""
    affine = shapes["weight"] is not None
    return {
        "elementwise_affine": affine,
        "bias": shapes["bias"] is not None if affine else True,
    }


def _rms_norm_from_weights(call, shapes, prologue) -> dict:
    """``normalized_shape`` is in the call; ``weight`` makes it affine."""
    return {"elementwise_affine": shapes["weight"] is not None}


def _group_norm_from_weights(call, shapes, prologue) -> dict:
    """``weight`` is ``(num_channels,)``."""
    return {
        "num_channels": shapes["weight"][0],
        "bias": shapes["bias"] is not None,
    }


#: ``batch_norm(sub_params(params, "bn1."), x, training=training)``: the
#: helper counts the batch and computes the cumulative momentum itself. Each
#: call saves the eight lines black gives ``F.batch_norm`` and the counting
#: ``if``; the helper and ``sub_params`` cost about twenty: three calls pay.
BATCH_NORM_DICT = DictForm(
    batch_norm,
    updates=((count_batch, "num_batches_tracked"),),
    computed={"momentum": CUMULATIVE_MOMENTUM},
    fewest_calls=3,
)


def _batch_norm(module, examples) -> OpSpec:
    return OpSpec(
        module,
        F.batch_norm,
        name="bn",
        call_positional=5,
        weights=("running_mean", "running_var", "weight", "bias"),
        ctor_from_weights=_norm_from_weights,
        attributes={"training": _batch_norm_training, "momentum": _batch_norm_momentum},
        ctor_attributes={"bias": _has_bias_if_affine},
        updates=_count_batches,
        init=_norm_base_init,
        init_call=batch_norm_call,
        examples=examples,
        dict_form=BATCH_NORM_DICT,
    )


def _instance_norm(module, examples) -> OpSpec:
    return OpSpec(
        module,
        F.instance_norm,
        name="norm",
        weights=("running_mean", "running_var", "weight", "bias"),
        ctor_from_weights=_norm_from_weights,
        attributes={
            "use_input_stats": _batch_norm_training,
            "momentum": _instance_norm_momentum,
        },
        ctor_attributes={"bias": _has_bias_if_affine},
        init=_norm_base_init,
        init_call=norm_call,
        examples=examples,
    )


SPECS = (
    _batch_norm(
        nn.BatchNorm1d,
        (
            Example("nn.BatchNorm1d(4)", ((8, 4),)),
            Example("nn.BatchNorm1d(4, eps=0.001, momentum=0.2)", ((2, 4, 6),)),
            Example("nn.BatchNorm1d(4, affine=False)", ((2, 4, 6),)),
            Example("nn.BatchNorm1d(4, track_running_stats=False)", ((8, 4),)),
            Example("nn.BatchNorm1d(4, momentum=None)", ((2, 4, 6),)),
            Example(
                "nn.BatchNorm1d(4, momentum=None, track_running_stats=False)",
                ((2, 4, 6),),
            ),
        ),
    ),
    _batch_norm(
        nn.BatchNorm2d,
        (
            Example("nn.BatchNorm2d(3)"),
            Example("nn.BatchNorm2d(3, eps=0.001, momentum=0.01)"),
            Example("nn.BatchNorm2d(3, affine=False)"),
            Example("nn.BatchNorm2d(3, bias=False)"),
            Example("nn.BatchNorm2d(3, momentum=None)"),
            Example("nn.BatchNorm2d(3, eps=0.001, momentum=None, affine=False)"),
            Example("nn.BatchNorm2d(3, affine=False, track_running_stats=False)"),
        ),
    ),
    _batch_norm(
        nn.BatchNorm3d,
        (
            Example("nn.BatchNorm3d(3)", ((2, 3, 4, 4, 4),)),
            Example("nn.BatchNorm3d(3, momentum=None)", ((2, 3, 4, 4, 4),)),
            Example(
                "nn.BatchNorm3d(3, momentum=0.3, track_running_stats=False)",
                ((2, 3, 4, 4, 4),),
            ),
        ),
    ),
    _instance_norm(
        nn.InstanceNorm1d,
        (
            Example("nn.InstanceNorm1d(4)", ((2, 4, 10),)),
            Example("nn.InstanceNorm1d(4, eps=0.001, affine=True)", ((2, 4, 10),)),
            Example("nn.InstanceNorm1d(4, track_running_stats=True)", ((2, 4, 10),)),
        ),
    ),
    _instance_norm(
        nn.InstanceNorm2d,
        (
            Example("nn.InstanceNorm2d(3)"),
            Example("nn.InstanceNorm2d(3, affine=True)"),
            Example("nn.InstanceNorm2d(3, affine=True, bias=False)"),
            Example(
                "nn.InstanceNorm2d(3, momentum=0.2, affine=True, track_running_stats=True)"
            ),
        ),
    ),
    _instance_norm(
        nn.InstanceNorm3d,
        (
            Example("nn.InstanceNorm3d(3)", ((2, 3, 4, 4, 4),)),
            Example(
                "nn.InstanceNorm3d(3, affine=True, track_running_stats=True)",
                ((2, 3, 4, 4, 4),),
            ),
        ),
    ),
    OpSpec(
        nn.LayerNorm,
        F.layer_norm,
        name="norm",
        call_positional=4,
        weights=("weight", "bias"),
        ctor_from_weights=_layer_norm_from_weights,
        ctor_attributes={
            "normalized_shape": _normalized_shape,
            "bias": _has_bias_if_elementwise_affine,
        },
        init=affine_ones_zeros,
        init_call=norm_call,
        aliases=(
            Alias(
                torch.layer_norm,
                "input, normalized_shape, weight=None, bias=None, eps=1e-05, "
                "_cudnn_enable=True",
            ),
        ),
        examples=(
            Example("nn.LayerNorm(8, elementwise_affine=False)", ((2, 5, 8),)),
            Example("nn.LayerNorm(8)", ((2, 5, 8),)),
            Example("nn.LayerNorm((3, 8, 8), eps=0.001)"),
            Example("nn.LayerNorm(8, bias=False)", ((2, 5, 8),)),
        ),
    ),
    OpSpec(
        nn.GroupNorm,
        F.group_norm,
        name="norm",
        call_positional=4,
        ctor_positional=2,
        weights=("weight", "bias"),
        ctor_from_weights=_group_norm_from_weights,
        ctor_attributes={"bias": _has_bias_if_affine},
        init=affine_ones_zeros,
        init_call=norm_call,
        aliases=(
            Alias(
                torch.group_norm,
                "input, num_groups, weight=None, bias=None, eps=1e-05, "
                "_cudnn_enabled=True",
            ),
        ),
        examples=(
            Example("nn.GroupNorm(2, 4, affine=False)", ((2, 4, 6, 6),)),
            Example("nn.GroupNorm(2, 4, eps=0.001)", ((2, 4, 6, 6),)),
            Example("nn.GroupNorm(3, 6, bias=False)", ((2, 6, 5),)),
            Example("nn.GroupNorm(1, 3)"),
        ),
    ),
    OpSpec(
        nn.RMSNorm,
        F.rms_norm,
        name="norm",
        call_positional=3,
        weights=("weight",),
        ctor_from_weights=_rms_norm_from_weights,
        ctor_attributes={"normalized_shape": _normalized_shape},
        init=affine_ones_zeros,
        init_call=norm_call,
        aliases=(
            Alias(torch.rms_norm, "input, normalized_shape, weight=None, eps=None"),
        ),
        examples=(
            Example("nn.RMSNorm(8, elementwise_affine=False)", ((2, 5, 8),)),
            Example("nn.RMSNorm(8)", ((2, 5, 8),)),
            Example("nn.RMSNorm((8, 8), eps=1e-06)"),
        ),
    ),
    OpSpec(
        nn.LocalResponseNorm,
        F.local_response_norm,
        name="lrn",
        call_positional=2,
        examples=(
            Example("nn.LocalResponseNorm(2)"),
            Example("nn.LocalResponseNorm(3, alpha=0.001, beta=0.5, k=2.0)"),
            Example("nn.LocalResponseNorm(4, k=0.5)", ((2, 6, 10),)),
        ),
    ),
)
