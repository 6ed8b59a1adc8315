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

A module whose Python decides what runs is traced once per answer and the
traces merged into one graph (:func:`traced`): a module that branches on
``self.training`` in train and in eval mode; a module given an optional
input (``targets``, default None) with it and without it.

The input is a :class:`~nnconvert.frontend.ModelInput`, whatever front end
read it; what the front end recognised is copied onto each :class:`Instance`
as data.
"""

from __future__ import annotations

import copy
import inspect
import operator
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch import fx, nn

from .flags import (
    FLAGS_MERGED,
    flag_condition,
    flipped_flags,
    mark_flag_tests,
    without_flag_guards,
    without_refusals,
)
from .forward_calls import forward_calls_are_calls
from .attributes import attributes_restored
from .block_purity import BlockFacts, computes_only_its_result, pure_calls
from .branches import expect_none
from .copying import copy_model
from .delegated_bodies import as_own_lines, whole_bodies
from .errors import ConversionError
from .example_values import clone_inputs
from .frontend import ModelInput, model_input
from .helper_origins import ancestry
from .leaves import is_leaf, mark_leaves
from .merge import merge_traces
from .module_kinds import is_defined_class
from .modes import modes_kept
from .options import Style
from .passes.graph_utils import TRAINING_ATTRIBUTE
from .passes.unrolled import counted_loop_over
from .range_counts import (
    STEPPED_COUNTS,
    STEPS,
    few_steps_counted,
    with_argument,
    with_loop_steps,
)
from .source_map import statement_line
from .source_text import submodule_method_calls
from .traced_inputs import borrowed_from_siblings, inputs_from_parent
from .tracers import unwritable_message
from .trace_sharing import TraceKeys, retargeted, shareable
from .trace import (
    BRANCHES_ON_TRAINING,
    CallInputs,
    KnownOutputs,
    call_with,
    given_optional_inputs,
    keywords_of,
    trace,
)

#: A module given at most this many optional inputs is traced without every
#: subset of them: given ``xa`` and ``mask``, also without both, the path a
#: block given neither takes. With more, without each one alone (the others
#: given), which leaves the paths without several of them to the merge.
EVERY_SUBSET_UP_TO = 3


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


#: The trace every module gets: eval-mode branches, the inputs as the example gives them.
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
    one the passes and the printer use: the traces merged, with their
    differences as branches (the :data:`EVAL_TRACE` itself when it is the
    only one).
    ``source_map`` maps node names of ``graph`` to the line of the user's
    source they come from (empty for a model without source; the nodes'
    own record, with names, is in ``node.meta``: :mod:`.source_map`). ``built_attributes`` are the
    attributes a front end built rather than found declared
    (``ModelInput.built_paths`` relative to this instance): class styles
    place them where first used. ``ancestry``: (path, module) from the root
    down to this one, for what the parents' ``__init__`` say about what they
    handed it (:mod:`.helper_origins`).
    """

    path: str  # "" for the root, "layer1.0" for a block inside it
    module: nn.Module
    graphs: dict[TraceVariant, fx.GraphModule]
    source_map: dict[str, SourceLocation] = field(default_factory=dict)
    built_attributes: frozenset[str] = frozenset()
    merged: fx.GraphModule | None = None
    ancestry: tuple[tuple[str, nn.Module], ...] = ()
    #: it computes nothing but its result (:mod:`.block_purity`), as its
    #: traces say: calls of it may be joined over chosen arguments
    pure: bool = False

    @property
    def graph(self) -> fx.GraphModule:
        """The graph the passes rewrite and the printer writes."""
        return self.merged if self.merged is not None else self.graphs[EVAL_TRACE]


def trace_instances(
    model: nn.Module | ModelInput,
    example_inputs: Sequence[Any],
    style: Style,
    step_counts: bool = True,
) -> list[Instance]:
    """The root and every user-defined submodule, traced; children before parents.

    ``step_counts``: a loop over a plain int argument that ran less than
    twice is traced again with steps (:func:`traced`); a block only its
    steps call is traced with what a run with those steps gives it.
    """
    read = model_input(model)
    model = read.module
    # third-party layers stay calls (leaves), run in both modes on what they receive
    mark_leaves(model, lambda leaves: capture_inputs(model, example_inputs, leaves))
    outputs: KnownOutputs = {}  # blocks' outputs: the parents' annotation reuses them
    inputs = capture_inputs(model, example_inputs, outputs=outputs)
    stepped = with_loop_steps(model, example_inputs) if step_counts else example_inputs
    if stepped is not example_inputs:  # blocks that only a loop's steps call
        for key, more in capture_inputs(model, stepped).items():
            inputs.setdefault(key, more)
    # instances of one class traced on the optional inputs any of them was given
    borrowed = borrowed_from_siblings(
        [m for _, m in model.named_modules() if m is not model and is_defined_class(m)],
        inputs,
        lambda module, more: _runs(module, more, ()),
        EVERY_SUBSET_UP_TO,
    )
    inputs.update(borrowed)
    functional = style is Style.FUNCTIONAL
    # the Sequentials called as a whole: functions of their own in functional
    # style, but for one that is its block's whole ``forward`` (:mod:`.delegated_bodies`)
    bodies = whole_bodies(model) if functional else set()
    called = {
        id(m)
        for _, m in model.named_modules()
        if type(m) is nn.Sequential and id(m) in inputs and id(m) not in bodies
    }

    def keep(module: nn.Module) -> bool:
        return (
            is_defined_class(module)
            or is_leaf(module)
            or (
                type(module) is nn.Sequential
                and (not functional or id(module) in called)
            )
        )

    def defined(module: nn.Module) -> bool:
        return is_defined_class(module) or (functional and id(module) in called)

    keys = TraceKeys(keep)
    first_traced: dict[tuple, Instance] = {}  # by key: the instance traced for it
    pure: set[int] = set()  # the blocks traced so far that compute only their result

    def known_pure(module: nn.Module) -> bool:
        return id(module) in pure

    def instance(path: str, module: nn.Module, share: bool = True) -> Instance:
        key = keys.key(module, inputs[id(module)]) if path else None  # root: one
        twin = first_traced.get(key) if path and share else None
        shared = _shared_graphs(twin, module) if twin is not None else None
        try:
            known = None if id(module) in borrowed else outputs  # of the model's run
            graphs, merged = shared or traced(
                module,
                inputs[id(module)],
                keep,
                known,
                known_pure,
                step_counts,
                flags=not path,
            )
        except ConversionError as error:  # say which block, as well as where
            if not path:
                raise
            raise ConversionError(
                f"block {path!r} ({type(module).__qualname__}): {error}"
            ) from error
        own = {id(g): g for g in [*graphs.values(), merged]}.values()
        as_own_lines(own, _children_in(module, bodies))
        for graph in own:
            graph.meta["original"] = module
            if path and type(module) is nn.Sequential:
                _name_input(graph.graph, "x")  # Sequential.forward's is ``input``
        if computes_only_its_result([*graphs.values(), merged], known_pure):
            pure.add(id(module))
        else:
            pure.discard(id(module))
        built = _attributes_under(read.built_paths, path)
        single = len(graphs) == 1 and not merged.meta.get(FLAGS_MERGED)
        located = _source_locations(merged)
        made = Instance(
            path,
            module,
            graphs,
            located,
            built,
            None if single else merged,
            ancestry(model, path),
            id(module) in pure,
        )
        if path and twin is None and all(map(shareable, [*graphs.values(), merged])):
            first_traced[key] = made
        return made

    instances = []
    for path, module in _post_order(model):
        if path and not defined(module):
            continue
        if id(module) not in inputs:
            if any(True for _ in module.state_dict()):
                raise ConversionError(_uncalled_message(model, path, module))
            continue
        instances.append(instance(path, module))
    # parents first: a block the traced parent hands more than the model did
    # is traced again with it (:mod:`.traced_inputs`), then its own blocks
    blocks = {id(i.module): i.module for i in instances if i.path}
    where = {id(i.module): index for index, i in enumerate(instances)}
    impure_now: set[int] = set()  # blocks pure when their callers merged, no longer
    for index in reversed(range(len(instances))):
        parent = instances[index]
        graph, given = parent.graphs[EVAL_TRACE], inputs[id(parent.module)]
        for key, more in inputs_from_parent(
            graph, given, inputs, blocks, _positional
        ).items():
            inputs[key] = more
            child = instances[where[key]]
            was_pure = key in pure
            instances[where[key]] = instance(child.path, child.module)
            if was_pure and key not in pure:
                impure_now.add(key)
    # a caller's merge may have joined calls of such a block: traced again
    for index, made in enumerate(instances):  # children first
        if impure_now and _calls_any(made, impure_now):
            was_pure = id(made.module) in pure
            instances[index] = instance(made.path, made.module, share=False)
            if was_pure and id(made.module) not in pure:
                impure_now.add(id(made.module))
    return instances


def _children_in(module: nn.Module, chosen: set[int]) -> list[str]:
    """The names of ``module``'s direct children whose ``id`` is in ``chosen``."""
    return [name for name, child in module.named_children() if id(child) in chosen]


def _calls_any(made: Instance, modules: set[int]) -> bool:
    """One of ``made``'s graphs calls a block of ``modules`` (by ``id``)."""
    return any(
        node.op == "call_module"
        and id(graph.get_submodule(str(node.target))) in modules
        for graph in [*made.graphs.values(), made.graph]
        for node in graph.graph.nodes
    )


def _shared_graphs(
    twin: Instance, module: nn.Module
) -> tuple[dict[TraceVariant, fx.GraphModule], fx.GraphModule] | None:
    """What :func:`traced` gives ``module``, copied from ``twin``'s (same :class:`TraceKeys` key).

    None when a copy cannot stand in (a constant fx parked on the traced
    instance, which ``module`` does not hold): then ``module`` is traced.
    """
    copies: dict[int, fx.GraphModule] = {}
    try:
        for graph in [*twin.graphs.values(), twin.graph]:
            if id(graph) not in copies:
                copies[id(graph)] = retargeted(graph, module)
    except AttributeError:
        return None
    graphs = {variant: copies[id(g)] for variant, g in twin.graphs.items()}
    return graphs, copies[id(twin.graph)]


def traced(
    module: nn.Module,
    inputs: tuple[Any, ...],
    keep: Any,
    outputs: KnownOutputs | None = None,
    pure_block: BlockFacts = lambda module: False,
    step_counts: bool = True,
    flags: bool = False,
) -> tuple[dict[TraceVariant, fx.GraphModule], fx.GraphModule]:
    """Every trace ``module`` needs, and their merge.

    One trace in eval mode with the inputs as given; where it branched on
    ``self.training``, one in train mode too; where a ``for`` counted to a
    plain int argument that ran it less than twice (and ``step_counts``),
    the same with :data:`~nnconvert.range_counts.STEPS` steps instead, if
    they make a loop (:mod:`.range_counts`; the merged graph's
    ``meta[STEPPED_COUNTS]`` names those arguments); for each optional input
    (default None) the example gives, the same again without it. The merge
    (:func:`~nnconvert.merge.merge_traces`) joins them one difference at a
    time: ``if self.training:`` inside ``if targets is not None:``.
    ``outputs``: what the model's run gave for its blocks (``capture_inputs``),
    valid for the eval trace on these inputs only: that trace's annotation
    takes its kept blocks' results from there instead of running them again.
    ``pure_block`` says which of the blocks it calls compute only their
    result (:mod:`.block_purity`): the merge may join their calls.
    ``flags`` (the root): each ``bool`` argument a branch tested is traced
    flipped too, with all of the above, and merged under it (:mod:`.flags`).
    """
    keywords = keywords_of(inputs)
    optional = given_optional_inputs(module, inputs)
    given = frozenset(name for _, name in optional)
    graphs: dict[TraceVariant, fx.GraphModule] = {}
    record = graphs  # where each trace is kept: a flipped flag's, nowhere

    def in_both_modes(
        inputs: tuple[Any, ...], given: frozenset[str], known: KnownOutputs | None
    ):
        eval_graph = trace(module, inputs, keep, keywords, known)
        record[TraceVariant(False, given)] = eval_graph
        if not eval_graph.meta[BRANCHES_ON_TRAINING]:
            return eval_graph
        with modes_kept(module):
            module.train()
            train_graph = trace(module, inputs, keep, keywords)
        record[TraceVariant(True, given)] = train_graph
        return merge_traces(
            train_graph,
            eval_graph,
            _training_flag,
            primary=False,
            pure_blocks=pure_calls([train_graph, eval_graph], pure_block),
        )

    merged = in_both_modes(inputs, given, outputs)
    stepped: list[str] = []
    # ``for i in range(future):`` traced with ``future=0``: again with steps to see
    counters = few_steps_counted(graphs[TraceVariant(False, given)].graph)
    for counter in counters if step_counts else ():
        more = with_argument(module, inputs, counter, STEPS)
        if more is None or not _runs(module, more, keywords):
            continue
        before = dict(graphs)
        trial = in_both_modes(more, given, None)
        if counted_loop_over(trial.graph, counter):
            inputs, merged = more, trial
            stepped.append(counter)
        else:  # copies not alike: the first trace and its guard stay
            graphs.clear()
            graphs.update(before)
    every_subset = len(optional) <= EVERY_SUBSET_UP_TO

    def dropping(
        merged: fx.GraphModule,
        inputs: tuple[Any, ...],
        given: frozenset[str],
        remaining: Sequence[tuple[int, str]],
    ) -> fx.GraphModule:
        """``merged`` (traced on ``inputs``) joined with the traces without each of ``remaining``."""
        if not remaining:
            return merged
        (index, name), rest = remaining[-1], remaining[:-1]
        merged = dropping(merged, inputs, given, rest)
        without = inputs[:index] + (None,) + inputs[index + 1 :]
        if not _runs(module, without, keywords):
            return merged  # ``input_ids`` or ``inputs_embeds``: the block needs one
        fewer = given - {name}
        other = in_both_modes(without, fewer, None)
        other = dropping(other, without, fewer, rest if every_subset else ())
        other = _expecting_any(other, name)
        return merge_traces(
            merged,
            other,
            _given(name),
            primary=True,
            pure_blocks=pure_calls([merged, other], pure_block),
        )

    merged = dropping(merged, inputs, given, optional)
    for name, value, flipped in (
        flipped_flags(module, inputs, merged.graph) if flags else ()
    ):
        if not _runs(module, flipped, keywords):
            continue
        record = {}
        try:
            other = dropping(
                in_both_modes(flipped, given, None), flipped, given, optional
            )
            sides = [without_flag_guards(g, name) for g in (other, merged)]
            if not value:  # the example set the flag: the flipped trace is False's
                sides.reverse()
            joined = merge_traces(
                *sides,
                flag_condition(name),
                primary=not value,  # the example's answer
                pure_blocks=pure_calls(sides, pure_block),
            )
        except Exception:  # another path that does not merge: the flag stays refused
            continue
        mark_flag_tests(joined, name, merged)
        merged = joined
        merged.meta[FLAGS_MERGED] = True  # one trace, but the merge is the code
    graphs[EVAL_TRACE] = graphs[TraceVariant(False, given)]
    if len(graphs) == 2:  # the eval trace under both keys: one trace
        graphs = {EVAL_TRACE: graphs[EVAL_TRACE]}
    merged.meta[STEPPED_COUNTS] = tuple(stepped)
    return graphs, merged


def _runs(module: nn.Module, inputs: tuple[Any, ...], keywords: Sequence[str]) -> bool:
    """``module`` (a copy, in eval mode) accepts ``inputs``.

    An optional input the block cannot do without on this call (Hugging
    Face's ``input_ids=None`` with no ``inputs_embeds`` either) has no
    second path to trace: the output keeps the one the example takes, and
    fails without the input as the original does.
    """
    try:
        with torch.no_grad(), attributes_restored(module):
            call_with(copy_model(module).eval(), clone_inputs(inputs), keywords)
    except Exception:
        return False
    return True


def _expecting_any(module: fx.GraphModule, name: str) -> fx.GraphModule:
    """A copy of a trace made without input ``name``, minus its refusal of a value."""
    return without_refusals(
        module,
        lambda node: node.op == "call_function"
        and node.target is expect_none
        and getattr(node.args[0], "target", None) == name,
    )


def _training_flag(graph: fx.Graph, inputs: dict[str, fx.Node]) -> fx.Node:
    """``self.training``, as the tracers record it."""
    if TRAINING_ATTRIBUTE in inputs:
        return inputs[TRAINING_ATTRIBUTE]
    return graph.get_attr(TRAINING_ATTRIBUTE)


def _given(name: str):
    """``name is not None``, for the input ``name``."""

    def condition(graph: fx.Graph, inputs: dict[str, fx.Node]) -> fx.Node:
        return graph.call_function(operator.is_not, (inputs[name], None))

    return condition


def _uncalled_message(model: nn.Module, path: str, module: nn.Module) -> str:
    """Why a submodule holding tensors that ``forward`` never called cannot be converted.

    A block is converted by tracing its calls. gpt-fast's ``KVCache`` is never
    called: ``Attention.forward`` runs its method ``update``, which is said
    with its line.
    """
    names = list(module.state_dict())
    held = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if names[3:] else "")
    what = f"submodule {path!r} ({type(module).__qualname__}) holds tensors ({held})"
    parent_path, _, attribute = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    uses = submodule_method_calls(type(parent), attribute)
    if not uses:
        return f"{what} but is never called by forward on the example inputs"
    file, line, method = uses[0]
    return (
        f"{file}:{line}: {what} but is only used through its method {method}() "
        f"(self.{attribute}.{method}(...)); nnconvert converts a submodule by "
        "tracing its calls, not calls of its other methods"
    )


def _source_locations(graph: fx.GraphModule) -> dict[str, SourceLocation]:
    """Node name -> the line of the module's own function it was made on (the tracer's record)."""
    located = {}
    for node in graph.graph.nodes:
        frame = statement_line(node)
        if frame is not None:
            located[node.name] = SourceLocation(frame.file, frame.line, frame.function)
    return located


def _attributes_under(paths: frozenset[str], path: str) -> frozenset[str]:
    """The attribute names of the module at ``path`` that ``paths`` name."""
    prefix = f"{path}." if path else ""
    names = (p[len(prefix) :] for p in paths if p.startswith(prefix))
    return frozenset(name for name in names if "." not in name)


def capture_inputs(
    model: nn.Module,
    example_inputs: Sequence[Any],
    modules: Iterable[nn.Module] | None = None,
    outputs: dict[int, Any] | None = None,
) -> dict[int, tuple[Any, ...]]:
    """The positional inputs each module receives first, by running the model once.

    ``modules`` are the ones to watch (default: the model, its user-defined
    blocks and its ``nn.Sequential`` containers). The model's attributes are
    left as they were (:func:`~.attributes.attributes_restored`).
    ``outputs``, if given, receives the output of each watched module that
    was called exactly once (:data:`~.trace.KnownOutputs`).
    """
    captured: dict[int, tuple[Any, ...]] = {}
    calls: dict[int, int] = {}
    most_given: dict[int, int] = {}  # how many inputs the captured call gave
    returned: dict[int, Any] = {}

    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        calls[id(module)] = calls.get(id(module), 0) + 1
        given = _given_count(module, args, kwargs)
        if id(module) not in captured or given > most_given[id(module)]:
            # RegionViT calls one attention without ``rel_pos_bias``, then
            # with it: traced with it, and again without (:func:`traced`)
            captured[id(module)] = _positional(module, args, kwargs)
            most_given[id(module)] = given

    def output_hook(module: nn.Module, args: tuple, output: Any) -> None:
        if id(module) not in returned:  # as returned: the caller may change it after
            returned[id(module)] = _snapshot(output)

    if modules is None:
        modules = [
            m
            for m in model.modules()
            if m is model or is_defined_class(m) or type(m) is nn.Sequential
        ]
    modules = list(modules)
    handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for m in modules]
    if outputs is not None:
        handles += [m.register_forward_hook(output_hook) for m in modules]
    try:  # what forward caches on self is undone: tracing records how it is made
        with (
            torch.no_grad(),
            attributes_restored(model),
            forward_calls_are_calls(model),
        ):
            output = model(*clone_inputs(example_inputs))
    except Exception as error:
        raise ConversionError(
            f"{type(model).__name__} fails on the example inputs: "
            f"{type(error).__name__}: {' '.join(str(error).split())}"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
    unwritable = _unwritable_part(output)
    if unwritable is not None:  # say so now, not deep inside a block's trace
        raise ConversionError(unwritable_message(unwritable))
    if outputs is not None:
        outputs.update((k, v) for k, v in returned.items() if calls.get(k) == 1)
    return captured


def _unwritable_part(output: Any) -> Any:
    """A part of the model's output that generated code cannot build (a cache object), or None."""
    if isinstance(output, (dict, tuple, list)):
        for value in output.values() if isinstance(output, dict) else output:
            found = _unwritable_part(value)
            if found is not None:
                return found
        return None
    plain = (torch.Tensor, bool, int, float, complex, str, torch.dtype, torch.device)
    return None if output is None or isinstance(output, plain) else output


def _given_count(module: nn.Module, args: tuple, kwargs: dict) -> int:
    """How many of a call's inputs, defaults filled in, are not None."""
    try:
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return sum(value is not None for value in [*args, *kwargs.values()])
    bound.apply_defaults()
    return sum(value is not None for value in bound.arguments.values())


def _positional(module: nn.Module, args: tuple, kwargs: dict) -> tuple[Any, ...]:
    """Arguments in ``forward``'s parameter order, defaults filled in, tensors copied.

    What a call passes by keyword into ``**kwargs`` (or to keyword-only
    parameters) follows, as :class:`~nnconvert.trace.CallInputs` that name
    them: Hugging Face blocks hand ``position_ids=...`` on that way, and
    dropping it would trace a different call than the one the model makes.
    """
    signature = inspect.signature(module.forward)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return clone_inputs(args)
    bound.apply_defaults()
    named: list[Any] = []
    keywords: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                return clone_inputs(args)  # a ``*args`` call: positional, as made
        elif kind is inspect.Parameter.VAR_KEYWORD:
            keywords.update(value)
        elif kind is inspect.Parameter.KEYWORD_ONLY:
            keywords[name] = value
        else:
            named.append(value)
    values = clone_inputs(tuple(named) + tuple(keywords.values()))
    return CallInputs(values, tuple(keywords)) if keywords else values


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
        if is_leaf(module):
            return  # an opaque call: nothing inside it is converted
        for name, child in module.named_children():
            yield from visit(child, f"{prefix}.{name}" if prefix else name)
        yield prefix, module

    yield from visit(model, path)


def _snapshot(value: Any) -> Any:
    """``value`` as a block returned it, safe from what its caller does next.

    A parent may change a block's output in place (``out += identity``) or
    rebind its fields (CLIP's ``text_outputs.pooler_output = projection``):
    the copy keeps tensors' values and containers' classes (a ``ModelOutput``
    stays one).
    """
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*(_snapshot(v) for v in value))
    if type(value) in (tuple, list):
        return type(value)(_snapshot(v) for v in value)
    if isinstance(value, dict):
        copied = copy.copy(value)
        for key, item in value.items():
            copied[key] = _snapshot(item)
        return copied
    return copy.copy(value) if hasattr(value, "__dict__") else value
