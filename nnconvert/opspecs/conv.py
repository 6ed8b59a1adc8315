"""Convolutions: ``nn.Conv*d`` <-> ``F.conv*d``, ``nn.ConvTranspose*d`` <-> ``F.conv_transpose*d``."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .spec import OpSpec

_TUPLES = frozenset({"kernel_size", "stride", "padding", "dilation", "output_padding"})


def _has_bias(module: nn.Module) -> bool:
    return module.bias is not None


def _padding_prologue(module: nn.Module) -> list:
    """``padding_mode != "zeros"`` pads explicitly first, exactly as ``nn.Conv*d`` does."""
    if module.padding_mode == "zeros":
        return []
    pad = {"pad": module._reversed_padding_repeated_twice, "mode": module.padding_mode}
    return [(F.pad, pad)]


def _conv_padding(module: nn.Module):
    return 0 if module.padding_mode != "zeros" else module.padding


def _conv(module: type[nn.Module], function) -> OpSpec:
    return OpSpec(
        module,
        function,
        signature="input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1",
        name="conv",
        call_positional=3,
        ctor_positional=3,
        weights=("weight", "bias"),
        attributes={"padding": _conv_padding},
        ctor_attributes={"bias": _has_bias},
        collapse=_TUPLES,
        prologue=_padding_prologue,
    )


def _conv_transpose(module: type[nn.Module], function) -> OpSpec:
    return OpSpec(
        module,
        function,
        signature=(
            "input, weight, bias=None, stride=1, padding=0, output_padding=0, "
            "groups=1, dilation=1"
        ),
        name="deconv",
        call_positional=3,
        ctor_positional=3,
        weights=("weight", "bias"),
        ctor_attributes={"bias": _has_bias},
        collapse=_TUPLES,
    )


SPECS = (
    _conv(nn.Conv1d, F.conv1d),
    _conv(nn.Conv2d, F.conv2d),
    _conv(nn.Conv3d, F.conv3d),
    _conv_transpose(nn.ConvTranspose1d, F.conv_transpose1d),
    _conv_transpose(nn.ConvTranspose2d, F.conv_transpose2d),
    _conv_transpose(nn.ConvTranspose3d, F.conv_transpose3d),
)
