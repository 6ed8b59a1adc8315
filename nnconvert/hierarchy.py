"""Model -> one traced graph per module instance that becomes a class (or function) of its own.

Every user-defined submodule class is kept as a class (module and mixed
style) or a function (functional style), never flattened into its parent,
so the structure the user wrote survives the conversion. So the root and
every user-defined submodule are traced separately, each with the inputs it
received when the model ran on the example inputs, and with its own
user-defined children kept as calls. A plain ``nn.Sequential`` is kept as a
call too: in module and mixed style it prints as ``nn.Sequential(...)``; in
functional style, when ``forward`` calls it as a whole, it is traced on its
own and becomes a function of its own (``features(sub_params(params,
"features."), x)``), so that where it starts and ends stays visible. A
Sequential that ``forward`` only indexes or iterates is traced through.

The input is a :class:`~nnconvert.frontend.ModelInput`, whatever front end
read it; what the front end recognised is copied onto each :class:`Instance`
as data.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch import fx, nn

from .attributes import attributes_restored
from .errors import ConversionError
from .example_values import clone_inputs
from .frontend import ModelInput, model_input
from .options import Style
from .trace import trace

#: Standard containers: printed as constructors, never as classes of their own.
CONTAINERS = (
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
    nn.ParameterList,
    nn.ParameterDict,
)


def is_user_module(module: nn.Module) -> bool:
    """A module defined outside ``torch.nn``: the user's block, or a library's (torchvision's)."""
    name = type(module).__module__
    return not (name.startswith("torch.nn") or name.startswith("torch.ao.nn"))


def is_sequential_class(module: nn.Module) -> bool:
    """A user subclass of ``nn.Sequential`` that keeps Sequential's ``forward``."""
    return (
        isinstance(module, nn.Sequential)
        and type(module).forward is nn.Sequential.forward
    )


def is_defined_class(module: nn.Module) -> bool:
    """Gets a class (or function) of its own in the output.

    User subclasses of the list and dict containers count only when they
    define a ``forward`` (torchvision's ``_DenseBlock``); without one they are
    plain containers.
    """
    containers = (nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)
    if not is_user_module(module):
        return False
    return (
        not isinstance(module, containers)
        or type(module).forward is not nn.Module.forward
    )


@dataclass(frozen=True)
class TraceVariant:
    """Which trace of a module a graph is: how Python's questions were answered.

    A module may need more than one graph where Python code decides what runs
    (``if self.training:``, ``if mask is not None:``). ``training`` is the
    mode branches on ``self.training`` were taken in (the flag itself stays
    a graph value either way); ``given_inputs`` the names of the optional
    inputs passed a value, None for "as the example inputs give them".
    """

    training: bool = False
    given_inputs: frozenset[str] | None = None


#: The one trace made today: eval-mode branches, the inputs as the example gives them.
EVAL_TRACE = TraceVariant()


@dataclass(frozen=True)
class SourceLocation:
    """Where a graph node comes from in the input's source."""

    file: str
    line: int
    function: str


@dataclass
class Instance:
    """One module instance that becomes its own definition.

    ``graphs`` holds its traces by :class:`TraceVariant`; ``graph`` is the
    one the passes and the printer use (:data:`EVAL_TRACE`).
    ``source_map`` maps node names of ``graph`` to where they come from
    (empty while no tracer records it). ``built_attributes`` are the
    attributes a front end built rather than found declared
    (``ModelInput.built_paths`` relative to this instance): class styles
    place them where first used.
    """

    path: str  # "" for the root, "layer1.0" for a block inside it
    module: nn.Module
    graphs: dict[TraceVariant, fx.GraphModule]
    source_map: dict[str, SourceLocation] = field(default_factory=dict)
    built_attributes: frozenset[str] = frozenset()

    @property
    def graph(self) -> fx.GraphModule:
        """The graph used today: the :data:`EVAL_TRACE` one."""
        return self.graphs[EVAL_TRACE]


def trace_instances(
    model: nn.Module | ModelInput, example_inputs: Sequence[Any], style: Style
) -> list[Instance]:
    """The root and every user-defined submodule, traced; children before parents."""
    read = model_input(model)
    model = read.module
    inputs = capture_inputs(model, example_inputs)
    functional = style is Style.FUNCTIONAL
    # the Sequentials called as a whole: functions of their own in functional style
    called = {
        id(m)
        for _, m in model.named_modules()
        if type(m) is nn.Sequential and id(m) in inputs
    }

    def keep(module: nn.Module) -> bool:
        return is_defined_class(module) or (
            type(module) is nn.Sequential and (not functional or id(module) in called)
        )

    def defined(module: nn.Module) -> bool:
        return is_defined_class(module) or (functional and id(module) in called)

    instances = []
    for path, module in _post_order(model):
        if path and not defined(module):
            continue
        if id(module) not in inputs:
            if any(True for _ in module.state_dict()):
                raise ConversionError(
                    f"submodule {path!r} ({type(module).__qualname__}) owns weights but "
                    "is never called by forward on the example inputs"
                )
            continue
        graph = trace(module, inputs[id(module)], keep)
        graph.meta["original"] = module
        if path and type(module) is nn.Sequential:
            _name_input(graph.graph, "x")  # Sequential.forward's is ``input``
        built = _attributes_under(read.built_paths, path)
        instances.append(Instance(path, module, {EVAL_TRACE: graph}, {}, built))
    return instances


def _attributes_under(paths: frozenset[str], path: str) -> frozenset[str]:
    """The attribute names of the module at ``path`` that ``paths`` name."""
    prefix = f"{path}." if path else ""
    names = (p[len(prefix) :] for p in paths if p.startswith(prefix))
    return frozenset(name for name in names if "." not in name)


def capture_inputs(
    model: nn.Module,
    example_inputs: Sequence[Any],
    modules: Iterable[nn.Module] | None = None,
) -> dict[int, tuple[Any, ...]]:
    """The positional inputs each module receives first, by running the model once.

    ``modules`` are the ones to watch (default: the model, its user-defined
    blocks and its ``nn.Sequential`` containers). The model's attributes are
    left as they were (:func:`~.attributes.attributes_restored`).
    """
    captured: dict[int, tuple[Any, ...]] = {}

    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        if id(module) not in captured:
            captured[id(module)] = _positional(module, args, kwargs)

    if modules is None:
        modules = [
            m
            for m in model.modules()
            if m is model or is_defined_class(m) or type(m) is nn.Sequential
        ]
    handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for m in modules]
    try:  # what forward caches on self is undone: tracing records how it is made
        with torch.no_grad(), attributes_restored(model):
            model(*clone_inputs(example_inputs))
    except Exception as error:
        raise ConversionError(
            f"{type(model).__name__} fails on the example inputs: "
            f"{type(error).__name__}: {' '.join(str(error).split())}"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
    return captured


def _positional(module: nn.Module, args: tuple, kwargs: dict) -> tuple[Any, ...]:
    """Arguments in ``forward``'s parameter order, defaults filled in, tensors copied."""
    signature = inspect.signature(module.forward)
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if any(p.kind in variadic for p in signature.parameters.values()):
        return clone_inputs(args)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return clone_inputs(args)
    bound.apply_defaults()
    return clone_inputs(tuple(bound.arguments.values()))


def _name_input(graph: fx.Graph, name: str) -> None:
    """Call the graph's only input ``name``."""
    (placeholder,) = (n for n in graph.nodes if n.op == "placeholder")
    placeholder.target = name


def _post_order(model: nn.Module, path: str = "") -> Iterator[tuple[str, nn.Module]]:
    """``named_modules`` with children first, each instance once."""
    seen: set[int] = set()

    def visit(module: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
        if id(module) in seen:
            return
        seen.add(id(module))
        for name, child in module.named_children():
            yield from visit(child, f"{prefix}.{name}" if prefix else name)
        yield prefix, module

    yield from visit(model, path)
