"""Where each graph node comes from in the user's source, and what the user called it.

The output should read like the code it came from (SPEC invariant 8), so
while a tracer records a node, :class:`SourceRecorder` notes the user's
frames on the stack (outermost first: ``forward``, then any helper method
it called) and, for each of those frames, the local variable the user
bound the node's value to (``mu, logvar = self.encode(x)`` binds two).
Both are read from the running frames, not guessed from the text: a
frame's locals are looked at whenever a node is made and once more when
tracing ends, so every binding of a traced value is seen.

What is recorded is plain data in ``node.meta`` (:data:`SOURCE`,
:data:`NAMES`, :data:`CALL_AT`), so it survives the passes that copy a
node's meta. The printer reads it through :func:`user_name`,
:func:`statement_line` and :mod:`.source_text` (comments, docstrings);
:mod:`.calls_as_layers` finds the very call a node was made by through
:func:`call_span`, to rewrite it in place. A model without source
(built in a REPL, code objects without a file) records nothing and prints
as before.
"""

from __future__ import annotations

import functools
import itertools
import linecache
import sys
import sysconfig
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import fx, nn

#: ``node.meta`` key: the user's frames the node was made in, outermost first.
SOURCE = "source"
#: ``node.meta`` key: per frame of :data:`SOURCE`, the name the user bound the value to.
NAMES = "source_names"
#: ``node.meta`` key: every name the traced function (the outermost frame)
#: bound the value to, first first (``x``, then ``shortcut`` after
#: ``shortcut = x``); a placeholder's too
ALL_NAMES = "all_names"
#: ``node.meta`` key: the :class:`CallSpan` of the expression the innermost user
#: frame was evaluating when the node was made (``F.relu(x)`` exactly, not its line)
CALL_AT = "call_at"
#: ``node.meta`` key: the attribute the traced module stored the value in
#: (CLIP's ``self.attn_mask = self.attn_mask.to(...)``): its name, where no
#: local names it (:mod:`nnconvert.stored_attributes`)
STORED_AS = "stored_as"

_LIBRARY_DIRS = (
    Path(fx.__file__).parent.parent,  # torch
    Path(__file__).parent,  # nnconvert
)
#: Python's own library; installed packages under it (a model library) are code too.
_STDLIB = Path(sysconfig.get_paths()["stdlib"])
_INSTALLED = tuple(Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib"))


@dataclass(frozen=True)
class Frame:
    """One user frame a node was made in: ``file:line`` inside the function at ``first_line``."""

    file: str
    line: int
    function: str
    first_line: int


@dataclass(frozen=True)
class CallSpan:
    """Where in ``file`` an expression stands, as :mod:`ast` places it (columns in UTF-8 bytes)."""

    file: str
    line: int
    end_line: int
    column: int
    end_column: int


#: Where the user's code was: each user frame, outermost first, with the line
#: and instruction it was at (the frame runs on; they are read when needed).
Place = tuple[tuple[types.FrameType, int, int], ...]


class SourceRecorder:
    """Notes, for every node a tracer makes, the user's frames and the names bound to it."""

    def __init__(self, tracer: fx.Tracer):
        self._tracer = tracer
        self._start: types.FrameType | None = None
        self._frames: dict[int, types.FrameType] = {}  # kept alive: ids stay unique
        self._stacks: dict[fx.Node, tuple[tuple[int, Frame], ...]] = {}
        self._calls: dict[fx.Node, CallSpan] = {}
        #: per frame, every name each node was seen bound to, first first
        self._names: dict[int, dict[fx.Node, list[str]]] = {}
        self._wrappers: frozenset[types.CodeType] = frozenset()

    def start(self, root: Any = None) -> None:
        """Tracing starts here: frames outside this call are not the model's.

        ``root``: what is traced, whose decorators' wrappers are no frames
        of the model's (:func:`wrapper_codes`).
        """
        self._start = sys._getframe(1)
        self._wrappers = wrapper_codes(root)

    def record(self, node: fx.Node) -> None:
        """Note where ``node`` is made, and the names bound so far in those frames."""
        if self._start is None:
            return
        stack = self._user_frames()
        for frame in stack:
            self._snapshot(frame)
        self._stacks[node] = tuple((id(f), _frame(f)) for f in stack)
        span = _call_span(stack[-1]) if stack else None
        if span is not None:
            self._calls[node] = span

    def here(self) -> Place | None:
        """Where the user's code is now, for a node made later (:meth:`record_at`).

        Cheap: asked at every attribute read (``x.view`` too, which never
        makes a node), it only notes the frames and where they stand.
        """
        if self._start is None:
            return None
        return tuple((f, f.f_lineno, f.f_lasti) for f in self._user_frames())

    def record_at(self, node: fx.Node, place: Place) -> None:
        """Note ``node`` as made at ``place`` (:meth:`here`), not where it was made."""
        for frame, _, _ in place:
            self._frames[id(frame)] = frame  # kept alive: its id stays its own
        self._stacks[node] = tuple((id(f), _frame(f, line)) for f, line, _ in place)
        span = _call_span(place[-1][0], place[-1][2]) if place else None
        if span is None:
            self._calls.pop(node, None)
        else:
            self._calls[node] = span

    def finish(self, graph: fx.Graph) -> None:
        """Write what was noted into ``node.meta`` of ``graph``'s nodes, then forget it."""
        for frame in self._frames.values():
            self._snapshot(
                frame
            )  # bindings made after the last node, e.g. by ``return``
        for node in graph.nodes:
            stack = self._stacks.get(node)
            if not stack:
                continue
            node.meta[SOURCE] = tuple(frame for _, frame in stack)
            node.meta[NAMES] = tuple(
                self._names.get(key, {}).get(node, [None])[0] for key, _ in stack
            )
            if node in self._calls:
                node.meta[CALL_AT] = self._calls[node]
        outermost = {stack[0][0] for stack in self._stacks.values() if stack}
        for node in graph.nodes:
            stack = self._stacks.get(node)
            if stack:
                key = stack[0][0]
            elif node.op == "placeholder" and len(outermost) == 1:
                (key,) = outermost  # an input: a name of the traced function
            else:
                continue
            names = self._names.get(key, {}).get(node)
            if names:
                node.meta[ALL_NAMES] = tuple(names)
        self._frames.clear()
        self._stacks.clear()
        self._calls.clear()
        self._names.clear()
        self._start = None

    def _user_frames(self) -> list[types.FrameType]:
        """The frames of user code between the tracer's entry and here, outermost first."""
        frames = []
        frame = sys._getframe(2)
        while frame is not None and frame is not self._start:
            code = frame.f_code
            if is_user_code(code.co_filename) and code not in self._wrappers:
                frames.append(frame)
            frame = frame.f_back
        if frame is None:  # not inside this tracer's call
            return []
        return frames[::-1]

    def _snapshot(self, frame: types.FrameType) -> None:
        """Each traced value a local of ``frame`` holds is named by its first local.

        Every local it is seen under is noted too, in that order
        (:data:`ALL_NAMES`: ``shortcut = x`` names the input twice).
        """
        self._frames[id(frame)] = frame
        seen = self._names.setdefault(id(frame), {})
        try:
            local_items = list(frame.f_locals.items())
        except Exception:  # a frame whose locals cannot be read names nothing
            return
        for name, value in local_items:
            node = _node_of(value, self._tracer)
            if node is not None and name.isidentifier() and name != "self":
                if name not in seen.setdefault(node, []):
                    seen[node].append(name)


def wrapper_codes(root: Any) -> frozenset[types.CodeType]:
    """The code of the wrappers decorating ``root``'s ``forward`` and its submodules'.

    Hugging Face decorates a layer's ``forward`` (``@deprecate_kwarg``, the
    gradient-checkpointing wrapper every ``GradientCheckpointingLayer``
    gets): the traced call runs through ``wrapped_func(*args, **kwargs)``
    before the user's ``forward``. Such a wrapper (a function with
    ``__wrapped__``, as ``functools.wraps`` leaves it) is library plumbing:
    counted as the user's frame, its comments would stand in the output and
    its locals (``args``, ``kwargs``) would name the inputs.
    """
    if isinstance(root, nn.Module):
        functions = [cls.forward for cls in {type(m) for m in root.modules()}]
    else:
        functions = [root] if callable(root) else []
    codes = set()
    for function in functions:
        seen = 0
        while hasattr(function, "__wrapped__") and seen < 100:  # a loop ends
            code = getattr(function, "__code__", None)
            if code is not None:
                codes.add(code)
            function, seen = function.__wrapped__, seen + 1
    return frozenset(codes)


def _node_of(value: Any, tracer: fx.Tracer) -> fx.Node | None:
    """The node a local holds, never making one.

    An attribute proxy (``device = idx.device``) makes its ``getattr`` node
    only when first used; reading ``.node`` would add it to the graph.
    """
    if not isinstance(value, fx.Proxy) or value.tracer is not tracer:
        return None
    if isinstance(value, fx.proxy.Attribute):
        return value._node
    return value.node


def _frame(frame: types.FrameType, line: int | None = None) -> Frame:
    """``frame`` at ``line`` (default: the line it runs now)."""
    code = frame.f_code
    function = getattr(code, "co_qualname", code.co_name)
    line = frame.f_lineno if line is None else line
    return Frame(code.co_filename, line, function, code.co_firstlineno)


def _call_span(frame: types.FrameType, lasti: int | None = None) -> CallSpan | None:
    """The expression ``frame`` is evaluating: its current instruction's position.

    A call's instruction spans the whole call (``F.dropout(h, self.p)``), so
    two calls on one line are told apart. Python 3.11 and later; None before.
    Read afresh every time: code objects compare equal across files (two
    loaded outputs' ``forward``), so no cache keyed by them is safe.
    ``lasti``: the instruction it was at when noted (default: now).
    """
    read = getattr(frame.f_code, "co_positions", None)
    if read is None:
        return None
    lasti = frame.f_lasti if lasti is None else lasti
    position = next(itertools.islice(read(), lasti // 2, None), None)
    if position is None or None in position:
        return None
    line, end_line, column, end_column = position
    return CallSpan(frame.f_code.co_filename, line, end_line, column, end_column)


def is_user_code(filename: str) -> bool:
    """A file of the user's (or a model library's), not torch's, nnconvert's or Python's."""
    if filename.startswith("<"):  # code nnconvert generated and ran is read back
        return filename.startswith("<nnconvert") and filename in linecache.cache
    return _is_user_file(filename)


@functools.lru_cache(maxsize=None)
def is_installed(filename: str) -> bool:
    """A file of an installed package (a model library: ``transformers``, ``timm``)."""
    path = Path(filename)
    return any(path.is_relative_to(d) for d in _INSTALLED)


@functools.lru_cache(maxsize=None)
def _is_user_file(filename: str) -> bool:
    path = Path(filename)
    if any(path.is_relative_to(d) for d in _LIBRARY_DIRS) or not path.exists():
        return False
    return not path.is_relative_to(_STDLIB) or is_installed(filename)


def node_frames(node: fx.Node) -> tuple[Frame, ...]:
    """The user's frames ``node`` was made in, outermost first (none: no source)."""
    return node.meta.get(SOURCE, ())


def user_name(node: fx.Node) -> str | None:
    """The name the user's code bound ``node``'s value to, the outermost frame's first.

    ``mu`` for the first value of ``mu, logvar = self.encode(x)`` (bound in
    ``forward``) rather than ``encode``'s own name for it. A part of a
    statement is named after what the statement assigns: in ``z = mu *
    torch.exp(logvar) + c`` only the sum is bound to ``z``, but its parts
    (made on the same line of the same frames, each read only by the next)
    are ``z`` too. A value stored on ``self`` and bound to no local is
    named after the attribute (:data:`STORED_AS`). Read on the graph as
    the passes left it.
    """
    while True:
        for name in node.meta.get(NAMES, ()):
            if name:
                return name
        if STORED_AS in node.meta:
            return node.meta[STORED_AS]
        if len(node.users) != 1:
            return None
        (user,) = node.users
        if not node_frames(node) or node_frames(user) != node_frames(node):
            return None
        node = user


def call_span(node: fx.Node) -> CallSpan | None:
    """The expression of the user's innermost frame that made ``node`` (:data:`CALL_AT`)."""
    return node.meta.get(CALL_AT)


def statement_line(node: fx.Node) -> Frame | None:
    """The outermost user frame of ``node``: the line of the converted function it came from."""
    frames = node_frames(node)
    return frames[0] if frames else None


def carry_frames(origin: fx.Node, made: list[fx.Node]) -> None:
    """Nodes a pass made to spell ``origin`` (a layer's prologue) come from its line too.

    Only the frames: the names the user bound are ``origin``'s own. So the
    printer nests them in the statement the user wrote (``x + self.attn(h,
    h, h)[0]`` stays one statement with its ``transpose``).
    """
    frames = origin.meta.get(SOURCE)
    if not frames:
        return
    for node in made:
        node.meta.setdefault(SOURCE, frames)
