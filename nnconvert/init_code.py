"""The user's own initialisation code, kept in every style.

A model's ``__init__`` often draws its weights again once its layers are
built: ``nn.init.trunc_normal_(self.relative_position_bias_table,
std=0.02)``, ``self.apply(self._init_weights)``, ``self.init_weights()``.
Printed from the trace alone, those statements are gone: a freshly built
output draws each layer's default initialisation, and a tensor the model
created empty and filled afterwards is ``torch.empty``, garbage until a
``state_dict`` is loaded.

An *initialisation statement* is a top-level statement of the user's
``__init__`` that reads ``self``, calls something, and sets no attribute
and no name a later statement reads: a call (``self.apply(...)``,
``print(...)``) or a ``for``/``if``/``with`` made of such calls; or a local
set so that only such statements read (minGPT's ``n_params = sum(...)``
before its ``print``).

* **Class styles** (:func:`init_code`) write each one in ``__init__``
  before the first layer holding tensors that the source builds after it
  (a layer without tensors draws nothing), with its comments; the methods
  of the class it calls (``_init_weights``, their docstrings) follow
  ``forward``; the module-level code they read (DINO's ``trunc_normal_``,
  an ``import warnings``) comes before the classes. A constructor
  parameter the output class does not take is written as the literal
  every instance was built with (nanoGPT's ``config.n_layer`` becomes
  ``2``).
* **Functional style** (:func:`functional_init`) writes the root's
  statements whose every ``self`` is a weight (``params["decoder.weight"]``)
  or a method so written (``init_weights(params)``) in ``init_params()``,
  before the first key of the layers built after them; read back, they
  are ``__init__`` statements and methods again.

Nothing is kept on trust in class styles: the code is the user's, but it
runs on the output's layers, in the output's construction order.
:func:`fresh_equal` builds the original and the output anew under one
seed; the caller keeps the code only when, with it, more tensors of the
output equal the original's, bit for bit, and none that were equal
without it differ (:func:`keeps_more`). Code that cannot stand in the
output (it reads a local of ``__init__``, a class of the file, a relative
import) is not written at all.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import functools
import inspect
import io
import math
import re
import textwrap
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .as_written import (
    globals_of,
    comments_above_long_lines,
    import_text,
    names_read,
    statements_read,
)
from .functional.init_ties import params_key
from .init_arguments import recorded_call
from .init_slices import empty_filled, random_states_kept, seed_all
from .source_text import (
    SourceFile,
    attributes_set,
    class_definition,
    function_definition,
    every_argument,
    is_functional_input,
    methods_called,
    self_path,
    written_key,
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

    ``before``: the attributes assigned after it in the source; it goes
    before the first assignment of the output, in the output's order, that
    sets one of them holding tensors (none: after every assignment). Layers without tensors draw
    nothing, so where it stands among them does not matter, and functional
    style, which has no such layers, can say where it stands
    (:func:`functional_init`). ``lines``: its text, unindented, comments
    above it included; ``comments``: those comments (the printer does not
    write them again).
    """

    before: tuple[str, ...]
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

    @property
    def comments(self) -> tuple[str, ...]:
        return tuple(c for s in self.statements for c in s.comments)


@dataclass
class _Found:
    """The initialisation statements a class keeps, still as trees of its file."""

    source: SourceFile
    #: (attributes assigned after it, the statement, literals put in: span -> text)
    statements: list[tuple[tuple[str, ...], ast.stmt, dict[_Span, str]]]
    methods: list[ast.FunctionDef]  # those the statements call, in class order
    module_names: set[str]  # the module-level names they read
    namespace: dict[str, Any]  # the file's globals
    filename: str


#: (line, column, end line, end column) of a node, as ``ast`` counts them.
_Span = tuple[int, int, int, int]


def has_init_statements(cls: type) -> bool:
    """Whether ``cls``'s own ``__init__`` has an initialisation statement (cheap: no checks)."""
    found = _init_of(cls)
    return found is not None and bool(_statements(found[1]))


def init_code(
    members: Sequence[nn.Module],
    parameters: Iterable[str],
    taken: Iterable[str],
    root: bool = True,
) -> InitCode | None:
    """The initialisation the members' ``__init__`` does, as the output class writes it, or None.

    ``members`` are the instances one output class stands for;
    ``parameters`` the output ``__init__``'s parameter names and the locals
    it computes first (``config = GPTConfig(...)``); ``taken`` the
    names the output defines at module level (classes, helpers), which the
    kept code may not redefine. A functional input's ``root`` reads it from
    the file's ``init_params()`` (:func:`functional_init` wrote it there);
    its blocks have none.
    """
    if not members:
        return None
    if is_functional_input(members[0]):
        if not root or len(members) > 1:
            return None
        return _from_functional(members[0], set(taken))
    found = _found(type(members[0]), members, set(parameters))
    if found is None:
        return None
    resolved = _module_code(found, found.module_names, set(taken))
    if resolved is None:
        return None
    module_code, imports = resolved
    statements = tuple(
        _statement(found.source, node, before, replaced)
        for before, node, replaced in found.statements
    )
    methods = tuple(
        (m.name, _text(found.source, _extent(found.source, m), m.col_offset))
        for m in found.methods
    )
    return InitCode(statements, methods, module_code, imports)


def _found(
    cls: type, members: Sequence[nn.Module], parameters: set[str]
) -> _Found | None:
    """The initialisation statements of ``cls``'s ``__init__`` that can stand in the output."""
    found = _init_of(cls)
    definition = class_definition(cls)
    if found is None or definition is None:
        return None
    if any(type(m) is not cls for m in members):
        return None
    source, init = found
    arguments = {a.arg for a in every_argument(init.args)[1:]}
    kept = []
    kept_locals: set[str] = set()  # bound by a statement kept before
    methods: set[str] = set()
    module_names: set[str] = set()
    for before, statement in _statements(init, members):
        called = _methods_called(definition[1], [statement])
        if called is None:
            continue
        free = _free_names(statement, called)
        # it reads what __init__ computed: not a statement of its own, unless
        # the output class computes that local too (``config = GPTConfig(...)``)
        computed = _locals_before(init, statement) - arguments - parameters
        if free & (computed - kept_locals):
            continue
        replaced = _argument_literals(
            [statement], free & arguments, parameters, members
        )
        if replaced is not None:
            kept.append((before, statement, replaced))
            kept_locals |= _binds(statement)
            methods |= {m.name for m in called}
            module_names |= free - arguments
    if not kept:
        return None
    ordered = [
        m
        for m in definition[1].body
        if isinstance(m, ast.FunctionDef) and m.name in methods
    ]
    filename = vars(cls)["__init__"].__code__.co_filename
    return _Found(source, kept, ordered, module_names, globals_of(cls), filename)


def _free_names(statement: ast.stmt, methods: list[ast.FunctionDef]) -> set[str]:
    """The names a statement and the methods it calls read from outside: module, arguments."""
    wrapped = ast.FunctionDef(
        name="_",
        args=ast.arguments([], [], None, [], [], None, []),
        body=[statement],
        decorator_list=[],
    )
    free = names_read(wrapped).union(*map(names_read, methods))
    return free - {"self", "params", *dir(builtins)}


# --- the statements --------------------------------------------------------


def _init_of(cls: type) -> tuple[SourceFile, ast.FunctionDef] | None:
    init = vars(cls).get("__init__")
    return function_definition(init) if inspect.isfunction(init) else None


def _statements(
    init: ast.FunctionDef, members: Sequence[nn.Module] | None = None
) -> list[tuple[tuple[str, ...], ast.stmt]]:
    """The initialisation statements of ``init``, each with the attributes set after it.

    Also those of the branch of an ``if`` that sets attributes which every
    member took (:func:`_taken_branch`): the example GCN's ``if use_bias:
    self.bias = nn.Parameter(...); nn.init.zeros_(self.bias)``. Without
    ``members`` (a cheap first look), of either branch.
    """
    return list(_statements_in_block(init.body, [], members))


def _statements_in_block(
    body: list[ast.stmt],
    following: list[ast.stmt],
    members: Sequence[nn.Module] | None,
) -> Iterable[tuple[tuple[str, ...], ast.stmt]]:
    """:func:`_statements` of one block; ``following``: the statements after it, outside."""
    derived: frozenset[str] = frozenset()  # locals set by statements yielded
    for index, statement in enumerate(body):
        later = body[index + 1 :] + following
        if not attributes_set(statement) and _initialises(
            statement, later, derived=derived
        ):
            if isinstance(statement, ast.Assign):
                derived |= _binds(statement)
            after = [
                name
                for node in later
                for inner in ast.walk(node)  # a tie under ``if tie_weights:`` too
                if isinstance(inner, ast.stmt)
                for name in attributes_set(inner)
            ]
            yield tuple(after), statement
        elif isinstance(statement, ast.If):
            branches = (
                [statement.body, statement.orelse]
                if members is None
                else [_taken_branch(statement, members)]
            )
            for branch in branches:
                if branch:
                    yield from _statements_in_block(branch, later, members)


def _taken_branch(
    statement: ast.If, members: Sequence[nn.Module]
) -> list[ast.stmt] | None:
    """The branch of ``statement`` every member's ``__init__`` ran, where its test says.

    A test of a constructor argument (``use_bias``, ``not use_bias``), read
    from each member's record; None where one was not recorded, or the
    members differ.
    """
    test, negated = statement.test, False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, negated = test.operand, True
    if not isinstance(test, ast.Name):
        return None
    values = [_value(test, recorded_call(m)) for m in members]
    if not values or any(v is _UNKNOWN or not isinstance(v, _LITERALS) for v in values):
        return None
    taken = {bool(v) != negated for v in values}
    if len(taken) != 1:
        return None
    return statement.body if taken.pop() else statement.orelse


def _initialises(
    statement: ast.stmt,
    later: list[ast.stmt],
    own: str = "self",
    derived: frozenset[str] = frozenset(),
) -> bool:
    """A call, or a loop or branch of calls, that builds nothing and binds nothing read later.

    Or a local set to such a call (minGPT's ``n_params = sum(p.numel() for p
    in self.transformer.parameters())``) that only such statements read.

    It must read ``own`` (``self``; ``params`` in ``init_params()``): code
    that does not touch the model (``config.merge_from_dict(...)``) is not
    its initialisation.
    """
    local = isinstance(statement, ast.Assign) and all(
        isinstance(t, ast.Name) for t in statement.targets
    )  # ``n_params = sum(...)``, read by initialisation statements only
    if not local and not isinstance(statement, (ast.Expr, ast.For, ast.If, ast.With)):
        return False
    reads = {own} | derived  # ``derived``: locals such a statement set from it
    if not any(isinstance(n, ast.Name) and n.id in reads for n in ast.walk(statement)):
        return False
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
    if not local:
        read_later = set().union(*map(_reads_from_outside, later))
        return not bound & read_later
    for index, reader in enumerate(later):  # each reader initialises too
        if bound & _reads_from_outside(reader):
            if attributes_set(reader) or isinstance(reader, ast.Assign):
                return False
            if not _initialises(reader, later[index + 1 :], own, derived | bound):
                return False
    return True


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
    for statement in statements:
        methods_called(statement, own, found)
    if found & {"forward", "__init__"}:
        return None
    return [own[name] for name in own if name in found]


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


def _statement(
    source: SourceFile,
    statement: ast.stmt,
    before: tuple[str, ...],
    replaced: Mapping[_Span, str],
    depth: int = 8,
) -> InitStatement:
    """A statement's text, its literals and translations put in, and the comments it holds.

    ``depth``: how deep the output writes it (``__init__``'s body: 8;
    ``init_params()``'s: 4); a trailing comment that would make its line too
    long stands above it.
    """
    first, last = _extent(source, statement)
    spans = {s: t for s, t in replaced.items() if first <= s[0] <= last}
    text = _text(source, (first, last), statement.col_offset, spans)
    comments = tuple(
        comment for line, comment in source.comments.items() if first <= line <= last
    )
    lines = comments_above_long_lines(text.splitlines(), depth)
    return InitStatement(before, tuple(lines), comments)


def take_comments(
    carried: Iterable[str], placed: Mapping[str, list[str]], rest: list[str]
) -> None:
    """Remove each ``carried`` comment once from where comment placing put it (in place)."""
    for comment in carried:
        for comments in [*placed.values(), rest]:
            if comment in comments:
                comments.remove(comment)
                break


def owns_tensors(module: nn.Module, attribute: str) -> bool:
    """Whether ``module.<attribute>`` is a tensor or holds one (unknown: it does)."""
    try:
        value = module.get_submodule(attribute)
    except AttributeError:
        value = getattr(module, attribute, None)
    if isinstance(value, nn.Module):
        return any(True for _ in value.parameters()) or any(
            True for _ in value.buffers()
        )
    return value is None or isinstance(value, Tensor)


# --- functional style ------------------------------------------------------


@dataclass(frozen=True)
class FunctionalInit:
    """The initialisation ``init_params()`` does after drawing every tensor.

    ``lines``: its statements, reading ``params["key"]`` where the class
    read ``self.key``; ``functions``: the methods they call, as functions
    taking ``params`` first; the rest as :class:`InitCode`.
    """

    #: each statement: the paths of the layers built after it (it goes
    #: before the first of their keys), the block whose ``__init__`` ran it
    #: (it goes after that block's keys; None: the root's), its lines
    placed: tuple[tuple[tuple[str, ...], str | None, tuple[str, ...]], ...]
    comments: tuple[str, ...]
    functions: tuple[str, ...]
    module_code: tuple[tuple[tuple[str, int], str], ...]
    imports: frozenset[str]
    #: each statement's file and first line where the root's ``__init__``
    #: has it (None: a block's), as :class:`~nnconvert.init_replay.InitCall`
    #: says where the calls it recorded ran
    wheres: tuple[tuple[str, int] | None, ...] = ()

    def before(self, key: str, previous: str | None, done: set[int]) -> list[str]:
        """The lines of the statements not yet written (``done``) that run before ``key``.

        Those before a layer ``key`` is one of, and a block's once its keys
        are written (``previous`` is its last); ``done`` is updated.
        """
        lines: list[str] = []
        for index, (later, block, text) in enumerate(self.placed):
            ended = (
                block is not None
                and previous is not None
                and _under(previous, block)
                and not _under(key, block)
            )
            if index not in done and (ended or any(_under(key, p) for p in later)):
                done.add(index)
                lines += text
        return lines

    def rest(
        self, done: set[int]
    ) -> list[tuple[tuple[str, int] | None, tuple[str, ...]]]:
        """The statements not yet written (those that ran last): where the root's ``__init__`` has each, its lines."""
        wheres = self.wheres or (None,) * len(self.placed)
        return [
            (where, text)
            for index, ((_, _, text), where) in enumerate(zip(self.placed, wheres))
            if index not in done
        ]

    @functools.cached_property
    def keys(self) -> frozenset[str]:
        """The keys its statements name (``params["key"]``), and those of the functions they call.

        A block's function names its own keys (``params["W"]``), called
        over its slice (``reset_parameters(sub_params(params, "gat1."))``):
        ``gat1.W``.
        """
        texts = {
            found.group(1): text
            for text in self.functions
            if (found := re.search(r"^def (\w+)\(", text, re.MULTILINE)) is not None
        }
        text = "\n".join(line for _, _, lines in self.placed for line in lines)
        keys = set(re.findall(r'params\["([^"]+)"\]', text))
        for name, prefix in re.findall(r'(\w+)\(sub_params\(params, "([^"]*)"\)', text):
            own = re.findall(r'params\["([^"]+)"\]', texts.get(name, ""))
            keys |= {prefix + key for key in own}
        for name in re.findall(r"(\w+)\(params\b", text):
            keys |= set(re.findall(r'params\["([^"]+)"\]', texts.get(name, "")))
        return frozenset(keys)


#: How a method's ``self`` is written in functional style.
_PARAMS = "params: dict[str, Tensor]"


def _under(key: str, path: str) -> bool:
    """Whether ``key`` is ``path`` or a key of the layer at ``path``."""
    return key == path or key.startswith(path + ".")


#: a kept statement: the layers built after it, the block whose ``__init__``
#: ran it, the statement, and its file and line in the root's ``__init__``
_Placed = tuple[tuple[str, ...], str | None, InitStatement, tuple[str, int] | None]


def functional_init(model: nn.Module, taken: Iterable[str]) -> FunctionalInit | None:
    """The initialisation statements ``init_params()`` can run where they ran, or None.

    Those of the root's ``__init__``, and of each block's, whose every
    ``self`` is a tensor of the ``state_dict`` (``self.encoder.weight`` ->
    ``params["encoder.weight"]``, a block's ``self.W`` ->
    ``params["gat1.W"]``) or a call of a method that is itself so written
    (``self.init_weights()`` -> ``init_weights(params)``, a block's
    ``self.reset_parameters()`` -> ``reset_parameters(sub_params(params,
    "gat1."))``). Not ``self.apply(...)`` nor ``self.parameters()``: a
    weight dict has no modules. A functional input's own statements are
    kept as written.
    """
    taken = set(taken)
    if is_functional_input(model):
        return _functional_tail(model, taken)
    written: list[_Placed] = []
    functions: dict[str, tuple[type, str]] = {}  # name -> (class, text)
    names: set[str] = set()
    founds: list[_Found] = []
    for path, block in model.named_modules():
        if path and (
            is_functional_input(block) or not _class_has_statements(type(block))
        ):
            continue
        found = _found(type(block), [block], set())
        if found is None:
            continue
        kept = _block_statements(found, block, path, functions)
        if kept is None:
            continue
        statements, texts, read = kept
        written += statements
        functions.update(texts)
        names |= read
        founds.append(found)
    if not written:
        return None
    module_code: dict[tuple[str, int], str] = {}
    imports: set[str] = set()
    for found in founds:
        own = {n for n in names if n in found.namespace or n not in functions}
        resolved = _module_code(
            found, own - set(functions) - {"sub_params"}, taken | set(functions)
        )
        if resolved is None:
            return None
        module_code.update(resolved[0])
        imports |= resolved[1]
    texts = tuple(text for _, text in functions.values())
    return FunctionalInit(
        tuple((later, block, s.lines) for later, block, s, _ in written),
        tuple(c for _, _, s, _ in written for c in s.comments),
        texts,
        tuple(module_code.items()),
        frozenset(imports | ({"Tensor"} if texts else set())),
        tuple(where for *_, where in written),
    )


def _block_statements(
    found: _Found,
    block: nn.Module,
    path: str,
    functions: Mapping[str, tuple[type, str]],
) -> (
    tuple[
        list[_Placed],
        dict[str, tuple[type, str]],
        set[str],
    ]
    | None
):
    """One block's (or the root's, ``path`` empty) statements over ``params``.

    Its methods become functions once per class; a method name another
    class already gave a function leaves this block's statements out.
    """
    keys = set(block.state_dict())
    methods = {m.name: m for m in found.methods}
    cls = type(block)
    if any(functions.get(name, (cls,))[0] is not cls for name in methods):
        return None
    translated = {
        name: _to_params(found.source, m, keys, set(methods))
        for name, m in methods.items()
    }
    prefix = f"{path}." if path else ""
    roots = {key.split(".")[0] for key in keys}
    statements = []
    read: set[str] = set()
    used: set[str] = set()
    dropped: set[str] = set()  # locals of statements left out (``n_params``)
    for before, node, replaced in found.statements:
        spans = _to_params(found.source, node, keys, set(methods), prefix)
        called = methods_called(node, methods, set())
        if (
            spans is None
            or any(translated[m] is None for m in called)
            or _reads_from_outside(node) & dropped
        ):
            dropped |= _binds(node)
            continue
        later = tuple(a.split(".")[0] for a in before if owns_tensors(block, a))
        if set(later) - roots:
            dropped |= _binds(node)
            continue  # built before a layer whose keys init_params() cannot tell
        statement = _statement(found.source, node, (), {**replaced, **spans}, 4)
        at = tuple(prefix + a for a in later)
        where = None if path else (found.filename, node.lineno)
        statements.append((at, path or None if not later else None, statement, where))
        read |= _free_names(node, [methods[m] for m in called])
        used |= called
    texts = {
        m.name: (
            cls,
            _text(
                found.source, _extent(found.source, m), m.col_offset, translated[m.name]
            ),
        )
        for m in found.methods
        if m.name in used
    }
    return statements, texts, read - set(methods)


def _to_params(
    source: SourceFile,
    node: ast.AST,
    keys: set[str],
    methods: set[str],
    prefix: str = "",
) -> dict[_Span, str] | None:
    """The edits that write ``node`` over ``params`` instead of ``self``; None if it cannot be.

    ``self.a.b`` (a key) -> ``params["a.b"]``; ``self.m(x)`` (a method) ->
    ``m(params, x)``; a method's ``self`` parameter -> ``params: dict[str,
    Tensor]``. ``prefix``: a block's, its keys' in the whole weight dict
    (``params["gat1.W"]``, ``m(sub_params(params, "gat1."), x)``).
    """
    weights = f'sub_params(params, "{prefix}")' if prefix else "params"
    edits: dict[_Span, str] = {}

    def visit(child: ast.AST) -> bool:
        if isinstance(child, ast.arg) and child.arg == "self":
            edits[_span(child)] = _PARAMS
            return True
        if isinstance(child, ast.Call) and _self_method(child.func, methods):
            edits[_span(child.func)] = child.func.attr  # type: ignore[attr-defined]
            opening = _opening(source, child.func)
            if opening is None:
                return False
            edits[opening] = weights + (", " if child.args or child.keywords else "")
            return all(visit(c) for c in [*child.args, *child.keywords])
        if self_path(child):  # self.<path>; self alone is below
            inner = child  # the longest key: self.encoder.weight of .weight.data
            while self_path(inner) not in keys:
                if not isinstance(inner, ast.Attribute):
                    return False
                inner = inner.value
            path = self_path(inner)
            edits[_span(inner)] = f'params["{prefix}{path}"]'
            return True
        if isinstance(child, ast.Name) and child.id == "self":
            return False  # self passed on, or a module attribute: no weight dict has it
        return all(visit(c) for c in ast.iter_child_nodes(child))

    return edits if visit(node) else None


def _self_method(node: ast.AST, methods: Iterable[str]) -> bool:
    """``self.m`` with ``m`` one of ``methods``."""
    return isinstance(node, ast.Attribute) and self_path(node) in methods


def _span(node: ast.AST) -> _Span:
    return (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]


def _opening(source: SourceFile, function: ast.expr) -> _Span | None:
    """The empty span right after the ``(`` that follows ``function`` on its line."""
    line = source.lines[function.end_lineno - 1].encode()  # type: ignore[operator]
    at = function.end_col_offset  # type: ignore[attr-defined]
    if line[at : at + 1] != b"(":
        return None
    return (function.end_lineno, at + 1, function.end_lineno, at + 1)  # type: ignore[return-value]


# --- reading back what functional style wrote -------------------------------


def _init_params_of(
    model: nn.Module,
) -> tuple[SourceFile, ast.FunctionDef, dict] | None:
    namespace = model.function.__globals__  # type: ignore[union-attr]
    init = namespace.get("init_params")
    found = function_definition(init) if inspect.isfunction(init) else None
    return None if found is None else (found[0], found[1], namespace)


def _user_statements(
    init: ast.FunctionDef, model: nn.Module
) -> list[tuple[tuple[str, ...], tuple[str, ...], ast.stmt]]:
    """The user's initialisation statements of an ``init_params()``, each with where it runs.

    A top-level statement that reads ``params`` and writes no key (the
    caller leaves out those a layer's row writes, :func:`_is_layer_init`),
    with the keys the statements after it write, in order (functional
    style writes it before the first of them), and the root attributes
    whose keys all come after it (class styles write it before the first of
    those: GCN's ``nn.init.xavier_normal_(params["gc1.kernel"])`` stands
    between ``gc1``'s keys, after ``self.gc1`` is built and before
    ``self.gc2``).
    """
    body = init.body
    found = []
    written: list[str] = []  # the keys the statements so far write
    for statement in body:
        keys = [
            key
            for node in ast.walk(statement)
            if isinstance(node, ast.stmt)
            for key in [written_key(node)]
            if key
        ]
        if (_discarded_draw(statement) and not _row_draw(statement, model)) or not (
            isinstance(statement, ast.Return)
            or _writes_params(statement)
            or not _initialises(statement, [], "params")
        ):
            found.append((len(written), statement))
        written += keys
    result = []
    for at, statement in found:
        begun = {key.split(".")[0] for key in written[:at]}  # roots with a key before
        roots = (key.split(".")[0] for key in written[at:])
        result.append(
            (
                tuple(dict.fromkeys(r for r in roots if r not in begun)),
                tuple(dict.fromkeys(written[at:])),
                statement,
            )
        )
    return result


def _discarded_draw(statement: ast.stmt) -> bool:
    """``nn.init.xavier_uniform_(torch.empty(10, 8))``: a draw the model made into a tensor it replaced.

    :mod:`nnconvert.init_replay` writes it so that the draws after it line
    up; it reads no ``params``, and is the model's initialisation all the same.
    """
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return False
    call = statement.value
    return (
        ast.unparse(call.func).startswith("nn.init.")
        and bool(call.args)
        and isinstance(call.args[0], ast.Call)
        and ast.unparse(call.args[0].func) == "torch.empty"
    )


def _row_draw(statement: ast.stmt, model: nn.Module) -> bool:
    """Whether a layer's row writes the draw (``nn.Transformer``'s first draws, replaced by its ``xavier_uniform_``)."""
    from .opspecs import spec_for_init  # the table imports much: only when read

    text = ast.unparse(statement)
    for layer in model.modules():
        spec = spec_for_init(layer)
        if spec is None or spec.init is None:
            continue
        for init in spec.tensor_inits(layer):
            if any(_same_statement(b, text) for b in init.before):
                return True
    return False


def _same_statement(written: str, text: str) -> bool:
    try:
        return ast.unparse(ast.parse(written)) == text
    except SyntaxError:
        return False


def _writes_params(statement: ast.stmt) -> bool:
    """Whether a statement writes ``params`` or a key of it (``params[k] = ...``, ``params |= ...``)."""
    for node in ast.walk(statement):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            while isinstance(target, ast.Subscript):
                target = target.value
            if isinstance(target, ast.Name) and target.id == "params":
                return True
    return False


def _is_layer_init(statement: ast.stmt, model: nn.Module) -> bool:
    """Whether ``init_params()`` wrote the statement for a layer: its row's ``then`` (``nn.init.constant_({}, 0.0)``).

    ``nn.MultiheadAttention`` zeroes its output bias after drawing it; that
    statement is the layer's, which class styles' constructor call makes.
    """
    from .opspecs import spec_for_init  # the table imports much: only when read

    text = ast.unparse(statement)
    for key in re.findall(r"params\[['\"]([^'\"]+)['\"]\]", text):
        parts = key.split(".")
        for cut in range(len(parts) - 1, -1, -1):  # out_proj.bias is the MHA's
            prefix, attribute = ".".join(parts[:cut]), ".".join(parts[cut:])
            try:
                owner = model.get_submodule(prefix)
            except AttributeError:
                continue
            spec = spec_for_init(owner)
            if spec is None or spec.init is None:
                continue
            for init in spec.tensor_inits(owner):
                for then in init.then if init.attribute == attribute else ():
                    written = then.format(f'params["{key}"]')
                    if _same_statement(written, text):
                        return True
    return False


def _params_functions(
    tail: list[ast.stmt], tree: ast.Module
) -> list[ast.FunctionDef] | None:
    """The file's functions the statements call with ``params`` (or a block's slice) first, and those they call so."""
    defined = {
        s.name: s
        for s in tree.body
        if isinstance(s, ast.FunctionDef)
        and s.args.args
        and s.args.args[0].arg == "params"
        and s.name != "sub_params"  # the printer's helper, not the model's code
    }
    found: set[str] = set()
    queue: list[ast.AST] = list(tail)
    while queue:
        for node in ast.walk(queue.pop()):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in defined
                and node.func.id not in found
                and node.args
                and _weights_argument(node.args[0])
            ):
                found.add(node.func.id)
                queue.append(defined[node.func.id])
    return [s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name in found]


def _weights_argument(node: ast.expr) -> bool:
    """``params``, or a block's slice of it: ``sub_params(params, "gat1.")``."""
    if isinstance(node, ast.Name):
        return node.id == "params"
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "sub_params"
        and bool(node.args)
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "params"
    )


def _functional_found(
    model: nn.Module,
) -> tuple[_Found, list[ast.FunctionDef], list[tuple[str, ...]]] | None:
    """The tail of a functional file's ``init_params()``, the functions it calls, and each statement's later keys."""
    read = _init_params_of(model)
    if read is None:
        return None
    source, init, namespace = read
    kept = [
        (roots, keys, statement)
        for roots, keys, statement in _user_statements(init, model)
        if not _is_layer_init(statement, model)
    ]
    tail = [statement for _, _, statement in kept]
    if not tail:
        return None
    functions = _params_functions(tail, source.tree)
    if functions is None:
        return None
    unannotated = [_without_params_annotation(f) for f in functions]
    names = set().union(*(_free_names(s, unannotated) for s in tail))
    names -= {f.name for f in functions} | {"sub_params"}  # the printer's helper
    if names & {a.arg for a in every_argument(init.args)}:
        return None  # it reads init_params()'s arguments
    filename = model.function.__code__.co_filename  # type: ignore[union-attr]
    statements = [(roots, s, {}) for roots, _, s in kept]
    found = _Found(source, statements, functions, names, namespace, filename)
    return found, functions, [keys for _, keys, _ in kept]


def _without_params_annotation(function: ast.FunctionDef) -> ast.FunctionDef:
    """A copy of ``function`` without its ``params: dict[str, Tensor]`` annotation.

    The annotation is functional style's spelling of ``self``: what the
    function reads from its module is what its body reads.
    """
    copied = copy.deepcopy(function)
    copied.args.args[0].annotation = None
    return copied


def _functional_tail(model: nn.Module, taken: set[str]) -> FunctionalInit | None:
    """A functional input's initialisation, written again as it is."""
    found = _functional_found(model)
    if found is None:
        return None
    found_, functions, keys = found
    resolved = _module_code(
        found_, found_.module_names, taken | {f.name for f in functions}
    )
    if resolved is None:
        return None
    module_code, imports = resolved
    written = [
        (later, _statement(found_.source, s, (), {}, 4))
        for later, (_, s, _) in zip(keys, found_.statements)
    ]
    texts = tuple(_text(found_.source, _extent(found_.source, f), 0) for f in functions)
    return FunctionalInit(
        tuple((at, None, s.lines) for at, s in written),
        tuple(c for _, s in written for c in s.comments),
        texts,
        module_code,
        imports | ({"Tensor"} if texts else set()),
    )


def _from_functional(model: nn.Module, taken: set[str]) -> InitCode | None:
    """A functional input's initialisation as class styles write it: over ``self``."""
    found = _functional_found(model)
    if found is None:
        return None
    found_, functions, _ = found
    names = {f.name for f in functions}
    statements = []
    for after, node, _ in found_.statements:
        spans = _to_self(found_.source, node, names)
        if spans is not None:
            statements.append(_statement(found_.source, node, after, spans))
    if not statements:
        return None
    methods = []
    for function in functions:
        spans = _to_self(found_.source, function, names)
        if spans is None:
            return None
        text = _text(found_.source, _extent(found_.source, function), 0, spans)
        methods.append((function.name, text))
    resolved = _module_code(found_, found_.module_names, taken | names)
    if resolved is None:
        return None
    module_code, imports = resolved
    return InitCode(tuple(statements), tuple(methods), module_code, imports)


def _to_self(
    source: SourceFile, node: ast.AST, functions: set[str]
) -> dict[_Span, str] | None:
    """:func:`_to_params` undone: ``params["a.b"]`` -> ``self.a.b``, ``m(params, x)`` -> ``self.m(x)``."""
    edits: dict[_Span, str] = {}

    def visit(child: ast.AST) -> bool:
        if isinstance(child, ast.arg) and child.arg == "params":
            edits[_span(child)] = "self"
            return True
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Name)
            and child.func.id in functions
            and child.args
            and isinstance(child.args[0], ast.Name)
            and child.args[0].id == "params"
        ):
            edits[_span(child.func)] = f"self.{child.func.id}"
            first = child.args[0]
            rest = [*child.args[1:], *child.keywords]
            end = (
                _span(rest[0])[:2] if rest else (first.end_lineno, first.end_col_offset)
            )
            edits[(first.lineno, first.col_offset, *end)] = ""  # type: ignore[dict-item]
            return all(visit(c) for c in rest)
        key = params_key(child)
        if key is not None and all(part.isidentifier() for part in key.split(".")):
            edits[_span(child)] = "self." + key
            return True
        if isinstance(child, ast.Name) and child.id == "params":
            return False
        return all(visit(c) for c in ast.iter_child_nodes(child))

    return edits if visit(node) else None


# --- module-level code -----------------------------------------------------


def _module_code(
    found: _Found, names: set[str], taken: set[str]
) -> tuple[tuple[tuple[tuple[str, int], str], ...], frozenset[str]] | None:
    """The file's top-level code that ``names`` need, and the imports; None if it cannot be kept."""
    return module_code(found.source, found.filename, found.namespace, names, taken)


def module_code(
    source: SourceFile,
    filename: str,
    namespace: Mapping[str, Any],
    names: set[str],
    taken: set[str],
) -> tuple[tuple[tuple[tuple[str, int], str], ...], frozenset[str]] | None:
    """The top-level code of ``source`` that ``names`` need, and the imports it needs.

    Each statement as ``((filename, line), text)``, in file order, with the
    comment lines right above it; the file's imports of ``torch``, ``nn``,
    ``F``, ``math``... as the printer's import names, others as import
    lines. None if it cannot be kept: a class, a relative import, a
    statement binding a name of ``taken``, the user's ``nn`` not torch's.
    """
    if not names:
        return (), frozenset()
    chosen = statements_read(source.tree, set(), names)
    if chosen is None:
        return None
    imports: set[str] = set()
    code = []
    for statement, imported in chosen:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            continue  # the output's own text needs none
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
                    imports.add(import_text(statement, {bound}))
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
    filename = vars(cls)["__init__"].__code__.co_filename
    read = _Found(source, [], chosen, free, globals_of(cls), filename)
    resolved = _module_code(read, free, set(taken))
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


# --- checking --------------------------------------------------------------

#: The seed both builds draw under.
SEED = 0


def fresh_builder(
    model: nn.Module, fresh_state: Callable[[], Mapping[str, Tensor]] | None
) -> Callable[[], Mapping[str, Tensor]] | None:
    """How to build the original anew: the caller's builder, else its recorded call.

    A functional input is built anew by its file's ``init_params()``.
    """
    if fresh_state is not None:
        return fresh_state
    if is_functional_input(model):
        init = model.function.__globals__.get("init_params")  # type: ignore[union-attr]
        if not callable(init) or any(
            p.default is p.empty for p in inspect.signature(init).parameters.values()
        ):
            return None
        return lambda: dict(init())
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


def fresh_states(
    build: Callable[[], Mapping[str, Tensor]],
    made: Callable[[], Mapping[str, Tensor]],
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """A new original's tensors and a new output's, each built under :data:`SEED`.

    Raises what either build raises, so that a caller that reports it (the
    real-world benchmark) can say why. Torch's, Python's and numpy's random
    numbers are seeded (a file may draw with ``np.random``); the global
    random states, stdout (nanoGPT prints its size) and warnings are left as
    they were. Memory ``torch.empty`` hands out is filled
    (:func:`~nnconvert.init_slices.empty_filled`): else it may hold what an
    earlier build of the same tensor left, and a tensor nothing initialises
    would equal the original's by chance, or not, from run to run.
    """
    with (
        random_states_kept(),
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
        empty_filled(),
    ):
        warnings.simplefilter("ignore")
        seed_all(SEED)
        expected = dict(build())
        seed_all(SEED)
        state = dict(made())
    return expected, state


def equal_keys(
    state: Mapping[str, Tensor], expected: Mapping[str, Tensor]
) -> frozenset[str]:
    """The keys of ``state`` whose tensors equal ``expected``'s bit for bit."""
    return frozenset(
        key
        for key, tensor in state.items()
        if key in expected and _same(tensor, expected[key])
    )


def fresh_equal(
    build: Callable[[], Mapping[str, Tensor]],
    made: Callable[[], nn.Module],
) -> frozenset[str] | None:
    """The keys whose tensors a new original and a new output share bit for bit (None: one failed).

    Both are built as :func:`fresh_states` builds them.
    """
    try:
        expected, state = fresh_states(build, lambda: made().state_dict())
    except Exception:
        return None
    return equal_keys(state, expected)


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
    """Whether a user class among ``modules`` (or a functional input's file) initialises."""
    for module in modules:
        if is_functional_input(module):
            read = _init_params_of(module)
            if read is not None and _user_statements(read[1], module):
                return True
        elif _class_has_statements(type(module)):
            return True
    return False


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
    "equal_keys",
    "fresh_builder",
    "fresh_equal",
    "fresh_states",
    "has_init_statements",
    "init_code",
    "keeps_more",
    "merged",
]
