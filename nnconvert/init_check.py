"""Checking what a functional output's ``init_params()`` may claim.

``init_params()`` draws each layer's tensors as its ``torch.nn`` class does
by default. Whether that equals a newly built original depends on the
model's own ``__init__`` (``nn.init.orthogonal_`` on an LSTM's weights, an
``_init_weights`` method), which only running it tells. When the caller can
build the original anew (:attr:`ModelInput.fresh_state`: the CLI rebuilds
the file's class), :func:`check_init_params` renders ``init_params()`` alone
(no black: the printer's text is valid Python), runs it and the builder
under the same seed and compares them key by key; the printer then words
the docstring from that result, as data. The new original is built under
an :class:`~nnconvert.init_replay.InitRecorder`: the initialisation calls
the model's own code made are rendered into ``init_params()`` too, and
kept only when that makes more tensors equal and none fewer.
"""

from __future__ import annotations

import contextlib
import itertools
import linecache
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from .printer.init_params import (
    InitClaim,
    function_name,
    inherited_claim,
    init_params_function,
    with_sub_params,
)
from .init_code import keeps_more
from .source_text import is_functional_input
from .init_replay import InitCall, InitRecorder
from .state_builds import state_calls
from .user_functions import defined, kept_functions

#: The seed both sides are drawn under.
SEED = 0

_counter = itertools.count()


def check_init_params(
    module: nn.Module,
    function: str,
    fresh_state: Callable[[], Mapping[str, Tensor]] | None,
    inherited_doc: str | None = None,
) -> InitClaim | None:
    """Which of ``init_params()``'s tensors equal a newly built original's; None if unknown.

    ``module`` is the root the printer renders ``init_params()`` from, for
    the functional form ``function``. The global random state is left as
    it was. A builder that fails gives None (nothing is claimed): the
    original was built once already, so that is the model's own business.
    The claim carries the recorded calls that made more tensors equal
    (:attr:`InitClaim.replay`; none for a functional input, whose own
    ``init_params()`` statements are kept as written).

    ``inherited_doc`` is a functional input's ``init_params()`` docstring:
    when the new ``init_params()`` equals that one (every tensor it draws;
    the printer knows which), what it said about the original class still
    holds, and the claim keeps its words
    (:func:`~nnconvert.printer.init_params.inherited_claim`), so that a
    functional output converts to itself unchanged.
    """
    if fresh_state is None:
        return None
    recorder = None if is_functional_input(module) else InitRecorder()
    expected = _fresh(fresh_state, recorder)
    if expected is None and recorder is not None:  # built without the recorder
        recorder, expected = None, _fresh(fresh_state, None)
    if expected is None:
        return None
    equal, written = _equal_keys(module, function, expected, ())
    calls = recorder.calls(expected) if recorder is not None else ()
    if calls:
        with_calls, _ = _equal_keys(module, function, expected, calls)
        if keeps_more(with_calls, equal):
            equal = with_calls
        else:
            calls = ()
    if inherited_doc is None or written != set(expected):
        return InitClaim(equal, replay=calls)
    return InitClaim(equal, inherited_claim(inherited_doc), replay=calls)


def _fresh(
    fresh_state: Callable[[], Mapping[str, Tensor]], recorder: InitRecorder | None
) -> dict[str, Tensor] | None:
    """A newly built original's state under :data:`SEED`, ``recorder`` watching; None if it fails."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        try:
            with recorder or contextlib.nullcontext():
                return dict(fresh_state())
        except Exception:
            return None


def _equal_keys(
    module: nn.Module,
    function: str,
    expected: Mapping[str, Tensor],
    replay: tuple[InitCall, ...],
) -> tuple[frozenset[str], frozenset[str]]:
    """The keys whose tensors ``init_params()`` (with the ``replay`` calls) draws as ``expected``, and every key it writes."""
    printed = init_params_function(module, function, replay=replay)
    *helpers, printed = with_sub_params([printed])
    imports = printed.imports
    for helper in helpers:
        imports.merge(helper.imports)
    text = "\n\n".join(p.text for p in (*helpers, printed))
    made = _run(imports.render() + "\n\n" + text, function, _kept_names(module))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        params = made()
    equal = frozenset(
        key
        for key, tensor in params.items()
        if key in expected and same_tensor(tensor, expected[key])
    )
    return equal, frozenset(params)


def same_tensor(made: object, expected: object) -> bool:
    """Bit-identical: both tensors, same shape, dtype and values."""
    if not (isinstance(made, Tensor) and isinstance(expected, Tensor)):
        return False
    expected = expected.detach().cpu()
    return (
        made.shape == expected.shape
        and made.dtype == expected.dtype
        and torch.equal(made.detach(), expected)
    )


def _kept_names(module: nn.Module) -> dict[str, Any]:
    """The user's functions ``init_params()`` calls (``pair``), as the output defines them."""
    names: dict[str, Any] = {}
    for kept in kept_functions(state_calls(module)):
        names.update(defined(kept))
    return names


def _run(
    source: str, function: str, names: Mapping[str, Any] | None = None
) -> Callable[[], Mapping[str, Tensor]]:
    """The ``init_params`` function defined by ``source`` (shown in tracebacks),
    beside ``names`` (the output's other definitions it calls)."""
    filename = f"<nnconvert init_params of {function} #{next(_counter)}>"
    linecache.cache[filename] = (
        len(source),
        None,
        source.splitlines(keepends=True),
        filename,
    )
    namespace: dict = {"__name__": "nnconvert_init_check", **(names or {})}
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)
    return namespace[function_name(function)]


__all__ = ["SEED", "check_init_params", "same_tensor"]
