"""Module and mixed style: what each instance's class is made of, as data.

An instance is described before any text is written: its ``__init__`` is a
list of constructor calls (:class:`~.constructors.Ctor`), in the original's
attribute order, and its ``forward`` is its graph. :mod:`.class_plan` groups
the descriptions into classes; :mod:`.class_text` writes them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Iterator

import torch
from torch import fx, nn

from ..errors import ConversionError
from ..hierarchy import Instance, is_defined_class
from ..module_kinds import is_sequential_class
from ..leaves import Leaf, leaf_of
from ..module_kinds import CONTAINERS
from ..opspecs import spec_for_module
from ..opspecs.spec import Param
from ..opspecs.weight_norm import (
    WRAPPER_CALLEE,
    WRAPPER_DEFAULTS,
    WRAPPER_IMPORT,
    weight_norms,
)
from ..options import Style
from ..passes.methods import with_method_bodies
from ..opspecs.helpers import HELPERS, Helper, helper_for
from ..tensor_builds import called_build, method_build
from ..tensor_values import tensor_call
from ..ties import own_ties, tie_text
from ..torch_names import qualified_name
from ..init_slices import recover_tensor, setting_lines
from ..source_text import attributes_read
from ..stored_attributes import is_store
from ..state_builds import declared_build, recovered_code
from .constructors import (
    POSITIONAL,
    Assign,
    BuiltIf,
    Ctor,
    MethodBuilt,
    Recovered,
    Tied,
    empty_tensor,
    render_value,
    structure,
)
from .expressions import ExpressionPrinter
from .attribute_tests import MISSING, plain_attribute
from .layer_subclasses import LayerBase, dtype_argument, layer_base


@dataclass(frozen=True)
class Described:
    """An instance as data, before instances are grouped into classes."""

    instance: Instance
    sequential: bool  # printed as an nn.Sequential subclass
    init: list[Assign]
    has_forward: bool  # False: an nn.Sequential subclass keeping Sequential's forward
    #: the torch layer its class subclasses, changing only code (:mod:`.layer_subclasses`)
    layer: LayerBase | None = None
    #: a member without its class's optional submodules: the widest member's
    #: graph holding this member's literals, so that their slots line up
    #: (:func:`.class_plan.aligned`); its own trace otherwise
    aligned: fx.Graph | None = None

    @property
    def graph(self) -> fx.Graph:
        return self.aligned if self.aligned is not None else self.instance.graph.graph


class ConstructorDescriber:
    """Describes instances and layers as constructor calls.

    A block's own call depends on the class and parameters its whole group
    gets, so the planner records it in :attr:`calls` before describing the
    block's parent.
    """

    def __init__(self, fresh_checked: bool = False) -> None:
        self.calls: dict[int, Ctor] = {}  # id(instance) -> how its parent builds it
        #: the caller checks a fresh build of the output: a parameter or
        #: persistent buffer may be written as user code that draws
        #: (:func:`~nnconvert.init_slices.recover_tensor`)
        self.fresh_checked = fresh_checked

    def describe(self, instance: Instance) -> Described:
        module = instance.module
        graph_module = instance.graph
        if isinstance(module, nn.Sequential):  # children by position: self[0]
            children = sequential_children(module)
            values = _sequential_arguments(children, self.describe_module)
            init = [Assign("", Ctor("super().__init__", values, len(values)))]
            init += _tie_assignments(module, graph_module)
            return Described(instance, True, init, not is_sequential_class(module))
        init = [
            self._assignment(name, value, module, instance.ancestry)
            for name, value in _attributes(
                graph_module, module, instance.built_attributes
            )
        ]
        if any(_draws(a.value) for a in init):
            init = in_source_order(init, module)
        init += _tie_assignments(module, graph_module)
        for name in _stored_attributes(graph_module.graph, module):
            init = with_assignment(init, module, name, plain_attribute(module, name))
        return Described(instance, False, init, True, layer_base(module))

    def _assignment(
        self,
        name: str,
        value: Any,
        owner: nn.Module,
        ancestry: tuple[tuple[str, nn.Module], ...] = (),
    ) -> Assign:
        if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
            if (
                name not in owner._buffers
            ):  # a plain attribute: ``self.pos = posemb(...)``
                return Assign(name, _rebuilt(owner, name, value, ancestry=ancestry))
            persistent = name not in owner._non_persistent_buffers_set
            # a non-persistent buffer is not in the state_dict: write its value;
            # a persistent one as the user's code built it, or its shape alone
            made = (
                _built(owner, name, empty_tensor(value), "{}", self.fresh_checked)
                if persistent
                else _rebuilt(owner, name, value, self.fresh_checked, ancestry)
            )
            return Assign(name, made, buffer=True, persistent=persistent)
        if isinstance(value, nn.Parameter) and name in owner._parameters:
            described = self.describe_value(name, value)
            wrapper = _wrapper(described)
            built = _built(owner, name, described, wrapper, self.fresh_checked)
            return Assign(name, built)
        return Assign(name, self.describe_value(name, value))

    def describe_value(self, name: str, value: Any) -> Any:
        if isinstance(value, nn.Parameter):
            flag = (
                () if value.requires_grad else ((Param("requires_grad", True), False),)
            )
            return Ctor("nn.Parameter", ((POSITIONAL, empty_tensor(value)),) + flag, 1)
        if isinstance(value, nn.Module):
            return self.describe_module(name, value)
        if value is None:  # ScalableViT's ``nn.ModuleList([block, None])``
            return None
        raise ConversionError(
            f"cannot write attribute {name!r} of type {type(value).__name__}"
        )

    def describe_module(self, name: str, module: nn.Module) -> Any:
        """The constructor call that builds ``module`` (a layer, block or container)."""
        leaf = leaf_of(module)
        if leaf is not None:
            return leaf_constructor(leaf)
        if is_defined_class(module):
            try:
                return self.calls[id(module)]
            except KeyError:
                raise ConversionError(
                    f"submodule {name!r} ({type(module).__qualname__}) is never called"
                ) from None
        if isinstance(module, nn.Sequential):
            children = sequential_children(module)
            values = _sequential_arguments(children, self.describe_module)
            return Ctor("nn.Sequential", values, len(values))
        if isinstance(module, (nn.ModuleList, nn.ParameterList)):
            items = [
                self.describe_value(f"{name}[{i}]", v) for i, v in enumerate(module)
            ]
            kind = (
                "ModuleList" if isinstance(module, nn.ModuleList) else "ParameterList"
            )
            return Ctor(f"nn.{kind}", ((POSITIONAL, items),), 1)
        if isinstance(module, (nn.ModuleDict, nn.ParameterDict)):
            items = {
                k: self.describe_value(f"{name}[{k!r}]", v) for k, v in module.items()
            }
            kind = (
                "ModuleDict" if isinstance(module, nn.ModuleDict) else "ParameterDict"
            )
            return Ctor(f"nn.{kind}", ((POSITIONAL, items),), 1)
        spec = spec_for_module(module)
        if spec is None:
            raise ConversionError(
                f"submodule {name!r} is a {type(module).__module__}.{type(module).__qualname__}, "
                "which has no op spec: nnconvert cannot write its constructor"
            )
        spec.rebuild(module)
        values = [  # a layer as an argument (nn.TransformerEncoder's): its constructor
            (p, self.describe_module(f"{name}.{p.name}", v) if _is_layer(v) else v)
            for p, v in spec.constructor_values(module)
        ]
        try:
            values = values + dtype_argument(module)
        except ConversionError as error:
            raise ConversionError(f"submodule {name!r} {error}") from None
        ctor = Ctor(f"nn.{type(module).__name__}", tuple(values), spec.ctor_positional)
        return weight_normed(ctor, module)


def weight_normed(ctor: Ctor, layer: nn.Module) -> Ctor:
    """``weight_norm(nn.Conv1d(...))`` for a layer with ``weight_norm`` hooks, as its source wrote it.

    The wrapper makes the layer's ``weight_g``/``weight_v`` parameters and
    the hook again, so the class keeps the original's ``state_dict`` keys
    and computes its weight as the original does (:mod:`..opspecs.weight_norm`).
    """
    for norm in weight_norms(layer).values():
        values = [(POSITIONAL, ctor)]
        values += [(Param(k, d), getattr(norm, k)) for k, d in WRAPPER_DEFAULTS.items()]
        ctor = Ctor(WRAPPER_CALLEE, tuple(values), 1, WRAPPER_IMPORT)
    return ctor


def _is_layer(value: Any) -> bool:
    return isinstance(value, nn.Module)


def leaf_constructor(leaf: Leaf) -> Ctor:
    """``Rearrange("b c h w -> b (h w) c")``: a third-party layer, built as it was."""
    return Ctor(leaf.name, leaf.arguments, leaf.positional, leaf.import_line)


def _tie_assignments(module: nn.Module, graph_module: fx.GraphModule) -> list[Assign]:
    """The ties ``module``'s ``__init__`` writes, after its layers are built.

    ``self.b = self.a`` for a layer registered twice,
    ``self.wte.weight = self.lm_head.weight`` for a shared tensor; a tie
    inside a block with a class of its own is that class's.
    """
    printer = ExpressionPrinter(Style.MODULE, owners=(module, graph_module))
    return [
        Assign(tie.target, Tied(*tie_text(module, tie, printer.attribute_path)))
        for tie in own_ties(module, is_defined_class)
    ]


def _rebuilt(
    owner: nn.Module,
    name: str,
    tensor: torch.Tensor,
    fresh_checked: bool = False,
    ancestry: tuple[tuple[str, nn.Module], ...] = (),
) -> Recovered | Ctor | MethodBuilt:
    """A tensor outside the state_dict: the user's ``__init__`` code when it is recovered.

    Else the user's method that computed it, where a parent handed it down
    (``ancestry``: :class:`MethodBuilt`); else (no source, code the slice
    refuses or that does not reproduce the tensor bit for bit) its value as
    :func:`tensor_value` writes it. ``fresh_checked``: code reading the
    file's functions is taken too (llama2.c's ``precompute_freqs_cis``),
    when it gives the tensor bit for bit under any seed.
    """
    code = recover_tensor(owner, name)
    if code is None and fresh_checked:
        code = recover_tensor(owner, name, fresh_checked=True, exact=True)
    if code is not None:
        return Recovered.of(code, tensor_value(name, tensor))
    build = method_build(ancestry, name, tensor) or called_build(owner, name, tensor)
    if build is not None:
        return MethodBuilt(build)
    return tensor_value(name, tensor)


def _built(
    owner: nn.Module,
    name: str,
    fallback: Any,
    wrapper: str = "{}",
    fresh_checked: bool = False,
) -> Any:
    """A parameter or persistent buffer: the user's ``__init__`` code when it is recovered.

    (Checked against the tensor's value at construction:
    :func:`~nnconvert.init_slices.recover_tensor`; ``fresh_checked``, code
    that draws too.) Else ``fallback``, its shape alone (``torch.empty``):
    the ``state_dict`` gives its values.
    """
    code = recover_tensor(owner, name, fresh_checked)
    if code is None:  # read from a functional file's init_params()
        declared = declared_build(owner, name)
        # one calling the file's functions (``pair``) or its imports (einops'
        # ``repeat``) is functional style's only: a class's ``__init__`` has
        # no module-level code of that file to call
        if declared is not None and not declared.calls and not declared.modules:
            code = recovered_code(declared)
    return Recovered.of(code, fallback, wrapper) if code is not None else fallback


def _draws(value: Any) -> bool:
    """The value is user code that a fresh build alone checks (it draws, or reads the file)."""
    return isinstance(value, Recovered) and value.code.fresh_checked


def in_source_order(init: list[Assign], module: nn.Module) -> list[Assign]:
    """``init`` with the attributes the user's ``__init__`` sets in the order it sets them.

    A class that draws builds its tensors in the user's order, so that a
    fresh build draws what the original drew: ViT's ``cls_token`` after
    its ``to_patch_embedding``, not first as the ``state_dict`` lists it.
    Attributes the conversion adds keep their places; ``init`` as it is
    when the order would not register the original's parameters, buffers
    and blocks each in the original's order (the ``state_dict``'s).
    """
    lines = setting_lines(module)
    placed = [i for i, a in enumerate(init) if a.attribute in lines]
    ordered = sorted((init[i] for i in placed), key=lambda a: lines[a.attribute])
    result = list(init)
    for index, assign in zip(placed, ordered):
        result[index] = assign
    written = [a.attribute for a in result]
    for registered in (module._parameters, module._buffers, module._modules):
        if [n for n in written if n in registered] != [
            n for n in registered if n in written
        ]:
            return init
    return result


def _wrapper(parameter: Ctor) -> str:
    """``nn.Parameter({})`` around a parameter's data, its ``requires_grad`` flag kept."""
    flags = [f"{p.name}={v!r}" for p, v in parameter.values[1:]]
    return "nn.Parameter(" + ", ".join(["{}", *flags]) + ")"


def consistent_recoveries(described: list[Described]) -> list[Described]:
    """Instances of one class write a tensor from recovered code all alike, or none does.

    Instances whose recovered code differs (or is missing for some) would
    otherwise look like different classes; then each writes the tensor's
    value instead (:attr:`Recovered.fallback`), and literals that differ
    become constructor parameters as usual.
    """
    kinds: dict[tuple[type, str], set[Any]] = {}
    for member in described:
        for assign in member.init:
            key = (type(member.instance.module), assign.attribute)
            kinds.setdefault(key, set()).add(_recovery_kind(assign.value))
    mixed = {key for key, found in kinds.items() if len(found) > 1}
    if not mixed:
        return described
    return [
        replace(
            member,
            init=[
                (
                    replace(a, value=a.value.fallback)
                    if isinstance(a.value, Recovered)
                    and (type(member.instance.module), a.attribute) in mixed
                    else a
                )
                for a in member.init
            ],
        )
        for member in described
    ]


def _recovery_kind(value: Any) -> Any:
    """The recovered code's shape (literals aside), or None for any other value."""
    return structure(value) if isinstance(value, Recovered) else None


def tensor_value(name: str, tensor: torch.Tensor) -> Ctor:
    """The call that rebuilds a tensor no state_dict restores, bit for bit.

    ``torch.tensor([...])`` when small, else ``unpack_tensor(data, dtype,
    shape)`` (:func:`~nnconvert.tensor_values.tensor_call` chooses and checks).
    """
    function, args, kwargs = tensor_call(tensor, name)
    helper = helper_for(function)
    callee = helper.name if helper is not None else qualified_name(function)[0]
    names = [p.name for p in (PACKED if helper is not None else ())]
    values = tuple(
        (Param(names[i]) if i < len(names) else POSITIONAL, a)
        for i, a in enumerate(args)
    )
    values += tuple((Param(k, None), v) for k, v in kwargs.items())
    return Ctor(callee, values, len(args))


#: ``unpack_tensor``'s parameters: a class whose instances hold different
#: tensors takes these as constructor arguments, named so.
PACKED = (Param("data"), Param("dtype"), Param("shape"))


def used_helpers(instances: list[Instance], inits: list[list[Assign]]) -> list[Helper]:
    """The helper rows with a definition that forwards or ``__init__``s call, in table order.

    Class styles define them once, before the classes (``unpack_tensor``).
    """
    called = {
        id(node.target)
        for instance in instances
        for node in with_method_bodies(instance.graph.graph)
        if node.op == "call_function"
    }
    built = {ctor.callee for init in inits for a in init for ctor in _ctors(a.value)}
    return [
        h
        for h in HELPERS
        if h.definition is not None and (id(h.function) in called or h.name in built)
    ]


def _ctors(value: Any) -> Iterator[Ctor]:
    """Every constructor call in a constructor tree."""
    if isinstance(value, BuiltIf):
        yield from _ctors(value.value)
    elif isinstance(value, Ctor):
        yield value
        for _, item in value.values:
            yield from _ctors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _ctors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _ctors(item)


def with_assignment(
    init: list[Assign], module: nn.Module, attribute: str, value: Any
) -> list[Assign]:
    """``init`` with ``self.<attribute> = value`` where the user's ``__init__`` sets it.

    Before the first attribute it sets later (first, without the source).
    """
    lines = setting_lines(module)
    at = 0
    if attribute in lines:
        later = [
            i
            for i, a in enumerate(init)
            if lines.get(a.attribute, -1) > lines[attribute]
        ]
        at = later[0] if later else len(init)
    return [*init[:at], Assign(attribute, value), *init[at:]]


def _stored_attributes(graph: fx.Graph, module: nn.Module) -> list[str]:
    """Attributes ``forward`` stores for its caller that ``__init__`` sets first.

    llama2.c's ``self.last_loss = None``: the value before the first call,
    the user's comment above it (:mod:`nnconvert.stored_attributes`).
    """
    stored = {str(n.args[0]) for n in with_method_bodies(graph) if is_store(n)}
    lines = setting_lines(module)
    return sorted(
        (
            name
            for name in stored
            if name in lines and plain_attribute(module, name) is not MISSING
        ),
        key=lines.__getitem__,
    )


def _attributes(
    graph_module: fx.GraphModule, original: nn.Module, built: frozenset[str]
) -> Iterator[tuple[str, Any]]:
    """Top-level attributes ``__init__`` must create, in the original's order.

    The original's attributes keep their declaration order (so the state_dict
    order is the original's), unused ones that own state too; layers the
    conversion adds go where they are first used (:func:`_added_place`). A layer only the blocks
    call (T5's ``shared`` embedding, reached through the stacks' tied
    ``embed_tokens``; CoaT's ``self.cpe1``, handed to every block of its
    stage) is declared first and stays first, so ``named_parameters()``
    names its tensors as the original does, not after a block.
    """
    declared = _declaration_order(original)
    used: list[str] = []
    targets: set[str] = set()
    for node in with_method_bodies(graph_module.graph):
        if node.op in ("call_module", "get_attr") and node.target != "training":
            targets.add(str(node.target))
            top = str(node.target).split(".")[0]
            if top not in used:
                used.append(top)
    kept = [
        n
        for n in used
        if n in declared and _is_original(n, graph_module, original, built)
    ]
    state = {key.split(".")[0] for key in original.state_dict()}
    # a spare layer no method reads: one the trace drops (``self.drop_path(x)``,
    # an identity) or mixed style calls as a function is in use
    read = attributes_read(type(original))
    read = read if read is not None else frozenset(declared)
    unused = [
        name
        for name in declared
        if name not in used
        and (
            name in state
            or (name not in read and _is_spare_layer(getattr(original, name)))
        )
    ]
    order = sorted(kept + unused, key=declared.index)
    steady = _in_declared_order(kept, declared)
    for i, name in enumerate(used):
        if name not in kept:
            place = _added_place(used[:i], used[i + 1 :], kept, steady, order)
            order.insert(place, name)
    for name in order:
        value = getattr(graph_module, name, None)
        if value is None or type(value) is nn.Module:  # fx's stand-in for a container
            value = getattr(original, name)
        if type(value) is nn.ModuleDict:
            value = _without_unread_layers(value, name, targets)
        yield name, value


def _without_unread_layers(
    container: nn.ModuleDict, path: str, targets: set[str]
) -> nn.ModuleDict:
    """``container`` (at ``path``) without the parameter-free layers no call reads.

    The style passes made their calls functional (``self.transformer.drop(x)``
    -> ``F.dropout``, or module style's own ``self.dropout``); written into
    the dict, a ``"drop": nn.Dropout(0.1)`` that nothing calls would stand
    beside the call that does its work. Entries that own tensors stay
    (``state_dict`` keys), and so do blocks, containers and every entry
    when the graph reads the dict itself. Nested dicts are pruned alike.
    """
    if path in targets:
        return container
    kept = {}
    for key, entry in container.items():
        where = f"{path}.{key}"
        if type(entry) is nn.ModuleDict:
            kept[key] = _without_unread_layers(entry, where, targets)
        elif (
            any(t == where or t.startswith(f"{where}.") for t in targets)
            or is_defined_class(entry)
            or isinstance(entry, CONTAINERS)
            or any(True for _ in entry.parameters())
            or any(True for _ in entry.buffers())
        ):
            kept[key] = entry
    if len(kept) == len(container) and all(
        kept[k] is container[k] for k in container.keys()
    ):
        return container
    return nn.ModuleDict(kept)


def _in_declared_order(kept: list[str], declared: list[str]) -> set[str]:
    """The most attributes of ``kept`` (in the order they are used) declared in that order too.

    Those place the layers the conversion adds (:func:`_added_place`); the
    others are used out of their declared order (a ``shortcut`` declared
    last and called first, a buffer declared with the tensors and read
    after a layer) and say nothing about where a layer between them goes.
    """
    ranks = [declared.index(name) for name in kept]
    longest = [1] * len(ranks)  # the longest increasing run ending at each
    previous = [-1] * len(ranks)
    for i, rank in enumerate(ranks):
        for j in range(i):
            if ranks[j] < rank and longest[j] + 1 > longest[i]:
                longest[i], previous[i] = longest[j] + 1, j
    found: set[str] = set()
    # of two runs as long, the one reaching the attribute used last
    at = max(reversed(range(len(ranks))), key=longest.__getitem__, default=-1)
    while at >= 0:
        found.add(kept[at])
        at = previous[at]
    return found


def _added_place(
    before: list[str],
    after: list[str],
    kept: list[str],
    steady: set[str],
    order: list[str],
) -> int:
    """Where in ``order`` a layer the conversion adds goes: where it is first used.

    Just before the next attribute used after it that is used in its
    declared order (``steady``), else just after the last one used before
    it (or a layer added before it): ``relu2`` stays between ``bn2`` and
    ``conv2`` where a ``shortcut`` declared last is called first, so that
    the shapes of a block with and without it declare their common
    attributes in one order (:func:`.class_plan.optional_calls`).
    """
    following = next((n for n in after if n in steady), None)
    if following is not None:
        return order.index(following)
    preceding = [n for n in before if n in steady or n not in kept]
    return order.index(preceding[-1]) + 1 if preceding else 0


def _is_spare_layer(child: Any) -> bool:
    """A torch layer without tensors that ``forward`` never calls: kept all the same.

    DINO's ``self.head = nn.Identity()`` (its classifier, replaced for
    fine-tuning), an activation kept for later: the model's attributes, and
    what the user's comments above them describe. A layer with tensors is
    kept anyway (its ``state_dict`` keys); a block of the user's own without
    tensors and never called has no class in the output to build it with.
    """
    return (
        isinstance(child, nn.Module)
        and not is_defined_class(child)
        and spec_for_module(child) is not None
        and not any(True for _ in child.parameters())
        and not any(True for _ in child.buffers())
    )


def _declaration_order(module: nn.Module) -> list[str]:
    """Top-level attribute names as ``state_dict`` orders them: tensors, then children."""
    tensors = [
        *module.named_parameters(recurse=False),
        *module.named_buffers(recurse=False),
    ]
    return [name for name, _ in [*tensors, *module.named_children()]]


def _is_original(
    name: str, graph_module: fx.GraphModule, original: nn.Module, built: frozenset[str]
) -> bool:
    """The attribute is the original's own: not one the conversion or a front end built.

    ``built`` are the attributes a front end built (``Instance.built_attributes``).
    """
    mine, theirs = getattr(graph_module, name, None), getattr(original, name, None)
    return (
        theirs is not None
        and name not in built
        and (mine is None or mine is theirs or type(mine) is nn.Module)
    )


def sequential_children(module: nn.Sequential) -> list[tuple[str, nn.Module]]:
    """Every child of ``module`` in order; a layer it holds at several places, at each.

    ``named_children()`` names a shared child once: SNLI's classifier runs
    ``nn.Sequential(Linear(...), self.relu, self.dropout, Linear(...),
    self.relu, self.dropout, ...)``, whose second and third ``relu`` and
    ``dropout`` it leaves out.
    """
    return [
        (name, child) for name, child in module._modules.items() if child is not None
    ]


def _sequential_arguments(children: list[tuple[str, nn.Module]], describe) -> tuple:
    """``nn.Sequential`` arguments: children in order, or an OrderedDict for named ones."""
    if [name for name, _ in children] == [str(i) for i in range(len(children))]:
        return tuple((POSITIONAL, describe(name, child)) for name, child in children)
    return (
        (POSITIONAL, OrderedDict((name, describe(name, c)) for name, c in children)),
    )


def constructor_text(layer: nn.Module, name: str = "layer") -> str:
    """``nn.Conv2d(1, 6, 5)``: how module style writes a standard layer or container."""
    value = ConstructorDescriber().describe_module(name, layer)
    return render_value(value, ExpressionPrinter(Style.MODULE))


__all__ = [
    "ConstructorDescriber",
    "Described",
    "consistent_recoveries",
    "constructor_text",
    "tensor_value",
    "used_helpers",
]
