"""What each block was built with: the arguments of its ``__init__``, by parameter name.

A class emitted for a block whose instances differ in literals takes those
literals as constructor parameters. The user's own names for them
(``BasicBlock(in_planes, planes, stride)``) are only known from how each
instance was built, so the model is built while :func:`recording` watches:
every ``nn.Module`` created meanwhile keeps the arguments it was called
with, and :func:`init_arguments` binds them to its ``__init__`` signature.

Why a profile hook: the arguments a block's own ``__init__`` was called
with are its frame's locals on entry, already bound to its parameters
(defaults included), and ``sys.setprofile`` sees that frame without
touching any class (``super().__init__()`` passes nothing, and a
temporary ``nn.Module.__new__`` cannot be removed cleanly). The hook is
set only while the model is built, and only when no other profiler runs.

A model built elsewhere (``nnconvert.convert(model)`` on an object) has no
record; then the literals stored on the instance under a parameter's name
(``self.in_channels = in_channels``) stand in (:func:`init_arguments`), and
otherwise the printer keeps the names it takes from the layers' arguments.

Only literal values count (numbers, booleans, strings, ``None`` and tuples
of them): a config object or a layer passed in is not a value a hole can
match. Records live beside the module (a weak map), not on it, so that
nothing the tracer or the trace sharing compares changes; :func:`carry`
hands them to a deep copy.

A module nnconvert builds itself, not from the user's constructor (the
wrapper of a functional file's block function, :mod:`nnconvert.functional`),
has no ``__init__`` of the user's to read. It :func:`declare` s what stands
for one instead: the literal keywords its caller passes
(``scaled(..., scale=2.0)``), which functional style names after the
user's ``__init__`` (:mod:`nnconvert.printer.init_names`). Read back, they
give the class styles the names module -> module gives.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import inspect
import sys
import types
import weakref
from typing import Any, Iterable, Iterator, Mapping

from torch import nn

from .built_values import record_built

_RECORDED: "weakref.WeakKeyDictionary[nn.Module, dict[str, Any]]" = (
    weakref.WeakKeyDictionary()
)
#: Modules built by nnconvert: their declared arguments, in their parameters' order.
_DECLARED: "weakref.WeakKeyDictionary[nn.Module, dict[str, Any]]" = (
    weakref.WeakKeyDictionary()
)


#: Every argument of each recorded module's ``__init__`` (containers of literals copied),
#: for a source written as it is (:mod:`nnconvert.as_written`): its root is built again
#: from its own class, so a class or a list passed in counts as much as a number.
_ALL_RECORDED: "weakref.WeakKeyDictionary[nn.Module, dict[str, Any]]" = (
    weakref.WeakKeyDictionary()
)


#: Where each recorded module was built: the code and line of the call that built it.
_SITES: "weakref.WeakKeyDictionary[nn.Module, tuple[types.CodeType, int]]" = (
    weakref.WeakKeyDictionary()
)

#: When each recorded module's ``__init__`` began, counted over every build.
_STARTED: "weakref.WeakKeyDictionary[nn.Module, int]" = weakref.WeakKeyDictionary()
_STARTS = itertools.count()


#: Each recorded module's integer ``__init__`` locals on return, by name.
_LOCALS: "weakref.WeakKeyDictionary[nn.Module, dict[str, int]]" = (
    weakref.WeakKeyDictionary()
)


#: Blocks read back from a functional file: the sizes their init function was called with.
_SIZES: "weakref.WeakKeyDictionary[nn.Module, dict[str, int]]" = (
    weakref.WeakKeyDictionary()
)


#: Blocks read back from a functional file: every keyword their function takes, in order.
_KEYWORD_ORDER: "weakref.WeakKeyDictionary[nn.Module, list[str]]" = (
    weakref.WeakKeyDictionary()
)


def declare(
    module: nn.Module, arguments: Mapping[str, Any], keywords: Iterable[str] = ()
) -> None:
    """``module``'s constructor arguments are ``arguments``, whatever its ``__init__`` takes.

    For a module nnconvert built itself (module docstring): its own
    ``__init__``'s parameters are never read as the user's. Only the
    literal values count, in the order given. ``keywords``: the order of
    every keyword its function was written with, declared or not
    (:func:`keyword_order`).
    """
    _DECLARED[module] = {k: v for k, v in arguments.items() if is_literal(v)}
    if keywords:
        _KEYWORD_ORDER[module] = list(keywords)


def declare_sizes(module: nn.Module, sizes: Mapping[str, int]) -> None:
    """A read-back block's sizes, as its init function in the file names them.

    Kept apart from :func:`declare`: a size named after a layer argument
    (``out_channels``) is nnconvert's name, not the user's, and read as
    a constructor argument it would rename the block's keywords
    (``groups``). Only a block's init function is named from them
    (:func:`init_sizes`), so that it prints as it was read.
    """
    _SIZES[module] = dict(sizes)


def init_sizes(module: nn.Module) -> dict[str, int]:
    """The sizes ``module`` declared (:func:`declare_sizes`), in order; empty for others."""
    return dict(_SIZES.get(module, {}))


def keyword_order(module: nn.Module) -> list[str]:
    """The keywords a read-back block's function takes, in the order its file wrote them.

    Functional style writes the user's names first, then the layers' own
    (``stride, groups, padding``); read back, only some are declared
    (:func:`declare`), and the order of the rest is only here. Empty for
    any other module.
    """
    return list(_KEYWORD_ORDER.get(module, ()))


def init_parameters(module: nn.Module) -> list[str]:
    """The parameters of ``module``'s constructor after ``self`` (none if unreadable).

    Its declared arguments' names where it has some (:func:`declare`).
    """
    declared = _DECLARED.get(module)
    if declared is not None:
        return list(declared)
    try:
        return list(inspect.signature(type(module).__init__).parameters)[1:]
    except (TypeError, ValueError):
        return []


def init_defaults(module: nn.Module) -> dict[str, Any]:
    """The defaults of ``module``'s constructor, by parameter (none if unreadable)."""
    try:
        parameters = inspect.signature(type(module).__init__).parameters
    except (TypeError, ValueError):
        return {}
    return {
        n: p.default
        for n, p in parameters.items()
        if p.default is not inspect.Parameter.empty
    }


@contextlib.contextmanager
def recording() -> Iterator[None]:
    """Every ``nn.Module`` built inside keeps its constructor arguments (module docstring).

    Re-entrant, and a no-op under another profiler (which it would displace).
    """
    if sys.getprofile() is not None:
        yield
        return
    hooked = "__deepcopy__" not in vars(nn.Module)
    if hooked:
        nn.Module.__deepcopy__ = _deepcopy_carrying_records
    sys.setprofile(_record_init_call)
    try:
        yield
    finally:
        sys.setprofile(None)
        if hooked:
            del nn.Module.__deepcopy__


def _deepcopy_carrying_records(module: nn.Module, memo: dict[int, Any]) -> nn.Module:
    """``copy.deepcopy(module)`` while recording, each copy given its original's record.

    A copy runs no ``__init__``: DETR's ``_get_clones(encoder_layer, N)``
    (``copy.deepcopy`` of one layer, N times) would leave every layer of
    the model without a record, and the output without their parameters.
    The copy itself is ``deepcopy``'s own (the hook is off while it runs).
    """
    del nn.Module.__deepcopy__
    try:
        copied = copy.deepcopy(module, memo)
    finally:
        nn.Module.__deepcopy__ = _deepcopy_carrying_records
    carry(module.modules(), memo)
    return copied


def _record_init_call(frame: types.FrameType, event: str, _: Any) -> None:
    """On entry to a module's own ``__init__`` (not an inherited one it calls): keep its locals.

    On its return: fingerprint the tensors it built (:mod:`.built_values`).
    """
    code = frame.f_code
    if event not in ("call", "return") or code.co_name != "__init__":
        return
    if not code.co_argcount:
        return
    arguments = frame.f_locals
    module = arguments.get(code.co_varnames[0])
    if not isinstance(module, nn.Module):
        return
    if event == "return":
        if getattr(type(module).__init__, "__code__", None) is code:
            record_built(module)
            parameters = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
            _LOCALS[module] = {
                k: v
                for k, v in frame.f_locals.items()
                if type(v) is int and k not in parameters
            }
        return
    if module in _RECORDED:
        return
    if getattr(type(module).__init__, "__code__", None) is code:
        _RECORDED[module] = {  # literals only: holds no config object alive
            k: v
            for k, v in arguments.items()
            if k != code.co_varnames[0] and is_literal(v)
        }
        _ALL_RECORDED[module] = {
            k: _snapshot(v) for k, v in arguments.items() if k != code.co_varnames[0]
        }
        if frame.f_back is not None:
            _SITES[module] = (frame.f_back.f_code, frame.f_back.f_lineno)
        _STARTED[module] = next(_STARTS)


def _snapshot(value: Any) -> Any:
    """``value`` as it is now: a list or dict of literals is copied, since ``__init__`` may change it."""
    if type(value) in (list, tuple):
        return type(value)(_snapshot(v) for v in value)
    if type(value) is dict:
        return {k: _snapshot(v) for k, v in value.items()}
    return value


def declare_locals(module: nn.Module, sizes: Mapping[str, int]) -> None:
    """``module``'s :func:`init_locals`, for a block read back from a functional file.

    Its init function computes them as a block's ``__init__`` did
    (``group_width = bottleneck_width * 2``: :mod:`nnconvert.functional.block_inits`).
    """
    _LOCALS[module] = dict(sizes)


def init_locals(module: nn.Module) -> dict[str, int]:
    """The integer locals ``module``'s own ``__init__`` left when it returned (empty if not recorded).

    ResNeXt's ``group_width = cardinality * bottleneck_width``: the name the
    user gave a size computed from the arguments (:mod:`nnconvert.printer.derived_sizes`).
    """
    return dict(_LOCALS.get(module, {}))


def recorded_call(module: nn.Module) -> dict[str, Any] | None:
    """Every argument ``module``'s own ``__init__`` was called with, by name (None: not recorded).

    Defaults included; ``*args`` and ``**kwargs`` under their own names.
    """
    found = _ALL_RECORDED.get(module)
    return None if found is None else dict(found)


def init_arguments(module: nn.Module) -> dict[str, Any]:
    """``module``'s literal ``__init__`` arguments by parameter name (defaults included).

    From the record when it was built under :func:`recording`; else the
    literal attributes named like a parameter of its ``__init__``. Empty
    when neither says anything. A module nnconvert built itself has
    exactly what it declared (:func:`declare`).
    """
    declared = _DECLARED.get(module)
    if declared is not None:
        return dict(declared)
    try:
        signature = inspect.signature(type(module).__init__)
    except (TypeError, ValueError):
        return {}
    recorded = _RECORDED.get(module)
    if recorded is not None:
        found = recorded
    else:
        attributes = vars(module)
        found = {
            name: attributes[name]
            for name in list(signature.parameters)[1:]
            if name in attributes
        }
    kinds = signature.parameters
    return {
        name: value
        for name, value in found.items()
        if name in kinds
        and kinds[name].kind
        in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and is_literal(value)
    }


def is_literal(value: Any) -> bool:
    """A number, boolean, string, ``None`` or tuple of them: a value a hole may hold."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, tuple) and all(is_literal(v) for v in value)


def construction_site(module: nn.Module) -> tuple[types.CodeType, int] | None:
    """The code and line of the call that built ``module`` (None: not recorded).

    CycleGAN's generator grows a list over several statements (``model +=
    [nn.Conv2d(...), ...]`` under ``# Downsampling``) and wraps it once
    (``nn.Sequential(*model)``): where each layer was built says which
    comment of ``__init__`` it stands under
    (:func:`nnconvert.source_text.sequential_comments`).
    """
    return _SITES.get(module)


def construction_start(module: nn.Module) -> int | None:
    """When ``module``'s ``__init__`` began, against the others' (None: not recorded).

    denoising-diffusion's Unet registers ``self.ups = ModuleList([])`` before
    its middle blocks and fills it after them: its blocks are drawn later
    than registration order says.
    """
    return _STARTED.get(module)


def carry(originals: Iterable[nn.Module], copies: Mapping[int, Any]) -> None:
    """Give each copy (``copies``: ``deepcopy``'s memo, by ``id``) its original's record."""
    for module in originals:
        copied = copies.get(id(module))
        if not isinstance(copied, nn.Module):
            continue
        for records in (
            _RECORDED,
            _ALL_RECORDED,
            _DECLARED,
            _KEYWORD_ORDER,
            _SIZES,
            _LOCALS,
            _SITES,
            _STARTED,
        ):
            if module in records:
                records[copied] = records[module]


__all__ = [
    "carry",
    "construction_site",
    "construction_start",
    "declare",
    "declare_locals",
    "declare_sizes",
    "init_arguments",
    "init_defaults",
    "init_locals",
    "init_parameters",
    "init_sizes",
    "keyword_order",
    "is_literal",
    "recorded_call",
    "recording",
]
