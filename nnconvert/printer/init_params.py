"""``init_params()``: fresh weights for a functional output, drawn the way ``nn`` draws them.

For every ``state_dict()`` entry of the original model, in the order
constructing the model creates it, the op-spec row of the layer that owns it
says how the layer's constructor creates it
(:class:`~nnconvert.opspecs.spec.TensorInit`), or, for the common layers,
which function creates all of the layer's tensors in one call
(:class:`~nnconvert.opspecs.spec.LayerInit`, defined above
``init_params()`` when its calls save lines); a block with several
instances is one init function called per instance (:mod:`.init_blocks`),
and consecutive identical blocks are one loop (:mod:`.init_loops`)::

    def init_params() -> dict[str, Tensor]:
        params: dict[str, Tensor] = {}
        params |= kaiming_params("conv1", 16, 3, 3, 3, bias=False)
        params |= batch_norm_params("bn1", 16)
        params |= attention_params("encoder.layers.0.self_attn", 32)
        ...
        params |= clone_params(params, "encoder.layers.0", "encoder.layers.1")
        for i in range(2):
            params |= kaiming_params(f"layer1.{i}.conv1", 16, 16, 3, 3, bias=False)
            ...
        params["emb.weight"] = nn.init.normal_(torch.empty(50, 16))
        ...
        return params

Construction order is taken to be ``state_dict()`` order (submodules in the
order they were registered, which is the order ``__init__`` usually builds
them), except that a submodule passed to its parent's constructor was built
before it, and that a table layer's tensors come in its row's order
(``nn.MultiheadAttention`` builds ``out_proj`` first) -- see
:func:`construction_order`. The tests check that the draws line up, bit for
bit, for every sample and every example of the table.

A tensor no row explains (a raw ``nn.Parameter`` or buffer the model's own code
creates) cannot be reproduced from the instance: it is written as
``torch.empty`` under a comment saying so, the docstring warns, and the
conversion goes on. A tensor registered under two keys (a shared layer, tied
weights) is one tensor in the dict too.

The docstring claims only what was checked. A model's ``__init__`` may
re-initialise its layers (``nn.init.orthogonal_``, a custom
``_init_weights``), which no row knows. Given an :class:`InitClaim` (the
result of running this function against a newly built original,
:mod:`nnconvert.init_check`), it says which tensors equal the original's bit
for bit; without one, it says how the tensors are drawn and claims no
equality.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import torch
from torch import nn

from ..declared_inits import (
    DeclaredInit,
    declared_construction_order,
    declared_init,
    declared_tensor_inits,
)
from ..errors import ConversionError
from ..init_arguments import construction_start
from ..init_code import FunctionalInit, functional_init, take_comments
from ..init_replay import InitCall
from ..user_functions import kept_functions
from ..naming import is_plain_identifier
from ..opspecs import spec_for_init
from ..opspecs.inits import empty
from ..opspecs.layer_params import DEFINITIONS, NEEDS
from ..opspecs.weight_norm import weight_norms
from ..opspecs.spec import LayerInit, TensorInit
from ..helper_origins import ancestry, helper_comments
from ..source_text import (
    function_tree,
    BLOCK_INIT_SUMMARY,
    INIT_SUMMARY,
    SUMMARY_START,
    docstring_summary,
    docstrings,
    module_init_comments,
    placed_on,
    without_sequential_comments,
)
from ..init_slices import filling_lines, setting_lines
from ..state_builds import filled_build, state_build
from ..tensor_builds import TensorBuild, without_built_comments
from ..ties import ties
from .layout import LINE_LENGTH
from ..opspecs.helpers import SUB_PARAMS
from .imports import Imports, Printed
from .built_tensors import shared_functions, spaced
from .init_blocks import BlockUse, with_block_functions
from .init_loops import Statement, fold_loops
from .size_arguments import SizeArgument

if TYPE_CHECKING:  # root_arguments reads this module's calls
    from .root_arguments import RootArguments
from .values import literal

#: Name of the generated function (``init_params_`` if the model's function has it).
FUNCTION = "init_params"

_MODULE_PREFIX = re.compile(r"\b(torch|nn|math)\.")

#: Keys a docstring may show as they are: nothing that could end the string.
_SHOWABLE_KEY = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class InitClaim:
    """What comparing ``init_params()`` with a newly built original showed.

    ``equal``: the keys whose tensors were bit-identical after the same
    ``torch.manual_seed``. Keys not in it differ (or are missing there).
    ``wording``: the claim of a functional input's ``init_params()``
    summary (:func:`inherited_claim`), which ``equal`` was
    compared with: it stands when every tensor the new function draws is
    equal (tensors it leaves ``torch.empty`` aside); else, or when None,
    the claim is worded from ``equal``.
    """

    equal: frozenset[str]
    wording: str | None = None
    #: the model's own initialisation calls ``init_params()`` makes again
    #: (:mod:`nnconvert.init_replay`): kept where they made more tensors equal
    replay: tuple[InitCall, ...] = ()
    #: the user's function that built the model compared with, where the
    #: model's class is torch's own (``ConvMixer(...)`` returns an
    #: ``nn.Sequential``, and a new ``nn.Sequential`` has no tensors)
    built_by: str | None = None


#: How the claims nnconvert writes after that begin (:func:`_claim`).
_CLAIM_STARTS = (", equal to ", ", its `nn` layers equal to ", ", as `torch.nn` draws ")

#: What an inherited claim may hold: it is printed into a docstring.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.,;:()`' \-]+")


def inherited_claim(doc: str) -> str | None:
    """The claim of an ``init_params()`` docstring nnconvert wrote, as one line.

    The claim is the summary's words after "Fresh weights for `name`" (the
    name is the function's own, and may change). None for any other
    docstring (a hand-written one claims what its author says, not what
    nnconvert checked) or one holding characters that could end or escape
    the docstring it is copied into.
    """
    summary = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
    start = SUMMARY_START.match(summary)  # before the claim
    if start is None:
        return None
    claim = summary[start.end() :]
    if not claim.startswith(_CLAIM_STARTS) or not _PLAIN_TEXT.fullmatch(claim):
        return None
    return claim


def _helper_comments(model: nn.Module, keys: list[str]) -> dict[str, list[str]]:
    """Per root key, what the helper method that computed its tensor says (:mod:`..helper_origins`).

    Said above the key: ``init_params()`` is where functional style defines
    the root's saved tensors (a block's are said in its function, as its
    ``__init__``'s comments are).
    """
    made_by = helper_comments(ancestry(model, ""))
    return {key: made_by[key] for key in keys if key in made_by}


def _init_summary(model: nn.Module) -> str | None:
    """The summary of the docstring of the model's ``__init__``, quoted for ``init_params()``.

    ``init_params()`` is what functional style has for the constructor: the
    first paragraph of its docstring ("Initializes the GAT model.") is said
    there, and read back from there (:func:`~nnconvert.source_text.docstrings`).
    """
    summary = _init_said(model)
    return None if summary is None else INIT_SUMMARY.format(summary)


def _init_said(module: nn.Module) -> str | None:
    """The first paragraph of the docstring of ``module``'s ``__init__``, as one line."""
    literal = docstrings(module).of_init
    return docstring_summary(literal) if literal else None


def _in_layer_hosts(model: nn.Module, keys: Sequence[str]) -> int:
    """How many of ``keys`` a plain ``nn.Module`` holds: a layer a functional file never calls.

    Read back, a host no function call makes a layer of (SepViT's window
    tokens' LayerNorm in a stage with one window, whose function skips it)
    holds what ``init_params()`` wrote as its row writes a LayerNorm's
    (``torch.ones(32)``): those statements are read as builds and written
    again as such, but the model the file was written from built them as a
    layer, and the docstring's count of what its own ``__init__`` computes
    leaves them out, as the first conversion did.
    """
    count = 0
    for key in keys:
        try:
            owner = model.get_submodule(key.rpartition(".")[0])
        except AttributeError:
            continue
        count += type(owner) is nn.Module
    return count


def _block_init_summaries(
    block_functions: Sequence[tuple[str, nn.Module]],
) -> list[str]:
    """What each block class's ``__init__`` said of itself, under its function's name.

    Mamba's ``ResidualBlock.__init__`` says "Simple block wrapping Mamba
    block with normalization and residual connection."; functional style
    has no constructor but ``init_params()``, so its docstring says it too:
    "The original `__init__` of `residual_block`: ...", once per class (the
    first of its functions: ``residual_block_2`` is another shape of it),
    and read back from there (:func:`~nnconvert.source_text.docstrings`).
    """
    said: list[str] = []
    classes: set[str] = set()
    for name, module in block_functions:
        summary = _init_said(module)
        if summary is None or type(module).__name__ in classes:
            continue
        classes.add(type(module).__name__)
        said.append(BLOCK_INIT_SUMMARY.format(name, summary))
    return said


def function_name(function: str) -> str:
    """The name of the generated ``init_params`` next to the model's function ``function``."""
    return FUNCTION if function != FUNCTION else FUNCTION + "_"


def init_params_function(
    model: nn.Module,
    function: str,
    claim: InitClaim | None = None,
    arguments: RootArguments | None = None,
    blocks: Sequence[BlockUse] = (),
    taken: frozenset[str] = frozenset(),
    replay: Sequence[InitCall] | None = None,
    block_functions: Sequence[tuple[str, nn.Module]] = (),
) -> Printed:
    """``def init_params()`` for ``model``, whose functional form is ``function``.

    ``claim`` is what a comparison with a newly built original showed; None
    when there was none, and then the docstring claims no equality. A layer
    its row can create in one call (:attr:`OpSpec.init_call`) is one line,
    calling a function defined above ``init_params()`` -- where the calls
    save more lines than the definition costs (:func:`_shortest_body`); runs
    of identical blocks are one loop (:mod:`.init_loops`). ``arguments``:
    the root's constructor parameters, which it takes with their values as
    defaults and writes in the layer calls they size. ``blocks``: the
    output's block functions and their instances, callees first, each
    written as one init function where that saves lines (:mod:`.init_blocks`);
    ``taken``: names the file defines or imports, which those never take.
    ``replay``: the model's own initialisation calls to make again after the
    tensors they act on (default: the claim's). ``block_functions``: each
    block function of the output and an instance of it, whose ``__init__``
    docstring the docstring quotes (:func:`_block_init_summaries`).
    """
    state = model.state_dict(keep_vars=True)
    order = construction_order(model, list(state))
    parameters = frozenset(p.name for p in arguments.parameters) if arguments else ()
    data = _Model(model, state, order, tuple(blocks), taken | frozenset(parameters))
    data.replay = tuple(replay if replay is not None else claim.replay if claim else ())
    initialising = functional_init(model, taken | {function_name(function)})
    if initialising is not None:  # its comments stand with its statements
        take_comments(initialising.comments, *data.comments)
        data.initialising = initialising
    body = _shortest_body(data)
    signature = ""
    if arguments is not None and arguments.parameters:
        # every layer function it can call was what the arguments were chosen over
        # (size_arguments); those with an argument to name are called
        names = arguments.function_names(_body(data, allowed=None).sizes)
        needed = {function for *_, function in names}
        named = {(prefix, index): name for prefix, index, name, _ in names}
        body = _body(data, frozenset(body.functions) | needed, named)
        signature = ", ".join(
            f"{p.name}: int = {p.value}" for p in arguments.parameters
        )
    unknown_count = len(set(body.first_key.values()) & body.unknown)
    differ, compared = None, [k for k in state if k not in body.unknown]
    drawn = {k for k in body.built if (b := data.builds.get(k)) and b.draws}
    computed = [k for k in body.built if k not in drawn]
    if claim is not None:
        differ = [k for k in compared if k not in claim.equal]
    text = (
        f"def {function_name(function)}({signature}) -> dict[str, Tensor]:\n"
        + _docstring(
            function,
            type(model).__name__,
            claim.built_by if claim is not None else None,
            unknown_count,
            differ,
            len(compared),
            None if claim is None or differ else claim.wording,
            [_init_summary(model), *_block_init_summaries(block_functions)],
            len(computed) - _in_layer_hosts(model, computed),
            drawn=len(drawn),
            own_init=initialising is not None or body.replayed,
            discarded=_draws_into_new_tensors(body.lines),
        )
        + "".join(f"    {line}\n" if line else "\n" for line in body.lines)
    )
    definitions = body.definitions
    module_code = dict(initialising.module_code) if initialising else {}
    for kept in kept_functions(c.function for c in data.replay if c.function):
        module_code.update(kept.code)  # what the calls made again call
        body.imports.merge(Imports(kept.imports))
    definitions = list(module_code.values()) + definitions
    if initialising is not None:
        body.imports.merge(Imports(initialising.imports))
        definitions += list(initialising.functions)
    return Printed("\n\n".join([*definitions, text]), body.imports)


@dataclass
class _Model:
    """What every candidate body of ``init_params()`` reads, computed once."""

    module: nn.Module
    state: dict
    order: list[str]
    blocks: tuple[BlockUse, ...] = ()
    taken: frozenset[str] = frozenset()
    #: the user's initialisation code (:mod:`nnconvert.init_code`)
    initialising: FunctionalInit | None = None
    #: the user's initialisation calls, as recorded (:mod:`nnconvert.init_replay`)
    replay: tuple[InitCall, ...] = ()

    @functools.cached_property
    def set_by_calls(self) -> frozenset[str]:
        """The keys the recorded calls written as calls name: the model's code sets them.

        As the user's initialisation code, they are no longer marked
        ``torch.empty`` (read back, those calls are that code).
        """
        return frozenset(
            key
            for call in self.replay
            if not call.default
            and call.discarded is None
            and not self.kept_code_makes(call)
            for key in call.keys
        )

    def kept_code_makes(self, call: InitCall) -> bool:
        """``call`` is the work of the user's initialisation code ``init_params()`` keeps.

        A call on a tensor that code names, made by a statement it keeps or
        by none of the root's; not ConvNeXt's ``self.apply(self._init_weights)``,
        which weight dicts cannot keep, on the ``head`` whose weights the kept
        ``self.head.weight.data.mul_(head_init_scale)`` names.
        """
        if call.default or not self.initialised & set(call.keys):
            return False
        wheres = self.initialising.wheres if self.initialising else ()
        return call.where is None or call.where in wheres

    @functools.cached_property
    def drawn_by_layer(self) -> frozenset[str]:
        """The keys a layer's own initialisation drew with one recorded call.

        Written ``torch.empty``, then drawn by that call, where no row and
        no build explains them (a subclass of a layer: Whisper's
        ``Linear(nn.Linear)``, whose ``nn.Linear.__init__`` drew them).
        """
        counts: dict[str, int] = {}
        for call in self.replay:
            for key in call.keys if call.default else ():
                counts[key] = counts.get(key, 0) + 1
        return frozenset(key for key, count in counts.items() if count == 1)

    @property
    def initialised(self) -> frozenset[str]:
        """The keys the user's initialisation code names: it sets them."""
        return self.initialising.keys if self.initialising else frozenset()

    @functools.cached_property
    def ties(self) -> list:
        return [t for t in ties(self.module) if not t.layer]

    @functools.cached_property
    def comments(self) -> tuple[dict[str, list[str]], list[str]]:
        roots = [key.split(".")[0] for key in self.order]
        tied = [t.target for t in self.ties]  # said above their tie statement
        found = without_built_comments(self.module, module_init_comments(self.module))
        found = without_sequential_comments(self.module, found)
        return placed_on(found, roots + tied)

    @functools.cached_property
    def builds(self) -> dict[str, TensorBuild | None]:
        """The keys :meth:`build_of` was asked for so far, and its answers."""
        return {}

    def build_of(
        self, key: str, owner: nn.Module | None, attribute: str
    ) -> TensorBuild | None:
        """The code that builds ``key``'s tensor as the user's ``__init__`` did, if any.

        (:func:`~nnconvert.state_builds.state_build`, asked once per key.)
        """
        if key not in self.builds:
            self.builds[key] = state_build(owner, attribute, drawn=True)
        return self.builds[key]

    @functools.cached_property
    def made_by(self) -> dict[str, list[str]]:
        """Per root key, what the helper method that computed its tensor says."""
        return _helper_comments(self.module, self.order)

    @functools.cached_property
    def layers(self) -> dict[str, tuple[str, str]]:
        """Each key's :func:`_layer_of`: every body asks it for every key."""
        return {key: _layer_of(self.module, key) for key in self.order}

    @functools.cached_property
    def copies(self) -> dict[str, str | None]:
        """Each key's :func:`_copy_source`."""
        return {key: _copy_source(self.module, key) for key in self.order}


@dataclass
class _Body:
    """One way to write ``init_params()``'s statements, and what it needs."""

    lines: list[str]
    functions: list[str]  # the layer functions it calls, in the order first called
    imports: Imports
    first_key: dict[int, str]  # id(tensor) -> the key it was first written under
    unknown: set[str]  # keys of tensors no row explains
    sizes: list[SizeArgument]  # the integer arguments of its layer calls
    blocks: list[str]  # its blocks' init functions (:mod:`.init_blocks`)
    #: functions that build tensors as the user's ``__init__`` does (:func:`_written_builds`)
    builds: list[str]
    built: list[str]  # the keys written so
    replayed: bool = False  # it makes recorded initialisation calls again

    @property
    def definitions(self) -> list[str]:
        functions = _with_needs(self.functions)
        layers = [DEFINITIONS[name].rstrip("\n") for name in functions]
        return layers + self.builds + self.blocks

    @property
    def cost(self) -> int:
        """About how many lines the body and its definitions take after black.

        The body's lines are indented, and black splits the long ones; the
        definitions are black's already (a docstring line may stay long).
        """
        defined = [line for d in self.definitions for line in d.split("\n")]
        long = sum(len(line) > LINE_LENGTH - 4 for line in self.lines)
        return len(self.lines) + 2 * long + len(defined) + 2 * len(self.definitions)


def _with_needs(functions: list[str]) -> list[str]:
    """``functions`` and the functions they call (:data:`NEEDS`), each of those first."""
    ordered: dict[str, None] = {}
    for name in functions:
        ordered.update(dict.fromkeys(_with_needs(list(NEEDS.get(name, ())))))
        ordered.setdefault(name)
    return list(ordered)


#: black's line length; a longer statement takes about three lines.


def _shortest_body(model: _Model) -> _Body:
    """The body with the layer functions that save lines, and without those that do not.

    A function's definition costs about ten lines: a model with two linear
    layers is shorter written tensor by tensor. Starting from every function
    its layers can use, drop the one whose absence saves most, while one does.
    Never one a layer subclass calls (:func:`_subclass_functions`).
    """
    body = _body(model, allowed=None)
    kept = _subclass_functions(model.module)
    while set(body.functions) - kept:
        used = body.functions
        trials = [
            _body(model, frozenset(used) - {name}) for name in used if name not in kept
        ]
        best = min(trials, key=lambda trial: trial.cost)
        if best.cost >= body.cost:
            break
        body = best
    return body


def _subclass_functions(model: nn.Module) -> frozenset[str]:
    """The layer functions that write the layer subclasses' tensors (Whisper's ``LayerNorm``).

    Read back, a subclass is a block of the file's (``layer_norm(params,
    x)``), which no row explains: the call is what says how its tensors
    were made, and the file builds it again with the same call. Written
    tensor by tensor instead, they would read back as the file's own code.
    """
    names = set()
    for module in model.modules():
        spec = spec_for_init(module)
        if spec is None or spec.init_call is None or spec.module is type(module):
            continue
        calls = spec.layer_init_call(module)
        for call in calls if isinstance(calls, tuple) else (calls,) if calls else ():
            names.add(call.function.__name__)
    return frozenset(names)


def _body(
    model: _Model,
    allowed: frozenset[str] | None,
    names: Mapping[tuple[str, int], str] | None = None,
) -> _Body:
    """``init_params()``'s statements, calling the layer functions ``allowed`` (None: all).

    ``names``: layer function arguments written as a root parameter's name,
    by ``(key prefix, argument index)``.
    """
    state, order = model.state, model.order
    imports = Imports({"Tensor"})
    statements: list[Statement] = []
    first_key: dict[int, str] = {}
    inits: dict[str, dict[str, TensorInit]] = {}
    tied = _TensorTies(model.module, model.ties)
    unknown: set[str] = set()
    built: list[tuple[int, str, TensorBuild]] = []  # written as the user's code
    layer_calls = _LayerCalls(model, tied, allowed, names or {})
    unknown_comments = _UnknownComments()
    comments = {
        attribute: list(lines) for attribute, lines in model.comments[0].items()
    }
    written_init: set[int] = set()  # the user's initialisation statements written
    starts: dict[str, int] = {}  # key -> where the statements writing it begin
    emptied: dict[str, int] = {}  # keys its layer's recorded call draws: where
    for index, key in enumerate(order):
        root = key.split(".")[0]
        starts.setdefault(key, len(statements))
        if model.initialising is not None:
            # the user's initialisation that ran before this layer was built
            previous = order[index - 1] if index else None
            lines = model.initialising.before(key, previous, written_init)
            statements += map(Statement.text, lines)
        # the root __init__'s, above it
        statements += map(Statement.text, comments.pop(root, []))
        statements += map(Statement.text, model.made_by.get(key, []))
        if key in layer_calls.done:
            continue
        tensor = state[key]
        source = model.copies[key]
        # one call for the keys from here on: a deep copy of a whole layer
        # (``clone_params``), or a layer function (``kaiming_params``)
        call = layer_calls.clone(index, source, first_key, unknown)
        if call is None and source is None:
            prefix, attribute = model.layers[key]
            owner = _submodule(model.module, prefix)
            if prefix not in inits:
                inits[prefix] = _layer_inits(owner)
            call = layer_calls.at(index, prefix, owner, inits[prefix], first_key)
        if call is not None:
            statement, keys = call
            statements.append(statement)
            for call_key in keys:
                starts.setdefault(call_key, starts[key])
                first_key.setdefault(id(state[call_key]), call_key)
                tied.written.add(call_key)
            continue
        if source is not None:  # a deep copy, as its layer's constructor made it
            statements.append(
                Statement(("params[", "] = params[", "].clone()"), (key, source))
            )
            first_key.setdefault(id(tensor), key)
            tied.written.add(key)
            continue
        init = inits[prefix].get(attribute)
        alias = tied.alias(key, tensor, init is not None, first_key)
        if alias is not None:  # written under another key: here, or after the ties
            if alias:
                statements.append(
                    Statement(("params[", "] = params[", "]"), (key, alias))
                )
                if alias in unknown:
                    unknown.add(key)
            continue
        first_key.setdefault(id(tensor), key)
        tied.written.add(key)
        if init is None and model.build_of(key, owner, attribute) is not None:
            built.append((len(statements), key, model.build_of(key, owner, attribute)))
            statements.append(Statement.text(""))  # written once all are named
            continue
        if init is None and key in model.initialised | model.set_by_calls:
            # the user's code sets it
            statements.append(Statement(("params[", f"] = {empty(tensor)}"), (key,)))
            imports.use("torch")
            continue
        if init is None and key in model.drawn_by_layer:
            # its layer's recorded call draws it (:func:`_with_replay`)
            emptied[key] = len(statements)
            statements.append(Statement(("params[", f"] = {empty(tensor)}"), (key,)))
            imports.use("torch")
            continue
        filled = filled_build(owner, attribute) if init is None and owner else None
        if filled is not None:  # one number throughout, as built
            built.append((len(statements), key, filled))
            statements.append(Statement.text(""))
            continue
        if init is None:
            unknown.add(key)
            unknown_comments.add(statements, key, tensor, owner)
            imports.use("torch")
            continue
        for statement in init.before:
            _use_modules(statement, imports)
            statements.append(Statement.text(statement))
        _use_modules(init.expression, imports)
        if init.derived_from is not None:  # weight_norm's weight_g, from weight_v
            source = f"{prefix}.{init.derived_from}" if prefix else init.derived_from
            before, _, after = init.expression.partition("{}")
            pieces = ("params[", f"] = {before}params[", f"]{after}")
            statements.append(Statement(pieces, (key, source)))
            continue
        statements.append(Statement(("params[", f"] = {init.expression}"), (key,)))
        for statement in init.then:
            _use_modules(statement, imports)
            statements.append(_with_target(statement, key))
    statements += tied.statements(comments)
    # what ran last, before the comments after it
    rest: list[tuple[tuple[str, int] | None, list[Statement]]] = []
    if model.initialising is not None:
        for where, text in model.initialising.rest(written_init):
            rest.append((where, list(map(Statement.text, text))))
            statements += rest[-1][1]
    # ``model.comments[1]``, after the last key, are about code the output has not
    builds = _written_builds(statements, built, model.taken, imports)
    count = len(statements)
    statements, last = _with_replay(
        statements, model, starts, first_key, imports, emptied
    )
    replayed = len(statements) != count or bool(last)
    statements, last = _in_source_order(statements, last, rest)
    statements, blocks = with_block_functions(
        statements,
        model.blocks,
        model.module,
        # the layer functions this body calls: a block's may take another's name
        model.taken
        | set(_with_needs(list(layer_calls.used)))
        | {FUNCTION}
        | set(builds),
        frozenset(prefix for prefix, _ in layer_calls.names),
    )
    # the calls made once every tensor exists come after the blocks' calls,
    # as the functional file's own statements do when it is read back
    statements += last
    lines = ["params: dict[str, Tensor] = {}", *fold_loops(statements), "return params"]
    for name in _with_needs(list(layer_calls.used)):
        _use_modules(DEFINITIONS[name], imports)
    return _Body(
        lines,
        list(layer_calls.used),
        imports,
        first_key,
        unknown,
        layer_calls.sizes,
        blocks,
        list(builds.values()),
        [key for _, key, _ in built],
        replayed,
    )


def _with_replay(
    statements: list[Statement],
    model: _Model,
    starts: Mapping[str, int],
    first_key: Mapping[int, str],
    imports: Imports,
    emptied: Mapping[str, int],
) -> tuple[list[Statement], list[Statement]]:
    """``statements`` with the model's own initialisation calls made again (:mod:`nnconvert.init_replay`),
    and the calls that come after all of them.

    A call that ran once every tensor existed comes last, under the line
    of the root's ``__init__`` that made it (and the comments above that
    line); another before the statement of the first tensor drawn after
    it. Calls on tensors the user's initialisation code already sets
    (:attr:`_Model.initialised`) are that code's; a layer's own draw is
    written only for a tensor ``emptied`` (:attr:`_Model.drawn_by_layer`),
    right after its statement (``emptied`` says where that is).
    """
    inserted: dict[int, list[Statement]] = {}
    last: list[tuple[tuple[str, int] | None, Statement]] = []
    said: tuple[str, ...] = ()
    owner = type(model.module).__name__
    tied_to = {tie.target: tie.source for tie in model.ties}
    for call in model.replay:
        if (
            call.default and not emptied.keys() & set(call.keys)
        ) or model.kept_code_makes(call):
            continue  # a row draws it, or the user's kept code does
        _use_modules(call.pieces[0] + call.pieces[1], imports)
        if call.discarded is not None:  # a draw into a tensor the model replaced
            written = Statement.text(call.pieces[0] + call.discarded + call.pieces[1])
            imports.use("torch")
        else:
            key = first_key.get(id(model.state.get(call.keys[0])), call.keys[0])
            seen = {key}
            while tied_to.get(key) in model.state.keys() - seen:  # the tie's source
                key = tied_to[key]
                seen.add(key)
            written = Statement(
                (call.pieces[0] + "params[", "]" + call.pieces[1]), (key,)
            )
        # among the draws, a call stands on its own line, as read back (no
        # loop holds it with the assignments: read back, only statements that
        # assign no key are the model's own code)
        alone = Statement.text("\n".join(written.render()))
        if call.default:  # right after the tensor's own statement
            at = min(emptied[k] for k in call.keys if k in emptied) + 1
            inserted.setdefault(at, []).append(alone)
            continue
        if not call.after_all and call.before in starts:
            # LeViT zeroes a norm's weight before the layers listed ahead of
            # it are built: the call waits for the norm's own statement
            at = max(starts[call.before], _written_after(statements, call.keys))
            inserted.setdefault(at, []).append(alone)
            continue
        if call.statement and call.statement != said:
            *above, line = call.statement
            header = [*above, f"# {owner}.__init__: {line}"]
            last += [(call.where, Statement.text(text)) for text in header]
        said = call.statement
        last.append((call.where, written))
    replayed: list[Statement] = []
    for index, statement in enumerate(statements):
        replayed += inserted.get(index, [])
        replayed.append(statement)
    return replayed + inserted.get(len(statements), []), last


def _in_source_order(
    statements: list[Statement],
    last: list[tuple[tuple[str, int] | None, Statement]],
    rest: list[tuple[tuple[str, int] | None, list[Statement]]],
) -> tuple[list[Statement], list[Statement]]:
    """``statements`` and the calls made last, with the kept root statements that ran after those calls among them.

    ``rest`` (the user's kept statements written after every tensor, each
    with where the root's ``__init__`` has it) stands before the calls that
    come last (:func:`_with_replay`), unless the source ran it after one of
    them: ConvNeXt's ``self.head.weight.data.mul_(head_init_scale)`` scales
    what ``self.apply(self._init_weights)`` drew just before. Those move
    among the calls, in the order of their lines.
    """
    first = next((where for where, _ in last if where is not None), None)
    late = [
        (where, group)
        for where, group in rest
        if first is not None
        and where is not None
        and where[0] == first[0]
        and where[1] > first[1]
    ]
    if not late:
        return statements, [statement for _, statement in last]
    moved = {id(statement) for _, group in late for statement in group}
    kept = [statement for statement in statements if id(statement) not in moved]
    line, ordered = first[1], []
    for where, statement in last:  # a call with no line of its own keeps its place
        line = where[1] if where is not None and where[0] == first[0] else line
        ordered.append((line, 0, statement))
    ordered += [(where[1], 1, s) for where, group in late for s in group]
    ordered.sort(key=lambda item: (item[0], item[1]))
    return kept, [statement for *_, statement in ordered]


def _written_after(statements: list[Statement], keys: Iterable[str]) -> int:
    """The index just past the last statement that writes one of ``keys`` (0: none does).

    A statement's slot is a key or, for a layer function's call, the layer's
    prefix (``batch_norm_params("to_out.2", 32)``).
    """
    wanted = tuple(keys)
    return max(
        (
            index + 1
            for index, statement in enumerate(statements)
            for slot in statement.names
            if any(key == slot or key.startswith(slot + ".") for key in wanted)
        ),
        default=0,
    )


def _written_builds(
    statements: list[Statement],
    built: list[tuple[int, str, TensorBuild]],
    taken: frozenset[str],
    imports: Imports,
) -> dict[str, str]:
    """Fill the statements of the tensors written as their ``__init__`` code (in place).

    ``built``: ``(statement index, key, build)`` (:mod:`nnconvert.state_builds`).
    An expression is written in place (``params["ln.weight"] = torch.ones(16)``);
    other code is a function named after the tensor, called per key, whose
    definition is returned by name.
    """
    used = set(taken) | set(DEFINITIONS) | {FUNCTION, "params", "i"}
    used |= set(dir(builtins))
    named = shared_functions([build for *_, build in built], used)
    definitions: dict[str, str] = {}
    for (index, key, _), build in zip(built, named):
        build = spaced(build)
        if build.inline:
            value = build.body[-1][len("return ") :]
        else:
            value = build.call()
            definition = build.function().definition().rstrip("\n")
            definitions.setdefault(build.name, definition)
            _use_modules(definition, imports)
        _use_modules(value, imports)
        imports.merge(Imports(build.import_lines()))  # ``from einops import repeat``
        statements[index] = Statement(("params[", f"] = {value}"), (key,))
    return definitions


class _LayerCalls:
    """Layers written as one call of a :mod:`~nnconvert.opspecs.layer_params` function.

    A layer qualifies when its row gives a call (:attr:`OpSpec.init_call`)
    and its keys are exactly its row's. Each call (the whole layer's, or one
    per part of a layer made of parts) then stands for the row's keys it
    covers, when they are next to each other in construction order, in the
    row's order, and each of them would be drawn in place (not a copy, not
    a second name of a tensor written already; a tie's keys are drawn, and
    tied after every draw): the call makes the draws its per-tensor
    statements would, in the same place. A layer that is a deep copy of
    another (``nn.TransformerEncoder``'s) is one ``clone_params`` call
    (:meth:`clone`).
    """

    def __init__(
        self,
        model: _Model,
        tied: "_TensorTies",
        allowed: frozenset[str] | None,
        names: Mapping[tuple[str, int], str],
    ):
        self.model = model
        self.allowed = allowed
        #: ``(prefix, argument index) -> name``: arguments a root parameter fills
        self.names = names
        #: every integer argument of the calls, in order (:func:`size_arguments`)
        self.sizes: list[SizeArgument] = []
        self.state = model.state
        self.order = model.order
        #: keys drawn in place even when their tensor is shared: the ties'
        #: (the tie statements follow every draw)
        self.tie_keys = set(tied.sources) | set(tied.sources.values())
        self.done: set[str] = set()
        self.used: dict[str, None] = {}  # the functions called, in order
        #: per layer prefix: its calls by the first key each covers
        self.parts: dict[str, dict[str, tuple[LayerInit, list[str]]]] = {}
        #: plain hosts written by the call a functional input made them with,
        #: whatever functions are allowed: no row could write them otherwise
        self.declared: set[str] = set()

    def at(
        self,
        index: int,
        prefix: str,
        layer: nn.Module | None,
        inits: dict[str, TensorInit],
        first_key: dict[int, str],
    ) -> tuple[Statement, list[str]] | None:
        """The call creating the keys from ``order[index]`` on, and those keys; else None.

        ``first_key`` holds the tensors written so far: a layer registered
        twice is written as the first one's tensors under its second name.
        """
        if prefix not in self.parts:
            self.parts[prefix] = self._calls(prefix, layer, inits)
        found = self.parts[prefix].get(self.order[index])
        if found is None:
            return None
        call, keys = found
        if self.order[index : index + len(keys)] != keys:
            return None
        tensors = {id(self.state[key]) for key in keys}
        if len(tensors) < len(keys) or any(
            id(self.state[key]) in first_key and key not in self.tie_keys
            for key in keys
        ):
            return None
        name = call.function.__name__
        if not self._allows(name) and prefix not in self.declared:
            return None
        self.used.setdefault(name)
        self.done.update(keys)
        # integer arguments are slots: a loop may write them as ``24 + 12 * i``;
        # one a root parameter sizes is its name (:mod:`.root_arguments`)
        part = f"{prefix}.{call.part}" if call.part else prefix
        pieces, slots = [f"params |= {name}(", ", "], [part]
        for index, argument in enumerate(call.arguments):
            named = self.names.get((part, index))
            if type(argument) is int:
                self.sizes.append(SizeArgument(part, index, argument, call))
            if named is not None:
                pieces[-1] += f"{named}, "
            elif type(argument) is int:
                slots.append(argument)
                pieces.append(", ")
            else:
                pieces[-1] += f"{literal(argument)}, "
        pieces[-1] = pieces[-1][: -len(", ")]
        pieces[-1] += "".join(f", {k}={literal(v)}" for k, v in call.keywords) + ")"
        return Statement(tuple(pieces), tuple(slots)), keys

    def _calls(
        self, prefix: str, layer: nn.Module | None, inits: dict[str, TensorInit]
    ) -> dict[str, tuple[LayerInit, list[str]]]:
        """The layer's calls, each with the keys it creates, by the first of them."""
        spec = None if layer is None or not prefix else spec_for_init(layer)
        if spec is None and prefix:
            return self._declared(prefix, declared_init(layer))
        if spec is None or spec.init_call is None:
            return {}
        if set(layer.state_dict()) != set(inits):
            return {}
        calls = spec.layer_init_call(layer)
        if calls is None:
            return {}
        found = {}
        for call in calls if isinstance(calls, tuple) else (calls,):
            dot = f"{call.part}." if call.part else ""
            attributes = [a for a in inits if a.startswith(dot)]
            # a part's draws are its own; a whole layer's call makes all of them
            if not attributes or any(
                call.part and (inits[a].before or inits[a].copy_of) for a in attributes
            ):
                continue
            keys = [f"{prefix}.{a}" for a in attributes]
            if any(
                self.model.layers[k] != (prefix, a) for k, a in zip(keys, attributes)
            ):
                continue
            found[keys[0]] = (call, keys)
        return found

    def _declared(
        self, prefix: str, declared: DeclaredInit | None
    ) -> dict[str, tuple[LayerInit, list[str]]]:
        """A plain host's call, as a functional input made its tensors with it.

        (:mod:`nnconvert.declared_inits`.)
        """
        if declared is None:
            return {}
        keys = [f"{prefix}.{a}" for a in declared.attributes]
        if any(
            self.model.layers.get(k) != (prefix, a)
            for k, a in zip(keys, declared.attributes)
        ):
            return {}
        self.declared.add(prefix)
        return {keys[0]: (declared.call, keys)}

    def _allows(self, name: str) -> bool:
        return self.allowed is None or name in self.allowed

    def clone(
        self, index: int, source: str | None, first_key: dict[int, str], unknown: set
    ) -> tuple[Statement, list[str]] | None:
        """``clone_params(params, "enc.layers.0", "enc.layers.1")``: a copied layer.

        ``order[index]`` is a copy of ``source`` (:attr:`TensorInit.copy_of`).
        The call stands for the copies when they are the layer's every key,
        next to each other, each a copy of the same key of the source layer,
        whose keys are all written (none unknown, none tied): the dict then
        holds exactly the source layer's tensors under its prefix.
        """
        key = self.order[index]
        if source is None or not self._allows("clone_params"):
            return None
        target_parts, source_parts = key.split("."), source.split(".")
        common = 0
        while (
            common < min(len(target_parts), len(source_parts)) - 1
            and target_parts[-1 - common] == source_parts[-1 - common]
        ):
            common += 1
        if common == 0:
            return None
        target_layer = ".".join(target_parts[:-common])
        source_layer = ".".join(source_parts[:-common])
        keys = [k for k in self.state if k.startswith(target_layer + ".")]
        sources = [k for k in self.state if k.startswith(source_layer + ".")]
        rest = [k[len(target_layer) :] for k in keys]
        if set(self.order[index : index + len(keys)]) != set(keys):
            return None
        if sorted(rest) != sorted(k[len(source_layer) :] for k in sources):
            return None
        if any(self.model.copies[k] != source_layer + r for k, r in zip(keys, rest)):
            return None
        tensors = [id(self.state[k]) for k in keys + sources]
        if len(set(tensors)) < len(tensors) or any(
            k in self.tie_keys or k in unknown for k in keys + sources
        ):
            return None
        if any(first_key.get(id(self.state[k])) != k for k in sources):
            return None  # not all written yet
        self.used.setdefault("clone_params")
        self.done.update(keys)
        pieces = (f"params |= clone_params(params, {literal(source_layer)}, ", ")")
        return Statement(pieces, (target_layer,)), keys


def size_arguments(model: nn.Module) -> list[SizeArgument]:
    """The integer arguments of the layer calls ``init_params()`` can make for ``model``.

    With every layer function allowed: one that saves no lines is still
    called where it writes a root parameter.
    """
    state = model.state_dict(keep_vars=True)
    data = _Model(model, state, construction_order(model, list(state)))
    return _body(data, allowed=None).sizes


def _with_target(template: str, key: str) -> Statement:
    """A ``then`` statement (``"{}[0] = 0"``) on ``params[key]``, the key a slot a loop may rewrite."""
    if (
        "{{" in template or "}}" in template
    ):  # escaped braces: written as format writes it
        return Statement.text(template.format(f"params[{literal(key)}]"))
    parts = template.split("{}")
    pieces = [parts[0] + "params["]
    pieces += [f"]{part}params[" for part in parts[1:-1]]
    pieces.append(f"]{parts[-1]}")
    return Statement(tuple(pieces), (key,) * (len(parts) - 1))


class _UnknownComments:
    """Tensors no row explains: ``torch.empty``, under a comment saying so.

    Consecutive such tensors of one owner share the comment
    (``# LayerNorm's own tensors: set them before use``), which stays with
    the first of them, so a loop over blocks keeps it in its body.
    """

    def __init__(self) -> None:
        self.head = -1  # index of the statement holding the current comment
        self.end = -1  # length of the statement list after the run's last tensor
        self.whose = ""

    def add(self, statements: list[Statement], key: str, tensor, owner) -> None:
        if not isinstance(tensor, torch.Tensor):
            raise ConversionError(
                f"state_dict entry {key!r} is a {type(tensor).__name__}, not a tensor"
            )
        name = _owner_name(owner)
        whose = f"{name}'s own tensor" if is_plain_identifier(name) else "own tensor"
        statement = Statement(("params[", f"] = {empty(tensor)}"), (key,))
        if len(statements) == self.end and whose == self.whose:
            head = statements[self.head]
            comment = f"# {whose}s: set them before use\n"
            statements[self.head] = Statement(
                (comment + head.pieces[0].split("\n", 1)[1], *head.pieces[1:]),
                head.keys,
            )
            statements.append(statement)
        else:
            comment = f"# {whose}: set it before use\n"
            self.head, self.whose = len(statements), whose
            statements.append(
                Statement(
                    (comment + statement.pieces[0], *statement.pieces[1:]), (key,)
                )
            )
        self.end = len(statements)


class _TensorTies:
    """Tensors shared by distinct layers (``self.wte.weight = self.lm_head.weight``).

    Both layers were built, each drawing its own values, before the tie
    replaced one: so each key a table row creates is drawn in its place,
    and the tie is a statement after every draw, from the key the user's
    code names as the source. A layer registered twice was built once: its
    second name is the same tensor, in place, with no draw; so is a key no
    row creates (a plain host's, as a functional input holds them).
    """

    def __init__(self, model: nn.Module, found: list):
        self.ties = found  # ties(model), the layers' own left out
        self.sources = {t.target: t.source for t in self.ties}
        state = model.state_dict(keep_vars=True)
        self.tensors = {id(state[t.source]): t.source for t in self.ties}
        self.written: set[str] = set()
        self.later: list[tuple[str, str]] = []

    def alias(
        self, key: str, tensor, drawn: bool, first_key: dict[int, str]
    ) -> str | None:
        """The key ``key`` is written from in place; "" after the ties; None: draw it."""
        source = self.sources.get(key)
        if source is not None and not drawn:
            return self._from(key, source)
        if source is not None or key in self.tensors.values():
            return None
        if id(tensor) not in first_key:
            return None
        if id(tensor) in self.tensors:  # a shared layer's name for a tied tensor
            return self._from(key, self.tensors[id(tensor)])
        return first_key[id(tensor)]

    def _from(self, key: str, source: str) -> str:
        """``source`` when it is written already; else "": ``key`` follows the ties."""
        if source in self.written:
            return source
        self.later.append((key, source))
        return ""

    def statements(self, said: dict[str, list[str]]) -> list[Statement]:
        """``params["wte.weight"] = params["lm_head.weight"]``: one tensor under both keys.

        Each after what the user's ``__init__`` said above its tie (taken
        out of ``said``, comments per key).
        """
        pairs = [
            (t.target, t.source) for t in self.ties if t.target in self.written
        ] + self.later
        if not pairs:
            return []
        comment = "# tied weights: one tensor under both keys, as in the original"
        statements = [Statement.text(comment)]
        for target, source in pairs:
            statements += map(Statement.text, said.pop(target, []))
            statements.append(
                Statement(("params[", "] = params[", "]"), (target, source))
            )
        return statements


def construction_order(model: nn.Module, keys: list[str]) -> list[str]:
    """``keys`` (``state_dict()`` order) in the order constructing ``model`` creates them.

    That is registration order -- a module's own tensors, then its submodules
    depth first, as ``state_dict()`` lists them -- except that a submodule
    its class's ``__init__`` receives as an argument (``self.downsample =
    downsample`` in torchvision's ResNet blocks) was built before that
    ``__init__`` ran, so it comes before the module's other submodules;
    and that a table layer with submodules lists its keys as its row's
    ``init`` does (:func:`_layer_order`). Keys that no submodule owns keep
    their place at the end. A module's own tensors are drawn among its
    submodules where its ``__init__`` sets them so (:func:`_source_lines`).
    A functional file read back has no ``__init__`` to say so: there its
    ``init_params()``'s order says it (:func:`_declared_lines`).
    """
    declared = {
        key: n for n, key in enumerate(declared_construction_order(model) or ())
    }
    first_declared: dict[str, int] = {}  # each module path's first declared key
    for key, n in declared.items():
        parts = key.split(".")
        for end in range(1, len(parts)):
            first_declared.setdefault(".".join(parts[:end]), n)
    by_owner: dict[str, list[str]] = {}
    for key in keys:
        by_owner.setdefault(key.rpartition(".")[0], []).append(key)
    ordered: list[str] = []
    early_of: dict[type, frozenset[str]] = {}  # class -> _assigned_from_arguments

    def visit(prefix: str, module: nn.Module) -> None:
        spec = spec_for_init(module)
        # weight_norm registers weight_g/weight_v after the bias it draws after
        drawn_apart = module._modules or weight_norms(module)
        if spec is not None and spec.init is not None and drawn_apart:
            ordered.extend(_layer_order(prefix, module, spec, by_owner))
            return
        own = by_owner.pop(prefix, [])
        children = [(n, c) for n, c in module._modules.items() if c is not None]
        if type(module) not in early_of:
            early_of[type(module)] = _assigned_from_arguments(type(module))
        early = early_of[type(module)]
        children.sort(key=lambda item: item[0] not in early)  # stable
        if declared:
            children = _in_declared_order(prefix, children, first_declared)
        elif not own:  # nothing of its own to draw among them
            children = _by_first_draw(children)
        holding = [n for n, c in children if next(iter(c.state_dict()), None)]
        lines = _source_lines(module, own, holding, early)
        if lines is None and declared:
            lines = _declared_lines(prefix, own, holding, early, declared)
        if lines is None:
            ordered.extend(own)
        own_at = {key: lines[key.rpartition(".")[2]] for key in own} if lines else {}
        for name, child in children:
            if lines is not None and name in lines:  # own tensors set before it
                at = lines[name]
                ordered.extend(k for k in own if own_at[k] < at and k not in ordered)
            visit(f"{prefix}.{name}" if prefix else name, child)
        if lines is not None:
            ordered.extend(k for k in own if k not in ordered)

    visit("", model)
    placed = set(ordered)
    return ordered + [key for key in keys if key not in placed]


def _in_declared_order(
    prefix: str,
    children: list[tuple[str, nn.Module]],
    first_declared: dict[str, int],
) -> list[tuple[str, nn.Module]]:
    """``children`` in the order the read-back file's ``init_params()`` made their tensors.

    Read back, a container's members are registered in index order (as the
    model the file came from registered them,
    :func:`~nnconvert.functional.weights.numbered_in_index_order`), which
    need not be the order it built them in (Perceiver's ``layers.0.2``
    before ``layers.0.0``). The children that made tensors take the places
    they hold, ordered by their first tensor in the file; the others keep
    theirs.
    """
    path = f"{prefix}." if prefix else ""
    drawn = sorted(
        (item for item in children if path + item[0] in first_declared),
        key=lambda item: first_declared[path + item[0]],
    )
    order = iter(drawn)
    return [next(order) if path + n in first_declared else (n, c) for n, c in children]


def _by_first_draw(
    children: list[tuple[str, nn.Module]],
) -> list[tuple[str, nn.Module]]:
    """``children`` with each container where its first tensors were made, if the build says so.

    A container registered empty and filled later (denoising-diffusion's
    ``ups`` before its ``mid_block1``, filled after it) draws when its
    members are built: it moves before the first sibling whose tensors
    were made after its first (:func:`~nnconvert.init_arguments.construction_start`
    of the modules under each that hold tensors). Other children keep
    registration order, as ``state_dict()`` lists them. All stay as they
    are where any module under them was built unrecorded.
    """
    starts = {}
    for name, child in children:
        found = [construction_start(m) for m in child.modules() if _holds_tensors(m)]
        if any(start is None for start in found):
            return children
        starts[name] = min(found, default=None)
    containers = (nn.ModuleList, nn.ModuleDict, nn.Sequential)
    moved = [
        item
        for item in children
        if type(item[1]) in containers and starts[item[0]] is not None
    ]
    ordered = [item for item in children if item not in moved]
    for item in moved:
        start = starts[item[0]]
        at = next(
            (
                k
                for k, (name, _) in enumerate(ordered)
                if starts[name] is not None and starts[name] > start
            ),
            len(ordered),
        )
        ordered.insert(at, item)
    return ordered


def _holds_tensors(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(
        True for _ in module.buffers(recurse=False)
    )


def _source_lines(
    module: nn.Module, own: list[str], children: list[str], early: frozenset[str]
) -> dict[str, int] | None:
    """The line of ``module``'s ``__init__`` that sets each own tensor and child, or None.

    ``children``: those holding tensors (the others draw nothing).

    When one of its own tensors draws at random (ViT's ``pos_embed``),
    they are drawn where its source sets them, among its layers
    (``patch_embed`` first): when every one is set once, at the top level
    of ``__init__``, and the children are set in registration order (those
    passed to the constructor aside, built before it). Else None: own
    tensors first, as ``state_dict()`` lists them.
    """
    if not own or not children:
        return None
    names = [key.rpartition(".")[2] for key in own]
    # tensors that draw nothing may come first, as state_dict() lists them
    if not any((b := state_build(module, n, drawn=True)) and b.draws for n in names):
        return None
    # a container set empty is built where it is filled (filling_lines)
    lines = setting_lines(module) | filling_lines(module)
    if any(n not in lines for n in [*names, *children]):
        return None
    later = [lines[n] for n in children if n not in early]
    if later != sorted(later):
        return None
    return {n: lines[n] for n in [*names, *children]}


def _declared_lines(
    prefix: str,
    own: list[str],
    children: list[str],
    early: frozenset[str],
    declared: dict[str, int],
) -> dict[str, int] | None:
    """As :func:`_source_lines` gives them, read from a functional file's ``init_params()`` order.

    ``declared``: each key's place in the dict the file's ``init_params()``
    returns, which made them in the order the model it came from built
    them (CaiT's attention draws ``mix_heads_pre_attn`` after ``to_kv``,
    as its ``__init__`` sets them). A child's place is its first key's.
    None where a key has no place, or the children come in another order
    than they are registered in (those passed to the constructor aside).
    """
    if not own or not children:
        return None
    dot = f"{prefix}." if prefix else ""
    places = {key.rpartition(".")[2]: declared.get(key) for key in own}
    for child in children:
        inside = [n for key, n in declared.items() if key.startswith(f"{dot}{child}.")]
        places[child] = min(inside, default=None)
    if None in places.values():
        return None
    later = [places[n] for n in children if n not in early]
    if later != sorted(later):
        return None
    return places


def _layer_order(
    prefix: str, layer: nn.Module, spec, by_owner: dict[str, list[str]]
) -> list[str]:
    """A table layer's keys, its submodules' too, in the order its row's ``init`` lists them.

    That is the order its constructor draws them: ``nn.MultiheadAttention``
    builds ``out_proj`` (an ``nn.Linear``, which draws) before initialising
    its own tensors. Keys the row does not list follow, as registered.
    """
    dot = f"{prefix}." if prefix else ""
    mine = [
        key
        for owner in list(by_owner)
        if owner == prefix or owner.startswith(dot) or not prefix
        for key in by_owner.pop(owner)
    ]
    listed = [dot + init.attribute for init in spec.tensor_inits(layer)]
    return [k for k in listed if k in mine] + [k for k in mine if k not in listed]


def _layer_of(model: nn.Module, key: str) -> tuple[str, str]:
    """``(prefix, attribute)``: the table layer whose row creates ``key``, and the key in it.

    Usually the tensor's own module (``conv1``, ``weight``); a table layer's
    submodule without a row of its own is the layer's (``attn``,
    ``out_proj.weight``). The outermost row that lists it decides: it built
    its parts, and may have drawn them anew (``nn.Transformer``'s
    ``xavier_uniform_`` over its layers' matrices). The tensor's own module
    when no row lists it.
    """
    parts = key.split(".")
    for cut in range(len(parts)):
        prefix, attribute = ".".join(parts[:cut]), ".".join(parts[cut:])
        if attribute in _layer_inits(_submodule(model, prefix)):
            return prefix, attribute
    prefix, _, attribute = key.rpartition(".")
    return prefix, attribute


def _assigned_from_arguments(cls: type) -> frozenset[str]:
    """Attributes ``cls.__init__`` sets straight from one of its arguments.

    ``self.downsample = downsample``, where ``downsample`` is an argument the
    function never rebinds. Empty when the source is not available.
    """
    init = cls.__init__
    if (getattr(init, "__module__", None) or "").startswith("torch"):
        return frozenset()
    function = function_tree(init)
    if function is None:
        return frozenset()
    arguments = function.args
    positional = arguments.posonlyargs + arguments.args
    if not positional:
        return frozenset()
    me = positional[0].arg  # self
    names = {a.arg for a in positional[1:] + arguments.kwonlyargs}
    assigned: dict[str, str] = {}
    rebound: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            rebound.add(node.id)
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and node.value.id in names
        ):
            for target in node.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == me
                ):
                    assigned[target.attr] = node.value.id
    return frozenset(a for a, n in assigned.items() if n not in rebound)


def _submodule(model: nn.Module, prefix: str) -> nn.Module | None:
    try:
        return model.get_submodule(prefix)
    except AttributeError:
        return None


def _copy_source(model: nn.Module, key: str) -> str | None:
    """The key ``key``'s tensor starts as a copy of, when an enclosing row says so (:attr:`TensorInit.copy_of`).

    The outermost row decides: it built the copies (``nn.TransformerEncoder``'s
    layers are deep copies of one), whatever rows its parts have.
    """
    parts = key.split(".")
    for cut in range(len(parts)):
        prefix, attribute = ".".join(parts[:cut]), ".".join(parts[cut:])
        init = _layer_inits(_submodule(model, prefix)).get(attribute)
        if init is not None and init.copy_of is None:
            return None
        if init is not None:
            return f"{prefix}.{init.copy_of}" if prefix else init.copy_of
    return None


def _layer_inits(layer: nn.Module | None) -> dict[str, TensorInit]:
    """How the layer's row creates its tensors; a plain host's, as a functional input did."""
    spec = None if layer is None else spec_for_init(layer)
    if spec is None:
        return declared_tensor_inits(layer)
    if spec.init is None:
        return {}
    return {init.attribute: init for init in spec.tensor_inits(layer)}


#: owners named by no class of the model's: torch's containers, and the plain
#: host a functional input holds the same tensors in (the comment must not
#: change when a functional output is converted to itself)
_CONTAINERS = (nn.ParameterDict, nn.ParameterList)


def _owner_name(owner: nn.Module | None) -> str:
    """The class a tensor's comment names: the model's own classes only."""
    if owner is None or isinstance(owner, _CONTAINERS) or type(owner) is nn.Module:
        return ""
    return type(owner).__name__


def _use_modules(text: str, imports: Imports) -> None:
    for module in _MODULE_PREFIX.findall(text):
        imports.use(module)


def _draws_into_new_tensors(lines: Sequence[str]) -> bool:
    """Whether a statement of the body draws into a tensor it makes and drops.

    ``torch.empty(8, 3, 2).normal_(0, 0.01)``,
    ``nn.init.xavier_uniform_(torch.empty(10, 8))``: a draw
    (:attr:`nnconvert.init_replay.InitCall.discarded`) into what the model
    replaced. Read from the text, not the replay, so that the file read back
    (where such a line is the model's own code) says it again.
    """
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    for statement in ast.walk(tree):
        if not isinstance(statement, ast.Expr) or not isinstance(
            statement.value, ast.Call
        ):
            continue
        call = statement.value
        receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
        if any(_is_empty(node) for node in [receiver, *call.args[:1]]):
            return True
    return False


def _is_empty(node: ast.expr | None) -> bool:
    """``torch.empty(...)``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "empty"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "torch"
    )


def _docstring(
    function: str,
    model_class: str,
    built_by: str | None,
    unknown: int,
    differ: list[str] | None,
    compared: int = 0,
    wording: str | None = None,
    init_summaries: Sequence[str | None] = (),
    built: int = 0,
    own_init: bool = False,
    drawn: int = 0,
    discarded: bool = False,
) -> str:
    """What ``init_params()`` gives, claiming equality with the original only where checked.

    ``built_by``: the function that built the model compared with (its
    class being torch's own), which the claim names instead of the class.
    ``differ``: the keys a comparison found different (empty: all equal),
    None when no comparison ran; ``compared``: how many keys it compared;
    ``wording``: an inherited claim (:class:`InitClaim`), which replaces them.
    ``init_summaries``: the last paragraphs, what the model's ``__init__``
    and its blocks' said of themselves.
    ``built``: how many tensors are written as the model's own code builds them.
    ``own_init``: the body ends with the model's own initialisation code.
    ``drawn``: how many tensors are drawn at random as the model's own code draws them.
    ``discarded``: the body draws into tensors the model replaced
    (:attr:`nnconvert.init_replay.InitCall.discarded`), which reads like a
    mistake unless said.
    """
    if built_by is not None and is_plain_identifier(built_by):
        new = f"a new `{built_by}(...)` model"
    elif is_plain_identifier(model_class):
        new = f"a new `{model_class}`"
    else:
        new = "the model"
    layers = "its `nn` layers " if unknown else ""
    paragraphs = [
        f"Fresh weights for `{function}`"
        + (wording or _claim(new, layers, differ, compared)),
    ]
    if built:
        paragraphs.append(
            f"The {built} tensor{'s' if built > 1 else ''} below that the model's "
            f"own `__init__` computes from literals alone {'are' if built > 1 else 'is'} "
            "built by the same code."
        )
    if drawn:
        paragraphs.append(
            f"The {drawn} tensor{'s' if drawn > 1 else ''} below that the model's "
            f"own `__init__` draws at random {'are' if drawn > 1 else 'is'} drawn "
            f"by the same code, where it draws {'them' if drawn > 1 else 'it'}."
        )
    if own_init:
        paragraphs.append(
            "Calls on `params` between the assignments are the model's own "
            "initialisation code, run where its `__init__` runs it."
        )
    if discarded:
        paragraphs.append(
            "A call on a new `torch.empty(...)` draws into a tensor that the "
            "model replaced before its build ended (a `weight` that `weight_norm` "
            "recomputes from `weight_g` and `weight_v`, or one tied to another "
            "weight afterwards). It sets no weight; it is kept so that the "
            "tensors drawn after it equal the model's."
        )
    if unknown:
        them = "them" if unknown > 1 else "it"
        warning = (
            f"Warning: the model's own code creates the {unknown} "
            f"tensor{'s' if unknown > 1 else ''} marked below; nnconvert cannot "
            f"reproduce {them} and leaves {them} uninitialised (`torch.empty`): "
            f"set {them} before use."
        )
        paragraphs.append(warning)
    paragraphs += [summary for summary in init_summaries if summary]
    first, *rest = paragraphs
    if not rest and len(f'    """{first}"""') <= LINE_LENGTH:
        return f'    """{first}"""\n'
    text = textwrap.fill(
        first,
        LINE_LENGTH,
        initial_indent='    """',
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    for paragraph in rest:
        text += "\n\n" + textwrap.fill(
            paragraph,
            LINE_LENGTH,
            initial_indent="    ",
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return text + '\n    """\n'


def _claim(new: str, layers: str, differ: list[str] | None, compared: int) -> str:
    """The summary's claim of equality with a newly built original: only what was compared.

    ``new``: "a new `Net`"; ``layers``: "its `nn` layers " when some tensors
    are the model's own, which nnconvert leaves unset. Unqualified equality
    is said only where a comparison showed it.
    """
    equal = f", {layers}equal to {new}'s under the same seed"
    if differ is None:
        return f", as `torch.nn` draws them (not compared with {new})."
    if not differ:
        return f"{equal}."
    if len(differ) == compared:
        return (
            ", as `torch.nn` draws them: none equals "
            f"{new}'s under the same seed (nnconvert compared them)."
        )
    return (
        f"{equal}, except {len(differ)}, which "
        f"{'differ' if len(differ) > 1 else 'differs'} (nnconvert compared them): "
        f"{_key_list(differ)}."
    )


def _key_list(keys: list[str]) -> str:
    """``a.weight``, ``b.bias`` and 2 more: keys are data, shown only when they are plain."""
    shown = [f"`{key}`" for key in keys if _SHOWABLE_KEY.fullmatch(key)]
    hidden = len(keys) - len(shown)
    if hidden:
        shown.append(
            f"{hidden} {'other ' if shown else ''}key{'s' if hidden > 1 else ''}"
        )
    return ", ".join(shown)


def with_sub_params(definitions: list[Printed]) -> list[Printed]:
    """``definitions`` with ``sub_params`` first when one calls it and none defines it.

    ``init_params()`` hands a block's initialisation method its slice of
    the weights (:mod:`nnconvert.init_code`), in a file whose functions may
    not call ``sub_params`` themselves; and :mod:`nnconvert.init_check` runs
    ``init_params()`` alone, without the file's other functions.
    """
    called = any("sub_params(" in d.text for d in definitions)
    defined = any("def sub_params(" in d.text for d in definitions)
    if not called or defined:
        return definitions
    helper = Printed(SUB_PARAMS.definition, Imports(SUB_PARAMS.imports))
    return [helper, *definitions]


__all__ = [
    "FUNCTION",
    "InitClaim",
    "function_name",
    "inherited_claim",
    "init_params_function",
    "with_sub_params",
]
