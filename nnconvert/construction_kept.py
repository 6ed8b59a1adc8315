"""Class styles: the model's own construction kept, only its computation rewritten.

A model written in mixed style (kuangliu's CIFAR models, the tutorial's
LeNet) builds its layers with code one trace does not see:
``self._make_layer(block, 128, num_blocks[1], stride=2)``, a ``cfg``
table, a ``block`` class passed in. Printed from the trace, module style
spells the built tree out (``nn.Sequential(BasicBlock(64, 128, stride=2),
BasicBlock(128, 128))``) and the root loses ``block`` and ``num_blocks``.
Yet going from mixed to module style changes only the computation:
``F.relu(out)`` becomes the call of an ``nn.ReLU`` layer. So where it holds
together, the module output is the model's source as :mod:`.as_written`
keeps it (its classes with their builder methods, the tables, helper
functions and imports they read, the root's arguments as defaults) with,
in each class the printer adds layers to, the methods it wrote from the
trace in place of the source's (``forward`` and the helpers it reaches)
and, in ``__init__``, the printed statements that build what those methods
call and the source does not hold (``self.relu1 = nn.ReLU()``, right after
the statement building the layer ``forward`` calls before it). A class
the printer adds no layer to already is in module style and stays as
written, its ``forward`` too (TCN's, nanoGPT's: their untaken branches
and asserts with them); a model all of whose classes are so is its own
module output, kept when it builds the same model (as
:mod:`.as_written` checks it).

It holds together when every printed class is one class of the source (a
class split into shapes, DLA's ``Tree`` and ``Tree2``, only kept whole:
every shape adds no layer), the printed output has
no module-level code but imports, classes and the file's own definitions,
each added statement reads only module-level names and the source
``__init__``'s parameters, and the program, built with its defaults, has
the original's ``state_dict`` (keys in order, shapes, dtypes, ties) and
every layer of the printed output, with the plain attributes and buffers
the printed methods read (an empty container, which the printer writes as
the identity it computes, aside). The equivalence check then runs on it as
on any output. Otherwise the printed output stands.

Mixed style merges the same way, for a source that is not already its own
mixed output (:mod:`.as_written`): where the printer calls a stateless
layer as a function (``F.relu`` for ``self.relu``), the printed methods
replace the source's and the statement of ``__init__`` that builds the
layer goes (:func:`_removed_statements`).
"""

from __future__ import annotations

import ast
import builtins
import inspect
import sys
from collections import Counter
from typing import Collection

import black
import torch
from torch import nn

from .as_written import (
    Runner,
    built_lightly,
    built_with_defaults,
    equal_values,
    has_instance_overrides,
    import_text,
    is_empty_container,
    is_future,
    names_bound,
    names_read,
    plain_attributes,
    reads_own_names,
    same_kind,
    same_model,
    source_program,
    tensor_ties,
)
from .printer.layer_settings import layer_settings
from .source_text import (
    docstring_node,
    every_argument,
    methods_called,
    self_attributes,
)

#: An edit of the program's lines: replace ``first..last`` (1-based,
#: inclusive; ``last == first - 1`` inserts before ``first``) by ``lines``.
Edit = tuple[int, int, list[str]]


def with_source_construction(
    model: nn.Module,
    name: str,
    printed: str,
    run: Runner,
    *,
    called: Collection[str] | None = None,
) -> str | None:
    """``model``'s source with the printed methods, or None when it does not hold.

    ``printed`` is the output printed from the trace; ``run`` runs a source
    as a file and returns its class ``name``. ``called`` (mixed style): the
    paths of the layers the printer calls as functions (``self.relu =
    nn.ReLU()``), which are taken out of the source's ``__init__``
    (:func:`_removed_statements`); a layer the trace never called
    (nanoGPT's ``attn_dropout`` beside flash attention) stays as written.
    Otherwise a source layer the printed class does not hold refuses the
    merge (:func:`_dropped`).
    """
    if type(model).__name__ != name or has_instance_overrides(model):
        return None
    with torch.random.fork_rng(devices=[]):  # building draws; the caller's draws stay
        try:
            printed_model = built_lightly(run(printed))
        except Exception:
            return None
        layers: dict[str, set[str]] = {}
        for module in printed_model.modules():
            layers.setdefault(type(module).__name__, set()).update(module._modules)
        shapes = _shapes(model, printed_model)
        for lists_as_tuples in (True, False):
            program, tupled = source_program(model, lists_as_tuples)
            if program is None:
                return None
            merged, whole = _merged(program, printed, model, shapes, layers, called)
            if merged is not None and holds(
                model, printed_model, merged, whole, run, unchanged=merged == program
            ):
                return merged
            if not tupled:  # no list was written otherwise: trying again is the same
                return None
    return None


def _shapes(model: nn.Module, printed_model: nn.Module) -> dict[str, list[nn.Module]]:
    """The original's modules each printed class stands for, found by their paths.

    A class the printer split into shapes (``Tree``, ``Tree2``: one per way
    its instances are built) has one entry per shape. A module held at two
    paths (TCN's ``self.chomp1``, also ``self.net[1]``) is found by either.
    """
    original = dict(model.named_modules(remove_duplicate=False))
    shapes: dict[str, list[nn.Module]] = {}
    for path, module in printed_model.named_modules(remove_duplicate=False):
        found = shapes.setdefault(type(module).__name__, [])
        if path in original and not any(m is original[path] for m in found):
            found.append(original[path])
    return shapes


# --- the merge: the source's classes, the printed methods ---


def _merged(
    program: str,
    printed: str,
    model: nn.Module,
    shapes: dict[str, list[nn.Module]],
    layers: dict[str, set[str]],
    called: Collection[str] | None,
) -> tuple[str | None, dict[str, str]]:
    """``program`` with each class's computation taken from ``printed``; None where that fails.

    ``shapes``: the original's modules each printed class stands for;
    ``layers``: the names of the submodules each printed class holds. With
    the text, the classes kept whole, each printed name with its source
    class's: those the printed class adds no layer to, whose ``forward``
    already is in module style (Chomp1d's slicing, TCN's ``self.net(x)``).
    A class split into shapes is kept only whole, every shape so.
    """
    kept, written = ast.parse(program), ast.parse(printed)
    kept_lines, printed_lines = program.split("\n"), printed.split("\n")
    removing = called is not None
    paths: dict[int, list[str]] = {}
    for path, module in model.named_modules(remove_duplicate=False):
        paths.setdefault(id(module), []).append(path)
    classes = {c.name: c for c in kept.body if isinstance(c, ast.ClassDef)}
    instances = {type(m).__name__ for m in model.modules()}
    shape_counts = Counter(
        type(modules[0]).__name__ for modules in shapes.values() if modules
    )
    bound = {n for s in kept.body for n in names_bound(s)}
    # what the printer copies from the file as written: ``drop_path``, ``GPTConfig``
    sources_own = {
        s.name for s in kept.body if _is_definition(s) and s.name not in instances
    }
    source_imports = [s for s in kept.body if _is_import(s)]
    new_imports: dict[int, list[str]] = {}
    printers_own: set[str] = set()
    for statement in written.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            binds = set(names_bound(statement))
            if not binds <= bound:
                line = import_place(statement, source_imports)
                new_imports.setdefault(line, []).extend(
                    _lines(printed_lines, statement)
                )
                bound |= binds
        elif _is_definition(statement) and statement.name in sources_own:
            continue  # the file's own helper or config class, which it keeps
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # the printer's, for what it builds from a method (CLIP's
            # ``build_attention_mask``): the source's own code builds it
            printers_own.add(statement.name)
        elif not isinstance(statement, ast.ClassDef):
            return None, {}  # a table or statement of the printer's: not merged
    edits: list[Edit] = []
    whole: dict[str, str] = {}
    removed: set[str] = set()
    for printed_class in (
        s
        for s in written.body
        if isinstance(s, ast.ClassDef) and s.name not in sources_own
    ):
        modules = shapes.get(printed_class.name, [])
        names = {type(m).__name__ for m in modules}
        source_name = names.pop() if len(names) == 1 else None
        source_class = classes.get(source_name) if source_name else None
        if source_class is None:
            return None, {}  # a class the source does not have
        class_layers = layers.get(printed_class.name, set())
        dropped = _dropped(modules, class_layers)
        if called is not None:  # mixed style: the layers the printer calls go
            dropped &= _layers_called(modules, paths, called)
        class_edits = _class_edits(
            source_class,
            printed_class,
            modules,
            printed_lines,
            bound | set(dir(builtins)),
            class_layers,
            dropped,
            removing,
        )
        if class_edits is None or (class_edits and shape_counts[source_name] > 1):
            return None, {}  # one class's methods cannot serve another shape too
        if not class_edits:
            whole[printed_class.name] = source_name
        elif removing:
            removed |= dropped
        edits.extend(class_edits)
    edits.extend((line, line - 1, lines) for line, lines in new_imports.items())
    if not edits:
        return program, whole
    # bottom up; at one line, a replacement before an insertion there, which
    # then goes above it (a new ``__init__`` before the replaced ``forward``)
    for first, last, lines in sorted(
        edits, key=lambda e: (e[0], e[1] >= e[0]), reverse=True
    ):
        kept_lines[first - 1 : last] = lines
    try:
        text = without_unread_code(kept_lines)
        merged = black.format_str(text, mode=black.Mode())
    except Exception:
        return None, {}
    tree = ast.parse(merged)
    if reached_from_outside(tree, removed, bound) or printers_own & names_read(tree):
        return None, {}  # a printed method or statement needs the printer's function
    return merged, whole


def _layers_called(
    modules: list[nn.Module], paths: dict[int, list[str]], called: Collection[str]
) -> set[str]:
    """The attributes of ``modules`` (one class's instances) holding a layer in ``called``."""
    return {
        name
        for module in modules
        for path in paths.get(id(module), [])
        for name in module._modules
        if (f"{path}.{name}" if path else name) in called
    }


def reached_from_outside(tree: ast.Module, removed: set[str], bound: set[str]) -> bool:
    """Whether code reads a removed layer through another object (``self.block.relu``).

    Its own class no longer reads it (:func:`_class_edits` checks); a class
    kept as written may, through the instance it holds. A module-level
    name's attribute (``F.relu``) is not one.
    """
    return any(
        isinstance(node, ast.Attribute)
        and node.attr in removed
        and not (isinstance(node.value, ast.Name) and node.value.id in bound | {"self"})
        for node in ast.walk(tree)
    )


def import_place(
    statement: ast.Import | ast.ImportFrom, source_imports: list[ast.stmt]
) -> int:
    """The line a new import goes before: in order among the source's imports of its package.

    ``import torch.nn.functional as F`` goes right after ``import
    torch.nn as nn``, ``import torch`` before it; an import of a package
    the source does not import goes after the source's last import, or,
    from the standard library, in order among the source's imports from it
    (``from types import SimpleNamespace`` after ``import math``). The
    source's own order is left as it is.
    """
    key = _imported_module(statement)
    package = key.split(".")[0]
    same_package = [
        s for s in source_imports if _imported_module(s).split(".")[0] == package
    ]
    if not same_package and package in sys.stdlib_module_names:
        same_package = [
            s
            for s in source_imports
            if _imported_module(s).split(".")[0] in sys.stdlib_module_names
        ]
    later = [s for s in same_package if _imported_module(s) > key]
    if later:
        return later[0].lineno
    last = (same_package or source_imports)[-1:]
    return (last[0].end_lineno or last[0].lineno) + 1 if last else 1


def _imported_module(statement: ast.stmt) -> str:
    if isinstance(statement, ast.Import):
        return statement.names[0].name
    assert isinstance(statement, ast.ImportFrom)
    return "." * statement.level + (statement.module or "")


def without_unread_code(lines: list[str]) -> str:
    """The program without the module-level code only the replaced methods read.

    Imports (``F``, often) and the statements binding names that nothing
    else reads any more (Whisper's ``try: from torch.nn.functional import
    scaled_dot_product_attention``, which only its replaced
    ``qkv_attention`` read), again until none is left: the output converted
    again keeps only what its classes read, so this output must not keep
    more. Classes stay.
    """
    while True:
        tree = ast.parse("\n".join(lines))
        reads = [names_read(s) for s in tree.body]
        for index in reversed(range(len(tree.body))):
            statement = tree.body[index]
            bound = set(names_bound(statement))
            if isinstance(statement, ast.ClassDef) or is_future(statement) or not bound:
                continue
            read = set().union(*reads[:index], *reads[index + 1 :])
            # a definition's comments above go with it; an import's head a group
            first, last = _extent(statement, None if _is_import(statement) else lines)
            if not bound & read:
                lines[first - 1 : last] = []
                break
            if _is_import(statement) and not bound <= read:
                lines[first - 1 : last] = [import_text(statement, bound & read)]
                break
        else:
            return "\n".join(lines)


def _class_edits(
    source_class: ast.ClassDef,
    printed_class: ast.ClassDef,
    instances: list[nn.Module],
    printed_lines: list[str],
    module_names: set[str],
    layers: set[str],
    dropped: set[str],
    removing: bool,
) -> list[Edit] | None:
    """The edits turning one source class into its printed self; None where it fails.

    No edits when the printed class holds the layers (``layers``: the
    submodules it holds) the source builds, no more and no fewer (none
    ``dropped``, :func:`_dropped`): the source's methods then already are
    in the output's style, and stay as written.
    """
    methods = _methods(source_class)
    printed_methods = _methods(printed_class)
    init = methods.get("__init__")
    settings = _settings_kept(printed_methods.get("__init__"), dropped, instances)
    additions = _Additions(init, instances, layers, module_names)
    for statement in getattr(printed_methods.get("__init__"), "body", []):
        if not set(_attributes_defined(statement)) & {n for n, _ in settings.values()}:
            additions.take(statement, printed_lines)
    if not additions.layers_added and not (removing and dropped):
        return []
    if additions.unmergeable or (dropped and not removing):
        return None  # dropped in module style: named otherwise by the printer
    if init is None:
        init_edits = _new_init(source_class, printed_methods, printed_lines, instances)
        removed: list[ast.stmt] = []
    else:
        found = _init_edits(init, additions, dropped, settings, instances, module_names)
        init_edits, removed = found if found is not None else (None, [])
    if init_edits is None:
        return None
    reached = _reached(methods)
    unread = _settings_read(methods, reached, instances) - _settings_read(
        printed_methods, set(printed_methods) - {"__init__"}, instances
    )
    if init is not None:
        unread -= _functions_over_layers(init, instances)
    taken = (
        _parameters_of(printed_methods["__init__"])
        if "__init__" in printed_methods
        else set()
    )
    if any(init is None or _parameter_set(init, a) not in taken for a in unread):
        return None  # printed for this build only (DETR's ``normalize_before``)
    replaced = set(printed_methods) - {"__init__"}
    inlined = _inlined(methods, reached, replaced)
    kept = [
        s
        for s in getattr(init, "body", [])
        if s not in removed and not set(_attributes_defined(s)) & set(settings)
    ] + [
        method
        for method_name, method in methods.items()
        if method_name not in replaced | inlined | {"__init__"}
    ]
    held_settings = {n for n, _ in settings.values()}
    if any(
        node.attr in dropped
        for statement in kept
        for node in self_attributes(statement)
    ) or any(
        node.attr in dropped - held_settings
        for method in replaced
        for node in self_attributes(printed_methods[method])
    ):
        return None  # a removed layer the kept code still reads
    edits = init_edits
    class_end = source_class.end_lineno or source_class.lineno
    for method_name in replaced:
        text = _lines(printed_lines, printed_methods[method_name])
        if method_name in methods:
            edits.append((*_extent(methods[method_name]), text))
        else:
            edits.append((class_end + 1, class_end, [""] + text))
    for method_name in inlined:
        edits.append((*_extent(methods[method_name]), []))
    return edits


def _init_edits(
    init: ast.FunctionDef | ast.AsyncFunctionDef,
    additions: "_Additions",
    dropped: set[str],
    settings: dict[str, tuple[str, str]],
    instances: list[nn.Module],
    module_names: set[str],
) -> tuple[list[Edit], list[ast.stmt]] | None:
    """The edits of the source's ``__init__``, and the statements it loses; None where it fails.

    The printed statements go after the statements they follow, a layer
    only some instances hold is None after the ``super().__init__()``
    call in the others, the statements building ``dropped`` layers go,
    and those building a layer whose setting the printed methods read
    (``settings``) set it instead (:func:`_settings_kept`).
    """
    start = _after_super_call(init)
    removed = _removed_statements(
        init, dropped - set(settings), instances, module_names
    )
    if start is None or removed is None:
        return None
    edits = [(line + 1, line, lines) for line, lines in additions.after.items()]
    edits.extend((*_extent(statement), []) for statement in removed)
    for statement in init.body:
        for attribute in set(_attributes_defined(statement)) & set(settings):
            indent = " " * statement.col_offset
            setting = settings[attribute][1]  # empty: the class already holds it
            edits.append((*_extent(statement), [indent + setting] if setting else []))
    if additions.unset:
        indent = " " * init.body[0].col_offset
        unset = [f"{indent}self.{a} = None" for a in additions.unset]
        edits.append((start + 1, start, unset))
    return edits, removed


def _new_init(
    source_class: ast.ClassDef,
    printed_methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
    printed_lines: list[str],
    instances: list[nn.Module],
) -> list[Edit] | None:
    """A class with no ``__init__`` of its own (makemore's ``NewGELU``) takes the printed one.

    After its docstring, before its first statement. Only where the
    ``__init__`` it runs is ``nn.Module``'s: a base class's would no longer
    run.
    """
    printed = printed_methods.get("__init__")
    if printed is None or not runs_module_init(instances):
        return None
    text = _lines(printed_lines, printed)
    line, after_docstring = new_init_place(source_class)
    if after_docstring:
        return [(line, line - 1, [""] + text)]
    return [(line, line - 1, text + [""])]


def runs_module_init(instances: list[nn.Module]) -> bool:
    """Whether every instance runs ``nn.Module``'s ``__init__``: an ``__init__`` of its own replaces none other."""
    return all(type(m).__init__ is nn.Module.__init__ for m in instances)


def new_init_place(source_class: ast.ClassDef) -> tuple[int, bool]:
    """Where a class with no ``__init__`` takes one: the line it goes before, and whether after the docstring.

    After its docstring, else before its first statement (decorators included).
    """
    docstring = docstring_node(source_class)
    if docstring is not None:
        return (docstring.end_lineno or docstring.lineno) + 1, True
    return _extent(source_class.body[0])[0], False


def _dropped(instances: list[nn.Module], layers: set[str]) -> set[str]:
    """The layers the source holds and the printed class does not (an empty container aside).

    In mixed style, the printer calls them as functions (``F.relu`` for
    ``self.relu``); in module style, it named them otherwise (a ConvNet's
    ``self.pool`` printed as ``self.avgpool``).
    """
    return {
        name
        for module in instances
        for name, layer in module._modules.items()
        if name not in layers and not is_empty_container(layer)
    }


def _settings_kept(
    printed_init: ast.FunctionDef | ast.AsyncFunctionDef | None,
    dropped: set[str],
    instances: list[nn.Module],
) -> dict[str, tuple[str, str]]:
    """The dropped layers whose setting the printed class holds instead: its attribute, the statement setting it.

    Mixed style prints nanoGPT's ``self.resid_dropout = nn.Dropout(config.dropout)``
    as ``self.resid_dropout = config.dropout``, read by ``F.dropout(y,
    self.resid_dropout, ...)`` (:mod:`.printer.layer_settings`): the
    source's statement then sets the layer's one argument, as written,
    by layer. The check compares the value with the printed class's.
    """
    printed_sets = {
        a for s in getattr(printed_init, "body", []) for a in _attributes_defined(s)
    }
    found: dict[str, tuple[str, str]] = {}
    for layer in dropped:
        texts = set()
        for module in instances:
            setting = layer_settings(module).get(layer)
            if setting is None or setting.name not in printed_sets:
                break
            texts.add((setting.name, setting.statement))
        else:
            if len(texts) == 1:
                found[layer] = texts.pop()
    return found


def _removed_statements(
    init: ast.FunctionDef | ast.AsyncFunctionDef,
    dropped: set[str],
    instances: list[nn.Module],
    module_names: set[str],
) -> list[ast.stmt] | None:
    """The statements of ``__init__`` building the ``dropped`` layers; None where one cannot go.

    Each is a statement of ``__init__``'s own body that builds one
    stateless layer from module-level names and literals alone
    (``self.relu = nn.ReLU(inplace=True)``, ``self.drop = nn.Dropout(0.25)``),
    whose settings the printed call repeats. One that reads a parameter
    (``nn.Dropout(config.dropout)``) is refused: the printed call holds
    this build's value, and the kept ``__init__`` would take another and
    not honour it. So is a layer built elsewhere (a builder method, a
    branch) or holding state.
    """
    if any(
        any(True for _ in layer.parameters()) or any(True for _ in layer.buffers())
        for module in instances
        for name, layer in module._modules.items()
        if name in dropped
    ):
        return None
    removed = [
        statement
        for statement in init.body
        if set(_attributes_defined(statement)) & dropped
    ]
    if {a for s in removed for a in _attributes_defined(s)} != dropped or any(
        len(_attributes_defined(s)) != 1 or reads_own_names(s, module_names)
        for s in removed
    ):
        return None
    return removed


def _inlined(
    methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
    reached: set[str],
    printed: set[str],
) -> set[str]:
    """The methods ``forward`` reached that the printer inlined and no kept method calls.

    ``printed``: the methods the printed class defines, which replace the
    source's. One another kept method of the source still calls (a
    ``_forward_impl`` that ``features()`` calls too) stays, as written,
    for that caller.
    """
    removed = reached - printed
    while True:
        called = {
            node.attr
            for name, method in methods.items()
            if name not in removed and name not in printed
            for node in self_attributes(method)
        }
        if not removed & called:
            return removed
        removed -= called


class _Additions:
    """What the printed ``__init__`` adds to the source's, statement by statement.

    ``after``: the printed statements building what the source does not
    hold, by the line of the source's statement they follow (the one
    building the layer the printed ``__init__`` built before them);
    ``unset``: the layers only some instances hold, None in the others;
    ``layers_added``: whether any layer is added; ``unmergeable``: a
    statement reads what the source ``__init__`` does not have.
    """

    def __init__(
        self,
        init: ast.FunctionDef | ast.AsyncFunctionDef | None,
        instances: list[nn.Module],
        layers: set[str],
        module_names: set[str],
    ):
        self._instances, self._layers = instances, layers
        self._built_by = _top_level_builders(init) if init is not None else {}
        self._end = (init.end_lineno or init.lineno) if init is not None else 0
        self._readable = module_names | (
            _parameters_of(init) if init is not None else set()
        )
        self._anchor = self._end
        self.after: dict[int, list[str]] = {}
        self.unset: list[str] = []
        self.layers_added = self.unmergeable = False

    def take(self, statement: ast.stmt, printed_lines: list[str]) -> None:
        defined = _attributes_defined(statement)
        held = [[_holds_attribute(m, a) for m in self._instances] for a in defined]
        if not defined or all(all(h) for h in held):
            # the source builds it (or it is the source's own code): what
            # the printer builds next goes after the source's statement
            lines = (self._built_by.get(a, self._end) for a in defined)
            self._anchor = max(lines, default=self._anchor)
            return
        self.layers_added |= any(
            a in self._layers for a, h in zip(defined, held) if not any(h)
        )
        if any(any(h) for h in held) and all(a in self._layers for a in defined):
            # layers of some instances only (``if stride != 1: self.shortcut
            # = ...``): None for the others, which the printed methods test for
            self.unset.extend(a for a, h in zip(defined, held) if not all(h))
        elif names_read(statement) - {"self"} <= self._readable:
            # what it reads is the file's, or the source's parameter of that
            # name (GAT's ``nn.Dropout(dropout)``; the check compares ``p``)
            text = _lines(printed_lines, statement)
            self.after.setdefault(self._anchor, []).extend(text)
        else:
            self.unmergeable = True


def _settings_read(
    methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef],
    names: set[str],
    instances: list[nn.Module],
) -> set[str]:
    """The plain attributes of the instances (no layer, no tensor of the state) the methods read.

    A setting the source's ``forward`` reads and the printed one does not
    (``if self.normalize_before: return self.forward_pre(...)``) was
    printed for the value this build has: unless the printed class takes
    the parameter it is set from (:func:`_parameter_set`), the source's
    ``__init__`` would take another value and not honour it, so the class
    is not merged.
    """
    plain = {a for m in instances for a in vars(m) if a != "training"}
    return {
        node.attr
        for name in names & set(methods)
        for node in self_attributes(methods[name])
        if isinstance(node.ctx, ast.Load) and node.attr in plain
    }


def _functions_over_layers(
    init: ast.FunctionDef | ast.AsyncFunctionDef, instances: list[nn.Module]
) -> set[str]:
    """The attributes ``__init__`` sets to a lambda over the layers alone: no settings.

    makemore's ``self.mlpf = lambda x: m.c_proj(F.tanh(m.c_fc(x)))``, a
    statement of ``__init__``'s own body whose lambda reads none of its
    parameters and closes over layers only: the printed methods compute it
    through those layers. A function chosen by a parameter
    (``self.act = F.relu if relu else F.gelu``) is a setting.
    """
    parameters = _parameters_of(init)
    found = set()
    for statement in init.body:
        defined = _attributes_defined(statement)
        if (
            len(defined) == 1
            and isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Lambda)
            and not names_read(statement.value) & parameters
            and all(_closes_over_layers(vars(m).get(defined[0])) for m in instances)
        ):
            found.add(defined[0])
    return found


def _closes_over_layers(function: object) -> bool:
    """A function without defaults whose closure holds layers only."""
    if not inspect.isfunction(function) or function.__defaults__:
        return False
    return all(
        isinstance(cell.cell_contents, nn.Module) for cell in function.__closure__ or ()
    )


def _parameter_set(
    init: ast.FunctionDef | ast.AsyncFunctionDef, attribute: str
) -> str | None:
    """The parameter of ``__init__`` that ``self.<attribute> = <parameter>`` sets, if one does.

    A setting the printed class takes the parameter of is honoured there
    another way (PNASNet's ``self.stride``, in the ``nn.MaxPool2d(3,
    stride=stride)`` the printer builds).
    """
    for node in ast.walk(init):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and any(
                isinstance(t, ast.Attribute)
                and isinstance(t.value, ast.Name)
                and t.value.id == "self"
                and t.attr == attribute
                for t in node.targets
            )
        ):
            return node.value.id
    return None


def _methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {
        s.name: s
        for s in cls.body
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _reached(methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]) -> set[str]:
    """``forward`` and the methods it reaches through ``self.``, again and again."""
    if "forward" not in methods:
        return set()
    return methods_called(methods["forward"], methods, {"forward"})


def _parameters_of(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {a.arg for a in every_argument(function.args)[1:]}  # not ``self``


def _after_super_call(init: ast.FunctionDef | ast.AsyncFunctionDef) -> int | None:
    """The last line of ``__init__``'s ``super().__init__(...)`` call, where attributes can be set."""
    for statement in init.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "__init__"
            and isinstance(call.func.value, ast.Call)
            and isinstance(call.func.value.func, ast.Name)
            and call.func.value.func.id == "super"
        ):
            return statement.end_lineno or statement.lineno
    return None


def _top_level_builders(init: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, int]:
    """The last line of the statement of ``__init__``'s own body that sets each attribute.

    Where the layers a printed statement follows are built (``self.conv1 =
    ...``): the new layer (``self.relu1 = nn.ReLU()``) goes right after,
    in the order ``forward`` uses them. An attribute set again in a branch
    (``if stride != 1: self.shortcut = ...``) goes by the whole ``if``; one
    set in a builder method is not here: what follows it goes at the end.
    """
    return {
        attribute: statement.end_lineno or statement.lineno
        for statement in init.body
        for inner in ast.walk(statement)
        if isinstance(inner, ast.stmt)
        for attribute in _attributes_defined(inner)
    }


def _attributes_defined(statement: ast.stmt) -> list[str]:
    """What a statement of ``__init__`` puts on ``self``: ``self.x = ...``, ``register_buffer("x", ...)``."""
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
        )
        return [
            t.attr
            for t in targets
            if isinstance(t, ast.Attribute)
            and isinstance(t.value, ast.Name)
            and t.value.id == "self"
        ]
    call = statement.value if isinstance(statement, ast.Expr) else None
    if (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in ("register_buffer", "register_parameter")
        and call.args
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    ):
        return [call.args[0].value]
    return []


def _holds_attribute(module: nn.Module, attribute: str) -> bool:
    return attribute in vars(module) or any(
        attribute in getattr(module, store)
        for store in ("_modules", "_parameters", "_buffers")
    )


def _lines(lines: list[str], node: ast.stmt) -> list[str]:
    first, last = _extent(node, lines)
    return lines[first - 1 : last]


def _extent(node: ast.stmt, lines: list[str] | None = None) -> tuple[int, int]:
    """A statement's first and last line, decorators included (and, in ``lines``, comments right above)."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    if lines is not None:
        while first > 1 and lines[first - 2].lstrip().startswith("#"):
            first -= 1
    return first, node.end_lineno or node.lineno


def _is_definition(statement: ast.stmt) -> bool:
    return isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


def _is_import(statement: ast.stmt) -> bool:
    return isinstance(statement, (ast.Import, ast.ImportFrom))


# --- the check: the merged source builds the original's weights and the printed layers ---


def holds(
    model: nn.Module,
    printed_model: nn.Module,
    merged: str,
    whole: dict[str, str],
    run: Runner,
    *,
    unchanged: bool,
) -> bool:
    """Whether ``merged``'s root, built with its defaults, is the model the printed methods expect.

    The classes kept ``whole`` run their own methods: what their printed
    class holds besides layers is not asked of them. A program left
    ``unchanged`` (already in module style) is the source as it is: it must
    build the model itself, as :mod:`.as_written` checks a kept source.
    """
    rebuilt = built_with_defaults(merged, run)
    if rebuilt is None:
        return False
    if unchanged and not same_model(model, rebuilt):
        return False
    state, rebuilt_state = model.state_dict(), rebuilt.state_dict()
    if list(state) != list(rebuilt_state) or tensor_ties(model) != tensor_ties(rebuilt):
        return False
    if not all(same_kind(state[k], rebuilt_state[k]) for k in state):
        return False
    # the source may hold layers the trace never called (llama2.c's
    # attn_dropout, of the attention flash attention replaces); a layer held
    # twice (TCN's ``self.conv1``, also ``self.net[0]``) is there by both paths
    rebuilt_modules = dict(rebuilt.named_modules(remove_duplicate=False))
    return all(
        _has_what_printed_has(module, rebuilt_modules.get(path), whole)
        for path, module in printed_model.named_modules(remove_duplicate=False)
        if path in rebuilt_modules or not is_empty_container(module)
    )


def _has_what_printed_has(
    printed: nn.Module, rebuilt: nn.Module | None, whole: dict[str, str]
) -> bool:
    """Whether ``rebuilt`` is the printed layer: its class, plain attributes and buffers.

    A printed ``None`` (``self.shortcut = ... if ... else None``) is the
    source's empty container, which computes the identity too. A class kept
    ``whole`` runs its own methods: only its class is asked of it (its
    layers are asked one by one; a layer the source holds with other
    settings than the printed one, ``nn.Softmax(dim=0)`` where ``forward``
    calls ``F.softmax(..., dim=1)``, is refused); a shape of it
    (``Tree2``) is that class.
    """
    if rebuilt is None:
        return False
    printed_name = type(printed).__qualname__
    if type(rebuilt).__qualname__ != whole.get(printed_name, printed_name):
        return False
    if printed_name in whole:
        return True
    if not set(printed._buffers) <= set(rebuilt._buffers):
        return False
    attributes = plain_attributes(rebuilt)
    return all(
        (
            _alike(value, attributes[key])
            if key in attributes
            else value is None and is_empty_container(rebuilt._modules.get(key))
        )
        for key, value in plain_attributes(printed).items()
    )


def _alike(printed: object, rebuilt: object) -> bool:
    """Equal values; a tensor (built on the meta device) by shape and dtype."""
    if isinstance(printed, torch.Tensor) and isinstance(rebuilt, torch.Tensor):
        return same_kind(printed, rebuilt)
    return equal_values(printed, rebuilt)


__all__ = [
    "Runner",
    "holds",
    "import_place",
    "new_init_place",
    "reached_from_outside",
    "runs_module_init",
    "with_source_construction",
    "without_unread_code",
]
