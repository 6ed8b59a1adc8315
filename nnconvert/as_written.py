"""Mixed style: a model whose source already is in mixed style is written as it is.

Mixed style keeps as modules the layers that own state and calls the rest
(``F.relu(self.bn1(self.conv1(x)))``); the tutorial's LeNet, kuangliu's CIFAR
models and Whisper are written that way. Printed from a trace, such a model
can only lose what one trace does not see: ``_make_layer`` and its ``cfg``
table become a spelled-out tree of layers, the methods the example does
not reach and the branches it does not take are gone. So when the model already is in mixed style, its
mixed output is its own source: the classes it is built from and the
module-level names they read (imports, tables, helper functions), in the
file's order, laid out by black. Nothing in it is rewritten but the
defaults of the root's ``__init__``, which become the arguments the model
was built with, so that ``Root()`` builds it.

"Already in mixed style" is decided on the layers, not on the text: the
output printed from the trace builds exactly the original's tree of
submodules (an empty ``nn.Sequential()`` standing for an identity aside),
so no layer call of the source becomes a function call or the other way
round. The source is then run as a file of its own and kept only if its
root class builds the same model: the same ``repr``, the same
``state_dict`` keys, shapes and dtypes, equal tensors outside it, the same
plain attributes, ties and hooks on every submodule. The equivalence check
runs on it as on any output. In every other case, the printed output stands.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import inspect
import io
import itertools
import math
import tokenize
import types
from typing import Any, Callable, Iterator, Sequence

import black
import torch
from torch import nn

from .init_arguments import recorded_call
from .opspecs.weight_norm import weight_norms
from .module_kinds import is_defined_class
from .source_text import (
    SourceFile,
    class_definition,
    every_argument,
    init_statement,
    read_file,
)

#: Runs a source as a file of its own and returns its root class.
Runner = Callable[[str], type]


def as_written(model: nn.Module, name: str, printed: str, run: Runner) -> str | None:
    """``model``'s own source as its mixed output, or None when it is not one.

    ``printed`` is the mixed output printed from the trace; ``run`` runs a
    source as a file and returns its class ``name``.
    """
    if type(model).__name__ != name or has_instance_overrides(model):
        return None
    with torch.random.fork_rng(devices=[]):  # building draws; the caller's draws stay
        try:
            printed_tree = _layer_tree(built_lightly(run(printed)))
        except Exception:
            return None
        if printed_tree != _layer_tree(model, original=True):
            return None
        for lists_as_tuples in (True, False):
            program, tupled = source_program(model, lists_as_tuples)
            if program is not None and builds_same_model(model, program, run):
                return program
            if (
                not tupled
            ):  # no list was written otherwise: trying again changes nothing
                return None
    return None


def builds_same_model(model: nn.Module, program: str, run: Runner) -> bool:
    """Whether ``program``'s root class, built with its defaults, is ``model`` again."""
    rebuilt = built_with_defaults(program, run)
    return rebuilt is not None and same_model(model, rebuilt)


def built_with_defaults(program: str, run: Runner) -> nn.Module | None:
    """``program``'s root class built with its defaults; None where that fails (``sys.exit`` too)."""
    try:
        return run(program)()
    except (Exception, SystemExit):
        return None


def built_lightly(cls: type) -> nn.Module:
    """``cls()``, on the meta device where it builds there: its layers, no weights drawn.

    A tensor built from bytes (``torch.frombuffer``) has no meta form; then
    on the CPU.
    """
    try:
        with torch.device("meta"):
            return cls()
    except Exception:
        return cls()


def has_instance_overrides(model: nn.Module) -> bool:
    """Whether a submodule's ``forward`` was replaced on the instance, which no class says."""
    return any("forward" in vars(m) for m in model.modules())


def _layer_tree(model: nn.Module, *, original: bool = False) -> list[tuple[str, str]]:
    """Each submodule's path and kind: a class of the model's own, or the library class.

    In the ``original``, an empty container is left out: printed, it is the
    identity it computes.
    """
    tree = []
    for path, module in model.named_modules():
        if original and is_empty_container(module):
            continue
        kind = type(module)
        library = f"{kind.__module__}.{kind.__qualname__}"
        tree.append((path, "" if is_defined_class(module) else library))
    return tree


def is_empty_container(module: nn.Module | None) -> bool:
    """An empty ``nn.Sequential``/``ModuleList``/``ModuleDict``: the identity, printed as ``None`` or not at all."""
    return type(module) in (nn.Sequential, nn.ModuleList, nn.ModuleDict) and not len(
        module
    )


# --- the program: the classes, and the module-level statements they read ---


def source_program(model: nn.Module, lists_as_tuples: bool) -> tuple[str | None, bool]:
    """The classes of ``model``'s file it is built from, with what they read, formatted.

    And whether a list argument was written as a tuple default
    (``lists_as_tuples``: ``num_blocks=(2, 2, 2, 2)``, not the mutable
    ``[2, 2, 2, 2]`` every call would share; the caller tries the list
    where the tuple does not build the same model).
    """
    root_file = file_of(type(model))
    source = read_file(root_file) if root_file else None
    if source is None:
        return None, False
    classes: dict[type, ast.ClassDef] = {}
    for module in model.modules():
        cls = type(module)
        if cls in classes or file_of(cls) != root_file:
            continue
        found = class_definition(cls)
        if found is None or found[1] not in source.tree.body:
            # a class inside a function, or not found: no text to copy
            return None, False
        classes[cls] = found[1]
    root = classes.get(type(model))
    if root is None:
        return None, False
    names = Names(globals_of(type(model)), lists_as_tuples)
    root_lines = _root_lines(source, root, model, names)
    if root_lines is None:
        return None, False
    chosen = statements_read(source.tree, set(classes.values()), names.written)
    if chosen is None:
        return None, False
    text = ""
    previous: ast.stmt | None = None
    for statement, imported in chosen:
        first, last = _extent(source, statement)
        if imported is not None and len(imported) < len(statement.names):
            lines = [import_text(statement, imported)]  # only the names read
        elif statement is root:
            lines = root_lines
        else:
            lines = list(source.lines[first - 1 : last])
        text += _gap(source, previous, statement) + "\n".join(lines)
        previous = statement
    if names.imports:  # what a default needs (``SimpleNamespace``), among the file's
        from .source_edits import with_imports  # it reads this module

        text = with_imports(text, names.imports)
    # black reads no Python 2, and a file may use syntax newer than it parses
    try:
        formatted = black.format_str(
            _comments_above_long_lines(text) + "\n", mode=_BLACK
        )
    except Exception:
        return None, False
    return formatted, names.tupled


_BLACK = black.Mode()


def comments_above_long_lines(lines: Sequence[str], depth: int) -> list[str]:
    """:func:`_comments_above_long_lines` for statements the output writes ``depth`` deep.

    The user's initialisation statements kept in ``__init__`` (8) or
    ``init_params()`` (4): GCN's ``nn.init.xavier_normal_(self.kernel)  #
    Initialize the weights using Xavier initialization``.
    """
    pad = " " * depth
    text = "\n".join(pad + line if line else line for line in lines)
    moved = _comments_above_long_lines(text).split("\n")
    return [line[depth:] if line.startswith(pad) else line for line in moved]


def _comments_above_long_lines(text: str) -> str:
    """A one-line statement too long only for its trailing comment gets the comment above it.

    Black would split the statement to fit the comment in (``rates = [`` /
    ``drop_path_rate`` / ``] * depth  # one rate for every block``); the
    printer too puts a comment before the statement it annotates.
    """
    lines = text.split("\n")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text
    moved: dict[int, tuple[str, str]] = {}
    statement_row, at_statement_start = 0, True
    quiet = (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)
    for token, following in zip(tokens, tokens[1:]):
        row, column = token.start
        if at_statement_start and token.type not in quiet:
            statement_row, at_statement_start = row, False
        at_statement_start |= token.type == tokenize.NEWLINE
        if token.type != tokenize.COMMENT or following.type != tokenize.NEWLINE:
            continue
        line = lines[row - 1]
        code = line[:column].rstrip()
        # as black writes it: two spaces before the ``#`` (nanoGPT's one
        # space makes an 88-character line 89 long), one after it
        spaced = token.string[1:2] in ("", " ", "!", ":")
        written = len(code) + 2 + len(token.string) + (0 if spaced else 1)
        if statement_row == row and written > _BLACK.line_length >= len(code):
            indent = line[: len(line) - len(line.lstrip())]
            moved[row] = (indent + token.string, code)
    for row in sorted(moved, reverse=True):
        lines[row - 1 : row] = list(moved[row])
    return "\n".join(lines)


def _gap(source: SourceFile, previous: ast.stmt | None, statement: ast.stmt) -> str:
    """What goes between two kept statements: the file's blank lines where they were neighbours.

    So that a file that is all kept (an output converted again) comes back
    byte for byte; else imports and plain statements follow each other, and
    definitions stand apart, as black lays them out.
    """
    if previous is None:
        return ""
    body = source.tree.body
    if body.index(statement) == body.index(previous) + 1:
        first, _ = _extent(source, statement)
        return "\n" * (first - (previous.end_lineno or previous.lineno))
    imports = (ast.Import, ast.ImportFrom)
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    if isinstance(previous, imports) != isinstance(statement, imports):
        return "\n\n"  # the imports, then the code
    if isinstance(previous, definitions) or isinstance(statement, definitions):
        return "\n\n\n"
    return "\n"  # imports, or settings (``nz = 100``), one after the other


def _own_function(cls: type) -> Callable | None:
    """A function the class itself defines: it knows the class's file and globals."""
    return next((v for v in vars(cls).values() if inspect.isfunction(v)), None)


def globals_of(cls: type) -> dict[str, Any]:
    """The module-level names of the file a class was defined in, through its methods."""
    function = _own_function(cls)
    return function.__globals__ if function is not None else {}


def file_of(cls: type) -> str | None:
    """The file a class's methods were compiled from (None: no method of its own)."""
    function = _own_function(cls)
    return function.__code__.co_filename if function is not None else None


def statements_read(
    tree: ast.Module, classes: set[ast.ClassDef], names: set[str]
) -> list[tuple[ast.stmt, set[str] | None]] | None:
    """The top-level statements the output keeps, in the file's order.

    The ``classes``, the statements binding ``names`` (those the root's
    defaults write), and every statement binding a name that a kept one reads,
    again and again; an import keeps only the names read (its second
    element). None when the kept code imports relatively: the output is a
    file of its own.
    """
    body = [s for s in tree.body if not _is_main_guard(s)]
    binders: dict[str, list[int]] = {}
    for index, statement in enumerate(body):
        for bound in names_bound(statement):
            binders.setdefault(bound, []).append(index)
    for bound, indices in binders.items():
        # a ``def`` another ``def`` of its name follows is not what calls find
        # (a file that pastes a second module's helpers, ``exists`` and
        # ``default``, above its own)
        binders[bound] = [
            i for i in indices if not _defined_again(body, i, indices, bound)
        ]
    kept: dict[int, set[str] | None] = {
        i: None for i, s in enumerate(body) if s in classes or is_future(s)
    }
    for name in names:
        for index in binders.get(name, ()):
            if isinstance(body[index], (ast.Import, ast.ImportFrom)):
                imported = kept.setdefault(index, set())
                if imported is not None:
                    imported.add(name)  # ``repeat``, not einops' other names
            else:
                kept[index] = None
    queue = [i for i, imported in kept.items() if imported is None]
    while queue:
        for used in names_read(body[queue.pop()]):
            for index in binders.get(used, ()):
                statement = body[index]
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    imported = kept.setdefault(index, set())
                    if imported is not None:  # None: kept whole
                        imported.add(used)
                elif index not in kept:
                    kept[index] = None
                    queue.append(index)
    chosen = [(body[i], kept[i]) for i in sorted(kept)]
    if any(isinstance(s, ast.ImportFrom) and s.level for s, _ in chosen):
        return None
    return chosen


def _defined_again(
    body: list[ast.stmt], index: int, binders: list[int], name: str
) -> bool:
    """``body[index]`` is a ``def name`` that a later ``def name`` replaces."""

    def defines(statement: ast.stmt) -> bool:
        return isinstance(statement, ast.FunctionDef) and statement.name == name

    return defines(body[index]) and any(i > index and defines(body[i]) for i in binders)


def _is_main_guard(statement: ast.stmt) -> bool:
    """``if __name__ == "__main__":``: the file as a script, not the model."""
    test = getattr(statement, "test", None)
    return (
        isinstance(statement, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def is_future(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.ImportFrom) and statement.module == "__future__"


def names_bound(statement: ast.stmt) -> Iterator[str]:
    """The module-level names a top-level statement binds."""
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        for alias in statement.names:
            yield alias.asname or alias.name.split(".")[0]
        return
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield statement.name
        return
    for node in outside_definitions(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.id
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from names_bound(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name


def outside_definitions(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` and what it holds, without the bodies of functions and classes in it."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield child
        else:
            yield from outside_definitions(child)


def module_level_names(tree: ast.Module) -> set[str]:
    """The names a file's top-level statements bind, and the builtins."""
    return {n for s in tree.body for n in names_bound(s)} | set(dir(builtins))


def reads_own_names(node: ast.AST, module_names: set[str]) -> bool:
    """Whether ``node`` reads a name other than ``self`` and ``module_names``.

    A parameter or local of the method it stands in: ``act_layer()``,
    ``_get_activation_fn(activation)`` hold what the constructor was given.
    """
    return bool(names_read(node) - {"self"} - module_names)


def names_read(node: ast.AST) -> set[str]:
    """The names a statement reads from the module: those no function in it binds.

    A method's ``x = ...`` is its own; a table ``x`` of the file is not
    what it reads. Class bodies are not scopes of their own here: a name
    both a class body and the module bind counts as read (kept rather than
    lost).
    """
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = node.args
        every = every_argument(arguments)
        body = node.body if isinstance(node.body, list) else [node.body]
        local = {a.arg for a in every} | _names_bound_inside(body)
        read = set().union(*(names_read(child) for child in body)) - local
        outside = [*arguments.defaults, *(d for d in arguments.kw_defaults if d)]
        outside += [a.annotation for a in every if a.annotation is not None]
        outside += getattr(node, "decorator_list", [])
        if getattr(node, "returns", None) is not None:
            outside.append(node.returns)
        return read.union(*(names_read(n) for n in outside))
    read = {node.id} if isinstance(node, ast.Name) else set()
    return read.union(*(names_read(child) for child in ast.iter_child_nodes(node)))


def _names_bound_inside(body: list[ast.stmt]) -> set[str]:
    """The names a function body binds (its locals), nested functions' own aside."""
    bound = set()
    for statement in body:
        for node in outside_definitions(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update(names_bound(node))
            elif isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                bound.add(node.name)
    global_names = {
        name
        for statement in body
        for node in outside_definitions(statement)
        if isinstance(node, (ast.Global, ast.Nonlocal))
        for name in node.names
    }
    return bound - global_names


def import_text(statement: ast.Import | ast.ImportFrom, names: set[str]) -> str:
    """The import with only the aliases that bind ``names``."""
    kept = [a for a in statement.names if (a.asname or a.name.split(".")[0]) in names]
    if isinstance(statement, ast.Import):
        return ast.unparse(ast.Import(names=kept))
    return ast.unparse(ast.ImportFrom(module=statement.module, names=kept, level=0))


def _extent(source: SourceFile, statement: ast.stmt) -> tuple[int, int]:
    """A statement's first and last line, with its decorators and the comments right above."""
    first = min(
        [statement.lineno]
        + [d.lineno for d in getattr(statement, "decorator_list", [])]
    )
    while first > 1 and source.comment_alone(first - 1):
        first -= 1
    return first, statement.end_lineno or statement.lineno


# --- the root's __init__: the arguments the model was built with, as defaults ---


def _root_lines(
    source: SourceFile, root: ast.ClassDef, model: nn.Module, names: Names
) -> list[str] | None:
    """The root class's lines, its ``__init__`` taking the model's arguments as defaults.

    Each default is put in where the parameter ends (or over the default it
    had), so that the rest of the signature stays as written, comments
    included. None when an argument cannot be written as a default (a
    config object, a function) or no record says how the model was built
    while ``__init__`` takes no default for it.
    """
    first, last = _extent(source, root)
    lines = list(source.lines[first - 1 : last])
    recorded = recorded_call(model)
    init = init_statement(root)
    if recorded is None or init is None:  # not recorded: the check of the build decides
        return None if recorded else lines
    arguments = init.args
    written = arguments.posonlyargs + arguments.args
    padding = [None] * (len(written) - len(arguments.defaults))
    parameters = list(zip(written, padding + arguments.defaults))[1:]
    parameters += zip(arguments.kwonlyargs, arguments.kw_defaults)
    edits = []
    for parameter, old in parameters:
        text = _default(old, recorded.get(parameter.arg, _MISSING), names)
        if text is None:
            return None
        if old is not None and text:
            edits.append((_position(old), _position(old, end=True), text))
        elif old is None:
            spaced = " = " if parameter.annotation is not None else "="
            at = _position(parameter, end=True)
            edits.append((at, at, spaced + text))
    for rest in (arguments.vararg, arguments.kwarg):
        if rest is not None and recorded.get(rest.arg):
            return None  # built with extra arguments that no default can hold
    for (row, column), (end_row, end_column), text in sorted(edits, reverse=True):
        head = lines[row - first].encode()[:column]  # ast columns count utf-8 bytes
        tail = lines[end_row - first].encode()[end_column:]
        lines[row - first : end_row - first + 1] = [
            (head + text.encode() + tail).decode()
        ]
    return lines


def _position(node: ast.AST, *, end: bool = False) -> tuple[int, int]:
    if end:
        return node.end_lineno, node.end_col_offset  # type: ignore[attr-defined]
    return node.lineno, node.col_offset  # type: ignore[attr-defined]


_MISSING = object()


def _default(old: ast.expr | None, value: Any, names: Names) -> str | None:
    """The default a parameter gets, as text: "" when ``old`` already says ``value``.

    None when ``value`` is unknown or cannot be written.
    """
    if value is _MISSING:
        return None
    if old is not None:
        if isinstance(old, (ast.Name, ast.Attribute)) and _is_named(value):
            if names.write(value) == ast.unparse(old):  # ``nn.BatchNorm2d`` as written
                return ""
        try:
            written = ast.literal_eval(old)
        except Exception:  # not a literal: a name, a call
            written = _MISSING
        if type(written) is type(value) and equal_values(written, value):
            return ""
    return _written(value, names)


def _written(value: Any, names: Names) -> str | None:
    """``value`` as Python source: a literal, or built from the file's own names.

    ``names`` are the file's module-level classes by identity (a ``block``
    class passed in, a config dataclass); each one written is noted in it.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if type(value) in (list, tuple):
        items = [_written(v, names) for v in value]
        if any(i is None for i in items):
            return None
        if type(value) is tuple or names.lists_as_tuples:
            names.tupled |= type(value) is list
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        return f"[{', '.join(items)}]"
    if type(value) is dict:
        pairs = [(_written(k, names), _written(v, names)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if isinstance(value, functools.partial):  # ``partial(nn.LayerNorm, eps=1e-6)``
        called = names.write(functools.partial)
        func = _written(value.func, names)
        items = [_written(a, names) for a in value.args]
        keywords = {k: _written(v, names) for k, v in value.keywords.items()}
        if called is None or func is None or None in items + list(keywords.values()):
            return None
        pieces = [func, *items] + [f"{k}={v}" for k, v in keywords.items()]
        return f"{called}({', '.join(pieces)})"  # type: ignore[arg-type]
    if _is_named(value):
        return names.write(value)
    if type(value) is types.SimpleNamespace:  # a config: ``SimpleNamespace(...)``
        fields = {k: _written(v, names) for k, v in vars(value).items()}
        called = names.write(types.SimpleNamespace) or names.imported(
            "SimpleNamespace", "from types import SimpleNamespace"
        )
        if called is None or any(w is None for w in fields.values()) or not fields:
            return None
        return f"{called}({', '.join(f'{k}={w}' for k, w in fields.items())})"
    if dataclasses.is_dataclass(value):  # a config: its class called with its fields
        fields = [f for f in dataclasses.fields(value) if f.init]
        written = [_written(getattr(value, f.name), names) for f in fields]
        called = names.write(type(value))
        if called is None or any(w is None for w in written):
            return None
        keywords = ", ".join(f"{f.name}={w}" for f, w in zip(fields, written))
        return f"{called}({keywords})"
    return None


def _is_named(value: Any) -> bool:
    """A class or function: written by the name the file reaches it by."""
    return (
        isinstance(value, type) or inspect.isfunction(value) or inspect.isbuiltin(value)
    )


class Names:
    """How the root's defaults are written: the file's names, lists as tuples.

    A class or function by the module-level name the file binds it to
    (``BasicBlock``, ``partial``), or as an attribute of a module the file
    imports (``nn.BatchNorm2d``, ``functools.partial``). Notes which names
    a default wrote (their statements are kept) and whether a list became
    a tuple.
    """

    def __init__(self, module_globals: dict[str, Any], lists_as_tuples: bool = False):
        self._by_identity = {
            id(value): name
            for name, value in module_globals.items()
            if _is_named(value) and getattr(value, "__name__", None) == name
        }
        self._modules = [
            (name, value)
            for name, value in module_globals.items()
            if isinstance(value, types.ModuleType)
        ]
        self.lists_as_tuples = lists_as_tuples
        self.written: set[str] = set()
        self.tupled = False
        self._globals = module_globals
        #: import statements the defaults need that the file does not make
        self.imports: set[str] = set()

    def imported(self, name: str, statement: str) -> str | None:
        """``name``, imported by ``statement``; None where the file binds it to something else."""
        if name in self._globals:
            return None
        self.imports.add(statement)
        return name

    def write(self, named: Any) -> str | None:
        name = self._by_identity.get(id(named))
        if name is not None:
            self.written.add(name)
            return name
        attribute = getattr(named, "__name__", None)
        for module_name, module in self._modules:
            if attribute and getattr(module, attribute, None) is named:
                self.written.add(module_name)
                return f"{module_name}.{attribute}"
        return None


# --- the check: the source builds the model that was given ---


def same_model(original: nn.Module, rebuilt: nn.Module) -> bool:
    """Whether ``rebuilt`` is ``original`` built again, its weights aside."""
    if str(original) != str(rebuilt) or tensor_ties(original) != tensor_ties(rebuilt):
        return False
    state, rebuilt_state = original.state_dict(), rebuilt.state_dict()
    if list(state) != list(rebuilt_state) or not all(
        same_kind(state[k], rebuilt_state[k]) for k in state
    ):
        return False
    modules = list(original.named_modules(remove_duplicate=False))
    rebuilt_modules = list(rebuilt.named_modules(remove_duplicate=False))
    return len(modules) == len(rebuilt_modules) and all(
        path == rebuilt_path and _same_module(module, rebuilt_module)
        for (path, module), (rebuilt_path, rebuilt_module) in zip(
            modules, rebuilt_modules
        )
    )


def _same_module(module: nn.Module, rebuilt: nn.Module) -> bool:
    """The same class name, hooks, buffers outside the state_dict and plain attributes."""
    if type(module).__qualname__ != type(rebuilt).__qualname__:
        return False
    hooks = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
    if any(len(getattr(module, h)) != len(getattr(rebuilt, h)) for h in hooks):
        return False
    if module._non_persistent_buffers_set != rebuilt._non_persistent_buffers_set:
        return False
    for name in module._non_persistent_buffers_set:
        if not equal_values(module._buffers.get(name), rebuilt._buffers.get(name)):
            return False
    attributes, rebuilt_attributes = plain_attributes(module), plain_attributes(rebuilt)
    return attributes.keys() == rebuilt_attributes.keys() and all(
        equal_values(value, rebuilt_attributes[key])
        for key, value in attributes.items()
    )


def plain_attributes(module: nn.Module) -> dict[str, Any]:
    """The attributes set on ``module`` that are no layer, tensor of its state or setting of torch's.

    A ``weight_norm`` hook's ``weight`` is computed from ``weight_g`` and
    ``weight_v`` before every call: it follows the weights, which differ.
    """
    computed = weight_norms(module)
    return {
        k: v
        for k, v in vars(module).items()
        if not k.startswith("_") and k != "training" and k not in computed
    }


def equal_values(value: Any, other: Any) -> bool:
    """Equal values: tensors element for element, others by ``==``, objects by class."""
    if isinstance(value, torch.Tensor) or isinstance(other, torch.Tensor):
        both = isinstance(value, torch.Tensor) and isinstance(other, torch.Tensor)
        return both and _same_tensor(value, other)
    if type(value) in (list, tuple) and type(other) is type(value):
        return len(value) == len(other) and all(map(equal_values, value, other))
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype)):
        return type(value) is type(other) and (
            value == other or value != value and other != other  # nan
        )
    return type(value).__qualname__ == type(other).__qualname__


def _same_tensor(tensor: torch.Tensor, other: torch.Tensor) -> bool:
    """Equal element for element; a sparse one (Whisper's ``alignment_heads``) made dense."""
    if not same_kind(tensor, other) or tensor.layout != other.layout:
        return False
    try:
        if tensor.layout != torch.strided:
            tensor, other = tensor.to_dense(), other.to_dense()
        return torch.equal(tensor, other)
    except RuntimeError:  # a layout that cannot be compared: not known to be equal
        return False


def same_kind(tensor: torch.Tensor, other: torch.Tensor) -> bool:
    return tensor.shape == other.shape and tensor.dtype == other.dtype


def tensor_ties(model: nn.Module) -> list[list[str]]:
    """The groups of names under which one tensor is held more than once."""
    held: dict[int, list[str]] = {}
    for name, tensor in itertools.chain(
        model.named_parameters(remove_duplicate=False),
        model.named_buffers(remove_duplicate=False),
    ):
        held.setdefault(id(tensor), []).append(name)
    return sorted(names for names in held.values() if len(names) > 1)


__all__ = [
    "as_written",
    "built_lightly",
    "comments_above_long_lines",
    "builds_same_model",
    "equal_values",
    "has_instance_overrides",
    "import_text",
    "is_empty_container",
    "is_future",
    "names_bound",
    "outside_definitions",
    "names_read",
    "plain_attributes",
    "same_kind",
    "same_model",
    "source_program",
    "statements_read",
    "tensor_ties",
]
