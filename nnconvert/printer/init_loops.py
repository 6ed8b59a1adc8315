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

    ``pieces`` surround the slots: ``pieces[0] + literal(slots[0]) +
    pieces[1] + ...``. A string slot is a key; an integer slot is a number
    a loop may write in terms of its index (a layer function's argument:
    DenseNet's ``batch_norm_params(f"dense1.{i}.bn1", 24 + 12 * i)``), when
    three blocks or more step it by the same amount. A
    statement with no slots (a comment of the user's) is one piece.
    """

    pieces: tuple[str, ...]
    keys: tuple[str | int, ...] = ()

    @classmethod
    def text(cls, text: str) -> "Statement":
        return cls((text,))

    def render(self, slots: list[str] | None = None) -> list[str]:
        """The lines, the slots written as ``slots`` says (default: as literals)."""
        written = slots if slots is not None else [literal(k) for k in self.keys]
        text = self.pieces[0]
        for slot, piece in zip(written, self.pieces[1:]):
            text += slot + piece
        return text.split("\n")

    @property
    def names(self) -> list[str]:
        """The keys among the slots."""
        return [k for k in self.keys if isinstance(k, str)]


@dataclass(frozen=True)
class _Loop:
    """``for i in range(start, start + count)`` over ``length`` statements per block."""

    prefix: str
    start: int
    count: int
    length: int


def fold_loops(statements: list[Statement], within: str | None = None) -> list[str]:
    """The statements' lines, each run of consecutive like blocks written as one loop.

    ``within``: the name of a key prefix the keys are relative to (a
    block's init function, :mod:`.init_blocks`): ``f"{prefix}.conv1"``.
    """
    lines: list[str] = []
    position = 0
    while position < len(statements):
        loop = _best_loop(statements, position)
        if loop is None:
            statement = statements[position]
            lines += statement.render(_plain_slots(statement, within))
            position += 1
            continue
        lines += _loop_lines(statements, position, loop, within)
        position += loop.length * loop.count
    return lines


def _plain_slots(statement: Statement, within: str | None) -> list[str] | None:
    """The slots as literals; keys under ``within`` when given (None: the default)."""
    if within is None:
        return None
    return [
        f'f"{{{within}}}.{key}"' if isinstance(key, str) else literal(key)
        for key in statement.keys
    ]


def _loop_lines(
    statements: list[Statement], position: int, loop: _Loop, within: str | None
) -> list[str]:
    """``for i in range(...):`` and the first block's statements, each slot in terms of ``i``."""
    start, count = loop.start, loop.count
    numbers = f"{start + count}" if start == 0 else f"{start}, {start + count}"
    lines = [f"for {_VARIABLE} in range({numbers}):"]
    head = _head(loop.prefix, start)
    blocks = [
        statements[position + loop.length * n : position + loop.length * (n + 1)]
        for n in range(2)
    ]
    outer = f"{{{within}}}." if within is not None else ""
    for first, second in zip(*blocks):
        slots = []
        for key, following in zip(first.keys, second.keys):
            if isinstance(key, str):
                rest = key[len(head) :]
                dotted = f"{loop.prefix}." if loop.prefix else ""
                slots.append(f'f"{outer}{dotted}{{{_VARIABLE}}}{rest}"')
            else:
                slots.append(_linear(key - (following - key) * start, following - key))
        lines += [f"    {line}" for line in first.render(slots)]
    return lines


def _linear(constant: int, step: int) -> str:
    """``constant + step * i`` as a person writes it: ``24 + 12 * i``, ``2 * i``, ``i - 1``."""
    if step == 0:
        return str(constant)
    term = _VARIABLE if step == 1 else f"{step} * {_VARIABLE}"
    if step == -1:
        term = f"-{_VARIABLE}"
    elif step < 0:
        term = f"-{-step} * {_VARIABLE}"
    if constant == 0:
        return term
    if step < 0:
        return f"{constant} - {term[1:]}"
    return f"{constant} + {term}" if constant > 0 else f"{term} - {-constant}"


def _best_loop(statements: list[Statement], position: int) -> _Loop | None:
    """The loop starting at ``position`` that saves most lines; None when none saves any."""
    first = statements[position]
    if not first.names or not _PLAIN_KEY.fullmatch(first.names[0]):
        return None
    best, saved_most = None, 0
    parts = first.names[0].split(".")
    for cut, part in enumerate(parts):
        if not _INDEX.fullmatch(part):
            continue
        prefix, start = ".".join(parts[:cut]), int(part)
        length = _block_length(statements, position, prefix, start)
        if length == 0:  # a statement that also names keys outside the block
            continue
        block = statements[position : position + length]
        signature = _signature(block, prefix, start)
        numbers = [_numbers(block)]
        while True:
            at = position + length * len(numbers)
            following = statements[at : at + length]
            index = start + len(numbers)
            if (
                len(following) < length
                or _signature(following, prefix, index) != signature
                or _block_length(statements, at, prefix, index) != length
                or not _arithmetic(numbers + [_numbers(following)])
            ):
                break
            numbers.append(_numbers(following))
        count = len(numbers)
        if count == 2 and numbers[0] != numbers[1]:  # any two points fit a line
            continue
        block_lines = sum(len(s.render()) for s in block)
        saved = (count - 1) * block_lines - 1
        if count > 1 and saved > saved_most:
            best, saved_most = _Loop(prefix, start, count, length), saved
    return best


def _numbers(block: list[Statement]) -> list[int]:
    return [k for statement in block for k in statement.keys if isinstance(k, int)]


def _arithmetic(rows: list[list[int]]) -> bool:
    """Each column of ``rows`` steps by a constant from row to row."""
    if len(rows) < 3:
        return True
    return all(
        column[n + 1] - column[n] == column[1] - column[0]
        for column in zip(*rows)
        for n in range(len(column) - 1)
    )


def _under(key: str, head: str) -> bool:
    return (key == head or key.startswith(head + ".")) and bool(
        _PLAIN_KEY.fullmatch(key)
    )


def _head(prefix: str, index: int) -> str:
    return f"{prefix}.{index}" if prefix else str(index)


def _in_block(statement: Statement, head: str) -> bool:
    names = statement.names
    return bool(names) and all(_under(k, head) for k in names)


def _block_length(
    statements: list[Statement], position: int, prefix: str, index: int
) -> int:
    """How many statements from ``position`` on name only keys under ``prefix.index``."""
    head = _head(prefix, index)
    length = 0
    for statement in statements[position:]:
        if not _in_block(statement, head):
            break
        length += 1
    return length


def _signature(block: list[Statement], prefix: str, index: int) -> tuple | None:
    """The block's statements with ``prefix.index`` taken out of their keys, numbers left out."""
    head = _head(prefix, index)
    signature = []
    for statement in block:
        if not _in_block(statement, head):
            return None
        relative = tuple(
            key[len(head) :] if isinstance(key, str) else int for key in statement.keys
        )
        signature.append((statement.pieces, relative))
    return tuple(signature)


__all__ = ["Statement", "fold_loops"]
