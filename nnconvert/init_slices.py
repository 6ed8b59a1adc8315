"""The statements of ``__init__`` that compute a tensor outside the ``state_dict``.

A Swin block computes its ``relative_position_index`` in a few lines of
``__init__`` (``torch.arange``, ``meshgrid``, in-place index adds) and
registers it with ``persistent=False``; no weights restore it, so the
output must build it. Written as its bytes (:mod:`.tensor_values`) it is
a screen of base64; written as the user wrote it, it is those few lines
(SPEC invariant 8). :func:`recover_tensor` finds them: a backward slice
over the top-level statements of ``__init__``, from the statement that sets
the attribute, through the locals it reads. Parameters and persistent
buffers too (``nn.Parameter(torch.ones(ndim))``, a causal mask): the
``state_dict`` restores their values, but a freshly built output should
hold what a freshly built original holds, and a person writes the code,
not ``torch.empty``.

Only code whose value the literals fix is taken: literals, ``torch`` and
``math`` calls (nothing random, no ``nn`` layer), methods, indexing and
in-place operators on the slice's own locals, a few pure builtins, and
reads of constructor parameters, of ``self.<attr>``, of the fields of
an object argument (minGPT's ``config.block_size``) and of the file's
module-level names (a script's ``block_size = 8``) that hold plain
literals. Those reads become placeholders the printer fills (with the
instance's literal, or with a constructor parameter of the emitted class
when instances differ). Anything else (another method, a module, numpy,
any other global, a loop) gives None, and the printer keeps the bytes.

Safety: the recovered code is run in a fresh namespace with the instance's
values and its result compared bit for bit (:func:`~.tensor_values.same_bits`)
with the tensor as :func:`expected_value` says; a difference or an error
gives None. ``torch.empty`` is refused: its bytes are whatever memory held.

Drawn tensors (``fresh_checked``): a ViT's ``nn.Parameter(torch.randn(1, 1,
dim))``, Whisper's ``sinusoids(n_ctx, n_state)`` (a function of the file),
CLIP's ``torch.ones([]) * np.log(1 / 0.07)``. No value checks code that
draws alone; a caller that builds the whole output anew under one seed and
compares it with a new original (:func:`~nnconvert.init_code.fresh_equal`)
checks it as a whole, in the output's construction order. For such a
caller, when the code above refuses, the slice also takes random draws
(:data:`DRAWING_ATTRIBUTES`: ``torch.randn``, ``torch.empty`` an
initialisation statement fills) and the names the file binds at module
level (its functions, its imports: :attr:`RecoveredCode.module_names`,
which the printer writes before the classes). Run with the instance's
literals under a forked random state, the code must still give the
tensor's shape and dtype, and its bits unless it draws.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import functools
import inspect
import math
import random
import sys
import warnings
from dataclasses import dataclass, replace
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from .built_values import Fingerprint, built_fingerprint, fingerprint
from .config_locals import config_locals
from .init_arguments import init_arguments, is_literal, recorded_call
from .source_text import (
    SourceFile,
    assigned_value,
    attributes_set,
    class_definition,
    function_definition,
    function_tree,
    init_definition,
    self_path,
    written_key,
)
from .tensor_values import same_bits

#: builtins whose result the arguments fix
PURE_BUILTINS = frozenset(
    {"range", "len", "int", "float", "bool", "min", "max", "abs", "tuple", "list"}
)
#: global modules the recovered code may use
RECOVERED_MODULES = {"torch": torch, "math": math}
#: attribute names that draw random numbers, load data or build layers
_REFUSED_ATTRIBUTES = frozenset(
    {
        "nn",
        "hub",
        "load",
        "from_numpy",
        "numpy",
        "manual_seed",
        "seed",
        "Generator",
        "set_default_dtype",
        "set_default_device",
        "normal_",
        "empty",
        "empty_like",
        "empty_strided",
        "new_empty",
        "uniform_",
        "bernoulli",
        "bernoulli_",
        "exponential_",
        "geometric_",
        "cauchy_",
        "log_normal_",
        "random_",
        "multinomial",
        "normal",
        "poisson",
        "dropout",
        "requires_grad_",
        "save",
        "cuda",
        "share_memory_",
        "pin_memory",
    }
)
#: what draws random numbers or leaves memory as it was: the slice takes it
#: only for a caller that checks a fresh build (``fresh_checked``)
DRAWING_ATTRIBUTES = frozenset(
    {
        "randn",
        "rand",
        "randint",
        "randperm",
        "randn_like",
        "rand_like",
        "randint_like",
        "normal",
        "normal_",
        "uniform_",
        "bernoulli",
        "empty",
        "empty_like",
        "new_empty",
    }
)
#: what draws random numbers (not ``torch.empty``, whose memory is garbage)
RANDOM_ATTRIBUTES = DRAWING_ATTRIBUTES - {"empty", "empty_like", "new_empty"}
#: ``nn.init`` functions that draw random numbers
RANDOM_INITS = frozenset(
    {
        "uniform_",
        "normal_",
        "trunc_normal_",
        "xavier_uniform_",
        "xavier_normal_",
        "kaiming_uniform_",
        "kaiming_normal_",
        "orthogonal_",
        "sparse_",
    }
)


def draws_at_random(code: RecoveredCode) -> bool:
    """Whether ``code`` calls a random draw (:data:`RANDOM_ATTRIBUTES`) and reads only ``torch`` and ``math``.

    Such code is what a weight dict's ``init_params()`` can write for a
    drawn tensor: no method, no name of the file.
    """
    if code.methods or code.module_names:
        return False
    return calls_random(code)


def calls_random(code: RecoveredCode) -> bool:
    """Whether ``code`` itself calls a random draw (:data:`RANDOM_ATTRIBUTES`).

    vit-pytorch's ``torch.randn(num_patches + 1, dim)``, whatever else it
    reads (``pair(image_size)``, a function of its file).
    """
    text = "\n".join([*(s.code for s in code.statements), code.value])
    try:
        tree = ast.parse(filled(text, [repr(v) for v in code.values]))
    except SyntaxError:
        return False
    return any(
        isinstance(node, ast.Attribute) and node.attr in RANDOM_ATTRIBUTES
        for node in ast.walk(tree)
    )


#: the name a placeholder for an outside literal has in a template
PLACEHOLDER = "__nnconvert_literal_{}__"


@dataclass(frozen=True)
class RecoveredStatement:
    """One recovered statement: the comments above it, its code, its trailing comment."""

    above: tuple[str, ...]
    code: str  # with placeholders for outside literals
    trailing: str | None


@dataclass(frozen=True)
class RecoveredCode:
    """The statements that compute a tensor, and the expression that is its value.

    ``sources[i]`` is what placeholder ``i`` stood for in the user's code
    (``"window_size"`` for ``self.window_size`` or the parameter
    ``window_size``); ``values[i]`` is this instance's literal for it.
    ``comments`` are those that stood above the setting statement (or
    trailed it): the printer writes them above the attribute, as today.
    """

    statements: tuple[RecoveredStatement, ...]
    value: str
    sources: tuple[str, ...]
    values: tuple[Any, ...]
    comments: tuple[str, ...]
    #: the names of the file's module level the code reads (``sinusoids``,
    #: ``np``): only code recovered for a fresh-checked caller has them
    module_names: tuple[str, ...] = ()
    #: the methods of the class the code calls (``self._table(n, d)``):
    #: only code recovered for a fresh-checked caller calls one
    methods: tuple[str, ...] = ()
    #: recovered for a fresh-checked caller: only a fresh build checks it
    fresh_checked: bool = False
    #: for each placeholder that read a field of an object (``config.block_size``,
    #: ``self.params.dim``), that field as the object's name reads it
    #: (``"config.block_size"``, ``"params.dim"``); else ``""``
    fields: tuple[str, ...] = ()

    def lines(self, replacements: Sequence[str], width: int = 80) -> list[str]:
        """The statements as source lines, placeholder ``i`` written as ``replacements[i]``.

        A trailing comment that would push a one-line statement past
        ``width`` (black's 88 less ``__init__``'s indent) goes above it,
        rather than black splitting the statement around it.
        """
        lines: list[str] = []
        for statement in self.statements:
            lines += statement.above
            code = filled(statement.code, replacements)
            trailing = statement.trailing
            if trailing and "\n" not in code and len(code) + 2 + len(trailing) > width:
                lines += [trailing, code]
            else:
                lines.append(f"{code}  {trailing}" if trailing else code)
        return lines

    def carried_comments(self) -> list[str]:
        """Every source comment :meth:`lines` and :attr:`comments` write."""
        found = [c for s in self.statements for c in s.above]
        found += [s.trailing for s in self.statements if s.trailing]
        return found + list(self.comments)

    def value_text(self, replacements: Sequence[str]) -> str:
        return filled(self.value, replacements)


def filled(template: str, replacements: Sequence[str], decide: bool = True) -> str:
    """``template`` with each placeholder replaced, and ``(14, 14)[0]`` folded to ``14``.

    The rest of the text stays as written (``1e4``, ``x**-0.5``): the
    replacements are spliced in at the placeholders' positions. ``decide``:
    a test the literals answer is written as its answer (:func:`_decided_tests`).
    """
    tree = ast.parse(template)
    parents = {id(c): n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    spans: list[tuple[ast.expr, str]] = []
    folded: set[int] = set()
    for node in ast.walk(tree):
        index = (
            _placeholder_index(node.value) if isinstance(node, ast.Subscript) else None
        )
        if index is not None and isinstance(node.slice, ast.Constant):
            value = _literal(replacements[index])
            try:
                item = value[node.slice.value] if value is not None else None
            except Exception:  # out of range or not indexable: keep as written
                item = None
            if item is not None and is_literal(item):
                spans.append((node, _operand(repr(item), node, parents.get(id(node)))))
                folded.add(id(node.value))
    decided = _decided_tests(template, tree, replacements) if decide else {}
    inside = {id(n) for node in decided for n in ast.walk(node)}
    for node, chosen in decided.items():
        text = chosen
        span: Any = node
        if isinstance(node, ast.IfExp):  # the branch the literal test takes
            branch = node.body if chosen == "True" else node.orelse
            text = filled(ast.get_source_segment(template, branch), replacements)
            parent = parents.get(id(node))
            span = _with_grouping(template, node, parent)
            if isinstance(parent, ast.expr) and not _atom(text):
                text = f"({text})"
        spans.append((span, text))
    for node in ast.walk(tree):
        index = _placeholder_index(node)
        if index is not None and id(node) not in folded and id(node) not in inside:
            spans.append(
                (node, _operand(replacements[index], node, parents.get(id(node))))
            )
    return _spliced(template, spans)


@dataclass(frozen=True)
class _Span:
    """A stretch of source text, positioned as an AST node is (for :func:`_spliced`)."""

    lineno: int
    col_offset: int
    end_lineno: int
    end_col_offset: int


def _with_grouping(template: str, node: ast.expr, parent: ast.AST | None) -> Any:
    """``node``'s span, with the parentheses that only group it, where it has them.

    ``(1 if pool == "cls" else 0) + 1`` becomes ``1 + 1``, not ``(1) + 1``;
    the parentheses of a call (``f(1 if ... else 0)``) are the call's.
    """
    if isinstance(parent, (ast.Call, ast.Tuple)) or node.lineno != node.end_lineno:
        return node
    line = template.split("\n")[node.lineno - 1].encode()
    before = line[: node.col_offset].rstrip()
    after = line[node.end_col_offset :].lstrip()
    if not (before.endswith(b"(") and after.startswith(b")")):
        return node
    start = len(before) - 1
    end = len(line) - len(after) + 1
    return _Span(node.lineno, start, node.end_lineno, end)


def _atom(text: str) -> bool:
    """``text`` needs no parentheses as an operand: a name, number, call or subscript."""
    try:
        expression = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return False
    if isinstance(expression, ast.Constant):
        return not text.strip().startswith("-")
    return isinstance(expression, (ast.Name, ast.Call, ast.Attribute, ast.Subscript))


def _decided_tests(
    template: str, tree: ast.AST, replacements: Sequence[str]
) -> dict[ast.expr, str]:
    """The comparisons literals decide, outermost first, with ``"True"`` or ``"False"``.

    vit-pytorch's ``1 if pool == "cls" else 0``, with ``pool`` the literal
    ``"cls"``, is no question: a conditional expression whose test is
    decided stands for its branch (the caller writes it), a decided
    comparison for its answer. Not arithmetic: ``16 * 5 * 5`` stays as
    written.
    """
    decided: dict[ast.expr, str] = {}
    taken: set[int] = set()
    for node in ast.walk(tree):  # breadth first: an outer node before its parts
        if id(node) in taken:
            continue
        test = node.test if isinstance(node, ast.IfExp) else node
        tests = (ast.Compare, ast.BoolOp)
        if not isinstance(test, tests) and not (
            isinstance(node, ast.IfExp) and _placeholder_index(test) is not None
        ):
            continue
        answer = _literal_answer(ast.get_source_segment(template, test), replacements)
        if answer is None:
            continue
        decided[node] = str(answer)
        taken |= {id(n) for n in ast.walk(node)}
    return decided


def _literal_answer(test: str | None, replacements: Sequence[str]) -> bool | None:
    """``test`` with its placeholders filled, when literals alone answer it."""
    if test is None:
        return None
    text = filled(test, replacements, decide=False)
    try:
        expression = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    allowed = (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Constant, ast.Tuple)
    allowed += (ast.List, ast.Set, ast.cmpop, ast.boolop, ast.unaryop, ast.Load)
    if not all(isinstance(n, allowed) for n in ast.walk(expression)):
        return None
    try:
        answer = eval(compile(ast.Expression(expression), "<test>", "eval"), {})
    except Exception:
        return None
    return answer if isinstance(answer, bool) else None


def _placeholder_index(node: ast.AST) -> int | None:
    prefix, _, suffix = PLACEHOLDER.partition("{}")
    if isinstance(node, ast.Name) and node.id.startswith(prefix):
        return int(node.id[len(prefix) : -len(suffix)])
    return None


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None  # a parameter's name, not a literal


def _operand(text: str, node: ast.expr, parent: ast.AST | None) -> str:
    """``text`` for ``node``, in parentheses where it would bind otherwise.

    ``-1 ** 2`` is not ``(-1) ** 2``, and ``5.real`` does not parse.
    """
    value_of = isinstance(parent, (ast.Attribute, ast.Subscript)) and (
        parent.value is node
    )
    if text.startswith("-") and (
        value_of or isinstance(parent, (ast.BinOp, ast.UnaryOp))
    ):
        return f"({text})"
    if value_of and isinstance(_literal(text), (int, float)):
        return f"({text})"
    return text


def _spliced(text: str, spans: list[tuple[ast.expr, str]]) -> str:
    """``text`` with each node's source span replaced by its new text (AST offsets are bytes)."""
    lines = [line.encode() for line in text.split("\n")]
    ordered = sorted(spans, key=lambda s: (s[0].lineno, s[0].col_offset), reverse=True)
    for node, new in ordered:
        first, last = node.lineno - 1, node.end_lineno - 1
        head = lines[first][: node.col_offset]
        tail = lines[last][node.end_col_offset :]
        lines[first : last + 1] = [head + new.encode() + tail]
    return "\n".join(line.decode() for line in lines)


def recover_tensor(
    module: nn.Module, name: str, fresh_checked: bool = False, exact: bool = False
) -> RecoveredCode | None:
    """The code of ``module``'s ``__init__`` that computes its tensor ``name``, verified.

    None when the source is not available, the code reads anything the
    module docstring does not allow, or running it does not give the
    tensor bit for bit. What it must give (:func:`expected_value`): for a
    tensor outside the ``state_dict`` (which no weights restore), the
    instance's current value; for a parameter or persistent buffer, its
    value when the block's ``__init__`` returned, where
    :func:`~nnconvert.init_arguments.recording` fingerprinted it
    (:mod:`~nnconvert.built_values`), else its current value -- which is
    that value only for a freshly built model (a trained one's weights
    differ, and its tensors stay ``torch.empty``).

    A parameter's code is its data's: ``nn.Parameter(torch.ones(ndim))``
    gives ``torch.ones(ndim)`` (the printer wraps it again), and
    ``nn.Parameter(...) if bias else None`` is the branch the instance's
    literals choose.

    ``fresh_checked``: the caller checks a fresh build of the whole output
    (module docstring); code that draws or reads the file's module-level
    names is taken too, when code that does not is not found. ``exact``:
    only such code that gives the tensor bit for bit under any seed (a
    tensor outside the ``state_dict``, which a fresh build does not
    compare: llama2.c's ``precompute_freqs_cis``).
    """
    tensor = getattr(module, name, None)
    if not isinstance(tensor, torch.Tensor):
        return None
    found = init_definition(module)
    if found is None:
        return None
    expected = expected_value(module, name)
    try:
        recovered = _Slicer(module, *found).slice(name)
    except _Refused:
        recovered = None
    if recovered is not None and _reproduces(recovered, expected):
        return recovered
    if not fresh_checked:
        return None
    try:
        drawn = _Slicer(module, *found, fresh_checked=True).slice(name)
    except _Refused:
        return None
    if drawn is None or not _draws_alike(drawn, expected, module, exact):
        return None
    return replace(drawn, fresh_checked=True)


def setting_lines(module: nn.Module) -> dict[str, int]:
    """Each attribute one top-level statement of ``module``'s ``__init__`` sets: its line.

    A statement under an ``if`` that the instance's literals decide is
    top-level in the branch taken (:meth:`_Slicer._taken`: Swin's ``if
    self.relative_pos_embedding:``); the branch not taken sets nothing.
    Attributes set twice, or inside a loop or an undecided branch, are left out.
    """
    found = init_definition(module)
    if found is None:
        return _init_params_lines(module)
    body = _Slicer(module, *found).taken_body()
    lines: dict[str, int] = {}
    twice: set[str] = set()
    for statement in body:
        for name in attributes_set(statement):
            if name in lines:
                twice.add(name)
            lines[name] = statement.lineno
    nested = {
        name
        for top in body
        for node in ast.walk(top)
        if isinstance(node, ast.stmt) and node is not top
        for name in attributes_set(node)
    }
    return {n: line for n, line in lines.items() if n not in twice | nested}


#: calls that allocate a tensor without writing it: it holds whatever memory held
_UNINITIALISED = frozenset({"empty", "empty_like", "new_empty", "empty_strided"})


def left_uninitialised(module: nn.Module, name: str) -> bool:
    """``module``'s ``__init__`` allocates its tensor ``name`` with ``torch.empty`` and writes it nowhere.

    Whisper's decoder holds ``nn.Parameter(torch.empty(n_ctx, n_state))``,
    which only a checkpoint fills: its value at construction is whatever
    memory held, zeros in one run and not in the next, no number to fill a
    new one with. Told by the text of ``__init__``: one top-level statement
    sets the attribute and calls one of :data:`_UNINITIALISED`, and no other
    statement reads ``self.<name>`` or calls a method of ``self`` (which may
    write it: ``self.reset_parameters()``, ``self.apply(...)``). False
    without source.
    """
    found = init_definition(module)
    if found is None or name not in setting_lines(module):
        return False
    body = found[1].body
    (setter,) = [s for s in body if name in attributes_set(s)]
    allocates = any(
        (isinstance(n, ast.Attribute) and n.attr in _UNINITIALISED)
        or (isinstance(n, ast.Name) and n.id in _UNINITIALISED)
        for n in ast.walk(setter)
    )
    if not allocates:
        return False
    for statement in body:
        if statement is setter:
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Attribute) and self_path(node) == name:
                return False
            if (
                isinstance(node, ast.Call)
                and self_path(node.func)
                and not _registers_another(node, name)
            ):
                return False  # a method of ``self``, which may write it
    return True


def _registers_another(call: ast.Call, name: str) -> bool:
    """``self.register_buffer("mask", ...)``: registers an attribute other than ``name``."""
    registering = self_path(call.func) in (
        "register_buffer",
        "register_parameter",
        "register_module",
        "add_module",
    )
    first = call.args[0] if call.args else None
    return (
        registering
        and isinstance(first, ast.Constant)
        and isinstance(first.value, str)
        and first.value != name
    )


#: Containers a statement may create empty, to fill them in later statements.
_CONTAINERS = frozenset({"ModuleList", "ModuleDict", "Sequential", "ParameterList"})


def filling_lines(module: nn.Module) -> dict[str, int]:
    """Each container ``module``'s ``__init__`` creates empty: the line of the statement that fills it.

    NesT's ``Transformer`` sets ``self.layers = nn.ModuleList([])``, then
    ``self.pos_emb = nn.Parameter(torch.randn(seq_len))``, then appends its
    layers in a ``for``: the layers are built after ``pos_emb``, on the
    ``for``'s line, the first top-level statement after the empty one that
    reads ``self.layers``.
    """
    found = init_definition(module)
    if found is None:
        return {}
    body = found[1].body
    lines = {}
    for index, statement in enumerate(body):
        names = attributes_set(statement)
        if len(names) != 1 or not _empty_container(getattr(statement, "value", None)):
            continue
        filler = next(
            (
                later
                for later in body[index + 1 :]
                if any(
                    self_path(node) == names[0]
                    for node in ast.walk(later)
                    if isinstance(node, ast.Attribute)
                )
            ),
            None,
        )
        if filler is not None:
            lines[names[0]] = filler.lineno
    return lines


def _empty_container(value: ast.expr | None) -> bool:
    """``nn.ModuleList([])``, ``nn.ModuleList()``, ``nn.Sequential()``, ``nn.ModuleDict({})``."""
    if not isinstance(value, ast.Call) or value.keywords:
        return False
    function = value.func
    name = function.attr if isinstance(function, ast.Attribute) else None
    if isinstance(function, ast.Name):
        name = function.id
    if name not in _CONTAINERS:
        return False
    return not value.args or (
        len(value.args) == 1
        and isinstance(value.args[0], (ast.List, ast.Tuple, ast.Dict))
        and not getattr(value.args[0], "elts", getattr(value.args[0], "keys", None))
    )


def _init_params_lines(module: nn.Module) -> dict[str, int]:
    """A functional input's root attributes, each with the first line its ``init_params()`` writes it.

    The file's ``init_params()`` makes the weights in the order the model
    built them (``patch_embed`` before ``cls_token``): read back, that is
    the order its ``__init__`` sets them. Empty for anything else.
    """
    function = getattr(module, "function", None)
    namespace = getattr(function, "__globals__", None)
    init = namespace.get("init_params") if isinstance(namespace, dict) else None
    found = function_definition(init) if inspect.isfunction(init) else None
    if found is None or not inspect.isfunction(function):
        return {}
    lines: dict[str, int] = {}
    for node in ast.walk(found[1]):
        key = written_key(node) if isinstance(node, ast.stmt) else None
        if key:
            root = key.split(".")[0]
            lines[root] = min(lines.get(root, node.lineno), node.lineno)
    if any(not hasattr(module, root) for root in lines):
        return {}  # a block of the model: the file's keys are the root's
    return lines


def in_state(module: nn.Module, name: str) -> bool:
    """``module``'s own tensor ``name`` is a parameter or a persistent buffer."""
    return name in module._parameters or (
        name in module._buffers and name not in module._non_persistent_buffers_set
    )


def expected_value(module: nn.Module, name: str) -> torch.Tensor | Fingerprint:
    """What ``module``'s tensor ``name``'s recovered code must give (:func:`recover_tensor`)."""
    if in_state(module, name):
        built = built_fingerprint(module, name)
        if built is not None:
            return built
    return getattr(module, name)


class _Refused(Exception):
    """The slice reads something whose value the literals do not fix."""


class _Slicer:
    """A backward slice over the top-level statements of one ``__init__``."""

    def __init__(
        self,
        module: nn.Module,
        source: SourceFile,
        function: ast.FunctionDef,
        fresh_checked: bool = False,
    ) -> None:
        self.module = module
        self.source = source
        self.function = function
        self.fresh_checked = fresh_checked
        arguments = function.args
        self.parameters = {
            a.arg
            for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        }
        if arguments.vararg or arguments.kwarg:
            self.parameters |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a}
        #: the file's module-level names the code may read (fresh-checked only)
        self.module_level = (
            _module_level_names(source.tree) - _stored_names(function) - self.parameters
            if fresh_checked
            else set()
        )
        self.module_read: set[str] = set()
        #: the class's own methods the code may call (fresh-checked only)
        self.own_methods = _own_methods(module) if fresh_checked else set()
        self.methods_read: set[str] = set()
        self.arguments = {**_literal_defaults(type(module)), **init_arguments(module)}
        #: arguments that are objects (a config): only their literal fields are read;
        #: so are a config's an output class builds (``config = GPTConfig(...)``)
        self.objects = {
            n: v
            for n, v in (recorded_call(module) or {}).items()
            if n in self.parameters and not is_literal(v)
        }
        self.objects |= config_locals(function, type(module))
        #: the module-level names of the file ``__init__`` is written in
        self.file_names = init_globals(module)
        #: the file's module-level names that hold plain literals, read as
        #: placeholders as parameters are (a script's ``block_size = 8``)
        self.literal_globals = {
            n: v
            for n, v in self.file_names.items()
            if is_literal(v)
            and n not in self.parameters
            and n not in _stored_names(function)
            and not n.startswith("__")
        }
        self.sources: list[str] = []
        self.values: list[Any] = []
        self.fields: list[str] = []

    def taken_body(self, name: str | None = None) -> list[ast.stmt]:
        """The top-level statements of ``__init__``, decided ``if``s as their branch taken.

        ``name``: only the ``if``s that set the attribute ``name``. XCiT's
        ``if depth <= 18: init_eps = 0.1 ...`` only picks a number, which
        the tensor's value says as well (``torch.full((6,), 0.1)``): taken,
        each depth would write a function of its own around its number.
        """
        return self._taken(self.function.body, name)

    def slice(self, name: str) -> RecoveredCode | None:
        body = self.taken_body(name)
        setters = [
            i for i, s in enumerate(body) if attributes_set(s) == [name]
        ]  # one top-level statement sets it
        nested = [
            s
            for top in body
            for s in ast.walk(top)
            if isinstance(s, ast.stmt) and s is not top
        ]
        if len(setters) != 1 or any(name in attributes_set(s) for s in nested):
            return None
        index = setters[0]
        value = _assigned_value(body[index])
        if value is None:
            return None
        wrapped = isinstance(getattr(self.module, name, None), nn.Parameter)
        if wrapped:
            value = _parameter_data(self._chosen_branch(value))
        needed = self._locals_read(value)
        chosen: list[int] = []
        for position in range(index - 1, -1, -1):
            statement = body[position]
            if not (self._locals_read(statement) & needed):
                continue
            if self.fresh_checked and (
                _sets_attributes_only(statement) or isinstance(statement, ast.Assert)
            ):
                continue  # ``self.a = f(scale)`` reads the local; the fresh build checks
            if not isinstance(statement, (ast.Assign, ast.AugAssign, ast.Expr)):
                raise _Refused
            chosen.append(position)
            needed |= self._locals_read(statement)
        chosen.reverse()
        assigned = {n for p in chosen for n in _stored_names(body[p])}  # the locals
        # a parameter reassigned and read: which value does the read see?
        # (lambda-networks' ``dim_out = default(dim_out, dim)`` does not
        # concern a table sized by ``n``). Only a statement up to the
        # setter's can change it: PiT's ``dim *= 2`` in its loop over
        # stages comes after ``torch.randn(1, num_patches + 1, dim)``.
        read = {
            node.id
            for code in [value, *(body[p] for p in chosen)]
            for node in ast.walk(code)
            if isinstance(node, ast.Name)
        }
        setter_line = body[index].lineno
        stored = {
            n
            for statement in self.function.body
            if statement.lineno <= setter_line
            for n in _stored_names(statement)
        }
        if stored & self.parameters & read:
            raise _Refused
        statements = []
        for position in chosen:
            statement = body[position]
            if self.fresh_checked:
                statement = _local_targets(statement)
            self._check(statement, assigned, setter=False)
            code = ast.unparse(self._templated(statement, assigned))
            code = self._source_template(statement, assigned) or code
            above = tuple(self._comments_above(body, position))
            statements.append(
                RecoveredStatement(above, code, self._trailing(statement))
            )
        if wrapped:  # the statement around the data is nn.Parameter's: not run
            for node in ast.walk(value):
                self._check_node(node, assigned, setter=False)
        else:
            self._check(body[index], assigned, setter=True)
        value_code = ast.unparse(self._templated(value, assigned))
        if not statements and not any(isinstance(n, ast.Call) for n in ast.walk(value)):
            return None  # a name or a literal alone computes nothing
        own = self._comments_above(body, index)
        trailing = self._trailing(body[index])
        own += [trailing] if trailing else []
        return RecoveredCode(
            tuple(statements),
            value_code,
            tuple(self.sources),
            tuple(self.values),
            tuple(own),
            tuple(sorted(self.module_read)),
            tuple(sorted(self.methods_read)),
            fields=tuple(self.fields),
        )

    def _taken(
        self, statements: list[ast.stmt], name: str | None = None
    ) -> list[ast.stmt]:
        """``statements`` with each ``if`` the instance's literals decide as the branch taken.

        Swin's ``if self.shifted:`` sets its masks, ``if
        self.relative_pos_embedding:`` its position table: for a shifted
        block, the statements under the first ``if`` are top-level
        statements like the others. An ``if`` the literals do not decide
        stays one statement (which :meth:`slice` refuses to take).
        """
        taken: list[ast.stmt] = []
        for statement in statements:
            if isinstance(statement, ast.If) and (
                name is None or _sets(statement, name)
            ):
                try:
                    chosen = self._test(statement.test)
                except _Refused:
                    taken.append(statement)
                    continue
                taken += self._taken(
                    statement.body if chosen else statement.orelse, name
                )
                continue
            taken.append(statement)
        return taken

    def _chosen_branch(self, value: ast.expr) -> ast.expr:
        """``a if flag else b`` as the branch the instance's literals choose; else ``value``."""
        if not isinstance(value, ast.IfExp):
            return value
        return self._chosen_branch(
            value.body if self._test(value.test) else value.orelse
        )

    def _test(self, test: ast.expr) -> bool:
        """The value of an ``if``'s ``test`` for this instance; :class:`_Refused` if undecided.

        The test may read only constructor parameters and ``self.<attr>``
        that hold literals, constants and the file's predicates called on
        them (:func:`is_predicate`): the same test in every instance of a
        class with the same tensors.
        """
        namespace: dict[str, Any] = {}
        for node in ast.walk(test):
            if isinstance(node, ast.Call):  # ``exists(r)``: the file's predicate
                function = (
                    self.file_names.get(node.func.id)
                    if isinstance(node.func, ast.Name)
                    else None
                )
                if node.keywords or not is_predicate(function):
                    raise _Refused
                namespace[node.func.id] = function
                continue
            if not isinstance(node, _TEST_NODES):
                raise _Refused
            if isinstance(node, ast.Name) and node.id in namespace:
                continue  # a predicate's name
            if isinstance(node, ast.Attribute):
                path = self_path(node)
                held = getattr(self.module, path, None) if path else None
                if not path or "." in path or not is_literal(held):
                    raise _Refused
                namespace[PLACEHOLDER.format(path)] = held
            elif isinstance(node, ast.Name) and node.id != "self":
                if not self._literal_parameter(node.id):
                    raise _Refused
                namespace[node.id] = self.arguments[node.id]

        class Literals(ast.NodeTransformer):
            def visit_Attribute(self, attribute: ast.Attribute) -> ast.AST:
                return ast.Name(PLACEHOLDER.format(self_path(attribute)), ast.Load())

        expression = ast.fix_missing_locations(
            ast.Expression(Literals().visit(copy.deepcopy(test)))
        )
        try:
            return bool(
                eval(
                    compile(expression, "<test>", "eval"),
                    {"__builtins__": {}},
                    namespace,
                )
            )
        except Exception:
            raise _Refused from None

    def _locals_read(self, node: ast.AST) -> set[str]:
        """The names ``node`` uses that may be locals of ``__init__``."""
        outside = {"self", *self.parameters, *RECOVERED_MODULES, *PURE_BUILTINS}
        outside |= set(self.objects)
        outside |= self.module_level
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - outside

    # -- checks ----------------------------------------------------------------

    def _check(self, statement: ast.stmt, locals_: set[str], setter: bool) -> None:
        """Raise :class:`_Refused` unless every node of ``statement`` is allowed."""
        if isinstance(statement, ast.Expr):
            call = statement.value
            if not (
                isinstance(call, ast.Call)
                and (
                    (setter and _is_register(call))
                    or (
                        isinstance(call.func, ast.Attribute)
                        and isinstance(call.func.value, ast.Name)
                        and call.func.value.id in locals_
                    )
                )
            ):
                raise _Refused  # an expression statement: only a local's method
        if isinstance(statement, (ast.Assign, ast.AugAssign)):
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
            )
            for target in targets:
                self._check_target(target, locals_, setter)
        for node in ast.walk(statement):
            self._check_node(node, locals_, setter)

    def _check_target(self, target: ast.expr, locals_: set[str], setter: bool) -> None:
        if isinstance(target, ast.Name):
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            for item in target.elts:
                self._check_target(item, locals_, setter)
            return
        if isinstance(target, ast.Subscript) and _root_name(target) in locals_:
            return
        if setter and self_path(target):
            return  # the setter itself: self.<name> = value
        raise _Refused

    def _check_node(self, node: ast.AST, locals_: set[str], setter: bool) -> None:
        if isinstance(node, _ALLOWED_NODES):
            pass
        else:
            raise _Refused
        if isinstance(node, ast.Attribute) and self._method(node):
            return  # ``self._table``: a method of the class, called
        if isinstance(node, ast.Attribute):
            drawing = self.fresh_checked and node.attr in DRAWING_ATTRIBUTES
            if not drawing and (
                node.attr in _REFUSED_ATTRIBUTES or "rand" in node.attr
            ):
                raise _Refused
            if node.attr.startswith("_"):
                raise _Refused
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            known = (
                node.id in locals_
                or node.id in RECOVERED_MODULES
                or node.id in PURE_BUILTINS
                or node.id == "self"
            )
            known = known or node.id in self.objects  # templating checks its reads
            known = known or self._literal_global(node.id, locals_)
            if not known and self._module_name(node.id, locals_):
                known = True
            if not known and not self._literal_parameter(node.id):
                raise _Refused
        if isinstance(node, ast.Call):
            function = node.func
            if self_path(function) is not None and not self._method(function):
                if not (setter and _is_register(node)):
                    raise _Refused  # a method of the module
            if (
                isinstance(function, ast.Name)
                and function.id not in PURE_BUILTINS
                and not self._module_name(function.id, locals_)
            ):
                raise _Refused

    def _method(self, node: ast.AST) -> bool:
        """``node`` is ``self.<m>``, ``m`` a method of the class (fresh-checked code only)."""
        path = self_path(node) if isinstance(node, ast.Attribute) else None
        if path not in self.own_methods:
            return False
        self.methods_read.add(path)
        return True

    def _module_name(self, name: str, locals_: set[str]) -> bool:
        """``name`` is one the file binds at module level, read (fresh-checked code only)."""
        if name in locals_ or name not in self.module_level:
            return False
        self.module_read.add(name)
        return True

    def _literal_parameter(self, name: str) -> bool:
        return name in self.parameters and name in self.arguments

    def _literal_global(self, name: str, locals_: set[str]) -> bool:
        """``name`` reads a module-level literal of the file (ng-video-lecture's
        ``block_size``), which the output writes as its value or a parameter."""
        return name not in locals_ and name in self.literal_globals

    def _object_field(self, node: ast.AST) -> tuple[str, Any, str] | None:
        """``config.block_size``, ``config`` an object argument: its field's name and literal.

        With the read's text (``config.block_size``).

        None for anything else; :class:`_Refused` when the field is not a literal.
        """
        path: list[str] = []
        while isinstance(node, ast.Attribute):
            path.append(node.attr)
            node = node.value
        if not path or not isinstance(node, ast.Name) or node.id not in self.objects:
            return None
        value = _literal_field(self.objects[node.id], list(reversed(path)))
        return path[0], value, ".".join([node.id, *reversed(path)])

    def _attribute_field(self, path: str) -> tuple[str, Any, str]:
        """``params.dim`` of ``self.params.dim``, ``self.params`` an object: its field and literal.

        With the read's text, ``path`` itself.

        :class:`_Refused` when the attribute is a tensor or layer, or the field
        is not a literal.
        """
        first, *fields = path.split(".")
        value = getattr(self.module, first, None)
        if isinstance(value, (torch.Tensor, nn.Module)) or is_literal(value):
            raise _Refused
        return fields[-1], _literal_field(value, fields), path

    # -- templates ---------------------------------------------------------------

    def _templated(self, node: ast.AST, locals_: set[str]) -> ast.AST:
        """``node`` with constructor parameters and literal ``self.<attr>`` as placeholders."""
        slicer = self

        class Templater(ast.NodeTransformer):
            def visit_Attribute(self, attribute: ast.Attribute) -> ast.AST:
                if slicer._method(attribute):
                    return attribute
                path = self_path(attribute)
                field = slicer._object_field(attribute) if path is None else None
                if field is not None:
                    return slicer._placeholder(*field)
                if path is None:
                    self.generic_visit(attribute)
                    return attribute
                if "." in path:  # ``self.params.dim``: a field of an object attribute
                    field = slicer._attribute_field(path)
                    return slicer._placeholder(*field)
                if not path:
                    raise _Refused
                try:
                    value = getattr(slicer.module, path)
                except Exception:
                    raise _Refused from None
                if not is_literal(value):
                    raise _Refused
                return slicer._placeholder(path, value)

            def visit_Name(self, name: ast.Name) -> ast.AST:
                if name.id == "self":
                    raise _Refused  # self on its own: handed to something
                if name.id in locals_ or name.id in RECOVERED_MODULES:
                    return name
                if slicer._literal_global(name.id, locals_):
                    return slicer._placeholder(name.id, slicer.literal_globals[name.id])
                if name.id in PURE_BUILTINS or slicer._module_name(name.id, locals_):
                    return name
                if slicer._literal_parameter(name.id):
                    return slicer._placeholder(name.id, slicer.arguments[name.id])
                raise _Refused  # an object argument on its own, among others

        copied = ast.parse(ast.unparse(node)).body[0]
        if isinstance(copied, ast.Expr) and not isinstance(node, ast.stmt):
            copied = copied.value
        return Templater().visit(copied)

    def _source_template(self, statement: ast.stmt, locals_: set[str]) -> str | None:
        """The statement as the user wrote it, placeholders spliced in (None: not so simple).

        Not for a statement continued with a backslash or holding a comment
        before its last line: :func:`ast.unparse`'s text is written instead.
        """
        segment = ast.get_source_segment(self.source.text, statement)
        inner = range(statement.lineno, statement.end_lineno)
        if segment is None or "\\\n" in segment:
            return None
        if any(line in self.source.comments for line in inner):
            return None
        try:
            tree = ast.parse(segment)
        except SyntaxError:
            return None
        spans = []
        inside: set[int] = set()  # nodes of a field read spliced already
        for node in ast.walk(tree):
            if id(node) in inside:
                continue
            path = self_path(node) if isinstance(node, ast.Attribute) else None
            field = self._object_field(node) if path is None else None
            if field is not None:
                spans.append((node, self._placeholder(*field).id))
                inside |= {id(n) for n in ast.walk(node)}
            elif path and self._method(node):
                continue
            elif path and "." in path:  # ``self.params.dim``
                spans.append((node, self._placeholder(*self._attribute_field(path)).id))
                inside |= {id(n) for n in ast.walk(node)}
            elif path:
                value = getattr(self.module, path)
                spans.append((node, self._placeholder(path, value).id))
            elif (
                isinstance(node, ast.Name)
                and node.id not in locals_
                and self._literal_parameter(node.id)
            ):
                value = self.arguments[node.id]
                spans.append((node, self._placeholder(node.id, value).id))
            elif isinstance(node, ast.Name) and self._literal_global(node.id, locals_):
                value = self.literal_globals[node.id]
                spans.append((node, self._placeholder(node.id, value).id))
        return _spliced(segment, spans)

    def _placeholder(self, source: str, value: Any, field: str = "") -> ast.Name:
        known = zip(self.sources, self.values, self.fields)
        for index, (name, held, read) in enumerate(known):
            same = type(held) is type(value) and held == value
            if name == source and same and read == field:
                return ast.Name(PLACEHOLDER.format(index), ast.Load())
        self.sources.append(source)
        self.values.append(value)
        self.fields.append(field)
        return ast.Name(PLACEHOLDER.format(len(self.sources) - 1), ast.Load())

    # -- comments ----------------------------------------------------------------

    def _comments_above(self, body: list[ast.stmt], position: int) -> list[str]:
        """The comment lines between the previous statement and ``body[position]``."""
        start = body[position - 1].end_lineno + 1 if position else self._first_line()
        return [
            text
            for line, text in sorted(self.source.comments.items())
            if start <= line < body[position].lineno and self.source.comment_alone(line)
        ]

    def _first_line(self) -> int:
        """The line after the ``def`` header: a comment from there on is the body's.

        Not the first statement's line: a comment above the first statement of
        ``__init__`` belongs to it.
        """
        header = [n for n in ast.walk(self.function.args) if hasattr(n, "end_lineno")]
        if self.function.returns is not None:
            header.append(self.function.returns)
        return max([self.function.lineno, *(n.end_lineno for n in header)]) + 1

    def _trailing(self, statement: ast.stmt) -> str | None:
        """The comment at the end of one of the statement's lines (the last one)."""
        found = [
            text
            for line, text in sorted(self.source.comments.items())
            if statement.lineno <= line <= statement.end_lineno
        ]
        if len(found) > 1:
            raise _Refused  # comments inside a statement: where would they go?
        return found[0] if found else None


_ALLOWED_NODES = (
    ast.Assign,
    ast.AugAssign,
    ast.Expr,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Attribute,
    ast.Call,
    ast.keyword,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.BoolOp,
    ast.IfExp,
    ast.Subscript,
    ast.Slice,
    ast.Tuple,
    ast.List,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.boolop,
)


#: what a test :meth:`_Slicer._chosen_branch` folds may be made of
_TEST_NODES = (
    ast.Name,
    ast.Attribute,
    ast.Constant,
    ast.Compare,
    ast.BoolOp,
    ast.UnaryOp,
    ast.Load,
    ast.cmpop,
    ast.boolop,
    ast.unaryop,
)


def _sets(statement: ast.stmt, name: str) -> bool:
    """Whether ``statement`` or one inside it sets the attribute ``name``."""
    return any(
        name in attributes_set(node)
        for node in ast.walk(statement)
        if isinstance(node, ast.stmt)
    )


@functools.cache
def is_predicate(function: Any) -> bool:
    """A plain function whose body returns a test of its parameters alone.

    lucidrains' ``def exists(val): return val is not None``: run on
    literals, it computes nothing but the answer, so an ``if exists(r):``
    of ``__init__`` is decided like ``if r is not None:``.
    """
    if not inspect.isfunction(function):
        return False
    definition = function_tree(function)
    if not isinstance(definition, ast.FunctionDef) or definition.decorator_list:
        return False
    body = definition.body
    if body and ast.get_docstring(definition) is not None:
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        return False
    parameters = {a.arg for a in definition.args.args}
    return all(
        isinstance(node, _TEST_NODES)
        and (not isinstance(node, ast.Name) or node.id in parameters)
        for node in ast.walk(body[0].value)
    )


def _parameter_data(value: ast.expr) -> ast.expr:
    """``X`` of ``nn.Parameter(X)`` (``requires_grad=<constant>`` aside: the printer writes it)."""
    function = value.func if isinstance(value, ast.Call) else None
    spelled = ast.unparse(function) if function is not None else ""
    if spelled not in ("nn.Parameter", "torch.nn.Parameter") or len(value.args) != 1:
        raise _Refused
    if any(
        k.arg != "requires_grad" or not isinstance(k.value, ast.Constant)
        for k in value.keywords
    ):
        raise _Refused
    return value.args[0]


def _literal_defaults(cls: type) -> dict[str, Any]:
    """The literal defaults of ``cls.__init__``'s parameters.

    They stand in for the arguments of an instance built without a record
    (:func:`~nnconvert.init_arguments.init_arguments`): a guess, which
    :func:`_reproduces` confirms or rejects, bit for bit.
    """
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return {}
    return {
        name: p.default
        for name, p in parameters.items()
        if p.default is not p.empty and is_literal(p.default)
    }


def _is_register(call: ast.Call) -> bool:
    return (
        isinstance(call.func, ast.Attribute)
        and call.func.attr == "register_buffer"
        and self_path(call.func.value) == ""
    )


def _assigned_value(statement: ast.stmt) -> ast.expr | None:
    """The value a top-level statement sets its attribute to, if the slice can rewrite it.

    Only a one-target assignment or a ``register_buffer`` call without
    ``**kwargs``: the slice's template rewrites nothing else.
    """
    if isinstance(statement, ast.Expr):
        call = statement.value
        if not (isinstance(call, ast.Call) and _is_register(call)) or any(
            k.arg is None for k in call.keywords
        ):
            return None
    elif not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
        return None
    return assigned_value(statement)


def _sets_attributes_only(statement: ast.stmt) -> bool:
    """``self.a = ...``: an assignment whose every target is an attribute of ``self``."""
    return isinstance(statement, ast.Assign) and all(
        self_path(t) for t in statement.targets
    )


def _local_targets(statement: ast.stmt) -> ast.stmt:
    """``self.size = h, w = pair(size)`` as ``h, w = pair(size)``: the locals' part alone.

    Positioned from its first local target to its value's end, so that its
    source text is the user's. Any other statement is returned as it is.
    """
    if not isinstance(statement, ast.Assign) or len(statement.targets) < 2:
        return statement
    kept = [t for t in statement.targets if not self_path(t)]
    if not kept or len(kept) == len(statement.targets):
        return statement
    local = ast.Assign(targets=kept, value=statement.value)
    local.lineno, local.col_offset = kept[0].lineno, kept[0].col_offset
    local.end_lineno = statement.end_lineno
    local.end_col_offset = statement.end_col_offset
    return local


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


@functools.lru_cache(maxsize=4096)
def _stored_names(statement: ast.stmt) -> frozenset[str]:
    """The names ``statement`` assigns, anywhere in it.

    Cached by statement: every slice of an ``__init__`` asks it of the
    whole function again (a statement of a cached, unchanged tree,
    :func:`~nnconvert.source_text.read_file`).
    """
    return frozenset(
        n.id
        for n in ast.walk(statement)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    )


def _reproduces(recovered: RecoveredCode, tensor: torch.Tensor | Fingerprint) -> bool:
    """Running the code with the instance's literals gives ``tensor``, bit for bit."""
    result = _run(recovered, {"__builtins__": _ALLOWED_BUILTINS, **RECOVERED_MODULES})
    if result is None:
        return False
    if isinstance(tensor, Fingerprint):
        return fingerprint(result) == tensor
    return same_bits(result, tensor)


#: what the recovered code may call of Python's builtins
_ALLOWED_BUILTINS = {n: getattr(builtins, n) for n in PURE_BUILTINS}


def _literal_field(value: Any, attributes: Sequence[str]) -> Any:
    """``value.<a>.<b>``, a literal; :class:`_Refused` for a private or missing one, or no literal."""
    try:
        for attribute in attributes:
            if attribute.startswith("_"):
                raise _Refused
            value = getattr(value, attribute)
    except AttributeError:
        raise _Refused from None
    if not is_literal(value):
        raise _Refused
    return value


def _draws_alike(
    recovered: RecoveredCode,
    tensor: torch.Tensor | Fingerprint,
    module: nn.Module,
    exact: bool = False,
) -> bool:
    """Fresh-checked code gives ``tensor``'s shape and dtype, and its bits unless it draws.

    ``exact``: its bits under every seed tried.

    It draws when it names a :data:`DRAWING_ATTRIBUTES` call or gives other
    values under another seed (a function of the file that draws). Run
    under a forked random state: recovering takes no draw from the caller's.
    """
    namespace = {
        **init_globals(module),
        "__builtins__": _ALLOWED_BUILTINS,
        **RECOVERED_MODULES,
        "self": module,  # its methods the code calls (``self._table(n, d)``)
    }
    results = []
    with random_states_kept():
        for seed in (0, 1):
            seed_all(seed)
            result = _run(recovered, dict(namespace))
            if result is None:
                return False
            results.append(result)
    made = fingerprint(results[0])
    wanted = tensor if isinstance(tensor, Fingerprint) else fingerprint(tensor)
    if made is None or wanted is None:
        return False
    if exact:
        return all(fingerprint(result) == wanted for result in results)
    if made == wanted:
        return True
    if (made.dtype, made.shape) != (wanted.dtype, wanted.shape):
        return False
    text = "\n".join([*(s.code for s in recovered.statements), recovered.value])
    names = {n.attr for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Attribute)}
    return bool(names & DRAWING_ATTRIBUTES) or not same_bits(*results)


@contextlib.contextmanager
def random_states_kept() -> Iterator[None]:
    """Torch's, Python's and numpy's random states as they were, whatever the code draws.

    A function of the user's file may draw from any of them
    (``np.random.randn``); recovering must leave the caller's draws alone.
    """
    python = random.getstate()
    numpy = sys.modules.get("numpy")
    drawn = numpy.random.get_state() if numpy is not None else None
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        random.setstate(python)
        if numpy is not None:
            numpy.random.set_state(drawn)


def seed_all(seed: int) -> None:
    """Seed torch's, Python's and numpy's (when imported) random numbers."""
    torch.manual_seed(seed)
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)


def _run(recovered: RecoveredCode, namespace: dict[str, Any]) -> torch.Tensor | None:
    """The tensor the code gives with the instance's literals, or None.

    ``torch.empty`` gives NaN (:func:`empty_filled`), never freed memory
    that may hold the very tensor it is compared with (a functional file's
    ``params["logit_scale"] = torch.empty(())`` read back after another
    conversion freed a tensor of that value).
    """
    replacements = [repr(v) for v in recovered.values]
    code = "\n".join(recovered.lines(replacements))
    code += f"\n__result__ = {recovered.value_text(replacements)}\n"
    try:
        with empty_filled(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, "<recovered __init__>", "exec"), namespace)
    except Exception:
        return None
    result = namespace.get("__result__")
    return result if isinstance(result, torch.Tensor) else None


@contextlib.contextmanager
def empty_filled() -> Iterator[None]:
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


def init_globals(module: nn.Module) -> dict[str, Any]:
    """The module-level names of the file ``module``'s ``__init__`` is written in."""
    init = inspect.getattr_static(type(module), "__init__", None)
    return dict(getattr(init, "__globals__", {}))


def _own_methods(module: nn.Module) -> set[str]:
    """The methods ``module``'s class defines itself that only compute, and may be run.

    Not ``__init__`` or ``forward``; not a method that sets an attribute of
    ``self`` or calls through it (``self.register_buffer``, ``self.x.add_``)
    but to another such method: recovering runs it on the model itself.
    """
    found = class_definition(type(module))
    if found is None:
        return set()
    defined = {
        s.name: s
        for s in found[1].body
        if isinstance(s, ast.FunctionDef) and s.name not in ("__init__", "forward")
    }
    own = {n for n in defined if inspect.isfunction(vars(type(module)).get(n))}
    changed = True
    while changed:  # a method calling one that changes the model changes it too
        changed = False
        for name in sorted(own):
            if not _only_computes(defined[name], own):
                own.discard(name)
                changed = True
    return own


def _only_computes(method: ast.FunctionDef, callable_: set[str]) -> bool:
    """The method stores nothing on ``self`` and calls through it only ``callable_``."""
    for node in ast.walk(method):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(
            node.ctx, (ast.Store, ast.Del)
        ):
            if _root_name(node) == "self":
                return False
        if isinstance(node, ast.Call) and _root_name(node.func) == "self":
            if self_path(node.func) not in callable_:
                return False
    return True


def _module_level_names(tree: ast.Module) -> set[str]:
    """The names a file's top-level functions and imports bind (not its classes)."""
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in statement.names}
    return names


#: for :mod:`nnconvert.state_builds`, which checks the code it reads back
reproduces = _reproduces

__all__ = [
    "DRAWING_ATTRIBUTES",
    "RANDOM_ATTRIBUTES",
    "RANDOM_INITS",
    "draws_at_random",
    "empty_filled",
    "PLACEHOLDER",
    "PURE_BUILTINS",
    "RECOVERED_MODULES",
    "RecoveredCode",
    "RecoveredStatement",
    "expected_value",
    "filling_lines",
    "filled",
    "in_state",
    "recover_tensor",
    "random_states_kept",
    "reproduces",
    "seed_all",
    "setting_lines",
]
