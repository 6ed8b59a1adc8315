"""Refuse a trace that drew from Python's or NumPy's global random generator.

keon/seq2seq's decoder loop decides teacher forcing with
``is_teacher = random.random() < teacher_forcing_ratio``. A trace runs that
line once: the numbers drawn become constants, and the output compares the
ratio with them (``if teacher_forcing_ratio > 0.857...: raise``) instead of
drawing again. It passes its check on the example inputs and silently
computes something else on the next call. torch's own draws (``dropout``,
``torch.rand_like``) are graph nodes and stay draws; ``random`` and
``numpy.random`` are invisible to a trace, so a trace that moved their state
is refused (:func:`python_draws_refused`), naming the line where it can.
"""

from __future__ import annotations

import contextlib
import random
import sys
from types import FrameType, ModuleType
from typing import Any, Callable, Iterator

import numpy as np

from .errors import ConversionError
from .source_map import is_user_code


@contextlib.contextmanager
def python_draws_refused(model_name: str) -> Iterator[None]:
    """Trace inside: a ConversionError if ``random`` or ``numpy.random`` drew meanwhile.

    On a refusal both generators are set back to where they were before
    the trace: the numbers it drew were the user's.
    """
    before = _states()
    callers: list[str] = []
    with _callers_recorded(callers):
        yield
    after = _states()
    if after == before:
        return
    _restore(before)
    drawn = [
        _GENERATORS[name]
        for name, old, new in zip(_GENERATORS, before, after)
        if old != new
    ]
    where = f" ({callers[0]})" if callers else ""
    raise ConversionError(
        f"{model_name}'s forward draws from {' and '.join(drawn)}{where}: a trace "
        "fixes the numbers drawn as constants, so the output would not draw again "
        "and would compute something else on the next call. Make the random "
        "choice outside forward and pass it in (a bool argument converts both "
        "ways), or draw with torch on tensors (torch.rand_like), which stays a draw"
    )


#: The generators watched: the module a user calls them through, and how the error names it.
_GENERATORS = {
    "random": "Python's global random generator",
    "numpy.random": "NumPy's global random generator",
}


def _states() -> tuple[Any, Any]:
    """The state of each generator of :data:`_GENERATORS`, comparable with ``==``."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return random.getstate(), (kind, keys.tobytes(), position, has_gauss, cached)


def _restore(states: tuple[Any, Any]) -> None:
    python, (kind, keys, position, has_gauss, cached) = states
    random.setstate(python)
    np.random.set_state(
        (kind, np.frombuffer(keys, dtype=np.uint32), position, has_gauss, cached)
    )


@contextlib.contextmanager
def _callers_recorded(callers: list[str]) -> Iterator[None]:
    """Wrap each module-level draw function so that its first caller in user code is known.

    Only a name looked up on the module at call time (``random.random()``)
    goes through the wrapper; ``from random import random`` bound the
    function before, and is still caught by the state comparison.
    """
    patched: list[tuple[ModuleType, str, Any]] = []
    for module, owner in ((random, random._inst), (np.random, np.random.mtrand._rand)):
        for name in dir(module):
            function = getattr(module, name)
            if name in _NOT_DRAWS or name.startswith("_"):
                continue
            if getattr(function, "__self__", None) is owner and callable(function):
                patched.append((module, name, function))
                setattr(module, name, _recording(function, module, name, callers))
    try:
        yield
    finally:
        for module, name, function in patched:
            setattr(module, name, function)


#: Methods of the global generators that draw nothing: not the line to name.
_NOT_DRAWS = frozenset({"getstate", "setstate", "get_state", "set_state", "seed"})


def _recording(
    function: Callable, module: ModuleType, name: str, callers: list[str]
) -> Callable:
    def draw(*args: Any, **kwargs: Any) -> Any:
        if not callers:
            frame = _user_caller(sys._getframe(1))
            if frame is not None:
                callers.append(
                    f"{module.__name__}.{name}() at "
                    f"{frame.f_code.co_filename}:{frame.f_lineno}"
                )
        return function(*args, **kwargs)

    return draw


def _user_caller(frame: FrameType | None) -> FrameType | None:
    """The nearest frame of the user's code from ``frame`` outwards."""
    while frame is not None and not is_user_code(frame.f_code.co_filename):
        frame = frame.f_back
    return frame
