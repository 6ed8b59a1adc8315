"""Optional submodules the user's ``__init__`` builds when one of its flags says so.

A class shared by instances with and without some submodules takes them as
``name=None`` constructor parameters, built by the parent
(``Block(cross_attn=MultiHeadAttention(...))``), as torchvision's
``downsample`` is. Whisper's ``ResidualAttentionBlock`` builds its own:

    self.cross_attn = MultiHeadAttention(n_state, n_head) if cross_attention else None

Where a boolean argument of the user's ``__init__`` is True in exactly the
instances that have the optional submodules (:func:`presence_flag`), the
class takes that flag again and builds them itself, ``... if
cross_attention else None``, from the constructor tree the instances that
have them share. A literal of that tree that differs between them is the
class's constructor parameter that holds it in each of them; a tree that
needs any other value keeps the ``name=None`` form.

Built in ``__init__`` where the user built them, the submodules draw their
random numbers in the user's order again (a fresh build matches the
original's). Functional style is unchanged: its block function already
takes ``has_cross_attn``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Sequence

from torch import nn

from ..init_arguments import init_arguments, init_parameters
from ..opspecs.spec import REQUIRED
from .constructors import Hole, Holes, leaves, structure, substitute


@dataclass(frozen=True)
class Presence:
    """The flag that builds a class's optional submodules, and what it builds.

    ``values``: each optional attribute's constructor tree, with the class's
    parameters where its literals differ; ``arguments``: the flag's value in
    each instance; ``default``: its default in the signature (``REQUIRED``:
    none).
    """

    flag: str
    default: Any
    values: dict[str, Any]
    arguments: list[bool]


def presence_flag(
    modules: Sequence[nn.Module],
    given: Sequence[dict[str, Any]],
    optional: Sequence[str],
    holes: Holes,
    taken: frozenset[str],
) -> Presence | None:
    """The :class:`Presence` of ``optional`` in ``modules``, if a flag of theirs tells it.

    ``given``: each instance's constructor trees by attribute (None where it
    has no such submodule); ``holes``: the class's constructor parameters.
    """
    if not optional or len(modules) < 2:
        return None
    present = [[g.get(o) is not None for o in optional] for g in given]
    if any(len(set(p)) > 1 for p in present):
        return None  # some but not all: no one flag
    has = [p[0] for p in present]
    arguments = [init_arguments(m) for m in modules]
    if not all(arguments) or len(set(has)) < 2:
        return None
    names = set(holes.names) | set(taken)  # an attribute's own name may be the flag
    flag = next(
        (
            p
            for p in init_parameters(modules[0])
            if p not in names
            and all(
                type(a.get(p)) is bool and a[p] == h for a, h in zip(arguments, has)
            )
        ),
        None,
    )
    if flag is None:
        return None
    having = [i for i, h in enumerate(has) if h]
    values = {}
    for attribute in optional:
        value = _shared_tree([given[i][attribute] for i in having], having, holes)
        if value is None:
            return None
        values[attribute] = value
    default = _default(modules[0], flag)
    if not any(a[flag] == default for a in arguments):
        default = REQUIRED
    return Presence(flag, default, values, [a[flag] for a in arguments])


def _shared_tree(trees: list[Any], rows: list[int], holes: Holes) -> Any:
    """One tree for ``trees``: their literals, or the parameter that holds them in each.

    ``rows``: the instances the trees are of, as rows of ``holes``. None
    when the trees differ in structure, or in a literal no parameter holds.
    """
    if len({repr(structure(t)) for t in trees}) > 1:
        return None
    columns = {
        name: [holes.values_per_instance[r][i] for r in rows]
        for i, name in enumerate(holes.names)
    }
    found = [list(leaves(t)) for t in trees]
    holes_at: dict[tuple, Hole] = {}
    for position, (path, _, value) in enumerate(found[0]):
        values = [f[position][2] for f in found]
        if all(type(v) is type(value) and v == value for v in values):
            continue
        name = next(
            (
                n
                for n, column in columns.items()
                if all(type(c) is type(v) and c == v for c, v in zip(column, values))
            ),
            None,
        )
        if name is None:
            return None
        holes_at[path] = Hole(name)
    return substitute(trees[0], holes_at, ())


def _default(module: nn.Module, flag: str) -> Any:
    """``flag``'s default in ``module``'s ``__init__`` (``REQUIRED``: none)."""
    try:
        parameter = inspect.signature(type(module).__init__).parameters[flag]
    except (TypeError, ValueError, KeyError):
        return REQUIRED
    if parameter.default is inspect.Parameter.empty:
        return REQUIRED
    return parameter.default


__all__ = ["Presence", "presence_flag"]
