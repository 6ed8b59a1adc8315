"""What the user wrote about a tensor that a helper method computed in ``__init__``.

``self.register_buffer("pos_table", self._get_sinusoid_encoding_table(n, d))``
(attention-is-all-you-need) and CLIP's ``attn_mask=self.build_attention_mask()``
(handed down to each block, which keeps ``self.attn_mask = attn_mask``) make
a tensor with a method the output does not have: the output holds the
tensor's value. The method's docstring and comments say what that value is,
so they go with the attribute's definition (SPEC invariant 8), as the
comments above ``self.<name> = ...`` in ``__init__`` do
(:func:`~nnconvert.source_text.init_comments`).

The method is found by reading the source, not by running it again: the
statement of ``__init__`` that sets the attribute either calls
``self.<method>(...)`` itself (directly or through a local it assigned), or
stores a parameter of ``__init__``; then the argument the parent's
``__init__`` passed for that parameter (``ResidualAttentionBlock(width,
heads, attn_mask)``) is followed the same way, up to the root. Anything
else (a value from outside the model, ``*args``, an expression the reading
does not follow) gives nothing: no comment is better than a wrong one.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any, Sequence

import torch
from torch import nn

from .source_text import (
    SourceFile,
    assigned_value,
    attributes_set,
    called_name,
    docstring_node,
    function_definition,
    init_definition,
    self_path,
)

#: (path from the root, module) for the root, each module on the way, and the module
Ancestry = Sequence[tuple[str, nn.Module]]


def ancestry(root: nn.Module, path: str) -> tuple[tuple[str, nn.Module], ...]:
    """(path, module) of ``root``, each module on the way to ``path``, and its own."""
    chain = [("", root)]
    parts = path.split(".") if path else []
    for index, part in enumerate(parts):
        chain.append((".".join(parts[: index + 1]), chain[-1][1]._modules[part]))
    return tuple(chain)


def helper_comments(ancestry: Ancestry) -> dict[str, list[str]]:
    """Per attribute of the last module of ``ancestry``: the comment lines of its helper.

    ``{"attn_mask": ["# Made by build_attention_mask():", "# lazily create ..."]}``;
    an attribute no helper method of the user's computed is not listed, nor
    one that does not hold a tensor (a number, a module: the output may not
    print it, and its comments would then stand above another attribute).
    """
    if not ancestry:
        return {}
    found = init_definition(ancestry[-1][1])
    if found is None:
        return {}
    module = ancestry[-1][1]
    comments: dict[str, list[str]] = {}
    for statement in ast.walk(found[1]):
        if not isinstance(statement, ast.stmt):
            continue
        for name in attributes_set(statement):
            if not _holds_tensor(module, name):
                continue
            value = assigned_value(statement)
            origin = _origin(
                ancestry, len(ancestry) - 1, found[1], value, statement.lineno
            )
            if origin is not None:
                comments[name] = _method_comments(*origin[1:])
    return comments


def tensor_origin(
    ancestry: Ancestry, name: str
) -> tuple[nn.Module, SourceFile, Any] | None:
    """The user's method that computed the last module's tensor ``name``, and whose it is.

    CLIP's blocks keep ``self.attn_mask = attn_mask``, which the root made
    with ``self.build_attention_mask()``: (the root, its file, the method).
    None where :func:`helper_comments` finds no method.
    """
    if not ancestry or not _holds_tensor(ancestry[-1][1], name):
        return None
    found = init_definition(ancestry[-1][1])
    if found is None:
        return None
    origins = [
        _origin(ancestry, len(ancestry) - 1, found[1], assigned_value(s), s.lineno)
        for s in ast.walk(found[1])
        if isinstance(s, ast.stmt) and name in attributes_set(s)
    ]
    return origins[0] if len(origins) == 1 else None


def _holds_tensor(module: nn.Module, name: str) -> bool:
    try:
        return isinstance(getattr(module, name, None), torch.Tensor)
    except Exception:  # a property that fails: not a tensor attribute of ours
        return False


def read_helper_comments(ancestry: Ancestry) -> dict[str, list[str]]:
    """:func:`helper_comments` that functional style says where the tensor is read.

    A block's function says them before it first reads the tensor, as it
    says its ``__init__``'s comments (:mod:`.printer.body`); so does the
    root's function for a tensor outside the ``state_dict``, which it
    rebuilds where it reads it. The root's saved tensors are defined by
    ``init_params()``, which says them above their keys, where a
    functional input reads the root's ``__init__`` comments back.
    """
    if not ancestry:
        return {}
    comments = helper_comments(ancestry)
    if len(ancestry) > 1:
        return comments
    saved = ancestry[-1][1].state_dict(keep_vars=True)
    return {name: lines for name, lines in comments.items() if name not in saved}


def _origin(
    ancestry: Ancestry,
    index: int,
    init: ast.FunctionDef,
    value: ast.expr | None,
    before: int,
) -> tuple[nn.Module, SourceFile, ast.FunctionDef] | None:
    """The user's method whose result ``value`` (in ``init``, ``ancestry[index]``'s
    ``__init__``) is, with the module whose method it is."""
    if value is None:
        return None
    module = ancestry[index][1]
    method = _method_called(value, type(module))
    if method is not None:
        return (module, *method)
    if not isinstance(value, ast.Name):
        return None
    local = _last_assignment(init, value.id, before)
    if local is not None:
        return _origin(ancestry, index, init, local.value, local.lineno)
    if value.id not in _parameters(init):
        return None
    return _argument_origin(ancestry, index, value.id)


def _method_called(value: ast.expr, cls: type) -> tuple[SourceFile, Any] | None:
    """The user's method of ``cls`` that ``value`` calls as ``self.<method>(...)``, if one."""
    methods = []
    for node in ast.walk(value):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and self_path(node.func.value) == ""
        ):
            method = inspect.getattr_static(cls, node.func.attr, None)
            found = function_definition(method) if inspect.isfunction(method) else None
            if found is not None:
                methods.append(found)
    return methods[0] if len(methods) == 1 else None  # two: whose value is it?


def _last_assignment(
    init: ast.FunctionDef, name: str, before: int
) -> ast.Assign | None:
    """The last ``name = ...`` of ``init`` above line ``before`` (None: not a local)."""
    found = None
    for node in ast.walk(init):
        if (
            isinstance(node, ast.Assign)
            and node.lineno < before
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and (found is None or node.lineno > found.lineno)
        ):
            found = node
    return found


def _parameters(function: ast.FunctionDef) -> list[str]:
    arguments = function.args
    return [
        a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    ]


def _argument_origin(
    ancestry: Ancestry, index: int, parameter: str
) -> tuple[nn.Module, SourceFile, Any] | None:
    """Follow ``parameter`` of ``ancestry[index]``'s ``__init__`` to the parent that passed it.

    The parent is the nearest module above whose ``__init__`` is the user's
    (an ``nn.Sequential`` in between builds nothing); its statement setting
    the attribute the path goes through holds the call of the class.
    """
    path, module = ancestry[index]
    for above in range(index - 1, -1, -1):
        parent_path, parent = ancestry[above]
        found = init_definition(parent)
        if found is None:
            continue
        relative = path[len(parent_path) + 1 :] if parent_path else path
        attribute = relative.split(".")[0]
        calls = _class_calls(found[1], attribute, type(module))
        if len(calls) != 1:
            return None  # not built here, or built by calls that may differ
        argument = _argument(calls[0], type(module), parameter)
        return _origin(ancestry, above, found[1], argument, calls[0].lineno)
    return None


def _class_calls(init: ast.FunctionDef, attribute: str, cls: type) -> list[ast.Call]:
    """The calls of ``cls`` in the statements of ``init`` that set ``attribute``."""
    calls = []
    for statement in ast.walk(init):
        if isinstance(statement, ast.stmt) and attribute in attributes_set(statement):
            calls += [
                node
                for node in ast.walk(statement)
                if isinstance(node, ast.Call) and called_name(node.func) == cls.__name__
            ]
    return calls


def _argument(call: ast.Call, cls: type, parameter: str) -> ast.expr | None:
    """The expression ``call`` passes for ``cls.__init__``'s ``parameter`` (None: default)."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return None  # *args or **kwargs: which one is it?
    for keyword in call.keywords:
        if keyword.arg == parameter:
            return keyword.value
    try:
        names = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    positional = [
        p.name for p in names if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if parameter in positional and positional.index(parameter) < len(call.args):
        return call.args[positional.index(parameter)]
    return None


def _method_comments(source: SourceFile, method: Any) -> list[str]:
    """The method's docstring and comments as comment lines, headed by its name.

    A comment trailing a one-line statement keeps that statement
    (``# mask.triu_(1)  # zero out the lower diagonal``): the output does not
    have the code it annotated.
    """
    docstring = docstring_node(method)
    summary: list[str] = []
    skip: set[int] = set()
    if docstring is not None:
        text = inspect.cleandoc(docstring.value.value)
        summary = [line.rstrip() for line in text.split("\n")]
        skip = set(range(docstring.lineno, docstring.end_lineno + 1))
    head = f"# Made by {method.name}():"
    lines = [f"{head} {summary[0]}" if summary and summary[0] else head]
    lines += [f"# {line}" if line else "#" for line in summary[1:]]
    one_line = {
        node.lineno: ast.get_source_segment(source.text, node)
        for node in ast.walk(method)
        if isinstance(node, ast.stmt) and node.lineno == node.end_lineno
    }
    for line, comment in sorted(source.comments.items()):
        if not method.lineno <= line <= method.end_lineno or line in skip:
            continue
        if not source.comment_alone(line) and one_line.get(line):
            lines.append(f"# {one_line[line]}  {comment}")
        else:
            lines.append(comment)
    return lines
