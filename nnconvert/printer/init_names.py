"""The user's names for a shared class's constructor parameters.

A class emitted for instances that differ in literals takes one parameter
per column of differing values (:func:`~.constructors.assign_holes`,
:func:`~.literal_holes.named_holes`), named after the layer argument it
fills first: ``out_channels_2`` where the user wrote ``mid_channels``. The
user's ``__init__`` says better: a parameter whose argument, in every
instance, is exactly the column's value (:mod:`nnconvert.init_arguments`)
gives the column its name.

Ambiguity: when several ``__init__`` parameters match one column (every
instance has ``in_planes == planes``), the values cannot tell which one the
literal came from; the name the column has today wins if it is one of
them, else the first in the signature.

Where the names survive: module and mixed outputs are built again with
recorded arguments (``Conversion.load``, ``nnconvert convert FILE``), so
their parameters keep these names, converted again. A functional output
has no constructors: read back, its classes take the layers' names as
before, and the round trip through functional style names them so
(``tests/test_round_trips.py`` lists the samples this renames).
"""

from __future__ import annotations

from typing import Any, Sequence

from torch import nn

from ..init_arguments import init_arguments
from ..naming import first_free


def init_names(
    modules: Sequence[nn.Module],
    columns: Sequence[tuple[str, Sequence[Any]]],
    taken: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Each column's name (``{today's name: new name}``), ``modules`` its instances in order.

    ``columns`` are ``(name, value per module)``. A new name is never in
    ``taken``; a column no parameter matches keeps its name unless a
    matched one takes it, then it is numbered.
    """
    arguments = [init_arguments(m) for m in modules]
    names = [name for name, _ in columns]
    if not columns or not all(arguments):
        return {name: name for name in names}
    shared = [p for p in arguments[0] if all(p in a for a in arguments[1:])]
    chosen: dict[str, str] = {}
    for name, values in columns:
        matches = [
            p
            for p in shared
            if p not in taken
            and p not in chosen.values()
            and all(_same(a[p], v) for a, v in zip(arguments, values))
        ]
        if matches:
            chosen[name] = name if name in matches else matches[0]
    renamed: dict[str, str] = {}
    for name in names:
        if name in chosen:
            renamed[name] = chosen[name]
        else:
            used = set(chosen.values()) | set(renamed.values()) | set(taken)
            renamed[name] = first_free(name, used, "_")
    return renamed


def _same(a: Any, b: Any) -> bool:
    """Equal and of one type all the way down (``1 != 1.0 != True`` here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


__all__ = ["init_names"]
