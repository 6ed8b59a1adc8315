"""Traced instances -> one black-formatted Python file in the requested style.

First the plan (:mod:`.class_plan`, :mod:`.function_plan`): which instances
share a class or function, what each is called, how each body reads. Then the
plan is rendered: classes (module and mixed style, :mod:`.class_text`) or
functions (functional style, :mod:`.functions`), children before parents, each
with the imports it uses, merged into one import block at the top. :func:`format_source` runs black,
the only place it runs.
"""

from __future__ import annotations

import black

from ..hierarchy import Instance
from ..naming import MODULE_NAMES
from ..options import Style
from ..torch_names import qualified_name
from .class_plan import plan_classes
from .class_text import class_text
from .function_plan import plan_functions
from .functions import print_functions
from .imports import Imports, Printed
from .init_params import init_params_function


def print_program(instances: list[Instance], style: Style, name: str) -> str:
    """The source of the whole model in ``style``; the root's definition is ``name``."""
    imported = _imported_names(instances) | MODULE_NAMES
    definitions: list[Printed]
    if style is Style.FUNCTIONAL:
        definitions = print_functions(plan_functions(instances, name, imported))
        root = next(i for i in instances if not i.path)
        definitions.append(init_params_function(root.module, name))
    else:
        plans = plan_classes(instances, style, name, imported)
        definitions = [class_text(plan, style) for plan in plans]
    imports = Imports()
    for definition in definitions:
        imports.merge(definition.imports)
    text = "\n\n".join(definition.text for definition in definitions)
    return format_source(imports.render() + "\n\n" + text)


def _imported_names(instances: list[Instance]) -> set[str]:
    """Names the output imports from other libraries: no definition may take them."""
    names = set()
    for instance in instances:
        for node in instance.graph.graph.nodes:
            if node.op == "call_function":
                found = qualified_name(node.target)
                if found and found[1].startswith("from "):
                    names.add(found[0])
    return names


def format_source(text: str) -> str:
    """Run black; the generated code is always formatted by this one call."""
    return black.format_str(text, mode=black.Mode())
