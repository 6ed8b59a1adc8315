"""The three style passes: each rewrites a canonical graph into one style.

* :func:`to_functional` -- every layer call becomes its functional form over
  the layer's tensors (``self.conv1(x)`` -> ``F.conv2d(x, conv1.weight,
  conv1.bias)``), so the printer can read weights from an explicit dict;
* :func:`to_mixed` -- layers that own parameters or buffers stay modules,
  the rest become functional calls;
* :func:`to_module` -- the mixed form, then every functional call that an
  ``nn`` layer makes exactly becomes a submodule of its own
  (``F.relu(x)`` -> ``self.relu1(x)``).

Going through the mixed form makes the module style canonical: a
parameter-free layer the model holds keeps its attribute name for the calls
it makes (``self.relu`` called twice in a ResNet block stays one
``self.relu``; ``self.attn_drop`` stays ``self.attn_drop``), and any other
gets one submodule per call site, named from the op-spec stem (``relu`` when
the model needs one, ``relu1``, ``relu2`` … when it needs several). Layers
that own state keep their names: those are ``state_dict`` keys. A functional
call carries no attribute name, so module style read from a functional or
mixed file names its parameter-free layers by stem.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import fx, nn
from torch.fx.graph_module import _copy_attr

from ..errors import ConversionError
from ..leaves import is_leaf
from ..module_kinds import CONTAINERS, is_defined_class
from ..opspecs import TRAINING, OpSpec, WeightRef, spec_for_module
from ..opspecs.spec import Computed, identity
from ..naming import first_free
from ..method_calls import helper_methods
from ..options import Style
from ..source_map import call_span, carry_frames
from ..ties import canonical_keys
from .canonicalize import inline_constants, unbuild_constants
from .graph_utils import TRAINING_ATTRIBUTE, layer_for_call, remove_dead_code
from .lift import lift_layers
from .prologues import prologue_of, spell_output, spell_prologue
from .unrolled import find_unrolled
from .weight_dicts import dict_call, graphs_with_methods, spell_out_dict_calls

#: ``node.meta`` key: the attribute of the parameter-free layer a functional
#: call was made from by :func:`to_mixed` (``"attn_drop"``).
MADE_FROM_LAYER = "nnconvert_made_from_layer"
#: ``node.meta`` key: the same, for a call :func:`to_functional` made. Its
#: setting is a keyword of a function, not an attribute of a class
#: (:func:`~nnconvert.printer.layer_settings.layer_setting_read`).
CALLED_FROM_LAYER = "nnconvert_called_from_layer"
#: ``node.meta`` key of a layer call :func:`to_module` made from a functional
#: call: the layer's arguments the source wrote as ``self.<attribute>`` there
#: (``F.dropout(x, self.dropout)`` -> ``{"p": "dropout"}``).
ARGUMENTS_READ = "nnconvert_arguments_read"
#: ``node.meta`` key of a layer call :func:`to_module` made from a functional
#: call of the source's (``F.relu(x)``), not from a layer of the model's
MADE_FROM_CALL = "nnconvert_made_from_call"


def apply_style(module: fx.GraphModule, style: Style) -> fx.GraphModule:
    """Rewrite ``module``'s graph into ``style`` in place and return it.

    In class styles, functional calls that exactly one layer's (or plain
    host's) own tensors make are lifted into that layer's call first
    (:func:`~.lift.lift_layers`), for any input: ``F.linear(x,
    self.fc.weight, self.fc.bias)`` becomes ``self.fc(x)``, and a plain host
    holding exactly an ``nn.Linear``'s tensors becomes one. One spelling per
    layer call, whoever wrote it.

    An ``nn.Sequential`` subclass with its own ``forward`` keeps its children
    as they are in class styles: they are positional (``self[0]``), so none
    can be replaced or added.
    """
    positional = isinstance(module.meta.get("original"), nn.Sequential)
    if style is not Style.FUNCTIONAL:
        for graph in graphs_with_methods(module):  # a functional file's constants
            unbuild_constants(graph)
    if style is Style.FUNCTIONAL:
        to_functional(module)
    elif not positional:
        for graph in graphs_with_methods(module):  # a functional input's helpers
            spell_out_dict_calls(graph)
        lift_layers(module)  # functional calls over one layer's own tensors
        {Style.MODULE: to_module, Style.MIXED: to_mixed}[style](module)
    remove_dead_code(module.graph)
    module.graph.lint()
    module.recompile()
    return module


def to_functional(module: fx.GraphModule) -> None:
    """Every layer call -> its functional form (the weight dict style).

    A row with a dict form is called over the layer's weights as one dict
    (:mod:`.weight_dicts`; the printer keeps it where the file is shorter).
    Calls of user-defined blocks stay: they become calls of their own functions.
    """
    for node in list(module.graph.nodes):
        if node.op == "call_module" and not _is_block(module, node):
            if not _owns_state(module.get_submodule(node.target)):
                node.meta[CALLED_FROM_LAYER] = node.target  # copied onto the call
            _layer_to_call(module, node, _require_spec(module, node))
    original = module.meta.get("original", module)
    read_tied_once(module, original)
    # non-persistent buffers: the user's code that computes them, else their values
    inline_constants(module, set(original.state_dict()), original)


def read_tied_once(module: fx.GraphModule, original: nn.Module) -> None:
    """A tied tensor is read under its first ``state_dict()`` key, wherever it is used.

    ``F.linear(x, params["lm_head.weight"])`` after ``self.wte.weight =
    self.lm_head.weight`` reads ``params["wte.weight"]``: one key per tensor,
    as ``named_parameters()`` names it, so that a ``torch.func`` transform
    over the weight dict sees one leaf and sums the gradient of every use.
    """
    canonical = canonical_keys(original)
    for node in module.graph.nodes:
        key = canonical.get(str(node.target)) if node.op == "get_attr" else None
        if key is not None and key != node.target:
            if not _has_attribute(module, key):
                _copy_attr(original, module, key)
            node.target = key


def _has_attribute(module: nn.Module, path: str) -> bool:
    """``module`` holds ``path`` (a graph module copies only what its graph reads)."""
    value: Any = module
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return False
    return True


def to_mixed(module: fx.GraphModule) -> None:
    """Layers without parameters or buffers -> functional calls; the rest stay."""
    for node in list(module.graph.nodes):
        if node.op != "call_module":
            continue
        layer = module.get_submodule(node.target)
        if _owns_state(layer) or _is_block(module, node):
            _spell_forward_arguments(node, spec_for_module(layer))
            continue
        node.meta[MADE_FROM_LAYER] = node.target  # copied onto the call
        _layer_to_call(module, node, _require_spec(module, node))
    referenced = {
        str(node.target).split(".")[0]
        for node in module.graph.nodes
        if node.op in ("call_module", "get_attr")
    }
    for name, child in list(module.named_children()):
        if name not in referenced and not _owns_state(child):
            delattr(module, name)  # its name is free for the module style


def to_module(module: fx.GraphModule) -> None:
    """Every call an ``nn`` layer makes exactly -> a submodule (via the mixed form)."""
    to_mixed(module)
    replacements: list[tuple[fx.Node, OpSpec, nn.Module]] = []
    first_of = _first_step_of(module.graph)
    for node in module.graph.nodes:
        if node.op != "call_function" or node in first_of:
            continue
        found = layer_for_call(node)
        if found is not None:
            replacements.append((node, *found))
    names, own = _new_attribute_names(module, replacements)
    attribute = {
        node: (name, spec) for (node, spec, _), name in zip(replacements, names)
    }
    original = module.meta.get("original", module)
    added: set[str] = set()
    for (node, spec, layer), name in zip(replacements, names):
        if name in added:  # one layer for the calls made from one
            continue
        added.add(name)
        if name in own and not _holds_tensors(original):
            # the model's own: declared where the user declares it
            layer = _held_layer(original, name)
        module.add_submodule(name, layer)
    read = _arguments_read(module, [node for node, _, _ in replacements])
    for node in list(module.graph.nodes):
        if node not in attribute and first_of.get(node) not in attribute:
            continue
        name, spec = attribute.get(node) or attribute[first_of[node]]
        with module.graph.inserting_before(node):
            call = module.graph.call_module(name, node.args[: spec.inputs])
        call.meta = dict(node.meta)
        if MADE_FROM_LAYER not in node.meta:
            call.meta[MADE_FROM_CALL] = True
        if read.get(node):
            call.meta[ARGUMENTS_READ] = read[node]
        node.replace_all_uses_with(call)
        module.graph.erase_node(node)


def _arguments_read(
    module: fx.GraphModule, calls: list[fx.Node]
) -> dict[fx.Node, dict[str, str]]:
    """For each of ``calls``, its arguments the source wrote as ``self.<attribute>``.

    By argument name (a positional one named by the function's signature),
    only plain attributes of the user's module: the layer made from the call
    takes that argument from where the source sets the attribute
    (:mod:`nnconvert.printer.source_arguments`).
    """
    # the printer's reading of the source, as it names mixed style's literals
    from ..printer.attribute_reads import attribute_reads

    original = module.meta.get("original", module)
    wanted = set(calls)
    if not wanted:
        return {}
    nodes = list(module.graph.nodes)
    found: dict[fx.Node, dict[str, str]] = {}
    for (position, kind, key), attribute in attribute_reads(
        module.graph, original
    ).items():
        node = nodes[position]
        if node not in wanted or attribute not in vars(original):
            continue
        name = key if kind == "kw" else positional_name(node, key)
        if isinstance(name, str):
            found.setdefault(node, {})[name] = attribute
    return found


def positional_name(node: fx.Node, index: Any) -> str | None:
    """The parameter name of ``node``'s positional argument ``index``, if its function has one."""
    try:
        parameters = list(inspect.signature(node.target).parameters)
    except (TypeError, ValueError):
        return None
    return (
        parameters[index]
        if isinstance(index, int) and index < len(parameters)
        else None
    )


def _first_step_of(graph: fx.Graph) -> dict[fx.Node, fx.Node]:
    """Each later step's node of a loop over data -> the first step's at its place.

    The steps of ``for x_t in x.unbind(1): h = torch.tanh(...)`` are one
    body (:mod:`.unrolled`): they call one ``self.tanh``, as the loop the
    printer writes does, not one submodule per step.
    """
    found: dict[fx.Node, fx.Node] = {}
    for loop in find_unrolled(graph):
        for copy in loop.copies[1:]:
            found.update((n, first) for n, first in zip(copy, loop.body) if n)
    return found


def _spell_forward_arguments(node: fx.Node, spec: OpSpec | None) -> None:
    """A kept layer's call: inputs positional, the rest by keyword, defaults dropped.

    ``self.attn(x, x, x, None, False)`` -> ``self.attn(x, x, x, need_weights=False)``,
    as the functional call names them (``OpSpec.forward_signature``), so that
    a functional input's call reads the same when it becomes the layer again.
    """
    if spec is None or spec.forward_signature is None:
        return
    try:
        inputs, passed = spec.bind_forward(node.args, node.kwargs)
    except TypeError:
        return  # the layer's forward will say what is wrong
    node.args, node.kwargs = tuple(inputs), passed


def _is_block(module: fx.GraphModule, node: fx.Node) -> bool:
    """A user-defined block, a container or a leaf: printed as a call, never rewritten here."""
    layer = module.get_submodule(node.target)
    return is_defined_class(layer) or isinstance(layer, CONTAINERS) or is_leaf(layer)


def _owns_state(layer: nn.Module) -> bool:
    return any(True for _ in layer.parameters()) or any(True for _ in layer.buffers())


def _require_spec(module: fx.GraphModule, node: fx.Node) -> OpSpec:
    layer = module.get_submodule(node.target)
    spec = spec_for_module(layer)
    if spec is None:
        raise ConversionError(
            f"layer {node.target!r} ({type(layer).__module__}.{type(layer).__qualname__}) "
            "has no op spec: nnconvert does not know its functional form"
        )
    return spec


def _layer_to_call(module: fx.GraphModule, node: fx.Node, spec: OpSpec) -> None:
    """Replace ``self.<layer>(x)`` by the functional call the layer makes."""
    graph = module.graph
    layer = module.get_submodule(node.target)
    if spec.function is None:
        raise ConversionError(
            f"layer {node.target!r} (nn.{type(layer).__name__}) has no functional form in "
            "the op-spec table; convert it to module or mixed style"
        )
    inputs, passed = list(node.args), {}
    if spec.forward_signature is not None:  # arguments passed on (need_weights=False)
        try:
            inputs, passed = spec.bind_forward(node.args, node.kwargs)
        except TypeError as error:
            raise ConversionError(
                f"layer {node.target!r} (nn.{type(layer).__name__}) is called "
                f"with arguments its forward does not take: {error}"
            ) from None
    elif node.kwargs:
        raise ConversionError(
            f"layer {node.target!r} is called with keyword arguments "
            f"({', '.join(node.kwargs)}); nnconvert writes only positional layer calls"
        )
    prologue = prologue_of(node, spec, layer, inputs)
    if spec.function is identity:
        node.replace_all_uses_with(inputs[0])
        graph.erase_node(node)
        return
    dict_arguments = spec.dict_call_arguments(layer)
    owner = node.target
    first_before = node.prev
    with graph.inserting_before(node):
        if dict_arguments is None:
            call = _canonical_call(graph, owner, spec, layer, prologue, inputs, passed)
        else:  # batch_norm(sub_params(params, "bn1."), x): its row's dict form
            inputs = spell_prologue(graph, prologue, inputs)
            arguments = {
                k: _argument_node(graph, owner, v) for k, v in dict_arguments.items()
            }
            call = dict_call(graph, owner, spec, layer, inputs, {**arguments, **passed})
    call.meta = dict(node.meta)
    spell_output(graph, node, call, prologue)
    carry_frames(node, _between(first_before, node))
    node.replace_all_uses_with(call)
    graph.erase_node(node)


def _canonical_call(
    graph: fx.Graph,
    owner: str,
    spec: OpSpec,
    layer: nn.Module,
    prologue: Any,
    inputs: list[Any],
    passed: dict[str, Any],
) -> fx.Node:
    """The row's state updates, prologue and call, at the graph's cursor; the call."""
    if spec.updates is not None:
        for function, arguments in spec.updates(layer):
            graph.call_function(
                function, tuple(_argument_node(graph, owner, a) for a in arguments)
            )
    inputs = spell_prologue(graph, prologue, inputs)
    arguments = {
        k: _argument_node(graph, owner, v)
        for k, v in spec.explicit_call_arguments(layer).items()
    }
    return graph.call_function(spec.function, tuple(inputs), {**arguments, **passed})


def _between(first: fx.Node, last: fx.Node) -> list[fx.Node]:
    """The nodes after ``first`` and before ``last``."""
    found = []
    node = first.next
    while node is not last:
        found.append(node)
        node = node.next
    return found


def _argument_node(graph: fx.Graph, owner: str, value: Any) -> Any:
    if isinstance(value, Computed):  # BatchNorm's cumulative momentum
        arguments = tuple(_argument_node(graph, owner, a) for a in value.arguments)
        return graph.call_function(value.function, arguments)
    if isinstance(value, WeightRef):
        return graph.get_attr(f"{owner}.{value.attribute}")
    if isinstance(value, list):  # a recurrent layer's weights
        return [_argument_node(graph, owner, v) for v in value]
    if value is TRAINING:
        return graph.create_node(
            "get_attr", TRAINING_ATTRIBUTE
        )  # self.training, not a tensor
    return value


def _new_attribute_names(
    module: fx.GraphModule, replacements: list[tuple[fx.Node, OpSpec, nn.Module]]
) -> tuple[list[str], set[str]]:
    """Each new layer's attribute, and which of them are the model's own layers.

    A call made from a parameter-free layer of the model (:data:`MADE_FROM_LAYER`)
    takes that layer's name where the layer rebuilt from the call is the
    same (``nn.Dropout(0.1)`` both): every call made from it shares it.
    Other calls take ``relu`` for a stem used once, ``relu1``, ``relu2`` …
    for a stem used more often; calls the source made with one expression
    (each step of ``for layer in self.layers: x = F.relu(layer(x))``, which
    the trace unrolled) share one layer, as one call site.
    """
    taken = set(dir(nn.Module)) | set(dict(module.named_children()))
    original = module.meta.get("original", module)
    taken |= {key.split(".")[0] for key in original.state_dict()}
    taken |= set(helper_methods(original))  # ``def flatten(self, x)`` stays callable
    own = [_own_name(original, node, layer, taken) for node, _, layer in replacements]
    owned = {name for name in own if name is not None}
    taken |= owned
    sites = [_call_site(node, layer) for node, _, layer in replacements]
    distinct: dict[str, set[Any]] = {}  # stem -> its call sites (a node without source)
    for (node, spec, _), name, site in zip(replacements, own, sites):
        if name is None:
            distinct.setdefault(spec.stem, set()).add(node if site is None else site)
    counts = {stem: len(found) for stem, found in distinct.items()}
    names = []
    shared: dict[tuple, str] = {}  # call site -> its layer's name
    for (_, spec, _), name, site in zip(replacements, own, sites):
        if name is None and site is not None and site in shared:
            name = shared[site]
        elif name is None:
            name = first_free(spec.stem, taken, first=1, bare=counts[spec.stem] == 1)
            taken.add(name)
            if site is not None:
                shared[site] = name
        names.append(name)
    return names, owned


def _call_site(node: fx.Node, layer: nn.Module) -> tuple | None:
    """The source expression ``node`` was made by, with the layer it rebuilds
    (calls of one expression with other settings are other layers); None
    without source."""
    span = call_span(node)
    return None if span is None else (span, repr(layer))


def _own_name(
    original: nn.Module, node: fx.Node, layer: nn.Module, taken: set[str]
) -> str | None:
    """The attribute of ``original`` the call was made from, if ``layer`` is that layer again."""
    name = node.meta.get(MADE_FROM_LAYER)
    if not isinstance(name, str) or name in taken:
        return None
    if not all(part.isidentifier() for part in name.split(".")):
        return None  # a Sequential's numbered member is no name of its own
    held = _held_layer(original, name)
    if not isinstance(held, nn.Module) or type(held) is not type(layer):
        return None
    return name if repr(held) == repr(layer) else None


def _holds_tensors(module: nn.Module) -> bool:
    """``module`` registers parameters or buffers of its own.

    Then the order of its attributes (:func:`nnconvert.printer.classes._attributes`:
    tensors, then children) does not say where a layer stood among its
    tensors: a layer module style keeps there is placed where first used,
    as one it adds, so that converting the output again places it alike.
    """
    return bool(module._parameters) or bool(module._buffers)


def _held_layer(original: nn.Module, path: str) -> nn.Module | None:
    """The layer at ``path``: an attribute, or a key of an ``nn.ModuleDict`` attribute.

    nanoGPT's ``self.transformer.drop`` stays in its dict.
    """
    parent, _, name = path.rpartition(".")
    try:
        owner = original.get_submodule(parent) if parent else original
    except AttributeError:
        return None
    if parent and type(owner) is not nn.ModuleDict:
        return None
    held = owner._modules.get(name) if parent else getattr(owner, name, None)
    return held if isinstance(held, nn.Module) else None
