"""Convolutions: ``nn.Conv*d`` <-> ``F.conv*d``, ``nn.ConvTranspose*d`` <-> ``F.conv_transpose*d``."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .inits import kaiming_uniform_and_bias
from .layer_params import kaiming_call, transposed_kaiming_call
from .spec import Arguments, Example, OpSpec, Prologue, collapse

_TUPLES = frozenset({"kernel_size", "stride", "padding", "dilation", "output_padding"})


def _has_bias(module: nn.Module) -> bool:
    return module.bias is not None


def _explicit_padding(module: nn.Module) -> Arguments | None:
    """``padding_mode != "zeros"`` pads explicitly first, exactly as ``nn.Conv*d`` does."""
    if module.padding_mode == "zeros":
        return None
    return {
        "pad": tuple(module._reversed_padding_repeated_twice),  # a list for "same"
        "mode": module.padding_mode,
    }


#: ``F.pad(x, (1, 1, 1, 1), mode="reflect")`` before the convolution.
PADDING_MODE = Prologue(F.pad, _explicit_padding)


def _conv_padding(module: nn.Module):
    return 0 if module.padding_mode != "zeros" else module.padding


def _conv_from_weights(call, shapes, prologue) -> dict:
    """``weight`` is ``(out, in / groups, *kernel)``; a pad before it is ``padding_mode``."""
    ctor = {
        "in_channels": shapes["weight"][1] * call["groups"],
        "out_channels": shapes["weight"][0],
        "kernel_size": collapse(shapes["weight"][2:]),
        "bias": shapes["bias"] is not None,
    }
    for _, pad in prologue:  # F.pad(x, (left, right, top, bottom)): last dim first
        sides = list(pad["pad"])
        before, after = sides[::2], sides[1::2]
        ctor["padding"] = collapse(tuple(reversed(before)))
        if before != after:  # only "same" pads one side more (an even kernel)
            ctor["padding"] = "same"
        ctor["padding_mode"] = pad.get("mode", "constant")
    return ctor


def _conv_transpose_from_weights(call, shapes, prologue) -> dict:
    """``weight`` is ``(in, out / groups, *kernel)``."""
    return {
        "in_channels": shapes["weight"][0],
        "out_channels": shapes["weight"][1] * call["groups"],
        "kernel_size": collapse(shapes["weight"][2:]),
        "bias": shapes["bias"] is not None,
    }


def _conv(module: type[nn.Module], function, examples) -> OpSpec:
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
        ctor_from_weights=_conv_from_weights,
        prologues=(PADDING_MODE,),
        init=kaiming_uniform_and_bias,
        init_call=kaiming_call,
        examples=examples,
    )


def _conv_transpose(module: type[nn.Module], function, examples) -> OpSpec:
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
        ctor_from_weights=_conv_transpose_from_weights,
        init=kaiming_uniform_and_bias,
        init_call=transposed_kaiming_call,
        examples=examples,
    )


SPECS = (
    _conv(
        nn.Conv1d,
        F.conv1d,
        (
            Example("nn.Conv1d(3, 8, 3)", ((2, 3, 16),)),
            Example(
                "nn.Conv1d(4, 8, 3, stride=2, padding=1, groups=2, bias=False)",
                ((2, 4, 16),),
            ),
            Example(
                'nn.Conv1d(3, 4, 3, padding=2, dilation=2, padding_mode="circular")',
                ((2, 3, 16),),
            ),
        ),
    ),
    _conv(
        nn.Conv2d,
        F.conv2d,
        (
            Example("nn.Conv2d(3, 8, 3)", ((2, 3, 8, 8),)),
            Example(
                "nn.Conv2d(3, 8, (3, 5), stride=2, padding=(1, 2), bias=False)",
                ((2, 3, 9, 9),),
            ),
            Example("nn.Conv2d(4, 8, 3, dilation=2, groups=4)", ((2, 4, 9, 9),)),
            Example(
                'nn.Conv2d(3, 6, 3, padding="same", padding_mode="reflect")',
                ((2, 3, 8, 8),),
            ),
            Example(
                'nn.Conv2d(3, 6, 3, padding=1, padding_mode="replicate")',
                ((2, 3, 8, 8),),
            ),
            Example(
                'nn.Conv2d(3, 6, (4, 3), padding="same", padding_mode="reflect")',
                ((2, 3, 8, 8),),
            ),
        ),
    ),
    _conv(
        nn.Conv3d,
        F.conv3d,
        (
            Example("nn.Conv3d(2, 4, 3)", ((2, 2, 6, 6, 6),)),
            Example(
                "nn.Conv3d(2, 4, 3, stride=2, padding=1, bias=False)",
                ((2, 2, 6, 6, 6),),
            ),
        ),
    ),
    _conv_transpose(
        nn.ConvTranspose1d,
        F.conv_transpose1d,
        (
            Example("nn.ConvTranspose1d(3, 4, 3)", ((2, 3, 8),)),
            Example(
                "nn.ConvTranspose1d(4, 4, 3, stride=2, output_padding=1, groups=2)",
                ((2, 4, 8),),
            ),
        ),
    ),
    _conv_transpose(
        nn.ConvTranspose2d,
        F.conv_transpose2d,
        (
            Example("nn.ConvTranspose2d(3, 4, 3)", ((2, 3, 6, 6),)),
            Example(
                "nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1, bias=False)",
                ((2, 3, 6, 6),),
            ),
            Example(
                "nn.ConvTranspose2d(2, 4, 3, stride=2, output_padding=1, dilation=2)",
                ((2, 2, 5, 5),),
            ),
        ),
    ),
    _conv_transpose(
        nn.ConvTranspose3d,
        F.conv_transpose3d,
        (Example("nn.ConvTranspose3d(2, 3, 3, stride=2)", ((2, 2, 4, 4, 4),)),),
    ),
)
