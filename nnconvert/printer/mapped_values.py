"""A tuple the user's source made with ``map(lambda t: ..., xs)``, written so again.

lucidrains' attention blocks split heads with::

    q, k, v = map(lambda t: rearrange(t, "b n (h d) -> b h n d", h=self.heads), qkv)

The trace runs the lambda once per element: three calls that differ only
in the element they read. Printed one by one they are a tuple of three
near-copies (21 lines in Swin's window attention); where the user's
statement is such a ``map``, the printer writes it as one again, over the
elements the calls read::

    q, k, v = map(lambda t: rearrange(t, "b n (h d) -> b h n d", h=heads), (q, k, v))

A generator expression over the elements (Perceiver's ``q, k, v =
(rearrange(t, ...) for t in (q, k, v))``) is written as one the same way.

Only when every value is the same expression but for one name, each its
own element, and the parameter is no other name the values read:
substituting each element back into the body gives each value's text, so
the line computes what the tuple did, in the same order.
"""

from __future__ import annotations

import ast

from torch import fx

from ..source_map import node_frames
from ..source_text import simple_statement_at


def mapped_values(nodes: list[fx.Node], values: list[str]) -> str | None:
    """``map(lambda t: <body>, (a, b, c))`` (or the user's generator) computing
    ``values`` in order, or None."""
    written = _mapping(nodes[0])
    if written is None:
        return None
    parameter, form = written
    try:
        trees = [ast.parse(v, mode="eval").body for v in values]
    except SyntaxError:
        return None
    if any(parameter in _names(tree) for tree in trees):
        return None  # the lambda would hide a variable a value reads
    for element in dict.fromkeys(_names(trees[0])):
        body = ast.dump(_replaced(trees[0], element, parameter))
        elements = [element]
        for tree in trees[1:]:
            found = next(
                (
                    name
                    for name in dict.fromkeys(_names(tree))
                    if ast.dump(_replaced(tree, name, parameter)) == body
                ),
                None,
            )
            if found is None:
                break
            elements.append(found)
        else:
            body = ast.unparse(_replaced(trees[0], element, parameter))
            return form.format(p=parameter, body=body, items=", ".join(elements))
    return None


def _mapping(node: fx.Node) -> tuple[str, str] | None:
    """How ``node``'s statement maps one name over elements: (the name, the text's form).

    None unless the statement assigns a tuple of names from a ``map`` of a
    one-parameter lambda, or from a generator expression with one ``for``
    over a name and no ``if``.
    """
    frames = node_frames(node)
    statement = simple_statement_at(frames[-1]) if frames else None
    if not (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Tuple)
    ):
        return None
    value = statement.value
    if isinstance(value, ast.GeneratorExp):
        if len(value.generators) != 1:
            return None
        (loop,) = value.generators
        if loop.ifs or loop.is_async or not isinstance(loop.target, ast.Name):
            return None
        return loop.target.id, "({body} for {p} in ({items}))"
    if not (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "map"
        and len(value.args) == 2
        and not value.keywords
        and isinstance(value.args[0], ast.Lambda)
    ):
        return None
    arguments = value.args[0].args
    if (
        len(arguments.args) != 1
        or arguments.posonlyargs
        or arguments.kwonlyargs
        or arguments.vararg
        or arguments.kwarg
    ):
        return None
    return arguments.args[0].arg, "map(lambda {p}: {body}, ({items}))"


def _names(tree: ast.AST) -> list[str]:
    """The names ``tree`` reads, functions' too, breadth first (``ast.walk``'s order).

    Candidates for the one name in which the values differ; trying a
    function's name first costs a comparison and finds nothing unless the
    values differ in that name alone.
    """
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]


def _replaced(tree: ast.expr, name: str, parameter: str) -> ast.expr:
    """``tree`` with every read of ``name`` read as ``parameter``."""

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            return ast.Name(parameter, node.ctx) if node.id == name else node

    return Rename().visit(ast.parse(ast.unparse(tree), mode="eval").body)
