"""Traced instances -> one black-formatted Python file in the requested style.

First the plan (:mod:`.class_plan`, :mod:`.function_plan`): which instances
share a class or function, what each is called, how each body reads. Then the
plan is rendered: classes (module and mixed style, :mod:`.class_text`) or
functions (functional style, :mod:`.functions`), children before parents, each
with the imports it uses, merged into one import block at the top. :func:`format_source` runs black,
the only place it runs.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import black
from torch import nn

from ..errors import ConversionError
from ..hierarchy import Instance
from ..init_code import InitCode, drawn_code, init_code, merged
from ..leaves import leaf_of
from ..module_kinds import reserved_for
from ..opspecs.layer_params import DEFINITIONS
from ..options import Style
from ..root_sizes import RootSize, first_keys_of, root_sizes
from ..state_builds import state_calls
from ..passes.methods import with_method_bodies
from ..passes.weight_dicts import (
    graphs_with_methods,
    spell_out_dict_calls,
    unpaid_dict_functions,
)
from ..ties import replaced_keys
from ..tensor_builds import TensorBuild
from ..torch_names import qualified_name
from ..user_functions import KeptFunction, kept_functions
from .layout import LINE_LENGTH
from .class_plan import ClassPlan, plan_classes
from .built_tensors import method_definitions, name_builds
from .class_text import class_text
from .classes import used_helpers
from .config_objects import config_definitions, is_config
from .constructors import MethodBuilt, Recovered, leaves
from .function_plan import plan_functions
from .functions import print_functions
from .imports import Imports, Printed
from .init_blocks import BlockUse
from .init_params import (
    InitClaim,
    init_params_function,
    size_arguments,
    with_sub_params,
)
from .root_arguments import (
    ClassLiteral,
    RootArguments,
    class_literals,
    root_arguments,
    with_root_arguments,
)


def print_program(
    instances: list[Instance],
    style: Style,
    name: str,
    init_claim: InitClaim | None = None,
    class_instances: Callable[[], list[Instance]] | None = None,
    keep_init: bool = False,
) -> str:
    """The source of the whole model in ``style``; the root's definition is ``name``.

    ``init_claim``: what comparing functional style's ``init_params()`` with
    a newly built original showed (None: not compared, nothing claimed).
    ``class_instances``: the model traced for module style, which functional
    style plans the classes of when the root has parameters to keep
    (:mod:`.root_arguments`: the classes' arguments decide too); without
    it, functional style keeps none. ``keep_init``: class styles write the
    user's initialisation code (:mod:`nnconvert.init_code`; the caller
    checks what it does).
    """
    if style is Style.FUNCTIONAL:
        _without_unpaid_dict_forms(instances)
    text = _program_text(instances, style, name, init_claim, class_instances, keep_init)
    return format_source(text)


def _functional_root_arguments(
    root: nn.Module,
    name: str,
    class_instances: Callable[[], list[Instance]],
    imported: set[str],
) -> RootArguments | None:
    """The root's parameters functional style keeps: those module style keeps.

    Planned over the module-style trace (functional traces do not plan as
    classes), only when the root has sizes to keep; without the blocks'
    source arguments (:mod:`.source_arguments`): the functional file carries
    none of them, and read back it must keep the same parameters.
    """
    sizes = root_sizes(root)
    if not sizes:
        return None
    instances = class_instances()
    plans = plan_classes(
        instances,
        Style.MODULE,
        name,
        imported,
        read_source=False,
        render=_renderer(Style.MODULE),
    )
    arguments, _ = _root_arguments(sizes, plans, root, imported)
    return arguments


def _without_unpaid_dict_forms(instances: list[Instance]) -> None:
    """Dict-form calls (``OpSpec.dict_form``) spelled out where too few pay for their helper.

    ``batch_norm(sub_params(params, "bn1."), x)`` saves lines at each call
    and its helper costs a definition: a file with one BatchNorm is shorter
    with its calls written out. The row says from how many calls on the
    helper pays (``DictForm.fewest_calls``); a count the file read back
    makes again, so its second conversion chooses as the first did.
    """
    graphs = [g for i in instances for g in graphs_with_methods(i.graph)]
    unpaid = unpaid_dict_functions(graphs)
    if unpaid:
        for graph in graphs:
            spell_out_dict_calls(graph, only=unpaid)


def _program_text(
    instances: list[Instance],
    style: Style,
    name: str,
    init_claim: InitClaim | None,
    class_instances: Callable[[], list[Instance]] | None,
    keep_init: bool = False,
) -> str:
    """The program as the printer writes it, before black lays it out."""
    called = [
        node.target
        for instance in instances
        for node in with_method_bodies(instance.graph.graph)
        if node.op == "call_function"
    ]  # and what functional style's built constants call (``precompute_freqs_cis``)
    called += [f for t in called if isinstance(t, TensorBuild) for f in t.calls]
    root = next(i for i in instances if not i.path)
    if style is Style.FUNCTIONAL:  # and what ``init_params()`` calls (``pair``)
        called += state_calls(root.module)
    kept = kept_functions(called)
    imported = _imported_names(instances)
    imported |= reserved_for(root.module)
    kept_names = {n for function in kept for n in function.names}
    if name in kept_names:
        raise ConversionError(
            f"the output's {name!r} would take the name of the function {name!r} "
            "of the model's file, which the model calls and the output keeps; "
            "name the output otherwise (--name, or convert(..., name=...))"
        )
    imported |= kept_names
    definitions: list[Printed]
    imports = Imports()
    if style is Style.FUNCTIONAL:
        imported |= name_builds(instances, imported | {name})
        functions = plan_functions(instances, name, imported)
        definitions = _module_code([], kept) + print_functions(functions)
        arguments = None
        if class_instances is not None:
            arguments = _functional_root_arguments(
                root.module, name, class_instances, imported
            )
        blocks = [
            BlockUse(f.name, f.paths, tuple(f.flags.items()))
            for f in functions
            if len(f.paths) > 1
        ]
        taken = imported | {f.name for f in functions} | _READ_NAMES
        definitions.append(
            init_params_function(
                root.module,
                name,
                init_claim,
                arguments,
                blocks,
                frozenset(taken),
                block_functions=[(f.name, f.instance.module) for f in functions[:-1]],
            )
        )
        definitions = with_sub_params(definitions)
    else:
        plans = _class_plans(instances, style, name, imported, keep_init)
        helpers = used_helpers(instances, [plan.init for plan in plans])
        taken = imported | {p.name for p in plans} | {h.name for h in helpers}
        drawn = _drawn_codes(plans, taken) if keep_init else None
        if keep_init and drawn is None:  # it cannot stand in the output: no draws
            plans = _class_plans(instances, style, name, imported, False)
            helpers = used_helpers(instances, [plan.init for plan in plans])
        inits = [
            _init_code(p, taken, p is plans[-1]) if keep_init else None for p in plans
        ]
        if drawn is not None:
            inits = [merged(i, d) for i, d in zip(inits, drawn)]
        definitions = [Printed(h.definition, Imports(h.imports)) for h in helpers]
        definitions += method_definitions(_method_builds(plans))
        configs, namespace_import = config_definitions(_configs(plans))
        imports.merge(namespace_import)
        definitions += configs
        definitions += _module_code(inits, kept)
        definitions += [class_text(p, style, i) for p, i in zip(plans, inits)]
    for definition in definitions:
        imports.merge(definition.imports)
    text = "\n\n".join(definition.text for definition in definitions)
    return imports.render() + "\n\n" + text


def _configs(plans: list[ClassPlan]) -> list[Any]:
    """The config objects the classes write: arguments, defaults and locals (``config = ...``)."""
    found = []
    for plan in plans:
        found += [p.default for p, _ in plan.signature if is_config(p.default)]
        for assign in plan.init:
            found += [v for _, _, v in leaves(assign.value) if is_config(v)]
        found += plan.configs
    return found


def _init_code(plan: ClassPlan, taken: set[str], root: bool) -> InitCode | None:
    """The initialisation code a planned class keeps (:mod:`nnconvert.init_code`).

    ``root``: the plan is the model's own class (the last planned), the only
    one a functional input's ``init_params()`` speaks for.
    """
    if plan.base is not None or plan.template.sequential:
        return None  # the layer's or nn.Sequential's own __init__ builds it
    members = [m.instance.module for m in plan.members]
    parameters = {p.name for p, _ in plan.signature} | set(plan.optional)
    parameters |= {name for name, _ in plan.sizes}  # computed before it runs
    code = init_code(members, parameters, taken, root)
    if code is None:
        return None
    if {name for name, _ in code.methods} & {m.call.name for m in plan.methods}:
        return None  # forward calls it too: one definition, printed from the trace
    return code


def _class_plans(
    instances: list[Instance],
    style: Style,
    name: str,
    imported: set[str],
    fresh_checked: bool,
) -> list[ClassPlan]:
    """The classes of the file, the root's taking its size arguments (:mod:`.root_arguments`)."""
    plans = plan_classes(
        instances,
        style,
        name,
        imported,
        fresh_checked,
        render=_renderer(style),
    )
    root = next(i for i in instances if not i.path)
    sizes = root_sizes(root.module)
    if sizes:
        arguments, literals = _root_arguments(sizes, plans, root.module, imported)
        plans[-1] = with_root_arguments(plans[-1], arguments, literals)
    return plans


def _renderer(style: Style) -> Callable[[ClassPlan], str]:
    """A planned class's text in ``style``: the planner joins classes that read the same."""
    return lambda plan: class_text(plan, style).text


def _drawn_codes(
    plans: list[ClassPlan], taken: set[str]
) -> list[InitCode | None] | None:
    """What each class's tensors written as fresh-checked code read (``sinusoids``, ``np``).

    None for a class whose tensors read nothing; None for all when some of
    it cannot be kept (:func:`~nnconvert.init_code.drawn_code`), or a method
    it calls is one ``forward`` calls too (one definition, printed from the
    trace).
    """
    found: list[InitCode | None] = []
    for plan in plans:
        codes = [a.value.code for a in plan.init if isinstance(a.value, Recovered)]
        names = {n for code in codes for n in code.module_names}
        methods = {m for code in codes for m in code.methods}
        if not names and not methods:
            found.append(None)
            continue
        cls = type(plan.template.instance.module)
        code = drawn_code(cls, sorted(names), sorted(methods), taken)
        forward_calls = {m.call.name for m in plan.methods}
        if code is None or {n for n, _ in code.methods} & forward_calls:
            return None
        found.append(code)
    return found


def _method_builds(plans: list[ClassPlan]) -> list[TensorBuild]:
    """The method builds the classes' ``__init__`` call (:class:`.constructors.MethodBuilt`)."""
    return [
        a.value.build
        for plan in plans
        for a in plan.init
        if isinstance(a.value, MethodBuilt)
    ]


def _module_code(
    inits: list[InitCode | None], kept: list[KeptFunction]
) -> list[Printed]:
    """The file's top-level code the output keeps, each statement once, in file order.

    What kept initialisation and drawn tensors read, and the user's
    functions ``forward`` calls (:mod:`nnconvert.user_functions`), with
    what they read.
    """
    found: dict[tuple[str, int], str] = {}
    for code in inits:
        if code is not None:
            found.update(code.module_code)
    imports = Imports()
    for function in kept:
        found.update(function.code)
        imports.merge(Imports(function.imports))
    printed = [Printed(_laid_out(found[key]), Imports()) for key in sorted(found)]
    if printed:
        printed[0] = Printed(printed[0].text, imports)
    return printed


def _laid_out(statement: str) -> str:
    """A top-level statement of the user's file as black lays it out.

    The user's text (Perceiver's ``torch.linspace(1., ..., device = device)``)
    is not the printer's: :func:`format_source` sends black only the lines
    the printer may write otherwise than black, and would leave it as it is,
    which the output read back and formatted again would not be.
    """
    laid_out = _black(statement)
    return laid_out if statement.endswith("\n") else laid_out.rstrip("\n")


#: Names ``__init__`` or ``init_params()`` may read besides imports, classes and layer functions.
_READ_NAMES = frozenset({"self", "params", "OrderedDict", "math", "Tensor"})


def _root_arguments(
    sizes: list[RootSize],
    plans: list[ClassPlan],
    root: nn.Module,
    imported: set[str],
) -> tuple[RootArguments, list[ClassLiteral]]:
    """The root's parameters both styles keep, and the root's literals (:mod:`.root_arguments`).

    None takes a name the code of either style reads: an import, a class,
    a helper or layer function, ``params``.
    """
    literals = class_literals(plans)
    reserved = frozenset(
        imported | {p.name for p in plans[:-1]} | set(DEFINITIONS) | _READ_NAMES
    )
    calls = size_arguments(root)
    keys = first_keys_of(root)
    replaced = replaced_keys(root)
    return root_arguments(sizes, literals, calls, reserved, keys, replaced), literals


def _imported_names(instances: list[Instance]) -> set[str]:
    """Names the output imports from other libraries: no definition may take them."""
    names = set()
    for instance in instances:
        for module in instance.module.modules():
            leaf = leaf_of(module)
            if leaf is not None:  # a third-party layer's class, imported by name
                names.add(leaf.name)
        for node in with_method_bodies(instance.graph.graph):
            if node.op == "call_function":
                found = qualified_name(node.target)
                if found and found[1].startswith("from "):
                    names.add(found[0])
    return names


#: Where black's layout can differ from a line as the printer wrote it.
_NEEDS_BLACK = re.compile(r"\*\*|'|\\|#|\t|lambda|\[[^\]]*:| $")
_HEADER = re.compile(
    r"(async\s+def|def|class|if|elif|else|for|while|with|try|except|finally)\b.*:$"
)
_MARKER = "_nnconvert_format_marker_ = 0"


def format_source(text: str) -> str:
    """The printer's text as ``black.format_str(text, mode=black.Mode())`` formats it.

    Running black over the whole file costs about a millisecond per line,
    most of conversion time on long outputs. The printer writes one statement
    per line, indented by four spaces, with black's spacing and quotes, so a
    short plain line is already what black makes of it; black gets only the
    lines it may lay out differently (too long, or holding what black
    respaces: ``**``, slices, quotes, comments), each in a wrapper that puts
    it at its own depth, all in one call. The blank lines black enforces
    around top-level definitions are set here. Text that is not one statement
    per line goes to black whole. ``tests/test_black_stable.py`` asserts the
    result equals black's on every sample and structure-test output.
    """
    return _formatted(text)


def _formatted(text: str) -> str:
    """:func:`format_source`'s work (which tests may replace: choices read this)."""
    lines = text.splitlines()
    strings = _in_docstrings(lines)
    code = [line for line, string in zip(lines, strings) if not string]
    if any(_opens_statement(line) for line in code) or any(
        len(line) > LINE_LENGTH or line != line.rstrip()
        for line, string in zip(lines, strings)
        if string
    ):
        return _black(text)
    todo = [
        i
        for i, (line, string) in enumerate(zip(lines, strings))
        if not string and _needs_black(line)
    ]
    try:
        formatted_lines = _format_lines([lines[i] for i in todo])
    except black.InvalidInput:  # a line that is no statement alone (``else:``)
        return _black(text)
    for index, formatted in zip(todo, formatted_lines):
        lines[index] = formatted
    return "\n".join(_top_level_spacing(lines)).strip("\n") + "\n"


def _black(text: str) -> str:
    return black.format_str(text, mode=black.Mode())


def _in_docstrings(lines: list[str]) -> list[bool]:
    """Which lines belong to a multi-line docstring (the printer's are black-stable)."""
    inside, marks = False, []
    for line in lines:
        opens_or_closes = line.count('"""') == 1
        marks.append(inside or opens_or_closes)
        inside ^= opens_or_closes
    return marks


def _opens_statement(line: str) -> bool:
    """A line that continues on the next (brackets, a multi-line string): not one statement."""
    code = line.split("#", 1)[0]
    depth = code.count("(") + code.count("[") + code.count("{")
    closed = code.count(")") + code.count("]") + code.count("}")
    return depth != closed or code.endswith("\\")


def _needs_black(line: str) -> bool:
    """Too long, or holding what black may respace (a header's defaults: ``x=1``, ``x: T = 1``)."""
    if line.lstrip().startswith("#"):
        return len(line) > LINE_LENGTH  # a comment line is written as black writes it
    header_default = "=" in line and bool(_HEADER.match(line.strip()))
    return len(line) > LINE_LENGTH or header_default or bool(_NEEDS_BLACK.search(line))


def _format_lines(lines: list[str]) -> list[str]:
    """Each line as black lays it out at its depth, from one black call over all of them."""
    if not lines:
        return []
    wrapped = [_MARKER + "\n" + _wrap(line) for line in lines]
    formatted = _black("\n".join(wrapped)).split(_MARKER + "\n")[1:]
    return [_unwrap(line, text) for line, text in zip(lines, formatted, strict=True)]


def _wrap(line: str) -> str:
    """``line`` under ``if _:`` headers that give it its indentation, a body if it needs one."""
    depth = (len(line) - len(line.lstrip(" "))) // 4
    headers = "".join("    " * level + "if _:\n" for level in range(depth))
    body = "    " * (depth + 1) + "pass\n" if _HEADER.match(line.strip()) else ""
    return headers + line + "\n" + body


def _unwrap(line: str, formatted: str) -> str:
    """The lines of ``formatted`` that are ``line``'s, without the wrapper."""
    depth = (len(line) - len(line.lstrip(" "))) // 4
    out = [text for text in formatted.split("\n") if text][depth:]
    if _HEADER.match(line.strip()):
        out = out[:-1]
    return "\n".join(out)


def _top_level_spacing(lines: list[str]) -> list[str]:
    """Two blank lines before every top-level definition, as black puts them."""
    out: list[str] = []
    for line in lines:
        if line.startswith(("def ", "class ", "async def ", "@")) and out:
            if not out[-1].startswith("@"):
                while out and not out[-1]:
                    out.pop()
                out += ["", ""]
        out.append(line)
    return out
