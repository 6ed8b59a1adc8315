"""Small graph helpers shared by the passes."""

from __future__ import annotations

import operator
from typing import Any

from torch import fx, nn

from ..opspecs import TRAINING, OpSpec, spec_for_module, specs_for_function
from ..opspecs.impurity import (
    CONTAINER_MUTATORS,
    IMPURE_FUNCTIONS,
    KEYWORD_NAMED,
    is_inplace_name,
    is_library,
    is_output_record,
    renormalises,
)

#: The ``get_attr`` target the tracers give ``self.training``.
TRAINING_ATTRIBUTE = "training"


def is_impure(node: fx.Node) -> bool:
    """A node that must run even when nothing uses its result: in-place ops, I/O.

    Reads the table in :mod:`nnconvert.opspecs.impurity`.
    """
    if node.op in ("placeholder", "output"):
        return True
    if node.kwargs.get("inplace") is True:
        return True
    if node.op == "call_method":
        name = str(node.target)
        return name in CONTAINER_MUTATORS or is_inplace_name(name)
    if node.op == "call_function":
        if is_output_record(node.target):
            return False
        if node.target in IMPURE_FUNCTIONS or not is_library(node.target):
            return True
        if renormalises(node.target, node.args, node.kwargs):
            return True
        if node.target in KEYWORD_NAMED:
            return False
        return is_inplace_name(getattr(node.target, "__name__", ""))
    if node.op == "call_module":
        module = node.graph.owning_module.get_submodule(node.target)
        if not is_library(type(module)):
            return True
        spec = spec_for_module(module)
        if spec is not None and renormalises(
            spec.function, (), spec.call_arguments(module)
        ):
            return True  # nn.Embedding(max_norm=...) renormalises its weight
        return getattr(module, "inplace", False) is True
    return False


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
    """Erase nodes whose results are unused, keeping impure ones. Returns True if any went.

    fx's own ``Graph.eliminate_dead_code(is_impure_node=...)`` would do the
    same (torch 2.13 has it), but the oldest torch nnconvert supports (2.4,
    branched in June 2024) has only ``eliminate_dead_code(self)``: the hook
    was first asked for in July 2024, in the review of
    pytorch/pytorch#130552. That version asks fx's ``Node.is_impure`` alone,
    which knows none of the impure calls in our table (``count_batch``, the
    random factories, a block's side effects), so it would drop them. Once
    torch 2.4 is no longer supported this can be
    ``graph.eliminate_dead_code(is_impure_node=is_impure)``.
    """
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


def sliced_from_end(node: fx.Node) -> fx.Node | None:
    """What ``node`` takes the last items of (``x.shape`` for ``x.shape[-2:]``), else None.

    The tracer keeps such sizes symbolic (an image's height and width vary
    as a sequence's length does) and the printer writes their unpacking
    (``height, width = x.shape[-2:]``), which needs no rank guard.
    """
    if node.op != "call_function" or node.target is not operator.getitem:
        return None
    base, index = node.args
    if (
        isinstance(base, fx.Node)
        and isinstance(index, slice)
        and isinstance(index.start, int)
        and index.start < 0
        and index.stop is None
        and index.step is None
    ):
        return base
    return None
