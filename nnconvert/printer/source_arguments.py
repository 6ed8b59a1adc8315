"""Layer arguments the user's ``__init__`` writes as its own parameters, kept as written.

A class takes constructor parameters for the literals that differ between
its instances (:func:`~.constructors.assign_holes`). A block built alike
everywhere (a transformer's twelve ``Attention(dim, num_heads)``, a block
used once) has none, and printed from its instances alone it reads as a
trace: ``nn.Linear(192, 576)`` where the user wrote
``nn.Linear(dim, dim * 3, bias=qkv_bias)``.

:func:`held_arguments` reads the user's ``__init__``: for each submodule it
builds once with ``self.<name> = <call>``, the call's arguments are bound
to the built layer's own signature (a container's children in order), and
each argument of the constructor tree is paired with the source's
expression for it. An expression is kept when it reads only the user's
``__init__`` parameters (literal values: numbers, booleans, strings) and
the locals it computes from them (``inner_dim = dim_head * heads``,
``mlp_hidden_dim = int(dim * mlp_ratio)``, themselves kept as written),
with number constants, ``+ - * //``, unary minus and ``int(...)``, and when
it gives the instance's value, evaluated on what the instance was built
with (:mod:`nnconvert.init_arguments`). A class keeps an expression where
all its members keep the same one; the literal becomes that constructor
parameter (:func:`~.constructors.assign_holes`), and the class's callers
pass what each instance was built with.

A config object (:mod:`.config_objects`) is a parameter like any other,
whose fields the expressions may read (``nn.Linear(config.n_embd, 4 *
config.n_embd)``); one the root is given, or a local the source builds
(``config = GPTConfig(...)``), is built as the class's first local.

Nothing is guessed from values: an argument the source writes as a literal,
a call other than ``int``, or a parameter the built
tree does not show (an argument left at its default) stays as the trace
gives it. The argument of a parameter-free torch layer built directly on
``self`` (``nn.Dropout(dropout)``) is kept in module style only: mixed
style writes the layer as a call in ``forward`` (``F.dropout(x, 0.1)``).
Module style also writes a layer it made from such a call as the source
sets the attribute the call read (``self.dropout = dropout`` and
``F.dropout(x, self.dropout)``: ``nn.Dropout(dropout)``). The values
agree with each instance by construction, so the output computes what the
model does whichever way it is written.

The root class reads its source too, each parameter defaulting to the value
the model was built with (``GPT(vocab_size=64, n_head=2, n_embd=16)``).
A user builds the root again with other values, so a root parameter is
kept only where the output writes every use of it as a name
(:func:`_whole`): in the layers it sizes, the blocks it is passed to
(whose classes keep it whole in turn), the locals and tensor code it
feeds. One the output writes as a number anywhere (``range(n_layer)``, a
block's ``round(dim * ratio)``, ``nn.Dropout(dropout)``) stays a number
everywhere: ``GPT(n_embd=32)`` never builds a model that is 16 wide in
places. What ``forward`` does with an attribute it reads otherwise than
as ``self.<name>`` (GPT's guard on ``t <= self.block_size``) counts as such
a use. A block's parameters are kept wherever they are written, as a
block is only built by its parent. Written through the name are also: a
third-party layer's keywords (einops' ``Rearrange(pattern,
p1=patch_size)``, bound to its ``**axes_lengths``), the sizes of a drawn
parameter (``nn.Parameter(torch.Tensor(input_dim, output_dim))``,
:func:`_paired_parameter`), and an attribute ``forward`` reads that the
class sets as the source does (``self.scale = dim_head ** -0.5``,
:func:`_derived_attributes`).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from torch import nn

from ..config_locals import config_locals, none_comparison, none_test
from ..init_arguments import (
    init_arguments,
    init_defaults,
    init_locals,
    is_literal,
    recorded_call,
)
from ..leaves import is_leaf
from ..module_kinds import is_stateless, is_user_module
from ..opspecs import spec_for_module
from ..opspecs.spec import REQUIRED, Param, bind, parse_signature
from ..opspecs.weight_norm import WRAPPER_CALLEE
from ..source_text import (
    FUNCTIONS,
    assignment_targets,
    loop_targets,
    set_once,
    called_name,
    function_tree,
    one_argument_call,
    self_path,
    written_text,
)
from .constructors import (
    POSITIONAL,
    Assign,
    Ctor,
    Hole,
    Holes,
    Recovered,
    Repeated,
    leaves,
)
from .config_objects import DefaultedConfig, config_text, given_arguments, is_config
from .layer_settings import layer_settings
from .values import same_literal

_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Pow: lambda a, b: a**b,
}

#: the largest exponent :func:`_evaluates` raises to (``2 ** 10**9`` is no size)
_LARGEST_EXPONENT = 64


@dataclass(frozen=True)
class HeldArguments:
    """What a class's members' source writes: expressions by tree position, and locals.

    ``at``: ``(attribute, *path)`` (a path as :func:`~.constructors.leaves`
    gives it) -> the expression's text; ``sizes``: the locals those
    expressions read, ``(name, expression)`` in the source's order;
    ``parameters``: the ``__init__`` parameters they read, in the
    signature's order; ``whole``: those of them the class writes wherever
    its source uses them (:func:`_whole`), which a parent passing them on
    may rely on.
    """

    at: Mapping[tuple, str]
    sizes: tuple[tuple[str, str], ...]
    parameters: tuple[str, ...]
    whole: frozenset[str] = frozenset()
    #: those of ``parameters`` the class builds as its first locals, each
    #: with its config object (:mod:`.config_objects`): the root's config,
    #: a local the source builds (``config = GPTConfig(...)``)
    configs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: those of ``configs`` the root takes as parameters, defaulting to the
    #: one it was built with (:class:`~.config_objects.DefaultedConfig`),
    #: each with the attributes its source sets to it (``self.config``)
    offered: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


NOTHING_HELD = HeldArguments({}, (), ())

#: Where a kept expression stands: its node, and the layer or block and the
#: parameter of its constructor it is given to (or a drawn ``nn.Parameter``
#: and ``"size"``: :func:`_paired_parameter`).
_Use = tuple[ast.expr, nn.Module | nn.Parameter, str]


class _Count:
    """The last step of a path to a container's length, not to a literal in it."""

    def __repr__(self) -> str:
        return "COUNT"


#: ``(attribute, *path, COUNT)`` in :attr:`HeldArguments.at`: the expression
#: ``range(...)`` counts to in the comprehension that builds the container at
#: ``path`` (``nn.ModuleList([Block(dim) for _ in range(depth)])``)
COUNT = _Count()


def held_arguments(
    modules: Sequence[nn.Module],
    inits: Sequence[Sequence[Assign]],
    reserved: frozenset[str],
    forward_reads: Iterable[str] = (),
    whole_of: Callable[[type], frozenset[str]] = lambda _: frozenset(),
    root: bool = False,
    stateless_layers: bool = False,
    made_reads: Sequence[Mapping[str, Mapping[str, str]]] = (),
) -> HeldArguments:
    """The source's expressions all ``modules`` (built as ``inits`` say) agree on.

    Never an expression reading a name in ``reserved`` (the file's other
    names, which ``__init__``'s body may read). ``forward_reads``: the attributes
    ``forward`` reads a literal through (``self.n_head``); one the source
    sets to a parameter (``self.n_head = n_head``) adds that parameter, so
    that the class sets it so too (:func:`.class_plan._parameter_reads`).

    ``root``: ``modules`` is the model itself, whose parameters a user
    passes to build another model: only the :func:`_whole` ones are kept
    (``whole_of``: those of each block class), so that ``GPT(n_embd=32)``
    never builds 16 wide where the source's ``n_embd`` was written as a
    number. A block's parameters are kept as far as they are written.

    ``stateless_layers`` (module style): the arguments of parameter-free
    torch layers are read too (``nn.Dropout(attn_drop)``); mixed style
    writes those layers as calls in ``forward``. ``made_reads``, per module:
    the layers module style made from a functional call, each with the
    arguments the source wrote there as ``self.<attribute>``
    (``F.dropout(x, self.dropout)``): such an argument is written as the
    source sets the attribute (``self.dropout = dropout`` ->
    ``nn.Dropout(dropout)``).
    """
    if not modules or any(recorded_call(m) is None for m in modules):
        return NOTHING_HELD
    function = _init_function(type(modules[0]))
    if function is None:
        return NOTHING_HELD
    parameters = [a.arg for a in function.args.args[1:] + function.args.kwonlyargs]
    # ``config = GPTConfig(...)``: read as a parameter, written as that local
    configs = {
        name: value
        for name, value in config_locals(function, type(modules[0])).items()
        if is_config(value)
    }
    offered = _root_configs(modules[0], parameters) if root else {}
    configs |= offered
    parameters += [name for name in configs if name not in parameters]
    local_code = _local_sizes(function, set(parameters))
    derived = _derived_attributes(
        function, forward_reads, set(parameters), local_code, modules, configs
    )
    agreed: dict[tuple, str] | None = None
    uses: dict[tuple, _Use] = {}
    read_from: dict[tuple, str] = {}
    reads = list(made_reads) or [{} for _ in modules]
    for module, init, made in zip(modules, inits, reads):
        held = list(
            _held(
                module,
                init,
                function,
                local_code,
                set(parameters),
                configs,
                stateless_layers,
                made,
            )
        )
        found = {at: text for at, text, _ in held}
        if agreed is None:
            agreed = found
            uses = {at: use for at, _, use in held if isinstance(use, tuple)}
            # a layer argument the source reads from an attribute it sets
            read_from = {at: use for at, _, use in held if isinstance(use, str)}
        else:
            agreed = {k: v for k, v in agreed.items() if found.get(k) == v}
    names = {at: _names(ast.parse(t, mode="eval")) for at, t in (agreed or {}).items()}
    agreed = {at: t for at, t in (agreed or {}).items() if not names[at] & reserved}
    if root:
        cls = type(modules[0])
        agreed = {
            at: t for at, t in agreed.items() if at[-1] is not COUNT or _looped(cls, at)
        }

    def kept_of(
        agreed: Mapping[tuple, str],
        parameters: Sequence[str],
        local_code: Mapping[str, ast.expr],
    ) -> HeldArguments | None:
        return _kept(
            function,
            agreed,
            names,
            parameters,
            local_code,
            modules,
            forward_reads,
            reserved,
            [s for s in derived if _names(s.value) <= {*parameters, *local_code}],
        )

    kept = kept_of(agreed, parameters, local_code)
    if kept is None:
        return NOTHING_HELD
    recovered: dict[str, set[str]] = {}
    for at, text in kept.at.items():
        if at not in uses:  # the user's tensor code, written with its names
            recovered.setdefault(read_from.get(at, at[0]), set()).add(text)
    whole = _whole(
        function,
        set(parameters),
        [use for at, use in uses.items() if at in kept.at],
        {name for name, _ in kept.sizes},
        recovered,
        [
            *_set_as_read(function, type(modules[0]), forward_reads),
            *_defaulting(function, offered),
        ],
        whole_of,
        derived,
    )
    if root and set(kept.parameters) - whole - set(configs):
        written = whole | set(configs)
        agreed = {at: t for at, t in agreed.items() if names[at] <= written}
        local_code = {
            n: v
            for n, v in _computable(local_code, written & set(parameters)).items()
            if n in written
        }
        parameters = [p for p in parameters if p in written]
        kept = kept_of(agreed, parameters, local_code)
        if kept is None:
            return NOTHING_HELD
    read = {name: configs[name] for name in kept.parameters if name in configs}
    taken = {
        name: _set_to(function, name)
        for name in offered
        if name in whole and name in kept.parameters
    }
    return dataclasses.replace(
        kept, whole=whole & set(parameters), configs=read, offered=taken
    )


def _root_configs(module: nn.Module, parameters: Sequence[str]) -> dict[str, Any]:
    """The configs the root was given, by parameter: passed, or its own default.

    A default: the output's ``if config is None: config = GPTConfig(...)``
    read back (:func:`~.config_objects.given_arguments`), where the root
    was built without one.
    """
    given = given_arguments(module)
    return {p: given[p] for p in parameters if is_config(given.get(p))}


def _defaulting(function: ast.FunctionDef, configs: Iterable[str]) -> list[ast.stmt]:
    """``if config is None: config = GPTConfig(...)``: the statement setting a default config.

    The root writes it so when it takes the config (:func:`with_held`): its
    reads are uses written through the name (:func:`_whole`).
    """
    return [s for s in function.body if none_test(s) in set(configs)]


def _set_to(function: ast.FunctionDef, name: str) -> tuple[str, ...]:
    """The attributes ``__init__`` sets to the parameter ``name`` at its top level (``self.config = config``)."""
    found: list[str] = []
    for statement in function.body:
        if (
            isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Name)
            and statement.value.id == name
            and all(_is_self_attribute(t) for t in statement.targets)
        ):
            found += [t.attr for t in statement.targets]
    return tuple(found)


def _computable(
    local_code: Mapping[str, ast.expr], parameters: set[str]
) -> dict[str, ast.expr]:
    """The locals of ``local_code`` computed from ``parameters`` and earlier such locals only.

    A local whose every use is written (whole, ``head_dim`` in ``self.scale
    = head_dim ** -0.5``) may still read a parameter the root leaves out
    (``head_dim = dim // num_heads``): it is not the root's to write.
    """
    found: dict[str, ast.expr] = {}
    for name, node in local_code.items():  # the source's order
        if _names(node) <= parameters | set(found):
            found[name] = node
    return found


def _kept(
    function: ast.FunctionDef,
    agreed: Mapping[tuple, str],
    names: Mapping[tuple, set[str]],
    parameters: Sequence[str],
    local_code: Mapping[str, ast.expr],
    modules: Sequence[nn.Module],
    forward_reads: Iterable[str],
    reserved: frozenset[str],
    derived: Sequence[ast.Assign] = (),
) -> HeldArguments | None:
    """``agreed`` with the locals and ``parameters`` it reads; None where one is reserved.

    None too where a local it reads reads a name not among ``parameters``
    (one the root left out: :func:`held_arguments`). ``derived``: the
    statements setting an attribute ``forward`` reads that the class writes
    as the source does (:func:`_derived_attributes`), whose names it reads.
    """
    read: set[str] = set()
    for at in agreed:
        read |= names[at]
    for statement in derived:
        read |= _names(statement.value)
    calls = _built_once(function)
    for attribute in set(forward_reads):
        node = calls.get(attribute)
        if isinstance(node, ast.Name) and node.id in parameters:
            given = [given_arguments(m).get(node.id, _UNKNOWN) for m in modules]
            if _UNKNOWN not in given and all(same_literal(given[0], g) for g in given):
                read.add(node.id)  # one that differs is a forward hole already
    sizes = []
    for name, node in local_code.items():  # the source's order
        if name in read or any(name in _names(n) for _, n in sizes):
            sizes.append((name, node))
    for _, node in sizes:
        read |= _names(node)
    if {name for name, _ in sizes} & reserved or read & reserved:
        return None
    if not read <= set(parameters) | set(local_code):
        return None
    return HeldArguments(
        dict(agreed),
        tuple((name, written_text(node)) for name, node in sizes),
        tuple(p for p in parameters if p in read),
    )


def _whole(
    function: ast.FunctionDef,
    parameters: set[str],
    uses: Sequence[_Use],
    sizes: set[str],
    recovered: Mapping[str, set[str]],
    harmless: Iterable[ast.stmt],
    whole_of: Callable[[type], frozenset[str]],
    derived: Sequence[ast.Assign] = (),
) -> frozenset[str]:
    """The ``parameters`` and locals every use of which in ``__init__`` the output writes as a name.

    A read of a parameter or local is written where it is in a kept
    expression (``uses``) given to a ``torch.nn`` layer, or to a block whose
    class keeps that parameter whole (``whole_of``); in the user's tensor
    code written with its names (``recovered``: attribute -> the
    parameters it is written with; the locals it reads are written too);
    in an ``assert``; in a ``harmless`` statement (:func:`_set_as_read`);
    or in a ``derived`` one (``self.scale = head_dim ** -0.5``,
    :func:`_derived_attributes`) none of whose names is partial, which the
    class then writes as the source does (:func:`written_reads`).
    A statement setting locals (``inner_dim = dim_head * heads``,
    ``patch_height, patch_width = pair(patch_size)``) passes its reads on
    when the output writes it (a kept local, ``sizes``, or the tensor
    code's) and every local it sets is whole. Anything else (a number the
    output writes, a loop's ``range(n_layer)``, ``round(dim * ratio)``)
    leaves the name partial, and so does an expression or local reading a
    partial name.
    """
    locals_ = {
        n.id
        for statement in ast.walk(function)
        if isinstance(statement, ast.stmt)
        for target in assignment_targets(statement) + loop_targets(statement)
        for n in ast.walk(target)
        if isinstance(n, ast.Name) and n.id != "self"
    }
    names = parameters | locals_
    loads = [n for n in _loads(function.body) if n.id in names]
    fixed: set[int] = set()
    for statement in harmless:
        fixed |= {id(n) for n in _loads([statement])}
    written: dict[int, set[str]] = {}  # local-setting statements the output writes
    for statement in function.body:
        if any(_named(t) in sizes for t in assignment_targets(statement)):
            written[id(statement)] = names
    sized = set(written)  # written as the source does, names and all
    for statement in ast.walk(function):
        attribute = _statement_sets(statement)
        if attribute in recovered:
            readable = recovered[attribute] | locals_
            fixed |= {id(n) for n in _loads([statement]) if n.id in readable}
            for earlier in _with_locals(function, statement)[1:]:
                written[id(earlier)] = written.get(id(earlier), set()) | readable
    setting = [
        (statement, _set_locals(statement))
        for statement in ast.walk(function)
        if isinstance(statement, ast.stmt) and _set_locals(statement)
    ]
    partial: set[str] = set()
    while True:
        kept = set(fixed)
        for node, owner, parameter in uses:
            if _names(node) & partial:
                continue
            if _is_block(owner) and parameter not in whole_of(type(owner)):
                continue
            kept |= {id(n) for n in ast.walk(node)}
        for statement, defined in setting:
            readable = written.get(id(statement), set())
            if not defined & partial:
                kept |= {id(n) for n in _loads([statement]) if n.id in readable}
        for statement in derived:
            if not _names(statement.value) & partial:
                kept |= {id(n) for n in _loads([statement])}
        found = {n.id for n in loads if id(n) not in kept}
        found |= _unwritable_sizes(setting, sized, partial)
        if found <= partial:
            return frozenset(names - partial)
        partial |= found


def _is_block(owner: nn.Module) -> bool:
    """A class whose parameter is whole only where its own class keeps it so (:func:`_whole`).

    A ``torch.nn`` layer, or a third-party layer the output builds as the
    source did (an einops ``Rearrange(pattern, p1=patch_size)``,
    :mod:`nnconvert.leaves`), takes its arguments as written: a name given
    to it is a use written through the name.
    """
    return is_user_module(owner) and not is_leaf(owner)


def _unwritable_sizes(
    setting: Sequence[tuple[ast.stmt, set[str]]],
    sized: set[int],
    partial: set[str],
) -> set[str]:
    """The kept locals (``sized``) whose statement reads a ``partial`` name.

    ``head_dim = dim // num_heads`` is written as the source writes it or
    not at all: with ``num_heads`` a number in places, the root cannot
    write it, and what reads ``head_dim`` (``self.scale = head_dim **
    -0.5``) is written as a number too.
    """
    return {
        name
        for statement, defined in setting
        if id(statement) in sized and {n.id for n in _loads([statement])} & partial
        for name in defined
    }


def _named(target: ast.expr) -> str | None:
    return target.id if isinstance(target, ast.Name) else None


def _set_locals(statement: ast.stmt) -> set[str]:
    """The locals ``statement`` sets or changes in place (``relative_coords[:, :, 0] += 1``)."""
    found = set()
    for target in assignment_targets(statement) + loop_targets(statement):
        while isinstance(target, (ast.Subscript, ast.Starred)):
            target = target.value
        for node in ast.walk(target):
            if isinstance(node, ast.Name) and node.id != "self":
                found.add(node.id)
            if isinstance(node, ast.Attribute):
                break  # ``self.x = ...``: an attribute, not a local
    return found


def _loads(nodes: Iterable[ast.AST]) -> Iterator[ast.Name]:
    """The names read in ``nodes``, outside ``assert`` statements."""
    for node in nodes:
        if isinstance(node, ast.Assert):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            yield node
        yield from _loads(ast.iter_child_nodes(node))


def _with_locals(function: ast.FunctionDef, statement: ast.stmt) -> list[ast.stmt]:
    """``statement`` and the assignments of ``__init__``'s body to the locals it reads, transitively.

    The user's tensor code (``num_patches = (image_size // patch_size) ** 2``
    before ``self.pos_embed = nn.Parameter(torch.randn(1, num_patches + 1,
    dim))``) is recovered with those statements.
    """
    found = [statement]
    wanted = {n.id for n in _loads([statement])} - {"self"}
    for earlier in reversed(function.body[: _index_in(function.body, statement)]):
        targets = {
            n.id
            for t in assignment_targets(earlier)
            for n in ast.walk(t)
            if isinstance(n, ast.Name)
        }
        if targets & wanted:  # ``relative_coords[:, :, 0] += ...`` sets it too
            found.append(earlier)
            wanted |= {n.id for n in _loads([earlier])} - {"self"}
    return found


def _index_in(body: list[ast.stmt], statement: ast.stmt) -> int:
    """Where ``statement`` (or the statement of ``body`` holding it) stands in ``body``."""
    for index, top in enumerate(body):
        if any(node is statement for node in ast.walk(top)):
            return index
    return 0


def _statement_sets(statement: ast.AST) -> str | None:
    """The attribute ``self.X = ...`` or ``self.register_buffer("X", ...)`` sets."""
    if isinstance(statement, ast.Assign):
        for target in statement.targets:
            if _is_self_attribute(target):
                return target.attr
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        call = statement.value
        if (
            _is_self_attribute(call.func)
            and call.func.attr in ("register_buffer", "register_parameter")
            and call.args
            and isinstance(call.args[0], ast.Constant)
        ):
            return str(call.args[0].value)
    return None


def _is_self_attribute(node: ast.AST) -> bool:
    """``self.x``."""
    return isinstance(node, ast.Attribute) and self_path(node.value) == ""


def _set_as_read(
    function: ast.FunctionDef, cls: type, forward_reads: Iterable[str]
) -> list[ast.stmt]:
    """``self.X = <expression>`` statements whose uses the output keeps.

    Those ``forward`` reads as ``self.X``, set to a parameter
    (``self.n_head = n_head``), which the class then sets so too; and those
    setting only attributes no other method of the class mentions
    (``self.num_features = self.embed_dim = embed_dim``), which compute
    nothing. An attribute ``forward`` uses otherwise (GPT's guard on
    ``self.block_size``, written with its value) is not among them.
    """
    reads = set(forward_reads)
    mentioned = _mentioned_attributes(cls)
    found = []
    for statement in ast.walk(function):
        if not isinstance(statement, ast.Assign) or isinstance(
            statement.value, ast.Call
        ):
            continue
        if not all(_is_self_attribute(t) for t in statement.targets):
            continue
        attributes = {t.attr for t in statement.targets}
        if isinstance(statement.value, ast.Name) and attributes <= reads:
            found.append(statement)
        elif mentioned is not None and not attributes & mentioned:
            found.append(statement)
    return found


def _derived_attributes(
    function: ast.FunctionDef,
    forward_reads: Iterable[str],
    parameters: set[str],
    local_code: Mapping[str, ast.expr],
    modules: Sequence[nn.Module],
    configs: Mapping[str, Any],
) -> list[ast.Assign]:
    """``self.X = <expression>`` statements setting an attribute ``forward`` reads as a number.

    vit-pytorch's ``self.scale = dim_head ** -0.5``, DINO's ``self.scale =
    qk_scale or head_dim ** -0.5``: set once, to a :func:`_simple`
    expression of the parameters and :func:`_local_sizes` locals giving
    each of ``modules``' number, the class writes the statement as the
    source does (:func:`written_reads`) rather than the number, so its
    reads are uses written through the names (:func:`_whole`). A bare name
    (``self.n_head = n_head``) is :func:`_set_as_read`'s.
    """
    calls = _built_once(function)
    statements = {
        id(node.value): node
        for node in ast.walk(function)
        if isinstance(node, ast.Assign) and len(node.targets) == 1
    }
    rows = [_source_values(m, local_code, parameters, configs) for m in modules]
    found = []
    for attribute in sorted(set(forward_reads)):
        node = calls.get(attribute)
        statement = statements.get(id(node))
        if statement is None or isinstance(node, ast.Name) or not _names(node):
            continue
        if not _simple(node, parameters | set(local_code)):
            continue
        held = [getattr(m, attribute, _UNKNOWN) for m in modules]
        given = [_evaluates(node, values) for values in rows]
        if all(
            _number(g) and type(g) is type(h) and same_literal(g, h)
            for g, h in zip(given, held)
        ):
            found.append(statement)
    return found


def _source_values(
    module: nn.Module,
    local_code: Mapping[str, ast.expr],
    parameters: set[str],
    configs: Mapping[str, Any],
) -> dict[str, Any]:
    """What ``module``'s ``__init__`` was given and the ``local_code`` locals it computed from it."""
    values = {**init_locals(module), **given_arguments(module), **configs}
    for name, node in local_code.items():  # one an attribute stood for: not recorded
        if name in parameters:  # ``x = x or y``: the local from here on
            values[name] = _evaluates(node, values)
        else:
            values.setdefault(name, _evaluates(node, values))
    return values


def _looped(cls: type, at: tuple) -> bool:
    """Whether the root's other methods read the container counted at ``at`` only by looping over it.

    ``GPT(n_layer=4)`` must run four blocks: a ``forward`` that reads
    ``self.h[0]`` or ``len(self.h)`` may not, so such a count stays a
    number. Only a container set directly on ``self`` (``self.h =
    nn.ModuleList(...)``, ``self.blocks = nn.Sequential(*...)``), read in
    ``for block in self.h:`` (a Sequential also in ``self.blocks(x)``) and
    nowhere else; or one under a key of a dict set on ``self`` (nanoGPT's
    ``self.transformer.h``), read so through its key.
    """
    attribute, *path, _ = at
    key = None
    if path[:1] == [0] and len(path) >= 2 and isinstance(path[1], str):
        key, path = path[1], path[2:]  # a ModuleDict's child, then as above
    if path not in ([], [0]):
        return False
    for name, method in vars(cls).items():
        if name == "__init__" or not inspect.isfunction(method):
            continue
        tree = function_tree(method)
        if tree is None:
            return False
        keyed_reads: set[int] = set()
        looped = {
            id(node.iter)
            for node in ast.walk(tree)
            if isinstance(node, (ast.For, ast.comprehension))
        }
        if not path:  # an ``nn.Sequential``: ``self.blocks(x)`` runs every block
            looped |= {
                id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)
            }
        for node in ast.walk(tree):
            if _is_self_attribute(node) and node.attr == attribute:
                if key is None and id(node) not in looped:
                    return False
            if key is None or not isinstance(node, ast.Attribute):
                continue
            read = node.value  # ``self.transformer.h``: the key's reads only
            if _is_self_attribute(read) and read.attr == attribute:
                keyed_reads.add(id(read))
                if node.attr == key and id(node) not in looped:
                    return False
        if key is not None and any(
            _is_self_attribute(n) and n.attr == attribute and id(n) not in keyed_reads
            for n in ast.walk(tree)
        ):
            return False  # ``self.transformer["h"]``, or the dict itself
    return True


@functools.lru_cache(maxsize=256)
def _mentioned_attributes(cls: type) -> frozenset[str] | None:
    """Every ``self.X`` the methods of ``cls`` other than ``__init__`` mention (None: no source)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return None
    found = set()
    for method in ast.walk(tree):
        if isinstance(method, FUNCTIONS) and method.name != "__init__":
            found |= {n.attr for n in ast.walk(method) if _is_self_attribute(n)}
    return frozenset(found)


def with_held(
    holes: Holes,
    held: HeldArguments,
    modules: Sequence[nn.Module],
    root: bool = False,
) -> Holes:
    """``holes`` with each held column written as the source writes it.

    A column held as a parameter's name is that parameter already
    (:func:`~.constructors.assign_holes`); one held as an expression
    (``dim * 3``) is replaced by it, and the parameters and locals it reads
    join the class's. A parameter takes the user's default where some
    instance was built with it.

    ``root``: ``modules`` is the model itself, which the output builds with
    no arguments (``Net()``, as the CLI and a fresh build do): each
    parameter defaults to the value the model was built with, and the
    parameters come in the user's order.
    """
    if not held.at and not held.parameters:
        return holes
    expressions: dict[str, str] = {}
    shadowed = {name for name, _ in held.sizes} & set(held.parameters)
    for assign in holes.template:
        for path, _, value in leaves(assign.value):
            text = held.at.get((assign.attribute, *path))
            if text is None or not isinstance(value, Hole):
                continue
            if (
                value.name != text
                or text not in held.parameters
                or text in shadowed  # ``x = x or y`` before: the local
            ):  # not a parameter
                expressions[value.name] = text
    arguments = [given_arguments(m) for m in modules]
    user_defaults = init_defaults(modules[0])

    def default(name: str) -> Any:  # the user's, where some instance was given it
        if root:
            return arguments[0][name]
        value = user_defaults.get(name, REQUIRED)
        given = any(same_literal(value, a.get(name, _UNKNOWN)) for a in arguments)
        return value if given else REQUIRED

    # ``config = GPTConfig(...)``: a local, which the blocks are given; the
    # root's own: a parameter, that config its default (``config=None``)
    configs = [
        (name, _config_local(value, held.offered.get(name)))
        for name, value in held.configs.items()
    ]
    expressions |= {name: name for name in held.configs if name in holes.names}
    defaults = dict(holes.defaults)
    kept = [n for n in holes.names if n not in expressions]
    for name in held.parameters:
        if name in kept:
            defaults[name] = default(name)
            if defaults[name] is REQUIRED:
                del defaults[name]
    holes = Holes(
        holes.names, holes.values_per_instance, holes.template, defaults, holes.sizes
    )
    locals_ = {name for name, _ in configs}
    added = [
        (name, [a[name] for a in arguments], default(name))
        for name in held.parameters
        if name not in kept and name not in locals_
    ]
    added += [(name, [held.configs[name]], None) for name in held.offered]
    holes = holes.derived(expressions, added, [*configs, *held.sizes])
    holes = dataclasses.replace(holes, template=_with_counts(holes.template, held))
    if root:
        order = {name: i for i, name in enumerate(held.parameters)}
        return holes.reordered(sorted(holes.names, key=lambda n: order.get(n, -1)))
    return holes.reordered(list(holes.names))


def _config_local(value: Any, attributes: tuple[str, ...] | None) -> str:
    """The config's text: built as is, or (``attributes`` given) as a parameter's default."""
    text = config_text(value)
    return text if attributes is None else DefaultedConfig(text, attributes)


def _with_counts(template: Sequence[Assign], held: HeldArguments) -> list[Assign]:
    """``template`` with each container the source counts (:data:`COUNT`) a :class:`Repeated`.

    Its children are alike in every instance (:func:`_paired_comprehension`),
    so their template is one call, written once over ``range(<count>)``.
    """
    counted: dict[str, dict[tuple, str]] = {}
    for (attribute, *path), text in held.at.items():
        if path and path[-1] is COUNT:
            counted.setdefault(attribute, {})[tuple(path[:-1])] = text
    return [
        (
            dataclasses.replace(a, value=_counted(a.value, counted[a.attribute], ()))
            if a.attribute in counted
            else a
        )
        for a in template
    ]


def _counted(value: Any, counts: Mapping[tuple, str], path: tuple) -> Any:
    """``value`` (the tree at ``path``) with each container at a path of ``counts`` repeated."""
    count = counts.get(path)
    if isinstance(value, list):
        items = [_counted(v, counts, path + (i,)) for i, v in enumerate(value)]
        if count is not None and all(item == items[0] for item in items[1:]):
            return Repeated(tuple(items), count)
        return items
    if isinstance(value, Ctor):
        values = tuple(
            (param, _counted(item, counts, path + (i,)))
            for i, (param, item) in enumerate(value.values)
        )
        items = [item for _, item in values]
        if count is not None and all(item == items[0] for item in items[1:]):
            values = ((POSITIONAL, Repeated(tuple(items), count, starred=True)),)
            return dataclasses.replace(value, values=values, positional=1)
        return dataclasses.replace(value, values=values)
    if isinstance(value, dict):  # an nn.ModuleDict's children, by key
        return type(value)(
            (key, _counted(item, counts, path + (key,))) for key, item in value.items()
        )
    return value


def written_reads(
    modules: Sequence[nn.Module],
    reads: Mapping[str, Sequence[Any]],
    holes: Holes,
) -> dict[str, str]:
    """The source's expression for each attribute ``forward`` reads, where the class can write it.

    ``reads``: attribute -> the literal each of ``modules`` holds
    (``self.scale`` of vit-pytorch's ``Attention``, 0.125), which the class
    would set as that number, or take as a parameter of its own where the
    instances differ. Where the user's ``__init__`` sets it once to an
    expression of its parameters (``self.scale = dim_head ** -0.5``) that
    reads only the class's own parameters and locals (``holes``) and
    gives each instance's literal, the class sets it so.
    """
    function = _init_function(type(modules[0])) if modules else None
    if function is None:
        return {}
    calls = _built_once(function)
    sizes = [(name, ast.parse(text, mode="eval").body) for name, text in holes.sizes]
    available = set(holes.names) | {name for name, _ in sizes}
    set_to = dict(set_once(function, loops=False))
    settings = {s.name: s for s in layer_settings(modules[0]).values()}
    rows = []
    for row in holes.values_per_instance:
        values = dict(zip(holes.names, row))
        for name, node in sizes:
            values[name] = _evaluates(node, values)
        rows.append(values)
    found = {}
    for attribute, literals in reads.items():
        node = calls.get(attribute)
        if attribute in settings:  # ``nn.Dropout(config.dropout)``: its argument
            node = settings[attribute].expression
        if isinstance(node, ast.Name) and node.id not in available:
            node = set_to.get(node.id)  # ``self.head_dim = head_dim``, a local not kept
        if node is None or not _names(node) or not _simple(node, available):
            continue
        given = [_evaluates(node, values) for values in rows]
        if len(given) == len(literals) and all(
            type(g) in (int, float) and type(g) is type(v) and same_literal(g, v)
            for g, v in zip(given, literals)
        ):
            found[attribute] = written_text(node)
    return found


def _held(
    module: nn.Module,
    init: Sequence[Assign],
    function: ast.FunctionDef,
    local_code: Mapping[str, ast.expr],
    parameters: set[str],
    built_configs: Mapping[str, Any],
    stateless_layers: bool,
    made_reads: Mapping[str, Mapping[str, str]],
) -> Iterator[tuple[tuple, str]]:
    """``(attribute, *path)`` -> expression for each argument ``module``'s source keeps.

    ``built_configs``: the configs the class builds itself, by local name;
    ``stateless_layers``, ``made_reads``: see :func:`held_arguments`.
    """
    arguments = {**given_arguments(module), **built_configs}
    values = {**init_locals(module), **arguments}
    for name, node in local_code.items():  # one an attribute stood for: not recorded
        if name in parameters:  # ``x = x or y``: the local from here on
            values[name] = _evaluates(node, values)
        else:
            values.setdefault(name, _evaluates(node, values))
    if not all(
        _evaluates(node, values) == values.get(n)
        for n, node in local_code.items()
        if n in values and n not in parameters  # a parameter's: computed just now
    ):
        return
    calls = _built_once(function)
    layers = _layer_locals(function)
    configs = {n: v for n, v in arguments.items() if n in parameters and is_config(v)}
    for assign in init:
        if isinstance(assign.value, Recovered):  # the user's own code: its names
            fields = assign.value.code.fields
            for i, (param, value) in enumerate(assign.value.values):
                given = arguments.get(param.name, _UNKNOWN)
                if param.name in parameters and same_literal(given, value):
                    yield (assign.attribute, i), param.name, None
                elif i < len(fields) and _config_field(fields[i], configs, value):
                    yield (assign.attribute, i), fields[i], None
            continue
        # the config this block was given, passed on where no call pairs it
        # (llama2.c's blocks, appended in a loop): the same object by value
        for path, _, value in leaves(assign.value) if configs else ():
            name = next((n for n, c in configs.items() if same_literal(c, value)), None)
            if name is not None:
                yield (assign.attribute, *path), name, None
        if assign.attribute in made_reads and isinstance(assign.value, Ctor):
            yield from _read_arguments(
                assign,
                made_reads[assign.attribute],
                calls,
                values,
                parameters | set(local_code),
            )
            continue
        node = calls.get(assign.attribute)
        built = getattr(module, assign.attribute, None)
        if node is not None and isinstance(built, nn.Parameter):
            pairs = _paired_parameter(assign.value, node, built)
            yield from _checked(assign, pairs, parameters | set(local_code), values)
            continue
        if node is None or not isinstance(built, nn.Module):
            continue
        if is_stateless(built) and not is_user_module(built) and not stateless_layers:
            continue  # mixed style writes it as a call (F.dropout(x, 0.1)): no argument
        pairs = _paired(assign.value, built, node, layers=layers)
        yield from _checked(assign, pairs, parameters | set(local_code), values)


def _checked(
    assign: Assign,
    pairs: Iterable[tuple[tuple, ast.expr, Any, str]],
    names: set[str],
    values: Mapping[str, Any],
) -> Iterator[tuple[tuple, str, _Use]]:
    """The ``pairs`` (:func:`_paired`) whose expression reads ``names`` and gives the literal.

    A literal in the source too is not one; nor is an expression of
    anything but ``names``, or one giving another value than the instance
    was built with: nothing is guessed from values.
    """
    for path, expression, owner, name in pairs:
        if not _names(expression) or not _simple(expression, names):
            continue
        value = _evaluates(expression, values)
        if value is not _UNKNOWN and same_literal(value, _leaf(assign.value, path)):
            use = (expression, owner, name)
            yield (assign.attribute, *path), written_text(expression), use


#: ``torch`` functions whose positional arguments are the tensor's sizes
_SIZED_FACTORIES = frozenset(
    {"empty", "zeros", "ones", "rand", "randn", "Tensor", "FloatTensor"}
)


def _paired_parameter(
    value: Any, call: ast.expr, built: nn.Parameter
) -> Iterator[tuple[tuple, ast.expr, Any, str]]:
    """``(path, expression, parameter, "size")`` for the sizes of a drawn parameter.

    GCN's ``self.kernel = nn.Parameter(torch.Tensor(input_dim, output_dim))``
    then ``nn.init.xavier_normal_(self.kernel)``: the output writes the
    tensor as it is made, ``nn.Parameter(torch.empty(12, 8))``
    (:mod:`nnconvert.state_builds`), its sizes in the source's positions.
    Each size the source passes positionally to a ``torch`` factory of
    sizes is paired with the output's, position by position, where both
    write as many.
    """
    if not (
        isinstance(value, Ctor)
        and value.callee == "nn.Parameter"
        and len(value.values) == 1
        and isinstance(value.values[0][1], Ctor)
        and isinstance(call, ast.Call)
        and called_name(call.func) == "Parameter"
        and len(call.args) == 1
        and isinstance(call.args[0], ast.Call)
    ):
        return
    made, source = value.values[0][1], call.args[0]
    if not (
        isinstance(source.func, ast.Attribute)
        and isinstance(source.func.value, ast.Name)
        and source.func.value.id == "torch"
        and source.func.attr in _SIZED_FACTORIES
        and made.callee.startswith("torch.")
        and made.callee.removeprefix("torch.") in _SIZED_FACTORIES
        and not any(isinstance(a, ast.Starred) for a in source.args)
        and len(source.args) == made.positional == built.dim()
    ):
        return
    for i, node in enumerate(source.args):
        yield (0, i), node, built, "size"


def _read_arguments(
    assign: Assign,
    read: Mapping[str, str],
    sets: Mapping[str, ast.expr],
    values: Mapping[str, Any],
    parameters: set[str],
) -> Iterator[tuple[tuple, str, str]]:
    """The arguments of a layer made from a call that the source read from attributes.

    ``read``: argument name -> the attribute (``{"p": "dropout"}``); each
    is written as ``__init__`` sets that attribute (``sets``), where that is
    a simple expression of its parameters giving the layer's value. With
    each, the attribute: the statement setting it reads its names as the
    output does (:func:`_whole`).
    """
    for i, (param, item) in enumerate(assign.value.values):
        if param is POSITIONAL or param.name not in read:
            continue
        expression = sets.get(read[param.name])
        if expression is None or not _names(expression):
            continue
        if not _simple(expression, parameters):
            continue
        if same_literal(_evaluates(expression, values), item):
            yield (assign.attribute, i), written_text(expression), read[param.name]


def _config_field(read: str, configs: Mapping[str, Any], value: Any) -> bool:
    """``config.block_size`` (``read``) is a field of one of ``configs`` holding ``value``."""
    name, _, field = read.partition(".")
    if name not in configs or not field or "." in field:
        return False
    return same_literal(getattr(configs[name], field, _UNKNOWN), value)


def _paired(
    value: Any,
    module: nn.Module,
    call: ast.expr,
    path: tuple = (),
    layers: Mapping[str, ast.Call] | None = None,
):
    """``(path, source expression, layer, parameter)`` for each literal of ``value`` the call writes.

    ``layer`` is the layer or block built by the call whose argument
    ``parameter`` the expression is. ``layers``: the locals ``__init__``
    sets once to a call (:func:`_layer_locals`), which a layer given as an
    argument may be built by (``nn.TransformerEncoder(layer, num_layers)``).
    """
    layers = layers or {}
    if isinstance(call, ast.Name) and call.id in layers:
        call = layers[call.id]
    if isinstance(call, ast.IfExp):  # ``nn.Sequential(...) if ... else nn.Identity()``
        call = _branch_built(call, module)
    if not isinstance(value, Ctor) or not isinstance(call, ast.Call):
        return
    if value.callee == WRAPPER_CALLEE:  # weight_norm(nn.Conv1d(...)): the layer's call
        if _called_name(call.func) == WRAPPER_CALLEE and call.args:
            yield from _paired(value.values[0][1], module, call.args[0], path + (0,))
        return
    if isinstance(module, nn.Sequential) and _one_starred(call):
        yield from _paired_comprehension(
            list(value.values), module, call.args[0].value, path
        )
        return
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return
    if isinstance(module, nn.ModuleList):
        yield from _paired_list(value, module, call, path)
        return
    if isinstance(module, nn.ModuleDict):
        yield from _paired_dict(value, module, call, path, layers)
        return
    if isinstance(module, nn.Sequential):
        if call.keywords or len(call.args) != len(value.values):
            return
        for i, ((param, item), node) in enumerate(zip(value.values, call.args)):
            if (
                param is POSITIONAL
                and isinstance(item, Ctor)
                and str(i) in module._modules
            ):
                yield from _paired(
                    item, module._modules[str(i)], node, path + (i,), layers
                )
        return
    written = _written_arguments(module, call)
    if written is None:
        return
    for i, (param, item) in enumerate(value.values):
        if param is POSITIONAL or isinstance(item, (list, dict)):
            continue
        node = written.get(param.name)
        if isinstance(item, Ctor):  # a layer given to a layer: the one it copies
            given = _argument_layer(module, param.name)
            if given is not None and isinstance(node, ast.expr):
                yield from _paired(item, given, node, path + (i,), layers)
        elif isinstance(node, ast.expr):
            yield path + (i,), node, module, param.name


def _written_arguments(module: nn.Module, call: ast.Call) -> dict[str, Any] | None:
    """The source expression ``call`` passes for each of ``module``'s constructor parameters.

    A table layer whose ``__init__`` takes ``*args, **kwargs`` (``nn.LSTM``)
    is bound by the signature its row states.
    """
    keywords = {k.arg: k.value for k in call.keywords}
    spec = spec_for_module(module)
    try:
        if spec is not None and spec.ctor_signature is not None:
            return bind(
                parse_signature(spec.ctor_signature), tuple(call.args), keywords
            )
        signature = inspect.signature(type(module).__init__)
        bound = signature.bind_partial(None, *call.args, **keywords).arguments
    except (TypeError, ValueError):
        return None
    return _spread_keywords(bound, signature)


def _spread_keywords(
    bound: dict[str, Any], signature: inspect.Signature
) -> dict[str, Any]:
    """``bound`` with its ``**kwargs`` dict spread out, each keyword by its own name.

    A layer that takes ``**axes_lengths`` (einops' ``Rearrange(pattern,
    p1=patch_size)``) records each keyword as a parameter of its own
    (:mod:`nnconvert.leaves`): ``p1`` is paired with ``patch_size`` as a
    named parameter would be.
    """
    spread = dict(bound)
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in spread:
            extra = spread.pop(name)
            spread |= {k: v for k, v in extra.items() if k not in spread}
    return spread


def _argument_layer(module: nn.Module, parameter: str) -> nn.Module | None:
    """The layer a table layer was given for ``parameter`` (``nn.TransformerEncoder``'s ``encoder_layer``)."""
    spec = spec_for_module(module)
    if spec is None:
        return None
    given = dict((p.name, v) for p, v in spec.constructor_values(module))
    layer = given.get(parameter)
    return layer if isinstance(layer, nn.Module) else None


@functools.lru_cache(maxsize=256)
def _layer_locals(function: ast.FunctionDef) -> dict[str, ast.Call]:
    """Locals ``__init__`` sets once, at its top level, to a call: ``layer = nn.TransformerEncoderLayer(...)``."""
    return {
        name: value
        for name, value in set_once(function, loops=True)
        if isinstance(value, ast.Call)
    }


def _branch_built(node: ast.IfExp, module: nn.Module) -> ast.expr | None:
    """The branch of ``node`` that builds ``module``'s class, if only one can."""
    name = type(module).__name__
    branches = [
        branch
        for branch in (node.body, node.orelse)
        if isinstance(branch, ast.Call) and _called_name(branch.func) == name
    ]
    return branches[0] if len(branches) == 1 else None


def _called_name(func: ast.expr) -> str | None:
    """``Sequential`` for ``nn.Sequential``, ``Block`` for ``Block``."""
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _paired_list(value: Ctor, module: nn.ModuleList, call: ast.Call, path: tuple):
    """An ``nn.ModuleList`` of a list display or of one comprehension's element.

    ``nn.ModuleList([Block(dim) for _ in range(depth)])``: every item is
    paired with the element; one that reads the loop's variable is no
    expression of the parameters and is not kept.
    """
    if len(call.args) != 1 or call.keywords or len(value.values) != 1:
        return
    (param, items), (node,) = value.values[0], call.args
    if param is not POSITIONAL or not isinstance(items, list):
        return
    given = [(POSITIONAL, item) for item in items]
    yield from _paired_comprehension(given, module, node, path + (0,))


def _paired_dict(
    value: Ctor,
    module: nn.ModuleDict,
    call: ast.Call,
    path: tuple,
    layers: Mapping[str, ast.Call],
):
    """An ``nn.ModuleDict`` of a dict display or of ``dict(name=<layer>, ...)`` (nanoGPT's).

    Each child is paired with the source's layer under its key.
    """
    if len(call.args) != 1 or call.keywords or len(value.values) != 1:
        return
    (param, items), (node,) = value.values[0], call.args
    if param is not POSITIONAL or not isinstance(items, dict):
        return
    written: dict[str, ast.expr] = {}
    if isinstance(node, ast.Dict):
        for key, item in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                written[key.value] = item
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id != "dict" or node.args:
            return
        written = {k.arg: k.value for k in node.keywords if k.arg is not None}
    for key, item in items.items():
        if isinstance(item, Ctor) and key in written and key in module._modules:
            child = module._modules[key]
            yield from _paired(item, child, written[key], path + (0, key), layers)


def _paired_comprehension(
    items: list[tuple[Param, Any]],
    module: nn.Module,
    node: ast.expr,
    path: tuple,
):
    """A container's children (``items``, at ``path + (j,)``) paired with a list display or comprehension.

    A comprehension over ``range(<expression>)`` whose items are all alike
    pairs that expression with the container's length too (``path +
    (COUNT,)``), so that ``range(depth)`` is written as the source writes it.
    """
    if not all(p is POSITIONAL for p, _ in items):
        return
    children = [item for _, item in items]
    if isinstance(node, ast.List) and len(node.elts) == len(children):
        elements = node.elts
    elif isinstance(node, ast.ListComp) and len(node.generators) == 1:
        elements = [node.elt] * len(children)
        (generator,) = node.generators
        if (
            one_argument_call(generator.iter, "range")
            and not generator.ifs
            and len(children) >= 2
            and all(child == children[0] for child in children[1:])
        ):
            yield path + (COUNT,), generator.iter.args[0], module, "range"
    else:
        return
    for j, (item, element) in enumerate(zip(children, elements)):
        if isinstance(item, Ctor) and str(j) in module._modules:
            yield from _paired(item, module._modules[str(j)], element, path + (j,))


def _one_starred(call: ast.Call) -> bool:
    """``nn.Sequential(*<list>)``: one starred argument, nothing else."""
    return (
        len(call.args) == 1
        and isinstance(call.args[0], ast.Starred)
        and not call.keywords
    )


def _leaf(value: Any, path: tuple) -> Any:
    """The literal at ``path``; at a :data:`COUNT` step, the container's length."""
    for i in path:
        if i is COUNT:
            return len(value.values) if isinstance(value, Ctor) else len(value)
        value = value.values[i][1] if isinstance(value, Ctor) else value[i]
    return value


@functools.lru_cache(maxsize=256)
def _init_function(cls: type) -> ast.FunctionDef | None:
    """The user's ``__init__`` of ``cls`` as a tree (None: not its own, or no source).

    An attribute set once and read back reads as what it was set to
    (:func:`_without_aliases`). One tree per class: :func:`_built_once`
    caches by it.
    """
    function = function_tree(cls.__dict__.get("__init__"))
    if not isinstance(function, ast.FunctionDef):
        return None
    return _without_aliases(function)


def _without_aliases(function: ast.FunctionDef) -> ast.FunctionDef:
    """``function`` with each ``self.<a>`` it reads back as the name it was set from.

    A statement at the top of ``__init__`` setting an attribute nothing
    else sets: to a parameter nothing rebinds (Whisper's ``self.dims =
    dims``, then ``AudioEncoder(self.dims.n_mels, ...)``), each read is
    that parameter; to an expression of parameters (llama2.c's
    ``self.head_dim = args.dim // args.n_heads``, then ``nn.Linear(args.dim,
    args.n_heads * self.head_dim)``), the statement sets a local of the
    attribute's name first (``head_dim = ...; self.head_dim = head_dim``),
    which each read is. Either is one value wherever the attribute is read
    after it, and the local is kept as any other (:func:`_local_sizes`).
    """
    parameters = {a.arg for a in function.args.args[1:] + function.args.kwonlyargs}
    names = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
    stored: dict[str, int] = {}
    read: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            parameters.discard(node.id)
        if _is_self_attribute(node):
            if isinstance(node.ctx, ast.Load):
                read.add(node.attr)
            else:
                stored[node.attr] = stored.get(node.attr, 0) + 1
    aliases: dict[str, str] = {}
    body: list[ast.stmt] = []
    for statement in function.body:
        target = statement.targets[0] if isinstance(statement, ast.Assign) else None
        if (
            len(getattr(statement, "targets", ())) != 1
            or not _is_self_attribute(target)
            or stored.get(target.attr) != 1
        ):
            body.append(statement)
            continue
        value = statement.value
        if isinstance(value, ast.Name) and value.id in parameters:
            aliases[target.attr] = value.id
        elif (
            target.attr in read
            and target.attr not in names
            and _simple(value, parameters | set(aliases.values()))
            and _names(value)
        ):  # ``head_dim = args.dim // args.n_heads; self.head_dim = head_dim``
            local = ast.copy_location(
                ast.Assign([ast.Name(target.attr, ast.Store())], value), statement
            )
            kept = ast.Assign([target], ast.Name(target.attr, ast.Load()))
            body += [local, ast.copy_location(kept, statement)]
            aliases[target.attr] = target.attr
            continue
        body.append(statement)
    if not aliases:
        return function

    class Resolved(ast.NodeTransformer):
        def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
            if (
                _is_self_attribute(node)
                and isinstance(node.ctx, ast.Load)
                and node.attr in aliases
            ):
                return ast.copy_location(ast.Name(aliases[node.attr], ast.Load()), node)
            return self.generic_visit(node)

    copied = copy.copy(function)  # its statements copied, the rest shared, unchanged
    copied.body = [Resolved().visit(copy.deepcopy(s)) for s in body]
    return ast.fix_missing_locations(copied)


@functools.lru_cache(maxsize=256)
def _built_once(function: ast.FunctionDef) -> dict[str, ast.expr]:
    """``self.<name> = <value>`` for each attribute ``__init__`` sets exactly once, outside loops."""
    counts: dict[str, int] = {}
    values: dict[str, ast.expr] = {}
    in_loops = {
        id(inner)
        for loop in ast.walk(function)
        if isinstance(loop, (ast.For, ast.While, ast.comprehension))
        for inner in ast.walk(loop)
    }
    for node in ast.walk(function):
        for target in assignment_targets(node):
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                counts[target.attr] = counts.get(target.attr, 0) + 1
                built = isinstance(node, ast.Assign) or (
                    isinstance(node, ast.AnnAssign) and node.value is not None
                )  # whisper's ``self.blocks: Iterable[Block] = nn.ModuleList(...)``
                if built and id(node) not in in_loops:
                    values[target.attr] = node.value
    found = {name: v for name, v in values.items() if counts[name] == 1}
    for name, value in found.items():
        filled = _filled_in_loop(function, name, value)
        if filled is not None:
            found[name] = filled
    return found


def _filled_in_loop(
    function: ast.FunctionDef, attribute: str, value: ast.expr
) -> ast.Call | None:
    """``ModuleList([<item> for _ in range(n)])`` for an empty list a loop then fills.

    vit-pytorch's ``self.layers = ModuleList([])`` then ``for _ in
    range(depth): self.layers.append(<item>)``, the only statement changing
    ``self.layers``, builds what the comprehension builds. None for
    anything else. The comprehension is made of the source's own nodes, so
    that :func:`_whole` finds the uses in it.
    """
    if not (
        isinstance(value, ast.Call)
        and called_name(value.func) == "ModuleList"
        and not value.keywords
        and (
            not value.args
            or (isinstance(value.args[0], ast.List) and not value.args[0].elts)
        )
    ):
        return None
    changes = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute)
        and node.attr == attribute
        and self_path(node.value) == ""
    ]
    loops = [
        loop
        for loop in function.body
        if isinstance(loop, ast.For)
        and not loop.orelse
        and len(loop.body) == 1
        and isinstance(loop.body[0], ast.Expr)
        and one_argument_call(loop.iter, "range")
    ]
    for loop in loops:
        call = loop.body[0].value
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "append"
            and len(call.args) == 1
            and not call.keywords
            and _is_self_attribute(call.func.value)
            and call.func.value.attr == attribute
            and len(changes) == 2  # the assignment's target and the append's
        ):
            comprehension = ast.comprehension(loop.target, loop.iter, [], 0)
            listed = ast.ListComp(call.args[0], [comprehension])
            return ast.Call(value.func, [listed], [])
    return None


def _local_sizes(
    function: ast.FunctionDef, parameters: set[str]
) -> dict[str, ast.expr]:
    """Locals set once, at the top of ``__init__``, to an expression of parameters and earlier such locals."""
    found: dict[str, ast.expr] = {}
    for name, value in set_once(function, loops=False):
        if (
            (name not in parameters or name in _names(value))
            and _simple(value, parameters | set(found))
            and _names(value)
        ):  # a parameter set again from itself (``x = x or y``) is that local after
            found[name] = value
    return found


def _simple(node: ast.expr, names: set[str]) -> bool:
    """Names among ``names`` and their fields, number constants, ``+ - * // **``, unary minus and ``int(...)`` only.

    ``int(dim * mlp_ratio)`` (timm's and DINO's hidden width) is one; so are
    ``a if b is None else b`` and ``a or b`` of such expressions (timm's
    ``out_features = out_features or in_features``).
    """
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float)
    if isinstance(node, ast.Attribute):  # ``config.n_embd``: a field of a config
        return isinstance(node.value, ast.Name) and node.value.id in names
    if isinstance(node, ast.BinOp):
        return (
            type(node.op) in _OPERATORS
            and _simple(node.left, names)
            and _simple(node.right, names)
        )
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.USub) and _simple(node.operand, names)
    if one_argument_call(node, "int"):
        return _simple(node.args[0], names)
    if isinstance(node, ast.IfExp):  # llama2.c's ``a if b is None else b``
        return (
            none_comparison(node.test) is not None
            and _simple(node.test.left, names)
            and _simple(node.body, names)
            and _simple(node.orelse, names)
        )
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        return all(_simple(v, names) for v in node.values)  # timm's ``a or b``
    return False


_UNKNOWN = object()


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def _evaluates(node: ast.expr, values: Mapping[str, Any]) -> Any:
    """The value of a :func:`_simple` expression, or ``_UNKNOWN``."""
    if isinstance(node, ast.Name):
        return values.get(node.id, _UNKNOWN)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        config = values.get(node.value.id, _UNKNOWN)
        if not is_config(config):
            return _UNKNOWN
        field = getattr(config, node.attr, _UNKNOWN)
        return field if is_literal(field) else _UNKNOWN
    if isinstance(node, ast.UnaryOp):
        operand = _evaluates(node.operand, values)
        return -operand if _number(operand) else _UNKNOWN
    if isinstance(node, ast.BinOp):
        left, right = _evaluates(node.left, values), _evaluates(node.right, values)
        if not (_number(left) and _number(right)):
            return _UNKNOWN
        if isinstance(node.op, ast.FloorDiv) and right == 0:
            return _UNKNOWN
        if isinstance(node.op, ast.Pow) and (
            abs(right) > _LARGEST_EXPONENT or (left == 0 and right < 0)
        ):
            return _UNKNOWN
        return _OPERATORS[type(node.op)](left, right)
    if one_argument_call(node, "int"):
        value = _evaluates(node.args[0], values)
        return int(value) if _number(value) else _UNKNOWN
    if isinstance(node, ast.IfExp) and none_comparison(node.test) is not None:
        tested = _evaluates(node.test.left, values)
        if tested is _UNKNOWN:
            return _UNKNOWN
        taken = (tested is None) == none_comparison(node.test)
        return _evaluates(node.body if taken else node.orelse, values)
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        for operand in node.values:
            value = _evaluates(operand, values)
            if value is _UNKNOWN or value or operand is node.values[-1]:
                return value
    return _UNKNOWN


def _names(node: ast.AST) -> set[str]:
    """The names ``node`` reads, not the ``int`` it calls."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return {
        n.id for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in called
    }


__all__ = [
    "HeldArguments",
    "NOTHING_HELD",
    "held_arguments",
    "with_held",
    "written_reads",
]
