"""Which way round a functional file ties its weights: ``params["X"] = params["Y"]``.

``--to functional`` writes a tie the user wrote as ``self.X = self.Y`` as
``params["X"] = params["Y"]`` in ``init_params()``: both keys then hold ``Y``'s
tensor. The dict alone cannot tell which key is the tie's source, and the
first key in the dict (the rule for a model without source) is often the
other one: nanoGPT's ``transformer.wte.weight = lm_head.weight`` keeps
``wte`` first. Read from the statement, the tie is declared on the model
(:func:`nnconvert.ties.declare_written`), so that converting the file again
ties the same way round (SPEC invariant 5).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Callable


def init_ties(init: Callable) -> dict[str, str]:
    """``{X: Y}`` for each ``params["X"] = params["Y"]`` in ``init`` (X once, the first kept).

    Keys spelled as plain strings only (a loop's f-string key names no one
    tie). Empty when the source cannot be read.
    """
    tree = init_tree(init)
    if tree is None:
        return {}
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, source = params_key(node.targets[0]), params_key(node.value)
            if target is not None and source is not None and target != source:
                found.setdefault(target, source)
    return found


def init_tree(init: Callable) -> ast.Module | None:
    """The parsed source of a functional file's ``init_params`` (None: unreadable)."""
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return None


def params_key(node: ast.AST) -> str | None:
    """``params["X"]`` -> ``"X"``; None for anything else."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "params"
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.slice.value
    return None


__all__ = ["init_ties"]
