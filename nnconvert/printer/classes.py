"""Module and mixed style: one class per user-defined block, constructor arguments derived.

Every instance of a block is described as data first: its ``__init__`` is a
list of constructor calls (:class:`Ctor`) and its ``forward`` is text. Instances
of one class whose descriptions have the same shape -- equal ``forward`` and
equal constructor structure, literals aside -- share one class; the literals
that differ between them become constructor parameters, named after the
argument they fill (``in_channels``, ``stride``), one parameter per distinct
column of values (:mod:`.constructors`). Shapes that differ only by extra
submodules called on one value merge into one class with ``name=None``
parameters, as torchvision writes ResNet's ``downsample``; other shapes get a
class each, named by what they add (``BasicBlockWithProj``) or numbered.
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
from ..passes.canonicalize import MAX_INLINE_CONSTANT, inferred_dtype
from ..options import Style
from .body import OPTIONAL, print_body
from .constructors import (
    POSITIONAL,
    Assign,
    Ctor,
    Hole,
    assign_holes,
    empty_tensor,
    structure,
)
from .expressions import ExpressionPrinter
from .names import first_free, identifier, is_plain_identifier
from .values import literal


@dataclass
class Described:
    """An instance as data, before instances are grouped into classes."""

    instance: Instance
    sequential: bool  # printed as an nn.Sequential subclass
    init: list[Assign]
    parameters: list[str] = field(default_factory=list)  # forward's signature
    body: list[str] = field(default_factory=list)  # forward's lines


class ClassPrinter:
    """Prints every instance's class; instances of one shape share a class."""

    def __init__(self, style: Style, printer: ExpressionPrinter, top_name: str):
        self.style = style
        self.printer = printer
        self.top_name = top_name
        self.calls: dict[int, Ctor] = {}  # id(instance) -> how its parent builds it
        self.used_names: set[str] = set()
        # attributes of each class's first shape, for naming the others
        self.first_shape: dict[type, set[str]] = {}

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
            for members, optional in self._merge_optional_blocks(list(groups.values())):
                texts.append(self._print_group(members, optional))
        return texts

    def _print_group(self, members: list[Described], optional: list[str]) -> str:
        """One class for ``members``; ``optional`` attributes are ``name=None`` parameters."""
        name = self._class_name(type(members[0].instance.module), members)
        holes = assign_holes(
            [[a for a in m.init if a.attribute not in optional] for m in members]
        )
        signature = holes.parameters()
        positional = sum(1 for _, is_positional in signature if is_positional)
        for member, values in zip(members, holes.values_per_instance):
            given = {a.attribute: a.value for a in member.init}
            arguments = tuple((p, v) for (p, _), v in zip(signature, values))
            arguments += tuple((Param(o, None), given.get(o)) for o in optional)
            self.calls[id(member.instance.module)] = Ctor(name, arguments, positional)
        widest = max(members, key=lambda m: len(m.init))  # has every optional attribute
        template = iter(holes.template)
        init = [
            (
                Assign(a.attribute, Hole(a.attribute))
                if a.attribute in optional
                else next(template)
            )
            for a in widest.init
        ]
        parameters = [
            p.name if is_positional else f"{p.name}={self.render(p.default)}"
            for p, is_positional in signature
        ] + [f"{o}=None" for o in optional]
        return self._class_text(name, widest, init, parameters)

    def _merge_optional_blocks(
        self, groups: list[list[Described]]
    ) -> Iterator[tuple[list[Described], list[str]]]:
        """Join a block's shapes that differ only by extra submodules called on one value.

        A ResNet block with a ``downsample`` branch and one without are one
        class, as in torchvision: ``downsample=None`` in the constructor and
        ``if self.downsample is not None: x = self.downsample(x)`` in forward.
        Checked on the printed code: without those lines, the two forwards
        must be the same text.
        """
        merged: set[int] = set()
        for i, base in enumerate(groups):
            if i in merged:
                continue
            optional: list[str] = []
            members = list(base)
            for j in range(i + 1, len(groups)):
                other = groups[j]
                if j in merged or type(other[0].instance.module) is not type(
                    base[0].instance.module
                ):
                    continue
                extra = self._optional_attributes(base[0], other)
                if extra and not optional:
                    optional, members = extra, members + other
                    merged.add(j)
            yield members, optional

    def _optional_attributes(
        self, base: Described, others: list[Described]
    ) -> list[str]:
        """The extra attributes of ``others`` if they can be optional in ``base``'s class.

        They can when each is one call on one value, and removing those calls
        (their result is then their input) leaves ``base``'s graph exactly.
        """
        if base.sequential or others[0].sequential:
            return []
        base_attributes = [a.attribute for a in base.init]
        extra = [
            a.attribute for a in others[0].init if a.attribute not in base_attributes
        ]
        common = [a.attribute for a in others[0].init if a.attribute not in extra]
        if not extra or common != base_attributes:
            return []
        built = {a.attribute: _built(a) for a in base.init}
        if any(  # the common attributes are built alike (mc3_18's convs are not)
            _built(a) != built[a.attribute]
            for member in others
            for a in member.init
            if a.attribute in built
        ):
            return []
        expected = _graph_signature(base.instance.graph.graph, set())
        marked_per_member = []
        for member in others:
            calls = [
                n for n in member.instance.graph.graph.nodes if n.op == "call_module"
            ]
            marked = [n for n in calls if str(n.target).split(".")[0] in extra]
            if sorted(str(n.target) for n in marked) != sorted(extra) or any(
                n.kwargs or len(n.args) != 1 or not isinstance(n.args[0], fx.Node)
                for n in marked
            ):
                return []
            if _graph_signature(member.instance.graph.graph, set(marked)) != expected:
                return []
            marked_per_member.append(marked)
        for marked in marked_per_member:
            for node in marked:
                node.meta[OPTIONAL] = True
        redescribed = [self._describe(member.instance) for member in others]
        if any(_without_optional(m.body, extra) is None for m in redescribed):
            for marked in marked_per_member:  # the value is needed after the call too
                for node in marked:
                    node.meta.pop(OPTIONAL)
            return []
        others[:] = redescribed
        return extra

    # -- description ---------------------------------------------------------

    def _describe(self, instance: Instance) -> Described:
        module = instance.module
        graph_module = instance.graph
        reserved = frozenset(self.used_names)
        if isinstance(module, nn.Sequential):  # children by position: self[0]
            children = list(module.named_children())
            values = _sequential_arguments(children, self.describe_module)
            init = [Assign("", Ctor("super().__init__", values, len(values)))]
            if is_sequential_class(module):
                return Described(instance, True, init)
            parameters, body = print_body(
                graph_module.graph, self.style, self.printer, reserved
            )
            return Described(instance, True, init, parameters, body)
        self.printer.keyed_by_string = isinstance(module, nn.ModuleDict)
        try:
            parameters, body = print_body(
                graph_module.graph, self.style, self.printer, reserved
            )
        finally:
            self.printer.keyed_by_string = False
        init = [
            self._assignment(name, value, module)
            for name, value in _attributes(
                graph_module, module, instance.built_attributes
            )
        ]
        return Described(instance, False, init, parameters, body)

    def _assignment(self, name: str, value: Any, owner: nn.Module) -> Assign:
        if not is_plain_identifier(name) and not isinstance(owner, nn.ModuleDict):
            raise ConversionError(f"attribute name {name!r} is not a Python identifier")
        if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
            persistent = name not in owner._non_persistent_buffers_set
            # a non-persistent buffer is not in the state_dict: write its value
            made = empty_tensor(value) if persistent else _tensor_literal(name, value)
            return Assign(name, made, buffer=True, persistent=persistent)
        return Assign(name, self.describe_value(name, value))

    def describe_value(self, name: str, value: Any) -> Any:
        if isinstance(value, nn.Parameter):
            flag = (
                () if value.requires_grad else ((Param("requires_grad", True), False),)
            )
            return Ctor("nn.Parameter", ((POSITIONAL, empty_tensor(value)),) + flag, 1)
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
            kind = (
                "ModuleList" if isinstance(module, nn.ModuleList) else "ParameterList"
            )
            return Ctor(f"nn.{kind}", ((POSITIONAL, items),), 1)
        if isinstance(module, (nn.ModuleDict, nn.ParameterDict)):
            items = {
                k: self.describe_value(f"{name}[{k!r}]", v) for k, v in module.items()
            }
            kind = (
                "ModuleDict" if isinstance(module, nn.ModuleDict) else "ParameterDict"
            )
            return Ctor(f"nn.{kind}", ((POSITIONAL, items),), 1)
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
        name = first_free(base, self.used_names)
        self.used_names.add(name)
        return name

    # -- text ----------------------------------------------------------------

    def _class_text(
        self, name: str, described: Described, template: list[Assign], names: list[str]
    ) -> str:
        parameters = ", ".join(["self", *names])
        if described.sequential:
            (assign,) = template
            call = self.render(assign.value)
            self.printer.use("nn")
            text = (
                f"class {name}(nn.Sequential):\n"
                f"    def __init__({parameters}):\n"
                f"        {call}\n"
            )
            if not described.body:  # Sequential's own forward
                return text
            return (
                text
                + "\n"
                + f"    def forward({', '.join(['self', *described.parameters])}):\n"
                + "".join(f"        {line}\n" for line in described.body)
            )
        self.printer.use("nn")
        init = ["super().__init__()"] + [self._statement(a) for a in template]
        # a ModuleDict subclass stays one: its keys may be "0", "1", ...
        base = (
            "ModuleDict"
            if isinstance(described.instance.module, nn.ModuleDict)
            else "Module"
        )
        return (
            f"class {name}(nn.{base}):\n"
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
        if is_plain_identifier(assign.attribute):
            return f"self.{assign.attribute} = {self.render(assign.value)}"
        # an nn.ModuleDict subclass keyed "0", "1", ... (torchvision's IntermediateLayerGetter)
        return f"self[{literal(assign.attribute)}] = {self.render(assign.value)}"

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


def _graph_signature(graph: fx.Graph, skipped: set[fx.Node]) -> tuple:
    """The graph as comparable data; a skipped node stands for its (only) input."""
    index: dict[fx.Node, Any] = {}

    def ref(value: Any) -> Any:
        if isinstance(value, fx.Node):
            return index[value]
        if isinstance(value, (tuple, list)):
            return (type(value).__name__, tuple(ref(v) for v in value))
        if isinstance(value, dict):
            return ("dict", tuple((k, ref(v)) for k, v in value.items()))
        if isinstance(value, slice):
            return ("slice", ref(value.start), ref(value.stop), ref(value.step))
        return (type(value).__name__, repr(value))

    entries = []
    for node in graph.nodes:
        if node in skipped:
            index[node] = index[node.args[0]]
            continue
        target = (
            node.target if isinstance(node.target, str) else _callable_key(node.target)
        )
        entries.append((node.op, target, ref(node.args), ref(node.kwargs)))
        index[node] = len(entries) - 1
    return tuple(entries)


def _callable_key(function: Any) -> str:
    module = getattr(function, "__module__", "") or ""
    return f"{module}.{getattr(function, '__qualname__', repr(function))}"


def _without_optional(body: list[str], attributes: list[str]) -> list[str] | None:
    """``body`` without its ``if self.<a> is not None: x = self.<a>(x)`` blocks.

    None when such a block assigns a name other than its input's: then the
    value would not pass through unchanged without the block.
    """
    lines: list[str] = []
    skip = False
    for index, line in enumerate(body):
        if skip:
            skip = False
            continue
        for attribute in attributes:
            if line == f"if self.{attribute} is not None:":
                target, _, call = body[index + 1].strip().partition(" = ")
                if call != f"self.{attribute}({target})":
                    return None
                skip = True
                break
        else:
            lines.append(line)
    return lines


def _tensor_literal(name: str, tensor: torch.Tensor) -> Ctor:
    """``torch.tensor([...])`` for a small tensor that no state_dict restores."""
    if tensor.numel() > MAX_INLINE_CONSTANT:
        raise ConversionError(
            f"non-persistent buffer {name!r} has {tensor.numel()} elements; nnconvert "
            f"writes such values of at most {MAX_INLINE_CONSTANT} elements"
        )
    values: tuple = ((POSITIONAL, tensor.tolist()),)
    if tensor.dtype != inferred_dtype(tensor):
        values += ((Param("dtype", None), tensor.dtype),)
    return Ctor("torch.tensor", values, 1)


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
    graph_module: fx.GraphModule, original: nn.Module, built: frozenset[str]
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
        n
        for n in used
        if n in declared and _is_original(n, graph_module, original, built)
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


def _is_original(
    name: str, graph_module: fx.GraphModule, original: nn.Module, built: frozenset[str]
) -> bool:
    """The attribute is the original's own: not one the conversion or a front end built.

    ``built`` are the attributes a front end built (``Instance.built_attributes``).
    """
    mine, theirs = getattr(graph_module, name, None), getattr(original, name, None)
    return (
        theirs is not None
        and name not in built
        and (mine is None or mine is theirs or type(mine) is nn.Module)
    )


def _sequential_arguments(children: list[tuple[str, nn.Module]], describe) -> tuple:
    """``nn.Sequential`` arguments: children in order, or an OrderedDict for named ones."""
    if [name for name, _ in children] == [str(i) for i in range(len(children))]:
        return tuple((POSITIONAL, describe(name, child)) for name, child in children)
    return (
        (POSITIONAL, OrderedDict((name, describe(name, c)) for name, c in children)),
    )


def _built(assign: Assign) -> tuple:
    """How an attribute is built, literals aside."""
    return (assign.attribute, assign.buffer, assign.persistent, structure(assign.value))


def _shape(described: Described) -> tuple:
    init = tuple(_built(a) for a in described.init)
    return (
        described.sequential,
        init,
        tuple(described.parameters),
        tuple(described.body),
    )


def constructor_text(layer: nn.Module, name: str = "layer") -> str:
    """``nn.Conv2d(1, 6, 5)``: how module style writes a standard layer or container."""
    printer = ClassPrinter(Style.MODULE, ExpressionPrinter(Style.MODULE), "")
    return printer.render(printer.describe_module(name, layer))


__all__ = ["ClassPrinter", "constructor_text"]
