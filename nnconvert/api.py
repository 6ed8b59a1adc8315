"""The Python API: ``nnconvert.convert(model, to=..., example_inputs=...)``.

The pipeline is trace -> canonicalize -> style pass -> print; every stage is a
plain function of the one before, and this module only strings them together.
Its input is a module or a :class:`~nnconvert.frontend.ModelInput`: a module
with what the front end that read it recognised; which front end that was
makes no difference here.
"""

from __future__ import annotations

import itertools
import linecache
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from torch import nn

from .check import CheckReport, check_equivalent, function_candidate, module_candidate
from .errors import CheckError, ConversionError, InputError
from .frontend import ModelInput, model_input
from .hierarchy import trace_instances
from .modes import eval_mode
from .naming import MODULE_NAMES, definition_name, is_plain_identifier
from .options import Style, Tolerances
from .passes import apply_style, canonicalize
from .printer import print_program
from .printer.functions import snake_case

_counter = itertools.count()


@dataclass(frozen=True)
class Conversion:
    """The result of :func:`convert`.

    ``source`` is the generated Python text and ``name`` the class (module and
    mixed styles) or function (functional style) it defines.
    """

    source: str
    name: str
    style: Style
    model: nn.Module
    example_inputs: tuple[Any, ...]
    tolerances: Tolerances = Tolerances()

    def namespace(self) -> dict[str, Any]:
        """Execute ``source`` in a fresh namespace (its lines show in tracebacks)."""
        return execute(self.source, f"<nnconvert {self.style.value}: {self.name}>")

    def load(self) -> nn.Module | Callable:
        """The new module holding the original weights (``strict=True``), or the function.

        A functional result is called as ``fn(dict(model.state_dict()), *inputs)``.
        """
        defined = self.namespace()[self.name]
        if self.style is Style.FUNCTIONAL:
            return defined
        return instantiate(defined, self.model)

    def check(self, *, train: bool = False) -> CheckReport:
        """Run original and rewrite side by side; raises CheckError on any difference."""
        defined = self.namespace()[self.name]
        if self.style is Style.FUNCTIONAL:
            make = lambda model: function_candidate(defined, model)  # noqa: E731
        else:
            make = lambda model: module_candidate(
                instantiate(defined, model)
            )  # noqa: E731
        return check_equivalent(
            self.model, make, self.example_inputs, self.tolerances, train=train
        )


def convert(
    model: nn.Module | ModelInput,
    to: Style | str = Style.FUNCTIONAL,
    example_inputs: Sequence[Any] = (),
    *,
    name: str | None = None,
    tolerances: Tolerances = Tolerances(),
) -> Conversion:
    """Rewrite ``model`` in the style ``to`` ("module", "functional" or "mixed").

    ``example_inputs`` are the positional inputs of ``model.forward``; they
    drive tracing where Python code needs real shapes, and the check.
    ``name`` defaults to the model's class name (snake_case for functional);
    an input that already is a function (``ModelInput.function_name``) keeps
    its name in functional style; a name taken from the model is cleaned into
    an identifier (:func:`~nnconvert.naming.definition_name`), a given one
    must be one already. Raises ConversionError when the model cannot be
    rewritten faithfully, InputError for a given ``name`` that cannot name
    the definition.
    """
    style = Style.parse(to)
    example_inputs = tuple(example_inputs)
    read = model_input(model)
    # code that branches on self.training is converted as in eval mode
    with eval_mode(read.module):
        instances = trace_instances(read, example_inputs, style)
    for instance in instances:
        canonicalize(instance.graph)
        apply_style(instance.graph, style)
    name = input_name(read, style) if name is None else checked_name(name)
    source = print_program(instances, style, name)
    return Conversion(source, name, style, read.module, example_inputs, tolerances)


def input_name(read: ModelInput, style: Style) -> str:
    """The default name of the output: the input's own name in that style, if it has one.

    Cleaned, since a class name is data: ``type()`` takes any string, and a
    name printed as it is could be code (``"Evil(nn.Module): ..."``) or hide
    a module the output uses (a class ``Math`` is function ``math`` in
    functional style, which becomes ``math_``).
    """
    if style is Style.FUNCTIONAL and read.function_name is not None:
        return definition_name(read.function_name)
    return definition_name(default_name(type(read.module).__name__, style))


def checked_name(name: str) -> str:
    """A name the caller gave (``--name``), if it can name the output's definition."""
    if not isinstance(name, str) or not is_plain_identifier(name):
        raise InputError(f"name {name!r} is not a Python identifier")
    if name in MODULE_NAMES:
        raise InputError(
            f"name {name!r} would hide {name!r}, which the generated code uses; "
            "choose another"
        )
    return name


def default_name(class_name: str, style: Style) -> str:
    """``Net`` for classes, ``net`` (snake_case) for functions."""
    return class_name if style is not Style.FUNCTIONAL else snake_case(class_name)


def execute(source: str, filename: str) -> dict[str, Any]:
    """Execute generated source as its own module; register it for tracebacks."""
    filename = f"{filename} #{next(_counter)}"
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    namespace: dict[str, Any] = {"__name__": "nnconvert_generated"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def instantiate(cls: type, model: nn.Module) -> nn.Module:
    """A new instance of ``cls`` holding ``model``'s weights, in ``model``'s mode."""
    try:
        instance = cls()
    except Exception as error:
        raise CheckError(
            f"the generated class {cls.__name__} does not build: {error}"
        ) from error
    try:
        instance.load_state_dict(model.state_dict(), strict=True)
    except RuntimeError as error:
        message = " ".join(str(error).split())
        raise CheckError(
            f"the original weights do not load strictly: {message}"
        ) from None
    return instance.train(model.training)


__all__ = ["Conversion", "ConversionError", "convert", "default_name", "input_name"]
