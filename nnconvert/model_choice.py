"""Which class of a model file is the model, read from its source, not by running it.

A model file defines the model and its blocks. The model is the *root*: the
``nn.Module`` class that no other class of the file uses (instantiates, or
names in any other way, also through the file's module-level helper
functions such as ``def make_layers(cfg)``). Source order says nothing: a
helper block is often defined after the model, and the old rule ("the last
class") then picked the block.

A *factory* is a module-level function that returns one of the file's model
classes built (``def ResNet18(): return ResNet(BasicBlock, [2, 2, 2, 2])``);
``--class`` accepts one, and the error for an unclear model lists them.
"""

from __future__ import annotations

import ast
import inspect
import types
from typing import Any, Callable, Iterator, Mapping

from torch import nn

#: Statements whose bodies still run at module level (their definitions count).
_BLOCKS = (ast.If, ast.Try, ast.With)


def root_classes(
    module: types.ModuleType, source: str, classes: list[type[nn.Module]]
) -> list[type[nn.Module]]:
    """The classes of ``classes`` (the file's, in source order) no other class of the file uses."""
    tree = ast.parse(source)
    functions = _function_names(tree)
    used: set[str] = set()
    for node in _definitions(tree, ast.ClassDef):
        if _is_other_than_module(vars(module).get(node.name)):
            continue  # a dataclass of settings does not make a block part of it
        used |= _uses(node, functions) - {node.name}
    return [cls for cls in classes if cls.__name__ not in used]


def factories(
    module: types.ModuleType, source: str, classes: list[type[nn.Module]]
) -> list[str]:
    """Module-level functions that return one of ``classes`` built, in source order."""
    names = {cls.__name__ for cls in classes}
    found = []
    for node in _definitions(ast.parse(source), ast.FunctionDef):
        if inspect.isfunction(vars(module).get(node.name)) and any(
            _builds(ret.value, names)
            for ret in ast.walk(node)
            if isinstance(ret, ast.Return)
        ):
            found.append(node.name)
    return list(dict.fromkeys(found))


def argument_mismatch(
    make: Callable[..., Any], arguments: Mapping[str, Any]
) -> str | None:
    """Why ``make(**arguments)`` cannot bind, said for ``--init-arg``; None when it can.

    Lists every missing argument at once (Python names only the first), and
    the arguments ``make`` takes, so that one more try is enough.
    """
    try:
        signature = inspect.signature(make)
    except (TypeError, ValueError):
        return None
    parameters = signature.parameters.values()
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    takes = [p.name for p in parameters if p.kind in keyword]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        unknown: list[str] = []
    else:
        unknown = [name for name in arguments if name not in takes]
    missing = [
        p.name
        for p in parameters
        if p.kind in (*keyword, inspect.Parameter.POSITIONAL_ONLY)
        and p.default is inspect.Parameter.empty
        and p.name not in arguments
    ]
    problems = []
    if missing:
        problems.append("it needs " + ", ".join(missing))
    if unknown:
        problems.append("it takes no " + ", ".join(unknown))
    if not problems:
        return None
    return " and ".join(problems) + f" (it takes: {', '.join(takes) or 'nothing'})"


def _is_other_than_module(value: Any) -> bool:
    """A class the file binds under that name that is not an ``nn.Module``."""
    return isinstance(value, type) and not issubclass(value, nn.Module)


def _definitions(tree: ast.Module, kind: type) -> Iterator[Any]:
    """Module-level definitions of ``kind``, also those under ``if``/``try``/``with``."""
    todo = list(tree.body)
    while todo:
        statement = todo.pop(0)
        if isinstance(statement, kind):
            yield statement
        elif isinstance(statement, _BLOCKS):
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo.extend(getattr(statement, field, []))
        elif isinstance(statement, ast.ExceptHandler):
            todo.extend(statement.body)


def _function_names(tree: ast.Module) -> dict[str, set[str]]:
    """Each module-level function's name -> the names it uses (all its definitions')."""
    uses: dict[str, set[str]] = {}
    for node in _definitions(tree, (ast.FunctionDef, ast.AsyncFunctionDef)):
        uses.setdefault(node.name, set()).update(_names(node))
    return uses


def _uses(node: ast.AST, functions: dict[str, set[str]]) -> set[str]:
    """Names ``node`` uses, with those of the module-level functions it calls, transitively."""
    seen: set[str] = set()
    todo = list(_names(node))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(functions.get(name, ()))
    return seen


def _names(node: ast.AST) -> set[str]:
    """Every name ``node`` reads, its bases and decorators included."""
    return {
        child.id
        for child in ast.walk(node)
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load)
    }


def _builds(value: ast.AST | None, classes: set[str]) -> bool:
    """``return Net(...)``: a call of one of the file's model classes."""
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in classes
    )


__all__ = ["argument_mismatch", "factories", "root_classes"]
