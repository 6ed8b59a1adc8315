"""Functional style's built tensors: one module-level function per code, one constant per value.

A :class:`~nnconvert.tensor_builds.TensorBuild` node reads a constant the
file defines before its functions::

    def relative_position_index(window_size=(14, 14)) -> Tensor:
        ...


    RELATIVE_POSITION_INDEX = relative_position_index()

:func:`name_builds` names them, once for the whole file, before the
functions are planned (so that blocks holding the same tensor share a
function, and no other definition takes these names);
:func:`build_definitions` writes them.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import replace
from typing import Iterable

from torch import fx

from ..hierarchy import Instance
from ..naming import first_free
from ..passes.methods import with_method_bodies
from ..source_map import user_name
from ..tensor_builds import TensorBuild
from .imports import Imports, Printed
from .spacing import black_spaced


def name_builds(instances: list[Instance], taken: set[str]) -> set[str]:
    """Give every build node of ``instances`` its function's and constant's names.

    Builds with the same body and parameters are one function. A parameter
    whose value is the same in every build of the function is written in
    place, as class styles write it for one instance (``torch.arange(14)``);
    the others stay parameters, their defaults the first build's, and each
    call passes what differs. Builds of one function with the same values
    are one constant. The names avoid ``taken``; returns the names given.
    """
    nodes = [
        node
        for instance in instances
        for node in with_method_bodies(instance.graph.graph)
        if node.op == "call_function" and isinstance(node.target, TensorBuild)
    ]
    used = set(taken) | set(dir(builtins))  # a module-level name hides a builtin
    # nor a name the user's code gives a value (llama2.c's ``freqs_cos``
    # parameters): the function would take it from them
    written = {
        name
        for instance in instances
        for node in with_method_bodies(instance.graph.graph)
        for name in [node.target if node.op == "placeholder" else user_name(node)]
        if isinstance(name, str)
    }
    named = shared_functions([node.target for node in nodes], used | written)
    constants: dict[tuple, str] = {}  # (function, arguments) -> constant name
    for node, build in zip(nodes, named):
        key = (build.function(), repr(build.arguments))
        if key not in constants:
            # the tensor's name, or the constant's a functional file gave it
            written_as = node.target.constant or node.target.name.upper()
            constant = first_free(written_as, used, "_")
            used.add(constant)
            constants[key] = constant
        node.target = replace(build, constant=constants[key])
    return used - set(taken) - set(dir(builtins))


def shared_functions(builds: list[TensorBuild], used: set[str]) -> list[TensorBuild]:
    """Each build as a call of a function it shares with the builds of the same code.

    Builds with the same body and parameters are one function. A parameter
    whose value is the same in every build of the function is written in
    place, as class styles write it for one instance (``torch.arange(14)``);
    the others stay parameters, their defaults the first build's, and each
    call passes what differs. Functions take names not in ``used`` (which
    receives them). The builds come back in order, their values kept.
    """
    groups: dict[tuple, list[TensorBuild]] = {}
    for build in builds:
        groups.setdefault(_function_key(build), []).append(build)
    functions: dict[tuple, TensorBuild] = {}  # function key -> named, literals in place
    named = []
    for build in builds:
        key = _function_key(build)
        group = groups[key]
        kept = {
            name
            for name, _ in group[0].parameters
            if len({repr(b.values()[name]) for b in group}) > 1
        }
        own = build.with_literals(kept)
        if key not in functions:
            name = first_free(own.name, used, "_")
            used.add(name)
            functions[key] = replace(group[0].with_literals(kept).function(), name=name)
        function = functions[key]
        values = own.values()
        arguments = tuple(
            (name, values[name])
            for name, default in function.parameters
            if repr(values[name]) != repr(default)
        )
        named.append(replace(function, arguments=arguments, value=build.value))
    return named


def _function_key(build: TensorBuild) -> tuple:
    """What one function definition serves: the same body over the same parameters."""
    return (build.body, tuple(name for name, _ in build.parameters))


def build_definitions(nodes: Iterable[fx.Node]) -> list[Printed]:
    """Each function the named build nodes call, then its constants, in order of use.

    Builds that return the parts of one unpacking (llama2.c's ``freqs_cos,
    freqs_sin = precompute_freqs_cis(...)``) are that one statement, into
    their constants: ``FREQS_COS, FREQS_SIN = precompute_freqs_cis(...)``.
    """
    functions: dict[TensorBuild, list[str]] = {}
    for node in nodes:
        if node.op == "call_function" and isinstance(node.target, TensorBuild):
            build: TensorBuild = spaced(node.target)
            assignments = functions.setdefault(build.function(), [])
            if build.assignment() not in assignments:
                assignments.append(build.assignment())
    unpacked = _unpackings(functions)
    printed = []
    for function, assignments in functions.items():
        modules = _imports_of(function)
        if function in unpacked:
            text = unpacked[function]
            if text:  # the first of the statement's builds writes it
                printed.append(Printed(text + "\n", Imports(modules)))
            continue
        if function.inline:  # MASK = torch.ones(6): no function of its own
            printed.append(Printed("\n".join(assignments) + "\n", Imports(modules)))
            continue
        text = function.definition() + "\n\n" + "\n".join(assignments) + "\n"
        printed.append(Printed(text, Imports(("Tensor", *modules))))
    return printed


def _unpackings(functions: dict[TensorBuild, list[str]]) -> dict[TensorBuild, str]:
    """The builds written as the unpacking their bodies share: the statement, once.

    A build qualifies when it takes no parameters, has one constant, and
    its body is comments, one ``a, b = value`` and ``return a``. The first
    build of each statement maps to its text (its targets the constants,
    ``_`` for a part no build returns), the others to ``""``.
    """
    # the statement's lines -> each target's constant
    statements: dict[tuple[str, ...], dict[str, str]] = {}
    owners: dict[TensorBuild, tuple[str, ...]] = {}
    for function, assignments in functions.items():
        returned = _returned_part(function)
        if returned is None or len(assignments) != 1:
            continue
        constant = assignments[0].split(" = ")[0]
        statements.setdefault(function.body[:-1], {})[returned] = constant
        owners[function] = function.body[:-1]
    written: dict[TensorBuild, str] = {}
    done: set[tuple[str, ...]] = set()
    for function, lines in owners.items():
        if lines in done:
            written[function] = ""
            continue
        done.add(lines)
        *comments, statement = lines
        targets, value = statement.split(" = ", 1)
        parts = [statements[lines].get(t.strip(), "_") for t in targets.split(",")]
        written[function] = "\n".join([*comments, f"{', '.join(parts)} = {value}"])
    return written


def _returned_part(function: TensorBuild) -> str | None:
    """``a`` for a body of comments, ``a, b = value`` and ``return a``; else None."""
    if function.parameters or function.inline or len(function.body) < 2:
        return None
    *comments, statement, returned = function.body
    if not all(line.lstrip().startswith("#") for line in comments):
        return None
    try:
        tree = ast.parse(statement + "\n" + returned)
    except SyntaxError:
        return None
    assign, result = tree.body if len(tree.body) == 2 else (None, None)
    if not (
        isinstance(assign, ast.Assign)
        and len(assign.targets) == 1
        and isinstance(assign.targets[0], ast.Tuple)
        and all(isinstance(t, ast.Name) for t in assign.targets[0].elts)
        and isinstance(result, ast.Return)
        and isinstance(result.value, ast.Name)
        and result.value.id in {t.id for t in assign.targets[0].elts}
    ):
        return None
    names = [t.id for t in assign.targets[0].elts]
    if statement.split(" = ", 1)[0].replace(" ", "") != ",".join(names):
        return None  # written otherwise (parentheses): not split by text
    return result.value.id


def method_definitions(builds: Iterable[TensorBuild]) -> list[Printed]:
    """Class styles: each method build's function, once, before the classes.

    Its blocks call it in ``__init__`` (``self.attn_mask =
    build_attention_mask()``, :class:`~.constructors.MethodBuilt`).
    """
    printed: dict[str, Printed] = {}
    for build in builds:
        function = spaced(build).function()
        if function.name not in printed:
            imports = Imports(("Tensor", *_imports_of(function)))
            printed[function.name] = Printed(function.definition(), imports)
    return list(printed.values())


def spaced(build: TensorBuild) -> TensorBuild:
    """``build`` with black's spacing in its body: the user's code may not have it."""
    return replace(build, body=tuple(black_spaced(line) for line in build.body))


def _imports_of(function: TensorBuild) -> list[str]:
    """What the build's definition reads from the output's imports."""
    return [*_modules_read(function), *function.import_lines()]


def _modules_read(function: TensorBuild) -> list[str]:
    """``torch`` and ``math``, where the body reads them."""
    tree = ast.parse(function.definition())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return [module for module in ("torch", "math") if module in names]


__all__ = [
    "build_definitions",
    "method_definitions",
    "name_builds",
    "shared_functions",
    "spaced",
]
