"""The user's own initialisation code, kept in class styles' ``__init__``.

A model's ``__init__`` often draws its weights again once its layers are
built: ``nn.init.trunc_normal_(self.relative_position_bias_table,
std=0.02)``, ``self.apply(self._init_weights)``, ``self.init_weights()``.
Printed from the trace alone, those statements are gone: a freshly built
output draws each layer's default initialisation, and a tensor the model
created empty and filled afterwards is ``torch.empty``, garbage until a
``state_dict`` is loaded.

Class styles keep them (:func:`init_code`). An *initialisation statement*
is a top-level statement of the user's ``__init__`` that calls something
and sets no attribute and no name a later statement reads: a call
(``self.apply(...)``, ``print(...)``) or a ``for``/``if``/``with`` made of
such calls. Each is written where it stood, after the last attribute
assigned before it that the output writes, with its comments; the methods
of the class it calls (``_init_weights``, their docstrings) follow
``forward``; the module-level code they read (DINO's ``trunc_normal_``, an
``import warnings``) comes before the classes. A constructor parameter the
output class does not take is written as the literal every instance was
built with (nanoGPT's ``config.n_layer`` becomes ``2``).

Nothing is kept on trust: the code is the user's, but it runs on the
output's layers, in the output's construction order. :func:`fresh_equal`
builds the original and the output anew under one seed; the printer's
caller keeps the code only when, with it, more tensors of the output equal
the original's, bit for bit, and none that were equal without it differ.
Code that cannot stand in the output (it reads a local of ``__init__``, a
class of the file, a relative import) is not written at all.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import inspect
import io
import math
import sys
import textwrap
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .as_written import names_read, statements_read
from .init_arguments import recorded_call
from .init_slices import random_states_kept, seed_all
from .source_text import (
    SourceFile,
    attributes_set,
    class_definition,
    function_definition,
)

#: The names the output imports, and what each is (the printer's import rows).
_IMPORTED = {
    "torch": torch,
    "nn": nn,
    "F": F,
    "math": math,
    "Tensor": Tensor,
    "OrderedDict": OrderedDict,
}

#: Calls that build the model rather than initialise it: a statement making one is not kept.
_BUILDING = frozenset(
    {
        "register_buffer",
        "register_parameter",
        "register_module",
        "add_module",
        "append",
        "extend",
        "insert",
        "update",
        "setattr",
        "__init__",
    }
)

#: Python types a constructor argument may have to be written as its literal.
_LITERALS = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class InitStatement:
    """One initialisation statement of ``__init__``, as the output writes it.

    ``after``: the attributes assigned before it in the source, nearest
    first; it goes after the first of them the output writes (none: first
    of all). ``lines``: its text, unindented, comments above it included;
    ``comments``: those comments (the printer does not write them again).
    """

    after: tuple[str, ...]
    lines: tuple[str, ...]
    comments: tuple[str, ...]


@dataclass(frozen=True)
class InitCode:
    """What a class keeps of its ``__init__``'s initialisation.

    ``methods``: each method the statements call, unindented, in the
    class's order. ``module_code``: the file's top-level definitions they
    read, each as ``(key, text)`` (``key`` is the same for the same
    definition, so that two classes reading one write it once);
    ``imports``: the printer's import names and import lines they need.
    """

    statements: tuple[InitStatement, ...]
    methods: tuple[tuple[str, str], ...]
    module_code: tuple[tuple[tuple[str, int], str], ...]
    imports: frozenset[str]


def has_init_statements(cls: type) -> bool:
    """Whether ``cls``'s own ``__init__`` has an initialisation statement (cheap: no checks)."""
    found = _init_of(cls)
    return found is not None and bool(_statements(found[1]))


def init_code(
    cls: type,
    members: Sequence[nn.Module],
    parameters: Iterable[str],
    taken: Iterable[str],
) -> InitCode | None:
    """The initialisation ``cls``'s ``__init__`` does, as the output class writes it, or None.

    ``members`` are the instances the output class stands for, each built
    by the user's ``cls``; ``parameters`` the output ``__init__``'s
    parameter names; ``taken`` the names the output defines at module level
    (classes, helpers), which the kept code may not redefine.
    """
    found = _init_of(cls)
    definition = class_definition(cls)
    if found is None or definition is None or not members:
        return None
    if any(type(m) is not cls for m in members):
        return None
    source, init = found
    arguments = [a.arg for a in _every_argument(init.args)][1:]
    parameters = set(parameters)
    kept = []
    for after, statement in _statements(init):
        methods = _methods_called(definition[1], [statement])
        if methods is None:
            continue
        free = _free_names(statement, methods)
        if free & (_locals_before(init, statement) - set(arguments)):
            continue  # it reads what __init__ computed: not a statement of its own
        read = free & set(arguments)
        replaced = _argument_literals([statement], read, parameters, members)
        if replaced is not None:
            kept.append((after, statement, methods, free - set(arguments), replaced))
    if not kept:
        return None
    resolved = _module_code(source, cls, set().union(*(k[3] for k in kept)), set(taken))
    if resolved is None:
        return None
    module_code, imports = resolved
    statements = tuple(
        _statement_text(source, statement, after, replaced)
        for after, statement, _, _, replaced in kept
    )
    called = {m.name for k in kept for m in k[2]}
    method_texts = tuple(
        (m.name, _text(source, _extent(source, m), m.col_offset))
        for m in definition[1].body
        if isinstance(m, ast.FunctionDef) and m.name in called
    )
    return InitCode(statements, method_texts, module_code, imports)


def _free_names(statement: ast.stmt, methods: list[ast.FunctionDef]) -> set[str]:
    """The names a statement and the methods it calls read from outside: module, arguments."""
    wrapped = ast.FunctionDef(
        name="_",
        args=ast.arguments([], [], None, [], [], None, []),
        body=[statement],
        decorator_list=[],
    )
    free = names_read(wrapped).union(*map(names_read, methods))
    return free - {"self", *dir(builtins)}


# --- the statements --------------------------------------------------------


def _init_of(cls: type) -> tuple[SourceFile, ast.FunctionDef] | None:
    init = vars(cls).get("__init__")
    return function_definition(init) if inspect.isfunction(init) else None


def _statements(init: ast.FunctionDef) -> list[tuple[tuple[str, ...], ast.stmt]]:
    """The initialisation statements of ``init``, each with the attributes set before it."""
    assigned: list[str] = []
    kept = []
    body = init.body
    for index, statement in enumerate(body):
        names = attributes_set(statement)
        if names:
            assigned += names
        elif _initialises(statement, body[index + 1 :]):
            kept.append((tuple(reversed(assigned)), statement))
    return kept


def _initialises(statement: ast.stmt, later: list[ast.stmt]) -> bool:
    """A call, or a loop or branch of calls, that builds nothing and binds nothing read later."""
    if not isinstance(statement, (ast.Expr, ast.For, ast.If, ast.With)):
        return False
    if not any(isinstance(n, ast.Name) and n.id == "self" for n in ast.walk(statement)):
        return False  # it does not touch the model (``config.merge_from_dict(...)``)
    if isinstance(statement, ast.Expr) and not isinstance(statement.value, ast.Call):
        return False  # a docstring, a bare name
    calls = [n for n in ast.walk(statement) if isinstance(n, ast.Call)]
    if not calls or any(_builds(call) for call in calls):
        return False
    for node in ast.walk(statement):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = getattr(node, "targets", None) or [node.target]
            if any(not isinstance(t, ast.Name) for t in targets):
                return False  # self.x = ..., x[0] = ...: state, not a draw
        if isinstance(node, (ast.Return, ast.Yield, ast.Global, ast.Nonlocal)):
            return False
    bound = {
        n.id
        for n in ast.walk(statement)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    read_later = set().union(*map(_reads_from_outside, later))
    return not bound & read_later


def _reads_from_outside(statement: ast.stmt) -> set[str]:
    """The names a statement reads that it does not bind itself (a generator's ``p``)."""
    names = [n for n in ast.walk(statement) if isinstance(n, ast.Name)]
    own = {n.id for n in names if isinstance(n.ctx, ast.Store)}
    return {n.id for n in names if isinstance(n.ctx, ast.Load)} - own


def _builds(call: ast.Call) -> bool:
    function = call.func
    name = function.attr if isinstance(function, ast.Attribute) else None
    if isinstance(function, ast.Name):
        name = function.id
    return name in _BUILDING or (
        isinstance(function, ast.Attribute)
        and isinstance(function.value, ast.Call)
        and isinstance(function.value.func, ast.Name)
        and function.value.func.id == "super"
    )


def _methods_called(
    definition: ast.ClassDef, statements: list[ast.stmt]
) -> list[ast.FunctionDef] | None:
    """The methods of the class the statements read through ``self``, again and again, in class order.

    None when one is a method the output writes itself (``forward``).
    """
    own = {
        s.name: s
        for s in definition.body
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    found: set[str] = set()
    queue: list[ast.AST] = list(statements)
    while queue:
        for node in ast.walk(queue.pop()):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and node.attr in own
                and node.attr not in found
            ):
                found.add(node.attr)
                queue.append(own[node.attr])
    if found & {"forward", "__init__"}:
        return None
    return [own[name] for name in own if name in found]


def _every_argument(arguments: ast.arguments) -> list[ast.arg]:
    return [
        *arguments.posonlyargs,
        *arguments.args,
        *(a for a in (arguments.vararg,) if a is not None),
        *arguments.kwonlyargs,
        *(a for a in (arguments.kwarg,) if a is not None),
    ]


def _locals_before(init: ast.FunctionDef, last: ast.stmt) -> set[str]:
    """The names ``__init__``'s statements before ``last`` bind."""
    bound: set[str] = set()
    for statement in init.body:
        if statement is last:
            break
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
    return bound


def _argument_literals(
    statements: list[ast.stmt],
    read: set[str],
    parameters: set[str],
    members: Sequence[nn.Module],
) -> dict[tuple[int, int, int, int], str] | None:
    """Where the statements read a constructor parameter the output does not take: its literal.

    Keyed by the read's span (``config.n_layer`` whole). None when a value
    is no literal or differs between the members, or was not recorded.
    """
    replaced: dict[tuple[int, int, int, int], str] = {}
    for statement in statements:
        for node in _outermost_reads(statement, read - parameters):
            values = [_value(node, recorded_call(m)) for m in members]
            if any(v is _UNKNOWN or not isinstance(v, _LITERALS) for v in values):
                return None
            if any(repr(v) != repr(values[0]) for v in values):
                return None
            span = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
            replaced[span] = repr(values[0])
    return replaced


def _outermost_reads(statement: ast.stmt, names: set[str]) -> list[ast.expr]:
    """Each read of ``names``, with the attribute chain it starts (``config.n_layer``)."""
    found = []

    def visit(node: ast.AST) -> None:
        chain = node
        while isinstance(chain, ast.Attribute):
            chain = chain.value
        if isinstance(chain, ast.Name) and chain.id in names and chain is not node:
            found.append(node)
            return
        if isinstance(node, ast.Name) and node.id in names:
            found.append(node)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(statement)
    return found


_UNKNOWN = object()


def _value(node: ast.expr, recorded: Mapping[str, Any] | None) -> Any:
    path = []
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    if recorded is None or not isinstance(node, ast.Name) or node.id not in recorded:
        return _UNKNOWN
    value = recorded[node.id]
    for attribute in reversed(path):
        try:
            value = getattr(value, attribute)
        except Exception:
            return _UNKNOWN
    return value


# --- text ------------------------------------------------------------------


def _extent(source: SourceFile, node: ast.stmt) -> tuple[int, int]:
    """A statement's first and last line, with decorators and the comment lines right above."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    while first > 1 and source.comment_alone(first - 1):
        first -= 1
    return first, node.end_lineno or node.lineno


def _text(
    source: SourceFile,
    extent: tuple[int, int],
    column: int,
    replaced: Mapping[tuple[int, int, int, int], str] | None = None,
) -> str:
    """The lines of ``extent``, with the ``replaced`` spans, unindented by ``column``."""
    first, last = extent
    lines = [line.encode() for line in source.lines[first - 1 : last]]
    for (row, col, end_row, end_col), text in sorted(
        (replaced or {}).items(), reverse=True
    ):
        head = lines[row - first][:col]  # ast columns count utf-8 bytes
        tail = lines[end_row - first][end_col:]
        lines[row - first : end_row - first + 1] = [head + text.encode() + tail]
    text = "\n".join(line.decode() for line in lines)
    return textwrap.dedent(text) if column else text


def _statement_text(
    source: SourceFile,
    statement: ast.stmt,
    after: tuple[str, ...],
    replaced: Mapping[tuple[int, int, int, int], str],
) -> InitStatement:
    first, last = _extent(source, statement)
    spans = {s: t for s, t in replaced.items() if first <= s[0] <= last}
    text = _text(source, (first, last), statement.col_offset, spans)
    comments = tuple(
        comment for line, comment in source.comments.items() if first <= line <= last
    )
    return InitStatement(after, tuple(text.splitlines()), comments)


# --- module-level code -----------------------------------------------------


def _module_code(
    source: SourceFile, cls: type, names: set[str], taken: set[str]
) -> tuple[tuple[tuple[tuple[str, int], str], ...], frozenset[str]] | None:
    """The file's top-level code that ``names`` need, and the imports; None if it cannot be kept."""
    if not names:
        return (), frozenset()
    chosen = statements_read(source.tree, set(), names)
    if chosen is None:
        return None
    namespace = _globals_of(cls)
    imports: set[str] = set()
    code = []
    filename = vars(cls)["__init__"].__code__.co_filename
    for statement, imported in chosen:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            continue  # a file's own switch: the output's top is its own
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                bound = alias.asname or alias.name.split(".")[0]
                if imported is not None and bound not in imported:
                    continue
                ours = _IMPORTED.get(bound, _UNKNOWN)
                if ours is not _UNKNOWN:
                    if namespace.get(bound, _UNKNOWN) is not ours:
                        return None  # the user's nn is not torch.nn
                    imports.add(bound)
                elif bound in taken:
                    return None
                else:
                    imports.add(_import_line(statement, alias))
            continue
        if isinstance(statement, ast.ClassDef) or _binds(statement) & (
            taken | set(_IMPORTED)
        ):
            return None
        text = _text(source, _extent(source, statement), 0)
        code.append(((filename, statement.lineno), text))
    return tuple(code), frozenset(imports)


def drawn_code(
    cls: type, module_names: Iterable[str], methods: Iterable[str], taken: Iterable[str]
) -> InitCode | None:
    """What ``cls``'s tensors written as fresh-checked code read, as an :class:`InitCode`.

    That code (:mod:`nnconvert.init_slices`) may read names of the file's
    module level (``sinusoids``, ``np``) and call methods of the class
    (``self._get_sinusoid_encoding_table(n, d)``): the methods are written
    after ``forward``, with those they call, and the module-level code they
    all read before the classes, as for initialisation statements. No
    statements of its own. None when some of it cannot be kept.
    """
    found = _init_of(cls)
    definition = class_definition(cls)
    if found is None or definition is None:
        return None
    source = found[0]
    own = {
        s.name: s
        for s in definition[1].body
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    named = [own[m] for m in methods if m in own]
    reached = _methods_called(definition[1], named)
    if reached is None or len(named) != len(set(methods)):
        return None
    called = {m.name for m in [*named, *reached]}
    chosen = [m for name, m in own.items() if name in called]
    free = set(module_names).union(*map(names_read, chosen)) - {
        "self",
        *dir(builtins),
    }
    resolved = _module_code(source, cls, free, set(taken))
    if resolved is None:
        return None
    texts = tuple(
        (m.name, _text(source, _extent(source, m), m.col_offset)) for m in chosen
    )
    return InitCode((), texts, *resolved)


def merged(first: InitCode | None, second: InitCode | None) -> InitCode | None:
    """Two pieces of one class's code as one: statements, methods (each once), module code."""
    if first is None or second is None:
        return first or second
    methods = dict(first.methods)
    methods.update(second.methods)
    return InitCode(
        first.statements + second.statements,
        tuple(methods.items()),
        tuple(dict((*first.module_code, *second.module_code)).items()),
        first.imports | second.imports,
    )


def _binds(statement: ast.stmt) -> set[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    return {
        n.id
        for n in ast.walk(statement)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _import_line(statement: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    if isinstance(statement, ast.Import):
        return ast.unparse(ast.Import(names=[alias]))
    return ast.unparse(ast.ImportFrom(module=statement.module, names=[alias], level=0))


def _globals_of(cls: type) -> dict[str, Any]:
    function = next((v for v in vars(cls).values() if inspect.isfunction(v)), None)
    return function.__globals__ if function is not None else {}


# --- checking --------------------------------------------------------------

#: The seed both builds draw under.
SEED = 0


def fresh_builder(
    model: nn.Module, fresh_state: Callable[[], Mapping[str, Tensor]] | None
) -> Callable[[], Mapping[str, Tensor]] | None:
    """How to build the original anew: the caller's builder, else its recorded call."""
    if fresh_state is not None:
        return fresh_state
    recorded = recorded_call(model)
    if recorded is None:
        return None
    try:
        signature = inspect.signature(type(model).__init__)
    except (TypeError, ValueError):
        return None
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    parameters = list(signature.parameters.values())[1:]
    starred = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    for parameter in parameters:
        if parameter.name not in recorded:
            return None
        value = recorded[parameter.name]
        if parameter.kind is parameter.VAR_POSITIONAL:
            positional += list(value)
            starred = False
        elif parameter.kind is parameter.VAR_KEYWORD:
            keywords.update(value)
        elif parameter.kind is parameter.POSITIONAL_ONLY or starred:
            positional.append(value)
        else:
            keywords[parameter.name] = value
    cls = type(model)
    return lambda: cls(*positional, **keywords).state_dict()


def fresh_equal(
    build: Callable[[], Mapping[str, Tensor]],
    made: Callable[[], nn.Module],
) -> frozenset[str] | None:
    """The keys whose tensors a new original and a new output share bit for bit (None: one failed).

    Both are built under :data:`SEED` (torch's, Python's and numpy's random
    numbers: a file may draw with ``np.random``); the global random states,
    stdout (nanoGPT prints its size) and warnings are left as they were. Memory
    ``torch.empty`` hands out is filled (:func:`_empty_filled`): else it may
    hold what an earlier build of the same tensor left, and a tensor nothing
    initialises would equal the original's by chance, or not, from run to run.
    """
    with (
        random_states_kept(),
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
        _empty_filled(),
    ):
        warnings.simplefilter("ignore")
        try:
            seed_all(SEED)
            expected = dict(build())
            seed_all(SEED)
            state = made().state_dict()
        except Exception:
            return None
    return frozenset(
        key
        for key, tensor in state.items()
        if key in expected and _same(tensor, expected[key])
    )


@contextlib.contextmanager
def _empty_filled() -> Iterator[None]:
    """``torch.empty`` gives NaN (floats) or the largest value (integers), not old memory.

    PyTorch does so under deterministic algorithms
    (``torch.utils.deterministic.fill_uninitialized_memory``); warnings only,
    so that no operation of a build fails for lack of a deterministic kernel.
    """
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def _same(made: Tensor, expected: Tensor) -> bool:
    return (
        made.shape == expected.shape
        and made.dtype == expected.dtype
        and torch.equal(made.detach().cpu(), expected.detach().cpu())
    )


def keeps_more(
    with_code: frozenset[str] | None, without: frozenset[str] | None
) -> bool:
    """Keep the code: it makes more tensors equal the original's and none differ that did not."""
    return with_code is not None and (without is None or with_code > without)


@functools.lru_cache(maxsize=256)
def _class_has_statements(cls: type) -> bool:
    return has_init_statements(cls)


def any_init_statements(modules: Iterable[nn.Module]) -> bool:
    """Whether a user class among ``modules`` has initialisation statements."""
    return any(_class_has_statements(type(m)) for m in modules)


def any_own_state(modules: Iterable[nn.Module]) -> bool:
    """Whether a user class among ``modules`` makes a parameter or persistent buffer itself.

    Its ``__init__`` may draw it (``nn.Parameter(torch.randn(1, dim))``):
    class styles then write that code when the fresh build checks it
    (:mod:`nnconvert.init_slices`).
    """
    return any(
        _init_of(type(m)) is not None
        and (
            bool(m._parameters)
            or any(n not in m._non_persistent_buffers_set for n in m._buffers)
        )
        for m in modules
    )


__all__ = [
    "InitCode",
    "InitStatement",
    "SEED",
    "any_init_statements",
    "any_own_state",
    "drawn_code",
    "fresh_builder",
    "fresh_equal",
    "has_init_statements",
    "init_code",
    "keeps_more",
    "merged",
]
