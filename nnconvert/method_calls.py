"""Which nodes a call of one of the user's helper methods made, recorded while tracing.

A VAE's ``forward`` calls ``self.encode(x)``, ``self.reparameterize(mu,
logvar)`` and ``self.decode(z)``; traced, their ops land in ``forward``'s
graph and the methods would be gone from the output, though the user calls
``model.decode(z)`` on its own (SPEC invariant 8). So while a module is
traced, each helper method of its class (:func:`helper_methods`) is wrapped
on the instance: a call notes, on the nodes it makes, which call they belong
to (:data:`SCOPE`); on the nodes it was given, which parameters they are
(:data:`ARGUMENTS`); and on the nodes it returned, where in the result they
stand (:data:`RETURNS`). The pass :mod:`.passes.methods` turns each such
call back into one call node and a body of its own.

All of it is plain data in ``node.meta``, keyed by ``"encode#0"`` (the
method and how many calls of it came before in the trace), so a graph
merged from two traces, or rebuilt by a pass that copies ``meta``, still
says which call each node belongs to. A call a helper makes is recorded
inside it (:attr:`Scope.parent`: DETR's ``with_pos_embed`` in
``forward_post``). An argument that is None counts as the caller's own
parameter where the call's text passes that parameter on
(:meth:`MethodRecorder.passed_inputs`: DETR's ``src_mask``). A call made
with anything else but traced values (a literal, a None written at the
call), or returning anything else, is recorded as a :class:`Scope` with
``plain=False``: its nodes are then inlined, as before;
a number the concrete tracer's guarded answers made (LeNet's
``num_flat_features``) is returned as a value (:func:`returned_number`).
A functional file's helpers (``encode(params, x)``) are recorded through
:func:`recorded_call`, so that they come back as methods.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import sys
import sysconfig
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterator

from torch import fx, nn

from .call_sites import passed_parameters

#: ``node.meta`` key: the :class:`Scope` of the helper call that made the node.
SCOPE = "method_scope"
#: ``node.meta`` key: call key -> the parameters the node was passed as.
ARGUMENTS = "method_arguments"
#: ``node.meta`` key: call key -> the positions of the node in the call's result.
RETURNS = "method_returns"

#: Python's own files and installed libraries' are not the user's (a model
#: library's helpers, Hugging Face's ``get_extended_attention_mask``, stay inlined).
_LIBRARY_DIRS = tuple(
    Path(sysconfig.get_paths()[key]) for key in ("stdlib", "purelib", "platlib")
) + (Path(fx.__file__).parent.parent, Path(__file__).parent)


def returned_number(value: Any) -> Any:
    """A helper's result that is a plain number (LeNet's ``num_flat_features``), as a value.

    The concrete tracer answers the helper's questions about shapes with
    guards and the helper returns ``400``; recorded as this call, the number
    stays the helper's result (``x.view(-1, self.num_flat_features(x))``)
    instead of a literal that no call explains. :mod:`.passes.methods`
    writes it back as the literal wherever the call is not kept.
    """
    return value


@dataclass
class Scope:
    """One call of a helper method: ``key`` ``"encode#0"``, its parameters and result form.

    ``returns`` is ``"one"`` (a single value), ``"tuple"`` or ``"list"``;
    ``nones``: the positions of a tuple or list result that hold None
    (Whisper's ``qkv_attention`` returns ``out, qk`` with ``qk = None`` on
    its SDPA path); ``plain`` is False when the call cannot be a call in the output (a
    literal argument, a result that is no traced value). Both are known when
    the call returns; the nodes it made share this one object, so they are
    set then, on all of them at once.
    """

    key: str
    name: str
    qualname: str
    parameters: tuple[str, ...]
    returns: str
    function: Callable
    plain: bool = True
    nones: tuple[int, ...] = ()
    length: int = 1  # of a tuple or list result
    made_nodes: bool = False
    #: the helper call this one is made in (DETR's ``with_pos_embed`` in ``forward_post``)
    parent: Scope | None = None

    @property
    def depth(self) -> int:
        """How many helper calls this one is made in."""
        return 0 if self.parent is None else self.parent.depth + 1


def helper_methods(module: nn.Module) -> dict[str, Callable]:
    """The methods of ``module``'s class that the user wrote, other than ``forward``.

    Plain functions defined in the user's own classes (never ``nn.Module``'s,
    a library's, properties, static or class methods, or dunder methods),
    not shadowed by an attribute of the instance.
    """
    found: dict[str, Callable] = {}
    # an override of a library method (Whisper's ``Conv1d._conv_forward``)
    # is called by the library's code, not the user's: it is no helper
    seen: set[str] = {
        name
        for cls in type(module).__mro__
        if _is_library_class(cls)
        for name in vars(cls)
    }
    for cls in type(module).__mro__:
        if cls is nn.Module or not issubclass(cls, nn.Module):
            break
        for name, value in vars(cls).items():
            if name in seen:
                continue
            seen.add(name)
            if (
                inspect.isfunction(value)
                and name != "forward"
                and not name.startswith("__")
                and name not in vars(module)
                and is_users_function(value)
            ):
                found[name] = value
    return found


def _is_library_class(cls: type) -> bool:
    """A class from an installed library (``nn.Conv1d``), not from the user's files."""
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return file is not None and not file.startswith("<") and not _is_user_file(file)


def is_users_function(function: Callable) -> bool:
    """A function of the user's own files (or of code nnconvert wrote and ran), no library's."""
    filename = function.__code__.co_filename
    if filename.startswith("<"):  # code nnconvert wrote and ran: a converted output
        return filename.startswith("<nnconvert") and filename in linecache.cache
    return _is_user_file(filename)


@functools.lru_cache(maxsize=None)
def _is_user_file(filename: str) -> bool:
    path = Path(filename)
    return path.exists() and not any(path.is_relative_to(d) for d in _LIBRARY_DIRS)


def recorded_call(
    function: Callable,
    arguments: dict[str, Any] | None,
    call: Callable[[], Any],
    caller: FrameType | None = None,
) -> Any:
    """``call()``, recorded as a helper call when an argument is traced.

    For a functional file's helper (``encode(params, x)``, called with the
    function's own ``params``): it is the method ``encode`` of the model the
    front end reads, so converting the output again keeps it. ``caller``:
    the frame making the call, which says what it passed where the
    arguments are None (:meth:`MethodRecorder.passed_inputs`).
    """
    tracers = [v.tracer for v in (arguments or {}).values() if isinstance(v, fx.Proxy)]
    recorder = getattr(tracers[0], "helper_calls", None) if tracers else None
    if not isinstance(recorder, MethodRecorder):
        return call()
    inputs: dict[str, fx.Node] = {}
    if caller is not None:
        signature = inspect.signature(function)
        inputs = recorder.passed_inputs(caller, signature, arguments, ())
    return recorder.run(function.__name__, function, arguments, call, inputs)


def arguments_of(
    function: Callable, args: tuple, kwargs: dict
) -> dict[str, Any] | None:
    """``function``'s parameters after the first, as a call fills them (see :func:`_arguments`)."""
    return _arguments(inspect.signature(function), args, kwargs)


class MethodRecorder:
    """Wraps a traced module's helper methods and notes what each call made."""

    def __init__(self, tracer: fx.Tracer):
        self._tracer = tracer
        self._counts: dict[str, int] = {}
        self._active: Scope | None = None  # the innermost helper call running
        #: what each running helper call was given, innermost last: its code
        #: and its parameters' nodes (a call it makes may pass them on)
        self._given: list[tuple[Any, dict[str, fx.Node]]] = []

    def record(self, node: fx.Node) -> None:
        """``node`` was just made: it belongs to the innermost helper call running, if any."""
        if self._active is not None:
            node.meta[SCOPE] = self._active
            scope: Scope | None = self._active
            while scope is not None:
                scope.made_nodes = True
                scope = scope.parent

    @contextmanager
    def wrapped(self, root: Any) -> Iterator[None]:
        """``root``'s helper methods record their calls while the block runs."""
        methods = helper_methods(root) if isinstance(root, nn.Module) else {}
        for name, function in methods.items():
            object.__setattr__(root, name, self._wrapper(root, name, function))
        try:
            yield
        finally:
            for name in methods:
                root.__dict__.pop(name, None)
            self._counts.clear()
            self._active = None
            self._given.clear()

    def _wrapper(self, root: nn.Module, name: str, function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            arguments = _arguments(signature, (root, *args), kwargs)
            inputs = self.passed_inputs(sys._getframe(1), signature, arguments, (root,))
            return self.run(
                name,
                function,
                arguments,
                lambda: function(root, *args, **kwargs),
                inputs,
            )

        return call

    def passed_inputs(
        self,
        caller: FrameType,
        signature: inspect.Signature,
        arguments: dict[str, Any] | None,
        bound: tuple[Any, ...],
    ) -> dict[str, fx.Node]:
        """Parameter given None -> the node of the caller's own parameter the call
        passed there (:func:`~nnconvert.call_sites.passed_parameters`).

        For a call that the traced function itself makes (``forward``, or a
        functional file's block function), the placeholder of that input
        (fx names an input traced as None ``mask_1`` until the trace is
        done: :func:`~nnconvert.trace._restore_input_names`); for a call a
        helper makes, what that helper's call was given there. ``bound``:
        the values of the parameters the call's text does not write (``self``).
        """
        if arguments is None or not any(v is None for v in arguments.values()):
            return {}
        if self._given:
            code, own = self._given[-1]
        else:
            root = getattr(self._tracer, "root", None)
            if root is None:
                return {}
            traced = getattr(root, "function", None) or type(root).forward
            code = getattr(traced, "__code__", None)
            own = {}
            for node in self._tracer.graph.nodes:
                if node.op == "placeholder":
                    name = str(node.target)
                    own[name] = node
                    own.setdefault(name.removesuffix("_1"), node)
        if caller.f_code is not code:
            return {}
        passed = passed_parameters(caller, signature, bound)
        return {
            parameter: own[name]
            for parameter, name in passed.items()
            if name in own and arguments.get(parameter, 0) is None
        }

    def run(
        self,
        name: str,
        function: Callable,
        arguments: dict[str, Any] | None,
        call: Callable[[], Any],
        inputs: dict[str, fx.Node] | None = None,
    ) -> Any:
        """``call()``, a call of the helper ``function`` given ``arguments``, recorded.

        ``arguments`` are its parameters after the first (``self``, or a
        functional file's ``params``) by name; None when they cannot be
        named. ``inputs``: the parameters given None that the call passed
        an input of the traced ``forward`` (``src_mask``), as that input's
        placeholder: such a parameter is an argument like a traced one. A
        call inside a helper's call is recorded inside it (``parent``).
        """
        index = self._counts.get(name, 0)
        self._counts[name] = index + 1
        key = f"{name}#{index}"
        given = {
            parameter: (inputs or {}).get(parameter) if v is None else self._node(v)
            for parameter, v in (arguments or {}).items()
        }
        plain = arguments is not None and all(n is not None for n in given.values())
        parameters = tuple(arguments or ())
        parent = self._active
        self._active = scope = Scope(
            key, name, function.__qualname__, parameters, "one", function, plain
        )
        scope.parent = parent
        self._given.append(
            (function.__code__, {p: n for p, n in given.items() if n is not None})
        )
        try:
            result = call()
            if plain and self._is_guarded_number(result, scope):
                result = self._tracer.create_proxy(
                    "call_function", returned_number, (result,), {}
                )
        finally:
            self._active = parent
            self._given.pop()
        returned = self._returned(result)
        if not plain or returned is None:
            scope.plain = False
            return result
        scope.returns, nodes = returned
        scope.nones = tuple(i for i, node in enumerate(nodes) if node is None)
        scope.length = len(nodes)
        for parameter, node in given.items():
            marks = node.meta.setdefault(ARGUMENTS, {})
            marks[key] = marks.get(key, ()) + (parameter,)
        for position, node in enumerate(nodes):
            if node is None:
                continue
            marks = node.meta.setdefault(RETURNS, {})
            marks[key] = marks.get(key, ()) + (position,)
        return result

    def _is_guarded_number(self, result: Any, scope: Scope) -> bool:
        """A number the concrete tracer's answers made, within a call that made nodes.

        Only the concrete tracer: there a value stands for a number in every
        question Python asks of it (each answer guarded); a symbolic trace
        would fail where it did not before.
        """
        return (
            type(result) in (int, float)
            and hasattr(self._tracer, "value_of")
            and scope.made_nodes
        )

    def _node(self, value: Any) -> fx.Node | None:
        """The node of a traced value of this tracer (never a lazy attribute's)."""
        if (
            isinstance(value, fx.Proxy)
            and value.tracer is self._tracer
            and not isinstance(value, fx.proxy.Attribute)
        ):
            return value.node
        return None

    def _returned(self, result: Any) -> tuple[str, list[fx.Node | None]] | None:
        """The result's form and nodes: one traced value, or a tuple or list of
        them, where some may be None (written back as None)."""
        if self._node(result) is not None:
            return "one", [result.node]
        if type(result) in (tuple, list) and result:
            nodes = [self._node(v) for v in result]
            known = all(n is not None or v is None for n, v in zip(nodes, result))
            if known and any(n is not None for n in nodes):
                return type(result).__name__, nodes
        return None


def _arguments(
    signature: inspect.Signature, args: tuple, kwargs: dict
) -> dict[str, Any] | None:
    """Parameter name -> value of one call after the first, defaults filled in.

    None where a parameter has no name a call could fill (``*args``,
    keyword-only ones). A keyword-only number is a setting the traced body
    holds as a literal (a functional helper's ``*, value: int``, which the
    printer made of a literal of a block's helper method): left out, as
    ``training`` is.
    """
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    parameters = [
        p
        for p in list(signature.parameters.values())[1:]
        if not (p.name == "training" and p.kind is inspect.Parameter.KEYWORD_ONLY)
        and not _is_literal_setting(p, bound.arguments.get(p.name))
    ]  # functional style's mode: the traced body reads the flag itself
    if any(p.kind not in _NAMED for p in parameters):
        return None
    return {p.name: bound.arguments[p.name] for p in parameters}


_NAMED = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _is_literal_setting(parameter: inspect.Parameter, value: Any) -> bool:
    """A keyword-only parameter given a plain number (or a tuple of them)."""
    if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
        return False
    if isinstance(value, (tuple, list)):
        return bool(value) and all(_is_number(v) for v in value)
    return _is_number(value)


def _is_number(value: Any) -> bool:
    return type(value) in (int, float, bool)
