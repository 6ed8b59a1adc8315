"""The user's statements with black's spacing, before the printer writes them.

The printer writes lines black would write (:func:`~.program.format_source`
sends black only the lines it may lay out otherwise), but a statement taken
from the user's source keeps the user's spacing
(``torch.exp(- torch.arange(0, d, 2)* math.log(10000) / d)``), which black
would change: an output black does not leave alone, and a second conversion
that differs from the first. :func:`black_spaced` gives such a statement
black's spacing and quotes without choosing its line breaks (the line is
laid out at its depth later, as any other).
"""

from __future__ import annotations

import functools
import textwrap

import black

#: wide enough that black joins what it can and splits nothing
_UNSPLIT = black.Mode(line_length=100_000)
_HEADER = "def _nnconvert_spaced_():\n"


@functools.lru_cache(maxsize=4096)
def black_spaced(statement: str) -> str:
    """``statement`` (one or more lines, comments too) spaced and quoted as black does.

    As it was when black cannot parse it alone.
    """
    if not statement.strip():
        return statement
    body = textwrap.indent(statement, "    ")
    try:
        formatted = black.format_str(_HEADER + body + "\n", mode=_UNSPLIT)
    except black.InvalidInput:
        return statement
    if not formatted.startswith(_HEADER):
        return statement
    return textwrap.dedent(formatted[len(_HEADER) :]).strip("\n")


__all__ = ["black_spaced"]
