"""Module and mixed style: what each instance's class is made of, as data.

An instance is described before any text is written: its ``__init__`` is a
list of constructor calls (:class:`~.constructors.Ctor`), in the original's
attribute order, and its ``forward`` is its graph. :mod:`.class_plan` groups
the descriptions into classes; :mod:`.class_text` writes them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import fx, nn

from ..errors import ConversionError
from ..hierarchy import Instance, is_defined_class, is_sequential_class
from ..leaves import Leaf, leaf_of
from ..opspecs import spec_for_module
from ..opspecs.spec import Param
from ..options import Style
from ..ties import own_ties, tie_text
from ..passes.canonicalize import MAX_INLINE_CONSTANT, inferred_dtype
from .constructors import POSITIONAL, Assign, Ctor, Tied, empty_tensor, render_value
from .expressions import ExpressionPrinter


@dataclass(frozen=True)
class Described:
    """An instance as data, before instances are grouped into classes."""

    instance: Instance
    sequential: bool  # printed as an nn.Sequential subclass
    init: list[Assign]
    has_forward: bool  # False: an nn.Sequential subclass keeping Sequential's forward

    @property
    def graph(self) -> fx.Graph:
        return self.instance.graph.graph


class ConstructorDescriber:
    """Describes instances and layers as constructor calls.

    A block's own call depends on the class and parameters its whole group
    gets, so the planner records it in :attr:`calls` before describing the
    block's parent.
    """

    def __init__(self) -> None:
        self.calls: dict[int, Ctor] = {}  # id(instance) -> how its parent builds it

    def describe(self, instance: Instance) -> Described:
        module = instance.module
        graph_module = instance.graph
        if isinstance(module, nn.Sequential):  # children by position: self[0]
            children = list(module.named_children())
            values = _sequential_arguments(children, self.describe_module)
            init = [Assign("", Ctor("super().__init__", values, len(values)))]
            init += _tie_assignments(module, graph_module)
            return Described(instance, True, init, not is_sequential_class(module))
        init = [
            self._assignment(name, value, module)
            for name, value in _attributes(
                graph_module, module, instance.built_attributes
            )
        ]
        init += _tie_assignments(module, graph_module)
        return Described(instance, False, init, True)

    def _assignment(self, name: str, value: Any, owner: nn.Module) -> Assign:
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
        leaf = leaf_of(module)
        if leaf is not None:
            return leaf_constructor(leaf)
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


def leaf_constructor(leaf: Leaf) -> Ctor:
    """``Rearrange("b c h w -> b (h w) c")``: a third-party layer, built as it was."""
    return Ctor(leaf.name, leaf.arguments, leaf.positional, leaf.import_line)


def _tie_assignments(module: nn.Module, graph_module: fx.GraphModule) -> list[Assign]:
    """The ties ``module``'s ``__init__`` writes, after its layers are built.

    ``self.b = self.a`` for a layer registered twice,
    ``self.wte.weight = self.lm_head.weight`` for a shared tensor; a tie
    inside a block with a class of its own is that class's.
    """
    printer = ExpressionPrinter(Style.MODULE, owners=(module, graph_module))
    return [
        Assign(tie.target, Tied(*tie_text(module, tie, printer.attribute_path)))
        for tie in own_ties(module, is_defined_class)
    ]


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


def constructor_text(layer: nn.Module, name: str = "layer") -> str:
    """``nn.Conv2d(1, 6, 5)``: how module style writes a standard layer or container."""
    value = ConstructorDescriber().describe_module(name, layer)
    return render_value(value, ExpressionPrinter(Style.MODULE))


__all__ = ["ConstructorDescriber", "Described", "constructor_text"]
