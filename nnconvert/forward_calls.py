"""A submodule's ``forward`` called directly is a call of the submodule, while nnconvert runs the model.

llama2.c's blocks write ``self.attention.forward(x, freqs_cos, freqs_sin)``.
fx records a module call only through ``nn.Module.__call__``, and the
hooks nnconvert runs the model with to see what each block receives only
fire there: called directly, the attention's ops were inlined into its
parent and the attention itself, never called, failed the conversion.
Python computes the same either way (the model has no hooks of its own that
nnconvert would keep), so while nnconvert runs or traces the model, each
submodule's ``forward`` called from anywhere but ``__call__`` goes through
``__call__``.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from torch import nn


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """``code`` and the functions defined in it (``_call_impl``'s ``inner``, run with hooks)."""
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _codes(constant)


#: The frames of ``nn.Module.__call__`` that run a module's ``forward``.
_CALL_FRAMES = frozenset(
    code
    for method in (nn.Module._call_impl, nn.Module._slow_forward)
    if hasattr(method, "__code__")
    for code in _codes(method.__code__)
)


@contextmanager
def forward_calls_are_calls(root: Any) -> Iterator[None]:
    """Inside, ``root``'s submodules' ``forward`` called directly runs as a call (module docstring)."""
    if not isinstance(root, nn.Module):
        yield
        return
    patched = [m for m in root.modules() if m is not root and "forward" not in vars(m)]
    for module in patched:
        object.__setattr__(module, "forward", _called_through_call(module))
    try:
        yield
    finally:
        for module in patched:
            module.__dict__.pop("forward", None)


def _called_through_call(module: nn.Module) -> Callable:
    """``module.forward`` as it is, except when called from outside ``__call__``."""
    forward = type(module).forward

    def routed(*args: Any, **kwargs: Any) -> Any:
        if sys._getframe(1).f_code in _CALL_FRAMES:
            return forward(module, *args, **kwargs)
        return module(*args, **kwargs)

    # what binds a call to forward's parameters (the tracers, the hooks that
    # see each block's inputs) reads the user's signature, not *args
    routed.__signature__ = _bound_signature(forward)  # type: ignore[attr-defined]
    return routed


@functools.lru_cache(maxsize=None)
def _bound_signature(forward: Callable) -> inspect.Signature | None:
    """``forward``'s signature without ``self``, as its bound method's."""
    try:
        signature = inspect.signature(forward)
    except (TypeError, ValueError):
        return None
    return signature.replace(parameters=list(signature.parameters.values())[1:])
