"""One init function per block in ``init_params()``, called once per instance.

``init_params()`` creates a model's tensors layer by layer, in construction
order (:mod:`.init_params`), so a block class used many times repeats the
same calls with other sizes. Where a block function of the output
(``block``) has two instances or more whose statements are the same up to
the sizes they pass, those statements are written once, beside the block,
and each instance is one call::

    params |= kaiming_params("layers.0.conv1", 96, 16, 1, 1, bias=False)
    params |= batch_norm_params("layers.0.bn1", 96)
    params |= kaiming_params("layers.1.conv1", 144, 24, 1, 1, bias=False)
    params |= batch_norm_params("layers.1.bn1", 144)

becomes::

    def block_params(prefix: str, in_planes: int, planes: int) -> dict[str, Tensor]:
        params = kaiming_params(f"{prefix}.conv1", planes, in_planes, 1, 1, bias=False)
        params |= batch_norm_params(f"{prefix}.bn1", planes)
        return params

    params |= block_params("layers.0", 16, 96)
    params |= block_params("layers.1", 24, 144)

A size that differs between instances is a parameter; sizes equal to one
another in every instance are one parameter; a size every instance shares
stays a literal. Parameters are named as class styles name constructor
parameters (:func:`~.init_names.init_names`): after the block's own
``__init__`` argument where, in every instance, it is exactly the size,
else after the layer argument the size fills first (``out_channels``).

The call makes the instance's statements in their order, so the random
draws happen as before: ``init_params()`` stays equal, bit for bit, to a
newly built model. Blocks are taken callees first, so a block of blocks
calls its blocks' functions. A function is written only where it makes
the file shorter; an instance whose sizes the root's constructor
parameters write keeps its statements (``n_channels`` is not a name
inside the function), the others still share the function (UNet's
``inc`` beside its ``down``, ``up`` blocks' ``DoubleConv``).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, replace
from typing import Sequence

from torch import nn

from ..init_arguments import init_arguments, init_sizes
from ..naming import first_free, identifier
from .layout import LINE_LENGTH
from .init_loops import Statement, fold_loops
from .derived_sizes import derivation
from .init_names import init_names

#: The key prefix parameter of every init function.
PREFIX = "prefix"

#: Keys an init function may spell in an f-string: nothing to escape.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.\-]+")

#: black's line length: a longer statement takes about three lines.

#: Names an init function's size parameters never take.
_OWN_NAMES = frozenset({PREFIX, "params", "i"})


@dataclass(frozen=True)
class BlockUse:
    """A block function of the output, and the paths of the instances it is called for."""

    function: str
    paths: tuple[str, ...]
    #: each optional submodule -> the ``bool`` keyword the block function takes for it
    flags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Function:
    """An init function written: its name, its size parameters, its flags and its block.

    ``flags``: each optional submodule and the ``bool`` parameter that says
    the instance has it.
    """

    name: str
    parameters: tuple[str, ...]
    flags: tuple[tuple[str, str], ...] = ()
    block: str = ""  # the block function it is for
    #: sizes it computes from its parameters first (``group_width = bottleneck_width
    #: * 2``, :mod:`.derived_sizes`), each with its expression
    sizes: tuple[tuple[str, str], ...] = ()


def with_block_functions(
    statements: list[Statement],
    blocks: Sequence[BlockUse],
    model: nn.Module,
    taken: frozenset[str],
    fixed: frozenset[str] = frozenset(),
) -> tuple[list[Statement], list[str]]:
    """``statements`` with each block's instances one call each, and the functions called.

    ``blocks`` come callees first. ``taken``: names no function or
    parameter may take. ``fixed``: key prefixes of layer calls that write a
    root parameter's name; a block holding one keeps its statements.

    A function that saved lines when written may end up called from one
    place only, inside its parent block's function (a ``shortcut`` inside
    every ``basic_block`` that has one): then it is left out, its
    statements written where it was called.
    """
    left_out: set[str] = set()
    while True:
        result, written = _written(
            statements,
            [b for b in blocks if b.function not in left_out],
            model,
            taken,
            fixed,
        )
        text = "\n".join(fold_loops(result) + [lines for _, lines in written])
        once = [
            function.block
            for function, lines in written
            if len(re.findall(rf"\b{function.name}\(", text)) < 3  # def and one call
        ]
        if not once:
            return result, [lines for _, lines in written]
        left_out.update(once)


def _written(
    statements: list[Statement],
    blocks: Sequence[BlockUse],
    model: nn.Module,
    taken: frozenset[str],
    fixed: frozenset[str],
) -> tuple[list[Statement], list[tuple[_Function, str]]]:
    """The statements with the blocks' calls, and each function written with its text."""
    written: dict[str, _Function] = {}
    definitions: list[tuple[_Function, str]] = []
    names = set(taken) | _OWN_NAMES
    for block in blocks:
        found = _block_function(statements, block, model, names, fixed, written)
        if found is None:
            continue
        statements, function, lines = found
        written[function.name] = function
        names.add(function.name)
        definitions.append((function, "\n".join(lines)))
    return statements, definitions


def _block_function(
    statements: list[Statement],
    block: BlockUse,
    model: nn.Module,
    taken: set[str],
    fixed: frozenset[str],
    written: dict[str, _Function],
) -> tuple[list[Statement], _Function, list[str]] | None:
    """The statements with ``block``'s instances as calls, its function and its lines."""
    block = _without_fixed(statements, block, fixed)
    runs = _runs(statements, block.paths)
    if runs is None:
        return None
    blocks = [statements[start:end] for start, end in runs]
    layout = _Layout.of(blocks, block.paths)
    columns = None if layout is None else layout.columns()
    if layout is None or columns is None:
        return None
    path = block.paths[layout.full]
    name_of, order, values_of, computed = _sizes_named(
        layout, path, columns, model, taken, written
    )
    flags = layout.flags(block.flags, taken | set(order) | {n for n, _ in computed})
    name = first_free(f"{block.function}_params", taken, "_")
    function = _Function(name, tuple(order), flags, block.function, computed)
    body = []
    for position, statement in enumerate(layout.body):
        sizes = [columns[position, n] for n in range(_size_count(statement))]
        names = [name_of[c] if c is not None else None for c in sizes]
        body.append(_relative(statement, path, names))
    lines = _definition(function, body, layout.targets)
    calls = [
        _call(
            function,
            path,
            [values_of[name][n] for name in order],
            [flag for target, flag in flags if target in layout.present[n]],
        )
        for n, path in enumerate(block.paths)
    ]
    result = _replaced(statements, runs, calls)
    before = _lines_after_black(fold_loops(statements), 4)
    after = _lines_after_black(fold_loops(result), 4) + _lines_after_black(lines, 0)
    if after >= before:
        return None  # the definition costs more lines than its calls save
    return result, function, lines


def _without_fixed(
    statements: list[Statement], block: BlockUse, fixed: frozenset[str]
) -> BlockUse:
    """``block`` without the instances whose statements write a root parameter.

    UNet's ``inc`` builds its first convolution from ``n_channels``: it
    keeps its statements, and the other ``DoubleConv`` blocks still share
    an init function (the name is not one inside it).
    """
    paths = tuple(
        path
        for path in block.paths
        if not any(
            s.names[0] in fixed
            for s in statements
            if any(key.startswith(f"{path}.") for key in s.names)
        )
    )
    return replace(block, paths=paths)


def _runs(
    statements: list[Statement], paths: Sequence[str]
) -> list[tuple[int, int]] | None:
    """Each instance's run of statements (:func:`_run`), when there are two or more, apart."""
    runs = [_run(statements, path) for path in paths]
    if len(runs) < 2 or None in runs or not all(map(_PLAIN_KEY.fullmatch, paths)):
        return None
    ordered = sorted(runs)
    if any(later[0] < earlier[1] for earlier, later in zip(ordered, ordered[1:])):
        return None  # a block inside another of its class (a tree of blocks)
    return runs


def _sizes_named(
    layout: "_Layout",
    path: str,
    columns: dict[tuple[int, int], tuple[int, ...] | None],
    model: nn.Module,
    taken: set[str],
    written: dict[str, _Function],
) -> tuple[
    dict[tuple[int, ...], str],
    list[str],
    dict[str, tuple[int, ...]],
    tuple[tuple[str, str], ...],
]:
    """Each size column's name, the parameters in order, their values, the locals.

    A column no argument equals is written as the expression of the
    arguments that gives it (:mod:`.derived_sizes`), which the function
    then takes: ``block_params(prefix, in_planes, bottleneck_width)``
    computing ``group_width = bottleneck_width * 2``. The values are each
    parameter's per instance, for the calls.

    Named as class styles name constructor parameters
    (:func:`~.init_names.init_names`), from what each instance was built
    with: its ``__init__``'s arguments, or, for a block read back from a
    functional file, the sizes its init function was called with alone: its
    function's keywords (MaxViT attention's ``heads``, named after the
    attribute ``self.heads``) were no constructor argument where the file
    was written, or its init function would take them; given as arguments,
    they would size what the file derives (``dim // 8``).
    """
    varying = list(dict.fromkeys(c for c in columns.values() if c is not None))
    modules = [model.get_submodule(p) for p in layout.paths]
    named = _parameter_names(layout.body, path, columns, model, written)
    arguments = [init_sizes(m) or init_arguments(m) for m in modules]
    renamed = init_names(
        modules,
        [(named[c][0], list(c)) for c in varying],
        frozenset(taken),
        {named[c][0]: named[c][1] for c in varying},
        arguments,
    )
    name_of = {c: renamed[named[c][0]] for c in varying}
    values_of = {name_of[c]: c for c in varying}
    derived = derivation(
        [(name_of[c], list(c)) for c in varying],
        modules,
        arguments,
        list(arguments[0]),
        taken,
    )
    statements: tuple[tuple[str, str], ...] = ()
    if derived is not None:
        name_of = {c: derived.expressions.get(n, n) for c, n in name_of.items()}
        values_of = {n: v for n, v in values_of.items() if n not in derived.expressions}
        values_of |= {p: tuple(column) for p, column, _ in derived.added}
        statements = tuple(derived.statements)
    order = _parameter_order(list(arguments[0]), list(values_of))
    return name_of, order, values_of, statements


def _replaced(
    statements: list[Statement], runs: list[tuple[int, int]], calls: list[Statement]
) -> list[Statement]:
    """``statements`` with each run replaced by its call."""
    result: list[Statement] = []
    position = 0
    for (start, end), call in sorted(zip(runs, calls), key=lambda item: item[0]):
        result += statements[position:start] + [call]
        position = end
    return result + statements[position:]


@dataclass
class _Layout:
    """The instances' statements lined up: the block's own, and its optional submodules'.

    A submodule with weights in some instances only (a projection
    ``shortcut``) is optional: its statements are one stretch of the
    instances that have it, in the same place, and the function writes
    them under ``if has_shortcut:``. ``blocks``: each instance's
    statements, ``paths`` their paths; ``full`` is an instance that has
    every optional submodule; ``body`` its statements; ``targets`` the
    optional submodule each of them belongs to ("" for the block's own);
    ``present`` the optional submodules of each instance; ``positions``
    each instance's statements by their position in ``body``.
    """

    blocks: list[list[Statement]]
    paths: Sequence[str]
    full: int
    targets: list[str]
    present: list[frozenset[str]]
    positions: list[dict[int, Statement]]

    @property
    def body(self) -> list[Statement]:
        return self.blocks[self.full]

    @classmethod
    def of(
        cls, blocks: list[list[Statement]], paths: Sequence[str]
    ) -> "_Layout | None":
        """The layout, when every instance is the full one less some optional stretches."""
        firsts = [
            [s.names[0][len(path) + 1 :].split(".")[0] for s in run]
            for run, path in zip(blocks, paths)
        ]
        everywhere = set.intersection(*map(set, firsts))
        optional = set.union(*map(set, firsts)) - everywhere
        items = []
        for run, path, first in zip(blocks, paths, firsts):
            targets = [f if f in optional else "" for f in first]
            shapes = [_shape([statement], path) for statement in run]
            if None in shapes:
                return None
            items.append(list(zip(targets, shapes)))
        present = [frozenset(t for t, _ in item if t) for item in items]
        full = next((n for n, p in enumerate(present) if p == optional), None)
        if full is None:
            return None
        targets = [t for t, _ in items[full]]
        for target in optional:  # each optional stretch is one, for one ``if``
            at = [n for n, t in enumerate(targets) if t == target]
            if at != list(range(at[0], at[-1] + 1)):
                return None
        positions = []
        for item, run, has in zip(items, blocks, present):
            kept = [n for n, t in enumerate(targets) if not t or t in has]
            if [items[full][n] for n in kept] != item:
                return None
            positions.append(dict(zip(kept, run)))
        return cls(blocks, paths, full, targets, present, positions)

    def columns(self) -> dict[tuple[int, int], tuple[int, ...] | None] | None:
        """Per size of ``body`` (position, ordinal): the parameter column it is; None: a literal.

        A size that differs between instances is its values, one per
        instance. An optional statement's size is the column of the first
        size of the block's own that equals it wherever it is (a
        projection shortcut's ``out_planes``), else a literal when the
        instances that have it agree; else there is none (None is returned).
        """
        found: dict[tuple[int, int], tuple[int, ...] | None] = {}
        partial: dict[tuple[int, int], tuple[int | None, ...]] = {}
        for position, statement in enumerate(self.body):
            for ordinal in range(_size_count(statement)):
                values = tuple(
                    _sizes(p[position])[ordinal] if position in p else None
                    for p in self.positions
                )
                if None in values:
                    partial[position, ordinal] = values
                elif len(set(values)) == 1:
                    found[position, ordinal] = None
                else:
                    found[position, ordinal] = values
        complete = [c for c in found.values() if c is not None]
        for at, values in partial.items():
            equal = [
                c
                for c in complete
                if all(v is None or v == w for v, w in zip(values, c))
            ]
            if equal:
                found[at] = equal[0]
            elif len({v for v in values if v is not None}) == 1:
                found[at] = None
            else:
                return None
        return found

    def flags(
        self, names: Sequence[tuple[str, str]], taken: set[str]
    ) -> tuple[tuple[str, str], ...]:
        """Each optional submodule and its ``bool`` parameter: the block function's flag."""
        by_target = dict(names)
        flags: list[tuple[str, str]] = []
        for target in dict.fromkeys(t for t in self.targets if t):
            base = by_target.get(target) or identifier(f"has_{target}")
            flags.append((target, first_free(base, taken | {f for _, f in flags}, "_")))
        return tuple(flags)


def _sizes(statement: Statement) -> list[int]:
    return [k for k in statement.keys if not isinstance(k, str)]


def _size_count(statement: Statement) -> int:
    return len(statement.keys) - len(statement.names)


def _parameter_order(parameters: list[str], names: list[str]) -> list[str]:
    """The size parameters: those the block was built with in that order, then the others.

    ``parameters``: the block's ``__init__`` arguments (a block read back
    from a functional file: its init function's sizes first, in their
    order); ``names`` in the order the sizes first appear.
    """
    own = sorted((n for n in names if n in parameters), key=parameters.index)
    return own + [name for name in names if name not in own]


def _lines_after_black(lines: list[str], indent: int) -> int:
    """About how many lines ``lines``, indented by ``indent``, take once black lays them out."""
    return sum(3 if indent + len(line) > LINE_LENGTH else 1 for line in lines)


def _run(statements: list[Statement], path: str) -> tuple[int, int] | None:
    """``(start, end)``: the statements naming keys under ``path``, when they are one run.

    Every key such a statement names lies under ``path`` (a statement reading
    a key from elsewhere cannot move into the block's function).
    """
    head = path + "."
    at = [
        n
        for n, statement in enumerate(statements)
        if any(key.startswith(head) for key in statement.names)
    ]
    if not at or at != list(range(at[0], at[-1] + 1)):
        return None
    if any(
        not key.startswith(head)
        for statement in statements[at[0] : at[-1] + 1]
        for key in statement.names
    ):
        return None
    return at[0], at[-1] + 1


def _shape(run: list[Statement], path: str) -> tuple | None:
    """The run's statements with ``path`` taken out of their keys and sizes left out."""
    shape = []
    for statement in run:
        relative = []
        for key in statement.keys:
            if isinstance(key, str):
                rest = key[len(path) + 1 :]
                if not _PLAIN_KEY.fullmatch(rest):
                    return None
                relative.append(rest)
            else:
                relative.append(int)
        shape.append((statement.pieces, tuple(relative)))
    return tuple(shape)


def _parameter_names(
    body: list[Statement],
    path: str,
    columns: dict[tuple[int, int], tuple[int, ...] | None],
    model: nn.Module,
    written: dict[str, _Function],
) -> dict[tuple[int, ...], tuple[str, str]]:
    """Each parameter column's name and place, from the argument it fills first.

    The name is that of the layer argument (``out_channels``) or of the
    init function's parameter (``planes``) the size fills, numbered when
    another column took it; the place is the attribute it is an argument
    of (``conv3``), for :func:`~.init_names.init_names`. ``body``: the
    statements of the instance at ``path``.
    """
    names: dict[tuple[int, ...], tuple[str, str]] = {}
    for position, statement in enumerate(body):
        arguments = _argument_names(statement, model, written)
        place = identifier(statement.names[0][len(path) + 1 :])
        for ordinal, argument in enumerate(arguments):
            column = columns[position, ordinal]
            if column is not None and column not in names:
                used = {name for name, _ in names.values()}
                names[column] = (first_free(argument, used, "_"), place)
    return names


def _argument_names(
    statement: Statement, model: nn.Module, written: dict[str, _Function]
) -> list[str]:
    """What each size of ``statement`` is, by name: its function's or its layer's parameter.

    A call of an init function written already (a block in a block) passes
    that function's parameters; a layer call's sizes are the layer's
    constructor arguments of equal value (the first size preferring an
    ``out_`` one, the second an ``in_`` one: a depthwise convolution's
    ``in_channels`` and ``out_channels`` are equal); ``size`` when none is.
    """
    sizes = [k for k in statement.keys if not isinstance(k, str)]
    called = re.match(r"params \|?= (\w+)\(", statement.pieces[0])
    if called and called.group(1) in written:
        return list(written[called.group(1)].parameters)
    try:
        layer = model.get_submodule(statement.names[0]) if statement.names else None
    except AttributeError:
        layer = None
    if layer is None:
        return ["size"] * len(sizes)
    try:
        parameters = list(inspect.signature(type(layer).__init__).parameters)[1:]
    except (TypeError, ValueError):
        parameters = []
    names = []
    for ordinal, size in enumerate(sizes):
        equal = [
            p
            for p in parameters
            if type(getattr(layer, p, None)) is int and getattr(layer, p) == size
        ]
        preferred = {0: "out_", 1: "in_"}.get(ordinal)
        equal.sort(key=lambda p: not (preferred and p.startswith(preferred)))
        names.append(equal[0] if equal else "size")
    return names


def _relative(statement: Statement, path: str, names: list[str | None]) -> Statement:
    """``statement`` in the function: keys under its prefix, sizes as its parameters.

    ``names``: per size, the parameter it is (None: a literal every
    instance shares). The keys stay slots, relative to the instance, so
    that :func:`~.init_loops.fold_loops` may loop over them.
    """
    pieces, keys = [statement.pieces[0]], []
    sizes = iter(names)
    for key, piece in zip(statement.keys, statement.pieces[1:]):
        if isinstance(key, str):
            keys.append(key[len(path) + 1 :])
            pieces.append(piece)
            continue
        name = next(sizes)
        pieces[-1] += (name if name is not None else str(key)) + piece
    return Statement(tuple(pieces), tuple(keys))


def _definition(
    function: _Function, body: list[Statement], targets: list[str]
) -> list[str]:
    """``def block_params(prefix: str, ...) -> dict[str, Tensor]:`` and its body.

    ``targets``: per statement, the optional submodule it belongs to
    (:class:`_Layout`); such a stretch is written under its flag.
    """
    flag_of = dict(function.flags)
    lines: list[str] = []
    position = 0
    while position < len(body):
        target = targets[position]
        end = position
        while end < len(body) and targets[end] == target:
            end += 1
        stretch = fold_loops(body[position:end], within=PREFIX)
        if target:
            lines += [f"if {flag_of[target]}:", *(f"    {line}" for line in stretch)]
        else:
            lines += stretch
        position = end
    if lines[0].startswith("params |= "):
        lines[0] = "params = " + lines[0][len("params |= ") :]
    else:
        lines.insert(0, "params: dict[str, Tensor] = {}")
    lines[:0] = [f"{name} = {text}" for name, text in function.sizes]
    parameters = "".join(f", {name}: int" for name in function.parameters)
    parameters += "".join(f", {flag}: bool = False" for _, flag in function.flags)
    return [
        f"def {function.name}({PREFIX}: str{parameters}) -> dict[str, Tensor]:",
        *(f"    {line}" if line else "" for line in lines),
        "    return params",
    ]


def _call(
    function: _Function, path: str, sizes: list[int], flags: list[str]
) -> Statement:
    """``params |= block_params("layers.0", 16, 96, has_shortcut=True)``: path and sizes are slots."""
    flagged = "".join(f", {flag}=True" for flag in flags)
    pieces = [f"params |= {function.name}(", *([", "] * len(sizes)), flagged + ")"]
    return Statement(tuple(pieces), (path, *sizes))


__all__ = ["BlockUse", "PREFIX", "with_block_functions"]
