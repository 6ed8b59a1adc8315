"""Constructor calls that step a number from one to the next, written as one comprehension.

kuangliu's DenseNet builds each dense stage in a loop (``block(in_planes,
growth_rate)``, then ``in_planes += growth_rate``); printed from its
instances, a stage of 24 blocks is 24 lines, ``Bottleneck(96, 12)``,
``Bottleneck(108, 12)``, ... Where three calls or more differ only in
integer literals, each of which steps by one amount from call to call, they
are one comprehension over their index::

    nn.Sequential(*[Bottleneck(96 + 12 * i, 12) for i in range(24)])

The comprehension builds the same calls in the same order (the same draws
from the random number generator). It compares the rendered text token by
token, so a call nested in another (``nn.Sequential(nn.Conv2d(8, 16), ...)``)
steps alike; anything else that differs (a string, a float, another
callee) keeps the calls written one by one.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass
from typing import Sequence

#: Fewest calls worth a comprehension: two read as plainly written out.
_FEWEST = 3


@dataclass(frozen=True)
class Stepped:
    """``item`` written over the index ``variable``, for ``count`` calls."""

    item: str
    variable: str
    count: int

    @property
    def comprehension(self) -> str:
        """``[Bottleneck(24 + 12 * i, 12) for i in range(6)]``."""
        return f"[{self.item} for {self.variable} in range({self.count})]"


def progression(items: Sequence[str]) -> Stepped | None:
    """The items as one over the index ``i`` (or another free name), or None.

    None when the items are fewer than three, do not differ, or differ
    other than by integer literals stepping evenly. Each item is one line
    of source text (a constructor call as rendered).
    """
    if len(items) < _FEWEST or len(set(items)) == 1:
        return None
    tokens = [_tokens(item) for item in items]
    if any(t is None for t in tokens) or len({len(t) for t in tokens}) != 1:
        return None
    first = tokens[0]
    names = {t.string for row in tokens for t in row if t.type == tokenize.NAME}
    variable = next(n for n in ("i", "j", "k", "index") if n not in names)
    stepped: list[tuple[int, int, str]] = []  # columns of the first item, new text
    for position, token in enumerate(first):
        column = [row[position] for row in tokens]
        if all((t.type, t.string) == (token.type, token.string) for t in column):
            continue
        values = [_integer(t) for t in column]
        if any(v is None for v in values):
            return None
        step = values[1] - values[0]
        if any(b - a != step for a, b in zip(values, values[1:])):
            return None
        text = _stepped(values[0], step, variable)
        if " " in text and _binds(first, position):
            text = f"({text})"
        stepped.append((token.start[1], token.end[1], text))
    item = items[0]
    for begin, end, text in reversed(stepped):
        item = item[:begin] + text + item[end:]
    return Stepped(item, variable, len(items))


def _tokens(text: str) -> list[tokenize.TokenInfo] | None:
    """The tokens of one line of code, layout left out; None if it is not one line."""
    try:
        found = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    skipped = (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT)
    kept = [t for t in found if t.type not in skipped]
    return kept if all(t.start[0] == 1 for t in kept) else None


def _integer(token: tokenize.TokenInfo) -> int | None:
    if token.type != tokenize.NUMBER:
        return None
    try:
        return int(token.string)
    except ValueError:  # a float, a complex number
        return None


def _binds(tokens: list[tokenize.TokenInfo], position: int) -> bool:
    """Whether an operator next to the literal would bind into a sum written there."""
    loose = {"(", ")", "[", "]", ",", "=", ":"}
    before = tokens[position - 1] if position else None
    after = tokens[position + 1] if position + 1 < len(tokens) else None
    return any(
        t is not None and t.type == tokenize.OP and t.string not in loose
        for t in (before, after)
    )


def _stepped(start: int, step: int, variable: str) -> str:
    """``96 + 12 * i``, ``i``, ``2 * i``, ``64 - 8 * i``: the value at index ``variable``."""
    term = variable if abs(step) == 1 else f"{abs(step)} * {variable}"
    if start == 0:
        return term if step > 0 else f"-{term}"
    sign = "+" if step > 0 else "-"
    return f"{start} {sign} {term}"


__all__ = ["Stepped", "progression"]
