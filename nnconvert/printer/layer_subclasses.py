"""Module and mixed style: a user class that subclasses a torch layer stays its subclass.

Real code subclasses layers to change only ``forward``: CLIP's fp16
``class LayerNorm(nn.LayerNorm)``, Whisper's ``Linear(nn.Linear)`` that casts
its weights. Written as a plain ``nn.Module``, such a class re-creates the
layer's tensors and takes its sizes twice (``LayerNorm(64, (64,))``). When
the user's class adds no tensor or submodule of its own, the layer's op-spec
row knows how to build it, so the class is written as the user wrote it:
``class LayerNorm(nn.LayerNorm):`` with only ``forward``, each instance built
with the layer's own constructor arguments (``LayerNorm(64)``), and
``forward`` reading the layer's own attributes (``self.normalized_shape``)
where it passed their values, so that one class serves every width.

:func:`layer_base` says whether an instance qualifies; :func:`base_reads`
which literals of ``forward`` are the base layer's attributes, or that some
literal differs between instances in a way they cannot say (today's class,
with constructor parameters of its own, is written then).
:func:`with_super_forward` writes the layer's own call over its own tensors
as CLIP does, ``super().forward(x.type(torch.float32))``; a ``forward`` that
is that call alone is not written at all (:func:`calls_only_super`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from ..errors import ConversionError
from ..opspecs import spec_for_layer_base
from ..opspecs.spec import OpSpec, Param, WeightRef, bind, collapse, same_value
from .literal_holes import Named, Slot, copy_graph, literal_slots, value_of


@dataclass(frozen=True)
class LayerBase:
    """The torch layer a user class derives from, and how one instance is built."""

    spec: OpSpec
    #: every constructor parameter with this instance's value (defaults too)
    values: tuple[tuple[Param, Any], ...]

    @property
    def name(self) -> str:
        """The base class as the output names it: ``nn.LayerNorm``."""
        return f"nn.{self.spec.module.__name__}"


def layer_base(module: nn.Module) -> LayerBase | None:
    """The layer ``module``'s class subclasses, if the subclass changes only its code.

    None when no ``nn`` layer with an op-spec row is a base of its class,
    when the row cannot rebuild the instance's configuration, when the
    instance holds a tensor or submodule the layer would not (the user's
    class adds state of its own), or a frozen parameter, or a value the
    constructor cannot take (a layer as an argument, mixed dtypes).
    """
    spec = spec_for_layer_base(type(module))
    if spec is None:
        return None
    try:
        rebuilt = spec.rebuild(module)
        values = spec.constructor_values(module)
    except ConversionError:
        return None
    if _state_names(module) != _state_names(rebuilt):
        return None
    if any(not p.requires_grad for p in module.parameters(recurse=False)):
        return None
    if any(isinstance(v, nn.Module) for _, v in values):
        return None
    try:
        values += dtype_argument(module)
    except ConversionError:
        return None
    return LayerBase(spec, tuple(values))


def dtype_argument(module: nn.Module) -> list[tuple[Param, Any]]:
    """``dtype=torch.float16`` for a layer whose floating tensors are not the default dtype.

    Raises ConversionError when its tensors mix floating dtypes.
    """
    dtypes = {t.dtype for t in module.state_dict().values() if t.is_floating_point()}
    if not dtypes or dtypes == {torch.get_default_dtype()}:
        return []
    if len(dtypes) > 1:
        raise ConversionError(f"mixes dtypes {sorted(map(str, dtypes))}")
    return [(Param("dtype", None), dtypes.pop())]


def _state_names(module: nn.Module) -> tuple:
    """The names of the tensors and submodules a module holds itself, by kind."""
    return (
        sorted(module._parameters),
        sorted(module._buffers),
        sorted(module._non_persistent_buffers_set),
        sorted(module._modules),
    )


def base_reads(
    graphs: list[fx.Graph], modules: list[nn.Module], spec: OpSpec
) -> Named | None:
    """The literals of ``forward`` that are the base layer's attributes, by attribute.

    ``graphs`` are the instances' ``forward`` graphs (one shape, literals
    aside), ``modules`` the instances. A literal is the attribute
    ``self.<name>`` when it is an argument of the layer's own function
    (``F.layer_norm``'s ``normalized_shape``) that the row reads from the
    attribute of that name, and equals it in every instance. None when
    another literal differs between instances: a class without an
    ``__init__`` of its own would have nowhere to take it from.
    """
    slots = [literal_slots(g) for g in graphs]
    nodes = list(graphs[0].nodes)
    calls = [spec.call_arguments(m) for m in modules]
    reads: dict[str, list[Slot]] = {}
    for slot in sorted({s for m in slots for s in m.values}, key=_order):
        name = _argument_name(nodes, slot, spec)
        found = [value_of(s, slot) for s in slots]
        if name is not None and all(
            _is_attribute(module, name, call, value)
            for module, call, value in zip(modules, calls, found)
        ):
            reads.setdefault(name, []).append(slot)
        elif any(not _same(found[0], value) for value in found[1:]):
            return None
    return list(reads.items())


@dataclass(frozen=True)
class SuperForward:
    """The target of a call node that calls the base layer's ``forward``: ``super().forward(x)``."""


#: the one :class:`SuperForward` target
SUPER_FORWARD = SuperForward()


def with_super_forward(
    graph: fx.Graph, graphs: list[fx.Graph], modules: list[nn.Module], spec: OpSpec
) -> fx.Graph:
    """``graph`` calling ``super().forward(x)`` where it makes the layer's own call.

    CLIP's ``ret = super().forward(x.type(torch.float32))`` traces to
    ``F.layer_norm(..., self.normalized_shape, self.weight, self.bias)``:
    the layer's function over its own tensors, with the arguments its
    ``forward`` passes, in every instance (``graphs``, ``modules``). Such a
    call is printed as the user wrote it. A call that changes a weight
    (Whisper's ``self.weight.to(x.dtype)``) or an argument stays as traced,
    and so does every call of a layer whose ``forward`` does more than its
    function (prologues, updates, the training flag, caller's options).
    ``graph`` is the one printed (literals filled); it is copied, not changed.
    """
    if (
        spec.function is None
        or spec.inputs != 1
        or spec.training is not None
        or spec.updates is not None
        or spec.forward_signature is not None
        or any(spec.prologue_calls(m) for m in modules)
    ):
        return graph
    nodes = [list(g.nodes) for g in graphs]
    found = [
        position
        for position, node in enumerate(nodes[0])
        if all(
            _is_own_call(n[position], module, spec) for n, module in zip(nodes, modules)
        )
    ]
    if not found:
        return graph
    copied = copy_graph(graph)
    printed = list(copied.nodes)
    for position in found:
        node = printed[position]
        weights = [a for a in node.all_input_nodes if a.op == "get_attr"]
        node.target, node.args, node.kwargs = SUPER_FORWARD, (node.args[0],), {}
        for weight in weights:
            if not weight.users:
                copied.erase_node(weight)
    return copied


def calls_only_super(graph: fx.Graph) -> bool:
    """``forward`` is the base layer's own: ``return super().forward(input)``, nothing else.

    A subclass that changes only ``reset_parameters`` (its initial values)
    traces so; its class then keeps the layer's ``forward``, as the user's did.
    """
    nodes = list(graph.nodes)
    if [n.op for n in nodes] != ["placeholder", "call_function", "output"]:
        return False
    placeholder, call, output = nodes
    return (
        call.target is SUPER_FORWARD
        and call.args == (placeholder,)
        and output.args == (call,)
    )


def _is_own_call(node: fx.Node, module: nn.Module, spec: OpSpec) -> bool:
    """``node`` is ``module``'s own ``forward`` call: its tensors, its arguments."""
    if node.op != "call_function" or node.target is not spec.function:
        return False
    try:
        bound = bind(spec.parameters, node.args, node.kwargs)
    except TypeError:
        return False
    input_name = spec.parameters[0].name
    if not node.args or bound.get(input_name) is not node.args[0]:
        return False
    expected = spec.call_arguments(module)
    for param in spec.argument_parameters:
        given = bound.get(param.name, param.default)
        if param.name in spec.weights:
            if not _is_weight(given, expected[param.name]):
                return False
        elif isinstance(given, fx.Node) or not _same(given, expected[param.name]):
            return False
    return True


def _is_weight(given: Any, expected: Any) -> bool:
    """The argument is the layer's own tensor, read as it is (``self.weight``)."""
    if expected is None:
        return given is None
    return (
        isinstance(expected, WeightRef)
        and isinstance(given, fx.Node)
        and given.op == "get_attr"
        and given.target == expected.attribute
    )


def _argument_name(nodes: list[fx.Node], slot: Slot, spec: OpSpec) -> str | None:
    """The parameter of the layer's function a slot fills, if it is one of its calls."""
    position, kind, key = slot
    node = nodes[position]
    if node.op != "call_function" or node.target is not spec.function:
        return None
    if kind == "kw":
        name = key
    elif kind == "arg" and key < len(spec.parameters):
        name = spec.parameters[key].name
    else:
        return None
    if name in spec.weights or name == spec.training or name.startswith("_"):
        return None
    return name


def _is_attribute(module: nn.Module, name: str, call: dict, value: Any) -> bool:
    """``value`` is what the layer's own call passes for ``name``: its attribute ``name``."""
    if name not in call or not hasattr(module, name):
        return False
    attribute = getattr(module, name)
    return _same(attribute, call[name]) and _same(attribute, value)


def _same(a: Any, b: Any) -> bool:
    """Equal, ``(1,)`` and ``1`` alike (PyTorch expands one int), ``1`` and ``1.0`` not."""
    a, b = collapse(a), collapse(b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return same_value(tuple(a), tuple(b))
    return type(a) is type(b) and same_value(a, b)


def _order(slot: Slot) -> tuple:
    return (slot[0], slot[1], str(slot[2]))


__all__ = [
    "SUPER_FORWARD",
    "LayerBase",
    "SuperForward",
    "base_reads",
    "calls_only_super",
    "dtype_argument",
    "layer_base",
    "with_super_forward",
]
