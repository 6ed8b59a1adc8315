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

A column no parameter matches keeps the name of the layer argument it
fills, unless that name reads as a parameter it is not (``Tree``'s
``2 * out_channels`` was ``in_channels_2`` beside the real
``in_channels``): then it is named after the attribute it fills first,
``root_in_channels``. Matched parameters come first, in the
``__init__``'s order. Such a column is a last resort: where an expression
of the user's parameters gives it (``2 * out_channels``), class styles and
block init functions write that instead (:mod:`.derived_sizes`).

Where the names travel (the round-trip invariants):

* module/mixed -> module/mixed: an output is built again under
  :func:`nnconvert.init_arguments.recording` (``Conversion.load``,
  ``nnconvert convert FILE``), so each generated class's instances record
  the generated parameters, which match themselves: the names are a fixed
  point, byte for byte.
* -> functional: a block function's keyword parameters (the literals of
  ``forward`` and of its layers that differ between instances) take
  names by the same rule, over the same instances and values, and come
  in the ``__init__``'s order (:mod:`.function_plan`): ``def scaled(params,
  x, *, scale: float)`` where class styles write ``Scaled(scale)``. A
  size has no parameter there (a block function takes weights, not
  sizes); it has one in the block's init function, where a block has two
  instances or more (``block_params(prefix, in_planes, planes)``,
  :mod:`.init_blocks`), named by the same rule.
* functional -> module/mixed: each block read back from a functional file
  (:mod:`nnconvert.functional`) declares the keywords its caller passes
  as its constructor arguments
  (:func:`nnconvert.init_arguments.declare`), in the function's order,
  except those named as functional style names them when no argument
  does (``groups=groups``, ``value``, ``has_shortcut``);
  a column matches them as it matches the user's ``__init__``, so the
  class is named as module -> module names it (``tests/test_init_names.py``).
  The sizes a block's init function is called with are declared too, under
  their names, unless named after a layer's argument
  (:mod:`nnconvert.functional.block_inits`): resnet's ``inplanes`` comes
  back. Sizes of a block used once (no init function of its own) stay a
  loss wherever module -> module names them after the user:
  ``tests/test_round_trips.py`` lists each such sample as a strict xfail
  (``INIT_NAMES_NOT_CARRIED``).
* functional -> functional: the declared keywords and sizes match
  themselves, so the names are a fixed point.

The root class's own parameters (``UNet(n_channels=3, n_classes=2)``)
are kept by :mod:`.root_arguments`: functional style writes them on
``init_params(n_channels: int = 3, n_classes: int = 2)`` and in the layer
calls they size, where the loader already calls ``init_params(**init_args)``;
read back, building ``init_params()`` with one doubled says which
dimensions it sizes (:mod:`nnconvert.root_sizes`); class styles write them
where their constructor arguments size exactly those dimensions. Both
land on the same dimensions before either is emitted, so the round trips
keep them.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from torch import nn

from ..init_arguments import init_parameters
from ..naming import first_free, identifier
from .config_objects import given_arguments


def init_names(
    modules: Sequence[nn.Module],
    columns: Sequence[tuple[str, Sequence[Any]]],
    taken: frozenset[str] = frozenset(),
    places: Mapping[str, str] | None = None,
    arguments: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, str]:
    """Each column's name (``{today's name: new name}``), ``modules`` its instances in order.

    ``columns`` are ``(name, value per module)``. A new name is never in
    ``taken``. A column no parameter matches keeps its name, unless that
    name reads as one of the ``__init__`` parameters (``in_channels_2`` in
    a class taking ``in_channels``) though it holds something else: then it
    is named after the attribute it fills first (``places``:
    ``root_in_channels``). Either is numbered if a matched column took it.
    ``arguments``: what each module was built with, when not
    :func:`~.config_objects.given_arguments` (a block's init
    function reads its sizes too: :mod:`.init_blocks`).
    """
    if arguments is None:
        arguments = [given_arguments(m) for m in modules]
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
    parameters = set(init_parameters(modules[0])) | set(arguments[0])
    renamed: dict[str, str] = {}
    for name in names:
        if name in chosen:
            renamed[name] = chosen[name]
            continue
        base = re.sub(r"_\d+$", "", name)
        if base in parameters and places and name in places:
            base = identifier(f"{places[name]}_{base}")
        used = set(chosen.values()) | set(renamed.values()) | set(taken)
        renamed[name] = first_free(base, used, "_")
    return renamed


def init_order(modules: Sequence[nn.Module], names: Sequence[str]) -> list[str]:
    """``names`` with the ``__init__`` parameters among them in the signature's order.

    The others keep their places after them.
    """
    order = {p: i for i, p in enumerate(init_parameters(modules[0]))} if modules else {}
    return sorted(names, key=lambda n: order.get(n, len(order)))


def _same(a: Any, b: Any) -> bool:
    """Equal and of one type all the way down (``1 != 1.0 != True`` here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


__all__ = ["init_names", "init_order"]
