"""A helper method that never reads ``self`` is written as the user wrote it, in every style.

LeNet's ``num_flat_features`` multiplies the sizes of ``x.size()[1:]`` in a
loop. Traced, the loop is gone: the sizes were numbers, so the method
becomes ``return 400`` behind a guard on the shape. Yet a method that
reads nothing of ``self`` is a plain function of its arguments: its own
text computes the same in module, mixed and functional style (where its
function takes ``params`` first and leaves it unread), for every shape its
source accepts, loop and comments included.

So such a method's body is its source, when it can stand alone in the
output: it reads no name of its file but builtins and the modules the
output imports under the same names (``torch``, ``nn``, ``F``, ``math``),
returns one value (a caller unpacking a tuple was printed from the
trace's outputs), and the printed signature has the user's parameters, in
the user's order. Else its body is printed from the trace, as before. The
equivalence check covers it as any output.
"""

from __future__ import annotations

import ast
import builtins
import math
import textwrap
from typing import Any, Callable

import black
import torch
import torch.nn.functional as F
from torch import fx, nn

from ..as_written import names_read
from ..source_text import docstring_node, function_definition
from .body import Body
from .imports import Imports

#: The modules the output imports, under the names it imports them by.
_IMPORTED = {"torch": torch, "nn": nn, "F": F, "math": math}


def written_body(
    function: Callable | None, graph: fx.Graph, printed: Body
) -> Body | None:
    """``printed`` with the user's own lines, if the method can keep them (module docstring)."""
    found = function_definition(function) if function is not None else None
    if found is None:
        return None
    source, definition = found
    parameters = [a.arg for a in definition.args.args]
    if (
        not parameters
        or definition.args.posonlyargs
        or definition.args.vararg
        or definition.args.kwarg
        or definition.args.kwonlyargs
        or definition.decorator_list
        or _plain_names(printed.parameters) != parameters[1:]
        or not _returns_one_value(graph)
    ):
        return None
    # the body's own reads: the signature (annotations, defaults) is printed anew
    bare = ast.arguments(
        posonlyargs=[],
        args=[ast.arg(arg=name) for name in parameters],
        vararg=None,
        kwonlyargs=[],
        kw_defaults=[],
        kwarg=None,
        defaults=[],
    )
    free = names_read(ast.Lambda(args=bare, body=definition.body))
    if not _importable(free, function.__globals__):
        return None
    inside = [n for statement in definition.body for n in ast.walk(statement)]
    if any(
        isinstance(n, (ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal))
        or isinstance(n, ast.Name)
        and n.id in (parameters[0], "super")
        for n in inside
    ):
        return None  # reads self, or is more than a function of its arguments
    lines = _body_lines(source.lines, definition)
    if lines is None:
        return None
    imports = Imports(name for name in free if name in _IMPORTED)
    return Body(printed.parameters, lines, imports)


def _plain_names(parameters: list[str]) -> list[str]:
    """``["x: Tensor", "dim=1"]`` -> ``["x", "dim"]``: the names a signature takes."""
    return [p.split(":")[0].split("=")[0].strip() for p in parameters]


def _returns_one_value(graph: fx.Graph) -> bool:
    output = next(n for n in graph.nodes if n.op == "output")
    return not isinstance(output.args[0], (tuple, list, dict))


def _importable(free: set[str], module_globals: dict[str, Any]) -> bool:
    """Every name the body reads is a builtin, or a module the output imports by that name."""
    for name in free:
        if name in module_globals:
            if _IMPORTED.get(name) is not module_globals[name]:
                return False
        elif not hasattr(builtins, name):
            return False
    return True


def _body_lines(
    lines: tuple[str, ...], definition: ast.FunctionDef
) -> list[str] | None:
    """The function's lines after its header and docstring, dedented to depth zero.

    None when the body shares the header's line (``def f(self, x): return x``).
    """
    docstring = docstring_node(definition)
    if docstring is not None:
        start = docstring.end_lineno + 1
    else:
        start = definition.body[0].lineno
        while start - 1 > definition.lineno and (
            lines[start - 2].lstrip().startswith("#") or not lines[start - 2].strip()
        ):
            start -= 1  # comments between the header and the first statement
        if start == definition.lineno:
            return None
    while start <= definition.end_lineno and not lines[start - 1].strip():
        start += 1
    if start > definition.end_lineno:
        return None  # a docstring only
    text = textwrap.dedent("\n".join(lines[start - 1 : definition.end_lineno]))
    return _black_lines(text)


def _black_lines(body: str) -> list[str] | None:
    """``body`` as black lays it out (the printer formats only lines it did not write so).

    Formatted inside a function, so that it is laid out at the depth it
    goes to; None if black cannot read it.
    """
    wrapped = "def _():\n" + textwrap.indent(body, "    ") + "\n"
    try:
        formatted = black.format_str(wrapped, mode=black.Mode())
    except Exception:
        return None
    return textwrap.dedent(formatted.split("\n", 1)[1]).rstrip("\n").splitlines()


__all__ = ["written_body"]
