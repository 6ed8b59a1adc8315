"""Loading a functional model: the function, its weights and its initial weights.

A functional file defines the function and, usually, ``init_params()``. The
weights the function runs with are the given ones (``--weights``, a state
dict), else ``init_params()``'s (after ``torch.manual_seed(0)``).
``init_params()``'s weights are also the initial values that layers'
constructor arguments are read from (``nn.PReLU``'s ``init``), also when
weights are given, never those weights themselves.

The CLI (through :func:`nnconvert.loading.load_model`), the tests and
anyone holding generated source (:func:`load_functional_source`) load
functional models here.
"""

from __future__ import annotations

import linecache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from ..declared_inits import DeclaredInit, declare_construction_order
from ..errors import ConversionError, InputError
from ..frontend import ModelInput
from ..reporting import error_location, one_line
from ..root_sizes import declare_builder, function_defaults
from ..state_builds import read_state_builds
from ..tensor_builds import read_builds
from ..ties import declare_written
from .block_inits import declare_block_sizes, recorded_block_inits
from .init_ties import init_ties
from .layer_calls import declare_layer_calls, recorded_layer_calls
from .tensor_inits import declare_tensor_statements, tensor_statements
from .model import functional_model
from .source import load_source


def load_functional(
    namespace: Mapping[str, Any],
    function: Callable,
    example_inputs: Sequence[Any],
    *,
    weights: Mapping[str, torch.Tensor] | None = None,
    init_args: Mapping[str, Any] | None = None,
    class_name: str | None = None,
    path: Path | None = None,
) -> ModelInput:
    """``function`` (defined in ``namespace``) with its weights, as a model input.

    ``weights`` are the weights to run with, laid out in the order the
    file's ``init_params()`` creates them when it creates the same keys (the
    order the file declares its model in, as without ``weights``); without
    them, ``init_params(**init_args)``'s. ``path`` is the file, for errors
    (default: where the function's code says it is). Raises InputError,
    naming ``file:line``.
    """
    code = function.__code__
    path = Path(code.co_filename) if path is None else path
    # constants the file builds (RELATIVE_POSITION_INDEX = relative_position_index())
    read_builds("".join(linecache.getlines(code.co_filename)), namespace)
    where = f"{path}:{code.co_firstlineno}: "
    sizes: dict[str, dict[str, int]] = {}  # each block init call's, by prefix
    layers: dict[str, DeclaredInit] = {}  # each layer function call's, by prefix
    if weights is not None:
        if init_args:
            raise InputError(
                "--init-arg goes to init_params(), which --weights replaces"
            )
        initial = initial_weights(namespace, sizes, layers)
        params = _in_order_of(weights, initial)
    else:
        init = namespace.get("init_params")
        if not callable(init):
            raise InputError(
                f"{where}{function.__name__} is in functional style: give its weights "
                "with --weights PATH or define init_params() in the file"
            )
        torch.manual_seed(0)
        try:
            with (
                recorded_block_inits(init) as sizes,
                recorded_layer_calls(init) as layers,
            ):
                params = init(**(init_args or {}))
        except Exception as error:
            raise InputError(
                f"{error_location(error, path)}init_params() fails: {one_line(error)}"
            ) from None
        if not is_state_dict(params):
            raise InputError(f"{where}init_params() must return a dict of tensors")
        initial = params
    try:
        read = functional_model(
            function, params, example_inputs, class_name=class_name, initial=initial
        )
    except ConversionError as error:
        raise InputError(f"{where}{error}") from None
    declare_block_sizes(read.module, sizes)
    declare_layer_calls(read.module, layers)
    if initial is not None:
        declare_construction_order(read.module, initial)
    init = namespace.get("init_params")
    if callable(init):  # its parameters are the root's (nnconvert.root_sizes)
        arguments = {**function_defaults(init), **(init_args or {})}
        declare_builder(read.module, init, arguments)
        declare_written(read.module, init_ties(init))
        declare_tensor_statements(read.module, tensor_statements(init))
        text = "".join(linecache.getlines(init.__code__.co_filename))
        read_state_builds(read.module, init, text, initial)
    return read


def load_functional_source(
    source: str,
    name: str,
    example_inputs: Sequence[Any],
    *,
    weights: Mapping[str, torch.Tensor] | None = None,
    class_name: str | None = None,
) -> ModelInput:
    """Generated functional source (a ``--to functional`` result): function ``name``, loaded.

    As :func:`load_functional` loads it from a file.
    """
    namespace = load_source(source, name)
    return load_functional(
        namespace,
        namespace[name],
        example_inputs,
        weights=weights,
        class_name=class_name,
    )


def initial_weights(
    namespace: Mapping[str, Any],
    sizes: dict[str, dict[str, int]] | None = None,
    layers: dict[str, DeclaredInit] | None = None,
) -> dict[str, torch.Tensor] | None:
    """The file's ``init_params()`` (after ``manual_seed(0)``, the global RNG left as it was).

    None when there is none or it fails: then only the given weights are
    known, and constructor arguments that only set initial values keep their
    defaults. ``sizes`` receives the sizes its block init functions were
    called with (:mod:`.block_inits`), ``layers`` its layer function calls
    (:mod:`.layer_calls`).
    """
    init = namespace.get("init_params")
    if not callable(init):
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            with (
                recorded_block_inits(init) as recorded,
                recorded_layer_calls(init) as calls,
            ):
                params = init()
        except Exception:
            return None
    if sizes is not None:
        sizes.update(recorded)
    if layers is not None:
        layers.update(calls)
    return dict(params) if is_state_dict(params) else None


def is_state_dict(value: Any) -> bool:
    """A mapping of names to tensors."""
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
    )


def _in_order_of(
    weights: Mapping[str, torch.Tensor], initial: Mapping[str, torch.Tensor] | None
) -> Mapping[str, torch.Tensor]:
    """``weights`` in ``initial``'s key order when both have the same keys, else as given."""
    if initial is None or set(initial) != set(weights):
        return weights
    return {key: weights[key] for key in initial}


__all__ = [
    "initial_weights",
    "is_state_dict",
    "load_functional",
    "load_functional_source",
]
