"""The user's own initialisation, recorded while the original is built, for ``init_params()``.

nanoGPT's ``__init__`` ends with ``self.apply(self._init_weights)`` (an
``isinstance`` test per module, ``nn.init.normal_(module.weight,
std=0.02)``) and a loop over ``self.named_parameters()``. A weight dict has
no modules to apply a method to, so :mod:`nnconvert.init_code` cannot write
that code over ``params``, and a functional ``init_params()`` used to draw
each layer's default initialisation only: 10 of nanoGPT's 29 tensors equal a
new ``GPT``'s.

What the code *did* is plain, though: a sequence of calls, each on one
tensor of the ``state_dict``. An :class:`InitRecorder` watches the
original anew under a :class:`~torch.overrides.TorchFunctionMode` that sees
every in-place tensor operation and who made it:

* an ``nn.init`` function called by the model's code (not by a ``torch.nn``
  layer's own ``reset_parameters``, which ``init_params()`` already
  reproduces): ``nn.init.normal_(params["lm_head.weight"], std=0.02)``,
  its arguments as the call bound them;
* an in-place method the model's code calls itself
  (``m.weight.data.normal_(0.0, 0.02)``, DCGAN's ``weights_init``):
  ``params["main.0.weight"].normal_(0.0, 0.02)``;
* a function of the model's file called on the tensor (DINO's own
  ``trunc_normal_``, whose steps are in-place methods): the call, the
  function kept in the output;
* a ``torch.nn`` layer's own ``reset_parameters``: ``init_params()`` draws
  the layers of its op-spec rows itself, but a subclass with its own
  ``forward`` (Whisper's ``Linear(nn.Linear)``) has no row, and its
  tensors are drawn by these calls.

``init_params()`` writes them after the tensors they act on, in the order
they ran: one that ran after the last default draw of the build at the end
(after the tied weights are one tensor, as they were when nanoGPT's
``apply`` ran), another before the first tensor drawn after it. A call
whose arguments are not literals (``copy_(other)``), or that writes part of
a tensor (``weight[0].zero_()``), makes its tensor's calls unreplayable:
they are left out. Nothing is kept on trust:
:func:`~nnconvert.init_check.check_init_params` compares both
``init_params()`` (with the calls and without) with a new original and
keeps the calls only when more tensors are equal and none are lost.
"""

from __future__ import annotations

import inspect
import itertools
import math
import os
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .init_slices import RANDOM_INITS
from .opspecs.inits import empty
from .printer.values import literal
from .source_map import is_user_code
from .source_text import FUNCTIONS, definition_at, read_file
from .user_functions import kept_function

#: Where torch's own code lives: a frame there is not the model's code.
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep

#: ``torch.nn.init``'s file: a call into it from the model's code is one initialisation call.
_INIT_FILE = inspect.getsourcefile(nn.init)

#: torch's dispatch of ``__torch_function__`` (``handle_torch_function``): not a caller.
_DISPATCH_FILES = frozenset(
    {inspect.getsourcefile(torch.overrides), os.path.abspath(__file__)}
)

#: In-place operations that draw random numbers.
_RANDOM_IN_PLACE = frozenset(
    {
        "normal_",
        "uniform_",
        "bernoulli_",
        "random_",
        "exponential_",
        "geometric_",
        "cauchy_",
        "log_normal_",
    }
)

#: Functions that create a tensor of random numbers.
_RANDOM_FACTORIES = frozenset(
    {
        "randn",
        "rand",
        "randint",
        "randperm",
        "normal",
        "bernoulli",
        "multinomial",
        "poisson",
        "rand_like",
        "randn_like",
        "randint_like",
    }
)


@dataclass(frozen=True)
class InitCall:
    """One call of the model's initialisation code on one ``state_dict`` tensor.

    ``pieces`` surround the tensor: ``pieces[0] + 'params["key"]' +
    pieces[1]`` (``nn.init.normal_(`` and ``, std=0.02)``). ``keys``: every
    key of the tensor (tied weights have several). ``after_all``: no draw of
    the build came after it, so it runs once every tensor exists;
    ``before``: else the first key drawn after it, whose statement it
    precedes. ``statement``: the line of the root ``__init__`` that ran it
    (``self.apply(self._init_weights)``), with the comments above that line;
    ``where``: its file and first line (None: no root statement ran it),
    which tell it from the statements
    :func:`~nnconvert.init_code.functional_init` keeps.
    """

    pieces: tuple[str, str]
    keys: tuple[str, ...]
    random: bool
    after_all: bool
    before: str | None
    statement: tuple[str, ...] = ()
    #: the model file's function it calls (``trunc_normal_``), which the output keeps
    function: Callable | None = None
    #: no ``keys``: the tensor it drew into was replaced before the build
    #: ended (a weight tied to another afterwards), but the draw counts;
    #: this makes a tensor like it (``torch.empty(40, 16)``) to draw into
    discarded: str | None = None
    #: a ``torch.nn`` layer's own ``reset_parameters`` made it (``init_params()``
    #: draws the layers of its rows itself; a subclass's tensors, which no
    #: row explains, are drawn by this call)
    default: bool = False
    where: tuple[str, int] | None = None


@dataclass
class _Event:
    """What the mode saw: a call on ``target``, or (``pieces`` None) a draw into ``target``."""

    target: Tensor
    random: bool
    pieces: tuple[str, str] | None = None
    statement: tuple[str, ...] = ()
    replayable: bool = True
    function: Callable | None = None  # the file's function it calls
    default: bool = False  # a torch.nn layer's own initialisation made it
    where: tuple[str, int] | None = None  # ``statement``'s file and first line


class InitRecorder(TorchFunctionMode):
    """Records initialisation calls and draws while a model is built (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[_Event] = []
        self._current: FrameType | None = None  # the nn.init frame last recorded

    def calls(self, state: Mapping[str, Tensor]) -> tuple[InitCall, ...]:
        """The calls recorded on the tensors of ``state``, the ``state_dict`` the build gave."""
        return _calls(self.events, state)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        try:
            if name in _RANDOM_FACTORIES and isinstance(result, Tensor):
                self.events.append(_Event(result, random=True))
            elif _in_place(name):
                # nn.init's own dispatch passes the tensor by keyword
                target = args[0] if args else kwargs.get("tensor")
                if isinstance(target, Tensor):
                    self._in_place(name, target, args[1:], kwargs)
        except Exception:  # the build is the model's business; a record is a bonus
            pass
        return result

    def _in_place(self, name: str, target: Tensor, args: tuple, kwargs: dict) -> None:
        random = name in _RANDOM_IN_PLACE or name in RANDOM_INITS
        chain, caller = _torch_chain(sys._getframe(1))  # this file's frames: skipped
        if caller is None or not is_user_code(caller.f_code.co_filename):
            self.events.append(_Event(target, random))
            return
        # nn.init's frames, innermost first: all of the chain when the model's
        # code called nn.init, its inner end when a torch.nn layer's did
        inits = list(
            itertools.takewhile(lambda f: f.f_code.co_filename == _INIT_FILE, chain)
        )
        if inits and len(inits) == len(chain):
            self._once(inits[-1], lambda: _init_event(inits[-1], caller))
            return
        if inits:  # a torch.nn layer's own reset_parameters
            self._once(inits[-1], lambda: _init_event(inits[-1], None, default=True))
            return
        if chain:  # a torch.nn layer's own draw, not through nn.init
            self.events.append(_Event(target, random))
            return
        outer = _file_function(caller, target)
        if outer is not None:  # DINO's own trunc_normal_(tensor, std=0.02)
            self._once(outer, lambda: _function_event(outer, target))
            return
        self._current = None
        statement, where = _root_statement(caller)
        event = _Event(target, random, statement=statement, where=where)
        if name == "__setitem__":
            event.replayable = False
        else:
            try:
                written = [literal(a) for a in args]
                written += [f"{k}={literal(v)}" for k, v in kwargs.items()]
            except Exception:
                event.replayable = False
            else:
                event.pieces = ("", f".{name}({', '.join(written)})")
        self.events.append(event)

    def _once(self, frame: FrameType, event: Callable[[], _Event]) -> None:
        """Record the call ``frame`` runs, once: its steps are in-place operations too."""
        if frame is not self._current:
            self._current = frame
            self.events.append(event())


def _in_place(name: str) -> bool:
    return name == "__setitem__" or (name.endswith("_") and not name.startswith("_"))


def _torch_chain(frame: FrameType | None) -> tuple[list[FrameType], FrameType | None]:
    """The torch frames from ``frame`` outward, innermost first, and the first frame that is not torch's."""
    chain: list[FrameType] = []
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename in _DISPATCH_FILES:
            frame = frame.f_back
            continue
        if not filename.startswith(_TORCH_DIR):
            return chain, frame
        chain.append(frame)
        frame = frame.f_back
    return chain, None


def _init_event(
    frame: FrameType, caller: FrameType | None, default: bool = False
) -> _Event:
    """The call of the ``nn.init`` function ``frame`` runs, as the model's code made it.

    ``default``: a ``torch.nn`` layer's own ``reset_parameters`` made it.
    """
    name = frame.f_code.co_name
    function = getattr(nn.init, name, None)
    tensor = frame.f_locals.get("tensor")
    statement, where = _root_statement(caller) if caller is not None else ((), None)
    event = _Event(
        tensor, name in RANDOM_INITS, statement=statement, default=default, where=where
    )
    if getattr(function, "__code__", None) is not frame.f_code or tensor is None:
        event.replayable = False
        return event
    written = _arguments(function, frame)
    if written is None:
        event.replayable = False
    else:
        event.pieces = (f"nn.init.{name}(", written)
    return event


def _file_function(frame: FrameType, target: Tensor) -> FrameType | None:
    """The outermost of the frames from ``frame`` outward that run a function of the model's file on ``target``.

    A module-level function (``trunc_normal_``, and the
    ``_no_grad_trunc_normal_`` it calls) whose first parameter holds
    ``target``; None when ``frame`` is no such function.
    """
    found = None
    while frame is not None and _file_function_of(frame) is not None:
        code = frame.f_code
        first = frame.f_locals.get(code.co_varnames[0]) if code.co_argcount else None
        if not (isinstance(first, Tensor) and _identity(first) == _identity(target)):
            break
        found, frame = frame, frame.f_back
    return found


def _file_function_of(frame: FrameType) -> Callable | None:
    """The module-level function ``frame`` runs, if it is one."""
    function = frame.f_globals.get(frame.f_code.co_name)
    if inspect.isfunction(function) and function.__code__ is frame.f_code:
        return function
    return None


def _function_event(frame: FrameType, target: Tensor) -> _Event:
    """The call of the file's function ``frame`` runs, as the model's code made it."""
    function = _file_function_of(frame)
    statement, where = _root_statement(frame.f_back)
    event = _Event(
        target,
        random=True,  # whether it draws only running it tells: placed as if it did
        statement=statement,
        function=function,
        where=where,
    )
    written = _arguments(function, frame)
    if written is None or kept_function(function) is None:
        event.replayable = False
    else:
        event.pieces = (f"{function.__name__}(", written)
    return event


def _arguments(function: Callable, frame: FrameType) -> str | None:
    """``, std=0.02)``: the arguments after the first that ``frame``'s call bound, defaults left out."""
    written = []
    for parameter in list(inspect.signature(function).parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            return None
        value = frame.f_locals.get(parameter.name, parameter.default)
        if parameter.default is not inspect.Parameter.empty and _same(
            value, parameter.default
        ):
            continue
        try:
            text = _literal(value)
        except Exception:
            return None
        required = parameter.default is inspect.Parameter.empty
        written.append(text if required else f"{parameter.name}={text}")
    return "".join(f", {w}" for w in written) + ")"


def _literal(value: Any) -> str:
    """``value`` as source: a float that is a square root or its inverse as such.

    ``nn.Linear`` draws its weight with ``a=math.sqrt(5)`` and its bias
    within ``1 / math.sqrt(fan_in)``: written so, as the layer rows write
    them, not as ``2.23606797749979``; a short decimal (``0.01``) stays one.
    """
    if isinstance(value, float) and math.isfinite(value) and len(repr(abs(value))) > 8:
        sign = "-" if value < 0 else ""
        size = abs(value)
        root = round(size * size)
        if 1 < root <= 1 << 24 and math.sqrt(root) == size:
            return f"{sign}math.sqrt({root})"
        inverse = round(1 / (size * size))
        if 1 < inverse <= 1 << 24 and 1 / math.sqrt(inverse) == size:
            return f"{sign}1 / math.sqrt({inverse})"
    return literal(value)


def _same(value: Any, default: Any) -> bool:
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:
        return False


def _root_statement(
    frame: FrameType,
) -> tuple[tuple[str, ...], tuple[str, int] | None]:
    """The comments above, and the first line of, the outermost model ``__init__`` statement running; its file and line.

    The outermost frame of an ``nn.Module``'s ``__init__`` is the root's
    (``self.apply(self._init_weights)``, nanoGPT's loop over
    ``self.named_parameters()``); empty when there is none.
    """
    outermost, selves = None, set()
    while frame is not None:
        owner = (
            frame.f_locals.get("self") if frame.f_code.co_name == "__init__" else None
        )
        if isinstance(owner, nn.Module):
            outermost = frame
            selves.add(id(owner))
        frame = frame.f_back
    if outermost is None or len(selves) > 1:  # a block's __init__ ran it
        return (), None
    return _statement_at(outermost.f_code, outermost.f_lineno)


def _statement_at(code, line: int) -> tuple[tuple[str, ...], tuple[str, int] | None]:
    """Comment lines above the top-level statement of ``code``'s function holding ``line``, and its first line; its file and line."""
    source = read_file(code.co_filename)
    function = source and definition_at(source.tree, code.co_firstlineno, FUNCTIONS)
    if not function:
        return (), None
    for statement in function.body:
        start, end = statement.lineno, statement.end_lineno or statement.lineno
        if start <= line <= end:
            first = source.lines[start - 1].strip() + (" ..." if end != start else "")
            above = []
            at = start
            while at > 1 and source.comment_alone(at - 1):
                at -= 1
                above.insert(0, source.comments[at])
            return (*above, first), (code.co_filename, start)
    return (), None


def _calls(events: list[_Event], state: Mapping[str, Tensor]) -> tuple[InitCall, ...]:
    """The replayable calls on ``state``'s tensors, placed among the draws (see :class:`InitCall`)."""
    keys_of: dict[tuple, list[str]] = {}
    storages: dict[int, list[str]] = {}
    for key, tensor in state.items():
        if isinstance(tensor, Tensor):
            keys_of.setdefault(_identity(tensor), []).append(key)
            storages.setdefault(_storage(tensor), []).append(key)
    unreplayable: set[str] = set()
    placed: list[tuple[int, _Event, tuple[str, ...]]] = []
    for index, event in enumerate(events):
        if not isinstance(event.target, Tensor):
            continue
        keys = keys_of.get(_identity(event.target))
        if event.pieces is None and event.replayable:
            continue  # a draw; placing the calls reads it below
        if keys is None and event.default:
            continue  # a layer's draws into a tensor it lost: the rows draw them
        if keys is None:
            shared = storages.get(_storage(event.target), ())
            unreplayable.update(shared)
            if event.random and event.replayable and not shared:
                placed.append((index, event, ()))  # drawn into a tensor since replaced
            continue
        if not event.replayable:
            unreplayable.update(keys)
            continue
        placed.append((index, event, tuple(keys)))
    # per event, from the end: whether a draw (one no call makes again) comes
    # after it, and the first key such a draw gives a tensor of
    drawn_after: list[tuple[bool, str | None]] = []
    later, first = False, None
    for event in reversed(events):
        drawn_after.append((later, first))
        if event.random and (
            event.pieces is None or not event.replayable or event.default
        ):
            later = True
            if isinstance(event.target, Tensor):
                found = keys_of.get(_identity(event.target))
                first = found[0] if found else first
    drawn_after.reverse()
    calls = []
    for index, event, keys in placed:
        if unreplayable & set(keys):
            continue
        discarded = None if keys else empty(event.target)
        later, before = drawn_after[index]
        calls.append(
            InitCall(
                event.pieces,
                keys,
                event.random,
                not later,
                before,
                event.statement,
                event.function,
                discarded,
                event.default,
                event.where,
            )
        )
    return tuple(calls)


def _identity(tensor: Tensor) -> tuple:
    return (
        _storage(tensor),
        tensor.storage_offset(),
        tuple(tensor.shape),
        tuple(tensor.stride()),
        tensor.dtype,
    )


def _storage(tensor: Tensor) -> int:
    try:
        return tensor.untyped_storage().data_ptr()
    except Exception:
        return id(tensor)


__all__ = ["InitCall", "InitRecorder"]
