"""Module and mixed style: a planned class as text.

Everything structural (members, parameters, optional submodules, the body's
statement plan) is in the :class:`~.class_plan.ClassPlan`; this module only writes
it, with an expression printer of the class's own.
"""

from __future__ import annotations

import textwrap

from torch import nn

from ..functional.containers import READ_FROM, layer_comments
from ..helper_origins import helper_comments
from ..init_code import InitCode, InitStatement, owns_tensors, take_comments
from ..naming import is_plain_identifier
from ..options import Style
from ..source_text import (
    class_comments,
    module_init_comments,
    TrailingComment,
    placed_on,
    docstring_lines,
    docstring_summary,
    docstrings,
)
from .body import print_body
from .class_plan import ClassPlan
from .config_objects import local_lines
from .constructors import (
    Assign,
    Ctor,
    MethodBuilt,
    Recovered,
    Tied,
    recovered_lines,
    render_value,
)
from .expressions import ExpressionPrinter
from .imports import Imports, Printed
from .loops import find_loops
from .methods import method_body, method_text
from .values import literal


def class_text(plan: ClassPlan, style: Style, init: InitCode | None = None) -> Printed:
    """``class Name(nn.Module): ...`` for ``plan``, and the imports it uses.

    ``init``: the user's initialisation code the class keeps
    (:mod:`nnconvert.init_code`): its statements in ``__init__``, the
    methods they call after ``forward``'s.
    """
    printer = ExpressionPrinter(style)
    printer.use("nn")
    parameters = [
        p.name if is_positional else f"{p.name}={render_value(p.default, printer)}"
        for p, is_positional in plan.signature
    ] + [f"{o}=None" for o in plan.optional if not plan.built_optional]
    docs = docstrings(plan.template.instance.module)
    head = f"    def __init__({', '.join(['self', *parameters])}):\n" + "".join(
        f"{line}\n" for line in _docstring(_init_docstring(docs.of_init), 8)
    )
    forward = ""
    comments = None  # the source __init__'s, read once for forward and __init__
    if plan.statements is not None:
        comments = _init_comment_entries(plan)
        module = plan.template.instance.module
        graph = plan.graph if plan.graph is not None else plan.template.graph
        body = print_body(
            graph,
            style,
            plan.statements,
            owners=(module, plan.template.instance.graph),
            loops=find_loops(graph, plan.statements, style, module),
            init_comments=_trailing_init_comments(plan, init, comments),
            holder=module,
        )
        printer.imports.merge(body.imports)
        forward = (
            f"    def forward({', '.join(['self', *body.parameters])}):\n"
            + "".join(f"{line}\n" for line in _docstring(docs.of_forward, 8))
            + "".join(f"        {line}\n" for line in body.lines)
        )
        owners = (module, plan.template.instance.graph)
        for method in plan.methods:
            written = method_body(method, style, owners)
            printer.imports.merge(written.imports)
            forward += "\n" + method_text(method, written)
    if init is not None:
        printer.imports.merge(Imports(init.imports))
        for _, text in init.methods:
            forward += "\n" + textwrap.indent(text, "    ") + "\n"
    if plan.base is not None:  # the layer's __init__ builds it
        text = _layer_subclass_text(plan.name, plan.base, docs.of_class, forward)
        return Printed(text, printer.imports)
    if plan.template.sequential:
        assign, *tied = plan.init  # super().__init__(...), then any ties
        lines = [line for name, text in plan.sizes for line in local_lines(name, text)]
        lines += [render_value(assign.value, printer)]
        lines += [_statement(a, printer, False) for a in tied]
        text = (
            f"class {plan.name}(nn.Sequential):\n"
            + _class_docstring(docs.of_class)
            + head
            + "".join(f"        {line}\n" for line in lines)
        )
        return Printed(text + ("\n" + forward if forward else ""), printer.imports)
    module = plan.template.instance.module
    keyed = isinstance(module, nn.ModuleDict)
    if comments is None:
        comments = _init_comment_entries(plan)
    lines = ["super().__init__()"]
    lines += [line for name, text in plan.sizes for line in local_lines(name, text)]
    lines += _commented_init(plan, printer, keyed, init, comments)
    # a ModuleDict subclass stays one: its keys may be "0", "1", ...
    base = "ModuleDict" if keyed else "Module"
    text = (
        f"class {plan.name}(nn.{base}):\n"
        + _class_docstring(docs.of_class)
        + "".join(f"    {line}\n" for line in class_comments(module))
        + head
        + "".join(f"        {line}\n" if line else "\n" for line in lines)
        + "\n"
        + forward
    )
    return Printed(text, printer.imports)


def _layer_subclass_text(
    name: str, base: str, docstring: str | None, forward: str
) -> str:
    """``class LayerNorm(nn.LayerNorm):`` with its docstring and forward (:mod:`.layer_subclasses`).

    Without a forward of its own (it keeps the layer's), the class is its
    docstring, or ``pass``.
    """
    if forward:
        return f"class {name}({base}):\n" + _class_docstring(docstring) + forward
    lines = _docstring(docstring, 4) or ["    pass"]
    return f"class {name}({base}):\n" + "".join(f"{line}\n" for line in lines)


def _class_docstring(literal: str | None) -> str:
    """The class's docstring, then the blank line black puts before its first method."""
    lines = _docstring(literal, 4)
    return "".join(f"{line}\n" for line in lines) + ("\n" if lines else "")


def _init_docstring(literal: str | None) -> str | None:
    """The summary (first paragraph) of the source ``__init__``'s docstring, for the emitted one.

    Only the summary: the rest (``Args:``) describes the constructor's
    parameters, which the output, built for one configuration, mostly no
    longer takes; and functional style, which has no ``__init__``, can
    carry the summary in ``init_params()`` and give it back, so that round
    trips through it keep the same text.
    """
    summary = docstring_summary(literal) if literal else None
    return f'"""{summary}"""' if summary else None


def _docstring(literal: str | None, depth: int) -> list[str]:
    return docstring_lines(literal, " " * depth) if literal else []


def _commented_init(
    plan: ClassPlan,
    printer: ExpressionPrinter,
    keyed: bool,
    init: InitCode | None,
    comments: list[tuple[str, list[str]]],
) -> list[str]:
    """``__init__``'s assignments, each after the comments that stood above it in the source.

    Not the attributes ``forward`` reads (``self.n_head = 2``): written last,
    they take no comment from the layers, as functional style, which has no
    such statement, places them. The initialisation statements ``init``
    keeps go before the next attribute holding tensors that the source
    assigns after them (:func:`_initialising`), with their own comments.
    """
    instance = plan.template.instance
    placed, rest = placed_on(comments, _commented_attributes(plan))
    for name, trailing in _trailing_reads(plan, comments).items():
        placed.setdefault(name, []).extend(trailing)
    rest = _without_carried(plan.init, placed, rest)
    statements = list(init.statements) if init is not None else []
    take_comments(init.comments if init is not None else (), placed, rest)
    anchors = _anchors(statements, plan.init, instance.module)
    lines = []
    sliced: set[str] = set()  # statements written for a tensor's code
    for index, assign in enumerate(plan.init):
        for statement, at in zip(statements, anchors):
            lines += statement.lines if at == index else []
        lines += placed.pop(assign.attribute, []) + recovered_lines(
            assign.value, printer, sliced
        )
        lines.append(_statement(assign, printer, keyed))
    for statement, at in zip(statements, anchors):
        lines += statement.lines if at is None else []
    return lines  # ``rest`` is said in forward, or about code the output has not


def _trailing_reads(
    plan: ClassPlan, comments: list[tuple[str, list[str]]]
) -> dict[str, list[str]]:
    """The comment trailing each attribute ``forward`` reads, for above its statement.

    GAT's ``self.n_heads = n_heads # Number of attention heads``: written
    last, the attribute takes no comment from the layers, but its own.
    """
    reads = set(plan.reads) & {a.attribute for a in plan.init}
    return {
        name: trailing
        for name, lines in comments
        if name in reads
        for trailing in [[c for c in lines if isinstance(c, TrailingComment)]]
        if trailing
    }


def _commented_attributes(plan: ClassPlan) -> list[str]:
    """The attributes ``__init__`` writes that take the comments above them.

    Not the attributes ``forward`` reads (``self.n_head = 2``): written last,
    they take no comment from the layers.
    """
    return [a.attribute for a in plan.init if a.attribute not in plan.reads]


def _init_comment_entries(plan: ClassPlan) -> list[tuple[str, list[str]]]:
    """The source ``__init__``'s comments per attribute (:func:`~nnconvert.source_text.init_comments`).

    With what the helper method that computed an attribute says, unless the
    method itself is written in the class.
    """
    instance = plan.template.instance
    calls_method = {  # the method, written in the class or as a function, says it
        a.attribute
        for a in plan.init
        if (isinstance(a.value, Recovered) and a.value.code.methods)
        or isinstance(a.value, MethodBuilt)
    }
    made_by = {
        name: lines
        for name, lines in helper_comments(instance.ancestry).items()
        if name not in calls_method
    }
    return with_layer_comments(
        instance.module, module_init_comments(instance.module, made_by)
    )


def with_layer_comments(
    module: nn.Module, entries: list[tuple[str, list[str]]]
) -> list[tuple[str, list[str]]]:
    """``entries`` with, for a functional input, what its Sequentials' functions say.

    Functional style says the comments between a Sequential's layers in the
    Sequential's function (:func:`~nnconvert.functional.containers.layer_comments`);
    a class style says them above the attribute, after its own, as it says
    the comments inside any statement of ``__init__``.
    """
    said = {
        name: [line for _, lines in layer_comments(child) for line in lines]
        for name, child in module.named_children()
        if READ_FROM in vars(child)
        # not a block's whole function: what it says stands in its ``forward``
        and vars(child)[READ_FROM] is not getattr(module, "function", None)
    }
    if not any(said.values()):
        return entries
    found = [(name, lines + said.pop(name, [])) for name, lines in entries]
    # one whose keys had no comment of their own: before those after the last
    end = next((i for i, (name, _) in enumerate(found) if name == ""), len(found))
    return (
        found[:end] + [(n, lines) for n, lines in said.items() if lines] + found[end:]
    )


def _trailing_init_comments(
    plan: ClassPlan, init: InitCode | None, entries: list[tuple[str, list[str]]]
) -> list[tuple[str, list[str]]]:
    """The ``__init__`` comments after its last written attribute, for ``forward`` to place.

    They stood above attributes the output's ``__init__`` does not write: a
    layer mixed style calls as a function (GAT's "LeakyReLU activation
    function" above ``self.leakyrelu``) is said above the statement that
    calls it (:func:`~nnconvert.printer.body.print_body`), and so is one
    trailing such an attribute's statement anywhere in ``__init__`` (GAT's
    ``self.leakyrelu = nn.LeakyReLU(...)  # LeakyReLU activation function``);
    a comment on code the output does not have (nanoGPT's ``self.flash =
    ...``) is not said at all. Not those the kept initialisation code or a recovered
    build writes with its own statements. ``entries``: the source
    ``__init__``'s comments (:func:`_init_comment_entries`).
    """
    shown = set(_commented_attributes(plan))
    last = max((i for i, (name, _) in enumerate(entries) if name in shown), default=-1)
    trailing = [  # before it, what trails an attribute not written: forward's too
        (name, list(lines) if i > last else _trailing_only(lines))
        for i, (name, lines) in enumerate(entries)
        if i > last or name not in shown
    ]
    carried = list(init.comments) if init is not None else []
    for assign in plan.init:
        if isinstance(assign.value, Recovered):
            carried += assign.value.code.carried_comments()
    take_comments(carried, {i: lines for i, (_, lines) in enumerate(trailing)}, [])
    return trailing


def _trailing_only(lines: list[str]) -> list[str]:
    """The comments that trail their statement (:class:`TrailingComment`)."""
    return [line for line in lines if isinstance(line, TrailingComment)]


def _anchors(
    statements: list[InitStatement], init: list[Assign], module: nn.Module
) -> list[int | None]:
    """Per statement, the assignment it goes before (None: after every one).

    The first assignment of the output that the source makes after the
    statement and that holds tensors (:class:`~nnconvert.init_code.InitStatement`):
    a layer built after it draws after it.
    """
    found: list[int | None] = []
    for statement in statements:
        later = set(statement.before)
        found.append(
            next(
                (
                    index
                    for index, assign in enumerate(init)
                    if assign.attribute in later
                    and owns_tensors(module, assign.attribute)
                ),
                None,
            )
        )
    return found


def _without_carried(
    init: list[Assign], placed: dict[str, list[str]], rest: list[str]
) -> list[str]:
    """Take the comments recovered statements carry out of ``placed`` (in place) and ``rest``.

    Recovered code (:class:`Recovered`) writes its statements' comments
    itself. Each is taken from its own attribute's comments first, else from
    the others' (a statement of the slice above an earlier attribute), once.
    """
    left_over: list[str] = []
    for assign in init:
        if isinstance(assign.value, Recovered):
            own = placed.get(assign.attribute, [])
            for comment in assign.value.code.carried_comments():
                if comment in own:
                    own.remove(comment)
                else:
                    left_over.append(comment)
    for comments in [*placed.values(), rest]:
        for comment in list(left_over):
            if comment in comments:
                comments.remove(comment)
                left_over.remove(comment)
    return rest


def _statement(assign: Assign, printer: ExpressionPrinter, keyed: bool) -> str:
    """One line of ``__init__``: an attribute, a buffer, or a ModuleDict key.

    A name that ``self.<name> = ...`` cannot spell (``"class"``, ``"1"``, one
    with a quote) is data: registered under that exact string, so the
    ``state_dict()`` keys stay the original's.
    """
    value = render_value(assign.value, printer)
    if isinstance(assign.value, Tied):  # self.wte.weight = self.lm_head.weight
        return f"{assign.value.target} = {value}"
    name = literal(assign.attribute)
    if assign.buffer:
        flag = "" if assign.persistent else ", persistent=False"
        return f"self.register_buffer({name}, {value}{flag})"
    if is_plain_identifier(assign.attribute):
        return f"self.{assign.attribute} = {value}"
    if keyed:  # an nn.ModuleDict subclass keyed "0", "1", ... (IntermediateLayerGetter)
        return f"self[{name}] = {value}"
    return f"self.{_REGISTER[_is_parameter(assign.value)]}({name}, {value})"


#: is the value a parameter -> the method that registers it under any name
_REGISTER = {True: "register_parameter", False: "add_module"}


def _is_parameter(value: object) -> bool:
    return isinstance(value, Ctor) and value.callee == "nn.Parameter"
