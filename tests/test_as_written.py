"""Mixed style keeps a source that already is in mixed style as it is (:mod:`nnconvert.as_written`).

Each model here is a file of its own, as a user's is: the output is that
file's text (the classes, what they read), or, where the source is not in
mixed style or does not build the model that was given, the output printed
from the trace. Every output passes the equivalence check either way.
"""

from __future__ import annotations

import textwrap

import pytest

import torch
from torch import nn

import nnconvert
from nnconvert.loading import import_file

from .helpers import write

#: kuangliu's CIFAR ResNet, shortened: builder method, class passed in, list of counts.
RESNET = """
import os
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion * planes),
            )

    def forward(self, x):
        out = self.bn1(self.conv1(x))
        out += self.shortcut(x)  # the residual
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super(ResNet, self).__init__()
        self.in_planes = 8
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1, bias=False)
        self.layer1 = self._make_layer(block, 8, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 16, num_blocks[1], stride=2)
        self.linear = nn.Linear(16 * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = self.layer2(self.layer1(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)  # a comment that makes this line longer than black allows
        return self.linear(out)


def ResNet10():
    return ResNet(BasicBlock, [2, 2])


def test():
    print(ResNet10()(torch.randn(1, 3, 8, 8)).shape)


x = torch.randn(1, 3, 8, 8)  # a script at the file's top level: the methods' x is theirs
"""

INPUTS = (torch.randn(2, 3, 8, 8),)


def _built(tmp_path, text: str, build: str, record: bool = True) -> nn.Module:
    module = import_file(write(tmp_path, "model.py", textwrap.dedent(text)))
    torch.manual_seed(0)
    if not record:
        return eval(build, vars(module))
    with nnconvert.record_constructors():
        return eval(build, vars(module))


def test_a_mixed_source_is_its_own_mixed_output(tmp_path):
    model = _built(tmp_path, RESNET, "ResNet10()")
    result = nnconvert.convert(model, to="mixed", example_inputs=INPUTS)
    result.check(train=True)
    source = result.source
    assert "def _make_layer(self, block, planes, num_blocks, stride):" in source
    assert "self.shortcut = nn.Sequential()" in source
    assert "expansion = 1" in source
    # the root builds the model given: its arguments are the defaults
    # a list argument as a tuple: a default every call shares is not mutable
    assert (
        "def __init__(self, block=BasicBlock, num_blocks=(2, 2), num_classes=10):"
        in source
    )
    # only what the classes read: no factory, no script, no unused import
    assert "def ResNet10" not in source and "def test" not in source
    assert "import os" not in source and "import torch\n" not in source
    assert "x = torch.randn" not in source
    # a trailing comment too long for its line goes above the statement
    assert (
        "        # a comment that makes this line longer than black allows\n"
        "        out = F.adaptive_avg_pool2d(out, 1).flatten(1)\n"
    ) in source
    assert "out += self.shortcut(x)  # the residual" in source


def test_the_kept_source_converts_to_itself(tmp_path):
    model = _built(tmp_path, RESNET, "ResNet10()")
    first = nnconvert.convert(model, to="mixed", example_inputs=INPUTS)
    again = nnconvert.convert(first.load(), to="mixed", example_inputs=INPUTS)
    assert again.source == first.source


def test_a_source_in_module_style_keeps_its_construction_but_its_stateless_layers(
    tmp_path,
):
    """Not its own mixed output: its ``forward`` calls ``F.relu``, and the layer goes."""
    text = RESNET.replace(
        "out = F.relu(self.conv1(x))", "out = self.relu(self.conv1(x))"
    ).replace(
        "self.conv1 = nn.Conv2d(3, 8,",
        "self.relu = nn.ReLU()\n        self.conv1 = nn.Conv2d(3, 8,",
    )
    model = _built(tmp_path, text, "ResNet10()")
    result = nnconvert.convert(model, to="mixed", example_inputs=INPUTS)
    result.check(train=True)
    assert "_make_layer" in result.source and "self.relu" not in result.source
    assert "nn.ReLU" not in result.source


def test_a_model_changed_after_it_was_built_is_printed_from_the_trace(tmp_path):
    model = _built(tmp_path, RESNET, "ResNet10()")
    model.linear = nn.Linear(16, 3)  # not what ResNet's __init__ builds
    result = nnconvert.convert(model, to="mixed", example_inputs=INPUTS)
    result.check(train=True)
    assert "_make_layer" not in result.source
    assert "nn.Linear(16, 3)" in result.source


def test_a_plain_attribute_changed_after_it_was_built_is_printed_from_the_trace(
    tmp_path,
):
    text = RESNET.replace(
        "return self.linear(out)", "return self.linear(out) * self.scale"
    ).replace("self.in_planes = 8", "self.in_planes = 8\n        self.scale = 1.0")
    model = _built(tmp_path, text, "ResNet10()")
    model.scale = 2.0
    result = nnconvert.convert(model, to="mixed", example_inputs=INPUTS)
    result.check(train=True)
    assert "_make_layer" not in result.source


def test_arguments_no_default_can_hold_are_printed_from_the_trace(tmp_path):
    text = (
        RESNET.replace(
            "def ResNet10():", "class Config:\n    blocks = [2, 2]\n\n\ndef ResNet10():"
        )
        .replace(
            "def __init__(self, block, num_blocks, num_classes=10):",
            "def __init__(self, block, config, num_classes=10):\n        num_blocks = config.blocks",
        )
        .replace("ResNet(BasicBlock, [2, 2])", "ResNet(BasicBlock, Config())")
    )
    model = _built(tmp_path, text, "ResNet10()")
    result = nnconvert.convert(model, to="mixed", example_inputs=INPUTS)
    result.check(train=True)
    assert "_make_layer" not in result.source


def test_without_a_record_the_source_is_kept_only_if_its_defaults_build_the_model(
    tmp_path,
):
    text = RESNET.replace(
        "def __init__(self, block, num_blocks, num_classes=10):",
        "def __init__(self, block=BasicBlock, num_blocks=(2, 2), num_classes=10):",
    )
    model = _built(tmp_path, text, "ResNet()", record=False)
    kept = nnconvert.convert(model, to="mixed", example_inputs=INPUTS)
    assert "def _make_layer" in kept.source
    other = _built(tmp_path, text, "ResNet(num_classes=4)", record=False)
    printed = nnconvert.convert(other, to="mixed", example_inputs=INPUTS)
    printed.check(train=True)
    assert "def _make_layer" not in printed.source


CONFIGURED = """
from dataclasses import dataclass

import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Dims:
    width: int
    classes: int = 3


class Net(nn.Module):
    def __init__(
        self,
        dims: Dims,
        # how much the output is scaled
        scale: float,
    ):
        super().__init__()
        self.fc = nn.Linear(dims.width, dims.classes)
        self.scale = scale

    def forward(self, x):
        return F.relu(self.fc(x)) * self.scale
"""


@pytest.mark.parametrize("future", ["", "from __future__ import annotations\n"])
def test_a_config_dataclass_is_written_as_its_call_and_the_signature_keeps_its_comments(
    tmp_path, future
):
    """As Whisper is built: ``Whisper(ModelDimensions(n_mels=80, ...))``.

    With string annotations too (mamba-minimal's ``ModelArgs``): ``@dataclass``
    looks its module up in ``sys.modules`` while the kept source runs.
    """
    model = _built(tmp_path, future + CONFIGURED, "Net(Dims(4), 0.5)")
    inputs = (torch.randn(2, 4),)
    result = nnconvert.convert(model, to="mixed", example_inputs=inputs)
    result.check(train=True)
    source = result.source
    assert result.as_written
    assert "        dims: Dims = Dims(width=4, classes=3),\n" in source
    assert "        # how much the output is scaled\n" in source
    assert "        scale: float = 0.5,\n" in source
    assert "@dataclass\nclass Dims:" in source
    again = nnconvert.convert(result.load(), to="mixed", example_inputs=inputs)
    assert again.source == source


NAMESPACED = """
import math

import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc = nn.Linear(config.width, config.classes)
        self.scale = math.sqrt(config.width)

    def forward(self, x):
        return F.relu(self.fc(x)) * self.scale
"""


@pytest.mark.parametrize("style", ["mixed", "module"])
def test_a_config_namespace_is_written_as_its_call_with_its_import(tmp_path, style):
    """minGPT and the SNLI example are given a ``SimpleNamespace`` (or a ``CfgNode``).

    ``from types import SimpleNamespace`` goes among the file's imports of
    the standard library.
    """
    build = "Net(__import__('types').SimpleNamespace(width=4, classes=3))"
    model = _built(tmp_path, NAMESPACED, build)
    inputs = (torch.randn(2, 4),)
    result = nnconvert.convert(model, to=style, example_inputs=inputs)
    result.check(train=True)
    source = result.source
    assert result.as_written
    assert "import math\nfrom types import SimpleNamespace\n\nimport torch" in source
    assert "def __init__(self, config=SimpleNamespace(width=4, classes=3)):" in source
    again = nnconvert.convert(result.load(), to=style, example_inputs=inputs)
    assert again.source == source


LISTED = """
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, widths):
        super().__init__()
        widths = widths + [3]  # a list the code extends: a tuple would not do
        self.fc1 = nn.Linear(4, widths[0])
        self.fc2 = nn.Linear(widths[0], widths[1])

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
"""


def test_a_list_argument_stays_a_list_where_a_tuple_does_not_build_the_model(tmp_path):
    model = _built(tmp_path, LISTED, "Net([8])")
    inputs = (torch.randn(2, 4),)
    result = nnconvert.convert(model, to="mixed", example_inputs=inputs)
    result.check(train=True)
    assert result.as_written
    assert "    def __init__(self, widths=[8]):\n" in result.source


NORMED = """
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, width=8, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.norm = norm_layer(width)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))
"""


def test_a_layer_class_default_written_through_its_module_stays_as_written(tmp_path):
    model = _built(tmp_path, NORMED, "Net()")
    result = nnconvert.convert(model, to="mixed", example_inputs=INPUTS)
    result.check(train=True)
    assert result.as_written
    assert "def __init__(self, width=8, norm_layer=nn.BatchNorm2d):" in result.source


def test_a_partial_argument_is_written_as_its_call(tmp_path):
    """pix2pix's and DINO's ``norm_layer``: ``functools.partial`` of a layer class."""
    build = (
        "Net(norm_layer=functools.partial(nn.InstanceNorm2d, affine=True, eps=1e-3))"
    )
    model = _built(tmp_path, NORMED, build)
    result = nnconvert.convert(model, to="mixed", example_inputs=INPUTS)
    result.check(train=True)
    assert result.as_written
    assert (
        "norm_layer=functools.partial(nn.InstanceNorm2d, affine=True, eps=0.001)"
        in result.source
    )
    assert "import functools" in result.source
    rebuilt = result.namespace()["Net"]()
    assert isinstance(rebuilt.norm, nn.InstanceNorm2d) and rebuilt.norm.eps == 1e-3


@pytest.mark.parametrize(
    "comment, moved",
    [
        ("# (B, nh, T, hs)", True),  # 88 as written, 89 with black's two spaces
        ("#(B, nh, T, hs)", True),  # 87 as written, 89 once black spaces it
        ("# (B, nh, T)", False),  # 85 as written, 86 with black's two spaces
    ],
)
def test_a_comment_goes_above_where_black_makes_its_line_too_long(comment, moved):
    """nanoGPT's ``...transpose(1, 2) # (B, nh, T, hs)``: one space, 88 characters."""
    from nnconvert.as_written import _comments_above_long_lines

    code = "        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)"
    text = f"def f():\n{code} {comment}\n"
    above = f"def f():\n        {comment}\n{code}\n"
    assert (_comments_above_long_lines(text) == above) is moved
