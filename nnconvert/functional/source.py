"""Reading a functional file: its source executed with the helper rows' forms made traceable.

BatchNorm's ``if training: params[K] += 1`` is a Python branch: fx would
record it in one mode only. :func:`rewrite_source` turns exactly the forms
that the helper rows of :mod:`nnconvert.opspecs.helpers` print (in functions
whose first parameter is ``params``) into calls of those helpers --
``count_batch(params[K], training)``, ``cumulative_momentum(params[K],
training)`` -- which mean the same and which fx records as one call each, so
the layer-lifting pass can rebuild ``nn.BatchNorm2d`` from them.

The rewritten code reaches the helpers as attributes of the helper-row module
(:data:`HELPER`), whose globals fx's ``wrap`` patches while tracing, so they
stay opaque.
"""

from __future__ import annotations

import ast
import copy
import itertools
import linecache
import re
from typing import Any

from ..opspecs import helpers
from ..tensor_builds import constant_names

#: The name rewritten code reaches the helper-row module by.
HELPER = "__nnconvert_functional__"

_counter = itertools.count()


def rewrite_source(source: str | bytes, filename: str) -> tuple[ast.Module, bool]:
    """Parse ``source``; what a helper row's form matches becomes a call of the helper.

    Returns the tree and whether anything was rewritten. Raises SyntaxError.
    """
    tree = ast.parse(source, filename)
    rewriter = _HelperRewriter(_defined_helpers(tree), constant_names(tree))
    tree = ast.fix_missing_locations(rewriter.visit(tree))
    return tree, rewriter.changed


def _defined_helpers(tree: ast.Module) -> dict[str, str]:
    """Helpers the file defines exactly as a row does (``def lstm``): calls go to the row's.

    By the name the file calls it -> the name the helper-row module holds
    it by: one name may be defined as either of two rows (``lstm`` over a
    list of weights, as files were written before, or over a dict). A row
    defines it whole, trimmed to the options the file's calls pass
    (``Helper.trimmed``), or as an earlier version printed it.
    """
    defined = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found = _DEFINITIONS.get(ast.dump(node)) or _trimmed_helper(node)
            if found is not None:
                defined[node.name] = found
    return defined


def _trimmed_helper(node: ast.FunctionDef) -> str | None:
    """The row whose definition trimmed to ``node``'s parameters is ``node`` (``Helper.trimmed``).

    Trimming drops parameters, so the parameters a definition keeps say
    which trimming wrote it: that one is printed again and compared.
    """
    parameters = [a.arg for a in node.args.args]
    for helper in _TRIMMED.get(node.name, ()):
        if not set(parameters) <= set(helper.parameters):
            continue
        try:
            text = helper.definition_for(parameters)
        except ValueError:  # no trimming keeps exactly these parameters
            continue
        if _code(ast.parse(text).body[0]) == _code(node):
            return helper.global_name
    return None


def _code(node: ast.FunctionDef) -> str:
    """``node`` as ``ast.dump`` gives it, without its docstring.

    The docstring is prose: a user may edit it, and files written before
    trimming took the notes on dropped options out of it (``nested``) are
    the same code.
    """
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    bare = copy.copy(node)
    bare.body = body
    return ast.dump(bare)


def exec_source(source: str | bytes, filename: str, namespace: dict[str, Any]) -> None:
    """Execute ``source`` in ``namespace`` with :func:`rewrite_source` applied."""
    tree, changed = rewrite_source(source, filename)
    if changed:
        namespace[HELPER] = helpers
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


class _HelperRewriter(ast.NodeTransformer):
    """Each helper row's form, matched in source, -> a call of the helper (innermost first).

    Only inside functions whose first parameter is ``params`` (the weight
    dict), and only in exactly the row's shape (``Helper.match``):
    ``if training: params[K] += 1`` (one statement, no ``else``, the literal
    ``1``) -> ``count_batch(params[K], training)``.
    """

    def __init__(
        self,
        defined: dict[str, str] | None = None,
        constants: frozenset[str] = frozenset(),
    ) -> None:
        self.changed = False
        self._params: list[str | None] = []
        self._defined = defined or {}
        self._constants = constants

    def visit_Name(self, node: ast.Name) -> ast.AST:
        """A call of a helper the file defines as its row does (``lstm(x, ...)``): the row's.

        A built constant read in a function over ``params``
        (``RELATIVE_POSITION_INDEX``): ``built_constant(RELATIVE_POSITION_INDEX)``,
        which the tracer records as the constant's build.
        """
        if not isinstance(node.ctx, ast.Load):
            return node
        if node.id in self._constants and self._params and self._params[-1]:
            self.changed = True
            callee = ast.Attribute(
                ast.Name(HELPER, ast.Load()), "built_constant", ast.Load()
            )
            return ast.copy_location(ast.Call(callee, [node], []), node)
        if node.id not in self._defined:
            return node
        self.changed = True
        helper = ast.Attribute(
            ast.Name(HELPER, ast.Load()), self._defined[node.id], ast.Load()
        )
        return ast.copy_location(helper, node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        arguments = node.args.posonlyargs + node.args.args
        first = arguments[0].arg if arguments else None
        self._params.append(first if first == "params" else None)
        self.generic_visit(node)
        self._params.pop()
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def generic_visit(self, node: ast.AST) -> ast.AST:
        node = super().generic_visit(node)
        params = self._params[-1] if self._params else None
        if params is None:
            return node
        for helper in _RECOGNISED:
            arguments = helper.match(node, params)
            if arguments is None:
                continue
            self.changed = True
            callee = ast.Attribute(
                ast.Name(HELPER, ast.Load()), helper.global_name, ast.Load()
            )
            call: ast.AST = ast.Call(callee, arguments, [])
            if helper.is_statement:
                call = ast.Expr(call)
            return ast.copy_location(call, node)
        return node


#: Printed name -> the rows whose definition a file may hold trimmed.
_TRIMMED: dict[str, list[helpers.Helper]] = {}
for _helper in helpers.HELPERS:
    if _helper.trimmed is not None and _helper.recognised_by_definition:
        _TRIMMED.setdefault(_helper.name, []).append(_helper)

#: The rows functional input recognises in source.
_RECOGNISED = tuple(helper for helper in helpers.HELPERS if helper.slots is not None)
#: A definition's AST dump -> the name the helper-row module holds its
#: function by, for rows recognised by their definition.
_DEFINITIONS = {
    ast.dump(ast.parse(helper.definition).body[0]): helper.global_name
    for helper in helpers.HELPERS
    if helper.recognised_by_definition
}
#: Definitions earlier versions printed, read as today's functions of the
#: same rows (:func:`nnconvert.opspecs.helpers.earlier_definitions`).
_DEFINITIONS |= helpers.earlier_definitions()


__all__ = ["HELPER", "exec_source", "load_source", "rewrite_source"]
