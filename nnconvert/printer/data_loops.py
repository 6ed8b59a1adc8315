"""Loops over data, written again: an unrolled body printed once, as the user's ``for``.

The trace of ``for input_t in input.split(1, dim=1): ...`` holds one copy
of the body per element (:mod:`nnconvert.passes.unrolled` finds them). The
loop is printed from copy 0's statements, under variables that make it run
for any length:

- the element is the loop variable (``input_t``, as the user called it);
- a carried value (``h_t``) is assigned to the variable that held its
  initial value, so the next step reads it there;
- a value collected into a list (``outputs += [output]``) is appended to
  a list made before the loop, and the reader after the loop reads that list
  (``torch.cat(outputs, dim=1)``).

A loop over ``range(future)`` of a plain int argument has no element: its
``for`` counts to the argument (``for i in range(future):``), its guard
gone. Two loops may grow one list (``outputs += [output]`` over the data,
then over ``range(future)``): the first makes it, the second grows it
further, under its name.

Names come from the source where it can be read (the ``for`` line's
target, the list's name and how it grows), otherwise from the plan. The
printed variables are then played through once (:mod:`.loop_bindings`): a
loop whose variables would hide a value something still reads stays
unrolled, as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from torch import fx, nn

from ..branches import is_only_when
from ..naming import first_free
from ..options import Style
from ..passes.unrolled import (
    Collected,
    Unrolled,
    find_member_loops,
    find_unrolled,
    is_loop_literal,
)
from ..source_map import statement_line, user_name
from .expressions import ExpressionPrinter, takes_loop_keywords
from .loop_bindings import assigned_by, binds_safely
from .containers import member_containers
from .loops import enumerated_values, singular, varying_keywords
from .names import RESERVED
from .rolled_loops import members_kept
from .source_loops import (
    SourceLoop,
    count_and_source,
    flag_variable,
    keyword_variable,
    member_loop_line,
    member_variable,
    member_variables,
)
from .statements import StatementPlan


@dataclass(frozen=True)
class LoopKeyword:
    """A keyword a member loop's block call passes another literal in each step.

    Functional style: MobileViT's ``for conv, attn in self.trunk:`` calls
    ``mv2_block(..., groups=64)``, then ``groups=96``: the loop runs over
    the values beside its index, the call passes the loop's variable.
    """

    position: int  # the call's place in the loop's body
    keyword: str
    variable: str
    values: tuple[Any, ...]  # each step's


@dataclass(frozen=True)
class LoopFlag:
    """A member call only some steps make, and the flag that says which.

    Functional style: ScalableViT's ``PEG(dim) if is_first else None`` runs
    in its first step only: the loop runs over ``(True, False)`` beside its
    index, ``for i, has_peg in enumerate((True, False)):``, and the call
    prints under ``if has_peg:``. Where it does not run, its variable keeps
    the value the call would have been given.
    """

    target: str  # copy 0's call (``layers.0.2``)
    variable: str
    values: tuple[bool, ...]  # each step's


#: prints one statement node of the body (:func:`nnconvert.printer.body._statement`)
StatementPrinter = Callable[[fx.Node], list[str]]
#: the comments above a node's line, or (given a line) up to that line of its function
CommentPrinter = Callable[[fx.Node, int | None], list[str]]
#: a body's statements (their lines, and the node each prints; None for a
#: list's growth), some joined as the source wrote them (``a, b = f(a), g(b)``)
StatementGrouper = Callable[[list[list[str]], list[fx.Node | None]], list[list[str]]]


@dataclass(frozen=True)
class DataLoop:
    """An unrolled loop as it prints: its variables and where its lines go."""

    unrolled: Unrolled
    element: str  # the loop variable
    names: dict[int, str]  # body position -> its variable (statements only)
    lists: dict[Collected, str]  # each collected list's variable
    appends: str  # "append" (``outputs.append(x)``) or "extend" (``outputs += [x]``)
    #: the sequence is written in the ``for`` line, not as a statement of its own
    sequence_in_header: bool
    statements: tuple[fx.Node, ...]  # copy 0's, in order
    #: each list grows after the statement that assigns its value
    grows_after: dict[Collected, fx.Node]
    #: statements after the loop that need another variable than planned
    renamed: dict[fx.Node, str] = field(default_factory=dict)
    #: a loop over indices: ``range``'s length (``x.size(1)``) and its guard,
    #: gone with the loop; none: the traced count (``range(5)``)
    count: tuple[fx.Node, ...] = ()
    #: lists an earlier loop made, which this one grows further
    continued: frozenset[str] = frozenset()
    #: a loop over members whose items the user's ``for`` unpacks: their
    #: names (``for attn, ff in self.layers:``), which stand for ``layer[0]``...
    unpacked: tuple[str, ...] = ()
    #: a loop no node's line heads (``for k in range(self.block_size):``):
    #: its ``for`` line, the comments up to which stand above it
    head_line: int | None = None
    #: functional style: the keyword that says how many members the loop
    #: runs over, where one function serves several counts (:mod:`.rolled_loops`)
    count_keyword: str | None = None
    #: functional style: the block calls' keywords whose values differ by step
    keywords: tuple[LoopKeyword, ...] = ()
    #: functional style: the member calls only some steps make
    flags: tuple[LoopFlag, ...] = ()

    @property
    def first(self) -> fx.Node:
        """The statement the loop's lines stand in for."""
        return self.statements[0]

    def hidden(self) -> set[fx.Node]:
        """The nodes that print nothing of their own: the loop prints them."""
        found = self.unrolled.nodes() | set(self.count)
        if self.sequence_in_header:
            found.add(self.unrolled.sequence)
        return found - {self.first}

    def rename(self, printer: ExpressionPrinter) -> None:
        """Every copy's values under the loop's variables; the lists by their names."""
        for copy in self.unrolled.copies:
            for position, node in enumerate(copy):
                if node is not None and position in self.names:
                    printer.names[node] = self.names[position]
        if (
            self.unrolled.members is not None
        ):  # ``layer[0](x)`` for ``self.layers[0][0]``
            first = f"{self.unrolled.members}.{self.unrolled.start}"
            printer.members[first] = (self.unrolled.members, self.element)
            for index, name in enumerate(self.unpacked):
                printer.members[f"{first}.{index}"] = (self.unrolled.members, name)
        elif self.unrolled.stepped is None:
            for element in self.unrolled.elements:
                printer.names[element] = self.element
        else:  # ``x[:, t]``
            printer.stepped[self.unrolled.elements[0]] = (
                self.unrolled.stepped,
                self.element,
            )
            for run, place in self.unrolled.also_stepped:  # ``C[:, t, :]``
                printer.stepped[run[0]] = (place, self.element)
        for collected, name in self.lists.items():
            printer.lists[collected.whole] = name
        printer.names.update(self.renamed)
        for keyword in self.keywords:
            call = self.unrolled.body[keyword.position]
            passed = printer.loop_keywords.setdefault(call, {})
            passed[keyword.keyword] = keyword.variable
        for flag in self.flags:
            printer.flags[flag.target] = flag.variable

    def optional(self) -> set[fx.Node]:
        """The body's calls that print under their flag's ``if``."""
        return {self.unrolled.body[p] for p, _ in self.unrolled.optional}

    @property
    def head(self) -> fx.Node | None:
        """The node made on the ``for`` line that the loop prints in its head.

        The user's comments above that line stand above the loop.
        """
        if self.sequence_in_header:
            return self.unrolled.sequence
        if self.unrolled.counter is not None:  # the guard ``range(future)`` made
            return self.unrolled.length_guard[-1]
        return self.count[-1] if self.count else None

    def lines(
        self,
        printer: ExpressionPrinter,
        statement: StatementPrinter,
        comments: CommentPrinter = lambda node, through=None: [],
        grouped: StatementGrouper = lambda statements, nodes: statements,
    ) -> list[str]:
        """``outputs = []``, ``for input_t in ...:`` and the body once.

        ``statement`` prints a statement of the body (with the comments on
        it); ``comments`` says the comments above the :attr:`head`'s line, or
        up to :attr:`head_line`; ``grouped`` joins the body's statements one
        source statement made.
        """
        lines = []
        if self.head is None and self.head_line is not None:  # above its lists too
            lines += comments(self.unrolled.body[0], self.head_line)
        lines += [
            f"{name} = []" for name in self.lists.values() if name not in self.continued
        ]
        if self.head is not None:
            lines += comments(self.head)
        if self.keywords or self.flags:
            columns = {k.variable: list(k.values) for k in self.keywords}
            columns |= {f.variable: list(f.values) for f in self.flags}
            header = enumerated_values(
                self.element, columns, printer, self.unrolled.start
            )
            lines.append(f"for {header}:")
        else:
            target = ", ".join(self.unpacked) or self.element
            lines.append(f"for {target} in {self._iterated(printer)}:")
        body = self.unrolled.body
        statements: list[list[str]] = []
        nodes: list[fx.Node | None] = []
        for node in self.statements:
            statements.append(statement(node))
            nodes.append(node)
            for collected, name in self.lists.items():
                if self.grows_after[collected] is node:
                    value = printer.argument(body[collected.position])
                    grow = (
                        f"{name}.append({value})"
                        if self.appends == "append"
                        else f"{name} += [{value}]"
                    )
                    statements.append([grow])
                    nodes.append(None)
        for printed in grouped(statements, nodes):
            lines += ["    " + line for line in printed]
        return lines

    def _iterated(self, printer: ExpressionPrinter) -> str:
        """``input.split(1, dim=1)``, ``range(x.size(1))``: what the ``for`` runs over."""
        sequence = self.unrolled.sequence
        if self.unrolled.counter is not None:
            return f"range({printer.argument(self.unrolled.counter)})"
        if self.unrolled.times is not None:
            return f"range({self.unrolled.times})"
        if self.unrolled.members is not None:
            if printer.style is Style.FUNCTIONAL and self.unrolled.start:
                start = self.unrolled.start
                return f"range({start}, {start + len(self.unrolled.copies)})"
            if printer.style is Style.FUNCTIONAL:
                return f"range({self.count_keyword or len(self.unrolled.copies)})"
            return printer.attribute_path(self.unrolled.members)
        if self.unrolled.stepped is not None:
            length = (
                printer.argument(self.count[0])
                if self.count
                else str(len(self.unrolled.elements))
            )
            return f"range({length})"
        if self.sequence_in_header:
            return printer.definition(sequence)
        return printer.names[sequence]


def find_data_loops(graph: fx.Graph, plan: StatementPlan) -> list[DataLoop]:
    """The unrolled loops of ``graph`` that print as loops under ``plan``'s names.

    In graph order, each under the names the loops before it print with (a
    loop's initial values may be an earlier loop's last step). A list two
    loops grow prints only when both do: else both stay unrolled.
    """
    order = {node: i for i, node in enumerate(graph.nodes)}
    unrolled = sorted(find_unrolled(graph), key=lambda u: order[u.body[0]])
    refused: set[int] = set()
    while True:
        found = _printed_loops(
            graph, [u for u in unrolled if id(u) not in refused], plan
        )
        unfilled = _unfilled_lists(found)
        if not unfilled:
            return found
        refused |= {
            id(loop.unrolled)
            for loop in found
            if any(c.whole in unfilled for c in loop.lists)
        }


def _printed_loops(
    graph: fx.Graph, candidates: list[Unrolled], plan: StatementPlan
) -> list[DataLoop]:
    """Those of ``candidates`` (in graph order) that print as loops, each after the ones before."""
    found = []
    taken: set[fx.Node] = set()
    opened: dict[tuple[fx.Node, ...], str] = {}
    for unrolled in candidates:
        if taken & unrolled.nodes():
            continue
        loop = _as_data_loop(graph, unrolled, plan, opened)
        if loop is not None:
            found.append(loop)
            taken |= unrolled.nodes()
            opened.update((c.whole, name) for c, name in loop.lists.items())
            plan = replace(plan, names=_names_as_printed(plan.names, loop))
    return found


def _names_as_printed(names: dict[fx.Node, str], loop: DataLoop) -> dict[fx.Node, str]:
    """``names`` with each of ``loop``'s values under the variable the loop prints it in."""
    names = dict(names)
    unrolled = loop.unrolled
    for copy in unrolled.copies:
        for position, node in enumerate(copy):
            if node is not None and position in loop.names:
                names[node] = loop.names[position]
    if unrolled.stepped is None and unrolled.members is None:
        names.update((element, loop.element) for element in unrolled.elements)
    names.update(loop.renamed)
    return names


def _unfilled_lists(loops: list[DataLoop]) -> set[tuple[fx.Node, ...]]:
    """The lists that ``loops`` grow but do not fill, item for item."""
    grown: dict[tuple[fx.Node, ...], tuple[fx.Node, ...]] = {}
    for loop in loops:
        for collected in loop.lists:
            grown[collected.whole] = grown.get(collected.whole, ()) + collected.items
    return {whole for whole, items in grown.items() if items != whole}


def find_member_loops_to_print(
    graph: fx.Graph,
    plan: StatementPlan,
    style: Style,
    owner: nn.Module,
    callees: dict[str, tuple[str, bool]],
    leaves: dict[str, object],
    taken: set[fx.Node],
    counts: dict[str, str] | None = None,
    reserved: frozenset[str] = frozenset(),
) -> list[DataLoop]:
    """The loops over a container's members (``for attn, ff in self.layers:``) that print.

    ``owner`` holds the containers. A member's call may hand its result to
    the next member's (``for conv, attn in self.trunk: x = conv(x); x =
    attn(x)``). In functional style each member's calls must call the
    function member 0's do (the loop prints member 0's), and no third-party
    layer (each member's is a variable of its own); their literal keywords
    may differ (:class:`LoopKeyword`), named apart from ``reserved`` (the
    function's keywords). ``counts``: each container of a graph cut to its first
    copies and the keyword that says how many members it has
    (:mod:`.rolled_loops`).
    """
    found = []
    taken = set(taken)
    counts = counts or {}
    functional = style is Style.FUNCTIONAL
    containers = member_containers(owner) | {
        path: members_kept(graph, path) for path in counts
    }
    for unrolled in find_member_loops(graph, containers, True, functional):
        if taken & unrolled.nodes():
            continue
        if functional and not _one_function_per_place(unrolled, callees, leaves):
            continue
        loop = _as_member_loop(graph, unrolled, plan, style)
        if loop is None:
            continue
        if unrolled.start and str(unrolled.members) in counts:
            continue  # a cut loop's count stands for all its members
        if functional:
            keywords = _loop_keywords(unrolled, plan, loop, reserved)
            if keywords is None or keywords and str(unrolled.members) in counts:
                continue  # a cut loop's steps are one: its two copies stand for all
            flags = _loop_flags(unrolled, plan, loop, callees, reserved, keywords)
            if flags is None:
                continue
            loop = replace(loop, keywords=keywords, flags=flags)
        found.append(replace(loop, count_keyword=counts.get(str(unrolled.members))))
        taken |= unrolled.nodes()
    return found


def _loop_keywords(
    unrolled: Unrolled, plan: StatementPlan, loop: DataLoop, reserved: frozenset[str]
) -> tuple[LoopKeyword, ...] | None:
    """The keywords each step's calls pass other literals in, each with a free variable.

    Named as the user's call passes it (NesT's ``rearrange(x, ...,
    b1=block_size, b2=block_size)``: one variable, ``block_size``, for
    every keyword the source passes it to and that takes the same values),
    else after the keyword. ``None`` where a call some steps lack passes
    other literals in the others (it has no value to pass in the steps
    without it), or where the printer writes the call otherwise than as a
    plain call with its keywords (:func:`.expressions.takes_loop_keywords`).
    """
    taken = set(plan.names.values()) | set(loop.names.values()) | RESERVED | reserved
    taken.add(loop.element)
    optional = dict(unrolled.optional)
    found = []
    shared: dict[tuple[str, str], str] = {}  # (wanted name, values) -> variable
    for position, first in enumerate(unrolled.body):
        if first.op not in ("call_module", "call_function"):
            continue
        calls = [copy[position] for copy in unrolled.copies if copy[position]]
        # a value each step makes is its own node: the same, printed by its name
        varying = {
            keyword: values
            for keyword, values in varying_keywords(calls).items()
            if all(map(is_loop_literal, values))
        }
        if varying and (position in optional or not takes_loop_keywords(first)):
            return None
        for keyword, values in varying.items():
            wanted = keyword_variable(first, keyword) or keyword
            variable = shared.get((wanted, repr(values)))
            if variable is None:
                variable = first_free(wanted, taken, "_")
                taken.add(variable)
                shared[(wanted, repr(values))] = variable
            found.append(LoopKeyword(position, keyword, variable, tuple(values)))
    return tuple(found)


def _loop_flags(
    unrolled: Unrolled,
    plan: StatementPlan,
    loop: DataLoop,
    callees: dict[str, tuple[str, bool]],
    reserved: frozenset[str],
    keywords: tuple[LoopKeyword, ...],
) -> tuple[LoopFlag, ...] | None:
    """A flag per member call only some steps make (``has_peg``), or ``None``
    where one cannot print so.

    The call must be a statement of its own (``x = peg(x)``) that assigns
    the variable holding what it is given: skipped, that variable still
    holds what the steps without it read in its place. Calls of one member
    share its flag, named as the user names it (:func:`.source_loops.flag_variable`),
    else after the call's function.
    """
    position = {node: p for p, node in enumerate(unrolled.body)}

    def variable(node: object) -> str | None:
        if node in position and position[node] in loop.names:
            return loop.names[position[node]]
        return plan.names.get(node)

    taken = set(plan.names.values()) | set(loop.names.values()) | RESERVED | reserved
    taken |= {loop.element} | {k.variable for k in keywords}
    found: dict[str, LoopFlag] = {}
    for place, runs in unrolled.optional:
        call = unrolled.body[place]
        target = str(call.target)
        if call in plan.inlined or variable(call) is None:
            return None
        if variable(call) != variable(call.args[0]) or target not in callees:
            return None
        if target not in found:
            wanted = flag_variable(call, str(unrolled.members))
            name = first_free(wanted or f"has_{callees[target][0]}", taken, "_")
            taken.add(name)
            found[target] = LoopFlag(target, name, runs)
    return tuple(found.values())


def _one_function_per_place(
    unrolled: Unrolled, callees: dict[str, tuple[str, bool]], leaves: dict[str, object]
) -> bool:
    """Functional style: every copy calls, at each place, the function copy 0 calls
    (or, a call some steps lack, nothing)."""
    optional = dict(unrolled.optional)
    for position, first in enumerate(unrolled.body):
        if first.op != "call_module":
            continue
        for number, copy in enumerate(unrolled.copies):
            if position in optional and not optional[position][number]:
                continue
            target = str(copy[position].target) if copy[position] is not None else None
            if target is None or target in leaves:
                return False
            if callees.get(target) != callees.get(str(first.target)):
                return False
    return True


def _as_member_loop(
    graph: fx.Graph, unrolled: Unrolled, plan: StatementPlan, style: Style
) -> DataLoop | None:
    """``unrolled`` (over members) with its variables, or ``None`` when it cannot print.

    Its variable is the container's singular in class styles (``for layer in
    self.layers:``), an index in functional style (``for i in
    range(2):``). Class styles take the user's names where the source's
    ``for`` names the member or unpacks its items (``for attn, ff in
    self.layers:``, :func:`_unpacked`); a functional file iterates over
    indices, so such names do not come back from one.
    """
    body = unrolled.body
    everything = unrolled.nodes()
    if any(
        plan.guards.get(n) or n in plan.branch_ends or n in plan.optional
        for n in everything
    ):
        return None
    # a member's tensor read before the loop prints where it is read, in the
    # loop, through the loop's variable: never as a statement of its own
    outside = {
        a
        for n in body
        for a in n.all_input_nodes
        if a.op == "get_attr" and a not in everything
    }
    if any(a not in plan.inlined for a in outside if _reads_a_member(a, unrolled)):
        return None
    if len(unrolled.copies) == 1:
        unrolled = replace(unrolled, carried=_carried_by_name(unrolled, plan))
    names = _position_names(unrolled, plan)
    if names is None:
        return None
    stem = "i" if style is Style.FUNCTIONAL else _member_name(unrolled)
    taken = set(plan.names.values()) | set(names.values()) | RESERVED
    element = first_free(stem, taken, "_")
    lists = _list_names(unrolled, names, None, plan, element)
    printed = _printed_statements(unrolled, plan)
    if printed is None:
        return None
    statements, grows_after = printed
    # a block's call, or the first node of a plain layer's functional call
    calls = _member_calls(unrolled) or [n for n in unrolled.body if n is not None]
    loop = DataLoop(
        unrolled,
        element,
        names,
        lists,
        "append",
        False,
        statements,
        grows_after,
        # the comments above the user's ``for`` stand above it, not in its body
        head_line=member_loop_line(calls[0], unrolled.members) if calls else None,
    )
    renamed = binds_safely(loop, plan, list(graph.nodes))
    if renamed is None:
        return None
    unpacked = () if style is Style.FUNCTIONAL else _unpacked(unrolled, taken)
    return replace(loop, renamed=renamed, unpacked=unpacked)


def _carried_by_name(unrolled: Unrolled, plan: StatementPlan) -> dict[int, fx.Node]:
    """A loop of one step: each value from before that its body reads under a
    name the body assigns, carried to the body's last value of that name.

    With two steps the trace shows ``x`` handed from one to the next; with
    one (a container of one member,
    :func:`~nnconvert.passes.unrolled.find_member_loops`) only the names
    do: ``x = attn(x) + x`` reads the ``x`` from before and leaves its own.
    :func:`.loop_bindings.binds_safely` then checks every read, as for any loop.
    """
    body = unrolled.body
    inside = set(body)
    last = {plan.names[n]: p for p, n in enumerate(body) if n in plan.names}
    carried: dict[int, fx.Node] = {}
    for node in body:
        for read in node.all_input_nodes if node is not None else ():
            name = plan.names.get(read)
            if read not in inside and name in last:
                carried.setdefault(last[name], read)
    return carried


def _unpacked(unrolled: Unrolled, taken: set[str]) -> tuple[str, ...]:
    """The user's names for each member's items, where the loop can print with them.

    vit-pytorch's ``for attn, ff in self.layers:`` prints so, not as
    ``layer[0](x)``. The source ran, so every member has as many items as
    names; the body must reach the member only through its items, and the
    names must be free (fresh names: they hide no value the loop or the
    code after it reads). Else ``()``: the member's variable.
    """
    container = unrolled.members or ""
    calls = _member_calls(unrolled)
    names = member_variables(calls[0], container) if calls else None
    if not names or len(set(names)) != len(names) or set(names) & taken:
        return ()
    first = f"{container}.0"
    for node in unrolled.body:
        if node is None or node.op not in ("call_module", "get_attr"):
            continue
        target = str(node.target)
        if target == first:
            return ()  # the member itself, called whole
        if target.startswith(f"{first}."):
            item = target[len(first) + 1 :].split(".")[0]
            if not (item.isdigit() and int(item) < len(names)):
                return ()
    return names


def _member_calls(unrolled: Unrolled) -> list[fx.Node]:
    """The body's calls of the container's members (copy 0's)."""
    container = unrolled.members or ""
    return [
        n
        for n in unrolled.body
        if n is not None
        and n.op == "call_module"
        and str(n.target).startswith(f"{container}.")
    ]


def _position_names(unrolled: Unrolled, plan: StatementPlan) -> dict[int, str] | None:
    """Each body position's variable; a carried one takes its initial value's.

    None when a carried value or its initial value has no variable of its own.
    """
    body, carried = unrolled.body, unrolled.carried
    if any(
        plan.names.get(carried[p]) is None or plan.names.get(body[p]) is None
        for p in carried
    ):
        return None
    names = {p: plan.names[n] for p, n in enumerate(body) if n in plan.names}
    for position, initial in carried.items():
        names[position] = plan.names[initial]
    return names


def _printed_statements(
    unrolled: Unrolled, plan: StatementPlan
) -> tuple[tuple[fx.Node, ...], dict[Collected, fx.Node]] | None:
    """The body's statements, and the one after which each list grows; None if none."""
    body = unrolled.body
    unpacked = plan.unpacked_elements()
    statements = tuple(n for n in body if n not in plan.inlined and n not in unpacked)
    grows_after = {
        c: _assigning_statement(body[c.position], plan) for c in unrolled.collected
    }
    if not statements or None in grows_after.values():
        return None
    return statements, grows_after


def _reads_a_member(node: fx.Node, unrolled: Unrolled) -> bool:
    return str(node.target).startswith(f"{unrolled.members}.")


def _as_data_loop(
    graph: fx.Graph,
    unrolled: Unrolled,
    plan: StatementPlan,
    opened: dict[tuple[fx.Node, ...], str],
) -> DataLoop | None:
    """``unrolled`` with its variables, or ``None`` when it cannot print as a loop.

    ``opened``: the lists earlier loops made, by their variables.
    """
    body = unrolled.body
    everything = unrolled.nodes()
    # ``for i in range(future):``, ``for k in range(self.block_size):``
    counted = unrolled.counter is not None or unrolled.times is not None
    # the length guard goes with the loop, under whichever answers it was made
    # (train and eval traces each ask the length)
    steps = (everything - set(unrolled.length_guard)) | {unrolled.sequence} - {None}
    if any(
        plan.guards.get(n) or n in plan.branch_ends or n in plan.optional for n in steps
    ):
        return None  # a loop inside an ``if`` of a merged trace: left as it is
    names = _position_names(unrolled, plan)
    if names is None:
        return None
    count, source = count_and_source(unrolled)
    if source is None and (counted or statement_line(unrolled.elements[0]) is not None):
        return None  # steps the user wrote out (``a, b = f(a), f(b)``): kept so
    if source is not None and source.counted:
        return None
    element = source.element if source else None
    if element is None and unrolled.stepped is None and not counted:
        element = plan.names.get(unrolled.elements[0])
    if element is None:
        stem = "item" if unrolled.stepped is None and not counted else "i"
        element = first_free(stem, set(plan.names.values()) | RESERVED, "_")
    lists = _list_names(unrolled, names, source, plan, element, opened)
    if element in {names[p] for p in unrolled.carried}:
        return None
    printed = _printed_statements(unrolled, plan)
    if printed is None:
        return None
    statements, grows_after = printed
    order = [n for n in graph.nodes]
    start = order.index(body[0])
    between = (
        [
            n
            for n in order[order.index(unrolled.sequence) + 1 : start]
            if n not in plan.inlined
            and n not in everything
            and n not in count
            and not is_only_when(n)  # a mark, printed as nothing
        ]
        if not counted
        else []
    )
    in_header = not between and unrolled.stepped is None and not counted
    if not in_header and unrolled.stepped is None and not counted:
        # ``for x_t in pieces:``
        held = plan.names.get(unrolled.sequence)
        assigned = {plan.names[t] for n in between for t in assigned_by(n, plan)}
        if held is None or held in assigned:
            return None
    loop = DataLoop(
        unrolled,
        element,
        names,
        lists,
        source.appends if source else "append",
        in_header,
        statements,
        grows_after,
        count=count,
        continued=frozenset(opened[c.whole] for c in lists if c.whole in opened),
        head_line=source.line if source and unrolled.times is not None else None,
    )
    renamed = binds_safely(loop, plan, order)
    if renamed is None:
        return None
    return replace(loop, renamed=renamed)


def _list_names(
    unrolled: Unrolled,
    names: dict[int, str],
    source: SourceLoop | None,
    plan: StatementPlan,
    element: str,
    opened: dict[tuple[fx.Node, ...], str] | None = None,
) -> dict[Collected, str]:
    """A variable per collected list: the source's, else the value's plural (``outputs``).

    The source's list is the one it appends the value to, or the only list
    the source's loop grows where the trace collects one.

    A list an earlier loop made (``opened``) keeps that loop's variable.

    The source's list of an expression (``outputs += [self.out(h)]``) is the
    one collected list; its value, named by no one, is named after it
    (``output``), in ``names``.
    """
    found: dict[Collected, str] = {}
    lists = source.lists if source else {}
    for collected in unrolled.collected:
        if opened and collected.whole in opened:
            found[collected] = opened[collected.whole]
            continue
        value = names.get(collected.position, "output")
        name = lists.get(value)
        unnamed = user_name(unrolled.body[collected.position]) is None
        if name is None and unnamed and len(unrolled.collected) == 1 and None in lists:
            name = lists[None]
            singular = name[:-1] if len(name) > 1 and name.endswith("s") else "item"
            taken = set(plan.names.values()) | set(names.values()) | {element}
            value = names[collected.position] = first_free(singular, taken | RESERVED)
        if name is None and len(unrolled.collected) == 1 and len(lists) == 1:
            # the one list the source grows, whatever the value it appends
            # is printed as (makemore's ``hiddens.append(ht)`` after
            # ``hprev = ht``: the value is ``hprev``, the list ``hiddens``)
            name = next(iter(lists.values()))
        name = name or f"{value}s"
        taken = {*names.values(), element} | set(found.values()) | RESERVED
        # the reader may rebind the list's own name (``outputs = torch.cat(outputs)``)
        taken |= {v for n, v in plan.names.items() if n is not collected.reader}
        found[collected] = first_free(name, taken, "_")
    return found


def _assigning_statement(node: fx.Node, plan: StatementPlan) -> fx.Node | None:
    """The statement that assigns ``node``'s variable: itself, or the tuple it is unpacked from."""
    if node in plan.inlined:
        return None
    for statement, targets in plan.unpacks.items():
        if node in targets:
            return statement
    return node if node in plan.names else None


def _member_name(unrolled: Unrolled) -> str:
    """The loop variable over a container's members: the user's (``enc_layer``), else ``layer``.

    The user's where the source's ``for`` around the first copy's member
    call names it (:func:`.source_loops.member_variable`).
    """
    container = unrolled.members or ""
    calls = _member_calls(unrolled)
    written = member_variable(calls[0], container) if calls else None
    return written or singular(container)
