"""The user's source text around a traced node: comments, statement extents, docstrings.

The output keeps the comments and docstrings of its source (SPEC invariant
8). The tracer records where each node was made (:mod:`.source_map`); this
module reads those files once each (``ast`` for statements and docstrings,
``tokenize`` for comments) and answers the printer's questions:

- which comments of a function belong before a statement made from a line
  (:class:`CommentFeed`: every comment up to the end of that line's
  statement, each printed once, the rest before ``return``);
- which comment lines of ``__init__`` stand before ``self.<name> = ...``
  (:func:`init_comments`);
- the docstring of a class, of its ``forward``, or of a functional-style
  function, as text to print (:func:`docstrings`).

A file that cannot be read or parsed gives nothing: the output is then what
it was before there was a source map.
"""

from __future__ import annotations

import ast
import functools
from collections import Counter
import inspect
import io
import linecache
import re
import textwrap
import tokenize
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import black
from torch import fx, nn

from .init_arguments import construction_site
from .source_map import Frame, is_installed, is_user_code, node_frames, statement_line

#: Comments that steer tools, not readers; ``# fmt: off`` would steer black in the output.
_PRAGMA = re.compile(r"#\s*(fmt|yapf)\s*:", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class SourceFile:
    """One parsed file: its tree, its lines and its comments by line."""

    tree: ast.Module
    text: str
    comments: dict[int, str]
    #: the text split into lines once (``lines[n - 1]`` is line ``n``)
    lines: tuple[str, ...]
    #: a comment line that goes on with the comment trailing the code above
    #: it, in its column -> that comment's line (:func:`_continued_comments`)
    continues: dict[int, int] = field(default_factory=dict)

    def comment_alone(self, line: int) -> bool:
        """Whether line ``line`` holds a comment and nothing else."""
        return self.lines[line - 1].lstrip().startswith("#")

    def comment_line(self, line: int) -> int:
        """The line a comment on ``line`` stands on: that of the comment it continues."""
        return self.continues.get(line, line)


@dataclass(frozen=True)
class Owner:
    """The statement a comment annotates, and where it stands in its block.

    ``later``: the (first, last) lines of that statement and of the
    statements after it in the same block; ``earlier``: of those before it.
    """

    returns: bool
    later: tuple[tuple[int, int], ...]
    earlier: tuple[tuple[int, int], ...]

    def ran(self, lines: set[int]) -> bool:
        """Whether the trace ran the statement, judged by the lines it made nodes from.

        A statement ran when it or one after it in its block made a node
        (one that made none, ``keep_prob = 1 - drop_prob``, ran if the next
        did); a ``return`` ran when the statements before it did. Not so a
        statement of a branch the trace did not take, or one after the
        ``return`` it took (DINO's ``interpolate_pos_encoding``).
        """
        spans = self.later + (self.earlier if self.returns else ())
        return any(first <= line <= last for first, last in spans for line in lines)


@dataclass(frozen=True)
class FunctionText:
    """One function of the user's: its comments in order, and where each statement ends."""

    comments: tuple[tuple[int, str], ...]
    #: (first line, last line) of each statement head: a compound statement's header only
    heads: tuple[tuple[int, int], ...]
    #: per comment line, the statement it annotates (none: after the last one)
    owners: dict[int, Owner] = field(default_factory=dict)

    def statement_span(self, line: int) -> tuple[int, int]:
        """The (first, last) line of the innermost statement (head) holding ``line``."""
        holding = [(s, e) for s, e in self.heads if s <= line <= e]
        if not holding:
            return line, line
        return min(holding, key=lambda span: span[1] - span[0])

    def annotates_before(self, line: int, start: int) -> bool:
        """Whether the comment on ``line`` annotates a statement that starts before ``start``."""
        owner = self.owners.get(line)
        return owner is not None and owner.later[0][0] < start

    def annotates_code_that_ran(self, line: int, ran: set[int]) -> bool:
        """Whether the comment on ``line`` annotates a statement the trace ran."""
        owner = self.owners.get(line)
        return owner is None or owner.ran(ran)


def read_file(path: str) -> SourceFile | None:
    """``path`` parsed, or None when it cannot be read or parsed (cached while unchanged).

    Read through ``linecache``, which also holds the code nnconvert generated
    and executed (``Conversion.load()``): converting an output again keeps
    its comments.
    """
    linecache.checkcache(path)
    text = "".join(linecache.getlines(path))
    return _read(text) if text else None


@functools.lru_cache(maxsize=64)
def _read(text: str) -> SourceFile | None:
    try:
        tree = ast.parse(text)
        tokens = [
            token
            for token in tokenize.generate_tokens(io.StringIO(text).readline)
            if token.type == tokenize.COMMENT and not _PRAGMA.match(token.string)
        ]
    except (SyntaxError, ValueError, tokenize.TokenError):
        return None
    comments = {token.start[0]: _normalized(token.string) for token in tokens}
    lines = tuple(text.splitlines())
    return SourceFile(tree, text, comments, lines, _continued_comments(tokens, lines))


def simple_statement_at(frame: Frame) -> ast.stmt | None:
    """The innermost simple statement of ``frame``'s function on its line."""
    parsed = read_file(frame.file)
    if parsed is None:
        return None
    found = [
        n
        for n in ast.walk(parsed.tree)
        if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr))
        and n.lineno <= frame.line <= n.end_lineno
    ]
    return min(found, key=lambda n: n.end_lineno - n.lineno, default=None)


def _continued_comments(
    tokens: list[tokenize.TokenInfo], lines: tuple[str, ...]
) -> dict[int, int]:
    """Comment lines that go on with a trailing comment: each -> the trailing comment's line.

    Mamba's ``self.lm_head.weight = self.embedding.weight  # Tie output
    projection to embedding weights.`` goes on below, alone on its line in
    the same column: ``# See "Weight Tying" paper``. That line is about the
    statement above, not a heading for the code after it.
    """
    column = {token.start[0]: token.start[1] for token in tokens}
    continues: dict[int, int] = {}
    for line, start in sorted(column.items()):
        above = continues.get(line - 1, line - 1)
        alone = not lines[line - 1][:start].strip()
        trails = above in column and bool(lines[above - 1][: column[above]].strip())
        if alone and trails and column.get(line - 1) == start:
            continues[line] = above
    return continues


def _normalized(comment: str) -> str:
    """A comment as black writes it (``#x`` -> ``# x``), so the output stays black-stable."""
    comment = comment.rstrip()
    if len(comment) > 1 and comment[1] not in " !:#'":
        comment = "# " + comment[1:]
    return comment


def definition_at(tree: ast.AST, first_line: int, kinds: tuple[type, ...]) -> Any:
    """The function or class whose code starts at ``first_line`` (decorators included)."""
    for node in ast.walk(tree):
        if isinstance(node, kinds):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if first_line in (start, node.lineno):
                return node
    return None


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@functools.lru_cache(maxsize=512)
def function_tree(function: Any) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """``function``'s own definition as a tree; None without source (a builtin, ``None``).

    One parse per function for every reader of a constructor's source (ties,
    optional submodules, source arguments, block init functions). The tree
    is shared: a reader that rewrites nodes copies them first.
    """
    if function is None:
        return None
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    definition = tree.body[0] if tree.body else None
    return definition if isinstance(definition, FUNCTIONS) else None


@functools.lru_cache(maxsize=256)
def _function_text(source: SourceFile, first_line: int) -> FunctionText | None:
    function = definition_at(source.tree, first_line, FUNCTIONS)
    if function is None:
        return _lambda_text(source, first_line)
    body_start = function.body[0].lineno
    docstring = docstring_node(function)
    skip = (
        set(range(docstring.lineno, docstring.end_lineno + 1)) if docstring else set()
    )
    # above a parameter: about that parameter (:func:`keyword_comments`)
    skip |= set(range(function.lineno + 1, _last_parameter_line(function)))
    last = _end_with_comments(source, function)
    comments = tuple(
        (source.comment_line(line), text)
        for line, text in sorted(source.comments.items())
        if function.lineno <= line <= last and line not in skip
    )
    heads = []
    for node in ast.walk(function):
        if isinstance(node, ast.stmt) and node is not function:
            inner = [
                getattr(node, part)[0].lineno
                for part in ("body", "handlers", "orelse", "finalbody")
                if getattr(node, part, None)
            ]
            end = min(inner) - 1 if inner else node.end_lineno
            heads.append((node.lineno, max(node.lineno, end)))
    heads.append(
        (function.lineno, body_start - 1)
    )  # the signature: the first statement's
    owners = _owners(source, function, [line for line, _ in comments])
    return FunctionText(comments, tuple(heads), owners)


def _last_parameter_line(function: Any) -> int:
    """The line the function's last parameter starts on (its ``def`` line without any)."""
    every = every_argument(function.args)
    return max((a.lineno for a in every), default=function.lineno)


def _lambda_text(source: SourceFile, first_line: int) -> FunctionText | None:
    """The one lambda (or generator expression) starting at ``first_line``, as a
    function of one statement.

    minGPT's ``self.mlpf = lambda x: m.dropout(m.c_proj(m.act(m.c_fc(x))))
    # MLP forward``: the comment on its lines goes before the statement its
    nodes make in ``forward``, where the output writes its code. Perceiver's
    ``q, k, v = (rearrange(t, ...) for t in (q, k, v))`` runs in a frame of
    its own too; its nodes are one statement, as a lambda's are. (Not a list
    comprehension: since Python 3.12 it runs in its function's frame.)
    """
    found = [
        node
        for node in ast.walk(source.tree)
        if isinstance(node, (ast.Lambda, ast.GeneratorExp))
        and node.lineno == first_line
    ]
    if len(found) != 1:
        return None
    start, end = found[0].lineno, found[0].end_lineno
    comments = tuple(
        (line, text)
        for line, text in sorted(source.comments.items())
        if start <= line <= end
    )
    return FunctionText(comments, ((start, end),))


def _owners(source: SourceFile, function: Any, lines: list[int]) -> dict[int, Owner]:
    """The :class:`Owner` of each comment line: the statement it stands above or trails.

    A comment alone on its line annotates the next statement; one after
    code, the innermost statement holding its line.
    """
    blocks: list[list[ast.stmt]] = []
    for node in ast.walk(function):
        for part in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, part, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                blocks.append(block)
    where = {id(s): (block, i) for block in blocks for i, s in enumerate(block)}
    statements = [s for block in blocks for s in block if s is not function]
    owners = {}
    for line in lines:
        alone = source.comment_alone(line)
        if alone:
            after = [s for s in statements if s.lineno > line]
            owner = min(after, key=lambda s: s.lineno, default=None)
        else:
            holding = [s for s in statements if s.lineno <= line <= s.end_lineno]
            owner = min(holding, key=lambda s: s.end_lineno - s.lineno, default=None)
        if owner is None or id(owner) not in where:
            continue
        block, index = where[id(owner)]
        spans = [(s.lineno, s.end_lineno) for s in block]
        owners[line] = Owner(
            isinstance(owner, ast.Return), tuple(spans[index:]), tuple(spans[:index])
        )
    return owners


def unpacks_into(frame: Frame, count: int) -> bool:
    """Whether the statement at ``frame`` unpacks ``count`` values into names.

    ``q, k, v = ...`` for three values, ``out, *_ = ...`` for one or more:
    Python refuses an assignment of another number of values itself, so the
    statement checks its own length (a loop over the values does not).
    """
    found = unpacked_names(frame)
    if found is None:
        return False
    names, starred = found
    return names <= count if starred else names == count


def spreads_a_call(frame: Frame) -> bool:
    """Whether the statement at ``frame`` spreads a call's values into a tuple or list.

    lucidrains' ``qkv = (self.to_q(x), *self.to_kv(context).chunk(2, dim=-1))``:
    iterating the traced ``chunk`` asks its length, which the trace keeps as a
    guard; unpacked where it is made (``k, v = ....chunk(2, dim=-1)``), the
    assignment refuses another length itself, as the guard did.
    """
    statement = simple_statement_at(frame)
    return statement is not None and any(
        isinstance(display, (ast.Tuple, ast.List))
        and isinstance(display.ctx, ast.Load)
        and any(
            isinstance(e, ast.Starred) and isinstance(e.value, ast.Call)
            for e in display.elts
        )
        for display in ast.walk(statement)
    )


def unpacked_names(frame: Frame) -> tuple[int, bool] | None:
    """``(2, False)`` for ``q, k = ...`` at ``frame``, ``(1, True)`` for ``out, *_ = ...``.

    ``None`` where the statement is no assignment to one tuple of names (a
    starred name only last).
    """
    source = read_file(frame.file)
    if source is None:
        return None
    assignments = [
        node
        for node in ast.walk(source.tree)
        if isinstance(node, ast.Assign)
        and node.lineno <= frame.line <= (node.end_lineno or node.lineno)
    ]
    if not assignments:
        return None
    innermost = max(assignments, key=lambda node: node.lineno)
    if len(innermost.targets) != 1 or not isinstance(
        target := innermost.targets[0], (ast.Tuple, ast.List)
    ):
        return None
    starred = [isinstance(element, ast.Starred) for element in target.elts]
    if any(starred[:-1]):
        return None
    return len(starred) - starred[-1], bool(starred[-1])


def range_loop_lines(frame: Frame, argument: str) -> range | None:
    """The lines of the body of ``for ... in range(argument):`` on ``frame``'s line.

    ``None`` when that line holds no such ``for`` (``range(n + 1)``, a
    ``while``, no source): the loop over ``argument`` cannot be told apart
    from the code around it.
    """
    source = read_file(frame.file)
    if source is None:
        return None
    for node in ast.walk(source.tree):
        if (
            isinstance(node, ast.For)
            and node.lineno == frame.line
            and range_counter(node) == argument
            and not node.orelse
        ):
            return range(node.body[0].lineno, node.end_lineno + 1)
    return None


def range_loop_around(frame: Frame) -> range | None:
    """The body lines of the innermost ``for ... in range(...)`` holding ``frame``'s line.

    ``None`` where the innermost ``for`` around it is over something else,
    counts to anything but a number no input changes (:func:`_fixed_number`),
    or has an ``else``.
    """
    source = read_file(frame.file)
    loop = loop_around(source.tree, frame.line) if source is not None else None
    if loop is None or loop.orelse or not one_argument_call(loop.iter, "range"):
        return None
    if not _fixed_number(loop.iter.args[0]):
        return None
    return range(loop.body[0].lineno, loop.end_lineno + 1)


def member_loop_statements(frame: Frame, container: str) -> tuple[range, ...] | None:
    """The lines of each statement of the innermost ``for`` around ``frame``'s
    line, where that ``for`` runs over the members of ``self.<container>``.

    ``for attn, ff in self.layers:``, ``for i, blk in enumerate(self.blocks):``,
    a loop over a local bound once to an expression that reads the container
    (XCiT's ``layers = dropout_layers(self.layers, dropout=...)``), or over
    ``range(...)`` (``self.layers[i]``; a functional file's ``for i in
    range(1):`` around ``sub_params(params, f"layers.{i}.")``). None for any
    other loop, one with an ``else``, or no source.
    """
    found = _function_at(frame)
    if found is None:
        return None
    function = found[1]
    loop = loop_around(function, frame.line)
    if loop is None or loop.orelse or not _over_members(loop.iter, container, function):
        return None
    return tuple(range(s.lineno, (s.end_lineno or s.lineno) + 1) for s in loop.body)


def _over_members(iterated: ast.expr, container: str, function: ast.AST) -> bool:
    """``iterated`` (a ``for``'s) runs over ``self.<container>``'s members (:func:`member_loop_statements`)."""
    if isinstance(iterated, ast.Call) and isinstance(iterated.func, ast.Name):
        if iterated.func.id == "range":
            return True
        if one_argument_call(iterated, "enumerate"):
            iterated = iterated.args[0]
    return is_container(iterated, container, function)


def is_container(expression: ast.expr, container: str, function: ast.AST) -> bool:
    """``self.<container>``, or a local ``function`` binds once to an expression reading it.

    XCiT's ``layers = dropout_layers(self.layers, dropout=...)``: whatever
    the expression does, the trace ran the loop over it through the members
    it called.
    """
    if self_path(expression) == container:
        return True
    if not isinstance(expression, ast.Name):
        return False
    bound = bound_once(function, expression.id)
    return bound is not None and any(
        self_path(node) == container for node in ast.walk(bound)
    )


def loop_around(tree: ast.AST, line: int) -> ast.For | None:
    """The innermost ``for`` of ``tree`` whose body holds ``line``."""
    around = [
        node
        for node in _for_statements(tree)
        if node.body[0].lineno <= line <= node.end_lineno
    ]
    return max(around, key=lambda node: node.lineno, default=None)


@functools.lru_cache(maxsize=256)
def _for_statements(tree: ast.AST) -> tuple[ast.For, ...]:
    """The ``for`` statements of ``tree``, found once per tree.

    The loop finders ask for the loop around every node's line; walking a
    whole file each time was a third of Swin's conversion. A tree read from
    a file is cached and never changed (:func:`read_file`), so its loops
    stay what they were.
    """
    return tuple(node for node in ast.walk(tree) if isinstance(node, ast.For))


def _fixed_number(expression: ast.expr) -> bool:
    """Literals and ``self`` attributes in arithmetic: ``3``, ``self.block_size - 1``.

    A number no input changes. A bare name (``range(future)``: an argument
    found by its guard, or a local computed from anything) or a call
    (``range(x.size(1))``, ``range(len(self.layers))``) is not.
    """
    if isinstance(expression, ast.Constant):
        return isinstance(expression.value, int) and not isinstance(
            expression.value, bool
        )
    if isinstance(expression, ast.Attribute):
        return self_path(expression) is not None
    if isinstance(expression, ast.BinOp):
        return _fixed_number(expression.left) and _fixed_number(expression.right)
    return False


def range_counter(loop: ast.For) -> str | None:
    """``n`` for ``for ... in range(n):``, ``n`` a bare name; None for any other loop."""
    counted = loop.iter
    if one_argument_call(counted, "range") and isinstance(counted.args[0], ast.Name):
        return counted.args[0].id
    return None


def written_text(node: ast.expr) -> str:
    """``node`` as a person writes it: ``dim_head ** -0.5``, not ``ast.unparse``'s ``** (-0.5)``."""
    return re.sub(r"\*\* \((-[\w.]+)\)", r"** \1", ast.unparse(node))


def assignment_targets(node: ast.stmt) -> list[ast.expr]:
    """What an assignment statement (``=``, ``+=``, annotated) binds; nothing for others."""
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return [node.target]
    return []


def loop_targets(statement: ast.AST) -> list[ast.expr]:
    """A ``for`` statement's target; nothing for others."""
    return [statement.target] if isinstance(statement, (ast.For, ast.AsyncFor)) else []


def set_once(
    function: ast.FunctionDef, *, loops: bool
) -> Iterator[tuple[str, ast.expr]]:
    """``name = value`` at the top level of ``function``, for each name it sets nowhere else.

    ``loops``: a loop's target counts as setting its names too.
    """
    counts: dict[str, int] = {}
    for node in ast.walk(function):
        for target in assignment_targets(node) + (loop_targets(node) if loops else []):
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    counts[name.id] = counts.get(name.id, 0) + 1
    for node in function.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and counts.get(node.targets[0].id) == 1
        ):
            yield node.targets[0].id, node.value


def bound_once(definition: ast.AST, name: str) -> ast.expr | None:
    """What ``definition`` binds the local ``name`` to, where one assignment alone binds it.

    ``h = self.heads``, or an item of a tuple: ``b, n, _, h = *x.shape,
    self.heads`` (items after a starred one count from the end). None for
    a name bound anywhere else as well (a second assignment, a loop, a
    parameter, a ``with``) or by an unpacking that cannot be followed.
    """
    if any(a.arg == name for a in ast.walk(definition) if isinstance(a, ast.arg)):
        return None
    stores = [
        n
        for n in ast.walk(definition)
        if isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Load)
    ]
    if len(stores) != 1:
        return None
    for statement in ast.walk(definition):
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            value = _assigned_to(statement.targets[0], statement.value, stores[0])
            if value is not None:
                return value
    return None


def _assigned_to(target: ast.expr, value: ast.expr, name: ast.Name) -> ast.expr | None:
    """The part of ``value`` that ``target`` binds to ``name`` (a tuple's item by place)."""
    if target is name:
        return value
    if not isinstance(target, (ast.Tuple, ast.List)):
        return None
    if not isinstance(value, (ast.Tuple, ast.List)):
        return None
    if name not in target.elts or any(isinstance(t, ast.Starred) for t in target.elts):
        return None
    index = target.elts.index(name)
    starred = [i for i, v in enumerate(value.elts) if isinstance(v, ast.Starred)]
    if not starred:
        return value.elts[index] if len(value.elts) == len(target.elts) else None
    # ``*x.shape, self.heads``: the items after the starred one count from the end
    from_end = len(target.elts) - index
    if from_end <= len(value.elts) - 1 - starred[-1]:
        return value.elts[-from_end]
    return None


def one_argument_call(node: ast.AST, name: str) -> bool:
    """``name(x)``: a call of the bare name ``name`` (``range``, ``int``) with one argument."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == name
        and len(node.args) == 1
        and not node.keywords
    )


def called_name(function: ast.expr) -> str | None:
    """``f`` for a call of ``f`` or of ``x.f``; None for anything else."""
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return None


def function_text(frame: Frame) -> FunctionText | None:
    """The comments and statements of the function ``frame`` runs (None: no source)."""
    source = read_file(frame.file)
    return _function_text(source, frame.first_line) if source else None


def branch_attributes(frame: Frame) -> tuple[str, ...]:
    """The attributes ``self.<name>`` tested by the ``if`` statements holding ``frame``'s line.

    Inside nanoGPT's ``if self.flash:`` (either side), ``("flash",)``. The
    trace took one side; what ``__init__`` says about ``self.flash`` is
    about that code.
    """
    found = _function_at(frame)
    return () if found is None else _branch_attributes(found[1], frame.line)


def returns_without_else(frame: Frame) -> bool:
    """The ``if`` on ``frame``'s line has no ``else`` and its body ends in ``return``.

    Perceiver's ``if return_embeddings: return x``, then ``return
    self.to_logits(x)`` after it: the code after such an ``if`` is its
    other side, written without an ``else``.
    """
    found = _function_at(frame)
    if found is None:
        return False
    statement = next(
        (
            node
            for node in ast.walk(found[1])
            if isinstance(node, ast.If) and node.lineno == frame.line
        ),
        None,
    )
    return (
        statement is not None
        and not statement.orelse
        and isinstance(statement.body[-1], ast.Return)
    )


def node_branch_attributes(node: fx.Node) -> tuple[str, ...]:
    """:func:`branch_attributes` of the line ``node`` was made on (none without source)."""
    frame = statement_line(node)
    return () if frame is None else branch_attributes(frame)


def _function_at(frame: Frame) -> tuple[SourceFile, Any] | None:
    """The file and definition of the function ``frame`` runs, if its source reads."""
    source = read_file(frame.file)
    function = source and definition_at(source.tree, frame.first_line, FUNCTIONS)
    return None if function is None else (source, function)


@functools.lru_cache(maxsize=1024)
def _branch_attributes(function: ast.AST, line: int) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            name for _, names in _tested_flags(function, line) for name in names
        )
    )


def _tested_flags(function: ast.AST, line: int) -> list[tuple[ast.If, list[str]]]:
    """The ``if`` statements holding ``line`` in their body, each with the ``self.<name>`` it tests."""
    found = []
    for node in ast.walk(function):
        if not isinstance(node, ast.If) or not node.body:
            continue
        if not node.body[0].lineno <= line <= node.end_lineno:
            continue
        names = [
            name.attr
            for name in ast.walk(node.test)
            if isinstance(name, ast.Attribute)
            and isinstance(name.value, ast.Name)
            and name.value.id == "self"
        ]
        if names:
            found.append((node, names))
    return found


def comments_before_branch(frame: Frame) -> tuple[str, ...]:
    """The comments of ``frame``'s function above the outermost flag test holding its line.

    What a statement made inside nanoGPT's ``if self.flash:`` says before
    that ``if`` (``# causal self-attention; ...``), as the feed prints them.
    """
    found = _function_at(frame)
    if found is None:
        return ()
    source, function = found
    tests = _tested_flags(function, frame.line)
    if not tests:
        return ()
    start = min(node.lineno for node, _ in tests)
    return tuple(
        text
        for line, text in sorted(source.comments.items())
        if function.lineno <= line < start
    )


def _library_helper(frame: Frame, outermost: Frame) -> bool:
    """``frame`` runs a model library's helper, not the model: its comments stay out.

    A Hugging Face layer's ``forward`` (in its modeling file) calls
    ``create_causal_mask`` and ``sdpa_attention_forward`` of other files of
    the package, whose code the trace runs through; their comments are about
    the library's own branches (``# If the cache is from CB, immediate exit
    as well``), 75 of the 85 comments of BERT's output before this. A helper
    in the model's own file, or in a file of the user's that is no installed
    package, is the model's code, and keeps its comments.
    """
    return frame.file != outermost.file and is_installed(frame.file)


@dataclass
class CommentFeed:
    """Hands out each comment of the functions a body came from once, before its statement.

    A statement made from line L of a function gets every comment of that
    function not yet printed up to the end of L's statement: the comment
    lines above it and the one trailing it. Comments after the last such
    statement come before ``return`` (:meth:`rest`). A statement printed
    before one the source writes above it (a guard on an input, which
    stands first: Perceiver's ``if return_embeddings:`` at the end of its
    ``forward``) gets only its own comments; the others wait for theirs.
    """

    printed: dict[tuple[str, int], int] = field(default_factory=dict)
    functions: dict[tuple[str, int], FunctionText | None] = field(default_factory=dict)
    #: (function, statement end) -> the last printed node made from that statement
    last: dict[tuple[tuple[str, int], int], fx.Node] = field(default_factory=dict)
    #: (function, statement end) -> the first printed node made from that statement
    first: dict[tuple[tuple[str, int], int], fx.Node] = field(default_factory=dict)
    #: per function, the lines the output's nodes were made from (what the trace ran)
    ran: dict[tuple[str, int], set[int]] = field(default_factory=dict)
    #: the printed nodes whose statement the source writes after a later one's
    hoisted: set[fx.Node] = field(default_factory=set)
    #: per function, the comments (by index) a hoisted statement took out of turn
    taken: dict[tuple[str, int], set[int]] = field(default_factory=dict)

    def prepare(self, nodes: list[fx.Node], every: Iterable[fx.Node] = ()) -> None:
        """The statements the body prints, in order: each line's comments go before its last.

        A source statement printed as several (``x = F.relu(self.conv1(x))``
        in module style) has its trailing comment above the step that
        completes it; so the comment stays with the same step whichever style
        the source was written in. The comments standing above the statement
        go above its first step (the seq2seq tutorial's ``# the decoder may
        not look ahead`` above functional style's ``tgt_mask = tgt.size(0)``,
        not between it and ``tgt_mask = torch.triu(...)``), where read back
        they stand again. ``every``: all nodes the output holds, printed or
        inlined; a comment on code none of them came from is not printed
        (:meth:`FunctionText.annotates_code_that_ran`).
        """
        for node in nodes:
            for key, _, end in self._spans(node):
                self.last[key, end] = node
                self.first.setdefault((key, end), node)
        after: dict[tuple[str, int], int] = {}  # per function: the earliest end after
        for node in reversed(nodes):
            spans = self._spans(node)
            if any(after.get(key, start) < start for key, start, _ in spans):
                self.hoisted.add(node)
            for key, _, end in spans:
                after[key] = min(after.get(key, end), end)
        # ``return self.fc(x)`` prints no statement of its own: the body's own
        # function still gives its comments. Its own: the outermost frame of
        # the shallowest nodes; a deeper frame is a kept method's (CLIP's
        # ``encode_text`` reads ``self.dtype`` through a property) or, from a
        # method's body, an outer one its caller's.
        framed = [frames for frames in map(node_frames, every) if frames]
        depth = min(map(len, framed), default=0)
        for frames in framed:
            if len(frames) == depth:
                self._spans_of(frames[:1])
        for node in [*nodes, *every]:
            for frame in node_frames(node):
                self.ran.setdefault((frame.file, frame.first_line), set()).add(
                    frame.line
                )

    def before(self, node: fx.Node) -> list[str]:
        """The comment lines to print before the statement made from ``node``.

        The first step of a statement printed as several also gets the
        comments on the statements before it that it holds (DINO's ``shape
        = ...  # work with diff dim tensors``, inlined into the next line's
        ``torch.rand(shape, ...)``): they are about its code, not the last step's.
        """
        lines = []
        for key, start, end in self._spans(node):
            text = self.functions[key]
            if node in self.hoisted:
                lines += self._take_own(key, start, end)
            elif self.last.get((key, end)) is node:
                lines += self._take(key, lambda line: line <= end)
            elif self.first.get((key, end)) is node:
                lines += self._take(key, lambda line: line < start)
            else:
                lines += self._take(
                    key, lambda line: text.annotates_before(line, start)
                )
        return lines

    def above(self, node: fx.Node, through: int | None = None) -> list[str]:
        """The comment lines above ``node``'s own line and trailing it, not yet printed.

        For a compound statement's head (a loop's ``for``), whose statement
        would also hold the comments between it and its body: the one on the
        ``for`` line (``for i in range(future):  # if we should predict the
        future``) is about the loop, and stands above it. ``through``: up to
        that line of the function ``node`` was made in instead (the ``for``
        line of a loop no node of that line heads).
        """
        self._spans(node)  # reads the functions it comes from
        lines = []
        frames = node_frames(node)
        for frame in frames[:1] if through is not None else frames:
            key = (frame.file, frame.first_line)
            last = frame.line if through is None else through
            if self.functions.get(key) is not None:
                lines += self._take(key, lambda line: line <= last)
        return lines

    def _spans(self, node: fx.Node) -> list[tuple[tuple[str, int], int, int]]:
        """Per frame of ``node`` with source: (its function, its statement's first and last line)."""
        return self._spans_of(node_frames(node))

    def _spans_of(self, frames: list[Frame]) -> list[tuple[tuple[str, int], int, int]]:
        found = []
        for frame in frames:
            key = (frame.file, frame.first_line)
            if key not in self.functions:
                plumbing = _library_helper(frame, frames[0])
                self.functions[key] = None if plumbing else function_text(frame)
                self.printed[key] = 0
            text = self.functions[key]
            if text is not None:
                found.append((key, *text.statement_span(frame.line)))
        return found

    def rest(self) -> list[str]:
        """Every comment not printed yet (before ``return``)."""
        lines = []
        for key, text in self.functions.items():
            if text is not None:
                lines += self._take(key, lambda line: True)
        return lines

    def _take(self, key: tuple[str, int], wanted) -> list[str]:
        text = self.functions[key]
        comments = text.comments
        ran = self.ran.get(key, set())
        index = self.printed[key]
        out_of_turn = self.taken.get(key, set())
        taken = []
        while index < len(comments) and wanted(comments[index][0]):
            line, comment = comments[index]
            if index not in out_of_turn and text.annotates_code_that_ran(line, ran):
                taken.append(comment)
            index += 1
        self.printed[key] = index
        return taken

    def _take_own(self, key: tuple[str, int], start: int, end: int) -> list[str]:
        """The comments not yet printed that annotate the statement at ``start``
        or trail it, taken out of turn: the earlier ones stay for their statements."""
        text = self.functions[key]
        out_of_turn = self.taken.setdefault(key, set())
        taken = []
        for index in range(self.printed[key], len(text.comments)):
            line, comment = text.comments[index]
            owner = text.owners.get(line)
            own = start <= line <= end or (
                owner is not None and owner.later[0][0] == start
            )
            if own and index not in out_of_turn:
                out_of_turn.add(index)
                taken.append(comment)
        return taken


# -- __init__ comments --------------------------------------------------------


#: The comments ``init_params()`` writes itself: not the user's, never read back.
_OWN_INIT_COMMENTS = re.compile(
    r"# (tied weights: one tensor under both keys"
    r"|(\w+'s )?own tensors?: set (it|them) before use"
    r"|drawn by the constructor, then replaced by)"
)


def module_init_comments(
    module: nn.Module, made_by: Mapping[str, list[str]] | None = None
) -> list[tuple[str, list[str]]]:
    """:func:`init_comments` of ``module``'s class; for a functional input, of its ``init_params()``.

    Functional style writes the root's ``__init__`` comments above the keys
    of the attribute in ``init_params()``; read back from there, converting
    that output to a class style puts them above the attribute again.
    """
    if not is_functional_input(module):
        return init_comments(type(module), made_by)
    init = module.function.__globals__.get("init_params")
    found = function_definition(init) if inspect.isfunction(init) else None
    if found is None:
        return []
    source, definition = found
    keys = sorted(  # a tie (``params[a] = params[b]``) under its whole key
        (node.end_lineno, key if _is_tie(node) else key.split(".")[0])
        for node in ast.walk(definition)
        if isinstance(node, ast.stmt)
        for key in [written_key(node)]
        if key is not None
    )
    return _placed_comments(source, definition, keys, _OWN_INIT_COMMENTS)


def _is_tie(statement: ast.stmt) -> bool:
    """``params["lm_head.weight"] = params["wte.weight"]``: one tensor under a second key."""
    return (
        isinstance(statement, ast.Assign)
        and isinstance(statement.value, ast.Subscript)
        and isinstance(statement.value.value, ast.Name)
        and statement.value.value.id == "params"
    )


def written_key(statement: ast.stmt) -> str | None:
    """The key (or its start) an ``init_params()`` statement writes, as far as it is constant.

    ``params["conv1.weight"] = ...`` and ``params |= kaiming_params("conv1",
    ...)`` write under ``conv1``; in a loop, ``f"blocks.{i}.fc"`` under
    ``blocks.``.
    """
    if isinstance(statement, ast.Assign):
        target = statement.targets[0]
        if (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id == "params"
        ):
            return _constant_start(target.slice)
    if (
        isinstance(statement, ast.AugAssign)
        and isinstance(statement.target, ast.Name)
        and statement.target.id == "params"
        and isinstance(statement.value, ast.Call)
        and statement.value.args
    ):
        return _constant_start(statement.value.args[0])
    return None


def _constant_start(node: ast.expr) -> str | None:
    """A string constant, or the constant text an f-string starts with."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def init_comments(
    cls: type, made_by: Mapping[str, list[str]] | None = None
) -> list[tuple[str, list[str]]]:
    """The comments of ``cls.__init__``, each with the attribute it stands before.

    In source order: ``(name, comments)`` for each ``self.<name> = ...``
    holding the comment lines above it and the one trailing it (maybe
    none); comments after the last assignment are listed under ``""``.
    ``made_by``: more lines per attribute, after its own (what the helper
    method that computed it says: :mod:`.helper_origins`).
    """
    init = vars(cls).get("__init__")
    code = getattr(init, "__code__", None)
    if code is None or not is_user_code(code.co_filename):
        return []
    source = read_file(code.co_filename)
    function = source and definition_at(source.tree, code.co_firstlineno, FUNCTIONS)
    if function is None:
        return []
    assigned = sorted(
        (node.end_lineno, name)
        for node in ast.walk(function)
        if isinstance(node, ast.stmt)
        for name in attributes_set(node)
    )
    detached = _detached_lines(source, function)
    return _placed_comments(source, function, assigned, made_by=made_by, skip=detached)


def _detached_lines(source: SourceFile, function: Any) -> frozenset[int]:
    """The lines of ``__init__``'s ``if`` and ``assert`` statements that touch no ``self``.

    minGPT's ``if type_given: config.merge_from_dict({...})`` with its table
    of presets (``# GPT-1``, ``# 117M params``), or ``assert type_given ^
    params_given  # exactly one of these (XOR)``: nothing of the model is
    built there, so no statement of the output stands for them, and their
    comments would stand above the next attribute as if about it. The
    comment lines right above such a statement go with it.
    """
    lines: set[int] = set()
    for node in ast.walk(function):
        if not isinstance(node, (ast.If, ast.Assert)) or any(
            isinstance(n, ast.Name) and n.id == "self" for n in ast.walk(node)
        ):
            continue
        lines.update(range(node.lineno, node.end_lineno + 1))
        above = node.lineno - 1
        while above > function.lineno and source.comment_alone(above):
            lines.add(above)
            above -= 1
    return frozenset(lines)


def _placed_comments(
    source: SourceFile,
    function: Any,
    assigned: list[tuple[int, str]],
    pattern: re.Pattern | None = None,
    made_by: Mapping[str, list[str]] | None = None,
    skip: frozenset[int] = frozenset(),
) -> list[tuple[str, list[str]]]:
    """Each comment of ``function`` with the first of ``assigned`` (end line, name) at or after it.

    Not a comment matching ``pattern``, nor one on a line in ``skip``.
    ``made_by`` lines follow the comments of the first entry of their name.
    """
    found: list[tuple[str, list[str]]] = [(name, []) for _, name in assigned]
    found.append(("", []))
    ends = [end for end, _ in assigned]
    docstring = docstring_node(function)
    for line, text in sorted(source.comments.items()):
        if pattern is not None and pattern.match(text) or line in skip:
            continue
        if docstring and docstring.lineno <= line <= docstring.end_lineno:
            continue
        if function.lineno <= line <= _end_with_comments(source, function):
            at = source.comment_line(line)
            index = next((i for i, end in enumerate(ends) if at <= end), len(ends))
            alone = source.comment_alone(at)
            found[index][1].append(text if alone else TrailingComment(text))
    for name, lines in (made_by or {}).items():
        index = next((i for i, (n, _) in enumerate(found) if n == name), None)
        if index is not None:
            found[index][1].extend(lines)
    return found if any(comments for _, comments in found) else []


#: ``self.<method>("name", ...)`` registers attribute ``name``.
_REGISTERS = ("register_buffer", "register_parameter", "add_module", "register_module")


def attributes_set(statement: ast.stmt) -> list[str]:
    """The attribute paths a statement of ``__init__`` sets: ``self.fc = ...`` -> ``fc``.

    ``self.wte.weight = ...`` -> ``wte.weight``; ``self.register_buffer("bias", ...)``
    -> ``bias``.
    """
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign):
        targets = [statement.target]
    elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        call = statement.value
        if (
            isinstance(call.func, ast.Attribute)
            and call.func.attr in _REGISTERS
            and self_path(call.func.value) == ""
            and call.args
            and isinstance(call.args[0], ast.Constant)
            and isinstance(call.args[0].value, str)
        ):
            return [call.args[0].value]
        return []
    else:
        return []
    return [p for p in map(self_path, targets) if p]


#: the keyword each registering method takes its value by
_VALUE_KEYWORDS = {
    "register_buffer": "tensor",
    "register_parameter": "param",
    "add_module": "module",
    "register_module": "module",
}


def assigned_value(statement: ast.stmt) -> ast.expr | None:
    """The value a statement :func:`attributes_set` reads stores into its attribute.

    The right side of ``self.x = value``, or the value argument of
    ``self.register_buffer("x", value)`` (by position or keyword).
    """
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        return statement.value
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        call = statement.value
        if len(call.args) > 1:
            return call.args[1]
        if isinstance(call.func, ast.Attribute):
            keyword = _VALUE_KEYWORDS.get(call.func.attr)
            return next((k.value for k in call.keywords if k.arg == keyword), None)
    return None


def self_path(node: ast.AST) -> str | None:
    """``self`` -> ``""``, ``self.a.b`` -> ``"a.b"``; None for anything else."""
    if isinstance(node, ast.Name):
        return "" if node.id == "self" else None
    if isinstance(node, ast.Attribute):
        base = self_path(node.value)
        if base is not None:
            return f"{base}.{node.attr}" if base else node.attr
    return None


def init_statement(class_tree: ast.ClassDef) -> ast.FunctionDef | None:
    """The ``def __init__`` a ``class`` statement holds itself (None: it inherits one)."""
    return next(
        (
            s
            for s in class_tree.body
            if isinstance(s, ast.FunctionDef) and s.name == "__init__"
        ),
        None,
    )


def every_argument(arguments: ast.arguments) -> list[ast.arg]:
    """A function's parameters in their order: positional, ``*args``, keyword-only, ``**kwargs``."""
    return [
        *arguments.posonlyargs,
        *arguments.args,
        *(a for a in (arguments.vararg,) if a is not None),
        *arguments.kwonlyargs,
        *(a for a in (arguments.kwarg,) if a is not None),
    ]


def methods_called(
    node: ast.AST, methods: Mapping[str, Any], found: set[str] | None = None
) -> set[str]:
    """The ``methods`` ``node`` calls through ``self``, and those they call, again and again."""
    found = set() if found is None else found
    for child in ast.walk(node):
        if (
            isinstance(child, ast.Attribute)
            and self_path(child) in methods
            and child.attr not in found
        ):
            found.add(child.attr)
            methods_called(methods[child.attr], methods, found)
    return found


def _end_with_comments(source: SourceFile, function: Any) -> int:
    """The function's last line, with the comment lines indented under it that follow."""
    lines = source.lines
    end = function.end_lineno
    while end < len(lines):
        text = lines[end]
        stripped = text.lstrip()
        if stripped and not (
            stripped.startswith("#") and len(text) - len(stripped) > function.col_offset
        ):
            break
        end += 1
    return end


class TrailingComment(str):
    """A comment that trails its statement (``self.window_size = window_size  # Wh, Ww``).

    It describes that statement alone: where the output has no such
    statement, :func:`placed_on` drops it rather than set it above the next
    one, as it does a comment on a line of its own (a heading for what
    follows).
    """


def placed_on(
    comments: list[tuple[str, list[str]]], printed: list[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """``comments`` (:func:`init_comments`) placed on the ``printed`` attributes, and the rest.

    A comment above an attribute the output does not assign (``self.n_head =
    n_head``) goes before the next one it does, one trailing it nowhere
    (:class:`TrailingComment`); those after the last printed one are
    returned apart.
    """
    placed: dict[str, list[str]] = {}
    pending: list[str] = []
    shown = set(printed)
    for name, lines in comments:
        if name not in shown:  # what trails a statement the output has not is its own
            lines = [line for line in lines if not isinstance(line, TrailingComment)]
        pending += lines
        if name in shown:  # set twice (``self.downsample = None``, then in an ``if``)
            placed[name] = placed.get(name, []) + pending
            pending = []
    return placed, pending


# -- docstrings ----------------------------------------------------------------


def docstring_node(definition: Any) -> ast.Expr | None:
    """The docstring statement of a class or function, if it has one."""
    first = definition.body[0] if definition.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def function_definition(function: Any) -> tuple[SourceFile, Any] | None:
    """The parsed file and ``def`` of a user's function (None: no source)."""
    code = getattr(function, "__code__", None)
    if code is None or not is_user_code(code.co_filename):
        return None
    source = read_file(code.co_filename)
    definition = source and definition_at(source.tree, code.co_firstlineno, FUNCTIONS)
    return (source, definition) if definition else None


def is_functional_input(module: Any) -> bool:
    """Whether ``module`` wraps a functional file's function (not a class of the user's)."""
    function = getattr(module, "function", None)
    return inspect.isfunction(function) and class_definition(type(module)) is None


def keyword_comments(module: Any, names: Sequence[str]) -> dict[str, list[str]]:
    """The comments about each of ``names``, a block's keyword parameters in functional style.

    A class's: those of ``__init__``'s statement setting ``self.<name>``
    (``self.n_heads = n_heads  # Number of attention heads``), which no
    statement of the function stands for. A functional input's: the
    comment lines right above the parameter in its ``def``, where the
    functional printer writes them, so that the output converted again
    says them again.
    """
    wanted = set(names)
    if is_functional_input(module):
        found = function_definition(module.function)
        if found is None:
            return {}
        source, definition = found
        arguments = [*definition.args.args, *definition.args.kwonlyargs]
        said: dict[str, list[str]] = {}
        for argument in arguments:
            lines: list[str] = []
            line = argument.lineno - 1
            while line > definition.lineno and source.comment_alone(line):
                lines.insert(0, source.lines[line - 1].strip())
                line -= 1
            if argument.arg in wanted and lines:
                said[argument.arg] = lines
        return said
    return {
        name: lines
        for name, lines in init_comments(type(module))
        if name in wanted and lines
    }


def sequential_comments(
    owner: nn.Module, attribute: str
) -> list[tuple[str, list[str]]]:
    """The comments between the layers of ``owner``'s ``self.<attribute> = nn.Sequential(...)``.

    By layer (its index in the container, as a name), in the form of
    :func:`init_comments`: a comment goes with the layer after it, or the
    one it trails; one after the last layer, with the last. DCGAN writes
    what each stage's output is between its layers (``# state size.
    (ngf*8) x 4 x 4``): functional style says each above the statements of
    that layer in the Sequential's function, not all of them above the
    Sequential's first key in ``init_params()`` or its first call.
    Empty unless the statement is one call of positional layers. Where
    ``__init__`` assigns the attribute more than once (MobileNetV3's
    ``InvertedResidual`` builds one of two commented Sequentials), the
    statement that built ``owner``'s (:func:`_built_by`); none where that is
    not certain: a comment said above another layer would misinform.
    """
    found = init_definition(owner)
    if found is None:
        return []
    source, function = found
    call = _built_by(_sequential_calls(function, attribute), owner, attribute)
    if call is None:
        grown = _sequential_calls(function, attribute, of_a_list=True)
        if len(grown) != 1:
            return []
        return _comments_by_construction(source, function, owner, attribute, grown[0])
    comments: list[tuple[str, list[str]]] = [
        (str(i), []) for i in range(len(call.args))
    ]
    ends = [argument.end_lineno for argument in call.args]
    for line, text in _comments_inside(source, call):
        index = next((i for i, end in enumerate(ends) if line <= end), -1)
        alone = source.comment_alone(line)
        comments[index][1].append(text if alone else TrailingComment(text))
    return [(name, lines) for name, lines in comments if lines]


def _comments_by_construction(
    source: SourceFile,
    function: ast.FunctionDef,
    owner: nn.Module,
    attribute: str,
    call: ast.Call,
) -> list[tuple[str, list[str]]]:
    """``nn.Sequential(*model)`` of a list ``__init__`` grew: each comment with the layer built next.

    CycleGAN's generator says ``# Downsampling`` above a loop that appends
    convolutions, ``# Residual blocks`` above another. A comment alone on
    its line, after the last statement before the list that sets an
    attribute, goes with the first layer of the Sequential that the owner's
    ``__init__`` built on a later line (:func:`~nnconvert.init_arguments.construction_site`),
    when every module built on that line is one of the Sequential's: a
    comment above the code of another attribute is not said here.
    """
    built = getattr(owner, attribute, None)
    init = getattr(
        inspect.getattr_static(type(owner), "__init__", None), "__code__", None
    )
    if not isinstance(built, nn.Sequential) or init is None:
        return []
    members = {id(layer): index for index, layer in enumerate(built)}
    lines: dict[int, list[int | None]] = {}  # line -> the member built there, or None
    for module in owner.modules():
        site = construction_site(module)
        if module is not owner and site is not None and site[0] is init:
            lines.setdefault(site[1], []).append(members.get(id(module)))
    start = max(
        (
            statement.end_lineno
            for statement in function.body
            if statement.lineno < call.lineno
            and (attributes_set(statement) or _calls_super_init(statement))
        ),
        default=function.lineno,
    )
    comments: dict[int, list[str]] = {}
    built_at = sorted(lines)
    for line, text in sorted(source.comments.items()):
        if not start < line < call.lineno or not source.comment_alone(line):
            continue
        next_built = next((at for at in built_at if at > line), None)
        if next_built is None or None in lines[next_built]:
            continue
        comments.setdefault(min(lines[next_built]), []).append(text)
    return [(str(index), texts) for index, texts in sorted(comments.items())]


def _calls_super_init(statement: ast.stmt) -> bool:
    """``super().__init__()`` (or ``super(Cls, self).__init__()``)."""
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "__init__"
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "super"
        for node in ast.walk(statement)
    )


def _comments_inside(source: SourceFile, call: ast.Call) -> list[tuple[int, str]]:
    """The comments between ``call``'s first and last line, by line, in order."""
    return [
        (line, text)
        for line, text in sorted(source.comments.items())
        if call.lineno < line <= call.end_lineno
    ]


def _sequential_calls(
    function: ast.AST, attribute: str, of_a_list: bool = False
) -> list[ast.Call]:
    """The ``nn.Sequential(...)`` calls ``function`` assigns to ``self.<attribute>``, in order.

    ``of_a_list``: those of one list instead, ``nn.Sequential(*model)``.
    """
    return sorted(
        (
            statement.value
            for statement in ast.walk(function)
            if isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Call)
            and attributes_set(statement) == [attribute]
            and (_of_a_list if of_a_list else _is_sequential)(statement.value)
        ),
        key=lambda call: call.lineno,
    )


def _of_a_list(call: ast.Call) -> bool:
    """``nn.Sequential(*layers)``: one starred list, nothing else."""
    return (
        called_name(call.func) == "Sequential"
        and len(call.args) == 1
        and isinstance(call.args[0], ast.Starred)
        and not call.keywords
    )


def _built_by(
    calls: list[ast.Call], owner: nn.Module, attribute: str
) -> ast.Call | None:
    """The one of ``calls`` that can have built ``owner.<attribute>``; None if not one.

    A call builds as many layers as it has arguments; where that leaves
    several, an argument that calls a class by name (``nn.Conv2d(...)``,
    ``h_swish()``) builds one of that class.
    """
    if len(calls) < 2:
        return calls[0] if calls else None
    built = getattr(owner, attribute, None)
    if not isinstance(built, nn.Sequential):
        return None
    layers = list(built)
    fitting = [call for call in calls if len(call.args) == len(layers)]
    if len(fitting) > 1:
        fitting = [
            call
            for call in fitting
            if all(
                called_name(argument.func) in (None, type(layer).__name__)
                for argument, layer in zip(call.args, layers)
                if isinstance(argument, ast.Call)
            )
        ]
    return fitting[0] if len(fitting) == 1 else None


def _is_sequential(call: ast.Call) -> bool:
    """``nn.Sequential(a, b, ...)``: positional layers only, at least one."""
    return (
        called_name(call.func) == "Sequential"
        and bool(call.args)
        and not call.keywords
        and not any(isinstance(a, ast.Starred) for a in call.args)
    )


def without_sequential_comments(
    owner: nn.Module, comments: list[tuple[str, list[str]]]
) -> list[tuple[str, list[str]]]:
    """``owner``'s :func:`init_comments` without those between a Sequential's layers.

    (:func:`sequential_comments`: functional style says them in the
    Sequential's function.) Those of every Sequential ``__init__`` may
    assign the attribute go, not only of the one it did: the others are
    about layers this instance does not have.
    """
    children = dict(owner.named_children())
    found = []
    definition = init_definition(owner)
    for name, lines in comments:
        if type(children.get(name)) is nn.Sequential and definition is not None:
            source, function = definition
            inside = {
                text
                for call in _sequential_calls(function, name)
                for _, text in _comments_inside(source, call)
            }
            # ``nn.Sequential(*model)``: said by where its layers were built
            if not inside:
                inside = {
                    text
                    for _, texts in sequential_comments(owner, name)
                    for text in texts
                }
            lines = [line for line in lines if line not in inside]
        found.append((name, lines))
    return found


def init_definition(module: Any) -> tuple[SourceFile, Any] | None:
    """The parsed file and ``def __init__`` of ``module``'s class, when it is the user's."""
    init = inspect.getattr_static(type(module), "__init__", None)
    return function_definition(init) if inspect.isfunction(init) else None


def submodule_method_calls(cls: type, attribute: str) -> list[tuple[str, int, str]]:
    """Where the methods of ``cls`` call a method of the submodule ``self.<attribute>``.

    gpt-fast's ``Attention.forward`` runs ``self.kv_cache.update(input_pos,
    k, v)``: ``[(file, line, "update")]``, in the order of the file. Only the
    methods ``cls`` defines itself; none without source.
    """
    found = []
    for value in vars(cls).values():
        definition = function_definition(value) if inspect.isfunction(value) else None
        if definition is None:
            continue
        for node in ast.walk(definition[1]):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and self_path(node.func.value) == attribute
            ):
                found.append((value.__code__.co_filename, node.lineno, node.func.attr))
    return sorted(found)


def class_definition(cls: type) -> tuple[SourceFile, Any] | None:
    """The parsed file and ``class`` statement of a user's class, found through its methods.

    ``inspect`` finds a class through ``sys.modules``, which code nnconvert
    generated and ran is not in; its methods' code objects know their file.
    """
    for value in vars(cls).values():
        found = function_definition(value) if inspect.isfunction(value) else None
        if found is None:
            continue
        source, method = found
        for node in ast.walk(source.tree):
            if (
                isinstance(node, ast.ClassDef)
                and node.name == cls.__name__
                and node.lineno < method.lineno <= node.end_lineno
            ):
                return source, node
    return None


def class_methods(cls: type) -> list[Any] | None:
    """The ``def`` statements of ``cls`` and of its bases other than torch's, subclass first.

    None where a class of the user's has no source to read.
    """
    methods = []
    for owner in cls.__mro__:
        if owner.__module__.split(".")[0] == "torch" or owner is object:
            continue
        found = class_definition(owner)
        if found is None:
            return None
        methods += [m for m in found[1].body if isinstance(m, FUNCTIONS)]
    return methods


def self_attributes(function: Any) -> Iterator[ast.Attribute]:
    """Every ``self.<name>`` in ``function``, read or stored."""
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            yield node


def attributes_stored(node: ast.AST) -> Counter[str]:
    """How many times ``node`` stores each ``self.<name>`` (``=``, ``+=``, a loop's target)."""
    return Counter(
        a.attr for a in self_attributes(node) if isinstance(a.ctx, ast.Store)
    )


def attributes_read(cls: type) -> frozenset[str] | None:
    """The ``self.<name>`` the methods of ``cls`` (and of its bases with source) read.

    ``__init__`` aside: what the model does with an attribute after it is
    built. None where a class of the user's has no source to read.
    """
    methods = class_methods(cls)
    if methods is None:
        return None
    return read_attributes(m for m in methods if m.name != "__init__")


def read_attributes(methods: Iterable[Any]) -> frozenset[str]:
    """The ``self.<name>`` that ``methods`` read (or delete): anything but a store."""
    return frozenset(
        node.attr
        for method in methods
        for node in self_attributes(method)
        if not isinstance(node.ctx, ast.Store)
    )


def class_comments(module: nn.Module) -> list[str]:
    """The comments of ``module``'s class body outside its methods, in order.

    kuangliu's MobileNetV2 explains its ``cfg`` table there
    (``# (expansion, out_planes, num_blocks, stride)``). The table itself is
    gone from the output (its layers are built out), so its comments stay
    at the top of the class (module, mixed) or of the function (functional).
    So does one on the ``class`` line (CvT's ``class LayerNorm(nn.Module):
    # layernorm, but done in the channel dimension``).
    """
    found = class_definition(type(module))
    if found is None:
        return []
    source, definition = found
    inside: set[int] = set()
    for node in definition.body:
        if isinstance(node, (*FUNCTIONS, ast.ClassDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            inside.update(range(start, _end_with_comments(source, node) + 1))
    docstring = docstring_node(definition)
    if docstring is not None:
        inside.update(range(docstring.lineno, docstring.end_lineno + 1))
    return [
        text
        for line, text in sorted(source.comments.items())
        if definition.lineno <= line <= definition.end_lineno and line not in inside
    ]


def _docstring_text(found: tuple[SourceFile, Any] | None) -> str | None:
    """The docstring literal of a found definition, as written (dedented)."""
    if found is None:
        return None
    source, definition = found
    docstring = docstring_node(definition)
    if docstring is None:
        return None
    segment = ast.get_source_segment(source.text, docstring, padded=True)
    return textwrap.dedent(segment) if segment else None


@dataclass(frozen=True)
class Docstrings:
    """The docstrings a converted definition carries: its class's, ``forward``'s, ``__init__``'s."""

    of_class: str | None = None
    of_forward: str | None = None
    of_init: str | None = None

    def for_function(self) -> str | None:
        """Functional style: one function stands for the class and its ``forward``."""
        if self.of_class and self.of_forward:
            joined = _joined(self.of_class, self.of_forward)
            return joined or self.of_class
        return self.of_class or self.of_forward


def docstrings(module: nn.Module) -> Docstrings:
    """The docstrings of ``module``'s class and ``forward`` in the user's source.

    A functional-style input (the front end's wrapper) has its function's
    docstring as the class's: its class is that function.
    """
    cls = type(module)
    if is_functional_input(module):
        function = module.function
        init = function.__globals__.get("init_params")
        said = _init_summary_said(inspect.getdoc(init) if init else None, function)
        return Docstrings(
            _docstring_text(function_definition(function)),
            None,
            f'"""{said}"""' if said else None,
        )
    forward = vars(cls).get("forward")
    return Docstrings(
        _docstring_text(class_definition(cls)),
        _docstring_text(function_definition(forward)),
        _docstring_text(function_definition(vars(cls).get("__init__"))),
    )


#: How ``init_params()``'s docstring quotes the summary of the class's ``__init__``
INIT_SUMMARY = "The original `__init__`: {}"
#: ... and of a block class's, under the name of the block's function
BLOCK_INIT_SUMMARY = "The original `__init__` of `{}`: {}"
_INIT_SUMMARY = re.compile(r"The original `__init__`(?: of `(\w+)`)?: (.+)", re.DOTALL)
#: How ``init_params()``'s docstring begins, naming the model's function
SUMMARY_START = re.compile(r"Fresh weights for `([A-Za-z_][A-Za-z0-9_]*)`")


def docstring_summary(literal: str) -> str | None:
    """The first paragraph of a docstring, as one line of plain text.

    ``Initializes the GAT model.`` of a docstring that goes on with ``Args:``
    about parameters the output's ``__init__`` does not take. None for a
    docstring whose text has quotes or backslashes (kept only as written).
    """
    try:
        text = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(text, str) or "\\" in literal or '"' in text or "\\" in text:
        return None
    summary = " ".join(inspect.cleandoc(text).split("\n\n")[0].split())
    return summary or None


def _init_summary_said(doc: str | None, function: Callable) -> str | None:
    """The ``__init__`` summary an ``init_params()`` docstring quotes for ``function``'s class.

    The model's function (the one its first line names) has the paragraph
    without a name; a block's function the one naming it, or the function
    it is a numbered shape of (``residual_block`` for ``residual_block_2``).
    """
    if not doc:
        return None
    said: dict[str | None, str] = {}
    for paragraph in doc.split("\n\n"):
        found = _INIT_SUMMARY.fullmatch(paragraph.strip())
        if found:
            said.setdefault(found.group(1), " ".join(found.group(2).split()))
    model = SUMMARY_START.match(doc)
    name = function.__name__
    if model is not None and model.group(1) == name:
        return said.get(None)
    return said.get(name, said.get(re.sub(r"_\d+$", "", name)))


def function_docstring(function: Any) -> str | None:
    """The docstring of a user's function or method (a helper ``forward`` calls), as written."""
    return _docstring_text(function_definition(function))


def _joined(first: str, second: str) -> str | None:
    """Two plain docstrings as one: paragraphs of the first, then the second's.

    Raw docstrings join too (pytorch/examples' PositionalEncoding has LaTeX
    in both of its own): their backslashes are text, and the joined
    docstring is raw where one is there.
    """
    literals = (first, second)
    try:
        texts = [ast.literal_eval(s) for s in literals]
    except (ValueError, SyntaxError):
        return None
    escaped = any("\\" in s and s[:1] not in "rR" for s in literals)
    if escaped or any('"""' in t for t in texts):
        return None  # escapes and triple quotes are kept only as the user wrote them
    body = "\n\n".join(inspect.cleandoc(t) for t in texts)
    if body.endswith("\\"):
        return None
    prefix = "r" if "\\" in body else ""
    return f'{prefix}"""{body}\n"""' if "\n" in body else f'{prefix}"""{body}"""'


def docstring_lines(literal: str, indent: str) -> list[str]:
    """``literal`` as black writes a docstring at ``indent``, one entry per line."""
    source = f"def _():\n    {_continued(literal, '    ')}\n"
    try:
        formatted = black.format_str(source, mode=black.Mode())
    except black.InvalidInput:
        return []
    lines = formatted.rstrip("\n").split("\n")[1:]
    return [indent + line[4:] if line else line for line in lines]


def _continued(literal: str, indent: str) -> str:
    """The literal's continuation lines indented under ``indent``."""
    first, *rest = literal.split("\n")
    return "\n".join([first, *(indent + line if line else line for line in rest)])
