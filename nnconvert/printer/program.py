"""Traced instances -> one black-formatted Python file in the requested style.

Classes (module and mixed style, :mod:`.classes`) or functions (functional
style, :mod:`.functions`), children before parents, then the imports they use;
:func:`format_source` runs black, the only place it runs.
"""

from __future__ import annotations

import black

from ..hierarchy import Instance
from ..options import Style
from .classes import ClassPrinter
from .expressions import ExpressionPrinter
from .functions import FunctionPrinter
from .init_params import init_params_function
from ..torch_names import qualified_name


def print_program(instances: list[Instance], style: Style, name: str) -> str:
    """The source of the whole model in ``style``; the root's definition is ``name``."""
    printer = ExpressionPrinter(style)
    imported = _imported_names(instances)
    if style is Style.FUNCTIONAL:
        functions = FunctionPrinter(printer, name)
        functions.used_names |= imported
        definitions = functions.print_functions(instances)
        root = next(i for i in instances if not i.path)
        definitions.append(init_params_function(root.module, printer, name))
    else:
        classes = ClassPrinter(style, printer, name)
        classes.used_names |= imported
        definitions = classes.print_classes(instances)
    text = "\n\n".join(definitions)
    return format_source(_imports(printer.imports) + "\n\n" + text)


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


def _imports(used: set[str]) -> str:
    """The import block, standard library first, as isort would order it."""
    stdlib = ["import math"] if "math" in used else []
    if "OrderedDict" in used:
        stdlib.append("from collections import OrderedDict")
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
    libraries = sorted(line for line in used if line.startswith("from "))
    groups = (stdlib, third_party + libraries)
    return "\n\n".join("\n".join(group) for group in groups if group)
