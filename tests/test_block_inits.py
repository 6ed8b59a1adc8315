"""``init_params()`` writes one init function per block, called once per instance.

A ResNet-like model whose blocks differ in width, some with a projection
shortcut: functional style defines ``block_params(prefix, in_planes,
planes, has_shortcut=False)`` once, named after the block's ``__init__``,
and ``init_params()`` calls it per block. The draws are the ones the layers
make, in their order: ``init_params()`` still equals a newly built model's
``state_dict()``, bit for bit. Read back, the calls say what each block
was built with, so functional -> functional prints the same names.
"""

from __future__ import annotations

import ast

import torch
from torch import nn

import nnconvert
from nnconvert.functional.source import load_source
from nnconvert.printer.init_loops import Statement, fold_loops

from .helpers import load_output


class Block(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
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
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.layers = nn.Sequential(
            Block(8, 8), Block(8, 16, 2), Block(16, 16), Block(16, 32, 2), Block(32, 32)
        )
        self.linear = nn.Linear(32, 10)

    def forward(self, x):
        out = self.layers(self.conv1(x))
        return self.linear(out.mean((2, 3)))


def image():
    return (torch.randn(2, 3, 8, 8),)


def built() -> Net:
    """A fresh ``Net`` whose blocks remember their constructor arguments."""
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        return Net().eval()


def functional() -> nnconvert.Conversion:
    conversion = nnconvert.convert(built(), "functional", image())
    conversion.check(train=True)
    return conversion


def definitions(source: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(source)
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_blocks_of_different_widths_share_one_init_function():
    source = functional().source
    defined = definitions(source)
    init = defined["block_params"]
    assert [a.arg for a in init.args.args] == [
        "prefix",
        "in_planes",
        "planes",
        "has_shortcut",
    ]
    body = ast.unparse(init)
    # a size equal to another in every block is that parameter; a size
    # every block shares (the kernel) stays a literal
    assert "kaiming_params(f'{prefix}.conv2', planes, planes, 3, 3, bias=False)" in body
    assert "if has_shortcut:" in body
    calls = ast.unparse(defined["init_params"])
    assert calls.count("block_params(") == 5
    assert "block_params('layers.1', 8, 16, has_shortcut=True)" in calls
    assert "block_params('layers.2', 16, 16)" in calls
    assert "'layers." not in calls.replace("block_params('layers.", "")


def test_init_params_with_block_functions_equals_a_fresh_model():
    source = functional().source
    assert "params |= block_params(" in source  # what is checked: the calls
    init_params = load_source(source)["init_params"]
    torch.manual_seed(0)
    expected = Net().state_dict()
    torch.manual_seed(0)
    made = init_params()
    assert list(made) == list(expected)
    for key, tensor in expected.items():
        assert made[key].dtype == tensor.dtype
        assert torch.equal(made[key], tensor), key


def test_block_sizes_keep_their_names_read_back():
    conversion = functional()
    again = nnconvert.convert(load_output(conversion), "functional", image())
    assert again.source == conversion.source
    module = nnconvert.convert(load_output(conversion), "module", image())
    assert "def __init__(self, in_planes, planes" in module.source


def test_a_loop_inside_an_init_function_keeps_its_prefix():
    statements = [
        Statement(("params |= norm_params(", ", ", ")"), (f"{n}.norm", 8))
        for n in range(3)
    ]
    assert fold_loops(statements, within="prefix") == [
        "for i in range(3):",
        '    params |= norm_params(f"{prefix}.{i}.norm", 8)',
    ]


class ConvBlock(nn.Module):
    """Its ``__init__`` names its sizes like a layer's arguments, in an order of its own."""

    def __init__(self, kernel_size, in_channels, out_channels):
        super().__init__()
        padding = kernel_size // 2
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, 1, padding)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size, 1, padding)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))


class ConvStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(
            ConvBlock(3, 3, 8),
            ConvBlock(5, 8, 16),
            ConvBlock(3, 16, 16),
            ConvBlock(5, 16, 32),
            ConvBlock(3, 32, 32),
        )

    def forward(self, x):
        return self.blocks(x)


def test_sizes_named_like_layer_arguments_keep_the_users_order_read_back():
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        model = ConvStack().eval()
    first = nnconvert.convert(model, "functional", image())
    init = definitions(first.source)["conv_block_params"]
    assert [a.arg for a in init.args.args] == [
        "prefix",
        "kernel_size",
        "in_channels",
        "out_channels",
    ]
    again = nnconvert.convert(load_output(first), "functional", image())
    assert again.source == first.source


class Projection(nn.Module):
    def __init__(self, in_planes, planes):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn = nn.BatchNorm2d(planes)

    def forward(self, x):
        return self.bn(self.conv(x))


class Unit(nn.Module):
    """A block whose optional shortcut is a block of its own."""

    def __init__(self, in_planes, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if in_planes != planes:
            self.shortcut = Projection(in_planes, planes)

    def forward(self, x):
        return torch.relu(self.bn1(self.conv1(x))) + self.shortcut(x)


class Units(nn.Module):
    def __init__(self):
        super().__init__()
        widths = [3, 8, 8, 16, 16, 32, 32, 64]
        self.a_rather_long_stage_name = nn.Sequential(
            *(Unit(a, b) for a, b in zip(widths, widths[1:]))
        )

    def forward(self, x):
        return self.a_rather_long_stage_name(x)


def test_an_init_function_called_from_one_place_only_is_written_there():
    """``projection_params`` paid for itself until ``unit_params`` took its calls in."""
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        model = Units().eval()
    conversion = nnconvert.convert(model, "functional", image())
    conversion.check(train=True)
    defined = definitions(conversion.source)
    assert "projection_params" not in defined
    assert "f'{prefix}.shortcut.conv'" in ast.unparse(defined["unit_params"])


class Attention(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        return self.to_out((q @ k.transpose(-1, -2)).softmax(-1) @ v)


class Attentions(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Attention()
        self.second = Attention()

    def forward(self, x):
        return self.second(self.first(x))


def test_a_block_takes_the_name_of_a_layer_function_the_file_has_no_use_for():
    """``attention_params`` is ``nn.MultiheadAttention``'s only in a model that holds one."""
    torch.manual_seed(0)
    conversion = nnconvert.convert(
        Attentions().eval(), "functional", (torch.randn(2, 5, 8),)
    )
    conversion.check(train=True)
    defined = definitions(conversion.source)
    assert "attention_params" in defined and "attention_params_2" not in defined


class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(x)))


class Stem(nn.Module):
    """UNet's ``inc``: the first block's input channels are the root's ``in_channels``."""

    def __init__(self, in_channels=3, num_classes=10):
        super().__init__()
        self.inc = DoubleConv(in_channels, 8)
        self.down1 = DoubleConv(8, 16)
        self.mid1 = DoubleConv(16, 16)
        self.down2 = DoubleConv(16, 32)
        self.mid2 = DoubleConv(32, 32)
        self.down3 = DoubleConv(32, 64)
        self.mid3 = DoubleConv(64, 64)
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.mid1(self.down1(self.inc(x)))
        x = self.mid2(self.down2(x))
        x = self.mid3(self.down3(x))
        return self.linear(x.mean((2, 3)))


def test_a_block_sized_by_a_root_parameter_keeps_its_statements_beside_the_calls():
    """``inc`` writes ``in_channels``; the other blocks still share ``double_conv_params``."""
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        model = Stem().eval()
    conversion = nnconvert.convert(model, "functional", image())
    conversion.check(train=True)
    defined = definitions(conversion.source)
    calls = ast.unparse(defined["init_params"])
    assert [a.arg for a in defined["init_params"].args.args] == [
        "in_channels",
        "num_classes",
    ]
    assert calls.count("double_conv_params(") == 6
    assert "kaiming_params('inc.conv1', 8, in_channels, 3, 3" in calls
    torch.manual_seed(0)
    expected = Stem().state_dict()
    torch.manual_seed(0)
    made = load_source(conversion.source)["init_params"]()
    assert list(made) == list(expected)
    assert all(torch.equal(made[key], expected[key]) for key in expected)
    again = nnconvert.convert(load_output(conversion), "functional", image())
    assert again.source == conversion.source
