"""Functional style: which instances share a function, and what each function is called.

One function per block class: instances of a class whose graphs are the same
once their literals are set aside (:mod:`.literal_holes`) share one
function, and the literals that differ between them become keyword
parameters (``def block(params, x, *, groups: int)``, called with
``groups=144``), as module style makes them constructor parameters, and
named as those are: after the user's ``__init__`` where its arguments say
(``scale``, not ``value``; :mod:`.init_names`).
Sequentials whose bodies are the same, literals aside, share one function
too, whatever their attribute (RegNet's ``layer1`` and ``layer2`` call their
block with ``groups=3`` and ``groups=7``: ``layer(..., groups=3)``), and so do
Sequentials that only chain one function through all their members, whatever
their length: the length is a keyword (DenseNet's ``dense1`` … ``dense4``:
``for i in range(num_blocks)``, called with ``num_blocks=6``). Shapes of a
block that differ only by extra block calls on one value share one function,
the calls under a ``bool`` keyword (``if has_shortcut:``), as class styles
make such submodules ``shortcut=None``; shapes that differ by optional
submodules called in whole statements (Whisper's ``cross_attn``, None in its
encoder blocks) by joining their graphs under ``if has_cross_attn:``, as
class styles join them into one class. Shapes of a block that differ only in
how often a loop over their members runs (MobileViT's ``Transformer``s, 2, 4
and 3 layers deep) share one function whose loop counts to a keyword
(``for i in range(depth):``; :mod:`.rolled_loops`). A block that returns its input unchanged (an empty
``nn.Sequential()`` shortcut) gets no function: its callers read the input.
The root always has its own function.

A block's function keeps its class's name in snake_case (``basic_block``,
``basic_block_2`` for a second shape); a Sequential's function is named after
its attribute (``features``) and yields its name to block functions
(``double_conv2``). Decided on graphs, before any function is printed:
children first, since a parent's calls pass what its children's functions
take.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections import Counter
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import torch
from torch import fx, nn

from ..branches import submodule_given
from ..hierarchy import Instance
from ..init_arguments import keyword_order
from ..block_purity import pure_calls
from ..leaves import Leaf, leaf_of
from ..module_kinds import is_stateless, is_user_module
from ..naming import first_free, identifier, snake_case
from ..options import Style
from ..passes.graph_utils import is_training_flag
from ..passes.methods import is_method_call, with_method_bodies
from .attribute_reads import agreed_expression_reads, attribute_reads, computed_text
from .attribute_tests import AttributeTest, attribute_tests, telling_test
from .expressions import _Raw
from .init_names import init_names, init_order
from .rolled_loops import CUT_TO, cut_loops
from .shape_names import WrappedBlocks
from .literal_holes import (
    Named,
    is_free_literal,
    Slots,
    can_share,
    copy_graph,
    filled,
    literal_slots,
    moved,
    named_holes,
    value_of,
)
from .loops import MIN_LOOP
from .names import RESERVED
from .signature import graph_signature
from .methods import MethodPlan, methods_of, plan_methods
from .optional_values import find_stand_ins, with_choices
from .statements import StatementPlan, passes_value_through, plan_statements
from .tested_paths import join_paths
from .values import same_literal


@dataclass(frozen=True)
class FunctionPlan:
    """One function of the functional output and how its body reads.

    ``callees``: each block call's target -> (its function, whether that
    takes ``training``); ``training``: the function takes ``training``
    itself, because it or a function it calls reads it. ``graph`` is the
    body printed: the first member's graph with its calls of pass-through
    blocks removed and the literals that differ between members replaced by
    the ``keywords`` (name, type hint) the function takes.
    """

    name: str
    instance: Instance
    statements: StatementPlan
    callees: dict[str, tuple[str, bool]]
    training: bool
    #: each leaf call's target -> the module-level layer it calls
    leaves: dict[str, "LeafCall"] = field(default_factory=dict)
    graph: fx.Graph | None = None
    keywords: tuple[tuple[str, str | None], ...] = ()
    #: the helper methods the body calls, each as (its function's name, plan)
    methods: tuple[tuple[str, MethodPlan], ...] = ()
    #: the keyword that sets how many members the body's one loop runs over
    #: (Sequentials of one chained block and different lengths share it)
    count: str | None = None
    #: each optional block call's target -> the ``bool`` keyword that says it runs
    flags: dict[str, str] = field(default_factory=dict)
    #: the paths of every instance the function is called for, in order
    #: (``init_params()`` writes one init function for them: :mod:`.init_blocks`)
    paths: tuple[str, ...] = ()
    #: names the body's variables may not take: the file's functions and
    #: this function's keywords
    reserved: frozenset[str] = frozenset()
    #: keywords with a default: a literal the source read as ``self.<name>``
    #: and every instance shares (``n_head: int = 2``; :mod:`.attribute_reads`)
    defaults: dict[str, Any] = field(default_factory=dict)
    #: the helper functions of ``methods`` another block's function writes:
    #: the same text (DETR's ``with_pos_embed`` in both its layers)
    shared_methods: frozenset[str] = frozenset()
    #: a body cut to its loops' first copies (two, or one): each loop's container ->
    #: the keyword that says how many members it runs over (:mod:`.rolled_loops`)
    loop_counts: dict[str, str] = field(default_factory=dict)

    @property
    def body_graph(self) -> fx.Graph:
        """The graph the function's body is printed from."""
        return self.graph if self.graph is not None else self.instance.graph.graph


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


@dataclass
class _Member:
    """One instance, its graph as its function is called, and that graph's literal slots."""

    instance: Instance
    graph: fx.Graph
    slots: Slots
    leaves: dict[str, LeafCall]
    training: bool
    #: a Sequential that only chains its members, all of one function: their calls
    chain: tuple[fx.Node, ...] = ()
    #: a graph cut to its loops' first copies: each container's members
    #: (:mod:`.rolled_loops`)
    counts: dict[str, int] = field(default_factory=dict)
    #: before that cut, the graph as traced
    uncut: fx.Graph | None = None


@dataclass
class _Group:
    """Instances that share one function; ``holes`` become its keyword parameters."""

    members: list[_Member]
    holes: Named = field(default_factory=list)
    plan: FunctionPlan | None = None
    count: str | None = None  # the keyword for the chain's length, where lengths differ
    #: each optional call's target -> the ``bool`` keyword that says it runs
    flags: dict[str, str] = field(default_factory=dict)
    #: positions in the first member's graph: each optional call whose
    #: absence leaves another value -> that value's (:mod:`.optional_values`)
    stand_ins: dict[int, int] = field(default_factory=dict)
    #: literals the source read as ``self.<name>`` that every member shares:
    #: keywords with that value as default, which no caller passes
    read: Named = field(default_factory=list)
    #: numbers the source computed from plain attributes and ``math``
    #: (``math.sqrt(self.emb_size)``), as the function writes them
    #: (``math.sqrt(emb_size)``), and those attributes: keywords with their
    #: shared value as default (:func:`_expression_keywords`)
    computed: Named = field(default_factory=list)
    computed_defaults: dict[str, Any] = field(default_factory=dict)
    #: the body of two shapes joined under a test of an attribute
    #: (:mod:`.tested_paths`), where the members' slots are; else the first's graph
    body: fx.Graph | None = None
    #: members cut to their loops' first copies: each container -> the
    #: keyword that says how many members it has (:mod:`.rolled_loops`)
    loop_counts: dict[str, str] = field(default_factory=dict)


def plan_functions(
    instances: list[Instance], top_name: str, taken: set[str]
) -> list[FunctionPlan]:
    """Every function of the file, callees first; the root's (``top_name``) last.

    Instances whose graphs have the same shape and call the same functions
    share one function (the root always has its own). ``taken`` are names
    the file imports: no function takes them.
    """
    names = _FunctionNames(instances, top_name, taken)
    grouping = _Grouping(names)
    grouping.run(instances)
    return [
        _plan(group, grouping, names) for group in _callees_first(grouping, instances)
    ]


def _callees_first(grouping: "_Grouping", instances: list[Instance]) -> list["_Group"]:
    """The groups in the order of their first instance, each after the groups it calls.

    A group joined from two shapes (:meth:`_Grouping._merge_optional_calls`)
    has its first instance before the block only its other shape calls.
    """
    order = {id(i.module): k for k, i in enumerate(instances)}
    ranked = sorted(
        grouping.groups,
        key=lambda g: min(order[id(m.instance.module)] for m in g.members),
    )
    placed: list[_Group] = []
    seen: set[int] = set()

    def place(group: _Group) -> None:
        if id(group) in seen:
            return
        seen.add(id(group))
        for member in group.members:
            for child in _callee_modules(member.instance):
                if id(child) in grouping.group_of:
                    place(grouping.group_of[id(child)])
        placed.append(group)

    for group in ranked:
        place(group)
    return placed


class _Grouping:
    """Groups instances level by level: a parent's calls depend on its children's groups.

    ``settings``: the keywords each instance's call passes (its group's
    holes); ``passthrough``: the instances that return their input as it is.
    """

    def __init__(self, names: "_FunctionNames"):
        self.names = names
        self.groups: list[_Group] = []
        self.group_of: dict[int, _Group] = {}
        self.settings: dict[int, dict[str, Any]] = {}
        self.passthrough: set[int] = set()
        self.pure: set[int] = set()

    def run(self, instances: list[Instance]) -> None:
        self.pure = {id(i.module) for i in instances if i.pure}
        pending = list(instances)
        while pending:
            ready = [i for i in pending if self._resolved(i)]
            if not ready:
                raise AssertionError("a block calls a block that is never traced")
            ready = _with_their_class(ready, pending, self._resolved)
            pending = [i for i in pending if not any(i is r for r in ready)]
            members = [m for m in map(self._member, ready) if m is not None]
            by_key: dict[tuple, list[_Member]] = {}
            for member in members:
                by_key.setdefault(self._key(member), []).append(member)
            by_key = self._join_loop_counts(by_key, members)
            shared: list[list[_Member]] = []
            for group in by_key.values():
                if len({len(m.chain) for m in group}) > 1:
                    for same in _by_keywords(group):
                        if len({len(m.chain) for m in same}) > 1:
                            self._add_chains(same)
                        else:
                            shared.append(same)
                    continue
                shared += _split_unshareable(group)
            optional = self._merge_optional_calls(shared)
            for members, flags, stand_ins, body in self._join_tested_paths(optional):
                self._add(members, flags, stand_ins, body)

    def _resolved(self, instance: Instance) -> bool:
        return all(
            id(child) in self.group_of or id(child) in self.passthrough
            for child in _callee_modules(instance)
        )

    def _member(self, instance: Instance) -> _Member | None:
        """``instance`` with its graph as its function runs it; None for a pass-through."""
        graph = _prepared_graph(instance, self.passthrough, self.settings)
        if instance.path and _returns_its_input(graph, instance.module):
            self.passthrough.add(id(instance.module))
            return None
        calls = [n for n in with_method_bodies(graph) if n.op == "call_module"]
        leaves = {
            str(node.target): self.names.claim_leaf(leaf)
            for node in calls
            for leaf in [leaf_of(_submodule(instance, node))]
            if leaf is not None
        }
        training = (
            any(is_training_flag(n) for n in with_method_bodies(graph))
            or any(
                self._takes_training(_submodule(instance, n))
                for n in calls
                if str(n.target) not in leaves
            )
            or any(call.leaf.reads_mode for call in leaves.values())
        )
        member = _Member(instance, graph, literal_slots(graph), leaves, training)
        if _is_sequential(instance):
            member.chain = self._chain(member)
        return member

    def _chain(self, member: _Member) -> tuple[fx.Node, ...]:
        """The calls of a Sequential that prints as one loop over all its members.

        Each member called in order on the one before's result, with the
        same keywords, all sharing one function: then the body is
        ``for i in range(n)`` whatever ``n`` is. Empty where it is not.
        """
        nodes = list(member.graph.nodes)
        calls = nodes[1:-1]
        if len(calls) < MIN_LOOP or nodes[0].op != "placeholder":
            return ()
        module = member.instance.module
        if len(module) != len(calls) or member.leaves:
            return ()
        previous = nodes[0]
        for i, call in enumerate(calls):
            if (
                call.op != "call_module"
                or str(call.target) != str(i)
                or call.args != (previous,)
                or call.kwargs != calls[0].kwargs
                or len(call.users) != 1
            ):
                return ()
            previous = call
        if nodes[-1].args[0] is not previous or len(nodes[0].users) != 1:
            return ()
        groups = {id(self.group_of[id(module[i])]) for i in range(len(calls))}
        return tuple(calls) if len(groups) == 1 else ()

    def _join_loop_counts(
        self, by_key: dict[tuple, list[_Member]], members: list[_Member]
    ) -> dict[tuple, list[_Member]]:
        """Shapes of a block that differ only in how often their loops run: one key.

        Each member of such shapes is cut to its loops' first two copies,
        then to one (:mod:`.rolled_loops`); shapes whose cut members share a
        key are one function, whose loops count to keywords. ``members``: every key's, in
        order (a joined key's keep it).
        """
        for keep in (CUT_TO, 1):
            by_key = self._join_cut(by_key, members, keep)
        return by_key

    def _join_cut(
        self, by_key: dict[tuple, list[_Member]], members: list[_Member], keep: int
    ) -> dict[tuple, list[_Member]]:
        """:meth:`_join_loop_counts` with each loop cut to ``keep`` copies.

        Two copies first: a loop of two prints from the graph alone. Shapes
        left apart are cut to one copy, which joins a block of depth 1 to
        its deeper kin (CaiT's ``cls_transformer`` beside its
        ``patch_transformer``): the user's ``for`` over the container tells
        a step of one from code written once (:func:`.unrolled.find_member_loops`).
        """
        order = {id(m.instance.module): i for i, m in enumerate(members)}
        shapes_of = Counter(key[0] for key in by_key)
        cut: dict[tuple, list[tuple[tuple, list[_Member]]]] = {}
        for key, shape in by_key.items():
            if key[0] in ("root", "chain", "sequential") or shapes_of[key[0]] < 2:
                continue  # a class of one shape has nothing to join
            rolled = [self._cut(m, keep) for m in shape]
            if all(r is not None for r in rolled):
                cut.setdefault(self._key(rolled[0]), []).append((key, rolled))
        for rolled_key, shapes in cut.items():
            if len(shapes) < 2:
                continue
            joined = [m for key, rolled in shapes for m in rolled]
            joined.sort(key=lambda m: order[id(m.instance.module)])
            for key, _ in shapes:
                del by_key[key]
            by_key[rolled_key] = joined
        return by_key

    def _cut(self, member: _Member, keep: int) -> _Member | None:
        """``member`` cut to its loops' first ``keep`` copies; None where it has no loop to cut."""
        uncut = member.uncut or member.graph
        graph, counts = cut_loops(uncut, member.instance.module, keep)
        if not counts or any(
            target.startswith(f"{container}.")
            for target in member.leaves
            for container in counts
        ):
            return None
        return dataclasses.replace(
            member,
            graph=graph,
            slots=literal_slots(graph),
            counts=counts,
            uncut=uncut,
        )

    def _takes_training(self, module: nn.Module) -> bool:
        return self.group_of[id(module)].members[0].training

    def _key(self, member: _Member) -> tuple:
        """Members with equal keys share a function (literals aside, for block classes)."""
        instance = member.instance
        callees = tuple(
            (str(n.target), id(self.group_of[id(_submodule(instance, n))]))
            for n in with_method_bodies(member.graph)
            if n.op == "call_module" and str(n.target) not in member.leaves
        )
        leaves = tuple((t, call.variable) for t, call in member.leaves.items())
        common = (callees, leaves, member.training)
        if not instance.path:
            return ("root", *common)
        if member.chain:  # one loop over one function: its length aside
            first = member.chain[0]
            called = id(self.group_of[id(_submodule(instance, first))])
            return ("chain", called, _keywords_aside(first), member.training)
        if _is_sequential(instance):  # no class: the same body, literals aside
            return ("sequential", member.slots.shape, *common)
        return (type(instance.module), member.slots.shape, *common)

    def _add_chains(self, members: list[_Member]) -> None:
        """Sequentials of one chained function and different lengths: one function.

        Its one keyword is the length (their calls' own keywords are equal).
        """
        group = _Group(members)
        inputs = {
            str(n.target) for n in members[0].graph.nodes if n.op == "placeholder"
        }
        taken = set(RESERVED) | self.names.used | self.names.blocks | inputs
        group.count = first_free("num_blocks", taken, "_")
        for member in members:
            self.group_of[id(member.instance.module)] = group
            self.settings[id(member.instance.module)] = {group.count: len(member.chain)}
        self.groups.append(group)

    def _add(
        self,
        members: list[_Member],
        flags: dict[str, str] | None = None,
        stand_ins: dict[int, int] | None = None,
        body: fx.Graph | None = None,
    ) -> None:
        """One function for ``members``; ``flags``: each optional call's keyword.

        ``stand_ins``, ``body``: see :class:`_Group`.
        """
        group = _Group(
            members, flags=dict(flags or {}), stand_ins=stand_ins or {}, body=body
        )
        group.loop_counts = self._count_keywords(members, set(group.flags.values()))
        own = set(group.flags.values()) | set(group.loop_counts.values())
        if len(members) > 1:
            group.holes = _named_holes(members, self.names, own)
        if not group.flags and not group.stand_ins and body is None:
            taken = _keyword_taken(members, self.names, own)
            group.holes, group.read = _attribute_keywords(members, group.holes, taken)
            group.computed, group.computed_defaults = _expression_keywords(
                members, group.holes + group.read, taken
            )
        # a submodule the joined body tests: given where the member holds it
        tested = _tested_submodules(body) if body is not None else set()
        for member in members:
            self.group_of[id(member.instance.module)] = group
            settings = {
                name: value_of(member.slots, slots[0]) for name, slots in group.holes
            }
            for container, count in group.loop_counts.items():
                settings[count] = member.counts[container]
            for target, flag in group.flags.items():
                settings[flag] = (
                    getattr(member.instance.module, target, None) is not None
                    if target in tested
                    else any(
                        str(n.target) == target
                        for n in member.graph.nodes
                        if n.op == "call_module"
                    )
                )
            self.settings[id(member.instance.module)] = settings
        self.groups.append(group)

    def _count_keywords(
        self, members: list[_Member], flags: set[str]
    ) -> dict[str, str]:
        """Each cut loop's container -> its count's keyword (``depth``; else ``num_layers``).

        Named after the ``__init__`` parameter whose argument is every
        member's count, as a block keyword is (:mod:`.init_names`).
        """
        if not members[0].counts:
            return {}
        taken = _keyword_taken(members, self.names, flags)
        columns = [
            (
                f"num_{container.rpartition('.')[2]}",
                [m.counts[container] for m in members],
            )
            for container in members[0].counts
        ]
        named = init_names([m.instance.module for m in members], columns, taken)
        return {
            container: named[name]
            for container, (name, _) in zip(members[0].counts, columns)
        }

    def _merge_optional_calls(
        self, groups: list[list[_Member]]
    ) -> list[tuple[list[_Member], dict[str, str], dict[int, int]]]:
        """Join a block's shapes that differ only by extra block calls on one value.

        Functional style's counterpart of the classes' ``name=None``
        submodules (kuangliu's ``BasicBlock`` with and without its
        ``shortcut``): one function, the call inside ``if has_shortcut:``,
        a ``bool`` keyword its callers pass; a call whose absence leaves
        another value than its input is the user's ``if has_shortcut: ...
        else: ...`` (:mod:`.optional_values`). The members with the calls
        come first (their graph is the function's body); a shape joins one
        other.
        """
        return _joined_pairwise(
            groups,
            lambda a, b: self._with_optional(a, b) or self._with_optional(b, a),
            lambda group: (group, {}, {}),
        )

    def _join_tested_paths(
        self, entries: list[tuple[list[_Member], dict[str, str], dict[int, int]]]
    ) -> list[tuple[list[_Member], dict[str, str], dict[int, int], fx.Graph | None]]:
        """Join a block's shapes that one test of a plain attribute tells apart,
        or the presence of optional submodules (:func:`_optional_submodule`).

        Functional style's counterpart of the classes' joined shapes
        (:func:`.class_plan._join_tested_shapes`): MobileNetV2's blocks with
        and without ``out + self.shortcut(x)`` are one function that tests
        its ``stride`` keyword (:mod:`.tested_paths`). A shape joins one other.
        """
        return _joined_pairwise(
            entries, self._tested_pair, lambda entry: (*entry, None)
        )

    def _tested_pair(
        self,
        one: tuple[list[_Member], dict[str, str], dict[int, int]],
        other: tuple[list[_Member], dict[str, str], dict[int, int]],
    ) -> tuple[list[_Member], dict[str, str], dict[int, int], fx.Graph] | None:
        """``one`` and ``other`` as one function with its body, where a test picks the path."""
        (first, *_), (second, *_) = one[0], other[0]
        cls = type(first.instance.module)
        if type(second.instance.module) is not cls or one[2] or other[2]:
            return None  # a stand-in's positions are its own shape's
        if any(
            not m.instance.path or _is_sequential(m.instance) for m in (first, second)
        ):
            return None
        if first.leaves != second.leaves or first.counts or second.counts:
            return None  # a cut body joins no other shape (:meth:`_join_loop_counts`)
        if not all(_reads_every_layer(m) for m in (*one[0], *other[0])):
            return None
        found: tuple[AttributeTest | str, bool] | None = telling_test(
            cls,
            [m.instance.module for m in one[0]],
            [m.instance.module for m in other[0]],
        )
        tested_flag: dict[str, str] = {}
        if found is None:  # a shape joined with optional calls keeps its own flags
            found = _optional_submodule(one[0], other[0])
            if found is None or one[1] or other[1]:
                return None
            taken = set(RESERVED) | self.names.used | self.names.blocks
            tested_flag = {
                found[0]: first_free(f"has_{identifier(found[0])}", taken, "_")
            }
        test, answer = found
        (own, own_flags, _), (alt, alt_flags, _) = (
            (one, other) if answer else (other, one)
        )
        flags = {**alt_flags, **own_flags, **tested_flag}
        if len(set(flags.values())) != len(flags) or not self._calls_alike(
            own[0], alt[0]
        ):
            return None
        sides = (_graph_module(own[0]), _graph_module(alt[0]))
        joined = join_paths(
            sides,
            (
                [(m.instance.module, m.slots) for m in own],
                [(m.instance.module, m.slots) for m in alt],
            ),
            test,
            pure_calls(sides, lambda module: id(module) in self.pure),
        )
        if joined is None:
            return None
        training = any(m.training for m in (*own, *alt))
        members = [
            dataclasses.replace(m, slots=slots, training=training)
            for m, slots in zip([*own, *alt], joined.slots)
        ]
        return members, flags, {}, joined.body

    def _calls_alike(self, own: _Member, alt: _Member) -> bool:
        """Each block either path calls is one function's, and ``own`` has it.

        The body calls ``alt``'s blocks under ``own``'s name for them.
        """
        theirs = self._callee_groups(alt)
        mine = self._callee_groups(own)
        for target, group in theirs.items():
            if target not in mine:
                try:
                    module = own.instance.module.get_submodule(target)
                except AttributeError:
                    return False
                if id(module) not in self.group_of:
                    return False
                mine[target] = id(self.group_of[id(module)])
            if mine[target] != group:
                return False
        return True

    def _callee_groups(self, member: _Member) -> dict[str, int]:
        return {
            str(n.target): id(self.group_of[id(_submodule(member.instance, n))])
            for n in member.graph.nodes
            if n.op == "call_module" and str(n.target) not in member.leaves
        }

    def _with_optional(
        self, base: list[_Member], wider: list[_Member]
    ) -> tuple[list[_Member], dict[str, str], dict[int, int]] | None:
        """``wider`` and ``base`` as one group, if ``wider`` only adds block calls.

        Also returns the stand-ins (:attr:`_Group.stand_ins`) of the calls
        whose absence leaves another value than their input.
        """
        first, other = wider[0], base[0]
        instance = first.instance
        if (
            type(instance.module) is not type(other.instance.module)
            or not instance.path
            or _is_sequential(instance)
            or first.leaves != other.leaves
            or (other.training and not first.training)
            or first.counts
            or other.counts
        ):
            return None
        own = {str(n.target) for n in other.graph.nodes if n.op == "call_module"}
        calls = [
            n
            for n in first.graph.nodes
            if n.op == "call_module" and str(n.target) not in own
        ]
        targets = list(dict.fromkeys(str(n.target) for n in calls))  # DINO: twice
        if not calls:
            return None
        if any(
            len(n.args) != 1
            or not isinstance(n.args[0], fx.Node)
            or str(n.target) in first.leaves
            for n in calls
        ):
            return None
        skipped = frozenset(calls)
        positions = [
            k for k, n in enumerate(first.graph.nodes) if n not in skipped
        ]  # base's node k is wider's node positions[k]
        if len(positions) != len(other.graph.nodes):
            return None
        # each group's members share one shape (their key): the firsts stand for all
        stand_ins = find_stand_ins(
            first.graph,
            skipped,
            lambda s: literal_slots(first.graph, skipped, s).shape == other.slots.shape,
        )
        if stand_ins is None:
            return None
        callees = [
            (str(n.target), id(self.group_of[id(_submodule(instance, n))]))
            for n in first.graph.nodes
            if n.op == "call_module" and n not in skipped
        ]
        own_callees = [
            (str(n.target), id(self.group_of[id(_submodule(other.instance, n))]))
            for n in other.graph.nodes
            if n.op == "call_module"
        ]
        if callees != own_callees:
            return None
        if not stand_ins and not passes_value_through(
            first.graph, skipped, Style.FUNCTIONAL
        ):  # the call's input is read after it: it stands for it in an ``else``
            stand_ins = {call: call.args[0] for call in skipped}
        mapping = dict(enumerate(positions))
        inside = {k for k, n in enumerate(first.graph.nodes) if n in skipped}
        moved_base = [
            _Member(
                m.instance,
                m.graph,
                _with_skipped_slots(moved(m.slots, mapping), wider, inside),
                m.leaves,
                m.training,
                m.chain,
            )
            for m in base
        ]
        taken = set(RESERVED) | self.names.used | self.names.blocks
        flags: dict[str, str] = {}
        for target in targets:
            flag = first_free(f"has_{identifier(target)}", taken, "_")
            taken.add(flag)
            flags[target] = flag
        where = {n: k for k, n in enumerate(first.graph.nodes)}
        at = {where[c]: where[v] for c, v in stand_ins.items()}
        return [*wider, *moved_base], flags, at


def _optional_submodule(
    one: list[_Member], other: list[_Member]
) -> tuple[str, bool] | None:
    """The submodule whose presence alone tells the two shapes apart, and whether ``one`` has it.

    Whisper's decoder blocks hold ``cross_attn`` and ``cross_attn_ln``, its
    encoder blocks None, and ``forward`` tests ``if self.cross_attn is not
    None:``: the tested submodule (else the first the wider shape calls),
    where every member of one shape holds a module (or a tensor: a
    ``Linear`` without ``bias``) under each attribute only the other's
    calls or reads (a layer functional style calls as a function), and
    every member of the other None.
    """
    for wide, narrow, answer in ((one, other, True), (other, one, False)):
        called, own = _attributes_used(wide[0].graph), _attributes_used(narrow[0].graph)
        extra = called - own
        if not extra or own - called:
            continue
        if not all(
            _holds_none(m.instance.module, a) for m in narrow for a in extra
        ) or not all(
            isinstance(getattr(m.instance.module, a, None), (nn.Module, torch.Tensor))
            for m in wide
            for a in extra
        ):
            continue
        tests = attribute_tests(type(wide[0].instance.module))
        tested = [t.attribute for t in tests if t.attribute in extra]
        first = next(
            _attribute_of(n)
            for n in wide[0].graph.nodes
            if n.op in ("call_module", "get_attr") and _attribute_of(n) in extra
        )
        return (tested[0] if tested else first), answer
    return None


def _tested_submodules(graph: fx.Graph) -> set[str]:
    """The submodules whose presence a joined body tests (:func:`_optional_submodule`)."""
    return {n.args[0] for n in graph.nodes if n.target is submodule_given}


def _holds_none(module: nn.Module, name: str) -> bool:
    """``module.<name>`` is set, to None: a submodule, parameter or attribute left out."""
    held = (vars(module), module._parameters, module._buffers, module._modules)
    return any(name in where for where in held) and getattr(module, name) is None


def _attributes_used(graph: fx.Graph) -> set[str]:
    """The attributes whose layers a graph calls or whose tensors it reads (``cross``)."""
    return {
        _attribute_of(n) for n in graph.nodes if n.op in ("call_module", "get_attr")
    }


def _attribute_of(node: fx.Node) -> str:
    return str(node.target).split(".")[0]


def _keywords_aside(call: fx.Node) -> tuple:
    """A chain's keywords, their literals aside.

    PNASNet's stages chain ``cell_a(..., in_planes=44)`` and ``in_planes=88``:
    one function, the number its keyword, handed on to every member.
    """
    return tuple(
        (name, "<literal>" if is_free_literal(value) else repr(value))
        for name, value in call.kwargs.items()
    )


def _by_keywords(members: list[_Member]) -> list[list[_Member]]:
    """Chains of one key, by their calls' exact keywords.

    Chains of different lengths are one function only where their calls
    pass the same keywords (:meth:`_Grouping._add_chains`).
    """
    by_keywords: dict[str, list[_Member]] = {}
    for member in members:
        by_keywords.setdefault(repr(member.chain[0].kwargs), []).append(member)
    return list(by_keywords.values())


def _joined_pairwise(
    items: list[Any],
    join: Callable[[Any, Any], Any | None],
    alone: Callable[[Any], Any],
) -> list[Any]:
    """Each item joined with the first later one ``join`` takes (None: it does not).

    An item joins one other at most; one that joins none is ``alone(item)``.
    """
    joined: set[int] = set()
    result = []
    for i, item in enumerate(items):
        if i in joined:
            continue
        found = None
        for j in range(i + 1, len(items)):
            if j not in joined:
                found = join(item, items[j])
                if found is not None:
                    joined.add(j)
                    break
        result.append(found if found is not None else alone(item))
    return result


def _with_their_class(
    ready: list[Instance],
    pending: list[Instance],
    resolved: Callable[[Instance], bool],
) -> list[Instance]:
    """The ready blocks whose class has no block still waiting: grouped with all of it.

    A block's shapes can merge (:meth:`_Grouping._merge_optional_calls`) only
    when grouped together; one without its ``shortcut`` is ready a round
    before one with it. All of ``ready`` where holding back would leave none
    (a class that holds an instance of itself, as DLA's ``Tree``).
    """
    waiting = {
        type(i.module)
        for i in pending
        if i.path and not _is_sequential(i) and not resolved(i)
    }
    kept = [i for i in ready if type(i.module) not in waiting]
    return kept or ready


def _with_skipped_slots(slots: Slots, wider: list[_Member], inside: set[int]) -> Slots:
    """``slots`` of a member without the optional calls, given values for their slots.

    The calls never run for it, so any value does; it takes the value of a
    slot of its own that always agrees with the call's in the members that
    make it (the block's ``stride`` passed on to its ``shortcut``), so that
    the two stay one keyword, else the first such member's.
    """
    values = dict(slots.values)
    own = [s for s in wider[0].slots.values if s[0] not in inside]
    for slot in [s for s in wider[0].slots.values if s[0] in inside]:
        column = [_repr_of(m.slots, slot) for m in wider]
        twin = next(
            (t for t in own if [_repr_of(m.slots, t) for m in wider] == column),
            None,
        )
        if twin is not None and twin in slots.values:
            values[slot] = slots.values[twin]
        else:
            values[slot] = value_of(wider[0].slots, slot)
    return Slots(slots.shape, values, slots.defaults)


def _repr_of(slots: Slots, slot: Any) -> str:
    value = (
        value_of(slots, slot)
        if slot in slots.values or slot in slots.defaults
        else None
    )
    return f"{type(value).__name__}:{value!r}"


def _split_unshareable(members: list[_Member]) -> list[list[_Member]]:
    """``members`` as groups that can share a body: by exact graph where a slot has no default."""
    if len(members) == 1 or can_share([m.slots for m in members]):
        return [members]
    exact: dict[tuple, list[_Member]] = {}
    for member in members:
        exact.setdefault(graph_signature(member.graph), []).append(member)
    return list(exact.values())


def _named_holes(
    members: list[_Member], names: "_FunctionNames", flags: set[str] = frozenset()
) -> Named:
    """The keyword parameters of the members' function: never a name the body or file uses."""
    template = members[0].graph
    taken = (
        set(RESERVED)
        | names.used
        | names.blocks
        | set(flags)
        | {str(n.target) for n in template.nodes if n.op == "placeholder"}
    )
    named = named_holes([m.slots for m in members], taken)
    # the body may call any builtin (``range``, ``len``) or function named later
    called = set(dir(builtins)) | _names_of_callees(members)
    return _user_names(members, named, frozenset(taken | called))


def _keyword_taken(
    members: list[_Member], names: "_FunctionNames", flags: set[str]
) -> frozenset[str]:
    """Names no keyword of the members' function may take: the file's, the body's."""
    template = members[0].graph
    return frozenset(
        set(RESERVED)
        | names.used
        | names.blocks
        | set(flags)
        | {str(n.target) for n in template.nodes if n.op == "placeholder"}
        | set(dir(builtins))
        | _names_of_callees(members)
    )


def _attribute_keywords(
    members: list[_Member], holes: Named, taken: frozenset[str]
) -> tuple[Named, Named]:
    """``holes`` named after the attribute the source reads there, and the other reads.

    As the class styles do (:func:`.class_plan._attribute_names`): a keyword
    whose slots the source writes as ``self.n_head`` is ``n_head``; a slot
    every member shares that the source writes so becomes a keyword
    ``n_head`` with its value as default, which the callers leave out.
    Read back (:mod:`nnconvert.functional`), ``C // n_head`` is read as that
    attribute again, so module -> functional -> module keeps the name.
    """
    found = [attribute_reads(m.graph, m.instance.module) for m in members]
    reads = {
        slot: name
        for slot, name in found[0].items()
        if all(other.get(slot) == name for other in found[1:])
    }
    if not reads:
        return holes, []
    taken = taken | {n for n, _ in holes}
    named: Named = []
    for name, slots in holes:
        attribute = {reads.get(slot) for slot in slots}
        if len(attribute) == 1 and None not in attribute:
            (written,) = attribute
            if written not in taken and written not in {n for n, _ in named}:
                name = written
        named.append((name, slots))
    in_holes = {slot for _, slots in holes for slot in slots}
    used = taken | {n for n, _ in named}
    by_attribute: dict[str, list] = {}
    for slot, attribute in reads.items():
        if slot not in in_holes and attribute not in used:
            by_attribute.setdefault(attribute, []).append(slot)
    return named, list(by_attribute.items())


def _expression_keywords(
    members: list[_Member], named: Named, taken: frozenset[str]
) -> tuple[Named, dict[str, Any]]:
    """The numbers the source computed from attributes, as the function writes them.

    As class styles write ``math.sqrt(self.emb_size)``
    (:func:`.class_plan._expression_reads`), the function writes
    ``math.sqrt(emb_size)`` and takes ``emb_size`` as a keyword whose
    default is the value every member holds, which no caller passes. Only
    slots every member's source writes with one text and attribute values,
    and attributes no other keyword or name of the body takes.
    """
    agreed = agreed_expression_reads([(m.graph, m.instance.module) for m in members])
    used = {slot for _, slots in named for slot in slots}
    # a keyword already read as the attribute (Conformer's ``max_pos_emb``,
    # beside ``-max_pos_emb``), where every member holds the read's value
    held = {n: [value_of(m.slots, slots[0]) for m in members] for n, slots in named}
    computed: dict[str, list] = {}
    defaults: dict[str, Any] = {}
    for slot, reads in agreed.items():
        read = reads[0]
        if slot in used or any(r != read for r in reads):
            continue
        attributes = dict(read.attributes)
        if any(
            a in taken
            or (a in held and not all(same_literal(h, v) for h in held[a]))
            or defaults.get(a, v) != v
            for a, v in attributes.items()
        ):
            continue
        text = re.sub(r"\bself\.(\w+)", r"\1", read.text)
        defaults |= {a: v for a, v in attributes.items() if a not in held}
        computed.setdefault(text, []).append(slot)
    return list(computed.items()), defaults


def _names_of_callees(members: list[_Member]) -> set[str]:
    """Names the functions the members' body calls may take, though not yet claimed.

    A Sequential's function is named after its attribute (``layers``, or
    ``layer`` for ``layer1``), a helper method's after itself: a keyword of
    that name would hide the function in the body. A parameter-free
    ``torch.nn`` layer is a call of ``F`` (``self.dropout =
    nn.Dropout(config.dropout)`` leaves ``dropout`` free for its rate).
    """
    names = {"sequential"}
    for member in members:
        for attribute, child in member.instance.module.named_children():
            if is_stateless(child) and not is_user_module(child) and not child._modules:
                continue
            base = _sequential_base(attribute)
            names |= {base, re.sub(r"_?\d+$", "", base)}
        names |= {call.name for call in methods_of(member.graph)}
    return names


def _user_names(members: list[_Member], named: Named, taken: frozenset[str]) -> Named:
    """``named`` as the user's ``__init__`` names them, in its order: as class styles do.

    A keyword whose value is, in every member, the same ``__init__``
    argument takes that parameter's name (``scale``, not ``value``), the
    rule and order of a class's constructor parameters
    (:mod:`.init_names`); read back from the file, the keywords are the
    blocks' constructor arguments again (:mod:`nnconvert.functional`), so
    functional -> module names a class as module -> module does.
    """
    modules = [m.instance.module for m in members]
    columns = [
        (name, [value_of(m.slots, slots[0]) for m in members]) for name, slots in named
    ]
    renamed = init_names(modules, columns, taken)
    by_name = {renamed[name]: slots for name, slots in named}
    order = init_order(modules, list(by_name))
    written = {
        name: i for i, name in enumerate(keyword_order(modules[0]) if modules else [])
    }
    if written:  # read back from a functional file: the order it was written in
        order.sort(key=lambda name: written.get(name, len(written)))
    return [(name, by_name[name]) for name in order]


def _plan(group: _Group, grouping: _Grouping, names: "_FunctionNames") -> FunctionPlan:
    """The function of ``group``: its name, its body with the holes filled by its keywords."""
    first = group.members[0]
    name = names.claim(first.instance, [m.instance for m in group.members[1:]])
    body = group.body if group.body is not None else first.graph
    texts = {text for text, _ in group.computed}
    graph = filled(
        body,
        group.holes + group.read + group.computed,
        lambda n: computed_text(n) if n in texts else _Raw(n),
    )
    callees = {}
    for node in with_method_bodies(graph):
        target = str(node.target)
        if node.op == "call_module" and target not in first.leaves:
            callee = grouping.group_of[id(_submodule(first.instance, node))]
            callees[target] = (callee.plan.name, callee.members[0].training)
    for call in methods_of(graph):
        # a helper calling a block that takes the mode takes it too
        call.passes_training = any(
            node.op == "call_module" and callees.get(str(node.target), ("", False))[1]
            for node in call.body.nodes
        )
    helpers, shared = [], set()
    for call in methods_of(graph):
        helper, written = names.claim_method(call.name, _method_identity(call))
        helpers.append(helper)
        if written:
            shared.add(helper)
    reserved = frozenset(
        names.used
        | {n for n, _ in group.holes + group.read}
        | set(group.computed_defaults)
        | set(group.flags.values())
        | set(group.loop_counts.values())
    )
    if group.stand_ins:  # ``filled`` keeps the positions
        nodes = list(graph.nodes)
        graph, copies = with_choices(
            graph, {nodes[c]: nodes[v] for c, v in group.stand_ins.items()}
        )
        chosen = {copies[nodes[c]] for c in group.stand_ins}
    # a submodule the joined shapes test (:func:`_optional_submodule`) is
    # under the merge's branch already
    tested = _tested_submodules(graph)
    optional = frozenset(
        n
        for n in graph.nodes
        if n.op == "call_module"
        and str(n.target) in group.flags
        and str(n.target) not in tested
        and not (group.stand_ins and n in chosen)
    )
    statements = plan_statements(graph, Style.FUNCTIONAL, reserved, optional)
    methods = tuple(zip(helpers, plan_methods(graph, Style.FUNCTIONAL, reserved)))
    keywords = tuple(
        (hole, _hint([value_of(m.slots, slots[0]) for m in group.members]))
        for hole, slots in group.holes
    )
    keywords += tuple((count, "int") for count in group.loop_counts.values())
    defaults = {name: value_of(first.slots, slots[0]) for name, slots in group.read}
    defaults |= group.computed_defaults
    keywords += tuple((name, _hint([value])) for name, value in defaults.items())
    if group.count is not None:
        keywords += ((group.count, "int"),)
    keywords += tuple((flag, "bool") for flag in group.flags.values())
    group.plan = FunctionPlan(
        name,
        first.instance,
        statements,
        callees,
        first.training,
        first.leaves,
        graph,
        keywords,
        methods,
        group.count,
        dict(group.flags),
        tuple(m.instance.path for m in group.members),
        reserved,
        defaults,
        frozenset(shared),
        dict(group.loop_counts),
    )
    return group.plan


def _method_identity(call: Any) -> tuple | None:
    """What makes two blocks' helper functions one text, where it can be told.

    A body of its own ops and literals (:attr:`MethodCall.key`), calling no
    block or other helper (whose function names are each caller's own) and
    with no literal its block's keywords fill: DETR's ``with_pos_embed``,
    the same in its encoder and decoder layers, is written once.
    """
    if call.filled is not None or call.keywords:
        return None
    if any(n.op == "call_module" or is_method_call(n) for n in call.body.nodes):
        return None
    return (call.name, call.key, call.reads_training)


def _hint(values: list[Any]) -> str | None:
    """``int``, ``float``, ``bool``, ``str``, ``tuple[int, ...]``, ``... | None``: what the values are."""
    kinds = set()
    for value in values:
        if value is None:
            kinds.add("None")
        elif isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, int):
            kinds.add("int")
        elif isinstance(value, float):
            kinds.add("float")
        elif isinstance(value, str):
            kinds.add("str")
        elif isinstance(value, tuple) and all(type(v) is int for v in value):
            kinds.add("tuple[int, ...]")
        else:
            return None
    if kinds == {"int", "float"}:
        kinds = {"float"}
    optional = "None" in kinds
    kinds.discard("None")
    if len(kinds) != 1:
        return None
    (kind,) = kinds
    return f"{kind} | None" if optional else kind


# -- graphs as their functions run them -----------------------------------------


def _prepared_graph(
    instance: Instance, passthrough: set[int], settings: dict[int, dict[str, Any]]
) -> fx.Graph:
    """``instance``'s graph with pass-through calls removed and its calls' keywords added.

    In the bodies of its helper methods too (DINO's ``prepare_tokens`` calls
    its ``patch_embed`` block): each such method gets a body of its own.
    """
    original = instance.graph.graph
    calls = [n for n in with_method_bodies(original) if n.op == "call_module"]
    modules = {str(n.target): _submodule(instance, n) for n in calls}
    if not any(id(m) in passthrough or settings.get(id(m)) for m in modules.values()):
        return original
    graph = copy_graph(original)
    _prepare_calls(graph, modules, passthrough, settings)
    prepared: dict[int, Any] = {}  # one method, one body: however often it is called
    for node in graph.nodes:
        if is_method_call(node):
            if id(node.target) not in prepared:
                body = copy_graph(node.target.body)
                _prepare_calls(body, modules, passthrough, settings)
                prepared[id(node.target)] = dataclasses.replace(
                    node.target, module=fx.GraphModule(node.target.module, body)
                )
            node.target = prepared[id(node.target)]
    return graph


def _prepare_calls(
    graph: fx.Graph,
    modules: dict[str, nn.Module],
    passthrough: set[int],
    settings: dict[int, dict[str, Any]],
) -> None:
    """Remove ``graph``'s calls of pass-through blocks; add their keywords to the others."""
    for node in [n for n in graph.nodes if n.op == "call_module"]:
        module = modules[str(node.target)]
        if id(module) in passthrough:
            value = node.args[0] if node.args else next(iter(node.kwargs.values()))
            for user in list(node.users):
                user.args = fx.node.map_arg(
                    user.args, lambda n: value if n is node else n
                )
                user.kwargs = fx.node.map_arg(
                    user.kwargs, lambda n: value if n is node else n
                )
            graph.erase_node(node)
        elif settings.get(id(module)):
            node.kwargs = {**node.kwargs, **settings[id(module)]}


def _returns_its_input(graph: fx.Graph, module: nn.Module) -> bool:
    """A block that does nothing: one input, returned as it is, and no weights."""
    nodes = list(graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    return (
        len(nodes) == 2
        and len(inputs) == 1
        and not inputs[0].args
        and nodes[1].op == "output"
        and nodes[1].args[0] is inputs[0]
        and not any(True for _ in module.state_dict())
    )


def _callee_modules(instance: Instance) -> list[nn.Module]:
    """The blocks ``instance`` calls (third-party layers aside)."""
    found = []
    for node in with_method_bodies(instance.graph.graph):
        if node.op == "call_module":
            module = _submodule(instance, node)
            if leaf_of(module) is None:
                found.append(module)
    return found


class _FunctionNames:
    """Function names: a block's is its class's in snake_case, numbered ``_2`` …

    … unless the user's blocks it holds tell it apart from the first of its
    class: ``pre_norm_feed_forward`` (:mod:`.shape_names`).

    A Sequential's is its attribute's, numbered ``2`` … and never one a block
    function has or will have (``double_conv2``).
    """

    def __init__(self, instances: list[Instance], top_name: str, taken: set[str]):
        self.top_name = top_name
        self.used = {*FUNCTIONAL_NAMES, top_name, *taken}
        self.leaves: dict[tuple, LeafCall] = {}
        self.methods: dict[Hashable, str] = {}  # a helper's identity -> its function
        self.wrapped = WrappedBlocks()
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

    def claim_method(
        self, name: str, identity: Hashable | None = None
    ) -> tuple[str, bool]:
        """The function of a helper method: its own name, where no block's function has it.

        And whether another block's function already claimed it: the same
        ``identity`` (:func:`_method_identity`), the same function.
        """
        if identity is not None and identity in self.methods:
            return self.methods[identity], True
        claimed = self._claim(name, self.blocks, "_")
        if identity is not None:
            self.methods[identity] = claimed
        return claimed, False

    def claim(self, instance: Instance, others: list[Instance] = ()) -> str:
        """``instance``'s function name; ``others`` share it (``layer`` for ``layer2``, ``layer3``)."""
        if not instance.path:
            return self.top_name
        if _is_sequential(instance):
            bases = {_sequential_base(i.path) for i in [instance, *others]}
            base = _sequential_base(instance.path)
            stems = {re.sub(r"_?\d+$", "", b) for b in bases}
            if len(bases) > 1 and len(stems) == 1 and next(iter(stems)).isidentifier():
                (base,) = stems
            return self._claim(base, self.blocks, "")
        base = snake_case(type(instance.module).__name__)
        wrapped = self.wrapped.distinguishing(instance.module)
        if wrapped:  # ``pre_norm_feed_forward`` beside ``pre_norm``
            # (:mod:`.shape_names`; read back: ``functional.classes.shape_of``)
            base = f"{base}_{snake_case(wrapped)}"
        return self._claim(base, set(), "_")

    def _claim(self, base: str, also_taken: set[str], separator: str) -> str:
        base = _free_of_builtins(base)
        if base[-1].isdigit():
            separator = "_"
        name = first_free(base, self.used | also_taken, separator)
        self.used.add(name)
        return name


def read_paths(graph: fx.Graph) -> list[str]:
    """``"conv1.weight."``, ``"shortcut."``: each tensor and block ``graph`` reads, dotted.

    A called block reads all its tensors; its helper methods' bodies count.
    """
    return [
        f"{n.target}."
        for n in with_method_bodies(graph)
        if n.op in ("get_attr", "call_module")
    ]


def _reads_every_layer(member: _Member) -> bool:
    """Every layer holding tensors of the block is read on its path.

    A functional file read back learns a layer from the calls that read
    its tensors: tensors only the other path reads (EfficientNet's
    expansion, built but skipped where ``expand_ratio == 1``) would be
    tensors of no layer there, drawn as ``torch.empty``. A layer registered
    under two names (TCN's ``self.conv1``, also ``self.net[0]``) is read
    when either is.
    """
    read = read_paths(member.graph)
    module = member.instance.module
    names: dict[object, list[str]] = {}  # a layer (or a tensor of the block's own)
    for key in module.state_dict():
        owner = key.rpartition(".")[0]
        try:
            layer: object = id(module.get_submodule(owner)) if owner else key
        except AttributeError:
            layer = owner
        names.setdefault(layer, []).append(owner or key)
    return all(
        any(
            t.startswith(f"{owner}.") or f"{owner}.".startswith(t)
            for owner in owners
            for t in read
        )
        for owners in names.values()
    )


def _graph_module(member: _Member) -> fx.GraphModule:
    """``member``'s graph as a module of its own, over its instance's attributes."""
    module = fx.GraphModule(member.instance.graph, copy_graph(member.graph))
    module.meta.update(member.instance.graph.meta)
    return module


def _submodule(instance: Instance, node: fx.Node) -> nn.Module:
    return instance.module.get_submodule(str(node.target))


def _free_of_builtins(name: str) -> str:
    """``input`` -> ``input_``: a function may not hide a builtin or a name the code uses."""
    return f"{name}_" if hasattr(builtins, name) or name in RESERVED else name


def _sequential_base(path: str) -> str:
    """The function name of the ``nn.Sequential`` at ``path``: its attribute (``features``).

    In snake case, as functions are named (ESRGAN's ``RRDB_trunk`` ->
    ``rrdb_trunk``); ``sequential`` for one known only by position (``blocks.0``).
    """
    attribute = path.rpartition(".")[2]
    return "sequential" if attribute.isdigit() else snake_case(attribute)


def _is_sequential(instance: Instance) -> bool:
    return bool(instance.path) and type(instance.module) is nn.Sequential
