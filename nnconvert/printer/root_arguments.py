"""The root class's constructor parameters, kept in every style where they size tensors.

Class styles read the root's source first (:mod:`.source_arguments`),
which keeps each parameter the output writes wherever the source uses it;
the parameters found here join those. ``UNet(n_channels=3, n_classes=2)``
is written::

    class UNet(nn.Module):                      # module and mixed style
        def __init__(self, n_channels=3, n_classes=2):
            self.inc = DoubleConv(n_channels, 8)
            ...
            self.outc = nn.Conv2d(8, n_classes, 1)

    def init_params(n_channels: int = 3, n_classes: int = 2):  # functional style
        params |= kaiming_params("inc.double_conv.0", 8, n_channels, 3, 3, bias=False)
        ...
        params |= kaiming_params("outc", n_classes, 8, 1, 1)

A literal is written as a parameter only where that is certain: the
dimensions it sizes (its *reach*: a layer's argument, found by building the
layer with it doubled; a block's, through the layers its class passes it
to; a layer function's, by calling it so) are all dimensions the parameter
sizes (:func:`nnconvert.root_sizes.root_sizes`). ``Up(32, 16)``'s
``stride=2`` sizes nothing and stays ``2`` beside ``n_classes=2``.

Round trips: a functional file carries the parameter only in the layer
calls of ``init_params()``, a class only in the constructor arguments it
writes; reading either back, the parameter sizes exactly what was written.
So a parameter is kept only when each style can write it in every
dimension it sizes (:func:`root_arguments`); reading either output back
then finds the same dimensions. (Class styles plan with the blocks'
source arguments, :mod:`.source_arguments`, and functional style without,
as a functional file has none: a parameter that sizes only through a block
written as its source writes it, attention-is-all-you-need's ``d_inner``,
is the class root's alone, and read back from a functional file it is a
number again.) The others are not kept, their values
inlined as before: one that sizes nothing (``layers=(2, 2, 2)``,
``n_head``, a ``dropout`` rate), one that also sizes what a style cannot
write (a raw ``nn.Parameter``; a layer ``init_params()`` draws tensor by
tensor; a block written without parameters, ``Block()``), one named like a
name the code reads. Kept only in part, a parameter would promise what
changing it does not do.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from torch import nn

from ..init_arguments import init_parameters, is_literal
from ..opspecs.spec import REQUIRED, Param
from ..root_sizes import Position, RootSize, sized_by
from .class_plan import ClassPlan
from .classes import Described
from .constructors import Ctor, Hole, leaves, substitute
from .size_arguments import SizeArgument

_CONTAINERS = frozenset(
    {"nn.Sequential", "nn.ModuleList", "nn.ModuleDict", "super().__init__"}
)


@dataclass(frozen=True)
class RootParameter:
    """A kept parameter: its name, value and the dimensions both styles write it in."""

    name: str
    value: int
    positions: frozenset[Position]


@dataclass(frozen=True)
class ClassLiteral:
    """An integer in the root's ``__init__`` (``at``: as :func:`leaves` places it)."""

    at: tuple
    value: int
    reach: frozenset[Position]


@dataclass(frozen=True)
class RootArguments:
    """The kept parameters, in the root's signature order.

    ``keys``: each ``state_dict()`` key -> the first key of its tensor, so
    that a tied weight is sized where either of its layers is written.
    """

    parameters: tuple[RootParameter, ...]
    keys: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def owner(self, value: Any, reach: frozenset[Position]) -> str | None:
        """The parameter a literal ``value`` sizing ``reach`` is, if any."""
        if type(value) is not int or not reach:
            return None
        reach = first_keys(reach, self.keys)
        for parameter in self.parameters:
            if parameter.value == value and reach <= parameter.positions:
                return parameter.name
        return None

    def function_names(
        self, sizes: Iterable[SizeArgument]
    ) -> list[tuple[str, int, str, str]]:
        """Layer call arguments of ``init_params()`` written as a parameter.

        ``(key prefix, argument index, parameter, layer function)`` each.
        """
        names = []
        for size in sizes:
            name = self.owner(size.value, size.reach)
            if name is not None:
                function = size.call.function.__name__
                names.append((size.prefix, size.index, name, function))
        return names


def root_arguments(
    sizes: list[RootSize],
    literals: list[ClassLiteral],
    calls: list[SizeArgument],
    reserved: frozenset[str],
    keys: Mapping[str, str],
    replaced: frozenset[str] = frozenset(),
) -> RootArguments:
    """The parameters both styles keep: those each style writes in all they size.

    ``keys`` as :class:`RootArguments` takes them. ``replaced``: the keys
    whose tensor a tie replaces (:func:`nnconvert.ties.replaced_keys`). A
    literal of the class sizes nothing there: in the Transformer's
    ``nn.Linear(16, n_trg_vocab)`` whose weight the decoder's embedding
    replaces, ``n_trg_vocab`` would size nothing, and read back the class
    would not keep it. Such a literal still takes the parameter's name
    where the parameter is kept (``lm_head`` and ``wte`` of nanoGPT, the
    tensor sized at its source too).
    """
    sizing = [
        dataclasses.replace(
            literal,
            reach=frozenset(p for p in literal.reach if p[0] not in replaced),
        )
        for literal in literals
    ]
    kept = []
    for size in sizes:
        positions = first_keys(size.positions, keys)
        if size.name in reserved:
            continue
        in_class = _covered(sizing, size.value, positions, keys)
        in_calls = _covered(calls, size.value, positions, keys)
        if in_class == positions == in_calls:
            kept.append(RootParameter(size.name, size.value, positions))
    return RootArguments(tuple(kept), keys)


def first_keys(
    positions: Iterable[Position], keys: Mapping[str, str]
) -> frozenset[Position]:
    """``positions`` with each key the first key of its tensor."""
    return frozenset((keys.get(key, key), dim) for key, dim in positions)


def _covered(
    literals: Iterable[ClassLiteral | SizeArgument],
    value: int,
    positions: frozenset[Position],
    keys: Mapping[str, str],
) -> frozenset[Position]:
    """What the literals equal to ``value`` whose reach lies in ``positions`` size."""
    covered: set[Position] = set()
    for literal in literals:
        reach = first_keys(literal.reach, keys)
        if type(literal.value) is int and literal.value == value and reach:
            if reach <= positions:
                covered |= reach
    return frozenset(covered)


def class_literals(plans: list[ClassPlan]) -> list[ClassLiteral]:
    """Every integer of the root's ``__init__`` (``plans[-1]``), with its reach.

    The root is one instance: its plan's ``init`` is its own, without holes,
    so ``at`` places each literal there too (:func:`with_root_arguments`).
    """
    root = plans[-1]
    blocks = {id(m.instance.module): (p, m) for p in plans for m in p.members}
    module = root.template.instance.module
    literals = []
    for index, assign in enumerate(root.template.init):
        child = _child(module, assign.attribute)
        for path, _, value in leaves(assign.value):
            if type(value) is int:
                prefix = assign.attribute
                reach = _reach(assign.value, child, prefix, path, blocks)
                literals.append(ClassLiteral((index,) + path, value, reach))
    return literals


def with_root_arguments(
    plan: ClassPlan, arguments: RootArguments, literals: list[ClassLiteral]
) -> ClassPlan:
    """The root's plan taking ``arguments``, written where they are (module docstring)."""
    written = {  # what the class writes from its source already (.source_arguments)
        (index, *path)
        for index, assign in enumerate(plan.init)
        for path, _, value in leaves(assign.value)
        if isinstance(value, Hole)
    }
    holes_at = {}
    for literal in literals:
        name = arguments.owner(literal.value, literal.reach)
        if name is not None and literal.at not in written:
            holes_at[literal.at] = Hole(name)
    holes_at.update(_parameters_kept_as_read(plan, arguments))
    if not holes_at:
        return plan
    used = {hole.name for hole in holes_at.values()}
    init = [
        dataclasses.replace(a, value=substitute(a.value, holes_at, (i,)))
        for i, a in enumerate(plan.init)
    ]
    taken = {param.name for param, _ in plan.signature}  # read from the source too
    signature = list(plan.signature) + [
        (Param(p.name, p.value), False)
        for p in arguments.parameters
        if p.name in used and p.name not in taken
    ]
    order = {n: i for i, n in enumerate(init_parameters(plan.template.instance.module))}
    signature.sort(  # the user's order, required ones first
        key=lambda e: (e[0].default is not REQUIRED, order.get(e[0].name, len(order)))
    )
    return dataclasses.replace(plan, init=init, signature=signature)


def _parameters_kept_as_read(
    plan: ClassPlan, arguments: RootArguments
) -> dict[tuple, Hole]:
    """The attributes ``forward`` reads that are a kept parameter of their own name.

    The word language model writes ``self.ntoken = ntoken`` and reads
    ``view(-1, self.ntoken)``; with ``ntoken`` kept for the layers it
    sizes, ``self.ntoken = 50`` would go on reading 50 in a model built
    with another ``ntoken``. An attribute named as a kept parameter and
    holding its value is that parameter: what the source says, and what a
    functional file says with a keyword ``ntoken=50`` of its function
    beside ``init_params(ntoken: int = 50)``.
    """
    by_name = {p.name: p.value for p in arguments.parameters}
    return {
        (index,): Hole(assign.attribute)
        for index, assign in enumerate(plan.init)
        if assign.attribute in plan.reads
        and type(assign.value) is int
        and by_name.get(assign.attribute) == assign.value
    }


Blocks = Mapping[int, tuple[ClassPlan, Described]]


def _reach(
    value: Any, module: nn.Module | None, prefix: str, path: tuple, blocks: Blocks
) -> frozenset[Position]:
    """What the literal at ``path`` in ``value`` (building ``module`` at ``prefix``) sizes."""
    if not path or not isinstance(value, Ctor) or module is None:
        return frozenset()
    index, rest = path[0], path[1:]
    if not isinstance(index, int) or index >= len(value.values):
        return frozenset()
    param, item = value.values[index]
    if value.callee in _CONTAINERS:
        if isinstance(item, (list, dict)):  # ModuleList, ModuleDict, OrderedDict
            if not rest:
                return frozenset()
            key, rest = rest[0], rest[1:]
            item = item[key]
        else:
            key = index
        child = module._modules.get(str(key))
        return _reach(item, child, _join(prefix, str(key)), rest, blocks)
    if id(module) in blocks:
        if rest:  # a layer given to the block (an optional ``downsample``)
            child = module._modules.get(param.name)
            return _reach(item, child, _join(prefix, param.name), rest, blocks)
        return _block_reach(*blocks[id(module)], module, prefix, param.name, blocks)
    if rest or not value.callee.startswith("nn."):
        return frozenset()
    return frozenset(
        (_join(prefix, key), dim) for key, dim in _layer_reach(value, index)
    )


def _block_reach(
    plan: ClassPlan,
    member: Described,
    module: nn.Module,
    prefix: str,
    name: str,
    blocks: Blocks,
) -> frozenset[Position]:
    """What the block's parameter ``name`` sizes: the places its class passes it to."""
    concrete = {a.attribute: a.value for a in member.init}
    reach: set[Position] = set()
    for assign in plan.init:
        for path, _, value in leaves(assign.value):
            if value == Hole(name) and path and assign.attribute in concrete:
                child = _child(module, assign.attribute)
                at = _join(prefix, assign.attribute)
                found = _reach(concrete[assign.attribute], child, at, path, blocks)
                if not found:
                    return frozenset()  # used where it sizes nothing: not only a size
                reach |= found
    return frozenset(reach)


def _layer_reach(ctor: Ctor, index: int) -> frozenset[Position]:
    """What argument ``index`` of a ``torch.nn`` layer's constructor sizes (its own keys).

    Nothing for a layer given anything but literals (another layer, a dtype).
    """
    cls = getattr(nn, ctor.callee[len("nn.") :], None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        return frozenset()
    if not all(is_literal(v) for _, v in ctor.values):
        return frozenset()
    return _literal_layer_reach(ctor, index)


@functools.lru_cache(maxsize=None)
def _literal_layer_reach(ctor: Ctor, index: int) -> frozenset[Position]:
    """:func:`_layer_reach` of a layer built from literals (hashable: cached)."""
    cls = getattr(nn, ctor.callee[len("nn.") :])

    def build(value: int) -> dict:
        values = list(ctor.values)
        values[index] = (values[index][0], value)
        args = [v for p, v in values[: ctor.positional]]
        kwargs = {p.name: v for p, v in values[ctor.positional :]}
        return cls(*args, **kwargs).state_dict()

    return sized_by(build, ctor.values[index][1])


def _child(module: nn.Module, attribute: str) -> nn.Module | None:
    """The submodule ``__init__`` assigns to ``attribute`` (the module itself for ``super()``)."""
    if not attribute:
        return module
    child = module._modules.get(attribute)
    return child if isinstance(child, nn.Module) else None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


__all__ = [
    "ClassLiteral",
    "RootArguments",
    "RootParameter",
    "class_literals",
    "first_keys",
    "root_arguments",
    "with_root_arguments",
]
