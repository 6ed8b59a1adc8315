"""Functional style: a block's two paths, picked by a test of a plain attribute, as one function.

The class styles join the shapes of kuangliu's MobileNetV2 ``Block``
(``out + self.shortcut(x) if self.stride == 1 else out``) into one class
that tests ``self.stride`` (:mod:`.attribute_tests`). A function has no
``self``: the attribute is a keyword its callers pass, and the test reads
it (``if stride == 1:``). The literals the two paths pass to their calls
are in the body (``F.conv2d(..., stride=2)`` against the default), so the
two traces are merged with every free literal set aside
(:func:`~.literal_holes.abstracted`): calls that differ only in literals
are one call, and the literals come back as slots of the merged graph,
each member's value there read from its own graph. Slots whose values
differ between the members become keywords as for any block
(:func:`~.literal_holes.named_holes`); the test's own slot is named after
the attribute and joins a keyword whose values agree with it everywhere
(the ``stride`` of ``F.conv2d``). Shapes that differ by optional
submodules are merged the same way under the submodule's presence
(``submodule_given``), which the function reads as a ``bool`` keyword its
callers pass (``has_cross_attn``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection

from torch import fx, nn

from ..branches import setting, submodule_given
from ..merge import merge_graphs
from ..passes.methods import is_method_call
from .attribute_tests import AttributeTest, plain_attribute
from .literal_holes import (
    Slot,
    Slots,
    abstracted,
    literal_slots,
    restore_choices,
    restore_literals,
    unfilled_choice,
)


@dataclass(frozen=True)
class Joined:
    """The merged body, and each member's slots in its coordinates (both sides, in order)."""

    body: fx.Graph
    slots: list[Slots]


def join_paths(
    sides: tuple[fx.GraphModule, fx.GraphModule],
    members: tuple[list[tuple[nn.Module, Slots]], list[tuple[nn.Module, Slots]]],
    test: AttributeTest | str,
    pure_blocks: Collection[str],
) -> Joined | None:
    """The two shapes' graphs as one body under ``test``; None where they cannot be.

    ``test`` is a test of a plain attribute, or the path of a submodule
    whose presence picks the path (Whisper's ``cross_attn``, None in its
    encoder blocks: ``submodule_given``, printed as the caller's flag).

    ``sides[0]`` is the shape whose members answer the test True; each
    side's ``members`` (module, slots in that side's graph's coordinates)
    give the literals their calls pass. The body keeps side 0's literals
    where both sides make a call, and is printed, never run.
    """
    if any(_calls_methods(side.graph) for side in sides):
        return None  # a helper method's body holds literals of its own
    abstract = [
        fx.GraphModule(side, abstracted(side.graph), class_name=type(side).__name__)
        for side in sides
    ]
    for side, module in zip(sides, abstract):
        module.meta.update(side.meta)
    first = members[0][0][0]

    def condition(graph: fx.Graph, inputs: dict[str, fx.Node]) -> fx.Node:
        if isinstance(test, str):  # the submodule's presence: a flag of the caller's
            return graph.call_function(submodule_given, (test,))
        value = plain_attribute(first, test.attribute)
        read = graph.call_function(setting, (), {test.attribute: value})
        if test.compare is None:
            return read
        return graph.call_function(test.compare, (read, test.constant))

    merged, kept = merge_graphs(
        *abstract, condition, primary=True, pure_blocks=pure_blocks
    )
    body = merged.graph
    where: dict[fx.Node, int] = {n: k for k, n in enumerate(body.nodes)}
    positions: list[dict[int, int]] = []  # per side: its position -> the body's
    copies: list[dict[fx.Node, fx.Node]] = [{}, {}]  # per side: body node -> its node
    for side in (1, 0):
        originals = list(sides[side].graph.nodes)
        moved = {}
        for k, node in enumerate(abstract[side].graph.nodes):
            into = kept(side, node)
            if into is not None:
                moved[k] = where[into]
                copies[side][into] = originals[k]
        positions.insert(0, moved)
    sources = {**copies[1], **copies[0]}  # side 0's literals where both have the node
    for node, original in sources.items():
        if node.op == original.op and node.target == original.target:
            restore_literals(node, original)
    for side in (0, 1):
        for node, original in copies[side].items():
            if node.op == original.op and node.target == original.target:
                # LeViT's ``x + (x if self.attn_residual else 0)``: the choice
                # between a value and a literal holds the side's literal
                restore_choices(node, original, branch=1 + side)
    if unfilled_choice(body):
        return None
    template = literal_slots(body)
    test_slot: Slot | None = None
    if not isinstance(test, str):
        read = next(n for n in body.nodes if n.target is setting)
        test_slot = (where[read], "kw", test.attribute)
    if _dropped_literals_differ(members, positions, template):
        return None
    joined: list[Slots] = []
    for side in (0, 1):
        for module, slots in members[side]:
            joined.append(
                _in_body(slots, positions[side], template, test_slot, module, test)
            )
    return Joined(body, joined)


def _in_body(
    slots: Slots,
    positions: dict[int, int],
    template: Slots,
    test_slot: Slot | None,
    module: nn.Module,
    test: AttributeTest | str,
) -> Slots:
    """A member's ``slots`` moved into the body; the other path's slots take the body's literal.

    Those calls never run for it, so any value does: the body's own keeps
    them from becoming keywords of their own where one path's members agree.
    """

    def move(found: dict[Slot, Any]) -> dict[Slot, Any]:
        return {
            (positions[s[0]], *s[1:]): v for s, v in found.items() if s[0] in positions
        }

    kept = template.values.keys() | template.defaults.keys()
    values = {s: v for s, v in move(slots.values).items() if s in kept}
    defaults = {s: v for s, v in move(slots.defaults).items() if s in kept}
    for slot, value in template.values.items():
        if slot not in values and slot not in defaults:
            values[slot] = value
    if test_slot is not None and isinstance(test, AttributeTest):  # the test read it
        values[test_slot] = plain_attribute(module, test.attribute)
    return Slots(template.shape, values, {**template.defaults, **defaults})


def _dropped_literals_differ(
    members: tuple[list[tuple[nn.Module, Slots]], list[tuple[nn.Module, Slots]]],
    positions: list[dict[int, int]],
    template: Slots,
) -> bool:
    """Members of one path differ in a literal the body holds as one path's branch.

    ``x + 0`` joined with ``x + h`` is ``x + (h if flag else 0)``: the ``0``
    is no slot of the body but the literal of the path's graph. Another
    member of that path built with ``x + 1`` would read ``0`` there.
    """
    kept = template.values.keys() | template.defaults.keys()
    seen: dict[tuple[int, Slot], set[str]] = {}
    for side in (0, 1):
        for _, slots in members[side]:
            for slot, value in slots.values.items():
                moved = (positions[side].get(slot[0]), *slot[1:])
                if moved[0] is not None and moved not in kept:
                    seen.setdefault((side, moved), set()).add(
                        repr((type(value), value))
                    )
    return any(len(values) > 1 for values in seen.values())


def _calls_methods(graph: fx.Graph) -> bool:
    return any(is_method_call(n) for n in graph.nodes)


__all__ = ["Joined", "join_paths"]
