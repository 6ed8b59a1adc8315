"""Statements of one function body: what is inlined, what each value is called, the lines.

Three steps, each a small function:

1. :func:`plan` decides which nodes become statements and which are inlined
   into their single user (parameters always; shape arithmetic always; in mixed
   style, parameter-free calls wrapped around a layer call, as in
   ``x = F.max_pool2d(F.relu(self.conv1(x)), 2)``);
2. :func:`name_statements` gives each statement a variable, reusing the name
   of an input that dies there, so that a chain reads ``x = ...; x = ...``;
3. :func:`body_lines` writes the statements.

A tuple read only by constant indexing is unpacked where it is made
(:func:`unpacked`): ``q, k, v = x.chunk(3, dim=-1)``, ``out, _ = self.attn(x, x, x)``.
"""

from __future__ import annotations

import operator
import re

import torch
from torch import fx

from ..opspecs.helpers import helper_for
from ..options import Style
from ..passes.graph_utils import is_impure, uses
from .expressions import INPLACE, ExpressionPrinter
from .names import RESERVED, Namespace
from .values import literal

#: ``node.meta`` key of a block call that only some instances of a class make:
#: printed as ``if self.<layer> is not None: x = self.<layer>(x)``.
OPTIONAL = "nnconvert_optional"

#: Parameter-free calls wrapped around one layer call in mixed style, at most.
MIXED_NESTING = 3


def print_body(
    graph: fx.Graph, style: Style, printer: ExpressionPrinter, reserved: frozenset[str]
) -> tuple[list[str], list[str]]:
    """``(signature parameters, body lines)`` of ``graph``, names recorded in ``printer``."""
    inlined = plan(graph, style)
    unpacks = unpacked(graph, inlined)
    for targets in unpacks.values():
        inlined.difference_update(targets)
    printer.names = name_statements(graph, inlined, reserved, unpacks)
    hint = style is Style.FUNCTIONAL
    return signature_parameters(graph, printer, hint), body_lines(
        graph, inlined, printer, unpacks
    )


# -- 1. what is a statement -------------------------------------------------


def plan(graph: fx.Graph, style: Style) -> set[fx.Node]:
    """The nodes printed inside their user's expression instead of on a line of their own.

    Always inlined (when used once): parameters, shape arithmetic and other
    non-tensor values, constants. In mixed style also a layer call and the
    parameter-free calls wrapped around it, up to :data:`MIXED_NESTING` calls:
    ``x = F.max_pool2d(F.relu(self.conv1(x)), 2)``; chains of parameter-free
    calls alone stay one per line.

    Inlining never changes the order in which things are computed: a node is
    inlined only if everything between it and its user is inlined into that
    user too. So nothing moves across an in-place op, and converting the
    output again sees the same graph (SPEC invariant 5).
    """
    pure = {n for n in graph.nodes if _is_shape_of_input(n)}
    inlined = set(pure)
    depth: dict[fx.Node, int] = {}  # calls in the node's printed expression
    rooted: set[fx.Node] = set()  # expressions with a layer call at their core
    for node in graph.nodes:
        inner = [n for n in node.all_input_nodes if n in inlined]
        depth[node] = node.op.startswith("call") + max(
            (depth[n] for n in inner), default=0
        )
        if node.op == "call_module" or any(n in rooted for n in inner):
            rooted.add(node)
        if node.op == "get_attr" or (
            uses(node) == 1
            and not is_impure(node)
            and node.op not in ("placeholder", "output")
            and not node.meta.get(OPTIONAL)
            and _reads_best_inline(node, next(iter(node.users)), style, depth, rooted)
        ):
            inlined.add(node)
        if node.op == "get_attr" or (
            node.op == "call_function"
            and not node.all_input_nodes
            and not is_impure(node)  # torch.randn(3) draws: it stays in place
        ):
            pure.add(node)  # parameters and constants: evaluated anywhere alike
    return _keep_evaluation_order(graph, inlined, pure)


def _keep_evaluation_order(
    graph: fx.Graph, inlined: set[fx.Node], pure: set[fx.Node]
) -> set[fx.Node]:
    """Drop inlinings that would compute a node after a statement that follows it."""
    nodes = list(graph.nodes)
    position = {node: i for i, node in enumerate(nodes)}
    changed = True
    while changed:
        changed = False
        for node in [n for n in nodes if n in inlined and n not in pure]:
            (user,) = node.users
            between = nodes[position[node] + 1 : position[user]]
            if not all(m in pure or _inlined_into(m, user, inlined) for m in between):
                inlined.discard(node)
                changed = True
    return inlined


def _inlined_into(node: fx.Node, user: fx.Node, inlined: set[fx.Node]) -> bool:
    """``node`` is printed inside ``user``'s expression."""
    while node in inlined and len(node.users) == 1:
        (node,) = node.users
        if node is user:
            return True
    return False


def _is_shape_of_input(node: fx.Node) -> bool:
    """``x.shape``, ``x.size(0)``, ``x.shape[1]``, ``x.dim()``: cheap, pure reads of a shape.

    Printed where they are used, however often: ``b, c, h, w = x.shape``
    reads as ``x.shape[0]`` … in the output.
    """
    if node.op == "call_function" and node.target is getattr:
        return node.args[1] in ("shape", "ndim")
    if node.op == "call_method":
        return node.target in ("size", "dim")
    if node.op == "call_function" and node.target is operator.getitem:
        source = node.args[0]
        return isinstance(source, fx.Node) and _is_shape_of_input(source)
    return False


def _reads_best_inline(
    node: fx.Node, user: fx.Node, style: Style, depth, rooted
) -> bool:
    if user.op == "output":
        return False
    if not isinstance(node.meta.get("value"), torch.Tensor):
        return True  # shapes and other Python values
    if node.op == "call_function" and not node.all_input_nodes:
        return True  # constants such as torch.tensor([1.0, 2.0])
    return (
        style is Style.MIXED
        and user.op in ("call_function", "call_method")
        and node in rooted
        and depth[node] + 1 <= MIXED_NESTING
    )


#: Longest tuple unpacked into names (``a, b, c, d = ...``); longer ones are indexed.
MAX_UNPACK = 6

#: For each unpacked tuple statement, the ``t[i]`` node of each element (None: unread).
Unpacks = dict[fx.Node, list["fx.Node | None"]]


def unpacked(graph: fx.Graph, inlined: set[fx.Node]) -> Unpacks:
    """Tuple statements whose every reader takes one constant element, once each.

    Unpacking reads the elements where the tuple is made instead of where they
    are indexed; a tuple's elements are the same objects either way, so the
    program computes the same (lists are left alone: code may change them).
    """
    found: Unpacks = {}
    for node in graph.nodes:
        value = node.meta.get("value")
        if (
            node in inlined
            or node.op in ("placeholder", "output")
            or node.meta.get(OPTIONAL)
            or type(value) is not tuple
            or not 1 < len(value) <= MAX_UNPACK
            or not node.users
        ):
            continue
        targets: list[fx.Node | None] = [None] * len(value)
        for user in node.users:
            index = user.args[1] if len(user.args) == 2 else None
            if not (
                user.op == "call_function"
                and user.target is operator.getitem
                and user.args[0] is node
                and type(index) is int
                and -len(value) <= index < len(value)
                and targets[index] is None
                and not user.meta.get(OPTIONAL)
            ):
                break
            targets[index] = user
        else:
            found[node] = targets
    return found


# -- 2. variable names ------------------------------------------------------


def name_statements(
    graph: fx.Graph,
    inlined: set[fx.Node],
    reserved: frozenset[str] = frozenset(),
    unpacks: Unpacks | None = None,
) -> dict[fx.Node, str]:
    """A variable name for every placeholder and statement node.

    ``reserved`` are names taken by the file itself (its functions and classes).
    An unpacked tuple has no name; its elements are named where it is made.
    """
    unpacks = unpacks or {}
    elements = {t for targets in unpacks.values() for t in targets if t is not None}
    statements = [n for n in graph.nodes if n not in inlined]
    reads = {node: _variables_read(node, inlined) for node in statements}
    last_read: dict[fx.Node, fx.Node] = {}
    for node in statements:
        for variable in reads[node]:
            last_read[variable] = node
    namespace = Namespace(RESERVED | reserved)
    names: dict[fx.Node, str] = {}
    for node in statements:
        if node.op == "output":
            break
        if node.op == "placeholder":
            names[node] = namespace.claim(str(node.target), allow_builtin=True)
            continue
        if node in elements:
            continue  # named with its tuple
        dying = [v for v in reads[node] if last_read.get(v) is node and v in names]
        for variable in dying[1:]:
            namespace.release(names[variable])
        if node in unpacks:
            for element in (t for t in unpacks[node] if t is not None):
                if dying:  # the first element takes the dying input's name
                    names[element] = namespace.take_over(names[dying.pop(0)])
                    dying = []
                else:
                    names[element] = namespace.claim(_stem(element))
            continue
        if not node.users:
            if dying:
                namespace.release(names[dying[0]])
            continue
        if dying:
            names[node] = namespace.take_over(names[dying[0]])
        else:
            names[node] = namespace.claim(_stem(node))
    return names


def _variables_read(node: fx.Node, inlined: set[fx.Node]) -> list[fx.Node]:
    """Statement nodes whose variables ``node``'s line reads, in argument order."""
    found: list[fx.Node] = []
    for argument in node.all_input_nodes:
        if argument in inlined:
            found += [v for v in _variables_read(argument, inlined) if v not in found]
        elif argument not in found:
            found.append(argument)
    return found


def _stem(node: fx.Node) -> str:
    value = node.meta.get("value")
    if isinstance(value, torch.Tensor):
        return "out"
    if isinstance(value, (tuple, list)):
        return "outs"
    return re.sub(r"_\d+$", "", node.name)


# -- 3. text ----------------------------------------------------------------


def body_lines(
    graph: fx.Graph,
    inlined: set[fx.Node],
    printer: ExpressionPrinter,
    unpacks: Unpacks | None = None,
) -> list[str]:
    unpacks = unpacks or {}
    elements = {t for targets in unpacks.values() for t in targets if t is not None}
    lines = []
    for node in graph.nodes:
        if node in inlined or node.op == "placeholder" or node in elements:
            continue
        if node in unpacks:
            lines.append(
                f"{_unpack_target(unpacks[node], printer)} = {printer.definition(node)}"
            )
        elif node.op == "output":
            lines.append(f"return {printer.argument(node.args[0])}")
        elif node.op == "call_function" and _is_statement_helper(node):
            arguments = [printer.argument(a) for a in node.args]
            lines += helper_for(node.target).print(arguments)  # if training: ...
        elif node.meta.get(OPTIONAL):
            layer = printer.attribute_path(str(node.target))
            assignment = f"{printer.names[node]} = {printer.definition(node)}"
            lines += [f"if {layer} is not None:", f"    {assignment}"]
        elif node.op == "call_function" and node.target in INPLACE:
            target, value = node.args
            lines.append(
                f"{printer.argument(target)} {INPLACE[node.target]} {printer.argument(value)}"
            )
            if node.users and printer.names[node] != printer.argument(target):
                lines.append(f"{printer.names[node]} = {printer.argument(target)}")
        else:
            expression = printer.definition(node)
            if node.users:
                lines.append(f"{printer.names[node]} = {expression}")
            else:
                lines.append(expression)
    return lines


def _is_statement_helper(node: fx.Node) -> bool:
    """A helper row printed as statements of its own (``count_batch``'s ``if``)."""
    helper = helper_for(node.target)
    return helper is not None and helper.is_statement


def _unpack_target(targets: list[fx.Node | None], printer: ExpressionPrinter) -> str:
    """``a, _, c`` (``a, *_`` when the rest is unread)."""
    names = [printer.names[t] if t is not None else "_" for t in targets]
    while len(names) > 1 and names[-1] == "_" and names[-2] == "_":
        names.pop()
    if names[-1] == "_" and len(names) < len(targets):
        names[-1] = "*_"
    return ", ".join(names)


def signature_parameters(
    graph: fx.Graph, printer: ExpressionPrinter, hint: bool
) -> list[str]:
    parameters = []
    for node in graph.nodes:
        if node.op != "placeholder":
            continue
        text = printer.names[node]
        value = node.meta.get("value")
        if hint and isinstance(value, torch.Tensor):
            text += ": Tensor"
            printer.use("Tensor")
        if node.args:
            text += (
                f"={literal(node.args[0])}"
                if not hint
                else f" = {literal(node.args[0])}"
            )
        parameters.append(text)
    return parameters
