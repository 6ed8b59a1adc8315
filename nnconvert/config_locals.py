"""Locals ``__init__`` builds as config objects first thing: ``config = GPTConfig(n_layer=2)``.

An output class whose model was built from a config builds it itself
(:mod:`nnconvert.printer.config_objects`), and reads its fields as the
source did (``config.n_embd``). Read back, that local is what a parameter
was: an object whose literal fields the code reads. Both the source
reader (:mod:`nnconvert.printer.source_arguments`) and the tensor slicer
(:mod:`nnconvert.init_slices`) treat it so.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
from types import SimpleNamespace
from typing import Any

from .source_text import set_once


def config_locals(function: ast.FunctionDef, cls: type) -> dict[str, Any]:
    """Each local ``function`` (``cls.__init__``'s tree) sets once, at its top level, to a config.

    A config: a dataclass or ``SimpleNamespace`` called with literal
    arguments only, built here to know its fields; a parameter's name is
    never one.
    """
    arguments = function.args
    parameters = {
        a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    }
    scope = getattr(cls.__dict__.get("__init__"), "__globals__", {})
    found: dict[str, Any] = {}
    for name, node in set_once(function, loops=True):
        if name in parameters or not isinstance(node, ast.Call):
            continue
        if not isinstance(node.func, ast.Name) or any(
            k.arg is None for k in node.keywords
        ):
            continue
        made = scope.get(node.func.id, getattr(builtins, node.func.id, None))
        if made is not SimpleNamespace and not (
            isinstance(made, type) and dataclasses.is_dataclass(made)
        ):
            continue
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
            found[name] = made(*args, **kwargs)
        except Exception:  # not literals, or the class refuses them
            continue
    return found


__all__ = ["config_locals"]
