"""The Python API: ``nnconvert.convert(model, to=..., example_inputs=...)``.

The pipeline is trace -> canonicalize -> style pass -> print; every stage is a
plain function of the one before, and this module only strings them together.
Its input is a module or a :class:`~nnconvert.frontend.ModelInput`: a module
with what the front end that read it recognised; which front end that was
makes no difference here.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import linecache
import sys
import types
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from . import init_arguments
from .as_written import as_written
from .calls_as_layers import with_calls_as_layers
from .calls_rewritten import LayerAlone, with_layer_calls_rewritten
from .construction_kept import with_source_construction
from .check import CheckReport, check_equivalent, function_candidate, module_candidate
from .copying import copy_model
from .errors import CheckError, ConversionError, InputError, NnconvertError
from .frontend import ModelInput, model_input
from .guard_messages import argument_message
from .hierarchy import Instance, trace_instances
from .init_check import check_init_params
from .init_code import (
    any_init_statements,
    any_own_state,
    fresh_builder,
    fresh_equal,
    keeps_more,
)
from .leaves import leaf_of
from .modes import eval_mode
from .module_kinds import reserved_for
from .naming import definition_name, is_plain_identifier
from .options import Style, Tolerances
from .passes import apply_style, canonicalize, outline_methods
from .passes.canonicalize import ANCESTRY
from .passes.styles import MADE_FROM_LAYER
from .passes.weight_dicts import graphs_with_methods
from .printer import print_program
from .printer.init_params import function_name
from .printer.program import format_source
from .printer.functions import snake_case
from .range_counts import STEPPED_COUNTS, STEPS
from .reparametrized import reject_hooks, reject_reparametrized
from .reporting import exit_message, one_line
from .root_promises import broken_parameters, without_parameters
from .stored_attributes import refuse_block_stores

_counter = itertools.count()


@dataclass(frozen=True)
class Conversion:
    """The result of :func:`convert`.

    ``source`` is the generated Python text and ``name`` the class (module and
    mixed styles) or function (functional style) it defines.
    """

    source: str
    name: str
    style: Style
    model: nn.Module
    example_inputs: tuple[Any, ...]
    tolerances: Tolerances = Tolerances()
    #: the layers kept as opaque calls (third-party, no op spec), one line each:
    #: which layer, which class, why (:mod:`nnconvert.leaves`)
    leaves: tuple[str, ...] = ()
    #: mixed style: ``source`` is the model's own source, as written
    #: (:mod:`.as_written`); module style: the source with its methods printed
    #: in module style (:mod:`.construction_kept`)
    as_written: bool = False
    #: class styles that kept the model's own initialisation code
    #: (:mod:`.init_code`): how many tensors of a new output equal those of a
    #: new original under one seed, of how many; None: no such code kept
    fresh_build: tuple[int, int] | None = None

    def namespace(self, *, importable: bool = False) -> dict[str, Any]:
        """Execute ``source`` in a fresh module (its lines show in tracebacks).

        ``importable``: registered in ``sys.modules``, as ``torch.compile``
        needs (:func:`execute`).
        """
        return execute(
            self.source,
            f"<nnconvert {self.style.value}: {self.name}>",
            importable=importable,
        )

    def load(self) -> nn.Module | Callable:
        """The new module holding the original weights (``strict=True``), or the function.

        A functional result is called as ``fn(dict(model.state_dict()), *inputs)``.
        """
        defined = self.namespace(importable=True)[self.name]
        if self.style is Style.FUNCTIONAL:
            return defined
        return instantiate(defined, self.model)

    def check(self, *, train: bool = False) -> CheckReport:
        """Run original and rewrite side by side; raises CheckError on any difference.

        InputError when the model's code calls ``sys.exit`` while it runs.
        """
        defined = self.namespace()[self.name]
        if self.style is Style.FUNCTIONAL:
            make = lambda model: function_candidate(defined, model)  # noqa: E731
        else:
            make = lambda model: module_candidate(
                instantiate(defined, model)
            )  # noqa: E731
        try:
            return check_equivalent(
                self.model, make, self.example_inputs, self.tolerances, train=train
            )
        except SystemExit as error:  # the model's code exited: not the caller's process
            raise InputError(
                exit_message(error, "while the model is checked")
            ) from None


def convert(
    model: nn.Module | ModelInput,
    to: Style | str = Style.FUNCTIONAL,
    example_inputs: Sequence[Any] = (),
    *,
    name: str | None = None,
    tolerances: Tolerances = Tolerances(),
    keep_source: bool = True,
) -> Conversion:
    """Rewrite ``model`` in the style ``to`` ("module", "functional" or "mixed").

    ``example_inputs`` are the positional inputs of ``model.forward``; they
    drive tracing where Python code needs real shapes, and the check.
    ``name`` defaults to the model's class name (snake_case for functional);
    an input that already is a function (``ModelInput.function_name``) keeps
    its name in functional style; a name taken from the model is cleaned into
    an identifier (:func:`~nnconvert.naming.definition_name`), a given one
    must be one already. Raises ConversionError when the model cannot be
    rewritten faithfully, InputError for a request that makes no sense (an
    unknown style, a model that is no ``nn.Module``, a ``name`` that cannot
    name the definition, code that calls ``sys.exit``); nothing else escapes.

    ``keep_source`` (class styles): in mixed style, a model whose source
    already is in mixed style comes out as written -- its classes with their
    builder methods, the tables and imports they read -- when that source
    builds the same model (:mod:`.as_written`), and one whose
    parameter-free layer calls can be written as functions in place comes
    out so (:mod:`.calls_rewritten`); in module style, the source keeps its
    methods with their functional calls written as layers
    (:mod:`.calls_as_layers`); otherwise the source keeps its construction
    and takes the methods printed in the output's style
    (:mod:`.construction_kept`). False prints it from the trace, as
    functional style is.

    ``model`` is left exactly as it was, whether the conversion succeeds or
    fails: tracing runs a deep copy (``forward`` may count calls on ``self``,
    and a failed trace could leave fx proxies behind), while
    ``Conversion.model`` is the caller's model, the original of the check.
    """
    style = parse_style(to)
    read = checked_input(model)
    example_inputs = checked_example_inputs(example_inputs)
    name = None if name is None else checked_name(name, read.module)
    try:
        return _convert(read, style, example_inputs, name, tolerances, keep_source)
    except NnconvertError:
        raise
    except SystemExit as error:
        raise InputError(exit_message(error, "while the model is traced")) from None
    except Exception as error:
        raise ConversionError(
            f"unexpected {one_line(error)}; this is an nnconvert bug, please "
            "report it with the model"
        ) from error


def _convert(
    read: ModelInput,
    style: Style,
    example_inputs: tuple[Any, ...],
    name: str | None,
    tolerances: Tolerances,
    keep_source: bool,
) -> Conversion:
    """The pipeline, on a copy of the model: trace, canonicalize, style pass, print.

    ``keep_source``: in mixed style a model whose source already is in mixed
    style is its own output (:mod:`.as_written`), else its source with its
    layer calls rewritten (:mod:`.calls_rewritten`), else its construction
    with the printed methods (:mod:`.construction_kept`). Module style tries
    the source with its functional calls written as layers first
    (:mod:`.calls_as_layers`: every method stays as the user wrote it), then
    the construction with the printed methods.
    """
    name = input_name(read, style) if name is None else name
    modules = list(read.module.modules())
    keep_init = style is not Style.FUNCTIONAL and (
        any_init_statements(modules) or any_own_state(modules)
    )
    instances, source = _printed(read, style, example_inputs, name, True, keep_init)
    if _steps_left_guarded(instances, source):
        instances, source = _printed(
            read, style, example_inputs, name, False, keep_init
        )
    fresh = None
    if keep_init:
        source, fresh = _checked_init_code(read, instances, style, name, source)
    kept = exact = None
    if style is Style.MIXED and keep_source:
        called = _layers_called(instances)
        kept = exact = as_written(read.module, name, source, _runner(name))
        kept = kept or with_layer_calls_rewritten(
            read.module,
            name,
            _runner(name),
            example_inputs,
            called,
            _layer_in_mixed_style,
        )
        kept = kept or with_source_construction(
            read.module, name, source, _runner(name), called=called
        )
    elif style is Style.MODULE and keep_source:
        kept = with_calls_as_layers(read.module, name, _runner(name), instances)
        kept = kept or with_source_construction(
            read.module, name, source, _runner(name)
        )
    working = next(i for i in instances if not i.path).module
    leaves = tuple(leaf.describe() for m in working.modules() if (leaf := leaf_of(m)))
    written = kept or source
    if exact is None:  # the model's own source promises what the model does
        written = _root_promises_kept(read, style, name, written, example_inputs)
    return Conversion(
        written,
        name,
        style,
        read.module,
        example_inputs,
        tolerances,
        leaves,
        as_written=kept is not None,
        fresh_build=None if kept else fresh,
    )


def _root_promises_kept(
    read: ModelInput,
    style: Style,
    name: str,
    source: str,
    example_inputs: tuple[Any, ...],
) -> str:
    """``source`` without the root parameters that would build another model (:mod:`.root_promises`)."""
    if not init_arguments.recorded_call(read.module):
        return source
    namespace = execute(source, f"<nnconvert root parameters: {name}>")
    if style is Style.FUNCTIONAL:
        initialise = function_name(name)
        root, model = namespace.get(initialise), namespace[name]
        function = initialise

        def run(changed: Any, weights: Any) -> Any:
            taken = inspect.signature(model).parameters  # ``ntoken`` too, as given
            extra = {k: v for k, v in changed.items() if k in taken}
            return model(dict(weights), *example_inputs, **extra)

    else:
        root, function = namespace[name], f"{name}.__init__"

        def run(changed: Any, weights: Any) -> Any:
            built = root(**changed).eval()
            built.load_state_dict(weights)
            return built(*example_inputs)

    if root is None:
        return source
    broken = broken_parameters(read.module, root, style, run, example_inputs)
    edited = without_parameters(source, function, list(broken)) if broken else None
    return source if edited is None else format_source(edited)


def _runner(name: str) -> Callable[[str], type]:
    """Runs a source as a file of its own and returns its class ``name``."""
    return lambda source: execute(source, f"<nnconvert mixed: {name}>")[name]


def _checked_init_code(
    read: ModelInput, instances: list[Instance], style: Style, name: str, source: str
) -> tuple[str, tuple[int, int] | None]:
    """``source``, a class style keeping the user's initialisation code, if that code helps.

    Else the output printed without it (:mod:`.init_code`): kept only when a
    new output, built under one seed, then has more tensors equal to a new
    original's and none less. With the text, how many tensors were equal,
    of how many (None: nothing kept).
    """
    without = print_program(instances, style, name)
    if without == source:
        return source, None  # nothing was kept
    build = fresh_builder(read.module, read.fresh_state)
    if build is None:
        return without, None
    equal = [
        fresh_equal(build, lambda text=text: _runner(name)(text)())
        for text in (source, without)
    ]
    if not keeps_more(*equal):
        return without, None
    return source, (len(equal[0]), len(read.module.state_dict()))


def _layer_in_mixed_style(layer: nn.Module, example: Any) -> str:
    """One layer called on ``example``, printed in mixed style (:mod:`.calls_rewritten`)."""
    alone = LayerAlone(copy_model(layer))
    return convert(alone, Style.MIXED, (example,), keep_source=False).source


def _layers_called(instances: list[Instance]) -> frozenset[str]:
    """The paths of the parameter-free layers mixed style calls as functions."""
    return frozenset(
        f"{instance.path}.{layer}" if instance.path else layer
        for instance in instances
        for graph in graphs_with_methods(instance.graph)
        for node in graph.nodes
        if isinstance(layer := node.meta.get(MADE_FROM_LAYER), str)
    )


def _printed(
    read: ModelInput,
    style: Style,
    example_inputs: tuple[Any, ...],
    name: str,
    step_counts: bool,
    keep_init: bool = False,
) -> tuple[list[Instance], str]:
    """The model traced (``step_counts``: :func:`.hierarchy.traced`) and printed.

    ``keep_init``: with the user's initialisation code (:mod:`.init_code`).
    """
    instances = _instances(read, example_inputs, style, step_counts)
    claim = None
    if style is Style.FUNCTIONAL:  # what init_params() may claim, checked
        root = next(i for i in instances if not i.path).module
        claim = check_init_params(root, name, read.fresh_state, read.init_params_doc)
        if claim is not None and _naming_factory(read) is not None:
            claim = dataclasses.replace(claim, built_by=_naming_factory(read))
    source = print_program(
        instances,
        style,
        name,
        init_claim=claim,
        class_instances=lambda: _instances(
            read, example_inputs, Style.MODULE, step_counts
        ),
        keep_init=keep_init,
    )
    return instances, source


def _steps_left_guarded(instances: list[Instance], source: str) -> bool:
    """A loop traced with steps did not print as a loop: its guard refuses the default.

    ``for i in range(future):`` traced with ``future=3`` prints as a loop
    almost always; where the printer keeps it unrolled (a name it cannot
    bind), the output would refuse every ``future`` but 3: the trace with
    the example's own value is better.
    """
    return any(
        argument_message(counter, STEPS) in source
        for instance in instances
        for counter in instance.graph.meta.get(STEPPED_COUNTS, ())
    )


def _instances(
    read: ModelInput,
    example_inputs: tuple[Any, ...],
    style: Style,
    step_counts: bool = True,
) -> list[Instance]:
    """A copy of the model traced, canonicalized and rewritten for ``style``."""
    working = copied_input(read)
    # code that branches on self.training is converted as in eval mode
    with eval_mode(working.module):
        instances = trace_instances(working, example_inputs, style, step_counts)
    if style is Style.FUNCTIONAL:
        refuse_block_stores(instances)
    for instance in instances:
        instance.graph.meta[ANCESTRY] = instance.ancestry
        canonicalize(instance.graph)
        apply_style(instance.graph, style)
        outline_methods(instance.graph)
    return instances


def parse_style(to: Any) -> Style:
    """``to`` as a :class:`Style`; an unknown one is the caller's mistake (InputError)."""
    try:
        return Style.parse(to)
    except ValueError:
        names = ", ".join(s.value for s in Style)
        raise InputError(f"unknown style {to!r}; choose one of {names}") from None


def checked_input(model: Any) -> ModelInput:
    """``model`` as a :class:`ModelInput`, if fx can trace it."""
    if isinstance(model, torch.jit.ScriptModule):
        raise InputError(
            "a torch.jit.ScriptModule cannot be traced by torch.fx; pass the "
            "Python nn.Module it was scripted from"
        )
    if not isinstance(model, (nn.Module, ModelInput)):
        raise InputError(
            f"model must be an nn.Module or a nnconvert.ModelInput, not "
            f"{type(model).__name__}"
        )
    read = model_input(model)
    for path, module in read.module.named_modules():
        if isinstance(module, torch.jit.ScriptModule):  # a scripted block of a model
            raise InputError(
                f"submodule {path!r} ({type(module).__name__}) is a "
                "torch.jit.ScriptModule, which torch.fx cannot trace; write its "
                "class as a plain nn.Module (no torch.jit.script_method)"
            )
    return read


def checked_example_inputs(example_inputs: Any) -> tuple[Any, ...]:
    """The positional inputs as a tuple; a lone tensor would be split along its first axis."""
    if isinstance(example_inputs, torch.Tensor):
        raise InputError(
            "example_inputs is the tuple of forward's inputs; write (x,) for one tensor"
        )
    try:
        return tuple(example_inputs)
    except TypeError:
        raise InputError(
            f"example_inputs must be a tuple of forward's inputs, not "
            f"{type(example_inputs).__name__}"
        ) from None


def copied_input(read: ModelInput) -> ModelInput:
    """The same input around a deep copy of its module, for the pipeline to run.

    The front end's facts (``function_name``, ``built_paths``: dotted
    paths) hold for the copy, which has the same submodule tree.
    """
    reject_reparametrized(read.module)
    reject_hooks(read.module)
    try:
        module = copy_model(read.module)
    except Exception as error:
        raise InputError(
            f"the model cannot be copied (copy.deepcopy: {one_line(error)}); "
            "nnconvert converts a copy so that the model stays as it was"
        ) from None
    return dataclasses.replace(read, module=module)


def input_name(read: ModelInput, style: Style) -> str:
    """The default name of the output: the input's own name in that style, if it has one.

    Cleaned, since a class name is data: ``type()`` takes any string, and a
    name printed as it is could be code (``"Evil(nn.Module): ..."``) or hide
    a module the output uses (a class ``Math`` is function ``math`` in
    functional style, which becomes ``math_``).
    """
    reserved = reserved_for(read.module)
    if style is Style.FUNCTIONAL and read.function_name is not None:
        return definition_name(read.function_name, reserved)
    name = _naming_factory(read) or type(read.module).__name__
    return definition_name(default_name(name, style), reserved)


def _naming_factory(read: ModelInput) -> str | None:
    """The user's function that built the model, where it names the model, not its class.

    ``ConvMixer(...)`` returns an ``nn.Sequential``: a class of torch's own
    says nothing of the model, so the output and ``init_params()``'s claim
    are named after the function.
    """
    if read.factory_name is not None and _is_torch_class(type(read.module)):
        return read.factory_name
    return None


def _is_torch_class(cls: type) -> bool:
    """A class torch defines (``nn.Sequential``), not the user's."""
    return cls.__module__.split(".")[0] == "torch"


def checked_name(name: str, model: nn.Module) -> str:
    """A name the caller gave (``--name``), if it can name the output's definition."""
    if not isinstance(name, str) or not is_plain_identifier(name):
        raise InputError(f"name {name!r} is not a Python identifier")
    if name in reserved_for(model):
        raise InputError(
            f"name {name!r} would hide {name!r}, which the generated code uses; "
            "choose another"
        )
    return name


def default_name(class_name: str, style: Style) -> str:
    """``Net`` for classes, ``net`` (snake_case) for functions."""
    return class_name if style is not Style.FUNCTIONAL else snake_case(class_name)


def execute(source: str, filename: str, *, importable: bool = False) -> dict[str, Any]:
    """Execute generated source as its own module; register it for tracebacks.

    ``importable`` also puts the module in ``sys.modules`` under its unique
    name: ``torch.compile`` (dynamo) imports the module of every function it
    inlines by that name, so a loaded function called from the user's code
    must be importable. The check's many executions are registered only
    while they run, as an import registers a module: ``@dataclass`` looks
    its class's module up there to read string annotations (a file with
    ``from __future__ import annotations``, mamba-minimal's ``ModelArgs``).
    """
    number = next(_counter)
    filename = f"{filename} #{number}"
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    module = types.ModuleType(f"nnconvert_generated_{number}")
    module.__file__ = filename  # inspect finds a class's source through it
    sys.modules[module.__name__] = module
    try:
        exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    finally:
        if not importable:
            del sys.modules[module.__name__]
    return module.__dict__


def instantiate(cls: type, model: nn.Module) -> nn.Module:
    """A new instance of ``cls`` holding ``model``'s weights, in ``model``'s mode."""
    try:
        with init_arguments.recording():  # converted again, it keeps its names
            instance = cls()
    except Exception as error:
        raise CheckError(
            f"the generated class {cls.__name__} does not build: {error}"
        ) from error
    try:
        instance.load_state_dict(model.state_dict(), strict=True)
    except RuntimeError as error:
        message = " ".join(str(error).split())
        raise CheckError(
            f"the original weights do not load strictly: {message}"
        ) from None
    return instance.train(model.training)


__all__ = ["Conversion", "ConversionError", "convert", "default_name", "input_name"]
