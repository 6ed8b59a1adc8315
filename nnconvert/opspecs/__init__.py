"""The op-spec table: one row per ``nn`` layer, looked up by class, function or method.

Rows live in one module per layer family; this package only indexes them.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from . import (
    activation,
    attention,
    conv,
    distance,
    dropout,
    linear,
    loss,
    norm,
    padding,
    pooling,
    recurrent,
    reshape,
    transformer,
)
from .spec import (
    TRAINING,
    Alias,
    Arguments,
    Example,
    OpSpec,
    Param,
    WeightRef,
    layout_call,
)

SPECS: tuple[OpSpec, ...] = (
    conv.SPECS
    + linear.SPECS
    + norm.SPECS
    + activation.SPECS
    + pooling.SPECS
    + dropout.SPECS
    + reshape.SPECS
    + padding.SPECS
    + distance.SPECS
    + loss.SPECS
    + attention.SPECS
    + recurrent.SPECS
    + transformer.SPECS
)

_BY_MODULE: dict[type[nn.Module], OpSpec] = {spec.module: spec for spec in SPECS}
_BY_FUNCTION: dict[Callable, list[OpSpec]] = {}
_ALIASES: dict[Callable | str, list[tuple[OpSpec, Alias]]] = {}
for _spec in SPECS:
    if _spec.function is not None:
        _BY_FUNCTION.setdefault(_spec.function, []).append(_spec)
    for _alias in _spec.aliases:
        _ALIASES.setdefault(_alias.target, []).append((_spec, _alias))


def spec_for_module(module: nn.Module) -> OpSpec | None:
    """The row for this exact layer class (subclasses may change ``forward``)."""
    return _BY_MODULE.get(type(module))


def spec_for_layer_base(cls: type) -> OpSpec | None:
    """The row of the nearest ``nn`` layer class ``cls`` derives from (not ``cls`` itself).

    A user's ``class LayerNorm(nn.LayerNorm)`` that overrides ``forward``
    is still built by the row's constructor: class styles keep it a subclass.
    """
    for base in cls.__mro__[1:]:
        if base in _BY_MODULE:
            return _BY_MODULE[base]
    return None


#: The methods through which an ``nn`` layer makes its tensors: a subclass
#: defining none of them is built exactly as its base layer is.
_BUILDING_METHODS = ("__init__", "reset_parameters", "_reset_parameters")


def spec_for_init(module: nn.Module) -> OpSpec | None:
    """The row whose draws make ``module``'s tensors: its own, or its base layer's.

    Whisper's ``class Linear(nn.Linear)`` changes ``forward`` alone:
    ``nn.Linear.__init__`` made its weight and bias, so ``init_params()``
    writes it as ``nn.Linear``'s row does. A subclass with an ``__init__``
    or a ``reset_parameters`` of its own may build otherwise: no row.
    """
    spec = spec_for_module(module)
    if spec is not None:
        return spec
    spec = spec_for_layer_base(type(module))
    if spec is None:
        return None
    for cls in type(module).__mro__:
        if cls is spec.module:
            return spec
        if any(name in vars(cls) for name in _BUILDING_METHODS):
            return None
    return None


def specs_for_function(function: Callable) -> list[OpSpec]:
    """Rows whose canonical function is ``function`` (``F.pad`` has several)."""
    return _BY_FUNCTION.get(function, [])


def aliases_for(target: Callable | str) -> list[tuple[OpSpec, Alias]]:
    """Rows that ``target`` (a callable or a method name) is another spelling of."""
    try:
        return _ALIASES.get(target, [])
    except TypeError:  # unhashable target
        return []


__all__ = [
    "SPECS",
    "TRAINING",
    "Alias",
    "Arguments",
    "Example",
    "OpSpec",
    "Param",
    "WeightRef",
    "aliases_for",
    "layout_call",
    "spec_for_init",
    "spec_for_layer_base",
    "spec_for_module",
    "specs_for_function",
]
