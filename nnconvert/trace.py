"""Model -> ``torch.fx`` graph, with the example value of every node in ``node.meta``.

Two tracers, tried in order:

1. plain symbolic tracing (``torch.fx.Tracer``): fast, and every shape stays
   symbolic;
2. when that fails -- typically because Python code iterates over ``x.size()``,
   calls ``len()``/``int()`` on a traced value or branches on it, as the
   tutorial LeNet's ``num_flat_features`` does -- a *concrete* tracer that
   records the same graph while running the model on the example inputs, and
   answers those Python-level questions from the real values. Shape arithmetic
   then becomes constants (``x.view(-1, 400)``); ``x.size(0)`` used directly in
   a call still stays symbolic. Branching on tensor *data* is refused.

An input whose example value is None (``targets=None``) is traced as None
(fx's ``concrete_args``), so ``if targets is not None:`` takes the branch the
example takes; the graph keeps the input, with its default, and a guard
(``_assert_is_none``) that refuses a value the trace never saw. Whether the
trace branched on ``self.training`` is recorded in
``GraphModule.meta[BRANCHES_ON_TRAINING]``: such a module is traced in the
other mode too (:mod:`nnconvert.hierarchy`).

Standard ``torch.nn`` layers are leaves (one ``call_module`` node each);
so is every module for which the caller's ``keep`` predicate holds (the
hierarchy keeps user-defined blocks as calls); the rest is traced through.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
from typing import Any, Iterable, Sequence

import torch
from torch import fx, nn

from torch.fx._symbolic_trace import _assert_is_none

from .branches import expect, expect_none
from .guard_messages import argument_message
from .attributes import traced_values_undone
from .copying import copy_sharing_parameters
from .errors import ConversionError
from .example_values import clone_inputs, mutable, to_meta
from .tracers import ConcreteTracer, KeepPredicate, ModelTracer, needs_own_root
from .python_random import python_draws_refused

#: ``GraphModule.meta`` key: the trace answered ``if self.training:`` (or the like).
BRANCHES_ON_TRAINING = "branches_on_training"

#: ``id(module)`` -> what the module returned when the model ran on the example
#: inputs, for modules called exactly once then (``hierarchy.capture_inputs``).
KnownOutputs = dict[int, Any]


class CallInputs(tuple):
    """The inputs of one call: ``forward``'s named parameters, then those passed by keyword.

    ``keywords`` names the last ``len(keywords)`` values: what the call
    passed into ``**kwargs`` (or to keyword-only parameters). The traced
    block takes them as inputs of those names.
    """

    keywords: tuple[str, ...]

    def __new__(cls, values: Sequence[Any], keywords: Sequence[str]) -> "CallInputs":
        inputs = super().__new__(cls, values)
        inputs.keywords = tuple(keywords)
        return inputs


def keywords_of(inputs: Sequence[Any]) -> tuple[str, ...]:
    """The names of the keyword-passed inputs at the end of ``inputs`` (none for a plain tuple)."""
    return getattr(inputs, "keywords", ())


def call_with(module: nn.Module, inputs: Sequence[Any], keywords: Sequence[str]) -> Any:
    """Call ``module`` on captured ``inputs`` by keyword, as models call their blocks.

    Positional-only parameters by position; the last ``len(keywords)``
    inputs by ``keywords``. By keyword because Hugging Face's decorators
    (``@merge_with_config_defaults``) add keywords of their own and clash
    with the same argument given by position.
    """
    split = len(inputs) - len(keywords)
    parameters = forward_parameters(module)[:split]
    only = inspect.Parameter.POSITIONAL_ONLY
    first = sum(1 for p in parameters if p.kind is only)
    named = {
        p.name: v
        for p, v in zip(parameters[first:], inputs[first:split])
        if not (v is None and p.default is None)  # left out, as callers do
    }
    named.update(zip(keywords, inputs[split:]))
    return module(*inputs[:first], *inputs[len(parameters) : split], **named)


def trace(
    model: nn.Module,
    example_inputs: Sequence[Any],
    keep: KeepPredicate | None = None,
    keywords: Sequence[str] = (),
    known: KnownOutputs | None = None,
) -> fx.GraphModule:
    """Trace ``model`` and attach ``node.meta["value"]`` computed on ``example_inputs``.

    Submodules for which ``keep`` holds stay ``call_module`` nodes. The last
    ``len(keywords)`` example inputs are passed by those keywords
    (:class:`CallInputs`). ``known``: kept submodules' outputs on these
    inputs, in this mode (see :func:`annotate`).
    """
    # Tracing runs forward on proxies: what forward stores on a module (RAFT's
    # ``self.corr_pyramid = ...``) and the constants fx parks on the root must
    # not stay in the user's model.
    attributes = [(m, dict(vars(m))) for m in model.modules()]
    keywords = tuple(keywords)
    absent = absent_inputs(model, example_inputs, keywords)
    constants = constant_inputs(model, example_inputs, keywords)
    try:
        with python_draws_refused(type(model).__name__):
            graph, branches_on_training = _trace_graph(
                model, example_inputs, keep, {**absent, **constants}, keywords
            )
        unread = unread_inputs(model, [n for n in absent if n not in keywords])
        _restore_input_names(graph, absent, unread)
        _restore_constant_inputs(graph, constants)
        module = fx.GraphModule(model, graph, class_name=type(model).__name__)
    finally:
        for submodule, saved in attributes:
            vars(submodule).clear()
            vars(submodule).update(saved)
    module.meta[BRANCHES_ON_TRAINING] = branches_on_training
    annotate(module, example_inputs, known)
    return module


def forward_parameters(model: nn.Module) -> list[inspect.Parameter]:
    """``forward``'s parameters that positional example inputs fill, in order.

    Those before a ``*args`` or ``**kwargs``; none if the signature cannot be read.
    """
    try:
        parameters = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return list(itertools.takewhile(lambda p: p.kind not in variadic, parameters))


def given_optional_inputs(
    model: nn.Module, example_inputs: Sequence[Any]
) -> list[tuple[int, str]]:
    """``(position, name)`` of each optional input (default None) the example gives.

    The conversion traces such a module with and without it; the check runs
    both.
    """
    return [
        (index, parameter.name)
        for index, (parameter, value) in enumerate(
            zip(forward_parameters(model), example_inputs)
        )
        if parameter.default is None and value is not None
    ]


def absent_inputs(
    model: nn.Module, example_inputs: Sequence[Any], keywords: Sequence[str] = ()
) -> dict[str, None]:
    """The inputs whose example value is None, as fx ``concrete_args``.

    Keyword-passed ones (``keywords``, the last inputs) included.
    """
    split = len(example_inputs) - len(keywords)
    named = [p.name for p in forward_parameters(model)]
    pairs = [
        *zip(named, example_inputs[:split]),
        *zip(keywords, example_inputs[split:]),
    ]
    return {name: None for name, value in pairs if value is None}


def constant_inputs(
    model: nn.Module, example_inputs: Sequence[Any], keywords: Sequence[str]
) -> dict[str, Any]:
    """Plain-number and flag inputs of a Hugging Face style ``forward``, as fx ``concrete_args``.

    Only for a ``forward`` traced through its own root (decorated, or taking
    ``**kwargs``): there ``logits_to_keep=0`` is tested with
    ``isinstance(logits_to_keep, int)``, which a proxy answers wrongly. The
    value the example gives is traced, and the output refuses another.
    """
    if not needs_own_root(type(model).forward, keywords):
        return {}
    split = len(example_inputs) - len(keywords)
    named = [p.name for p in forward_parameters(model)]
    pairs = [
        *zip(named, example_inputs[:split]),
        *zip(keywords, example_inputs[split:]),
    ]
    plain = (bool, int, float, str)
    return {name: value for name, value in pairs if type(value) in plain}


def _restore_constant_inputs(graph: fx.Graph, constants: dict[str, Any]) -> None:
    """Inputs traced as their example value keep their names, and refuse another value.

    fx names such an input ``logits_to_keep_1`` and checks it with
    ``torch._assert``; the output checks it with :func:`expect`.
    """
    if not constants:
        return
    _restore_input_names(graph, dict.fromkeys(constants), frozenset())
    for node in graph.nodes:
        if node.op == "call_function" and node.target is torch._assert:
            condition, _ = node.args
            name = str(getattr(condition, "args", ("",))[0])
            node.target = expect
            node.args = (condition, argument_message(name, constants.get(name)))


def _restore_input_names(
    graph: fx.Graph, absent: dict[str, None], unread: frozenset[str]
) -> None:
    """fx calls an input traced as None ``targets_1``: give it its own name back.

    fx also adds ``_assert_is_none``; it becomes :func:`expect_none` (the
    output refuses a value it was not traced with), except for inputs
    ``forward`` never reads (``unread``).
    """
    for node in graph.nodes:
        if node.op != "placeholder":
            continue
        name = str(node.target)
        original = name.rsplit("_", 1)[0]
        if original in absent and name == f"{original}_1":
            node.target = original
            node._rename(original)
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is _assert_is_none:
            placeholder, _ = node.args
            name = str(placeholder.target)
            if name in unread:
                graph.erase_node(node)  # any value is ignored alike: nothing to refuse
                continue
            node.target = expect_none
            node.args = (placeholder, _untraced_message(name))


def _untraced_message(name: str) -> str:
    return f"traced with {name}=None; convert again with an example {name}"


def forward_definition(
    model: nn.Module,
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """``forward``'s definition, parsed from its source (None without one).

    A module that runs a function of the user's (the functional front end's
    wrapper: its ``function``) is that function's.
    """
    code = getattr(model, "function", None)
    if not inspect.isfunction(code):
        code = type(model).forward
    try:
        source = textwrap.dedent(inspect.getsource(code))
        (function,) = ast.parse(source).body
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    return function


def unread_inputs(model: nn.Module, names: Iterable[str]) -> frozenset[str]:
    """Those of ``names`` that ``forward``'s source never mentions in its body.

    A module that runs a function of the user's (the functional front end's
    wrapper: its ``function``) is read from that function. Without the
    source nothing is known to be unread.
    """
    function = forward_definition(model)
    if function is None:
        return frozenset()
    read = {
        node.id
        for statement in function.body
        for node in ast.walk(statement)
        if isinstance(node, ast.Name)
    }
    return frozenset(name for name in names if name not in read)


def _trace_graph(
    model: nn.Module,
    example_inputs: Sequence[Any],
    keep: KeepPredicate | None,
    absent: dict[str, None],
    keywords: tuple[str, ...],
) -> tuple[fx.Graph, bool]:
    concrete_args = absent or None
    # ``self.attn_mask = self.attn_mask.to(x.dtype)`` in forward (OpenAI's
    # CLIP) leaves a proxy on the module: undone, the graph reads the tensor
    try:
        tracer = ModelTracer(keep, keywords)
        with traced_values_undone(model):
            graph = tracer.trace(model, concrete_args)
        return graph, tracer.branched_on_training
    except Exception as symbolic_error:
        try:
            tracer = ConcreteTracer(example_inputs, keep, keywords)
            with traced_values_undone(model):
                graph = tracer.trace(model, concrete_args)
            return graph, tracer.branched_on_training
        except ConversionError:
            raise
        except Exception as error:
            raise ConversionError(
                f"cannot trace {type(model).__name__}: {_describe(error)}"
                f" (symbolic tracing failed first: {_describe(symbolic_error)})"
                + "".join(f"; {hint}" for hint in _unregistered_modules(model))
            ) from error


def _unregistered_modules(model: nn.Module) -> list[str]:
    """What explains a failed trace: modules kept in a plain list, tuple or dict.

    WaveNet's ``self.res_blocks = [ResidualBlock(...) for ...]``: torch
    registers no module held so, its weights are no part of the model's
    ``state_dict``, and fx stops at the first of them it meets ("parameter
    is not a member of this module").
    """
    found = []
    for path, module in model.named_modules():
        for name, value in vars(module).items():
            if not isinstance(value, (list, tuple, dict)) or name.startswith("_"):
                continue
            items = value.values() if isinstance(value, dict) else value
            held = [type(v).__name__ for v in items if isinstance(v, nn.Module)]
            if held:
                owner = f"{type(module).__name__}.{name}"
                kind = type(value).__name__
                replacement = "nn.ModuleDict" if kind == "dict" else "nn.ModuleList"
                found.append(
                    f"{owner}{f' (at {path!r})' if path else ''} is a plain {kind} holding "
                    f"{len(held)} module(s) ({', '.join(dict.fromkeys(held))}): torch "
                    f"does not register them, so their weights are not the model's; "
                    f"hold them in an {replacement}"
                )
    return found


def annotate(
    module: fx.GraphModule,
    example_inputs: Sequence[Any],
    known: KnownOutputs | None = None,
) -> None:
    """Store each node's example value (tensors as ``meta`` tensors) in ``node.meta["value"]``.

    ``known`` holds what some submodules returned when the model ran on the
    inputs that gave ``example_inputs``, in the same mode: a ``call_module``
    node of one (the only node calling it) takes that result instead of
    running the block again -- a ResNet's root graph would otherwise run the
    whole network once more. Only shapes and dtypes are kept, and those are
    the same however often the block runs.

    Runs a copy, so that BatchNorm statistics, in-place ops on buffers and
    what ``forward`` stores on ``self`` are left alone; the parameters are
    shared (:func:`~.copying.copy_sharing_parameters`). Running on ``meta``
    tensors instead was measured and rejected: most meta kernels are Python
    decompositions, 10x slower than the real op on a trace's small tensors.
    """
    results = _known_results(module, known or {})
    shadow = copy_sharing_parameters(module)
    recorder = _ValueRecorder(shadow, results)
    with torch.no_grad():
        try:
            recorder.run(*clone_inputs(example_inputs))
        except Exception as error:
            raise ConversionError(
                f"the traced graph of {module.__class__.__name__} fails on the "
                f"example inputs: {_describe(error)}"
            ) from error
    values = {node.name: value for node, value in recorder.values.items()}
    for node in module.graph.nodes:
        if node.name in values:
            node.meta["value"] = values[node.name]


def _known_results(module: fx.GraphModule, known: KnownOutputs) -> dict[str, Any]:
    """``call_module`` target -> the known output of the one node that calls it."""
    calls: dict[str, int] = {}
    for node in module.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    results = {}
    for target, count in calls.items():
        submodule = id(module.get_submodule(target))
        if count == 1 and submodule in known:
            results[target] = known[submodule]
    return results


class _ValueRecorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule, results: dict[str, Any] | None = None):
        super().__init__(module)
        self.values: dict[fx.Node, Any] = {}
        self.results = results or {}

    def call_module(self, target: Any, args: tuple, kwargs: dict) -> Any:
        if target in self.results:
            return self.results[target]
        return super().call_module(target, args, kwargs)

    def fetch_args_kwargs_from_env(self, n: fx.Node) -> tuple[tuple, dict]:
        args, kwargs = super().fetch_args_kwargs_from_env(n)
        return mutable(args), mutable(kwargs)

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        self.values[n] = to_meta(result)
        return result


def _describe(error: BaseException) -> str:
    """``TypeError: <first sentence>``: fx appends paragraphs of general advice."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    sentence, dot, rest = first.partition(". ")
    return f"{type(error).__name__}: {sentence + '.' if dot and rest else first}"
