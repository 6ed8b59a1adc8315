"""A value the source keeps under a second name before it rebinds the first.

ConvNeXt's block writes::

    shortcut = x
    x = self.dwconv(x)
    ...
    return shortcut + self.drop_path(x)

attention-is-all-you-need's ``residual = q`` before ``q = self.w_qs(q)...``,
PointNet's ``pointfeat = x`` before ``x = F.relu(self.bn2(self.conv2(x)))``.
The trace holds one value for both names, so a body named from it alone
keeps the first name for the old value, which is read at the end, and the
new values take a stem: ``out = F.conv2d(x, ...)`` ... ``return x +
drop_path(out)``. Where the source's own function bound the value to a
second name (:data:`~nnconvert.source_map.ALL_NAMES`), the graph gets that
binding back (:func:`with_second_names`): a :func:`same_value` node named
after it, just after the value (after the inputs, for an input), which the
value's readers after the user's rebinding read instead. The body then reads
as its source: ``shortcut = x``, ``x = F.conv2d(x, ...)``, ``return shortcut
+ drop_path(x)``.
"""

from __future__ import annotations

from collections import Counter
from typing import TypeVar

from torch import fx

from ..branches import guards, is_check
from ..source_map import ALL_NAMES, NAMES, statement_line, user_name

T = TypeVar("T")


def same_value(value: T) -> T:
    """The graph's ``shortcut = x``: a second name for a value, printed as its name."""
    return value


def with_second_names(graph: fx.Graph) -> None:
    """Give each value the source rebinds the second name it had back (module docstring).

    Only where the source bound the value to another name in the same
    function, a later statement takes the value's own name while a
    statement after that still reads the value, and no other value of the
    body has the other name (ResNet's ``identity = x`` then ``identity =
    self.downsample(x)``: the two would contend for one name). Not in a
    branch: the value, the rebinding and the reads after it all run
    always; nor a value its line makes more than once (a step of a loop the
    trace unrolled, which prints as the source's loop or not at all). Run
    again, it adds nothing.
    """
    nodes = list(graph.nodes)
    position = {node: i for i, node in enumerate(nodes)}
    named_twice = [n for n in nodes if len(n.meta.get(ALL_NAMES, ())) > 1]
    if not named_twice:
        return
    own = {n: str(n.target) if n.op == "placeholder" else user_name(n) for n in nodes}
    taken = set(own.values())
    guarded = guards(graph)
    made = Counter((statement_line(n), n.target) for n in nodes)
    body_start = _after_input_checks(nodes)  # where an input's second name goes
    for value in named_twice:
        name = own[value]
        if name is None or any(u.target is same_value for u in value.users):
            continue  # nameless, or named twice already
        if value.op != "placeholder" and made[statement_line(value), value.target] > 1:
            continue  # made again and again (a loop's ``ht = ...; hprev = ht``)
        second = next(
            (
                a
                for a in value.meta[ALL_NAMES]
                if a != name and a.isidentifier() and a not in taken
            ),
            None,
        )
        rebinding = next(
            (n for n in nodes[position[value] + 1 :] if own[n] == name), None
        )
        if second is None or rebinding is None:
            continue
        # the rebinding statement itself reads the value under its own name
        line = statement_line(rebinding)
        later = [
            u
            for u in value.users
            if position[u] > position[rebinding]
            and (line is None or statement_line(u) != line)
        ]
        if not later or any(guarded.get(n) for n in (value, rebinding, *later)):
            continue
        after = body_start if value.op == "placeholder" else value
        with graph.inserting_after(after):
            kept = graph.call_function(same_value, (value,))
        kept.meta["value"] = value.meta.get("value")
        kept.meta[NAMES] = (second,)
        for user in later:
            user.replace_input_with(value, kept)


def _after_input_checks(nodes: list[fx.Node]) -> fx.Node:
    """The last node of the inputs and the checks on them that open the body.

    An input's second name is bound after them, where the source's body
    starts: GPT-2's block refuses ``use_cache`` and ``encoder_hidden_states``
    it was not traced with, then binds ``residual = hidden_states``.
    """
    checks: set[fx.Node] = set()  # the refusals, and what only they read
    for node in reversed(nodes):
        if is_check(node):
            checks.add(node)
        elif node.op != "placeholder" and node.users and set(node.users) <= checks:
            checks.add(node)
    after = nodes[0]
    for node in nodes:
        if node.op != "placeholder" and node not in checks:
            break
        after = node
    return after


__all__ = ["same_value", "with_second_names"]
