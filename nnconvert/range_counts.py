"""Plain int arguments that a ``for`` counts to, traced with enough steps to show the loop.

``def forward(self, input, future=0): ... for i in range(future): ...``:
tracing asks ``future``'s value (:meth:`~nnconvert.tracers.ConcreteTracer.guard`
records ``future == 0``), and with 0 the loop runs no step, so the trace
holds nothing of its body: the output could only refuse another
``future``. Such a module is traced again with ``future=3`` (:data:`STEPS`):
that trace holds three copies of the body, which the printer writes as
``for i in range(future):`` for any ``future``
(:mod:`nnconvert.passes.unrolled`). When its copies are not alike, the first
trace stays, with its guard (:mod:`nnconvert.hierarchy`).

A count of two steps or more needs no second trace: its copies are in the
first one already.
"""

from __future__ import annotations

import inspect
import operator
from typing import Any, Sequence

from torch import fx, nn

from .branches import is_expect
from .source_map import statement_line
from .source_text import range_loop_lines
from .trace import CallInputs, forward_parameters, keywords_of

#: the steps a loop over a plain int argument is traced with, when the
#: example's value runs fewer than two
STEPS = 3


def few_steps_counted(graph: fx.Graph) -> list[str]:
    """The plain int arguments a ``for ... in range(argument):`` counted to 0 or 1.

    Each was guarded where ``range`` asked its value (``future == 0``), on
    the ``for``'s line of the source.
    """
    found = []
    for node in graph.nodes:
        if not is_expect(node):
            continue
        comparison = node.args[0]
        if not (
            isinstance(comparison, fx.Node)
            and comparison.op == "call_function"
            and comparison.target is operator.eq
            and isinstance(comparison.args[0], fx.Node)
            and comparison.args[0].op == "placeholder"
            and type(comparison.args[1]) is int
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
