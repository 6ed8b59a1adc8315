"""Layers that rearrange or resample elements: flatten, unflatten, upsample, shuffles, fold."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .spec import Alias, Arguments, Example, OpSpec

_FOLD_TUPLES = frozenset(
    {"output_size", "kernel_size", "dilation", "padding", "stride"}
)
_INTERPOLATE_TUPLES = frozenset({"size", "scale_factor"})
_LINEAR_MODES = frozenset({"linear", "bilinear", "bicubic", "trilinear"})


def _natural_scale_factor(module: nn.Module):
    """``nn.Upsample(scale_factor=2)``: the layer stores ``2.0``, people write ``2``."""

    def natural(factor):
        return int(factor) if float(factor).is_integer() else factor

    factor = module.scale_factor
    if isinstance(factor, (tuple, list)):
        return type(factor)(natural(f) for f in factor)
    return None if factor is None else natural(factor)


def _interpolate_canonical(arguments: Arguments) -> Arguments:
    """Spellings ``F.interpolate`` treats alike compare alike.

    ``align_corners=False`` is the default of the interpolating modes (``None``
    means False there), and ``recompute_scale_factor=False`` is ``None``.
    """
    if (
        arguments.get("align_corners") is False
        and arguments.get("mode", "nearest") in _LINEAR_MODES
    ):
        arguments["align_corners"] = None
    if arguments.get("recompute_scale_factor") is False:
        arguments["recompute_scale_factor"] = None
    return arguments


def _upsampling_ctor(mode: str, align_corners: bool | None):
    """``ctor_from_call`` for the fixed-mode layers: size or scale factor, nothing else."""

    def ctor_from_call(arguments: Arguments) -> Arguments | None:
        if (
            arguments.get("mode", "nearest") != mode
            or arguments.get("align_corners") != align_corners
            or arguments.get("recompute_scale_factor") is not None
            or arguments.get("antialias", False)
        ):
            return None
        return {
            "size": arguments.get("size"),
            "scale_factor": arguments.get("scale_factor"),
        }

    return ctor_from_call


def _interpolate(module, ctor_from_call, examples) -> OpSpec:
    """The ``nn.Upsample*`` rows: all call ``F.interpolate``, keywords only."""
    return OpSpec(
        module,
        F.interpolate,
        name="upsample",
        ctor_positional=0,
        attributes={"antialias": lambda m: False},
        ctor_attributes={"scale_factor": _natural_scale_factor},
        collapse=_INTERPOLATE_TUPLES,
        canonical=_interpolate_canonical,
        ctor_from_call=ctor_from_call,
        examples=examples,
    )


SPECS = (
    OpSpec(
        nn.Flatten,
        torch.flatten,
        signature="input, start_dim=0, end_dim=-1",
        name="flatten",
        call_positional=3,
        ctor_positional=2,
        aliases=(Alias("flatten", "input, start_dim=0, end_dim=-1"),),
        examples=(
            Example("nn.Flatten()"),
            Example("nn.Flatten(0, 2)"),
            Example("nn.Flatten(2)"),
        ),
    ),
    OpSpec(
        nn.Unflatten,
        torch.unflatten,
        signature="input, dim, sizes",
        name="unflatten",
        call_positional=3,
        ctor_positional=2,
        attributes={"sizes": "unflattened_size"},
        aliases=(Alias("unflatten", "input, dim, sizes"),),
        examples=(
            Example("nn.Unflatten(1, (2, 4))", ((2, 8, 3),)),
            Example("nn.Unflatten(-1, (2, -1))", ((2, 3, 8),)),
            Example("nn.Unflatten(1, (3, 1, 1))", ((2, 3),)),
        ),
    ),
    # Upsample first: it expresses every F.interpolate call the others do, so a
    # general call becomes nn.Upsample (the first row of a function wins).
    _interpolate(
        nn.Upsample,
        None,
        (
            Example("nn.Upsample(scale_factor=2)"),
            Example('nn.Upsample(scale_factor=2, mode="bilinear")'),
            Example('nn.Upsample(size=(5, 12), mode="bilinear", align_corners=True)'),
            Example('nn.Upsample(scale_factor=1.5, mode="bicubic")'),
            Example('nn.Upsample(size=12, mode="nearest-exact")'),
            Example('nn.Upsample(scale_factor=(2, 3), mode="area")'),
            Example(
                'nn.Upsample(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True)'
            ),
            Example('nn.Upsample(scale_factor=2, mode="linear")', ((2, 3, 8),)),
            Example(
                'nn.Upsample(scale_factor=2, mode="trilinear")', ((2, 3, 4, 4, 4),)
            ),
        ),
    ),
    _interpolate(
        nn.UpsamplingNearest2d,
        _upsampling_ctor("nearest", None),
        (
            Example("nn.UpsamplingNearest2d(scale_factor=2)"),
            Example("nn.UpsamplingNearest2d(size=(12, 10))"),
        ),
    ),
    _interpolate(
        nn.UpsamplingBilinear2d,
        _upsampling_ctor("bilinear", True),
        (
            Example("nn.UpsamplingBilinear2d(scale_factor=2)"),
            Example("nn.UpsamplingBilinear2d(size=12)"),
            Example("nn.UpsamplingBilinear2d(scale_factor=1.5)"),
        ),
    ),
    OpSpec(
        nn.PixelShuffle,
        F.pixel_shuffle,
        signature="input, upscale_factor",
        name="pixel_shuffle",
        call_positional=2,
        examples=(
            Example("nn.PixelShuffle(2)", ((2, 8, 4, 4),)),
            Example("nn.PixelShuffle(3)", ((1, 18, 2, 3),)),
        ),
    ),
    OpSpec(
        nn.PixelUnshuffle,
        F.pixel_unshuffle,
        signature="input, downscale_factor",
        name="pixel_unshuffle",
        call_positional=2,
        examples=(
            Example("nn.PixelUnshuffle(2)"),
            Example("nn.PixelUnshuffle(3)", ((1, 2, 6, 9),)),
        ),
    ),
    OpSpec(
        nn.ChannelShuffle,
        F.channel_shuffle,
        signature="input, groups",
        name="channel_shuffle",
        call_positional=2,
        examples=(
            Example("nn.ChannelShuffle(2)", ((2, 4, 3, 3),)),
            Example("nn.ChannelShuffle(3)", ((2, 6, 4, 4),)),
        ),
    ),
    OpSpec(
        nn.Fold,
        F.fold,
        name="fold",
        ctor_positional=0,
        collapse=_FOLD_TUPLES,
        examples=(
            Example("nn.Fold(output_size=(4, 5), kernel_size=2)", ((2, 12, 12),)),
            Example(
                "nn.Fold(output_size=6, kernel_size=3, padding=1, stride=2)",
                ((2, 18, 9),),
            ),
            Example(
                "nn.Fold(output_size=(5, 6), kernel_size=(2, 3), dilation=2)",
                ((2, 12, 6),),
            ),
        ),
    ),
    OpSpec(
        nn.Unfold,
        F.unfold,
        name="unfold",
        ctor_positional=0,
        collapse=_FOLD_TUPLES,
        examples=(
            Example("nn.Unfold(kernel_size=2)"),
            Example("nn.Unfold(kernel_size=(2, 3), dilation=2, padding=1, stride=2)"),
            Example("nn.Unfold(kernel_size=3, padding=1)", ((2, 3, 5, 7),)),
        ),
    ),
)
