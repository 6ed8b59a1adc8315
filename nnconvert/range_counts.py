"""Plain int arguments that a ``for`` counts to, traced with enough steps to show the loop.

``def forward(self, input, future=0): ... for i in range(future): ...``:
tracing asks ``future``'s value (:meth:`~nnconvert.tracers.ConcreteTracer.guard`
records ``future == 0``), and with 0 the loop runs no step, so the trace
holds nothing of its body: the output could only refuse another
``future``. Such a module is traced again with ``future=3`` (:data:`STEPS`):
that trace holds three copies of the body, which the printer writes as
``for i in range(future):`` for any ``future``
(:mod:`nnconvert.passes.unrolled`). When its copies are not alike, the first
trace stays, with its guard (:mod:`nnconvert.hierarchy`); so it does when
the printer keeps them unrolled after all (``nnconvert.api``: the guard
``future == 3`` would refuse the default).

A count of two steps or more needs no second trace: its copies are in the
first one already. The check runs such an argument at other counts
(:data:`CHECKED_COUNTS`, :func:`nnconvert.check.other_counts`).
"""

from __future__ import annotations

import ast
import inspect
from typing import Any, Sequence

import torch
from torch import fx, nn

from .branches import guarded_equality
from .example_values import clone_inputs
from .modes import eval_mode
from .source_map import statement_line
from .source_text import range_counter, range_loop_lines
from .trace import (
    CallInputs,
    call_with,
    forward_definition,
    forward_parameters,
    keywords_of,
)

#: the steps a loop over a plain int argument is traced with, when the
#: example's value runs fewer than two
STEPS = 3

#: ``GraphModule.meta`` key: the arguments a module was traced with
#: :data:`STEPS` for (:func:`nnconvert.hierarchy.traced`)
STEPPED_COUNTS = "stepped_counts"

#: the counts the check runs such a loop with, besides the example's and
#: the default: none, the traced steps and another
CHECKED_COUNTS = (0, STEPS, 5)


def counting_arguments(model: nn.Module) -> list[str]:
    """``forward``'s parameters that a ``for ... in range(name):`` of its source counts to.

    Read from the source (none without it); only parameters without a
    default or with a plain int one.
    """
    function = forward_definition(model)
    if function is None:
        return []
    parameters = {p.name: p for p in forward_parameters(model)}
    found = []
    for node in ast.walk(function):
        if not isinstance(node, ast.For) or range_counter(node) is None:
            continue
        parameter = parameters.get(range_counter(node))
        if (
            parameter is not None
            and (
                parameter.default is inspect.Parameter.empty
                or type(parameter.default) is int
            )
            and parameter.name not in found
        ):
            found.append(parameter.name)
    return found


def argument_value(module: nn.Module, inputs: Sequence[Any], name: str) -> Any:
    """The value ``inputs`` give ``forward``'s argument ``name``, else its default."""
    keywords = keywords_of(inputs)
    split = len(inputs) - len(keywords)
    parameters = forward_parameters(module)
    names = [p.name for p in parameters]
    if name in keywords:
        return inputs[split + keywords.index(name)]
    if name in names[:split]:
        return inputs[names.index(name)]
    return parameters[names.index(name)].default if name in names else None


def few_steps_counted(graph: fx.Graph) -> list[str]:
    """The plain int arguments a ``for ... in range(argument):`` counted to 0 or 1.

    Each was guarded where ``range`` asked its value (``future == 0``), on
    the ``for``'s line of the source.
    """
    found = []
    for node in graph.nodes:
        comparison = guarded_equality(node)
        if not (
            comparison is not None
            and comparison.args[0].op == "placeholder"
            and comparison.args[1] < 2
        ):
            continue
        name = str(comparison.args[0].target)
        frame = statement_line(node)
        if frame is not None and range_loop_lines(frame, name) and name not in found:
            found.append(name)
    return found


def with_argument(
    module: nn.Module, inputs: Sequence[Any], name: str, value: int
) -> tuple[Any, ...] | None:
    """``inputs`` with ``forward``'s argument ``name`` set to ``value``.

    Given already (by position or keyword): replaced. Else appended by
    position, the parameters between it and the given ones at their
    defaults. None when that cannot be said (a parameter between without a
    default, keyword-passed inputs before it).
    """
    keywords = keywords_of(inputs)
    values = list(inputs)
    split = len(values) - len(keywords)
    names = [p.name for p in forward_parameters(module)]
    if name in keywords:
        values[split + keywords.index(name)] = value
    elif name in names[:split]:
        values[names.index(name)] = value
    elif name in names and not keywords:
        between = forward_parameters(module)[split : names.index(name)]
        if any(p.default is inspect.Parameter.empty for p in between):
            return None
        values += [p.default for p in between] + [value]
    else:
        return None
    return CallInputs(values, keywords) if keywords else tuple(values)


def with_loop_steps(module: nn.Module, inputs: Sequence[Any]) -> Sequence[Any]:
    """``inputs`` with :data:`STEPS` for each count a ``for`` of ``forward`` runs less than twice.

    For runs that discover what a model calls (a functional file read back:
    its layers and blocks), which must see the loop's body run. ``inputs``
    as they are where ``module`` refuses those counts.
    """
    stepped = inputs
    for name in counting_arguments(module):
        value = argument_value(module, stepped, name)
        if type(value) is int and value < 2:
            stepped = with_argument(module, stepped, name, STEPS) or stepped
    if stepped is inputs:
        return inputs
    try:
        with torch.no_grad(), eval_mode(module):
            call_with(module, clone_inputs(stepped), keywords_of(stepped))
    except Exception:  # the body fails at those counts: discovered as traced
        return inputs
    return stepped
