"""Mixed style: a model whose source already is in mixed style is written as it is.

Mixed style keeps as modules the layers that own state and calls the rest
(``F.relu(self.bn1(self.conv1(x)))``); the tutorial's LeNet, kuangliu's CIFAR
models and Whisper are written that way. Printed from a trace, such a model
can only lose what one trace does not see: ``_make_layer`` and its ``cfg``
table become a spelled-out tree of layers, ``for s in size`` a constant
behind a shape guard. So when the model already is in mixed style, its
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
import copy
import io
import itertools
import math
import tokenize
from typing import Any, Callable, Iterator

import black
import torch
from torch import nn

from .init_arguments import recorded_call
from .leaves import leaf_of
from .module_kinds import is_defined_class
from .source_text import SourceFile, class_definition, read_file

#: Builds the class of a source: (source, its class name) -> the built model.
Builder = Callable[[str], nn.Module]


def as_written(model: nn.Module, name: str, printed: str, build: Builder) -> str | None:
    """``model``'s own source as its mixed output, or None when it is not one.

    ``printed`` is the mixed output printed from the trace; ``build`` runs a
    source as a file and builds its class ``name`` holding ``model``'s
    weights.
    """
    if type(model).__name__ != name or _has_instance_overrides(model):
        return None
    with torch.random.fork_rng(devices=[]):  # building draws; the caller's draws stay
        try:
            if _layer_tree(build(printed)) != _layer_tree(model, original=True):
                return None
        except Exception:
            return None
        program = _program(model)
        if program is None:
            return None
        try:
            rebuilt = build(program)
        except (Exception, SystemExit):
            return None
    return program if _same_model(model, rebuilt) else None


def _has_instance_overrides(model: nn.Module) -> bool:
    """Whether a submodule's ``forward`` was replaced on the instance, which no class says."""
    return any("forward" in vars(m) for m in model.modules())


def _layer_tree(model: nn.Module, *, original: bool = False) -> list[tuple[str, str]]:
    """Each submodule's path and kind: a class of the model's own, or the library class.

    In the ``original``, an empty container is left out: printed, it is the
    identity it computes.
    """
    tree = []
    for path, module in model.named_modules():
        if original and _is_empty_container(module):
            continue
        kind = type(module)
        defined = is_defined_class(module) and leaf_of(module) is None
        tree.append((path, "" if defined else f"{kind.__module__}.{kind.__qualname__}"))
    return tree


def _is_empty_container(module: nn.Module) -> bool:
    return (
        type(module) in (nn.Sequential, nn.ModuleList, nn.ModuleDict)
        and not module._modules
    )


# --- the program: the classes, and the module-level statements they read ---


def _program(model: nn.Module) -> str | None:
    """The classes of ``model``'s file it is built from, with what they read, formatted."""
    root_file = _file_of(type(model))
    source = read_file(root_file) if root_file else None
    if source is None:
        return None
    classes: dict[type, ast.ClassDef] = {}
    for module in model.modules():
        cls = type(module)
        if cls in classes or _file_of(cls) != root_file:
            continue
        found = class_definition(cls)
        if found is None or found[1] not in source.tree.body:
            return None  # a class inside a function, or not found: no text to copy
        classes[cls] = found[1]
    root = classes.get(type(model))
    if root is None:
        return None
    header = _root_header(source, root, model, {c: c.__name__ for c in classes})
    if header is None:
        return None
    chosen = _statements_read(source.tree, set(classes.values()))
    if chosen is None:
        return None
    text = ""
    previous: ast.stmt | None = None
    for statement, names in chosen:
        first, last = _extent(source, statement)
        if names is not None and len(names) < len(statement.names):
            lines = [_import_text(statement, names)]  # only the names read
        else:
            lines = list(source.lines[first - 1 : last])
        if statement is root and header[0]:
            (start, end), line = header
            lines[start - first : end - first + 1] = [line]
        text += _gap(source, previous, statement) + "\n".join(lines)
        previous = statement
    try:
        return black.format_str(_comments_above_long_lines(text) + "\n", mode=_BLACK)
    except (
        Exception
    ):  # black reads no Python 2, and a file may use what it cannot parse
        return None


_BLACK = black.Mode()


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
        if statement_row == row and len(line) > _BLACK.line_length >= len(code):
            indent = line[: len(line) - len(line.lstrip())]
            moved[row] = (indent + token.string, code)
    for row in sorted(moved, reverse=True):
        lines[row - 1 : row] = list(moved[row])
    return "\n".join(lines)


def _gap(source: SourceFile, previous: ast.stmt | None, statement: ast.stmt) -> str:
    """What goes between two kept statements: the file's blank lines where they were neighbours.

    So that a file that is all kept (an output converted again) comes back
    byte for byte; else imports follow each other and other statements
    stand apart, as black leaves them.
    """
    if previous is None:
        return ""
    body = source.tree.body
    if body.index(statement) == body.index(previous) + 1:
        first, _ = _extent(source, statement)
        return "\n" * (first - (previous.end_lineno or previous.lineno))
    imports = (ast.Import, ast.ImportFrom)
    return (
        "\n"
        if isinstance(previous, imports) and isinstance(statement, imports)
        else "\n\n\n"
    )


def _file_of(cls: type) -> str | None:
    """The file a class's methods were compiled from (None: no method of its own)."""
    for value in vars(cls).values():
        code = getattr(value, "__code__", None)
        if code is not None:
            return code.co_filename
    return None


def _statements_read(
    tree: ast.Module, classes: set[ast.ClassDef]
) -> list[tuple[ast.stmt, set[str] | None]] | None:
    """The top-level statements the output keeps, in the file's order.

    The ``classes``, and every statement binding a name that a kept one reads,
    again and again; an import keeps only the names read (its second
    element). None when the kept code imports relatively: the output is a
    file of its own.
    """
    body = [s for s in tree.body if not _is_main_guard(s)]
    binders: dict[str, list[int]] = {}
    for index, statement in enumerate(body):
        for bound in _names_bound(statement):
            binders.setdefault(bound, []).append(index)
    kept: dict[int, set[str] | None] = {
        i: None for i, s in enumerate(body) if s in classes or _is_future(s)
    }
    queue = list(kept)
    while queue:
        for used in _names_read(body[queue.pop()]):
            for index in binders.get(used, ()):
                statement = body[index]
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    names = kept.setdefault(index, set())
                    if names is not None:
                        names.add(used)
                elif index not in kept:
                    kept[index] = None
                    queue.append(index)
    chosen = [(body[i], kept[i]) for i in sorted(kept)]
    if any(isinstance(s, ast.ImportFrom) and s.level for s, _ in chosen):
        return None
    return chosen


def _is_main_guard(statement: ast.stmt) -> bool:
    """``if __name__ == "__main__":``: the file as a script, not the model."""
    test = getattr(statement, "test", None)
    return (
        isinstance(statement, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def _is_future(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.ImportFrom) and statement.module == "__future__"


def _names_bound(statement: ast.stmt) -> Iterator[str]:
    """The module-level names a top-level statement binds."""
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        for alias in statement.names:
            yield alias.asname or alias.name.split(".")[0]
        return
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield statement.name
        return
    for node in _outside_definitions(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.id
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from _names_bound(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name


def _outside_definitions(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` and what it holds, without the bodies of functions and classes in it."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield child
        else:
            yield from _outside_definitions(child)


def _names_read(statement: ast.stmt) -> set[str]:
    """Every name a statement mentions; a local one that shadows a global keeps it too."""
    return {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)}


def _import_text(statement: ast.Import | ast.ImportFrom, names: set[str]) -> str:
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


def _root_header(
    source: SourceFile,
    root: ast.ClassDef,
    model: nn.Module,
    classes: dict[type, str],
) -> tuple[tuple[int, int] | None, str] | None:
    """The root's ``def __init__`` header with the model's arguments as its defaults.

    ``((first, last) line, text)`` to put in, ``(None, "")`` when the header
    stands as it is, None when the arguments cannot be written as defaults
    (a config object, a function) or do not say how the model was built.
    """
    recorded = recorded_call(model)
    init = next(
        (
            s
            for s in root.body
            if isinstance(s, ast.FunctionDef) and s.name == "__init__"
        ),
        None,
    )
    if recorded is None or init is None:  # not recorded: the check of the build decides
        return None if recorded else (None, "")
    arguments = init.args
    written = arguments.posonlyargs + arguments.args
    positional_defaults: list[ast.expr] = []
    changed = False
    for index, parameter in enumerate(written[1:], start=1):
        default_index = index - (len(written) - len(arguments.defaults))
        old = arguments.defaults[default_index] if default_index >= 0 else None
        new = _default(old, recorded.get(parameter.arg, _MISSING), classes)
        if new is None:
            return None
        changed |= new is not old
        positional_defaults.append(new)
    keyword_defaults: list[ast.expr | None] = []
    for parameter, old in zip(arguments.kwonlyargs, arguments.kw_defaults):
        new = _default(old, recorded.get(parameter.arg, _MISSING), classes)
        if new is None:
            return None
        changed |= new is not old
        keyword_defaults.append(new)
    for rest in (arguments.vararg, arguments.kwarg):
        if rest is not None and recorded.get(rest.arg):
            return None  # built with extra arguments that no default can hold
    if not changed:
        return None, ""
    header = copy.copy(init)  # its name, returns, type parameters and position
    header.args = ast.arguments(
        posonlyargs=arguments.posonlyargs,
        args=arguments.args,
        vararg=arguments.vararg,
        kwonlyargs=arguments.kwonlyargs,
        kw_defaults=keyword_defaults,
        kwarg=arguments.kwarg,
        defaults=positional_defaults,
    )
    header.body, header.decorator_list = [ast.Pass()], []
    text = ast.unparse(header).splitlines()[0]
    last = _header_end(source, init)
    if last is None:
        return None
    indent = source.lines[init.lineno - 1][: init.col_offset]
    return (init.lineno, last), indent + text


_MISSING = object()


def _default(
    old: ast.expr | None, value: Any, classes: dict[type, str]
) -> ast.expr | None:
    """The default a parameter gets: ``old`` if it equals ``value``, else ``value`` written."""
    if value is _MISSING:
        return None
    if old is not None:
        if isinstance(old, ast.Name) and classes.get(value) == old.id:
            return old
        try:
            written = ast.literal_eval(old)
        except Exception:  # not a literal: a name, a call
            written = _MISSING
        if type(written) is type(value) and _equal(written, value):
            return old
    text = _written(value, classes)
    return None if text is None else ast.parse(text, mode="eval").body


def _written(value: Any, classes: dict[type, str]) -> str | None:
    """``value`` as Python source, if it is a literal or one of the output's classes."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if type(value) in (list, tuple):
        items = [_written(v, classes) for v in value]
        if any(i is None for i in items):
            return None
        if type(value) is tuple:
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        return f"[{', '.join(items)}]"
    if type(value) is dict:
        pairs = [(_written(k, classes), _written(v, classes)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if isinstance(value, type):
        return classes.get(value)
    return None


def _header_end(source: SourceFile, function: ast.FunctionDef) -> int | None:
    """The line of the ``:`` that ends a function's header (None: the body shares it)."""
    line = function.body[0].lineno - 1
    while line > function.lineno and (
        not source.lines[line - 1].strip() or source.comment_alone(line)
    ):
        line -= 1
    return line if line >= function.lineno else None


# --- the check: the source builds the model that was given ---


def _same_model(original: nn.Module, rebuilt: nn.Module) -> bool:
    """Whether ``rebuilt`` is ``original`` built again, its weights aside."""
    if str(original) != str(rebuilt) or _ties(original) != _ties(rebuilt):
        return False
    state, rebuilt_state = original.state_dict(), rebuilt.state_dict()
    if list(state) != list(rebuilt_state) or not all(
        _same_kind(state[k], rebuilt_state[k]) for k in state
    ):
        return False
    pairs = zip(
        original.named_modules(remove_duplicate=False),
        rebuilt.named_modules(remove_duplicate=False),
        strict=False,
    )
    count = sum(1 for _ in original.named_modules(remove_duplicate=False))
    if count != sum(1 for _ in rebuilt.named_modules(remove_duplicate=False)):
        return False
    return all(
        path == rebuilt_path and _same_module(module, rebuilt_module)
        for (path, module), (rebuilt_path, rebuilt_module) in pairs
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
        if not _equal(module._buffers.get(name), rebuilt._buffers.get(name)):
            return False
    attributes, rebuilt_attributes = _plain_attributes(module), _plain_attributes(
        rebuilt
    )
    return attributes.keys() == rebuilt_attributes.keys() and all(
        _equal(value, rebuilt_attributes[key]) for key, value in attributes.items()
    )


def _plain_attributes(module: nn.Module) -> dict[str, Any]:
    return {
        k: v
        for k, v in vars(module).items()
        if not k.startswith("_") and k != "training"
    }


def _equal(value: Any, other: Any) -> bool:
    """Equal values: tensors element for element, others by ``==``, objects by class."""
    if isinstance(value, torch.Tensor) or isinstance(other, torch.Tensor):
        return (
            isinstance(value, torch.Tensor)
            and isinstance(other, torch.Tensor)
            and _same_kind(value, other)
            and torch.equal(value, other)
        )
    if type(value) in (list, tuple) and type(other) is type(value):
        return len(value) == len(other) and all(map(_equal, value, other))
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype)):
        return type(value) is type(other) and (
            value == other or value != value and other != other  # nan
        )
    return type(value).__qualname__ == type(other).__qualname__


def _same_kind(tensor: torch.Tensor, other: torch.Tensor) -> bool:
    return tensor.shape == other.shape and tensor.dtype == other.dtype


def _ties(model: nn.Module) -> list[list[str]]:
    """The groups of names under which one tensor is held more than once."""
    held: dict[int, list[str]] = {}
    for name, tensor in itertools.chain(
        model.named_parameters(remove_duplicate=False),
        model.named_buffers(remove_duplicate=False),
    ):
        held.setdefault(id(tensor), []).append(name)
    return sorted(names for names in held.values() if len(names) > 1)


__all__ = ["as_written"]
