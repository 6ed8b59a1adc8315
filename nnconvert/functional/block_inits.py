"""A functional file's block init functions, read back as its blocks' constructor arguments.

``--to functional`` writes a block's sizes as the parameters of one init
function per block (``block_params(prefix, in_planes, out_planes, ...)``),
named after the user's ``__init__`` (:mod:`nnconvert.printer.init_blocks`).
Read back, the sizes each instance's call passes are that block's
constructor arguments (:func:`nnconvert.init_arguments.declare`), beside
the keywords its function takes: converted again, the file names them as
before (SPEC invariant 5), and class styles name the constructor
parameters after them as module style names them after the user.

An init function is one whose first parameter is ``prefix`` and whose
others are ``int`` or ``bool``; only its calls for a block's path count
(a layer function such as ``batch_norm_params`` is called for a layer).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import re
from typing import Any, Callable, Iterator

from torch import nn

from ..init_arguments import (
    declare,
    declare_locals,
    declare_sizes,
    init_arguments,
    keyword_order,
)
from ..source_text import function_tree
from .init_recording import globals_wrapped

#: The annotations of an init function's parameters after ``prefix``.
_SIZE_TYPES = (int, bool, "int", "bool")


@contextlib.contextmanager
def recorded_block_inits(
    init: Callable,
) -> Iterator[dict[str, dict[str, int]]]:
    """While ``init`` (a file's ``init_params``) runs: the sizes of each init call, by prefix.

    The file's init functions are wrapped in ``init``'s globals for the
    while, and put back after.
    """
    calls: dict[str, dict[str, int]] = {}
    namespace = getattr(init, "__globals__", {})

    def wrapper(name: str, value: Any) -> Any:
        return _recording(value, calls) if _is_init_function(value, namespace) else None

    with globals_wrapped(init, wrapper):
        yield calls


def declare_block_sizes(model: nn.Module, calls: dict[str, dict[str, int]]) -> None:
    """Each read-back block of ``model`` that ``calls`` has sizes for declares them.

    Only blocks (wrappers of the file's functions) declare: a layer's own
    ``__init__`` says what it takes. All of them name the block's init
    function again (:func:`~nnconvert.init_arguments.declare_sizes`). As
    constructor arguments, which name class styles' parameters and the
    block function's keywords, only those that may be the user's count: a
    size named after the layer argument it fills (``out_channels``,
    ``conv3_in_channels_2``) may be nnconvert's own name, which would
    rename the block's other keywords (``groups=out_channels``). A keyword
    the block's function takes keeps its value.
    """
    from .wrapper import FunctionalModel  # the wrapper imports the layer tables

    for path, sizes in calls.items():
        try:
            block = model.get_submodule(path)
        except AttributeError:
            continue
        if not isinstance(block, FunctionalModel) or not sizes:
            continue
        declare_sizes(block, sizes)
        declare_locals(block, getattr(sizes, "computed", {}))
        declared = init_arguments(block)
        layer_names = _layer_argument_names(block)
        users = {
            name: value
            for name, value in sizes.items()
            if name not in declared and not _names_a_layer_argument(name, layer_names)
        }
        if users:
            declare(block, {**declared, **users}, keyword_order(block))


def _layer_argument_names(block: nn.Module) -> set[str]:
    """The constructor parameters of the ``torch`` layers inside ``block``."""
    names = {"size"}  # what a size no layer argument equals is called
    for module in block.modules():
        if type(module).__module__.startswith("torch."):
            try:
                names |= set(inspect.signature(type(module).__init__).parameters)
            except (TypeError, ValueError):
                continue
    return names


def _names_a_layer_argument(name: str, layer_names: set[str]) -> bool:
    """``out_channels``, ``out_channels_2``, ``conv3_in_channels``: a layer's argument."""
    stem = re.sub(r"_\d+$", "", name)
    return any(stem == n or stem.endswith(f"_{n}") for n in layer_names)


def _is_init_function(value: Any, namespace: dict) -> bool:
    """A function of the file taking ``prefix`` and then sizes and flags only."""
    if not inspect.isfunction(value) or value.__globals__ is not namespace:
        return False
    parameters = list(inspect.signature(value).parameters.values())
    if not parameters or parameters[0].name != "prefix" or len(parameters) < 2:
        return False
    return all(
        p.kind is p.POSITIONAL_OR_KEYWORD and p.annotation in _SIZE_TYPES
        for p in parameters[1:]
    )


class _Sizes(dict):
    """An init call's integer arguments, by name, and the sizes it computes from them.

    ``computed``: the locals its first statements set (``group_width =
    bottleneck_width * 2``), as the block's ``__init__`` set them when the
    file was written (:mod:`nnconvert.printer.derived_sizes`).
    """

    def __init__(self, sizes: dict[str, int], computed: dict[str, int]) -> None:
        super().__init__(sizes)
        self.computed = computed


def _leading_assignments(function: Callable) -> list[tuple[str, ast.expr]]:
    """``function``'s first ``name = expression`` statements, up to any other statement."""
    definition = function_tree(function)
    if not isinstance(definition, ast.FunctionDef):
        return []
    found = []
    for statement in definition.body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            break
        found.append((statement.targets[0].id, statement.value))
    return found


def _computed_sizes(
    assignments: list[tuple[str, ast.expr]], sizes: dict[str, int]
) -> dict[str, int]:
    """The integer locals ``assignments`` compute from ``sizes``, in order.

    Only expressions of names, integers and ``*``, ``//``, ``+`` count (the
    forms :mod:`~nnconvert.printer.derived_sizes` writes); the first other
    one ends them. Evaluated on the tree, not run.
    """
    known = dict(sizes)
    computed = {}
    for name, expression in assignments:
        value = _value(expression, known)
        if value is None:
            break
        known[name] = computed[name] = value
    return computed


_OPERATORS: dict[type, Callable[[int, int], int]] = {
    ast.Mult: lambda x, y: x * y,
    ast.FloorDiv: lambda x, y: x // y,
    ast.Add: lambda x, y: x + y,
}


def _value(node: ast.expr, known: dict[str, int]) -> int | None:
    """``node``'s integer value over ``known`` names, if it is one of the forms."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        return known.get(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _value(node.left, known), _value(node.right, known)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.FloorDiv) and right == 0:
            return None
        return _OPERATORS[type(node.op)](left, right)
    return None


def _recording(function: Callable, calls: dict[str, dict[str, int]]) -> Callable:
    """``function``, keeping the integer arguments of each call by its prefix.

    And the sizes the call computes from them (:class:`_Sizes`).
    """
    signature = inspect.signature(function)
    assignments = _leading_assignments(function)  # read once, evaluated per call

    @functools.wraps(function)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return function(*args, **kwargs)
        bound.apply_defaults()
        prefix, *_ = bound.arguments.values()
        if isinstance(prefix, str):
            sizes = {
                name: value
                for name, value in list(bound.arguments.items())[1:]
                if type(value) is int
            }
            calls[prefix] = _Sizes(sizes, _computed_sizes(assignments, sizes))
        return function(*args, **kwargs)

    return recorded


__all__ = ["declare_block_sizes", "recorded_block_inits"]
