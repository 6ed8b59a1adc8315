"""Optional submodules the user's ``__init__`` builds when one of its flags says so.

A class shared by instances with and without some submodules takes them as
``name=None`` constructor parameters, built by the parent
(``Block(cross_attn=MultiHeadAttention(...))``), as torchvision's
``downsample`` is. Whisper's ``ResidualAttentionBlock`` builds its own:

    self.cross_attn = MultiHeadAttention(n_state, n_head) if cross_attention else None

Where a boolean argument of the user's ``__init__`` is True in exactly the
instances that have the optional submodules (:func:`presence_flag`), the
class takes that flag again and builds them itself, ``... if
cross_attention else None``, from the constructor tree the instances that
have them share. A literal of that tree that differs between them is the
class's constructor parameter that holds it in each of them; a tree that
needs any other value keeps the ``name=None`` form.

Where no flag tells it but the user's ``__init__`` builds them under a
condition of its parameters (kuangliu's CIFAR blocks: ``if stride != 1 or
in_planes != self.expansion*planes: self.shortcut = nn.Sequential(...)``),
that condition does (:func:`_source_condition`): read from the source,
with the class's constants put in (``self.expansion`` is 1) and folded,
and evaluated on each instance's arguments, it must be true exactly where
the submodules are. Its names must be parameters of the class.

Built in ``__init__`` where the user built them, the submodules draw their
random numbers in the user's order again (a fresh build matches the
original's). Functional style is unchanged: its block function already
takes ``has_cross_attn``.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Any, Sequence

from torch import nn

from ..init_arguments import (
    init_arguments,
    init_defaults,
    init_locals,
    init_parameters,
    recorded_call,
)
from ..opspecs.spec import REQUIRED
from ..source_text import function_tree
from .constructors import Hole, Holes, leaves, structure, substitute
from .derived_sizes import derived_sizes
from .values import same_literal


@dataclass(frozen=True)
class Presence:
    """The flag that builds a class's optional submodules, and what it builds.

    ``values``: each optional attribute's constructor tree, with the class's
    parameters where its literals differ; ``arguments``: the flag's value in
    each instance; ``default``: its default in the signature (``REQUIRED``:
    none).
    """

    flag: str
    default: Any
    values: dict[str, Any]
    arguments: list[bool]
    #: ``flag`` is a condition of the class's parameters, no parameter of its own
    condition: bool = False


def presence_flag(
    modules: Sequence[nn.Module],
    given: Sequence[dict[str, Any]],
    optional: Sequence[str],
    holes: Holes,
    taken: frozenset[str],
) -> Presence | None:
    """The :class:`Presence` of ``optional`` in ``modules``, if a flag or condition tells it.

    ``given``: each instance's constructor trees by attribute (None where it
    has no such submodule); ``holes``: the class's constructor parameters.
    """
    if not optional or len(modules) < 2:
        return None
    present = [[g.get(o) is not None for o in optional] for g in given]
    if any(len(set(p)) > 1 for p in present):
        return None  # some but not all: no one flag
    has = [p[0] for p in present]
    arguments = [init_arguments(m) for m in modules]
    if not all(arguments) or len(set(has)) < 2:
        return None
    names = set(holes.names) | set(taken)  # an attribute's own name may be the flag
    flag = next(
        (
            p
            for p in init_parameters(modules[0])
            if p not in names
            and all(
                type(a.get(p)) is bool and a[p] == h for a, h in zip(arguments, has)
            )
        ),
        None,
    )
    condition = None
    if flag is None:
        condition = _source_condition(modules, optional, has, holes)
        if condition is None:
            return None
    having = [i for i, h in enumerate(has) if h]
    # the sizes __init__ computes first are read as much as its parameters
    known = [{**init_locals(modules[i]), **arguments[i]} for i in having]
    values = {}
    for attribute in optional:
        trees = [given[i][attribute] for i in having]
        value = _shared_tree(trees, having, holes, known)
        if value is None:
            return None
        values[attribute] = value
    if condition is not None:
        return Presence(condition, REQUIRED, values, [], condition=True)
    default = init_defaults(modules[0]).get(flag, REQUIRED)
    if not any(a[flag] == default for a in arguments):
        default = REQUIRED
    return Presence(flag, default, values, [a[flag] for a in arguments])


def _source_condition(
    modules: Sequence[nn.Module], optional: Sequence[str], has: list[bool], holes: Holes
) -> str | None:
    """The condition the user's ``__init__`` builds ``optional`` under, as the class writes it.

    The test of an ``if`` whose body assigns every optional attribute (or of
    ``self.x = ... if test else None``, or ``else nn.Identity()``, one
    test for every optional attribute, as this module writes them), with
    each ``self.<name>`` the class holds as a constant (``expansion = 1``)
    and each argument every instance was given alike put in, and the parts that read no parameter folded
    (``stride != 1`` where every block has ``stride=1`` is False, and drops
    out of an ``or``). None unless it reads only the class's parameters (and
    the sizes it computes first: ResNeXt's ``group_width``) and gives ``has``
    on each instance's values of those parameters.
    """
    cls = type(modules[0])
    tree = function_tree(cls.__init__)
    if tree is None:
        return None
    tests = [
        node.test
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and set(optional) <= _assigned(node.body)
        and not _assigned(node.orelse) & set(optional)
    ]
    built_if = {  # self.x = ... if test else None, by attribute
        attribute: node.value.test
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.IfExp)
        and _is_nothing(node.value.orelse)
        for attribute in _assigned([node])
    }
    alike = {ast.dump(built_if[o]) for o in optional if o in built_if}
    if set(optional) <= set(built_if) and len(alike) == 1:
        tests.append(built_if[optional[0]])  # one test for all: as this module writes
    recorded = [recorded_call(m) for m in modules]
    if len(tests) != 1 or any(r is None for r in recorded):
        return None
    parameters = set(holes.names) | {name for name, _ in holes.sizes}
    constants = {
        name: recorded[0][name]
        for name in init_parameters(modules[0])
        if name not in parameters
        and all(name in r and _is_constant(r[name]) for r in recorded)
        and len({repr(r[name]) for r in recorded}) == 1
    }
    test = _with_constants(tests[0], cls, constants)
    if test is None:
        return None
    folded = _folded(test)
    if isinstance(folded, ast.Constant):
        return None  # says nothing any more: every instance alike
    if {n.id for n in ast.walk(folded) if isinstance(n, ast.Name)} - parameters:
        return None
    expression = ast.fix_missing_locations(ast.Expression(folded))
    code = compile(expression, "<condition>", "eval")
    # evaluated as the class will: on its parameters' values and its sizes
    for row, m, h in zip(holes.values_per_instance, modules, has):
        try:
            names = {**init_locals(m), **dict(zip(holes.names, row))}
            if bool(eval(code, {"__builtins__": {}}, names)) is not h:
                return None
        except Exception:
            return None
    return ast.unparse(folded)


def _is_nothing(node: ast.expr) -> bool:
    """``None``, or an ``nn.Identity()`` (CLIP's ``... if stride > 1 else nn.Identity()``)."""
    if isinstance(node, ast.Constant):
        return node.value is None
    if not isinstance(node, ast.Call) or node.args or node.keywords:
        return False
    name = node.func
    return (isinstance(name, ast.Attribute) and name.attr == "Identity") or (
        isinstance(name, ast.Name) and name.id == "Identity"
    )


def _assigned(statements: list[ast.stmt]) -> set[str]:
    """The ``self.<name>`` attributes ``statements`` assign at their top level."""
    return {
        target.attr
        for statement in statements
        if isinstance(statement, ast.Assign)
        for target in statement.targets
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    }


def _is_constant(value: Any) -> bool:
    return value is None or type(value) in (bool, int, float, str)


def _with_constants(
    test: ast.expr, cls: type, constants: dict[str, Any]
) -> ast.expr | None:
    """``test`` with ``self.<name>`` (a constant class attribute) and ``constants`` put in.

    ``Bottleneck.expansion`` in ``Bottleneck`` is ``self.expansion`` (CLIP's).

    None if it reads another attribute of ``self``, or calls anything.
    """
    failed = False

    class Put(ast.NodeTransformer):
        def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
            nonlocal failed
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", cls.__name__):
                value = getattr(cls, node.attr, None)
                if _is_constant(value) and value is not None:
                    return ast.Constant(value)
            failed = True
            return node

        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in constants:
                return ast.Constant(constants[node.id])
            return node

        def visit_Call(self, node: ast.Call) -> ast.AST:
            nonlocal failed
            failed = True
            return node

    result = Put().visit(copy.deepcopy(test))
    return None if failed else result


def _folded(node: ast.expr) -> ast.expr:
    """``node`` with every part that reads no name evaluated, ``or``/``and`` simplified.

    ``1 * planes`` is ``planes``, as the user would write it for
    ``expansion = 1``.
    """
    if isinstance(node, ast.BoolOp):
        neutral = isinstance(node.op, ast.And)  # True in an and, False in an or
        kept = []
        for value in map(_folded, node.values):
            if isinstance(value, ast.Constant):
                if bool(value.value) is neutral:
                    continue
                return ast.Constant(not neutral)
            kept.append(value)
        if not kept:
            return ast.Constant(neutral)
        return kept[0] if len(kept) == 1 else ast.BoolOp(node.op, kept)
    if isinstance(node, ast.BinOp):
        left, right = _folded(node.left), _folded(node.right)
        if isinstance(node.op, ast.Mult):
            for one, other in ((left, right), (right, left)):
                if isinstance(one, ast.Constant) and one.value == 1:
                    return other
        node = ast.BinOp(left, node.op, right)
    elif isinstance(node, ast.Compare):
        comparators = [_folded(c) for c in node.comparators]
        node = ast.Compare(_folded(node.left), node.ops, comparators)
    elif isinstance(node, ast.UnaryOp):
        node = ast.UnaryOp(node.op, _folded(node.operand))
    if not any(isinstance(n, ast.Name) for n in ast.walk(node)):
        try:
            expression = ast.fix_missing_locations(ast.Expression(node))
            value = eval(compile(expression, "<constant>", "eval"), {})
        except Exception:
            return node
        if _is_constant(value):
            return ast.Constant(value)
    return node


def _shared_tree(
    trees: list[Any], rows: list[int], holes: Holes, arguments: list[dict[str, Any]]
) -> Any:
    """One tree for ``trees``: their literals, or the parameter that holds them in each.

    ``rows``: the instances the trees are of, as rows of ``holes``;
    ``arguments``: what those were built with. A literal every tree has
    alike stays one, unless the parameter named like its argument holds it
    (``stride=stride``), or it is a size (an integer above 1) that one
    parameter, and no other, holds in every instance that has the tree. A literal no parameter
    holds may be an expression of the parameters (``out_planes +
    dense_depth``, :mod:`.derived_sizes`). None when the trees differ in
    structure, or in a literal nothing gives.
    """
    if len({repr(structure(t)) for t in trees}) > 1:
        return None
    columns = {
        name: [holes.values_per_instance[r][i] for r in rows]
        for i, name in enumerate(holes.names)
    }
    found = [list(leaves(t)) for t in trees]
    holes_at: dict[tuple, Hole] = {}
    for position, (path, param, value) in enumerate(found[0]):
        values = [f[position][2] for f in found]
        if all(same_literal(v, value) for v in values):
            # alike in every tree: the parameter it is named after, if that holds it
            # (a projection's ``stride=stride``, 2 wherever there is one), else itself
            named = columns.get(param.name if param is not None else "")
            if named is not None and all(same_literal(c, value) for c in named):
                holes_at[path] = Hole(param.name)
            elif type(value) is int and value > 1:
                # a size: the one parameter that holds it wherever the trees are
                # (CLIP's nn.AvgPool2d(stride), 2 in every block that has one)
                alike = [
                    n
                    for n, c in columns.items()
                    if all(same_literal(v, value) for v in c)
                ]
                if len(alike) == 1:
                    holes_at[path] = Hole(alike[0])
            continue
        name = next(
            (
                n
                for n, column in columns.items()
                if all(same_literal(c, v) for c, v in zip(column, values))
            ),
            None,
        )
        if name is None:
            names = [*holes.names, *(n for n, _ in holes.sizes)]
            given = [{p: a[p] for p in names if p in a} for a in arguments]
            derived = derived_sizes([("", values)], given, names)
            name = derived[""].text if "" in derived else None
        if name is None:
            return None
        holes_at[path] = Hole(name)
    return substitute(trees[0], holes_at, ())


__all__ = ["Presence", "presence_flag"]
