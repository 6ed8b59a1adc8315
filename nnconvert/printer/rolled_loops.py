"""Blocks whose loops run different numbers of times: one function, the count a keyword.

MobileViT builds three ``Transformer``s of depths 2, 4 and 3, whose
``forward`` loops over their members (``for attn, ff in self.layers:``).
The trace unrolls each loop, so the three graphs differ in length, and
functional style wrote ``transformer``, ``transformer_2`` and
``transformer_3``, the same but for ``range(2)``, ``range(4)`` and
``range(3)``. A class's loop runs over ``self.layers``, whatever its
length, so class styles need no count (:mod:`.class_plan` joins the
classes that read the same).

Here such a graph is cut to its loop's first two copies (:func:`cut_loops`):
the others print as the same ``for`` statement. A block of depth 1 (CaiT's
``cls_transformer`` beside its ``patch_transformer`` of depth 2) joins
none cut so; cut to one copy, the deeper ones read as it does, and the
user's ``for`` over the container makes each a loop again. Graphs cut so compare as
any others do, and where instances of one class share a shape once cut
(:mod:`.function_plan`), they share one function whose loop runs
``range(depth)``, each caller passing its count (``depth=4``), named after
the ``__init__`` argument that gave it where one did (:mod:`.init_names`).
The function is printed from a cut graph, so the printer is told which
containers it cut and the keyword that counts each (the ``counts`` of
:func:`.loops.find_loops` and :func:`.data_loops.find_member_loops_to_print`):
such a container holds the two members the graph calls.
"""

from __future__ import annotations

from torch import fx, nn

from ..passes.unrolled import MIN_COPIES, find_member_loops, member_of
from .literal_holes import copy_graph
from .containers import member_containers

#: the copies a cut loop keeps: the fewest that print as a loop
CUT_TO = MIN_COPIES


def cut_loops(
    graph: fx.Graph, owner: nn.Module, keep: int = CUT_TO
) -> tuple[fx.Graph, dict[str, int]]:
    """``graph`` with each loop over all of a container cut to ``keep`` copies, and their counts.

    ``owner`` holds the containers. Only a loop that collects nothing
    (every value but the last copy's is read inside the loop) is cut: the
    last copy's values are then read where the kept last copy's were.
    Returns the graph unchanged and ``{}`` where no loop is cut; a container
    whose loop already has ``keep`` copies is counted too (the count is its
    keyword). A graph cut to one copy is only returned where that copy
    still reads as a loop (:func:`.unrolled.find_member_loops` finds it
    from the user's ``for``, as the printer will).
    """
    loops = [
        loop
        for loop in find_member_loops(graph, member_containers(owner), chained=True)
        if not loop.collected and len(loop.copies) >= keep
    ]
    if not loops:
        return graph, {}
    copied = copy_graph(graph)  # the same positions
    position = {node: i for i, node in enumerate(graph.nodes)}
    nodes = list(copied.nodes)
    counts = {}
    for loop in loops:
        counts[str(loop.members)] = len(loop.copies)
        if len(loop.copies) == keep:
            continue
        kept = loop.copies[keep - 1]
        for last, stands_for in zip(loop.copies[-1], kept):
            if last is not None:
                nodes[position[last]].replace_all_uses_with(nodes[position[stands_for]])
        dropped = [n for copy in loop.copies[keep:] for n in copy if n]
        dropped += _members_tensors(graph, str(loop.members), keep, len(loop.copies))
        for node in sorted(set(dropped), key=position.__getitem__, reverse=True):
            copied.erase_node(nodes[position[node]])
    if keep < CUT_TO:
        found = find_member_loops(copied, dict.fromkeys(counts, keep), chained=True)
        if {str(loop.members) for loop in found} != set(counts):
            return graph, {}
    return copied, counts


def members_kept(graph: fx.Graph, container: str) -> int:
    """How many members of ``container`` a cut graph still calls or reads (``layers.1.0`` -> 2)."""
    members = [member_of(n, container) for n in graph.nodes]
    return max((m for m in members if m is not None), default=-1) + 1


def _members_tensors(
    graph: fx.Graph, container: str, keep: int, count: int
) -> list[fx.Node]:
    """The graph's reads of the tensors of members ``keep`` … ``count - 1``, wherever they stand.

    A member's ``get_attr`` may stand before the loop, outside its copy.
    """
    prefixes = tuple(f"{container}.{i}." for i in range(keep, count))
    return [
        n
        for n in graph.nodes
        if n.op == "get_attr" and f"{n.target}.".startswith(prefixes)
    ]
