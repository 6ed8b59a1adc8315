"""Whether an unrolled loop, printed under its variables, still computes the same.

A loop over data (:mod:`.data_loops`) reuses one body's variables for every
step, and the last step's for what follows the loop. Before it is printed,
its statements are played through once, variable by variable: each read
must find the value it wants (the step's own, the previous step's carried
value, a value from before the loop that no step overwrote); a statement
after the loop that would overwrite a value still to be read gets a name
of its own. A loop that cannot keep every value stays unrolled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import fx

from ..naming import first_free
from .names import RESERVED
from .statements import StatementPlan, variables_read

if TYPE_CHECKING:
    from .data_loops import DataLoop


def binds_safely(
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
    # a loop over members has no element node: its variable holds the member
    first_element = unrolled.elements[0] if unrolled.elements else None
    stepped = unrolled.stepped is not None
    # the indexings by the step: ``x[:, t]`` (and ``C[:, t, :]``)
    step_reads = [first_element, *(run[0] for run, _ in unrolled.also_stepped)]
    if not stepped:
        for element in unrolled.elements:
            names[element] = loop.element
    # variable -> what it holds: a node, ("carried", p) at a step's start
    held: dict[str, object] = {
        loop.element: ("step",) if stepped or first_element is None else first_element
    }
    for node, p in carried.items():
        held[names[node]] = ("carried", p)
    assigned = {loop.element, *loop.lists.values()}  # by the loop, at any step
    for statement in loop.statements:
        assigned.update(names[t] for t in assigned_by(statement, plan))

    def wanted(node: fx.Node) -> object:
        if node in carried:
            return ("carried", carried[node])
        return node

    for statement in loop.statements:
        if stepped and any(_reads_through(statement, f, plan) for f in step_reads):
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
        for target in assigned_by(statement, plan):
            held[names[target]] = target
    for node, p in carried.items():
        if held.get(names[node]) is not body[p]:
            return None
    for p, runs in reversed(unrolled.optional):
        name = names.get(body[p])
        if name is None:
            return None  # a call some steps lack, inside an expression: no ``if`` fits
        # a call the last step lacks, and the last to assign its variable: the
        # variable keeps what the call would have been given
        if not runs[-1] and held.get(name) is body[p]:
            held[name] = body[p].args[0]
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
    listed = {item for c in unrolled.collected for item in c.whole}
    for name in loop.lists.values():
        held[name] = ("list", name)
    position = {n: i for i, n in enumerate(order)}
    end = max(position[n] for n in unrolled.copies[-1] if n is not None)
    unpacked = plan.unpacked_elements()
    statements = [
        s for s in order[end + 1 :] if s not in plan.inlined and s not in unpacked
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
    in_the_loop = unrolled.nodes()
    for index, statement in enumerate(statements):
        for read, value in pending[index]:
            if read is not None and read in in_the_loop and read not in last:
                return None
            name = value[1] if read is None else names.get(read)
            if name is None:
                return None
            if name in held and held[name] != value:
                return None
        for target in assigned_by(statement, plan):
            name = names[target]
            if name in held and any(
                held[name] == v for rest in pending[index + 1 :] for _, v in rest
            ):
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


def assigned_by(statement: fx.Node, plan: StatementPlan) -> list[fx.Node]:
    """The nodes whose variables ``statement`` assigns (an unpacked tuple: its elements)."""
    if statement in plan.unpacks:
        return [t for t in plan.unpacks[statement] if t is not None]
    return [statement] if statement in plan.names else []
