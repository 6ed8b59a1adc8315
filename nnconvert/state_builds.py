"""Parameters and persistent buffers written as the code that builds them, in ``init_params()``.

nanoGPT's ``LayerNorm`` builds ``self.weight = nn.Parameter(torch.ones(ndim))``;
minGPT's attention registers its causal mask as
``torch.tril(torch.ones(n, n)).view(1, 1, n, n)``. Class styles write that
code in ``__init__`` (:func:`~nnconvert.init_slices.recover_tensor` finds
it and checks it against the tensor's value at construction). Functional
style writes it where it creates weights, in ``init_params()``: an
expression in place, ``params["ln_f.weight"] = torch.ones(16)``; code of
several statements, or an expression whose literals differ between blocks
of one class, as a module-level function named after the tensor and one
call per key (``params["h.1.attn.bias"] = bias(n=8)``), as
:mod:`nnconvert.tensor_builds` writes a tensor outside the ``state_dict``.
The comments of the user's code stay where functional style says the
``__init__``'s comments (a block's function, ``init_params()`` for the
root's), not in the build.

Read back (SPEC invariant 5): :func:`read_state_builds` finds each such
statement of a functional file's ``init_params()`` (and of the init
functions it calls), matches it to the keys its ``params[...]`` target can
spell, and declares its build on the tensor's owner when running it gives
what ``init_params()`` gave, bit for bit; :func:`state_build` answers with
it, so ``init_params()`` writes it again and class styles write it in
``__init__`` (:func:`recovered_code`).
"""

from __future__ import annotations

import ast
import re
import weakref
from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import Tensor, nn

from .built_values import Fingerprint, fingerprint
from .init_slices import (
    PLACEHOLDER,
    draws_at_random,
    PURE_BUILTINS,
    RECOVERED_MODULES,
    RecoveredCode,
    RecoveredStatement,
    expected_value,
    in_state,
    left_uninitialised,
    recover_tensor,
    reproduces,
)
from .naming import snake_case
from .opspecs.inits import filled_value, full, ones, zeros
from .tensor_builds import (
    TensorBuild,
    file_names_read,
    from_recovered,
    function_build,
    kept_calls,
    modules_read,
    pure_module,
    rebuilds,
    top_functions,
)
from .user_functions import kept_function

_DECLARED: "weakref.WeakKeyDictionary[nn.Module, dict[str, TensorBuild]]" = (
    weakref.WeakKeyDictionary()
)


def state_build(
    owner: nn.Module | None, name: str, drawn: bool = False
) -> TensorBuild | None:
    """``owner``'s parameter or persistent buffer ``name`` as a build, or None.

    The build a functional file declared for it (:func:`read_state_builds`),
    else the user's ``__init__`` code, recovered and checked; comments left
    out (module docstring). ``drawn``: code that draws at random over
    ``torch`` and ``math`` alone (``torch.randn(1, 17, 32)``) is taken too,
    its dtype and shape checked (``init_params()`` draws in construction
    order, as the model did; its claim says what a seeded run showed).
    """
    if owner is None or not in_state(owner, name):
        return None
    declared = _DECLARED.get(owner, {}).get(name)
    if declared is not None:
        return declared
    code = recover_tensor(owner, name)
    calls: tuple[Callable, ...] = ()
    modules: tuple[tuple[str, Any], ...] = ()
    if code is None and drawn:
        code = recover_tensor(owner, name, fresh_checked=True)
        found = file_names_read(owner, code) if code is not None else None
        if found is None:
            code = None
        else:
            calls, modules = found
            if not calls and not modules and not draws_at_random(code):
                # what reads nothing else was recovered for the literals alone
                code = None
    if code is None:
        return None
    bare = replace(
        code,
        statements=tuple(RecoveredStatement((), s.code, None) for s in code.statements),
        comments=(),
    )
    value, expected = getattr(owner, name), expected_value(owner, name)
    build = from_recovered(bare, name, value, expected, calls=calls, modules=modules)
    return _named_for_its_class(build, owner)


def filled_build(owner: nn.Module, name: str) -> TensorBuild | None:
    """``torch.full((32,), 0.1)``: a tensor no code rebuilds, one number throughout when built.

    XCiT's ``LayerScale`` fills ``scale`` with an ``init_eps`` its
    ``__init__`` picks in an ``if``/``elif`` on the depth: no slice of that
    code rebuilds it alone (:mod:`nnconvert.init_slices`), but its value
    does, from literals alone, and drawing nothing it moves no later draw.
    Checked bit for bit against the value at construction where it was
    recorded (a trained model's current value is not it); ``-0.0`` is no
    ``torch.zeros``. Only for a tensor nothing else writes: a layer that
    drew and then filled is drawn again by its recorded calls
    (:mod:`nnconvert.init_replay`), which keeps every later draw in step.
    Never for one ``__init__`` allocates with ``torch.empty`` and leaves so
    (:func:`~nnconvert.init_slices.left_uninitialised`): memory that
    happened to hold zeros at construction is no fill.
    """
    tensor = getattr(owner, name)
    value = filled_value(tensor) if isinstance(tensor, Tensor) else None
    if value is None or left_uninitialised(owner, name):
        return None  # ``torch.empty`` that memory happened to fill alike
    made = torch.full(tuple(tensor.shape), value, dtype=tensor.dtype)
    expected = expected_value(owner, name)
    if isinstance(expected, Fingerprint):
        if fingerprint(made) != expected:
            return None
    elif not torch.equal(made, expected.detach().cpu()):
        return None
    if value == 0 and fingerprint(made) == fingerprint(torch.zeros_like(made)):
        text = zeros(tensor)
    elif value == 1:
        text = ones(tensor)
    else:
        text = full(tensor, value)
    return TensorBuild("", (), (f"return {text}",), value=tensor, inline=True)


def _named_for_its_class(
    build: TensorBuild | None, owner: nn.Module
) -> TensorBuild | None:
    """``layer_norm_g`` rather than ``g``: a one-letter tensor's function, named after its class too.

    NesT's ``LayerNorm`` holds ``g`` and ``b``; at module level, beside the
    model's functions, ``def g(dim=48)`` says nothing of what it builds.
    Longer names (``bias``, ``relative_position_index``) stay as they are.
    """
    if build is None or build.inline or len(build.name) > 1:
        return build
    return replace(build, name=f"{snake_case(type(owner).__name__)}_{build.name}")


def state_calls(model: nn.Module) -> list[Callable]:
    """The user's functions the builds of ``model``'s tensors call (:func:`state_build`).

    The printer defines them before ``init_params()``, which calls them.
    """
    found: list[Callable] = []
    for owner in model.modules():
        for name in [*owner._parameters, *owner._buffers]:
            build = state_build(owner, name, drawn=True)
            found += [f for f in (build.calls if build else ()) if f not in found]
    return found


def declared_build(owner: nn.Module, name: str) -> TensorBuild | None:
    """The build a functional file declared for ``owner``'s tensor ``name``, if any."""
    return _DECLARED.get(owner, {}).get(name)


def recovered_code(build: TensorBuild) -> RecoveredCode:
    """A declared build as the code class styles write in ``__init__``.

    Its statements are the function's lines but the last, its value what
    that ``return`` returns; each parameter is a placeholder whose value is
    this call's, named as the function names it.
    """
    names = [name for name, _ in build.parameters]
    values = build.values()
    *lines, returned = build.body
    statements = tuple(
        RecoveredStatement((), _with_placeholders(line, names), None) for line in lines
    )
    value = _with_placeholders(returned[len("return ") :], names)
    return RecoveredCode(
        statements,
        value,
        tuple(names),
        tuple(values[n] for n in names),
        (),
        fresh_checked=build.draws,
    )


def _with_placeholders(text: str, names: list[str]) -> str:
    """``text`` with each of ``names`` read in it written as its placeholder."""
    if not names:
        return text
    pattern = re.compile(r"(?<![.\w])(" + "|".join(map(re.escape, names)) + r")\b")
    return pattern.sub(lambda m: PLACEHOLDER.format(names.index(m.group(1))), text)


def read_state_builds(
    model: nn.Module,
    init: Callable,
    source: str,
    made: Mapping[str, Tensor] | None,
) -> int:
    """Declare on ``model``'s blocks the builds a functional file's ``init_params()`` wrote.

    ``init`` is that function, ``source`` its file's text and ``made`` what
    it returned (the check: a statement counts for a key only when running
    it alone gives ``made[key]`` bit for bit). Two forms, as
    :func:`~nnconvert.printer.init_params.init_params_function` writes them:
    ``params[KEY] = <torch and math calls over literals>`` and
    ``params[KEY] = function(k=literal, ...)`` with ``function`` a
    module-level function of the file. ``KEY`` is a string or an f-string
    (a loop's, a block init function's): it matches every key it can
    spell. A key two different statements match is left alone. Returns
    how many keys were declared.
    """
    if made is None:
        return 0
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return 0
    functions = top_functions(tree)
    lines = source.split("\n")
    namespace = getattr(init, "__globals__", {})
    scanned = [functions[n] for n in _called_functions(init, functions)]
    candidates: list[tuple[re.Pattern, TensorBuild]] = []
    for function in scanned:
        for node in ast.walk(function):
            found = _statement_build(node, functions, source, lines, namespace)
            if found is not None:
                candidates.append(found)
    declared = 0
    for key, tensor in made.items():
        prefix, _, name = key.rpartition(".")
        try:
            owner = model.get_submodule(prefix)
        except AttributeError:
            continue
        if not in_state(owner, name):
            continue
        builds = {b for pattern, b in candidates if pattern.fullmatch(key) is not None}
        builds = {replace(b, name=name) if b.inline else b for b in builds}
        if len(builds) != 1:
            continue
        build = builds.pop()
        # as a function call, and as the code class styles write from it
        # drawn at random: its dtype and shape (a class style's fresh build checks it)
        if not rebuilds(build, tensor, build.draws) or not (
            build.draws
            or build.calls
            or build.modules
            or reproduces(recovered_code(build), tensor)
        ):  # code calling the file's functions or imports: as functional style runs it
            continue
        _DECLARED.setdefault(owner, {})[name] = replace(build, value=None)
        declared += 1
    return declared


def _called_functions(
    init: Callable, functions: Mapping[str, ast.FunctionDef]
) -> list[str]:
    """``init_params`` and the module-level functions it names, theirs too."""
    start = getattr(init, "__name__", "init_params")
    found, queue = [], [start]
    while queue:
        name = queue.pop()
        if name in found or name not in functions:
            continue
        found.append(name)
        queue += [
            n.id
            for n in ast.walk(functions[name])
            if isinstance(n, ast.Name) and n.id in functions
        ]
    return found


def _statement_build(
    node: ast.AST,
    functions: Mapping[str, ast.FunctionDef],
    source: str,
    lines: list[str],
    namespace: Mapping[str, Any],
) -> tuple[re.Pattern, TensorBuild] | None:
    """``params[KEY] = ...``'s key pattern and build, when it has one of the two forms.

    Either may call the file's functions kept as written (``pair``,
    ``sinusoids`` in ``namespace``): the build carries them, as it does
    for the user's file (:func:`state_build`).
    """
    if not (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Subscript)
        and isinstance(node.targets[0].value, ast.Name)
        and node.targets[0].value.id == "params"
    ):
        return None
    pattern = _key_pattern(node.targets[0].slice)
    if pattern is None:
        return None
    value = node.value
    called = ast.Assign(targets=[ast.Name("_", ast.Store())], value=value)
    build = function_build(called, functions, lines)
    if build is not None:
        calls, modules = kept_calls(build, namespace), modules_read(build, namespace)
        return pattern, replace(build, calls=calls, modules=modules)
    names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
    if not any(isinstance(n, ast.Call) for n in ast.walk(value)):
        return None
    kept = {n for n in names if kept_function(namespace.get(n)) is not None}
    kept |= {n for n in names if pure_module(namespace.get(n))}  # CLIP's ``np``
    if not names <= {*RECOVERED_MODULES, *PURE_BUILTINS, *kept}:
        return None
    segment = ast.get_source_segment(source, value)
    if segment is None:
        return None
    build = TensorBuild("", (), (f"return {_one_line(segment)}",), inline=True)
    calls, modules = kept_calls(build, namespace), modules_read(build, namespace)
    return pattern, replace(build, calls=calls, modules=modules)


def _one_line(segment: str) -> str:
    """An expression black split over lines, on one line again, as the printer wrote it.

    Black splits only inside brackets, and adds a comma after the last item
    it puts on a line of its own.
    """
    text = re.sub(r",\s*\n\s*([)\]}])", r"\1", segment)
    text = re.sub(r"([(\[{])\s*\n\s*", r"\1", text)
    text = re.sub(r"\s*\n\s*([)\]}])", r"\1", text)
    return re.sub(r"\s*\n\s*", " ", text)


def _key_pattern(key: ast.expr) -> re.Pattern | None:
    """The keys ``key`` can spell: a string is itself, an f-string's fields any text."""
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return re.compile(re.escape(key.value))
    if not isinstance(key, ast.JoinedStr):
        return None
    parts = []
    for value in key.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(re.escape(value.value))
        else:
            parts.append(".+")
    return re.compile("".join(parts))


def carry(originals: Iterable[nn.Module], copies: Mapping[int, Any]) -> None:
    """Give each copy (``copies``: ``deepcopy``'s memo, by ``id``) its original's record."""
    for module in originals:
        copied = copies.get(id(module))
        if isinstance(copied, nn.Module) and module in _DECLARED:
            _DECLARED[copied] = _DECLARED[module]


__all__ = [
    "carry",
    "declared_build",
    "read_state_builds",
    "recovered_code",
    "state_build",
]
