"""A tensor outside the ``state_dict`` written, in functional style, as the code that builds it.

A Swin block computes its ``relative_position_index`` in a few lines of
``__init__`` (:func:`~nnconvert.init_slices.recover_tensor` finds them and
checks them bit for bit). Functional style writes those lines as a
module-level function named after the tensor, and the tensor as a constant
computed once at import, which the model's function reads::

    def relative_position_index() -> Tensor:
        coords_h = torch.arange(14)
        ...
        return relative_position_index


    RELATIVE_POSITION_INDEX = relative_position_index()

rather than a screen of base64 (:mod:`.tensor_values`). The literals are
written in place, as class styles write them for one instance; a literal
that differs between instances of one class (``self.window_size``, a
constructor parameter) is the function's parameter, named as the user's
code names it, and each constant passes its own
(``relative_position_index(window_size=(7, 7))``): see
:mod:`nnconvert.printer.built_tensors`. A tensor one expression builds
needs no function: it is a constant of its own, under the comments said on
it (``MASK = torch.tril(torch.ones(8, 8)).view(1, 8, 8)``).

In a graph, such a tensor is one ``call_function`` node whose target is its
:class:`TensorBuild` (no arguments; calling it returns the value). A
functional file read back (:func:`read_builds`) marks each such constant
with its build, so converting it again writes the same function and
constant, byte for byte (SPEC invariant 5).
"""

from __future__ import annotations

import ast
import builtins
import inspect
import keyword
import re
import sys
import textwrap
import types
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from .built_values import Fingerprint, fingerprint
from .init_arguments import is_literal
from .init_slices import (
    RANDOM_ATTRIBUTES,
    RANDOM_INITS,
    calls_random,
    draws_at_random,
    init_globals,
    PURE_BUILTINS,
    RECOVERED_MODULES,
    RecoveredCode,
    recover_tensor,
)
from .tensor_values import same_bits
from .user_functions import defined, kept_function

#: what a function body may read besides its parameters and locals
_GLOBALS = {"Tensor": Tensor, **RECOVERED_MODULES}
#: the attribute a tensor read from a functional file carries its build on
_MARK = "_nnconvert_tensor_build"


@dataclass(frozen=True)
class TensorBuild:
    """A module-level function that builds a tensor, and the constant it is called into.

    ``body`` are the function's lines (no indent), ending in ``return``;
    ``parameters`` its keyword parameters and their defaults; ``arguments``
    the keywords this constant's call passes. ``name`` and ``constant`` are
    the names the printer gives them
    (:func:`~nnconvert.printer.built_tensors.name_builds`). Calling the
    build returns ``value``, the tensor it was checked to build bit for bit.
    """

    name: str
    parameters: tuple[tuple[str, Any], ...]
    body: tuple[str, ...]
    arguments: tuple[tuple[str, Any], ...] = ()
    constant: str = ""
    #: written as the constant's own statement (``MASK = torch.ones(6)``), no function
    inline: bool = False
    #: the user's functions the body calls (llama2.c's ``precompute_freqs_cis``),
    #: which the file keeps as written (:mod:`nnconvert.user_functions`)
    calls: tuple[Callable, ...] = field(
        default=(), compare=False, hash=False, repr=False
    )
    #: the modules the body reads under the file's names for them (Whisper's
    #: ``np`` in ``fill_(-np.inf)``): :data:`PURE_MODULES` only
    modules: tuple[tuple[str, types.ModuleType], ...] = field(
        default=(), compare=False, hash=False, repr=False
    )
    #: the body is the user's method that computed the tensor (:func:`method_build`)
    method: bool = field(default=False, compare=False, hash=False, repr=False)
    value: Tensor | None = field(default=None, compare=False, hash=False, repr=False)
    #: the recovered code it was made from (None: read from a functional file)
    code: RecoveredCode | None = field(
        default=None, compare=False, hash=False, repr=False
    )

    @property
    def draws(self) -> bool:
        """Whether it draws at random (``torch.randn``, ``nn.init.kaiming_uniform_``): its text calls a draw."""
        text = "\n".join(self.body)
        return any(f".{name}(" in text for name in RANDOM_ATTRIBUTES | RANDOM_INITS)

    # fx names a call of it by ``__name__``; graphs compare it by its repr
    @property
    def __name__(self) -> str:
        return self.name

    def __hash__(self) -> int:  # defaults may be lists: hash their text
        return hash(repr(self))

    def __call__(self) -> Tensor:
        return self.value

    def function(self) -> "TensorBuild":
        """The build without its call's arguments: what one function definition serves."""
        return replace(self, arguments=(), constant="", value=None, code=None)

    def values(self) -> dict[str, Any]:
        """Each parameter's value in this build's call."""
        return {**dict(self.parameters), **dict(self.arguments)}

    def with_literals(self, kept: set[str]) -> "TensorBuild":
        """Every parameter not in ``kept`` written in place as its literal.

        What class styles write for one instance (``torch.arange(14)``), so
        that module -> functional gives what the module gives. Only a build
        made from recovered code can: one read from a file is as written.
        """
        if self.code is None or kept >= set(self.values()):
            return self
        values = self.values()
        parameters = tuple((n, v) for n, v in self.parameters if n in kept)
        replacements = [n if n in kept else repr(values[n]) for n, _ in self.parameters]
        body = _body(self.code, replacements)
        arguments = tuple((n, v) for n, v in self.arguments if n in kept)
        return replace(
            self,
            parameters=parameters,
            body=body,
            arguments=arguments,
            inline=_inline(parameters, body),
        )

    def import_lines(self) -> list[str]:
        """``import numpy as np``, ``from einops import repeat``: the output's imports for :attr:`modules`."""
        lines = []
        for name, value in self.modules:
            package = _exporter(value)
            if package is not None:
                line, own = f"from {package} import {value.__name__}", value.__name__
            else:
                line, own = f"import {value.__name__}", value.__name__
            lines.append(line + (f" as {name}" if name != own else ""))
        return lines

    def definition(self) -> str:
        """``def name(parameters) -> Tensor:`` and its body."""
        parameters = ", ".join(f"{n}={v!r}" for n, v in self.parameters)
        lines = "".join(f"    {line}\n" if line else "\n" for line in self.body)
        return f"def {self.name}({parameters}) -> Tensor:\n{lines}"

    def call(self) -> str:
        """``name(keyword=value, ...)``: the constant's value."""
        passed = ", ".join(f"{n}={v!r}" for n, v in self.arguments)
        return f"{self.name}({passed})"

    def assignment(self) -> str:
        """``CONSTANT = name(...)``; inline, the body's comments and ``CONSTANT = value``."""
        if not self.inline:
            return f"{self.constant} = {self.call()}"
        *comments, returned = self.body
        return "\n".join([*comments, f"{self.constant} = {returned[len('return '):]}"])


def recovered_build(owner: nn.Module, name: str, value: Tensor) -> TensorBuild | None:
    """The build of ``owner``'s tensor ``name`` from its ``__init__`` code, if any.

    Code reading nothing but literals first; else code that calls the
    user's functions the output keeps as written (llama2.c's
    ``freqs_cos, freqs_sin = precompute_freqs_cis(dim // n_heads,
    max_seq_len)``), when it gives the tensor bit for bit under any seed.
    """
    code = recover_tensor(owner, name)
    if code is not None:
        return from_recovered(code, name, value)
    code = recover_tensor(owner, name, fresh_checked=True, exact=True)
    if code is None or not code.module_names:
        return None
    found = file_names_read(owner, code)
    if found is None:
        return None
    calls, modules = found
    return from_recovered(code, name, value, calls=calls, modules=modules)


def method_build(
    ancestry: Sequence[tuple[str, nn.Module]], target: str, value: Tensor
) -> TensorBuild | None:
    """The tensor ``target`` of ``ancestry``'s last module as the user's method that
    computed it, if that rebuilds it.

    ``ancestry``: (path, module) from the root down to the module whose
    graph reads the tensor (:attr:`~nnconvert.hierarchy.Instance.ancestry`).

    CLIP hands ``attn_mask=self.build_attention_mask()`` down to every
    block, which keeps it: the build is that method's body, each
    ``self.<attribute>`` it reads (``self.context_length``) written as its
    value, the constant named after the tensor (``ATTN_MASK``), checked bit
    for bit. Only a method that takes nothing but ``self`` and reads
    nothing of ``self`` but plain values.
    """
    from .helper_origins import tensor_origin  # reads the source files

    if not ancestry:
        return None
    owner_path, _, name = target.rpartition(".")
    chain = list(ancestry)
    for part in owner_path.split(".") if owner_path else ():
        path, module = chain[-1]
        if part not in module._modules:
            return None
        chain.append((f"{path}.{part}" if path else part, module._modules[part]))
    found = tensor_origin(chain, name)
    if found is None:
        return None
    module, source, method = found
    if [a.arg for a in method.args.args] != ["self"] or _has_other_arguments(method):
        return None
    body = _method_body(source, method, module)
    if body is None:
        return None
    namespace = getattr(getattr(type(module), method.name, None), "__globals__", {})
    read = _names_read("\n".join(body)) - set(_GLOBALS) - set(PURE_BUILTINS)
    read -= _locals(method)
    modules = tuple((n, namespace.get(n)) for n in sorted(read))
    if not all(pure_module(m) for _, m in modules):
        return None
    build = TensorBuild(
        method.name,
        (),
        body,
        constant=name.upper(),
        inline=_inline((), body),
        value=value,
        modules=modules,
        method=True,
    )
    return build if _rebuilds(build, value) else None


def called_build(owner: nn.Module, name: str, value: Tensor) -> TensorBuild | None:
    """``self.<name> = function()`` in ``owner``'s ``__init__``, ``function`` the file's own.

    What class styles write for a :func:`method_build` (``self.attn_mask =
    build_attention_mask()``, the function before the classes), read back:
    the same function again, when it rebuilds the tensor bit for bit and
    calls none of the file's other functions.
    """
    from .source_text import function_definition, init_definition

    found = init_definition(owner)
    if found is None:
        return None
    called = next(
        (
            s.value.func.id
            for s in found[1].body
            if isinstance(s, ast.Assign)
            and [ast.unparse(t) for t in s.targets] == [f"self.{name}"]
            and isinstance(s.value, ast.Call)
            and isinstance(s.value.func, ast.Name)
            and not s.value.args
            and not s.value.keywords
        ),
        None,
    )
    init = inspect.getattr_static(type(owner), "__init__")
    function = init.__globals__.get(called) if called else None
    definition = function_definition(function) if inspect.isfunction(function) else None
    if definition is None:
        return None
    source, tree = definition
    parameters = _literal_parameters(tree)
    if parameters is None:
        return None
    body = _function_body(source.lines, tree)
    build = TensorBuild(tree.name, parameters, body, constant=name.upper())
    namespace = function.__globals__
    if kept_calls(build, namespace):
        return None
    build = replace(build, value=value, modules=modules_read(build, namespace))
    return build if _rebuilds(build, value) else None


def _has_other_arguments(method: ast.FunctionDef) -> bool:
    arguments = method.args
    return bool(
        arguments.posonlyargs
        or arguments.kwonlyargs
        or arguments.vararg
        or arguments.kwarg
    )


def _method_body(
    source: Any, method: ast.FunctionDef, module: nn.Module
) -> tuple[str, ...] | None:
    """The method's body as written, each ``self.<attribute>`` it reads its literal value."""
    start = method.body[0].lineno - 1  # its docstring and comments too
    while start > method.lineno and source.comment_alone(start):
        start -= 1  # the line above is a comment: the body's too
    lines = source.lines[start : method.end_lineno]
    text = textwrap.dedent("\n".join(lines))
    values: dict[str, str] = {}
    for node in ast.walk(method):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id != "self":
                continue
            attribute = getattr(module, node.attr, None)
            if not (is_literal(attribute) and isinstance(node.ctx, ast.Load)):
                return None
            values[node.attr] = repr(attribute)
    text = re.sub(
        r"\bself\.(\w+)\b", lambda m: values.get(m.group(1), m.group(0)), text
    )
    if re.search(r"\bself\b", text):
        return None
    return tuple(text.split("\n"))


def _names_read(body: str) -> set[str]:
    """The names a function body's lines read (parsed as a function's: ``return`` and all)."""
    tree = ast.parse("def _():\n" + textwrap.indent(body, "    "))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _locals(method: ast.FunctionDef) -> set[str]:
    return {
        n.id
        for n in ast.walk(method)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


#: Modules a build may read under the file's name for them: pure numerics
PURE_MODULES = frozenset({"numpy", "math", "einops"})


def file_names_read(
    owner: nn.Module, code: RecoveredCode
) -> tuple[tuple[Callable, ...], tuple[tuple[str, types.ModuleType], ...]] | None:
    """The functions of the user's file ``code`` calls and the modules it reads; None if not all can be kept.

    llama2.c's ``precompute_freqs_cis``, vit-pytorch's ``pair``, Whisper's
    ``sinusoids``: the output defines them (:mod:`nnconvert.user_functions`)
    and the build calls them as ``__init__`` did. Whisper's ``np`` (for
    ``-np.inf``): the output imports it as the file does. Not a method of
    the class, a table, a class or another module: not code the file keeps.
    """
    if code.methods:
        return None
    namespace = init_globals(owner)
    calls, modules = [], []
    for name in code.module_names:
        value = namespace.get(name)
        if pure_module(value):
            modules.append((name, value))
        elif kept_function(value) is not None:
            calls.append(value)
        else:
            return None
    return tuple(calls), tuple(modules)


def pure_module(value: Any) -> bool:
    """One of :data:`PURE_MODULES`, or a function it exports (mamba's einops ``repeat``)."""
    if isinstance(value, types.ModuleType):
        return value.__name__ in PURE_MODULES
    return _exporter(value) is not None


def _exporter(value: Any) -> str | None:
    """The :data:`PURE_MODULES` package that exports the function ``value`` by its name."""
    if not inspect.isfunction(value):
        return None
    package = value.__module__.split(".")[0]
    exported = getattr(sys.modules.get(package), value.__name__, None)
    return package if package in PURE_MODULES and exported is value else None


def from_recovered(
    code: RecoveredCode,
    attribute: str,
    value: Tensor,
    expected: Tensor | Fingerprint | None = None,
    calls: tuple[Callable, ...] = (),
    modules: tuple[tuple[str, types.ModuleType], ...] = (),
) -> TensorBuild | None:
    """The function ``code`` becomes, named after ``attribute``; None unless it rebuilds ``value``.

    The literals the code read become parameters named as the code named
    them (``window_size``); where a name is not free for that (a local of
    the code, two values under one name), every literal is written in place.
    ``expected``: what it must rebuild when that is not ``value`` (a
    parameter's value at construction, :func:`~.init_slices.expected_value`).
    """
    name = attribute.split(".")[-1]
    if not name.isidentifier() or keyword.iskeyword(name):
        return None
    parameters = tuple(zip(code.sources, code.values))
    if not _free_names([n for n, _ in parameters], code, name):
        parameters = ()
    replacements = [n for n, _ in parameters] or [repr(v) for v in code.values]
    body = _body(code, replacements)
    inline = _inline(parameters, body)
    build = TensorBuild(
        name,
        parameters,
        body,
        value=value,
        code=code,
        inline=inline,
        calls=calls,
        modules=modules,
    )
    # code calling kept functions is compared bit for bit unless it draws itself
    # (vit-pytorch's ``torch.randn(num_patches + 1, dim)`` after ``pair(...)``):
    # a constant recovered ``exact`` whose function draws inside fails here and
    # stays a value; a drawn parameter's seeded run is ``init_params()``'s claim
    drawn = code.fresh_checked and (
        draws_at_random(code) or (bool(calls) and calls_random(code))
    )
    return (
        build
        if _rebuilds(build, value if expected is None else expected, drawn)
        else None
    )


def _inline(parameters: tuple, body: tuple[str, ...]) -> bool:
    """A body of comments and ``return`` alone, over no parameters, needs no function."""
    *comments, returned = body
    return (
        not parameters
        and all(line.startswith("#") for line in comments)
        and returned.startswith("return ")
    )


def _body(code: RecoveredCode, replacements: list[str]) -> tuple[str, ...]:
    """The function's lines: the statements, the setter's comments, ``return``.

    Laid out as class styles lay them out in ``__init__``
    (:meth:`RecoveredCode.lines`' width), so that functional style read
    from a class-style output writes the same lines.
    """
    body = code.lines(replacements)
    body += list(code.comments)
    body.append(f"return {code.value_text(replacements)}")
    return tuple(body)


def own_builds(module: nn.Module) -> dict[str, TensorBuild]:
    """``module``'s own tensors outside its ``state_dict`` that functional style builds.

    By attribute: non-persistent buffers and plain tensor attributes whose
    ``__init__`` code :func:`~nnconvert.init_slices.recover_tensor` recovers.
    """
    state = set(module.state_dict(keep_vars=True))
    found = {}
    for name, value in vars(module).items():
        if name.startswith("_") or not isinstance(value, Tensor):
            continue
        if isinstance(value, torch.nn.Parameter) or name in state:
            continue
        found[name] = value
    found.update(
        (name, buffer)
        for name, buffer in module._buffers.items()
        if buffer is not None and name not in state
    )
    builds = {}
    for name, value in found.items():
        build = recovered_build(module, name, value)
        if build is not None:
            builds[name] = build
    return builds


def without_built_comments(
    module: nn.Module, comments: list[tuple[str, list[str]]]
) -> list[tuple[str, list[str]]]:
    """``__init__``'s comments (:func:`~nnconvert.source_text.init_comments`) less those a build says.

    The function that builds a tensor carries the comments of its
    statements; said again in ``init_params()`` or a block's body, they
    would stand twice, and away from the code they describe.
    """
    builds = own_builds(module)
    if not builds:
        return comments
    said = [line for b in builds.values() for line in b.code.carried_comments()]
    kept = []
    for name, lines in comments:
        if name in builds:
            left = []
            for line in lines:
                if line in said:
                    said.remove(line)
                else:
                    left.append(line)
            lines = left
        kept.append((name, lines))
    return kept


def _free_names(names: list[str], code: RecoveredCode, function: str) -> bool:
    """``names`` can be parameters: identifiers, distinct, none read or set otherwise."""
    if len(set(names)) != len(names):
        return False
    text = "\n".join(s.code for s in code.statements) + "\n" + code.value
    used = {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}
    reserved = used | set(_GLOBALS) | set(PURE_BUILTINS) | {function}
    return all(
        n.isidentifier() and not keyword.iskeyword(n) and n not in reserved
        for n in names
    )


def _rebuilds(
    build: TensorBuild, value: Tensor | Fingerprint, drawn: bool = False
) -> bool:
    """The printed function, run in a fresh namespace, returns ``value`` bit for bit.

    ``drawn``: the code draws at random: the same dtype and shape (the
    global random state left as it was; ``init_params()``'s claim says
    whether a seeded run gives the same bits).
    """
    namespace: dict[str, Any] = {
        "__builtins__": {n: getattr(builtins, n) for n in PURE_BUILTINS},
        **_GLOBALS,
    }
    namespace.update(build.modules)
    try:
        for function in build.calls:  # as the file defines them, builtins and all
            namespace.update(defined(kept_function(function)))
        with torch.random.fork_rng(devices=[]):
            exec(compile(build.definition(), "<tensor build>", "exec"), namespace)
            result = eval(build.call(), namespace)
    except Exception:
        return False
    if drawn:
        return (
            isinstance(result, Tensor)
            and tuple(result.shape) == tuple(value.shape)
            and result.dtype == value.dtype
        )
    if isinstance(value, Fingerprint):
        return isinstance(result, Tensor) and fingerprint(result) == value
    return isinstance(result, Tensor) and same_bits(result, value)


def build_of(value: Any) -> TensorBuild | None:
    """The build a functional file's constant was read with (:func:`read_builds`), if any."""
    return getattr(value, _MARK, None) if isinstance(value, Tensor) else None


def read_builds(source: str, namespace: Mapping[str, Any]) -> int:
    """Mark each tensor constant a functional file builds from literals with its build.

    Two forms, as :class:`TensorBuild` prints them: ``NAME = function(...)``
    with ``function`` a module-level function of the file whose parameters
    all have literal defaults, called with literal keywords only; and
    ``NAME = <expression>`` of ``torch``/``math`` calls and literals, the
    comments right above it its own. The text is kept as the file's lines
    (comments included), so printing it again gives the same text; it must
    rebuild the constant's value in ``namespace`` bit for bit on its own,
    with nothing but ``torch``, ``math`` and a few builtins (else the
    constant stays a value). Returns how many were marked.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return 0
    lines = source.split("\n")
    functions = _functions(tree)
    imported = pure_imports(tree)
    marked = 0
    for statement in tree.body:
        for build in _statement_builds(statement, functions, source, lines, imported):
            marked += _mark(build, namespace)
    return marked


def pure_imports(tree: ast.Module) -> frozenset[str]:
    """The names the file's imports bind from :data:`PURE_MODULES` (``np``, ``repeat``)."""
    found = set()
    for statement in tree.body:
        if isinstance(statement, ast.Import):
            found |= {
                alias.asname or alias.name
                for alias in statement.names
                if alias.name.split(".")[0] in PURE_MODULES
            }
        elif isinstance(statement, ast.ImportFrom) and not statement.level:
            if (statement.module or "").split(".")[0] in PURE_MODULES:
                found |= {alias.asname or alias.name for alias in statement.names}
    return frozenset(found)


def _statement_builds(
    statement: ast.stmt,
    functions: dict[str, ast.FunctionDef],
    source: str | None,
    lines: list[str],
    imported: frozenset[str] = frozenset(),
) -> list[TensorBuild]:
    """The builds one module-level statement makes: one per constant it assigns.

    ``imported``: the names of :func:`pure_imports`, which an expression may read.
    """
    build = _function_build(statement, functions, lines if source else None)
    if build is None:
        build = _expression_build(statement, functions, source, lines, imported)
    if build is not None:
        return [build]
    return _unpacking_builds(statement, functions, source, lines)


def _mark(build: TensorBuild, namespace: Mapping[str, Any]) -> int:
    """Mark the constant ``build`` assigns with it, when it rebuilds the value: 1, else 0."""
    value = namespace.get(build.constant)
    if not isinstance(value, Tensor):
        return 0
    build = replace(
        build,
        value=value,
        calls=kept_calls(build, namespace),
        modules=modules_read(build, namespace),
    )
    if not _rebuilds(build, value):
        return 0  # reads another global, or is not what the file ran: its value
    try:
        setattr(value, _MARK, build)
    except (AttributeError, RuntimeError):
        return 0
    return 1


def kept_calls(build: TensorBuild, namespace: Mapping[str, Any]) -> tuple:
    """The file's functions kept as written that ``build``'s body calls by name."""
    text = build.definition()
    if not build.name:  # an inline build: its ``return`` alone
        text = "def _():\n" + "\n".join(f"    {line}" for line in build.body)
    tree = ast.parse(text)
    called = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    found = (namespace.get(name) for name in sorted(called))
    return tuple(f for f in found if f is not None and kept_function(f) is not None)


def modules_read(
    build: TensorBuild, namespace: Mapping[str, Any]
) -> tuple[tuple[str, types.ModuleType], ...]:
    """The file's :data:`PURE_MODULES` that ``build``'s body reads, by the file's names (``np``)."""
    read = _names_read("\n".join(build.body))
    return tuple(
        (name, namespace[name])
        for name in sorted(read - set(_GLOBALS))
        if pure_module(namespace.get(name))
    )


def constant_names(tree: ast.Module) -> frozenset[str]:
    """The names of a file's constants :func:`read_builds` may mark (before running it)."""
    functions, imported = _functions(tree), pure_imports(tree)
    return frozenset(
        build.constant
        for statement in tree.body
        for build in _statement_builds(statement, functions, None, [], imported)
    )


def _function_build(
    statement: ast.stmt,
    functions: dict[str, ast.FunctionDef],
    lines: list[str] | None,
) -> TensorBuild | None:
    """``NAME = function(k=literal, ...)``'s build, its body the file's ``lines``.

    Without ``lines``: whether the statement has this form (its body empty).
    """
    found = _constant_call(statement, functions)
    if found is None:
        return None
    constant, function, arguments = found
    parameters = _literal_parameters(function)
    if parameters is None:
        return None
    body = _function_body(lines, function) if lines is not None else ()
    return TensorBuild(function.name, parameters, body, arguments, constant)


def _function_body(lines: Sequence[str], function: ast.FunctionDef) -> tuple[str, ...]:
    """``function``'s body as the file's lines, dedented; comments above its first statement too."""
    start = function.body[0].lineno - 1
    while start > function.lineno and lines[start - 1].strip().startswith("#"):
        start -= 1
    return tuple(_dedented(line) for line in lines[start : function.end_lineno])


def _expression_build(
    statement: ast.stmt,
    functions: dict[str, ast.FunctionDef],
    source: str | None,
    lines: list[str],
    imported: frozenset[str] = frozenset(),
) -> TensorBuild | None:
    """``NAME = <torch and math calls over literals>``'s build, with the comments above it.

    Also over ``imported`` names (PointNet's ``np``). Without ``source``:
    whether the statement has this form (its body empty).
    """
    if not (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and _constant_call(statement, functions) is None
    ):
        return None
    constant = statement.targets[0].id
    value = statement.value
    names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
    calls = any(isinstance(n, ast.Call) for n in ast.walk(value))
    name = constant.lower()
    allowed = {*_GLOBALS, *PURE_BUILTINS, *imported}
    if not calls or not names <= allowed or keyword.iskeyword(name):
        return None
    body: tuple[str, ...] = ()
    if source is not None:
        segment = ast.get_source_segment(source, value)
        body = (*_comments_above(lines, statement), f"return {segment}")
    return TensorBuild(name, (), body, (), constant, inline=True)


def _unpacking_builds(
    statement: ast.stmt,
    functions: dict[str, ast.FunctionDef],
    source: str | None,
    lines: list[str],
) -> list[TensorBuild]:
    """``A, B = <call>``: a build per constant, as :class:`TensorBuild` prints them.

    llama2.c's ``FREQS_COS, FREQS_SIN = precompute_freqs_cis(16 // 4, 12)``
    (:func:`~nnconvert.printer.built_tensors.build_definitions`): each
    build's body is the statement, then ``return`` of its part. The value
    may call the file's own functions (:func:`kept_calls` keeps them).
    Without ``source``: the builds' constants alone (bodies empty).
    """
    if not (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Tuple)
        and all(isinstance(t, ast.Name) for t in statement.targets[0].elts)
        and isinstance(statement.value, ast.Call)
    ):
        return []
    names = {n.id for n in ast.walk(statement.value) if isinstance(n, ast.Name)}
    if not names <= {*_GLOBALS, *PURE_BUILTINS, *functions}:
        return []
    targets = [t.id for t in statement.targets[0].elts if t.id != "_"]
    if source is None:
        return [TensorBuild(t.lower(), (), (), (), t) for t in targets]
    text = ast.get_source_segment(source, statement)
    if text is None or "\n" in text:
        return []
    comments = _comments_above(lines, statement)
    return [
        TensorBuild(t.lower(), (), (*comments, text, f"return {t}"), (), t)
        for t in targets
        if not keyword.iskeyword(t.lower())
    ]


def _comments_above(lines: Sequence[str], statement: ast.stmt) -> tuple[str, ...]:
    """The comment lines right above a module-level statement, stripped: its own."""
    start = statement.lineno - 1
    while start > 0 and lines[start - 1].strip().startswith("#"):
        start -= 1
    return tuple(line.strip() for line in lines[start : statement.lineno - 1])


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {
        n.name: n
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and not n.decorator_list
    }


def _constant_call(
    statement: ast.stmt, functions: dict[str, ast.FunctionDef]
) -> tuple[str, ast.FunctionDef, tuple[tuple[str, Any], ...]] | None:
    """``NAME = f(k=literal, ...)`` with ``f`` one of ``functions``: its parts."""
    if not (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and isinstance(statement.value, ast.Call)
        and isinstance(statement.value.func, ast.Name)
        and statement.value.func.id in functions
        and not statement.value.args
    ):
        return None
    arguments = []
    for passed in statement.value.keywords:
        try:
            value = ast.literal_eval(passed.value)
        except ValueError:
            return None
        if passed.arg is None or not is_literal(value):
            return None
        arguments.append((passed.arg, value))
    function = functions[statement.value.func.id]
    return statement.targets[0].id, function, tuple(arguments)


def _literal_parameters(
    function: ast.FunctionDef,
) -> tuple[tuple[str, Any], ...] | None:
    """``(name, default)`` per parameter, when every one is a keyword with a literal default."""
    arguments = function.args
    if arguments.posonlyargs or arguments.kwonlyargs or arguments.vararg:
        return None
    if arguments.kwarg or len(arguments.defaults) != len(arguments.args):
        return None
    found = []
    for parameter, default in zip(arguments.args, arguments.defaults):
        try:
            found.append((parameter.arg, ast.literal_eval(default)))
        except ValueError:
            return None
    return tuple(found)


#: for :mod:`nnconvert.state_builds`, which reads ``init_params()``'s builds
rebuilds = _rebuilds
function_build = _function_build
top_functions = _functions


def _dedented(line: str) -> str:
    return line[4:] if line.startswith("    ") else line.strip()


__all__ = [
    "TensorBuild",
    "build_of",
    "constant_names",
    "from_recovered",
    "function_build",
    "kept_calls",
    "own_builds",
    "read_builds",
    "rebuilds",
    "top_functions",
    "without_built_comments",
]
