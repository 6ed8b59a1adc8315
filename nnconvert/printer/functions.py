"""Functional style: one function per user-defined block, called with the block's weights.

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
"""

from __future__ import annotations

import builtins
import re

import torch
from torch import fx, nn

from ..hierarchy import Instance
from ..opspecs.helpers import HELPERS
from ..options import Style
from ..passes.graph_utils import is_training_flag
from .body import print_body
from .expressions import ExpressionPrinter
from .names import RESERVED, first_free, identifier

#: Helper rows whose definition the output carries (``sub_params``).
DEFINED_HELPERS = tuple(helper for helper in HELPERS if helper.definition)


def snake_case(name: str) -> str:
    """``ConvNet`` -> ``conv_net``, ``MLPBlock`` -> ``mlp_block``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return identifier(words.lower())


class FunctionPrinter:
    """Prints every instance's function; instances with the same code share one."""

    def __init__(self, printer: ExpressionPrinter, top_name: str):
        self.printer = printer
        self.top_name = top_name
        self.used_names: set[str] = {"init_params", "math", top_name}
        self.used_names.update(helper.name for helper in DEFINED_HELPERS)
        self.texts: dict[str, str] = {}

    def print_functions(self, instances: list[Instance]) -> list[str]:
        """Function texts, callees first; the root's is last."""
        by_code: dict[tuple, str] = {}
        takes_training: dict[str, bool] = {}
        callee: dict[int, str] = {}
        # block functions keep their class's name; a Sequential yields to them
        block_names = {
            _free_of_builtins(snake_case(type(i.module).__name__))
            for i in instances
            if i.path and not _is_sequential(i)
        }
        for instance in instances:  # children before parents
            module = instance.module
            self.printer.callees = {
                str(node.target): (
                    callee[id(module.get_submodule(str(node.target)))],
                    takes_training[callee[id(module.get_submodule(str(node.target)))]],
                )
                for node in instance.graph.graph.nodes
                if node.op == "call_module"
            }
            reserved = frozenset(self.used_names)
            parameters, body = print_body(
                instance.graph.graph, Style.FUNCTIONAL, self.printer, reserved
            )
            training = _uses_training(instance.graph.graph) or any(
                t for _, t in self.printer.callees.values()
            )
            kind: object = type(module)
            if _is_sequential(instance):
                kind = _sequential_base(instance.path)
            key = (kind, tuple(parameters), tuple(body), training)
            if key not in by_code or not instance.path:
                if not instance.path:
                    name = self.top_name
                elif _is_sequential(instance):
                    name = self._claim(str(kind), self.used_names | block_names, "")
                else:
                    name = self._claim(snake_case(type(module).__name__))
                by_code[key] = name
                takes_training[name] = training
                self.texts[name] = self._function_text(
                    name, parameters, body, training, instance.graph.graph
                )
            callee[id(module)] = by_code[key]
        texts = list(self.texts.values())
        texts[:0] = [
            helper.definition
            for helper in DEFINED_HELPERS
            if any(f"{helper.name}(" in text for text in texts)
        ]
        return texts

    def _claim(
        self, base: str, taken: set[str] | None = None, separator: str = "_"
    ) -> str:
        """A free function name from ``base``: ``base_2`` … (``base2`` with ``separator=""``)."""
        base = _free_of_builtins(base)
        if base[-1].isdigit():
            separator = "_"
        name = first_free(base, self.used_names if taken is None else taken, separator)
        self.used_names.add(name)
        return name

    def _function_text(
        self,
        name: str,
        parameters: list[str],
        body: list[str],
        training: bool,
        graph: fx.Graph,
    ) -> str:
        self.printer.use("Tensor")
        signature = ["params: dict[str, Tensor]", *parameters]
        if training:
            signature += ["*", "training: bool = False"]
        output = next(n for n in graph.nodes if n.op == "output")
        returns = _return_hint(output.args[0])
        arrow = f" -> {returns}" if returns else ""
        lines = "".join(f"    {line}\n" for line in body)
        return f"def {name}({', '.join(signature)}){arrow}:\n{lines}"


def _free_of_builtins(name: str) -> str:
    """``input`` -> ``input_``: a function may not hide a builtin or a name the code uses."""
    return f"{name}_" if hasattr(builtins, name) or name in RESERVED else name


def _sequential_base(path: str) -> str:
    """The function name of the ``nn.Sequential`` at ``path``: its attribute (``features``).

    ``sequential`` for one known only by position (``blocks.0``).
    """
    attribute = path.rpartition(".")[2]
    return "sequential" if attribute.isdigit() else identifier(attribute)


def _is_sequential(instance: Instance) -> bool:
    return bool(instance.path) and type(instance.module) is nn.Sequential


def _uses_training(graph: fx.Graph) -> bool:
    return any(is_training_flag(n) for n in graph.nodes)


def _return_hint(value) -> str | None:
    value = fx.node.map_aggregate(
        value, lambda v: v.meta.get("value") if isinstance(v, fx.Node) else v
    )
    if isinstance(value, torch.Tensor):
        return "Tensor"
    if (
        isinstance(value, tuple)
        and value
        and all(isinstance(v, torch.Tensor) for v in value)
    ):
        return f"tuple[{', '.join('Tensor' for _ in value)}]"
    return None
