"""An input the source keeps under a second name before it rebinds the first.

ConvNeXt's block writes::

    shortcut = x
    x = self.dwconv(x)
    ...
    return shortcut + self.drop_path(x)

and attention-is-all-you-need's ``residual = q`` before ``q =
self.w_qs(q)...``. The trace holds one value for ``x`` and ``shortcut``, so
a body named from it alone keeps ``x`` for the input, which is read at the
end, and the new values take a stem: ``out = F.conv2d(x, ...)`` ...
``return x + drop_path(out)``. Where the source bound the input to a second
name in its own function (:data:`~nnconvert.source_map.INPUT_ALIASES`), the
graph gets that binding back (:func:`with_input_aliases`): a
:func:`same_value` node named after it, at the top of the body, which the
input's readers after the user's rebinding read instead. The body then
reads as its source: ``shortcut = x``, ``x = F.conv2d(x, ...)``, ``return
shortcut + drop_path(x)``.
"""

from __future__ import annotations

from typing import TypeVar

from torch import fx

from ..source_map import INPUT_ALIASES, NAMES, statement_line, user_name

T = TypeVar("T")


def same_value(value: T) -> T:
    """The graph's ``shortcut = x``: a second name for a value, printed as its name."""
    return value


def with_input_aliases(graph: fx.Graph) -> None:
    """Give each input the source rebinds its second name back (module docstring).

    Only where the source gave the input another name, a later statement
    takes the input's own name while a statement after it still reads the
    input, and no value of the body has the other name already (ResNet's
    ``identity = x`` then ``identity = self.downsample(x)``: the two would
    contend for one name). Run again, it adds nothing.
    """
    nodes = list(graph.nodes)
    position = {node: i for i, node in enumerate(nodes)}
    placeholders = [n for n in nodes if n.op == "placeholder"]
    named = {user_name(n) for n in nodes if n.op != "placeholder"}
    for node in placeholders:
        if any(u.target is same_value for u in node.users):
            continue  # aliased already
        aliases = [a for a in node.meta.get(INPUT_ALIASES, ()) if a.isidentifier()]
        alias = next((a for a in aliases if a not in named), None)
        rebinding = next(
            (
                n
                for n in nodes
                if n.op != "placeholder" and user_name(n) == str(node.target)
            ),
            None,
        )
        if alias is None or rebinding is None:
            continue
        # the rebinding statement itself reads the input under its own name
        line = statement_line(rebinding)
        later = [
            u
            for u in node.users
            if position[u] > position[rebinding]
            and (line is None or statement_line(u) != line)
        ]
        if not later:
            continue
        with graph.inserting_after(placeholders[-1]):
            kept = graph.call_function(same_value, (node,))
        kept.meta["value"] = node.meta.get("value")
        kept.meta[NAMES] = (alias,)
        for user in later:
            user.replace_input_with(node, kept)


__all__ = ["same_value", "with_input_aliases"]
