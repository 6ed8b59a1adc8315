"""What a block receives from its parent's traced graph, where the model gave it less.

Each block is traced on the inputs it received when the model ran
(:func:`~nnconvert.hierarchy.capture_inputs`). Library code may take another
path while it is traced: Hugging Face's mask builders ask ``is_tracing(x)``
(an ``fx.Proxy`` is tracing) and then always build the causal mask, where
the plain run skips it and passes ``attention_mask=None`` to every layer.
The parent's graph then hands its blocks a mask that their traces, made
without one, refuse. :func:`inputs_from_parent` finds such calls in a
parent's graph and captures what the graph really passes, so that the block
is traced with it (and, as for every optional input, without it).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import torch
from torch import fx, nn

from .copying import copy_model
from .example_values import clone_inputs
from .trace import forward_parameters, keywords_of

#: A block's call as its inputs: ``(block, args, kwargs) -> inputs`` (how the model's run captures them).
Binder = Callable[[nn.Module, tuple, dict], tuple[Any, ...]]


def inputs_from_parent(
    graph: fx.GraphModule,
    parent_inputs: Sequence[Any],
    captured: dict[int, tuple[Any, ...]],
    blocks: dict[int, nn.Module],
    bind: Binder,
) -> dict[int, tuple[Any, ...]]:
    """New inputs for each block of ``blocks`` that ``graph`` passes a value its own were None.

    ``graph`` is the parent's traced graph (its nodes carry the example
    values, ``node.meta["value"]``); ``captured`` the inputs each block got
    when the model ran, by ``id``. Only blocks given more are returned,
    captured by running a copy of ``graph`` on ``parent_inputs``.
    """
    targets = {}
    for node in graph.graph.nodes:
        if node.op != "call_module":
            continue
        block = graph.get_submodule(str(node.target))
        if id(block) in blocks and id(block) in captured and id(block) not in targets:
            if _given_more(node, block, captured[id(block)]):
                targets[id(block)] = str(node.target)
    if not targets:
        return {}
    return _run_capturing(graph, parent_inputs, targets, blocks, bind)


def _given_more(node: fx.Node, block: nn.Module, inputs: Sequence[Any]) -> bool:
    """The call passes a value where the block's captured input is None."""
    keywords = keywords_of(inputs)
    split = len(inputs) - len(keywords)
    names = [p.name for p in forward_parameters(block)][:split]
    absent = {
        name
        for name, value in [*zip(names, inputs[:split]), *zip(keywords, inputs[split:])]
        if value is None
    }
    if not absent:
        return False
    try:
        bound = inspect.signature(block.forward).bind_partial(*node.args, **node.kwargs)
    except TypeError:
        return False
    passed = dict(bound.arguments)
    for parameter in inspect.signature(block.forward).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            passed.update(passed.pop(parameter.name, {}))
    return any(_has_value(passed.get(name)) for name in absent)


def _has_value(value: Any) -> bool:
    if isinstance(value, fx.Node):
        return value.meta.get("value") is not None
    return value is not None


def _run_capturing(
    graph: fx.GraphModule,
    parent_inputs: Sequence[Any],
    targets: dict[int, str],
    blocks: dict[int, nn.Module],
    bind: Binder,
) -> dict[int, tuple[Any, ...]]:
    """Run a copy of ``graph``; the first inputs each target block receives, by the block's ``id``."""
    shadow = copy_model(graph)
    found: dict[int, tuple[Any, ...]] = {}
    handles = []
    for key, target in targets.items():

        def hook(module: nn.Module, args: tuple, kwargs: dict, key: int = key) -> None:
            if key not in found:
                found[key] = bind(blocks[key], args, kwargs)

        handles.append(
            shadow.get_submodule(target).register_forward_pre_hook(
                hook, with_kwargs=True
            )
        )
    try:
        with torch.no_grad():
            shadow(*clone_inputs(parent_inputs))
    except Exception:  # the block keeps the inputs the model gave it
        return {}
    finally:
        for handle in handles:
            handle.remove()
    return found
