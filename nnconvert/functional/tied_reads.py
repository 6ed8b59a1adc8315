"""Calls over a tied tensor, handed to the host each one was the layer of.

A functional file reads a tensor held under several keys under one of them
(:func:`nnconvert.ties.canonical_keys`): nanoGPT's output embedding and
output layer both read ``params["transformer.wte.weight"]``::

    x = F.embedding(idx, params["transformer.wte.weight"])
    ...
    logits = F.linear(x, params["transformer.wte.weight"])

Read back, both calls seem to belong to host ``transformer.wte``, which then
is no one layer, while host ``lm_head``, which holds the same tensor, has no
call at all: neither becomes a layer again (:mod:`.layers`), and
``init_params()`` loses both layers' draws. Before layers are adopted, the
reads of the analysed graph are moved to the key of the host whose call it
is (the function still reads the one key; nothing it computes changes):

1. a call whose other tensors belong to another host holding the same
   tensor under the same name (``F.linear(x, wte.weight, lm_head.bias)``)
   reads that host's key;
2. layer calls of several functions over one host's tied tensor: the
   function called first stays with the host, each other one goes to a
   host holding the same tensors that nothing else reads, in
   ``state_dict()`` order -- the order functional style writes the layers
   in, as the user built them. Which layer a call was is not written in
   the file; this order is nanoGPT's and the Transformer's (embedding
   first, output layer last), and a file that tied them the other way
   still computes the same, only its ``init_params()`` draws differ.
"""

from __future__ import annotations

from typing import Any

from torch import fx, nn

from ..opspecs import specs_for_function


def move_tied_reads(graph: fx.Graph, model: nn.Module) -> None:
    """Point each call over a tied tensor at its own host's key (module docstring)."""
    state = model.state_dict(keep_vars=True)
    groups: dict[int, list[str]] = {}
    for key, tensor in state.items():
        groups.setdefault(id(tensor), []).append(key)
    twins = {key: keys for keys in groups.values() if len(keys) > 1 for key in keys}
    if not twins:
        return
    _by_other_tensors(graph, twins)
    _by_function(graph, twins, list(state))


def _by_other_tensors(graph: fx.Graph, twins: dict[str, list[str]]) -> None:
    """Rule 1: the call's other tensors name the host."""
    for node in list(graph.nodes):
        if node.op != "get_attr" or str(node.target) not in twins:
            continue
        key = str(node.target)
        host, _, name = key.rpartition(".")
        for call in [u for u in node.users if u.op == "call_function"]:
            hosts = {
                _host(str(other.target))
                for other in _reads_of(call)
                if other is not node
            }
            if len(hosts) != 1:
                continue
            other_host = hosts.pop()
            target = f"{other_host}.{name}"
            if other_host != host and target in twins[key]:
                _read_instead(graph, call, node, target)


def _by_function(
    graph: fx.Graph, twins: dict[str, list[str]], order: list[str]
) -> None:
    """Rule 2: one function's calls per host, the others to hosts nothing reads."""
    read = {
        str(n.target)
        for n in graph.nodes
        if n.op == "get_attr" and any(u.op != "output" for u in n.users)
    }
    read_hosts = {_host(key) for key in read}
    calls: dict[str, dict[Any, list[tuple[fx.Node, fx.Node]]]] = {}
    for node in graph.nodes:
        if not _makes_a_layer(node):
            continue  # a tensor read as it is (x @ weight.T) says no layer
        for read_node in _reads_of(node):
            key = str(read_node.target)
            if key in twins:
                by_function = calls.setdefault(key, {})
                by_function.setdefault(node.target, []).append((node, read_node))
    for key, by_function in calls.items():
        if len(by_function) < 2:
            continue
        host, _, name = key.rpartition(".")
        idle = [
            other
            for other in twins[key]
            if _host(other) != host
            and _host(other) not in read_hosts
            and other.rpartition(".")[2] == name
            and _same_names(host, _host(other), order)
        ]
        moved = list(by_function.values())[1:]
        if len(idle) < len(moved):
            continue
        for target, uses in zip(sorted(idle, key=order.index), moved):
            read_hosts.add(_host(target))
            for call, read_node in uses:
                _read_instead(graph, call, read_node, target)


def _same_names(host: str, other: str, order: list[str]) -> bool:
    """Both hosts hold tensors under the same names (``weight``), nothing else."""

    def names(path: str) -> set[str]:
        return {k[len(path) + 1 :] for k in order if k.startswith(path + ".")}

    return names(host) == names(other)


def _makes_a_layer(node: fx.Node) -> bool:
    """A call an op-spec row rebuilds a layer from (``F.linear``, ``F.embedding``)."""
    return node.op == "call_function" and any(
        spec.ctor_from_weights for spec in specs_for_function(node.target)
    )


def _host(key: str) -> str:
    return key.rpartition(".")[0]


def _reads_of(call: fx.Node) -> list[fx.Node]:
    """The weight reads among the call's arguments."""
    return [
        n for n in call.all_input_nodes if n.op == "get_attr" and "." in str(n.target)
    ]


def _read_instead(graph: fx.Graph, call: fx.Node, read: fx.Node, key: str) -> None:
    """``call`` reads ``key`` where it read ``read``: a new read, right before it."""
    with graph.inserting_before(call):
        # create_node: the analysed graph's module need not hold the attribute
        new = graph.create_node("get_attr", key)
    new.meta = dict(read.meta)
    call.replace_input_with(read, new)


__all__ = ["move_tied_reads"]
