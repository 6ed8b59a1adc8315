"""Pooling: max, average, adaptive and power-average pooling in 1, 2 and 3 dimensions."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .spec import Alias, Arguments, Example, OpSpec, same_value

_TUPLES = frozenset({"kernel_size", "stride", "padding", "dilation", "output_size"})

_1D = ((2, 3, 16),)
_3D = ((2, 2, 6, 6, 6),)


def _stride_defaults_to_kernel(arguments: Arguments) -> Arguments:
    """``stride`` None means ``kernel_size``: write it None when they agree.

    ``()`` and ``[]`` are the ``torch.*`` spellings of the same default.
    """
    if "stride" not in arguments:
        return arguments
    stride = arguments["stride"]
    empty = isinstance(stride, (tuple, list)) and not stride
    if empty or (
        "kernel_size" in arguments and same_value(stride, arguments["kernel_size"])
    ):
        arguments["stride"] = None
    return arguments


def _stride_unless_kernel(module: nn.Module):
    return None if same_value(module.stride, module.kernel_size) else module.stride


def _max_pool(module, function, examples, aliases=()) -> OpSpec:
    """``nn.MaxPool*d`` -> ``F.max_pool*d`` (a ``boolean_dispatch`` on ``return_indices``)."""
    return OpSpec(
        module,
        function,
        signature="input, kernel_size, stride=None, padding=0, dilation=1, "
        "ceil_mode=False, return_indices=False",
        name="pool",
        call_positional=2,
        collapse=_TUPLES,
        canonical=_stride_defaults_to_kernel,
        ctor_attributes={"stride": _stride_unless_kernel},
        aliases=aliases,
        examples=examples,
    )


def _max_pool_aliases(torch_function, with_indices, torch_with_indices=None):
    """``torch.max_pool*d`` (no ``return_indices``) and the ``*_with_indices`` spellings."""
    torch_signature = (
        "input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False"
    )
    aliases = [
        Alias(torch_function, torch_signature),
        # ``F.max_pool*d_with_indices`` ignores its ``return_indices`` argument.
        Alias(
            with_indices,
            "input, kernel_size, stride=None, padding=0, dilation=1, "
            "ceil_mode=False, return_indices=False",
            {"return_indices": True},
        ),
    ]
    if torch_with_indices is not None:
        aliases.append(
            Alias(torch_with_indices, torch_signature, {"return_indices": True})
        )
    return tuple(aliases)


def _avg_pool(module, function, signature, examples) -> OpSpec:
    """``nn.AvgPool*d`` stores ``stride = kernel_size`` when it is not given."""
    return OpSpec(
        module,
        function,
        signature=signature,
        name="avgpool",
        call_positional=2,
        collapse=_TUPLES,
        canonical=_stride_defaults_to_kernel,
        ctor_attributes={"stride": _stride_unless_kernel},
        examples=examples,
    )


def _adaptive_avg_pool(module, function, signature, examples) -> OpSpec:
    return OpSpec(
        module,
        function,
        signature=signature,
        name="avgpool",
        call_positional=2,
        collapse=_TUPLES,
        examples=examples,
    )


def _adaptive_max_pool(module, function, with_indices, examples, aliases=()) -> OpSpec:
    """``nn.AdaptiveMaxPool*d`` -> ``F.adaptive_max_pool*d`` (a ``boolean_dispatch``)."""
    return OpSpec(
        module,
        function,
        signature="input, output_size, return_indices=False",
        name="pool",
        call_positional=2,
        collapse=_TUPLES,
        aliases=(
            # ``F.adaptive_max_pool*d_with_indices`` ignores ``return_indices``.
            Alias(
                with_indices,
                "input, output_size, return_indices=False",
                {"return_indices": True},
            ),
            *aliases,
        ),
        examples=examples,
    )


def _float_norm_type(module: nn.Module) -> float:
    """``nn.LPPool*d.forward`` passes ``float(self.norm_type)``."""
    return float(module.norm_type)


def _lp_pool_ctor(arguments: Arguments) -> Arguments:
    """Write an integral ``norm_type`` as the int people pass (``nn.LPPool2d(2, 3)``)."""
    norm_type = arguments.get("norm_type")
    if isinstance(norm_type, float) and norm_type.is_integer():
        arguments["norm_type"] = int(norm_type)
    return arguments


def _lp_pool(module, function, examples) -> OpSpec:
    """``nn.LPPool*d`` keeps ``stride`` None; the function treats None as ``kernel_size``."""
    return OpSpec(
        module,
        function,
        name="lppool",
        call_positional=3,
        ctor_positional=2,
        attributes={"norm_type": _float_norm_type},
        collapse=_TUPLES,
        canonical=_stride_defaults_to_kernel,
        ctor_from_call=_lp_pool_ctor,
        examples=examples,
    )


_AVG_POOL_1D = (
    "input, kernel_size, stride=None, padding=0, ceil_mode=False, "
    "count_include_pad=True"
)
_AVG_POOL_ND = _AVG_POOL_1D + ", divisor_override=None"


SPECS = (
    _max_pool(
        nn.MaxPool1d,
        F.max_pool1d,
        (
            Example("nn.MaxPool1d(2)", _1D),
            Example("nn.MaxPool1d(3, stride=2, padding=1, dilation=2)", _1D),
            Example("nn.MaxPool1d(3, ceil_mode=True)", _1D),
            Example("nn.MaxPool1d(2, return_indices=True)", _1D),
        ),
        _max_pool_aliases(
            torch.max_pool1d, F.max_pool1d_with_indices, torch.max_pool1d_with_indices
        ),
    ),
    _max_pool(
        nn.MaxPool2d,
        F.max_pool2d,
        (
            Example("nn.MaxPool2d(2)"),
            Example("nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)"),
            Example("nn.MaxPool2d((2, 3), dilation=2)", ((2, 3, 9, 9),)),
            Example("nn.MaxPool2d(2, stride=1, return_indices=True)"),
        ),
        _max_pool_aliases(torch.max_pool2d, F.max_pool2d_with_indices),
    ),
    _max_pool(
        nn.MaxPool3d,
        F.max_pool3d,
        (
            Example("nn.MaxPool3d(2)", _3D),
            Example(
                "nn.MaxPool3d((1, 2, 2), stride=(1, 2, 1), padding=(0, 1, 0))", _3D
            ),
            Example("nn.MaxPool3d(3, stride=2, ceil_mode=True)", _3D),
            Example("nn.MaxPool3d(2, return_indices=True)", _3D),
        ),
        _max_pool_aliases(torch.max_pool3d, F.max_pool3d_with_indices),
    ),
    _avg_pool(
        nn.AvgPool1d,
        F.avg_pool1d,
        _AVG_POOL_1D,
        (
            Example("nn.AvgPool1d(2)", _1D),
            Example("nn.AvgPool1d(3, stride=2, padding=1)", _1D),
            Example(
                "nn.AvgPool1d(3, padding=1, ceil_mode=True, count_include_pad=False)",
                _1D,
            ),
        ),
    ),
    _avg_pool(
        nn.AvgPool2d,
        F.avg_pool2d,
        _AVG_POOL_ND,
        (
            Example("nn.AvgPool2d(2)"),
            Example("nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)"),
            Example("nn.AvgPool2d((2, 3), stride=(1, 2), ceil_mode=True)"),
            Example("nn.AvgPool2d(3, stride=1, divisor_override=2)"),
        ),
    ),
    _avg_pool(
        nn.AvgPool3d,
        F.avg_pool3d,
        _AVG_POOL_ND,
        (
            Example("nn.AvgPool3d(2)", _3D),
            Example(
                "nn.AvgPool3d(3, stride=2, padding=1, count_include_pad=False)", _3D
            ),
            Example("nn.AvgPool3d((1, 2, 2), ceil_mode=True, divisor_override=3)", _3D),
        ),
    ),
    _adaptive_avg_pool(
        nn.AdaptiveAvgPool1d,
        F.adaptive_avg_pool1d,
        "input, output_size",
        (
            Example("nn.AdaptiveAvgPool1d(1)", _1D),
            Example("nn.AdaptiveAvgPool1d(5)", _1D),
        ),
    ),
    _adaptive_avg_pool(
        nn.AdaptiveAvgPool2d,
        F.adaptive_avg_pool2d,
        None,
        (
            Example("nn.AdaptiveAvgPool2d(1)"),
            Example("nn.AdaptiveAvgPool2d((3, 5))"),
            Example("nn.AdaptiveAvgPool2d((None, 3))"),
        ),
    ),
    _adaptive_avg_pool(
        nn.AdaptiveAvgPool3d,
        F.adaptive_avg_pool3d,
        None,
        (
            Example("nn.AdaptiveAvgPool3d(1)", _3D),
            Example("nn.AdaptiveAvgPool3d((2, 3, 4))", _3D),
            Example("nn.AdaptiveAvgPool3d((None, 2, None))", _3D),
        ),
    ),
    _adaptive_max_pool(
        nn.AdaptiveMaxPool1d,
        F.adaptive_max_pool1d,
        F.adaptive_max_pool1d_with_indices,
        (
            Example("nn.AdaptiveMaxPool1d(1)", _1D),
            Example("nn.AdaptiveMaxPool1d(5)", _1D),
            Example("nn.AdaptiveMaxPool1d(4, return_indices=True)", _1D),
        ),
        # ``torch.adaptive_max_pool1d`` always returns ``(values, indices)``.
        (
            Alias(
                torch.adaptive_max_pool1d,
                "input, output_size",
                {"return_indices": True},
            ),
        ),
    ),
    _adaptive_max_pool(
        nn.AdaptiveMaxPool2d,
        F.adaptive_max_pool2d,
        F.adaptive_max_pool2d_with_indices,
        (
            Example("nn.AdaptiveMaxPool2d(1)"),
            Example("nn.AdaptiveMaxPool2d((3, 5))"),
            Example("nn.AdaptiveMaxPool2d((None, 3))"),
            Example("nn.AdaptiveMaxPool2d(2, return_indices=True)"),
        ),
    ),
    _adaptive_max_pool(
        nn.AdaptiveMaxPool3d,
        F.adaptive_max_pool3d,
        F.adaptive_max_pool3d_with_indices,
        (
            Example("nn.AdaptiveMaxPool3d(1)", _3D),
            Example("nn.AdaptiveMaxPool3d((2, None, 4))", _3D),
            Example("nn.AdaptiveMaxPool3d(2, return_indices=True)", _3D),
        ),
    ),
    _lp_pool(
        nn.LPPool1d,
        F.lp_pool1d,
        (
            Example("nn.LPPool1d(2, 3)", _1D),
            Example("nn.LPPool1d(1, 4, stride=2, ceil_mode=True)", _1D),
            Example("nn.LPPool1d(4, 2)", _1D),
        ),
    ),
    _lp_pool(
        nn.LPPool2d,
        F.lp_pool2d,
        (
            Example("nn.LPPool2d(2, 3)"),
            Example("nn.LPPool2d(4, (3, 2), stride=(2, 1))"),
            Example("nn.LPPool2d(2, 2, stride=3, ceil_mode=True)"),
        ),
    ),
    _lp_pool(
        nn.LPPool3d,
        F.lp_pool3d,
        (
            Example("nn.LPPool3d(2, 2)", _3D),
            Example("nn.LPPool3d(1, (1, 2, 3), stride=2, ceil_mode=True)", _3D),
        ),
    ),
)
