"""Functional style: the planned functions as text.

``def basic_block(params, x)`` reads its own keys (``params["conv1.weight"]``);
its caller passes ``sub_params(params, "layer1.0.")``, the block's slice of the
weight dict, so no function is flattened into its parent. Instances of a block
whose code is the same share one function; different code gets another
function (``basic_block_2``). A function takes ``training`` when it or a
function it calls depends on it.

A plain ``nn.Sequential`` the model calls is a function too, named after the
attribute that holds it (``features(sub_params(params, "features."), x)``):
its members run there, so the function shows where it starts and ends.
Sequentials of the same name and code share one function; a name taken by a
block's function, an import or the root is numbered (``double_conv2``).
Which instances share a function and what each is called is decided in
:mod:`.function_plan`; this module only writes the plan.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from typing import Sequence

import torch
from torch import fx, nn

from ..functional.containers import READ_FROM, layer_comments
from ..helper_origins import read_helper_comments
from ..module_kinds import is_stateless
from ..naming import snake_case
from ..opspecs.helpers import HELPERS, SUB_PARAMS, Helper, helper_for
from ..options import Style
from ..passes.methods import is_method_call, with_method_bodies
from ..passes.canonicalize import INLINED_ATTRIBUTE
from ..tensor_builds import TensorBuild, without_built_comments
from ..source_text import (
    keyword_comments,
    node_branch_attributes,
    class_comments,
    docstring_lines,
    docstrings,
    function_docstring,
    init_comments,
    sequential_comments,
    without_sequential_comments,
)
from .body import Body, print_body
from .built_tensors import build_definitions
from .classes import leaf_constructor
from .constructors import render_value
from .expressions import ExpressionPrinter
from .imports import Imports, Printed
from .function_plan import FunctionPlan, read_paths
from .loops import find_loops
from .methods import method_body
from .values import literal as literal_text


def print_functions(plans: list[FunctionPlan]) -> list[Printed]:
    """Function texts, callees first, after the definitions of the helpers they call."""
    helpers = [
        Printed(text, Imports(helper.imports))
        for helper, text in helper_definitions(plans)
    ]
    texts = []
    for plan in plans:
        said = read_helper_comments(plan.instance.ancestry)  # where first read
        for name in _method_built(plan.instance.graph.graph):
            said.pop(name, None)  # the method's own code says it
        texts += [*method_functions(plan, said), function_text(plan, said)]
    nodes = [n for plan in plans for n in with_method_bodies(plan.instance.graph.graph)]
    return helpers + build_definitions(nodes) + leaf_layers(plans) + texts


def _method_built(graph: fx.Graph) -> set[str]:
    """The tensor attributes ``graph`` reads as built by the user's method (CLIP's ``attn_mask``)."""
    return {
        node.meta[INLINED_ATTRIBUTE].split(".")[-1]
        for node in with_method_bodies(graph)
        if node.op == "call_function"
        and isinstance(node.target, TensorBuild)
        and node.target.method
        and INLINED_ATTRIBUTE in node.meta
    }


def leaf_layers(plans: list[FunctionPlan]) -> list[Printed]:
    """``rearrange_layer = Rearrange(...)``: the third-party layers the functions call.

    Built once, at module level: building one per call would run its weight
    initialisation at every call, for weights ``functional_call`` replaces.
    """
    calls = {c.variable: c for plan in plans for c in plan.leaves.values()}
    if not calls:
        return []
    printer = ExpressionPrinter(Style.FUNCTIONAL)
    lines = [
        f"{variable} = {render_value(leaf_constructor(call.leaf), printer)}\n"
        for variable, call in calls.items()
    ]
    return [Printed("".join(lines), printer.imports)]


def used_helpers(plans: list[FunctionPlan]) -> list[Helper]:
    """The helper rows with a definition that the planned functions call, in table order.

    Read from the graphs and their helper methods' bodies: a block call reads
    ``sub_params``, and so does a call of a helper over a layer's weights
    (``batch_norm(sub_params(params, "bn1."), x)``); a call node of a
    helper's function (``lstm``) calls that helper.
    """
    weighted = any(  # block calls, and third-party layers called with weights
        plan.callees or any(c.leaf.has_state for c in plan.leaves.values())
        for plan in plans
    )
    used = [SUB_PARAMS] if weighted else []
    for plan in plans:  # the helper methods' bodies too (CLIP's ``attention``)
        for node in with_method_bodies(plan.instance.graph.graph):
            helper = helper_for(node.target) if node.op == "call_function" else None
            if helper is not None and helper.definition is not None:
                used.append(helper)
            if helper is not None and helper.weight_dict:  # its call passes a slice
                used.append(SUB_PARAMS)
    for helper in used:  # grows while it is read: what the helpers call
        used += [h for h in map(helper_for, helper.needs) if h not in used]
    return [helper for helper in HELPERS if any(helper is u for u in used)]


def helper_definitions(plans: list[FunctionPlan]) -> list[tuple[Helper, str]]:
    """The helpers the plans call and their definitions, in table order, each trimmed to what its calls pass.

    A helper another helper calls (``transformer_encoder_layer`` in
    ``transformer_encoder``) also keeps what that caller's printed text
    passes it: callers come later in the table, so they are printed first.
    """
    texts: list[tuple[Helper, str]] = []
    for helper in reversed(used_helpers(plans)):
        passed = passed_parameters(plans, helper)
        for caller, text in texts:
            if helper.function in caller.needs:
                passed |= _passed_in_text(text, helper)
        texts.append((helper, helper.definition_for(passed)))
    return texts[::-1]


def _passed_in_text(text: str, helper: Helper) -> set[str]:
    """The parameters of ``helper`` that calls of it in the source ``text`` pass."""
    names = list(inspect.signature(helper.function).parameters)
    passed: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == helper.name
        ):
            passed |= {*names[: len(node.args)], *(k.arg for k in node.keywords)}
    return passed


def passed_parameters(plans: list[FunctionPlan], helper: Helper) -> set[str]:
    """The parameters of ``helper`` that some call of it in the planned functions passes.

    A trimmed definition (``Helper.trimmed``) keeps exactly these options:
    the calls print their arguments as the graph holds them, positional
    ones first, so each names a parameter of the definition.
    """
    names = list(inspect.signature(helper.function).parameters)
    passed: set[str] = set()
    for plan in plans:
        for node in with_method_bodies(plan.instance.graph.graph):
            if node.op == "call_function" and node.target is helper.function:
                passed |= {*names[: len(node.args)], *node.kwargs}
    return passed


def function_text(
    plan: FunctionPlan, read_comments: dict[str, list[str]] | None = None
) -> Printed:
    """``def name(params, ...)`` for ``plan``, and the imports it uses.

    ``read_comments``: see :func:`~.body.print_body`.
    """
    graph = plan.body_graph
    loops = find_loops(
        graph,
        plan.statements,
        Style.FUNCTIONAL,
        plan.instance.module,
        plan.callees,
        plan.reserved,
        plan.loop_counts,
    )
    if plan.count is not None:  # one loop over every member, its length a keyword
        calls = [n for n in graph.nodes if n.op == "call_module"]
        if len(loops) != 1 or list(loops[0].calls) != calls:
            raise AssertionError(f"{plan.name}: a chained Sequential that is no loop")
        loops = [dataclasses.replace(loops[0], count=plan.count)]
    body = print_body(
        graph,
        Style.FUNCTIONAL,
        plan.statements,
        callees=plan.callees,
        leaves=plan.leaves,
        loops=loops,
        init_comments=_own_init_comments(plan),
        methods={m.call.name: n for n, m in plan.methods},
        read_comments=read_comments,
        flags=plan.flags,
        holder=plan.instance.module,
        loop_counts=plan.loop_counts,
        reserved=plan.reserved,
    )
    keywords = [f"{k}: {hint}" if hint else k for k, hint in plan.keywords]
    keywords = [
        f"{text} = {literal_text(plan.defaults[k])}" if k in plan.defaults else text
        for text, (k, _) in zip(keywords, plan.keywords)
    ]
    written = "\n".join(body.lines)
    notes = keyword_comments(plan.instance.module, [k for k, _ in plan.keywords])
    above = [
        [line for line in notes.get(k, []) if line not in written]
        for k, _ in plan.keywords
    ]
    if plan.training:
        keywords.append("training: bool = False")
    literal = docstrings(plan.instance.module).for_function()
    comments = class_comments(plan.instance.module)
    return _function(plan.name, body, graph, literal, keywords, comments, above)


def method_functions(
    plan: FunctionPlan, read_comments: dict[str, list[str]] | None = None
) -> list[Printed]:
    """``def encode(params, x)``: each helper method the function calls, before it.

    Over the same weight dict as its caller (a method reads its own
    module's weights), with the user's parameter names; ``training`` when
    the body reads it or calls a block that takes it, as the caller passes
    it on. A block it calls is called as its caller would call it
    (``patch_embed(sub_params(params, "patch_embed."), x)``).
    ``read_comments``: see :func:`~.body.print_body`.
    """
    printed = []
    handed = _methods_init_comments(plan)
    for name, method in plan.methods:
        if name in plan.shared_methods:
            continue  # another block's function writes the same function
        body = method_body(
            method,
            Style.FUNCTIONAL,
            (),
            callees=plan.callees,
            leaves=plan.leaves,
            read_comments=read_comments,
            methods={m.call.name: n for n, m in plan.methods},  # the ones it calls
            init_comments=handed.get(method.call.name, []),
        )
        hints = dict(plan.keywords)  # literals its caller takes, passed on
        keywords = [
            f"{k}: {hints[k]}" if hints.get(k) else k for k in method.call.keywords
        ]
        if method.call.reads_training:
            keywords.append("training: bool = False")
        literal = function_docstring(method.call.function)
        printed.append(_function(name, body, method.call.body, literal, keywords))
    return printed


def _function(
    name: str,
    body: Body,
    graph: fx.Graph,
    literal: str | None,
    keywords: list[str] = (),
    comments: Sequence[str] = (),
    above: Sequence[list[str]] = (),
) -> Printed:
    """``def name(params: dict[str, Tensor], ...) -> ...:`` and ``body``'s lines.

    ``comments``: the class body's own, outside its methods (before the body).
    ``above``: per keyword, the comment lines written above it (the
    ``__init__`` comment of the attribute it stands for); then the
    parameters stand one per line.
    """
    body.imports.use("Tensor")
    signature = ["params: dict[str, Tensor]", *body.parameters]
    notes = [[]] * len(signature)
    if keywords:
        signature += ["*", *keywords]
        notes += [[], *above, *[[]] * (len(keywords) - len(above))]
    output = next(n for n in graph.nodes if n.op == "output")
    returns = _return_hint(output.args[0])
    arrow = f" -> {returns}" if returns else ""
    doc = docstring_lines(literal, "    ") if literal else []
    lines = "".join(f"{line}\n" for line in doc)
    lines += "".join(f"    {line}\n" for line in [*comments, *body.lines])
    if any(notes):
        parameters = "".join(
            "".join(f"    {line}\n" for line in said) + f"    {parameter},\n"
            for parameter, said in zip(signature, notes)
        )
        text = f"def {name}(\n{parameters}){arrow}:\n{lines}"
    else:
        text = f"def {name}({', '.join(signature)}){arrow}:\n{lines}"
    return Printed(text, body.imports)


def _block_init_comments(plan: FunctionPlan) -> list[tuple[str, list[str]]]:
    """A block's ``__init__`` comments, said in its function's body (:mod:`.body`).

    Of the root's, only those above a layer without tensors (fast neural
    style's "# Non-linearities" above ``self.relu``): ``init_params()`` says
    the others above the root's keys, where a functional input reads them
    back (for the root only: a block of a functional input has no
    ``__init__`` of the user's), and has no key to say these above.
    """
    module = plan.instance.module  # a functional input's block: no comments
    if READ_FROM in vars(module):  # a functional input's: those its function says
        return layer_comments(module)
    if type(module) is nn.Sequential and len(plan.instance.ancestry) > 1:
        # the comments between its layers in its owner's ``__init__``
        owner = plan.instance.ancestry[-2][1]
        return sequential_comments(owner, plan.instance.path.rsplit(".", 1)[-1])
    # those of the statements a built tensor's function writes are said there,
    # those between a Sequential's layers in its function
    comments = without_built_comments(module, init_comments(type(module)))
    comments = _inlined_sequential_comments(
        plan, without_sequential_comments(module, comments)
    )
    if not plan.instance.path:  # what init_params() cannot say: no keys of its own
        tested = _branch_tested(plan.body_graph)
        return [
            (name, lines)
            for name, lines in comments
            if _holds_no_tensor(module, name)
            or (name in tested and _plain_value(module, name))
        ]
    unread = _unread_layers(plan)
    return [(name, lines) for name, lines in comments if name not in unread]


def _inlined_sequential_comments(
    plan: FunctionPlan, comments: list[tuple[str, list[str]]]
) -> list[tuple[str, list[str]]]:
    """``comments`` with those between the layers of each Sequential the function inlines.

    A block whose ``forward`` is ``return self.conv(x)`` prints its
    Sequential's layers in its own function, with no function of the
    Sequential's to say "# depthwise" above its first layer: each such
    comment is said above the first statement reading its layer
    (``conv.0``), after the Sequential's own. Read back from a functional
    file, they are what that function said above each layer.
    """
    module = plan.instance.module
    read = read_paths(plan.body_graph)
    inlined = {}
    for name, child in module.named_children():
        if type(child) is not nn.Sequential or not any(
            path.startswith(f"{name}.")
            and path[len(name) + 1 :].split(".")[0].isdigit()
            for path in read
        ):
            continue
        said = (
            layer_comments(child)
            if READ_FROM in vars(child)
            else sequential_comments(module, name)
        )
        inlined[name] = [(f"{name}.{layer}", lines) for layer, lines in said]
    found = []
    for name, lines in comments:
        found += [(name, lines), *inlined.pop(name, [])]
    return found + [entry for entries in inlined.values() for entry in entries]


def _own_init_comments(plan: FunctionPlan) -> list[tuple[str, list[str]]]:
    """The ``__init__`` comments the block's function says: not those only its helpers read.

    DETR's "# Implementation of Feedforward model" stands above
    ``self.linear1``, which only ``forward_post`` reads: it is said there
    (:func:`_methods_init_comments`), not above the call.
    """
    handed = {name for _, names in _helper_only_reads(plan).items() for name in names}
    return [(n, lines) for n, lines in _block_init_comments(plan) if n not in handed]


def _methods_init_comments(
    plan: FunctionPlan,
) -> dict[str, list[tuple[str, list[str]]]]:
    """Each helper method's share of its block's ``__init__`` comments, by method name."""
    owned = _helper_only_reads(plan)
    comments = _block_init_comments(plan)
    return {
        method: [(n, lines) for n, lines in comments if n in names]
        for method, names in owned.items()
    }


def _helper_only_reads(plan: FunctionPlan) -> dict[str, set[str]]:
    """The attributes only helper methods read, each given to the first that does."""
    direct = {  # read by the function's own statements, not only passed on
        _attribute(node)
        for node in plan.body_graph.nodes
        if node.op == "call_module"
        or (node.op == "get_attr" and any(not is_method_call(u) for u in node.users))
    }
    owned: dict[str, set[str]] = {}
    seen = set(direct)
    for _, method in plan.methods:
        for node in method.call.body.nodes:
            if node.op in ("get_attr", "call_module"):
                name = _attribute(node)
                if name not in seen:
                    seen.add(name)
                    owned.setdefault(method.call.name, set()).add(name)
    return owned


def _attribute(node: fx.Node) -> str:
    """The block's attribute a ``get_attr`` or ``call_module`` node reads: ``linear1``."""
    return str(node.target).split(".")[0]


def _branch_tested(graph: fx.Graph) -> set[str]:
    """The attributes the ``if`` statements that made ``graph``'s nodes test (``flash``)."""
    return {
        name
        for node in with_method_bodies(graph)
        for name in node_branch_attributes(node)
    }


def _plain_value(module: nn.Module, name: str) -> bool:
    """``module.<name>`` is a plain value (``self.flash = True``): no module, no tensor."""
    if name not in module.__dict__:  # a layer, a tensor, or nothing
        return False
    value = module.__dict__[name]
    return value is None or isinstance(value, (bool, int, float, str))


def _holds_no_tensor(module: nn.Module, name: str) -> bool:
    """``module.<name>`` is a layer without tensors (``nn.ReLU()``), not a layer with some."""
    return is_stateless(dict(module.named_children()).get(name))


def _unread_layers(plan: FunctionPlan) -> set[str]:
    """The block's attributes holding tensors that its function never reads.

    EfficientNet's blocks built with ``expand_ratio == 1`` hold the
    expansion's layers and skip them: "# Expansion" has no code to stand
    above in their function (the class styles build the layers, and say it
    there), and said above the next statement it would describe that.
    """
    module = plan.instance.module
    read = {path.split(".")[0] for path in read_paths(plan.body_graph)}
    holding = {
        name for name, child in module.named_children() if not is_stateless(child)
    }
    holding |= {name for name, _ in module.named_parameters(recurse=False)}
    holding |= {name for name, _ in module.named_buffers(recurse=False)}
    return holding - read


def _return_hint(value) -> str | None:
    value = fx.node.map_aggregate(
        value, lambda v: v.meta.get("value") if isinstance(v, fx.Node) else v
    )
    if isinstance(value, torch.Tensor):
        return "Tensor"
    if type(value) in (int, float, bool):  # a helper's number (num_flat_features)
        return type(value).__name__
    if (
        isinstance(value, tuple)
        and value
        and all(isinstance(v, torch.Tensor) for v in value)
    ):
        return f"tuple[{', '.join('Tensor' for _ in value)}]"
    return None


__all__ = [
    "function_text",
    "passed_parameters",
    "print_functions",
    "snake_case",
    "used_helpers",
]
