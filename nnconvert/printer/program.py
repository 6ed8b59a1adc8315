"""Styled graph -> the text of one class (module, mixed) or one function (functional).

Three steps, each a small function:

1. :func:`plan` decides which nodes become statements and which are inlined
   into their single user (parameters always; shape arithmetic always; in mixed
   style, parameter-free calls wrapped around a layer call, as in
   ``x = F.max_pool2d(F.relu(self.conv1(x)), 2)``);
2. :func:`name_statements` gives each statement a variable, reusing the name
   of an input that dies there, so that a chain reads ``x = ...; x = ...``;
3. the emitters write the body, the header (``__init__`` or the function
   signature) and the imports; :func:`format_source` runs black, the only
   place it runs.
"""

from __future__ import annotations

import re
from typing import Any

import black
import torch
from torch import fx, nn

from ..errors import ConversionError
from ..opspecs import spec_for_module
from ..opspecs.spec import count_batch
from ..options import Style
from ..passes.graph_utils import is_impure
from .expressions import INPLACE, ExpressionPrinter
from .names import Namespace, is_plain_identifier
from .values import literal

#: Parameter-free calls wrapped around one layer call in mixed style, at most.
MIXED_NESTING = 3


def print_program(module: fx.GraphModule, style: Style, name: str) -> str:
    """The black-formatted source of ``module`` in ``style``, defining ``name``."""
    graph = module.graph
    inlined = plan(graph, style)
    printer = ExpressionPrinter(style)
    printer.names = name_statements(graph, inlined)
    body = _body(graph, inlined, printer)
    if style is Style.FUNCTIONAL:
        header = _function_header(graph, printer, name)
        text = header + _indent(body)
    else:
        text = _class(module, graph, printer, name, body)
    return format_source(_imports(printer.imports) + "\n\n" + text)


def format_source(text: str) -> str:
    """Run black; the generated code is always formatted by this one call."""
    return black.format_str(text, mode=black.Mode())


# -- 1. what is a statement -------------------------------------------------


def plan(graph: fx.Graph, style: Style) -> set[fx.Node]:
    """The nodes printed inside their user's expression instead of on a line of their own.

    Always inlined (when used once): parameters, shape arithmetic and other
    non-tensor values, constants. In mixed style also a layer call and the
    parameter-free calls wrapped around it, up to :data:`MIXED_NESTING` calls:
    ``x = F.max_pool2d(F.relu(self.conv1(x)), 2)``; chains of parameter-free
    calls alone stay one per line. Nothing moves across an in-place op.
    """
    order = {node: i for i, node in enumerate(graph.nodes)}
    last_barrier, barrier_before = -1, {}
    for node in graph.nodes:
        barrier_before[node] = last_barrier
        if is_impure(node) and node.op not in ("placeholder", "output"):
            last_barrier = order[node]
    inlined: set[fx.Node] = set()
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
            len(node.users) == 1
            and not is_impure(node)
            and node.op not in ("placeholder", "output")
            and barrier_before[next(iter(node.users))] <= order[node]
            and _reads_best_inline(node, next(iter(node.users)), style, depth, rooted)
        ):
            inlined.add(node)
    return inlined


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


# -- 2. variable names ------------------------------------------------------


def name_statements(graph: fx.Graph, inlined: set[fx.Node]) -> dict[fx.Node, str]:
    """A variable name for every placeholder and statement node."""
    statements = [n for n in graph.nodes if n not in inlined]
    reads = {node: _variables_read(node, inlined) for node in statements}
    last_read: dict[fx.Node, fx.Node] = {}
    for node in statements:
        for variable in reads[node]:
            last_read[variable] = node
    namespace = Namespace()
    names: dict[fx.Node, str] = {}
    for node in statements:
        if node.op == "output":
            break
        if node.op == "placeholder":
            names[node] = namespace.claim(str(node.target), allow_builtin=True)
            continue
        dying = [v for v in reads[node] if last_read.get(v) is node and v in names]
        for variable in dying[1:]:
            namespace.release(names[variable])
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


def _body(
    graph: fx.Graph, inlined: set[fx.Node], printer: ExpressionPrinter
) -> list[str]:
    lines = []
    for node in graph.nodes:
        if node in inlined or node.op == "placeholder":
            continue
        if node.op == "output":
            lines.append(f"return {printer.argument(node.args[0])}")
        elif node.op == "call_function" and node.target is count_batch:
            counter, training = (printer.argument(a) for a in node.args)
            lines += [f"if {training}:", f"    {counter} += 1"]
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


def _signature_parameters(
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


def _function_header(graph: fx.Graph, printer: ExpressionPrinter, name: str) -> str:
    printer.use("Tensor")
    parameters = ["params: dict[str, Tensor]"] + _signature_parameters(
        graph, printer, True
    )
    if any(n.op == "get_attr" and n.target == "training" for n in graph.nodes):
        parameters += ["*", "training: bool = False"]
    output = next(n for n in graph.nodes if n.op == "output")
    returns = _return_hint(output.meta.get("value", output.args[0]))
    arrow = f" -> {returns}" if returns else ""
    return f"def {name}({', '.join(parameters)}){arrow}:\n"


def _return_hint(value: Any) -> str | None:
    if isinstance(value, fx.Node):
        value = value.meta.get("value")
    if isinstance(value, torch.Tensor):
        return "Tensor"
    if (
        isinstance(value, tuple)
        and value
        and all(isinstance(v, torch.Tensor) for v in value)
    ):
        return f"tuple[{', '.join('Tensor' for _ in value)}]"
    return None


def _class(
    module: fx.GraphModule,
    graph: fx.Graph,
    printer: ExpressionPrinter,
    name: str,
    body: list[str],
) -> str:
    printer.use("nn")
    init = ["super().__init__()"] + _init_statements(module, graph, printer)
    forward_parameters = ["self"] + _signature_parameters(graph, printer, False)
    return (
        f"class {name}(nn.Module):\n"
        + "    def __init__(self):\n"
        + _indent(init, 2)
        + "\n"
        + f"    def forward({', '.join(forward_parameters)}):\n"
        + _indent(body, 2)
    )


def _init_statements(
    module: fx.GraphModule, graph: fx.Graph, printer: ExpressionPrinter
) -> list[str]:
    """One assignment per top-level attribute, in order of first use, then unused state."""
    original: nn.Module = module.meta.get("original", module)
    order: list[str] = []
    for node in graph.nodes:
        if node.op in ("call_module", "get_attr") and node.target != "training":
            top = str(node.target).split(".")[0]
            if top not in order:
                order.append(top)
    for top, _ in list(original.named_children()) + list(_own_tensors(original)):
        if top not in order and _has_state(original, top):
            order.append(top)
    lines = []
    for top in order:
        if not is_plain_identifier(top):
            raise ConversionError(f"attribute name {top!r} is not a Python identifier")
        value = getattr(module, top) if hasattr(module, top) else getattr(original, top)
        lines.append(_attribute_statement(top, value, original, printer))
    return lines


def _own_tensors(module: nn.Module):
    yield from module.named_parameters(recurse=False)
    yield from module.named_buffers(recurse=False)


def _has_state(module: nn.Module, name: str) -> bool:
    return any(key == name or key.startswith(name + ".") for key in module.state_dict())


def _attribute_statement(
    name: str, value: Any, original: nn.Module, printer: ExpressionPrinter
) -> str:
    if isinstance(value, nn.Parameter):
        printer.use("torch")
        grad = "" if value.requires_grad else ", requires_grad=False"
        return f"self.{name} = nn.Parameter({_empty(value)}{grad})"
    if isinstance(value, torch.Tensor):
        printer.use("torch")
        persistent = name not in original._non_persistent_buffers_set
        flag = "" if persistent else ", persistent=False"
        return f"self.register_buffer({literal(name)}, {_empty(value)}{flag})"
    if isinstance(value, nn.Module):
        return f"self.{name} = {constructor_call(name, value, printer)}"
    raise ConversionError(
        f"cannot write attribute {name!r} of type {type(value).__name__}"
    )


def _empty(tensor: torch.Tensor) -> str:
    """``torch.empty(3, 4)``: the constructor needs shapes; weights come from the state dict."""
    shape = ", ".join(str(d) for d in tensor.shape)
    dtype = (
        "" if tensor.dtype == torch.get_default_dtype() else f", dtype={tensor.dtype}"
    )
    return f"torch.empty({shape}{dtype})" if shape else f"torch.empty(()){dtype}"


def constructor_call(name: str, layer: nn.Module, printer: ExpressionPrinter) -> str:
    """``nn.Conv2d(1, 6, 5)`` for a standard layer, checked by rebuilding it."""
    spec = spec_for_module(layer)
    if spec is None:
        raise ConversionError(
            f"submodule {name!r} is a {type(layer).__module__}.{type(layer).__qualname__}, "
            "which has no op spec: nnconvert cannot write its constructor"
        )
    spec.rebuild(layer)
    args, kwargs = spec.constructor_arguments(layer)
    dtypes = {t.dtype for t in layer.state_dict().values() if t.is_floating_point()}
    if dtypes and dtypes != {torch.get_default_dtype()}:
        if len(dtypes) > 1:
            raise ConversionError(
                f"submodule {name!r} mixes dtypes {sorted(map(str, dtypes))}"
            )
        kwargs = {**kwargs, "dtype": dtypes.pop()}
    parts = [printer.argument(a) for a in args]
    parts += [f"{k}={printer.argument(v)}" for k, v in kwargs.items()]
    return f"nn.{type(layer).__name__}({', '.join(parts)})"


def _imports(used: set[str]) -> str:
    """The import block, standard library first, as isort would order it."""
    stdlib = ["import math"] if "math" in used else []
    third_party = [
        line
        for key, line in (
            ("torch", "import torch"),
            ("nn", "import torch.nn as nn"),
            ("F", "import torch.nn.functional as F"),
            ("Tensor", "from torch import Tensor"),
        )
        if key in used
    ]
    return "\n\n".join("\n".join(group) for group in (stdlib, third_party) if group)


def _indent(lines: list[str], levels: int = 1) -> str:
    pad = "    " * levels
    return "".join(f"{pad}{line}\n" for line in lines)


__all__ = ["constructor_call", "format_source", "plan", "print_program"]
