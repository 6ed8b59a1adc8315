"""A functional file's layer calls in ``init_params()``, declared on the hosts they made.

``init_params()`` makes a layer's tensors with one call of a function the
file defines exactly as :mod:`nnconvert.opspecs.layer_params` does
(``kaiming_params("attnpool.k_proj", 256, 256)``). While it runs, those
functions are wrapped and each call is kept with its prefix; afterwards a
host that is still plain (no call in the forward made it a layer again,
:mod:`.layers`) and holds exactly the tensors its call made, under the
same names, is declared made by it (:mod:`nnconvert.declared_inits`).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..declared_inits import DeclaredInit, declare_init, plain_host
from ..opspecs import layer_params
from ..opspecs.layer_params import DEFINITIONS
from ..opspecs.spec import LayerInit
from .init_recording import globals_wrapped


@contextlib.contextmanager
def recorded_layer_calls(init: Callable) -> Iterator[dict[str, DeclaredInit]]:
    """While ``init`` (a file's ``init_params``) runs: its layer function calls, by prefix.

    The file's layer functions are wrapped in ``init``'s globals for the
    while, and put back after.
    """
    calls: dict[str, DeclaredInit] = {}

    def wrapper(name: str, value: Any) -> Any:
        if not _is_layer_function(name, value):
            return None
        return _recording(name, value, calls)

    with globals_wrapped(init, wrapper):
        yield calls


def declare_layer_calls(model: nn.Module, calls: dict[str, DeclaredInit]) -> None:
    """Each plain host of ``model`` holding exactly what its recorded call made declares it."""
    for prefix, declared in calls.items():
        host = plain_host(model, prefix, blocks=True)
        if host is None:
            continue
        if tuple(host.state_dict(keep_vars=True)) == declared.attributes:
            declare_init(host, declared)


def _is_layer_function(name: str, value: Any) -> bool:
    """A function defined as :data:`DEFINITIONS` defines ``name``, taking a ``prefix`` first."""
    definition = DEFINITIONS.get(name)
    if definition is None or not inspect.isfunction(value):
        return False
    if list(inspect.signature(value).parameters)[:1] != ["prefix"]:
        return False  # clone_params(params, ...) copies, it makes no layer
    try:
        source = inspect.getsource(value)
    except (OSError, TypeError):
        return False
    return ast.dump(ast.parse(source)) == ast.dump(ast.parse(definition))


def _recording(
    name: str, function: Callable, calls: dict[str, DeclaredInit]
) -> Callable:
    """``function``, keeping each call's arguments and the names of what it made, by prefix."""

    @functools.wraps(function)
    def recorded(prefix: Any, *args: Any, **kwargs: Any) -> Any:
        made = function(prefix, *args, **kwargs)
        if isinstance(prefix, str) and isinstance(made, dict):
            names = [key[len(prefix) + 1 :] for key in made]
            if all(
                key.startswith(prefix + ".") and isinstance(t, torch.Tensor)
                for key, t in made.items()
            ) and all(n and "." not in n for n in names):
                call = LayerInit(
                    getattr(layer_params, name), tuple(args), tuple(kwargs.items())
                )
                calls[prefix] = DeclaredInit(call, tuple(names))
        return made

    return recorded


__all__ = ["declare_layer_calls", "recorded_layer_calls"]
