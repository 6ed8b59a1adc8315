"""The root's constructor parameters an output keeps, checked by building both with another value.

An output's root class takes the parameters its model was built with, with
those values as defaults (``CCT(pooling_kernel_size=3, ...)``; functional
style: ``init_params(vocab_size=40, ...)``), and so promises that
``CCT(pooling_kernel_size=2)`` builds what the source's class builds with
it. The printer keeps a parameter only where it writes every use it sees
as the name (:mod:`.printer.source_arguments`, :mod:`.root_sizes`); a use
it does not see breaks the promise quietly: CCT's tokenizer pools by
``pooling_kernel_size``, and its classifier's positional embedding is as
long as the tokenizer's output, which the printer writes as a number;
Conformer pads its depthwise convolution by ``calc_same_padding(kernel_size)``,
a call the printer writes as the number it returned.

So each kept parameter with a number or ``bool`` default is given another
value (an ``int`` doubled, a ``bool`` flipped, a ``float`` halved), and the
output built with it must build what the source's class builds with it,
the model's other recorded arguments as they were: the same ``state_dict``
keys and shapes (built on the meta device, or for a small model whose
constructor needs real tensors, on the CPU), and, for a model of at most
:data:`RUN_UP_TO` parameters, loaded with the original's weights, the same
outputs in eval mode on the example inputs, where the original runs on
them. A value the source's class refuses, or a model whose constructor
call was not recorded (:func:`nnconvert.record_constructors`), is not
tried. A parameter that fails is dropped (:func:`without_parameters`): its
default is written wherever the root's ``__init__`` (or ``init_params()``)
reads it, so the output builds the model it was checked against, and no
other.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import inspect
import io
import re
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from .init_arguments import recorded_call
from .root_sizes import built_quietly, state_shapes
from .options import Style
from .source_edits import applied, line_starts, node_span

#: Models up to this many parameters are also run with the other value;
#: larger ones are checked by their shapes alone (built on the meta device).
RUN_UP_TO = 20_000_000


def broken_parameters(
    model: nn.Module,
    root: Callable[..., Any],
    style: Style,
    run: Callable[[Mapping[str, Any], Mapping[str, Any]], Any],
    example_inputs: Sequence[Any],
) -> dict[str, str]:
    """The output root's parameters that build otherwise than the source does, with why.

    ``root``: the output's class (class styles) or ``init_params``
    (functional); ``run(changed, weights)`` runs the output built with the
    arguments ``changed`` on the example inputs, ``weights`` loaded.
    """
    recorded = recorded_call(model)
    if recorded is None:
        return {}
    given = recorded_keywords(type(model), recorded)
    function = root if style is Style.FUNCTIONAL else root.__init__
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return {}
    if style is not Style.FUNCTIONAL:
        parameters = parameters[1:]
    small = sum(p.numel() for p in model.parameters()) <= RUN_UP_TO
    broken = {}
    for parameter in parameters:
        value = other_value(parameter.default)
        if value is None or parameter.name not in given:
            continue
        changed = {parameter.name: value}
        reason = _differs(
            model, given, changed, root, style, run, example_inputs, small
        )
        if reason:
            broken[parameter.name] = reason
    return broken


def _differs(
    model: nn.Module,
    given: Mapping[str, Any],
    changed: Mapping[str, Any],
    root: Callable[..., Any],
    style: Style,
    run: Callable[[Mapping[str, Any], Mapping[str, Any]], Any],
    example_inputs: Sequence[Any],
    small: bool,
) -> str | None:
    """Why the output built with ``changed`` is not the source's class built so (None: it is)."""
    cls = type(model)

    def original() -> nn.Module:
        return cls(**{**given, **changed})

    def output() -> Mapping[str, torch.Tensor]:
        made = root(**changed)
        return made if style is Style.FUNCTIONAL else made.state_dict()

    expected = built_quietly(lambda: state_shapes(original().state_dict()), meta=True)
    got = built_quietly(lambda: state_shapes(output()), meta=True)
    if (expected is None or got is None) and small:
        # CCT's constructor runs its tokenizer and reads ``.item()``s: not on meta
        expected = built_quietly(lambda: state_shapes(original().state_dict()))
        got = built_quietly(lambda: state_shapes(output()))
    if expected is None:
        return None  # the source's class refuses that value: nothing to compare
    if got != expected:
        return "another state_dict"
    if not small:
        return None
    rebuilt = built_quietly(original)
    if rebuilt is None:
        return None
    rebuilt.eval()
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        try:
            wanted = rebuilt(*example_inputs)
        except Exception:
            return None  # the inputs do not fit that model: the shapes are all
        try:
            made = run(changed, rebuilt.state_dict())
            torch.testing.assert_close(made, wanted, equal_nan=True)
        except Exception as error:
            return f"other outputs ({type(error).__name__})"
    return None


def recorded_keywords(cls: type, recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded arguments of ``cls.__init__``, as keywords it takes again."""
    parameters = inspect.signature(cls.__init__).parameters
    given: dict[str, Any] = {}
    for name, value in recorded.items():
        kind = parameters[name].kind if name in parameters else None
        if kind is inspect.Parameter.VAR_KEYWORD:
            given.update(value)
        elif kind not in (None, inspect.Parameter.VAR_POSITIONAL):
            given[name] = value
    return given


def other_value(value: Any) -> Any:
    """Another value of the same kind (None: not tried): an int doubled, a bool flipped, a float halved."""
    if type(value) is bool:
        return not value
    if type(value) is int:
        return 2 * value if value else 1
    if type(value) is float:
        return value / 2
    return None


def without_parameters(source: str, function: str, names: Sequence[str]) -> str | None:
    """``source`` with the parameters ``names`` of ``function`` written as their defaults.

    ``function``: ``"CCT.__init__"`` or ``"init_params"``. Each read of a
    parameter in the function's body becomes its default's text; the
    parameter leaves the signature. None where that cannot be done
    cleanly: a parameter without a default, or one the body binds again.
    """
    tree = ast.parse(source)
    definition = _definition(tree, function)
    if definition is None:
        return None
    arguments = definition.args
    defaults = _defaults(arguments)
    dropped = [n for n in names if n in defaults]
    if len(dropped) != len(names):
        return None
    bound = {
        n.id
        for n in ast.walk(definition)
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    }
    if bound & set(dropped):
        return None
    kept = copy.deepcopy(arguments)
    _remove(kept, dropped)
    encoded = source.encode()
    starts = line_starts(encoded)
    listed = [
        *arguments.posonlyargs,
        *arguments.args,
        *([arguments.vararg] if arguments.vararg else []),
        *arguments.kwonlyargs,
        *([arguments.kwarg] if arguments.kwarg else []),
        *arguments.defaults,
        *(d for d in arguments.kw_defaults if d is not None),
    ]
    spans = [node_span(n, starts) for n in listed]
    end = max(e for _, e in spans)
    # black's trailing comma of a signature it exploded goes too: the shorter
    # signature is laid out as if written so (it may fit on one line again)
    if re.match(rb"\s*,\s*\)", encoded[end:]):
        end = encoded.index(b",", end) + 1
    edits = [(min(s for s, _ in spans), end, ast.unparse(kept))]
    for node in ast.walk(definition):
        if isinstance(node, ast.Name) and node.id in dropped:
            if any(node is d for d in listed):
                continue
            start, end = node_span(node, starts)
            edits.append((start, end, ast.unparse(defaults[node.id])))
    return applied(encoded, edits).decode()


def _definition(tree: ast.Module, function: str) -> ast.FunctionDef | None:
    owner, _, name = function.rpartition(".")
    body = tree.body
    if owner:
        cls = next(
            (n for n in body if isinstance(n, ast.ClassDef) and n.name == owner), None
        )
        if cls is None:
            return None
        body = cls.body
    return next(
        (n for n in body if isinstance(n, ast.FunctionDef) and n.name == name), None
    )


def _defaults(arguments: ast.arguments) -> dict[str, ast.expr]:
    """Each parameter with a default, and the default's expression."""
    positional = [*arguments.posonlyargs, *arguments.args]
    found = {
        a.arg: d
        for a, d in zip(
            positional[len(positional) - len(arguments.defaults) :], arguments.defaults
        )
    }
    found |= {
        a.arg: d
        for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults)
        if d is not None
    }
    return found


def _remove(arguments: ast.arguments, names: Sequence[str]) -> None:
    """``arguments`` without the parameters ``names`` (each with a default)."""
    positional = [*arguments.posonlyargs, *arguments.args]
    first_default = len(positional) - len(arguments.defaults)
    pairs = [
        (a, arguments.defaults[i - first_default] if i >= first_default else None)
        for i, a in enumerate(positional)
    ]
    only = len(arguments.posonlyargs)
    kept = [(i, a, d) for i, (a, d) in enumerate(pairs) if a.arg not in names]
    arguments.posonlyargs = [a for i, a, _ in kept if i < only]
    arguments.args = [a for i, a, _ in kept if i >= only]
    arguments.defaults = [d for _, _, d in kept if d is not None]
    keywords = [
        (a, d)
        for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults)
        if a.arg not in names
    ]
    arguments.kwonlyargs = [a for a, _ in keywords]
    arguments.kw_defaults = [d for _, d in keywords]


__all__ = [
    "RUN_UP_TO",
    "broken_parameters",
    "other_value",
    "recorded_keywords",
    "without_parameters",
]
