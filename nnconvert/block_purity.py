"""Which of the user's blocks compute nothing but their result: calls the merge may join.

Two traces of one module (with and without ``mask``) often call the same
block on different values: ``self.out(a)`` on one side, ``self.out(wv)`` on
the other. :func:`~nnconvert.merge.merge_traces` joins two such calls into
one over chosen arguments only where that cannot change what runs: a call
that draws random numbers, changes its inputs or its buffers must run on
its own side, once, where its trace ran it. For a library call the table in
:mod:`nnconvert.opspecs.impurity` says which is which; a user's block is
opaque there. Each block is traced as its own instance
(:mod:`nnconvert.hierarchy`), children first, so its graphs say it: a block
is pure when no node of any of its traces draws, updates running
statistics or is impure (:func:`~nnconvert.passes.graph_utils.is_impure`),
recursively through the blocks it calls.
"""

from __future__ import annotations

from typing import Callable, Iterable

from torch import fx, nn

from . import branches
from .module_kinds import is_user_module
from .opspecs import spec_for_module
from .opspecs.impurity import (
    BUFFER_UPDATING_FUNCTIONS,
    RANDOM_FUNCTIONS,
    RANDOM_METHODS,
)
from .passes.graph_utils import is_impure

#: Whether a block instance is known to be pure (its traces already read).
BlockFacts = Callable[[nn.Module], bool]


def computes_only_its_result(
    graphs: Iterable[fx.GraphModule], pure_block: BlockFacts
) -> bool:
    """No node of ``graphs`` (one module's traces) acts by side effect.

    ``pure_block`` answers for the blocks the graphs call; a block it does
    not know is not pure.
    """
    return all(
        _pure_node(node, module, pure_block)
        for module in graphs
        for node in module.graph.nodes
        if node.op not in ("placeholder", "output", "get_attr")
    )


def pure_calls(
    graphs: Iterable[fx.GraphModule], pure_block: BlockFacts
) -> frozenset[str]:
    """The ``call_module`` targets of ``graphs`` whose blocks ``pure_block`` knows to be pure."""
    return frozenset(
        str(node.target)
        for module in graphs
        for node in module.graph.nodes
        if node.op == "call_module"
        and is_user_module(module.get_submodule(str(node.target)))
        and pure_block(module.get_submodule(str(node.target)))
    )


def moves_freely(node: fx.Node) -> bool:
    """``node`` only computes its value: it may run earlier or later among its peers.

    No draw (a dropout, whose order in the random stream is the program's),
    no running statistics, no side effect, no check that raises; a block of
    the user's is not looked into and counts as acting.
    """
    if node.op in ("placeholder", "output") or branches.is_check(node):
        return False  # a check raises where the program raises
    owner = node.graph.owning_module
    if owner is None and node.op == "call_module":
        return False  # no module to look the layer up in
    return _pure_node(node, owner, lambda _: False)


def _pure_node(node: fx.Node, owner: fx.GraphModule, pure_block: BlockFacts) -> bool:
    if node.op == "call_module":
        module = owner.get_submodule(str(node.target))
        if is_user_module(module):
            return pure_block(module)
        return not is_impure(node) and _pure_layer(module, pure_block)
    # a check of the block's inputs (a shape the trace relied on, an optional
    # input it was traced without) raises or does nothing; a joined call checks
    # on each side what that side's own call checked: it keeps a block pure
    if branches.is_check(node):
        return True
    if is_impure(node):
        return False
    if node.op == "call_method":
        return str(node.target) not in RANDOM_METHODS
    if node.op == "call_function":
        return not _draws_or_updates(node.target)
    return True


def _pure_layer(module: nn.Module, pure_block: BlockFacts) -> bool:
    """A library layer that neither draws nor keeps running statistics (in any mode).

    Blocks of the user's inside it (an ``nn.Sequential`` of them) answer
    for themselves (``pure_block``).

    Layers whose op-spec function draws (dropout layers, ``nn.RReLU``: the
    table in :mod:`nnconvert.opspecs.impurity`) draw, and so do layers with a
    ``dropout`` probability of their own (``nn.MultiheadAttention``,
    ``nn.LSTM``); a layer with buffers (``nn.BatchNorm2d``) may update them.
    """
    for layer in module.modules():
        if is_user_module(layer):  # a block inside ``nn.Sequential``
            if pure_block(layer):
                continue
            return False
        spec = spec_for_module(layer)
        if spec is not None and _draws_or_updates(spec.function):
            return False
        if getattr(layer, "dropout", 0) not in (0, 0.0):
            return False
        if next(layer.buffers(recurse=False), None) is not None:
            return False
    return True


def _draws_or_updates(function: object) -> bool:
    try:
        return function in RANDOM_FUNCTIONS or function in BUFFER_UPDATING_FUNCTIONS
    except TypeError:  # unhashable target
        return False
