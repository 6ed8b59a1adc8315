"""A layer's call over its weights as one dict (``OpSpec.dict_form``), and back.

Functional style may write a layer whose row has a dict form as one call of
the row's helper over the layer's slice of the weight dict. Before::

    count_batch(bn1.num_batches_tracked, training)
    x = F.batch_norm(x, bn1.running_mean, bn1.running_var, bn1.weight, bn1.bias,
                     training=training)

After (the dict holds one ``get_attr`` node per key of the layer's
``state_dict()``, which the printer writes as ``sub_params(params, "bn1.")``)::

    x = batch_norm({"weight": bn1.weight, ...}, x, training=training)

:func:`dict_call` writes it, from what the row says the instance does;
:func:`spell_out_dict_calls` reads it back into the canonical call and its
state updates: for the lifting pass of the class styles (a functional
file's ``batch_norm(...)`` becomes ``self.bn1(x)``), and for the printer
where the file is shorter without the helper (``printer/program.py``).
Both read only the row's :class:`~nnconvert.opspecs.spec.DictForm`, never
a layer's name.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Container, Iterable, Iterator

from torch import fx, nn

from ..opspecs import SPECS, OpSpec, WeightRef
from ..opspecs.helpers import helper_for
from ..opspecs.spec import TRAINING, signature_of
from .methods import is_method_call

#: The helper of each row's dict form -> the first row with it (BatchNorm1d/2d/3d
#: share one; their canonical calls are the same).
_ROWS: dict[Any, OpSpec] = {}
for _spec in SPECS:
    if _spec.dict_form is not None:
        _ROWS.setdefault(_spec.dict_form.function, _spec)


def dict_call(
    graph: fx.Graph,
    owner: str,
    spec: OpSpec,
    layer: nn.Module,
    inputs: list[Any],
    arguments_by_name: dict[str, Any],
) -> fx.Node:
    """The call of ``spec.dict_form.function`` over ``layer`` at ``owner``.

    Its weights (a dict of ``get_attr`` nodes) go where the helper takes
    them (:func:`weights_index`); ``arguments_by_name`` are
    ``spec.dict_call_arguments(layer)`` as graph values, and what the
    caller passes.
    """
    weights = {key: graph.get_attr(f"{owner}.{key}") for key in layer.state_dict()}
    function = spec.dict_form.function
    arguments = list(inputs)
    arguments.insert(weights_index(function), weights)
    keywords = {  # in the helper's order, as a call of the list form prints them
        p.name: arguments_by_name[p.name]
        for p in signature_of(function)
        if p.name in arguments_by_name
    }
    return graph.call_function(function, tuple(arguments), keywords)


def weights_index(function: Any) -> int:
    """Where a dict-form helper takes the weights: its parameter ``weights``.

    ``batch_norm(weights, input)``, as ``F.batch_norm`` leads with tensors;
    ``lstm(input, weights)``, as the list form it stands for.
    """
    return [p.name for p in signature_of(function)].index("weights")


def is_dict_call(node: fx.Node) -> bool:
    """A call of a row's dict-form helper whose weights are a dict of graph values."""
    if node.op != "call_function" or _row_of(node.target) is None:
        return False
    index = weights_index(node.target)
    return (
        len(node.args) > index
        and isinstance(node.args[index], dict)
        and all(isinstance(v, fx.Node) for v in node.args[index].values())
    )


def _row_of(target: Any) -> OpSpec | None:
    try:
        return _ROWS.get(target)
    except TypeError:  # unhashable target
        return None


def graphs_with_methods(module: fx.GraphModule) -> Iterator[fx.Graph]:
    """``module``'s graph and the bodies of the helper methods it calls."""
    yield module.graph
    seen: set[int] = set()
    stack = [module.graph]
    while stack:  # the methods those methods call too
        for node in stack.pop().nodes:
            if is_method_call(node) and id(node.target) not in seen:
                seen.add(id(node.target))
                yield node.target.body
                stack.append(node.target.body)


def unpaid_dict_functions(graphs: Iterable[fx.Graph]) -> set[Any]:
    """The dict-form helpers ``graphs`` call fewer times than their rows' ``fewest_calls``.

    And those whose row's canonical function the graphs call too under the
    same printed name (``gru_cell`` over a weight-normed cell's tensors,
    which no dict holds, beside ``gru_cell`` over another cell's slice): a
    file defines one function by that name, so every call is written out.
    """
    nodes = [n for g in graphs for n in g.nodes if n.op == "call_function"]
    counts = Counter(n.target for n in nodes if is_dict_call(n))
    return {
        function
        for function, count in counts.items()
        if count < _row_of(function).dict_form.fewest_calls
        or _shares_its_name(function, nodes)
    }


def _shares_its_name(function: Any, nodes: list[fx.Node]) -> bool:
    """``nodes`` call the row's canonical function, a helper printed as ``function`` is."""
    canonical = _row_of(function).function
    helper = helper_for(canonical)
    if helper is None or helper.name != helper_for(function).name:
        return False
    return any(n.target is canonical for n in nodes)


def spell_out_dict_calls(graph: fx.Graph, only: Container[Any] | None = None) -> bool:
    """Every dict-form call -> the row's state updates and canonical call; True if any.

    ``only``: the helpers whose calls to spell out (all when None).

    The inverse of :func:`dict_call`: ``batch_norm(weights, x, training=t,
    momentum=None)`` is ``count_batch(weights["num_batches_tracked"], t)``
    then ``F.batch_norm(x, ..., momentum=cumulative_momentum(...))``, each
    update and computed argument where the dict holds its tensor.
    """
    changed = False
    for node in list(graph.nodes):
        if not is_dict_call(node) or (only is not None and node.target not in only):
            continue
        spec = _row_of(node.target)
        inputs = list(node.args)
        weights = inputs.pop(weights_index(node.target))
        with graph.inserting_before(node):
            call = _canonical_call(graph, spec, weights, inputs, dict(node.kwargs))
        if call is None:
            continue
        call.meta = dict(node.meta)
        node.replace_all_uses_with(call)
        graph.erase_node(node)
        changed = True
    return changed


def _canonical_call(
    graph: fx.Graph,
    spec: OpSpec,
    weights: dict[str, fx.Node],
    inputs: list[Any],
    kwargs: dict[str, Any],
) -> fx.Node | None:
    """The updates and the canonical call (inserted at the graph's cursor), or None.

    None, and nothing inserted, when a computed argument needs a tensor the
    dict does not hold: the helper call then stays as it is.
    """
    form = spec.dict_form
    flag = kwargs.get(form.flag, False)

    def value_of(argument: Any) -> Any:
        if isinstance(argument, WeightRef):
            return weights[argument.attribute]
        return flag if argument is TRAINING else argument

    for name, computed in form.computed.items():
        if kwargs.get(name, 0) is None and any(
            isinstance(a, WeightRef) and a.attribute not in weights
            for a in computed.arguments
        ):
            return None
    try:  # pure: nothing inserted yet
        tensors = {n: _weights_argument(spec, n, weights) for n in spec.weights}
    except (KeyError, ValueError):  # keys that are no list of the layer's
        return None
    for function, attribute in form.updates:
        if attribute in weights:
            graph.call_function(function, (weights[attribute], flag))
    arguments: dict[str, Any] = {}
    for param in spec.argument_parameters:
        name = param.name
        if name in spec.weights:
            arguments[name] = tensors[name]
        elif name in form.computed and name in kwargs and kwargs[name] is None:
            computed = form.computed[name]
            arguments[name] = graph.call_function(
                computed.function, tuple(map(value_of, computed.arguments))
            )
        elif name in kwargs:
            arguments[name] = kwargs[name]
    arguments = spec.drop_defaults(arguments)
    passed = {k: v for k, v in kwargs.items() if k in spec.passed_by_caller}
    return graph.call_function(spec.function, tuple(inputs), {**arguments, **passed})


def _weights_argument(spec: OpSpec, name: str, weights: dict[str, fx.Node]) -> Any:
    """The canonical call's weights argument ``name``: one tensor (or None), or the list.

    A row whose call takes a list (``OpSpec.attributes`` computes it, as
    the recurrent layers' ``_flat_weights``) gets every tensor of the dict,
    in its ``DictForm.list_order``.
    """
    attribute = spec.attributes.get(name, name)
    if callable(attribute):
        order = spec.dict_form.list_order
        return [weights[key] for key in sorted(weights, key=order)]
    return weights.get(attribute)
