"""Tensors ``forward`` makes from Python data, written as the expression that made them.

PointNet's feature transform adds an identity to its output::

    iden = Variable(torch.from_numpy(np.eye(self.k).flatten().astype(np.float32)))
    iden = iden.view(1, self.k * self.k).repeat(batchsize, 1)

fx keeps the tensor ``torch.from_numpy(...)`` returns as a constant, which
functional style must carry: as 4,096 floats in base64 text, unless the
source says how it was made. :func:`source_constant_build` reads the
statement the constant's first reader was made on, and takes the outermost
call in it that reads nothing but literals, ``self.<attribute>`` plain
numbers (written as their values, as :func:`~.tensor_builds.method_build`
writes them), ``torch``, ``math``, the pure modules and their functions of
:data:`~.tensor_builds.PURE_MODULES` (``np``) and a few builtins, and that
gives the constant bit for bit::

    IDEN = torch.from_numpy(np.eye(64).flatten().astype(np.float32)).view(1, 64 * 64)

(the deprecated ``Variable(x)`` read as the ``x`` it returns; fx ran the
``.view`` on the constant already). Anything else, or no source: None, and
the constant is written by its value as before.
"""

from __future__ import annotations

import ast
import builtins
import sys
from typing import Any

import torch
from torch import Tensor, fx, nn
from torch.autograd import Variable

from .errors import ConversionError
from .init_slices import PURE_BUILTINS, RECOVERED_MODULES
from .source_map import statement_line, user_name
from .source_text import simple_statement_at
from .tensor_builds import TensorBuild, pure_module, rebuilds
from .tensor_values import tensor_call


def source_constant_build(
    node: fx.Node, value: Tensor, owner: nn.Module | None
) -> TensorBuild | None:
    """The build of the constant ``node`` reads, from the user's statement that made it."""
    readers = [node, *node.users]
    frame = next(filter(None, map(statement_line, readers)), None)
    if frame is None or owner is None:
        return None
    statement = simple_statement_at(frame)
    if statement is None:
        return None
    namespace = vars(sys.modules.get(type(owner).__module__, builtins))
    calls = [n for n in ast.walk(statement) if isinstance(n, ast.Call)]
    for call in calls:  # outermost first: ``ast.walk`` is breadth-first
        found = _written(call, owner, namespace)
        if found is None:
            continue
        text, modules = found
        if _spells_its_value(text, value):
            return None  # written where it is read, as every such value is
        name = _name(node, readers)
        build = TensorBuild(
            name,
            (),
            (f"return {text}",),
            constant=name.upper(),
            inline=True,
            value=value,
            modules=modules,
        )
        if rebuilds(build, value):
            return build
    return None


def _spells_its_value(text: str, value: Tensor) -> bool:
    """``text`` is the literal the value would be written as: ``torch.tensor([[1, 1], ...])``.

    A tensor written by its value (a plain attribute's, sliced:
    Swin's ``relative_indices[:, :, 0]``) is that literal where it is read;
    read back from the functional file, the literal is a constant ``forward``
    makes, and would become a module-level ``CONSTANT = torch.tensor(...)``.
    A literal that only spells the value says nothing a constant should
    keep, so it stays where it was: the second conversion prints the first
    one's text. A literal the value does not spell exactly (``0.485`` for a
    float32 tensor, whose value prints ``0.48500001430511475``) is the
    user's own and keeps its constant.
    """
    try:
        function, args, kwargs = tensor_call(value, "constant")
    except ConversionError:
        return False  # no spelling: the user's expression, if it rebuilds it
    if function is not torch.tensor:
        return False
    call = ast.parse(text, mode="eval").body
    if not (
        isinstance(call, ast.Call)
        and ast.unparse(call.func) == "torch.tensor"
        and len(call.args) == 1
        and {k.arg for k in call.keywords} == set(kwargs)
        and all(ast.unparse(k.value) == str(kwargs[k.arg]) for k in call.keywords)
    ):
        return False
    try:
        data = ast.literal_eval(call.args[0])
    except ValueError:
        return False
    return _same_data(data, args[0])


def _same_data(a: Any, b: Any) -> bool:
    """Equal nested lists of numbers of the same types (``1 != 1.0`` here)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same_data, a, b))
    return type(a) is type(b) and a == b


def _written(
    call: ast.Call, owner: nn.Module, namespace: dict[str, Any]
) -> tuple[str, tuple[tuple[str, Any], ...]] | None:
    """``call``'s text with ``self`` numbers as literals, and the modules it reads; or None."""
    modules: dict[str, Any] = {}
    replaced = _SelfNumbers(owner, namespace).replaced(
        ast.parse(ast.unparse(call), mode="eval")
    )
    if replaced is None:
        return None
    for name in {n.id for n in ast.walk(replaced) if isinstance(n, ast.Name)}:
        if name in RECOVERED_MODULES or name in PURE_BUILTINS:
            continue
        if name == "self" or not pure_module(namespace.get(name)):
            return None
        modules[name] = namespace[name]
    return ast.unparse(replaced), tuple(sorted(modules.items()))


class _SelfNumbers(ast.NodeTransformer):
    """``self.k`` -> ``64``: a plain number the module holds; None for any other read of ``self``.

    ``Variable(x)`` -> ``x``: the wrapper has returned its tensor since torch 0.4.
    """

    def __init__(self, owner: nn.Module, namespace: dict[str, Any]) -> None:
        self.owner = owner
        self.namespace = namespace

    def visit_Call(self, node: ast.Call) -> ast.AST:
        function = node.func
        if (
            isinstance(function, ast.Name)
            and self.namespace.get(function.id) is Variable
            and len(node.args) == 1
            and not node.keywords
        ):
            return self.visit(node.args[0])
        return self.generic_visit(node)

    def replaced(self, node: ast.AST) -> ast.AST | None:
        result = self.visit(node)
        if any(isinstance(n, ast.Name) and n.id == "self" for n in ast.walk(result)):
            return None
        return result

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            value = getattr(self.owner, node.attr, None)
            if type(value) in (int, float, bool):
                return ast.Constant(value)
        return self.generic_visit(node)


def _name(node: fx.Node, readers: list[fx.Node]) -> str:
    """The user's variable for the value (``iden``), else ``constant``."""
    named = next(filter(None, map(user_name, readers)), None)
    return named if named and named.isidentifier() else "constant"


__all__ = ["source_constant_build"]
