"""Model files -> model inputs and example inputs: the one loader of the CLI and the tests.

A model file is plain Python. nnconvert imports it, picks the model
(:func:`pick_model`: ``--class``, which may also name a factory function,
else the one root ``nn.Module`` class of the file -- the class no other
class of the file uses, found from the source (:mod:`.model_choice`) --,
else its last function taking ``params`` first), builds it (``--init-arg``,
whose bare names of the file's classes and functions pass those objects),
and takes example inputs from ``--input-shape`` or from a module-level
``example_inputs()`` function in the file. :func:`load_file` does all of
that.

A class becomes a class-style :class:`~nnconvert.frontend.ModelInput`. A
functional file (the output of ``--to functional``) goes to the functional
front end: the function with its weights, ``--weights PATH`` (a
``torch.save``d state dict) or the file's ``init_params()``
(:func:`nnconvert.functional.load_functional`). Files are executed with
BatchNorm's ``if training: params[K] += 1`` rewritten into a call fx can
record (:func:`nnconvert.functional.exec_source`).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import inspect
import itertools
import math
import sys
import tokenize
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from . import init_arguments, model_choice
from .errors import InputError
from .frontend import ModelInput
from .functional import exec_source, load_functional
from .functional.loader import is_state_dict
from .reporting import error_location, exit_message, one_line

_counter = itertools.count()

#: Example inputs larger than this many elements are refused: a typo such as
#: ``--input-shape 100000,100000`` would otherwise allocate tens of gigabytes.
MAX_INPUT_ELEMENTS = 2**28

DTYPES = {
    name: getattr(torch, name)
    for name in (
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "half",
        "float",
        "double",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "long",
        "int",
        "bool",
    )
}


class NoModelError(InputError):
    """The file defines no model at all: a folder conversion skips it rather than fails."""


def import_file(path: str | Path) -> types.ModuleType:
    """Import a Python file as a fresh module; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    name = f"nnconvert_input_{next(_counter)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    source = read_source(path)
    try:
        exec_source(source, str(spec.origin), vars(module))
    except SyntaxError as error:
        raise InputError(f"{path}:{error.lineno}: syntax error: {error.msg}") from None
    except SystemExit as error:
        raise InputError(exit_message(error, "at import", path)) from None
    except Exception as error:
        raise InputError(
            f"{error_location(error, path)}cannot import the file: {one_line(error)}"
        ) from None
    return module


def read_source(path: Path) -> str:
    """The text of a Python file, decoded as Python decodes it (UTF-8 unless declared).

    A file that is not text in its encoding is refused with the line of the
    first bad byte, rather than imported with the bytes mangled.
    """
    data = path.read_bytes()
    try:
        with open(path, "rb") as file:
            encoding, _ = tokenize.detect_encoding(file.readline)
        return data.decode(encoding)
    except SyntaxError as error:  # an unknown encoding declared
        raise InputError(f"{path}:{error.lineno or 1}: {error.msg}") from None
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: not {error.encoding} text (byte "
            f"0x{data[error.start]:02x}); save the file as UTF-8 or declare its "
            "encoding (# -*- coding: latin-1 -*-)"
        ) from None


def is_bound_under_own_name(module: types.ModuleType, value: Any) -> bool:
    """Whether ``value`` is defined in the file and its name still names it there.

    A class whose name the file later rebinds (``class Net`` as a block,
    ``Inner = Net``, then the real ``class Net``) is not the file's ``Net``.
    """
    return (
        getattr(value, "__module__", None) == module.__name__
        and vars(module).get(value.__name__) is value
    )


def model_classes(module: types.ModuleType) -> list[type[nn.Module]]:
    """``nn.Module`` subclasses the file defines under their own name, in source order."""
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, nn.Module)
        and is_bound_under_own_name(module, value)
    ]
    return sorted(found, key=lambda cls: inspect.getsourcelines(cls)[1])


def functional_models(module: types.ModuleType) -> list[Callable]:
    """Functions the file defines under their own name whose first parameter is ``params``."""
    found = []
    for value in vars(module).values():
        if inspect.isfunction(value) and is_bound_under_own_name(module, value):
            parameters = list(inspect.signature(value).parameters)
            if parameters[:1] == ["params"]:
                found.append(value)
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


def pick_model(
    module: types.ModuleType, path: Path, name: str | None
) -> type[nn.Module] | Callable:
    """``--class NAME`` (a class, a functional model or a factory), else the root class.

    Without ``--class``: the one root class (:func:`model_choice.root_classes`),
    else, in a file without classes, its last function taking ``params``
    first. Several roots, or none, is an error listing the candidates: a
    guess would convert a block, or fail with a message about its
    constructor that does not say the guess was wrong.
    """
    classes, functions = model_classes(module), functional_models(module)
    if name is not None:
        return _named(module, path, name, classes, functions)
    if classes:
        roots = model_choice.root_classes(module, read_source(path), classes)
        if len(roots) == 1:
            return roots[0]
        raise InputError(_no_single_root(module, path, classes, roots))
    if functions:
        return functions[-1]
    raise NoModelError(
        f"{path}: the file defines no nn.Module subclass and no function taking "
        "params first"
    )


def _named(
    module: types.ModuleType,
    path: Path,
    name: str,
    classes: list[type[nn.Module]],
    functions: list[Callable],
) -> type[nn.Module] | Callable:
    """The class, functional model or factory function ``--class NAME`` names."""
    for candidate in [*classes, *functions, *defined_functions(module)]:
        if candidate.__name__ == name:
            return candidate
    available = ", ".join(c.__name__ for c in classes) or "none"
    if functions:
        available += "; functions taking params: "
        available += ", ".join(f.__name__ for f in functions)
    factories = model_choice.factories(module, read_source(path), classes)
    if factories:
        available += "; functions that build one: " + ", ".join(factories)
    raise InputError(
        f"{path}: no nn.Module class {name!r} (classes in the file: {available})"
    )


def _no_single_root(
    module: types.ModuleType,
    path: Path,
    classes: list[type[nn.Module]],
    roots: list[type[nn.Module]],
) -> str:
    """The error for a file whose model is not clear: the candidates, and ``--class``."""
    factories = model_choice.factories(module, read_source(path), classes)
    built = (
        f"; or a function that builds one: {', '.join(factories)}" if factories else ""
    )
    if roots:
        names = ", ".join(c.__name__ for c in roots)
        return (
            f"{path}: which model? {len(roots)} nn.Module classes are no part of "
            f"another class of the file: {names}{built}; pass --class NAME"
        )
    names = ", ".join(c.__name__ for c in classes)
    return (
        f"{path}: which model? every nn.Module class of the file is a part of "
        f"another one: {names}{built}; pass --class NAME"
    )


def defined_functions(module: types.ModuleType) -> list[Callable]:
    """Functions the file defines under their own name, in source order (factories among them)."""
    found = [
        value
        for value in vars(module).values()
        if inspect.isfunction(value) and is_bound_under_own_name(module, value)
    ]
    return sorted(found, key=lambda f: f.__code__.co_firstlineno)


def is_functional_model(value: Any) -> bool:
    """A function whose first parameter is ``params``: a model in functional style."""
    if not inspect.isfunction(value):
        return False
    return list(inspect.signature(value).parameters)[:1] == ["params"]


@dataclass(frozen=True)
class LoadedFile:
    """A model file, loaded: the model input and its example inputs."""

    model: ModelInput
    example_inputs: tuple[Any, ...]


def load_file(
    path: str | Path,
    *,
    class_name: str | None = None,
    init_args: dict[str, Any] | None = None,
    weights: Path | None = None,
    input_shapes: Sequence[tuple[int, ...]] = (),
    input_dtypes: Sequence[str] = (),
    input_high: int = 10,
) -> LoadedFile:
    """The model of a file (:func:`pick_model`) with its example inputs, as the CLI loads it."""
    path = Path(path)
    module = import_file(path)
    picked = pick_model(module, path, class_name)
    init_args = resolve_init_args(module, init_args or {})
    try:
        inputs = example_inputs(module, path, input_shapes, input_dtypes, input_high)
        model = load_model(module, path, picked, init_args, weights, inputs)
    except SystemExit as error:
        raise InputError(
            exit_message(error, "while the model is built", path)
        ) from None
    return LoadedFile(model, inputs)


def load_model(
    module: types.ModuleType,
    path: Path,
    picked: type[nn.Module] | Callable,
    init_args: dict[str, Any],
    weights: Path | None,
    inputs: Sequence[Any],
) -> ModelInput:
    """The model of the file (:func:`pick_model`): built by its class or factory, or wrapped.

    The result knows how to build the original anew (``fresh_state``), so
    that the claim of a functional output's ``init_params()`` is checked.
    """
    if is_functional_model(picked):
        loaded = load_functional(
            vars(module),
            picked,
            inputs,
            weights=None if weights is None else load_weights(weights),
            init_args=init_args,
            path=path,
        )
        fresh = functools.partial(_fresh_init_params, module, init_args)
        init = vars(module).get("init_params")
        doc = init.__doc__ if callable(init) else None
        return dataclasses.replace(loaded, fresh_state=fresh, init_params_doc=doc)
    model = build_model(picked, path, init_args)
    if weights is not None:
        try:
            model.load_state_dict(load_weights(weights), strict=True)
        except RuntimeError as error:
            raise InputError(
                f"{weights}: the weights do not load into {picked.__name__}: "
                f"{one_line(error)}"
            ) from None
    fresh = functools.partial(_fresh_state, picked, init_args)
    factory = None if isinstance(picked, type) else picked.__name__
    return ModelInput(model, fresh_state=fresh, factory_name=factory)


def _fresh_state(
    make: Callable[..., nn.Module], init_args: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """The ``state_dict()`` of a newly built original: what ``init_params()`` is compared with."""
    return make(**init_args).state_dict()


def _fresh_init_params(
    module: types.ModuleType, init_args: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """A functional file's model built anew: its own ``init_params()``."""
    return dict(vars(module)["init_params"](**init_args))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict saved with ``torch.save`` (loaded on the CPU, tensors only)."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    try:
        # torch warns about some unreadable files before it raises: one line only
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InputError(
            f"{path}: cannot load weights: not a state dict saved with torch.save "
            f"({type(error).__name__}: {first_sentence(error)})"
        ) from None
    if not is_state_dict(loaded):
        raise InputError(
            f"{path}: not a state dict (a dict of tensors saved with torch.save)"
        )
    return dict(loaded)


def first_sentence(error: BaseException) -> str:
    """The start of a long library message, enough to say what went wrong."""
    text = " ".join(str(error).split())
    return text.split(". ")[0].rstrip(".")[:160]


def build_model(
    make: Callable[..., Any], path: Path, init_args: dict[str, Any]
) -> nn.Module:
    """The model: its class (or factory function) called with ``--init-arg`` values.

    Arguments that do not fit the signature are refused before any of the
    model's code runs, naming ``--init-arg`` and ``--class`` (the class may
    be a block picked by mistake); other failures name the line that raised.
    """
    called = (
        f"{make.__name__}({', '.join(f'{k}={shown(v)}' for k, v in init_args.items())})"
    )
    mismatch = model_choice.argument_mismatch(make, init_args)
    if mismatch is not None:
        raise InputError(
            f"{path}:{definition_line(make)}: cannot build {called}: {mismatch}; "
            "pass constructor arguments with --init-arg NAME=VALUE, or choose "
            "another model with --class NAME"
        )
    try:
        with init_arguments.recording():  # the printer names parameters after them
            model = make(**init_args)
    except Exception as error:
        raise InputError(
            f"{error_location(error, path)}cannot build {called}: {one_line(error)}"
        ) from None
    if not isinstance(model, nn.Module):
        raise InputError(
            f"{path}:{definition_line(make)}: {called} returns a "
            f"{type(model).__name__}, not an nn.Module; pass --class NAME of a "
            "class or of a function that builds the model"
        )
    return model


def definition_line(value: Any) -> int:
    """The line a class or function of the file starts at (1 when unknown)."""
    try:
        return inspect.getsourcelines(value)[1]
    except (OSError, TypeError):
        return 1


def shown(value: Any) -> str:
    """An argument as an error message shows it: a class or function by its name."""
    if inspect.isclass(value) or inspect.isfunction(value):
        return value.__name__
    return repr(value)


def example_inputs(
    module: types.ModuleType,
    path: Path,
    shapes: Sequence[tuple[int, ...]],
    dtypes: Sequence[str],
    high: int,
    seed: int = 0,
) -> tuple[Any, ...]:
    """Inputs from ``--input-shape``/``--input-dtype``, or from the file's ``example_inputs()``."""
    if shapes:
        return make_inputs(shapes, dtypes, high, seed)
    declared = getattr(module, "example_inputs", None)
    if declared is None:
        raise InputError(
            f"{path}: no example inputs: pass --input-shape (e.g. --input-shape 2,3,32,32) "
            "or define example_inputs() in the file"
        )
    torch.manual_seed(seed)
    try:
        inputs = declared() if callable(declared) else declared
    except Exception as error:
        raise InputError(
            f"{error_location(error, path)}example_inputs() fails: {one_line(error)}"
        ) from None
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def make_inputs(
    shapes: Sequence[tuple[int, ...]], dtypes: Sequence[str], high: int, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    """Random tensors: ``randn`` for floating dtypes, integers in ``[0, high)`` otherwise."""
    generator = torch.Generator().manual_seed(seed)
    inputs = []
    for shape, dtype in zip(shapes, input_dtypes(shapes, dtypes, high)):
        if dtype.is_floating_point:
            inputs.append(torch.randn(shape, generator=generator, dtype=dtype))
        elif dtype is torch.bool:
            inputs.append(torch.randint(0, 2, shape, generator=generator).bool())
        else:
            inputs.append(
                torch.randint(0, high, shape, generator=generator, dtype=dtype)
            )
    return tuple(inputs)


def input_dtypes(
    shapes: Sequence[tuple[int, ...]], dtypes: Sequence[str], high: int
) -> list[torch.dtype]:
    """The dtype of each ``--input-shape``, checked before any file runs or tensor is made."""
    if len(dtypes) not in (0, 1, len(shapes)):
        raise InputError(
            f"give one --input-dtype, or one per --input-shape ({len(shapes)})"
        )
    names = (
        list(dtypes) * len(shapes)
        if len(dtypes) == 1
        else list(dtypes) or ["float32"] * len(shapes)
    )
    found = [parse_dtype(name) for name in names]
    for dtype in found:
        if not dtype.is_floating_point and dtype is not torch.bool:
            _check_high_fits(high, dtype)
    return found


def _check_high_fits(high: int, dtype: torch.dtype) -> None:
    """``--input-high`` that the integer dtype can hold: torch's own error is an internal one."""
    largest = torch.iinfo(dtype).max
    if high - 1 > largest:
        raise InputError(
            f"--input-high {high}: {str(dtype).removeprefix('torch.')} holds "
            f"integers up to {largest}; pass --input-high {largest + 1} or less, "
            "or a wider --input-dtype"
        )


def parse_dtype(name: str) -> torch.dtype:
    try:
        return DTYPES[name.removeprefix("torch.")]
    except KeyError:
        raise InputError(
            f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}"
        ) from None


def parse_shape(text: str) -> tuple[int, ...]:
    """``"2,3,32,32"`` (or ``"2x3x32x32"``) -> ``(2, 3, 32, 32)``: positive sizes, not absurd."""
    try:
        shape = tuple(
            int(part) for part in text.replace("x", ",").split(",") if part.strip()
        )
    except ValueError:
        raise InputError(
            f"bad --input-shape {text!r}; write it like 2,3,32,32"
        ) from None
    if any(size <= 0 for size in shape):
        raise InputError(
            f"bad --input-shape {text!r}: every size must be a positive integer"
        )
    elements = math.prod(shape)
    if elements > MAX_INPUT_ELEMENTS:
        raise InputError(
            f"bad --input-shape {text!r}: {elements} elements, more than the "
            f"{MAX_INPUT_ELEMENTS} (2**28) an example input may have"
        )
    return shape


def parse_init_args(texts: Sequence[str]) -> dict[str, Any]:
    """All ``--init-arg NAME=VALUE`` options; a name given twice is a mistake, not an override."""
    parsed: dict[str, Any] = {}
    for text in texts:
        name, value = parse_init_arg(text)
        if name in parsed:
            raise InputError(f"--init-arg {name} was given twice")
        parsed[name] = value
    return parsed


class Bare(str):
    """``--init-arg`` text that is no Python literal: a string, or a name in the file.

    :func:`resolve_init_args` turns it into the class or function of that
    name when the file defines one, else into a plain ``str``.
    """


def parse_init_arg(text: str) -> tuple[str, Any]:
    """``"num_classes=10"`` -> ``("num_classes", 10)``; values are Python literals or strings.

    Text that is no literal is kept as :class:`Bare` text: it may name a
    class or function of the file, which only the loaded file can tell.
    """
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise InputError(f"bad --init-arg {text!r}; write it like num_classes=10")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, Bare(value)


def resolve_init_args(
    module: types.ModuleType, init_args: dict[str, Any]
) -> dict[str, Any]:
    """``--init-arg`` values with bare names of the file's classes and functions as those objects.

    ``block=BasicBlock`` passes the class ``BasicBlock`` when the file defines
    it (under that name); the text is looked up, never evaluated. A literal
    comes first (``block='BasicBlock'`` is the string), and bare text that
    names nothing defined in the file stays a string (``act=relu``).
    """
    resolved: dict[str, Any] = {}
    for name, value in init_args.items():
        if isinstance(value, Bare):
            found = vars(module).get(str(value))
            defined = inspect.isclass(found) or inspect.isfunction(found)
            value = (
                found
                if defined and is_bound_under_own_name(module, found)
                else str(value)
            )
        resolved[name] = value
    return resolved
