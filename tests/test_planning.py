"""Before/after tests of the printer's plan: statements, names, classes, functions.

Each test gives a tiny model (the "before") and the exact code it becomes
(the "after"), as LibCST's codemod tests do, or asserts on the plan itself
(which instances share a class, which calls are optional), which is data
decided on the graphs before any text is printed.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import nnconvert
from nnconvert.branches import choose, submodule_given
from nnconvert.opspecs.layer_params import DEFINITIONS
from nnconvert.hierarchy import Instance, trace_instances
from nnconvert.naming import camel_case, first_free, identifier, snake_case
from nnconvert.options import Style
from nnconvert.passes import apply_style, canonicalize
from nnconvert.printer.body import print_body
from nnconvert.printer.imports import Imports
from nnconvert.printer.names import Namespace
from nnconvert.printer.function_plan import plan_functions
from nnconvert.printer.class_plan import plan_classes
from nnconvert.printer.signature import graph_signature
from nnconvert.printer.statements import plan_statements

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

# -- models ------------------------------------------------------------------


class Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return torch.tanh(self.fc2(x))


class Steps(nn.Module):
    """``Chain`` written one step a line: each step a statement of its own."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        x = torch.tanh(x)
        return x


class ResidualSteps(nn.Module):
    """``Residual`` written one step a line."""

    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        out = self.fc(x)
        out = out + x
        return out


class Residual(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return self.fc(x) + x


class Block(nn.Module):
    """ResNet's BasicBlock in small: ``downsample`` only where the shape changes."""

    def __init__(self, inputs, outputs, downsample=None):
        super().__init__()
        self.conv = nn.Conv2d(inputs, outputs, 3, padding=1)
        self.bn = nn.BatchNorm2d(outputs)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = F.relu(self.bn(self.conv(x)))
        if self.downsample is not None:
            identity = self.downsample(x)
        return F.relu(out + identity)


class ResNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = Block(4, 4)
        self.layer2 = Block(4, 8, nn.Conv2d(4, 8, 1))

    def forward(self, x):
        return self.layer2(self.layer1(x))


class ReusedInput(nn.Module):
    """A ``downsample`` whose input is read again after it: not a pass-through."""

    def __init__(self, downsample=None):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.conv(x) + identity + x


class ReusedInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.plain = ReusedInput()
        self.projected = ReusedInput(nn.Conv2d(4, 4, 1))

    def forward(self, x):
        return self.projected(self.plain(x))


class Sized(nn.Module):
    """Three instances of one block, two sizes."""

    def __init__(self):
        super().__init__()
        self.first = Residual(4)
        self.second = Residual(4)
        self.proj = nn.Linear(4, 6)
        self.third = Residual(6)

    def forward(self, x):
        return self.third(self.proj(self.second(self.first(x))))


class Gated(nn.Module):
    """Constructed alike, but ``gate`` changes the code ``forward`` runs."""

    def __init__(self, gate):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.gate = gate

    def forward(self, x):
        x = self.fc(x)
        if self.gate:
            x = torch.sigmoid(x) * x
        return x


class TwoShapes(nn.Module):
    def __init__(self):
        super().__init__()
        self.plain = Gated(False)
        self.gated = Gated(True)

    def forward(self, x):
        return self.gated(self.plain(x))


IMAGE = (torch.randn(2, 4, 6, 6),)
VECTOR = (torch.randn(2, 4),)


def _instances(model: nn.Module, inputs: tuple, style: Style) -> list[Instance]:
    """The traced, canonical, styled instances the printer receives."""
    instances = trace_instances(model.eval(), inputs, style)
    for instance in instances:
        canonicalize(instance.graph)
        apply_style(instance.graph, style)
    return instances


def _converted(model: nn.Module, inputs: tuple, style: Style) -> str:
    """The definitions of the output (functional: without ``init_params`` and
    the layer functions it calls, which stand just above it)."""
    source = nnconvert.convert(model, style, inputs).source
    definitions = source.split("\n\n\n", 1)[1]  # after the import block
    for name in ("init_params", *DEFINITIONS):
        definitions = definitions.split(f"\n\n\ndef {name}(")[0]
    return definitions.rstrip() + "\n"


def _code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# -- statements --------------------------------------------------------------


def test_a_chain_reuses_one_name():
    assert _converted(Steps(), VECTOR, Style.MODULE) == _code("""
        class Steps(nn.Module):
            \"\"\"``Chain`` written one step a line: each step a statement of its own.\"\"\"

            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(4, 8)
                self.relu = nn.ReLU()
                self.fc2 = nn.Linear(8, 2)
                self.tanh = nn.Tanh()

            def forward(self, x):
                x = self.fc1(x)
                x = self.relu(x)
                x = self.fc2(x)
                x = self.tanh(x)
                return x
        """)


def test_the_statement_plan_names_a_chain_with_its_input():
    (instance,) = _instances(Steps(), VECTOR, Style.FUNCTIONAL)
    plan = plan_statements(instance.graph.graph, Style.FUNCTIONAL)
    assert set(plan.names.values()) == {"x"}
    assert not plan.inlined - {
        n for n in instance.graph.graph.nodes if n.op == "get_attr"
    }


def test_values_used_once_inline_in_mixed_style():
    assert _converted(Chain(), VECTOR, Style.MIXED) == _code("""
        class Chain(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(4, 8)
                self.fc2 = nn.Linear(8, 2)

            def forward(self, x):
                x = F.relu(self.fc1(x))
                return torch.tanh(self.fc2(x))
        """)


def test_a_value_read_twice_keeps_its_name_until_its_last_read():
    (instance,) = _instances(ResidualSteps(4), VECTOR, Style.MODULE)
    graph = instance.graph.graph
    plan = plan_statements(graph, Style.MODULE)
    body = print_body(graph, Style.MODULE, plan)
    assert body.parameters == ["x"]
    assert body.lines == ["out = self.fc(x)", "out = out + x", "return out"]


def test_reserved_names_are_never_variables():
    (instance,) = _instances(ResidualSteps(4), VECTOR, Style.MODULE)
    graph = instance.graph.graph
    plan = plan_statements(graph, Style.MODULE, reserved=frozenset({"out"}))
    body = print_body(graph, Style.MODULE, plan)
    assert body.lines == ["out2 = self.fc(x)", "out2 = out2 + x", "return out2"]


def test_each_body_collects_its_own_imports():
    instances = _instances(Sized(), VECTOR, Style.FUNCTIONAL)
    residual, root = instances[0], instances[-1]
    printed = {}
    for instance in (residual, root):
        graph = instance.graph.graph
        plan = plan_statements(graph, Style.FUNCTIONAL)
        callees = {
            str(n.target): ("residual", False)
            for n in graph.nodes
            if n.op == "call_module"
        }
        printed[instance.path] = print_body(
            graph, Style.FUNCTIONAL, plan, callees=callees
        )
    assert printed["first"].imports.names == {"F", "Tensor"}
    assert 'residual(sub_params(params, "first."), x)' in printed[""].lines[0]


# -- classes -----------------------------------------------------------------


def test_an_optional_submodule_merges_a_resnet_like_pair():
    assert _converted(ResNetLike(), IMAGE, Style.MIXED) == _code("""
        class Block(nn.Module):
            \"\"\"ResNet's BasicBlock in small: ``downsample`` only where the shape changes.\"\"\"

            def __init__(self, out_channels, downsample=None):
                super().__init__()
                self.conv = nn.Conv2d(4, out_channels, 3, padding=1)
                self.bn = nn.BatchNorm2d(out_channels)
                self.downsample = downsample

            def forward(self, x):
                out = F.relu(self.bn(self.conv(x)))
                if self.downsample is not None:
                    x = self.downsample(x)
                return F.relu(out + x)


        class ResNetLike(nn.Module):
            def __init__(self):
                super().__init__()
                self.layer1 = Block(4)
                self.layer2 = Block(8, downsample=nn.Conv2d(4, 8, 1))

            def forward(self, x):
                return self.layer2(self.layer1(x))
        """)


class IdentityShortcut(nn.Module):
    """kuangliu's CIFAR BasicBlock in small: an empty ``nn.Sequential()`` shortcut."""

    def __init__(self, in_planes, planes):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, planes, 3, padding=1)
        self.shortcut = nn.Sequential()
        if in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1))

    def forward(self, x):
        out = self.conv(x)
        out += self.shortcut(x)
        return out


class IdentityShortcuts(nn.Module):
    def __init__(self, first=4):
        super().__init__()
        self.layer1 = IdentityShortcut(4, first)
        self.layer2 = IdentityShortcut(first, 8)

    def forward(self, x):
        return self.layer2(self.layer1(x))


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
@pytest.mark.parametrize("first", [4, 8], ids=["identity_first", "projection_first"])
def test_an_empty_sequential_is_an_absent_optional_submodule(style, first):
    """One class, ``shortcut=None`` where the source built ``nn.Sequential()``."""
    conversion = nnconvert.convert(IdentityShortcuts(first), style, IMAGE)
    conversion.check(train=True)
    assert "class IdentityShortcut(nn.Module):" in conversion.source
    assert "class IdentityShortcut2" not in conversion.source
    assert ", shortcut=None):\n" in conversion.source
    assert "if self.shortcut is not None:" in conversion.source
    # read back, the identity instances hold None: still one class, same text
    again = nnconvert.convert(conversion.load(), style, IMAGE)
    assert again.source == conversion.source


def test_the_optional_call_is_planned_on_the_graph():
    plans = plan_classes(
        _instances(ResNetLike(), IMAGE, Style.MODULE), Style.MODULE, "Net", set()
    )
    assert [p.name for p in plans] == ["Block", "Net"]
    block = plans[0]
    assert [m.instance.path for m in block.members] == ["layer1", "layer2"]
    assert block.optional == ["downsample"]
    (call,) = block.statements.optional
    assert (call.op, call.target) == ("call_module", "downsample")
    assert block.template.instance.path == "layer2"


def test_a_submodule_whose_input_is_read_after_it_is_optional_with_an_else():
    """Not skipped in place (``x`` is read after it): the call and ``x`` are chosen."""
    instances = _instances(ReusedInputs(), IMAGE, Style.MODULE)
    plans = plan_classes(instances, Style.MODULE, "Net", set())
    assert [p.name for p in plans] == ["ReusedInput", "Net"]
    block = plans[0]
    assert block.optional == ["downsample"]
    assert not block.statements.optional  # no ``x = self.downsample(x)``
    (joined,) = [n for n in block.graph.nodes if n.target is choose]
    condition, call, stand_in = joined.args
    assert condition.target is submodule_given and condition.args == ("downsample",)
    assert (call.op, call.target) == ("call_module", "downsample")
    assert (stand_in.op, stand_in.target) == ("placeholder", "x")


def test_instances_with_different_literals_share_one_class_with_parameters():
    assert _converted(Sized(), VECTOR, Style.MIXED) == _code("""
        class Residual(nn.Module):
            def __init__(self, in_features):
                super().__init__()
                self.fc = nn.Linear(in_features, in_features)

            def forward(self, x):
                return self.fc(x) + x


        class Sized(nn.Module):
            \"\"\"Three instances of one block, two sizes.\"\"\"

            def __init__(self):
                super().__init__()
                self.first = Residual(4)
                self.second = Residual(4)
                self.proj = nn.Linear(4, 6)
                self.third = Residual(6)

            def forward(self, x):
                return self.third(self.proj(self.second(self.first(x))))
        """)
    plans = plan_classes(
        _instances(Sized(), VECTOR, Style.MIXED), Style.MIXED, "Sized", set()
    )
    assert [(p.name, len(p.members)) for p in plans] == [("Residual", 3), ("Sized", 1)]


def test_a_layer_module_style_adds_for_one_path_is_built_in_every_member():
    """``torch.sigmoid`` on the gated path only: ``self.sigmoid`` in the one class.

    (Its instances trace apart; ``if self.gate:`` joins them, as below.)
    """
    style = Style.MODULE
    plans = plan_classes(_instances(TwoShapes(), VECTOR, style), style, "Net", set())
    assert [(p.name, len(p.members)) for p in plans] == [("Gated", 2), ("Net", 1)]
    source = _converted(TwoShapes(), VECTOR, style)
    assert "self.sigmoid = nn.Sigmoid()" in source
    assert "if self.gate:\n            x = self.sigmoid(x) * x" in source


def test_instances_running_different_code_under_an_attribute_test_share_one_class():
    """``if self.gate:`` picks the path: the class tests it, as the source does."""
    assert _converted(TwoShapes(), VECTOR, Style.MIXED) == _code("""
        class Gated(nn.Module):
            \"\"\"Constructed alike, but ``gate`` changes the code ``forward`` runs.\"\"\"

            def __init__(self, gate):
                super().__init__()
                self.fc = nn.Linear(4, 4)
                self.gate = gate

            def forward(self, x):
                x = self.fc(x)
                if self.gate:
                    x = torch.sigmoid(x) * x
                return x


        class TwoShapes(nn.Module):
            def __init__(self):
                super().__init__()
                self.plain = Gated(False)
                self.gated = Gated(True)

            def forward(self, x):
                return self.gated(self.plain(x))
        """)


def test_class_names_avoid_imported_names():
    plans = plan_classes(
        _instances(Sized(), VECTOR, Style.MODULE), Style.MODULE, "Net", {"Residual"}
    )
    assert [p.name for p in plans] == ["Residual2", "Net"]


# -- functions ---------------------------------------------------------------


def test_identical_functions_in_functional_style_are_one():
    assert _converted(Sized(), VECTOR, Style.FUNCTIONAL) == _code("""
        def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
            \"\"\"The weights of one submodule, keyed as in its own state_dict.\"\"\"
            return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


        def residual(params: dict[str, Tensor], x: Tensor) -> Tensor:
            return F.linear(x, params["fc.weight"], params["fc.bias"]) + x


        def sized(params: dict[str, Tensor], x: Tensor) -> Tensor:
            \"\"\"Three instances of one block, two sizes.\"\"\"
            return residual(
                sub_params(params, "third."),
                F.linear(
                    residual(
                        sub_params(params, "second."), residual(sub_params(params, "first."), x)
                    ),
                    params["proj.weight"],
                    params["proj.bias"],
                ),
            )
        """)
    plans = plan_functions(
        _instances(Sized(), VECTOR, Style.FUNCTIONAL), "sized", set()
    )
    assert [p.name for p in plans] == ["residual", "sized"]


def test_a_block_with_and_without_its_optional_layer_is_one_function():
    """``downsample`` only in ``layer2``: one function under ``if has_downsample:``."""
    instances = _instances(ResNetLike(), IMAGE, Style.FUNCTIONAL)
    plans = plan_functions(instances, "net", set())
    assert [(p.name, p.instance.path, p.training) for p in plans] == [
        ("block", "layer2", True),
        ("net", "", True),
    ]
    assert plans[0].flags == {"downsample": "has_downsample"}
    assert plans[-1].callees == {
        "layer1": ("block", True),
        "layer2": ("block", True),
    }


# -- signatures, names, imports ----------------------------------------------


def test_graph_signatures_ignore_names_but_not_code():
    first, second, *_ = _instances(Sized(), VECTOR, Style.MODULE)
    plain, gated, _ = _instances(TwoShapes(), VECTOR, Style.MODULE)
    assert graph_signature(first.graph.graph) == graph_signature(second.graph.graph)
    assert graph_signature(plain.graph.graph) != graph_signature(gated.graph.graph)


def test_a_skipped_call_stands_for_its_input():
    graph = fx.symbolic_trace(ReusedInput(nn.Identity())).graph
    base = fx.symbolic_trace(ReusedInput()).graph
    (call,) = [n for n in graph.nodes if n.op == "call_module" and n.target != "conv"]
    assert graph_signature(graph) != graph_signature(base)
    assert graph_signature(graph, frozenset({call})) == graph_signature(base)


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (("out", set()), "out"),
        (("out", {"out"}), "out2"),
        (("out", {"out", "out2"}), "out3"),
        (("x1", {"x1"}, "_"), "x1_2"),
        (("relu", set()), "relu"),
    ],
)
def test_first_free_numbers_a_name_until_it_is_free(arguments, expected):
    assert first_free(*arguments) == expected


def test_first_free_can_number_every_name_from_one():
    assert first_free("relu", set(), first=1, bare=False) == "relu1"
    assert first_free("relu", {"relu1"}, first=1, bare=False) == "relu2"


def test_a_namespace_hands_a_released_name_out_again():
    names = Namespace()
    assert names.claim("out") == "out"
    assert names.claim("out") == "out2"
    assert names.claim("x1") == "x1"
    assert names.claim("x1") == "x1_2"
    assert names.claim("input") == "input_"
    assert names.claim("params") == "params2"
    names.release("out")
    assert names.claim("out") == "out"


def test_identifiers_and_cases():
    assert identifier("conv-1.a") == "conv_1_a"
    assert identifier("0") == "_0"
    assert identifier("class") == "class_"
    assert snake_case("MLPBlock") == "mlp_block"
    # a digit binds to a capital that starts no word (ESRGAN's block, a Conv2D)
    assert snake_case("ResidualDenseBlock_5C") == "residual_dense_block_5c"
    assert snake_case("Conv2D") == "conv2d"
    assert snake_case("MV2Block") == "mv2_block"
    assert snake_case("RRDB_trunk") == "rrdb_trunk"
    assert camel_case("down_sample") == "DownSample"


def test_imports_render_once_in_isort_order():
    first = Imports({"F", "Tensor", "from torchvision.ops import misc"})
    second = Imports({"math", "torch", "OrderedDict"})
    assert first.merge(second).render() == _code("""
        import math
        from collections import OrderedDict

        import torch
        import torch.nn.functional as F
        from torch import Tensor
        from torchvision.ops import misc
        """).rstrip("\n")
