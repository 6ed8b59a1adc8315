"""Padding layers: Zero, Constant, Reflection, Replication and Circular padding in 1-3 dimensions.

Every class calls ``F.pad(input, self.padding, mode[, self.value])``, so all rows
share one function: a call picks its class by ``mode``, by ``len(pad) // 2``
dimensions and, for constant padding, by whether the value is zero.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from .spec import Alias, Arguments, Example, OpSpec

_INPUTS = {1: ((2, 3, 8),), 2: ((2, 3, 6, 6),), 3: ((2, 2, 4, 4, 4),)}


def _is_zero(value: Any) -> bool:
    """0 or +0.0 (``-0.0`` pads with negative zeros, so it is a different call)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value == 0
        and math.copysign(1.0, value) > 0
    )


def _canonical_pad(arguments: Arguments) -> Arguments:
    """One spelling per ``F.pad`` call, shared by every padding row.

    ``pad`` as a tuple; ``value`` None where it fills with zeros (constant mode)
    or is ignored (``F.pad`` accepts a zero ``value`` in the other modes).
    """
    pad = arguments.get("pad")
    if isinstance(pad, list):
        arguments["pad"] = tuple(pad)
    value = arguments.get("value")
    mode = arguments.get("mode", "constant")
    if mode == "constant" and _is_zero(value):
        arguments["value"] = None
    elif mode != "constant" and isinstance(value, (int, float)) and value == 0:
        arguments["value"] = None
    return arguments


def _ctor_for(
    mode: str, dimensions: int, constant_value: bool
) -> Callable[[Arguments], Arguments | None]:
    """Constructor arguments for the class padding ``dimensions`` dims in ``mode``."""

    def ctor_from_call(arguments: Arguments) -> Arguments | None:
        pad = arguments.get("pad")
        if arguments.get("mode", "constant") != mode:
            return None
        if not isinstance(pad, tuple) or len(pad) != 2 * dimensions:
            return None
        if not all(isinstance(p, int) and not isinstance(p, bool) for p in pad):
            return None
        value = arguments.get("value")
        if mode != "constant" or not constant_value:  # no value: nn.ZeroPad*d too
            return {"padding": pad} if value is None else None
        if value is None:  # zeros: nn.ZeroPad*d says it better
            return None
        return {"padding": pad, "value": value}

    return ctor_from_call


def _fixed(value: Any) -> Callable[[nn.Module], Any]:
    return lambda module: value


def _pad(
    module: type[nn.Module],
    mode: str,
    dimensions: int,
    examples: tuple[str, ...],
    constant_value: bool = False,
    aliases: tuple[Alias, ...] = (),
) -> OpSpec:
    attributes: dict[str, Any] = {"pad": "padding", "mode": _fixed(mode)}
    if mode != "constant":
        attributes["value"] = _fixed(None)  # forward passes no value
    return OpSpec(
        module,
        F.pad,
        name="pad",
        call_positional=2,
        ctor_positional=2 if constant_value else 1,
        attributes=attributes,
        collapse=frozenset({"padding"}),  # the constructor's int; never ``pad``
        canonical=_canonical_pad,
        ctor_from_call=_ctor_for(mode, dimensions, constant_value),
        aliases=aliases,
        examples=tuple(Example(text, _INPUTS[dimensions]) for text in examples),
    )


SPECS = (
    _pad(nn.ZeroPad1d, "constant", 1, ("nn.ZeroPad1d(2)", "nn.ZeroPad1d((3, 1))")),
    _pad(
        nn.ZeroPad2d,
        "constant",
        2,
        (
            "nn.ZeroPad2d(1)",
            "nn.ZeroPad2d((1, 0, 2, 1))",
            "nn.ZeroPad2d((-1, 1, 0, 2))",
        ),
    ),
    _pad(
        nn.ZeroPad3d,
        "constant",
        3,
        ("nn.ZeroPad3d(1)", "nn.ZeroPad3d((1, 0, 0, 2, 1, 1))"),
    ),
    _pad(
        nn.ConstantPad1d,
        "constant",
        1,
        ("nn.ConstantPad1d(2, 3.5)", "nn.ConstantPad1d((3, 1), -1.0)"),
        constant_value=True,
        # ``torch.constant_pad_nd`` is ``F.pad`` in constant mode, in any dimensions.
        aliases=(
            Alias(torch.constant_pad_nd, "input, pad, value=0", {"mode": "constant"}),
        ),
    ),
    _pad(
        nn.ConstantPad2d,
        "constant",
        2,
        ("nn.ConstantPad2d(2, 3.5)", "nn.ConstantPad2d((3, 0, 2, 1), 1)"),
        constant_value=True,
    ),
    _pad(
        nn.ConstantPad3d,
        "constant",
        3,
        ("nn.ConstantPad3d(1, 3.5)", "nn.ConstantPad3d((1, 1, 2, 0, 0, 1), -2.0)"),
        constant_value=True,
    ),
    _pad(
        nn.ReflectionPad1d,
        "reflect",
        1,
        ("nn.ReflectionPad1d(2)", "nn.ReflectionPad1d((3, 1))"),
    ),
    _pad(
        nn.ReflectionPad2d,
        "reflect",
        2,
        ("nn.ReflectionPad2d(1)", "nn.ReflectionPad2d((1, 2, 0, 3))"),
    ),
    _pad(
        nn.ReflectionPad3d,
        "reflect",
        3,
        ("nn.ReflectionPad3d(1)", "nn.ReflectionPad3d((1, 2, 0, 1, 2, 0))"),
    ),
    _pad(
        nn.ReplicationPad1d,
        "replicate",
        1,
        ("nn.ReplicationPad1d(2)", "nn.ReplicationPad1d((3, 1))"),
    ),
    _pad(
        nn.ReplicationPad2d,
        "replicate",
        2,
        ("nn.ReplicationPad2d(1)", "nn.ReplicationPad2d((1, 2, 0, 3))"),
    ),
    _pad(
        nn.ReplicationPad3d,
        "replicate",
        3,
        ("nn.ReplicationPad3d(1)", "nn.ReplicationPad3d((1, 2, 0, 1, 3, 0))"),
    ),
    _pad(
        nn.CircularPad1d,
        "circular",
        1,
        ("nn.CircularPad1d(2)", "nn.CircularPad1d((3, 1))"),
    ),
    _pad(
        nn.CircularPad2d,
        "circular",
        2,
        ("nn.CircularPad2d(1)", "nn.CircularPad2d((1, 2, 0, 3))"),
    ),
    _pad(
        nn.CircularPad3d,
        "circular",
        3,
        ("nn.CircularPad3d(1)", "nn.CircularPad3d((1, 2, 0, 1, 2, 0))"),
    ),
)
