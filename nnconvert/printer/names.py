"""Variable names of one body: unique, and free again once their value is dead."""

from __future__ import annotations

import builtins
from collections import Counter

from ..naming import first_free, identifier

#: Names the generated code itself relies on; a model's value may never take them.
RESERVED = frozenset(
    {"self", "params", "training", "torch", "nn", "F", "Tensor", "super"}
)


class Namespace:
    """Hands out unique variable names; a name is free again once released.

    Like ``torch.fx``'s ``_Namespace``: cleans illegal characters, avoids
    keywords, builtins and reserved names, and numbers clashes (``out2``,
    ``out3``; ``x1_2`` after a digit).
    Unlike it, names of dead values are reused, so a chain reads
    ``x = ...; x = ...``, and two values that never live on one path (the
    two sides of an ``if``) may :meth:`share` a name: it is free again once
    both are released.
    """

    def __init__(self, reserved: frozenset[str] = RESERVED):
        self._reserved = set(reserved)
        self._live: Counter[str] = Counter()  # name -> how many values hold it

    def claim(self, stem: str, *, allow_builtin: bool = False) -> str:
        base = identifier(stem) if allow_builtin else cleaned(stem)
        separator = "_" if base[-1].isdigit() else ""
        name = first_free(base, self._live.keys() | self._reserved, separator)
        self._live[name] += 1
        return name

    def share(self, name: str) -> str:
        """A live name given to one more value, on a path where its holders never run."""
        assert name in self._live, name
        self._live[name] += 1
        return name

    def free(self, stem: str) -> str | None:
        """``stem`` as :meth:`claim` cleans it, if that name is free as it is (no numbering).

        A name the user chose is worth keeping only as written: ``mu``, not ``mu2``.
        """
        base = cleaned(stem)
        return None if base in self._live or base in self._reserved else base

    def take_over(self, name: str) -> str:
        """A live name handed on to a new value (``x = f(x)``)."""
        assert name in self._live, name
        return name

    def release(self, name: str) -> None:
        if self._live[name] > 1:
            self._live[name] -= 1
        else:
            self._live.pop(name, None)


def cleaned(stem: str) -> str:
    """``stem`` as a variable name: a valid identifier that hides no builtin."""
    base = identifier(stem)
    return f"{base}_" if hasattr(builtins, base) else base
