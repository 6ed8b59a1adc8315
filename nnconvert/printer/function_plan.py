"""Functional style: which instances share a function, and what each function is called.

Instances whose graphs have the same signature (:func:`.signature.graph_signature`)
and call the same functions share one function (the root always has its own).
A block's function keeps its class's name in snake_case (``basic_block``,
``basic_block_2`` for a second shape); a Sequential's function is named after
its attribute (``features``) and yields its name to block functions
(``double_conv2``). Decided on graphs, before any function is printed.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

from torch import fx, nn

from ..hierarchy import Instance
from ..leaves import Leaf, leaf_of
from ..naming import first_free, identifier, snake_case
from ..options import Style
from ..passes.graph_utils import is_training_flag
from .names import RESERVED
from .signature import graph_signature
from .statements import StatementPlan, plan_statements


@dataclass(frozen=True)
class FunctionPlan:
    """One function of the functional output and how its body reads.

    ``callees``: each block call's target -> (its function, whether that
    takes ``training``); ``training``: the function takes ``training``
    itself, because it or a function it calls reads it.
    """

    name: str
    instance: Instance
    statements: StatementPlan
    callees: dict[str, tuple[str, bool]]
    training: bool
    #: each leaf call's target -> the module-level layer it calls
    leaves: dict[str, "LeafCall"] = field(default_factory=dict)


@dataclass(frozen=True)
class LeafCall:
    """A third-party layer (:mod:`nnconvert.leaves`), built once at module level.

    ``rearrange_layer = Rearrange("b c h w -> b (h w) c")``: one instance
    per distinct constructor call, shared by every function that calls it;
    its weights come from the dict at each call (``torch.func.functional_call``)
    and its mode from ``training`` when it reads it, so the instance holds
    nothing that a call depends on.
    """

    variable: str
    leaf: Leaf


#: Names every functional file defines or imports besides its functions.
FUNCTIONAL_NAMES = frozenset({"sub_params", "init_params", "math"})


def plan_functions(
    instances: list[Instance], top_name: str, taken: set[str]
) -> list[FunctionPlan]:
    """Every function of the file, callees first; the root's (``top_name``) last.

    Instances whose graphs have the same signature and call the same
    functions share one function (the root always has its own). ``taken``
    are names the file imports: no function takes them.
    """
    names = _FunctionNames(instances, top_name, taken)
    by_key: dict[tuple, FunctionPlan] = {}
    function_of: dict[int, FunctionPlan] = {}  # id(module) -> its function
    plans: list[FunctionPlan] = []
    for instance in instances:  # children before parents
        graph = instance.graph.graph
        calls = [n for n in graph.nodes if n.op == "call_module"]
        leaves = {
            str(node.target): names.claim_leaf(leaf)
            for node in calls
            for leaf in [leaf_of(_submodule(instance, node))]
            if leaf is not None
        }
        callees = {
            str(node.target): (callee.name, callee.training)
            for node in calls
            if str(node.target) not in leaves
            for callee in [function_of[id(_submodule(instance, node))]]
        }
        training = (
            any(is_training_flag(n) for n in graph.nodes)
            or any(t for _, t in callees.values())
            or any(call.leaf.reads_mode for call in leaves.values())
        )
        key = (
            _kind(instance),
            graph_signature(graph),
            tuple(callees.items()),
            tuple((t, call.variable) for t, call in leaves.items()),
            training,
        )
        if key not in by_key or not instance.path:
            reserved = frozenset(names.used)  # the body's names: not its own name
            name = names.claim(instance)
            statements = plan_statements(graph, Style.FUNCTIONAL, reserved)
            by_key[key] = FunctionPlan(
                name, instance, statements, callees, training, leaves
            )
            plans.append(by_key[key])
        function_of[id(instance.module)] = by_key[key]
    return plans


class _FunctionNames:
    """Function names: a block's is its class's in snake_case, numbered ``_2`` …

    A Sequential's is its attribute's, numbered ``2`` … and never one a block
    function has or will have (``double_conv2``).
    """

    def __init__(self, instances: list[Instance], top_name: str, taken: set[str]):
        self.top_name = top_name
        self.used = {*FUNCTIONAL_NAMES, top_name, *taken}
        self.leaves: dict[tuple, LeafCall] = {}
        self.blocks = {
            _free_of_builtins(snake_case(type(i.module).__name__))
            for i in instances
            if i.path and not _is_sequential(i)
        }

    def claim_leaf(self, leaf: Leaf) -> LeafCall:
        """The module-level layer for ``leaf``: ``rearrange_layer``, one per constructor call."""
        key = (leaf.cls, repr(leaf.arguments))
        if key not in self.leaves:
            base = snake_case(leaf.name) + "_layer"
            self.leaves[key] = LeafCall(self._claim(base, set(), "_"), leaf)
        return self.leaves[key]

    def claim(self, instance: Instance) -> str:
        if not instance.path:
            return self.top_name
        if _is_sequential(instance):
            return self._claim(_sequential_base(instance.path), self.blocks, "")
        return self._claim(snake_case(type(instance.module).__name__), set(), "_")

    def _claim(self, base: str, also_taken: set[str], separator: str) -> str:
        base = _free_of_builtins(base)
        if base[-1].isdigit():
            separator = "_"
        name = first_free(base, self.used | also_taken, separator)
        self.used.add(name)
        return name


def _kind(instance: Instance) -> object:
    """What a shared function must agree on besides its graph: its class or attribute."""
    return (
        _sequential_base(instance.path)
        if _is_sequential(instance)
        else type(instance.module)
    )


def _submodule(instance: Instance, node: fx.Node) -> nn.Module:
    return instance.module.get_submodule(str(node.target))


def _free_of_builtins(name: str) -> str:
    """``input`` -> ``input_``: a function may not hide a builtin or a name the code uses."""
    return f"{name}_" if hasattr(builtins, name) or name in RESERVED else name


def _sequential_base(path: str) -> str:
    """The function name of the ``nn.Sequential`` at ``path``: its attribute (``features``).

    ``sequential`` for one known only by position (``blocks.0``).
    """
    attribute = path.rpartition(".")[2]
    return "sequential" if attribute.isdigit() else identifier(attribute)


def _is_sequential(instance: Instance) -> bool:
    return bool(instance.path) and type(instance.module) is nn.Sequential
