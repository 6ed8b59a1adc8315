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

from .forward_calls import forward_calls_are_calls
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
        with torch.no_grad(), forward_calls_are_calls(shadow):
            shadow(*clone_inputs(parent_inputs))
    except Exception:  # the block keeps the inputs the model gave it
        return {}
    finally:
        for handle in handles:
            handle.remove()
    return found


def borrowed_from_siblings(
    modules: Sequence[nn.Module],
    captured: dict[int, tuple[Any, ...]],
    runs: Callable[[nn.Module, tuple[Any, ...]], bool],
    most: int,
) -> dict[int, tuple[Any, ...]]:
    """New inputs for instances of one class whose siblings were given optional inputs they were not.

    Whisper's ``MultiHeadAttention`` is called with ``mask`` by the decoder's
    self-attention, with ``xa`` by its cross-attention and with neither by
    the encoder. Traced on what each received, the three instances take
    different paths and become three definitions of one class. Traced on
    the inputs its siblings were given as well (a sibling's value where its
    own was None, each where ``runs`` says the instance accepts it), every
    instance is traced with and without each of them (:func:`~nnconvert.
    hierarchy.traced`), so all get one merged graph with the same guards.
    Only plain positional calls of one ``forward`` are compared; a value is
    a copy of the first sibling's that the instance accepts (an additive
    mask fits one sequence length only). An instance is given at most
    ``most`` optional inputs: the most that are traced without every subset,
    so that the path its own call takes is traced as it is, never left to a
    merge of paths traced with other inputs given (Hugging Face's T5 encoder
    stack would borrow the decoder's ``encoder_hidden_states``, and its own
    path without a mask would be untraced). Returns the instances' new inputs.
    """
    by_class: dict[type, list[nn.Module]] = {}
    for module in modules:
        if id(module) in captured and not keywords_of(captured[id(module)]):
            by_class.setdefault(type(module), []).append(module)
    borrowed: dict[int, tuple[Any, ...]] = {}
    for siblings in by_class.values():
        optional = {  # one class, one ``forward``: the positions defaulting to None
            i
            for i, p in enumerate(forward_parameters(siblings[0]))
            if p.default is None
        }
        donors: dict[int, list[Any]] = {}  # position -> the siblings' values there
        for sibling in siblings:
            for index, value in enumerate(captured[id(sibling)]):
                if index in optional and value is not None:
                    donors.setdefault(index, []).append(value)
        for module in siblings if len(siblings) > 1 else ():
            own = captured[id(module)]
            more = list(own)
            for index in [i for i, v in enumerate(own) if v is None and i in donors]:
                for value in donors[index]:  # the first that the instance accepts
                    trial = [*more[:index], *clone_inputs((value,)), *more[index + 1 :]]
                    if runs(module, tuple(trial)):
                        more = trial
                        break
            given = sum(
                1 for i, v in enumerate(more) if i in optional and v is not None
            )
            if given <= most and any(a is not b for a, b in zip(more, own)):
                borrowed[id(module)] = tuple(more)
    return borrowed
