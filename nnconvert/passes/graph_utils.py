"""Small graph helpers shared by the passes."""

from __future__ import annotations

import operator

from typing import Any

import torch
from torch import fx, nn

from ..opspecs import TRAINING, OpSpec, specs_for_function
from ..opspecs.spec import count_batch

#: The ``get_attr`` target the tracers give ``self.training``.
TRAINING_ATTRIBUTE = "training"

_INPLACE_OPERATORS = {
    operator.iadd,
    operator.isub,
    operator.imul,
    operator.itruediv,
    operator.ifloordiv,
    operator.imod,
    operator.ipow,
    operator.imatmul,
    operator.iand,
    operator.ior,
    operator.ixor,
    operator.ilshift,
    operator.irshift,
    operator.setitem,
    count_batch,
}

#: Factories that draw from the random number generator: dropping or repeating
#: one shifts every later draw, so each runs exactly where the original ran it.
RANDOM_FACTORIES = {
    torch.rand,
    torch.randn,
    torch.randint,
    torch.randperm,
    torch.normal,
    torch.bernoulli,
    torch.multinomial,
    torch.rand_like,
    torch.randn_like,
    torch.randint_like,
}

#: Methods that change a Python list or dict in place (FPN's ``results.extend``).
_CONTAINER_MUTATORS = {
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "clear",
    "update",
    "setdefault",
    "popitem",
}


def is_impure(node: fx.Node) -> bool:
    """A node that must run even when nothing uses its result: in-place ops, I/O."""
    if node.op in ("placeholder", "output"):
        return True
    if node.kwargs.get("inplace") is True:
        return True
    if node.op == "call_method":
        name = str(node.target)
        if name in _CONTAINER_MUTATORS:
            return True
        return name.endswith("_") and not name.endswith("__")
    if node.op == "call_function":
        if node.target in _INPLACE_OPERATORS or node.target in RANDOM_FACTORIES:
            return True
        if not _is_library(node.target):
            return True
        name = getattr(node.target, "__name__", "")
        return name.endswith("_") and not name.endswith("__")
    if node.op == "call_module":
        module = node.graph.owning_module.get_submodule(node.target)
        if not _is_library(type(module)):
            return True
        return getattr(module, "inplace", False) is True
    return False


def _is_library(target: object) -> bool:
    """Defined by torch or Python itself, whose functions change only what their names say.

    Anything else -- a model's own block, a function fx leaves opaque
    (torchvision's ``_add_shortcut`` adds into its argument and returns nothing
    anyone reads) -- may work by side effect, so its call is never dropped.
    """
    module = getattr(target, "__module__", None) or ""
    return module.split(".")[0] in _PURE_LIBRARIES


_PURE_LIBRARIES = {
    "torch",
    "operator",
    "_operator",
    "math",
    "builtins",
    "collections",
    "nnconvert",
}


def uses(node: fx.Node) -> int:
    """How often ``node`` is read: ``torch.meshgrid(d, d)`` reads ``d`` twice."""
    count = 0

    def visit(value: fx.Node) -> fx.Node:
        nonlocal count
        count += value is node
        return value

    for user in node.users:
        fx.node.map_arg((user.args, user.kwargs), visit)
    return count


def remove_dead_code(graph: fx.Graph) -> bool:
    """Erase nodes whose results are unused, keeping in-place ops. Returns True if any went."""
    changed = False
    for node in reversed(list(graph.nodes)):
        if not node.users and not is_impure(node):
            graph.erase_node(node)
            changed = True
    return changed


def is_training_flag(node: Any) -> bool:
    """``self.training`` in a graph (a value, not a tensor)."""
    return (
        isinstance(node, fx.Node)
        and node.op == "get_attr"
        and node.target == TRAINING_ATTRIBUTE
    )


def layer_for_call(node: fx.Node) -> tuple[OpSpec, nn.Module] | None:
    """The op spec and a fresh layer that make exactly ``node``'s call, if any."""
    arguments = {}
    for key, value in node.kwargs.items():
        if is_training_flag(value):
            value = TRAINING
        elif isinstance(value, fx.Node):
            return None  # computed or weight arguments: not a fixed layer
        elif _holds_node(value):  # size=(h * 8, w * 8) from traced shapes
            return None
        arguments[key] = value
    for spec in specs_for_function(node.target):
        if len(node.args) != spec.inputs:
            continue
        layer = spec.module_from_call(arguments)
        if layer is not None:
            return spec, layer
    return None


def _holds_node(value: Any) -> bool:
    found: list[fx.Node] = []
    fx.node.map_arg(value, found.append)
    return bool(found)
