"""The user's own functions that ``forward`` calls, kept as the user wrote them.

llama2.c's attention calls ``apply_rotary_emb(xq, xk, freqs_cos,
freqs_sin)``, DINO's ``DropPath`` calls ``drop_path(x, self.drop_prob,
self.training)``, kuangliu's EfficientNet ``swish(x)``. Traced through,
such a function is gone from the output: its operations land in each
caller, with what one trace answered folded in (``keep_prob`` as
``0.8999999985098839``, a branch on ``training`` as ``if self.training:``),
and its name, docstring and comments go with it (SPEC invariant 8). Yet a
function that reads nothing but its arguments computes the same wherever
its text runs. So the tracer records a call of such a function as one
``call_function`` node (:func:`calls_recorded`), and the output writes the
call as the user did and the function's text once, before the code that
calls it (:func:`kept_function`).

A function is kept when its text can stand in the output alone: a plain
function defined at the top level of a user's file (not an installed
library's, whose functions are traced through or imported), not decorated,
no generator, no ``global``; what it reads of its file is builtins, imports
(the output imports them too), other functions kept so and constants
written as literals (``EPS = 1e-6``) -- nothing the file computes when it
is loaded (a tensor drawn at random, a model). Its name and the names its
code binds are none of those the output defines itself (``sub_params``,
``lstm``, :data:`~nnconvert.naming.MODULE_NAMES`), and it takes no
``params`` first: such a function of a functional-style file is a block or
helper over the weights, which :mod:`nnconvert.functional` reads.

A call is recorded only where it can be written: every argument a traced
value (the training flag included: ``self.training``) or a literal (a
number, a string, None, a dtype; tuples and lists of them), one at least
traced. A function given a module, a weight dict (a functional file's
``block(params, x)``) or a tensor the trace does not know is traced
through, as before.
"""

from __future__ import annotations

import ast
import functools
import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import fx

from .as_written import comments_above_long_lines
from .errors import ConversionError
from .method_calls import is_users_function
from .naming import MODULE_NAMES
from .source_text import docstring_node, function_definition


@dataclass(frozen=True)
class KeptFunction:
    """A function the output keeps as written, and the code of its file it needs.

    ``code``: each top-level statement as ``((file, line), text)``, in file
    order -- the function itself, the functions and constants it reads;
    ``imports``: the printer's import names (``torch``, ``F``) and the
    import lines (``from typing import Tuple``) that code needs.
    """

    name: str
    code: tuple[tuple[tuple[str, int], str], ...]
    imports: frozenset[str]

    @property
    def names(self) -> frozenset[str]:
        """The module-level names the kept code defines (none other may take them)."""
        return frozenset(n for _, text in self.code for n in _bound(text))


def kept_function(function: Any) -> KeptFunction | None:
    """``function`` as the output keeps it, or None where its text cannot stand alone.

    None too for a function registered with ``torch.fx.wrap``: its library
    marks it opaque, and the output imports it from there, as before.
    """
    if not inspect.isfunction(function):  # a table, a class: unhashable for the cache
        return None
    if any(function is wrapped for wrapped in fx_wrapped_functions()):
        return None
    return _kept_function(function)


def fx_wrapped_functions() -> list[Callable]:
    """Every function registered with ``torch.fx.wrap``, wherever it was registered.

    fx keeps such a function opaque only in the module that called ``wrap``;
    generated code imports it into its own module, and converting that code
    again must keep it opaque too, or the round trip would inline it.
    """
    registry = getattr(fx._symbolic_trace, "_wrapped_fns_to_patch", {})
    return [frame[name] for (_, name), frame in list(registry.items()) if name in frame]


@functools.lru_cache(maxsize=None)
def _kept_function(function: Any) -> KeptFunction | None:
    if not (
        inspect.isfunction(function)
        and function.__qualname__ == function.__name__
        and function.__closure__ is None
        and function.__name__ not in MODULE_NAMES
        and is_users_function(function)
        and function.__globals__.get(function.__name__) is function
        # a functional file's function over the weights: the front end reads it
        and function.__code__.co_varnames[:1] != ("params",)
    ):
        return None
    found = function_definition(function)
    if found is None:
        return None
    source, definition = found
    if definition not in source.tree.body or not _stands_alone(definition):
        return None
    # the tracer imports this module; init_code imports the tracer (circular)
    from .init_code import module_code

    resolved = module_code(
        source,
        function.__code__.co_filename,
        function.__globals__,
        {function.__name__},
        set(MODULE_NAMES),
    )
    if resolved is None:
        return None
    code, imports = resolved
    statements = [ast.parse(text).body for _, text in code]
    if not all(len(s) == 1 and _is_plain_definition(s[0]) for s in statements):
        return None
    # a trailing comment black would wrap the statement for goes above it
    laid_out = tuple(
        (key, "\n".join(comments_above_long_lines(text.split("\n"), 0)))
        for key, text in code
    )
    return KeptFunction(function.__name__, laid_out, imports)


def _stands_alone(definition: ast.AST) -> bool:
    """A plain ``def``: no decorators, no ``yield``, no ``global`` or ``nonlocal``."""
    return (
        isinstance(definition, ast.FunctionDef)
        and not definition.decorator_list
        and not any(
            isinstance(n, (ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal))
            for n in ast.walk(definition)
        )
    )


def _is_plain_definition(statement: ast.stmt) -> bool:
    """A function that stands alone, or a name bound to a literal (``EPS = 1e-6``)."""
    if isinstance(statement, ast.FunctionDef):
        return _stands_alone(statement)
    if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value:
        targets = getattr(statement, "targets", None) or [statement.target]
        try:
            ast.literal_eval(statement.value)
        except ValueError:
            return False
        return all(isinstance(t, ast.Name) for t in targets)
    return False


def _bound(text: str) -> list[str]:
    """The names one kept statement (a ``def``, an assignment of a literal) binds."""
    statement = ast.parse(text).body[0]
    if isinstance(statement, ast.FunctionDef):
        return [statement.name]
    targets = getattr(statement, "targets", None) or [statement.target]
    return [t.id for t in targets]


def defined(kept: KeptFunction) -> dict[str, Any]:
    """The names the kept code binds, each as running that code alone defines it.

    What a check runs the code that calls such a function in: the output's
    own text, its imports first (``torch`` as the output imports it).
    """
    from .printer.imports import Imports  # the printer imports this module's users

    namespace: dict[str, Any] = {}
    imports = Imports(kept.imports).render()
    exec("\n".join([imports, *(text for _, text in kept.code)]), namespace)
    return {name: namespace[name] for name in kept.names}


def kept_functions(functions: Iterable[Any]) -> list[KeptFunction]:
    """The kept functions among call targets, each once, in the order first met.

    Raises :class:`~nnconvert.errors.ConversionError` where two of them
    (from two files) would define one name of the output differently.
    """
    found: dict[str, KeptFunction] = {}
    binders: dict[str, tuple[str, int]] = {}
    for function in functions:
        kept = kept_function(function)
        if kept is None or found.get(kept.name) == kept:
            continue
        for key, text in kept.code:
            for name in _bound(text):
                if binders.setdefault(name, key) != key:
                    raise ConversionError(
                        f"the model calls functions of two files that both define "
                        f"{name!r} ({binders[name][0]}:{binders[name][1]}, "
                        f"{key[0]}:{key[1]}); the output would keep one of them: "
                        "rename one"
                    )
        found[kept.name] = kept
    return list(found.values())


@contextmanager
def calls_recorded(
    tracer: fx.Tracer, namespaces: list[dict[str, Any]]
) -> Iterator[None]:
    """While the block runs, a call of a kept function with traced arguments is one node.

    Each name of the user's ``namespaces`` bound to a kept function calls a
    wrapper that records the call on ``tracer`` (:func:`_recordable`) or
    runs the function as before; the names are bound to the functions
    again after.
    """
    patched = [  # every function judged before any name is rebound
        (namespace, name, value)
        for namespace in namespaces
        for name, value in list(namespace.items())
        if inspect.isfunction(value)
        and kept_function(value) is not None
        and not _tests_identity(value)
    ]
    for namespace, name, value in patched:
        namespace[name] = _recording(tracer, value)
    try:
        yield
    finally:
        for namespace, name, value in patched:
            namespace[name] = value


def _tests_identity(function: Callable, seen: frozenset[int] = frozenset()) -> bool:
    """lucidrains' ``exists`` and ``default``: answers given by identity tests alone.

    One statement returning ``val is not None``, or ``val if exists(val)
    else d`` (a test so made, of a function of the file that is one too,
    choosing between the arguments). Of a traced value the answer is
    known without the trace (a proxy is never None): the function runs and
    answers, and the caller's ``if exists(mask):`` takes its branch with
    no call in the graph, and so no guard that tests the call's result
    again; ``default(context, x)`` is ``x`` where ``context`` was None.
    """
    found = function_definition(function)
    if found is None or id(function) in seen:
        return False
    definition = found[1]
    body = definition.body[1:] if docstring_node(definition) else definition.body
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return False
    test = body[0].value
    if isinstance(test, ast.IfExp):
        if not all(isinstance(b, ast.Name) for b in (test.body, test.orelse)):
            return False
        test = test.test
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test = test.operand
    if isinstance(test, ast.Compare):
        return all(isinstance(op, (ast.Is, ast.IsNot)) for op in test.ops)
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Name):
        callee = getattr(function, "__globals__", {}).get(test.func.id)
        return inspect.isfunction(callee) and _tests_identity(
            callee, seen | {id(function)}
        )
    return False


def _recording(tracer: fx.Tracer, function: Callable) -> Callable:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _recordable(tracer, [*args, *kwargs.values()]):
            return tracer.create_proxy("call_function", function, args, kwargs)
        return function(*args, **kwargs)

    return call


def _recordable(tracer: fx.Tracer, arguments: list[Any]) -> bool:
    """Every argument is a value of this trace or a literal, and one at least is traced.

    A dict is neither (a functional file's weight dict is traced through).
    """
    traced = []

    def visit(value: Any) -> bool:
        if isinstance(value, fx.Proxy):
            traced.append(value)
            return value.tracer is tracer
        if isinstance(value, (tuple, list)):
            return all(visit(v) for v in value)
        return value is None or isinstance(value, _LITERALS)

    return visit(arguments) and bool(traced)


_LITERALS = (bool, int, float, complex, str, torch.dtype)
