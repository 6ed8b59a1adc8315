"""A program's text edited in place: byte spans of :mod:`ast` nodes, edits, imports added.

:mod:`.calls_rewritten` and :mod:`.calls_as_layers` rewrite calls of a
source where they stand and leave every other byte as the user wrote it.
"""

from __future__ import annotations

import ast

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


__all__ = ["Edit", "applied", "inside", "line_starts", "node_span", "with_imports"]
