"""The literals of a traced graph that the user's source wrote as ``self.<attribute>``.

fx sees a plain attribute as its value: nanoGPT's ``k.view(B, T,
self.n_head, C // self.n_head).transpose(1, 2)`` traces to ``view(k, B, T,
2, floordiv(C, 2))``, and the output would print ``C // 2``, losing what the
2 means. This module finds, for a literal slot (:mod:`.literal_holes`), the
operand the source wrote there: the node's line (:mod:`nnconvert.source_map`)
is parsed, the call or operator on it is matched to the node by its
structure (the same method or function name and argument position, or the
same binary operator and operand side), and the operand there must be
``self.<attribute>`` where the instance's plain attribute holds exactly the
literal. Never by value alone: the ``1, 2`` of ``transpose(1, 2)`` on that
line are written as numbers, and stay numbers.

Where anything does not line up (no source, several calls on the line that
disagree, an argument the passes moved), the slot is not found, and the
literal prints as before. The printer names the slot after the attribute
(``self.n_head`` in the class styles, a ``n_head`` keyword in functional
style).
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from torch import fx, nn

from ..branches import is_choose
from ..passes.graph_utils import is_training_flag
from ..passes.methods import is_method_call
from ..source_map import Frame, node_frames
from ..source_text import (
    FUNCTIONS,
    bound_once,
    called_name,
    definition_at,
    read_file,
    self_path,
    written_text,
)
from .expressions import _Raw
from .layer_settings import layer_setting_read
from .literal_holes import Slot, literal_slots

#: Binary operators fx records as functions, and the ``ast`` operator each is written as.
_OPERATORS: dict[Any, type] = {
    operator.add: ast.Add,
    operator.sub: ast.Sub,
    operator.mul: ast.Mult,
    operator.truediv: ast.Div,
    operator.floordiv: ast.FloorDiv,
    operator.mod: ast.Mod,
    operator.pow: ast.Pow,
    operator.matmul: ast.MatMult,
    operator.iadd: ast.Add,
    operator.isub: ast.Sub,
    operator.imul: ast.Mult,
    operator.itruediv: ast.Div,
    operator.ifloordiv: ast.FloorDiv,
    operator.imod: ast.Mod,
    operator.ipow: ast.Pow,
    operator.imatmul: ast.MatMult,
}

#: Comparisons fx records as functions, and the ``ast`` operators each is
#: written as: itself, or its negation (a guard holds what the input must
#: satisfy; the source may write what it must not, ``if t > self.block_size:
#: raise``), both with the operands in the same places.
_COMPARISONS: dict[Any, tuple[type, type]] = {
    operator.lt: (ast.Lt, ast.GtE),
    operator.le: (ast.LtE, ast.Gt),
    operator.gt: (ast.Gt, ast.LtE),
    operator.ge: (ast.GtE, ast.Lt),
    operator.eq: (ast.Eq, ast.NotEq),
    operator.ne: (ast.NotEq, ast.Eq),
}

#: The kinds of value a plain attribute may hold to be read by name.
_PLAIN = (bool, int, float, str, tuple)


def attribute_reads(graph: fx.Graph, module: nn.Module) -> dict[Slot, str]:
    """Each literal slot of ``graph`` the source wrote as ``self.<attribute>`` of ``module``.

    The slots are those of :func:`~.literal_holes.literal_slots`, a helper
    method's (``self.split_heads(x)``) included; slice bounds are not
    looked at.
    """
    values = literal_slots(graph).values
    nodes = list(graph.nodes)
    found: dict[Slot, str] = {}
    inner_reads: dict[int, dict[Slot, str]] = {}
    for slot, value in values.items():
        position, kind, key = slot
        node = nodes[position]
        if kind == "method":
            if position not in inner_reads:
                inner_reads[position] = attribute_reads(node.target.body, module)
            name = inner_reads[position].get(key)
        elif kind in ("arg", "kw"):
            name = layer_setting_read(node, key, kind, module, value)
            if name is None:
                name = _written_attribute(node, kind, key, module, value)
        else:
            name = None
        if name is not None:
            found[slot] = name
    return found


def _written_attribute(
    node: fx.Node, kind: str, key: Any, module: nn.Module, value: Any
) -> str | None:
    """The attribute the source wrote for ``node``'s argument ``key``, if it holds ``value``."""
    frames = node_frames(node)
    if not frames and is_choose(node) and len(node.users) == 1:
        frames = node_frames(
            next(iter(node.users))
        )  # the merge made it: its reader's line
    if not frames:
        return None
    frame = frames[-1]
    if _is_method_of(frame, module):
        read = lambda operand: _self_attribute(
            operand
        ) or _local_attribute(  # noqa: E731
            operand, frame
        )
    else:
        keywords = _keywords_of(frame, module)
        if not keywords:
            return None
        read = lambda operand: _keyword_read(operand, keywords)  # noqa: E731
    operands = [_operand(node, kind, key, e) for e in _expressions_at(frame)]
    # denoising-diffusion's ``F.normalize(x, dim = 1) * self.g * self.scale``:
    # the other product's operand is a weight, which no literal stands for
    names = {read(o) for o in operands if o is not None and not _weight(o, module)}
    if len(names) != 1 or None in names:
        return None  # no call lines up, or they disagree
    (name,) = names
    if not _is_method_of(frame, module):  # the keyword holds what the call passed
        return name if isinstance(value, _PLAIN) else None
    held = vars(module).get(name)
    if not isinstance(held, _PLAIN) or type(held) is not type(value):
        return None
    return name if held == value else None


def _weight(operand: ast.expr, module: nn.Module) -> bool:
    """``operand`` reads one of the module's tensors: ``self.g``, a functional file's ``params["g"]``."""
    attribute = _self_attribute(operand)
    if attribute is not None:
        return attribute in module._parameters or attribute in module._buffers
    return (
        isinstance(operand, ast.Subscript)
        and isinstance(operand.value, ast.Name)
        and operand.value.id == "params"
    )


@dataclass(frozen=True)
class ExpressionRead:
    """A literal the source computes in Python from plain attributes and constants.

    ``self.embedding(tokens) * math.sqrt(self.emb_size)`` traces to ``mul(x,
    5.656854249492381)``: ``text`` is the source's operand, ``attributes``
    the plain attributes it reads with their values (the class sets them).
    """

    text: str
    attributes: tuple[tuple[str, Any], ...]


#: ``math`` functions and constants an expression read may use: pure, of numbers
_MATH = frozenset(
    {"sqrt", "log", "log2", "log10", "exp", "pi", "e", "tau", "cos", "sin", "tan"}
)

#: Python's arithmetic, by ``ast`` operator
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


def expression_reads(graph: fx.Graph, module: nn.Module) -> dict[Slot, ExpressionRead]:
    """Each literal slot of ``graph`` (not a helper's) the source computes from numbers alone.

    The operand the source writes at the slot (found as for
    :func:`attribute_reads`) must be arithmetic (``+ - * / // **``, unary
    minus) of number constants, ``math`` functions and constants
    (``math.sqrt``, ``math.pi``) and plain number attributes of ``self``,
    and give exactly the literal: ``math.sqrt(self.emb_size)`` for
    5.656854249492381, ``math.sqrt(2.0 / math.pi)`` for 0.7978845608028654.
    A bare ``self.n_head`` is :func:`attribute_reads`', and numbers alone
    (``-1``, ``2 * 3``) are the number: neither is an expression read.
    """
    found: dict[Slot, ExpressionRead] = {}
    nodes = list(graph.nodes)
    for slot, value in literal_slots(graph).values.items():
        position, kind, key = slot
        if kind not in ("arg", "kw") or type(value) not in (int, float):
            continue
        node = nodes[position]
        frames = node_frames(node)
        if not frames:
            continue
        if _is_method_of(frames[-1], module):
            plain = {n: v for n, v in vars(module).items() if type(v) in (int, float)}
            keywords = False
        else:  # a functional file's block: ``math.sqrt(emb_size)``, a keyword
            plain = _keyword_values(frames[-1], module)
            keywords = True
        operands = [_operand(node, kind, key, e) for e in _expressions_at(frames[-1])]
        if not keywords:  # CCT's ``keep_prob = 1 - self.drop_prob``, then ``keep_prob``
            operands = [_locals_replaced(o, frames[-1]) for o in operands]
        reads = {
            _expression_read(o, plain, keywords, value, _is_operator(node))
            for o in operands
            if o is not None
        }
        reads.discard(None)  # another ``*`` of the line: it does not give the number
        if len(reads) == 1:
            (found[slot],) = reads
    return found


def agreed_expression_reads(
    members: Sequence[tuple[fx.Graph, nn.Module]],
) -> dict[Slot, list[ExpressionRead]]:
    """The slots every member's source computes with one text, with every member's read.

    The attributes' values may differ between members; a class takes them
    from its parameters, a function only where they are equal.
    """
    found = [expression_reads(graph, module) for graph, module in members]
    agreed = {}
    for slot, read in found[0].items() if found else ():
        reads = [f.get(slot) for f in found]
        if all(r is not None and r.text == read.text for r in reads):
            agreed[slot] = reads
    return agreed


def computed_text(text: str) -> _Raw:
    """An expression read's text as an argument of the printed call, ``import math`` with it."""
    return _Raw(text, ("math",) if "math." in text else ())


def _keyword_values(frame: Frame, module: nn.Module) -> dict[str, Any]:
    """The number keywords of a functional file's block function and their values.

    What its caller passes (:attr:`keyword_settings`), else the function's
    default: ``emb_size: int = 32``, which no caller passes.
    """
    keywords = _keywords_of(frame, module)
    function = getattr(module, "function", None)
    try:
        parameters = inspect.signature(function).parameters if function else {}
    except (TypeError, ValueError):
        parameters = {}
    values = {
        name: p.default
        for name, p in parameters.items()
        if p.kind is p.KEYWORD_ONLY and p.default is not p.empty
    }
    values |= getattr(module, "keyword_settings", {})
    return {
        n: v for n, v in values.items() if n in keywords and type(v) in (int, float)
    }


def _expression_read(
    operand: ast.expr,
    plain: dict[str, Any],
    keywords: bool,
    value: Any,
    of_operator: bool = True,
) -> ExpressionRead | None:
    """``operand`` as an expression read of ``value``; None where it is not one.

    ``plain``: the number attributes of ``self`` it may read, or
    (``keywords``, a functional file's block) the keywords, which the
    read names as the attributes a class holds them as (``self.emb_size``).
    ``of_operator``: the slot is an operand of ``+ - * ...``, where an
    arithmetic text needs parentheses; a call's argument
    (``torch.zeros(self.num_layers * 2, ...)``) does not.
    """
    if isinstance(operand, (ast.Constant, ast.Attribute, ast.Name)) and not _is_math(
        operand
    ):
        return None  # a number, or a bare attribute or keyword: not an expression
    if keywords:
        operand = _as_attributes(operand, set(plain))
    attributes: dict[str, Any] = {}
    computed = _computed(operand, plain, attributes)
    if type(computed) is not type(value) or computed != value:
        return None
    text = written_text(operand)
    if not attributes and "math." not in text:
        return None  # numbers only (``-1``): the number says it
    if of_operator and isinstance(operand, (ast.BinOp, ast.UnaryOp)):
        text = f"({text})"  # an operand of whatever the trace puts around it
    return ExpressionRead(text, tuple(attributes.items()))


def _is_operator(node: fx.Node) -> bool:
    """Whether ``node`` is an operator (``x * 0.25``, ``t > 16``), not a call."""
    return node.op == "call_function" and (
        node.target in _OPERATORS or node.target in _COMPARISONS
    )


def _as_attributes(node: ast.expr, names: set[str]) -> ast.expr:
    """``node`` with each bare name of ``names`` read from ``self`` (``emb_size`` -> ``self.emb_size``)."""

    class _Reads(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.expr:
            if name.id not in names:
                return name
            return ast.Attribute(ast.Name("self", ast.Load()), name.id, ast.Load())

    return _Reads().visit(copy.deepcopy(node))


def _computed(node: ast.expr, plain: dict[str, Any], attributes: dict[str, Any]) -> Any:
    """The value of an expression read's operand (None: not one), noting the attributes it reads."""
    if isinstance(node, ast.Constant):
        return node.value if type(node.value) in (int, float) else None
    if _is_math(node):
        return getattr(math, node.attr)
    attribute = _self_attribute(node)
    if attribute is not None:
        if attribute not in plain:
            return None
        attributes[attribute] = plain[attribute]
        return plain[attribute]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = _computed(node.operand, plain, attributes)
        return None if operand is None else -operand
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left = _computed(node.left, plain, attributes)
        right = _computed(node.right, plain, attributes)
        if left is None or right is None:
            return None
        try:
            return _ARITHMETIC[type(node.op)](left, right)
        except (ArithmeticError, TypeError, ValueError):
            return None
    if (
        isinstance(node, ast.Call)
        and _is_math(node.func)
        and callable(getattr(math, node.func.attr))
        and len(node.args) == 1
        and not node.keywords
    ):
        argument = _computed(node.args[0], plain, attributes)
        if argument is None:
            return None
        try:
            return getattr(math, node.func.attr)(argument)
        except (ArithmeticError, TypeError, ValueError):
            return None
    return None


def _is_math(node: ast.expr) -> bool:
    """``math.sqrt``, ``math.pi``: a name of :data:`_MATH` read from ``math``."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "math"
        and node.attr in _MATH
    )


def _is_method_of(frame: Frame, module: nn.Module) -> bool:
    """Whether ``frame`` runs a method of ``module``'s class (its ``self`` is ``module``).

    A helper of another object (a submodule's method) has a ``self`` of its own.
    A function defined inside a method reads the method's ``self``: vit-pytorch's
    ``map(lambda t: rearrange(t, ..., h=self.heads), qkv)``.
    """
    method = frame.function.split(".<locals>.")[0]
    owner, _, _ = method.rpartition(".")
    return any(cls.__qualname__ == owner for cls in type(module).__mro__)


def _keywords_of(frame: Frame, module: nn.Module) -> frozenset[str]:
    """The keywords the function ``frame`` runs takes and never rebinds.

    Only for a module that runs a functional-style function (read back from
    a functional file, :mod:`nnconvert.functional`), where ``frame`` is a
    function of that file: the block's own, or a helper it passes the
    keyword on to (``split(params, q, n_head=n_head)``). ``C // n_head``
    there reads the ``n_head`` its block was built with, as ``self.n_head``
    does in a class.
    """
    code = getattr(getattr(module, "function", None), "__code__", None)
    if code is None or code.co_filename != frame.file:
        return frozenset()
    source = read_file(frame.file)
    if source is None:
        return frozenset()
    definition = definition_at(source.tree, frame.first_line, FUNCTIONS)
    if definition is not None:
        return settings_read(definition)
    # a lambda or generator of the function (``map(lambda t: rearrange(t,
    # ..., h=heads), (q, k, v))``) reads its keywords too, those it does not
    # bind itself
    inner = [
        n
        for n in ast.walk(source.tree)
        if isinstance(n, (ast.Lambda, ast.GeneratorExp))
        and n.lineno == frame.first_line
    ]
    enclosing = [
        n
        for n in ast.walk(source.tree)
        if isinstance(n, FUNCTIONS) and n.lineno <= frame.first_line <= n.end_lineno
    ]
    if len(inner) != 1 or not enclosing:
        return frozenset()
    function = max(enclosing, key=lambda n: n.lineno)  # the innermost
    own = {a.arg for a in ast.walk(inner[0]) if isinstance(a, ast.arg)} | {
        n.id
        for n in ast.walk(inner[0])
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    return settings_read(function) - own


def settings_read(definition: ast.FunctionDef) -> frozenset[str]:
    """The keyword-only parameters of a functional block's ``def`` it never rebinds.

    Its caller's settings (``n_head``, ``stride``): what a class holds as
    plain attributes. Not ``training``, the mode.
    """
    keywords = {a.arg for a in definition.args.kwonlyargs} - {"training"}
    rebound = {
        n.id
        for n in ast.walk(definition)
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    }
    return frozenset(keywords - rebound)


def _keyword_read(operand: ast.expr, keywords: frozenset[str]) -> str | None:
    """``n_head`` for a bare ``n_head`` that is one of ``keywords``; None otherwise."""
    if isinstance(operand, ast.Name) and operand.id in keywords:
        return operand.id
    return None


def _expressions_at(frame: Frame) -> tuple[ast.expr, ...]:
    """The calls, binary operations and comparisons of the statement at ``frame``'s line."""
    source = read_file(frame.file)
    if source is None:
        return ()
    return _line_expressions(source.tree, frame.line)


@functools.lru_cache(maxsize=4096)
def _line_expressions(tree: ast.Module, line: int) -> tuple[ast.expr, ...]:
    """:func:`_expressions_at` for one parsed file: every literal slot of a line asks it.

    Cached per tree (``read_file`` gives one tree per text), so that a
    model's slots, asked by :func:`attribute_reads` and
    :func:`expression_reads` both, walk each file once per line, not once
    per slot and reader.
    """
    holding = [
        s
        for s in ast.walk(tree)
        if isinstance(s, ast.stmt) and s.lineno <= line <= (s.end_lineno or s.lineno)
    ]
    if not holding:
        return ()
    statement = min(holding, key=lambda s: (s.end_lineno or s.lineno) - s.lineno)
    found = [
        e
        for e in _own_nodes(statement)
        if isinstance(e, (ast.Call, ast.BinOp, ast.IfExp))
        or (isinstance(e, ast.Compare) and len(e.ops) == 1)
    ]
    if isinstance(statement, ast.AugAssign):  # ``x *= self.scale``: ``x * self.scale``
        found.append(ast.BinOp(statement.target, statement.op, statement.value))
    return tuple(found)


def _own_nodes(statement: ast.stmt) -> Iterator[ast.AST]:
    """The nodes of ``statement`` that are not inside a statement nested in it."""
    pending = list(ast.iter_child_nodes(statement))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.stmt):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def _operand(node: fx.Node, kind: str, key: Any, expression: ast.expr) -> Any:
    """What ``expression`` passes where ``node`` has argument ``key``; None: not this call."""
    if isinstance(expression, ast.BinOp):
        written = _OPERATORS.get(node.target) if node.op == "call_function" else None
        if written is None or kind != "arg" or not isinstance(expression.op, written):
            return None
        return (expression.left, expression.right)[key]
    if isinstance(expression, ast.Compare):  # ``assert t <= self.block_size``
        written = _COMPARISONS.get(node.target) if node.op == "call_function" else None
        if (
            written is None
            or kind != "arg"
            or not isinstance(expression.ops[0], written)
        ):
            return None
        return (expression.left, expression.comparators[0])[key]
    if is_choose(node) or isinstance(expression, ast.IfExp):
        return _chosen_operand(node, kind, key, expression)
    if called_name(expression.func) != _target_name(node):
        return None
    names = _parameter_names(node)
    if kind == "kw":  # written by name, or by position where the function takes it
        name, index = key, names.index(key) if key in names else None
    else:
        index = key - 1 if node.op == "call_method" else key  # the receiver aside
        name = names[key] if key < len(names) else None
    given = [k.value for k in expression.keywords if name and k.arg == name]
    if given:
        return given[0]
    arguments = expression.args
    if index is None or index < 0:
        return None
    starred = [i for i, a in enumerate(arguments) if isinstance(a, ast.Starred)]
    if starred and starred[0] <= index:
        # Whisper's ``q.view(*q.shape[:2], self.n_head, -1)``: counted from the end
        given = len(node.args) - (1 if node.op == "call_method" else 0)
        index = len(arguments) - (given - index)
        if len(starred) > 1 or index <= starred[0]:
            return None
    return arguments[index] if index < len(arguments) else None


def _chosen_operand(node: fx.Node, kind: str, key: Any, expression: ast.expr) -> Any:
    """The side of ``a if self.training else b`` that a ``choose`` on the flag has at ``key``.

    ``choose(flag, if_true, if_false)``: ``if_true`` is the body where the
    source tests ``self.training`` (a functional file's ``training``), the
    ``else`` where it tests ``not self.training``. Any other test, or a ``choose`` on anything but the
    flag, is no match.
    """
    if not (
        is_choose(node)
        and isinstance(expression, ast.IfExp)
        and kind == "arg"
        and key in (1, 2)
        and is_training_flag(node.args[0])
    ):
        return None
    test, negated = expression.test, False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, negated = test.operand, True
    if self_path(test) != "training" and not (  # a functional file's flag
        isinstance(test, ast.Name) and test.id == "training"
    ):
        return None
    sides = (expression.body, expression.orelse)
    return sides[(key - 1) ^ negated]


def _parameter_names(node: fx.Node) -> list[str]:
    """The parameters a called function takes by position, in order (none: unknown).

    The passes may hold an argument by keyword that a file writes by
    position (``F.multi_head_attention_forward(..., num_heads, ...)``), or
    the other way round.
    """
    if node.op != "call_function":
        return []
    try:
        parameters = inspect.signature(node.target).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def _target_name(node: fx.Node) -> str | None:
    if node.op == "call_method":
        return str(node.target)
    if node.op == "call_function" and not is_method_call(node):
        return getattr(node.target, "__name__", None)
    return None


def _self_attribute(operand: ast.expr) -> str | None:
    """``n_head`` for ``self.n_head``; None for anything else."""
    path = self_path(operand)
    return path if path and "." not in path else None


def _local_attribute(operand: ast.expr, frame: Frame) -> str | None:
    """``heads`` for a local ``h`` its method binds once, to ``self.heads``.

    lucidrains' attention reads ``b, n, _, h = *x.shape, self.heads`` and
    passes ``h=h`` on (inside a ``lambda`` too); ``h = self.heads`` alike.
    """
    value = _local_value(operand, frame)
    return None if value is None else _self_attribute(value)


def _local_value(operand: ast.expr, frame: Frame) -> ast.expr | None:
    """What the method running at ``frame`` binds the local ``operand`` to, once.

    (:func:`~nnconvert.source_text.bound_once`); None for anything else.
    """
    if not isinstance(operand, ast.Name):
        return None
    source = read_file(frame.file)
    if source is None:
        return None
    method = frame.function.split(".<locals>.")[0].rpartition(".")[2]
    spans = [
        d
        for d in ast.walk(source.tree)
        if isinstance(d, FUNCTIONS)
        and d.name == method
        and d.lineno <= frame.line <= (d.end_lineno or d.lineno)
    ]
    if not spans:
        return None
    definition = min(spans, key=lambda d: (d.end_lineno or d.lineno) - d.lineno)
    return bound_once(definition, operand.id)


def _locals_replaced(operand: Any, frame: Frame) -> Any:
    """``operand`` with each local its method binds once replaced by what it is bound to.

    Conformer's ``dist.clamp(-max_pos_emb, max_pos_emb)``, where ``n, ...,
    max_pos_emb = ..., self.max_pos_emb``: ``-self.max_pos_emb``.
    """
    if not isinstance(operand, ast.expr):
        return operand
    if isinstance(operand, ast.Name):
        return _local_value(operand, frame) or operand

    class Replace(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.expr:
            return _local_value(name, frame) or name

    return Replace().visit(copy.deepcopy(operand))
