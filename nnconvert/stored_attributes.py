"""What ``forward`` stores on its module for the caller: ``self.last_loss = loss``.

llama2.c's ``Transformer.forward`` returns the logits and leaves the loss on
the model (``self.last_loss = F.cross_entropy(...)``, ``self.last_loss =
None`` without targets); its training loop reads ``model.last_loss``. Such
a store is no value of the graph, so a trace drops it and the output has
no ``last_loss`` (SPEC invariant 7). While tracing, a store on the traced
module of an attribute that no method of its class reads again (a value
for the caller, not a cache ``forward`` fills and reads back: CLIP's
``self.attn_mask``, the word language model's ``self.src_mask``) becomes a
:func:`store_attribute` node, impure, printed ``self.last_loss = ...`` in
the class styles and ``params["last_loss"] = ...`` in a functional root.

A model without source records nothing: which attributes are only written
is read from the class's text.
"""

from __future__ import annotations

import ast
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from torch import fx, nn

from .errors import InputError
from .source_map import STORED_AS
from .source_text import class_methods, read_attributes, self_attributes

if TYPE_CHECKING:
    from .hierarchy import Instance


def store_attribute(name: str, value: Any) -> None:
    """``self.<name> = value`` in the traced module's ``forward``; does nothing when run.

    The graph is the module's computation, not the module: the printer
    writes the store on ``self`` (or the functional root's dict).
    """


def is_store(node: fx.Node) -> bool:
    """A :func:`store_attribute` node."""
    return node.op == "call_function" and node.target is store_attribute


def written_only(cls: type) -> frozenset[str]:
    """Attributes ``forward`` (or a method it calls) assigns on ``self`` and no method reads.

    Read from the source of ``cls`` and its bases other than torch's; a
    class without source gives none. What another method stores
    (``resize_token_embeddings`` setting ``self.vocab_size``) is not
    ``forward``'s doing.
    """
    found = class_methods(cls)
    if found is None:
        return frozenset()
    methods: dict[str, list[ast.AST]] = {}  # every class's, ``super().forward`` too
    for function in found:
        methods.setdefault(function.name, []).append(function)
    read = read_attributes(found)
    stored: set[str] = set()
    reached, waiting = set(), ["forward"]
    while waiting:
        name = waiting.pop()
        if name in reached or name not in methods or name == "__init__":
            continue
        reached.add(name)
        for function in methods[name]:
            for node in self_attributes(function):
                if isinstance(node.ctx, ast.Store):
                    stored.add(node.attr)
                else:
                    waiting.append(node.attr)  # ``self.encode(x)``: a method it calls
    return frozenset(stored - read)


def refuse_block_stores(instances: Iterable[Instance]) -> None:
    """Functional style keeps a store of the root only: a block's would be lost.

    A block function gets ``sub_params(params, "layers.0.")``, a dict of
    its own: what it stored there would never reach the caller.
    """
    for instance in instances:
        stored = [str(n.args[0]) for n in instance.graph.graph.nodes if is_store(n)]
        if instance.path and stored:
            raise InputError(
                f"block {instance.path!r} ({type(instance.module).__name__}) stores "
                f"self.{stored[0]} in forward for its caller; a functional-style "
                "block function has nowhere to keep it (only the root function "
                'stores, into its dict: params["name"]): convert to module or '
                "mixed style"
            )


@contextmanager
def stores_recorded(tracer: fx.Tracer, root: Any) -> Iterator[None]:
    """Inside, ``root``'s stores of :func:`written_only` attributes are graph nodes too.

    The store itself still happens (later code of ``forward`` may read the
    value, and the tracer's attribute restoring undoes it afterwards). A
    traced value ``root`` stores is named after the attribute
    (:data:`~nnconvert.source_map.STORED_AS`), a cache too.
    """
    if not isinstance(root, nn.Module):
        yield
        return
    names = written_only(type(root))
    original = nn.Module.__setattr__

    def recording(module: nn.Module, name: str, value: Any) -> None:
        if module is root and isinstance(value, fx.Proxy):
            value.node.meta.setdefault(STORED_AS, name)
        if module is root and name in names:
            tracer.create_proxy("call_function", store_attribute, (name, value), {})
        original(module, name, value)

    nn.Module.__setattr__ = recording  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.__setattr__ = original  # type: ignore[method-assign]


__all__ = [
    "is_store",
    "refuse_block_stores",
    "store_attribute",
    "stores_recorded",
    "written_only",
]
