"""Which model the CLI converts (issue 9, item 7): the root class, factories, named arguments.

Every conversion here runs with the CLI's default check (eval and train,
outputs, buffers and gradients), so each success is also an equivalence
proof; the failures assert the one error line, the exit code and that it
names what the user can do (``--class``, ``--init-arg``).
"""

from __future__ import annotations

import pytest

from nnconvert import loading

from .helpers import run, write

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

#: kuangliu/pytorch-cifar's layout, shrunk: blocks, a model taking its block
#: class, and factory functions that name the configurations.
RESNET = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class Wide(BasicBlock):
    expansion = 1


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super(ResNet, self).__init__()
        self.in_planes = 8
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = self._make_layer(block, 8, num_blocks[0], 1)
        self.layer2 = self._make_layer(block, 16, num_blocks[1], 2)
        self.linear = nn.Linear(16 * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        layers = []
        for stride in [stride] + [1] * (num_blocks - 1):
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def ResNet18():
    return ResNet(BasicBlock, [2, 2])


def ResNet10(num_classes=10):
    return ResNet(BasicBlock, [1, 1], num_classes=num_classes)


def test():
    net = ResNet18()
    print(net(torch.randn(1, 3, 32, 32)).size())


def example_inputs():
    return (torch.randn(2, 3, 16, 16),)
"""

#: The model first, its helper block after it: "the last class" was the block.
MODEL_BEFORE_BLOCK = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(4, 8)
        self.blocks = nn.Sequential(*[Block(8) for _ in range(2)])
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x + torch.relu(self.fc(x))


def example_inputs():
    return (torch.randn(3, 4),)
"""

#: The block is used only through a module-level helper function of the file.
THROUGH_A_HELPER = MODEL_BEFORE_BLOCK.replace(
    "nn.Sequential(*[Block(8) for _ in range(2)])", "make_blocks(8, 2)"
).replace(
    "def example_inputs():",
    "def make_blocks(width, count):\n"
    "    return nn.Sequential(*[Block(width) for _ in range(count)])\n\n\n"
    "def example_inputs():",
)

#: A model whose constructor takes a string and a class; ``Activation`` is
#: imported into the file, not defined in it.
NAMED_ARGUMENTS = """
import torch
from torch import nn
from torch.nn import ReLU as Activation


class Gate(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x) * x


class Net(nn.Module):
    def __init__(self, mode, act=None):
        super().__init__()
        self.mode = mode
        self.fc = nn.Linear(4, 4)
        self.act = act() if isinstance(act, type) else nn.Identity()

    def forward(self, x):
        x = self.fc(x)
        return self.act(x) if self.mode == "Gate" else -self.act(x)


def example_inputs():
    return (torch.randn(3, 4),)
"""


def error_line(result) -> str:
    """The one ``nnconvert: error:`` line of a failed run."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnconvert: error: "), result.output
    return lines[0]


def checked(result) -> None:
    """Exit 0 after the full default check, train-mode gradients included."""
    assert result.exit_code == 0, result.output
    assert "ok    train, gradients" in result.stderr, result.stderr


@pytest.mark.parametrize("source", [MODEL_BEFORE_BLOCK, THROUGH_A_HELPER])
@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_the_default_is_the_root_class_not_the_last(tmp_path, source, style):
    path = write(tmp_path, "m.py", source)
    result = run("convert", path, "--to", style)
    checked(result)
    assert "against Net:" in result.stderr
    assert ("head.weight" in result.stdout) or ("self.head = " in result.stdout)


def test_root_classes_are_read_from_the_source(tmp_path):
    """No model code runs to choose: the classes' source is read, not executed."""
    path = write(tmp_path, "m.py", RESNET)
    module = loading.import_file(path)
    classes = loading.model_classes(module)
    roots = loading.model_choice.root_classes(module, path.read_text(), classes)
    # Wide's base is BasicBlock, so BasicBlock is a part of it; ResNet takes
    # its block as an argument and names none
    assert [c.__name__ for c in roots] == ["Wide", "ResNet"]
    factories = loading.model_choice.factories(module, path.read_text(), classes)
    assert factories == ["ResNet18", "ResNet10"]


def test_several_roots_are_an_error_that_lists_them(tmp_path):
    path = write(tmp_path, "m.py", RESNET)
    out = tmp_path / "out.py"
    result = run("convert", path, "--to", "mixed", "-o", out)
    assert result.exit_code == 2
    assert error_line(result) == (
        f"nnconvert: error: {path}: which model? 2 nn.Module classes are no part "
        "of another class of the file: Wide, ResNet; or a function that builds "
        "one: ResNet18, ResNet10; pass --class NAME"
    )
    assert not out.exists()


def test_classes_that_all_use_each_other_are_an_error(tmp_path):
    source = MODEL_BEFORE_BLOCK.replace(
        "self.fc = nn.Linear(width, width)",
        "self.fc = nn.Linear(width, width)\n        self.kind = Net",
    )
    path = write(tmp_path, "m.py", source)
    result = run("convert", path, "--to", "mixed")
    assert result.exit_code == 2
    assert error_line(result).endswith(
        "which model? every nn.Module class of the file is a part of another "
        "one: Net, Block; pass --class NAME"
    )


def test_a_constructor_that_needs_arguments_names_init_arg_and_class(tmp_path):
    path = write(tmp_path, "m.py", RESNET)
    result = run("convert", path, "--to", "mixed", "--class", "ResNet")
    assert result.exit_code == 2
    line = RESNET.splitlines().index("class ResNet(nn.Module):") + 1
    assert error_line(result) == (
        f"nnconvert: error: {path}:{line}: cannot build ResNet(): it needs block, "
        "num_blocks (it takes: block, num_blocks, num_classes); pass constructor "
        "arguments with --init-arg NAME=VALUE, or choose another model with "
        "--class NAME"
    )


def test_an_argument_the_constructor_does_not_take_is_named(tmp_path):
    path = write(tmp_path, "m.py", RESNET)
    result = run(
        "convert", path, "--to", "mixed", "--class", "ResNet10", "--init-arg", "depth=3"
    )
    assert result.exit_code == 2
    assert (
        "cannot build ResNet10(depth=3): it takes no depth (it takes: num_classes)"
        in (error_line(result))
    )


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_a_factory_function_is_a_model(tmp_path, style):
    path = write(tmp_path, "m.py", RESNET)
    result = run("convert", path, "--to", style, "--class", "ResNet18")
    checked(result)
    # named after the class it builds, as its output converts back
    name = "res_net" if style == "functional" else "ResNet"
    assert f"checked {name} against ResNet:" in result.stderr
    block = "def basic_block(" if style == "functional" else "class BasicBlock("
    assert block in result.stdout  # the blocks ResNet18() builds, two per layer
    assert (
        "layer2.1." in result.stdout or "self.layer2 = nn.Sequential(" in result.stdout
    )


def test_a_factory_takes_its_arguments_and_the_name_option(tmp_path):
    path = write(tmp_path, "m.py", RESNET)
    result = run(
        "convert", path, "--to", "mixed", "--class", "ResNet10",
        "--init-arg", "num_classes=4", "--name", "ResNet10",
    )  # fmt: skip
    checked(result)
    assert "class ResNet10(nn.Module):" in result.stdout
    # the root's parameter, its value as given (printer/source_arguments)
    assert "def __init__(self, num_classes=4):" in result.stdout
    assert "nn.Linear(16, num_classes)" in result.stdout


CONVMIXER = """
import torch
import torch.nn as nn


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x


def ConvMixer(dim=8, depth=2, kernel_size=3, patch_size=4, n_classes=5):
    return nn.Sequential(
        nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size),
        nn.GELU(),
        *[nn.Sequential(Residual(nn.Conv2d(dim, dim, kernel_size, padding="same")), nn.GELU()) for i in range(depth)],
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(dim, n_classes),
    )


def example_inputs():
    return (torch.randn(2, 3, 16, 16),)
"""


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_a_factory_returning_a_torch_container_names_the_output(tmp_path, style):
    """ConvMixer's factory returns an ``nn.Sequential``: the output is ``ConvMixer``, not ``Sequential``."""
    path = write(tmp_path, "m.py", CONVMIXER)
    result = run("convert", path, "--to", style, "--class", "ConvMixer")
    checked(result)
    if style == "functional":
        assert "\ndef conv_mixer(params: dict[str, Tensor]" in result.stdout
        # a new nn.Sequential has no tensors: the claim names what built the model
        claim = " ".join(result.stdout.split("def init_params()")[1].split()[:20])
        assert "equal to a new `ConvMixer(...)` model's under the same seed" in claim
    else:
        assert "\nclass ConvMixer(nn.Sequential):" in result.stdout
    assert "Sequential(nn.Sequential)" not in result.stdout


def test_a_function_that_builds_no_module_is_refused(tmp_path):
    path = write(tmp_path, "m.py", RESNET)
    result = run("convert", path, "--to", "mixed", "--class", "example_inputs")
    assert result.exit_code == 2
    assert error_line(result).endswith(
        "example_inputs() returns a tuple, not an nn.Module; pass --class NAME of "
        "a class or of a function that builds the model"
    )


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_init_arg_naming_a_class_of_the_file_passes_the_class(tmp_path, style):
    path = write(tmp_path, "m.py", RESNET)
    result = run(
        "convert", path, "--to", style, "--class", "ResNet",
        "--init-arg", "block=BasicBlock", "--init-arg", "num_blocks=[1, 2]",
    )  # fmt: skip
    checked(result)
    loaded = loading.load_file(
        path,
        class_name="ResNet",
        init_args=loading.parse_init_args(["block=Wide", "num_blocks=[1, 1]"]),
    )
    module = loaded.model.module
    assert type(module.layer1[0]).__name__ == "Wide"
    assert type(module.layer1[0]).__module__ == type(module).__module__


def _built(path, *init_args: str):
    """The model ``--init-arg``s build, as the CLI loads it."""
    loaded = loading.load_file(
        path, class_name="Net", init_args=loading.parse_init_args(init_args)
    )
    return loaded.model.module


def test_bare_text_that_names_nothing_of_the_file_stays_a_string(tmp_path):
    path = write(tmp_path, "m.py", NAMED_ARGUMENTS)
    model = _built(path, "mode=relu", "act=Activation")
    assert model.mode == "relu" and type(model.mode) is str
    assert isinstance(model.act, __import__("torch").nn.Identity)  # "Activation": a str
    model = _built(path, "mode=Gate", "act=Gate")
    assert model.mode.__name__ == "Gate"  # the class: a bare name of the file
    assert type(model.act).__name__ == "Gate"


def test_a_quoted_name_is_the_string(tmp_path):
    path = write(tmp_path, "m.py", NAMED_ARGUMENTS)
    model = _built(path, "mode='Gate'", "act=Gate")
    assert model.mode == "Gate" and type(model.mode) is str
    result = run(
        "convert", path, "--to", "mixed", "--class", "Net",
        "--init-arg", "mode='Gate'", "--init-arg", "act=Gate",
    )  # fmt: skip
    checked(result)
    assert "-" not in result.stdout.split("def forward")[1]  # the "Gate" branch


def test_a_name_is_looked_up_never_evaluated(tmp_path):
    path = write(tmp_path, "m.py", NAMED_ARGUMENTS)
    model = _built(path, "mode=__import__('os').getcwd()")
    assert model.mode == "__import__('os').getcwd()"
