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
#: Private ``torch`` functions that generated code calls because torch's own
#: layers call them and no public spelling gives the same bits:
#: ``weight_norm``'s hook computes ``torch._weight_norm(v, g, dim)`` with a
#: fused kernel for ``dim=0``, which ``v * (g / torch.norm_except_dim(v, 2,
#: dim))`` differs from in the last bits (:mod:`.opspecs.weight_norm`).
PRIVATE_TORCH = ("_weight_norm",)


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
    for attribute in PRIVATE_TORCH:
        names[id(getattr(torch, attribute))] = (f"torch.{attribute}", "torch")
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
    """A module-level function that ``from <module> import <name>`` gives back exactly.

    By the shortest public path (:func:`public_import`); never the user's
    own file, which is not importable by its name.
    """
    module_name = getattr(function, "__module__", None)
    if (
        not module_name
        or module_name == "__main__"
        or module_name.startswith("nnconvert")
    ):
        return None
    return public_import(function)


def public_import(obj: Any) -> tuple[str, str] | None:
    """``(name, "from <module> import <name>")`` by the shortest public path giving ``obj``.

    einops' ``Rearrange`` is defined in ``einops.layers.torch``; its
    ``rearrange`` in ``einops.einops`` but exported as ``einops.rearrange``:
    ``from einops import rearrange``, as people write it. None when no
    module on the path (nor the defining one) gives the same object.
    """
    module_name = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None)
    if not module_name or not name or not name.isidentifier():
        return None
    parts = module_name.split(".")
    candidates = [".".join(parts[: i + 1]) for i in range(len(parts))]
    public = [c for c in candidates if not any(p.startswith("_") for p in c.split("."))]
    for candidate in public + [module_name]:
        try:
            module = importlib.import_module(candidate)
        except Exception:
            continue
        if getattr(module, name, None) is obj:
            return name, f"from {candidate} import {name}"
    return None
