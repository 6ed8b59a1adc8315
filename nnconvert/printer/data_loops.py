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

Names come from the source where it can be read (the ``for`` line's
target, the list's name and how it grows), otherwise from the plan. The
printed variables are then played through once (:func:`_binds_safely`): a
loop whose variables would hide a value something still reads stays
unrolled, as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from torch import fx

from ..branches import is_only_when
from ..naming import first_free
from ..passes.unrolled import Collected, Unrolled, find_unrolled
from ..source_map import statement_line, user_name
from .expressions import ExpressionPrinter
from .names import RESERVED
from .source_loops import SourceLoop, count_and_source
from .statements import StatementPlan, variables_read

#: prints one statement node of the body (:func:`nnconvert.printer.body._statement`)
StatementPrinter = Callable[[fx.Node], list[str]]


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
        if self.unrolled.stepped is None:
            for element in self.unrolled.elements:
                printer.names[element] = self.element
        else:  # ``x[:, t]``
            printer.stepped[self.unrolled.elements[0]] = (
                self.unrolled.stepped,
                self.element,
            )
        for collected, name in self.lists.items():
            printer.lists[collected.items] = name
        printer.names.update(self.renamed)

    @property
    def head(self) -> fx.Node | None:
        """The node made on the ``for`` line that the loop prints in its head.

        The user's comments above that line stand above the loop.
        """
        if self.sequence_in_header:
            return self.unrolled.sequence
        return self.count[-1] if self.count else None

    def lines(
        self,
        printer: ExpressionPrinter,
        statement: StatementPrinter,
        comments: StatementPrinter = lambda node: [],
    ) -> list[str]:
        """``outputs = []``, ``for input_t in ...:`` and the body once.

        ``statement`` prints a statement of the body (with the comments on
        it); ``comments`` says the comments above the :attr:`head`'s line.
        """
        lines = [f"{name} = []" for name in self.lists.values()]
        lines += comments(self.head) if self.head is not None else []
        lines.append(f"for {self.element} in {self._iterated(printer)}:")
        body = self.unrolled.body
        for node in self.statements:
            lines += ["    " + line for line in statement(node)]
            for collected, name in self.lists.items():
                if self.grows_after[collected] is node:
                    value = printer.argument(body[collected.position])
                    grow = (
                        f"{name}.append({value})"
                        if self.appends == "append"
                        else f"{name} += [{value}]"
                    )
                    lines.append("    " + grow)
        return lines

    def _iterated(self, printer: ExpressionPrinter) -> str:
        """``input.split(1, dim=1)``, ``range(x.size(1))``: what the ``for`` runs over."""
        sequence = self.unrolled.sequence
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
    """The unrolled loops of ``graph`` that print as loops under ``plan``'s names."""
    found = []
    taken: set[fx.Node] = set()
    for unrolled in find_unrolled(graph):
        if taken & unrolled.nodes():
            continue
        loop = _as_data_loop(graph, unrolled, plan)
        if loop is not None:
            found.append(loop)
            taken |= unrolled.nodes()
    return found


def _as_data_loop(
    graph: fx.Graph, unrolled: Unrolled, plan: StatementPlan
) -> DataLoop | None:
    """``unrolled`` with its variables, or ``None`` when it cannot print as a loop."""
    body = unrolled.body
    everything = unrolled.nodes()
    # the length guard goes with the loop, under whichever answers it was made
    # (train and eval traces each ask the length)
    steps = (everything - set(unrolled.length_guard)) | {unrolled.sequence}
    if any(
        plan.guards.get(n) or n in plan.branch_ends or n in plan.optional for n in steps
    ):
        return None  # a loop inside an ``if`` of a merged trace: left as it is
    if any(plan.names.get(unrolled.carried[p]) is None for p in unrolled.carried):
        return None
    if any(plan.names.get(body[p]) is None for p in unrolled.carried):
        return None
    names = {p: plan.names[n] for p, n in enumerate(body) if n in plan.names}
    for position, initial in unrolled.carried.items():
        names[position] = plan.names[initial]
    count, source = count_and_source(unrolled)
    if source is None and statement_line(unrolled.elements[0]) is not None:
        return None  # steps the user wrote out (``a, b = f(a), f(b)``): kept so
    if source is not None and source.counted:
        return None
    element = source.element if source else None
    if element is None and unrolled.stepped is None:
        element = plan.names.get(unrolled.elements[0])
    if element is None:
        stem = "item" if unrolled.stepped is None else "i"
        element = first_free(stem, set(plan.names.values()) | RESERVED, "_")
    lists = _list_names(unrolled, names, source, plan, element)
    if element in {names[p] for p in unrolled.carried}:
        return None
    statements = tuple(
        n for n in body if n not in plan.inlined and n not in plan.unpacked_elements()
    )
    grows_after = {
        c: _assigning_statement(body[c.position], plan) for c in unrolled.collected
    }
    if not statements or None in grows_after.values():
        return None
    order = [n for n in graph.nodes]
    start = order.index(body[0])
    between = [
        n
        for n in order[order.index(unrolled.sequence) + 1 : start]
        if n not in plan.inlined
        and n not in everything
        and n not in count
        and not is_only_when(n)  # a mark, printed as nothing
    ]
    in_header = not between and unrolled.stepped is None
    if not in_header and unrolled.stepped is None:  # ``for x_t in pieces:``
        held = plan.names.get(unrolled.sequence)
        assigned = {plan.names[t] for n in between for t in _assigned(n, plan)}
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
    )
    renamed = _binds_safely(loop, plan, order)
    if renamed is None:
        return None
    return replace(loop, renamed=renamed)


def _list_names(
    unrolled: Unrolled,
    names: dict[int, str],
    source: SourceLoop | None,
    plan: StatementPlan,
    element: str,
) -> dict[Collected, str]:
    """A variable per collected list: the source's, else the value's plural (``outputs``).

    The source's list of an expression (``outputs += [self.out(h)]``) is the
    one collected list; its value, named by no one, is named after it
    (``output``), in ``names``.
    """
    found: dict[Collected, str] = {}
    lists = source.lists if source else {}
    for collected in unrolled.collected:
        value = names.get(collected.position, "output")
        name = lists.get(value)
        unnamed = user_name(unrolled.body[collected.position]) is None
        if name is None and unnamed and len(unrolled.collected) == 1 and None in lists:
            name = lists[None]
            singular = name[:-1] if len(name) > 1 and name.endswith("s") else "item"
            taken = set(plan.names.values()) | set(names.values()) | {element}
            value = names[collected.position] = first_free(singular, taken | RESERVED)
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


def _binds_safely(
    loop: DataLoop, plan: StatementPlan, order: list[fx.Node]
) -> dict[fx.Node, str] | None:
    """Every read of the printed program finds the value it wants in its variable.

    Played through once: the loop's body (a read of a carried value finds the
    previous step's, which the body must leave in the variable its initial
    value had), then every statement after the loop (a value of the last step,
    or a list, is read from the loop's variables). A value from before the
    loop must not be read from a variable the loop assigns. Returns the new
    names of statements after the loop (:func:`_after_the_loop`), ``None``
    when the loop cannot keep every value.
    """
    unrolled = loop.unrolled
    body = unrolled.body
    position = {n: p for p, n in enumerate(body)}
    carried = {n: p for p, n in unrolled.carried.items()}
    names = dict(plan.names)
    for copy in unrolled.copies:
        for p, node in enumerate(copy):
            if node is not None and p in loop.names:
                names[node] = loop.names[p]
    first_element = unrolled.elements[0]
    stepped = unrolled.stepped is not None
    if not stepped:
        for element in unrolled.elements:
            names[element] = loop.element
    # variable -> what it holds: a node, ("carried", p) at a step's start
    held: dict[str, object] = {loop.element: ("step",) if stepped else first_element}
    for node, p in carried.items():
        held[names[node]] = ("carried", p)
    assigned = {loop.element, *loop.lists.values()}  # by the loop, at any step
    for statement in loop.statements:
        assigned.update(names[t] for t in _assigned(statement, plan))

    def wanted(node: fx.Node) -> object:
        if node in carried:
            return ("carried", carried[node])
        return node

    for statement in loop.statements:
        if stepped and _reads_through(statement, first_element, plan):
            if held.get(loop.element) != ("step",):
                return None  # ``x[:, t]`` after ``t`` was assigned
        for read in variables_read(statement, plan.inlined):
            name = names.get(read)
            if name is None:
                return None
            if read in position or read is first_element or read in carried:
                if held.get(name) != wanted(read):
                    return None
            elif name in assigned or name in held:
                return None  # a value from before, hidden by the loop
        for target in _assigned(statement, plan):
            held[names[target]] = target
    for node, p in carried.items():
        if held.get(names[node]) is not body[p]:
            return None
    return _after_the_loop(loop, plan, order, names, held)


def _after_the_loop(
    loop: DataLoop,
    plan: StatementPlan,
    order: list[fx.Node],
    names: dict[fx.Node, str],
    held: dict[str, object],
) -> dict[fx.Node, str] | None:
    """The statements after the loop, played on from ``held``: new names where needed.

    A value of the last step is read from the loop's variable, which the
    unrolled text had not reserved for it: a statement after the loop that
    would overwrite it while it is still to be read gets a name of its own
    (``h_2 = torch.stack(states, dim=1)`` before ``h * 2``).
    """
    unrolled = loop.unrolled
    body = unrolled.body
    last = {n: body[p] for p, n in enumerate(unrolled.copies[-1]) if n is not None}
    listed = {item for c in unrolled.collected for item in c.items}
    for name in loop.lists.values():
        held[name] = ("list", name)
    end = max(order.index(n) for n in unrolled.copies[-1] if n is not None)
    statements = [
        s
        for s in order[end + 1 :]
        if s not in plan.inlined and s not in plan.unpacked_elements()
    ]

    def reads(statement: fx.Node) -> list[tuple[fx.Node | None, object]]:
        """(node read, the value its variable must hold) of one statement."""
        found: list[tuple[fx.Node | None, object]] = [
            (None, ("list", name))
            for collected, name in loop.lists.items()
            if statement is collected.reader
        ]
        for read in variables_read(statement, plan.inlined):
            if read in listed and any(
                c.reader is statement for c in unrolled.collected
            ):
                continue
            found.append((read, last.get(read, read)))
        return found

    pending = [reads(s) for s in statements]
    renamed: dict[fx.Node, str] = {}
    for index, statement in enumerate(statements):
        for read, value in pending[index]:
            if read is not None and read in unrolled.nodes() and read not in last:
                return None
            name = value[1] if read is None else names.get(read)
            if name is None:
                return None
            if name in held and held[name] != value:
                return None
        later = [value for rest in pending[index + 1 :] for _, value in rest]
        for target in _assigned(statement, plan):
            name = names[target]
            if name in held and any(held[name] == v for v in later):
                taken = set(names.values()) | set(held) | RESERVED
                name = first_free(name, taken, "_")
                names[target] = renamed[target] = name
            held[name] = target
    return renamed


def _reads_through(statement: fx.Node, node: fx.Node, plan: StatementPlan) -> bool:
    """``statement`` is ``node`` or prints it inline."""
    if statement is node:
        return True
    return any(
        _reads_through(n, node, plan)
        for n in statement.all_input_nodes
        if n in plan.inlined
    )


def _assigned(statement: fx.Node, plan: StatementPlan) -> list[fx.Node]:
    """The nodes whose variables ``statement`` assigns (an unpacked tuple: its elements)."""
    if statement in plan.unpacks:
        return [t for t in plan.unpacks[statement] if t is not None]
    return [statement] if statement in plan.names else []
