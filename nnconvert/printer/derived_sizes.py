"""Sizes the user's ``__init__`` computes from its parameters, written as it computes them.

A class shared by instances that differ in literals takes one constructor
parameter per column of differing values, named after the user's
``__init__`` parameter whose argument equals the column in every instance
(:mod:`.init_names`). Many columns equal none, because the user's code
derives them:

* ResNeXt's ``Block(in_planes, cardinality, bottleneck_width, stride)``
  builds its convolutions ``cardinality * bottleneck_width`` wide;
* MobileNetV2's ``Block(in_planes, out_planes, expansion, stride)`` expands
  to ``expansion * in_planes`` channels;
* SENet's squeeze is ``planes // 16``, CLIP's bottleneck ``planes * 4``
  (``self.expansion``), a padding ``kernel_size // 2``, DPN's width
  ``out_planes + dense_depth``.

Such a column became a parameter of its own named after the layer argument
it fills (``out_channels``), which reads as a parameter the user never
had. :func:`derived_sizes` writes it instead as an expression of the
user's parameters that gives its value in every instance, and the class
takes those parameters: ``Block(in_planes, bottleneck_width, stride=1)``
building ``nn.Conv2d(in_planes, bottleneck_width * 2, 1, bias=False)``.

The forms are those found in real models: ``p * k`` and ``p // k`` (``k``
an integer), ``p * q``, ``p + q``. Not ``p // q``: it finds what is not
there (a ResNet's strides 1 and 2 are ``planes // inplanes``, where each
stage doubles its width). Only integer parameters
whose arguments differ between the instances take part: a column differs
between instances, so it cannot be a function of constants alone, and a
constant argument would match a size by coincidence (it stays the literal
it is, as ``cardinality``'s ``groups=2`` does). One parameter is preferred
to two, then the order of the signature. The values always agree with what
each instance was built with, so the output computes what the model does
whichever expression is chosen (the checks compare them); the choice only
decides how well it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any, Callable, Iterator, Mapping, Sequence

from torch import nn

from ..init_arguments import (
    init_arguments,
    init_defaults,
    init_locals,
    init_parameters,
)
from ..opspecs.spec import REQUIRED
from .constructors import Holes
from .values import same_literal


@dataclass(frozen=True)
class Derived:
    """A column as an expression: its text and the parameters it reads, in order."""

    text: str
    parameters: tuple[str, ...]


@dataclass(frozen=True)
class Derivation:
    """What a definition's columns become: expressions, the parameters they read, locals.

    ``expressions``: each derived column's text (a local's name where the
    user named the size); ``added``: each parameter the expressions read
    that is no column, with its value per instance and its default (or
    ``REQUIRED``); ``statements``: each local and its expression, in order.
    """

    expressions: dict[str, str]
    added: list[tuple[str, list[Any], Any]]
    statements: list[tuple[str, str]]


def with_derived_sizes(
    holes: Holes, modules: Sequence[nn.Module], taken: frozenset[str]
) -> Holes:
    """``holes`` with each column no parameter matches written as the expression that gives it.

    ``modules``: the class's instances, in the order of the holes' values.
    A parameter the expressions read joins the class's, with the user's
    default where some instance was built with it; never one named in
    ``taken`` or like a column the class keeps.
    """
    columns = [
        (name, [row[i] for row in holes.values_per_instance])
        for i, name in enumerate(holes.names)
    ]
    arguments = [init_arguments(m) for m in modules]
    signature = init_parameters(modules[0]) if modules else []
    found = derivation(columns, modules, arguments, signature, taken)
    if found is None:
        return holes
    return holes.derived(found.expressions, found.added, found.statements)


def derivation(
    columns: Sequence[tuple[str, Sequence[Any]]],
    modules: Sequence[nn.Module],
    arguments: list[Mapping[str, Any]],
    signature: Sequence[str],
    taken: frozenset[str] | set[str],
) -> Derivation | None:
    """The expressions for ``columns`` no argument equals, if any (:class:`Derivation`).

    ``arguments``: what each of ``modules`` was built with, ``signature``
    the parameters in order. Class styles pass their constructor holes; a
    functional block's init function its sizes (:mod:`.init_blocks`).
    """
    if not columns or len(modules) < 2 or not all(arguments):
        return None
    unmatched = [
        (name, values)
        for name, values in columns
        if not all(
            same_literal(a.get(name, _ABSENT), v) for a, v in zip(arguments, values)
        )
    ]
    signature = [p for p in signature if p not in taken]
    found = derived_sizes(unmatched, arguments, signature)
    kept = {n for n, _ in columns if n not in found}
    others = {n for n, _ in unmatched} & kept  # columns named like a parameter
    found = {
        name: d
        for name, d in found.items()
        if not any(p in others for p in d.parameters)
    }
    if not found:
        return None
    found, statements = _named_by_locals(
        found, {n: list(v) for n, v in columns}, modules, arguments, taken
    )
    defaults = init_defaults(modules[0])
    added = []
    for p in signature:
        if p in kept or not any(p in d.parameters for d in found.values()):
            continue
        column = [a[p] for a in arguments]
        default = defaults.get(p, REQUIRED)
        if not any(same_literal(default, v) for v in column):
            default = REQUIRED
        added.append((p, column, default))
    expressions = {n: d.text for n, d in found.items()}
    return Derivation(expressions, added, statements)


def _named_by_locals(
    found: dict[str, Derived],
    columns: dict[str, list[Any]],
    modules: Sequence[nn.Module],
    arguments: list[Mapping[str, Any]],
    taken: frozenset[str],
) -> tuple[dict[str, Derived], list[tuple[str, str]]]:
    """``found`` with the sizes the user named in ``__init__`` read through that name.

    ResNeXt's ``group_width = cardinality * bottleneck_width`` fills five
    arguments: a local of the user's ``__init__`` that held a column's value
    in every instance (:func:`~nnconvert.init_arguments.init_locals`) is
    written once, ``group_width = bottleneck_width * 2``, and read where the
    column was. A column the locals give by a smaller factor reads them
    too (``group_width * 2`` rather than ``bottleneck_width * 4``). Returns
    the columns' expressions and the locals' statements, in order.
    """
    records = [init_locals(m) for m in modules]
    shared = [
        name
        for name in records[0]
        if all(name in r for r in records[1:])
        and name not in taken
        and name not in columns
        and not any(name in a for a in arguments)
    ]
    sizes: dict[str, Derived] = {}  # each local and the expression it holds
    named: dict[str, Derived] = {}
    for column, derived in found.items():
        for local in shared:
            values = columns[column]
            if local not in sizes and all(
                r[local] == v for r, v in zip(records, values)
            ):
                sizes[local] = derived
                named[column] = Derived(local, derived.parameters)
                break
    if sizes:
        given = [{**a, **{n: r[n] for n in sizes}} for a, r in zip(arguments, records)]
        variables = [*dict.fromkeys(p for d in found.values() for p in d.parameters)]
        rest = [(c, columns[c]) for c in found if c not in named]
        for column, derived in derived_sizes(rest, given, [*variables, *sizes]).items():
            reads = [
                sizes[p].parameters if p in sizes else (p,) for p in derived.parameters
            ]
            named[column] = Derived(derived.text, tuple(dict.fromkeys(sum(reads, ()))))
    statements = [(local, derived.text) for local, derived in sizes.items()]
    return {**found, **named}, statements


_ABSENT = object()


def derived_sizes(
    columns: Sequence[tuple[str, Sequence[Any]]],
    arguments: Sequence[Mapping[str, Any]],
    signature: Sequence[str],
) -> dict[str, Derived]:
    """Each of ``columns`` (``(name, value per instance)``) some expression gives, by name.

    ``arguments``: what each instance was built with
    (:func:`~nnconvert.init_arguments.init_arguments`), in the order of the
    columns' values; ``signature``: the user's ``__init__`` parameters, in
    order. A column of anything but integers, or that no expression gives,
    is left out.
    """
    if len(arguments) < 2:
        return {}
    varying = [
        p
        for p in signature
        if all(_is_int(a.get(p)) for a in arguments)
        and len({a[p] for a in arguments}) > 1
    ]
    found = {}
    for name, values in columns:
        if not all(_is_int(v) for v in values):
            continue
        for derived in _candidates(varying, arguments, values):
            found[name] = derived
            break
    return found


def _candidates(
    parameters: list[str], arguments: Sequence[Mapping[str, Any]], values: Sequence[int]
) -> Iterator[Derived]:
    """The expressions that give ``values``: one parameter before two, small factors first.

    DLA's ``Tree`` roots take ``2 * out_channels`` channels, which is also
    ``4 * in_channels`` where every tree doubles its width: the smaller
    factor is the likelier reading.
    """
    single = []
    for p in parameters:
        column = [a[p] for a in arguments]
        for k in _factors(column, values):
            if all(x * k == v for x, v in zip(column, values)):
                single.append((k, Derived(f"{p} * {k}", (p,))))
        for k in _divisors(column, values):
            single.append((k, Derived(f"{p} // {k}", (p,))))
    single.sort(key=lambda found: found[0])  # stable: the signature's order next
    yield from (derived for _, derived in single)
    forms: list[tuple[str, Callable[[int, int], int]]] = [
        ("*", lambda x, y: x * y),
        ("+", lambda x, y: x + y),
    ]
    for p, q in combinations(parameters, 2):  # in the signature's order
        for symbol, apply in forms:
            pairs = [(a[p], a[q]) for a in arguments]
            if all(apply(x, y) == v for (x, y), v in zip(pairs, values)):
                yield Derived(f"{p} {symbol} {q}", (p, q))


def _factors(column: list[int], values: Sequence[int]) -> list[int]:
    """The integer ``k >= 2`` with ``column[0] * k == values[0]``, if any."""
    x, v = column[0], values[0]
    if x and v % x == 0 and v // x >= 2:
        return [v // x]
    return []


def _divisors(column: list[int], values: Sequence[int]) -> list[int]:
    """The largest integer ``k >= 2`` with ``x // k == v`` for every pair, if any.

    For one pair those ``k`` run from ``x // (v + 1) + 1`` to ``x // v``; the
    largest is the exact one where there is one (``planes // 16`` for
    32 and 64 squeezed to 2 and 4, which ``// 13`` gives too).
    """
    low, high = 2, None
    for x, v in zip(column, values):
        if v <= 0 or x < v:
            return []
        low = max(low, x // (v + 1) + 1)
        high = x // v if high is None else min(high, x // v)
    return [high] if high is not None and low <= high else []


def _is_int(value: Any) -> bool:
    return type(value) is int


__all__ = ["Derivation", "Derived", "derivation", "derived_sizes", "with_derived_sizes"]
