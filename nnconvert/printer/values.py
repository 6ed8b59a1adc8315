"""Python literals for the constants that appear in graphs."""

from __future__ import annotations

import math
from typing import Any

import torch

from ..errors import ConversionError
from ..tensor_values import Base64Text
from .config_objects import config_text, is_config


def same_literal(a: Any, b: Any) -> bool:
    """Equal and of one type (``1 != 1.0 != True`` here): one literal, not two that compare equal."""
    return type(a) is type(b) and a == b


def literal(value: Any) -> str:
    """Source text that evaluates to ``value``; raises for values it cannot spell."""
    if isinstance(value, Base64Text):  # adjacent literals, one line each after black
        return " ".join(f'"{chunk}"' for chunk in value.chunks())
    if isinstance(value, str):
        return _string(value)
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if value is Ellipsis:
        return "..."
    if isinstance(value, torch.Size):
        return literal(tuple(value))
    if isinstance(value, tuple):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, slice):
        return f"slice({literal(value.start)}, {literal(value.stop)}, {literal(value.step)})"
    if isinstance(value, (torch.dtype, torch.layout, torch.memory_format)):
        return str(value)
    if isinstance(value, torch.device):
        return f"torch.device({str(value)!r})"
    if is_config(value):  # its class is written or imported (:mod:`.config_objects`)
        return config_text(value)
    raise ConversionError(f"cannot write the constant {value!r} as Python source")


def slice_literal(value: slice) -> str:
    """``slice(1, None)`` as it is written inside brackets: ``1:``."""
    parts = ["" if v is None else literal(v) for v in (value.start, value.stop)]
    text = ":".join(parts)
    if value.step is not None:
        text += f":{literal(value.step)}"
    return text


def _string(value: str) -> str:
    """Double quotes, as black writes them, with the escaping ``repr`` chose."""
    text = repr(value)
    if text.startswith("'") and '"' not in value:
        text = '"' + text[1:-1].replace("\\'", "'") + '"'
    return text
