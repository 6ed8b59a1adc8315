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
from ..tensor_builds import TensorBuild
from .imports import Imports, Printed


def name_builds(instances: list[Instance], taken: set[str]) -> set[str]:
    """Give every build node of ``instances`` its function's and constant's names.

    Builds with the same body and parameters are one function (the
    parameters' defaults are the first one's; the others pass what
    differs); builds of one function with the same values are one constant.
    The names avoid ``taken``; returns the names given.
    """
    nodes = [
        node
        for instance in instances
        for node in with_method_bodies(instance.graph.graph)
        if node.op == "call_function" and isinstance(node.target, TensorBuild)
    ]
    used = set(taken) | set(dir(builtins))  # a module-level name hides a builtin
    functions: dict[tuple, TensorBuild] = {}  # (body, parameter names) -> named
    constants: dict[tuple, str] = {}  # (function, values) -> constant name
    for node in nodes:
        build: TensorBuild = node.target
        names = tuple(name for name, _ in build.parameters)
        key = (build.body, names)
        if key not in functions:
            name = first_free(build.name, used, "_")
            used.add(name)
            functions[key] = replace(build.function(), name=name)
        function = functions[key]
        values = {**dict(build.parameters), **dict(build.arguments)}
        arguments = tuple(
            (name, values[name])
            for name, default in function.parameters
            if repr(values[name]) != repr(default)
        )
        constant_key = (key, repr(arguments))
        if constant_key not in constants:
            constant = first_free(function.name.upper(), used, "_")
            used.add(constant)
            constants[constant_key] = constant
        node.target = replace(
            function,
            arguments=arguments,
            constant=constants[constant_key],
            value=build.value,
        )
    return used - set(taken) - set(dir(builtins))


def build_definitions(nodes: Iterable[fx.Node]) -> list[Printed]:
    """Each function the named build nodes call, then its constants, in order of use."""
    functions: dict[TensorBuild, list[str]] = {}
    for node in nodes:
        if node.op == "call_function" and isinstance(node.target, TensorBuild):
            build: TensorBuild = node.target
            assignments = functions.setdefault(build.function(), [])
            if build.assignment() not in assignments:
                assignments.append(build.assignment())
    return [
        Printed(
            function.definition() + "\n\n" + "\n".join(assignments) + "\n",
            Imports(("Tensor", *_modules_read(function))),
        )
        for function, assignments in functions.items()
    ]


def _modules_read(function: TensorBuild) -> list[str]:
    """``torch`` and ``math``, where the body reads them."""
    tree = ast.parse(function.definition())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return [module for module in ("torch", "math") if module in names]


__all__ = ["build_definitions", "name_builds"]
