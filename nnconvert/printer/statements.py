"""The statement plan of one function body, decided on its graph before any text.

Three decisions, each a small function:

1. :func:`inlined_nodes` decides which nodes become statements and which are
   inlined into their single user (parameters always; shape arithmetic
   always; in every style, what the source wrote inside its user's
   statement, as in ``x = F.max_pool2d(F.relu(self.conv1(x)), 2)``
   (:mod:`.grouping`); in mixed style, for code without source,
   parameter-free calls wrapped around a layer call);
2. :func:`unpacked` picks the tuples unpacked where they are made:
   ``q, k, v = x.chunk(3, dim=-1)``, ``out, _ = self.attn(x, x, x)``;
3. :func:`name_statements` gives each statement a variable, reusing the name
   of an input that dies there, so that a chain reads ``x = ...; x = ...``.

:func:`plan_statements` makes all three into a :class:`StatementPlan`, the
data :mod:`.body` renders. Calls in ``optional`` (submodules only some
instances of a class have) are always statements of their own, printed as
``if self.<layer> is not None: x = self.<layer>(x)``.

A graph merged from several traces (:mod:`nnconvert.branches`) also has a
guard per node, the conditions it runs under, and its ``choose`` nodes are
either expressions (``0.1 if self.training else 0.0``) or, where a side
computes something of its own, the assignments that close each side of an
``if``/``else`` (:attr:`StatementPlan.branch_ends`).
"""

from __future__ import annotations

import heapq
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx

from ..block_purity import moves_freely
from ..branches import (
    Guard,
    guards,
    is_choose,
    is_condition,
    is_expect,
    is_only_when,
    tested_input,
)
from ..options import Style
from ..opspecs.helpers import helper_for
from ..opspecs.impurity import (
    CONTAINER_MUTATORS,
    IMPURE_FUNCTIONS,
    is_inplace_name,
    is_output_record,
)
from ..passes.graph_utils import is_impure, sliced_from_end, uses
from ..passes.methods import is_method_call
from ..passes.unrolled import find_unrolled
from ..source_map import statement_line, user_name
from ..source_text import spreads_a_call, unpacked_names, unpacks_into
from .grouping import source_statement, written_inside, written_returned
from .literal_holes import copy_graph
from .second_names import same_value, with_second_names
from .names import RESERVED, Namespace, cleaned

#: Parameter-free calls wrapped around one layer call in mixed style, at most.
MIXED_NESTING = 3


@dataclass(frozen=True)
class StatementPlan:
    """How one graph reads as statements: what is inlined, unpacked, and named what."""

    inlined: frozenset[fx.Node]
    unpacks: "Unpacks"
    names: dict[fx.Node, str]
    optional: frozenset[fx.Node] = frozenset()
    #: the conditions each node runs under (a graph without branches: none)
    guards: dict[fx.Node, Guard] = field(default_factory=dict)
    #: ``choose`` nodes written as the last assignment of each side of an ``if``
    branch_ends: frozenset[fx.Node] = frozenset()
    #: guards on a tuple's length that its unpacking checks itself, with the
    #: ``len`` and comparison they read: unprinted
    unpack_checks: frozenset[fx.Node] = frozenset()

    def unpacked_elements(self) -> set[fx.Node]:
        """The ``t[i]`` nodes named where their tuple is unpacked."""
        return {t for ts in self.unpacks.values() for t in ts if t is not None}


def plan_statements(
    graph: fx.Graph,
    style: Style,
    reserved: frozenset[str] = frozenset(),
    optional: frozenset[fx.Node] = frozenset(),
) -> StatementPlan:
    """The statement plan of ``graph``; ``reserved`` names are taken by the file itself.

    The values the source names twice get their second name first
    (:mod:`.second_names`), and what runs under one guard is grouped
    (:func:`grouped_by_guard`): both reorder the graph before anything is
    named.
    """
    with_second_names(graph)
    guarded = guards(graph)
    grouped_by_guard(graph, guarded)
    ends = branch_ends(graph, guarded)
    chains = None
    if style is Style.MIXED:  # the names every value has when each is a statement
        chains = plan_statements(graph, Style.MODULE, reserved, optional).names
    inlined = inlined_nodes(graph, style, optional, guarded, ends, chains)
    unpacks, length_guards = unpacked(graph, inlined, optional)
    for targets in unpacks.values():
        inlined.difference_update(targets)
    names = name_statements(graph, inlined, reserved, unpacks, optional, guarded)
    _name_sides_as_their_end(graph, names, inlined, guarded, ends, unpacks)
    unpack_checks = frozenset(
        checking
        for guard in length_guards
        for checking in (guard, *guard.all_input_nodes, guard.args[0].args[0])
    )
    return StatementPlan(
        frozenset(inlined),
        unpacks,
        names,
        frozenset(optional),
        guarded,
        ends,
        unpack_checks,
    )


def grouped_by_guard(graph: fx.Graph, guarded: dict[fx.Node, Guard]) -> None:
    """Reorder ``graph`` so that what runs under one guard runs together, where nothing moves
    across a side effect.

    The merge keeps the order the traces ran things in, so two chains of one
    computation under different conditions interleave node by node (T5's
    relative position bias, computed for cross- and for self-attention), and
    every node would open an ``if`` of its own. Between two nodes that stay
    in place -- those that act (draws, running statistics, in-place ops,
    refusals, the user's blocks: their order is the program's) and those
    under no guard (the user's unconditional code, where the source has
    it) -- the guarded nodes that only compute are emitted in order,
    but after each the next node ready under the same guard comes first.
    Run on its own output, it keeps the order.
    """
    nodes = list(graph.nodes)
    order: list[fx.Node] = []
    segment: list[fx.Node] = []
    for node in nodes:
        if not guarded.get(node) or not moves_freely(node):
            order += _clustered(segment, guarded)
            order.append(node)
            segment = []
        else:
            segment.append(node)
    order += _clustered(segment, guarded)
    if order == nodes:
        return
    for previous, node in zip(order, order[1:]):
        previous.append(node)


def _clustered(segment: list[fx.Node], guarded: dict[fx.Node, Guard]) -> list[fx.Node]:
    """``segment`` (guarded nodes that only compute, in order) with each guard's ready
    nodes together: the earliest ready node under the last one's guard, else the
    earliest ready node (heaps of positions, so a long segment costs n log n).
    """
    position = {node: i for i, node in enumerate(segment)}
    waiting = {
        node: sum(1 for a in set(node.all_input_nodes) if a in position)
        for node in segment
    }
    everywhere: list[int] = []
    by_guard: dict[Guard, list[int]] = {}
    done: set[int] = set()

    def push(node: fx.Node) -> None:
        heapq.heappush(everywhere, position[node])
        heapq.heappush(by_guard.setdefault(guarded.get(node, ()), []), position[node])

    def pop(heap: list[int]) -> int | None:
        while heap and heap[0] in done:
            heapq.heappop(heap)
        return heapq.heappop(heap) if heap else None

    for node in segment:
        if not waiting[node]:
            push(node)
    order: list[fx.Node] = []
    last: Guard = ()
    while len(order) < len(segment):
        index = pop(by_guard.get(last, []))
        if index is None:
            index = pop(everywhere)
        assert index is not None, "a segment's nodes read only what precedes them"
        done.add(index)
        node = segment[index]
        order.append(node)
        last = guarded.get(node, ())
        for user in node.users:
            if user in position:
                waiting[user] -= 1
                if not waiting[user]:
                    push(user)
    return order


def branch_ends(graph: fx.Graph, guarded: dict[fx.Node, Guard]) -> frozenset[fx.Node]:
    """The ``choose`` nodes a side of which computes something of its own.

    Such a node closes each side of an ``if``/``else`` with an assignment;
    any other ``choose`` is a conditional expression.
    """
    ends = set()
    for node in graph.nodes:
        if not is_choose(node):
            continue
        own = [  # what a side computes for this choice alone
            n
            for n in node.all_input_nodes
            if n is not node.args[0]
            and len(guarded.get(n, ())) > len(guarded.get(node, ()))
        ]
        if own and not all(_scalar_test(n, node) for n in own):
            ends.add(node)
    return frozenset(ends)


def _scalar_test(node: fx.Node, choice: fx.Node) -> bool:
    """A side's number or flag computed for ``choice`` alone, written inside it.

    Whisper's ``is_causal=mask is not None and n_ctx > 1``, traced with and
    without ``mask``, is ``choose(mask is not None, n_ctx > 1, False)``: a
    conditional expression (``n_ctx > 1 if mask is not None else False``)
    evaluates its side only under its condition, as the ``if`` would, and
    reads as the source's one argument rather than an ``if``/``else`` that
    assigns a flag.
    """
    return (
        node.op == "call_function"
        and node.target in _SCALAR_TESTS
        and list(node.users) == [choice]
        and uses(node) == 1
        and isinstance(node.meta.get("value"), (bool, int, float))
        and not any(
            isinstance(n.meta.get("value"), torch.Tensor) for n in node.all_input_nodes
        )
    )


#: Comparisons of numbers (shapes, flags) that a conditional expression may hold.
_SCALAR_TESTS = frozenset(
    {operator.gt, operator.ge, operator.lt, operator.le, operator.eq, operator.ne}
)


# -- 1, 2. what is a statement, what is unpacked -------------------------------


def passes_value_through(
    graph: fx.Graph, calls: frozenset[fx.Node], style: Style
) -> bool:
    """Each call's result takes its input's variable: the input is dead after it.

    Then skipping the call (``if self.<a> is not None:`` false, or a
    function's ``has_<a>`` keyword) leaves the input's value in that
    variable, which is what the graph without the calls reads.

    Planned on a copy: planning gives values their second names
    (:mod:`.second_names`), adding nodes, and the caller still holds
    literal slots by the positions of ``graph``'s nodes (ConvNeXt's
    ``shortcut = x`` before a block whose ``drop_path`` only some
    instances call).
    """
    copied = copy_graph(graph)
    copies = dict(zip(graph.nodes, copied.nodes))  # the same positions
    optional = frozenset(copies[c] for c in calls)
    names = plan_statements(copied, style, optional=optional).names
    return all(
        copies[call] in names and names.get(copies[call].args[0]) == names[copies[call]]
        for call in calls
    )


def inlined_nodes(
    graph: fx.Graph,
    style: Style,
    optional: frozenset[fx.Node] = frozenset(),
    guarded: dict[fx.Node, Guard] | None = None,
    ends: frozenset[fx.Node] = frozenset(),
    chains: dict[fx.Node, str] | None = None,
) -> set[fx.Node]:
    """The nodes printed inside their user's expression instead of on a line of their own.

    Always inlined (when used once): parameters, shape arithmetic and other
    non-tensor values, constants; in every style, a value the source wrote
    inside its user's statement (:func:`_grouped`). In mixed style, where
    the source says nothing (no source map), also a layer call and the
    parameter-free calls wrapped around it, up to :data:`MIXED_NESTING` calls:
    ``x = F.max_pool2d(F.relu(self.conv1(x)), 2)``; chains of parameter-free
    calls alone stay one per line.

    Inlining never changes the order in which things are computed: a node is
    inlined only if everything between it and its user is inlined into that
    user too. So nothing moves across an in-place op, and converting the
    output again sees the same graph (converting an output to its own style
    reproduces it). The other side of a branch is not "between": it never
    runs together with the node. A branch's condition is printed in its
    ``if`` (never a statement); a side's last value into the assignment that
    ends the side (``x = x.div(keep) * mask``).

    ``chains`` (mixed style) are the names of the values when every one is a
    statement (module style's): a layer call is inlined only into a user of
    the same name, a step of one variable's chain. A value the source named
    otherwise (``h = self.fc1(x)``, read as ``y = F.relu(h)``) stays a
    statement, and so does one whose name the module style's output shows:
    converting that output to mixed style then gives the same text.
    """
    guarded = guarded or {}
    named = _named_shapes(graph)
    pure = {
        n
        for n in graph.nodes
        if (_is_shape_of_input(n) and n not in named)
        or (is_condition(n) and not is_impure(n))
        or _is_unnamed_step(n)
    }
    inlined = set(pure)
    readers = _loop_readers(graph)
    depth: dict[fx.Node, int] = {}  # calls in the node's printed expression
    rooted: set[fx.Node] = set()  # expressions with a layer call at their core
    for node in graph.nodes:
        inner = [n for n in node.all_input_nodes if n in inlined]
        depth[node] = node.op.startswith("call") + max(
            (depth[n] for n in inner), default=0
        )
        if node.op == "call_module" or any(n in rooted for n in inner):
            rooted.add(node)
        if node in ends or node.target is same_value:  # ``shortcut = x``
            continue
        if (
            node.op == "get_attr"
            or (
                uses(node) == 1
                and (not is_impure(node) or _is_number_call(node))
                and node.op not in ("placeholder", "output")
                and node not in optional
                and (
                    next(iter(node.users)) in ends
                    or _reads_best_inline(
                        node, next(iter(node.users)), style, depth, rooted, chains
                    )
                )
            )
            or (node not in readers and _grouped(node, optional, guarded))
        ):
            inlined.add(node)
        if node.op == "get_attr" or (
            node.op == "call_function"
            and not node.all_input_nodes
            and not is_impure(node)  # torch.randn(3) draws: it stays in place
        ):
            pure.add(node)  # parameters and constants: evaluated anywhere alike
    return _keep_evaluation_order(graph, inlined, pure, guarded)


def _grouped(
    node: fx.Node, optional: frozenset[fx.Node], guarded: dict[fx.Node, Guard]
) -> bool:
    """The source wrote ``node`` inside its single user: nested there again.

    ``out = F.relu(self.bn1(self.conv1(x)))`` stays one statement in every
    style. Not when the user is printed as a statement of its own kind that
    would run ``node`` less often (an optional call's ``if``), when the two
    run under different conditions, or when ``node`` is a tuple or list:
    its elements are read (``out, _ = self.lstm(x)``; a layer returning a
    tuple may print as several calls in functional style, which cannot
    carry a ``return self.attn(x, x, x)``). Where it would be computed
    after a statement that follows it, :func:`_keep_evaluation_order` keeps
    it a statement.
    """
    if uses(node) != 1 or node.op in ("placeholder", "output") or node in optional:
        return False
    (user,) = node.users
    if user in optional or not _nestable(node):
        return False
    if guarded.get(node, ()) != guarded.get(user, ()):
        return False
    if isinstance(node.meta.get("value"), (tuple, list)):
        return False  # read by its elements (unpacked or indexed), never grouped
    if user.op == "output":  # one value returned, not an element of a tuple
        return user.args[0] is node and written_returned(node)
    return written_inside(node, user)


def _loop_readers(graph: fx.Graph) -> set[fx.Node]:
    """The reads of a list an unrolled loop fills (``torch.cat(outputs, dim=1)``).

    Statements of their own, where :mod:`.data_loops` finds them when it
    writes the loop again, even when the source wrote them into another
    statement (``return torch.cat(outputs, dim=1)``).
    """
    return {c.reader for loop in find_unrolled(graph) for c in loop.collected}


def _nestable(node: fx.Node) -> bool:
    """A node that may be read inside another expression at all.

    In-place operators, item and attribute assignments, random draws,
    in-place methods and the helpers printed as statements of their own
    keep a line of their own (:mod:`nnconvert.opspecs.impurity`); any other
    call, a user's block or an in-place layer too, reads the same nested as
    long as the order in which calls run is kept.
    """
    if node.op == "call_function":
        return not (
            node.target in IMPURE_FUNCTIONS
            or is_inplace_name(getattr(node.target, "__name__", ""))
            or _is_statement_helper(node)
        )
    if node.op == "call_method":
        name = str(node.target)
        return name not in CONTAINER_MUTATORS and not is_inplace_name(name)
    return node.op == "call_module"


def _is_number_call(node: fx.Node) -> bool:
    """``self.num_flat_features(x)``: a helper call whose result is a number.

    Read inside its user (``x.view(-1, self.num_flat_features(x))``), as
    written; it still runs where it stood (:func:`_keep_evaluation_order`).
    """
    return is_method_call(node) and not isinstance(
        node.meta.get("value"), (torch.Tensor, tuple, list)
    )


def _keep_evaluation_order(
    graph: fx.Graph,
    inlined: set[fx.Node],
    pure: set[fx.Node],
    guarded: dict[fx.Node, Guard],
) -> set[fx.Node]:
    """Drop inlinings that would compute a node after a statement that follows it."""
    nodes = list(graph.nodes)
    position = {node: i for i, node in enumerate(nodes)}
    changed = True
    while changed:
        changed = False
        for node in [n for n in nodes if n in inlined and n not in pure]:
            (user,) = node.users
            between = nodes[position[node] + 1 : position[user]]
            guard = guarded.get(node, ())
            if not all(
                m in pure
                or _inlined_into(m, user, inlined)
                or _exclusive(guard, guarded.get(m, ()))
                or _state_update_crossed(m, between)
                for m in between
            ):
                inlined.discard(node)
                changed = True
        for node in nodes:
            if node not in inlined:
                late = _run_out_of_order(node, inlined, pure, position, guarded)
                if late is not None:
                    inlined.discard(late)
                    changed = True
    return inlined


def _state_update_crossed(update: fx.Node, between: list[fx.Node]) -> bool:
    """A state update (BatchNorm's ``count_batch``) that may run before the calls it separates.

    The update is printed where it stands, before the statement its layer
    call ends, so the calls nested into that statement run after it rather
    than before: the same, since none of them reads the state it updates.
    """
    if update.op != "call_function" or not _is_statement_helper(update):
        return False
    if not all(n.op in ("get_attr", "placeholder") for n in update.all_input_nodes):
        return False
    state = update.args[0]  # the tensor updated; the rest says when (``training``)
    return isinstance(state, fx.Node) and not any(
        n.op == "get_attr" and n.target == state.target and n is not state
        for n in between
    )


def _is_statement_helper(node: fx.Node) -> bool:
    """A helper row printed as statements of its own (``count_batch``'s ``if``)."""
    helper = helper_for(node.target)
    return helper is not None and helper.is_statement


def _run_out_of_order(
    statement: fx.Node,
    inlined: set[fx.Node],
    pure: set[fx.Node],
    position: dict[fx.Node, int],
    guarded: dict[fx.Node, Guard],
) -> fx.Node | None:
    """A call nested in ``statement`` that Python would run before one the graph runs first.

    Python evaluates a nested expression's arguments left to right, each
    before its caller; the graph's order is the one the source ran (a
    random draw, a layer updating its statistics). Two sides of a branch
    never run together (``choose``). None: the orders agree.
    """
    order: list[fx.Node] = []

    def visit(node: fx.Node) -> None:
        for argument in node.all_input_nodes:
            if argument in inlined:
                visit(argument)
                if argument not in pure:
                    order.append(argument)

    visit(statement)
    for i, earlier in enumerate(order):
        for later in order[i + 1 :]:
            if position[later] < position[earlier] and not _exclusive(
                guarded.get(earlier, ()), guarded.get(later, ())
            ):
                return later
    return None


def _exclusive(one: Guard, other: Guard) -> bool:
    """Two guards that never hold together: a condition and its opposite."""
    answers = {id(condition): polarity for condition, polarity in one}
    return any(answers.get(id(c), p) != p for c, p in other)


def _inlined_into(node: fx.Node, user: fx.Node, inlined: set[fx.Node]) -> bool:
    """``node`` is printed inside ``user``'s expression."""
    while node in inlined and len(node.users) == 1:
        (node,) = node.users
        if node is user:
            return True
    return False


def _named_shapes(graph: fx.Graph) -> set[fx.Node]:
    """Shape reads the user named (``B, T, C = x.size()``): statements, not inlined.

    A named element is read by its name wherever it is used; the shape itself
    is a statement too when every reader is such an element (or, for a
    shape's last sizes, the guard on their number, which the unpacking makes
    redundant: :func:`unpacked`), so that it is unpacked as the user wrote
    it: ``height, width = x.shape[-2:]``.
    """
    named = {n for n in graph.nodes if _is_shape_of_input(n) and user_name(n)}
    for node in graph.nodes:
        if (
            _is_shape_of_input(node)
            and isinstance(node.meta.get("value"), tuple)
            and any(user in named for user in node.users)
            and all(
                user in named or (user.target is len and _is_shape_tail(node))
                for user in node.users
            )
        ):
            named.add(node)
    return named


#: One step of arithmetic on a number: ``-n``, ``n - 1``, ``n * 2``
_STEPS = frozenset(
    {operator.neg, operator.add, operator.sub, operator.mul, operator.floordiv}
)


def _is_unnamed_step(node: fx.Node) -> bool:
    """``-nw_w`` or ``nw_w - 1`` on one number, which the user gave no name.

    Swin's ``dots[:, :, -nw_w:] += self.upper_lower_mask`` reads ``-nw_w``
    twice once traced (the slice read and the slice written); as a
    statement of its own it took the name ``neg2``. Printed where it is
    read, however often, it reads as the user wrote it. Only a whole number
    made from one variable and literals: a Python int, so computing it
    twice computes the same.
    """
    if node.op != "call_function" or node.target not in _STEPS:
        return False
    if type(node.meta.get("value")) is not int or user_name(node) is not None:
        return False
    read = [a for a in node.args if isinstance(a, fx.Node)]
    return (
        len(read) == 1
        and type(read[0].meta.get("value")) is int
        and all(type(a) is int for a in node.args if not isinstance(a, fx.Node))
        and not node.kwargs
    )


def _is_shape_of_input(node: fx.Node) -> bool:
    """``x.shape``, ``x.size(0)``, ``x.shape[1]``, ``x.dim()``: cheap, pure reads of a shape.

    Printed where they are used, however often: ``b, c, h, w = x.shape``
    reads as ``x.shape[0]`` … in the output.
    """
    if node.op == "call_function" and node.target is getattr:
        return node.args[1] in ("shape", "ndim")
    if node.op == "call_method":
        return node.target in ("size", "dim")
    if node.op == "call_function" and node.target is operator.getitem:
        source = node.args[0]
        return isinstance(source, fx.Node) and _is_shape_of_input(source)
    return False


def _reads_best_inline(
    node: fx.Node, user: fx.Node, style: Style, depth, rooted, chains=None
) -> bool:
    if user.op == "output":
        return False
    value = node.meta.get("value")
    if _unpacked_in_source(node, value):
        return False  # ``wv, qk = self.qkv_attention(...)``, though ``qk`` is None
    if not isinstance(value, torch.Tensor):
        return True  # shapes and other Python values
    if node.op == "call_function" and not node.all_input_nodes:
        return True  # constants such as torch.tensor([1.0, 2.0])
    return (
        style is Style.MIXED
        and user.op in ("call_function", "call_method")
        and source_statement(node) is None  # else the source's grouping: _grouped
        and node in rooted
        and depth[node] + 1 <= MIXED_NESTING
        and (chains is None or chains.get(node) == chains.get(user))
    )


def _unpacked_in_source(node: fx.Node, value: Any) -> bool:
    """A tuple holding tensors that the source unpacked into as many names."""
    if type(value) is not tuple or not any(isinstance(v, torch.Tensor) for v in value):
        return False
    frame = statement_line(node)
    return frame is not None and unpacks_into(frame, len(value))


#: Longest tuple unpacked into names (``a, b, c, d = ...``); longer ones are indexed.
MAX_UNPACK = 6

#: For each unpacked tuple statement, the ``t[i]`` node of each element (None: unread).
Unpacks = dict[fx.Node, list["fx.Node | None"]]


def unpacked(
    graph: fx.Graph,
    inlined: set[fx.Node],
    optional: frozenset[fx.Node] = frozenset(),
) -> tuple[Unpacks, list[fx.Node]]:
    """Tuple statements whose every reader takes one constant element, once each.

    Unpacking reads the elements where the tuple is made instead of where they
    are indexed; a tuple's elements are the same objects either way, so the
    program computes the same (lists are left alone: code may change them).
    A tuple of one only where the source unpacked it (``enc_output, *_ =
    self.encoder(...)``): ``out = t[0]`` reads best otherwise.

    A guard on the tuple's length may read it too (iterating a traced tuple,
    ``q, k, v = map(f, qkv)``, asks its length): ``q, k, v = ...`` refuses
    another length itself, so the guard goes unprinted. Returned second: the
    guards of the tuples unpacked (:func:`_length_guards`).
    """
    found: Unpacks = {}
    checked: list[fx.Node] = []
    for node in graph.nodes:
        value = node.meta.get("value")
        if (
            node in inlined
            or node.op in ("placeholder", "output")
            or node in optional
            or type(value) is not tuple
            or not 0 < len(value) <= MAX_UNPACK
            or not node.users
        ):
            continue
        counted = _length_guards(node, len(value))
        if len(value) == 1 and counted is None:
            continue
        targets: list[fx.Node | None] = [None] * len(value)
        for user in node.users:
            if counted is not None and user.target is len:
                continue
            index = user.args[1] if len(user.args) == 2 else None
            if not (
                user.op == "call_function"
                and user.target is operator.getitem
                and user.args[0] is node
                and type(index) is int
                and -len(value) <= index < len(value)
                and targets[index] is None
                and user not in optional
            ):
                break
            targets[index] = user
        else:
            found[node] = targets
            checked += counted or ()
    return found, checked


def starred_in_source(node: fx.Node) -> bool:
    """Whether the source unpacked tuple ``node`` with a starred name (``out, *_ = ...``)."""
    return any(
        (frame := statement_line(guard)) is not None
        and (found := unpacked_names(frame)) is not None
        and found[1]
        for guard in _length_guards(node, len(node.meta["value"])) or ()
    )


def _length_guards(node: fx.Node, length: int) -> list[fx.Node] | None:
    """The guards ``len(node) == length`` that are all its ``len`` readers do, if any.

    Only where the source itself unpacked the tuple into ``length`` names on
    the guard's line (:func:`~nnconvert.source_text.unpacks_into`), or
    spread it into a tuple there (``(q, *kv.chunk(2))``,
    :func:`~nnconvert.source_text.spreads_a_call`): a loop
    over the tuple runs for any length, and there the guard is what refuses
    another one. ``None`` when a ``len(node)`` serves anything else (a size
    the code computes with): the tuple then stays a value of its own.
    """
    found: list[fx.Node] = []
    for counting in (user for user in node.users if user.target is len):
        for comparison in counting.users:
            if not (
                comparison.target is operator.eq
                and comparison.args == (counting, length)
                and comparison.users
                and all(is_expect(user) for user in comparison.users)
            ):
                return None
            found += comparison.users
        if not counting.users:
            return None
    if _is_shape_tail(node):
        return found or None  # unpacked, the sizes refuse too few dimensions
    for guard in found:
        frame = statement_line(guard)
        if frame is None or not (unpacks_into(frame, length) or spreads_a_call(frame)):
            return None
    return found or None


def _is_shape_tail(node: fx.Node) -> bool:
    """``x.shape[-2:]``: a tensor's last sizes, as many as the rank allows.

    Unpacked into names (``height, width, heads = *x.shape[-2:], self.heads``
    in the source), the tuple's length is the tracer's one guard on it.
    """
    sizes = sliced_from_end(node)
    return sizes is not None and _is_shape_of_input(sizes)


# -- 3. variable names --------------------------------------------------------


def name_statements(
    graph: fx.Graph,
    inlined: set[fx.Node],
    reserved: frozenset[str] = frozenset(),
    unpacks: Unpacks | None = None,
    optional: frozenset[fx.Node] = frozenset(),
    guarded: dict[fx.Node, Guard] | None = None,
) -> dict[fx.Node, str]:
    """A variable name for every placeholder and statement node.

    ``reserved`` are names taken by the file itself (its functions and classes).
    An unpacked tuple has no name; its elements are named where it is made.
    An ``optional`` call keeps its input's variable (skipped, the variable
    still holds what follows reads), whatever the user called its result.
    """
    unpacks = unpacks or {}
    elements = {t for targets in unpacks.values() for t in targets if t is not None}
    statements = [n for n in graph.nodes if n not in inlined]
    reads = {node: variables_read(node, inlined) for node in statements}
    last_read: dict[fx.Node, fx.Node] = {}
    last_used: dict[fx.Node, fx.Node] = {}  # the last read but a test ``is None``
    for node in statements:
        for variable in reads[node]:
            last_read[variable] = node
            if _used(node, variable, inlined):
                last_used[variable] = node
    namespace = Namespace(RESERVED | reserved)
    names: dict[fx.Node, str] = {}
    shared: set[fx.Node] = set()  # sides whose name their ``choose`` took over
    position = {node: i for i, node in enumerate(graph.nodes)}
    for node in statements:
        if node.op == "output":
            break
        if node.op == "placeholder":
            names[node] = namespace.claim(str(node.target), allow_builtin=True)
            continue
        if node in elements:
            continue  # named with its tuple
        wanted = _wanted_name(node) if node not in optional else None
        side = _side_named(node, names, wanted) if node not in unpacks else None
        if side is not None and (
            _read_on_both_paths_after(
                side, node, statements, reads, position, guarded or {}, inlined
            )
            or _tested_after(side, node, statements, position, guarded or {})
        ):
            side = None  # the join would overwrite a value still read elsewhere
        if side is not None:  # ``logits`` on one side is ``logits`` after the ``if``
            shared.add(side)  # the name lives on in ``node``
        dying = [
            v
            for v in reads[node]
            if v in names
            and v not in shared
            and (
                last_read.get(v) is node
                and not _is_optional_input(v)
                or last_used.get(v) is node
                and _is_optional_input(v)
                and (
                    _given(v, (guarded or {}).get(node, ()))
                    or _replaced_where_given(
                        v, node, last_read, statements, position, guarded or {}
                    )
                )
            )
        ]
        if side is not None:
            for variable in dying:
                namespace.release(names[variable])
            names[node] = names[side]
            continue
        # the name the statement may take over: its first input's, where that
        # input dies here (``x = self.fc(x)``); never a later argument's,
        # which names another thing (``out, _ = self.attn(x, mask=mask)``).
        # A join of two branches is either side's value: any side may hand it.
        # (never the condition's own: a flag input tested, ``if return_embeddings:``)
        first = (
            []
            if _holds_or_reads_a_field(node)
            else (
                [v for v in dying if v is not node.args[0]][:1]
                if is_choose(node)
                else reads[node][:1]
            )
        )
        heir = dying[0] if dying and dying[:1] == first else None
        for variable in dying:
            if variable is not heir:
                namespace.release(names[variable])
        handed = [names[heir]] if heir is not None else []
        if node in unpacks:
            for element in (t for t in unpacks[node] if t is not None):
                wanted = (
                    user_name(element)
                    or _heir_name(element)
                    or _transformed_name(element)
                )
                names[element] = _variable_name(element, namespace, handed, wanted)
            continue
        if not is_read(node):
            for name in handed:
                namespace.release(name)
            continue
        refined = _refined_input(node, names, position)
        # ``mask = mask.unsqueeze(1)`` under ``if mask is not None:``
        if refined is not None:
            for name in handed:
                namespace.release(name)
            names[node] = names[refined]
            continue
        if (
            wanted is not None
            and namespace.free(wanted) is None
            and _held_apart(
                cleaned(wanted), node, names, last_read, position, guarded or {}
            )
        ):  # ``transformer_outputs`` under ``if`` as under ``else``
            for name in handed:
                namespace.release(name)
            names[node] = namespace.share(cleaned(wanted))
            continue
        names[node] = _variable_name(node, namespace, handed, wanted)
    return names


def _held_apart(
    name: str,
    node: fx.Node,
    names: dict[fx.Node, str],
    last_read: dict[fx.Node, fx.Node],
    position: dict[fx.Node, int],
    guarded: dict[fx.Node, Guard],
) -> bool:
    """``name`` is live, but only in values that never run on ``node``'s path.

    Named in graph order, the side of an ``if`` traced second finds the
    user's name taken by the other side's value, still read after it in
    graph order (GPT-2's ``transformer_outputs = self.transformer(...)``
    under ``if attention_mask is not None:`` and under ``else:``). On its
    own path that value never exists, so both sides take the user's name,
    as in the source.
    """
    guard = guarded.get(node, ())
    if not guard:
        return False
    holders = [
        value
        for value, held in names.items()
        if held == name
        and value in last_read
        and position[last_read[value]] > position[node]
    ]
    return bool(holders) and all(
        _exclusive(guard, guarded.get(value, ())) for value in holders
    )


def _refined_input(
    node: fx.Node, names: dict[fx.Node, str], position: dict[fx.Node, int]
) -> fx.Node | None:
    """The optional input the join ``node`` replaces under its own test, as the user wrote it.

    attention-is-all-you-need writes ``if mask is not None: mask =
    mask.unsqueeze(1)`` and then reads ``mask``: the traces join in
    ``choose(mask is not None, mask.unsqueeze(1), None)``, which takes the
    input's name when the user bound the new value to it and nothing reads
    the input after the join.
    """
    if not is_choose(node) or node.args[2] is not None:
        return None
    tested, replaced = tested_input(node.args[0]), node.args[1]
    if (
        tested is None
        or tested.op != "placeholder"
        or not isinstance(replaced, fx.Node)
    ):
        return None
    if user_name(replaced) != names.get(tested):
        return None
    if any(position[reader] > position[node] for reader in tested.users):
        return None
    return tested


def _side_named(
    node: fx.Node, names: dict[fx.Node, str], wanted: str | None
) -> fx.Node | None:
    """The side of the join ``node`` that already holds the name ``node`` wants.

    On that side's path the variable already holds the joined value, and
    what reads the side later runs on that path alone; so the join takes
    the name over, and the name lives until the join's own last read.
    """
    if wanted is None or not is_choose(node):
        return None
    for side in node.args[1:]:
        if isinstance(side, fx.Node) and names.get(side) == wanted:
            return side
    return None


def _read_on_both_paths_after(
    side: fx.Node,
    join: fx.Node,
    statements: list[fx.Node],
    reads: dict[fx.Node, list[fx.Node]],
    position: dict[fx.Node, int],
    guarded: dict[fx.Node, Guard],
    inlined: set[fx.Node],
) -> bool:
    """A statement after ``join`` reads ``side`` on the other side's path too.

    torchvision's RegNet block: ``x = self.proj(x) + self.f(x)`` where it
    has a projection, ``x = x + self.f(x)`` where not. The join of
    ``self.proj(x)`` and ``x`` cannot take ``x``'s name: ``self.f(x)``,
    after it on both paths, reads the input.
    """
    condition = join.args[0]
    polarity = side is join.args[1]

    def on_its_path(reader: fx.Node) -> bool:
        if any(c is condition and p == polarity for c, p in guarded.get(reader, ())):
            return True
        # another join on the same test reading it on that side (nanoGPT's loss)
        other = reader.args[2 if polarity else 1] if is_choose(reader) else None
        return reader.args[0] is condition and not _reaches(other, side, inlined)

    return any(
        position[reader] > position[join]
        and side in reads[reader]
        and not on_its_path(reader)
        for reader in statements
    )


def _tested_after(
    side: fx.Node,
    join: fx.Node,
    statements: list[fx.Node],
    position: dict[fx.Node, int],
    guarded: dict[fx.Node, Guard],
) -> bool:
    """An ``if`` printed after ``join`` tests ``side`` (``if key_value_states is not None:``).

    Each ``if`` reads its condition's variables where it is printed, not
    where the condition was traced: T5's attention joins ``key_value_states
    if key_value_states is not None else hidden_states`` and later asks
    ``key_value_states is not None`` again. Under the input's name, the
    join would make that test ask about ``hidden_states``.
    """
    return any(
        position[statement] > position[join]
        and any(
            condition is side or side in condition.all_input_nodes
            for condition, _ in guarded.get(statement, ())
        )
        for statement in statements
    )


def _reaches(value: Any, side: fx.Node, inlined: set[fx.Node]) -> bool:
    """``value``'s printed expression reads ``side`` (through what it inlines)."""
    stack = [value] if isinstance(value, fx.Node) else []
    while stack:
        node = stack.pop()
        if node is side:
            return True
        if node in inlined:
            stack += node.all_input_nodes
    return False


def _wanted_name(node: fx.Node) -> str | None:
    """The user's name for ``node``; for a join of two branches, the name both sides give it.

    ``logits = self.lm_head(x)`` under ``if`` and ``logits =
    self.lm_head(x[:, [-1], :])`` under ``else`` join in a ``choose`` the
    user never wrote: it is ``logits`` after the ``if``, as in the source.
    """
    name = user_name(node)
    if name is not None:
        return name
    if not is_choose(node):
        return _transformed_name(node)
    sides = {user_name(side) for side in node.args[1:] if isinstance(side, fx.Node)}
    return sides.pop() if len(sides) == 1 else None


def _transformed_name(node: fx.Node) -> str | None:
    """The user's name for what a later statement of the same function makes of ``node``.

    CaiT writes ``qkv = (self.to_q(x), *self.to_kv(context).chunk(2, dim=-1))``
    and then ``q, k, v = map(lambda t: rearrange(t, ...), qkv)``: the
    projections are bound to no local of their own (a tuple holds them),
    and each is best called by the name of the tensor its one reader makes
    of it, as a chain reuses one name (``q = F.linear(x, ...)``, then ``q =
    rearrange(q, ...)``), rather than ``out``, ``out2``. Only where that
    reader (the one tensor made from it; sizes read aside) takes it as its
    first argument, not a tensor it is merely combined with, and both come
    from the same function.
    """
    if not isinstance(node.meta.get("value"), torch.Tensor):
        return None
    # a size read beside it (``t.view(t.shape[0], ...)``) makes no tensor of it
    readers = [u for u in node.users if isinstance(u.meta.get("value"), torch.Tensor)]
    if len(readers) != 1:
        return None
    (reader,) = readers
    if not reader.args or reader.args[0] is not node:
        return None
    line, reader_line = statement_line(node), statement_line(reader)
    if line is None or reader_line is None:
        return None
    if (line.file, line.first_line) != (reader_line.file, reader_line.first_line):
        return None
    return user_name(reader)


def _name_sides_as_their_end(
    graph: fx.Graph,
    names: dict[fx.Node, str],
    inlined: set[fx.Node],
    guarded: dict[fx.Node, Guard],
    ends: frozenset[fx.Node],
    unpacks: "Unpacks",
) -> None:
    """A side's last value takes the name its ``if``/``else`` assigns, where that is free.

    Named in graph order, the side traced first sees the input both sides
    read still alive (the other side reads it later) and takes a new name:
    ``out = self.layer(x * 2); x = out`` under ``else:`` against ``x =
    self.layer(x * scale)`` under ``if``. The other side never runs with
    it, so on its own path the input dies there too: the value is named as
    the branch's end (``x = self.layer(x * 2)``) when nothing that runs on
    its path between it and the end reads or assigns a value of that name.
    The side's own readers on its path read it under that name (ng-video-
    lecture's ``logits = logits.view(B * T, C)`` then ``F.cross_entropy(logits,
    targets)``). A name the user gave the value is kept.
    """
    nodes = list(graph.nodes)
    position = {node: i for i, node in enumerate(nodes)}
    elements = {t for targets in unpacks.values() for t in targets if t is not None}
    for end in ends:
        name = names.get(end)
        if name is None or end in unpacks:
            continue
        for side in end.args[1:]:
            if (
                not isinstance(side, fx.Node)
                or side not in names
                or names[side] == name
                or side in unpacks
                or side in elements
                or end not in side.users
                or user_name(side) not in (None, name)  # the user's own name stays
            ):
                continue
            guard = tuple(guarded.get(side, ()))

            def in_branch(node: fx.Node) -> bool:  # printed inside the side's ``if``
                return (
                    bool(guard) and tuple(guarded.get(node, ()))[: len(guard)] == guard
                )

            # read elsewhere than in its branch (then by the end), it keeps its name
            if not all(u is end or in_branch(u) for u in side.users):
                continue
            on_its_path = [
                node
                for node in nodes[position[side] + 1 :]
                if node not in inlined
                and (
                    in_branch(node)
                    or position[node] < position[end]
                    and not _exclusive(guard, guarded.get(node, ()))
                )
            ]
            clobbers = any(
                names.get(node) == name
                or any(
                    names.get(read) == name for read in variables_read(node, inlined)
                )
                for node in on_its_path
            )
            if not clobbers:
                names[side] = name


def _heir_name(element: fx.Node) -> str | None:
    """The user's name for what the source's own statement makes of ``element``.

    ``q, k, v = map(lambda t: rearrange(t, ...), qkv)`` names the
    rearranged tensors; the elements it unpacks have no name of their own,
    and each is best called by its heir's (``q, k, v = ...; q = rearrange(q,
    ...)``), as a chain reuses one name. The heir is the end of the chain of
    single tensor readers on the same source line (``t.shape`` reads a size).
    """
    line = statement_line(element)
    node = element
    while line is not None:
        readers = [
            u for u in node.users if isinstance(u.meta.get("value"), torch.Tensor)
        ]
        if len(readers) != 1:
            return None
        (node,) = readers
        if statement_line(node) != line:
            return None
        if user_name(node) is not None:
            return user_name(node)
    return None


def _variable_name(
    node: fx.Node, namespace: Namespace, handed: list[str], wanted: str | None
) -> str:
    """The user's name for ``node`` where it is free, else the dying input's, else a stem.

    ``handed`` holds the name of the input that dies at this statement (still
    claimed); it is used up (taken over or released) by the first call.
    The user's name is kept only as written (``mu``, never ``mu2``): when it
    is taken by a value still alive, the chain's own name is used instead.
    ``wanted``: the user's name (``None``: the user gave none to keep).
    """
    # ``input = block(input)``: the parameter keeps its name even where it
    # hides a builtin, so the user's own name is compared as written too
    if wanted is not None and handed and handed[0] in (wanted, cleaned(wanted)):
        return namespace.take_over(handed.pop())
    if wanted is not None and namespace.free(wanted) is not None:
        for name in handed:
            namespace.release(name)
        handed.clear()
        return namespace.claim(wanted)
    if handed:
        return namespace.take_over(handed.pop())
    return namespace.claim(_stem(node))


def is_read(node: fx.Node) -> bool:
    """Some statement reads ``node``'s value (an ``only_when`` mark reads nothing)."""
    return any(not is_only_when(user) for user in node.users)


def _is_optional_input(node: fx.Node) -> bool:
    """``targets=None`` that a branch asks about: its name keeps meaning the input.

    ``if targets is not None:`` is printed where the branch goes, which may be
    after the input's last read in graph order. An optional input no branch
    asks about (``hx=hidden``, ``None`` or a tensor alike) is a variable like
    any other: ``output, hidden = self.lstm(emb, hidden)`` takes its name over.
    """
    return (
        node.op == "placeholder"
        and bool(node.args)
        and any(
            is_condition(user) or user.target in (operator.is_, operator.is_not)
            for user in node.users
        )
    )


def _replaced_where_given(
    node: fx.Node,
    join: fx.Node,
    last_read: dict[fx.Node, fx.Node],
    statements: list[fx.Node],
    position: dict[fx.Node, int],
    guarded: dict[fx.Node, Guard],
) -> bool:
    """The join of a test of the optional input ``node`` is its last reader.

    CaiT's ``context = x if not exists(context) else torch.cat((x, context),
    dim=1)``: the branch where the input is given reads it last, the other
    holds ``None`` in it, and nothing after the join reads it or tests it
    again; so the join may take its name, as the user's statement does.
    """
    return (
        is_choose(join)
        and _tests_none(join.args[0], node)
        and last_read.get(node) is join
        and not _tested_after(node, join, statements, position, guarded)
    )


def _given(node: fx.Node, guard: Guard) -> bool:
    """``guard`` holds only where the optional input ``node`` is not None.

    Inside ``if targets is not None:`` the input may be renamed over
    (ng-video-lecture's ``targets = targets.view(B * T)``) where nothing but
    tests ``is None`` reads it later: each answers the same of what the name
    holds then, and the ``if`` that reads it is printed before.
    """
    return any(
        _tests_none(condition, node)
        and (condition.target, polarity)
        in ((operator.is_not, True), (operator.is_, False))
        for condition, polarity in guard or ()
    )


def _used(node: fx.Node, variable: fx.Node, inlined: set[fx.Node]) -> bool:
    """``node``'s line reads ``variable`` other than in a test ``is None``."""
    for argument in node.all_input_nodes:
        if argument is variable and not _tests_none(node, variable):
            return True
        if argument in inlined and _used(argument, variable, inlined):
            return True
    return False


def _tests_none(node: Any, variable: fx.Node) -> bool:
    """``variable is None`` or ``variable is not None``."""
    return (
        isinstance(node, fx.Node)
        and node.op == "call_function"
        and node.target in (operator.is_, operator.is_not)
        and node.args == (variable, None)
    )


def variables_read(node: fx.Node, inlined: set[fx.Node]) -> list[fx.Node]:
    """Statement nodes whose variables ``node``'s line reads, in argument order."""
    found: list[fx.Node] = []
    for argument in node.all_input_nodes:
        if argument in inlined:
            found += [v for v in variables_read(argument, inlined) if v not in found]
        elif argument not in found:
            found.append(argument)
    return found


def _stem(node: fx.Node) -> str:
    field = _field_read(node)
    if field is not None:  # ``cache = transformer_outputs.cache``
        return field
    if node.op == "call_function" and is_output_record(node.target):
        return "outputs"
    if is_choose(node) and _holds_or_reads_a_field(node):
        return _stem(next(a for a in node.args[1:] if isinstance(a, fx.Node)))
    value = node.meta.get("value")
    if isinstance(value, torch.Tensor):
        return "out"
    if isinstance(value, (tuple, list)):
        return "outs"
    return re.sub(r"_\d+$", "", node.name)


def _holds_or_reads_a_field(node: fx.Node) -> bool:
    """``outputs.cache`` or ``ModelOutput(logits=logits, ...)``: not what it reads, made anew.

    Neither takes over the name of a value that dies there: ``logits =
    CausalLMOutput(logits=logits)`` would say the variable still holds the
    logits.
    """
    if is_choose(node):  # a join of two such: either side's value
        sides = [side for side in node.args[1:] if isinstance(side, fx.Node)]
        return bool(sides) and all(map(_holds_or_reads_a_field, sides))
    if node.op == "call_function" and is_output_record(node.target):
        return True
    return _field_read(node) is not None


def _field_read(node: fx.Node) -> str | None:
    """The field ``node`` reads of a record (``outputs.cache``), or of a tensor where the
    field is none (``x.device``), if it does.

    Named after the field: what it reads is not the record, so it neither
    takes over the record's name where the record dies there (``outputs =
    outputs.cache`` would say the variable still holds the outputs) nor is
    called ``getattr_``.
    """
    if not (node.op == "call_function" and node.target is getattr):
        return None
    record, field = node.args[0], node.args[1]
    if not isinstance(record, fx.Node) or not isinstance(field, str):
        return None
    if isinstance(record.meta.get("value"), torch.Tensor) and isinstance(
        node.meta.get("value"), torch.Tensor
    ):
        return None  # ``x.mT``, ``x.real``: a tensor's own view, a step of its chain
    return field if field.isidentifier() else None  # ``device = x.device`` too
