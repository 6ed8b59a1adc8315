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


def defaulted_configs(function: ast.FunctionDef, cls: type) -> dict[str, Any]:
    """Each parameter defaulting to None that ``__init__`` first sets to a config when so.

    The output's root writes the config it was built with as the default
    of its parameter (:mod:`nnconvert.printer.config_objects`)::

        def __init__(self, config=None):
            if config is None:
                config = GPTConfig(n_layer=2)

    Read back, that parameter is a config the root is given: the built
    config, by parameter name.
    """
    arguments = function.args
    given = [*arguments.posonlyargs, *arguments.args]
    defaults = dict(zip(reversed(given), reversed(arguments.defaults)))
    defaults |= dict(zip(arguments.kwonlyargs, arguments.kw_defaults))
    nones = {a.arg for a, d in defaults.items() if _is_none(d)}
    found: dict[str, Any] = {}
    for statement in function.body:
        name = none_test(statement)
        if name not in nones or len(statement.body) != 1:
            continue
        inner = ast.FunctionDef(
            "f", ast.arguments([], [], None, [], [], None, []), statement.body, []
        )
        built = config_locals(inner, cls)  # the one statement, read as a body
        if name in built:
            found[name] = built[name]
    return found


def none_test(statement: ast.stmt) -> str | None:
    """``p`` of ``if p is None:`` with no ``else`` (None: another statement)."""
    if not isinstance(statement, ast.If) or statement.orelse:
        return None
    test = statement.test
    if none_comparison(test) is True and isinstance(test.left, ast.Name):
        return test.left.id
    return None


def none_comparison(test: ast.expr) -> bool | None:
    """``x is None`` (True), ``x is not None`` (False); None for any other test."""
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], (ast.Is, ast.IsNot))
        and _is_none(test.comparators[0])
    ):
        return isinstance(test.ops[0], ast.Is)
    return None


def _is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


__all__ = ["config_locals", "defaulted_configs", "none_comparison", "none_test"]
