"""Leaves: third-party layers and functions, kept as opaque calls.

A layer whose class nnconvert's op-spec table does not know and that is
defined neither in ``torch`` nor in the model's own code (einops'
``Rearrange``, a library's custom layer) is not traced through: its library
may do things fx cannot record (einops caches recipes keyed by shapes), and
its code is not the user's to rewrite. It stays one ``call_module`` node, a
*leaf*. Module and mixed style import its class from the shortest public
path that gives the same object (``from einops.layers.torch import
Rearrange``) and build it with the constructor arguments recovered from the
instance; functional style builds it once at module level and calls it over
its slice of the weight dict (``torch.func.functional_call``), or directly
when it holds no tensors.

A function of an installed third-party package called in ``forward``
(einops' ``rearrange``) stays one ``call_function`` node the same way
(:func:`third_party_functions`, used by the tracer) and is printed as the
same call with its import.

"The model's own code" is the package that defines the model's class (for a
file given to the CLI, that file), and anything not installed as a
distribution (the user's sibling files): a torchvision model keeps its
torchvision blocks as classes of their own, while a user's model holding a
torchvision block keeps it as a leaf.

Which modules are leaves depends on the model that holds them, so
:func:`mark_leaves` records them, per conversion, in a weak registry of
module instances that :func:`leaf_of` reads.
"""

from __future__ import annotations

import copy
import inspect
import sys
import types
import weakref
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import packages_distributions
from typing import Any, Callable, Iterable

import torch
from torch import nn

from .errors import ConversionError
from .opspecs import spec_for_module
from .opspecs.spec import REQUIRED, Param, layout
from .torch_names import public_import

#: Packages that are never third-party: torch itself and nnconvert (whose
#: functional front end defines the wrapper classes it traces).
_NEVER_THIRD_PARTY = frozenset({"torch", "nnconvert"})


@dataclass(frozen=True)
class Leaf:
    """A layer kept as an opaque call, and how the output rebuilds it.

    ``arguments`` are the constructor's, in its signature order (each with
    its :class:`Param`, so defaults are dropped when printed), the first
    ``positional`` written positionally. ``reads_mode``: its output or
    state differed between train and eval mode on the example input, so
    functional style sets its mode before calling it.
    """

    path: str
    cls: type
    name: str  # the class's name in the output
    import_line: str  # ``from einops.layers.torch import Rearrange``
    arguments: tuple[tuple[Param, Any], ...]
    positional: int
    reads_mode: bool
    state_keys: tuple[str, ...]  # its ``state_dict()`` keys
    reason: str

    @property
    def has_state(self) -> bool:
        """Owns parameters or buffers (called with its weights in functional style)."""
        return bool(self.state_keys)

    def describe(self) -> str:
        """One line for the report: which layer, which class, why."""
        where = self.path or "the model"
        return (
            f"{where!r} ({self.cls.__module__}.{self.cls.__qualname__}): {self.reason}"
        )


_REGISTRY: "weakref.WeakKeyDictionary[nn.Module, Leaf]" = weakref.WeakKeyDictionary()


def leaf_of(module: nn.Module) -> Leaf | None:
    """The leaf ``module`` was marked as by :func:`mark_leaves`, else None."""
    try:
        return _REGISTRY.get(module)
    except TypeError:  # not weak-referenceable: never marked
        return None


def is_leaf(module: nn.Module) -> bool:
    return leaf_of(module) is not None


Capture = Callable[[list[nn.Module]], dict[int, tuple[Any, ...]]]


def mark_leaves(model: nn.Module, capture: Capture | None = None) -> list[Leaf]:
    """Find and record the leaves of ``model``, outermost first; their insides are not visited.

    ``capture`` runs the model and returns the inputs each of the given
    modules received (by ``id``): each leaf is then run in both modes on
    its own to see whether it reads its ``training`` flag.
    """
    own = package_of(type(model).__module__)
    found: list[tuple[str, nn.Module]] = []

    def visit(module: nn.Module, path: str) -> None:
        for name, child in module.named_children():
            child_path = f"{path}.{name}" if path else name
            if is_third_party_layer(child, own):
                found.append((child_path, child))
            else:
                visit(child, child_path)

    visit(model, "")
    inputs = capture([m for _, m in found]) if capture and found else {}
    leaves = []
    for path, module in found:
        leaf = describe_leaf(module, path, inputs.get(id(module)))
        _REGISTRY[module] = leaf
        leaves.append(leaf)
    return leaves


def is_third_party_layer(module: nn.Module, own: str) -> bool:
    """A layer of another installed package than ``own`` that no op-spec row describes."""
    return (
        spec_for_module(module) is None
        and not isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict))
        and is_third_party(type(module).__module__, own)
    )


def is_third_party(module_name: str | None, own: str | None) -> bool:
    """``module_name`` belongs to an installed package: not torch, the stdlib or ``own``."""
    top = package_of(module_name)
    return (
        bool(top)
        and top != own
        and top not in _NEVER_THIRD_PARTY
        and top not in sys.stdlib_module_names
        and top in _installed_packages()
    )


def package_of(module_name: str | None) -> str:
    """``"einops.layers.torch"`` -> ``"einops"``."""
    return (module_name or "").split(".")[0]


@lru_cache(maxsize=None)
def _installed_packages() -> frozenset[str]:
    """Top-level import names of the installed distributions."""
    return frozenset(packages_distributions())


def third_party_functions(
    namespace: dict[str, Any], own: str | None
) -> tuple[list[Callable], list[types.ModuleType]]:
    """The third-party functions and modules that code reading ``namespace`` can call.

    Functions bound by name (``from einops import rearrange``), and the
    public functions of third-party modules bound by name (``import
    einops``; ``einops.rearrange(x, ...)``). The tracer keeps calls of them
    opaque (fx's autowrap), as one node each.
    """
    functions: list[Callable] = []
    modules: list[types.ModuleType] = []
    for value in list(namespace.values()):
        if isinstance(value, types.ModuleType):
            if is_third_party(value.__name__, own):
                modules.append(value)
                functions += [
                    f
                    for n, f in vars(value).items()
                    if not n.startswith("_") and _is_function(f)
                ]
        elif _is_function(value) and is_third_party(
            getattr(value, "__module__", None), own
        ):
            functions.append(value)
    return functions, modules


def _is_function(value: Any) -> bool:
    return isinstance(value, (types.FunctionType, types.BuiltinFunctionType))


# -- how the output names and builds a leaf ------------------------------------------


def describe_leaf(
    layer: nn.Module, path: str, inputs: tuple[Any, ...] | None = None
) -> Leaf:
    """How the output imports and builds ``layer``; a clear error when it cannot."""
    cls = type(layer)
    label = f"layer {path!r} ({cls.__module__}.{cls.__qualname__})"
    found = public_import(cls)
    if found is None:
        raise ConversionError(
            f"{label} is kept as a third-party layer, but its class cannot be "
            f"imported by name from {cls.__module__}"
        )
    arguments, positional = constructor_arguments(layer, label)
    leaf = Leaf(
        path,
        cls,
        found[0],
        found[1],
        arguments,
        positional,
        _reads_mode(layer, inputs),
        tuple(layer.state_dict()),
        "a third-party layer with no op spec: kept as an opaque call",
    )
    return leaf


def constructor_arguments(
    layer: nn.Module, label: str
) -> tuple[tuple[tuple[Param, Any], ...], int]:
    """The arguments ``layer`` was built with, read back from its attributes.

    Each parameter of ``__init__`` is the attribute of its name (``pattern``;
    ``**axes_lengths`` from the dict ``axes_lengths``), as einops and most
    libraries store them. Proven by building the class again with them: the
    new layer must print the same, hold tensors of the same names and shapes
    and have the same public attributes; else a clear error naming the layer.
    """
    signature = inspect.signature(type(layer).__init__)
    values: list[tuple[Param, Any]] = []
    positional = 0  # required positional parameters, and ``*args`` with those before
    for parameter in list(signature.parameters.values())[1:]:
        found = _attribute(layer, parameter.name)
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            extra = {} if found is _MISSING else found
            if not isinstance(extra, dict):
                raise _unrecoverable(label, parameter.name)
            values += [(Param(k), v) for k, v in extra.items()]
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            items = () if found is _MISSING else found
            if not isinstance(items, (tuple, list)):
                raise _unrecoverable(label, parameter.name)
            values += [(Param(""), v) for v in items]
            positional = len(values)
        else:
            if found is _MISSING and parameter.default is REQUIRED:
                raise _unrecoverable(label, parameter.name)
            value = parameter.default if found is _MISSING else found
            values.append((Param(parameter.name, parameter.default), value))
            keyword_only = parameter.kind is inspect.Parameter.KEYWORD_ONLY
            if not keyword_only and parameter.default is REQUIRED:
                positional = max(positional, len(values))
    args, kwargs = layout(values, positional)
    _verify(layer, args, kwargs, label)
    return tuple(values), positional


_MISSING = object()


def _attribute(layer: nn.Module, name: str) -> Any:
    """``layer.<name>`` (or ``layer._<name>``), if the layer keeps it."""
    for attribute in (name, f"_{name}"):
        if attribute in vars(layer):
            return vars(layer)[attribute]
    return _MISSING


def _unrecoverable(label: str, name: str) -> ConversionError:
    return ConversionError(
        f"{label} is kept as a third-party layer, but its constructor argument "
        f"{name!r} cannot be recovered from the instance (no attribute {name!r})"
    )


def _verify(layer: nn.Module, args: list, kwargs: dict, label: str) -> None:
    """Building the class with the recovered arguments gives the same layer."""
    try:
        with torch.random.fork_rng():
            rebuilt = type(layer)(*args, **kwargs)
    except Exception as error:
        raise ConversionError(
            f"{label} is kept as a third-party layer, but building it again from "
            f"the arguments read from its attributes fails: {type(error).__name__}: "
            f"{error}"
        ) from None
    same = (
        repr(rebuilt) == repr(layer)
        and _shapes(rebuilt) == _shapes(layer)
        and _public(rebuilt) == _public(layer)
    )
    if not same:
        raise ConversionError(
            f"{label} is kept as a third-party layer, but building it again from "
            "the arguments read from its attributes gives a different layer"
        )


def _shapes(layer: nn.Module) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    return {k: (tuple(v.shape), v.dtype) for k, v in layer.state_dict().items()}


def _public(layer: nn.Module) -> dict[str, str]:
    """Public plain attributes, by ``repr`` (a value need not define ``==``)."""
    return {
        k: repr(v)
        for k, v in vars(layer).items()
        if not k.startswith("_") and k != "training"
    }


def _reads_mode(layer: nn.Module, inputs: tuple[Any, ...] | None) -> bool:
    """The layer computes or updates differently in train mode (dropout, batch norm).

    Evidence from running copies in both modes on the input it received,
    under the same seed; True when that cannot be run (the safe answer).
    """
    if inputs is None:
        return True
    results = []
    try:
        for training in (True, False):
            copied = copy.deepcopy(layer).train(training)
            with torch.random.fork_rng(), torch.no_grad():
                torch.manual_seed(0)
                output = copied(*copy.deepcopy(inputs))
            results.append((_flat(output), list(copied.state_dict().values())))
    except Exception:
        return True
    (out_a, state_a), (out_b, state_b) = results
    return not (_all_equal(out_a, out_b) and _all_equal(state_a, state_b))


def _flat(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [item for v in value for item in _flat(v)]
    if isinstance(value, dict):
        return [item for v in value.values() for item in _flat(v)]
    return [value]


def _all_equal(a: Iterable[Any], b: Iterable[Any]) -> bool:
    a, b = list(a), list(b)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            if x.shape != y.shape or not torch.equal(x, y):
                return False
        elif isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            return False
    return True


__all__ = [
    "Leaf",
    "describe_leaf",
    "is_leaf",
    "is_third_party",
    "leaf_of",
    "mark_leaves",
    "public_import",
    "third_party_functions",
]
