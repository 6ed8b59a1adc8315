"""Canonical forms: one spelling per operation, defaults dropped, dead code gone.

Every later pass and the printer see only canonical calls, so that
``F.relu(x)``, ``torch.relu(x)`` and ``x.relu()`` convert (and print) alike.

Before::

    relu = F.relu(conv1, inplace=False)
    max_pool2d = F.max_pool2d(relu, (2, 2), stride=None, padding=0, ...)
    size = max_pool2d.size(); getitem = size[1:]
    view = max_pool2d.view(-1, 400)

After::

    relu = F.relu(conv1)
    max_pool2d = F.max_pool2d(relu, kernel_size=2)
    view = torch.flatten(max_pool2d, start_dim=1)
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
from typing import Any, Mapping, Sequence

import torch
from torch import fx, nn

from ..attributes import attribute_at
from ..branches import is_expect
from ..tensor_builds import TensorBuild, build_of, method_build, recovered_build
from ..source_constants import source_constant_build
from ..tensor_values import tensor_call
from ..opspecs import Param, aliases_for, specs_for_function
from ..opspecs.spec import bind, parse_signature, same_value
from .graph_utils import TRAINING_ATTRIBUTE, is_impure, remove_dead_code
from .guards import drop_implied_guards, hoist_argument_guards


def canonicalize(module: fx.GraphModule) -> fx.GraphModule:
    """Rewrite every call into its canonical form (see the module docstring)."""
    graph = module.graph
    for node in list(graph.nodes):
        if node.op in ("call_function", "call_method"):
            _canonicalize_call(node)
    for node in list(graph.nodes):
        _flatten_reshape(node)
    original = module.meta.get("original", module)
    inline_constants(module, own_tensor_attributes(module, original))
    drop_implied_guards(graph)
    hoist_argument_guards(graph)
    remove_dead_code(graph)
    graph.lint()
    module.recompile()
    return module


def _canonicalize_call(node: fx.Node) -> None:
    target = node.target
    if node.op == "call_function" and specs_for_function(target):
        spec = specs_for_function(target)[0]
        _rewrite(node, spec, spec.parameters, {})
        return
    for spec, alias in aliases_for(target):
        if (node.op == "call_method") == isinstance(alias.target, str):
            params = spec.parameters
            if alias.signature is not None:
                params = parse_signature(alias.signature)
            _rewrite(node, spec, params, alias.fixed)
            return
    if node.op == "call_function":
        _drop_default_kwargs(node)


def _rewrite(node: fx.Node, spec, params: tuple[Param, ...], fixed) -> None:
    bound = bind(params, node.args, dict(node.kwargs))
    bound.update(fixed)
    names = [p.name for p in spec.parameters]
    inputs = tuple(bound.pop(name) for name in names[: spec.inputs])
    arguments = {k: v for k, v in bound.items() if not k.startswith("_")}
    node.op = "call_function"
    node.target = spec.function
    node.args = inputs
    node.kwargs = spec.drop_defaults(spec.normalise(arguments))


def _drop_default_kwargs(node: fx.Node) -> None:
    """Drop keyword arguments that only restate a Python function's defaults."""
    parameters = _parameters_of(node.target)
    if parameters is None:
        return
    kwargs = {
        k: v
        for k, v in node.kwargs.items()
        if not k.startswith("_")
        and not (
            k in parameters
            and parameters[k].default is not inspect.Parameter.empty
            and same_value(v, parameters[k].default)
        )
    }
    node.kwargs = kwargs


def _parameters_of(function: Any) -> Mapping[str, inspect.Parameter] | None:
    """``inspect.signature(function).parameters``, None without one; once per function.

    Reading a builtin's signature parses its text: a millisecond per node.
    """
    try:
        hash(function)
    except TypeError:  # unhashable: read every time
        return _read_parameters(function)
    return _cached_parameters(function)


def _read_parameters(function: Any) -> Mapping[str, inspect.Parameter] | None:
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return None


_cached_parameters = functools.lru_cache(maxsize=None)(_read_parameters)


def _flatten_reshape(node: fx.Node) -> None:
    """``x.view(-1, C*H*W)`` and ``x.view(x.size(0), -1)`` -> ``torch.flatten(x, 1)``.

    Only when the example shapes prove that the result keeps dimension 0 and
    merges all the others, so the rewrite holds for every batch size. A
    constant ``C*H*W`` proves it only for inputs whose other sizes are the
    traced ones: the rewrite needs the graph to guard them (LeNet's
    ``num_flat_features`` loop gives ``x.size()[1:] == (16, 5, 5)``);
    the VAE's ``x.view(-1, 784)`` of a 56x56 image is a batch of four rows
    per image, not ``flatten``.
    """
    is_view = node.op == "call_method" and node.target in ("view", "reshape")
    if not is_view and not (
        node.op == "call_function" and node.target is torch.reshape
    ):
        return
    source, *shape = node.args
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = list(shape[0])
    before = _shape(source)
    after = _shape(node)
    if before is None or after is None or len(before) < 2 or len(shape) != 2:
        return
    rest = math.prod(before[1:])
    if tuple(after) != (before[0], rest):
        return
    first, second = shape
    pinned = _other_sizes_guarded(source, tuple(before[1:]))
    keeps_batch = (
        first == -1
        and second == rest
        and pinned
        or (
            _is_batch_size_of(first, source)
            and (second == -1 or (second == rest and pinned))
        )
    )
    if not keeps_batch:
        return
    flatten = specs_for_function(torch.flatten)[0]
    node.op = "call_function"
    node.target = torch.flatten
    node.args = (source,)
    node.kwargs = flatten.drop_defaults({"start_dim": 1})


#: ``node.meta`` key of an inlined tensor's call: the attribute it stands for
#: (what the user said about the attribute is said where it is read)
INLINED_ATTRIBUTE = "inlined_attribute"


def inline_constants(
    module: fx.GraphModule, state: set[str], original: nn.Module | None = None
) -> None:
    """Tensors read by ``get_attr`` that are not in ``state`` -> the call that rebuilds them.

    Those are tensors ``forward`` created (fx's ``_tensor_constant0``), or, for
    the functional style, non-persistent buffers and plain tensor attributes:
    none is a ``state_dict`` entry, so none may be read from the weights. The
    call is :func:`~nnconvert.tensor_values.tensor_call`'s: a literal for a
    small tensor, its bytes otherwise, checked to rebuild the value bit for bit.

    The call stays where the tensor is read, so in functional style the
    function that reads it builds it, on every call, rather than a
    module-level constant: the function depends on nothing but its weight
    dict and inputs (no shared tensor an in-place op could change between
    calls), and two blocks share one function only when their tensors are
    equal too, since the value is part of the function's code. The price is
    rebuilding it per call (about 2 ms for a (196, 196) int64 table).

    Except where the tensor has a :class:`~nnconvert.tensor_builds.TensorBuild`
    (:func:`tensor_build`): the code that computed it, which functional style
    writes as a module-level function and constant (class styles turn it
    back into the call above: :func:`unbuild_constants`).
    """
    for node in list(module.graph.nodes):
        if node.op != "get_attr" or node.target in state:
            continue
        if node.target == TRAINING_ATTRIBUTE:
            continue
        value = attribute_at(module, str(node.target), None)
        if not isinstance(value, torch.Tensor):
            continue
        ancestry = module.meta.get(ANCESTRY, ())
        build = tensor_build(original, str(node.target), value, ancestry)
        if build is None and _made_by_forward(str(node.target)):
            owner = ancestry[-1][1] if ancestry else original
            build = source_constant_build(node, value, owner)
        if build is not None:
            function, args, kwargs = build, (), {}
        else:
            function, args, kwargs = tensor_call(value, str(node.target))
        with module.graph.inserting_before(node):
            constant = module.graph.call_function(function, args, kwargs)
        constant.meta = {**node.meta, INLINED_ATTRIBUTE: str(node.target)}
        node.replace_all_uses_with(constant)
        module.graph.erase_node(node)


def _made_by_forward(target: str) -> bool:
    """fx's name for a tensor ``forward`` made (``_tensor_constant0``), not an attribute's."""
    return target.rpartition(".")[2].startswith("_tensor_constant")


#: ``module.meta`` key: (path, module) from the root down to the traced module
#: (:attr:`~nnconvert.hierarchy.Instance.ancestry`), for a tensor a parent made
ANCESTRY = "ancestry"


def tensor_build(
    original: nn.Module | None,
    target: str,
    value: torch.Tensor,
    ancestry: Sequence[tuple[str, nn.Module]] = (),
) -> TensorBuild | None:
    """The code that builds ``original``'s tensor ``target``, checked bit for bit; or None.

    A constant read from a functional file carries the build it was read
    with; a tensor the user's ``__init__`` computed is rebuilt from those
    statements (:func:`~nnconvert.init_slices.recover_tensor`), or from
    the user's method that made it (:func:`~nnconvert.tensor_builds.method_build`).
    """
    found = build_of(value)
    if found is not None or original is None:
        return found
    owner_path, _, name = target.rpartition(".")
    try:
        owner = original.get_submodule(owner_path)
    except AttributeError:
        return None
    return recovered_build(owner, name, value) or method_build(ancestry, target, value)


def unbuild_constants(graph: fx.Graph) -> None:
    """Each :class:`~nnconvert.tensor_builds.TensorBuild` call -> :func:`tensor_call`'s.

    Class styles write a tensor read from a functional file's constant as
    they always have: where it is read, as its value.
    """
    for node in graph.nodes:
        if node.op == "call_function" and isinstance(node.target, TensorBuild):
            function, args, kwargs = tensor_call(node.target.value, node.target.name)
            node.target, node.args, node.kwargs = function, args, kwargs


def own_tensor_attributes(module: fx.GraphModule, original: nn.Module) -> set[str]:
    """The ``get_attr`` targets that are the original's own tensors (attributes, buffers).

    Class styles keep them as attributes, as the original has them; what fx
    parked on the module while tracing (``_tensor_constant0``) is not among them.
    """
    return {
        str(node.target)
        for node in module.graph.nodes
        if node.op == "get_attr"
        and isinstance(attribute_at(original, str(node.target), None), torch.Tensor)
    }


def _other_sizes_guarded(source: fx.Node, sizes: tuple[int, ...]) -> bool:
    """The graph refuses inputs whose ``source`` has other sizes after dimension 0.

    A shape guard (:func:`~nnconvert.branches.expect`) of
    ``source.size()[1:] == sizes`` (or ``source.shape[1:]``).
    """
    for user in source.users:
        shape = None
        if user.op == "call_method" and user.target == "size" and len(user.args) == 1:
            shape = user
        elif user.op == "call_function" and user.target is getattr:
            shape = user if user.args[1] == "shape" else None
        for rest in shape.users if shape is not None else ():
            if not (
                rest.op == "call_function"
                and rest.target is operator.getitem
                and rest.args[1] == slice(1, None, None)
            ):
                continue
            for comparison in rest.users:
                if (
                    comparison.op == "call_function"
                    and comparison.target is operator.eq
                    and isinstance(comparison.args[1], (tuple, list))
                    and tuple(comparison.args[1]) == sizes
                    and any(is_expect(u) for u in comparison.users)
                ):
                    return True
    return False


def _is_batch_size_of(value: Any, source: fx.Node) -> bool:
    """``value`` is ``source.size(0)``, ``source.shape[0]`` or ``len(source)``."""
    if not isinstance(value, fx.Node):
        return False
    if value.op == "call_function" and value.target is len:
        return tuple(value.args) == (source,)
    if value.op == "call_method" and value.target == "size":
        return value.args[0] is source and tuple(value.args[1:]) == (0,)
    if value.op == "call_function" and value.target is operator.getitem:
        shape, index = value.args
        return (
            index == 0
            and isinstance(shape, fx.Node)
            and shape.args[:1] == (source,)
            and (
                (
                    shape.op == "call_method"
                    and shape.target == "size"
                    and len(shape.args) == 1
                )
                or (
                    shape.op == "call_function"
                    and shape.target is getattr
                    and shape.args[1] == "shape"
                )
            )
        )
    return False


def _shape(node: Any) -> tuple[int, ...] | None:
    value = node.meta.get("value") if isinstance(node, fx.Node) else None
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


__all__ = ["canonicalize", "is_impure"]
