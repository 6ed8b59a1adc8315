"""How generated code spells a torch callable: ``F.relu``, ``torch.cat``, ``math.sqrt``.

One table for the whole package, so the printer and the op-spec table agree.
"""

from __future__ import annotations

import builtins
import importlib
import math
from functools import lru_cache
from typing import Any

import torch
from torch.nn import functional as F

#: Namespaces searched in order; a later one wins (``F.conv2d`` is ``torch.conv2d``).
NAMESPACES = (("math", math), ("torch", torch), ("F", F))
BUILTINS = ("len", "int", "float", "abs", "min", "max", "round", "sum")


@lru_cache(maxsize=None)
def _table() -> dict[int, tuple[str, str]]:
    names: dict[int, tuple[str, str]] = {}
    for prefix, namespace in NAMESPACES:
        for attribute in dir(namespace):
            value = getattr(namespace, attribute, None)
            if (
                attribute.startswith("_")
                or not callable(value)
                or isinstance(value, type)
            ):
                continue
            names[id(value)] = (f"{prefix}.{attribute}", prefix)
    for attribute in BUILTINS:
        names[id(getattr(builtins, attribute))] = (attribute, "")
    return names


def qualified_name(function: Any) -> tuple[str, str] | None:
    """``(text, import)`` for ``function`` (``("F.relu", "F")``), or None if unknown.

    ``import`` is the name the generated module must import ("" for builtins),
    or a whole import statement for a function of another installed library
    (``from torchvision.ops.stochastic_depth import stochastic_depth``).
    """
    return _table().get(id(function)) or _importable(function)


def _importable(function: Any) -> tuple[str, str] | None:
    """A module-level function that ``from <module> import <name>`` gives back exactly."""
    module_name = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", None)
    if not module_name or not name or not name.isidentifier():
        return None
    if module_name == "__main__" or module_name.startswith("nnconvert"):
        return None  # the user's own file is not importable by that name
    try:
        module = importlib.import_module(module_name)
    except Exception:
        return None
    if getattr(module, name, None) is not function:
        return None
    return name, f"from {module_name} import {name}"
