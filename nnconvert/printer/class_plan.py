"""Module and mixed style: the plan of the classes, decided before any text.

Which instances share a class, which submodules are optional in a merged
class, what each class is called and which names its body may use: all of it
is decided here, from the traced graphs (:func:`.signature.graph_signature`)
and the constructor calls :mod:`.classes` describes, never from printed code.
:mod:`.class_text` only renders the plan (functional style's counterpart is
:mod:`.function_plan`).

Classes: instances of one block class whose graphs have the same signature
and whose constructor calls have the same structure, literals aside, share a
class; the literals that differ become constructor parameters
(:func:`~.constructors.assign_holes`). Shapes that differ only by extra
submodules called on one value merge into one class with ``name=None``
parameters, as torchvision writes ResNet's ``downsample``
(:func:`optional_calls`), and so do shapes whose extra submodule, absent,
leaves another value (``shortcut = self.shortcut(out) if ... else x``:
:mod:`.optional_values`); other shapes get a class each, named by what they
add (``BasicBlockWithProj``) or numbered. Literals of ``forward`` that differ
between instances (a ``LayerNorm`` class's width, a ``DropPath``'s rate)
become constructor parameters too, kept on ``self``
(:mod:`.literal_holes`); a literal the source reads as ``self.n_head`` keeps
that name, set in ``__init__`` where every instance agrees
(:mod:`.attribute_reads`). A user class that subclasses a torch layer and adds
no state of its own stays that layer's subclass, without an ``__init__``
(:mod:`.layer_subclasses`).
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Callable

from torch import fx, nn

from ..block_purity import pure_calls
from ..branches import submodule_given
from ..hierarchy import Instance, is_defined_class
from ..merge import merge_graphs
from ..module_kinds import is_stateless
from ..naming import camel_case, first_free, identifier
from ..opspecs.spec import REQUIRED, Param
from ..options import Style
from ..passes.methods import is_method_call
from ..passes.styles import ARGUMENTS_READ
from .classes import (
    ConstructorDescriber,
    Described,
    consistent_recoveries,
    with_assignment,
)
from .constructors import (
    Assign,
    BuiltIf,
    Ctor,
    Hole,
    Holes,
    Tied,
    assign_holes,
    leaves,
    structure,
)
from .derived_sizes import with_derived_sizes
from .optional_flags import Presence, presence_flag
from .source_arguments import NOTHING_HELD, held_arguments, with_held, written_reads
from .init_names import init_names, init_order
from .expressions import _Raw
from .layer_subclasses import base_reads, calls_only_super, with_super_forward
from .attribute_reads import (
    ExpressionRead,
    agreed_expression_reads,
    attribute_reads,
    computed_text,
)
from .attribute_tests import (
    AttributeTest,
    attribute_tests,
    plain_attribute,
    telling_test,
)
from .literal_holes import (
    Named,
    Slot,
    abstracted,
    can_share,
    filled,
    copy_graph,
    literal_slots,
    named_holes,
    restore_literals,
    value_of,
)
from .signature import graph_signature
from .methods import MethodPlan, plan_methods
from .optional_values import StandIns, find_stand_ins, with_choices
from .values import same_literal
from .shape_names import WrappedBlocks
from .statements import StatementPlan, passes_value_through, plan_statements


@dataclass(frozen=True)
class ClassPlan:
    """One class of the output: its name, constructor template and forward's plan.

    ``template`` is the member with every attribute (the widest); ``init`` is
    its ``__init__`` with holes for the constructor parameters
    (``signature``: each parameter and whether it is positional) and for
    the ``optional`` attributes, written ``name=None``. ``statements`` is
    None for a class that keeps its base's forward: an ``nn.Sequential``
    subclass, or a layer subclass that changes only other methods.
    """

    name: str
    template: Described
    init: list[Assign]
    signature: list[tuple[Param, bool]]
    optional: list[str]
    statements: StatementPlan | None
    members: list[Described]
    #: forward as printed: the template's graph, reading ``self.<name>`` for
    #: literals that differ between members (None: the template's own)
    graph: fx.Graph | None = None
    #: the helper methods forward calls (``self.encode(x)``), each written once
    methods: tuple[MethodPlan, ...] = ()
    #: the torch layer the class subclasses (``nn.LayerNorm``): it has no
    #: ``__init__`` of its own then (:mod:`.layer_subclasses`)
    base: str | None = None
    #: attributes set to the literal ``forward`` reads through them
    #: (``self.n_head = 2``, :mod:`.attribute_reads`), last in ``__init__``
    reads: tuple[str, ...] = ()
    #: sizes ``__init__`` computes from its parameters first, named as the
    #: user named them (``group_width = bottleneck_width * 2``, :mod:`.derived_sizes`)
    sizes: tuple[tuple[str, str], ...] = ()
    #: the class builds its ``optional`` submodules itself, on a flag its
    #: ``signature`` holds or under the user's condition (:mod:`.optional_flags`):
    #: no ``name=None`` parameters
    built_optional: bool = False
    #: the config objects among ``sizes`` (``config = GPTConfig(...)``),
    #: whose classes the file defines (:mod:`.config_objects`)
    configs: tuple[Any, ...] = ()


def plan_classes(
    instances: list[Instance],
    style: Style,
    top_name: str,
    taken: set[str],
    fresh_checked: bool = False,
    read_source: bool = True,
    render: Callable[[ClassPlan], str] | None = None,
) -> list[ClassPlan]:
    """Every class of the file, children first; the root's (named ``top_name``) last.

    ``taken`` are names defined elsewhere (imports): no class takes them.
    ``fresh_checked``: the caller checks a fresh build of the output, so
    tensors may be written as user code that draws
    (:class:`~.classes.ConstructorDescriber`). ``read_source=False``: no layer
    argument is read from the blocks' source (:mod:`.source_arguments`), as
    for a model read back from a functional file, which has none.
    ``render``: a plan's class as text (:func:`.class_text.class_text`),
    which joins the classes of one block that read the same
    (:meth:`_ClassPlanner._joined_alike`).
    """
    planner = _ClassPlanner(style, top_name, taken, fresh_checked, read_source, render)
    return planner.plan(instances)


class _ClassPlanner:
    """Groups instances level by level (blocks without blocks inside first).

    A parent's constructor call of a child depends on the class and
    parameters the child's whole group gets, so a level is planned only
    after the levels below it.
    """

    def __init__(
        self,
        style: Style,
        top_name: str,
        taken: set[str],
        fresh_checked: bool,
        read_source: bool = True,
        render: Callable[[ClassPlan], str] | None = None,
    ):
        self.style = style
        self.top_name = top_name
        self.used_names = set(taken) | {top_name}  # the root's, whatever comes first
        self.describer = ConstructorDescriber(fresh_checked)
        self.read_source = read_source
        # attributes of each class's first shape, for naming the others
        self.first_shape: dict[type, set[str]] = {}
        self.wrapped = WrappedBlocks()
        self.pure: set[int] = set()  # ids of the blocks known pure
        # the parameters each block class writes wherever its source uses them
        self.whole: dict[type, frozenset[str]] = {}
        #: a plan's class as text, for joining classes that read the same
        self.render = render

    def plan(self, instances: list[Instance]) -> list[ClassPlan]:
        self.pure = {id(i.module) for i in instances if i.pure}
        levels: dict[int, list[Instance]] = {}
        heights = _heights(instances)
        for instance in instances:
            levels.setdefault(heights[id(instance.module)], []).append(instance)
        plans = []
        for level in sorted(levels):
            groups: dict[tuple, list[Described]] = {}
            described = [self.describer.describe(i) for i in levels[level]]
            for member in consistent_recoveries(described):
                groups.setdefault(_class_key(member), []).append(member)
            shared = [g for group in groups.values() for g in _shareable(group)]
            merged = _merge_optional_blocks(shared, self.style, self._pure)
            planned = [
                self._plan_group(*group, alternative=alternative)
                for group, alternative in _join_tested_shapes(merged, self.style)
            ]
            plans += self._joined_alike(self._joined_layer_subclasses(planned))
        return plans

    def _joined_alike(self, plans: list[ClassPlan]) -> list[ClassPlan]:
        """``plans`` with the classes of one block that read the same, but for their name, as one.

        MobileViT's ``Transformer``s of depths 2, 4 and 3 trace apart (their
        loops unroll to different lengths), yet each class loops over
        ``self.layers`` and builds ``depth`` layers from its parameter: the
        same text three times. The later ones' members join the first's
        class and are built under its name; their parents then share a
        class too. The text is the class, so each member's constructor call
        builds what it built before (and the checker runs the output).
        """
        if self.render is None:
            return plans
        by_type = Counter(type(plan.template.instance.module) for plan in plans)
        texts = {
            plan.name: _unnamed(self.render(plan), plan.name)
            for plan in plans
            if by_type[type(plan.template.instance.module)] > 1
            and plan.name != self.top_name
        }
        return self._joined(
            plans, lambda a, b: a.name in texts and texts[a.name] == texts.get(b.name)
        )

    def _joined_layer_subclasses(self, plans: list[ClassPlan]) -> list[ClassPlan]:
        """``plans`` with the layer subclasses of one class that print alike as one.

        ``Half(4)`` and ``Half(4, elementwise_affine=False)`` trace apart
        (the second passes no tensors to ``F.layer_norm``), but both forwards
        print ``super().forward(x.half())``: the second's members join the
        first's class and are built under its name.
        """
        return self._joined(plans, _print_alike)

    def _joined(
        self, plans: list[ClassPlan], alike: Callable[[ClassPlan, ClassPlan], bool]
    ) -> list[ClassPlan]:
        """Each plan ``alike`` an earlier one joined to it: its members built under its name."""
        kept: list[ClassPlan] = []
        for plan in plans:
            at = next((i for i, k in enumerate(kept) if alike(k, plan)), None)
            if at is None:
                kept.append(plan)
                continue
            for member in plan.members:
                key = id(member.instance.module)
                call = self.describer.calls[key]
                self.describer.calls[key] = replace(call, callee=kept[at].name)
            kept[at] = replace(kept[at], members=kept[at].members + plan.members)
        return kept

    def _plan_group(
        self,
        members: list[Described],
        optional: list[str],
        calls: frozenset[fx.Node],
        stand_ins: StandIns,
        alternative: _Alternative | None = None,
    ) -> ClassPlan:
        """One class for ``members``; ``optional`` attributes are ``name=None`` parameters.

        ``stand_ins``: the optional calls whose absence leaves another value,
        each with that value (:mod:`.optional_values`); the others, skipped,
        leave their input. ``alternative``: members of another shape, whose
        path the class's own test picks (:mod:`.attribute_tests`).
        """
        reserved = frozenset(self.used_names)  # its body's names: not the class's own
        name = self._class_name(type(members[0].instance.module), members)
        if alternative is None:
            subclass = self._plan_layer_subclass(
                name, members, optional, calls, reserved
            )
            if subclass is not None:
                return subclass
        traced = members  # the members whose graph the class prints, literals and all
        if alternative is not None:
            attribute = alternative.test.attribute
            lacking, places = alternative.added
            sides = [
                [
                    replace(m, init=_with_added(m, places)) if lacking == side else m
                    for m in group
                ]
                for side, group in enumerate((members, alternative.members))
            ]
            traced = [_keeping(m, attribute) for m in sides[0]]
            members = traced + [_keeping(m, attribute) for m in sides[1]]
        inits = [[a for a in m.init if a.attribute not in optional] for m in members]
        modules = [m.instance.module for m in members]
        reads = _agreed_reads(traced)
        computed_reads = (
            _agreed_expressions(members, traced) if self.read_source else {}
        )
        held = NOTHING_HELD
        is_root = any(not m.instance.path for m in members)
        if self.read_source:
            taken = reserved | set(optional) | {"self"}
            held = held_arguments(
                modules,
                inits,
                taken,
                set(reads.values())
                | {a for r in computed_reads.values() for a, _ in r[0].attributes},
                lambda cls: self.whole.get(cls, frozenset()),
                is_root,
                stateless_layers=self.style is Style.MODULE,
                made_reads=[_made_reads(m.instance.graph.graph) for m in members],
            )
            cls = type(modules[0])  # a class split in shapes: what all keep whole
            self.whole[cls] = self.whole.get(cls, held.whole) & held.whole
        holes = with_held(assign_holes(inits, held.at), held, modules, is_root)
        kept = _forward_holes(traced, set(holes.names))
        holes, kept = _user_names(members, holes, kept, optional, reserved)
        kept, shared = _read_from_parameters(members, holes, kept)
        shared += _parameter_reads(members, holes, reads, [*kept, *shared])
        kept, named_reads = _attribute_names(members, holes, kept, shared, reads)
        derived: dict[str, str] = {}
        if self.read_source and (kept or named_reads):
            # ``self.scale = dim_head ** -0.5``: set as the source sets it, no parameter
            slots = [literal_slots(m.graph) for m in members]
            derived = written_reads(
                modules,
                {n: [value_of(s, f[0]) for s in slots] for n, f in kept + named_reads},
                holes,
            )
            named_reads += [(n, f) for n, f in kept if n in derived]
            kept = [(n, f) for n, f in kept if n not in derived]
        computed: Named = []
        computed_init: list[Assign] = []
        if self.read_source:  # ``math.sqrt(self.emb_size)``: written as the source does
            kept, computed, computed_init = _expression_reads(
                computed_reads, holes, kept, shared, named_reads, members
            )
        given = [_given(m) for m in members]
        presence = presence_flag(
            [m.instance.module for m in members],
            given,
            optional,
            holes,
            reserved | {"self"},
        )
        signature = holes.parameters()
        values_per_instance = holes.values_per_instance
        if presence is not None and not presence.condition:  # a flag of its own
            required = presence.default is REQUIRED
            at = sum(1 for _, is_positional in signature if is_positional)
            at = at if required else len(signature)
            signature.insert(at, (Param(presence.flag, presence.default), required))
            values_per_instance = [
                [*row[:at], flag, *row[at:]]
                for row, flag in zip(values_per_instance, presence.arguments)
            ]
        if kept:  # required, after the init's required parameters
            at = sum(1 for _, is_positional in signature if is_positional)
            signature[at:at] = [(Param(name, REQUIRED), True) for name, _ in kept]
            slots = [literal_slots(m.graph) for m in members]
            values_per_instance = [
                values[:at] + [value_of(s, hole[0]) for _, hole in kept] + values[at:]
                for values, s in zip(values_per_instance, slots)
            ]
        positional = sum(1 for _, is_positional in signature if is_positional)
        for member, built, values in zip(members, given, values_per_instance):
            arguments = tuple((p, v) for (p, _), v in zip(signature, values))
            if presence is None:
                arguments += tuple((Param(o, None), built.get(o)) for o in optional)
            self.describer.calls[id(member.instance.module)] = Ctor(
                name, arguments, positional
            )
        widest = _widest(traced, calls)
        template = iter(holes.template)
        init = [
            (
                Assign(a.attribute, _optional_value(a.attribute, presence))
                if a.attribute in optional
                else next(template)
            )
            for a in widest.init
        ]
        init += [Assign(name, Hole(name)) for name, _ in [*kept, *shared]]
        if named_reads:
            values = literal_slots(widest.graph)
            read = [
                Assign(n, Hole(derived[n]) if n in derived else value_of(values, f[0]))
                for n, f in named_reads
            ]
            init += read  # last: read back from a functional file, nothing says where
        init += computed_init
        texts = {n for n, _ in computed}
        graph = filled(
            widest.graph,
            kept + shared + named_reads + computed,
            lambda n: (computed_text(n) if n in texts else _Raw(f"self.{n}")),
        )
        where = {n: i for i, n in enumerate(widest.graph.nodes)}
        nodes = list(graph.nodes)  # the same positions in the filled copy
        if stand_ins:
            graph, copies = with_choices(
                graph, {nodes[where[c]]: nodes[where[v]] for c, v in stand_ins.items()}
            )
            calls = frozenset(copies[nodes[where[c]]] for c in calls - set(stand_ins))
        else:
            calls = frozenset(nodes[where[c]] for c in calls)
        if alternative is not None:
            graph, calls = _with_other_shape(
                widest, graph, calls, alternative, self._pure
            )
        statements = None
        methods: tuple[MethodPlan, ...] = ()
        if widest.has_forward:
            statements = plan_statements(graph, self.style, reserved, calls)
            methods = tuple(plan_methods(graph, self.style, reserved))
        return ClassPlan(
            name,
            widest,
            init,
            signature,
            optional,
            statements,
            members,
            graph,
            methods,
            reads=tuple(n for n, _ in named_reads)
            + tuple(a.attribute for a in computed_init),
            sizes=tuple(holes.sizes),
            built_optional=presence is not None,
            configs=tuple(held.configs.values()),
        )

    def _plan_layer_subclass(
        self,
        name: str,
        members: list[Described],
        optional: list[str],
        calls: frozenset[fx.Node],
        reserved: frozenset[str],
    ) -> ClassPlan | None:
        """``class Name(nn.Layer):`` with only ``forward``, where every member allows it.

        Each member is built with the layer's own constructor arguments
        (``LayerNorm(64)``); ``forward`` reads the layer's attributes where
        it passed their values (:func:`~.layer_subclasses.base_reads`). None
        (the class is planned as any other) for the root, a class with
        optional submodules, members without one common base layer
        (:func:`~.layer_subclasses.layer_base`) or with other literals
        that differ.
        """
        bases = [m.layer for m in members]
        if optional or any(not m.instance.path for m in members):
            return None
        if any(_adds_attributes(m) for m in members):
            return None
        if any(b is None or b.spec is not bases[0].spec for b in bases):
            return None
        modules = [m.instance.module for m in members]
        spec = bases[0].spec
        reads = base_reads([m.graph for m in members], modules, spec)
        if reads is None:
            return None
        for member, layer in zip(members, bases):
            self.describer.calls[id(member.instance.module)] = Ctor(
                name, layer.values, spec.ctor_positional
            )
        widest = _widest(members, calls)
        graph = filled(widest.graph, reads, lambda n: _Raw(f"self.{n}"))
        graph = with_super_forward(graph, [m.graph for m in members], modules, spec)
        base = bases[0].name
        if calls_only_super(graph):  # the layer's own forward: none of its own
            return ClassPlan(name, widest, [], [], [], None, members, graph, base=base)
        statements = plan_statements(graph, self.style, reserved, calls)
        methods = tuple(plan_methods(graph, self.style, reserved))
        return ClassPlan(
            name, widest, [], [], [], statements, members, graph, methods, base=base
        )

    def _pure(self, module: nn.Module) -> bool:
        """The block computes nothing but its result (``Instance.pure``).

        Two shapes' calls of such a block on different values are one call
        over the chosen value (:func:`_with_other_shape`).
        """
        return id(module) in self.pure

    def _class_name(self, cls: type, members: list[Described]) -> str:
        """The class's name; a second shape of it is named by what it adds.

        ``BasicBlockWithDownsample`` when it has attributes of the user's the
        first shape lacks; ``PreNormFeedForward`` when a block of the user's
        it holds is of another class than the first shape's
        (:mod:`.shape_names`); else ``BasicBlock2``. A layer module style adds
        (EfficientNet's swish as ``self.sigmoid1``) names nothing: it is not
        what tells the user's blocks apart.
        """
        is_root = any(not m.instance.path for m in members)
        base = self.top_name if is_root else identifier(cls.__name__)
        attributes = {a.attribute for a in members[0].init}
        first = self.first_shape.setdefault(cls, attributes)
        original = members[0].instance.module
        extra = [
            a.attribute
            for a in members[0].init
            if a.attribute not in first and _is_users_attribute(original, a.attribute)
        ]
        wrapped = self.wrapped.distinguishing(original)
        if extra and not is_root:
            base += "With" + "".join(camel_case(a) for a in extra)
        elif wrapped and not is_root:
            base += wrapped
        name = base if is_root else first_free(base, self.used_names)
        self.used_names.add(name)
        return name


def _unnamed(text: str, name: str) -> str:
    """A class's text with its own name left out of its ``class`` line."""
    return text.replace(f"class {name}(", "class (", 1)


def _is_users_attribute(module: nn.Module, name: str) -> bool:
    """Whether ``module``, as the user built it, has the attribute ``name``."""
    return any(
        name in table
        for table in (
            module._modules,
            module._parameters,
            module._buffers,
            vars(module),
        )
    )


def _adds_attributes(member: Described) -> bool:
    """``__init__`` would set more than the layer's own tensors.

    Module style adds the parameter-free layers a ``forward`` calls
    (BatchNormAct's ``torch.relu`` becomes ``self.relu``); a class without an
    ``__init__`` of its own has nowhere to build them.
    """
    module = member.instance.module
    own = set(module._parameters) | set(module._buffers)
    return any(a.attribute not in own or isinstance(a.value, Tied) for a in member.init)


def _print_alike(a: ClassPlan, b: ClassPlan) -> bool:
    """Two layer subclass plans of one class whose classes would read the same."""
    if a.base is None or a.base != b.base or a.methods or b.methods:
        return False
    if type(a.template.instance.module) is not type(b.template.instance.module):
        return False
    if a.statements is None or b.statements is None:
        return a.statements is b.statements
    return graph_signature(a.graph) == graph_signature(b.graph)


def _widest(members: list[Described], calls: frozenset[fx.Node]) -> Described:
    """The member with every optional attribute: the one whose graph makes the optional calls."""
    if calls:
        graph = next(iter(calls)).graph
        return next(m for m in members if m.graph is graph)
    return max(members, key=lambda m: len(m.init))


def _given(member: Described) -> dict[str, Any]:
    """The constructor tree ``member`` has for each attribute, an empty ``nn.Sequential`` left out."""
    identities = _identities(member)
    return {a.attribute: a.value for a in member.init if a.attribute not in identities}


def _optional_value(attribute: str, presence: Presence | None) -> Any:
    """An optional attribute's value in ``__init__``: its parameter, or built on the flag."""
    if presence is None:
        return Hole(attribute)
    return BuiltIf(presence.values[attribute], presence.flag)


def _identities(described: Described) -> set[str]:
    """Attributes holding an empty ``nn.Sequential()``: a layer that does nothing.

    kuangliu's CIFAR ResNets write ``self.shortcut = nn.Sequential()`` and
    replace it with a projection where the shape changes; such an attribute
    counts as absent, so the block is one class with ``shortcut=None``
    (:func:`optional_calls`), as torchvision writes ``downsample``.
    """
    children = described.instance.module._modules
    return {
        a.attribute
        for a in described.init
        if type(children.get(a.attribute)) is nn.Sequential
        and not len(children[a.attribute])
    }


def _class_key(described: Described) -> tuple:
    """Instances with equal keys share a class: same type, graph and constructor shape.

    Literals aside: those that differ become constructor parameters.
    """
    return (
        type(described.instance.module),
        described.sequential,
        tuple(_built(a) for a in described.init),
        literal_slots(described.graph).shape if described.has_forward else None,
    )


def _shareable(group: list[Described]) -> list[list[Described]]:
    """``group`` as classes: one, unless a literal some call leaves out has no known default."""
    if len(group) == 1 or not group[0].has_forward:
        return [group]
    if can_share([literal_slots(m.graph) for m in group]):
        return [group]
    exact: dict[tuple, list[Described]] = {}
    for member in group:
        exact.setdefault(graph_signature(member.graph), []).append(member)
    return list(exact.values())


def _forward_holes(members: list[Described], taken: set[str]) -> Named:
    """The literals of ``forward`` that differ between ``members``: attributes of ``self``.

    Only for members whose slots line up (one shape, or a member without
    the optional submodules :func:`aligned` with the widest); each is a
    constructor parameter kept as ``self.<name>``, never an attribute the
    class has or ``nn.Module`` defines.
    """
    if len(members) < 2 or not members[0].has_forward or not _lined_up(members):
        return []
    attributes = {a.attribute for m in members for a in m.init}
    taken = taken | attributes | set(dir(nn.Module)) | {"self"}
    return named_holes([literal_slots(m.graph) for m in members], taken)


def _lined_up(members: list[Described]) -> bool:
    """The members' graphs have one shape, literals aside: their slots line up."""
    return len({literal_slots(m.graph).shape for m in members}) == 1


def _read_from_parameters(
    members: list[Described], holes: Holes, kept: Named
) -> tuple[Named, Named]:
    """``kept`` split: forward holes of their own, and those an ``__init__`` parameter fills.

    A literal of ``forward`` that equals one constructor parameter in every
    instance is that parameter, kept on ``self`` under its name: GAT's
    ``view(n_nodes, self.n_heads, self.n_hidden)`` reads ``self.n_heads``,
    set from the ``n_heads`` that also sizes ``self.a``, where it read
    ``self.value``, a second parameter always given the same value. Only a
    parameter that is not an attribute already, and only one parameter per
    forward hole: where several match, the values cannot say which.
    """
    if not kept:
        return kept, []
    attributes = {a.attribute for m in members for a in m.init}
    slots = [literal_slots(m.graph) for m in members]
    own: Named = []
    shared: Named = []
    for name, found in kept:
        values = [value_of(s, found[0]) for s in slots]
        matches = [
            parameter
            for i, parameter in enumerate(holes.names)
            if parameter not in holes.defaults
            and parameter not in attributes
            and all(
                same_literal(row[i], v)
                for row, v in zip(holes.values_per_instance, values)
            )
        ]
        taken = {n for n, _ in shared}
        if len(matches) == 1 and matches[0] not in taken:
            shared.append((matches[0], found))
        else:
            own.append((name, found))
    return own, shared


def _parameter_reads(
    members: list[Described], holes: Holes, reads: dict[Slot, str], named: Named
) -> Named:
    """The reads of ``forward`` named like a constructor parameter that holds their literal.

    GPT's ``split(self.n_embd, dim=2)``, where the class takes ``n_embd``
    (the user's ``nn.Linear(n_embd, 3 * n_embd)``, :mod:`.source_arguments`):
    ``self.n_embd = n_embd`` in ``__init__``, read as written. Not a slot
    another name holds already, nor an attribute the class builds.
    """
    attributes = {a.attribute for m in members for a in m.init}
    taken = {slot for _, found in named for slot in found}
    slots = [literal_slots(m.graph) for m in members]
    by_name: dict[str, list[Slot]] = {}
    for slot, name in reads.items():
        if slot in taken or name not in holes.names or name in attributes:
            continue
        column = holes.names.index(name)
        if all(
            same_literal(row[column], value_of(s, slot))
            for row, s in zip(holes.values_per_instance, slots)
        ):
            by_name.setdefault(name, []).append(slot)
    return list(by_name.items())


def _agreed_expressions(
    members: list[Described], traced: list[Described]
) -> dict[Slot, list[ExpressionRead]]:
    """The slots every member's source computes with one text (:func:`.attribute_reads.expression_reads`).

    Each with every member's read (the attributes' values may differ).
    Only for members whose slots line up, all traced (:func:`_forward_holes`).
    """
    if (
        not members[0].has_forward
        or len(traced) != len(members)
        or not _lined_up(traced)
    ):
        return {}
    return agreed_expression_reads([(m.graph, m.instance.module) for m in members])


def _expression_reads(
    agreed: dict[Slot, list[ExpressionRead]],
    holes: Holes,
    kept: Named,
    shared: Named,
    named_reads: Named,
    members: list[Described],
) -> tuple[Named, Named, list[Assign]]:
    """The literals of ``forward`` the source computes from attributes, written as it does.

    ``math.sqrt(self.emb_size)`` where the trace has 5.656854249492381
    (:func:`~.attribute_reads.expression_reads`), for a slot every member's
    source writes with one text. The attributes it reads are set in
    ``__init__``: from the constructor parameter of that name where it
    holds their values (``self.emb_size = emb_size``), else as the number
    every member holds. A forward hole (``kept``) so written needs no
    parameter of its own. Returns ``kept`` without those, the expressions
    with their slots, and the attributes to set.
    """
    if not agreed:
        return kept, [], []
    taken = {slot for _, slots in [*shared, *named_reads] for slot in slots}
    member_slots = [literal_slots(m.graph) for m in members]
    set_already = {  # attribute -> what the class sets it to, per member
        n: [value_of(s, slots[0]) for s in member_slots]
        for n, slots in [*kept, *shared, *named_reads]
    }
    builds = {a.attribute for m in members for a in m.init} | set(dir(nn.Module))
    by_text: dict[str, list[Slot]] = {}
    setting: dict[str, Assign] = {}
    for slot, reads in agreed.items():
        read = reads[0]
        if slot in taken:
            continue
        assigns = {}
        for name, _ in read.attributes:
            values = [dict(r.attributes)[name] for r in reads]
            if name in builds:
                break
            if name in set_already:
                if all(map(same_literal, set_already[name], values)):
                    continue  # set to the same number already
                break
            column = holes.names.index(name) if name in holes.names else None
            if column is not None and all(
                same_literal(row[column], v)
                for row, v in zip(holes.values_per_instance, values)
            ):
                assigns[name] = Assign(name, Hole(name))
            elif column is None and all(same_literal(values[0], v) for v in values):
                assigns[name] = Assign(name, values[0])
            else:
                break
        else:
            if any(setting.get(n, a) != a for n, a in assigns.items()):
                continue
            setting.update(assigns)
            by_text.setdefault(read.text, []).append(slot)
    computed = set(s for slots in by_text.values() for s in slots)
    kept = [
        (n, slots) for n, slots in kept if not set(slots) <= computed
    ]  # a forward hole the expression fills
    return kept, list(by_text.items()), list(setting.values())


def _made_reads(graph: fx.Graph) -> dict[str, dict[str, str]]:
    """The layers module style made from calls, with the arguments the source read there.

    ``{"dropout1": {"p": "dropout"}}`` for ``F.dropout(x, self.dropout)``
    (:data:`~nnconvert.passes.styles.ARGUMENTS_READ`), helper methods' bodies
    included.
    """
    found: dict[str, dict[str, str]] = {}
    for node in graph.nodes:
        if is_method_call(node):
            found |= _made_reads(node.target.body)
        elif node.op == "call_module" and ARGUMENTS_READ in node.meta:
            found[str(node.target)] = node.meta[ARGUMENTS_READ]
    return found


def _agreed_reads(members: list[Described]) -> dict[Slot, str]:
    """The literal slots of ``forward`` every member's source writes as one ``self.<name>``.

    Only for members whose slots line up (:func:`_forward_holes`;
    :mod:`.attribute_reads`).
    """
    if not members[0].has_forward or not _lined_up(members):
        return {}
    found = [attribute_reads(m.graph, m.instance.module) for m in members]
    return {
        slot: name
        for slot, name in found[0].items()
        if all(other.get(slot) == name for other in found[1:])
    }


def _attribute_names(
    members: list[Described],
    holes: Holes,
    kept: Named,
    shared: Named,
    reads: dict[Slot, str],
) -> tuple[Named, Named]:
    """``kept`` named after the attribute the source reads there, and the other reads.

    A forward hole whose slots the source writes as ``self.n_head`` is the
    constructor parameter ``n_head``, kept as ``self.n_head``; a slot whose
    literal every member shares (a class used once) becomes an attribute
    set in ``__init__`` (``self.n_head = 2``) and read in ``forward``, where
    it printed as a bare ``2``. Never a name the class has for something
    else: its attributes, ``nn.Module``'s, its other parameters.
    """
    if not reads:
        return kept, []
    taken = (
        {a.attribute for m in members for a in m.init}
        | set(dir(nn.Module))
        | set(holes.names)
        | {n for n, _ in shared}
        | {"self"}
    )
    in_holes = {slot for _, found in [*kept, *shared] for slot in found}
    named: Named = []
    for name, found in kept:
        attribute = {reads.get(slot) for slot in found}
        if len(attribute) == 1 and None not in attribute:
            (written,) = attribute
            others = {n for n, _ in named} | {n for n, _ in kept if n != name}
            if written not in taken and written not in others:
                name = written
        named.append((name, found))
    kept_names = {n for n, _ in named}
    by_attribute: dict[str, list[Slot]] = {}
    for slot, attribute in reads.items():
        if slot not in in_holes and attribute not in taken | kept_names:
            by_attribute.setdefault(attribute, []).append(slot)
    return named, list(by_attribute.items())


def _user_names(
    members: list[Described],
    holes: Holes,
    kept: Named,
    optional: list[str],
    reserved: frozenset[str],
) -> tuple[Holes, Named]:
    """``holes`` and ``kept`` named as the user's ``__init__`` names them, where it does.

    A parameter never takes a name the file defines elsewhere (``reserved``:
    ``nn``, ``torch``, the classes), which ``__init__``'s body may read. A
    forward hole becomes ``self.<name>``: never an attribute the class has
    or ``nn.Module`` defines (:func:`_forward_holes`).
    """
    modules = [m.instance.module for m in members]
    slots = [literal_slots(m.graph) for m in members] if kept else []
    columns = [
        (name, [values[i] for values in holes.values_per_instance])
        for i, name in enumerate(holes.names)
    ]
    places = {}
    for assign in holes.template:
        for _, _, value in leaves(assign.value):
            if isinstance(value, Hole):
                places.setdefault(value.name, assign.attribute)
    taken = reserved | frozenset(optional) | {"self"}
    renamed = init_names(modules, columns, taken, places)
    holes = with_derived_sizes(holes.renamed(renamed), modules, taken)
    attributes = {a.attribute for m in members for a in m.init}
    not_attributes = frozenset(
        attributes | set(dir(nn.Module)) | set(renamed.values()) | set(holes.names)
    )
    forward_columns = [
        (name, [value_of(s, found[0]) for s in slots]) for name, found in kept
    ]
    forward_renamed = init_names(modules, forward_columns, not_attributes)
    kept = [(forward_renamed[name], found) for name, found in kept]
    return holes.reordered(init_order(modules, holes.names)), kept


def _built(assign: Assign) -> tuple:
    """How an attribute is built, literals aside."""
    return (assign.attribute, assign.buffer, assign.persistent, structure(assign.value))


@dataclass(frozen=True)
class _Alternative:
    """Members of a class's other shape, and the test of ``forward`` that picks it.

    ``answer``: what the test gives for the group's own members; the
    alternative's give the other answer (:func:`.attribute_tests.telling_test`).
    """

    members: list[Described]
    test: AttributeTest
    answer: bool
    #: layers module style adds on one path only (``self.relu`` for its
    #: ``torch.relu``), built in every member: (side lacking them, 0 the
    #: group's own or 1 these, and each with its place there)
    added: tuple[int, tuple[tuple[int, Assign], ...]] = (0, ())


Group = tuple[list[Described], list[str], frozenset[fx.Node], StandIns]


def _join_tested_shapes(
    groups: list[Group], style: Style
) -> list[tuple[Group, _Alternative | None]]:
    """``groups`` with each pair of one class's shapes that one attribute test tells apart joined.

    MobileNetV2's blocks built with ``stride=2`` skip ``out + self.shortcut(x)``:
    with ``if self.stride == 1:`` in ``forward`` they are the class's
    other shape. Class styles only: a function's two paths pass their
    literals in ``forward`` (``F.conv2d(..., stride=2)``), which the merge
    does not align between shapes, and would take the attribute as a
    keyword that functional input would have to read back as the test.
    """
    if style is Style.FUNCTIONAL:
        return [(group, None) for group in groups]
    joined: set[int] = set()
    result: list[tuple[Group, _Alternative | None]] = []
    for i, group in enumerate(groups):
        if i in joined:
            continue
        found: tuple[Group, _Alternative | None] = (group, None)
        for j in range(i + 1, len(groups)):
            if j in joined:
                continue
            other = groups[j]
            alternative = _tested_alternative(group, other)
            pair = (group, alternative)
            if alternative is None:
                alternative = _tested_alternative(other, group)
                pair = (other, alternative)
            if alternative is not None:
                found = pair
                joined.add(j)
                break
        result.append(found)
    return result


def _tested_alternative(group: Group, other: Group) -> _Alternative | None:
    """``other`` as ``group``'s other shape, where one test picks it and nothing else differs.

    ``other`` has no optional submodules and one ``forward``, literals
    and all; both build the same attributes (literals aside); ``group``'s
    members print one ``forward`` without literals of their own; and the
    tested attribute is no attribute the class writes already.
    """
    members, optional, _, _ = group
    others, other_optional, _, _ = other
    first, second = members[0], others[0]
    cls = type(first.instance.module)
    if type(second.instance.module) is not cls or other_optional:
        return None
    if any(d.sequential or not d.has_forward or d.layer for d in (first, second)):
        return None
    if not first.instance.path or not second.instance.path:
        return None
    found = telling_test(
        cls, [m.instance.module for m in members], [m.instance.module for m in others]
    )
    if found is None:
        return None
    test, answer = found
    if any(a.attribute == test.attribute for m in [*members, *others] for a in m.init):
        return None

    added = _added_on_one_path(first, second, optional)
    if added is None:
        return None
    lacking, places = added

    def built(member: Described, side: int) -> list[tuple]:
        init = _with_added(member, places) if side == lacking else member.init
        return [_built(a) for a in init if a.attribute not in optional]

    reference = built(first, 0)
    if any(built(m, 0) != reference for m in members) or any(
        built(m, 1) != reference for m in others
    ):
        return None
    if len({_literals(m) for m in others}) != 1:
        return None
    if _forward_holes(members, set()) or _agreed_reads(members):
        return None
    if not _methods_agree(first, second):
        return None  # one method, two bodies: the class could write one
    by_shape: dict[tuple, set[str]] = {}
    for member in members:  # the shapes with and without optional calls: literals one
        shape = literal_slots(member.graph).shape
        by_shape.setdefault(shape, set()).add(_literals(member))
    if any(len(found) != 1 for found in by_shape.values()):
        return None
    return _Alternative(others, test, answer, added)


def _added_on_one_path(
    first: Described, second: Described, optional: list[str]
) -> tuple[int, tuple[tuple[int, Assign], ...]] | None:
    """The layers module style added for one shape's path only, and where the other builds them.

    ``(side lacking them, ((place in its __init__, assignment), ...))``:
    side 0 is ``first``'s, 1 ``second``'s. Only layers that are no
    attribute of the user's module (or a stateless one both modules hold)
    and only on one side (two paths that each call a function of their own
    would build both); None otherwise.
    """
    own = [a for a in first.init if a.attribute not in optional]
    other = list(second.init)
    names = [a.attribute for a in own], [a.attribute for a in other]
    if names[0] == names[1]:
        return 0, ()
    opcodes = difflib.SequenceMatcher(None, *names, autojunk=False).get_opcodes()
    kinds = {tag for tag, *_ in opcodes} - {"equal"}
    if kinds not in ({"delete"}, {"insert"}):
        return None
    having, lacking = (first, second) if kinds == {"delete"} else (second, first)
    places = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "delete":
            # in ``first`` only: built in ``second`` at j1
            places += [(j1, a) for a in own[i1:i2]]
        elif tag == "insert":
            # in ``second`` only: built in ``first`` after own[i1 - 1]
            at = first.init.index(own[i1 - 1]) + 1 if i1 else 0
            places += [(at, a) for a in other[j1:j2]]
    for _, assign in places:
        if assign.buffer or isinstance(assign.value, Tied):
            return None
        if _is_users_attribute(having.instance.module, assign.attribute) and not (
            is_stateless(getattr(having.instance.module, assign.attribute))
            and is_stateless(getattr(lacking.instance.module, assign.attribute, None))
        ):  # a layer of the user's that both have (an output read back) is one too
            return None
    return (1 if lacking is second else 0), tuple(places)


def _with_added(
    member: Described, places: tuple[tuple[int, Assign], ...]
) -> list[Assign]:
    """``member``'s ``__init__`` with the other path's added layers at their places."""
    init = list(member.init)
    for offset, (at, assign) in enumerate(sorted(places, key=lambda p: p[0])):
        init.insert(at + offset, assign)
    return init


def _literals(member: Described) -> str:
    """The literals of ``member``'s ``forward``, comparable between members of one shape."""
    slots = literal_slots(member.graph)
    return repr((slots.shape, sorted(slots.values.items(), key=repr)))


def _keeping(member: Described, attribute: str) -> Described:
    """``member`` whose ``__init__`` sets the tested ``attribute`` to its value."""
    module = member.instance.module
    value = plain_attribute(module, attribute)
    return replace(member, init=with_assignment(member.init, module, attribute, value))


def _with_other_shape(
    template: Described,
    graph: fx.Graph,
    calls: frozenset[fx.Node],
    alternative: _Alternative,
    pure_block: Callable[[nn.Module], bool],
) -> tuple[fx.Graph, frozenset[fx.Node]]:
    """``graph`` (the template's ``forward``) merged with the other shape's under the test.

    The template's optional ``calls``, as the merged graph holds them.
    ``pure_block``: whether a block both shapes call computes only its
    result, so that its two calls may be one (EfficientNet's ``self.se``
    after ``out = x if self.expand_ratio == 1 else swish(...)``).
    """
    position = {node: i for i, node in enumerate(graph.nodes)}
    own = fx.GraphModule(template.instance.graph, copy_graph(graph))
    own.meta.update(template.instance.graph.meta)
    copies = list(own.graph.nodes)
    other = _calling_methods_of(alternative.members[0].instance.graph, own.graph)
    sides = (own, other) if alternative.answer else (other, own)
    test = alternative.test
    merged, where = merge_graphs(
        *sides,
        lambda graph, inputs: test.condition(graph),
        primary=alternative.answer,
        pure_blocks=pure_calls(sides, pure_block),
        attributes={
            test.attribute: plain_attribute(template.instance.module, test.attribute)
        },
    )
    side = 0 if alternative.answer else 1
    return merged.graph, frozenset(where(side, copies[position[c]]) for c in calls)


def _calling_methods_of(module: fx.GraphModule, graph: fx.Graph) -> fx.GraphModule:
    """``module``'s graph, its helper calls calling ``graph``'s method of the same body.

    Each instance's trace holds its own :class:`~nnconvert.passes.methods.MethodCall`;
    the merge joins two calls only of one target, so a method both shapes
    call (``out = self.mix(x)`` before ``if self.skip:``) would be written
    in each branch. A body that differs, literals included, keeps its own.
    """
    methods = {
        (node.target.name, _body_literals(node.target)): node.target
        for node in graph.nodes
        if is_method_call(node)
    }
    calls = [node for node in module.graph.nodes if is_method_call(node)]
    if not any((c.target.name, _body_literals(c.target)) in methods for c in calls):
        return module
    copied = fx.GraphModule(module, copy_graph(module.graph))
    copied.meta.update(module.meta)
    for node in copied.graph.nodes:
        if is_method_call(node):
            key = (node.target.name, _body_literals(node.target))
            node.target = methods.get(key, node.target)
    return copied


def _methods_agree(first: Described, second: Described) -> bool:
    """Each helper method both members' graphs call has one body, literals and all."""
    bodies = [_method_bodies(first.graph), _method_bodies(second.graph)]
    return all(bodies[1].get(name, body) == body for name, body in bodies[0].items())


def _method_bodies(graph: fx.Graph) -> dict[str, str]:
    """Each helper method ``graph`` calls, by name: its body, literals and all."""
    return {
        node.target.name: _body_literals(node.target)
        for node in graph.nodes
        if is_method_call(node)
    }


def _body_literals(method: Any) -> str:
    """A helper method's body, literals and all, comparable between instances."""
    slots = literal_slots(method.body)
    return repr((method.key, slots.shape, sorted(slots.values.items(), key=repr)))


def _merge_optional_blocks(
    groups: list[list[Described]],
    style: Style,
    pure_block: Callable[[nn.Module], bool],
) -> list[tuple[list[Described], list[str], frozenset[fx.Node], StandIns]]:
    """Join a block's shapes that differ only by extra submodules called on one value.

    Or called in whole statements, class styles only (:func:`_merged_optional`).

    A ResNet block with a ``downsample`` branch and one without are one
    class, as in torchvision: ``downsample=None`` in the constructor and
    ``if self.downsample is not None: x = self.downsample(x)`` in forward.
    Each result is the members, the optional attributes, the optional calls
    in the widest member's graph and the value each of them leaves where it
    is absent, when that is not its input (:func:`optional_calls`). A base
    shape takes one other shape. Where the members' forwards differ in a
    literal (DPN's ``x[:, :d]`` with ``d = self.out_planes`` per stage), the
    members without the submodules hold the widest member's graph with
    their own literals (:func:`aligned`), so that the class's constructor
    parameters fill them for every member; where that cannot be (a call's
    absence leaves another value), such shapes stay apart.
    """
    merged: set[int] = set()
    result = []
    of_type: dict[type, list[int]] = {}  # a shape merges with its own class's only
    for i, group in enumerate(groups):
        of_type.setdefault(type(group[0].instance.module), []).append(i)
    for i, base in enumerate(groups):
        if i in merged:
            continue
        optional: list[str] = []
        calls: frozenset[fx.Node] = frozenset()
        stand_ins: StandIns = {}
        members = list(base)
        for j in of_type[type(base[0].instance.module)]:
            other = groups[j]
            if j <= i or j in merged:
                continue
            joined = _joined_optional(base, other, style, pure_block)
            if joined is not None:
                members, optional, calls, stand_ins = joined
                merged.add(j)
                break
        result.append((members, optional, calls, stand_ins))
    return result


def _joined_optional(
    base: list[Described],
    other: list[Described],
    style: Style,
    pure_block: Callable[[nn.Module], bool],
) -> tuple[list[Described], list[str], frozenset[fx.Node], StandIns] | None:
    """``base`` and ``other`` as one class with optional submodules, or None."""
    uniform = all(
        len({_literals(m) for m in group if m.has_forward}) < 2
        for group in (base, other)
    )
    found = optional_calls(base[0], other, style, exact=uniform)
    if found is None:  # the shape without the submodule came second
        found = optional_calls(other[0], base, style, exact=uniform)
    if found is None:
        return _merged_optional(base, other, pure_block) or _merged_optional(
            other, base, pure_block
        )
    optional, calls, stand_ins = found
    members = base + other
    if uniform:  # one literal per slot: the widest member's graph prints them
        return members, optional, calls, stand_ins
    if stand_ins:
        return None  # a stand-in's value moves: no slot lines up with it
    widest = _widest(members, calls)
    lined_up = [aligned(m, widest, calls, optional) for m in members]
    if any(m is None for m in lined_up):
        return None
    return lined_up, optional, calls, stand_ins


def _merged_optional(
    narrow: list[Described],
    wide: list[Described],
    pure_block: Callable[[nn.Module], bool],
) -> tuple[list[Described], list[str], frozenset[fx.Node], StandIns] | None:
    """``narrow`` and ``wide`` as one class whose extra submodules ``wide`` calls under a test.

    Whisper's decoder blocks hold ``cross_attn`` and ``cross_attn_ln``, its
    encoder blocks None, and ``forward`` says ``if self.cross_attn: x = x +
    self.cross_attn(self.cross_attn_ln(x), xa)[0]``: more than one call on
    one value (:func:`optional_calls`), so the two shapes' graphs are merged
    (:func:`~nnconvert.merge.merge_graphs`) under ``self.cross_attn is not
    None`` (:func:`~nnconvert.branches.submodule_given`, on the first extra
    submodule the user's ``forward`` tests, else the first built), and every
    member holds the merged graph.
    Only where ``wide`` builds ``narrow``'s attributes alike, plus others,
    each shape's members have one ``forward``, literals and all, and the
    merge keeps every call of ``narrow`` on both paths: the branch is the
    difference, nothing else. ``pure_block``: whether a block both shapes
    call computes only its result, so that its calls on either path may be
    one (Whisper's own ``LayerNorm`` after the branch).
    """
    first, second = narrow[0], wide[0]
    if any(d.sequential or not d.has_forward for d in (first, second)):
        return None
    if isinstance(first.instance.module, (nn.ModuleDict, nn.ModuleList)):
        return None  # a container one member deeper: its depth, not an option
    if _identities(first) or _identities(second):
        return None
    extra = _extra_attributes(first, second)
    if extra is None:
        return None
    if not all(  # the user's submodules, None where absent: not layers module style adds
        _is_users_attribute(second.instance.module, a)
        and getattr(m.instance.module, a, None) is None
        for a in extra
        for m in narrow
    ):
        return None
    if not _built_alike(first, [*narrow, *wide]):
        return None
    if not _methods_agree(first, second):
        return None  # one helper method, two bodies: the merge would call one
    for group in (narrow, wide):
        shape = graph_signature(group[0].graph)
        if any(graph_signature(m.graph) != shape for m in group[1:]):
            return None
    calls = [
        n
        for n in second.graph.nodes
        if n.op == "call_module" and str(n.target).split(".")[0] in extra
    ]
    if not calls:
        return None
    called = {str(n.target).split(".")[0] for n in calls}
    in_source = [t.attribute for t in attribute_tests(type(second.instance.module))]
    # the submodule the user's ``forward`` tests; else the first built
    tested = next(
        (a for a in [*in_source, *extra] if a in called),
        str(calls[0].target).split(".")[0],
    )
    sides = (second.instance.graph, first.instance.graph)
    merged, kept = merge_graphs(
        *sides,
        lambda graph, inputs: graph.call_function(submodule_given, (tested,)),
        primary=True,
        pure_blocks=pure_calls(sides, pure_block),
    )
    on_both = {kept(0, n) for n in sides[0].graph.nodes} - {None}
    if any(
        n.op in ("call_module", "call_function", "call_method")
        and kept(1, n) not in on_both
        for n in sides[1].graph.nodes
    ):
        return None
    members = [replace(m, aligned=merged.graph) for m in [*narrow, *wide]]
    return members, extra, frozenset(), {}


def aligned(
    member: Described,
    widest: Described,
    calls: frozenset[fx.Node],
    optional: list[str],
) -> Described | None:
    """``member`` holding ``widest``'s graph with its own literals; None where they do not line up.

    A member without the optional submodules traced without their calls:
    its nodes, those calls aside, are the widest member's in order. Its
    literal slots then line up with every member's, and forward holes
    (:func:`_forward_holes`) and attribute reads (:func:`_agreed_reads`)
    cover the class's members of both shapes.
    """
    if (
        member is widest
        or literal_slots(member.graph).shape == literal_slots(widest.graph).shape
    ):
        return member
    own = [
        n
        for n in member.graph.nodes
        if not (n.op == "call_module" and str(n.target).split(".")[0] in optional)
    ]
    wide = [n for n in widest.graph.nodes if n not in calls]
    if len(own) != len(wide) or any(
        a.op != b.op or a.target != b.target for a, b in zip(own, wide)
    ):
        return None
    source = dict(zip(wide, own))  # a widest node -> the member's own
    copied = abstracted(widest.graph)  # the same positions
    for node, template in zip(copied.nodes, widest.graph.nodes):
        restore_literals(node, source.get(template, template))
    if literal_slots(copied).shape != literal_slots(widest.graph).shape:
        return None
    return replace(member, aligned=copied)


def optional_calls(
    base: Described, others: list[Described], style: Style, exact: bool = True
) -> tuple[list[str], frozenset[fx.Node], StandIns] | None:
    """The extra attributes of ``others`` if they can be optional in ``base``'s class.

    They can when each is built the same in every member, called on one
    value each time, and removing those calls leaves ``base``'s graph
    exactly: their result is then their input (``x = self.downsample(x)``
    is the whole difference), or, for one call, another value the graph
    has (``shortcut = self.shortcut(out) if ... else x``: its *stand-in*,
    :mod:`.optional_values`). A call whose input is read after it stands
    for that input too, written as a branch of its own. Returns the
    attributes, the calls in ``others[0]``'s graph and their stand-ins
    there (none for calls that leave their input in its variable), or None.
    Not ``exact``: graphs that differ in literals compare alike.
    """
    if base.sequential or others[0].sequential:
        return None
    identities = _identities(base)  # absent: its calls are skipped like the extra ones
    extra = _extra_attributes(base, others[0], identities)
    if extra is None or identities - set(extra):
        return None
    skipped = _calls_of(base.graph, sorted(identities)) if identities else frozenset()
    if skipped is None or not passes_value_through(base.graph, skipped, style):
        return None
    if not _built_alike(base, others, identities):  # mc3_18's convs are not
        return None

    def signature(graph: fx.Graph, skipped: frozenset[fx.Node], stand_ins=None):
        if exact:
            return graph_signature(graph, skipped, stand_ins=stand_ins)
        return literal_slots(graph, skipped, stand_ins).shape

    expected = signature(base.graph, skipped)
    found: list[tuple[frozenset[fx.Node], StandIns]] = []
    for member in others:
        graph = member.graph
        calls = _calls_of(graph, extra)
        if calls is None:
            return None
        stand_ins = find_stand_ins(
            graph, calls, lambda s: signature(graph, calls, s) == expected
        )
        if stand_ins is None:
            return None
        if not stand_ins and not passes_value_through(graph, calls, style):
            stand_ins = {call: call.args[0] for call in calls}
        found.append((calls, stand_ins))
    positions = [_positions(member, s) for member, (_, s) in zip(others, found)]
    if any(p != positions[0] for p in positions):
        return None  # the members would need different branches
    return extra, *found[0]


def _extra_attributes(
    base: Described, other: Described, absent: set[str] = frozenset()
) -> list[str] | None:
    """The attributes ``other`` builds beyond ``base``'s (those not ``absent``), or None.

    None unless there are some and ``other`` builds ``base``'s others in
    ``base``'s order.
    """
    names = [a.attribute for a in base.init if a.attribute not in absent]
    extra = [a.attribute for a in other.init if a.attribute not in names]
    common = [a.attribute for a in other.init if a.attribute not in extra]
    return extra if extra and common == names else None


def _built_alike(
    reference: Described, members: list[Described], absent: set[str] = frozenset()
) -> bool:
    """Every member builds each attribute ``reference`` builds (but ``absent``) as it does."""
    built = {
        a.attribute: _built(a) for a in reference.init if a.attribute not in absent
    }
    return all(
        _built(a) == built[a.attribute]
        for member in members
        for a in member.init
        if a.attribute in built
    )


def _positions(member: Described, stand_ins: StandIns) -> list[tuple[int, int]]:
    """``stand_ins`` as node positions, comparable between members' graphs."""
    where = {n: i for i, n in enumerate(member.graph.nodes)}
    return sorted((where[c], where[v]) for c, v in stand_ins.items())


def _calls_of(graph: fx.Graph, attributes: list[str]) -> frozenset[fx.Node] | None:
    """The calls of each attribute, if each is called, every time with one value.

    DINO's ``Block`` calls its ``drop_path`` twice (after attention and
    after the MLP); each call is then skipped alike where it is absent.
    """
    calls = [
        n
        for n in graph.nodes
        if n.op == "call_module" and str(n.target).split(".")[0] in attributes
    ]
    if sorted({str(n.target) for n in calls}) != sorted(attributes) or any(
        n.kwargs or len(n.args) != 1 or not isinstance(n.args[0], fx.Node)
        for n in calls
    ):
        return None
    return frozenset(calls)


def _heights(instances: list[Instance]) -> dict[int, int]:
    """Each instance's level: above every block inside it, and with its class's others.

    0 for blocks without blocks inside, else one more than the highest block
    inside. Instances of one class share a level (the highest any of them
    needs), so that shapes of the class meet in one level and can merge
    (:func:`_merge_optional_blocks`): DINO's first ``Block`` holds an
    ``nn.Identity()`` where the others hold a ``DropPath``, a block of its own.
    A class that holds an instance of itself (DLA's ``Tree``) keeps each
    instance's own level.
    """
    inner: dict[int, list[nn.Module]] = {}
    modules: dict[int, nn.Module] = {}

    def blocks_in(module: nn.Module) -> list[nn.Module]:
        if id(module) not in inner:
            modules[id(module)] = module
            inner[id(module)] = [
                m for m in module.modules() if m is not module and is_defined_class(m)
            ]
            for m in inner[id(module)]:
                blocks_in(m)
        return inner[id(module)]

    for instance in instances:
        blocks_in(instance.module)
    recursive = {
        type(module)
        for key, module in modules.items()
        if any(type(m) is type(module) for m in inner[key])
    }
    heights = dict.fromkeys(modules, 0)
    changed = True
    while changed:  # levels only rise, and never past the number of blocks
        changed = False
        of_class: dict[type, int] = {}
        for key, module in modules.items():
            needed = max((1 + heights[id(m)] for m in inner[key]), default=0)
            if needed > heights[key]:
                heights[key], changed = needed, True
            of_class[type(module)] = max(of_class.get(type(module), 0), heights[key])
        for key, module in modules.items():
            if type(module) not in recursive and of_class[type(module)] > heights[key]:
                heights[key], changed = of_class[type(module)], True
    return heights
