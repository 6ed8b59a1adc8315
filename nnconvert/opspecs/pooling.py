"""Pooling: max, average, adaptive and power-average pooling in 1, 2 and 3 dimensions."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .spec import Arguments, Example, OpSpec

_TUPLES = frozenset({"kernel_size", "stride", "padding", "dilation", "output_size"})


def _stride_defaults_to_kernel(arguments: Arguments) -> Arguments:
    """``stride`` None means ``kernel_size``: write it None when they agree."""
    if arguments.get("stride") in ((), arguments.get("kernel_size")):
        arguments["stride"] = None
    return arguments


def _stride_unless_kernel(module: nn.Module):
    return None if module.stride == module.kernel_size else module.stride


def _max_pool(module, function, signature, examples) -> OpSpec:
    return OpSpec(
        module,
        function,
        signature=signature,
        name="pool",
        call_positional=2,
        collapse=_TUPLES,
        canonical=_stride_defaults_to_kernel,
        ctor_attributes={"stride": _stride_unless_kernel},
        examples=examples,
    )


SPECS = (
    _max_pool(
        nn.MaxPool2d,
        F.max_pool2d,
        "input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, "
        "return_indices=False",
        (
            Example("nn.MaxPool2d(2)"),
            Example("nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)"),
            Example("nn.MaxPool2d((2, 3), dilation=2)", ((2, 3, 9, 9),)),
        ),
    ),
)
