"""``torch.nn.utils.weight_norm`` on a table layer: everything nnconvert knows about it.

The hook-based ``weight_norm(layer, name="weight", dim=0)`` (TCN, WaveNet
vocoders) deletes the parameter ``weight``, registers ``weight_g`` (the
norm of the weight over every dimension but ``dim``) and ``weight_v`` (the
weight itself) in its place, and sets ``layer.weight`` in a forward pre-hook
before every call: ``torch._weight_norm(weight_v, weight_g, dim)``. torch.fx
traces the layer as one ``call_module`` without running the hook, so the
trace alone would read one fixed ``weight``; what the hook computes is read
from the layer's hooks here, and only here:

* :func:`weight_norms` -- the layer's weight norms, by the tensor they compute;
* :meth:`WeightNorm.computed` -- the call argument the op-spec row reads for
  that tensor (:meth:`~.spec.OpSpec.call_arguments`), so functional style
  writes ``F.conv1d(x, torch._weight_norm(params["c.weight_v"],
  params["c.weight_g"], 0), ...)``: the hook's own computation, bit for bit
  (its fused kernel for ``dim=0``, which ``v * (g / v.norm(...))`` is not);
* :meth:`WeightNorm.apply` -- the same hook on a rebuilt layer, so that the
  row's rebuild check (:meth:`~.spec.OpSpec.rebuild`) compares like with like;
* :data:`WRAPPER_CALLEE` and its fields -- what class styles write around
  the constructor, ``weight_norm(nn.Conv1d(...), dim=None)``
  (:func:`nnconvert.printer.classes.weight_normed`), which gives the layer
  the original's ``state_dict`` keys and hook again;
* :func:`normed_inits` -- ``init_params()``'s tensors: ``weight_v`` drawn
  as the row draws ``weight``, ``weight_g`` computed from it as the hook
  sets it (:meth:`~.spec.OpSpec.tensor_inits`);
* :func:`read_weight_norms` -- the way back: a functional file's
  ``torch._weight_norm`` call read as the hook (:meth:`~.spec.OpSpec.layer_from_call`).

A weight norm this does not cover (:func:`converts_weight_norm`: a layer
without a row, a tensor the row does not read as one plain weight) and the
parametrization-based ``parametrizations.weight_norm`` are refused up
front by :mod:`nnconvert.reparametrized`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any, Mapping

import torch
from torch import nn
from torch.nn.utils.weight_norm import WeightNorm as _Hook

from . import spec_for_module
from .spec import Computed, TensorInit, WeightRef

#: The function the hook computes the tensor with.
FUNCTION = torch._weight_norm

#: How class styles write the hook: ``weight_norm(layer, name=..., dim=...)``,
#: by the :class:`WeightNorm` fields of these names, defaults left out.
WRAPPER_CALLEE = "weight_norm"
WRAPPER_IMPORT = "from torch.nn.utils import weight_norm"
WRAPPER_DEFAULTS = {"name": "weight", "dim": 0}


@dataclass(frozen=True)
class WeightNorm:
    """One ``weight_norm`` hook: the tensor it computes and the dimension it keeps.

    ``dim`` as the user writes it: None for the norm over the whole tensor
    (``weight_g`` a scalar), which the hook keeps as ``-1`` and
    ``torch._weight_norm`` and ``torch.norm_except_dim`` read so
    (:attr:`hook_dim`).
    """

    name: str
    dim: int | None

    @classmethod
    def of(cls, hook: _Hook) -> WeightNorm:
        """The hook's facts, ``dim=None`` as the user writes it (the hook keeps -1)."""
        return cls(hook.name, None if hook.dim == -1 else hook.dim)

    @property
    def hook_dim(self) -> int:
        """``dim`` as the hook passes it to ``torch._weight_norm``: -1 for the whole tensor."""
        return -1 if self.dim is None else self.dim

    @property
    def magnitude(self) -> str:
        return f"{self.name}_g"

    @property
    def direction(self) -> str:
        return f"{self.name}_v"

    @property
    def computed(self) -> Computed:
        """The tensor as the hook computes it: ``torch._weight_norm(v, g, dim)``."""
        return Computed(
            FUNCTION,
            (WeightRef(self.direction), WeightRef(self.magnitude), self.hook_dim),
        )

    def apply(self, layer: nn.Module) -> nn.Module:
        """``layer`` with this hook, as ``torch.nn.utils.weight_norm`` adds it."""
        with warnings.catch_warnings():  # deprecated in favour of parametrizations
            warnings.simplefilter("ignore", FutureWarning)
            return nn.utils.weight_norm(layer, self.name, self.dim)


def weight_norms(module: nn.Module) -> dict[str, WeightNorm]:
    """The ``weight_norm`` hooks of ``module``, by the tensor each computes, in hook order."""
    return {
        hook.name: WeightNorm.of(hook)
        for hook in module._forward_pre_hooks.values()
        if isinstance(hook, _Hook)
    }


def read_weight_norms(
    arguments: Mapping[str, Any], shapes: Mapping[str, Any]
) -> tuple[list[WeightNorm], dict[str, Any], dict[str, Any]]:
    """A call's ``torch._weight_norm(v, g, dim)`` arguments read back as hooks.

    ``(hooks, arguments, shapes)``: the call's arguments with each such one
    a plain :class:`WeightRef` to the tensor it computes (``weight``), and
    the tensors' shapes with that tensor's, ``weight_v``'s, in place of
    ``weight_g``'s and ``weight_v``'s: what the plain layer's row reads back
    (:meth:`~.spec.OpSpec.layer_from_call`), before the hooks are applied
    again to the layer it builds. A functional file read back holds the
    call as :meth:`WeightNorm.computed` wrote it.
    """
    hooks: list[WeightNorm] = []
    arguments, shapes = dict(arguments), dict(shapes)
    for key, value in arguments.items():
        if not (isinstance(value, Computed) and value.function is FUNCTION):
            continue
        direction, magnitude, dim = (*value.arguments, None, None, None)[:3]
        if not (
            isinstance(direction, WeightRef)
            and isinstance(magnitude, WeightRef)
            and type(dim) is int
            and direction.attribute.endswith("_v")
        ):
            continue
        norm = WeightNorm(direction.attribute[:-2], None if dim == -1 else dim)
        if (norm.direction, norm.magnitude) != (
            direction.attribute,
            magnitude.attribute,
        ) or not {norm.direction, norm.magnitude} <= shapes.keys():
            continue
        hooks.append(norm)
        arguments[key] = WeightRef(norm.name)
        shapes[norm.name] = shapes.pop(norm.direction)
        shapes.pop(norm.magnitude)
    return hooks, arguments, shapes


def converts_weight_norm(module: nn.Module, hook: object) -> bool:
    """Whether ``hook`` on ``module`` is a ``weight_norm`` nnconvert writes in every style.

    The layer must be a table layer (its exact class: a subclass may read
    its weight in a ``forward`` of its own) whose row passes the tensor as
    one plain weight argument (``weight``, ``bias``; not a recurrent
    layer's list of weights, read by a getter), so that the row's call is
    where :meth:`WeightNorm.computed` goes.
    """
    spec = spec_for_module(module)
    if not isinstance(hook, _Hook) or spec is None or spec.function is None:
        return False
    read = {spec.attributes.get(w, w) for w in spec.weights}
    return hook.name in read and spec.init is not None


def with_weight_norms(layer: nn.Module, like: nn.Module) -> nn.Module:
    """``layer`` (a fresh build of ``like``'s row) with ``like``'s weight norms."""
    for norm in weight_norms(like).values():
        layer = norm.apply(layer)
    return layer


def normed_inits(module: nn.Module, inits: list[TensorInit]) -> list[TensorInit]:
    """``inits`` (the row's, for the plain layer) with each normed tensor as ``_v`` and ``_g``.

    The constructor draws ``weight`` as the row says; ``weight_norm`` then
    registers ``weight_v``, that very tensor, and ``weight_g =
    torch.norm_except_dim(weight, 2, dim)``. So ``weight_v`` takes the
    row's expression, in its place among the draws, and ``weight_g``,
    which draws nothing, follows it, computed from it.
    """
    norms = weight_norms(module)
    found: list[TensorInit] = []
    for init in inits:
        norm = norms.get(init.attribute)
        if norm is None:
            found.append(init)
            continue
        found.append(replace(init, attribute=norm.direction))
        found.append(
            TensorInit(
                norm.magnitude,
                f"torch.norm_except_dim({{}}, 2, {norm.hook_dim})",
                derived_from=norm.direction,
            )
        )
    return found
