"""Constructor trees as data, and the literals that vary between instances of a class.

A block's ``__init__`` is described as constructor trees (:class:`Ctor`).
Instances of one class whose trees have the same :func:`structure` share the
class; :func:`assign_holes` turns the literals that differ between them into
constructor parameters (:class:`Hole`), one per distinct column of values,
named after the argument they fill. :func:`render_value` writes a tree as
source text.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping, Sequence

import torch

from ..init_slices import RecoveredCode, filled
from ..naming import first_free, identifier
from ..tensor_builds import TensorBuild
from ..opspecs.spec import REQUIRED, Param, layout
from .expressions import ExpressionPrinter
from .progressions import progression
from .spacing import black_spaced
from .values import literal

POSITIONAL = Param("")  # an argument that has no name (``*args`` of a container)


@dataclass(frozen=True)
class Hole:
    """A constructor parameter of the generated class, standing for a literal.

    ``name`` may be an expression of parameters instead (``bottleneck_width * 2``:
    :mod:`.derived_sizes`); either prints as it is.
    """

    name: str


@dataclass(frozen=True)
class Ctor:
    """A constructor call: ``callee(values...)`` with the first ``positional`` unnamed."""

    callee: str
    values: tuple[tuple[Param, Any], ...]
    positional: int
    #: the import line the callee needs, for a class of another library
    #: (``from einops.layers.torch import Rearrange``: a third-party leaf)
    imported: str = ""


@dataclass(frozen=True)
class Repeated:
    """Alike constructor calls the user's ``__init__`` writes as one comprehension.

    ``nn.ModuleList([Block(dim) for _ in range(depth)])``: ``items`` are the
    calls (all equal), ``count`` the source's expression for how many
    (:mod:`.source_arguments`); ``starred`` for the positional children of an
    ``nn.Sequential`` (``nn.Sequential(*[... for _ in range(layers)])``).
    """

    items: tuple[Any, ...]
    count: str
    starred: bool = False


@dataclass(frozen=True)
class Assign:
    """One statement of ``__init__``: ``self.<attribute> = value`` or a buffer."""

    attribute: str
    value: Any
    buffer: bool = False
    persistent: bool = True


@dataclass(frozen=True)
class BuiltIf:
    """``value if flag else None``: an optional submodule ``__init__`` builds itself.

    ``flag`` is the user's boolean parameter (``cross_attention``) or the
    condition their source builds it under (``stride != 1 or in_planes !=
    planes``): :mod:`.optional_flags`.
    """

    value: Any
    flag: str


@dataclass(frozen=True)
class Tied:
    """The value of a tie statement, ``target = source`` (both written from ``self``).

    Written after the layers are built, as the user wrote it; no literal in it
    becomes a constructor parameter, and two classes tie alike only when
    both texts are equal (:func:`structure`).
    """

    target: str
    source: str


@dataclass(frozen=True)
class Recovered:
    """A tensor built by the user's own ``__init__`` statements (:mod:`~nnconvert.init_slices`).

    ``values`` fill the code's placeholders, one per outside literal the
    user's code read (``self.window_size``), each named after it: like a
    constructor's arguments, those that differ between instances of a class
    become its parameters (:func:`assign_holes`), and the code reads them.
    """

    code: RecoveredCode
    values: tuple[tuple[Param, Any], ...]
    #: the tensor's value as :func:`~.classes.tensor_value` writes it, for a
    #: class some of whose instances' code is not recovered
    fallback: Any = field(default=None, compare=False)
    #: how the value is written around the code's: ``nn.Parameter({})`` for a parameter
    wrapper: str = "{}"

    @classmethod
    def of(cls, code: RecoveredCode, fallback: Any, wrapper: str = "{}") -> Recovered:
        values = tuple((Param(s), v) for s, v in zip(code.sources, code.values))
        return cls(code, values, fallback, wrapper)

    def with_values(self, values: tuple[tuple[Param, Any], ...]) -> Recovered:
        return Recovered(self.code, values, self.fallback, self.wrapper)


@dataclass(frozen=True)
class MethodBuilt:
    """A tensor the user's method computed, built by that method's body (CLIP's mask).

    ``CLIP.__init__`` hands ``attn_mask=self.build_attention_mask()`` down to
    every block, which keeps it as a plain attribute. The block's
    ``__init__`` calls a module-level function with the method's body
    (:func:`~nnconvert.tensor_builds.method_build`, checked bit for bit),
    defined once before the classes, rather than the tensor's bytes.
    """

    build: TensorBuild


def recovered_lines(
    value: Any, printer: ExpressionPrinter, written: set[str] | None = None
) -> list[str]:
    """The statements that come before ``value``'s assignment (none unless recovered).

    ``written``: the statements of fresh-checked code (:mod:`~nnconvert.init_slices`)
    ``__init__`` wrote already, for another tensor sliced from the same
    statements (ViT's ``num_cls_tokens = ...``): the user ran each once,
    and one that draws must draw once. Updated with this code's.
    """
    if not isinstance(value, Recovered):
        return []
    replacements = _replacements(value, printer)
    code = value.code
    if written is not None and code.fresh_checked:
        texts = [filled(s.code, replacements) for s in code.statements]
        kept = [s for s, t in zip(code.statements, texts) if t not in written]
        written.update(texts)
        code = replace(code, statements=tuple(kept))
    lines = [black_spaced(line) for line in code.lines(replacements)]
    _use_modules(lines + [render_value(value, printer)], printer)
    return lines + list(value.code.comments)


def _replacements(value: Recovered, printer: ExpressionPrinter) -> list[str]:
    return [
        v.name if isinstance(v, Hole) else repr(v) for _, v in value.values
    ]  # a literal as Python writes it back (is_literal values only)


def _use_modules(lines: list[str], printer: ExpressionPrinter) -> None:
    """Import ``torch`` and ``math`` when the recovered code names them."""
    text = "\n".join(lines)
    for module in ("torch", "math"):
        if f"{module}." in text:
            printer.use(module)


def empty_tensor(tensor: torch.Tensor) -> Ctor:
    """``torch.empty(3, 4)``: shapes only; weights come from the original state dict."""
    values: tuple = tuple((POSITIONAL, d) for d in tensor.shape) or ((POSITIONAL, ()),)
    if tensor.dtype != torch.get_default_dtype():
        values += ((Param("dtype", None), tensor.dtype),)
    return Ctor("torch.empty", values, len(tensor.shape) or 1)


def leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Param | None, Any]]:
    """``(path, parameter, literal)`` for every literal in a constructor tree."""
    if isinstance(value, Tied):
        return
    if isinstance(value, Recovered):
        for i, (param, item) in enumerate(value.values):
            yield path + (i,), param, item
        return
    if isinstance(value, Ctor):
        for i, (param, item) in enumerate(value.values):
            if isinstance(item, (Ctor, list, dict, Repeated)):
                yield from leaves(item, path + (i,))
            else:
                yield path + (i,), param, item
    elif isinstance(value, Repeated):
        yield from leaves(list(value.items), path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, path + (i,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, path + (key,))
    else:
        yield path, None, value


def structure(value: Any) -> Any:
    """The constructor tree with every literal replaced by a placeholder.

    Literals of any type may differ between instances of one class: inception's
    ``BasicConv2d`` takes ``kernel_size=3`` in one place and ``(1, 7)`` in another.
    """
    if isinstance(value, Tied):
        return ("tied", value.target, value.source)
    if isinstance(value, Recovered):
        code = value.code
        names = tuple(p for p, _ in value.values)
        return (
            "recovered",
            code.statements,
            code.value,
            code.comments,
            names,
            value.wrapper,
        )
    if isinstance(value, Ctor):
        return (
            value.callee,
            value.imported,
            value.positional,
            tuple((p, structure(v)) for p, v in value.values),
        )
    if isinstance(value, Repeated):
        return ("repeated", value.count, value.starred, structure(list(value.items)))
    if isinstance(value, list):
        return ("list", tuple(structure(v) for v in value))
    if isinstance(value, dict):
        return (
            type(value).__name__,
            tuple((k, structure(v)) for k, v in value.items()),
        )
    return "literal"


@dataclass
class Holes:
    """Constructor parameters of a class: required ones first, then ones with defaults.

    A parameter has a default when it fills an argument that has one and some
    instance uses that value (``stride=1``); those instances then omit it.
    """

    names: list[str]
    values_per_instance: list[list[Any]]
    template: list[Assign]
    defaults: dict[str, Any] = field(default_factory=dict)
    #: locals ``__init__`` computes before its layers, each with its expression
    #: (``group_width = bottleneck_width * 2``: :mod:`.derived_sizes`)
    sizes: list[tuple[str, str]] = field(default_factory=list)

    def renamed(self, names: dict[str, str]) -> Holes:
        """The same parameters under new ``names`` (``{old: new}``; absent: kept)."""
        return Holes(
            [names.get(n, n) for n in self.names],
            self.values_per_instance,
            [
                Assign(a.attribute, _renamed(a.value, names), a.buffer, a.persistent)
                for a in self.template
            ],
            {names.get(n, n): v for n, v in self.defaults.items()},
            self.sizes,
        )

    def reordered(self, order: list[str]) -> Holes:
        """The same parameters in ``order`` (a permutation of :attr:`names`).

        Required ones stay before those with defaults, whatever ``order`` says.
        """
        names = sorted(order, key=lambda n: n in self.defaults)
        at = [self.names.index(n) for n in names]
        values = [[row[i] for i in at] for row in self.values_per_instance]
        return Holes(names, values, self.template, self.defaults, self.sizes)

    def derived(
        self,
        expressions: dict[str, str],
        added: list[tuple[str, list[Any], Any]],
        sizes: Sequence[tuple[str, str]] = (),
    ) -> Holes:
        """``expressions`` (``{name: text}``) written where their parameters were, which go.

        ``added``: the parameters the expressions read that the class did not
        take yet, each with its value per instance and its default (or
        ``REQUIRED``) (:mod:`.derived_sizes`); ``sizes``: the locals ``__init__``
        computes first, each with its expression (``group_width``).
        """
        keep = [i for i, n in enumerate(self.names) if n not in expressions]
        names = [self.names[i] for i in keep] + [n for n, _, _ in added]
        values = [
            [row[i] for i in keep] + [column[j] for _, column, _ in added]
            for j, row in enumerate(self.values_per_instance)
        ]
        template = [
            Assign(a.attribute, _renamed(a.value, expressions), a.buffer, a.persistent)
            for a in self.template
        ]
        defaults = {n: v for n, v in self.defaults.items() if n not in expressions}
        defaults |= {n: d for n, _, d in added if d is not REQUIRED}
        return Holes(names, values, template, defaults, [*self.sizes, *sizes])

    def parameters(self) -> list[tuple[Param, bool]]:
        """``(parameter, positional)`` in signature order."""
        return [
            (Param(n, self.defaults.get(n, REQUIRED)), n not in self.defaults)
            for n in self.names
        ]


def assign_holes(
    inits: list[list[Assign]], held: Mapping[tuple, str] | None = None
) -> Holes:
    """Literals that differ between instances -> named parameters (one per column).

    ``held``: ``(attribute, *path)`` -> the expression the user's source
    writes there (:mod:`.source_arguments`); such a column is a parameter
    even where every instance has the same literal, named by the expression
    when it is a name (else as any other, for the caller to replace).
    """
    held = held or {}
    columns: dict[tuple, list[Any]] = {}
    params: dict[tuple, Param | None] = {}
    written: dict[tuple, str] = {}
    for position, init in enumerate(inits):
        for index, assign in enumerate(init):
            for path, param, value in leaves(assign.value):
                columns.setdefault((index,) + path, []).append(value)
                params[(index,) + path] = param
                text = held.get((assign.attribute,) + path)
                if text is not None:
                    written[(index,) + path] = text
    by_column: dict[tuple, str] = {}
    names: list[str] = []
    defaults: dict[str, Any] = {}
    holes_at: dict[tuple, Hole] = {}
    held_names = {t for t in written.values() if t.isidentifier()}
    # an unwritten column equal to exactly one parameter the source names is it
    named_by: dict[tuple, set[str]] = {}
    for path, text in written.items():
        if text.isidentifier():
            key = tuple(_hashable(v) for v in columns[path])
            named_by.setdefault(key, set()).add(text)
    for path, values in columns.items():
        text = written.get(path)
        if text is None and all(_same(values[0], v) for v in values[1:]):
            continue
        key = tuple(_hashable(v) for v in values)
        if text is None and len(named_by.get(key, ())) == 1:
            (text,) = named_by[key]
        if text is not None:
            key = ("held", text, key)
        if key not in by_column:
            param = params[path]
            base = identifier(param.name) if param is not None and param.name else "arg"
            if param is None and len(path) == 1:  # ``self.has_skip = True``: its name
                base = identifier(inits[0][path[0]].attribute)
            if text is not None and text.isidentifier():
                name = text
            else:
                name = first_free(base, {*names, *held_names, "self"}, "_")
            by_column[key] = name
            names.append(name)
            if param is not None and param.default is not REQUIRED:
                if any(_same(param.default, v) for v in values):
                    defaults[name] = param.default
        holes_at[path] = Hole(by_column[key])
    template = [
        Assign(
            a.attribute, _substitute(a.value, holes_at, (i,)), a.buffer, a.persistent
        )
        for i, a in enumerate(inits[0])
    ]
    values_per_instance = []
    for init in inits:
        found: dict[str, Any] = {}
        for index, assign in enumerate(init):
            for path, _, value in leaves(assign.value):
                hole = holes_at.get((index,) + path)
                if hole is not None:
                    found.setdefault(hole.name, value)
        values_per_instance.append(found)
    names.sort(key=lambda n: n in defaults)  # required parameters first
    values = [[found[n] for n in names] for found in values_per_instance]
    return Holes(names, values, template, defaults)


def substitute(value: Any, holes_at: dict[tuple, Hole], path: tuple) -> Any:
    """``value`` (the tree at ``path``) with the literal at each path of ``holes_at`` a hole."""
    return _substitute(value, holes_at, path)


def _substitute(value: Any, holes_at: dict[tuple, Hole], path: tuple) -> Any:
    if isinstance(value, Recovered):
        return value.with_values(
            tuple(
                (param, holes_at.get(path + (i,), item))
                for i, (param, item) in enumerate(value.values)
            )
        )
    if isinstance(value, Ctor):
        items = tuple(
            (param, _substitute(item, holes_at, path + (i,)))
            for i, (param, item) in enumerate(value.values)
        )
        return Ctor(value.callee, items, value.positional, value.imported)
    if isinstance(value, Repeated):
        items = _substitute(list(value.items), holes_at, path)
        return Repeated(tuple(items), value.count, value.starred)
    if isinstance(value, list):
        return [_substitute(v, holes_at, path + (i,)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        items = ((k, _substitute(v, holes_at, path + (k,))) for k, v in value.items())
        return type(value)(items)
    return holes_at.get(path, value)


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, Repeated):
        items = tuple(_renamed(v, names) for v in value.items)
        return Repeated(items, names.get(value.count, value.count), value.starred)
    if isinstance(value, Recovered):
        return value.with_values(
            tuple((param, _renamed(item, names)) for param, item in value.values)
        )
    if isinstance(value, Hole):
        return Hole(names.get(value.name, value.name))
    if isinstance(value, Ctor):
        items = tuple((param, _renamed(item, names)) for param, item in value.values)
        return Ctor(value.callee, items, value.positional, value.imported)
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    if isinstance(value, dict):
        return type(value)((k, _renamed(v, names)) for k, v in value.items())
    return value


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and _hashable(a) == _hashable(b)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return ("list", tuple(_hashable(v) for v in value))
    if isinstance(value, tuple):
        return ("tuple", tuple(_hashable(v) for v in value))
    return (type(value).__name__, repr(value))


def _all_constructors(values: list[Any]) -> bool:
    """Whether every item is a constructor call: each evaluation builds a new object.

    ``[Block() for _ in range(3)]`` then builds what ``[Block(), Block(),
    Block()]`` does, in the same order.
    """
    return all(isinstance(v, Ctor) for v in values)


def render_value(value: Any, printer: ExpressionPrinter) -> str:
    """Source text of a constructor tree; holes print as their parameter names.

    The imports it needs (``nn``, ``torch``, ``OrderedDict``) go to ``printer``.
    """
    if isinstance(value, Hole):
        return value.name
    if isinstance(value, Tied):
        return value.source
    if isinstance(value, BuiltIf):
        return f"{render_value(value.value, printer)} if {value.flag} else None"
    if isinstance(value, MethodBuilt):
        return f"{value.build.name}()"
    if isinstance(value, Recovered):
        if value.wrapper.startswith("nn."):
            printer.use("nn")
        return value.wrapper.format(
            value.code.value_text(_replacements(value, printer))
        )
    if isinstance(value, Ctor):
        prefix = value.callee.split(".")[0]
        if prefix in ("nn", "torch"):
            printer.use(prefix)
        if value.imported:
            printer.use(value.imported)
        args, kwargs = layout(list(value.values), value.positional)
        parts = [render_value(a, printer) for a in args]
        stepping = progression(parts) if _all_constructors(args) else None
        if value.callee == "nn.Sequential" and not kwargs and stepping is not None:
            return f"nn.Sequential(*{stepping.comprehension})"  # DenseNet's stages
        parts += [f"{k}={render_value(v, printer)}" for k, v in kwargs.items()]
        return f"{value.callee}({', '.join(parts)})"
    if isinstance(value, Repeated):
        item = render_value(value.items[0], printer)
        star = "*" if value.starred else ""
        return f"{star}[{item} for _ in range({value.count})]"
    if isinstance(value, OrderedDict):
        printer.use("OrderedDict")
        items = ", ".join(
            f"({literal(k)}, {render_value(v, printer)})" for k, v in value.items()
        )
        return f"OrderedDict([{items}])"
    if isinstance(value, list):
        items = [render_value(v, printer) for v in value]
        if len(items) >= 2 and _all_constructors(value) and len(set(items)) == 1:
            # an nn.ModuleList of n alike members, as people build one
            return f"[{items[0]} for _ in range({len(items)})]"
        stepping = progression(items) if _all_constructors(value) else None
        if stepping is not None:
            return stepping.comprehension
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        items = ", ".join(
            f"{literal(k)}: {render_value(v, printer)}" for k, v in value.items()
        )
        return "{" + items + "}"
    return printer.argument(value)
