"""Config objects a model is built from, written as the user builds them.

nanoGPT builds ``GPT(GPTConfig(n_layer=2, n_embd=16, ...))`` and each block
reads ``config.n_embd``; llama2.c passes a ``ModelArgs`` dataclass the same
way, minGPT a namespace. A block's source keeps those reads
(:mod:`.source_arguments`) when the block can take the config itself: its
parent passes it on (``Block(config)``) and the root builds it, as the
first line of its ``__init__``::

    config = GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=16)

A root given its config keeps it as a parameter where it writes every
use of it through the name (:func:`~.source_arguments.held_arguments`),
the config it was built with as the default, written as a mutable
default is (torchvision's ``norm_layer=None``), and the attributes the
source sets to it (:class:`DefaultedConfig`)::

    def __init__(self, config=None):
        super().__init__()
        if config is None:
            config = GPTConfig(block_size=16, n_layer=2, n_head=2, n_embd=16)
        self.config = config

So the output needs the config's class: a dataclass is copied as its
source writes it (with the ``dataclasses`` and ``typing`` names it reads
imported), a ``types.SimpleNamespace`` is imported. A value is a config
only when every field is a literal and its class can stand alone in the
output; anything else stays what it was (its reads printed as numbers).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import inspect
import sys
import textwrap
import typing
from types import SimpleNamespace
from typing import Any, Iterable

from torch import nn

from ..as_written import comments_above_long_lines
from ..config_locals import defaulted_configs
from ..init_arguments import init_arguments, is_literal, recorded_call
from ..source_text import function_tree
from .imports import Imports, Printed

#: The import line of each name a copied dataclass may read besides builtins.
_DATACLASS_NAMES = {
    dataclasses.dataclass: "from dataclasses import dataclass",
    dataclasses.field: "from dataclasses import field",
}


def is_config(value: Any) -> bool:
    """A dataclass instance or namespace of literals whose class the output can write."""
    if isinstance(value, SimpleNamespace):
        return all(
            name.isidentifier() and is_literal(v) for name, v in vars(value).items()
        )
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return False
    if type(value).__module__.split(".")[0] == __name__.split(".")[0]:
        return False  # nnconvert's own (a constructor tree's Hole)
    if not all(is_literal(getattr(value, f.name)) for f in _init_fields(value)):
        return False
    return _definition(type(value)) is not None


def given_arguments(module: nn.Module) -> dict[str, Any]:
    """``module``'s literal constructor arguments and the config objects it was given.

    A parameter given None that ``__init__`` then sets to a config (the
    output's ``if config is None: config = GPTConfig(...)``) was given
    that config: read back, the root names it as before.
    """
    recorded = recorded_call(module)
    configs = {
        name: value for name, value in (recorded or {}).items() if is_config(value)
    }
    if recorded is not None:
        configs |= {
            name: value
            for name, value in _defaulted(type(module)).items()
            if recorded.get(name) is None and is_config(value)
        }
    return {**init_arguments(module), **configs}


@functools.cache
def _defaulted(cls: type) -> dict[str, Any]:
    """``cls.__init__``'s parameters defaulting to a config it builds (:func:`defaulted_configs`)."""
    function = function_tree(cls.__dict__.get("__init__"))
    if not isinstance(function, ast.FunctionDef):
        return {}
    return defaulted_configs(function, cls)


def config_text(value: Any) -> str:
    """``GPTConfig(n_layer=2, ...)``: the fields that differ from the class's defaults.

    A namespace writes every field (it has no defaults).
    """
    from .values import literal  # which writes configs with this function

    if isinstance(value, SimpleNamespace):
        fields = vars(value).items()
        return f"SimpleNamespace({', '.join(f'{k}={literal(v)}' for k, v in fields)})"
    given = []
    for f in _init_fields(value):
        item = getattr(value, f.name)
        if f.default is dataclasses.MISSING or not _same(f.default, item):
            given.append(f"{f.name}={literal(item)}")
    return f"{type(value).__name__}({', '.join(given)})"


class DefaultedConfig(str):
    """A parameter's default config (``GPTConfig(n_layer=2)``), built when it is None.

    ``attributes``: those the source sets to the parameter (``self.config =
    config``), set so after it.
    """

    attributes: tuple[str, ...]

    def __new__(cls, text: str, attributes: Iterable[str] = ()) -> DefaultedConfig:
        made = super().__new__(cls, text)
        made.attributes = tuple(attributes)
        return made


def local_lines(name: str, text: str) -> list[str]:
    """``__init__``'s lines computing the local ``name`` from ``text``.

    A :class:`DefaultedConfig` is built only where the caller gave none.
    """
    if not isinstance(text, DefaultedConfig):
        return [f"{name} = {text}"]
    return [
        f"if {name} is None:",
        f"    {name} = {text}",
        *(f"self.{attribute} = {name}" for attribute in text.attributes),
    ]


def config_definitions(values: Iterable[Any]) -> tuple[list[Printed], Imports]:
    """What the output needs for ``values``: each dataclass's definition, once; the imports."""
    printed: list[Printed] = []
    seen: set[type] = set()
    imports = Imports()
    for value in values:
        cls = type(value)
        if cls in seen:
            continue
        seen.add(cls)
        if isinstance(value, SimpleNamespace):
            imports.use("from types import SimpleNamespace")
            continue
        text, lines = _definition(cls)
        printed.append(Printed(text, Imports(lines)))
    return printed, imports


def _init_fields(value: Any) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(value) if f.init]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


@functools.cache
def _definition(cls: type) -> tuple[str, tuple[str, ...]] | None:
    """The class's source and the import lines it needs, or None when it cannot stand alone.

    It may read builtins, ``dataclass`` and ``field``, and ``typing``'s names
    (``Optional[int]``); a method, a base class or a name of its own file
    keeps it out.
    """
    try:
        text = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return None
    tree = ast.parse(text).body[0]
    if not isinstance(tree, ast.ClassDef) or tree.bases or tree.keywords:
        return None
    if any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) for s in tree.body):
        return None
    found = vars(sys.modules[cls.__module__])  # inspect found the class through it
    imports = []
    for name in sorted(_read_names(tree)):
        if name not in found and hasattr(builtins, name):
            continue
        value = found.get(name)
        line = _DATACLASS_NAMES.get(value)
        if line is None and getattr(typing, name, None) is value and value is not None:
            line = f"from typing import {name}"
        if line is None:
            return None
        imports.append(line)
    text = "\n".join(comments_above_long_lines(text.split("\n"), 0))
    return text, tuple(imports)


def _read_names(tree: ast.ClassDef) -> set[str]:
    """The names the class reads: decorators, annotations and default values."""
    nodes: list[ast.AST] = list(tree.decorator_list)
    for statement in tree.body:
        if isinstance(statement, ast.AnnAssign):
            nodes.append(statement.annotation)
            if statement.value is not None:
                nodes.append(statement.value)
        elif isinstance(statement, ast.Assign):
            nodes.append(statement.value)
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


__all__ = [
    "DefaultedConfig",
    "config_definitions",
    "config_text",
    "given_arguments",
    "is_config",
    "local_lines",
]
