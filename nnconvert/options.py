"""Settings shared by every stage: the target styles and the check tolerances."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Style(str, enum.Enum):
    """The three ways to write the same model.

    ``MODULE``: every op with an ``nn`` class is a submodule (hooks,
    quantization, ``print(model)``); ``FUNCTIONAL``: a pure function over an
    explicit weight dict (``torch.func``, reading exactly what runs);
    ``MIXED``: the tutorials' idiom, layers that own tensors are modules and
    the rest are ``F.*`` calls.
    """

    MODULE = "module"
    FUNCTIONAL = "functional"
    MIXED = "mixed"

    @classmethod
    def parse(cls, value: "Style | str") -> "Style":
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(
                f"unknown style {value!r}; choose one of {names}"
            ) from None


@dataclass(frozen=True)
class Tolerances:
    """Passed straight to ``torch.testing.assert_close``; None means its default for the dtype."""

    rtol: float | None = None
    atol: float | None = None
