"""Repeated blocks in ``init_params()`` written once, in a loop over their index.

``init_params()`` creates a model's tensors in construction order, so the
blocks of an ``nn.Sequential`` or ``nn.ModuleList`` come one after another.
Where consecutive blocks differ only in their index, their statements are
written once::

    params |= linear_params("h.0.fc", 64, 16)      for i in range(3):
    params |= linear_params("h.1.fc", 64, 16)  ->      params |= linear_params(f"h.{i}.fc", 64, 16)
    params |= linear_params("h.2.fc", 64, 16)

The loop runs the same statements in the same order, so it makes the same
draws. A statement is text with the keys it names kept apart
(:class:`Statement`); a block is a run of statements whose keys all lie under
``<prefix>.<n>``, and the next block must be the same statements with ``n + 1``.
Only keys that read plainly inside an f-string take part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .values import literal

#: Keys a loop may spell as an f-string: nothing to escape, no braces or quotes.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.\-]*")
_INDEX = re.compile(r"0|[1-9][0-9]*")

#: The loop's variable: no statement of ``init_params()`` reads a name ``i``.
_VARIABLE = "i"


@dataclass(frozen=True)
class Statement:
    """Source lines with the ``state_dict()`` keys (or key prefixes) they name kept apart.

    ``pieces`` surround the keys: ``pieces[0] + literal(keys[0]) + pieces[1]
    + ...``; a statement with no keys (a comment of the user's) is one piece.
    """

    pieces: tuple[str, ...]
    keys: tuple[str, ...] = ()

    @classmethod
    def text(cls, text: str) -> "Statement":
        return cls((text,))

    def render(self, spell=literal) -> list[str]:
        text = self.pieces[0]
        for key, piece in zip(self.keys, self.pieces[1:]):
            text += spell(key) + piece
        return text.split("\n")


def fold_loops(statements: list[Statement]) -> list[str]:
    """The statements' lines, each run of identical consecutive blocks written as one loop."""
    lines: list[str] = []
    position = 0
    while position < len(statements):
        loop = _best_loop(statements, position)
        if loop is None:
            lines += statements[position].render()
            position += 1
            continue
        prefix, start, count, length = loop
        block = statements[position : position + length]
        numbers = f"{start + count}" if start == 0 else f"{start}, {start + count}"
        lines.append(f"for {_VARIABLE} in range({numbers}):")
        head = f"{prefix}.{start}" if prefix else f"{start}"

        def spell(key: str) -> str:
            rest = key[len(head) :]
            return (
                f'f"{prefix}.{{{_VARIABLE}}}{rest}"'
                if prefix
                else (f'f"{{{_VARIABLE}}}{rest}"')
            )

        for statement in block:
            lines += [f"    {line}" for line in statement.render(spell)]
        position += length * count
    return lines


def _best_loop(
    statements: list[Statement], position: int
) -> tuple[str, int, int, int] | None:
    """``(prefix, first index, blocks, statements per block)`` of the loop saving most lines.

    None when no loop starting at ``position`` is shorter than its statements.
    """
    first = statements[position]
    if not first.keys or not _PLAIN_KEY.fullmatch(first.keys[0]):
        return None
    best, saved_most = None, 0
    parts = first.keys[0].split(".")
    for cut, part in enumerate(parts):
        if not _INDEX.fullmatch(part):
            continue
        prefix, start = ".".join(parts[:cut]), int(part)
        length = _block_length(statements, position, prefix, start)
        if length == 0:  # a statement that also names keys outside the block
            continue
        signature = _signature(statements[position : position + length], prefix, start)
        count = 1
        while True:
            at = position + length * count
            following = statements[at : at + length]
            if (
                len(following) < length
                or _signature(following, prefix, start + count) != signature
                or (_block_length(statements, at, prefix, start + count) != length)
            ):
                break
            count += 1
        block_lines = sum(
            len(s.render()) for s in statements[position : position + length]
        )
        saved = (count - 1) * block_lines - 1
        if count > 1 and saved > saved_most:
            best, saved_most = (prefix, start, count, length), saved
    return best


def _under(key: str, head: str) -> bool:
    return (key == head or key.startswith(head + ".")) and bool(
        _PLAIN_KEY.fullmatch(key)
    )


def _head(prefix: str, index: int) -> str:
    return f"{prefix}.{index}" if prefix else str(index)


def _block_length(
    statements: list[Statement], position: int, prefix: str, index: int
) -> int:
    """How many statements from ``position`` on name only keys under ``prefix.index``."""
    head = _head(prefix, index)
    length = 0
    for statement in statements[position:]:
        if not statement.keys or not all(_under(k, head) for k in statement.keys):
            break
        length += 1
    return length


def _signature(
    block: list[Statement], prefix: str, index: int
) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] | None:
    """The block's statements with ``prefix.index`` taken out of their keys."""
    head = _head(prefix, index)
    signature = []
    for statement in block:
        if not statement.keys or not all(_under(k, head) for k in statement.keys):
            return None
        relative = tuple(key[len(head) :] for key in statement.keys)
        signature.append((statement.pieces, relative))
    return tuple(signature)


__all__ = ["Statement", "fold_loops"]
