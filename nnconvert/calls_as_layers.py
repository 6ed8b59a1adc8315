"""Module style: the model's source with its functional calls written as layers.

Going from a source that calls parameter-free ops as functions to module
style changes one thing: each such call becomes a call of a layer built in
``__init__`` (``F.dropout(h, self.dropout, training=self.training)``
becomes ``self.dropout1(h)``, built as ``nn.Dropout(self.dropout)``).
:mod:`.construction_kept` keeps the source's ``__init__`` but prints the
methods from the trace, which loses what the trace does not keep (GAT's
``if self.concat:`` loses its other branch, an ``assert`` becomes a
``raise``). So module style tries this first: where it holds together,
the output is the source itself with those calls rewritten in place --
exactly the calls the module-style trace made layers of
(:data:`~.passes.styles.MADE_FROM_CALL`), found by the position the tracer
saw them at (:data:`~.source_map.CALL_AT`) -- the way
:mod:`.calls_rewritten` does the opposite for mixed style.

A call's arguments other than its inputs go to its layer's constructor: a
literal as the traced layer has it, ``self.training`` as the layer's own
flag, a plain attribute of the instance (``self.dropout``) as written, read
in ``__init__`` after it is set. Each call has a layer of its own
(``self.dropout1`` and ``self.dropout2`` for GAT's two dropouts), named
from the op spec's stem as module style names it. A layer is built right
after the statement building the layer its input comes from (ResNet's
``self.flatten`` after ``self.avgpool``), as the printer places it; one
whose constructor reads an attribute, or whose input comes from elsewhere,
after the last statement of ``__init__`` that sets an attribute. Refused
(the printed output stands):

* a call the trace made a layer of that is not a call of a spec's
  function in a method of a class of the model's file (a module-level
  helper's, ``x.view(x.size(0), -1)`` made ``nn.Flatten``), or whose
  other arguments are expressions (``p=p * 2``, a local);
* a call the trace made a layer of in one instance of its class but not
  in another, or a layer lifted from a function over a layer's tensors;
* a class whose ``__init__`` may return before it sets an attribute
  (new layers are built among the statements before the first that may
  return, :func:`_always_run`), or that another class of the model
  derives from; a class without an ``__init__`` of its own
  takes one (:func:`_new_init`) unless the one it runs is not
  ``nn.Module``'s.

A call of a function a constructor parameter chose (DETR's
``self.activation = _get_activation_fn(activation)``) stays as written: a
layer in its place would hold this build's choice (:func:`_chosen_function`).

The rewritten source, built with its defaults, must build the model with
those layers added (:func:`.as_written.same_model`), each layer as the
trace made it; the equivalence check then runs on it as on any output.
Calls no trace ran (a branch the example inputs do not take) stay as
written.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import black
import torch
from torch import fx, nn

from .as_written import (
    builds_same_model,
    built_with_defaults,
    comments_above_long_lines,
    file_of,
    globals_of,
    has_instance_overrides,
    module_level_names,
    outside_definitions,
    reads_own_names,
    same_model,
    source_program,
)
from .construction_kept import (
    Runner,
    new_init_place,
    runs_module_init,
    without_unread_code,
)
from .copying import copy_model
from .hierarchy import Instance
from .naming import first_free
from .opspecs import (
    TRAINING,
    OpSpec,
    aliases_for,
    spec_for_module,
    specs_for_function,
)
from .opspecs.spec import Param, bind, parse_signature
from .passes.lift import LIFTED
from .passes.styles import MADE_FROM_CALL
from .passes.weight_dicts import graphs_with_methods
from .printer.classes import constructor_text
from .source_edits import (
    Edit,
    applied,
    line_starts,
    outermost_call_edits,
    text_with_calls,
    with_imports,
)
from .source_map import CallSpan, call_span
from .source_text import (
    attributes_set,
    attributes_stored,
    class_definition,
    init_statement,
    self_path,
)

#: The source's position of a call: ``(line, column, end line, end column)``.
_Position = tuple[int, int, int, int]


@dataclass(eq=False)  # one object per call: compared and hashed by identity
class _Site:
    """One call of the source that the trace made a layer of, in every instance."""

    call: ast.Call  # in the program
    owner: str  # its class
    layers: dict[str, list[nn.Module]]  # by instance path, one per time it ran
    spec: OpSpec | None = None
    inputs: list[ast.expr] = field(default_factory=list)
    #: constructor parameter -> the attribute of ``self`` the call passes for it
    reads: dict[str, str] = field(default_factory=dict)
    #: what its input comes from in every instance: ``("layer", "conv1")``
    #: for ``self.conv1(x)``, ``("site", other)`` for another site's call
    fed_by: set[tuple[str, Any]] = field(default_factory=set)


def with_calls_as_layers(
    model: nn.Module, name: str, run: Runner, instances: Sequence[Instance]
) -> str | None:
    """``model``'s source with the calls module style makes layers of written as layers, or None."""
    if type(model).__name__ != name or has_instance_overrides(model):
        return None
    definition = class_definition(type(model))
    program, _ = source_program(model, lists_as_tuples=False)
    traced = _traced_calls(instances)
    if definition is None or program is None or traced is None:
        return None
    tree = ast.parse(program)
    classes = {type(m).__name__: type(m) for m in model.modules()}
    sites = _all_sites(model, classes, instances, definition[0].tree, tree, traced)
    if sites is None:
        return None
    if not sites:  # in module style already: the source, if it builds the model
        return program if builds_same_model(model, program, run) else None
    encoded = program.encode()
    starts = line_starts(encoded)
    class_trees = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
    planned = _class_edits(sites, class_trees, model, classes, starts)
    if planned is None:
        return None
    edits, attributes, builds = planned
    edits += _call_edits(sites, attributes, encoded, starts)
    try:
        text = with_imports(applied(encoded, edits).decode(), {"from torch import nn"})
        lines = comments_above_long_lines(text.split("\n"), 0)
        merged = black.format_str(without_unread_code(lines), mode=black.Mode())
    except Exception:
        return None
    with torch.random.fork_rng(devices=[]):  # building draws; the caller's draws stay
        rebuilt = built_with_defaults(merged, run)
        expected = (
            None
            if rebuilt is None
            else _expected_model(model, builds, classes, rebuilt)
        )
    if expected is None or not _made_as_traced(expected, sites, attributes):
        return None
    return merged if same_model(expected, rebuilt) else None


def _all_sites(
    model: nn.Module,
    classes: dict[str, type],
    instances: Sequence[Instance],
    file_tree: ast.Module,
    program: ast.Module,
    traced: _Traced,
) -> list[_Site] | None:
    """The calls to rewrite, bound to their specs, in the order they run; None where one cannot be.

    An argument's call comes before the call it is given to, so that the
    layers are numbered as module style numbers them.
    """
    calls = _source_calls(file_tree)
    class_trees = {c.name: c for c in program.body if isinstance(c, ast.ClassDef)}
    sites = _sites(calls, class_trees, traced, file_of(type(model)))
    if sites is None:
        return None
    module_names = module_level_names(program)
    sites = [
        s
        for s in sites
        if not _chosen_function(s, model, class_trees.get(s.owner), module_names)
    ]
    paths = {i.path: type(i.module).__name__ for i in instances}
    for site in sites:
        owned = [p for p, owner in paths.items() if owner == site.owner]
        if sorted(site.layers) != sorted(owned):
            return None  # made a layer in one instance of its class, not in another
        if not _bound_site(site, globals_of(classes[site.owner]), model):
            return None
    untraced = _untraced_sites(calls, class_trees, _seen(instances), model, classes)
    by_call = {id(site.call): site for site in sites + untraced}
    for site in untraced:
        given = site.inputs[0]
        attribute = self_path(given.func) if isinstance(given, ast.Call) else None
        if id(given) in by_call:
            site.fed_by = {("site", by_call[id(given)])}
        elif attribute and "." not in attribute:
            site.fed_by = {("layer", attribute)}
    sites += untraced
    owners = {s.owner for s in sites}
    if _derived_from(classes, owners):
        return None  # another class runs the ``__init__`` the layers go into
    if any(globals_of(classes[o]).get("nn", nn) is not nn for o in owners):
        return None  # ``nn`` is another name in the file
    return sorted(sites, key=lambda s: (s.call.end_lineno, s.call.end_col_offset))


def _chosen_function(
    site: _Site,
    model: nn.Module,
    class_tree: ast.ClassDef | None,
    module_names: set[str],
) -> bool:
    """The call is of a function a constructor parameter chose: it stays as written.

    DETR's ``self.activation = _get_activation_fn(activation)``, called
    ``self.activation(...)``: every instance holds a plain function (not a
    layer) that ``__init__`` set from a parameter. A layer in its place
    would hold this build's choice (``nn.ReLU``) and ignore another
    ``activation``; the kept class honours it, as mixed style keeps a layer
    ``act_layer()`` built (:mod:`.calls_rewritten`).
    """
    attribute = self_path(site.call.func)
    if not attribute or "." in attribute:
        return False
    instances = [m for m in model.modules() if type(m).__name__ == site.owner]
    if not instances or not all(
        callable(vars(m).get(attribute))
        and not isinstance(vars(m)[attribute], nn.Module)
        for m in instances
    ):
        return False
    init = init_statement(class_tree) if class_tree is not None else None
    setting = [
        s
        for s in (ast.walk(init) if init is not None else ())
        if isinstance(s, ast.Assign) and attributes_set(s) == [attribute]
    ]
    return len(setting) == 1 and reads_own_names(setting[0].value, module_names)


#: The layers the trace made at each call, by instance path, and what fed each call.
_Traced = tuple[
    dict[CallSpan, dict[str, list[nn.Module]]], dict[CallSpan, set[tuple[str, Any]]]
]


def _traced_calls(instances: Sequence[Instance]) -> _Traced | None:
    """The layers module style made of the source's calls, by call and instance path.

    With, for each call, where its input came from (:func:`_feeder`). None
    where one has no position in the source, or a call was lifted into a
    layer of the model's (its text would stay a function over the layer's
    tensors).
    """
    found: dict[CallSpan, dict[str, list[nn.Module]]] = {}
    feeders: dict[CallSpan, set[tuple[str, Any]]] = {}
    for instance in instances:
        for graph in graphs_with_methods(instance.graph):
            for node in graph.nodes:
                if node.op != "call_module":
                    continue
                if node.meta.get(LIFTED):
                    return None
                if not node.meta.get(MADE_FROM_CALL):
                    continue
                span = call_span(node)
                if span is None:
                    return None
                layer = instance.graph.get_submodule(str(node.target))
                found.setdefault(span, {}).setdefault(instance.path, []).append(layer)
                feeders.setdefault(span, set()).add(_feeder(node))
    return found, feeders


def _feeder(node: fx.Node) -> tuple[str, Any]:
    """Where a new layer's input comes from: a layer of the module's own, another call made a layer, or else."""
    given = node.args[0] if node.args else None
    if isinstance(given, fx.Node) and given.op == "call_module":
        if given.meta.get(MADE_FROM_CALL):
            return ("call", call_span(given))
        if "." not in str(given.target):
            return ("layer", str(given.target))
    return ("other", None)


#: Where a call stands in its class: ``(field, index)`` steps down from the ``class``.
_Path = list[tuple[str, int | None]]


def _source_calls(file_tree: ast.Module) -> dict[_Position, tuple[ast.ClassDef, _Path]]:
    """Every call in a plain method of a class of the file, by position, with its class and path.

    And every call in a lambda ``__init__`` stores (makemore's
    ``self.mlpf = lambda x: m.c_proj(F.tanh(m.c_fc(x)))``): ``forward``
    runs it, after ``__init__`` has built every layer.
    """
    calls: dict[_Position, tuple[ast.ClassDef, _Path]] = {}
    for statement in file_tree.body:
        if not isinstance(statement, ast.ClassDef):
            continue
        for index, method in enumerate(statement.body):
            found = _paths(method, [("body", index)])
            if _is_init(method):
                found = _in_lambdas(found)
            elif not _plain_method(method):
                continue
            for path, node in found:
                if isinstance(node, ast.Call):
                    calls[_position(node)] = (statement, path)
    return calls


def _is_init(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.FunctionDef) and statement.name == "__init__"


def _in_lambdas(
    found: Iterator[tuple[_Path, ast.AST]],
) -> Iterator[tuple[_Path, ast.AST]]:
    """The nodes inside a lambda, of those ``found`` in walking order."""
    inside: list[_Path] = []
    for path, node in found:
        if inside and path[: len(inside[-1])] != inside[-1]:
            inside.pop()
        if isinstance(node, ast.Lambda) and not inside:
            inside.append(path)
        elif inside:
            yield path, node


def _position(node: ast.AST) -> _Position:
    return (
        node.lineno,  # type: ignore[attr-defined]
        node.col_offset,  # type: ignore[attr-defined]
        node.end_lineno or node.lineno,  # type: ignore[attr-defined]
        node.end_col_offset or 0,  # type: ignore[attr-defined]
    )


def _in_program(
    classes: dict[str, ast.ClassDef], file_class: ast.ClassDef, path: _Path
) -> ast.Call | None:
    """The call at ``path`` in the program's class of the same name, if it reads the same there.

    The program is the file's classes formatted
    (:func:`.as_written.source_program`): black moves text, not the tree.
    """
    node: Any = classes.get(file_class.name)
    written: Any = file_class
    for name, index in path:
        if node is None:
            return None
        node = getattr(node, name, None)
        written = getattr(written, name)
        if index is not None:
            node = node[index] if isinstance(node, list) and index < len(node) else None
            written = written[index]
    if not isinstance(node, ast.Call) or ast.dump(node) != ast.dump(written):
        return None
    return node


def _sites(
    calls: dict[_Position, tuple[ast.ClassDef, _Path]],
    classes: dict[str, ast.ClassDef],
    traced: _Traced,
    file: str | None,
) -> list[_Site] | None:
    """Each traced call as the program's ``classes`` hold it, with its class; None for one found nowhere."""
    layers, feeders = traced
    sites: dict[CallSpan, _Site] = {}
    for span, made in layers.items():
        place = calls.get((span.line, span.column, span.end_line, span.end_column))
        if span.file != file or place is None:
            return None
        call = _in_program(classes, *place)
        if call is None:
            return None
        sites[span] = _Site(call, place[0].name, made)
    for span, site in sites.items():
        site.fed_by = {
            ("site", sites.get(value)) if kind == "call" else (kind, value)
            for kind, value in feeders[span]
        }
    return list(sites.values())


def _untraced_sites(
    calls: dict[_Position, tuple[ast.ClassDef, _Path]],
    classes: dict[str, ast.ClassDef],
    seen: set[_Position],
    model: nn.Module,
    kinds: dict[str, type],
) -> list[_Site]:
    """The calls no trace ran (a branch the example does not take) that a layer makes exactly.

    Written as a spec's function (``F.gelu(x)``, ``torch.tanh(x)``; a
    method of a value has no spec to be sure of), with arguments each
    instance of the class holds (:func:`_argument_values`), in a class
    that can build layers; the layer is the one
    :meth:`~.opspecs.OpSpec.module_from_call` makes, in every instance.
    ``classes``: the program's, by name.
    """
    sites = []
    for position, (file_class, path) in calls.items():
        cls = kinds.get(file_class.name)
        program_class = classes.get(file_class.name)
        if position in seen or cls is None or program_class is None:
            continue
        init = _own_init(program_class)
        namespace = globals_of(cls)
        if init is None or _anchor(init) is None:
            continue
        call = _in_program(classes, file_class, path)
        if call is None or _evaluated(call.func, namespace) is None:
            continue
        modules = [(p, m) for p, m in model.named_modules() if type(m) is cls]
        site = _Site(call, file_class.name, {})
        if _made_from_call(site, namespace, modules, model):
            sites.append(site)
    return sites


def _made_from_call(
    site: _Site,
    namespace: dict[str, Any],
    modules: list[tuple[str, nn.Module]],
    model: nn.Module,
) -> bool:
    """Find the layer an untraced call is in each instance, its inputs and the attributes it reads."""
    for spec, bound, inputs, receiver in _bindings(site.call, namespace):
        if receiver is not None or spec.has_weights:
            continue
        made = {path: _made(spec, bound, module) for path, module in modules}
        if all(made.values()):  # else another row of the function may make it
            site.layers = {path: [layer] for path, layer in made.items()}
            return _bound_to(site, spec, bound, inputs, model)
    return False


def _made(spec: OpSpec, bound: dict[str, Any], module: nn.Module) -> nn.Module | None:
    """The layer that makes the call ``module`` makes with ``bound``, if there is one."""
    arguments = _argument_values(spec, bound, module)
    return spec.module_from_call(arguments) if arguments is not None else None


def _bound_to(
    site: _Site,
    spec: OpSpec,
    bound: dict[str, Any],
    inputs: list[ast.expr],
    model: nn.Module,
) -> bool:
    """Bind ``site`` to ``spec``; False where an argument cannot be kept (:func:`_attribute_reads`)."""
    reads = _attribute_reads(spec, bound, site, model)
    if reads is None:
        return False
    site.spec, site.inputs, site.reads = spec, inputs, reads
    return True


def _argument_values(
    spec: OpSpec, bound: dict[str, Any], module: nn.Module
) -> dict[str, Any] | None:
    """A call's arguments after its inputs as ``module`` makes them; None for one it cannot say.

    A literal, ``self.training`` (the layer's flag) or a plain attribute of
    the instance; an alias's fixed argument as it is.
    """
    values = {}
    for name, value in bound.items():
        written = _written(spec, name, value)
        if written is None:
            return None
        kind, given = written
        if kind == "attribute":
            given = _plain_attribute(module, given)
            if given is _NOT_PLAIN:
                return None
        values[name] = TRAINING if kind == "training" else given
    return {k: v for k, v in values.items() if not k.startswith("_")}


def _written(spec: OpSpec, name: str, value: Any) -> tuple[str, Any] | None:
    """How a call gives one argument after its inputs, or None where it cannot be kept.

    ``("value", v)``: a literal, or an alias's fixed argument;
    ``("training", None)``: ``self.training`` for the spec's flag;
    ``("attribute", "p")``: a plain attribute of the instance, ``self.p``.
    """
    if not isinstance(value, ast.expr):
        return ("value", value)
    if name == spec.training:
        return ("training", None) if self_path(value) == "training" else None
    try:
        return ("value", ast.literal_eval(value))
    except (ValueError, SyntaxError, TypeError):
        pass
    attribute = self_path(value)
    return ("attribute", attribute) if attribute and "." not in attribute else None


def _seen(instances: Sequence[Instance]) -> set[_Position]:
    """The positions of every call a trace ran: each made its node, kept or rewritten."""
    return {
        (span.line, span.column, span.end_line, span.end_column)
        for instance in instances
        for graph in graphs_with_methods(instance.graph)
        for node in graph.nodes
        if (span := call_span(node)) is not None
    }


def _plain_method(statement: ast.stmt) -> bool:
    """A method called on an instance, other than ``__init__``, whose first parameter is ``self``."""
    return (
        isinstance(statement, ast.FunctionDef)
        and statement.name != "__init__"
        and not statement.decorator_list
        and bool(statement.args.args)
        and statement.args.args[0].arg == "self"
    )


def _paths(node: ast.AST, prefix: list[tuple[str, int | None]]):
    """Every node under ``node`` with its path of ``(field, index)`` steps from the class."""
    yield prefix, node
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield from _paths(item, prefix + [(name, index)])
        elif isinstance(value, ast.AST):
            yield from _paths(value, prefix + [(name, None)])


def _derived_from(classes: dict[str, type], owners: set[str]) -> bool:
    """Whether a class of the model derives from one whose ``__init__`` would change."""
    return any(
        owner != name and classes[owner] in cls.__mro__
        for name, cls in classes.items()
        for owner in owners
    )


def _bound_site(site: _Site, namespace: dict[str, Any], model: nn.Module) -> bool:
    """Find the spec a traced call is a spelling of, its inputs and the attributes it reads."""
    kinds = {type(layer) for layer in _layers(site)}
    if len(kinds) != 1:
        return False
    (kind,) = kinds
    flattened = _flattened(site.call)
    if kind is nn.Flatten and flattened is not None:
        site.spec, site.inputs = spec_for_module(nn.Flatten()), [flattened]
        return all(repr(layer) == repr(nn.Flatten()) for layer in _layers(site))
    for spec, bound, inputs, _ in _bindings(site.call, namespace):
        if spec.module is kind:
            return _bound_to(site, spec, bound, inputs, model)
    return False


def _bindings(
    call: ast.Call, namespace: dict[str, Any]
) -> Iterator[tuple[OpSpec, dict[str, Any], list[ast.expr], ast.expr | None]]:
    """Each spec ``call`` binds to: its arguments by parameter (an alias's fixed ones too), inputs, receiver."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    for spec, params, fixed, receiver in _spellings(call.func, namespace):
        args = ([receiver] if receiver is not None else []) + list(call.args)
        try:
            bound: dict[str, Any] = {**bind(params, tuple(args), keywords), **fixed}
        except TypeError:
            continue
        names = [p.name for p in spec.parameters]
        inputs = [bound.pop(n, None) for n in names[: spec.inputs]]
        if all(isinstance(i, ast.expr) for i in inputs):
            yield spec, bound, inputs, receiver


def _layers(site: _Site) -> list[nn.Module]:
    return [layer for layers in site.layers.values() for layer in layers]


def _flattened(call: ast.Call) -> ast.expr | None:
    """``x`` of ``x.view(x.size(0), -1)`` (or ``reshape``, ``x.shape[0]``): ``nn.Flatten()`` for any ``x``."""
    func = call.func
    if (
        not isinstance(func, ast.Attribute)
        or func.attr not in ("view", "reshape")
        or call.keywords
        or len(call.args) != 2
    ):
        return None
    first, rest = call.args
    receiver = ast.dump(func.value)
    batch = (
        isinstance(first, ast.Call)
        and isinstance(first.func, ast.Attribute)
        and first.func.attr == "size"
        and not first.keywords
        and [ast.dump(a) for a in first.args] == [ast.dump(ast.Constant(0))]
        and ast.dump(first.func.value) == receiver
    ) or (
        isinstance(first, ast.Subscript)
        and isinstance(first.value, ast.Attribute)
        and first.value.attr == "shape"
        and ast.dump(first.value.value) == receiver
        and ast.dump(first.slice) == ast.dump(ast.Constant(0))
    )
    minus_one = ast.dump(ast.UnaryOp(ast.USub(), ast.Constant(1)))
    if not batch or ast.dump(rest) != minus_one:
        return None
    return func.value


def _spellings(
    func: ast.expr, namespace: dict[str, Any]
) -> list[tuple[OpSpec, tuple[Param, ...], dict[str, Any], ast.expr | None]]:
    """The specs a call through ``func`` may be: each with its parameters, fixed arguments and receiver."""
    target = _evaluated(func, namespace)
    receiver = None
    if target is None:
        if not isinstance(func, ast.Attribute):
            return []
        target, receiver = func.attr, func.value  # ``x.softmax(dim=-1)``
    spellings: list = []
    if receiver is None:
        spellings += [(s, s.parameters, {}, None) for s in specs_for_function(target)]
    for spec, alias in aliases_for(target):
        params = (
            parse_signature(alias.signature) if alias.signature else spec.parameters
        )
        spellings.append((spec, params, dict(alias.fixed), receiver))
    return spellings


def _evaluated(func: ast.expr, namespace: dict[str, Any]) -> Any:
    """What a dotted name (``F.relu``, ``torch.nn.functional.gelu``) is in ``namespace``; None otherwise."""
    if isinstance(func, ast.Name):
        if func.id in namespace:
            return namespace[func.id]
        return getattr(builtins, func.id, None)
    if isinstance(func, ast.Attribute):
        owner = _evaluated(func.value, namespace)
        if owner is None or isinstance(owner, torch.Tensor):
            return None
        return getattr(owner, func.attr, None)
    return None


def _attribute_reads(
    spec: OpSpec, bound: dict[str, Any], site: _Site, model: nn.Module
) -> dict[str, str] | None:
    """Constructor parameter -> ``self`` attribute for a call's arguments, None for one it cannot keep.

    A literal is the traced layer's; ``self.training`` is the layer's
    flag; a plain attribute of the instance is passed to the constructor
    parameter of the same name, where every instance's layer holds its
    value there.
    """
    if spec.training is not None and spec.training not in bound:
        return None  # ``F.dropout(x, 0.1)`` drops in eval mode too
    ctor = {p.name for p in spec.ctor_parameters}
    reads = {}
    for parameter, value in bound.items():
        written = _written(spec, parameter, value)
        if written is None:
            return None
        kind, attribute = written
        if kind != "attribute":
            continue
        if parameter not in ctor or spec.ctor_from_call is not None:
            return None  # the constructor's parameters are not the call's
        reads[parameter] = attribute
    for path, layers in site.layers.items():
        module = model.get_submodule(path)
        for layer in layers:
            values = dict((p.name, v) for p, v in spec.constructor_values(layer))
            for parameter, attribute in reads.items():
                held = _plain_attribute(module, attribute)
                if held is _NOT_PLAIN or not _same(held, values.get(parameter)):
                    return None
    return reads


#: What :func:`_plain_attribute` gives for an attribute no constructor can take.
_NOT_PLAIN = object()


def _plain_attribute(module: nn.Module, name: str) -> Any:
    """The value the instance holds as ``self.<name>``: not a layer or tensor, set on it."""
    held = vars(module).get(name, _NOT_PLAIN)
    return _NOT_PLAIN if isinstance(held, (nn.Module, torch.Tensor)) else held


def _same(value: Any, held: Any) -> bool:
    try:
        return type(value) is type(held) and bool(value == held)
    except Exception:
        return False


def _constructor(site: _Site) -> str | None:
    """The constructor of the site's layer as module style writes it, with its attribute reads."""
    assert site.spec is not None
    layer = next(iter(site.layers.values()))[0]
    call = ast.parse(constructor_text(layer), mode="eval").body
    if not isinstance(call, ast.Call):
        return None
    parameters = [p.name for p in site.spec.ctor_parameters]
    for parameter, attribute in site.reads.items():
        read = ast.Attribute(ast.Name("self", ast.Load()), attribute, ast.Load())
        index = parameters.index(parameter)
        keyword = next((k for k in call.keywords if k.arg == parameter), None)
        if keyword is not None:
            keyword.value = read
        elif index < len(call.args):
            call.args[index] = read
        else:
            call.keywords.append(ast.keyword(parameter, read))
    return ast.unparse(call)


#: The layers each class builds, by class name: attribute -> constructor text.
_Builds = dict[str, dict[str, str]]


def _class_edits(
    sites: list[_Site],
    class_trees: dict[str, ast.ClassDef],
    model: nn.Module,
    classes: dict[str, type],
    starts: list[int],
) -> tuple[list[Edit], dict[int, str], _Builds] | None:
    """The statements building each class's new layers, each site's attribute, what each class builds.

    One layer per call, as module style prints them (``relu1``, ``relu2``
    for a class's two calls of ``F.relu``; ``relu`` for its only one): a
    hook on a layer sees one call of the source. Each is built right after
    the layer its input comes from, as the printer places it.
    """
    edits = []
    attribute: dict[int, str] = {}
    builds: _Builds = {}
    for owner in dict.fromkeys(s.owner for s in sites):
        source_class = class_trees.get(owner)
        if source_class is None:
            return None
        own = [s for s in sites if s.owner == owner]
        texts = [_constructor(site) for site in own]
        if None in texts:
            return None
        taken = _taken_names(source_class, classes[owner], model)
        stems = [site.spec.stem for site in own]  # type: ignore[union-attr]
        names = []
        for stem in stems:
            names.append(first_free(stem, taken, first=1, bare=stems.count(stem) == 1))
            taken.add(names[-1])
        built = builds.setdefault(owner, {})
        for site, name, text in zip(own, names, texts):
            attribute[id(site)] = name
            built[name] = text  # type: ignore[assignment]
        if init_statement(source_class) is None:
            edit = _new_init(source_class, classes[owner], model, names, texts, starts)
            if edit is None:
                return None
            edits.append(edit)
            continue
        init = _own_init(source_class)
        anchor = _anchor(init) if init is not None else None
        if init is None or anchor is None:
            return None
        placing = _Placing(source_class, init, classes[owner], model)
        lines: dict[int, list[str]] = {}
        for site, text, name in zip(own, texts, names):
            after = placing.after(site)
            statement = placing.statements[after] if after else anchor
            indent = " " * statement.col_offset
            lines.setdefault(id(statement), []).append(
                f"{indent}self.{name} = {text}\n"
            )
            placing.placed[id(site)] = after
        for statement in [*placing.statements.values(), anchor]:
            if id(statement) in lines:
                place = starts[statement.end_lineno or statement.lineno]
                edits.append((place, place, "".join(lines.pop(id(statement)))))
    return edits, attribute, builds


class _Placing:
    """Where in ``__init__`` each new layer of one class is built."""

    def __init__(
        self,
        source_class: ast.ClassDef,
        init: ast.FunctionDef,
        cls: type,
        model: nn.Module,
    ):
        stored = attributes_stored(source_class)
        instances = [m for m in model.modules() if type(m) is cls]
        #: the statement of ``__init__``'s own body building each layer, alone
        self.statements: dict[str, ast.stmt] = {
            names[0]: statement
            for statement in _always_run(init)
            if isinstance(statement, ast.Assign)
            and len(names := attributes_set(statement)) == 1
            and stored[names[0]] == 1
            and all(names[0] in m._modules for m in instances)
        }
        self.placed: dict[int, str | None] = {}

    def after(self, site: _Site) -> str | None:
        """The layer whose statement ``site``'s layer follows (None: the last statement).

        A layer whose constructor reads an attribute (``nn.Dropout(self.p)``)
        is built after the last statement, where every attribute is set.
        """
        if len(site.fed_by) != 1 or site.reads:
            return None  # fed otherwise in other instances or calls
        ((kind, value),) = site.fed_by
        if kind == "site" and value is not None and id(value) in self.placed:
            return self.placed[id(value)]
        return value if kind == "layer" and value in self.statements else None


def _new_init(
    source_class: ast.ClassDef,
    cls: type,
    model: nn.Module,
    names: list[str],
    texts: list[str | None],
    starts: list[int],
) -> Edit | None:
    """An ``__init__`` building the new layers, for a class that has none of its own.

    Makemore's and CLIP's ``NewGELU``/``QuickGELU`` compute in ``forward``
    alone. The new ``__init__`` goes after the class's docstring, before its
    first statement, and calls ``super().__init__()``; only where the
    ``__init__`` the class runs is ``nn.Module``'s, since a base class's
    would no longer run.
    """
    if not runs_module_init([m for m in model.modules() if type(m) is cls]):
        return None
    indent = " " * source_class.body[0].col_offset
    body = [f"{indent}    super().__init__()"]
    body += [f"{indent}    self.{n} = {t}" for n, t in zip(names, texts)]
    text = "\n".join([f"{indent}def __init__(self):", *body]) + "\n\n"
    line, after_docstring = new_init_place(source_class)
    if after_docstring:
        text = "\n" + text
    return starts[line - 1], starts[line - 1], text


def _own_init(source_class: ast.ClassDef) -> ast.FunctionDef | None:
    """The class's own ``__init__``, where new layers can be built."""
    return init_statement(source_class)


def _always_run(init: ast.FunctionDef) -> list[ast.stmt]:
    """The statements of ``__init__``'s body before the first that may return.

    Every build runs them, so a new layer built among them is in every
    instance. denoising-diffusion's ``Attend`` returns early unless it
    runs on CUDA with flash attention: its ``attn_dropout`` is built
    before that, and so is the layer its ``softmax`` becomes.
    """
    body = []
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for statement in init.body:
        if not isinstance(statement, definitions) and any(
            isinstance(node, ast.Return) for node in outside_definitions(statement)
        ):
            break
        body.append(statement)
    return body


def _anchor(init: ast.FunctionDef) -> ast.stmt | None:
    """The last statement ``__init__`` always runs that sets an attribute, or calls ``super().__init__``."""
    setting = [
        s
        for s in _always_run(init)
        if attributes_stored(s)
        or any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and (
                n.func.attr == "__init__"
                or n.func.attr
                in ("register_buffer", "register_parameter", "add_module")
            )
            for n in ast.walk(s)
        )
    ]
    return setting[-1] if setting else None


def _taken_names(source_class: ast.ClassDef, cls: type, model: nn.Module) -> set[str]:
    """The names a new layer of ``cls`` must not take: torch's, the class's, every instance's."""
    taken = set(dir(nn.Module)) | set(dir(cls))
    taken |= {
        n.attr
        for n in ast.walk(source_class)
        if isinstance(n, ast.Attribute) and self_path(n.value) == ""
    }
    taken |= set(attributes_stored(source_class))
    for module in model.modules():
        if type(module) is cls:
            taken |= set(vars(module)) | set(module._modules)
            taken |= set(module._parameters) | set(module._buffers)
    return taken


def _call_edits(
    sites: list[_Site], attributes: dict[int, str], encoded: bytes, starts: list[int]
) -> list[Edit]:
    """Each outermost site's call replaced by its layer's, inner sites rewritten inside."""
    calls = {site.call: site for site in sites}
    return outermost_call_edits(
        calls,
        lambda call: _layer_call(call, calls, attributes, encoded, starts),
        starts,
    )


def _layer_call(
    call: ast.Call,
    calls: dict[ast.Call, _Site],
    attributes: dict[int, str],
    encoded: bytes,
    starts: list[int],
) -> str:
    """``self.<layer>(<inputs>)`` for ``call``, the calls in its inputs rewritten first."""
    site = calls[call]
    written = [
        text_with_calls(
            given,
            calls,
            lambda inner: _layer_call(inner, calls, attributes, encoded, starts),
            encoded,
            starts,
        )
        for given in site.inputs
    ]
    return f"self.{attributes[id(site)]}({', '.join(written)})"


def _expected_model(
    model: nn.Module, builds: _Builds, classes: dict[str, type], rebuilt: nn.Module
) -> nn.Module | None:
    """A copy of ``model`` as the rewritten source builds it: each class's new layers added.

    Each layer is its constructor evaluated on the instance (None where
    one does not build), registered where ``rebuilt`` registers it: a
    layer built right after ``self.decoder = ...`` comes after every layer
    registered before that statement, which is not known from the model
    (``nn.Transformer.__init__`` registered ``decoder`` long before). The
    model's own layers must keep their order.
    """
    expected = copy_model(model)
    built_modules = dict(rebuilt.named_modules(remove_duplicate=False))
    for path, module in expected.named_modules(remove_duplicate=False):
        built = builds.get(type(module).__name__)
        if not built:
            continue
        namespace = {"nn": nn, **globals_of(classes[type(module).__name__])}
        for name, text in built.items():
            try:
                layer = eval(text, dict(namespace), {"self": module})
            except Exception:
                return None
            module.add_module(name, layer)
        order = list(getattr(built_modules.get(path), "_modules", {}))
        own = [key for key in module._modules if key not in built]
        if (
            sorted(order) != sorted(module._modules)
            or [key for key in order if key not in built] != own
        ):
            return None
        module._modules = {key: module._modules[key] for key in order}
    return expected


def _made_as_traced(
    expected: nn.Module, sites: list[_Site], attributes: dict[int, str]
) -> bool:
    """Whether each instance's new layer is the one the trace made at each call it serves."""
    for site in sites:
        for path, layers in site.layers.items():
            built = getattr(expected.get_submodule(path), attributes[id(site)], None)
            if not all(repr(layer) == repr(built) for layer in layers):
                return False
    return True


__all__ = ["with_calls_as_layers"]
