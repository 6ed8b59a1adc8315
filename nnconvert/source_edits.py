"""A program's text edited in place: byte spans of :mod:`ast` nodes, edits, imports added.

:mod:`.calls_rewritten` and :mod:`.calls_as_layers` rewrite calls of a
source where they stand and leave every other byte as the user wrote it.
"""

from __future__ import annotations

import ast
from typing import Callable, Collection

from .as_written import names_bound
from .construction_kept import import_place

#: A replacement of the program's bytes ``start:end`` by ``text``.
Edit = tuple[int, int, str]


def line_starts(encoded: bytes) -> list[int]:
    """The byte offset each line starts at, and one past the end."""
    starts = [0]
    for index, byte in enumerate(encoded):
        if byte == 10:  # "\n"
            starts.append(index + 1)
    starts.append(len(encoded) + 1)
    return starts


def node_span(node: ast.AST, starts: list[int]) -> tuple[int, int]:
    """A node's bytes in the program (``ast`` columns count UTF-8 bytes)."""
    start = starts[node.lineno - 1] + node.col_offset
    end = starts[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
    return start, end


def inside(node: ast.AST, other: ast.AST) -> bool:
    """Whether ``node`` lies within ``other``."""
    return any(n is node for n in ast.walk(other)) and node is not other


def applied(encoded: bytes, edits: list[Edit]) -> bytes:
    """``encoded`` with the edits made, from the last one up; they must not overlap."""
    ordered = sorted(edits, key=lambda e: (e[0], e[1]))
    for (_, end, _), (start, _, _) in zip(ordered, ordered[1:]):
        if start < end:
            raise ValueError("overlapping edits")
    for start, end, text in reversed(ordered):
        encoded = encoded[:start] + text.encode() + encoded[end:]
    return encoded


def with_imports(text: str, imports: set[str]) -> str:
    """``text`` with each of ``imports`` binding a name it does not bind yet, in place among its own."""
    tree = ast.parse(text)
    bound = {n for s in tree.body for n in names_bound(s)}
    source_imports = [
        s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))
    ]
    lines = text.split("\n")
    added: dict[int, list[str]] = {}
    for line in sorted(imports):
        statement = ast.parse(line).body[0]
        assert isinstance(statement, (ast.Import, ast.ImportFrom))
        if set(names_bound(statement)) - bound:
            added.setdefault(import_place(statement, source_imports), []).append(line)
            bound |= set(names_bound(statement))
    for place in sorted(added, reverse=True):
        lines[place - 1 : place - 1] = added[place]
    return "\n".join(lines)


# --- the class's text ---


def outermost_call_edits(
    calls: Collection[ast.Call],
    rewrite: Callable[[ast.Call], str],
    starts: list[int],
) -> list[Edit]:
    """An edit writing each of ``calls`` that no other holds as ``rewrite`` writes it.

    ``rewrite`` writes the calls inside it (:func:`text_with_calls`).
    """
    return [
        (*node_span(call, starts), rewrite(call))
        for call in calls
        if not any(inside(call, other) for other in calls if other is not call)
    ]


def text_with_calls(
    node: ast.expr,
    calls: Collection[ast.Call],
    rewrite: Callable[[ast.Call], str],
    encoded: bytes,
    starts: list[int],
) -> str:
    """``node``'s text, each outermost of ``calls`` in it (``node`` itself too) as ``rewrite`` writes it.

    An argument given as ``(y := ...)`` keeps its parentheses.
    """
    start, end = node_span(node, starts)
    inner = [c for c in calls if inside(c, node) or c is node]
    outermost = [c for c in inner if not any(inside(c, o) for o in inner if o is not c)]
    text = encoded[start:end]
    for call in sorted(outermost, key=lambda c: node_span(c, starts), reverse=True):
        call_start, call_end = node_span(call, starts)
        replacement = rewrite(call).encode()
        text = text[: call_start - start] + replacement + text[call_end - start :]
    written = text.decode()
    return f"({written})" if isinstance(node, ast.NamedExpr) else written


__all__ = [
    "Edit",
    "applied",
    "inside",
    "line_starts",
    "node_span",
    "outermost_call_edits",
    "text_with_calls",
    "with_imports",
]
