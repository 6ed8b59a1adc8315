"""Module and mixed style: one class per user-defined block, constructor arguments derived.

Every instance of a block is described as data first: its ``__init__`` is a
list of constructor calls (:class:`Ctor`) and its ``forward`` is text. Instances
of one class whose descriptions have the same shape -- equal ``forward`` and
equal constructor structure, literals aside -- share one class; the literals
that differ between them become constructor parameters, named after the
argument they fill (``in_channels``, ``stride``), one parameter per distinct
column of values. So ResNet's eight BasicBlocks print as ``BasicBlock(64, 64,
1)`` … with one ``class BasicBlock``. Instances whose shape differs (a block
with a ``downsample`` branch) get a class each (``BasicBlock2``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import fx, nn

from ..errors import ConversionError
from ..hierarchy import Instance, is_defined_class, is_sequential_class
from ..opspecs import spec_for_module
from ..opspecs.spec import Param, layout
from ..options import Style
from .body import print_body
from .expressions import ExpressionPrinter
from .names import identifier, is_plain_identifier
from .values import literal

POSITIONAL = Param("")  # an argument that has no name (``*args`` of a container)


@dataclass(frozen=True)
class Hole:
    """A constructor parameter of the generated class, standing for a literal."""

    name: str


@dataclass(frozen=True)
class Ctor:
    """A constructor call: ``callee(values...)`` with the first ``positional`` unnamed."""

    callee: str
    values: tuple[tuple[Param, Any], ...]
    positional: int


@dataclass(frozen=True)
class Assign:
    """One statement of ``__init__``: ``self.<attribute> = value`` or a buffer."""

    attribute: str
    value: Any
    buffer: bool = False
    persistent: bool = True


@dataclass
class Described:
    """An instance as data, before instances are grouped into classes."""

    instance: Instance
    sequential: bool  # printed as an nn.Sequential subclass
    init: list[Assign]
    parameters: list[str] = field(default_factory=list)  # forward's signature
    body: list[str] = field(default_factory=list)  # forward's lines


@dataclass
class ClassText:
    name: str
    text: str


class ClassPrinter:
    """Prints every instance's class; instances of one shape share a class."""

    def __init__(self, style: Style, printer: ExpressionPrinter, top_name: str):
        self.style = style
        self.printer = printer
        self.top_name = top_name
        self.calls: dict[int, Ctor] = {}  # id(instance) -> how its parent builds it
        self.used_names: set[str] = set()
        self.first_shape: dict[type, set[str]] = (
            {}
        )  # attributes of each class's first shape

    def print_classes(self, instances: list[Instance]) -> list[str]:
        """Class texts in dependency order (children first); the root's is last.

        Instances are grouped level by level (blocks without blocks inside
        first), because a parent's constructor call of a child depends on the
        class and parameters the child's whole group gets.
        """
        levels: dict[int, list[Instance]] = {}
        heights = _heights(instances)
        for instance in instances:
            levels.setdefault(heights[id(instance.module)], []).append(instance)
        texts = []
        for level in sorted(levels):
            groups: dict[tuple, list[Described]] = {}
            for instance in levels[level]:
                described = self._describe(instance)
                key = (type(instance.module), _shape(described))
                groups.setdefault(key, []).append(described)
            for (cls, _), members in groups.items():
                name = self._class_name(cls, members)
                holes = _assign_holes([m.init for m in members])
                for member, values in zip(members, holes.values_per_instance):
                    arguments = tuple(
                        (Param(h), v) for h, v in zip(holes.names, values)
                    )
                    self.calls[id(member.instance.module)] = Ctor(
                        name, arguments, len(values)
                    )
                texts.append(self._class_text(name, members[0], holes))
        return texts

    # -- description ---------------------------------------------------------

    def _describe(self, instance: Instance) -> Described:
        module = instance.module
        graph_module = instance.graph
        if is_sequential_class(module):
            values = _sequential_arguments(
                list(module.named_children()), self.describe_module
            )
            return Described(
                instance,
                True,
                [Assign("", Ctor("super().__init__", values, len(values)))],
            )
        reserved = frozenset(self.used_names)
        parameters, body = print_body(
            graph_module.graph, self.style, self.printer, reserved
        )
        init = [
            self._assignment(name, value, module)
            for name, value in _attributes(graph_module, module)
        ]
        return Described(instance, False, init, parameters, body)

    def _assignment(self, name: str, value: Any, owner: nn.Module) -> Assign:
        if not is_plain_identifier(name):
            raise ConversionError(f"attribute name {name!r} is not a Python identifier")
        if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
            persistent = name not in owner._non_persistent_buffers_set
            return Assign(name, _empty(value), buffer=True, persistent=persistent)
        return Assign(name, self.describe_value(name, value))

    def describe_value(self, name: str, value: Any) -> Any:
        if isinstance(value, nn.Parameter):
            flag = (
                () if value.requires_grad else ((Param("requires_grad", True), False),)
            )
            return Ctor("nn.Parameter", ((POSITIONAL, _empty(value)),) + flag, 1)
        if isinstance(value, nn.Module):
            return self.describe_module(name, value)
        raise ConversionError(
            f"cannot write attribute {name!r} of type {type(value).__name__}"
        )

    def describe_module(self, name: str, module: nn.Module) -> Any:
        """The constructor call that builds ``module`` (a layer, block or container)."""
        if is_defined_class(module):
            try:
                return self.calls[id(module)]
            except KeyError:
                raise ConversionError(
                    f"submodule {name!r} ({type(module).__qualname__}) is never called"
                ) from None
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            values = _sequential_arguments(children, self.describe_module)
            return Ctor("nn.Sequential", values, len(values))
        if isinstance(module, (nn.ModuleList, nn.ParameterList)):
            items = [
                self.describe_value(f"{name}[{i}]", v) for i, v in enumerate(module)
            ]
            return Ctor(f"nn.{type(module).__name__}", ((POSITIONAL, items),), 1)
        if isinstance(module, (nn.ModuleDict, nn.ParameterDict)):
            items = {
                k: self.describe_value(f"{name}[{k!r}]", v) for k, v in module.items()
            }
            return Ctor(f"nn.{type(module).__name__}", ((POSITIONAL, items),), 1)
        spec = spec_for_module(module)
        if spec is None:
            raise ConversionError(
                f"submodule {name!r} is a {type(module).__module__}.{type(module).__qualname__}, "
                "which has no op spec: nnconvert cannot write its constructor"
            )
        spec.rebuild(module)
        values = spec.constructor_values(module)
        dtypes = {
            t.dtype for t in module.state_dict().values() if t.is_floating_point()
        }
        if dtypes and dtypes != {torch.get_default_dtype()}:
            if len(dtypes) > 1:
                raise ConversionError(
                    f"submodule {name!r} mixes dtypes {sorted(map(str, dtypes))}"
                )
            values = values + [(Param("dtype", None), dtypes.pop())]
        return Ctor(f"nn.{type(module).__name__}", tuple(values), spec.ctor_positional)

    # -- naming --------------------------------------------------------------

    def _class_name(self, cls: type, members: list[Described]) -> str:
        """The class's name; a second shape of it is named by what it adds.

        ``BasicBlockWithDownsample`` when it has attributes the first shape
        lacks, else ``BasicBlock2``.
        """
        is_root = any(not m.instance.path for m in members)
        base = self.top_name if is_root else identifier(cls.__name__)
        attributes = {a.attribute for a in members[0].init}
        first = self.first_shape.setdefault(cls, attributes)
        extra = [a.attribute for a in members[0].init if a.attribute not in first]
        if extra and not is_root:
            base += "With" + "".join(_camel(a) for a in extra)
        name, counter = base, 1
        while name in self.used_names:
            counter += 1
            name = f"{base}{counter}"
        self.used_names.add(name)
        return name

    # -- text ----------------------------------------------------------------

    def _class_text(self, name: str, described: Described, holes: "Holes") -> str:
        parameters = ", ".join(["self", *holes.names])
        template = holes.template
        if described.sequential:
            (assign,) = template
            call = self.render(assign.value)
            self.printer.use("nn")
            return (
                f"class {name}(nn.Sequential):\n"
                f"    def __init__({parameters}):\n"
                f"        {call}\n"
            )
        self.printer.use("nn")
        init = ["super().__init__()"] + [self._statement(a) for a in template]
        return (
            f"class {name}(nn.Module):\n"
            f"    def __init__({parameters}):\n"
            + "".join(f"        {line}\n" for line in init)
            + "\n"
            + f"    def forward({', '.join(['self', *described.parameters])}):\n"
            + "".join(f"        {line}\n" for line in described.body)
        )

    def _statement(self, assign: Assign) -> str:
        if assign.buffer:
            flag = "" if assign.persistent else ", persistent=False"
            return (
                f"self.register_buffer({literal(assign.attribute)}, "
                f"{self.render(assign.value)}{flag})"
            )
        return f"self.{assign.attribute} = {self.render(assign.value)}"

    def render(self, value: Any) -> str:
        """Source text of a constructor tree; holes print as their parameter names."""
        if isinstance(value, Hole):
            return value.name
        if isinstance(value, Ctor):
            self._use_callee(value.callee)
            args, kwargs = layout(list(value.values), value.positional)
            parts = [self.render(a) for a in args]
            parts += [f"{k}={self.render(v)}" for k, v in kwargs.items()]
            return f"{value.callee}({', '.join(parts)})"
        if isinstance(value, OrderedDict):
            self.printer.use("OrderedDict")
            items = ", ".join(
                f"({literal(k)}, {self.render(v)})" for k, v in value.items()
            )
            return f"OrderedDict([{items}])"
        if isinstance(value, list):
            return "[" + ", ".join(self.render(v) for v in value) + "]"
        if isinstance(value, dict):
            return (
                "{"
                + ", ".join(f"{literal(k)}: {self.render(v)}" for k, v in value.items())
                + "}"
            )
        return self.printer.argument(value)

    def _use_callee(self, callee: str) -> None:
        prefix = callee.split(".")[0]
        if prefix in ("nn", "torch"):
            self.printer.use(prefix)


def _camel(name: str) -> str:
    """``down_sample`` -> ``DownSample``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _heights(instances: list[Instance]) -> dict[int, int]:
    """0 for blocks without blocks inside, else one more than the highest block inside."""
    heights: dict[int, int] = {}

    def height(module: nn.Module) -> int:
        if id(module) not in heights:
            inner = [
                height(m)
                for m in module.modules()
                if m is not module and is_defined_class(m)
            ]
            heights[id(module)] = 1 + max(inner) if inner else 0
        return heights[id(module)]

    for instance in instances:
        height(instance.module)
    return heights


def _attributes(
    graph_module: fx.GraphModule, original: nn.Module
) -> Iterator[tuple[str, Any]]:
    """Top-level attributes ``__init__`` must create, in the original's order.

    The original's attributes keep their declaration order (so the state_dict
    order is the original's); layers the conversion adds go where they are
    first used; unused attributes that own state come last.
    """
    declared = _declaration_order(original)
    used: list[str] = []
    for node in graph_module.graph.nodes:
        if node.op in ("call_module", "get_attr") and node.target != "training":
            top = str(node.target).split(".")[0]
            if top not in used:
                used.append(top)
    kept = [
        n for n in used if n in declared and _is_original(n, graph_module, original)
    ]
    existing = iter(sorted(kept, key=declared.index))
    order = [next(existing) if name in kept else name for name in used]
    state = {key.split(".")[0] for key in original.state_dict()}
    order += [name for name in declared if name not in order and name in state]
    for name in order:
        value = getattr(graph_module, name, None)
        if value is None or type(value) is nn.Module:  # fx's stand-in for a container
            value = getattr(original, name)
        yield name, value


def _declaration_order(module: nn.Module) -> list[str]:
    """Top-level attribute names as ``state_dict`` orders them: tensors, then children."""
    tensors = [
        *module.named_parameters(recurse=False),
        *module.named_buffers(recurse=False),
    ]
    return [name for name, _ in [*tensors, *module.named_children()]]


def _is_original(name: str, graph_module: fx.GraphModule, original: nn.Module) -> bool:
    """The attribute is the original's own (not a layer the conversion created)."""
    mine, theirs = getattr(graph_module, name, None), getattr(original, name, None)
    return theirs is not None and (
        mine is None or mine is theirs or type(mine) is nn.Module
    )


def _sequential_arguments(children: list[tuple[str, nn.Module]], describe) -> tuple:
    """``nn.Sequential`` arguments: children in order, or an OrderedDict for named ones."""
    if [name for name, _ in children] == [str(i) for i in range(len(children))]:
        return tuple((POSITIONAL, describe(name, child)) for name, child in children)
    return (
        (POSITIONAL, OrderedDict((name, describe(name, c)) for name, c in children)),
    )


def _empty(tensor: torch.Tensor) -> Ctor:
    """``torch.empty(3, 4)``: shapes only; weights come from the original state dict."""
    values: tuple = tuple((POSITIONAL, d) for d in tensor.shape) or ((POSITIONAL, ()),)
    if tensor.dtype != torch.get_default_dtype():
        values += ((Param("dtype", None), tensor.dtype),)
    return Ctor("torch.empty", values, len(tensor.shape) or 1)


# -- shapes and holes ------------------------------------------------------


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Param | None, Any]]:
    """``(path, parameter, literal)`` for every literal in a constructor tree."""
    if isinstance(value, Ctor):
        for i, (param, item) in enumerate(value.values):
            if isinstance(item, (Ctor, list, dict)):
                yield from _leaves(item, path + (i,))
            else:
                yield path + (i,), param, item
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, path + (i,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    else:
        yield path, None, value


def _structure(value: Any) -> Any:
    """The constructor tree with every literal replaced by its type."""
    if isinstance(value, Ctor):
        return (
            value.callee,
            value.positional,
            tuple((p, _structure(v)) for p, v in value.values),
        )
    if isinstance(value, list):
        return ("list", tuple(_structure(v) for v in value))
    if isinstance(value, dict):
        return (
            type(value).__name__,
            tuple((k, _structure(v)) for k, v in value.items()),
        )
    return type(value).__name__


def _shape(described: Described) -> tuple:
    init = tuple(
        (a.attribute, a.buffer, a.persistent, _structure(a.value))
        for a in described.init
    )
    return (
        described.sequential,
        init,
        tuple(described.parameters),
        tuple(described.body),
    )


@dataclass
class Holes:
    names: list[str]
    values_per_instance: list[list[Any]]
    template: list[Assign]


def _assign_holes(inits: list[list[Assign]]) -> Holes:
    """Literals that differ between instances -> named parameters (one per column)."""
    columns: dict[tuple, list[Any]] = {}
    params: dict[tuple, Param | None] = {}
    for position, init in enumerate(inits):
        for index, assign in enumerate(init):
            for path, param, value in _leaves(assign.value):
                columns.setdefault((index,) + path, []).append(value)
                params[(index,) + path] = param
    by_column: dict[tuple, str] = {}
    names: list[str] = []
    holes_at: dict[tuple, Hole] = {}
    for path, values in columns.items():
        if all(_same(values[0], v) for v in values[1:]):
            continue
        key = tuple(_hashable(v) for v in values)
        if key not in by_column:
            param = params[path]
            base = identifier(param.name) if param is not None and param.name else "arg"
            name, counter = base, 1
            while name in names or name == "self":
                counter += 1
                name = f"{base}_{counter}"
            by_column[key] = name
            names.append(name)
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
            for path, _, value in _leaves(assign.value):
                hole = holes_at.get((index,) + path)
                if hole is not None:
                    found.setdefault(hole.name, value)
        values_per_instance.append([found[name] for name in names])
    return Holes(names, values_per_instance, template)


def _substitute(value: Any, holes_at: dict[tuple, Hole], path: tuple) -> Any:
    if isinstance(value, Ctor):
        items = tuple(
            (param, _substitute(item, holes_at, path + (i,)))
            for i, (param, item) in enumerate(value.values)
        )
        return Ctor(value.callee, items, value.positional)
    if isinstance(value, list):
        return [_substitute(v, holes_at, path + (i,)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        items = ((k, _substitute(v, holes_at, path + (k,))) for k, v in value.items())
        return type(value)(items)
    return holes_at.get(path, value)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and _hashable(a) == _hashable(b)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return ("list", tuple(_hashable(v) for v in value))
    if isinstance(value, tuple):
        return ("tuple", tuple(_hashable(v) for v in value))
    return (type(value).__name__, repr(value))


def constructor_text(layer: nn.Module, name: str = "layer") -> str:
    """``nn.Conv2d(1, 6, 5)``: how module style writes a standard layer or container."""
    printer = ClassPrinter(Style.MODULE, ExpressionPrinter(Style.MODULE), "")
    return printer.render(printer.describe_module(name, layer))


__all__ = ["ClassPrinter", "constructor_text"]
