"""What an fx ``get_attr`` node reads: a dotted attribute path under a module.

Shared by the tracers (which evaluate ``get_attr`` while recording) and the
passes (which read the constants a graph holds), below both.
"""

from __future__ import annotations

from typing import Any

_MISSING: Any = object()


def attribute_at(root: object, target: str, default: Any = _MISSING) -> Any:
    """``root.features[0].weight`` for ``"features.0.weight"``, as fx resolves it.

    Raises AttributeError for a missing attribute unless ``default`` is given.
    """
    value: Any = root
    try:
        for part in target.split("."):
            value = getattr(value, part)
    except AttributeError:
        if default is _MISSING:
            raise
        return default
    return value
