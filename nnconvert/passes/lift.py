"""Functional calls over a host's weights -> the layer that makes them (module, mixed style).

A graph may call functional forms over tensors that a layer, or a plain
``nn.Module`` host of tensors at their dotted keys, owns: a class that writes
``F.linear(x, self.fc.weight, self.fc.bias)``, or a model read from a
function over a weight dict, whose tensors sit in such hosts. Before::

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
* every use of the owner's tensors is such a call, or a helper call that
  the layer makes itself (its helper row says so, ``helpers.LiftAs``):
  a state update right before one (BatchNorm's ``count_batch``) or an
  argument of one (its ``cumulative_momentum`` of ``momentum=None``);
* the op-spec row rebuilds a layer from the call (``ctor_from_weights``) whose
  behaviour -- prologue (the row's ``prologues``, read back by
  :mod:`.prologues`: a convolution's ``F.pad``, ``batch_first`` attention's
  ``x.transpose(1, 0)``), state updates, call arguments, tensor
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
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import fx, nn

from ..errors import ConversionError
from ..opspecs import (
    TRAINING,
    OpSpec,
    WeightRef,
    spec_for_module,
    specs_for_function,
)
from ..opspecs.helpers import LiftAs, lifted_as
from ..opspecs import weight_norm
from ..opspecs.spec import Computed, same_value
from .graph_utils import (
    TRAINING_ATTRIBUTE,
    is_training_flag,
    layer_for_call,
    remove_dead_code,
)
from .prologues import Absorbed, absorb_output, read_prologue

#: ``node.meta`` key of a layer call lifted from a functional call over its tensors
LIFTED = "nnconvert_lifted"
#: Helpers whose call right before a layer's call is the layer's state update.
UPDATES = lifted_as(LiftAs.UPDATE)
#: Helpers whose call is an argument the layer computes (:class:`Computed`),
#: and the function a ``weight_norm`` hook computes its tensor with.
COMPUTED = lifted_as(LiftAs.ARGUMENT) | {weight_norm.FUNCTION}


@dataclass
class Lift:
    """One owner's calls and the layer that makes them."""

    layer: nn.Module
    #: call, row, the prologue it absorbs (or None), its state update (or None)
    calls: list[tuple[fx.Node, OpSpec, Absorbed | None, fx.Node | None]]


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
        for call, spec, absorbed, update in lift.calls:
            inputs = list(call.args[: spec.inputs])
            if absorbed is not None:
                inputs = absorbed.inputs
            passed = {
                k: v for k, v in call.kwargs.items() if k in spec.passed_by_caller
            }
            with graph.inserting_before(call):
                new = graph.call_module(owner, tuple(inputs), passed)
            new.meta = dict(call.meta)
            new.meta[LIFTED] = True
            if absorbed is not None:
                absorb_output(graph, call, new, absorbed)
            call.replace_all_uses_with(new)
            graph.erase_node(call)
            if update is not None:
                graph.erase_node(update)
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
    module: fx.GraphModule,
    initial: Mapping[str, torch.Tensor] | None = None,
    *,
    read_as_tensors: bool = False,
) -> dict[str, Lift]:
    """Owner -> the layer its calls lift into (see the module docstring); nothing changes.

    The owner in the original model is a plain host (the layer is new and
    takes over the host's tensors) or already that layer (the calls spell
    out what it does). ``initial`` are the model's tensors, by ``state_dict()``
    key, as its ``init_params()`` creates them: a new layer takes the
    constructor arguments they show (:func:`layer_with_initial`).
    ``read_as_tensors``: the owner's tensors may also be read as they are
    elsewhere (Whisper's logits ``x @ token_embedding.weight.T``), which
    the layer, holding them at the same keys, leaves as they are; for a
    functional input, whose hosts only say which layer they are, while a
    rewrite keeps such a layer's calls spelled out.
    """
    original: nn.Module = module.meta.get("original", module)
    by_owner: dict[str, list[fx.Node]] = {}
    for node in module.graph.nodes:
        owner = _owner(node)
        if owner is not None:
            by_owner.setdefault(owner, []).append(node)
    found = {}
    for owner, calls in by_owner.items():
        lift = _lift_owner(
            module.graph, original, owner, calls, initial, read_as_tensors
        )
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
        values = node.kwargs.get(name)
        if isinstance(values, list) and values:  # keys of submodules too
            owners.add(_list_owner(values, specs[0].first_weight))
            continue
        for value in values if isinstance(values, list) else [values]:
            owner = _weight_owner(value, specs[0].attributes.get(name))
            if owner is False:
                return None
            if owner is not None:
                owners.add(owner)
    if False in owners:
        return None
    return owners.pop() if len(owners) == 1 else None


def _list_owner(values: list, first: str | None) -> str | None | bool:
    """The host of a list of tensors (a recurrent or transformer layer's).

    Their keys' common prefix; or, where the row names its first key
    (``OpSpec.first_weight``: ``layers.0.self_attn.in_proj_weight``, keys
    that run through submodules), the first key without it.
    """
    owners = [_weight_owner(value, None) for value in values]
    if any(o is False for o in owners) or None in owners:
        return False
    if first is not None:
        target = str(values[0].target)
        if not target.endswith("." + first):
            return False
        owner = target[: -len(first) - 1]
        inside = all(str(v.target).startswith(owner + ".") for v in values)
        return owner if inside else False
    parts = [str(o).split(".") for o in owners]
    common = []
    for column in zip(*parts):
        if any(c != column[0] for c in column):
            break
        common.append(column[0])
    return ".".join(common) or False


def _weight_owner(value: Any, attribute: Any) -> str | None | bool:
    """The host of one tensor a call passes (None: no tensor; False: not a host's)."""
    if isinstance(value, fx.Node) and value.target is weight_norm.FUNCTION:
        # torch._weight_norm(v, g, dim): a weight_norm hook's tensor, v's and g's host
        tensors = [a for a in value.args if isinstance(a, fx.Node)]
        owners = {_weight_owner(a, None) for a in tensors}
        return owners.pop() if len(owners) == 1 and len(tensors) == 2 else False
    if isinstance(value, fx.Node):
        if value.op != "get_attr" or "." not in str(value.target):
            return False
        target = str(value.target)
        if isinstance(attribute, str) and "." in attribute:  # "out_proj.weight"
            if not target.endswith("." + attribute):
                return False
            return target[: -len(attribute) - 1]
        return target.rpartition(".")[0]
    return None


def _lift_owner(
    graph: fx.Graph,
    original: nn.Module,
    owner: str,
    calls: list[fx.Node],
    initial: Mapping[str, torch.Tensor] | None = None,
    read_as_tensors: bool = False,
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
    updates = _state_updates(graph, owner, calls, read_as_tensors)
    if updates is None:
        return None
    tensors = dict(host.state_dict(keep_vars=True))
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    plans = []
    for call in calls:
        found = _layer_for(call, owner, shapes, updates[call])
        if found is None:
            return None
        plans.append((call, *found, updates[call]))
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
    return Lift(layer, [(c, s, absorbed, u) for c, s, _, absorbed, u in plans])


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


def _state_updates(
    graph: fx.Graph, owner: str, calls: list[fx.Node], read_as_tensors: bool = False
) -> dict[fx.Node, fx.Node | None] | None:
    """Each call's state update of the owner's tensor (``count_batch``), right before it.

    None when the owner's tensors are used by anything else (unless
    ``read_as_tensors``), or when an update is not followed by a call of
    the owner before the next update.
    """
    prefix = owner + "."
    lifted = set(calls)
    updates: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "get_attr" and str(node.target).startswith(prefix):
            for user in node.users:
                if _is_update(user) and user.args[0] is node:
                    updates.add(user)
                elif _is_computed(user) and set(user.users) <= lifted:
                    continue  # an argument of the calls (BatchNorm's momentum)
                elif _reads_metadata(user):
                    continue  # the layer holds the tensor at the same key
                elif user not in lifted and not read_as_tensors:
                    return None
    pending: fx.Node | None = None
    found: dict[fx.Node, fx.Node | None] = {}
    for node in graph.nodes:
        if node in updates:
            if pending is not None:
                return None
            pending = node
        elif node in lifted:
            found[node], pending = pending, None
    return found if pending is None else None


#: What a model may read of a layer's tensor besides calling the layer (CLIP's
#: ``x.type(self.conv1.weight.dtype)``): the tensor itself stays at its key.
_METADATA = frozenset({"dtype", "device"})


def _reads_metadata(node: fx.Node) -> bool:
    """``weight.dtype``: a read of what the tensor is, not of its values."""
    return (
        node.op == "call_function"
        and node.target is getattr
        and len(node.args) == 2
        and node.args[1] in _METADATA
    )


def _is_update(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in UPDATES


def _is_computed(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in COMPUTED and not node.kwargs


def _layer_for(
    call: fx.Node, owner: str, shapes: dict, update: fx.Node | None
) -> tuple[OpSpec, nn.Module, Absorbed | None] | None:
    """``(row, layer, absorbed prologue)`` for one call, or None when no row reproduces it."""
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
    if update is not None:
        updates = [(update.target, tuple(_argument(a, owner) for a in update.args))]
    specs = [s for s in specs_for_function(call.target) if s.ctor_from_weights]
    for spec in specs:
        if len(call.args) != spec.inputs:
            continue
        found = read_prologue(call, spec)
        for absorbed in [found, None] if found is not None else [None]:
            prologue = absorbed.calls if absorbed is not None else []
            layer = spec.layer_from_call(arguments, shapes, prologue, updates)
            if layer is None:
                continue
            if len(specs) == 1:
                return spec, layer, absorbed
            inputs = absorbed.inputs if absorbed is not None else call.args
            if _accepts(layer, tuple(inputs), call):
                return spec, layer, absorbed
    return None


def _argument(value: Any, owner: str) -> Any:
    """A node argument as op-spec data: the owner's tensors as WeightRef, the training flag.

    A :class:`Computed` for a known function of those (BatchNorm's momentum);
    None for anything else computed.
    """
    if isinstance(value, list) and any(isinstance(v, fx.Node) for v in value):
        # a recurrent layer's weights
        values = [_argument(v, owner) for v in value]
        return None if any(v is None for v in values) else values
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


def sequential_of(module: fx.GraphModule, within: str = "") -> nn.Sequential | None:
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

    ``within``: the members are those of the block's submodule at that path
    (``features``: keys ``features.0`` …), the block's one child, whose
    ``nn.Sequential`` its whole function is (:mod:`nnconvert.delegated_bodies`).
    """
    original: nn.Module = module.meta.get("original", module)
    if within:
        original = original.get_submodule(within)
    if not holds_only_numbered_modules(original):
        return None
    prefix = f"{within}." if within else ""
    children = {f"{prefix}{n}": c for n, c in original.named_children()}
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
            target = str(user.target)
            index = int(target[len(prefix) :]) if target in children else -1
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
    ``nn.ModuleDict`` or ``nn.ParameterDict`` (any other keys too: ``"class"``,
    ``"1"`` next to ``"head"``). A host mixing layers and
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
        # any other keys ("class", "1" next to "head"): a dict holds them as they are
        return nn.ModuleDict(children) if children else nn.ParameterDict(tensors)

    for name, child in list(module.named_children()):
        if (
            type(child) is nn.Module
            and type(getattr(original, name, None)) is nn.Module
        ):
            setattr(module, name, convert(child, name))
