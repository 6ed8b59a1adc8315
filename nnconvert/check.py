"""The equivalence checker: run original and rewrite side by side.

A conversion is only done when the rewrite computes what the original
computes, with the original's weights: every output, and in train mode every
buffer after a step and every gradient, within the tolerances.

Checks, in this order, each a :class:`CheckResult` in the report:

* eval mode on the example inputs;
* eval mode on a second batch size (one more than the example's), when the
  original accepts it -- a shape frozen to the traced batch fails here;
* eval mode on inputs of another non-batch shape (:func:`other_shapes`),
  when the original accepts one -- skipped where the rewrite's shape guard
  refuses it, which it says;
* eval mode without each optional input the example gives (``targets``,
  default None), so that both sides of ``if targets is not None:`` run;
* train mode, when asked: outputs under the same RNG seed, every buffer after
  the step (BatchNorm statistics, ``num_batches_tracked``), every parameter
  after it (``nn.Embedding(max_norm=...)`` renormalises its weight) and the gradient of
  a scalar loss with respect to every parameter;
* eval and (when asked) train mode with each plain int argument that a
  ``for ... in range(argument):`` counts to at other counts (its default,
  0, the traced steps, 5: :func:`other_counts`), when the original accepts
  them -- skipped where the rewrite's guard refuses the count, which it says.

Comparisons use ``torch.testing.assert_close``; the report keeps the largest
absolute and relative error of every compared tensor. A float32 tensor that
misses the tolerances is judged again against a float64 run of the original
(:func:`within_rounding`): rounding in another order passes, a wrong value
does not.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils._pytree import tree_flatten, tree_map, tree_structure, tree_unflatten

from .branches import SHAPE_GUARD_MESSAGE
from .copying import copy_model
from .errors import CheckError
from .flags import flag_values
from .reporting import one_line
from .trace import given_optional_inputs
from .range_counts import (
    CHECKED_COUNTS,
    argument_value,
    counting_arguments,
    with_argument,
)
from .options import Tolerances
from .stored_attributes import written_only
from .ties import canonical_keys
from .example_values import clone_inputs
from .errors import InputError

SEED = 0


@dataclass(frozen=True)
class Difference:
    """How far one compared tensor (or value) is from the original's."""

    what: str
    max_abs: float
    max_rel: float
    #: beyond the tolerances, but within float32 rounding of a float64 run
    #: of the original (:func:`within_rounding`)
    by_rounding: bool = False


@dataclass(frozen=True)
class CheckResult:
    """One check that ran and passed."""

    label: str
    differences: tuple[Difference, ...]

    @property
    def max_abs(self) -> float:
        return max((d.max_abs for d in self.differences), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((d.max_rel for d in self.differences), default=0.0)


@dataclass(frozen=True)
class CheckReport:
    """Every check that ran, and every check that could not run with the reason."""

    results: tuple[CheckResult, ...]
    skipped: tuple[str, ...] = ()

    @property
    def max_abs(self) -> float:
        return max((r.max_abs for r in self.results), default=0.0)

    def __str__(self) -> str:
        lines = [
            f"ok    {r.label}: max abs error {r.max_abs:.3g}, max rel error {r.max_rel:.3g}"
            + _rounding_note(r)
            for r in self.results
        ]
        lines += [f"skip  {reason}" for reason in self.skipped]
        return "\n".join(lines)


def _rounding_note(result: CheckResult) -> str:
    """Which tensors passed only against the float64 run, for the report line."""
    rounded = [d.what for d in result.differences if d.by_rounding]
    if not rounded:
        return ""
    return (
        f" ({', '.join(rounded)} beyond the tolerances, but no further from a "
        "float64 run of the original than its own float32 rounding)"
    )


@dataclass
class Candidate:
    """The rewritten code, runnable like the original.

    ``run(inputs, training)`` calls it; ``buffers()`` and ``parameters()``
    give its tensors by ``state_dict`` key (for the train-mode comparison).
    """

    run: Callable[[Sequence[Any], bool], Any]
    buffers: Callable[[], dict[str, torch.Tensor]]
    parameters: Callable[[], dict[str, torch.Tensor]] = field(default=lambda: {})
    #: the whole train step at once, for a rewrite that runs in another process
    #: (:mod:`nnconvert.isolation`); None: :func:`train_step` drives the above
    train_step: Callable[[Sequence[Any]], "TrainStep"] | None = None
    #: what a call left under a name ``forward`` stores for the caller
    #: (``self.last_loss``, :mod:`nnconvert.stored_attributes`); None: not compared
    stored: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class TrainStep:
    """What one train-mode step of the rewrite gives, for the comparison with the original.

    ``gradients`` holds every parameter's (by ``state_dict`` key) and every
    floating input's (``"input 0"``), after ``backward`` of :func:`_scalar_loss`.
    """

    outputs: Any
    buffers: dict[str, torch.Tensor]
    parameters: dict[str, torch.Tensor]
    gradients: dict[str, Any]


class RewriteFailed(Exception):
    """The rewrite raised where it ran (another process): its exception's type name and text."""

    def __init__(self, type_name: str, message: str):
        super().__init__(message)
        self.type_name = type_name


@dataclass(frozen=True)
class FlatOutput:
    """An output that came back from another process as leaves and the text of its structure.

    A structure of the rewrite's own classes cannot be rebuilt safely in the
    checker's process; :func:`compare` compares its text with the original's.
    """

    leaves: list[Any]
    structure: str


def module_candidate(module: nn.Module) -> Candidate:
    """A module-style or mixed-style rewrite, already holding the original weights."""

    def run(inputs: Sequence[Any], training: bool) -> Any:
        module.train(training)
        return module(*inputs)

    return Candidate(
        run,
        lambda: dict(module.named_buffers()),
        lambda: dict(module.named_parameters()),
        stored=lambda name: getattr(module, name, None),
    )


def function_candidate(function: Callable, model: nn.Module) -> Candidate:
    """A functional rewrite over a copy of ``model``'s ``state_dict``.

    Every key gets its own copy, tied ones too: a ``torch.func`` transform
    over the dict sees one leaf per key the same way. So a rewrite must read
    a tied tensor under one key (its first, the one ``named_parameters()``
    gives) for its gradient, compared under that key, to sum every use.
    """
    params = {k: v.clone() for k, v in model.state_dict().items()}
    parameter_names = [k for k, _ in model.named_parameters()]
    buffer_names = [k for k, _ in model.named_buffers() if k in params]
    takes_training = "training" in inspect.signature(function).parameters

    def run(inputs: Sequence[Any], training: bool) -> Any:
        if takes_training:
            return function(params, *inputs, training=training)
        return function(params, *inputs)

    return Candidate(
        run,
        lambda: {k: params[k] for k in buffer_names},
        lambda: {k: params[k] for k in parameter_names},
        stored=params.get,  # a functional root stores into its dict
    )


def check_equivalent(
    original: nn.Module,
    make_candidate: Callable[[nn.Module], Candidate],
    example_inputs: Sequence[Any],
    tolerances: Tolerances = Tolerances(),
    *,
    train: bool = False,
) -> CheckReport:
    """Compare ``original`` and the rewrite; raise CheckError on the first difference.

    ``make_candidate`` builds a fresh rewrite from a model's current weights,
    so every check starts from the same state. Both sides run under one seed
    (the caller's random state is restored afterwards).
    """
    with torch.random.fork_rng(devices=[]):
        return _check_equivalent(
            original, make_candidate, example_inputs, tolerances, train
        )


#: The label of each eval run on another input shape (:func:`other_shapes`).
OTHER_SHAPE = "eval, other input shape"

#: What follows a skipped run's label when the rewrite's shape guard refused it.
GUARD_REFUSES = ": the rewrite's shape guard refuses it"


def _check_equivalent(
    original, make_candidate, example_inputs, tolerances, train
) -> CheckReport:
    results: list[CheckResult] = []
    skipped: list[str] = []
    batch = _batch_size(example_inputs)
    eval_inputs = [(f"eval, example inputs (batch {batch})", tuple(example_inputs))]
    if batch is None:
        skipped.append("second batch size: the example inputs have no batch dimension")
    else:
        other = resize_batch(example_inputs, batch + 1)
        reference = _try_run(original, other)
        if isinstance(reference, Exception):
            skipped.append(
                f"batch {batch + 1}: the original rejects it "
                f"({type(reference).__name__}: {str(reference).splitlines()[0] if str(reference) else ''})"
            )
        else:
            eval_inputs.append((f"eval, batch {batch + 1}", other))
    shapes = other_shapes(original, example_inputs)
    if not shapes:
        skipped.append(
            "other input shape: the original accepts none of the tried ones "
            "(last two dimensions doubled, last doubled, last halved, of every "
            "input or of one; a middle dimension doubled; a size shared by "
            "several inputs doubled)"
        )
    for name, inputs in without_optional_inputs(original, example_inputs):
        reference = _try_run(original, inputs)
        if isinstance(reference, Exception):
            skipped.append(
                f"without {name}: the original rejects it ({one_line(reference)})"
            )
        else:
            eval_inputs.append((f"eval, without {name}", inputs))
    for label, inputs in eval_inputs:
        results.append(_check_eval(label, original, make_candidate, inputs, tolerances))
    for label, inputs in shapes:
        try:
            results.append(
                _check_eval(label, original, make_candidate, inputs, tolerances)
            )
        except CheckError as error:
            if SHAPE_GUARD_MESSAGE not in str(error):
                raise
            skipped.append(f"{label}{GUARD_REFUSES}")
    if train:
        results += _check_train(original, make_candidate, example_inputs, tolerances)
    changed = other_counts(original, example_inputs)
    changed += other_flags(original, example_inputs)
    for name, label, inputs in changed:
        reference = _try_run(original, inputs)
        if isinstance(reference, Exception):
            skipped.append(f"{label}: the original rejects it ({one_line(reference)})")
            continue
        try:
            results.append(
                _check_eval(
                    f"eval, {label}", original, make_candidate, inputs, tolerances
                )
            )
            if train:
                results += _check_train(
                    original, make_candidate, inputs, tolerances, f" ({label})"
                )
        except CheckError as error:
            if not _refused_argument(str(error), name):
                raise
            skipped.append(f"{label}: the rewrite's guard refuses it")
    return CheckReport(tuple(results), tuple(skipped))


def other_counts(
    model: nn.Module, inputs: Sequence[Any]
) -> list[tuple[str, str, tuple[Any, ...]]]:
    """``(argument, "future=5", inputs)``: the counts a loop over a plain int argument is checked at.

    For each argument a ``for ... in range(argument):`` of ``forward``
    counts to (:func:`~nnconvert.range_counts.counting_arguments`): its
    default and :data:`~nnconvert.range_counts.CHECKED_COUNTS`, but the
    example's own.
    """
    found = []
    for name in counting_arguments(model):
        given = argument_value(model, inputs, name)
        default = argument_value(model, (), name)
        counts = (c for c in (default, *CHECKED_COUNTS) if type(c) is int)
        for count in dict.fromkeys(c for c in counts if c != given):
            changed = with_argument(model, inputs, name, count)
            if changed is not None:
                found.append((name, f"{name}={count}", tuple(changed)))
    return found


def other_flags(
    model: nn.Module, inputs: Sequence[Any]
) -> list[tuple[str, str, tuple[Any, ...]]]:
    """``(argument, "return_embeddings=True", inputs)``: each flag of ``forward`` flipped.

    A ``bool`` argument's other value (:mod:`nnconvert.flags` traces the
    root with it); a rewrite that refuses it says so, and the check skips it.
    """
    return [
        (name, f"{name}={value}", changed)
        for name, value, changed in flag_values(model, inputs)
    ]


def _refused_argument(message: str, name: str) -> bool:
    """The rewrite's guard on the plain argument ``name`` refused its value (:mod:`.guard_messages`)."""
    return (
        "traced with " in message
        and f"{name}=" in message
        and ("convert again with" in message)
    )


def other_shapes(
    model: nn.Module, inputs: Sequence[Any]
) -> list[tuple[str, tuple[Any, ...]]]:
    """The example inputs with other non-batch sizes that ``model`` accepts.

    A shape frozen into the rewrite (``x.view(-1, 400)`` computed from a
    traced size) shows here, unless a guard refuses the input explicitly.
    Tried: the last two dimensions doubled (an image's height and width),
    the last one doubled (a sequence), the last one halved, of every input
    at once, then of each input alone; the first of these the model
    accepts is kept. Then each size that several inputs
    share, doubled wherever it appears (:func:`_shared_sizes`: a
    sequence-first model's source and target lengths), each kept when the
    model accepts it. Empty if the inputs have nothing to resize.
    """
    ranks = [v.dim() for v in inputs if isinstance(v, torch.Tensor)]
    if not ranks or max(ranks) < 2:
        return []
    tries = [
        (
            "last two dimensions doubled",
            lambda size, d, n: size * 2 if d >= n - 2 else size,
            3,
        ),
        (
            "last dimension doubled",
            lambda size, d, n: size * 2 if d == n - 1 else size,
            2,
        ),
        (
            "last dimension halved",
            lambda size, d, n: max(size // 2, 1) if d == n - 1 else size,
            2,
        ),
    ]
    tensors = [i for i, v in enumerate(inputs) if isinstance(v, torch.Tensor)]
    # every input resized at once; then, for a model whose inputs must keep
    # their sizes but one (Whisper: a fixed-length spectrogram, tokens of
    # any length), each input alone
    groups = [(tuple(tensors), "")] + [
        ((index,), f", input {index} only") for index in tensors if len(tensors) > 1
    ]
    last_dimensions = (
        (
            label + suffix,
            tuple(
                (_resized(v, resize) if i in chosen and v.dim() >= least_rank else v)
                for i, v in enumerate(inputs)
            ),
        )
        for chosen, suffix in groups
        for label, resize, least_rank in tries
    )
    # one input resized alone must not part sizes it shares with another
    # (CLIP's attention_mask and input_ids lengths): that input is no use
    shared_sizes = set(_shared_sizes(inputs, most=None))
    last_dimensions = (
        c for c in last_dimensions if _keeps_shared_sizes(inputs, c[1], shared_sizes)
    )
    shared = [
        (f"every size {size} doubled", _with_size_doubled(inputs, size))
        for size in _shared_sizes(inputs)
    ]
    first = next((c for c in last_dimensions if _accepts(model, inputs, c[1])), None)
    if first is None:  # (batch, length, features): the length is in the middle
        first = next(
            (c for c in _middle_dimensions(inputs) if _accepts(model, inputs, c[1])),
            None,
        )
    accepted = [first] if first is not None else []
    for label, resized in shared:
        if _shapes(resized) not in [_shapes(a) for _, a in accepted] and _accepts(
            model, inputs, resized
        ):
            accepted.append((label, resized))
    return [(f"{OTHER_SHAPE} ({label})", v) for label, v in accepted]


def _middle_dimensions(
    inputs: Sequence[Any],
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Each dimension between the batch and the last doubled, in every input that has one there.

    A batch-first sequence ``(batch, length, features)`` accepts no other
    feature size, but any length: a loop over its steps must be checked at
    another length than the traced one.
    """
    ranks = [v.dim() for v in inputs if isinstance(v, torch.Tensor)]
    for dim in range(1, max(ranks, default=0) - 1):
        resized = tuple(
            (
                _drawn(v, [s * 2 if d == dim else s for d, s in enumerate(v.shape)])
                if isinstance(v, torch.Tensor) and v.dim() > dim + 1
                else v
            )
            for v in inputs
        )
        yield f"dimension {dim} doubled", resized


def _keeps_shared_sizes(
    inputs: Sequence[Any], resized: Sequence[Any], shared: set[int]
) -> bool:
    """No size of ``shared`` (:func:`_shared_sizes` of ``inputs``) changed in some inputs only."""
    changed = [
        (a.shape, b.shape)
        for a, b in zip(inputs, resized)
        if isinstance(a, torch.Tensor) and a.shape != b.shape
    ]
    if len(changed) == len([v for v in inputs if isinstance(v, torch.Tensor)]):
        return True  # every input changed alike
    return not any(
        old != new and old in shared
        for before, after in changed
        for old, new in zip(before, after)
    )


def _shapes(inputs: Sequence[Any]) -> list[Any]:
    return [v.shape if isinstance(v, torch.Tensor) else None for v in inputs]


def _accepts(model: nn.Module, inputs: Sequence[Any], resized: Sequence[Any]) -> bool:
    """Whether ``resized`` changes a shape of ``inputs`` and ``model`` runs on it."""
    if all(
        not isinstance(a, torch.Tensor) or a.shape == b.shape
        for a, b in zip(resized, inputs)
    ):
        return False
    return not isinstance(_try_run(model, resized), Exception)


def _shared_sizes(inputs: Sequence[Any], most: int | None = 3) -> list[int]:
    """Sizes (above 1) that several inputs have, in order of first appearance.

    A sequence-first model (``(seq, batch)`` tokens beside ``(batch, seq)``
    padding masks) accepts no change of the last dimensions, but it accepts
    one length changed wherever it appears: that is the second sequence
    length the check should run.
    """
    shapes = [tuple(v.shape) for v in inputs if isinstance(v, torch.Tensor)]
    seen: list[int] = []
    for shape in shapes:
        for size in shape:
            if size > 1 and size not in seen:
                seen.append(size)
    return [
        size
        for size in seen
        if sum(size in shape for shape in shapes) >= 2
        # a size only ever first is a batch: the batch check varies that
        and any(size in shape[1:] for shape in shapes)
    ][:most]


def _with_size_doubled(inputs: Sequence[Any], size: int) -> tuple[Any, ...]:
    """``inputs`` with every dimension of ``size`` doubled, drawn from their own entries."""
    return tuple(
        (
            _drawn(v, [s * 2 if s == size else s for s in v.shape])
            if isinstance(v, torch.Tensor) and size in v.shape
            else v
        )
        for v in inputs
    )


def _resized(value: torch.Tensor, resize) -> torch.Tensor:
    """``value`` with each non-batch size ``resize(size, dim, ndim)``, drawn from its own entries."""
    shape = [value.shape[0]] + [
        resize(size, d, value.dim()) for d, size in enumerate(value.shape) if d > 0
    ]
    return _drawn(value, shape)


def _drawn(value: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """A tensor of ``shape`` whose entries are drawn from ``value``'s (valid indices stay valid)."""
    if value.layout is torch.sparse_coo:  # drawn from its dense form, sparse again
        return _drawn(value.to_dense(), shape).to_sparse()
    generator = torch.Generator().manual_seed(SEED)
    flat = value.reshape(-1)
    if flat.numel() == 0:
        return value.new_zeros(shape)
    picks = torch.randint(0, flat.numel(), (math.prod(shape),), generator=generator)
    return flat[picks].reshape(shape)


def without_optional_inputs(
    model: nn.Module, inputs: Sequence[Any]
) -> list[tuple[str, tuple[Any, ...]]]:
    """For each optional input given (``targets``, default None): the inputs without it.

    The rewrite has both paths (``if targets is not None:``); the example
    inputs run one, these the other.
    """
    return [
        (name, tuple(inputs[:index]) + (None,) + tuple(inputs[index + 1 :]))
        for index, name in given_optional_inputs(model, inputs)
    ]


def _check_eval(label, original, make_candidate, inputs, tolerances) -> CheckResult:
    reference = copy_model(original).eval()
    candidate = make_candidate(reference)
    stored = _stored_names(original, candidate)
    with torch.no_grad():  # same seed: a forward that draws noise draws the same
        torch.manual_seed(SEED)
        expected = _with_stored(reference(*clone_inputs(inputs)), reference, stored)
        torch.manual_seed(SEED)
        actual = _run_rewrite(candidate, clone_inputs(inputs), False, label)
        if stored:
            actual = (actual, {f"self.{n}": candidate.stored(n) for n in stored})

    def exact() -> Any:
        with torch.no_grad():
            torch.manual_seed(SEED)
            model = _in_float64(original).eval()
            return _with_stored(model(*_in_float64(inputs)), model, stored)

    return CheckResult(label, compare(expected, actual, tolerances, label, exact))


def _stored_names(original: nn.Module, candidate: Candidate) -> list[str]:
    """What the original's ``forward`` stores for its caller, when the rewrite can say."""
    if candidate.stored is None:
        return []
    return sorted(written_only(type(original)))


def _with_stored(output: Any, model: nn.Module, names: list[str]) -> Any:
    """``output``, and beside it what the call left in each of ``names``."""
    if not names:
        return output
    return output, {f"self.{n}": getattr(model, n, None) for n in names}


def train_step(candidate: Candidate, inputs: Sequence[Any]) -> TrainStep:
    """One train-mode step of the rewrite under the check's seed, and its gradients."""
    if candidate.train_step is not None:
        return candidate.train_step(inputs)
    parameters = candidate.parameters()
    for p in parameters.values():
        p.requires_grad_(True)
    actual_inputs = _differentiable(inputs)
    torch.manual_seed(SEED)
    actual = _run_rewrite(candidate, clone_inputs(actual_inputs), True, "train")
    buffers = candidate.buffers()
    after = {k: p.detach() for k, p in candidate.parameters().items()}
    loss = _scalar_loss(actual)
    if loss.requires_grad:
        loss.backward()
    gradients = {k: p.grad for k, p in parameters.items()}
    gradients.update(_input_grads(actual_inputs))
    return TrainStep(actual, buffers, after, gradients)


def _check_train(
    original, make_candidate, inputs, tolerances, given: str = ""
) -> list[CheckResult]:
    """The train-mode checks; ``given`` says which inputs in their labels (`` (future=5)``)."""
    reference = copy_model(original).train()
    candidate = make_candidate(reference)
    expected = _original_train_step(reference, inputs)
    step = train_step(candidate, inputs)
    exact = _lazy(
        lambda: _original_train_step(_in_float64(original).train(), _in_float64(inputs))
    )
    results = [
        CheckResult(
            f"train{given}, outputs",
            compare(
                expected.outputs,
                step.outputs,
                tolerances,
                "train outputs",
                lambda: exact().outputs,
            ),
        )
    ]
    # Every persistent buffer; non-persistent ones where the rewrite keeps them
    # (the functional style has only the state_dict).
    rewrite_buffers = step.buffers
    persistent = set(reference.state_dict())
    keys = sorted(
        k for k in expected.buffers if k in persistent or k in rewrite_buffers
    )
    buffers = compare(
        {k: expected.buffers[k] for k in keys},
        {k: rewrite_buffers.get(k) for k in keys},
        tolerances,
        "train buffers",
        lambda: {k: exact().buffers[k] for k in keys},
    )
    results.append(CheckResult(f"train{given}, buffers after the step", buffers))
    found = step.parameters
    after = [k for k in expected.parameters if k in found]
    differences = compare(
        {k: expected.parameters[k] for k in after},
        {k: found[k].detach() for k in after},
        tolerances,
        "train parameters",
        lambda: {k: exact().parameters[k] for k in after},
    )
    # nn.Embedding(max_norm=...) renormalises the rows it looks up: the rewrite
    # must leave the same parameter values (functional style: in its weight dict).
    results.append(CheckResult(f"train{given}, parameters after the step", differences))
    if expected.gradients:
        names = sorted(expected.gradients)
        try:
            grads = compare(
                {k: expected.gradients[k] for k in names},
                dict(sorted(step.gradients.items())),
                tolerances,
                "train gradients",
                lambda: {k: exact().gradients[k] for k in names},
            )
        except CheckError as error:
            raise CheckError(f"{error}{_tie_hint(reference)}") from None
        results.append(
            CheckResult(f"train{given}, gradients of every parameter and input", grads)
        )
    return results


def _original_train_step(reference: nn.Module, inputs: Sequence[Any]) -> TrainStep:
    """One train-mode step of the original under the check's seed (no gradients if no loss).

    Every parameter gets a gradient, as the rewrite's do (:func:`train_step`):
    a frozen one (Whisper's sinusoidal positions) is compared too, rather
    than expected to have none.
    """
    for parameter in reference.parameters():
        parameter.requires_grad_(True)
    differentiable = _differentiable(inputs)
    torch.manual_seed(SEED)
    outputs = reference(*clone_inputs(differentiable))
    buffers = dict(reference.named_buffers())
    after = {k: p.detach().clone() for k, p in reference.named_parameters()}
    loss = _scalar_loss(outputs)
    gradients = {}
    if loss.requires_grad:
        loss.backward()
        gradients = {k: p.grad for k, p in reference.named_parameters()}
        gradients.update(_input_grads(differentiable))
    return TrainStep(outputs, buffers, after, gradients)


def _tie_hint(model: nn.Module) -> str:
    """What a gradient failure may mean when the original ties parameters, or nothing.

    A tied parameter is one tensor under several ``state_dict()`` keys
    (``named_parameters()`` names it once), and its gradient is the sum over
    every use: a rewrite that holds the keys as separate tensors has a
    parameter the original lacks, one that reads them separately from the
    weight dict gets only part of the sum.
    """
    parameters = dict(model.named_parameters())
    tied = [
        f"{key!r} to {first!r}"
        for key, first in canonical_keys(model).items()
        if key != first and first in parameters
    ]
    if not tied:
        return ""
    return (
        f" (the original ties {', '.join(tied)}: one tensor whose gradient sums "
        "every use; the rewrite must build and read it as one)"
    )


def _run_rewrite(
    candidate: Candidate, inputs: Sequence[Any], training: bool, label: str
) -> Any:
    """Run the rewrite; its own exceptions are check failures, not crashes."""
    try:
        return candidate.run(inputs, training)
    except InputError:  # the rewrite's code exited, in its own process
        raise
    except Exception as error:
        message = " ".join(str(error).split())
        kind = getattr(error, "type_name", type(error).__name__)
        raise CheckError(f"{label}: the rewrite fails: {kind}: {message}") from error


def _differentiable(inputs: Sequence[Any]) -> tuple[Any, ...]:
    """Leaf copies of the inputs; floating ones require grad, so input gradients are compared.

    The model receives clones of these leaves, so in-place ops on inputs work.
    """
    return tuple(
        (
            v.detach().clone().requires_grad_(v.is_floating_point())
            if isinstance(v, torch.Tensor)
            else v
        )
        for v in inputs
    )


def _input_grads(inputs: Sequence[Any]) -> dict[str, Any]:
    return {
        f"input {i}": v.grad
        for i, v in enumerate(inputs)
        if isinstance(v, torch.Tensor) and v.requires_grad
    }


def compare(
    expected: Any,
    actual: Any,
    tolerances: Tolerances,
    label: str,
    exact: Callable[[], Any] | None = None,
) -> tuple[Difference, ...]:
    """``assert_close`` on every leaf; the differences, or CheckError naming the leaf.

    ``exact`` gives ``expected`` computed again by the original in float64
    (called only when a leaf misses the default tolerances; tolerances the
    caller chose are final): a leaf that misses them
    passes if the rewrite is no further from the float64 values than
    rounding puts the original (:func:`within_rounding`). A loop over time
    steps and a fused recurrent kernel add in another order; over a long
    sequence their float32 gradients part by more than ``assert_close``'s
    defaults, while both stay as close to the exact values.
    """
    expected_leaves, expected_spec = tree_flatten(expected)
    if isinstance(actual, FlatOutput):
        if actual.structure != str(expected_spec):
            raise CheckError(
                f"{label}: output structure differs: expected "
                f"{' '.join(str(expected_spec).split())}, got "
                f"{' '.join(actual.structure.split())}"
            )
        actual = tree_unflatten(actual.leaves, expected_spec)
    actual_leaves, actual_spec = tree_flatten(actual)
    if expected_spec != actual_spec:
        raise CheckError(f"{label}: {_structure_difference(expected, actual)}")
    paths = _leaf_paths(expected)
    if tolerances.rtol is not None or tolerances.atol is not None:
        exact = None  # tolerances the caller chose are not appealed against
    exact_leaves = _lazy(lambda: _exact_leaves(exact, expected_spec))
    differences = []
    for index, (path, a, b) in enumerate(zip(paths, expected_leaves, actual_leaves)):
        try:
            torch.testing.assert_close(
                b, a, rtol=tolerances.rtol, atol=tolerances.atol, equal_nan=True
            )
            differences.append(_difference(path, a, b))
        except AssertionError as error:
            reference = exact_leaves()
            if reference is None or not within_rounding(a, b, reference[index]):
                summary = " ".join(str(error).split())
                raise CheckError(f"{label}: {path} differs: {summary}") from None
            differences.append(_difference(path, a, b, rounding=True))
    return tuple(differences)


def within_rounding(
    expected: Any, actual: Any, exact: Any, *, factor: float = 2.0
) -> bool:
    """Whether ``actual`` is as close to ``exact`` (float64) as rounding puts ``expected``.

    The rewrite's root-mean-square error may be at most ``factor`` times the
    original's (plus a tenth of float32's default ``atol``), the rule
    ``torch._dynamo``'s accuracy checker applies to compiled models against
    a float64 reference; its largest error at most twice that factor times
    the original's (plus the ``atol``): the largest of thousands of
    rounding errors varies more between kernels than their mean (the MNIST
    RNN's LSTM input-weight gradient on an AMD EPYC: 2.5 times the fused
    kernel's, its mean error 2.0 times). A wrong rewrite is off by far more
    than rounding; a differently ordered sum is not.
    """
    tensors = (expected, actual, exact)
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        return False
    if not expected.is_floating_point() or expected.dtype == torch.float64:
        return False  # float64 has no more exact run to appeal to
    if exact.dtype != torch.float64:
        return False
    if expected.shape != actual.shape or expected.dtype != actual.dtype:
        return False
    a, b, x = (_dense(t.detach()).double() for t in tensors)
    if not torch.equal(a.isfinite(), b.isfinite()) or not x.isfinite().all():
        return False
    slack = 1e-5
    original_error, rewrite_error = (a - x).abs(), (b - x).abs()
    original_error[~a.isfinite()] = rewrite_error[~b.isfinite()] = 0.0
    rms = [float(e.square().mean().sqrt()) for e in (original_error, rewrite_error)]
    largest = [float(e.max()) for e in (original_error, rewrite_error)]
    return (
        rms[1] <= factor * rms[0] + slack / 10
        and largest[1] <= 2 * factor * largest[0] + slack
    )


def _exact_leaves(exact: Callable[[], Any] | None, spec: Any) -> list[Any] | None:
    """The float64 run's leaves, or None where there is none or it does not line up."""
    if exact is None:
        return None
    try:
        leaves, exact_spec = tree_flatten(exact())
    except Exception:  # a model that cannot run in float64 has no arbiter
        return None
    return leaves if exact_spec == spec else None


def _lazy(compute: Callable[[], Any]) -> Callable[[], Any]:
    """``compute`` run once, on the first call: the float64 run costs a forward."""
    cache: list[Any] = []

    def value() -> Any:
        if not cache:
            cache.append(compute())
        return cache[0]

    return value


def _in_float64(value: Any) -> Any:
    """A float64 copy of a model (floating parameters and buffers) or of inputs."""
    if isinstance(value, nn.Module):
        return copy_model(value).double()
    return tree_map(
        lambda v: (
            v.detach().double()
            if isinstance(v, torch.Tensor) and v.is_floating_point()
            else v
        ),
        value,
    )


def _structure_difference(expected: Any, actual: Any) -> str:
    """One line: the keys one dict has and the other lacks, else both structures."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing or extra:
            parts = [f"missing {missing}"] * bool(missing)
            parts += [f"not in the original {extra}"] * bool(extra)
            return "different keys: " + "; ".join(parts)
    found = (tree_structure(expected), tree_structure(actual))
    expected_text, actual_text = (" ".join(str(s).split()) for s in found)
    return f"output structure differs: expected {expected_text}, got {actual_text}"


def _difference(
    path: str, expected: Any, actual: Any, *, rounding: bool = False
) -> Difference:
    if not isinstance(expected, torch.Tensor) or expected.numel() == 0:
        return Difference(path, 0.0, 0.0)
    a, b = (_dense(t.detach()).double() for t in (expected, actual))
    if a.is_complex():
        a, b = a.abs(), b.abs()
    error = (a - b).abs().nan_to_num(0.0)
    relative = error / a.abs().clamp_min(torch.finfo(torch.float64).tiny)
    largest = float(relative.nan_to_num(0.0).max())
    return Difference(path, float(error.max()), largest, rounding)


def _dense(tensor: torch.Tensor) -> torch.Tensor:
    """A sparse tensor (``nn.Embedding(sparse=True)``'s gradient) as a dense one, for its error."""
    return tensor.to_dense() if tensor.layout is not torch.strided else tensor


def _leaf_paths(value: Any, prefix: str = "output") -> list[str]:
    if isinstance(value, (tuple, list)):
        return [
            p for i, v in enumerate(value) for p in _leaf_paths(v, f"{prefix}[{i}]")
        ]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaf_paths(v, f"{prefix}[{k!r}]")]
    return [prefix] if value is not None else []


def _scalar_loss(outputs: Any) -> torch.Tensor:
    """A scalar that depends on every floating output, with weights that are not all one."""
    generator = torch.Generator().manual_seed(SEED)
    total = torch.zeros(())
    for leaf in tree_flatten(outputs)[0]:
        if (
            isinstance(leaf, torch.Tensor)
            and leaf.is_floating_point()
            and leaf.requires_grad
        ):
            # drawn in float32 whatever the leaf's dtype, so that a float64
            # run of the original (:func:`within_rounding`) weighs alike
            weights = torch.randn(leaf.shape, generator=generator).to(leaf.dtype)
            total = total + (leaf * weights).sum()
    return total


def _batch_size(inputs: Sequence[Any]) -> int | None:
    for value in inputs:
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return value.shape[0]
    return None


def resize_batch(inputs: Sequence[Any], size: int) -> tuple[Any, ...]:
    """The inputs with batch ``size``, drawn from the example rows (valid indices stay valid)."""
    batch = _batch_size(inputs)
    rows = torch.randint(
        0, batch, (size,), generator=torch.Generator().manual_seed(SEED)
    )
    return tuple(
        (
            _rows(v, rows)
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == batch
            else v
        )
        for v in inputs
    )


def _rows(tensor: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``tensor[rows]``; a sparse COO tensor (GCN's features), which takes no index, by ``index_select``."""
    if tensor.layout is torch.sparse_coo:
        return tensor.index_select(0, rows)
    return tensor[rows]


def _try_run(model: nn.Module, inputs: Sequence[Any]) -> Any:
    try:
        with torch.no_grad():
            return copy_model(model).eval()(*clone_inputs(inputs))
    except Exception as error:
        return error
