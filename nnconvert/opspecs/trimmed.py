"""A helper's definition trimmed to the options a file's calls pass.

A layer function that a functional file defines (``lstm``) is written once,
for every option of its layer. A file whose calls leave an option at its
default does not need the option's code: :func:`trimmed_source` drops the
option from the signature and folds what reads it, as its default would::

    if batch_first:               # batch_first left at False: gone
        input = input.movedim(-2, 0)
    shape = (num_layers * (2 if bidirectional else 1), ...)
                                  # -> (num_layers, ...)
    if hx is None:                # hx never passed: its body, unconditionally
        hx = ...

The folding is small and exact: a dropped option becomes its default
value, and what only constants decide is decided (``not``, ``and``/``or``,
comparisons, ``x if c else y``, ``if``/``else`` statements, ``x * 1``,
``x + 0``, ``bool(None)``), a keyword argument that comes out as the
callee's own default is left out (``F.layer_norm(..., eps=layer_norm_eps)``
with the default eps: ``F.layer_norm(...)``; only for a callee the
function's module names, whose signature says so), and an option read
where nothing decides it reads as its default's literal
(``F.dropout(x, 0.1, training)``). Statements it leaves alone keep their
text and comments. An option that the function assigns where a loop or a
closure reads it raises ValueError: no one text holds for both values.

Reading back is the same function: a definition whose parameters are a
subset of the full one's is recognised when trimming to those parameters
gives it (:func:`trimmed_source` of its parameter names).
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import operator
import re
import textwrap
from typing import Any, Callable, Iterable

#: The operators folded between constants.
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


class _Default(ast.Constant):
    """A dropped option's default, put where the option was read.

    Folding turns it into plain constants or removes it; one still in the
    tree afterwards is read as its literal.
    """


def trimmed_source(
    function: Callable, passed: Iterable[str], kept: Iterable[str] = ()
) -> str:
    """``function``'s source with the options not in ``passed`` (nor ``kept``) folded away.

    Parameters without a default are always kept. ``passed`` may name
    parameters the function does not have: they are ignored.
    """
    signature = inspect.signature(function)
    keep = set(passed) | set(kept)
    dropped = tuple(
        (name, p.default)
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty and name not in keep
    )
    return _trimmed(function, dropped)


@functools.lru_cache(maxsize=None)
def _trimmed(function: Callable, dropped: tuple[tuple[str, Any], ...]) -> str:
    source = textwrap.dedent(inspect.getsource(function))
    definition = ast.parse(source).body[0]
    assert isinstance(definition, ast.FunctionDef)
    lines = source.splitlines()
    names = {name for name, _ in dropped}
    header = _signature(source, definition, names)
    block = _Block(lines, dict(dropped), _stored(definition), function.__globals__)
    body = block.statements(definition.body, 4)
    return header + "\n" + "\n".join(_without_notes_on(body, names)) + "\n"


#: A docstring's note on one option: ````nested``: the layer's ... conditions.``
_NOTE = re.compile(r"\s*``(\w+)``: .*?\.(?=\s|$)", re.DOTALL)


def _without_notes_on(body: list[str], dropped: set[str]) -> list[str]:
    """``body`` with its docstring's notes on the ``dropped`` options taken out.

    ``transformer_encoder`` says what ``nested`` does; a definition trimmed
    without ``nested`` would describe a parameter it does not have. A
    paragraph that loses a note is wrapped again at the width it had.
    """
    if not body or not body[0].lstrip().startswith('"""'):
        return body
    end = next(
        (i for i, line in enumerate(body) if line.rstrip().endswith('"""') and i > 0),
        0,
    )
    docstring, rest = body[: end + 1], body[end + 1 :]
    paragraphs: list[list[str]] = [[]]
    for line in docstring:
        if line.strip():
            paragraphs[-1].append(line)
        else:
            paragraphs.append([])
    lines: list[str] = []
    for paragraph in paragraphs:
        if lines or paragraph is not paragraphs[0]:
            lines.append("")
        lines += _paragraph_without_notes(paragraph, dropped)
    return lines + rest


def _paragraph_without_notes(paragraph: list[str], dropped: set[str]) -> list[str]:
    if not paragraph or '"""' in paragraph[0]:
        return paragraph  # the summary line: no note
    closing = paragraph[-1].strip() == '"""'
    text_lines = paragraph[:-1] if closing else paragraph
    indent = text_lines[0][: len(text_lines[0]) - len(text_lines[0].lstrip())]
    text = " ".join(line.strip() for line in text_lines)
    kept = _NOTE.sub(
        lambda note: "" if note.group(1) in dropped else note.group(0), text
    ).strip()
    if kept == text:
        return paragraph
    width = max(len(line) for line in text_lines)
    wrapped = textwrap.wrap(
        kept, width, initial_indent=indent, subsequent_indent=indent
    )
    return wrapped + (paragraph[-1:] if closing else [])


def _signature(source: str, definition: ast.FunctionDef, dropped: set[str]) -> str:
    """``def name(a: A, b: B = 1) -> R:`` with the dropped parameters left out (black lays it out)."""
    arguments = definition.args
    if arguments.posonlyargs or arguments.kwonlyargs or arguments.vararg:
        raise ValueError(f"{definition.name}: only plain parameters can be trimmed")
    defaults = [None] * (len(arguments.args) - len(arguments.defaults))
    parts = []
    for argument, default in zip(arguments.args, defaults + arguments.defaults):
        if argument.arg in dropped:
            continue
        text = argument.arg
        if argument.annotation is not None:
            text += f": {ast.get_source_segment(source, argument.annotation)}"
        if default is not None:
            text += f" = {ast.get_source_segment(source, default)}"
        parts.append(text)
    returns = ""
    if definition.returns is not None:
        returns = f" -> {ast.get_source_segment(source, definition.returns)}"
    return f"def {definition.name}({', '.join(parts)}){returns}:"


class _Block:
    """Statements of the function, folded one after the other, as indented text lines."""

    def __init__(
        self,
        lines: list[str],
        known: dict[str, Any],
        reassigned: set[str],
        namespace: dict[str, Any],
    ) -> None:
        self.globals = namespace  # the function's globals: what its calls call
        self.lines = lines
        self.known = known  # option -> default, until the code assigns the name
        self.reassigned = reassigned  # the names the function assigns anywhere

    def statements(self, body: list[ast.stmt], indent: int) -> list[str]:
        out: list[str] = []
        for statement in body:
            out += self.statement(statement, indent)
        return out

    def statement(self, statement: ast.stmt, indent: int) -> list[str]:
        if isinstance(statement, ast.If):
            test = _truth(self.fold(statement.test))
            if isinstance(test, ast.Constant):
                branch = statement.body if test.value else statement.orelse
                return self.statements(branch, indent)
            if test is statement.test:
                header = self._header(statement, indent)
            else:
                comment = self._comment(statement.test)
                header = [" " * indent + f"if {ast.unparse(test)}:" + comment]
            text = self._leading(statement, indent) + header
            text += self.statements(statement.body, indent + 4)
            if statement.orelse:  # an ``elif`` reads as ``else: if``: black keeps it
                text += [" " * indent + "else:"]
                text += self.statements(statement.orelse, indent + 4)
            return text
        if isinstance(statement, ast.For):
            if statement.orelse:
                raise ValueError("a for loop with else is not trimmed")
            header = self._header(statement, indent)
            folded = self.fold(statement.iter)  # read once, before the body runs
            if folded is not statement.iter:
                target = ast.unparse(statement.target)
                header = [f"{' ' * indent}for {target} in {ast.unparse(folded)}:"]
            self._refuse_reads(statement, _stored(statement))
            self._assigned(statement)  # a later pass reads what an earlier one assigned
            text = self._leading(statement, indent) + header
            return text + self.statements(statement.body, indent + 4)
        if isinstance(statement, ast.FunctionDef):
            # a closure reads the outer names when it is called: only the
            # options the outer function never assigns are their defaults there
            self._refuse_reads(statement, self.reassigned)
            outer = self.known
            own = {a.arg for a in statement.args.args}  # its parameters hide options
            self.known = {
                k: v for k, v in outer.items() if k not in self.reassigned | own
            }
            text = self._leading(statement, indent) + self._header(statement, indent)
            text += self.statements(statement.body, indent + 4)
            self.known = outer
            self._assigned(statement)
            return text
        if isinstance(statement, (ast.With, ast.While, ast.Try)):
            raise ValueError(f"{type(statement).__name__} is not trimmed")
        folded = self.fold(statement)
        if folded is statement:
            text = self.lines[statement.lineno - 1 : statement.end_lineno]
            text = self._shifted(text, statement, indent)
        else:
            text = [" " * indent + ast.unparse(folded) + self._comment(statement)]
        self._assigned(statement)
        return self._leading(statement, indent) + text

    def fold(self, node: ast.AST) -> Any:
        """``node`` with known options replaced and what constants decide decided.

        Returns ``node`` itself when nothing changed.
        """
        folded = _Folder(self.known, self.globals).visit(_copy(node))
        if isinstance(folded, ast.Constant):  # a test decided (``if proj_size:``)
            folded = ast.Constant(folded.value)
        if ast.dump(folded) == ast.dump(node) and not _has_default(folded):
            return node
        return _Literals().visit(folded)

    def _header(self, statement: ast.stmt, indent: int) -> list[str]:
        """The lines of a compound statement before its body (``for x in y:``), moved to ``indent``."""
        end = _first_line(statement.body[0]) - 1
        while (
            self.lines[end - 1].strip().startswith("#")
            or not self.lines[end - 1].strip()
        ):
            end -= 1
        return self._shifted(self.lines[statement.lineno - 1 : end], statement, indent)

    def _assigned(self, statement: ast.stmt) -> None:
        """Names the statement assigns are no longer their option's default."""
        for name in _stored(statement):
            self.known.pop(name, None)

    def _refuse_reads(self, statement: ast.stmt, assigned: set[str]) -> None:
        """Raise ValueError if ``statement`` reads a dropped option that ``assigned`` holds.

        In a loop body or a closure such a read may see the default or the
        assigned value, depending on when it runs: no text stands for both.
        """
        read = {
            n.id
            for n in ast.walk(statement)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        both = sorted(read & assigned & set(self.known))
        if both:
            raise ValueError(
                f"options {both} are assigned and read where they may be either"
            )

    def _leading(self, statement: ast.stmt, indent: int) -> list[str]:
        """The comment lines and blank line right above ``statement``, moved to ``indent``."""
        start = statement.lineno - 1
        found = []
        while start > 0 and self.lines[start - 1].strip().startswith("#"):
            start -= 1
            found.insert(0, " " * indent + self.lines[start].strip())
        if start > 0 and not self.lines[start - 1].strip():
            found.insert(0, "")
        return found

    def _comment(self, node: ast.AST) -> str:
        """The comment after ``node`` on its last line, if any (``  # why``)."""
        rest = self.lines[node.end_lineno - 1][node.end_col_offset :]
        at = rest.find("#")
        return "  " + rest[at:] if at >= 0 else ""

    def _shifted(self, text: list[str], node: ast.stmt, indent: int) -> list[str]:
        """Source lines of ``node`` moved from its own indentation to ``indent``."""
        shift = indent - node.col_offset
        if shift >= 0:
            return [" " * shift + line if line else line for line in text]
        return [line[-shift:] if line[:-shift].isspace() else line for line in text]


def _stored(node: ast.AST) -> set[str]:
    """The names ``node`` assigns anywhere inside it."""
    return {
        n.id
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _truth(test: ast.expr) -> ast.expr:
    """A test as an ``if`` reads it: ``x and False`` is false, ``x or True`` true, ``x and True`` is ``x``.

    Only the truth of the value counts there, and the operands before the
    constant are names and comparisons the sources test, without effects.
    """
    if not isinstance(test, ast.BoolOp):
        return test
    deciding = bool if isinstance(test.op, ast.Or) else (lambda v: not v)
    values = []
    for value in test.values:
        if isinstance(value, ast.Constant):
            if deciding(value.value):
                return ast.Constant(bool(value.value))
            continue  # ``x and True`` is as true as ``x``
        values.append(value)
    if len(values) == len(test.values):
        return test
    if not values:  # every operand a constant that does not decide
        return ast.Constant(isinstance(test.op, ast.And))
    return values[0] if len(values) == 1 else ast.BoolOp(test.op, values)


def _first_line(statement: ast.stmt) -> int:
    """The first line of ``statement``, decorators included."""
    decorators = getattr(statement, "decorator_list", [])
    return min([statement.lineno] + [d.lineno for d in decorators])


def _copy(node: ast.AST) -> ast.AST:
    return copy.deepcopy(node)


def _has_default(node: ast.AST) -> bool:
    return any(isinstance(n, _Default) for n in ast.walk(node))


class _Literals(ast.NodeTransformer):
    """An option no constant decides is read as its default: ``F.dropout(x, 0.1, training)``."""

    def visit__Default(self, node: _Default) -> ast.AST:  # by class name
        return ast.Constant(node.value)


class _Folder(ast.NodeTransformer):
    """Known options as their defaults; what constants alone decide, decided."""

    def __init__(self, known: dict[str, Any], namespace: dict[str, Any]) -> None:
        self.known = known
        self.globals = namespace

    def visit_Call(self, node: ast.Call) -> ast.AST:
        """A keyword argument that folds to the callee's own default is left out.

        ``F.layer_norm(x, shape, eps=layer_norm_eps)`` with ``layer_norm_eps``
        dropped at ``1e-05`` is ``F.layer_norm(x, shape)``: only where the
        callee is a function of the module's globals whose signature says so.
        """
        read = {id(k) for k in node.keywords if not isinstance(k.value, ast.Constant)}
        self.generic_visit(node)
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "bool"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
        ):
            return ast.Constant(bool(node.args[0].value))
        defaults = _defaults(_resolve(node.func, self.globals))
        node.keywords = [
            k
            for k in node.keywords
            if not (
                id(k) in read
                and isinstance(k.value, ast.Constant)
                and k.arg in defaults
                and _same(defaults[k.arg], k.value.value)
            )
        ]
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and node.id in self.known:
            return _Default(self.known[node.id])
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and isinstance(node.operand, ast.Constant):
            return ast.Constant(not node.operand.value)
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        """``a and b`` as Python evaluates it: a constant that decides ends it; one that does not is skipped."""
        self.generic_visit(node)
        deciding = bool if isinstance(node.op, ast.Or) else (lambda v: not v)
        values: list[ast.expr] = []
        for position, value in enumerate(node.values):
            last = position == len(node.values) - 1
            if isinstance(value, ast.Constant) and not last:
                if deciding(value.value):
                    values.append(ast.Constant(value.value))
                    break
                continue  # skipped: the next operand decides
            values.append(value)
            if isinstance(value, ast.Constant):
                break
        if len(values) == 1:
            value = values[0]
            return (
                ast.Constant(value.value) if isinstance(value, ast.Constant) else value
            )
        if any(isinstance(v, ast.Constant) for v in values[:-1]):
            return node  # a constant before others that does not decide: unchanged
        return ast.BoolOp(node.op, values)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        operands = [node.left, *node.comparators]
        if len(node.ops) != 1 or not all(isinstance(o, ast.Constant) for o in operands):
            return node
        compare = _COMPARE.get(type(node.ops[0]))
        if compare is None:
            return node
        return ast.Constant(bool(compare(operands[0].value, operands[1].value)))

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant):
            chosen = node.body if node.test.value else node.orelse
            return (
                ast.Constant(chosen.value)
                if isinstance(chosen, ast.Constant)
                else chosen
            )
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        left, right = node.left, node.right
        constant = isinstance(left, ast.Constant), isinstance(right, ast.Constant)
        if all(constant) and type(node.op) in _BINARY:
            return ast.Constant(_BINARY[type(node.op)](left.value, right.value))
        if isinstance(node.op, ast.Mult):
            if constant[1] and _is(right, 1):
                return left
            if constant[0] and _is(left, 1):
                return right
        if isinstance(node.op, (ast.Add, ast.Sub)) and constant[1] and _is(right, 0):
            return left
        return node


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The object a callee expression names in ``namespace`` (``F.layer_norm``), or None."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        return None if owner is None else getattr(owner, node.attr, None)
    return None


def _defaults(function: Any) -> dict[str, Any]:
    """Parameter -> default of ``function``'s signature (empty where there is none)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}
    return {
        name: p.default
        for name, p in parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _same(default: Any, value: Any) -> bool:
    return type(default) is type(value) and default == value


def _is(node: ast.Constant, number: int) -> bool:
    return type(node.value) is int and node.value == number
