"""Each recorded call of a user's helper method becomes one call node, its nodes a body.

Before (``forward``'s graph, ``self.encode(x)`` traced through)::

    h1 = fc1(x); relu = relu(h1); fc21 = fc21(relu); fc22 = fc22(relu)
    ... uses fc21, fc22

After::

    encode = MethodCall(encode)(x); getitem = encode[0]; getitem_1 = encode[1]
    ... uses getitem, getitem_1

with ``MethodCall.body`` the graph ``encode(x) -> (fc21, fc22)``, which the
printer writes as ``def encode(self, x)`` (``def encode(params, x)`` in
functional style) and the call as ``mu, logvar = self.encode(x)``.

A call is outlined only where that provably computes the same: its nodes
(recorded by :mod:`nnconvert.method_calls`) are one run of the graph in
order, they read nothing from outside but the arguments and attributes,
nothing outside reads them but the returned values, and no branch of a
merged graph runs through them unless it tests one of the method's own
arguments against None (the body tests its parameter: DETR's
``with_pos_embed``) or ``self.training``. All calls of one method in a
graph must give the same body (the same method, traced once per call);
otherwise the method stays inlined everywhere, as it is for any call not
outlined. Calls made inside a helper's call are outlined first, so that
the outer body calls them.
"""

from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from torch import fx

from ..branches import expect_none, is_choose, is_only_when, tested_input
from ..method_calls import ARGUMENTS, RETURNS, SCOPE, Scope, returned_number
from ..source_map import NAMES, SOURCE
from .graph_utils import is_training_flag


@dataclass(eq=False)
class MethodCall:
    """The target of a call node that calls a helper method: ``self.encode(x)``.

    ``body`` is the method's graph (placeholders named as the user's
    parameters); ``key`` is what tells two bodies apart, so that blocks
    whose helper bodies differ never share a class or function.
    """

    name: str
    module: fx.GraphModule = field(repr=False)
    key: str = ""
    #: the user's method (or a functional file's helper): its docstring
    function: Callable | None = field(default=None, repr=False)
    #: functional style: the body calls a block whose function takes ``training``
    passes_training: bool = False
    #: the body as printed, where the printer made some of its literals read
    #: a block's parameters (GAT's ``self.a[:, : self.value, :]``); None: as traced
    filled: fx.Graph | None = field(default=None, repr=False)
    #: those parameters, which a functional caller passes on by keyword
    keywords: tuple[str, ...] = ()

    @property
    def reads_training(self) -> bool:
        """In functional style it takes ``training``: the body reads ``self.training``,
        or hands it to a block or a helper it calls."""
        return self.passes_training or any(
            is_training_flag(node)
            or (is_method_call(node) and node.target.reads_training)
            for node in self.body.nodes
        )

    @property
    def body(self) -> fx.Graph:
        return self.filled if self.filled is not None else self.module.graph

    def __post_init__(self) -> None:
        # what graph signatures compare a call target by (its module and name)
        self.__module__ = "nnconvert.method"
        self.__qualname__ = f"{self.name} {self.key}"
        self.__name__ = self.name

    def __call__(self, *args: Any) -> Any:
        raise TypeError(f"{self.name} is printed as a method call, never run")


def is_method_call(node: Any) -> bool:
    """``node`` calls a helper method (:class:`MethodCall`)."""
    return (
        isinstance(node, fx.Node)
        and node.op == "call_function"
        and isinstance(node.target, MethodCall)
    )


def with_method_bodies(graph: fx.Graph) -> Iterator[fx.Node]:
    """``graph``'s nodes, each helper call preceded by its method's body.

    For what reads a class's whole code (the attributes ``__init__`` must
    build, the names it imports): a layer only a helper method calls is
    still the class's.
    """
    for node in graph.nodes:
        if is_method_call(node):  # and the methods it calls, before their calls
            yield from with_method_bodies(node.target.body)
        yield node


def outline_methods(module: fx.GraphModule) -> fx.GraphModule:
    """Every helper call of ``module``'s graph that can be one, made a call node.

    Decided alike in every style, so that converting an output to another
    style keeps the same helpers.
    """
    graph = module.graph
    depths: dict[str, set[int]] = {}  # each helper's name -> how deep it is called
    for node in graph.nodes:
        scope = node.meta.get(SCOPE)
        while scope is not None:
            depths.setdefault(scope.name, set()).add(scope.depth)
            scope = scope.parent
    if not depths:
        return module  # no helper was called: nothing to change
    # a helper called both from ``forward`` and from another helper stays inlined
    twice = {name for name, found in depths.items() if len(found) > 1}
    replaced: dict[fx.Node, fx.Node] = {}  # a returned value -> what now reads as it
    for depth in sorted(set().union(*depths.values()), reverse=True):
        _outline_depth(graph, depth, twice, replaced)
    for node in list(graph.nodes):  # a test of an input only the method made now
        if tested_input(node) is not None and not node.users:
            graph.erase_node(node)
        elif _refused_inside(node):
            graph.erase_node(node)
    _numbers_as_literals(graph)
    graph.lint()
    module.recompile()
    return module


def _outline_depth(
    graph: fx.Graph, depth: int, refused: set[str], replaced: dict[fx.Node, fx.Node]
) -> None:
    """Outline the helper calls made ``depth`` calls deep, innermost first.

    An outer call's nodes are its own and those of the calls inside it
    (``with_pos_embed`` inside ``forward_post``), which are one call node
    each by now, or inlined.
    """
    calls: dict[str, list[fx.Node]] = {}
    scopes: dict[str, Scope] = {}
    plain: dict[str, bool] = {}  # a merged graph holds each trace's record of a call
    for node in graph.nodes:
        scope = _at_depth(node.meta.get(SCOPE), depth)
        if scope is not None and node.op != "get_attr":
            calls.setdefault(scope.key, []).append(node)
            scopes[scope.key] = scope
            plain[scope.key] = plain.get(scope.key, True) and scope.plain
    planned: dict[str, list[_Outline]] = {}
    refused = set(refused)
    for key, nodes in calls.items():
        scope = scopes[key]
        outline = _outline(graph, scope, nodes) if plain[key] else None
        if outline is None:
            refused.add(scope.name)
        else:
            planned.setdefault(scope.name, []).append(outline)
    for name, outlines in planned.items():
        keys = {_body_key(o.body) for o in outlines}
        if name in refused or len(keys) != 1:
            continue  # one method, one body: else inlined everywhere
        scope = outlines[0].scope
        target = MethodCall(name, outlines[0].body, keys.pop(), scope.function)
        for outline in outlines:
            _replace(graph, outline, target, replaced)


def _at_depth(scope: Scope | None, depth: int) -> Scope | None:
    """The call ``depth`` deep that ``scope``'s call is made in (or is); None if none."""
    while scope is not None and scope.depth > depth:
        scope = scope.parent
    return scope if scope is not None and scope.depth == depth else None


@dataclass
class _Outline:
    """One call that can be outlined: its nodes, arguments, results and body."""

    scope: Scope
    nodes: list[fx.Node]
    arguments: list[fx.Node]
    returned: list[fx.Node]
    body: fx.GraphModule  # owns the layers and weights the method reads


def _outline(graph: fx.Graph, scope: Scope, nodes: list[fx.Node]) -> _Outline | None:
    """The outline of one call, or None where it would not compute the same."""
    if not scope.plain:
        return None
    inside = set(nodes)
    order = {n: i for i, n in enumerate(graph.nodes)}
    first, last = order[nodes[0]], order[nodes[-1]]
    between = list(graph.nodes)[first : last + 1]
    arguments = _marked(graph, ARGUMENTS, scope.key, scope.parameters)
    if arguments is not None:  # a merge's mark on one of the call's own effects
        nodes = [n for n in between if n in inside or _own_effect(n, inside, arguments)]
        inside = set(nodes)
    if any(n not in inside and n.op != "get_attr" for n in between):
        return None  # not one run: something else happens in the middle
    returned = _marked(graph, RETURNS, scope.key, _node_positions(scope))
    if arguments is None or returned is None:
        return None
    if len(set(returned)) != len(returned):
        return None
    if any(n not in inside and not _read_after(n, nodes[0]) for n in returned):
        return None
    if len(set(arguments)) != len(arguments):
        return None  # ``f(x, x)``: one node cannot be two parameters
    for node in nodes:
        if node.op in ("placeholder", "output"):
            return None
        if is_choose(node) and not _is_method_condition(node.args[0], arguments):
            return None  # a branch on something the method is not given
        for read in node.all_input_nodes:
            if read in inside or read in arguments:
                continue
            if read.op != "get_attr" and not _is_method_condition(read, arguments):
                return None  # a value from elsewhere
        if node not in returned and any(u not in inside for u in node.users):
            return None
        if any(
            (is_only_when(u) or is_choose(u)) and u not in inside for u in node.users
        ):
            return None
    body = fx.GraphModule(graph.owning_module, _body(scope, nodes, arguments, returned))
    return _Outline(scope, nodes, arguments, returned, body)


def _own_effect(node: fx.Node, inside: set[fx.Node], arguments: list[fx.Node]) -> bool:
    """A merge's ``only_when`` on an effect the call made, under a test of its arguments.

    Whisper's ``qkv_attention`` unpacks ``q.shape`` in both traces of a
    block given a ``mask`` and not; the merged graph runs each trace's
    guard only when the mask is (or is not) given: the body tests its own
    ``mask`` parameter.
    """
    if not is_only_when(node):
        return False
    condition, _, effect = node.args
    return effect in inside and _is_method_condition(condition, arguments)


def _refused_inside(node: fx.Node) -> bool:
    """``forward``'s refusal of a value for an input it only hands to methods that refuse it too.

    DETR's ``forward`` passes ``src_mask`` to ``forward_post`` and does
    nothing else with it; the method says it was traced with None, once.
    """
    if node.op != "call_function" or node.target is not expect_none:
        return False
    tested = node.args[0]
    if not isinstance(tested, fx.Node) or tested.op != "placeholder":
        return False
    readers = [u for u in tested.users if u is not node]
    return bool(readers) and all(_refuses(call, tested) for call in readers)


def _refuses(call: fx.Node, value: fx.Node) -> bool:
    """The method ``call`` calls refuses a value for every parameter it is given ``value`` as."""
    if not is_method_call(call) or call.kwargs:
        return False
    parameters = [n for n in call.target.body.nodes if n.op == "placeholder"]
    given = [p for p, a in zip(parameters, call.args) if a is value]
    return bool(given) and all(
        any(u.target is expect_none for u in p.users) for p in given
    )


def _read_after(node: fx.Node, first: fx.Node) -> bool:
    """``node`` reads an attribute, and nothing before the call ``first`` starts reads it.

    DINO's ``interpolate_pos_encoding`` returns ``self.pos_embed`` itself
    where the input's size needs no interpolation: the method reads the
    attribute, and what reads the value after the call reads the call.
    """
    if node.op != "get_attr":
        return False
    later = set()
    current = first
    while current.op != "root":
        later.add(current)
        current = current.next
    return all(user in later for user in node.users)


def _is_method_condition(node: Any, arguments: list[fx.Node]) -> bool:
    """A branch condition the method's body can test itself.

    ``self.training`` (read again inside), or a test whether one of the
    method's arguments is None (DETR's ``with_pos_embed(src, pos)`` given
    ``pos`` or not): the body tests its own parameter.
    """
    if not isinstance(node, fx.Node):
        return False
    if is_training_flag(node):
        return True
    tested = tested_input(node)
    return tested is not None and tested in arguments


def _is_number(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target is returned_number


def _numbers_as_literals(graph: fx.Graph) -> None:
    """A helper's number, where its call was not kept, is the literal it was."""
    for node in [n for n in graph.nodes if _is_number(n)]:
        (number,) = node.args
        for user in list(node.users):
            user.args = fx.node.map_arg(user.args, lambda n: number if n is node else n)
            user.kwargs = fx.node.map_arg(
                user.kwargs, lambda n: number if n is node else n
            )
        graph.erase_node(node)


def _marked(
    graph: fx.Graph, meta: str, key: str, names: tuple[str | int, ...]
) -> list[fx.Node] | None:
    """The nodes marked for ``key``: one per parameter or position in ``names``' order."""
    found: dict[Any, fx.Node] = {}
    for node in graph.nodes:
        for mark in node.meta.get(meta, {}).get(key, ()):
            if mark in found:
                joined = _join_of(found[mark], node)
                if joined is None:
                    return None
                node = joined
            found[mark] = node
    order = list(names)
    if sorted(found, key=str) != sorted(order, key=str):
        return None
    return [found[mark] for mark in order]


def _join_of(first: fx.Node, second: fx.Node) -> fx.Node | None:
    """Of two nodes marked as one result, the join of both traces' results.

    Merged, ``with_pos_embed`` returns ``tensor + pos`` where ``pos`` is
    given and ``tensor`` where not; the merge's ``choose`` joining them
    carries the mark of the side it was copied from.
    """
    for join, other in ((first, second), (second, first)):
        if is_choose(join) and other in join.args[1:]:
            return join
    return None


def _body(
    scope: Scope,
    nodes: list[fx.Node],
    arguments: list[fx.Node],
    returned: list[fx.Node],
) -> fx.Graph:
    """The method's own graph: its parameters, the call's nodes, its result."""
    body = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    optional = _optional_parameters(scope.function)
    for name, argument in zip(scope.parameters, arguments):
        if name in optional:  # ``pos: Optional[Tensor] = None``, as the user wrote it
            placeholder = body.placeholder(name, default_value=None)
        else:
            placeholder = body.placeholder(name)
        placeholder.meta["value"] = argument.meta.get("value")
        env[argument] = placeholder
    attributes: dict[str, fx.Node] = {}

    def mapped(node: fx.Node) -> fx.Node:
        if node in env:
            return env[node]
        if node.op != "get_attr":  # a test of an argument: tested again inside
            env[node] = body.node_copy(node, mapped)
            return env[node]
        target = str(node.target)  # a get_attr: read again inside the method
        if target not in attributes:
            attributes[target] = body.get_attr(target)
            attributes[target].meta = dict(node.meta)
        return attributes[target]

    for node in nodes:
        if _is_number(node):  # the helper returns the number itself
            env[node] = node.args[0]
            continue
        copy = body.node_copy(node, mapped)
        copy.meta = _own_frames(node.meta, scope)
        env[node] = copy
    at = _last_placeholder(body)
    for argument in arguments:
        placeholder = env[argument]
        if _refused(argument) and not placeholder.users:
            at = _refuse_values(body, placeholder, at)
    output = body.output(_result(scope, [mapped(n) for n in returned]))
    output.meta["value"] = _value_of(scope, returned)
    return body


def _optional_parameters(function: Callable) -> frozenset[str]:
    """The parameters the user's method gives the default None."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(p.name for p in parameters if p.default is None)


def _refused(argument: fx.Node) -> bool:
    """An input of ``forward`` that it refuses a value for: traced with None only."""
    return any(u.target is expect_none for u in argument.users)


def _refuse_values(body: fx.Graph, placeholder: fx.Node, after: fx.Node) -> fx.Node:
    """The method was only ever given None for ``placeholder``: it refuses a value.

    Its body is what the trace made of None (DETR's ``forward_post`` with
    ``src_mask=None`` calls attention without a mask); called with a mask,
    it would ignore it. The guard says so, as ``forward``'s do, for the
    input ``forward`` refuses (:func:`_refused`), which it was given.
    """
    name = str(placeholder.target)
    with body.inserting_after(after):
        return body.call_function(
            expect_none,
            (
                placeholder,
                f"traced with {name}=None; convert again with an example {name}",
            ),
        )


def _last_placeholder(body: fx.Graph) -> fx.Node:
    return [n for n in body.nodes if n.op == "placeholder"][-1]


def _carry_marks(node: fx.Node, to: fx.Node, key: str) -> None:
    """What ``node`` was to the calls around this one, ``to`` is now.

    ``return self.norm(q)`` in ``forward_post``, with ``q`` returned by the
    inner ``with_pos_embed``: the call node is what ``forward_post`` reads.
    """
    for meta in (ARGUMENTS, RETURNS):
        marks = {
            k: v
            for k, v in node.meta.get(meta, {}).items()
            if not (meta == RETURNS and k == key)
        }
        if marks:
            to.meta.setdefault(meta, {}).update(marks)


def _own_frames(meta: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """``meta`` with the method's frames first: its lines, and its names.

    A value the method never names (``return self.fc21(h1), ...``) keeps
    the name the caller gave it (``mu``), after the method's own; the
    frames outside the method are dropped, so comments and lines are the
    method's.
    """
    meta = dict(meta)
    frames = meta.get(SOURCE, ())
    at = _method_frame(frames, scope)
    if at < len(frames):
        names = meta.get(NAMES, ())
        meta[SOURCE] = frames[at:]
        meta[NAMES] = tuple(names[at:]) + tuple(names[:at])
    return meta


def _caller_frames(meta: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """The frames outside the method: where the call stands, what the caller named it."""
    frames = meta.get(SOURCE, ())
    at = _method_frame(frames, scope)
    return {SOURCE: frames[:at], NAMES: meta.get(NAMES, ())[:at]}


def _method_frame(frames: tuple, scope: Scope) -> int:
    """The position of the method's own frame among a node's frames (their end: none)."""
    return next(
        (i for i, f in enumerate(frames) if f.function == scope.qualname), len(frames)
    )


def _node_positions(scope: Scope) -> tuple[int, ...]:
    """The positions of the call's result that hold traced values (None's left out)."""
    return tuple(p for p in range(scope.length) if p not in scope.nones)


def _result(scope: Scope, values: list[Any]) -> Any:
    """The call's result from the values at :func:`_node_positions`, None's put back."""
    if scope.returns == "one":
        return values[0]
    items = iter(values)
    result = [None if p in scope.nones else next(items) for p in range(scope.length)]
    return tuple(result) if scope.returns == "tuple" else result


def _value_of(scope: Scope, returned: list[fx.Node]) -> Any:
    return _result(scope, [n.meta.get("value") for n in returned])


def _body_key(body: fx.GraphModule) -> str:
    """What tells two bodies apart: their ops, targets and arguments, literals and all.

    A layer without state is told by what it is, not by its attribute: module
    style gives each call of ``F.tanh`` its own ``nn.Tanh`` (``tanh1``,
    ``tanh2``), and a method called twice is still one method.
    """
    index = {node: i for i, node in enumerate(body.graph.nodes)}
    entries = []
    for node in body.graph.nodes:
        target = node.target
        if node.op == "call_module":
            layer = body.get_submodule(str(target))
            if not any(True for _ in layer.state_dict()):
                target = f"{type(layer).__module__}.{layer!r}"
        elif not isinstance(target, str):
            module = getattr(target, "__module__", "")
            target = f"{module}.{getattr(target, '__qualname__', repr(target))}"
        arguments = fx.node.map_arg((node.args, node.kwargs), lambda a: index[a])
        entries.append((node.op, target, arguments))
    return repr(entries)


def _replace(
    graph: fx.Graph,
    outline: _Outline,
    target: MethodCall,
    replaced: dict[fx.Node, fx.Node],
) -> None:
    """Put one call node where the call's nodes were; readers read its result.

    ``replaced`` maps the values earlier calls returned to the nodes that
    now stand for them (an argument may be one); this call's are added.
    """
    inside = set(outline.nodes)
    scope = outline.scope
    arguments = tuple(replaced.get(a, a) for a in outline.arguments)
    with graph.inserting_before(outline.nodes[0]):
        call = graph.call_function(target, arguments)
    call.meta.update(_caller_frames(outline.nodes[0].meta, scope))
    call.meta["value"] = _value_of(scope, outline.returned)
    if scope.parent is not None:  # a call inside another helper's call
        call.meta[SCOPE] = scope.parent
    if scope.returns == "one":
        (node,) = outline.returned
        if node.op != "get_attr":  # an attribute returned as it is: read anywhere
            call.meta.update(_caller_frames(node.meta, scope))
        node.replace_all_uses_with(call, delete_user_cb=lambda u: u not in inside)
        _carry_marks(node, call, scope.key)
        replaced[node] = call
    else:
        previous = call
        positions = _node_positions(scope)
        for position, node in zip(positions, outline.returned):
            with graph.inserting_after(previous):
                item = graph.call_function(operator.getitem, (call, position))
            item.meta.update(_caller_frames(node.meta, scope))
            item.meta["value"] = node.meta.get("value")
            if scope.parent is not None:
                item.meta[SCOPE] = scope.parent
            node.replace_all_uses_with(item, delete_user_cb=lambda u: u not in inside)
            _carry_marks(node, item, scope.key)
            replaced[node] = item
            previous = item
    for node in reversed(outline.nodes):
        graph.erase_node(node)
    for node in outline.returned:  # an attribute only the method returned
        if node.op == "get_attr" and not node.users:
            graph.erase_node(node)
