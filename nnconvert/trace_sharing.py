"""One trace for the instances of a block class that would trace alike.

ResNet's Bottlenecks and a transformer's layers are many instances of one
class, each with the same configuration and receiving same-shaped inputs.
Tracing and annotating each of them was most of the conversion's time, and
the graphs come out the same, node for node. So an instance whose
:meth:`TraceKeys.key` equals that of one traced already gets a copy of that
one's graphs bound to its own submodules (:func:`retargeted`): exactly what
tracing it would have built.

The key is conservative: the class; every attribute the module and its
submodules hold (plain data by value, tensors by shape, dtype and layout
when they are parameters or buffers, anything else by identity); which
submodules stay calls; the inputs' types, shapes and plain values. A graph
that holds an object of its own (a module, a tensor, a function made in
``forward``) is never shared.
"""

from __future__ import annotations

import collections
import copy
import sys
import types
from typing import Any, Callable

import torch
from torch import fx, nn

#: Types compared by value in a key; everything else by identity (or layout).
_PLAIN = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    torch.dtype,
    torch.device,
    torch.memory_format,
    torch.layout,
)


class TraceKeys:
    """Keys of the modules of one model; each submodule's part is computed once."""

    def __init__(self, keep: Callable[[nn.Module], bool]):
        self.keep = keep
        self._modules: dict[int, tuple] = {}

    def key(self, module: nn.Module, inputs: tuple[Any, ...]) -> tuple:
        """Equal for two instances that trace to the same graphs on their inputs."""
        return (
            self._module_key(module),
            _ties(module),
            type(inputs),
            _key(tuple(inputs), by_layout=True),
            _key(getattr(inputs, "keywords", ()), by_layout=True),
        )

    def _module_key(self, module: nn.Module) -> tuple:
        known = self._modules.get(id(module))
        if known is not None:
            return known
        state = ("_parameters", "_buffers", "_modules")
        key = (
            type(module),
            self.keep(module),
            tuple(
                (name, _key(value, by_layout=False))
                for name, value in vars(module).items()
                if name not in state
            ),
            tuple((n, _layout(t)) for n, t in module.named_parameters(recurse=False)),
            tuple((n, _layout(t)) for n, t in module.named_buffers(recurse=False)),
            tuple(
                (name, child if child is None else self._module_key(child))
                for name, child in module._modules.items()
            ),
        )
        self._modules[id(module)] = key
        return key


def _ties(module: nn.Module) -> tuple[int, ...]:
    """Which of the module's parameters and buffers are one tensor: each name's first.

    fx names a tied tensor by its first name, so tied and untied blocks
    trace differently.
    """
    first: dict[int, int] = {}
    named = [
        *module.named_parameters(remove_duplicate=False),
        *module.named_buffers(remove_duplicate=False),
    ]
    return tuple(first.setdefault(id(t), i) for i, (_, t) in enumerate(named))


def _layout(tensor: torch.Tensor) -> tuple:
    strided = tensor.layout is torch.strided
    return (
        type(tensor),
        tuple(tensor.shape),
        tensor.dtype,
        tensor.device,
        tuple(tensor.stride()) if strided else tensor.layout,
        tensor.requires_grad,
    )


def _key(value: Any, by_layout: bool) -> Any:
    """``value`` as hashable data: plain values by value, else identity.

    ``by_layout``: tensors by :func:`_layout` (inputs: the trace sees only
    that), else by identity (a tensor attribute may be written as a constant).
    """
    if type(value) in _PLAIN:
        return (type(value), value)
    if type(value) is torch.Size:
        return (torch.Size, tuple(value))
    if by_layout and isinstance(value, torch.Tensor):
        return ("tensor", _layout(value))
    if type(value) in (tuple, list):
        return (type(value), tuple(_key(v, by_layout) for v in value))
    if type(value) in (set, frozenset):  # ``_non_persistent_buffers_set``
        return (type(value), frozenset(_key(v, by_layout) for v in value))
    if type(value) in (dict, collections.OrderedDict):
        items = value.items()
        return (
            type(value),
            tuple((_key(k, False), _key(v, by_layout)) for k, v in items),
        )
    return ("id", id(value))


def shareable(graph: fx.GraphModule) -> bool:
    """Every node of ``graph`` names its submodules and attributes by path only.

    Its arguments are plain data, and its functions are module-level ones:
    nothing in it is an object of the traced instance (a submodule passed
    to ``checkpoint``, a lambda made in ``forward``), which a copy for
    another instance would still call.
    """
    for node in graph.graph.nodes:
        if node.op == "call_function" and not _plain_function(node.target):
            return False
        for value in _flat((node.args, node.kwargs)):
            if not isinstance(value, (fx.Node, *_PLAIN, torch.Size, slice, type(...))):
                if not _plain_function(value):
                    return False
    return True


def _flat(value: Any):
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _flat(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _flat(item)
    elif isinstance(value, slice):
        yield from _flat((value.start, value.stop, value.step))
    else:
        yield value


def _plain_function(function: Any) -> bool:
    """A class, or a function its module defines at top level: the same for every instance."""
    if isinstance(function, type):
        return True
    module = sys.modules.get(getattr(function, "__module__", None) or "")
    name = getattr(function, "__name__", None)
    if module is not None and name and getattr(module, name, None) is function:
        return True
    if isinstance(function, (types.MethodDescriptorType, types.WrapperDescriptorType)):
        return True  # ``torch.Tensor.add``: unbound
    owner = getattr(function, "__self__", None)
    if isinstance(function, types.BuiltinFunctionType):  # torch's C functions
        return owner is None or isinstance(owner, (types.ModuleType, type))
    return isinstance(function, (torch._ops.OpOverload, torch._ops.OpOverloadPacket))


def retargeted(graph: fx.GraphModule, module: nn.Module) -> fx.GraphModule:
    """A copy of ``graph`` (traced from another instance) over ``module``'s own submodules.

    Built as :func:`~.trace.trace` builds it; the nodes' records (example
    values, stack traces) are the traced instance's, which are this one's.
    """
    copied = fx.GraphModule(module, copy.deepcopy(graph.graph), type(module).__name__)
    copied.meta.update(graph.meta)
    copied.training = graph.training  # traced in train mode, for a train-mode graph
    return copied
