"""Which nodes the user's source wrote as one statement.

``out = F.relu(self.bn1(self.conv1(x)))`` makes three nodes on one line;
the output should print them as one statement again, in every style
(SPEC invariant 8), instead of one statement per node. The source map
(:mod:`nnconvert.source_map`) gives each node the user's frames; the
statement holding a frame's line is read from the function's text
(:meth:`~nnconvert.source_text.FunctionText.statement_span`), so that a
call written over several lines is still one statement.

Every style prints the grouping, so an output read back through its own
source map groups the same nodes again: converting it once more gives the
same text (SPEC invariant 5).
"""

from __future__ import annotations

import linecache
import re

from torch import fx

from ..source_map import NAMES, node_frames
from ..source_text import function_text

_RETURN = re.compile(r"\s*return\b")

#: One statement of the user's: per frame, (file, function's first line, statement span).
StatementKey = tuple[tuple[str, int, int, int], ...]


def source_statement(node: fx.Node) -> StatementKey | None:
    """The user's statement ``node`` was made by, in every frame (None: no source)."""
    frames = node_frames(node)
    if not frames:
        return None
    key = []
    for frame in frames:
        text = function_text(frame)
        if text is None:
            return None
        key.append((frame.file, frame.first_line, *text.statement_span(frame.line)))
    return tuple(key)


def written_inside(node: fx.Node, user: fx.Node) -> bool:
    """The source wrote ``node`` inside ``user``'s expression, in one statement.

    Both come from the same statement of the same frames, and the user's
    code never held ``node``'s value in a variable: a value bound to a name
    (``x = block(x)`` in a loop body, made by that same line on the next
    pass) was a statement's result, not a part of the next one.
    """
    if any(node.meta.get(NAMES, ())):
        return False
    key = source_statement(node)
    return key is not None and key == source_statement(user)


def written_returned(node: fx.Node) -> bool:
    """The source returned ``node``'s value as it made it: ``return self.fc(x)``.

    In every frame (a helper method inlined into ``forward`` included) the
    statement is a ``return``, and no name was bound to the value: the
    output says ``return <expression>`` too, not ``x = ...; return x``.
    """
    if any(node.meta.get(NAMES, ())) or source_statement(node) is None:
        return False
    for frame in node_frames(node):
        start, _ = function_text(frame).statement_span(frame.line)
        if not _RETURN.match(linecache.getline(frame.file, start)):
            return False
    return True
