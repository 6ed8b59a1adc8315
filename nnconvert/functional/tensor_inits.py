"""A functional file's ``init_params()`` statements, declared on the hosts whose tensors they draw.

Where a layer function saves no lines, ``--to functional`` writes a layer's
tensors one statement each, as its op-spec row creates them::

    params["conv1.weight"] = nn.init.kaiming_uniform_(
        torch.empty(4, 4, 1, 1), a=math.sqrt(5)
    )
    params["emb.weight"] = nn.init.normal_(torch.empty(10, 4))
    params["emb.weight"][0] = 0

Read back, a host that no call made a layer again (:mod:`.layers`) has no
row to say how its tensors are drawn; the statements that drew them are
declared on it as the row's :class:`~nnconvert.opspecs.spec.TensorInit` s
would be (:mod:`nnconvert.declared_inits`), and ``init_params()`` writes
them again. Only statements over a key spelled as a plain string count (a
loop's f-string key is no one tensor), and never a tensor the file leaves
``torch.empty`` (nnconvert's word for one it could not draw) or takes from
another key (a tie, a copy).
"""

from __future__ import annotations

import ast
from typing import Callable

from torch import nn

from ..declared_inits import declare_tensor_inits, plain_host
from .init_ties import init_tree, params_key
from ..opspecs.spec import TensorInit


def tensor_statements(init: Callable) -> dict[str, TensorInit]:
    """Per key, the statement that draws it in ``init`` and those that finish it.

    The ``TensorInit`` s' attributes are the whole keys. Empty when the
    source cannot be read.
    """
    tree = init_tree(init)
    if tree is None:
        return {}
    drawn: dict[str, str] = {}
    then: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        key = params_key(target)
        if key is not None:
            if _draws(node.value):
                drawn.setdefault(key, ast.unparse(node.value))
            continue
        inner = target.value if isinstance(target, ast.Subscript) else None
        key = params_key(inner) if inner is not None else None
        if key in drawn:  # params["emb.weight"][0] = 0
            then.setdefault(key, []).append(_template(node, key))
    return {
        key: TensorInit(key, expression, tuple(then.get(key, ())))
        for key, expression in drawn.items()
        if None not in then.get(key, ())
    }


def declare_tensor_statements(model: nn.Module, found: dict[str, TensorInit]) -> None:
    """Each plain host of ``model`` declares the statements that draw its own tensors."""
    by_host: dict[str, dict[str, TensorInit]] = {}
    for key, init in found.items():
        prefix, _, attribute = key.rpartition(".")
        if prefix:
            by_host.setdefault(prefix, {})[attribute] = TensorInit(
                attribute, init.expression, init.then
            )
    for prefix, inits in by_host.items():
        host = plain_host(model, prefix)
        if host is None:
            continue
        own = set(host.state_dict(keep_vars=True))
        inits = {a: i for a, i in inits.items() if a in own}
        if inits:
            declare_tensor_inits(host, inits)


def _draws(value: ast.AST) -> bool:
    """A fresh tensor made without ``params`` and not left ``torch.empty``."""
    if any(isinstance(n, ast.Name) and n.id == "params" for n in ast.walk(value)):
        return False
    return not (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "empty"
        and isinstance(value.func.value, ast.Name)
        and value.func.value.id == "torch"
    )


def _template(node: ast.Assign, key: str) -> str | None:
    """``params["K"][0] = 0`` as a :attr:`TensorInit.then` template (``"{}[0] = 0"``).

    None when the statement cannot be one: braces of its own, or another key.
    """
    text = ast.unparse(node)
    spelled = f"params[{key!r}]"
    if "{" in text or "}" in text or not text.startswith(spelled):
        return None
    rest = text[len(spelled) :]
    if "params" in rest:
        return None
    return "{}" + rest


__all__ = ["declare_tensor_statements", "tensor_statements"]
