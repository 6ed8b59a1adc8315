"""Functional calls over a host's weights -> the layer that makes them (module, mixed style).

A functional input (:mod:`nnconvert.functional_input`) keeps its weights in
plain ``nn.Module`` hosts at their dotted keys, and its graph calls functions
over them. Before::

    count_batch(bn1.num_batches_tracked, training)
    x = F.batch_norm(x, bn1.running_mean, bn1.running_var, bn1.weight, bn1.bias,
                     training=training)
    y = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv1.weight, conv1.bias)

After::

    x = self.bn1(x)      # bn1 = nn.BatchNorm2d(16)
    y = self.conv1(x)    # conv1 = nn.Conv2d(16, 16, 3, padding=1, padding_mode="reflect")

A call is lifted only when it is safe to:

* all its tensors are attributes of one host (its *owner*, never the root),
  the host holds exactly the tensors the layer owns -- so ``state_dict()``
  keys stay the same -- with the same parameters and buffers, and it has no
  submodules but hosts of those tensors (``attn.out_proj.weight``);
* every use of the owner's tensors is such a call (or BatchNorm's
  ``count_batch`` right before one, which the layer makes itself, or its
  ``cumulative_momentum`` argument of ``momentum=None``);
* the op-spec row rebuilds a layer from the call (``ctor_from_weights``) whose
  behaviour -- prologue (a convolution's ``F.pad``, ``batch_first``
  attention's ``x.transpose(1, 0)``), state updates, call arguments, tensor
  shapes -- is exactly the call's (``OpSpec.layer_from_call``); what the
  caller passes (``attn_mask=mask``) is passed on by the layer call;
  where rows share a function (``BatchNorm1d/2d/3d``) the first whose layer
  accepts the input's shape wins.

Constructor arguments that only set initial values (``nn.PReLU(4,
init=0.1)``'s ``init``) are not in the call. Given the tensors as a
functional file's ``init_params()`` creates them (never the weights the
model runs with, which training changed), the row's ``ctor_from_init``
reads them back (:func:`layer_with_initial`); without them the layer keeps
the constructor's defaults.

Everything else stays a functional call over ``self.<owner>.<tensor>``.
Hosts left holding only lifted layers (or blocks) become ``nn.ModuleList``
(keys ``0``, ``1`` …; ``nn.Identity()`` fills gaps) or ``nn.ModuleDict``:
functional style runs a loop over an ``nn.ModuleList`` inline, while an
``nn.Sequential`` is a function of its own, which :func:`sequential_of`
turns back into one.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import ConversionError
from ..opspecs import (
    TRAINING,
    OpSpec,
    WeightRef,
    spec_for_module,
    specs_for_function,
)
from ..opspecs.spec import (
    SWAP_BATCH_AND_SEQUENCE,
    Computed,
    count_batch,
    cumulative_momentum,
    same_value,
)
from .graph_utils import (
    TRAINING_ATTRIBUTE,
    is_training_flag,
    layer_for_call,
    remove_dead_code,
)

#: Functions of arguments computed from a layer's tensors (:class:`Computed`).
COMPUTED = frozenset({cumulative_momentum})


@dataclass
class Lift:
    """One owner's calls and the layer that makes them."""

    layer: nn.Module
    #: call, row, the F.pad or batch-first transposes it absorbs (or None),
    #: its count_batch (or None)
    calls: list[tuple[fx.Node, OpSpec, Any, fx.Node | None]]


@dataclass
class Transposes:
    """A ``batch_first`` layer's transposes around its call (``OpSpec.batch_first``).

    ``x.transpose(1, 0)`` of every input, used by the call only, and
    ``call[0].transpose(1, 0)`` as the only use of the output: the layer
    makes them itself.
    """

    #: each input's transpose; its input is read when lifting (it may be lifted too)
    before: list[fx.Node]
    back: list[fx.Node]  # the output transposes


def lift_layers(module: fx.GraphModule) -> None:
    """Rewrite liftable functional calls into layer calls; hosts into containers."""
    lift_calls(module)
    _containers(module, module.meta.get("original", module))


def lift_calls(module: fx.GraphModule) -> None:
    """Rewrite liftable functional calls into ``call_module`` nodes of their layers."""
    graph = module.graph
    _read_where_used(graph)
    for owner, lift in find_layers(module).items():
        parent, _, name = owner.rpartition(".")
        setattr(module.get_submodule(parent), name, lift.layer)
        for call, spec, before, counter in lift.calls:
            inputs = list(call.args[: spec.inputs])
            if isinstance(before, Transposes):
                inputs = [node.args[0] for node in before.before]
            elif before is not None:
                inputs[0] = before.args[0]
            passed = {
                k: v for k, v in call.kwargs.items() if k in spec.passed_by_caller
            }
            with graph.inserting_before(call):
                new = graph.call_module(owner, tuple(inputs), passed)
            new.meta = dict(call.meta)
            if isinstance(before, Transposes):
                _output_back(graph, call, new, before)
            call.replace_all_uses_with(new)
            graph.erase_node(call)
            if counter is not None:
                graph.erase_node(counter)
    remove_dead_code(graph)


def _read_where_used(graph: fx.Graph) -> None:
    """Each weight read right before its first use, as a module's ``forward`` reads it.

    A functional input's trace reads its whole weight dict up front; the
    class printer declares attributes in order of first read.
    """
    order = {node: i for i, node in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        if node.op == "get_attr" and node.users and node.target != TRAINING_ATTRIBUTE:
            min(node.users, key=order.__getitem__).prepend(node)


def find_layers(
    module: fx.GraphModule, initial: Mapping[str, torch.Tensor] | None = None
) -> dict[str, Lift]:
    """Owner -> the layer its calls lift into (see the module docstring); nothing changes.

    The owner in the original model is a plain host (the layer is new and
    takes over the host's tensors) or already that layer (the calls spell
    out what it does). ``initial`` are the model's tensors, by ``state_dict()``
    key, as its ``init_params()`` creates them: a new layer takes the
    constructor arguments they show (:func:`layer_with_initial`).
    """
    original: nn.Module = module.meta.get("original", module)
    by_owner: dict[str, list[fx.Node]] = {}
    for node in module.graph.nodes:
        owner = _owner(node)
        if owner is not None:
            by_owner.setdefault(owner, []).append(node)
    found = {}
    for owner, calls in by_owner.items():
        lift = _lift_owner(module.graph, original, owner, calls, initial)
        if lift is not None:
            found[owner] = lift
    return found


def _owner(node: fx.Node) -> str | None:
    """The host all of a weighted call's tensors belong to, if there is one."""
    if node.op != "call_function":
        return None
    specs = [s for s in specs_for_function(node.target) if s.ctor_from_weights]
    if not specs:
        return None
    owners = set()
    for name in specs[0].weights:
        value = node.kwargs.get(name)
        if isinstance(value, fx.Node):
            if value.op != "get_attr" or "." not in str(value.target):
                return None
            target = str(value.target)
            attribute = specs[0].attributes.get(name)
            if isinstance(attribute, str) and "." in attribute:  # "out_proj.weight"
                if not target.endswith("." + attribute):
                    return None
                owners.add(target[: -len(attribute) - 1])
            else:
                owners.add(target.rpartition(".")[0])
    return owners.pop() if len(owners) == 1 else None


def _lift_owner(
    graph: fx.Graph,
    original: nn.Module,
    owner: str,
    calls: list[fx.Node],
    initial: Mapping[str, torch.Tensor] | None = None,
) -> Lift | None:
    try:
        host = original.get_submodule(owner)
    except AttributeError:
        return None
    plain = type(host) is nn.Module
    if plain and any(type(m) is not nn.Module for m in host.modules()):
        return None  # only hosts of tensors all the way down (out_proj.weight)
    if not plain and spec_for_module(host) is None:
        return None
    if plain and not all(p.requires_grad for p in host.parameters()):
        return None  # a new layer would unfreeze them: they stay spelled out
    counters = _counter_updates(graph, owner, calls)
    if counters is None:
        return None
    tensors = dict(host.state_dict(keep_vars=True))
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    plans = []
    for call in calls:
        found = _layer_for(call, owner, shapes, counters[call])
        if found is None:
            return None
        plans.append((call, *found, counters[call]))
    _, spec, layer, _, _ = plans[0]
    if any(
        type(other) is not type(layer)
        or not same_value(spec.behaviour(other), spec.behaviour(layer))
        for _, _, other, _, _ in plans
    ):
        return None
    if not plain:  # the calls must be what the layer does
        if type(host) is not type(layer) or not same_value(
            spec.behaviour(host), spec.behaviour(layer)
        ):
            return None
        layer = host
    elif initial is not None:
        layer = layer_with_initial(spec, layer, _initial_of(initial, owner, shapes))
    if not _same_kinds(layer, host):
        return None
    for name, tensor in tensors.items():
        path, _, attribute = name.rpartition(".")
        setattr(layer.get_submodule(path), attribute, tensor)
    return Lift(layer, [(c, s, pad, n) for c, s, _, pad, n in plans])


def layer_with_initial(
    spec: OpSpec, layer: nn.Module, initial: Mapping[str, torch.Tensor] | None
) -> nn.Module:
    """``layer`` built again with the constructor arguments its initial tensors show.

    ``initial`` are the layer's tensors, by attribute, as the model's
    ``init_params()`` creates them -- not as training left them. The row's
    ``ctor_from_init`` reads arguments that only set initial values from
    them (``nn.PReLU``'s ``init`` is the value ``weight`` is filled with).
    They are kept only when the new layer makes exactly the call ``layer``
    makes, with tensors of the same shapes, and reads them back as its
    constructor arguments; otherwise (or without ``initial``, or a hook)
    ``layer`` is returned as it is.
    """
    if spec.ctor_from_init is None or initial is None:
        return layer
    try:
        found = spec.ctor_from_init(dict(initial))
        if not found:
            return layer
        values = {p.name: v for p, v in spec.constructor_values(layer)}
        rebuilt = spec.module(**{**values, **found})
        made = spec.behaviour(rebuilt)
        kept = {p.name: v for p, v in spec.constructor_values(rebuilt)}
    except Exception:  # arguments no layer takes: the layer as it was
        return layer
    if not same_value(made, spec.behaviour(layer)) or not all(
        same_value(kept.get(name), value) for name, value in found.items()
    ):
        return layer
    return rebuilt.train(layer.training)


def _initial_of(
    initial: Mapping[str, torch.Tensor], owner: str, shapes: dict
) -> dict[str, torch.Tensor] | None:
    """The owner's initial tensors by attribute: one of the same shape for each, else None."""
    found = {name: initial.get(f"{owner}.{name}") for name in shapes}
    if not all(
        isinstance(t, torch.Tensor) and tuple(t.shape) == shapes[name]
        for name, t in found.items()
    ):
        return None
    return found


def _counter_updates(
    graph: fx.Graph, owner: str, calls: list[fx.Node]
) -> dict[fx.Node, fx.Node | None] | None:
    """Each call's ``count_batch`` of the owner's counter (the update right before it).

    None when the owner's tensors are used by anything else, or when a counter
    update is not followed by a call of the owner before the next update.
    """
    prefix = owner + "."
    lifted = set(calls)
    counters: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "get_attr" and str(node.target).startswith(prefix):
            for user in node.users:
                if _is_counter(user) and user.args[0] is node:
                    counters.add(user)
                elif _is_computed(user) and set(user.users) <= lifted:
                    continue  # an argument of the calls (BatchNorm's momentum)
                elif user not in lifted:
                    return None
    pending: fx.Node | None = None
    found: dict[fx.Node, fx.Node | None] = {}
    for node in graph.nodes:
        if node in counters:
            if pending is not None:
                return None
            pending = node
        elif node in lifted:
            found[node], pending = pending, None
    return found if pending is None else None


def _is_counter(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target is count_batch


def _is_computed(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in COMPUTED and not node.kwargs


def _layer_for(
    call: fx.Node, owner: str, shapes: dict, counter: fx.Node | None
) -> tuple[OpSpec, nn.Module, Any] | None:
    """``(row, layer, absorbed F.pad)`` for one call, or None when no row reproduces it."""
    arguments = {}
    passed = {n for s in specs_for_function(call.target) for n in s.passed_by_caller}
    for key, value in call.kwargs.items():
        if key in passed:
            continue  # the caller's (attn_mask=mask): the layer call passes it on
        value = _argument(value, owner)
        if value is None and isinstance(call.kwargs[key], fx.Node):
            return None
        arguments[key] = value
    updates = []
    if counter is not None:
        updates = [(count_batch, tuple(_argument(a, owner) for a in counter.args))]
    pad = _pad_before(call)
    options = [None] if pad is None else [pad, None]
    transposes = _transposes_around(call)
    if transposes is not None:
        options.insert(0, transposes)
    specs = [s for s in specs_for_function(call.target) if s.ctor_from_weights]
    for spec in specs:
        if len(call.args) != spec.inputs:
            continue
        for absorbed in options:
            if isinstance(absorbed, Transposes):
                if not spec.batch_first:
                    continue
                prologue = [SWAP_BATCH_AND_SEQUENCE]
            elif absorbed is not None:
                if spec.prologue is None:
                    continue
                prologue = [(F.pad, dict(absorbed.kwargs))]
            else:
                prologue = []
            layer = spec.layer_from_call(arguments, shapes, prologue, updates)
            if layer is None:
                continue
            if isinstance(absorbed, Transposes) or len(specs) == 1:
                return spec, layer, absorbed
            source = call.args[0] if absorbed is None else absorbed.args[0]
            if _accepts(layer, (source, *call.args[1:]), call):
                return spec, layer, absorbed
    return None


def _argument(value: Any, owner: str) -> Any:
    """A node argument as op-spec data: the owner's tensors as WeightRef, the training flag.

    A :class:`Computed` for a known function of those (BatchNorm's momentum);
    None for anything else computed.
    """
    if not isinstance(value, fx.Node):
        return value
    if _is_computed(value):
        arguments = tuple(_argument(a, owner) for a in value.args)
        if any(a is None for a in arguments):
            return None
        return Computed(value.target, arguments)
    if value.op == "get_attr":
        target = str(value.target)
        if target == TRAINING_ATTRIBUTE:
            return TRAINING
        if target.startswith(owner + "."):
            return WeightRef(target[len(owner) + 1 :])
    return None


def _transposes_around(call: fx.Node) -> Transposes | None:
    """``x.transpose(1, 0)`` of each input and ``call[0].transpose(1, 0)`` after, or None.

    As a ``batch_first`` layer's ``forward`` writes them: each input's
    transpose feeds only the call, and every use of the output is through
    the transpose of its first element.
    """
    for value in call.args:
        if not _is_swap(value) or set(value.users) != {call}:
            return None
    back = []
    for user in call.users:
        if user.target is not operator.getitem or user.args[0] is not call:
            return None  # a use of the whole tuple
        if user.args[1] == 0:
            if not user.users or not all(_is_swap(u) for u in user.users):
                return None
            back += user.users
    return Transposes(list(call.args), back) if back else None


def _is_swap(node: Any) -> bool:
    """``x.transpose(1, 0)``: batch-first <-> sequence-first."""
    return (
        isinstance(node, fx.Node)
        and node.op == "call_method"
        and node.target == "transpose"
        and tuple(node.args[1:]) == (1, 0)
        and not node.kwargs
    )


def _output_back(
    graph: fx.Graph, call: fx.Node, new: fx.Node, transposes: Transposes
) -> None:
    """The layer returns its output batch-first: ``new[0]`` replaces the transposes.

    A tuple of all of ``new``'s elements in order (``return (out, weights)``)
    becomes ``new`` itself.
    """
    with graph.inserting_after(new):
        first = graph.call_function(operator.getitem, (new, 0))
    first.meta = dict(transposes.back[0].meta)
    for node in transposes.back:
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


def _pad_before(call: fx.Node) -> fx.Node | None:
    """``F.pad(x, ...)`` feeding only ``call``: a candidate convolution prologue."""
    source = call.args[0] if call.args else None
    if (
        isinstance(source, fx.Node)
        and source.op == "call_function"
        and source.target is F.pad
        and len(source.args) == 1
        and len(source.users) == 1
        and not any(isinstance(v, fx.Node) for v in source.kwargs.values())
    ):
        return source
    return None


def _accepts(layer: nn.Module, inputs: tuple, call: fx.Node) -> bool:
    """The layer runs on the inputs' shapes and gives the call's: rows sharing a function."""
    values = [a.meta.get("value") if isinstance(a, fx.Node) else a for a in inputs]
    expected = call.meta.get("value")
    if expected is None or any(v is None for v in values):
        return True
    try:
        with torch.no_grad():
            result = copy.deepcopy(layer).to("meta").eval()(*values)
    except Exception:
        return False
    return (
        isinstance(result, torch.Tensor)
        and result.shape == expected.shape
        and result.dtype == expected.dtype
    )


def _same_kinds(layer: nn.Module, host: nn.Module) -> bool:
    """The layer keeps the host's parameters as parameters and its buffers as buffers."""
    return {n for n, _ in layer.named_parameters()} == {
        n for n, _ in host.named_parameters()
    } and {n for n, _ in layer.named_buffers()} == {n for n, _ in host.named_buffers()}


def holds_only_numbered_modules(module: nn.Module) -> bool:
    """Submodules named ``0``, ``1`` … (numbers may be missing), no tensors of its own."""
    children = [name for name, _ in module.named_children()]
    return (
        bool(children)
        and all(n.isdigit() and str(int(n)) == n for n in children)
        and not any(True for _ in module.named_parameters(recurse=False))
        and not any(True for _ in module.named_buffers(recurse=False))
    )


def sequential_of(module: fx.GraphModule) -> nn.Sequential | None:
    """The block traced in ``module`` as the ``nn.Sequential`` its function spells out, or None.

    Functional style writes an ``nn.Sequential`` as a function of its own
    (``features(sub_params(params, "features."), x)``) whose body runs the
    members in order: the weights show which indices hold layers or blocks
    (``0.weight``, ``3.weight``), the calls between them are the members
    without weights. ``module`` is the trace of such a block's function
    (``original`` in its ``meta``, its layers already adopted); its
    functional calls are lifted into those layers here.

    Exact evidence only: the function takes one input and is one chain from
    it to its ``return`` -- each output feeds only the next call, nothing
    else runs -- through every member of the block (keys ``0``, ``1`` …,
    nothing else), each called once, in index order. Before each member
    with weights, index ``j``, the calls since the previous one, ``i``, are
    exactly ``j - i - 1`` parameter-free calls that ``nn`` layers make (or
    none: ``nn.Identity`` members, which functional style drops); the calls
    after the last one are the last members.
    """
    original: nn.Module = module.meta.get("original", module)
    if not holds_only_numbered_modules(original):
        return None
    children = dict(original.named_children())
    lift_calls(module)
    graph = module.graph
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        return None

    def link(node: fx.Node) -> nn.Module | None:
        """The layer a parameter-free chain call makes (one input), or None."""
        if not (
            node.op in ("call_function", "call_method")
            and node.args
            and [n for n in node.all_input_nodes if not is_training_flag(n)]
            == [node.args[0]]
        ):
            return None
        found = layer_for_call(node)
        return found[1] if found is not None else None

    members: dict[int, nn.Module] = {}
    called: set[str] = set()
    pending: list[nn.Module] = []  # calls since the last member with weights
    position = 0  # the next free index
    on_chain = set(placeholders)
    node = placeholders[0]
    while True:
        if len(node.users) != 1:
            return None
        (user,) = node.users
        if user.op == "output":
            if user.args[0] is not node:
                return None
            break
        if not user.args or user.args[0] is not node:
            return None
        if user.op == "call_module":
            index = int(user.target) if str(user.target) in children else -1
            if index < position or len(user.args) != 1 or user.kwargs:
                return None
            if pending and len(pending) != index - position:
                return None  # which calls are which members is not certain
            members.update({position + k: m for k, m in enumerate(pending)})
            members[index] = module.get_submodule(str(user.target))
            called.add(str(user.target))
            pending, position = [], index + 1
        else:
            layer = link(user)
            if layer is None:
                return None
            pending.append(layer)
        on_chain.add(user)
        node = user
    members.update({position + k: m for k, m in enumerate(pending)})
    if called != set(children) or any(
        n not in on_chain and n.op != "output" and not is_training_flag(n)
        for n in graph.nodes
    ):
        return None
    size = max(members) + 1
    return nn.Sequential(*(members.get(i, nn.Identity()) for i in range(size)))


def _containers(module: fx.GraphModule, original: nn.Module) -> None:
    """Plain hosts left in the graph module -> standard containers the printer can write.

    Keys ``0``, ``1`` … become an ``nn.ModuleList``, the container whose
    loop functional style unrolls in the caller (``nn.Identity()`` where a
    number is missing: a member without weights left no key, and indices
    and ``state_dict`` keys must stay) or, for parameters that
    no layer holds, an ``nn.ParameterList``; names become an
    ``nn.ModuleDict`` or ``nn.ParameterDict``. A host mixing layers and
    tensors, or holding buffers, has no such spelling: refuse, naming it.
    """

    def convert(host: nn.Module, path: str) -> nn.Module:
        if type(host) is not nn.Module:
            return host
        children = {n: convert(c, f"{path}.{n}") for n, c in host.named_children()}
        tensors = dict(host.named_parameters(recurse=False))
        buffers = [n for n, _ in host.named_buffers(recurse=False)]
        if buffers or (tensors and children):
            names = ", ".join(repr(f"{path}.{n}") for n in [*tensors, *buffers])
            raise ConversionError(
                f"weights {names} are used by calls that no layer makes, next to "
                f"{'layers' if children else 'buffers'} in {path!r}: module and "
                "mixed style cannot hold them yet (convert to functional style)"
            )
        members = children or tensors
        numbered = all(n.isdigit() and str(int(n)) == n for n in members)
        if members and numbered:
            size = max(map(int, members)) + 1
            if children:
                return nn.ModuleList(
                    children.get(str(i), nn.Identity()) for i in range(size)
                )
            if len(tensors) == size:
                return nn.ParameterList(tensors[str(i)] for i in range(size))
        elif not any(n.isdigit() for n in members):
            return nn.ModuleDict(children) if children else nn.ParameterDict(tensors)
        raise ConversionError(
            f"weights under {path!r} have keys {sorted(members)}: neither a list "
            "(0, 1, …) nor names, so module and mixed style cannot hold them"
        )

    for name, child in list(module.named_children()):
        if (
            type(child) is nn.Module
            and type(getattr(original, name, None)) is nn.Module
        ):
            setattr(module, name, convert(child, name))
