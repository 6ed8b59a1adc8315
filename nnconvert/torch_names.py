"""How generated code spells a torch callable: ``F.relu``, ``torch.cat``, ``math.sqrt``.

One table for the whole package, so the printer and the op-spec table agree.
"""

from __future__ import annotations

import builtins
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

    ``import`` is the name the generated module must import ("" for builtins).
    """
    return _table().get(id(function))
