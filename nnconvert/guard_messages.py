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

Where the question was the source's own check, the guard says what the
source says (:func:`message_in_source`): an ``assert`` that converting again
would not get past, or the message of the ``raise`` under the ``if`` (which
is also how a guard of a converted file reads back with its message).
"""

from __future__ import annotations

import ast
import dis
import functools
import linecache
from types import FrameType
from typing import Any, Callable

import torch
from torch import fx

from .branches import SHAPE_GUARD_MESSAGE

#: Argument values a guard can name in its message.
PLAIN = (bool, int, float, str, type(None))


def argument_message(name: str, value: Any) -> str:
    """The message of a guard on the plain argument ``name``, traced as ``value``."""
    return f"traced with {name}={value!r}; convert again with this {name}"


#: Tensor attributes that say where a tensor lives or what it holds, not its shape.
DEVICE_ATTRIBUTES = frozenset(
    {"is_cuda", "is_xpu", "is_mps", "is_cpu", "is_meta", "device"}
)
DTYPE_ATTRIBUTES = frozenset({"dtype", "is_floating_point", "is_complex"})


def tensor_property_message(
    node: fx.Node, value_of: Callable[[fx.Node], Any]
) -> str | None:
    """The message of a guard on where an input tensor lives or its dtype, if ``node`` reads one.

    DCGAN's ``if (input.is_cuda or input.is_xpu) and self.ngpu > 1:`` is a
    question about the device, not the shape: an input on another device
    is refused for that, and the message says so.
    """
    if node.op == "call_function" and node.target is getattr:
        tensor, attribute = node.args[0], node.args[1]
    elif node.op == "call_method" and node.target in DTYPE_ATTRIBUTES:
        tensor, attribute = node.args[0], node.target
    else:
        return None
    if not isinstance(tensor, fx.Node) or not isinstance(
        value_of(tensor), torch.Tensor
    ):
        return None
    traced = value_of(tensor)
    if attribute in DEVICE_ATTRIBUTES:
        return (
            f"traced with inputs on {traced.device.type}; convert again with inputs"
            " on this device"
        )
    if attribute in DTYPE_ATTRIBUTES:
        return f"traced with {traced.dtype} inputs; convert again with this dtype"
    return None


def guard_message(node: fx.Node, value_of: Callable[[fx.Node], Any]) -> str:
    """The message of a guard on ``node``, whose traced values ``value_of`` gives.

    A value computed from any tensor (its shape) gets the shape message, or
    the device or dtype message where it reads only that of inputs
    (:func:`tensor_property_message`); one computed from plain arguments
    only names them and their traced values.
    """
    arguments: dict[str, Any] = {}
    properties: list[str] = []
    seen: set[fx.Node] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        property_message = tensor_property_message(current, value_of)
        if property_message is not None:
            properties.append(property_message)
            continue
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
    if properties and not arguments and len(set(properties)) == 1:
        return properties[0]
    if not arguments:
        return SHAPE_GUARD_MESSAGE
    if len(arguments) == 1:
        [(name, value)] = arguments.items()
        return argument_message(name, value)
    traced = ", ".join(f"{name}={value!r}" for name, value in sorted(arguments.items()))
    return f"traced with {traced}; convert again with these values"


#: Instructions between a branch and the ``raise`` under it that do not matter here.
_QUIET = frozenset({"PRECALL", "PUSH_NULL", "NOP", "CACHE", "KW_NAMES", "TO_BOOL"})


def message_in_source(frame: FrameType) -> str | None:
    """The message the source gives where ``frame`` asks a truth value, if it gives one.

    ``assert t <= self.config.block_size`` (nanoGPT): the model itself
    refuses the input, so the message quotes the assertion instead of
    suggesting a conversion with that shape; an assertion with a message
    of its own gives that (Whisper's ``"incorrect audio shape"``).
    ``if ...: raise ValueError("...")``: that message. Read from the
    frame's bytecode: the instruction asking is a conditional jump, and
    the refusal runs either where it falls through (``if a: raise``) or
    where it jumps: the first test of ``assert a and b`` jumps, when false,
    to the failing assertion (RegionViT's ``assert divisible_by(h, ...) and
    divisible_by(w, ...)``), the first of ``if a or b: raise``, when true,
    to the ``raise`` (how such a guard reads back).
    """
    instructions = [
        i for i in dis.get_instructions(frame.f_code) if i.opname not in _QUIET
    ]
    asking = next(
        (n for n, i in enumerate(instructions) if i.offset >= frame.f_lasti), None
    )
    if asking is None or "JUMP" not in instructions[asking].opname:
        return None
    target = instructions[asking].argval
    landing = next((n for n, i in enumerate(instructions) if i.offset >= target), None)
    for start in (asking + 1, landing):
        body = instructions[start : start + 4] if start is not None else []
        if body and body[0].opname == "LOAD_ASSERTION_ERROR":
            return _assert_message(_assert_at(frame))
        if (
            [i.opname for i in body]
            == ["LOAD_GLOBAL", "LOAD_CONST", "CALL", "RAISE_VARARGS"]
            and body[0].argval == "ValueError"
            and isinstance(body[1].argval, str)
        ):
            return body[1].argval
    return None


def _assert_message(statement: ast.Assert | None) -> str:
    """The assertion's own message, else ``the model asserts t <= self.block_size; ...``.

    A message the source computes (an f-string naming the input's length)
    has no value to print without the input: the test is quoted instead.
    """
    if statement is None:
        return "the model's assert refuses this input"
    if isinstance(statement.msg, ast.Constant) and isinstance(statement.msg.value, str):
        return statement.msg.value
    return f"the model asserts {ast.unparse(statement.test)}; this input fails it"


def _assert_at(frame: FrameType) -> ast.Assert | None:
    """The ``assert`` statement of ``frame``'s source around the line it runs, if any.

    Read from the whole file, so that an assertion over several lines is
    found from any of them.
    """
    lines = linecache.getlines(frame.f_code.co_filename, frame.f_globals)
    return next(
        (
            statement
            for statement in _assertions("".join(lines))
            if statement.lineno <= frame.f_lineno <= (statement.end_lineno or 0)
        ),
        None,
    )


@functools.lru_cache(maxsize=32)
def _assertions(text: str) -> tuple[ast.Assert, ...]:
    """Every ``assert`` statement of a source file (none where it does not parse)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return ()
    return tuple(node for node in ast.walk(tree) if isinstance(node, ast.Assert))
