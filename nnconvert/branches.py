"""Branches in a graph: where two traces of one module join, and what each node needs.

An fx graph is straight-line code. A module that decides in Python what runs
(``if self.training:``, ``if targets is not None:``) is traced once per
answer (:mod:`nnconvert.merge`), and the traces are joined into one graph
whose differences meet in :func:`choose` nodes: ``choose(condition, a, b)``
is ``a`` where the condition holds and ``b`` where it does not. The nodes
that only one side of a ``choose`` reads belong to that side; :func:`guards`
finds, for every node, the conditions under which it runs, so that the
printer writes those nodes inside the ``if``/``else`` the user wrote.
"""

from __future__ import annotations

import operator
from typing import Any

from torch import fx

#: A conjunction of conditions, outermost first: ``((training, True), (mask, False))``.
Guard = tuple[tuple[fx.Node, bool], ...]


def choose(condition: Any, if_true: Any, if_false: Any) -> Any:
    """``if_true if condition else if_false``: the value where two branches join.

    A graph calls it with both sides already computed; the printer never
    does: it writes each side inside its branch (see :func:`guards`).
    """
    return if_true if condition else if_false


def expect_none(value: Any, message: str) -> None:
    """Refuse a value for an input the model was traced without (``targets=None``).

    The trace of a model given ``targets=None`` knows nothing of what
    ``forward`` does with a target; the output says so where it is called
    with one, instead of ignoring it.
    """
    if value is not None:
        raise ValueError(message)


def only_when(condition: Any, answer: bool, effect: Any) -> None:
    """Marks a side effect that runs under one answer only (``if self.training:
    self.steps.add_(1)``), which no other node reads.

    Impure, so dead-code removal keeps it and, through it, the condition and
    the effect; the printer writes nothing for it, and the effect inside the
    ``if``.
    """


def submodule_given(path: str) -> bool:
    """Whether the block was built with its optional submodule ``path``.

    The condition of a merged block class whose instances differ by a
    submodule and by the value they use without it (``shortcut =
    self.shortcut(out) if hasattr(self, "shortcut") else x``): a ``choose``
    between the call and that value branches on it. Only the printer reads
    it, as ``self.shortcut is not None`` in class styles and as the
    function's ``has_shortcut`` keyword in functional style; a graph holding
    it is printed, never run.
    """
    raise TypeError(f"submodule_given({path!r}) is printed, never run")


def setting(**value: Any) -> Any:
    """A block's plain attribute as its function's keyword reads it: ``stride``.

    The condition of a block function whose two paths a test of an
    attribute picks (``if stride == 1:``; :mod:`nnconvert.printer.tested_paths`).
    Its one keyword, named after the attribute, holds a literal that
    becomes the function's keyword; only the printer reads it, as that
    keyword's name. A graph holding it is printed, never run.
    """
    raise TypeError(f"setting({value!r}) is printed, never run")


#: What a shape guard says when it refuses an input.
SHAPE_GUARD_MESSAGE = (
    "input shape differs from the traced one; convert again with this shape"
)


def expect(condition: Any, message: str) -> None:
    """A decision the tracer answered from the example's shapes must hold again.

    ``if x.shape[-1] > 8:`` traced at 16x16 keeps only the pooling branch;
    the output checks the answer (``if x.shape[-1] <= 8: raise
    ValueError(...)``) instead of computing something else for an 8x8 input.
    """
    if not condition:
        raise ValueError(message)


def is_expect(node: Any) -> bool:
    return (
        isinstance(node, fx.Node)
        and node.op == "call_function"
        and node.target is expect
    )


def is_check(node: Any) -> bool:
    """An :func:`expect` or :func:`expect_none`: it raises, or does nothing."""
    return (
        isinstance(node, fx.Node)
        and node.op == "call_function"
        and (node.target is expect or node.target is expect_none)
    )


def guarded_equality(node: Any) -> fx.Node | None:
    """The comparison ``value == n`` (``n`` an int) that the guard ``node`` checks.

    Such a guard is where the tracer asked how often to loop: a sequence's
    length, or a plain int argument a ``range`` counted to.
    """
    if not is_expect(node):
        return None
    comparison = node.args[0]
    if (
        isinstance(comparison, fx.Node)
        and comparison.op == "call_function"
        and comparison.target is operator.eq
        and isinstance(comparison.args[0], fx.Node)
        and type(comparison.args[1]) is int
    ):
        return comparison
    return None


def is_submodule_given(node: Any) -> bool:
    return (
        isinstance(node, fx.Node)
        and node.op == "call_function"
        and node.target is submodule_given
    )


def is_choose(node: Any) -> bool:
    return (
        isinstance(node, fx.Node)
        and node.op == "call_function"
        and node.target is choose
    )


def is_only_when(node: Any) -> bool:
    return (
        isinstance(node, fx.Node)
        and node.op == "call_function"
        and node.target is only_when
    )


def tested_input(condition: Any) -> fx.Node | None:
    """The value ``condition`` asks about when it is ``value is not None`` (``mask``)."""
    if (
        isinstance(condition, fx.Node)
        and condition.op == "call_function"
        and condition.target is operator.is_not
        and condition.args[1:] == (None,)
        and isinstance(condition.args[0], fx.Node)
    ):
        return condition.args[0]
    return None


def is_condition(node: fx.Node) -> bool:
    """A node some ``choose`` (or ``only_when``) branches on."""
    return any(
        (is_choose(user) or is_only_when(user)) and user.args[0] is node
        for user in node.users
    )


def guards(graph: fx.Graph) -> dict[fx.Node, Guard]:
    """The conditions under which each node runs (``()``: always).

    Found from the users, last node first: a node runs where any of its users
    runs, and a ``choose`` runs its sides only under its condition. A node
    read under both answers of a condition runs before the branch, so the
    guard of a node read in several places is the conditions their guards
    share.
    A side effect nothing reads is marked by :func:`only_when`.
    """
    found: dict[fx.Node, Guard] = {}
    for node in reversed(graph.nodes):
        needs: list[Guard] = []
        for user in node.users:
            guard = found.get(user, ())
            if is_only_when(user) and user.args[2] is node:
                guard = guard + ((user.args[0], user.args[1]),)
            elif is_choose(user) and user.args[0] is not node:
                sides = [
                    polarity
                    for polarity, side in ((True, user.args[1]), (False, user.args[2]))
                    if _reads(side, node)
                ]
                if len(sides) == 1:
                    guard = guard + ((user.args[0], sides[0]),)
            needs.append(guard)
        found[node] = _shared_conditions(needs) if needs else ()
    return found


def _reads(value: Any, node: fx.Node) -> bool:
    hits: list[fx.Node] = []
    fx.node.map_arg(value, lambda n: hits.append(n) if n is node else None)
    return bool(hits)


def _shared_conditions(guards_: list[Guard]) -> Guard:
    """The conditions every guard has: a node read under ``a and m`` and under
    ``not a and m`` runs under ``m``.

    Running a node under fewer conditions than each of its readers only runs
    it where it may be unused (its inputs' guards are weaker still), never
    where it is needed and missing. Kept in the first guard's order.
    """
    shared = guards_[0]
    for guard in guards_[1:]:
        literals = {(id(condition), answer) for condition, answer in guard}
        shared = tuple((c, a) for c, a in shared if (id(c), a) in literals)
    return shared


#: Each comparison and the one that holds exactly when it does not.
OPPOSITES = {
    operator.is_not: operator.is_,
    operator.is_: operator.is_not,
    operator.eq: operator.ne,
    operator.ne: operator.eq,
    operator.lt: operator.ge,
    operator.ge: operator.lt,
    operator.gt: operator.le,
    operator.le: operator.gt,
}


def negated(condition: fx.Node) -> tuple[Any, tuple[Any, ...]] | None:
    """The comparison that says the opposite of ``condition``, if there is one.

    ``mask is not None`` negated is ``mask is None``: the printer writes
    ``if mask is None:`` rather than ``if not mask is not None:``. (Shapes
    and flags are integers and booleans: ``not a > b`` is ``a <= b``.)
    """
    if condition.op == "call_function" and condition.target in OPPOSITES:
        return OPPOSITES[condition.target], tuple(condition.args)
    return None
