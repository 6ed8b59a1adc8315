"""What a call passes, read from the text of the call itself.

A traced call sees values: ``self.forward_post(src, src_mask, ...)`` given
``src_mask=None`` sees ``None``, the same as ``self.forward_post(src,
None, ...)`` would. Where a recorded helper call needs to know which of
its caller's parameters it passed (so that the call in the output passes
``src_mask`` on, as the user wrote it, and the helper keeps its
parameter), the call's own text says: Python 3.11 records, for every
instruction, the columns of the expression it runs, so the frame that
makes the call knows exactly which call it is making.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import types
from typing import Any


def passed_parameters(
    frame: types.FrameType, signature: inspect.Signature, bound: tuple[Any, ...] = ()
) -> dict[str, str]:
    """Parameter of the callee -> the caller's own parameter the call passes there.

    ``frame`` is the caller's, stopped at the call; ``signature`` the
    callee's, whose first ``len(bound)`` parameters the call does not
    write (``self``). Only arguments written as the bare name of one of
    the caller's parameters that the caller never assigns count: their
    value at the call is the one the caller was given. Empty where the
    call's text cannot be read or bound.
    """
    call = _call_expression(frame)
    if call is None or any(isinstance(a, ast.Starred) for a in call.args):
        return {}
    if any(k.arg is None for k in call.keywords):
        return {}
    try:
        written = signature.bind(
            *bound, *call.args, **{k.arg: k.value for k in call.keywords}
        ).arguments
    except TypeError:
        return {}
    own = _unassigned_parameters(frame.f_code)
    return {
        parameter: expression.id
        for parameter, expression in written.items()
        if isinstance(expression, ast.Name) and expression.id in own
    }


def _call_expression(frame: types.FrameType) -> ast.Call | None:
    """The call the frame is making, parsed from its file's text."""
    positions = inspect.getframeinfo(frame, context=0).positions
    if positions is None or None in positions:
        return None
    first, last, start, end = positions
    lines = linecache.getlines(frame.f_code.co_filename, frame.f_globals)
    if not lines or last > len(lines):
        return None
    text = lines[first - 1 : last]
    text[-1] = text[-1][:end]
    text[0] = text[0][start:]
    try:
        tree = ast.parse("(" + "".join(text) + ")", mode="eval")
    except SyntaxError:
        return None
    return tree.body if isinstance(tree.body, ast.Call) else None


@functools.lru_cache(maxsize=256)
def _unassigned_parameters(code: types.CodeType) -> frozenset[str]:
    """The function's parameters that its body never binds again."""
    count = code.co_argcount + code.co_kwonlyargcount
    parameters = set(code.co_varnames[:count])
    try:
        source = inspect.getsource(code)
        tree = ast.parse(_dedented(source))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            parameters.discard(node.id)
    return frozenset(parameters)


def _dedented(source: str) -> str:
    """A method's text parsed alone: ``if True:`` takes the indentation."""
    return "if True:\n" + source if source[:1].isspace() else source
