"""The one object that owns every name the printer emits."""

from __future__ import annotations

import builtins
import keyword
import re
from typing import Container

#: Names the generated code itself relies on; a model's value may never take them.
RESERVED = frozenset(
    {"self", "params", "training", "torch", "nn", "F", "Tensor", "super"}
)


def identifier(text: str) -> str:
    """``"conv-1.a"`` -> ``"conv_1_a"``: a valid, non-keyword Python identifier."""
    name = re.sub(r"\W", "_", text)
    if not name or name[0].isdigit():
        name = f"_{name}"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name = f"{name}_"
    return name


def is_plain_identifier(text: str) -> bool:
    """``text`` can be written as ``self.<text>`` exactly, with no escaping."""
    return text.isidentifier() and not keyword.iskeyword(text)


def first_free(base: str, taken: Container[str], separator: str = "") -> str:
    """``base`` if free, else ``base2``, ``base3`` … (``base_2`` … with ``separator="_"``)."""
    name, counter = base, 1
    while name in taken:
        counter += 1
        name = f"{base}{separator}{counter}"
    return name


class Namespace:
    """Hands out unique variable names; a name is free again once released.

    Like ``torch.fx``'s ``_Namespace``: cleans illegal characters, avoids
    keywords, builtins and reserved names, and numbers clashes (``out2``,
    ``out3``; ``x1_2`` after a digit).
    Unlike it, names of dead values are reused, so a chain reads
    ``x = ...; x = ...``.
    """

    def __init__(self, reserved: frozenset[str] = RESERVED):
        self._reserved = set(reserved)
        self._live: set[str] = set()

    def claim(self, stem: str, *, allow_builtin: bool = False) -> str:
        base = identifier(stem)
        if not allow_builtin and hasattr(builtins, base):
            base = f"{base}_"
        separator = "_" if base[-1].isdigit() else ""
        name = first_free(base, self._live | self._reserved, separator)
        self._live.add(name)
        return name

    def take_over(self, name: str) -> str:
        """A live name handed on to a new value (``x = f(x)``)."""
        assert name in self._live, name
        return name

    def release(self, name: str) -> None:
        self._live.discard(name)
