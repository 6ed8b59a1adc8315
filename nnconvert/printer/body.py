"""One function body as text: the statement plan rendered line by line.

What is a statement, what is inlined, unpacked, or named what is decided
before, on the graph (:mod:`.statements`); this module only writes it, with an
expression printer of the body's own.
"""

from __future__ import annotations

import ast
import operator

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import fx, nn

from ..branches import Guard, is_expect, is_only_when, negated, setting, tested_input
from ..opspecs.helpers import helper_for
from ..passes.canonicalize import INLINED_ATTRIBUTE
from ..passes.methods import is_method_call
from ..options import Style
from ..naming import is_plain_identifier
from ..source_text import (
    CommentFeed,
    branch_attributes,
    comments_before_branch,
    placed_on,
    returns_without_else,
)
from .expressions import ATOM, BINARY, INPLACE, ExpressionPrinter
from .imports import Imports
from .data_loops import DataLoop, find_data_loops, find_member_loops_to_print
from .loops import Loop
from .mapped_values import mapped_values
from .source_loops import member_loop_line
from .unpacked_sizes import unpacking_guards
from ..flags import FLAG_TEST
from ..source_map import NAMES, Frame, statement_line
from ..stored_attributes import is_store
from .grouping import source_statement, written_returned
from .statements import (
    StatementPlan,
    Unpacks,
    is_read,
    starred_in_source,
    variables_read,
)
from .values import literal


@dataclass(frozen=True)
class Body:
    """A printed body: its signature's parameters, its lines and the imports they use."""

    parameters: list[str]
    lines: list[str]
    imports: Imports


def print_body(
    graph: fx.Graph,
    style: Style,
    plan: StatementPlan,
    *,
    callees: dict[str, tuple[str, bool]] | None = None,
    owners: tuple[nn.Module, ...] = (),
    leaves: dict | None = None,
    loops: Sequence[Loop] = (),
    init_comments: Sequence[tuple[str, list[str]]] = (),
    methods: dict[str, str] | None = None,
    flags: dict[str, str] | None = None,
    read_comments: dict[str, list[str]] | None = None,
    holder: nn.Module | None = None,
    loop_counts: dict[str, str] | None = None,
    reserved: frozenset[str] = frozenset(),
) -> Body:
    """``graph`` written as ``plan`` says, by an expression printer of its own.

    ``flags`` (functional style): the keyword that says whether each
    optional block call (``plan.optional``) runs.

    ``callees`` (functional style): each block call's function and whether it
    takes ``training``; ``owners`` (class styles): the module whose body it is,
    so that attribute paths are written as its containers index them;
    ``leaves`` (functional style): each third-party layer call's module-level layer;
    ``loops``: runs of calls printed as one ``for`` (:mod:`.loops`); loops
    over data the trace unrolled are found here (:mod:`.data_loops`);
    ``init_comments`` (functional style, a block's function): its class's
    ``__init__`` comments per attribute, placed before the first statement
    that reads the attribute (:func:`_init_commented`).
    ``methods`` (functional style): each helper method's function name.
    ``read_comments`` (functional style): lines per attribute said before the
    first statement that reads it, and taken out of the dict (a block's
    function and its methods' share one: said once); never elsewhere.
    ``holder``: the module whose containers a loop over members may iterate
    (``for layer in self.layers:``, :func:`.data_loops.find_member_loops_to_print`).
    ``loop_counts`` (functional style): a body cut to its loops' first
    copies, each container's count keyword (:mod:`.rolled_loops`); each
    must print as a loop. ``reserved``: names a loop's variables may not
    take (the function's keywords).
    """
    printer = ExpressionPrinter(
        style,
        names=dict(plan.names),
        callees=dict(callees or {}),
        owners=owners,
        leaves=dict(leaves or {}),
        methods=dict(methods or {}),
        flags=dict(flags or {}),
    )
    hint = style is Style.FUNCTIONAL
    parameters = signature_parameters(graph, printer, hint)
    data_loops = find_data_loops(graph, plan)
    if holder is not None:
        taken = {n for loop in loops for n in loop.calls}
        taken |= {n for loop in data_loops for n in loop.unrolled.nodes()}
        data_loops += find_member_loops_to_print(
            graph,
            plan,
            style,
            holder,
            printer.callees,
            printer.leaves,
            taken,
            loop_counts,
            reserved,
        )
    counted = {loop.count for loop in loops} | {
        loop.count_keyword for loop in data_loops
    }
    if not set((loop_counts or {}).values()) <= counted:
        raise AssertionError("a loop cut to its first copies does not print as a loop")
    for data_loop in data_loops:
        data_loop.rename(printer)
    lines = body_lines(
        graph,
        plan.inlined,
        printer,
        plan.unpacks,
        plan.optional.union(*(loop.optional() for loop in data_loops)),
        plan.guards,
        plan.branch_ends,
        {loop.calls[0]: loop.lines(printer, plan) for loop in loops}
        | {call: [] for loop in loops for call in loop.calls[1:]}
        | {loop.first: loop for loop in data_loops},
        {call for loop in loops for call in loop.calls[1:]}
        | {node for loop in data_loops for node in loop.hidden()}
        | unpacking_guards(graph, printer.names)
        | plan.unpack_checks,
        init_comments,
        read_comments,
        {
            loop.calls[0]: line
            for loop in loops
            if (line := member_loop_line(loop.calls[0], loop.container)) is not None
        },
    )
    return Body(parameters, lines, printer.imports)


# -- lines ------------------------------------------------------------------


def body_lines(
    graph: fx.Graph,
    inlined: frozenset[fx.Node],
    printer: ExpressionPrinter,
    unpacks: Unpacks | None = None,
    optional: frozenset[fx.Node] = frozenset(),
    guarded: dict[fx.Node, Guard] | None = None,
    branch_ends: frozenset[fx.Node] = frozenset(),
    loops: dict[fx.Node, list[str] | DataLoop] | None = None,
    looped: set[fx.Node] = frozenset(),
    init_comments: Sequence[tuple[str, list[str]]] = (),
    read_comments: dict[str, list[str]] | None = None,
    loop_heads: dict[fx.Node, int] | None = None,
) -> list[str]:
    """Every statement of ``graph``, each inside the ``if`` of its guard.

    ``loops``: the lines of a loop at its first call and none at its others
    (a loop over data: printed here, its statements after the user's
    comments on them, as any other, and a loop over blocks among them as
    at the top); the other calls of a loop and the guards an unpacking
    checks itself (``looped``) print nothing of their own. ``init_comments``, ``read_comments``: see :func:`print_body`.
    ``loop_heads``: a loop over blocks' first call -> the line of the user's
    ``for``, whose comments stand above the loop.
    """
    loops = loops or {}
    loop_heads = loop_heads or {}
    heads: dict[int, fx.Node] = {}  # statement index -> its loop's first call
    unpacks = unpacks or {}
    guarded = guarded or {}
    elements = {t for targets in unpacks.values() for t in targets if t is not None}
    statements: list[tuple[Guard, fx.Node | None, list[str]]] = []
    readers: list[fx.Node | None] = []  # the node whose reads each statement makes
    comments = CommentFeed()
    #: a side's last assignment (by statement index) and the inlined call it writes
    inside: dict[int, fx.Node] = {}
    #: statement index -> a join and the line of its ``if``: comments above it
    branch_heads: dict[int, tuple[fx.Node, int]] = {}
    returned = _returned_join(graph, branch_ends, guarded, inlined, unpacks)
    for node in graph.nodes:
        if (
            node in inlined
            or node.op == "placeholder"
            or node in elements
            or is_only_when(node)  # a mark: its effect is printed in the branch
            or node in looped
            or (node.op == "output" and returned is not None)  # each side returns
        ):
            continue
        if node in loops:
            if node in loop_heads:
                heads[len(statements)] = node
            statements.append((guarded.get(node, ()), None, loops[node]))
            readers.append(node)
            continue
        guard = guarded.get(node, ())
        if node in branch_ends:
            condition, if_true, if_false = node.args
            frame = node.meta.get(FLAG_TEST)  # a flag's join: the source's ``if``
            if frame is not None:  # the comments above it stand above the ``if``
                branch_heads[len(statements)] = (node, frame.line)
                statements.append((guard, None, []))
                readers.append(None)
            if node in unpacks:  # ``out, _ = self.encoder_attn(...)`` on one side
                name = _unpack_target(node, unpacks[node], printer)
            else:
                name = printer.names[node]
            for polarity, value in ((True, if_true), (False, if_false)):
                text = printer.argument(value)
                lines = [] if text == name else [f"{name} = {text}"]
                if node is returned:
                    lines = [f"return {_returned(value, printer)}"]
                if value is None and _holds_none(node, polarity, printer):
                    lines = []  # ``mask`` is None where ``mask is not None`` fails
                if lines and isinstance(value, fx.Node) and value in inlined:
                    inside[len(statements)] = value  # its comments go above
                statements.append((guard + ((condition, polarity),), None, lines))
                readers.append(None)
            continue
        statements.append((guard, node, _statement(node, printer, unpacks, optional)))
        readers.append(node)
    order = _printed_order(
        [guard for guard, _, _ in statements], range(len(statements))
    )
    statements = [statements[i] for i in order]
    readers = [readers[i] for i in order]
    inside = {order.index(i): value for i, value in inside.items()}
    heads = {order.index(i): call for i, call in heads.items()}
    branch_heads = {order.index(i): head for i, head in branch_heads.items()}
    comments.prepare(
        [
            node
            for i, (_, node, lines) in enumerate(statements)
            for node in (
                lines.statements
                if isinstance(lines, DataLoop)
                else [inside.get(i, node)]
            )
            if lines and node
        ],
        graph.nodes,
    )

    def commented(node: fx.Node) -> list[str]:  # a statement of a loop over data
        lines = loops.get(node)  # a loop over blocks inside it: all at its first call
        if not isinstance(lines, list):
            lines = _statement(node, printer, unpacks, optional)
        elif not lines:
            return []
        return _commented(lines, node, comments)

    def grouped(
        statements: list[list[str]], nodes: list[fx.Node | None]
    ) -> list[list[str]]:  # a loop's body, its statements joined as in the source
        entries = [((), lines) for lines in statements]
        return [
            lines for _, lines in _tuple_assignments(entries, nodes, inlined, printer)
        ]

    written = [
        (
            comments.above(*branch_heads[i])
            if i in branch_heads
            else (
                lines.lines(printer, commented, comments.above, grouped)
                if isinstance(lines, DataLoop)
                else (
                    _commented(lines, node, comments)
                    if node
                    else (
                        comments.above(heads[i], loop_heads[heads[i]]) + lines
                        if i in heads and lines
                        else lines
                    )
                )
            )
        )
        for i, (_, node, lines) in enumerate(statements)
        for node in [inside.get(i, node)]
    ]
    above = _init_commented(
        readers,
        [guard for guard, _, _ in statements],
        written,
        inlined,
        init_comments,
        read_comments if read_comments is not None else {},
    )
    entries = [
        (guard, _with_init_comments(*above(i), lines, _branch_frame(node, inlined)))
        for i, ((guard, node, _), lines) in enumerate(zip(statements, written))
    ]
    nodes = [node for _, node, _ in statements]
    entries = _tuple_assignments(entries, nodes, inlined, printer)
    lines = _nested(_shared_raises(entries), printer, 0)
    frame = returned is not None and returned.meta.get(FLAG_TEST)
    return _else_dropped(lines) if frame and returns_without_else(frame) else lines


def _else_dropped(lines: list[str]) -> list[str]:
    """``lines`` ending in ``if ...: return a`` / ``else: return b`` without the ``else``.

    As the source wrote it (:func:`nnconvert.source_text.returns_without_else`):
    the ``else`` side follows the ``if`` that returned. Unchanged unless the
    last ``else`` stands at the top, everything after it is its body and the
    ``if`` side's last statement is a ``return``.
    """
    at = next((i for i in reversed(range(len(lines))) if lines[i] == "else:"), None)
    if at is None or not lines[at - 1].startswith("    "):
        return lines
    # the ``if`` side's last statement: its last line indented once
    last = next(line for line in reversed(lines[:at]) if not line.startswith("     "))
    if not last.startswith("    return "):
        return lines
    if not all(line.startswith("    ") for line in lines[at + 1 :]):
        return lines
    return lines[:at] + [line[4:] for line in lines[at + 1 :]]


def _tuple_assignments(
    entries: list[tuple[Guard, list[str]]],
    nodes: list[fx.Node | None],
    inlined: frozenset[fx.Node],
    printer: ExpressionPrinter,
) -> list[tuple[Guard, list[str]]]:
    """Consecutive assignments one source statement made, as it wrote them.

    ``q, k, v = qkv[0], qkv[1], qkv[2]`` makes three nodes, each bound to a
    name of its own: printed one statement again (in every style, so that
    an output read back groups them the same), when none of them reads a
    value another of them assigns (Python evaluates every right-hand side
    before it assigns any name).
    """
    merged: list[tuple[Guard, list[str]]] = []
    group: list[tuple[fx.Node, str]] = []  # the group being built: node, value text
    comments: list[str] = []
    start = 0
    for index, ((guard, lines), node) in enumerate(zip(entries, nodes)):
        value = _assigned_value(node, lines[-1] if lines else "", printer)
        if (
            group
            and value is not None
            and guard == entries[start][0]
            and source_statement(node) == source_statement(group[0][0])
            and not set(variables_read(node, inlined)) & {n for n, _ in group}
        ):
            group.append((node, value))
            comments += lines[:-1]
            continue
        merged += _assignment(entries[start:index], group, comments, printer)
        group, comments, start = [], [], index
        if value is not None and source_statement(node) is not None:
            group, comments = [(node, value)], lines[:-1]
    merged += _assignment(entries[start:], group, comments, printer)
    return merged


def _shared_raises(
    entries: list[tuple[Guard, list[str]]],
) -> list[tuple[Guard, list[str]]]:
    """Consecutive guards raising one message, as one ``if a or b:``.

    DCGAN's ``if (input.is_cuda or input.is_xpu) and self.ngpu > 1:``
    traces as two guards on the input's device with one message: written
    as two four-line ``if`` statements, they read as if the second said
    something the first did not.
    """
    merged: list[tuple[Guard, list[str]]] = []
    for guard, lines in entries:
        raised = _raised(lines)
        if merged and raised is not None and merged[-1][0] == guard:
            earlier = _raised(merged[-1][1])
            if earlier is not None and earlier[1] == raised[1]:
                condition = f"{earlier[0]} or {raised[0]}"
                merged[-1] = (guard, [f"if {condition}:", lines[1]])
                continue
        merged.append((guard, lines))
    return merged


def _raised(lines: list[str]) -> tuple[str, str] | None:
    """The condition and the raise of a lone ``if condition: raise ...``, operand of ``or``."""
    if len(lines) != 2 or not lines[0].startswith("if ") or not lines[0].endswith(":"):
        return None
    if not lines[1].startswith("    raise "):
        return None
    condition = lines[0][3:-1]
    try:
        expression = ast.parse(condition, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(expression, (ast.IfExp, ast.Lambda, ast.NamedExpr)):
        condition = f"({condition})"
    return condition, lines[1]


def _assigned_value(
    node: fx.Node | None, line: str, printer: ExpressionPrinter
) -> str | None:
    """The value text of ``name = value``, a plain assignment to a name the user bound."""
    if node is None or not any(node.meta.get(NAMES, ())) or node not in printer.names:
        return None
    prefix = f"{printer.names[node]} = "
    if not line.startswith(prefix):
        return None
    value = line[len(prefix) :]
    try:
        expression = ast.parse(value, mode="eval").body
    except SyntaxError:
        return None
    return None if isinstance(expression, (ast.Tuple, ast.Starred)) else value


#: a tuple assignment longer than this is written with its values in
#: parentheses: black's line length less the indent of a statement in a loop
#: in a method
JOINED_WIDTH = 72


def _assignment(
    entries: list[tuple[Guard, list[str]]],
    group: list[tuple[fx.Node, str]],
    comments: list[str],
    printer: ExpressionPrinter,
) -> list[tuple[Guard, list[str]]]:
    """``entries`` as they are, or the ``group`` they hold as one tuple assignment.

    A long one has its values in parentheses, which black breaks one value a
    line; without them it may break the first call's arguments and go on
    after ``), next_call(`` (the VAE's ``mu, logvar = self.fc21(h1),
    self.fc22(h1)`` in functional style, each call over its weights).
    """
    if len(group) < 2:
        return entries
    targets = ", ".join(printer.names[node] for node, _ in group)
    values = mapped_values([n for n, _ in group], [v for _, v in group])
    if values is None:
        values = ", ".join(value for _, value in group)
        if len(f"{targets} = {values}") > JOINED_WIDTH:
            values = f"({values})"
    return [(entries[0][0], comments + [f"{targets} = {values}"])]


def _init_commented(
    readers: list[fx.Node | None],
    guards: list[Guard],
    statements: list[list[str]],
    inlined: frozenset[fx.Node],
    init_comments: Sequence[tuple[str, list[str]]],
    read_comments: dict[str, list[str]],
) -> Callable[[int], list[str]]:
    """The ``__init__`` comments to print above each statement (by its index).

    A block's function in functional style has no ``__init__``: what the
    user wrote about ``self.b1`` there ("1x1 conv branch") is said where the
    function first reads ``b1``'s weights or calls it. A comment above an
    attribute no statement reads goes with the next one that is read, as in
    a class's ``__init__`` (:func:`~nnconvert.source_text.placed_on`); those
    after the last one read are about code the output does not have, and
    are not said.
    ``read_comments`` follow, above the first statement reading their
    attribute only (taken out of the dict as they are placed).
    """
    reads = [
        (
            _tested_settings(guard)
            + (_attributes_read(node, inlined) if node is not None else [])
            if lines
            else []
        )
        for node, guard, lines in zip(readers, guards, statements)
    ]
    tested = [
        [n for n in _branch_attributes(node, inlined) if n not in names]
        for node, names in zip(readers, reads)
    ]
    order = list(
        dict.fromkeys(n for both in zip(reads, tested) for names in both for n in names)
    )
    placed, _ = placed_on(list(init_comments), order)
    said_at = {name: i for i, (name, _) in reversed(list(enumerate(init_comments)))}
    above: dict[int, list[str]] = {}
    branched: dict[int, list[str]] = {}
    for index, (names, flags) in enumerate(zip(reads, tested)):
        # in the order ``__init__`` said them
        for name in sorted(names, key=lambda n: said_at.get(n, len(said_at))):
            above.setdefault(index, []).extend(placed.pop(name, []))
            above[index].extend(read_comments.pop(name, []))
        for name in sorted(flags, key=lambda n: said_at.get(n, len(said_at))):
            branched.setdefault(index, []).extend(placed.pop(name, []))
    # ``rest`` is about nothing the function reads or branched on: code the
    # output does not have, not said
    return lambda index: (above.get(index, []), branched.get(index, []))


def _with_init_comments(
    above: list[str], branched: list[str], lines: list[str], frame: Frame | None
) -> list[str]:
    """A statement's lines under the ``__init__`` comments said on it.

    Those on a flag the user's ``if`` tests (``# flash attention make GPU go
    brrrrr``) stand where that ``if`` stood: after the statement's own
    comments from above it, before those from inside it.
    """
    lines = _unsaid(above, lines) + lines
    branched = _unsaid(branched, lines)
    if not branched:
        return lines
    before = set(comments_before_branch(frame)) if frame is not None else set()
    at = 0
    while at < len(lines) and lines[at].strip() in before:
        at += 1
    return lines[:at] + branched + lines[at:]


def _branch_attributes(node: fx.Node | None, inlined: frozenset[fx.Node]) -> list[str]:
    """The flags (``self.flash``) the user's ``if`` statements around the lines of
    ``node`` and what it inlines test."""
    frame = _branch_frame(node, inlined)
    return [] if frame is None else list(branch_attributes(frame))


def _branch_frame(node: fx.Node | None, inlined: frozenset[fx.Node]) -> Frame | None:
    """The first line among ``node``'s and what it inlines that a flag test holds."""
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        frame = statement_line(current)
        if frame is not None and branch_attributes(frame):
            return frame
        stack += [n for n in current.all_input_nodes if n in inlined]
    return None


def _returned_join(
    graph: fx.Graph,
    branch_ends: frozenset[fx.Node],
    guarded: dict[fx.Node, Guard],
    inlined: frozenset[fx.Node],
    unpacks: Unpacks,
) -> fx.Node | None:
    """The join of an ``if``/``else`` that the function returns as it is.

    Rainbow's ``NoisyLinear``: ``if self.training: return F.linear(...)``,
    ``else: return F.linear(input, self.weight_mu, self.bias_mu)``; Perceiver's
    ``if return_embeddings: return x``. Printed with a ``return`` in each
    branch, not ``input = ...`` in both and ``return input`` after them.
    Only a join outside any other ``if``, read by the ``return`` alone and
    made last, whose sides (or their items: ``return x, attentions``) the
    source returned where it made them (:func:`.grouping.written_returned`)
    or made before the ``if``; a value a branch bound to a name (MobileNetV2's
    ``out = out + self.shortcut(x) if self.stride == 1 else out``, then
    ``return out``) keeps the assignment.
    """
    output = next(n for n in reversed(graph.nodes) if n.op == "output")
    join = output.args[0]
    if (
        not isinstance(join, fx.Node)
        or join not in branch_ends
        or join in unpacks
        or guarded.get(join)
        or list(join.users) != [output]
    ):
        return None
    later = list(graph.nodes)[list(graph.nodes).index(join) + 1 :]
    if any(n not in inlined and not is_only_when(n) for n in later[:-1]):
        return None
    elements = {t for targets in unpacks.values() for t in targets if t is not None}
    values: list[fx.Node] = []  # the sides' values; a tuple's items
    for side in join.args[1:]:
        fx.node.map_arg(side, values.append)
    for value in values:
        made_before = not guarded.get(value) or value in elements
        # printed inside the ``return``: a statement of its own would read back
        # bound to a name (``x = self.layer(x * 2)``), returned after the ``if``
        returned_as_made = value in inlined and written_returned(value)
        if not (made_before or returned_as_made):
            return None  # the source bound it (``out = out + x``), then returned it
    return join


def _holds_none(join: fx.Node, polarity: bool, printer: ExpressionPrinter) -> bool:
    """On the ``polarity`` side of ``join``, its variable already holds None.

    ``if mask is not None: mask = mask.unsqueeze(1)`` needs no ``else: mask
    = None``: where the test fails, ``mask`` is the input, None. Only where
    the join and the input are the only values of that name (nothing
    assigned it in between).
    """
    tested = tested_input(join.args[0])
    name = printer.names.get(join)
    return (
        not polarity
        and tested is not None
        and printer.names.get(tested) == name
        and {n for n, v in printer.names.items() if v == name} <= {tested, join}
    )


def _unsaid(comments: list[str], lines: list[str]) -> list[str]:
    """The ``__init__`` comments a statement's own comments do not already say.

    nanoGPT says "# output projection" above ``self.c_proj`` and again above
    its call in ``forward``: said once above the call.
    """
    own = {line for line in lines if line.lstrip().startswith("#")}
    return [comment for comment in comments if comment not in own]


def _tested_settings(guard: Guard) -> list[str]:
    """The attributes a statement's ``if``s test as keywords (``if has_skip:``).

    What ``__init__`` says about ``self.has_skip`` is said above the first
    statement the test guards (:mod:`.tested_paths`).
    """
    return [
        name
        for condition, _ in guard
        for node in (condition, *condition.all_input_nodes)
        if node.op == "call_function" and node.target is setting
        for name in node.kwargs
    ]


def _attributes_read(node: fx.Node, inlined: frozenset[fx.Node]) -> list[str]:
    """The attributes (first path part) a statement reads: its node and what it inlines.

    A layer call made a function call (``self.drop(x)`` -> ``F.dropout``)
    still reads its layer: fx noted the module it came from. A call of a
    helper method reads what its body reads (GAT's ``self.a`` and
    ``self.leakyrelu`` in ``_get_attention_scores``).
    """
    found: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if is_method_call(current):
            stack += current.target.module.graph.nodes
        if current.op in ("get_attr", "call_module"):
            found += _layer_paths(str(current.target))
        if INLINED_ATTRIBUTE in current.meta:  # a tensor attribute, rebuilt here
            found.append(current.meta[INLINED_ATTRIBUTE].split(".")[0])
        layers = current.meta.get("nn_module_stack")
        if layers:
            found += _layer_paths(str(next(iter(layers))))
        stack += [n for n in current.all_input_nodes if n in inlined]
    return found


def _layer_paths(target: str) -> list[str]:
    """The attribute a target reads, and the container's member it reads: ``conv``, ``conv.0``.

    What the user wrote between a Sequential's layers is said above the
    first statement reading the member it stands before, where a function
    prints the Sequential's layers as its own (:mod:`.functions`).
    """
    parts = target.split(".")
    if len(parts) > 1 and parts[1].isdigit():
        return [parts[0], f"{parts[0]}.{parts[1]}"]
    return [parts[0]]


def _commented(lines: list[str], node: fx.Node, comments: CommentFeed) -> list[str]:
    """The user's comments on ``node``'s line before its statement (the rest before ``return``).

    Never on a statement that prints nothing: a comment alone cannot be a block.
    """
    if not lines:
        return lines
    above = comments.before(node)
    if node.op == "output":
        above += comments.rest()
    return above + lines


def _returned(value: Any, printer: ExpressionPrinter) -> str:
    """What ``return`` writes: ``logits, loss`` for a tuple of two or more, as people write it."""
    if isinstance(value, tuple) and len(value) > 1:
        return ", ".join(printer.argument(item) for item in value)
    return printer.argument(value)


def _statement(
    node: fx.Node,
    printer: ExpressionPrinter,
    unpacks: Unpacks,
    optional: frozenset[fx.Node],
) -> list[str]:
    """The lines of one statement node."""
    if node in unpacks:
        return [
            f"{_unpack_target(node, unpacks[node], printer)} = {printer.definition(node)}"
        ]
    if node.op == "output":
        return [f"return {_returned(node.args[0], printer)}"]
    if is_expect(node):  # a shape guard
        condition, message = node.args
        return [
            f"if {condition_text(condition, False, printer)}:",
            f"    raise ValueError({printer.argument(message)})",
        ]
    if node.op == "call_function" and _is_statement_helper(node):
        arguments = [printer.argument(a) for a in node.args]
        return helper_for(node.target).print(arguments)  # if training: ...
    if node in optional:
        flag = printer.flags.get(str(node.target))  # functional: a keyword
        condition = flag or f"{printer.attribute_path(str(node.target))} is not None"
        assignment = f"{printer.names[node]} = {printer.definition(node)}"
        return [f"if {condition}:", f"    {assignment}"]
    if is_store(node):  # ``self.last_loss = loss``
        name, value = node.args
        functional = printer.style is Style.FUNCTIONAL
        target = f"params[{literal(name)}]" if functional else f"self.{name}"
        return [f"{target} = {printer.argument(value)}"]
    if _is_attribute_assignment(node):
        target, name, value = node.args
        return [f"{printer.operand(target, ATOM)}.{name} = {printer.argument(value)}"]
    if node.op == "call_function" and node.target in INPLACE:
        target, value = node.args
        lines = [
            f"{printer.argument(target)} {INPLACE[node.target]} {printer.argument(value)}"
        ]
        if is_read(node) and printer.names[node] != printer.argument(target):
            lines.append(f"{printer.names[node]} = {printer.argument(target)}")
        return lines
    if node.op == "call_function" and node.target is operator.setitem:
        container, index, value = node.args  # returns None: nothing reads it
        return [f"{printer.subscript(container, index)} = {printer.argument(value)}"]
    expression = printer.definition(node)
    return [f"{printer.names[node]} = {expression}"] if is_read(node) else [expression]


def _nested(
    entries: list[tuple[Guard, list[str]]], printer: ExpressionPrinter, depth: int
) -> list[str]:
    """Lines under their guards: consecutive statements under one condition share its ``if``.

    ``entries`` share their first ``depth`` conditions; the statements of
    each answer keep their order, the true side printed first.
    """
    lines: list[str] = []
    guards = [guard for guard, _ in entries]
    for condition, sides in _branch_runs(guards, range(len(entries)), depth):
        if condition is None:
            lines += entries[sides[0][0]][1]
            continue
        true_side, false_side = (
            _nested([entries[i] for i in side], printer, depth + 1) for side in sides
        )
        if true_side:
            lines.append(f"if {condition_text(condition, True, printer)}:")
            lines += _indented(true_side)
            if false_side:
                lines.append("else:")
                lines += _indented(false_side)
        elif false_side:
            lines.append(f"if {condition_text(condition, False, printer)}:")
            lines += _indented(false_side)
    return lines


def _printed_order(
    guards: list[Guard], indices: Sequence[int], depth: int = 0
) -> list[int]:
    """The statements' indices in the order :func:`_nested` prints them: the true side first.

    A merge may place a false side's statement before a true side's
    (``self.last_loss = None`` before ``self.last_loss = loss``); the
    user's comments are handed out in this order, the order they read.
    """
    order: list[int] = []
    for condition, sides in _branch_runs(guards, indices, depth):
        if condition is None:
            order += sides[0]
        else:
            for side in sides:
                order += _printed_order(guards, side, depth + 1)
    return order


def _branch_runs(
    guards: list[Guard], indices: Sequence[int], depth: int
) -> Iterator[tuple[fx.Node | None, tuple[list[int], ...]]]:
    """Consecutive statements under one condition at ``depth``: the condition and each side's.

    A statement under no further condition is a run of its own: ``(None,
    ([index],))``; a run under a condition gives its true and false sides.
    """
    position = 0
    while position < len(indices):
        guard = guards[indices[position]]
        if len(guard) <= depth:
            yield None, ([indices[position]],)
            position += 1
            continue
        condition = guard[depth][0]
        end = position
        while (
            end < len(indices)
            and len(guards[indices[end]]) > depth
            and guards[indices[end]][depth][0] is condition
        ):
            end += 1
        run = indices[position:end]
        yield condition, tuple(
            [i for i in run if guards[i][depth][1] is answer]
            for answer in (True, False)
        )
        position = end


def condition_text(condition: fx.Node, answer: bool, printer: ExpressionPrinter) -> str:
    """``self.training``, ``mask is None``: the condition, or its opposite."""
    if answer:
        return printer.argument(condition)
    if condition.op == "call_function" and condition.target is operator.not_:
        return printer.argument(condition.args[0])  # not (not x): x
    opposite = negated(condition)
    if opposite is not None:
        comparison, (left, right) = opposite
        symbol, precedence = BINARY[comparison]
        return (
            f"{printer.operand(left, precedence)} {symbol} "
            f"{printer.operand(right, precedence, right=True)}"
        )
    return f"not {printer.operand(condition, 5)}"


def _indented(lines: list[str]) -> list[str]:
    return ["    " + line if line else line for line in lines]


def _is_attribute_assignment(node: fx.Node) -> bool:
    """``setattr(o, "name", v)`` recorded by the tracer: written ``o.name = v``."""
    return (
        node.op == "call_function"
        and node.target is setattr
        and len(node.args) == 3
        and is_plain_identifier(str(node.args[1]))
    )


def _is_statement_helper(node: fx.Node) -> bool:
    """A helper row printed as statements of its own (``count_batch``'s ``if``)."""
    helper = helper_for(node.target)
    return helper is not None and helper.is_statement


def _unpack_target(
    node: fx.Node, targets: list[fx.Node | None], printer: ExpressionPrinter
) -> str:
    """``a, _, c``; ``a, *_`` when the rest of a ``chunk``/``split`` is unread.

    A tuple whose length the input decides (``x.chunk(4)`` may give three)
    takes ``*_``, which accepts any length, as the user's ``parts[0],
    parts[1]`` did. A block's tuple has the length its ``forward`` returns:
    each element gets its ``_``, which fx unpacks by count where ``*_``
    would make the next trace ask the length and guard it. A tuple of one
    is unpacked as the source did (:func:`.statements.unpacked`).
    """
    names = [printer.names[t] if t is not None else "_" for t in targets]
    if len(names) == 1:  # the source unpacked it: ``enc_output, *_ = ...``
        return f"{names[0]}, *_" if starred_in_source(node) else f"{names[0]},"
    if node.op == "call_module":
        return ", ".join(names)
    while len(names) > 1 and names[-1] == "_" and names[-2] == "_":
        names.pop()
    if names[-1] == "_" and len(names) < len(targets):
        names[-1] = "*_"
    return ", ".join(names)


def signature_parameters(
    graph: fx.Graph, printer: ExpressionPrinter, hint: bool
) -> list[str]:
    parameters = []
    for node in graph.nodes:
        if node.op != "placeholder":
            continue
        text = printer.names[node]
        value = node.meta.get("value")
        if hint and isinstance(value, torch.Tensor):
            optional = node.args == (None,) or _tested_for_none(node)
            text += ": Tensor | None" if optional else ": Tensor"
            printer.use("Tensor")
        elif hint and type(value) is bool and node.args and type(node.args[0]) is bool:
            text += ": bool"  # a flag (``return_embeddings: bool = False``)
        if node.args:
            text += (
                f"={literal(node.args[0])}"
                if not hint
                else f" = {literal(node.args[0])}"
            )
        parameters.append(text)
    return parameters


def _tested_for_none(node: fx.Node) -> bool:
    """The body asks whether the input is None (a helper's ``pos``, given or not)."""
    return any(
        user.target in (operator.is_, operator.is_not) and user.args[1:] == (None,)
        for user in node.users
    )
