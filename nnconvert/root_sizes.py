"""The root's constructor parameters that size its tensors, and which dimensions they size.

``UNet(n_channels=3, n_classes=2)`` builds ``inc.double_conv.0.weight`` with
``n_channels`` input channels and ``outc``'s weight and bias with
``n_classes`` rows. The output keeps such a parameter
(:mod:`nnconvert.printer.root_arguments`) only where it is certain that a
literal *is* the parameter, not a number that equals it by coincidence
(``F.max_pool2d(x, 2)`` beside ``n_classes=2``). Values cannot tell; building
the model again can: :func:`root_sizes` builds it with one parameter doubled
(on the meta device, so nothing is allocated or drawn) and keeps the
dimensions that were the parameter's value before and are the doubled value
after (:class:`RootSize`). A parameter that also sizes a dimension that only
depends on it (``4 * n_embd``, ``3 * dim``) is kept nowhere: the output
would write that dimension as a literal, and building it with another value
would not build what the source builds.

Two builders, one answer:

* a model built from the user's class: the class itself, with the literal
  arguments it was built with (:func:`nnconvert.init_arguments.init_arguments`),
  defaults standing for those not recorded; a constructor that needs an
  argument that is not a literal (a config object) cannot be built again,
  and the model has no root sizes;
* a functional file's model (:mod:`nnconvert.functional`): its
  ``init_params()``, whose parameters and defaults are the root's
  (:func:`declare_builder`). Functional style writes the parameter into
  exactly the shapes it sizes, so reading it back finds the same dimensions.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from .init_arguments import init_arguments, is_literal
from .init_slices import random_states_kept

#: A dimension of a ``state_dict()`` entry: ``("outc.weight", 0)``.
Position = tuple[str, int]

#: Builds the root's tensors from keyword arguments: ``{key: tensor}``.
Builder = Callable[..., Mapping[str, torch.Tensor]]

_BUILDERS: "weakref.WeakKeyDictionary[nn.Module, tuple[Builder, dict[str, Any]]]" = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class RootSize:
    """A root constructor parameter and the dimensions that are its value."""

    name: str
    value: int
    positions: frozenset[Position]


def declare_builder(
    model: nn.Module, build: Builder, arguments: Mapping[str, Any]
) -> None:
    """``model``'s tensors are ``build(**arguments)``'s (a functional file's ``init_params``)."""
    _BUILDERS[model] = (build, dict(arguments))


def carry(originals: Iterable[nn.Module], copies: Mapping[int, Any]) -> None:
    """Give each copy (``copies``: ``deepcopy``'s memo, by ``id``) its original's builder."""
    for module in originals:
        copied = copies.get(id(module))
        if isinstance(copied, nn.Module) and module in _BUILDERS:
            _BUILDERS[copied] = _BUILDERS[module]


def first_keys_of(model: nn.Module) -> dict[str, str]:
    """Each ``state_dict()`` key of ``model`` -> the first key its tensor has (ties)."""
    first: dict[int, str] = {}
    return {
        key: first.setdefault(id(tensor), key)
        for key, tensor in model.state_dict(keep_vars=True).items()
    }


def function_defaults(function: Callable) -> dict[str, Any]:
    """The keyword parameters of ``function`` that have defaults, with them."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {
        p.name: p.default
        for p in parameters
        if p.default is not inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def root_sizes(model: nn.Module) -> list[RootSize]:
    """The root parameters that are some dimension of ``model``'s tensors, in signature order.

    Empty when the model cannot be built again, or built again does not
    have ``model``'s shapes (it was built otherwise than its record says).
    """
    build, arguments = _builder(model)
    if build is None:
        return []
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if _shapes(lambda: build(**arguments)) != expected:
        return []
    sizes = []
    for name, value in arguments.items():
        if type(value) is not int or value <= 0:
            continue
        positions = sized_by(lambda v: build(**{**arguments, name: v}), value)
        if positions:
            sizes.append(RootSize(name, value, positions))
    return sizes


def sized_by(
    build: Callable[[int], Mapping[str, torch.Tensor]], value: int
) -> frozenset[Position]:
    """The dimensions of ``build(value)``'s tensors that are ``value`` (module docstring).

    Those equal to ``value`` that become ``2 * value`` when ``build`` is
    given that instead; none if either build fails.
    """
    before = _shapes(lambda: build(value))
    after = _shapes(lambda: build(2 * value))
    if before is None or after is None or set(before) != set(after):
        return frozenset()
    if any(len(after[key]) != len(shape) for key, shape in before.items()):
        return frozenset()
    changed = {
        (key, dim)
        for key, shape in before.items()
        for dim, size in enumerate(shape)
        if after[key][dim] != size
    }
    exact = {
        (key, dim)
        for key, dim in changed
        if before[key][dim] == value and after[key][dim] == 2 * value
    }
    # a dimension it only sizes (``3 * dim``) would stay a literal in the
    # output, and the parameter would build another model than the source
    # does with the same value: such a parameter is kept nowhere
    return frozenset(exact) if exact == changed else frozenset()


def _builder(model: nn.Module) -> tuple[Builder | None, dict[str, Any]]:
    """How to build ``model`` again, and with what (module docstring)."""
    declared = _BUILDERS.get(model)
    if declared is not None:
        return declared
    cls = type(model)
    try:
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return None, {}
    # a default stands for an argument not recorded: a size that was otherwise
    # gives other shapes, which root_sizes rejects
    recorded = init_arguments(model)
    arguments = {}
    for p in parameters:  # in the signature's order
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in recorded:
            arguments[p.name] = recorded[p.name]
        elif p.default is inspect.Parameter.empty:
            return None, {}  # needs what was not recorded (not a literal)
        elif is_literal(p.default):
            arguments[p.name] = p.default
    if any(p.kind is p.POSITIONAL_ONLY for p in parameters):
        return None, {}

    def build(**kwargs: Any) -> Mapping[str, torch.Tensor]:
        return cls(**kwargs).state_dict()

    return build, arguments


def _shapes(build: Callable[[], Mapping[str, torch.Tensor]]) -> dict | None:
    """The shapes of the tensors ``build()`` makes, on the meta device; None if it fails."""
    made = built_quietly(build, meta=True)
    return state_shapes(made) if isinstance(made, Mapping) else None


def built_quietly(build: Callable[[], Any], meta: bool = False) -> Any:
    """``build()`` with the random states, stdout and warnings left alone; None if it fails.

    What the user's constructor prints or warns is not the conversion's
    output (the CLI writes the code to stdout). ``meta``: on the meta
    device, where nothing is allocated or drawn.
    """
    device = torch.device("meta") if meta else contextlib.nullcontext()
    with (
        random_states_kept(),
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
        device,
    ):
        warnings.simplefilter("ignore")
        try:
            return build()
        except Exception:
            return None


def state_shapes(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Each tensor of a ``state_dict()`` by its shape."""
    return {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}


__all__ = [
    "Position",
    "built_quietly",
    "state_shapes",
    "carry",
    "RootSize",
    "declare_builder",
    "first_keys_of",
    "function_defaults",
    "root_sizes",
    "sized_by",
]
