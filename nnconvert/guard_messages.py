"""What a guard says when it refuses an input: the thing that differs from the trace.

A guard (:func:`~nnconvert.branches.expect`) checks again an answer the
tracer took from the example. The answer came either from a tensor's shape
(``if x.shape[-1] > 8:``) or from a plain argument the model was called with
or defaulted (``for i in range(future):`` with ``future=0``); the message
names which, so that the user knows what to convert again with::

    if x.shape[-1] <= 8:
        raise ValueError("input shape differs from the traced one; ...")
    if future != 0:
        raise ValueError("traced with future=0; convert again with this future")
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import fx

from .branches import SHAPE_GUARD_MESSAGE

#: Argument values a guard can name in its message.
PLAIN = (bool, int, float, str, type(None))


def argument_message(name: str, value: Any) -> str:
    """The message of a guard on the plain argument ``name``, traced as ``value``."""
    return f"traced with {name}={value!r}; convert again with this {name}"


def guard_message(node: fx.Node, value_of: Callable[[fx.Node], Any]) -> str:
    """The message of a guard on ``node``, whose traced values ``value_of`` gives.

    A value computed from any tensor (its shape) gets the shape message; one
    computed from plain arguments only names them and their traced values.
    """
    arguments: dict[str, Any] = {}
    seen: set[fx.Node] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        value = value_of(current)
        if isinstance(value, torch.Tensor):
            return SHAPE_GUARD_MESSAGE
        if current.op == "placeholder":
            if not isinstance(value, PLAIN):
                return SHAPE_GUARD_MESSAGE  # a tuple of tensors: its length
            arguments[str(current.target)] = value
        elif current.op != "call_function" and current.op != "call_method":
            return SHAPE_GUARD_MESSAGE
        for argument in current.all_input_nodes:
            if argument not in seen:
                seen.add(argument)
                stack.append(argument)
    if not arguments:
        return SHAPE_GUARD_MESSAGE
    if len(arguments) == 1:
        [(name, value)] = arguments.items()
        return argument_message(name, value)
    traced = ", ".join(f"{name}={value!r}" for name, value in sorted(arguments.items()))
    return f"traced with {traced}; convert again with these values"
