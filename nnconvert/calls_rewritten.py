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
* a layer not built by one statement of ``__init__``'s own body;
* instances of one class whose layer makes different calls;
* a layer the trace calls that no class of the file holds directly (a
  member of an ``nn.Sequential`` or ``nn.ModuleDict``).

A layer built from a parameter it cannot keep as a setting (DINO's
``self.act = act_layer()``) stays a layer, called as written: no function
call honours another ``act_layer``.

The rewritten source, built with its defaults, must build the model
without those layers (:func:`.as_written.same_model`: its settings in
their place), and the equivalence check then runs on it as on any output.
The layers the trace never calls stay as written.
"""

from __future__ import annotations

import ast
import copy
from typing import Any, Callable, Collection, Sequence

import black
import torch
from torch import nn

from .as_written import (
    built_with_defaults,
    has_instance_overrides,
    module_level_names,
    names_bound,
    reads_own_names,
    same_model,
    source_program,
)
from .construction_kept import (
    Runner,
    reached_from_outside,
    without_unread_code,
)
from .copying import copy_model
from .init_arguments import recorded_call
from .opspecs import spec_for_module
from .printer.layer_settings import LayerSetting, entry_setting, layer_settings
from .source_edits import (
    Edit,
    applied,
    line_starts,
    node_span,
    outermost_call_edits,
    text_with_calls,
    with_imports,
)
from .source_text import (
    attributes_set,
    attributes_stored,
    init_statement,
    self_path,
)

#: Converts one layer, given its input, to mixed style: the output's text.
Converter = Callable[[nn.Module, Any], str]

#: How a class reaches a layer: ``("relu",)``, ``("transformer", "drop")``.
Access = tuple[str, ...]


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
    owners = _owners(model, called)
    if owners is None:
        return None
    inputs = _layer_inputs(model, example_inputs, called)
    if inputs is None:
        return None
    convert_layer = _remembering(convert_layer)
    tree = ast.parse(program)
    classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
    encoded = program.encode()
    starts = line_starts(encoded)
    module_names = module_level_names(tree)
    edits: list[Edit] = []
    imports: set[str] = set()
    rewritten: dict[str, list[Access]] = {}
    values: dict[tuple[str, Access], ast.expr] = {}
    for class_name, accesses in owners.items():
        source_class = classes.get(class_name)
        if source_class is None:
            return None  # another file's class
        instances = [m for m in model.modules() if type(m).__name__ == class_name]
        found = _class_edits(
            source_class,
            instances,
            sorted(accesses),
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
        rewritten[class_name] = sorted(found[2])  # a layer kept as written is not
        values.update({(class_name, a): v for a, v in found[2].items()})
    removed = {access[-1] for accesses in rewritten.values() for access in accesses}
    try:
        text = with_imports(applied(encoded, edits).decode(), imports)
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
        rebuilt = built_with_defaults(merged, run)
    if rebuilt is None:
        return None
    expected = _rewritten_model(model, rewritten, values)
    return merged if same_model(expected, rebuilt) else None


def _remembering(convert_layer: Converter) -> Converter:
    """``convert_layer``, once for each kind of layer and input: twelve blocks' dropouts are one."""
    texts: dict[tuple, str] = {}

    def converted(layer: nn.Module, example: Any) -> str:
        key = (type(layer), repr(layer), tuple(example.shape), example.dtype)
        if key not in texts:
            texts[key] = convert_layer(layer, example)
        return texts[key]

    return converted


def _owners(model: nn.Module, called: Collection[str]) -> dict[str, set[Access]] | None:
    """The layers at the ``called`` paths, as each class reaches them; None for one no class holds.

    ``("relu",)`` for ``self.relu``; ``("transformer", "drop")`` for
    nanoGPT's ``self.transformer.drop``, a key of an ``nn.ModuleDict`` the
    class holds. A member of an ``nn.Sequential`` is no class's.
    """
    modules = dict(model.named_modules(remove_duplicate=False))
    owners: dict[str, set[Access]] = {}
    for path in called:
        parent, _, attribute = path.rpartition(".")
        owner, access = modules.get(parent), (attribute,)
        if type(owner) is nn.ModuleDict:
            grandparent, _, container = parent.rpartition(".")
            owner, access = modules.get(grandparent), (container, attribute)
        if owner is None or _layer_at(owner, access) is None:
            return None
        owners.setdefault(type(owner).__name__, set()).add(access)
    return owners


def _layer_at(module: nn.Module, access: Access) -> nn.Module | None:
    for name in access:
        module = module._modules.get(name)  # type: ignore[assignment]
        if module is None:
            return None
    return module


def _setting(
    module: nn.Module, access: Access, value: ast.expr | None
) -> LayerSetting | None:
    """The setting of the layer ``access`` reaches, as :mod:`.printer.layer_settings` names it."""
    if len(access) == 1:
        return layer_settings(module).get(access[0])
    return entry_setting(module, *access, value) if value is not None else None


def _rewritten_model(
    model: nn.Module,
    rewritten: dict[str, list[Access]],
    values: dict[tuple[str, Access], ast.expr],
) -> nn.Module:
    """A copy of ``model`` as the rewritten source builds it: without the rewritten layers.

    ``rewritten``: the layers, by class name; a layer kept as a setting
    (:mod:`.printer.layer_settings`) leaves its value in its place.
    """
    expected = copy_model(model)
    for module in expected.modules():
        for access in rewritten.get(type(module).__name__, []):
            value = values.get((type(module).__name__, access))
            setting = _setting(module, access, value)
            holder = _layer_at(module, access[:-1]) if len(access) > 1 else module
            assert holder is not None
            layer = holder._modules.pop(access[-1])
            if setting is not None:
                setattr(module, setting.name, getattr(layer, setting.parameter))
    return expected


def _class_edits(
    source_class: ast.ClassDef,
    instances: list[nn.Module],
    accesses: list[Access],
    inputs: dict[int, Any],
    convert_layer: Converter,
    encoded: bytes,
    starts: list[int],
    module_names: set[str],
) -> tuple[list[Edit], set[str], dict[Access, ast.expr]] | None:
    """The edits rewriting one class's calls of its layers, the imports they need, what builds each."""
    templates: dict[Access, str] = {}
    imports: set[str] = set()
    edits: list[Edit] = []
    built: dict[Access, ast.expr] = {}
    builders: set[int] = set()
    keys: dict[ast.Assign, list[ast.expr]] = {}
    headings: dict[Access, list[str]] = {}  # comment lines moving to the first call
    for access in accesses:
        place = _built_at(source_class, access)
        if place is None:
            return None
        statement, value = place
        found = _layer_rewrite(instances, access, value, inputs, convert_layer)
        if reads_own_names(value, module_names) and (found is None or found[1] is None):
            # built from a parameter no call's literal would honour (DINO's
            # ``self.act = act_layer()``, CLIP's ``nn.AvgPool2d(stride) if
            # stride > 1 else nn.Identity()``): it stays a layer, as written
            continue
        if found is None:
            return None
        template, setting, layer_imports = found
        templates[access] = template
        imports |= layer_imports
        built[access] = value
        edit = _built_edits(statement, value, setting, encoded, starts)
        if edit is None:
            return None
        edits += edit
        if value is statement.value and not setting:
            heading = _heading(statement, encoded, starts)
            if heading is not None:
                edits.append(heading[0])
                headings[access] = heading[1]
        if value is not statement.value:
            keys.setdefault(statement, []).append(value)
        builders |= {id(n) for n in ast.walk(statement if len(access) == 1 else value)}
    for statement, values in keys.items():
        found_edits = _entries_edits(statement.value, values, starts)
        if found_edits is None:
            return None
        edits += found_edits
    calls: dict[ast.Call, str] = {}
    for node in ast.walk(source_class):
        access = _access(node.func) if isinstance(node, ast.Call) else None
        if access in templates:
            assert isinstance(node, ast.Call) and access is not None
            if (
                len(node.args) != 1
                or node.keywords
                or isinstance(node.args[0], ast.Starred)
            ):
                return None
            calls[node] = templates[access]
    functions = {id(c.func) for c in calls}
    if any(
        _access(node) in templates and id(node) not in functions | builders
        for node in ast.walk(source_class)
    ):
        return None  # read otherwise than called: passed on, iterated
    dict_keys = {access[-1] for access in templates if len(access) > 1}
    if any(
        isinstance(node, ast.Attribute)
        and node.attr in dict_keys
        and _access(node) is None
        for node in ast.walk(source_class)
    ):
        return None  # a key read through another name: minGPT's ``m = self.mlp``
    edits += outermost_call_edits(
        calls, lambda call: _rewritten(call, calls, encoded, starts), starts
    )
    edits += _headings_moved(source_class, calls, headings, starts)
    return edits, imports, built


def _heading(
    statement: ast.stmt, encoded: bytes, starts: list[int]
) -> tuple[Edit, list[str]] | None:
    """The comment lines right above a statement that goes, when they head it alone.

    Fast neural style's ``# Non-linearities`` above ``self.relu =
    torch.nn.ReLU()``, the last statement of ``__init__``: with the
    statement gone it would head nothing. Lines of comments directly above
    the statement (no blank line between) whose paragraph ends with it (a
    blank line or the end of the block after it) go, and are said above the
    first statement calling the layer (:func:`_headings_moved`), as the
    printer says such a comment where the layer is first used. The edit
    taking them out, and their text.
    """
    lines = encoded.split(b"\n")
    after = lines[statement.end_lineno] if statement.end_lineno < len(lines) else b""
    indent = len(after) - len(after.lstrip())
    if after.strip() and indent >= statement.col_offset:
        return None  # a statement follows: the comment may head it too
    row = statement.lineno - 1  # the line above, numbered from 1
    texts: list[str] = []
    while row >= 1 and lines[row - 1].strip().startswith(b"#"):
        texts.insert(0, lines[row - 1].strip().decode())
        row -= 1
    if not texts:
        return None
    return (starts[row], starts[statement.lineno - 1], ""), texts


def _headings_moved(
    source_class: ast.ClassDef,
    calls: dict[ast.Call, str],
    headings: dict[Access, list[str]],
    starts: list[int],
) -> list[Edit]:
    """The edits saying each moved heading above the first statement calling its layer."""
    if not headings:
        return []
    enclosing: dict[int, ast.stmt] = {}
    for statement in ast.walk(source_class):
        if isinstance(statement, ast.stmt) and not isinstance(
            statement, (ast.ClassDef, ast.FunctionDef)
        ):
            for node in ast.walk(statement):
                enclosing[id(node)] = statement  # the innermost last
    edits: list[Edit] = []
    for access, texts in headings.items():
        found = sorted(
            (c.lineno, c.col_offset, c) for c in calls if _access(c.func) == access
        )
        if not found:
            continue
        statement = enclosing[id(found[0][2])]
        indent = " " * statement.col_offset
        text = "".join(f"{indent}{line}\n" for line in texts)
        edits.append((starts[statement.lineno - 1], starts[statement.lineno - 1], text))
    return edits


def _layer_rewrite(
    instances: list[nn.Module],
    access: Access,
    value: ast.expr,
    inputs: dict[int, Any],
    convert_layer: Converter,
) -> tuple[str, str | None, set[str]] | None:
    """The call template of one layer, the statement keeping its setting, and the imports.

    The same for every instance, or None.
    """
    found = set()
    imports: set[str] = set()
    for module in instances:
        layer = _layer_at(module, access)
        if layer is None or id(layer) not in inputs:
            return None
        setting = _setting(module, access, value)
        template = _call_template(layer, inputs[id(layer)], setting, convert_layer)
        if template is None:
            return None
        statement = setting.statement if setting is not None else None
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
        if isinstance(n, ast.Attribute) and self_path(n.value) == ""
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


def _rewritten(
    call: ast.Call, calls: dict[ast.Call, str], encoded: bytes, starts: list[int]
) -> str:
    """``call`` as its template, its argument's own layer calls rewritten first."""
    written = text_with_calls(
        call.args[0],
        calls,
        lambda inner: _rewritten(inner, calls, encoded, starts),
        encoded,
        starts,
    )
    return calls[call].replace(_INPUT, written)


def _built_edits(
    statement: ast.Assign,
    value: ast.expr,
    setting: str | None,
    encoded: bytes,
    starts: list[int],
) -> list[Edit] | None:
    """The edits taking a layer out of its statement, or making the statement set its setting.

    A statement alone on its lines goes, or sets the setting instead
    (``setting``; empty where the class already holds it, as
    :attr:`~.printer.layer_settings.LayerSetting.statement` is). A key of
    an ``nn.ModuleDict`` goes from the dict, with its comma, and the
    setting is set right after the statement building the dict.
    """
    start, end = node_span(statement, starts)
    line_start = starts[statement.lineno - 1]
    line_end = starts[statement.end_lineno or statement.lineno] - 1
    before, after = encoded[line_start:start], encoded[end:line_end]
    if before.strip() or after.strip() and not after.strip().startswith(b"#"):
        return None
    if value is statement.value:
        if not setting:  # none, or the class already holds it
            return [(line_start, line_end + 1, "")]
        return [(start, end, setting)]
    if not setting:
        return []  # the key goes with the others (:func:`_entries_edits`)
    indent = " " * statement.col_offset
    return [(line_end, line_end, f"\n{indent}{setting}")]


def _entries_edits(
    container: ast.expr, values: list[ast.expr], starts: list[int]
) -> list[Edit] | None:
    """The edits taking entries out of a dict's ``dict(...)`` or ``{...}``, with the commas parting them.

    Each run of entries goes from its first one to the next entry kept, or
    after the last ones, from the end of the entry kept before them. A dict
    left empty is refused.
    """
    assert isinstance(container, ast.Call)
    given = container.args[0]
    if isinstance(given, ast.Call):
        entries = [(k, k.value) for k in given.keywords]
    else:
        assert isinstance(given, ast.Dict)
        entries = [(k, v) for k, v in zip(given.keys, given.values) if k is not None]
    gone = [any(v is value for value in values) for _, v in entries]
    if all(gone):
        return None
    edits = []
    index = 0
    while index < len(entries):
        if not gone[index]:
            index += 1
            continue
        last = index
        while last + 1 < len(entries) and gone[last + 1]:
            last += 1
        if last + 1 < len(entries):
            span = (
                node_span(entries[index][0], starts)[0],
                node_span(entries[last + 1][0], starts)[0],
            )
        else:
            span = (
                node_span(entries[index - 1][1], starts)[1],
                node_span(entries[last][1], starts)[1],
            )
        edits.append((*span, ""))
        index = last + 1
    return edits


def _built_at(
    source_class: ast.ClassDef, access: Access
) -> tuple[ast.Assign, ast.expr] | None:
    """The statement of ``__init__``'s own body building a layer, and the expression that does.

    ``self.relu = nn.ReLU()``; for a key of an ``nn.ModuleDict``, the
    statement building the dict and the key's value in it
    (``drop=nn.Dropout(config.dropout)`` in ``nn.ModuleDict(dict(...))``
    or ``{"drop": ...}``). The attribute must be set by no other statement
    of the class.
    """
    init = init_statement(source_class)
    if init is None or attributes_stored(source_class)[access[0]] != 1:
        return None
    statement = next((s for s in init.body if attributes_set(s) == [access[0]]), None)
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
        return None
    if len(access) == 1:
        return statement, statement.value
    entries = _dict_entries(statement.value)
    value = entries.get(access[1]) if entries is not None else None
    return (statement, value) if value is not None else None


def _dict_entries(value: ast.expr) -> dict[str, ast.expr] | None:
    """The keys of ``nn.ModuleDict(dict(k=...))`` or ``nn.ModuleDict({"k": ...})`` and their values."""
    if not isinstance(value, ast.Call) or len(value.args) != 1 or value.keywords:
        return None
    (given,) = value.args
    if (
        isinstance(given, ast.Call)
        and isinstance(given.func, ast.Name)
        and given.func.id == "dict"
        and not given.args
        and all(k.arg for k in given.keywords)
    ):
        return {k.arg: k.value for k in given.keywords if k.arg}
    if isinstance(given, ast.Dict) and all(
        isinstance(k, ast.Constant) and isinstance(k.value, str) for k in given.keys
    ):
        return {k.value: v for k, v in zip(given.keys, given.values)}  # type: ignore[union-attr]
    return None


def _access(node: ast.AST) -> Access | None:
    """``("relu",)`` for ``self.relu``; ``("transformer", "drop")`` for ``self.transformer.drop`` or ``self.transformer["drop"]``."""
    if isinstance(node, ast.Attribute) and self_path(node.value) == "":
        return (node.attr,)
    if isinstance(node, ast.Attribute):
        key: Any = node.attr
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        key = node.slice.value
    else:
        return None
    inner = node.value
    if (
        isinstance(key, str)
        and isinstance(inner, ast.Attribute)
        and self_path(inner.value) == ""
    ):
        return (inner.attr, key)
    return None


__all__ = ["LayerAlone", "with_layer_calls_rewritten"]
