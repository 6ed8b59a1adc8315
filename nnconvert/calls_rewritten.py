"""Mixed style: the model's source with its parameter-free layer calls written as functions.

Going from a source in module style to mixed style changes one thing: a
layer without tensors is called as a function (``self.attn_dropout(att)``
becomes ``F.dropout(att, self.attn_dropout, self.training)``) and no longer
built in ``__init__``. Printed from the trace, the classes lose what one
trace does not run: nanoGPT's ``if self.flash:`` and its manual attention
beside it, llama2.c's the same, a ViT's ``pool`` choice. So where it holds
together, the output is the source itself with those calls rewritten in
place, wherever the class's methods make them, and the statements building
the layers gone (:mod:`.construction_kept` does the same for the statements;
it replaces the methods by printed ones, this keeps them).

Each call ``self.<layer>(<argument>)`` becomes the call mixed style prints
for that layer (:func:`_call_template`: the layer alone, converted), with
the source's argument in place of its input. A layer built with one
argument that is an expression (``nn.Dropout(config.dropout)``) keeps it as
a setting, as the printer does (:mod:`.printer.layer_settings`):
``self.attn_dropout = config.dropout``, read by the call. Refused, so that
the merge or the printed output stands:

* a layer the class uses otherwise than by a call with one argument
  (passed on, iterated, read through another object);
* a layer not built by one statement of ``__init__``'s own body, or built
  from a parameter it cannot keep as a setting (``act_layer()``);
* instances of one class whose layer makes different calls;
* a layer the trace calls that no class of the file holds directly (a
  member of an ``nn.Sequential`` or ``nn.ModuleDict``).

The rewritten source, built with its defaults, must build the model
without those layers (:func:`.as_written.same_model`: its settings in
their place), and the equivalence check then runs on it as on any output.
The layers the trace never calls stay as written.
"""

from __future__ import annotations

import ast
import builtins
import copy
from typing import Any, Callable, Collection, Sequence

import black
import torch
from torch import nn

from .as_written import (
    has_instance_overrides,
    names_bound,
    names_read,
    same_model,
    source_program,
)
from .construction_kept import (
    Runner,
    import_place,
    reached_from_outside,
    without_unread_code,
)
from .copying import copy_model
from .init_arguments import recorded_call
from .opspecs import spec_for_module
from .printer.layer_settings import LayerSetting, layer_settings

#: Converts one layer, given its input, to mixed style: the output's text.
Converter = Callable[[nn.Module, Any], str]

#: A replacement of the program's bytes ``start:end`` by ``text``.
_Edit = tuple[int, int, str]


def with_layer_calls_rewritten(
    model: nn.Module,
    name: str,
    run: Runner,
    example_inputs: Sequence[Any],
    called: Collection[str],
    convert_layer: Converter,
) -> str | None:
    """``model``'s source with the ``called`` layers' calls rewritten, or None where it fails.

    ``called``: the paths of the layers the printed output calls as
    functions; ``convert_layer`` prints one layer alone in mixed style.
    """
    if type(model).__name__ != name or has_instance_overrides(model) or not called:
        return None
    program, _ = source_program(model, lists_as_tuples=False)
    if program is None:
        return None
    modules = dict(model.named_modules(remove_duplicate=False))
    owners: dict[str, list[tuple[nn.Module, str]]] = {}
    for path in called:
        parent, _, attribute = path.rpartition(".")
        owner = modules.get(parent)
        if owner is None or attribute not in owner._modules:
            return None
        owners.setdefault(type(owner).__name__, []).append((owner, attribute))
    inputs = _layer_inputs(model, example_inputs, called)
    if inputs is None:
        return None
    convert_layer = _remembering(convert_layer)
    tree = ast.parse(program)
    classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
    encoded = program.encode()
    starts = _line_starts(encoded)
    module_names = {n for s in tree.body for n in names_bound(s)} | set(dir(builtins))
    edits: list[_Edit] = []
    imports: set[str] = set()
    removed: set[str] = set()
    rewritten: dict[str, list[str]] = {}
    for class_name, held in owners.items():
        source_class = classes.get(class_name)
        if source_class is None:
            return None  # a Sequential's member, another file's class
        instances = [m for m in model.modules() if type(m).__name__ == class_name]
        attributes = sorted({a for _, a in held})
        found = _class_edits(
            source_class,
            instances,
            attributes,
            inputs,
            convert_layer,
            encoded,
            starts,
            module_names,
        )
        if found is None:
            return None
        edits += found[0]
        imports |= found[1]
        removed |= set(attributes)
        rewritten[class_name] = attributes
    text = _applied(encoded, edits).decode()
    try:
        text = _with_imports(text, imports)
        merged = black.format_str(
            without_unread_code(text.split("\n")), mode=black.Mode()
        )
        merged_tree = ast.parse(merged)
    except Exception:
        return None
    bound = {n for s in merged_tree.body for n in names_bound(s)}
    if reached_from_outside(_without_config_reads(merged_tree, model), removed, bound):
        return None
    with torch.random.fork_rng(devices=[]):  # building draws; the caller's draws stay
        try:
            rebuilt = run(merged)()
        except (Exception, SystemExit):
            return None
    return merged if same_model(_rewritten_model(model, rewritten), rebuilt) else None


def _remembering(convert_layer: Converter) -> Converter:
    """``convert_layer``, once for each kind of layer and input: twelve blocks' dropouts are one."""
    texts: dict[tuple, str] = {}

    def converted(layer: nn.Module, example: Any) -> str:
        key = (type(layer), repr(layer), tuple(example.shape), example.dtype)
        if key not in texts:
            texts[key] = convert_layer(layer, example)
        return texts[key]

    return converted


def _rewritten_model(model: nn.Module, rewritten: dict[str, list[str]]) -> nn.Module:
    """A copy of ``model`` as the rewritten source builds it: without the rewritten layers.

    ``rewritten``: the layers' attributes, by class name; a layer kept as a
    setting (:mod:`.printer.layer_settings`) leaves its value in its place.
    """
    expected = copy_model(model)
    for module in expected.modules():
        for attribute in rewritten.get(type(module).__name__, []):
            setting = layer_settings(module).get(attribute)
            layer = module._modules.pop(attribute)
            if setting is not None:
                setattr(module, setting.name, getattr(layer, setting.parameter))
    return expected


def _class_edits(
    source_class: ast.ClassDef,
    instances: list[nn.Module],
    attributes: list[str],
    inputs: dict[int, Any],
    convert_layer: Converter,
    encoded: bytes,
    starts: list[int],
    module_names: set[str],
) -> tuple[list[_Edit], set[str]] | None:
    """The edits rewriting one class's calls of its layers ``attributes``, and the imports they need."""
    templates: dict[str, str] = {}
    imports: set[str] = set()
    edits: list[_Edit] = []
    builders: set[int] = set()
    for attribute in attributes:
        found = _layer_rewrite(instances, attribute, inputs, convert_layer)
        builder = _builder(source_class, attribute)
        if found is None or builder is None:
            return None
        templates[attribute], statement, layer_imports = found
        imports |= layer_imports
        if statement is None and names_read(builder) - {"self"} - module_names:
            return None  # built from a parameter the call's literal would not honour
        edit = _statement_edit(builder, statement, encoded, starts)
        if edit is None:
            return None
        edits.append(edit)
        builders |= {id(n) for n in ast.walk(builder)}
    calls: dict[ast.Call, str] = {}
    for node in ast.walk(source_class):
        attribute = _called_layer(node)
        if attribute in templates:
            assert isinstance(node, ast.Call)
            if (
                len(node.args) != 1
                or node.keywords
                or isinstance(node.args[0], ast.Starred)
            ):
                return None
            calls[node] = templates[attribute]
    functions = {id(c.func) for c in calls}
    if any(
        isinstance(node, ast.Attribute)
        and _is_self(node.value)
        and node.attr in templates
        and id(node) not in functions | builders
        for node in ast.walk(source_class)
    ):
        return None  # read otherwise than called: passed on, iterated
    for call in calls:
        if not any(_inside(call, other) for other in calls if other is not call):
            start, end = _span(call, starts)
            edits.append((start, end, _rewritten(call, calls, encoded, starts)))
    return edits, imports


def _layer_rewrite(
    instances: list[nn.Module],
    attribute: str,
    inputs: dict[int, Any],
    convert_layer: Converter,
) -> tuple[str, str | None, set[str]] | None:
    """The call template of one layer, the statement keeping its setting, and the imports.

    The same for every instance, or None.
    """
    found = set()
    imports: set[str] = set()
    for module in instances:
        layer = module._modules.get(attribute)
        if layer is None or id(layer) not in inputs:
            return None
        setting = layer_settings(module).get(attribute)
        template = _call_template(layer, inputs[id(layer)], setting, convert_layer)
        if template is None:
            return None
        statement = (
            f"self.{setting.name} = {ast.unparse(setting.expression)}"
            if setting is not None
            else None
        )
        found.add((template[0], statement))
        imports |= template[1]
    if len(found) != 1:
        return None  # the instances' calls differ: each needs its own literal
    ((template, statement),) = found
    return template, statement, imports


#: Stands for the layer's input in a call template.
_INPUT = "__nnconvert_input__"


def _call_template(
    layer: nn.Module,
    example: Any,
    setting: LayerSetting | None,
    convert_layer: Converter,
) -> tuple[str, set[str]] | None:
    """The call mixed style makes for ``layer`` with :data:`_INPUT` as its input, and its imports.

    The layer alone, converted (:class:`LayerAlone`): ``F.dropout(x, p=0.1,
    training=self.training)``. With a ``setting``, its argument reads the
    attribute instead (``p=self.attn_dropout``).
    """
    try:
        text = convert_layer(layer, example)
    except Exception:
        return None
    tree = ast.parse(text)
    imports = {
        ast.unparse(s) for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))
    }
    forward = next(
        (
            f
            for c in tree.body
            if isinstance(c, ast.ClassDef)
            for f in c.body
            if isinstance(f, ast.FunctionDef) and f.name == "forward"
        ),
        None,
    )
    if forward is None or len(forward.args.args) != 2:
        return None
    call, given = _returned_call(forward.body), forward.args.args[1].arg
    if call is None:
        return None
    inputs = [n for n in ast.walk(call) if isinstance(n, ast.Name) and n.id == given]
    if len(inputs) != 1 or inputs[0] not in call.args:
        return None  # the input is not the call's argument: not a plain call
    reads = {
        n.attr
        for n in ast.walk(call)
        if isinstance(n, ast.Attribute) and _is_self(n.value)
    }
    if not reads <= {"training"}:
        return None
    inputs[0].id = _INPUT
    if setting is not None and not _reads_setting(call, layer, setting):
        return None
    return ast.unparse(call), imports


def _returned_call(body: list[ast.stmt]) -> ast.Call | None:
    """The call ``return F.gelu(x)`` returns, or ``x = F.gelu(x)`` then ``return x``."""
    if len(body) == 1 and isinstance(body[0], ast.Return):
        value = body[0].value
    elif (
        len(body) == 2
        and isinstance(body[0], ast.Assign)
        and len(body[0].targets) == 1
        and isinstance(body[0].targets[0], ast.Name)
        and isinstance(body[1], ast.Return)
        and isinstance(body[1].value, ast.Name)
        and body[1].value.id == body[0].targets[0].id
    ):
        value = body[0].value
    else:
        return None
    return value if isinstance(value, ast.Call) else None


def _reads_setting(call: ast.Call, layer: nn.Module, setting: LayerSetting) -> bool:
    """Write the call's argument for ``setting`` as ``self.<name>``; whether it has that argument."""
    value = getattr(layer, setting.parameter, None)
    parameters = [p.name for p in spec_for_module(layer).parameters]
    read = ast.Attribute(ast.Name("self", ast.Load()), setting.name, ast.Load())
    for keyword in call.keywords:
        if keyword.arg == setting.parameter:
            if not _holds_literal(keyword.value, value):
                return False
            keyword.value = read
            return True
    if setting.parameter in parameters:
        index = parameters.index(setting.parameter)
        if index < len(call.args) and _holds_literal(call.args[index], value):
            call.args[index] = read
            return True
    return False


def _holds_literal(node: ast.expr, value: Any) -> bool:
    try:
        written = ast.literal_eval(node)
    except ValueError:
        return False
    return type(written) is type(value) and written == value


class LayerAlone(nn.Module):
    """One layer called on its input: what mixed style makes of a call of it."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def _layer_inputs(
    model: nn.Module, example_inputs: Sequence[Any], paths: Collection[str]
) -> dict[int, Any] | None:
    """The first input each layer at ``paths`` is called with, by the layer's ``id``.

    None where one is not called, or called on inputs of different ranks
    or dtypes (one template would not serve them all: ``nn.Softmax()``
    picks its dimension by rank). A copy of the model runs once on the
    example inputs, in eval mode, without gradients and with the caller's
    random state kept: the model itself is left as it was (llama2.c's
    ``forward`` sets ``self.last_loss``).
    """
    copied = copy_model(model)
    layers = dict(model.named_modules(remove_duplicate=False))
    copies = dict(copied.named_modules(remove_duplicate=False))
    seen: dict[int, Any] = {}
    kinds: dict[int, set[tuple[int, torch.dtype]]] = {}

    def recorder(path: str) -> Callable[[nn.Module, tuple], None]:
        def record(_: nn.Module, args: tuple) -> None:
            if args and isinstance(args[0], torch.Tensor):
                key = id(layers[path])
                seen.setdefault(key, args[0].detach().clone())
                kinds.setdefault(key, set()).add((args[0].dim(), args[0].dtype))

        return record

    hooks = [copies[p].register_forward_pre_hook(recorder(p)) for p in paths]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            copied.eval()(*example_inputs)
    except Exception:
        return None
    finally:
        for hook in hooks:
            hook.remove()
    if any(len(k) > 1 for k in kinds.values()):
        return None
    return seen if all(id(layers[p]) in seen for p in paths) else None


def _without_config_reads(tree: ast.Module, model: nn.Module) -> ast.Module:
    """``tree`` without the ``__init__`` methods whose parameters were given no layer.

    llama2.c's ``nn.Dropout(args.dropout)`` reads a field named as the
    layer it builds, ``self.dropout``, from the ``args`` every instance was
    given; only a module handed in could hold the layer itself.
    """
    plain = {
        type(m).__name__
        for m in model.modules()
        if (recorded := recorded_call(m)) is not None
        and not any(isinstance(v, nn.Module) for v in recorded.values())
    } - {type(m).__name__ for m in model.modules() if recorded_call(m) is None}
    kept = copy.copy(tree)
    kept.body = []
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef) and statement.name in plain:
            statement = copy.copy(statement)
            statement.body = [
                s
                for s in statement.body
                if not (isinstance(s, ast.FunctionDef) and s.name == "__init__")
            ]
        kept.body.append(statement)
    return kept


# --- the source's text, edited in place ---


def _line_starts(encoded: bytes) -> list[int]:
    """The byte offset each line starts at, and one past the end."""
    starts = [0]
    for index, byte in enumerate(encoded):
        if byte == 10:  # "\n"
            starts.append(index + 1)
    starts.append(len(encoded) + 1)
    return starts


def _span(node: ast.AST, starts: list[int]) -> tuple[int, int]:
    """A node's bytes in the program (``ast`` columns count UTF-8 bytes)."""
    start = starts[node.lineno - 1] + node.col_offset
    end = starts[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
    return start, end


def _inside(node: ast.AST, other: ast.AST) -> bool:
    """Whether ``node`` lies within ``other``."""
    return any(n is node for n in ast.walk(other)) and node is not other


def _rewritten(
    call: ast.Call, calls: dict[ast.Call, str], encoded: bytes, starts: list[int]
) -> str:
    """``call`` as its template, its argument's own layer calls rewritten first."""
    argument = call.args[0]
    start, end = _span(argument, starts)
    inner = [c for c in calls if _inside(c, argument) or c is argument]
    outermost = [
        c for c in inner if not any(_inside(c, o) for o in inner if o is not c)
    ]
    text = encoded[start:end]
    for inner_call in sorted(outermost, key=lambda c: _span(c, starts), reverse=True):
        inner_start, inner_end = _span(inner_call, starts)
        replacement = _rewritten(inner_call, calls, encoded, starts).encode()
        text = text[: inner_start - start] + replacement + text[inner_end - start :]
    written = text.decode()
    if isinstance(argument, ast.NamedExpr):
        written = f"({written})"
    return calls[call].replace(_INPUT, written)


def _statement_edit(
    builder: ast.stmt, statement: str | None, encoded: bytes, starts: list[int]
) -> _Edit | None:
    """The edit taking the statement building a layer out, or making it set the layer's setting.

    Only a statement alone on its lines.
    """
    start, end = _span(builder, starts)
    line_start = starts[builder.lineno - 1]
    line_end = starts[builder.end_lineno or builder.lineno] - 1
    before, after = encoded[line_start:start], encoded[end:line_end]
    if before.strip() or after.strip() and not after.strip().startswith(b"#"):
        return None
    if statement is None:
        return line_start, line_end + 1, ""
    return start, end, statement


def _applied(encoded: bytes, edits: list[_Edit]) -> bytes:
    """``encoded`` with the edits made, from the last one up; they must not overlap."""
    ordered = sorted(edits, key=lambda e: (e[0], e[1]))
    for (_, end, _), (start, _, _) in zip(ordered, ordered[1:]):
        if start < end:
            raise ValueError("overlapping edits")
    for start, end, text in reversed(ordered):
        encoded = encoded[:start] + text.encode() + encoded[end:]
    return encoded


def _with_imports(text: str, imports: set[str]) -> str:
    """``text`` with each of ``imports`` binding a name it does not bind yet, in place among its own."""
    tree = ast.parse(text)
    bound = {n for s in tree.body for n in names_bound(s)}
    source_imports = [
        s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))
    ]
    lines = text.split("\n")
    added: dict[int, list[str]] = {}
    for line in sorted(imports):
        statement = ast.parse(line).body[0]
        assert isinstance(statement, (ast.Import, ast.ImportFrom))
        if set(names_bound(statement)) - bound:
            added.setdefault(import_place(statement, source_imports), []).append(line)
            bound |= set(names_bound(statement))
    for place in sorted(added, reverse=True):
        lines[place - 1 : place - 1] = added[place]
    return "\n".join(lines)


# --- the class's text ---


def _builder(source_class: ast.ClassDef, attribute: str) -> ast.stmt | None:
    """The statement of ``__init__``'s own body building the layer, where it is the class's only one."""
    init = next(
        (
            f
            for f in source_class.body
            if isinstance(f, ast.FunctionDef) and f.name == "__init__"
        ),
        None,
    )
    setting = [
        node
        for node in ast.walk(source_class)
        for target in getattr(node, "targets", [getattr(node, "target", None)])
        if isinstance(target, ast.Attribute)
        and _is_self(target.value)
        and target.attr == attribute
    ]
    if init is None or len(setting) != 1 or setting[0] not in init.body:
        return None
    return setting[0] if isinstance(setting[0], ast.Assign) else None


def _called_layer(node: ast.AST) -> str | None:
    """``relu`` for ``self.relu(...)``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and _is_self(node.func.value)
    ):
        return node.func.attr
    return None


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


__all__ = ["LayerAlone", "with_layer_calls_rewritten"]
