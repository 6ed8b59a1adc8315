"""Reading a functional file: its source executed with BatchNorm's counters made traceable.

BatchNorm's ``if training: params[K] += 1`` is a Python branch: fx would
record it in one mode only. :func:`rewrite_source` turns exactly that
statement shape (in functions whose first parameter is ``params``) into
``count_batch(params[K], training)``, which means the same and which fx
records as one call (:func:`torch.fx.wrap`), so the layer-lifting pass can
rebuild ``nn.BatchNorm2d`` from it. Likewise ``momentum=None``'s
``1.0 / float(params[K]) if training else 0.0`` becomes
``cumulative_momentum(params[K], training)``.

The rewritten code reaches both helpers as attributes of this module
(:data:`HELPER`), so fx's ``wrap`` below, which patches this module's
globals while tracing, keeps them opaque.
"""

from __future__ import annotations

import ast
import itertools
import linecache
import re
import sys
from typing import Any

import torch

from ..opspecs.spec import (  # noqa: F401  (wrapped below, called by name)
    count_batch,
    cumulative_momentum,
)

torch.fx.wrap("count_batch")  # traced as one call; the rewritten code calls it here
torch.fx.wrap("cumulative_momentum")

#: The name rewritten code reaches this module by.
HELPER = "__nnconvert_functional__"

_counter = itertools.count()


def rewrite_source(source: str | bytes, filename: str) -> tuple[ast.Module, bool]:
    """Parse ``source``; BatchNorm's batch counters become ``count_batch`` calls.

    And its cumulative momentum a ``cumulative_momentum`` call (module docstring).

    Returns the tree and whether anything was rewritten. Raises SyntaxError.
    """
    tree = ast.parse(source, filename)
    rewriter = _CounterRewriter()
    tree = ast.fix_missing_locations(rewriter.visit(tree))
    return tree, rewriter.changed


def exec_source(source: str | bytes, filename: str, namespace: dict[str, Any]) -> None:
    """Execute ``source`` in ``namespace`` with :func:`rewrite_source` applied."""
    tree, changed = rewrite_source(source, filename)
    if changed:
        namespace[HELPER] = sys.modules[__name__]
    exec(compile(tree, filename, "exec"), namespace)


def load_source(source: str, name: str = "functional") -> dict[str, Any]:
    """Execute generated functional source as a module of its own, ready to trace."""
    filename = f"<nnconvert functional input: {name} #{next(_counter)}>"
    linecache.cache[filename] = (
        len(source),
        None,
        source.splitlines(keepends=True),
        filename,
    )
    namespace: dict[str, Any] = {"__name__": re.sub(r"\W", "_", name)}
    exec_source(source, filename, namespace)
    return namespace


class _CounterRewriter(ast.NodeTransformer):
    """``if training: params[K] += 1`` -> ``count_batch(params[K], training)``.

    Only that exact shape (one statement, no ``else``, a subscript of the
    function's first parameter ``params``, incremented by the literal 1).
    Also ``1.0 / float(params[K]) if training else 0.0`` ->
    ``cumulative_momentum(params[K], training)``, in exactly that shape (the
    literals may be written ``1`` and ``0``).
    """

    def __init__(self) -> None:
        self.changed = False
        self._params: list[str | None] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        arguments = node.args.posonlyargs + node.args.args
        first = arguments[0].arg if arguments else None
        self._params.append(first if first == "params" else None)
        self.generic_visit(node)
        self._params.pop()
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        params = self._params[-1] if self._params else None
        if params is None or node.orelse or len(node.body) != 1:
            return node
        (statement,) = node.body
        if not (
            isinstance(node.test, ast.Name)
            and isinstance(statement, ast.AugAssign)
            and isinstance(statement.op, ast.Add)
            and isinstance(statement.value, ast.Constant)
            and type(statement.value.value) is int
            and statement.value.value == 1
            and isinstance(statement.target, ast.Subscript)
            and isinstance(statement.target.value, ast.Name)
            and statement.target.value.id == params
        ):
            return node
        self.changed = True
        counter = ast.Subscript(
            statement.target.value, statement.target.slice, ast.Load()
        )
        call = ast.Call(
            ast.Attribute(ast.Name(HELPER, ast.Load()), "count_batch", ast.Load()),
            [counter, ast.Name(node.test.id, ast.Load())],
            [],
        )
        return ast.copy_location(ast.Expr(call), node)

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        params = self._params[-1] if self._params else None
        body = node.body
        if not (
            params is not None
            and isinstance(node.test, ast.Name)
            and _is_number(node.orelse, 0)
            and isinstance(body, ast.BinOp)
            and isinstance(body.op, ast.Div)
            and _is_number(body.left, 1)
            and isinstance(body.right, ast.Call)
            and isinstance(body.right.func, ast.Name)
            and body.right.func.id == "float"
            and len(body.right.args) == 1
            and not body.right.keywords
            and isinstance(body.right.args[0], ast.Subscript)
            and isinstance(body.right.args[0].value, ast.Name)
            and body.right.args[0].value.id == params
        ):
            return node
        self.changed = True
        call = ast.Call(
            ast.Attribute(
                ast.Name(HELPER, ast.Load()), "cumulative_momentum", ast.Load()
            ),
            [body.right.args[0], ast.Name(node.test.id, ast.Load())],
            [],
        )
        return ast.copy_location(call, node)


def _is_number(node: ast.AST, value: int) -> bool:
    """The literal ``value`` (``1`` or ``1.0``; never ``True``)."""
    return (
        isinstance(node, ast.Constant)
        and type(node.value) in (int, float)
        and node.value == value
    )


__all__ = ["HELPER", "exec_source", "load_source", "rewrite_source"]
