"""The names a piece of generated code imports, collected apart from its text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

#: Import lines of the names the generated code may use, as isort orders them.
_STANDARD_LIBRARY = (
    ("base64", "import base64"),
    ("math", "import math"),
    ("zlib", "import zlib"),
    ("OrderedDict", "from collections import OrderedDict"),
    ("Callable", "from typing import Callable"),
)
_TORCH = (
    ("torch", "import torch"),
    ("nn", "import torch.nn as nn"),
    ("F", "import torch.nn.functional as F"),
    ("Tensor", "from torch import Tensor"),
)


class Imports:
    """What one body (or one class, or the whole file) needs imported.

    Names are ``torch``, ``nn``, ``F``, ``Tensor``, ``math``, ``base64``, ``zlib``, ``OrderedDict``, ``Callable``,
    or a whole import line of another library (``from torchvision.ops import
    stochastic_depth``). Every printer fills its own and the program merges
    them, so no printing has a side effect on another.
    """

    def __init__(self, names: Iterable[str] = ()):
        self.names: set[str] = set(names)

    def use(self, name: str) -> None:
        self.names.add(name)

    def merge(self, other: "Imports") -> "Imports":
        """This collector with ``other``'s names added (returned for chaining)."""
        self.names |= other.names
        return self

    def render(self) -> str:
        """The import block: standard library first, then torch and other libraries."""
        standard = [line for key, line in _STANDARD_LIBRARY if key in self.names]
        torch = [line for key, line in _TORCH if key in self.names]
        libraries = _merged(n for n in self.names if n.startswith("from "))
        groups = (standard, torch + libraries)
        return "\n\n".join("\n".join(group) for group in groups if group)


def _merged(lines: Iterable[str]) -> list[str]:
    """``from m import a`` and ``from m import b`` -> ``from m import a, b``, as isort writes."""
    names: dict[str, set[str]] = {}
    for line in lines:
        module, _, name = line[len("from ") :].partition(" import ")
        names.setdefault(module, set()).add(name)
    return [f"from {m} import {', '.join(sorted(names[m]))}" for m in sorted(names)]


@dataclass(frozen=True)
class Printed:
    """One definition's text and what it imports."""

    text: str
    imports: Imports
