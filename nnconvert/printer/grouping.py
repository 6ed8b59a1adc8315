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
    if _bound(node):
        return False
    key = source_statement(node)
    return key is not None and key == source_statement(user)


def written_returned(node: fx.Node) -> bool:
    """The source returned ``node``'s value as it made it: ``return self.fc(x)``.

    The function that made it (its innermost frame) returns it as made and
    bound no name to it: the output says ``return <expression>`` too, not
    ``x = ...; return x``. Its callers do not count: a helper method's body
    reads the same whether ``forward`` returns its value or binds it, and a
    helper inlined into ``forward`` whose value ``forward`` returns is
    returned as the helper wrote it.
    """
    if _bound(node) or source_statement(node) is None:
        return False
    frame = node_frames(node)[-1]
    start, _ = function_text(frame).statement_span(frame.line)
    return bool(_RETURN.match(linecache.getline(frame.file, start)))


def _bound(node: fx.Node) -> bool:
    """The function that made ``node`` (its innermost frame) bound a name to it.

    Not its callers: a helper method's ``return torch.sigmoid(...)`` is the
    same statement whether ``forward`` returns it or binds it (``z =
    self.decode(h)``), as it is once read back from an output that binds it.
    """
    names = node.meta.get(
        NAMES, ()
    )  # per frame of SOURCE; a method's then its callers'
    innermost = len(node_frames(node)) - 1
    return 0 <= innermost < len(names) and bool(names[innermost])
