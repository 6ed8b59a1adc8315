"""The names a piece of generated code imports, collected apart from its text."""

from __future__ import annotations

import sys
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
        lines = [n for n in self.names if n.startswith(("from ", "import "))]
        known = [line for key, line in _STANDARD_LIBRARY if key in self.names]
        standard = _merged(known + [n for n in lines if _is_standard(n)])
        torch = [line for key, line in _TORCH if key in self.names]
        libraries = [n for n in lines if not _is_standard(n)]
        plain = sorted({n for n in libraries if n.startswith("import ")})
        # isort: every plain import of the section before its from-imports
        torch_plain = [line for line in torch if line.startswith("import ")]
        torch_from = [line for line in torch if line.startswith("from ")]
        third_party = sorted(torch_plain + plain, key=lambda line: line.split()[1])
        third_party += torch_from + _merged(n for n in libraries if n not in plain)
        groups = (standard, third_party)
        return "\n\n".join("\n".join(group) for group in groups if group)


def _is_standard(line: str) -> bool:
    """Whether an import line imports from Python's standard library."""
    module = line.split()[1].split(".")[0]
    return module in sys.stdlib_module_names


def _merged(lines: Iterable[str]) -> list[str]:
    """``from m import a`` and ``from m import b`` -> ``from m import a, b``, as isort writes.

    ``import m`` lines come first, then ``from`` lines, each sorted by module
    (isort's default, ``force_sort_within_sections`` off).
    """
    lines = list(lines)
    plain = sorted({line for line in lines if line.startswith("import ")})
    names: dict[str, set[str]] = {}
    for line in lines:
        if line.startswith("from "):
            module, _, name = line[len("from ") :].partition(" import ")
            names.setdefault(module, set()).add(name)
    froms = [f"from {m} import {', '.join(sorted(names[m]))}" for m in sorted(names)]
    return plain + froms


@dataclass(frozen=True)
class Printed:
    """One definition's text and what it imports."""

    text: str
    imports: Imports
