"""A layer's prologue in the graph: written out by the style pass, read back by lift.

``OpSpec.prologues`` declares the calls a layer's ``forward`` makes around
its functional call (:class:`~nnconvert.opspecs.spec.Prologue`): a
convolution's ``F.pad`` for ``padding_mode``, ``batch_first`` attention's
transposes. This module is the one place that turns that data into nodes
(:func:`prologue_of`, :func:`spell_prologue`, :func:`spell_output`) and finds
it again (:func:`read_prologue`, :func:`absorb_output`), so the lifting pass
reads exactly what the style pass writes and names no prologue itself.

Both directions rest on one relation between a layer's output and its
call's, :func:`output_through`: with an ``output_too`` prologue the layer
returns ``back(call)`` -- or, when the call returns a tuple, ``(back(call[0]),
call[1], …)`` -- where ``back`` is the prologue's call again. Before::

    attn = self.attn(x, x, x)          # nn.MultiheadAttention(..., batch_first=True)

After (and back)::

    transpose = x.transpose(1, 0)
    attn = F.multi_head_attention_forward(transpose, transpose, transpose, ...)
    attn_0 = attn[0].transpose(1, 0)   # what was attn[0]; attn[1] stays attn[1]
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from ..errors import ConversionError
from ..opspecs import OpSpec
from ..opspecs.spec import Arguments, Prologue, bind, same_value

#: A prologue call with the arguments one layer passes.
Step = tuple[Prologue, Arguments]


def output_through(value: Any) -> int | None:
    """Which part of a call's output an ``output_too`` prologue applies to.

    Element 0 of a tuple (``nn.MultiheadAttention`` returns ``(attn_output,
    attn_weights)``), else the whole output (None).
    """
    return 0 if isinstance(value, tuple) else None


# -- layer -> call: spelling the prologue out -------------------------------


def prologue_of(
    node: fx.Node, spec: OpSpec, layer: nn.Module, inputs: list
) -> list[Step]:
    """The prologue calls ``layer`` makes on these inputs, in order.

    A prologue with ``dims`` is made only when the first input has that
    many dimensions; raises ConversionError when its shape is unknown.
    """
    made = []
    for prologue, arguments in spec.prologue_calls(layer):
        if prologue.dims is not None:
            first = inputs[0] if inputs else None
            value = first.meta.get("value") if isinstance(first, fx.Node) else None
            if not isinstance(value, torch.Tensor):
                raise ConversionError(
                    f"layer {node.target!r} (nn.{type(layer).__name__}): cannot tell "
                    f"whether its input has {prologue.dims} dimensions, which decides "
                    f"whether it calls {_name(prologue)} first"
                )
            if value.dim() != prologue.dims:
                continue
        made.append((prologue, arguments))
    return made


def spell_prologue(graph: fx.Graph, made: list[Step], inputs: list) -> list:
    """Insert the prologue calls on the inputs; returns the inputs the call takes.

    A prologue of every input runs once per distinct input, so ``query is
    key`` stays true.
    """
    inputs = list(inputs)
    for step in made:
        done: dict[Any, Any] = {}
        for i in range(len(inputs)) if step[0].every_input else range(1):
            if inputs[i] not in done:
                done[inputs[i]] = apply_steps(graph, [step], inputs[i])
            inputs[i] = done[inputs[i]]
    return inputs


def apply_steps(graph: fx.Graph, steps: list[Step], value: Any) -> Any:
    """``steps`` applied to ``value`` in turn; a Tensor method as a method call."""
    for prologue, arguments in steps:
        if prologue.method is not None:  # x.transpose(1, 0)
            after = graph.call_method(prologue.method, (value, *arguments.values()))
        else:
            after = graph.call_function(prologue.function, (value,), arguments)
        after.meta["value"] = _value_of(prologue, value, arguments)
        value = after
    return value


def spell_output(
    graph: fx.Graph, node: fx.Node, call: fx.Node, made: list[Step]
) -> None:
    """Users of the layer call ``node`` read ``call``'s output through the prologue again.

    By :func:`output_through`: ``x[0]`` becomes ``call[0].transpose(1, 0)``,
    other elements are the call's, and a use of the whole tuple gets
    ``(call[0].transpose(1, 0), call[1])``. No-op without an ``output_too``
    prologue.
    """
    back = [step for step in reversed(made) if step[0].output_too]
    if not back:
        return
    value = node.meta.get("value")
    with graph.inserting_before(node):
        if output_through(value) is None:
            call.meta["value"] = _before(value, back)
            node.replace_all_uses_with(apply_steps(graph, back, call))
            return
        first = graph.call_function(operator.getitem, (call, 0))
        first.meta["value"] = _before(value[0], back)
        through = apply_steps(graph, back, first)
        rest = [
            graph.call_function(operator.getitem, (call, i))
            for i in range(1, len(value))
        ]
    call.meta["value"] = (first.meta["value"], *value[1:])
    for i, element in enumerate(rest, 1):
        element.meta["value"] = value[i]
    whole = (through, *rest)
    for user in list(node.users):
        index = user.args[1] if user.target is operator.getitem else None
        if isinstance(index, int) and user.args[0] is node and index % len(value) == 0:
            user.replace_all_uses_with(through)
            graph.erase_node(user)
        elif index is None or not isinstance(index, int):
            user.args, user.kwargs = fx.node.map_arg(
                (user.args, user.kwargs), lambda n: whole if n is node else n
            )


def _before(value: Any, steps: list[Step]) -> Any:
    """The value the call returned, given the layer's (the steps are their own inverse)."""
    for prologue, arguments in steps:
        value = (
            prologue.function(value, **arguments)
            if isinstance(value, torch.Tensor)
            else None
        )
    return value


def _value_of(prologue: Prologue, source: Any, arguments: Arguments) -> Any:
    """The example value (a meta tensor) of the prologue call on ``source``.

    A node without one reads as a non-tensor to the printer, which inlines it.
    """
    value = source.meta.get("value") if isinstance(source, fx.Node) else None
    if not isinstance(value, torch.Tensor):
        return None
    return prologue.function(value, **arguments)


def _name(prologue: Prologue) -> str:
    if prologue.method is not None:
        return f"x.{prologue.method}()"
    return getattr(prologue.function, "__name__", repr(prologue.function))


# -- call -> layer: reading the prologue back --------------------------------


@dataclass
class Absorbed:
    """Prologue calls found around a functional call, which the layer makes itself."""

    call: fx.Node
    #: each prologue found, with the arguments its call passes
    steps: list[Step]
    #: how many prologue calls lie between each input and the call
    depths: list[int]
    #: the prologue's calls on the output (``output_too``), which the layer makes too
    back: list[fx.Node]

    @property
    def inputs(self) -> list[Any]:
        """The inputs before the prologue: the layer call's inputs.

        Read from the graph as it is now: an input may have been lifted
        into a layer call of its own since the prologue was found.
        """
        inputs = []
        for value, depth in zip(self.call.args, self.depths):
            for _ in range(depth):
                value = value.args[0]
            inputs.append(value)
        return inputs

    @property
    def calls(self) -> list[tuple[Any, Arguments]]:
        """As ``OpSpec.behaviour`` lists them: ``(function, arguments)``."""
        return [(prologue.function, arguments) for prologue, arguments in self.steps]


def read_prologue(call: fx.Node, spec: OpSpec) -> Absorbed | None:
    """The row's prologue calls right before ``call`` (and after it), or None.

    Each found call feeds only the next one, passes constants only and,
    with ``dims``, sees an input of that many dimensions; an ``output_too``
    prologue must also be every way the output is used (:func:`output_through`).
    Whether the layer really makes these calls is for
    ``OpSpec.layer_from_call`` to verify.
    """
    inputs = list(call.args[: spec.inputs])
    depths = [0] * len(inputs)
    consumers: list[fx.Node] = [call] * len(inputs)
    steps: list[Step] = []
    back: list[fx.Node] = []
    for prologue in reversed(spec.prologues):
        indices = range(len(inputs)) if prologue.every_input else range(1)
        found = [_read_step(prologue, inputs[i], consumers[i]) for i in indices]
        if not found or any(f is None for f in found):
            continue
        if not all(same_value(f, found[0]) for f in found):
            continue
        after: list[fx.Node] = []
        if prologue.output_too:
            after = _back_calls(call, prologue, found[0])
            if not after:
                continue
        for i in indices:
            consumers[i], inputs[i] = inputs[i], inputs[i].args[0]
            depths[i] += 1
        steps.insert(0, (prologue, found[0]))
        back += after
    return Absorbed(call, steps, depths, back) if steps else None


def _read_step(
    prologue: Prologue, node: Any, consumer: fx.Node | None = None
) -> Arguments | None:
    """The arguments of ``node`` when it is ``prologue``'s call, or None.

    On an input (``consumer`` given) it must feed only ``consumer`` and see
    ``dims`` dimensions; on the output anything may read it.
    """
    if not isinstance(node, fx.Node):
        return None
    if consumer is not None and set(node.users) != {consumer}:
        return None
    if prologue.method is not None:
        if node.op != "call_method" or node.target != prologue.method:
            return None
    elif node.op != "call_function" or node.target is not prologue.function:
        return None
    if not node.args or any(_holds_node(v) for v in (*node.args[1:], node.kwargs)):
        return None
    if consumer is not None and prologue.dims is not None:
        source = node.args[0]
        value = source.meta.get("value") if isinstance(source, fx.Node) else None
        if not isinstance(value, torch.Tensor) or value.dim() != prologue.dims:
            return None
    try:
        return bind(prologue.parameters, node.args[1:], node.kwargs)
    except TypeError:
        return None


def _back_calls(
    call: fx.Node, prologue: Prologue, arguments: Arguments
) -> list[fx.Node]:
    """The prologue's calls on ``call``'s output that are all its uses, or ``[]``.

    By :func:`output_through`: every use of a tuple output takes one element,
    and every use of element 0 is the prologue's call; a tensor output is
    used only by the prologue's call.
    """
    if output_through(call.meta.get("value")) is None:
        sources = [call]
    else:
        sources = []
        for user in call.users:
            if user.target is not operator.getitem or user.args[0] is not call:
                return []  # a use of the whole tuple
            if user.args[1] == 0:
                sources.append(user)
    back = []
    for source in sources:
        if not source.users:
            return []
        for user in source.users:
            if not same_value(_read_step(prologue, user), arguments):
                return []
            back.append(user)
    return back


def absorb_output(
    graph: fx.Graph, call: fx.Node, new: fx.Node, absorbed: Absorbed
) -> None:
    """The layer call ``new`` returns what the prologue made of ``call``'s output.

    The inverse of :func:`spell_output`: the output calls are replaced by
    ``new`` (its element 0 for a tuple), and a tuple of all of ``new``'s
    elements in order (``return (out, weights)``) becomes ``new`` itself.
    Other uses of ``call`` are for the caller to move to ``new``.
    """
    if not absorbed.back:
        return
    if output_through(call.meta.get("value")) is None:
        new.meta["value"] = absorbed.back[0].meta.get("value")
        for node in absorbed.back:
            node.replace_all_uses_with(new)
        return
    with graph.inserting_after(new):
        first = graph.call_function(operator.getitem, (new, 0))
    first.meta = dict(absorbed.back[0].meta)
    for node in absorbed.back:
        node.replace_all_uses_with(first)
    new.meta["value"] = (first.meta.get("value"), *call.meta.get("value", ())[1:])
    size = len(new.meta["value"])
    elements = [first] + [
        u for i in range(1, size) for u in call.users if _is_item(u, call, i)
    ]

    def whole(value: Any) -> Any:
        if isinstance(value, tuple) and list(value) == elements:
            return new
        if isinstance(value, (tuple, list)):
            return type(value)(whole(v) for v in value)
        if isinstance(value, dict):
            return {k: whole(v) for k, v in value.items()}
        return value

    for user in list(first.users):
        user.args, user.kwargs = whole(user.args), whole(user.kwargs)


def _is_item(node: fx.Node, container: fx.Node, index: int) -> bool:
    return (
        node.op == "call_function"
        and node.target is operator.getitem
        and node.args == (container, index)
    )


def _holds_node(value: Any) -> bool:
    found: list[fx.Node] = []
    fx.node.map_arg(value, found.append)
    return bool(found)
