"""Sequentials that are their block's whole body: ``def forward(self, x): return self.net(x)``.

lucidrains' ``FeedForward`` and ``DepthWiseConv2d``, CLIP's ``Transformer``
(``return self.resblocks(x)``) build an ``nn.Sequential`` and hand their
input to it. Functional style writes an ``nn.Sequential`` called as a whole
as a function of its own, so such a block printed as two functions, the
block's a call of the other::

    def net(params, x, *, training=False):
        x = F.layer_norm(x, (16,), params["0.weight"], params["0.bias"])
        ...

    def feed_forward(params, x, *, training=False):
        return net(sub_params(params, "net."), x, training=training)

A person writing it in functional style writes the layers in the block's
function (``params["net.0.weight"]``): the Sequential is traced through
instead (:func:`whole_bodies`), as one the block does not call as a whole
already is. Read from the block's source: its ``forward`` returns the
Sequential's result on the forward's own parameters, in order, and does
nothing else.

Not the root's (TCN's ``return self.network(x)``): the root's function is
the model's, and a file read back finds its Sequential by the function.
Nor a Sequential holding a third-party layer kept as a call (einops'
``Reduce``, :mod:`.leaves`): read back, only the Sequential's function
places it among the members.
"""

from __future__ import annotations

import ast
from typing import Iterable

from torch import fx, nn

from .leaves import is_leaf
from .source_map import CALL_AT, NAMES, SOURCE
from .source_text import docstring_node, function_tree


def whole_bodies(model: nn.Module) -> set[int]:
    """The ``id`` of each ``nn.Sequential`` of ``model`` that is its parent block's whole ``forward``."""
    found = set()
    for path, module in model.named_modules():
        if not path or type(module) is not nn.Sequential:
            continue
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path)
        if (
            parent is not model
            and not any(is_leaf(m) for m in module)
            and (
                _forward_returns(type(parent), name)
                # a functional file's block read back as one (:mod:`.functional.containers`)
                or getattr(parent, "whole_body", None) == name
            )
        ):
            found.add(id(module))
    return found


def _forward_returns(cls: type, attribute: str) -> bool:
    """``cls.forward`` is ``return self.<attribute>(<its parameters>)``, and nothing else."""
    function = function_tree(getattr(cls, "forward", None))
    if function is None:
        return False
    body = [s for s in function.body if s is not docstring_node(function)]
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return False
    call = body[0].value
    arguments = function.args
    if (
        arguments.vararg
        or arguments.kwarg
        or arguments.kwonlyargs
        or arguments.defaults
        or arguments.posonlyargs
    ):
        return False
    names = [a.arg for a in arguments.args[1:]]
    return (
        isinstance(call, ast.Call)
        and not call.keywords
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == attribute
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "self"
        and [a.id if isinstance(a, ast.Name) else None for a in call.args] == names
    )


def as_own_lines(graphs: Iterable[fx.GraphModule], paths: Iterable[str]) -> None:
    """Each layer a whole-body Sequential at one of ``paths`` calls prints as its own statement.

    Traced through, its layers come from the block's one line (``return
    self.net(x)``), which would print them as one nested expression; the
    Sequential's own function wrote one statement per layer, and so does
    the block now: its nodes forget that line (:mod:`nnconvert.source_map`).
    """
    prefixes = tuple(f"{p}." for p in paths)
    if not prefixes:
        return
    for graph in graphs:
        for node in graph.graph.nodes:
            if node.op in ("call_module", "get_attr") and str(node.target).startswith(
                prefixes
            ):
                for key in (SOURCE, NAMES, CALL_AT):
                    node.meta.pop(key, None)
