"""One definition per block class, in every style, and the output still computes the same.

Small hand-written models with the shapes real networks have: MobileNetV2's
inverted residuals (one class, many widths), a ResNet with several stages
(identical stage bodies), an identity shortcut (``nn.Sequential()``), and a
ModuleList of blocks. Each test asserts what the text shows (one function or
class, its keyword parameters) and that the equivalence check passes, in eval
and in train mode; converting the output again gives the same text.
"""

from __future__ import annotations

import ast

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand, depthwise (``groups=planes``), project."""

    def __init__(self, in_planes, out_planes, expansion, stride):
        super().__init__()
        self.stride = stride
        planes = expansion * in_planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=1, groups=planes, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, bias=False),
                nn.BatchNorm2d(out_planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class MobileNet(nn.Module):
    cfg = [(1, 8, 1, 1), (2, 12, 2, 2), (2, 16, 2, 1)]

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        layers, in_planes = [], 8
        for expansion, out_planes, num_blocks, stride in self.cfg:
            for s in [stride] + [1] * (num_blocks - 1):
                layers.append(InvertedResidual(in_planes, out_planes, expansion, s))
                in_planes = out_planes
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(16, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class Basic(nn.Module):
    def __init__(self, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(planes // stride, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(planes // stride, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class StagedResNet(nn.Module):
    """Three stages of two blocks; the second and third stages run the same code."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.layer1 = nn.Sequential(Basic(8), Basic(8))
        self.layer2 = nn.Sequential(Basic(16, 2), Basic(16))
        self.layer3 = nn.Sequential(Basic(32, 2), Basic(32))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class Mlp(nn.Module):
    def __init__(self, dim, hidden, p):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.drop = nn.Dropout(p)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return x + self.fc2(self.drop(F.gelu(self.fc1(self.norm(x)))))


class Tower(nn.Module):
    """A ModuleList of blocks built with different dropout rates."""

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList(Mlp(dim, 2 * dim, 0.1 * i) for i in range(depth))
        self.head = nn.Linear(dim, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class LayerNorm(nn.Module):
    """A hand-written LayerNorm whose width is a literal of ``forward`` once traced."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps
        self.dim = dim

    def forward(self, x):
        return F.layer_norm(x, (self.dim,), self.weight, self.bias, self.eps)


class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1 - self.p
        mask = x.new_empty(x.shape[0], 1).bernoulli_(keep)
        return x * mask / keep


class NormBlock(nn.Module):
    def __init__(self, dim, out, p):
        super().__init__()
        self.norm = LayerNorm(dim)
        self.fc = nn.Linear(dim, out)
        self.drop_path = DropPath(p)

    def forward(self, x):
        return self.drop_path(self.fc(self.norm(x)))


class NormNet(nn.Module):
    """Blocks whose LayerNorm widths and drop rates differ: literals of ``forward``."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(
            NormBlock(8, 16, 0.0), NormBlock(16, 16, 0.0), NormBlock(16, 32, 0.0)
        )

    def forward(self, x):
        return self.blocks(x)


def image():
    return (torch.randn(2, 3, 16, 16),)


def tokens():
    return (torch.randn(2, 5, 8),)


def converted(model: nn.Module, inputs: tuple, style: Style) -> nnconvert.Conversion:
    """``model`` in ``style``, checked in eval and train mode against the original."""
    torch.manual_seed(0)
    conversion = nnconvert.convert(model, style, inputs)
    conversion.check()
    conversion.check(train=True)
    return conversion


def functions(source: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(source)
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def keywords(function: ast.FunctionDef) -> list[str]:
    return [a.arg for a in function.args.kwonlyargs]


def assert_own_style_round_trip(conversion: nnconvert.Conversion) -> None:
    """Converting the output to its own style gives the same text."""
    again = nnconvert.convert(
        load_output(conversion), conversion.style, conversion.example_inputs
    )
    assert again.source == conversion.source


def test_inverted_residuals_of_different_widths_share_one_function():
    conversion = converted(MobileNet().eval(), image(), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    # blocks of every width, stride and shortcut: one function, with the
    # stride, the width and the shortcut as keywords
    assert keywords(defined["inverted_residual"]) == [
        "stride",
        "groups",
        "has_shortcut",
        "training",
    ]
    assert "groups=groups" in ast.unparse(defined["inverted_residual"])
    calls = ast.unparse(defined["layers"])
    assert "(8, 16, 24, 24, 32)" in calls  # each block's width, in a loop
    forwards = [n for n in defined if n.startswith("inverted_residual")]
    # (and one init function for them all: ``inverted_residual_params``)
    assert forwards == ["inverted_residual", "inverted_residual_params"]
    assert_own_style_round_trip(conversion)


def test_identity_shortcut_is_no_function():
    conversion = converted(MobileNet().eval(), image(), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    # no function for the empty Sequential: no function returns its input
    for function in defined.values():
        assert not isinstance(function.body[0], ast.Return), function.name
    body = ast.unparse(defined["inverted_residual"])
    # each path returns, as ``return out + self.shortcut(x) if ... else out``
    assert "return out + x" in body and "return out" in body
    # the shortcut with weights is a function, called where the block has one
    assert "shortcut" in defined
    assert (
        "if has_shortcut:\n            x = shortcut(sub_params(params, 'shortcut.'), x"
        in (body)
    )


def test_stages_with_the_same_body_are_one_function():
    conversion = converted(StagedResNet().eval(), image(), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    assert "layer" in defined and "layer2" not in defined and "layer3" not in defined
    root = ast.unparse(defined["staged_res_net"])
    assert "layer(sub_params(params, 'layer2.'), " in root
    assert "layer(sub_params(params, 'layer3.'), " in root
    assert_own_style_round_trip(conversion)


class GroupedStages(nn.Module):
    """RegNet's stages in small: one block each, built with its own group count."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(Mlp(8, 16, 0.1))
        self.layer2 = nn.Sequential(Mlp(8, 16, 0.2))

    def forward(self, x):
        return self.layer2(self.layer1(x))


def test_stages_that_differ_only_in_literals_are_one_function_with_a_keyword():
    conversion = converted(GroupedStages().eval(), tokens(), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    assert "layer" in defined and "layer1" not in defined and "layer2" not in defined
    assert keywords(defined["layer"]) == ["p", "training"]
    root = ast.unparse(defined["grouped_stages"])
    assert "layer(sub_params(params, 'layer1.'), x, p=0.1" in root
    assert (  # the stages nest as the source wrote them
        "layer(sub_params(params, 'layer2.'), layer(sub_params(params, 'layer1.'), "
        "x, p=0.1, training=training), p=0.2" in root
    )
    assert_own_style_round_trip(conversion)


def test_blocks_of_a_module_list_share_one_function_with_their_rate():
    conversion = converted(Tower().eval(), tokens(), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    assert [n for n in defined if n.startswith("mlp")] == ["mlp"]
    assert keywords(defined["mlp"]) == ["p", "training"]
    assert_own_style_round_trip(conversion)


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_class_styles_still_check(style):
    for model, inputs in [(MobileNet(), image()), (StagedResNet(), image())]:
        assert_own_style_round_trip(converted(model.eval(), inputs, style))


def classes(source: str) -> list[str]:
    return [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_classes_that_differ_in_forward_literals_are_one_class(style):
    model = NormNet().eval()
    for block, p in zip(model.blocks, (0.1, 0.2, 0.3)):
        block.drop_path.p = p  # rates differ; train-mode draws are not compared
    conversion = nnconvert.convert(model, style, (torch.randn(2, 8),))
    conversion.check()
    assert classes(conversion.source) == [
        "LayerNorm",
        "DropPath",
        "NormBlock",
        "NormNet",
    ]
    assert "self.normalized_shape = normalized_shape" in conversion.source
    # the eps every instance shares is the attribute the source reads
    assert "self.eps = 1e-06" in conversion.source
    written = "".join(conversion.source.split())
    assert "F.layer_norm(x,self.normalized_shape" in written
    assert "eps=self.eps)" in written
    assert "(8,)" in conversion.source and "(16,)" in conversion.source
    assert_own_style_round_trip(conversion)


def test_forward_literals_are_keywords_in_functional_style():
    conversion = converted(NormNet().eval(), (torch.randn(2, 8),), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    # eps, the same in every instance, is a keyword with a default
    assert keywords(defined["layer_norm"]) == ["normalized_shape", "eps"]
    assert [n for n in defined if n.startswith("norm_block")] == ["norm_block"]
    assert_own_style_round_trip(conversion)


class Stack(nn.Module):
    """``for block in self.blocks: x = block(x)`` over a ModuleList of one class."""

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList(Mlp(dim, 2 * dim, 0.0) for _ in range(depth))
        self.head = nn.Linear(dim, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_calls_through_a_module_list_print_as_a_loop(style):
    conversion = converted(Stack().eval(), tokens(), style)
    assert "for block in self.blocks:\n            x = block(x)\n" in conversion.source
    assert "self.blocks[0]" not in conversion.source
    assert_own_style_round_trip(conversion)


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_a_module_list_of_alike_members_is_built_by_a_comprehension(style):
    """As the user built it; members that differ are listed one by one."""
    conversion = converted(Stack().eval(), tokens(), style)
    assert "nn.ModuleList([Mlp() for _ in range(3)])" in conversion.source
    conversion = converted(Tower().eval(), tokens(), style)
    assert "for _ in range" not in conversion.source
    assert_own_style_round_trip(conversion)


class SizedMlp(Mlp):
    def forward(self, x, size=None):
        return super().forward(x) * size[0]


class SizedStack(Stack):
    """CoaT's serial blocks: ``x = block(x, size=[H, W])`` for each block."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(SizedMlp(8, 16, 0.0) for _ in range(3))

    def forward(self, x):
        size = [3, 2]  # CoaT's patch grid: numbers of its own
        for block in self.blocks:
            x = block(x, size=size)
        return self.head(x)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_loop_passes_the_keywords_of_its_calls(style):
    conversion = converted(SizedStack().eval(), tokens(), style)
    conversion.check(train=True)
    assert "size=[3, 2]" in conversion.source


class CrossMlp(Mlp):
    def forward(self, x, memory):
        return super().forward(x) + memory.mean(1, keepdim=True)


class CrossStack(Stack):
    """Whisper's decoder: ``x = block(x, xa, mask=self.mask)`` for each block."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList(CrossMlp(8, 16, 0.0) for _ in range(3))

    def forward(self, x, memory):
        for block in self.blocks:
            x = block(x, memory)
        return self.head(x)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_loop_passes_the_other_arguments_of_its_calls(style):
    inputs = (torch.randn(2, 5, 8), torch.randn(2, 4, 8))
    conversion = converted(CrossStack().eval(), inputs, style)
    expected = {
        Style.FUNCTIONAL: 'cross_mlp(sub_params(params, f"blocks.{i}."), x, memory, t',
    }.get(style, "x = block(x, memory)")
    assert expected in conversion.source
    assert "blocks.1" not in conversion.source and "blocks[1]" not in conversion.source
    assert_own_style_round_trip(conversion)


def test_calls_through_a_module_list_loop_over_their_weights_in_functional_style():
    conversion = converted(Stack().eval(), tokens(), Style.FUNCTIONAL)
    assert (
        '    for i in range(3):\n        x = mlp(sub_params(params, f"blocks.{i}."), x'
        in conversion.source
    )
    assert_own_style_round_trip(conversion)


def test_a_sequential_of_one_block_loops_in_its_function():
    conversion = converted(StagedResNet().eval(), image(), Style.FUNCTIONAL)
    layer1 = ast.unparse(functions(conversion.source)["layer1"])
    assert "for i in range(2):" in layer1 and "f'{i}.'" in layer1


def test_blocks_called_with_different_literals_loop_over_them():
    """Each call's own rate is the loop's: ``for i, p in enumerate((0.0, 0.1, 0.2))``."""
    conversion = converted(Tower().eval(), tokens(), Style.FUNCTIONAL)
    assert (
        "    for i, p in enumerate((0.0, 0.1, 0.2)):\n"
        '        x = mlp(sub_params(params, f"blocks.{i}."), x, p=p, training=training)\n'
    ) in conversion.source
    assert '"blocks.1."' not in conversion.source
    assert_own_style_round_trip(conversion)


def _function_text(source: str, name: str) -> str:
    """The text of the top-level function ``name``, comments included."""
    node = functions(source)[name]
    return "\n".join(source.splitlines()[node.lineno - 1 : node.end_lineno])


def _class_of(source: str, name: str) -> str:
    tree = ast.parse(source)
    return ast.unparse(
        next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    )


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_blocks_whose_attribute_picks_the_path_are_one_class(style):
    """The stride-2 blocks skip the sum (``... if self.stride == 1 else out``): the class tests it.

    Both paths run in the check (the model has blocks of each stride);
    built again with the recorded arguments, the class is read back the same.
    """
    with nnconvert.record_constructors():
        model = MobileNet().eval()
    conversion = converted(model, image(), style)
    assert [c for c in classes(conversion.source) if c.startswith("Inverted")] == [
        "InvertedResidual"
    ]
    block = _class_of(conversion.source, "InvertedResidual")
    assert "def __init__(self, in_planes, out_planes, expansion, stride" in block
    assert "planes = expansion * in_planes" in block  # the user's local, as written
    assert "self.stride = stride" in block
    assert "if self.stride == 1:" in block
    assert "InvertedResidual(8, 12, 2, " in conversion.source  # the stride-2 one
    with nnconvert.record_constructors():
        again = nnconvert.convert(load_output(conversion), style, image())
    assert again.source == conversion.source


class Gated(nn.Module):
    """Two attributes, set together, both tested: which of them picks the path is not known."""

    def __init__(self, width, skip):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.skip = skip
        self.wide = skip

    def forward(self, x):
        out = self.fc(x)
        if self.skip:
            out = out + x
        if self.wide:
            out = out * 2
        return out


class TwoGates(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Gated(8, True)
        self.b = Gated(8, False)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", list(Style))
def test_shapes_that_two_tests_tell_apart_stay_apart(style):
    conversion = converted(TwoGates().eval(), (torch.randn(2, 8),), style)
    if style is Style.FUNCTIONAL:
        assert "def gated(" in conversion.source and "def gated_2(" in conversion.source
    else:
        assert classes(conversion.source) == ["Gated", "Gated2", "TwoGates"]
    assert "self.skip" not in conversion.source


def test_functional_style_tests_the_keyword_that_picks_the_path():
    """One function, its ``stride`` a keyword that the conv reads and ``if`` tests.

    Read back, the keyword's test is the attribute's: the file converts to
    itself, and to the module style's one class.
    """
    with nnconvert.record_constructors():
        model = MobileNet().eval()
    conversion = converted(model, image(), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    assert "inverted_residual_2" not in defined
    block = defined["inverted_residual"]
    assert keywords(block) == ["stride", "groups", "has_shortcut", "training"]
    text = ast.unparse(block)
    assert "stride=stride, padding=1, groups=groups" in text
    assert "if stride == 1:" in text
    assert "stride=stride" in ast.unparse(defined["layers"])  # each block's own
    assert_own_style_round_trip(conversion)
    with nnconvert.record_constructors():
        back = nnconvert.convert(load_output(conversion), Style.MODULE, image())
    back.check()
    assert [c for c in classes(back.source) if c.startswith("Inverted")] == [
        "InvertedResidual"
    ]
    assert "if self.stride == 1:" in back.source


class Squeeze(nn.Module):
    """A block of the user's that computes only its result."""

    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(x))


class Expanding(nn.Module):
    """EfficientNet's start in small: the expansion only where ``expand_ratio`` asks for it."""

    def __init__(self, width, expand_ratio):
        super().__init__()
        self.expand_ratio = expand_ratio
        # widen first
        self.expand = nn.Linear(width, width)
        self.squeeze = Squeeze(width)

    def forward(self, x):
        out = x if self.expand_ratio == 1 else torch.relu(self.expand(x))
        return self.squeeze(out)


class TwoExpansions(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Expanding(8, 1)
        self.second = Expanding(8, 4)

    def forward(self, x):
        return self.second(self.first(x))


class Skipping(nn.Module):
    """A flag picks the path: ``if self.has_skip:``, a literal of ``forward`` beside it."""

    def __init__(self, width, has_skip):
        super().__init__()
        # the input is added where it fits
        self.has_skip = has_skip
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        out = torch.relu(self.fc(x)) * 0.5
        if self.has_skip:
            out = out + x
        return out


class Skips(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Skipping(8, True)
        self.b = Skipping(8, False)
        self.c = Skipping(8, True)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


@pytest.mark.printed_from_trace
def test_a_flag_that_picks_the_path_is_a_keyword_in_functional_style():
    with nnconvert.record_constructors():
        model = Skips().eval()
    conversion = converted(model, (torch.randn(2, 8),), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    assert [n for n in defined if n.startswith("skipping")] == ["skipping"]
    assert keywords(defined["skipping"]) == ["has_skip"]
    assert "if has_skip:" in ast.unparse(defined["skipping"])
    assert "has_skip=False" in conversion.source
    # what ``__init__`` says of the attribute is said where the keyword is tested
    assert (
        "    if has_skip:\n        # the input is added where it fits\n        out = out + x"
        in conversion.source
    )
    assert_own_style_round_trip(conversion)
    with nnconvert.record_constructors():
        back = nnconvert.convert(
            load_output(conversion), Style.MODULE, (torch.randn(2, 8),)
        )
    back.check()
    assert classes(back.source) == ["Skipping", "Skips"]
    assert "if self.has_skip:" in back.source


def test_a_path_that_skips_a_layer_keeps_a_function_in_functional_style():
    """The ``expand_ratio == 1`` block holds the expansion's tensors but never reads them.

    A functional file read back learns a layer from the calls that read
    it: in a joined function the first block's would be tensors of no
    layer, drawn as ``torch.empty``. Two functions read back as written.
    """
    conversion = converted(TwoExpansions().eval(), tokens(), Style.FUNCTIONAL)
    assert [n for n in functions(conversion.source) if n.startswith("expanding")] == [
        "expanding",
        "expanding_2",
    ]
    # said where the expansion is, not above the next statement of the other
    assert "# widen first" not in _function_text(conversion.source, "expanding")
    assert "# widen first" in _function_text(conversion.source, "expanding_2")
    assert_own_style_round_trip(conversion)
    again = load_output(conversion)
    assert (
        "set them before use"
        not in nnconvert.convert(again, Style.FUNCTIONAL, tokens()).source
    )


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_a_block_both_paths_call_is_called_once_after_the_test(style):
    """``self.squeeze`` follows the choice: one call, not one in each branch.

    The printer writes the test the way round that needs no ``else``
    (``!= 1``); read back, that is the same test, and the same text.
    """
    conversion = converted(TwoExpansions().eval(), tokens(), style)
    assert [c for c in classes(conversion.source) if c.startswith("Expanding")] == [
        "Expanding"
    ]
    block = _class_of(conversion.source, "Expanding")
    assert "if self.expand_ratio != 1:" in block
    assert block.count("self.squeeze(") == 1
    assert_own_style_round_trip(conversion)


class Scaled(nn.Module):
    """A projection where the width changes, a literal of ``forward`` per instance."""

    def __init__(self, cin, cout, alpha):
        super().__init__()
        self.alpha = alpha
        self.fc = nn.Linear(cin, cout)
        self.proj = nn.Linear(cin, cout) if cin != cout else None

    def forward(self, x):
        out = self.fc(x) * self.alpha
        return out + (self.proj(x) if self.proj is not None else x)


class ScaledNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Scaled(4, 4, 0.5)
        self.b = Scaled(4, 4, 0.25)
        self.c = Scaled(4, 8, 0.5)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_a_shape_whose_literals_differ_joins_with_its_optional_submodule(style):
    """``a`` and ``b`` scale by 0.5 and 0.25, ``c`` adds ``proj``: one class, ``alpha`` each's own.

    The members without ``proj`` hold the widest graph with their own
    literals, so the constructor parameter fills the slot for all three
    (the check compares every member's output; joined on the widest's
    literals alone, ``b`` would scale by 0.5).
    """
    conversion = converted(ScaledNet().eval(), (torch.randn(2, 4),), style)
    assert classes(conversion.source) == ["Scaled", "ScaledNet"]
    assert "self.alpha = alpha" in conversion.source
    assert "Scaled(4, 0.25)" in conversion.source
    assert "if self.proj is not None:" in conversion.source
    assert_own_style_round_trip(conversion)


class Dual(nn.Module):
    """DPN's ``Bottleneck`` in small: a split at ``self.d`` per stage, a projection first."""

    def __init__(self, d, first):
        super().__init__()
        self.d = d
        self.fc = nn.Linear(8, 8)
        self.shortcut = nn.Sequential()
        if first:
            self.shortcut = nn.Sequential(nn.Linear(8, 8))

    def forward(self, x):
        out = self.fc(x)
        x = self.shortcut(x)
        d = self.d
        return torch.cat([x[:, :d] + out[:, :d], out[:, d:]], 1)


class DualPath(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = nn.Sequential(
            Dual(2, True), Dual(2, False), Dual(4, True), Dual(4, False)
        )

    def forward(self, x):
        return self.stages(x)


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_an_attribute_read_per_stage_joins_with_its_optional_submodule(style):
    """One ``Dual``: ``self.d`` read in every member, ``shortcut=None`` where it is empty."""
    conversion = converted(DualPath().eval(), (torch.randn(2, 8),), style)
    assert classes(conversion.source) == ["Dual", "DualPath"]
    block = _class_of(conversion.source, "Dual")
    assert "x[:, :self.d]" in block and "if self.shortcut is not None:" in block
    assert_own_style_round_trip(conversion)


class Mixing(nn.Module):
    """A helper method called before the test ``if self.skip:``."""

    def __init__(self, width, skip, k=1.0):
        super().__init__()
        self.skip = skip
        self.k = k
        self.fc = nn.Linear(width, width)

    def mix(self, x):
        return torch.tanh(self.fc(x)) * (self.k + 1)

    def forward(self, x):
        out = self.mix(x)
        if self.skip:
            out = out + x
        return out


class TwoMixings(nn.Module):
    def __init__(self, k_skipping=1.0, k_plain=1.0):
        super().__init__()
        self.a = Mixing(4, True, k_skipping)
        self.b = Mixing(4, False, k_plain)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_a_helper_method_both_paths_call_is_called_once(style):
    conversion = converted(TwoMixings().eval(), (torch.randn(2, 4),), style)
    block = _class_of(conversion.source, "Mixing")
    assert "if self.skip:" in block
    assert block.count("self.mix(x)") == 1 and block.count("def mix(") == 1
    with nnconvert.record_constructors():
        again = nnconvert.convert(
            load_output(conversion), style, conversion.example_inputs
        )
    assert again.source == conversion.source


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_shapes_whose_helper_bodies_differ_stay_apart(style):
    """``mix`` scales by 2.0 in one shape and 3.0 in the other: one class would write one ``mix``."""
    model = TwoMixings(k_skipping=1.0, k_plain=2.0).eval()
    conversion = converted(model, (torch.randn(2, 4),), style)
    assert [c for c in classes(conversion.source) if c.startswith("Mixing")] == [
        "Mixing",
        "Mixing2",
    ]


class StochasticDepth(nn.Module):
    """CCT's ``DropPath``: the rate unpacked into a local, tested beside the mode."""

    def __init__(self, drop_prob):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x):
        batch, drop_prob = x.shape[0], self.drop_prob
        if drop_prob <= 0.0 or not self.training:
            return x
        keep_prob = 1 - self.drop_prob
        keep_mask = torch.zeros(batch, 1, 1, device=x.device).uniform_(0, 1) < keep_prob
        return x.div(keep_prob) * keep_mask.float()


class DepthRamp(nn.Module):
    """Rates from ``torch.linspace(0, 0.1, depth)``: the first is 0."""

    def __init__(self):
        super().__init__()
        self.fcs = nn.ModuleList([nn.Linear(8, 8) for _ in range(2)])
        self.drops = nn.ModuleList([StochasticDepth(0.0), StochasticDepth(0.25)])

    def forward(self, x):
        for fc, drop in zip(self.fcs, self.drops):
            x = x + drop(fc(x))
        return x


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_a_rate_tested_beside_the_mode_through_a_local_picks_the_path(style):
    """``drop_prob <= 0.0 or not self.training``: the rate's test joins both blocks."""
    with nnconvert.record_constructors():
        model = DepthRamp().eval()
    torch.manual_seed(0)
    conversion = nnconvert.convert(model, style, tokens(), keep_source=False)
    conversion.check(train=True)
    assert [c for c in classes(conversion.source) if c.startswith("Stochastic")] == [
        "StochasticDepth"
    ]
    assert "if self.drop_prob > 0.0:" in conversion.source


class TemporalBlock(nn.Module):
    """TCN's block: its convolutions registered twice (``self.conv1`` and
    ``self.net[0]``), a 1x1 ``downsample`` only where the widths differ."""

    def __init__(self, n_inputs, n_outputs, dilation):
        super().__init__()
        self.conv1 = nn.Conv1d(
            n_inputs, n_outputs, 3, padding=dilation, dilation=dilation
        )
        self.conv2 = nn.Conv1d(
            n_outputs, n_outputs, 3, padding=dilation, dilation=dilation
        )
        self.net = nn.Sequential(self.conv1, nn.ReLU(), self.conv2, nn.ReLU())
        self.downsample = (
            nn.Conv1d(n_inputs, n_outputs, 1) if n_inputs != n_outputs else None
        )

    def forward(self, x):
        out = self.net(x)
        res = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + res)


class TemporalConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.network = nn.Sequential(
            TemporalBlock(3, 8, 1), TemporalBlock(8, 8, 2), TemporalBlock(8, 8, 4)
        )

    def forward(self, x):
        return self.network(x)


def test_a_block_with_and_without_its_optional_layer_is_one_function():
    """One ``temporal_block`` testing ``has_downsample``, not two near-copies.

    Every layer the block holds is read on the path with ``downsample``,
    though its convolutions are read as ``net``'s members, not under their
    own names: a layer registered twice is read when either name is.
    """
    inputs = (torch.randn(2, 3, 10),)
    with nnconvert.record_constructors():
        model = TemporalConvNet()
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    conversion.check()
    conversion.check(train=True)
    functions = [
        n.name
        for n in ast.parse(conversion.source).body
        if isinstance(n, ast.FunctionDef) and n.name.startswith("temporal_block")
    ]
    assert functions == ["temporal_block"]
    assert "if has_downsample:" in conversion.source
    assert "(True, False, False)" in conversion.source


class ChannelsLayerNorm(nn.Module):
    """ConvNeXt's ``LayerNorm``: an ``if`` and an ``elif`` on a string setting."""

    def __init__(self, dim, data_format="channels_last"):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.data_format = data_format
        self.normalized_shape = (dim,)

    def forward(self, x):
        if self.data_format == "channels_last":
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias)
        elif self.data_format == "channels_first":
            u = x.mean(1, keepdim=True)
            s = (x - u).pow(2).mean(1, keepdim=True)
            x = (x - u) / torch.sqrt(s + 1e-6)
            return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNeXtStem(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 2, stride=2)
        self.norm_first = ChannelsLayerNorm(8, data_format="channels_first")
        self.norm_last = ChannelsLayerNorm(8)

    def forward(self, x):
        x = self.norm_first(self.stem(x))
        return self.norm_last(x.permute(0, 2, 3, 1))


def test_an_if_and_its_elif_on_one_setting_are_one_function():
    """Both tests tell the instances apart; the ``if`` (the first) is the one
    written: ``if data_format == "channels_last":``, a ``str`` keyword."""
    inputs = (torch.randn(2, 3, 8, 8),)
    with nnconvert.record_constructors():
        model = ConvNeXtStem()
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    conversion.check()
    conversion.check(train=True)
    source = conversion.source
    functions = [
        n.name
        for n in ast.parse(source).body
        if isinstance(n, ast.FunctionDef) and n.name.startswith("channels_layer_norm")
    ]
    assert functions == ["channels_layer_norm"]
    assert 'if data_format == "channels_last":' in source
    assert "data_format: str" in source
    again = nnconvert.convert(
        load_output(conversion, "ConvNeXtStem"), Style.FUNCTIONAL, inputs
    )
    assert again.source == source


class Shifting(nn.Module):
    """Swin's window attention: a shifted block moves its input first, its result last."""

    def __init__(self, width, shifted):
        super().__init__()
        self.shifted = shifted
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        if self.shifted:
            x = torch.roll(x, 1, 1)
        b, n, d = x.shape
        y = self.fc(x).view(b, n, 2, d // 2).softmax(dim=-1)
        y = y.reshape(b, n, d)
        if self.shifted:
            y = torch.roll(y, -1, 1)
        return y


class Shifts(nn.Module):
    def __init__(self):
        super().__init__()
        self.plain = Shifting(8, False)
        self.shifted = Shifting(8, True)

    def forward(self, x):
        return self.shifted(self.plain(x))


@pytest.mark.printed_from_trace
@pytest.mark.parametrize("style", [Style.FUNCTIONAL, Style.MODULE, Style.MIXED])
def test_a_flag_that_moves_the_input_first_and_the_result_last_shares_the_rest(style):
    """Each trace's body over another input: one body, the two moves under their ``if``s.

    The shifted trace ends ``roll(y)``, the other ``y``; before, the merge
    chose between the two results whole, and the block's function held its
    body twice, once per branch (berniwal's Swin: ``h`` and ``h_2`` for one
    ``heads``, ``getitem2`` for ``b``). ``merge._Merger._wrapped``.
    """
    inputs = (torch.randn(2, 4, 8),)
    with nnconvert.record_constructors():
        model = Shifts().eval()
    conversion = converted(model, inputs, style)
    source = conversion.source
    assert (
        source.count("if shifted:" if style is Style.FUNCTIONAL else "if self.shifted:")
        == 2
    )
    assert source.count("b, n, d = x.shape") == 1
    assert source.count(".reshape(b, n, d)") == 1
    assert "getitem" not in source
    if style is Style.FUNCTIONAL:
        assert [n for n in functions(source) if n.startswith("shifting")] == [
            "shifting",
            "shifting_params",
        ]
        assert keywords(functions(source)["shifting"]) == ["shifted"]
    assert_own_style_round_trip(conversion)


class HeadsShifting(Shifting):
    """Swin's own line: ``b, n_h, n_w, _, h = *x.shape, self.heads`` guards the rank."""

    def forward(self, x):
        if self.shifted:
            x = torch.roll(x, 1, 1)
        b, n, d, h = *x.shape, 2
        y = self.fc(x).view(b, n, h, d // h).softmax(dim=-1)
        y = y.reshape(b, n, d)
        if self.shifted:
            y = torch.roll(y, -1, 1)
        return y


class HeadsShifts(nn.Module):
    def __init__(self):
        super().__init__()
        self.plain = HeadsShifting(8, False)
        self.shifted = HeadsShifting(8, True)

    def forward(self, x):
        return self.shifted(self.plain(x))


@pytest.mark.printed_from_trace
def test_a_guard_on_the_moved_input_is_written_once_when_read_back():
    """Read back, each trace guards its own ``x``: the shifted one ``roll(x)``.

    The merge joins the two ``x`` for the lines after the ``if``; the
    guard reads the joined ``x`` too, once after the ``if``, as the first
    conversion wrote it. Before, the read-back wrote it in both branches
    and Swin's functional round trip differed
    (``merge._Merger._joined_twin``).
    """
    inputs = (torch.randn(2, 4, 8),)
    with nnconvert.record_constructors():
        model = HeadsShifts().eval()
    conversion = converted(model, inputs, Style.FUNCTIONAL)
    assert conversion.source.count("if len(x.shape) != 3:") == 1
    assert "    else:" not in conversion.source
    assert_own_style_round_trip(conversion)
