"""Activations: every parameter-free nonlinearity in ``torch.nn`` (and PReLU).

Each row's function is exactly what the layer's ``forward`` calls. Where two
rows share a function (``nn.ReLU6`` and ``nn.Hardtanh`` both call
``F.hardtanh``; ``nn.Softmax`` and ``nn.Softmax2d`` both call ``F.softmax``),
the row listed first wins when a functional call becomes a layer, so the more
specific or more general spelling is chosen on purpose (see the comments).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .inits import filled_value, full
from .spec import Alias, Example, OpSpec, TensorInit


def _no_dtype(module: nn.Module) -> None:
    """``nn.Softmax`` and friends never pass ``dtype``."""
    return None


def _prelu_from_weights(call, shapes, prologue) -> dict:
    """``weight`` is ``(num_parameters,)``; ``init`` is not in the call (see below)."""
    return {"num_parameters": shapes["weight"][0]}


def _prelu_from_init(initial) -> dict | None:
    """``init``: the value ``reset_parameters`` filled ``weight`` with, if it is one."""
    value = filled_value(initial["weight"])
    return None if value is None else {"init": value}


def _prelu_init(module: nn.Module) -> list[TensorInit]:
    """``init.constant_(weight, init)``."""
    return [TensorInit("weight", full(module.weight, module.init))]


def _softmax(module, function, name, aliases, examples) -> OpSpec:
    return OpSpec(
        module,
        function,
        name=name,
        ctor_positional=0,
        attributes={"dtype": _no_dtype},
        aliases=aliases,
        examples=examples,
    )


def _inplace_only(module, function, name, examples, aliases=()) -> OpSpec:
    """A layer whose only constructor argument is ``inplace``."""
    return OpSpec(
        module,
        function,
        name=name,
        ctor_positional=0,
        aliases=aliases,
        examples=examples,
    )


SPECS = (
    OpSpec(
        nn.ReLU,
        F.relu,
        name="relu",
        ctor_positional=0,
        aliases=(
            Alias(torch.relu, "input"),
            Alias("relu", "input"),
            Alias(F.relu_, "input", {"inplace": True}),
            Alias(torch.relu_, "input", {"inplace": True}),
            Alias("relu_", "input", {"inplace": True}),
        ),
        examples=(Example("nn.ReLU()"), Example("nn.ReLU(inplace=True)")),
    ),
    # Before nn.Hardtanh: F.hardtanh(x, 0.0, 6.0) reads best as nn.ReLU6().
    OpSpec(
        nn.ReLU6,
        F.hardtanh,
        name="act",
        call_positional=3,
        ctor_positional=0,
        aliases=(
            Alias(F.relu6, "input, inplace=False", {"min_val": 0.0, "max_val": 6.0}),
        ),
        examples=(Example("nn.ReLU6()"), Example("nn.ReLU6(inplace=True)")),
    ),
    OpSpec(
        nn.Hardtanh,
        F.hardtanh,
        name="hardtanh",
        call_positional=3,
        ctor_positional=2,
        # Deprecated spellings of min_val/max_val: never written.
        ctor_attributes={"min_value": lambda m: None, "max_value": lambda m: None},
        aliases=(
            Alias(F.hardtanh_, "input, min_val=-1.0, max_val=1.0", {"inplace": True}),
        ),
        examples=(
            Example("nn.Hardtanh()"),
            Example("nn.Hardtanh(-2.0, 2.0)"),
            Example("nn.Hardtanh(-0.5, 0.5, inplace=True)"),
        ),
    ),
    OpSpec(
        nn.LeakyReLU,
        F.leaky_relu,
        name="act",
        call_positional=2,
        ctor_positional=1,
        aliases=(
            Alias(F.leaky_relu_, "input, negative_slope=0.01", {"inplace": True}),
        ),
        examples=(
            Example("nn.LeakyReLU()"),
            Example("nn.LeakyReLU(0.2)"),
            Example("nn.LeakyReLU(0.1, inplace=True)"),
        ),
    ),
    OpSpec(
        nn.PReLU,
        F.prelu,
        signature="input, weight",
        name="prelu",
        call_positional=2,
        ctor_positional=1,
        weights=("weight",),
        ctor_from_weights=_prelu_from_weights,
        ctor_from_init=_prelu_from_init,
        init=_prelu_init,
        examples=(
            Example("nn.PReLU()"),
            Example("nn.PReLU(3)"),
            Example("nn.PReLU(4, init=0.1)", ((2, 4, 5),)),
        ),
    ),
    OpSpec(
        nn.RReLU,
        F.rrelu,
        name="rrelu",
        call_positional=3,
        ctor_positional=2,
        training="training",
        examples=(
            Example("nn.RReLU()"),
            Example("nn.RReLU(0.1, 0.3)"),
            Example("nn.RReLU(inplace=True)", ((4, 10),)),
        ),
    ),
    OpSpec(
        nn.ELU,
        F.elu,
        name="elu",
        ctor_positional=0,
        aliases=(Alias(F.elu_, "input, alpha=1.0", {"inplace": True}),),
        examples=(
            Example("nn.ELU()"),
            Example("nn.ELU(alpha=0.5)"),
            Example("nn.ELU(alpha=2.0, inplace=True)"),
        ),
    ),
    _inplace_only(
        nn.SELU,
        F.selu,
        "selu",
        (Example("nn.SELU()"), Example("nn.SELU(inplace=True)")),
        (
            Alias(torch.selu, "input"),
            Alias(torch.selu_, "input", {"inplace": True}),
        ),
    ),
    OpSpec(
        nn.CELU,
        F.celu,
        name="celu",
        ctor_positional=0,
        aliases=(
            Alias(torch.celu, "input, alpha=1.0"),
            Alias(torch.celu_, "input, alpha=1.0", {"inplace": True}),
        ),
        examples=(
            Example("nn.CELU()"),
            Example("nn.CELU(alpha=0.5)"),
            Example("nn.CELU(alpha=2.0, inplace=True)"),
        ),
    ),
    OpSpec(
        nn.GELU,
        F.gelu,
        signature='input, *, approximate="none"',
        name="gelu",
        ctor_positional=0,
        examples=(Example("nn.GELU()"), Example('nn.GELU(approximate="tanh")')),
    ),
    _inplace_only(
        nn.SiLU,
        F.silu,
        "silu",
        (Example("nn.SiLU()"), Example("nn.SiLU(inplace=True)")),
    ),
    _inplace_only(
        nn.Mish,
        F.mish,
        "mish",
        (Example("nn.Mish()"), Example("nn.Mish(inplace=True)")),
    ),
    OpSpec(
        nn.Sigmoid,
        torch.sigmoid,
        signature="input",
        name="sigmoid",
        ctor_positional=0,
        aliases=(
            Alias(F.sigmoid, "input"),
            Alias("sigmoid", "input"),
            Alias(torch.special.expit, "input"),
        ),
        examples=(Example("nn.Sigmoid()"),),
    ),
    OpSpec(
        nn.Tanh,
        torch.tanh,
        signature="input",
        name="tanh",
        ctor_positional=0,
        aliases=(Alias(F.tanh, "input"), Alias("tanh", "input")),
        examples=(Example("nn.Tanh()"),),
    ),
    _inplace_only(
        nn.Hardswish,
        F.hardswish,
        "hardswish",
        (Example("nn.Hardswish()"), Example("nn.Hardswish(inplace=True)")),
    ),
    _inplace_only(
        nn.Hardsigmoid,
        F.hardsigmoid,
        "hardsigmoid",
        (Example("nn.Hardsigmoid()"), Example("nn.Hardsigmoid(inplace=True)")),
    ),
    OpSpec(
        nn.Hardshrink,
        F.hardshrink,
        signature="input, lambd=0.5",
        name="hardshrink",
        call_positional=2,
        ctor_positional=1,
        aliases=(Alias("hardshrink", "input, lambd=0.5"),),
        examples=(Example("nn.Hardshrink()"), Example("nn.Hardshrink(0.3)")),
    ),
    OpSpec(
        nn.Softshrink,
        F.softshrink,
        signature="input, lambd=0.5",
        name="softshrink",
        call_positional=2,
        ctor_positional=1,
        examples=(Example("nn.Softshrink()"), Example("nn.Softshrink(0.3)")),
    ),
    OpSpec(
        nn.Tanhshrink,
        F.tanhshrink,
        name="tanhshrink",
        ctor_positional=0,
        examples=(Example("nn.Tanhshrink()"),),
    ),
    OpSpec(
        nn.Softplus,
        F.softplus,
        signature="input, beta=1.0, threshold=20.0",
        name="softplus",
        ctor_positional=0,
        examples=(
            Example("nn.Softplus()"),
            Example("nn.Softplus(beta=2.0)"),
            Example("nn.Softplus(beta=0.5, threshold=1.0)"),
        ),
    ),
    OpSpec(
        nn.Softsign,
        F.softsign,
        name="softsign",
        ctor_positional=0,
        examples=(Example("nn.Softsign()"),),
    ),
    OpSpec(
        nn.Threshold,
        F.threshold,
        name="threshold",
        call_positional=3,
        ctor_positional=2,
        aliases=(
            Alias(torch.threshold, "input, threshold, value"),
            Alias(F.threshold_, "input, threshold, value", {"inplace": True}),
        ),
        examples=(
            Example("nn.Threshold(0.1, 20.0)"),
            Example("nn.Threshold(0.5, 0.0, inplace=True)"),
        ),
    ),
    OpSpec(
        nn.LogSigmoid,
        F.logsigmoid,
        signature="input",
        name="logsigmoid",
        ctor_positional=0,
        examples=(Example("nn.LogSigmoid()"),),
    ),
    OpSpec(
        nn.GLU,
        F.glu,
        name="glu",
        ctor_positional=0,
        examples=(Example("nn.GLU()"), Example("nn.GLU(dim=1)", ((2, 4, 8, 8),))),
    ),
    # Before nn.Softmax2d: F.softmax(x, dim=-3) is nn.Softmax(dim=-3), which,
    # unlike nn.Softmax2d, accepts inputs of any rank.
    _softmax(
        nn.Softmax,
        F.softmax,
        "softmax",
        (
            Alias(torch.softmax, "input, dim, dtype=None"),
            Alias("softmax", "input, dim, dtype=None"),
            Alias(torch.special.softmax, "input, dim, dtype=None"),
        ),
        (
            Example("nn.Softmax(dim=1)", ((2, 5),)),
            Example("nn.Softmax(dim=-1)"),
        ),
    ),
    _softmax(
        nn.Softmin,
        F.softmin,
        "softmin",
        (),
        (Example("nn.Softmin(dim=1)", ((2, 5),)), Example("nn.Softmin(dim=-1)")),
    ),
    _softmax(
        nn.LogSoftmax,
        F.log_softmax,
        "log_softmax",
        (
            Alias(torch.log_softmax, "input, dim, dtype=None"),
            Alias("log_softmax", "input, dim, dtype=None"),
            Alias(torch.special.log_softmax, "input, dim, *, dtype=None"),
        ),
        (
            Example("nn.LogSoftmax(dim=1)", ((2, 5),)),
            Example("nn.LogSoftmax(dim=-1)"),
        ),
    ),
    OpSpec(
        nn.Softmax2d,
        F.softmax,
        name="softmax",
        ctor_positional=0,
        attributes={"dim": lambda m: -3, "dtype": _no_dtype},
        examples=(Example("nn.Softmax2d()"), Example("nn.Softmax2d()", ((3, 8, 8),))),
    ),
)
