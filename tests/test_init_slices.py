"""A tensor ``__init__`` computes from literals is written as the user's statements.

A non-persistent buffer or a plain tensor attribute is not in the
``state_dict``, so the output must build it. When ``__init__``'s source
computes it from literals with ``torch`` (Swin's relative position index, a
sinusoidal table), class styles write those statements, with their
comments, where the attribute is defined (:mod:`nnconvert.init_slices`),
not the tensor's bytes. Code whose value the literals do not fix (random
numbers, numpy, a method, a module) keeps the bytes; so does code that does
not reproduce the tensor bit for bit. Every conversion here is checked side
by side in eval and train mode.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nnconvert.init_slices import filled, recover_tensor
from nnconvert.options import Style
from nnconvert.tensor_values import same_bits

from .helpers import run, write
from .test_source_map import assert_before, converted, forward_text

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

CLASS_STYLES = [Style.MODULE, Style.MIXED]


class SwinLike(nn.Module):
    """Window attention's relative position index, as timm computes it."""

    def __init__(self, dim=8, window_size=(3, 4)):
        super().__init__()
        self.window_size = window_size  # Wh, Ww
        # get pair-wise relative position index for each token inside the window
        coords_h = torch.arange(self.window_size[0])
        coords_w = torch.arange(self.window_size[1])
        coords = torch.stack(torch.meshgrid([coords_h, coords_w], indexing="ij"))
        coords_flatten = torch.flatten(coords, 1)  # 2, Wh*Ww
        relative = coords_flatten[:, :, None] - coords_flatten[:, None, :]
        relative = relative.permute(1, 2, 0).contiguous()
        relative[:, :, 0] += self.window_size[0] - 1  # shift to start from 0
        relative[:, :, 1] += window_size[1] - 1
        relative[:, :, 0] *= 2 * self.window_size[1] - 1
        index = relative.sum(-1)  # Wh*Ww, Wh*Ww
        self.register_buffer("index", index, persistent=False)
        size = (2 * window_size[0] - 1) * (2 * window_size[1] - 1)
        self.table = nn.Parameter(torch.randn(size, 1))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n = self.window_size[0] * self.window_size[1]
        bias = self.table[self.index.view(-1)].view(n, n)
        return self.proj(torch.softmax(x @ x.transpose(-2, -1) + bias, -1) @ x)


class Sinusoids(nn.Module):
    """A sinusoidal position table, a plain tensor attribute built with torch."""

    def __init__(self, length=12, channels=6):
        super().__init__()
        position = torch.arange(length, dtype=torch.float).unsqueeze(1)
        scale = torch.exp(
            torch.arange(0, channels, 2).float() * (-math.log(1e4) / channels)
        )
        table = torch.zeros(length, channels)
        table[:, 0::2] = torch.sin(position * scale)  # even channels
        table[:, 1::2] = torch.cos(position * scale)
        self.table = table
        self.fc = nn.Linear(channels, channels)

    def forward(self, x):
        return self.fc(x + self.table)


class Random(nn.Module):
    def __init__(self):
        super().__init__()
        noise = torch.randn(30, 4)
        noise = noise * 2
        self.register_buffer("noise", noise, persistent=False)

    def forward(self, x):
        return x + self.noise[: x.size(1)]


class FromNumpy(nn.Module):
    def __init__(self):
        super().__init__()
        mask = torch.empty(30, 4).fill_(-np.inf).triu_(1)
        mask = mask.abs()
        self.register_buffer("noise", mask, persistent=False)

    def forward(self, x):
        return x + self.noise[: x.size(1)]


class FromMethod(nn.Module):
    def __init__(self):
        super().__init__()
        ramp = self.ramp()
        ramp = ramp + 1
        self.register_buffer("noise", ramp, persistent=False)

    def ramp(self):
        return torch.arange(120.0).view(30, 4)

    def forward(self, x):
        return x + self.noise[: x.size(1)]


class FromModule(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.Linear(4, 4)
        weight = layer.weight.detach().repeat(8, 1)
        self.register_buffer("noise", weight, persistent=False)

    def forward(self, x):
        return x + self.noise[: x.size(1)]


class ChangedAfterwards(nn.Module):
    """The statements run, then the tensor is changed: the slice does not say so."""

    def __init__(self):
        super().__init__()
        ramp = torch.arange(120.0).view(30, 4)
        ramp = ramp * 2
        self.register_buffer("noise", ramp, persistent=False)
        self.noise[0, 0] = 7.0

    def forward(self, x):
        return x + self.noise[: x.size(1)]


class TwoWindows(nn.Module):
    """One class, two window sizes: the class takes the size as a parameter."""

    def __init__(self):
        super().__init__()
        self.first = SwinLike(8, (4, 4))
        self.second = SwinLike(8, (2, 2))
        self.pool = nn.AdaptiveAvgPool1d(4)

    def forward(self, x):
        x = self.first(x)
        x = self.pool(x.transpose(1, 2)).transpose(1, 2)
        return self.second(x)


def test_the_swin_index_is_recovered_and_equal():
    model = SwinLike()
    code = recover_tensor(model, "index")
    assert code is not None
    assert code.sources == ("window_size",) and code.values == ((3, 4),)
    lines = code.lines(["(3, 4)"])
    assert (
        lines[0]
        == "# get pair-wise relative position index for each token inside the window"
    )
    assert "coords_h = torch.arange(3)" in lines
    assert "relative[:, :, 0] += 3 - 1  # shift to start from 0" in lines
    namespace = {"torch": torch}
    exec("\n".join(lines) + f"\nresult = {code.value_text(['(3, 4)'])}", namespace)
    assert same_bits(namespace["result"], model.index)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=str)
def test_class_styles_write_the_swin_statements(style):
    source = converted(SwinLike().eval(), style, torch.randn(2, 12, 8))
    assert "unpack_tensor" not in source and "base64" not in source
    assert "coords_w = torch.arange(4)" in source
    assert "coords_flatten = torch.flatten(coords, 1)  # 2, Wh*Ww" in source
    assert source.count("# shift to start from 0") == 1
    assert 'self.register_buffer("index", index, persistent=False)' in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=str)
def test_a_sinusoid_table_built_with_torch_is_recovered(style):
    model = Sinusoids()
    code = recover_tensor(model, "table")
    assert code is not None and code.values == (12, 6)
    source = converted(model.eval(), style, torch.randn(2, 12, 6))
    assert "unpack_tensor" not in source
    assert "table[:, 0::2] = torch.sin(position * scale)  # even channels" in source
    assert "math.log(1e4)" in source and "import math" in source  # as written
    assert "self.table = table" in source


@pytest.mark.parametrize(
    "cls", [Random, FromNumpy, FromMethod, FromModule, ChangedAfterwards]
)
def test_code_the_literals_do_not_fix_keeps_the_bytes(cls):
    """Functional style builds what reads numpy (imported as the file does) bit for bit."""
    torch.manual_seed(0)
    model = cls()
    assert recover_tensor(model, "noise") is None
    for style in (Style.MIXED, Style.FUNCTIONAL):
        source = converted(model.eval(), style, torch.randn(2, 5, 4))
        if cls is FromNumpy and style is Style.FUNCTIONAL:
            assert "NOISE = noise()" in source and "import numpy as np" in source
            assert "unpack_tensor(" not in source
        else:
            assert "unpack_tensor(" in source and "NOISE" not in source


def test_instances_with_other_window_sizes_share_a_class_with_a_parameter():
    model = TwoWindows().eval()
    source = converted(model, Style.MIXED, torch.randn(2, 16, 8))
    assert source.count("class SwinLike") == 1
    assert "unpack_tensor" not in source
    assert "torch.arange(window_size[0])" in source
    assert "SwinLike((4, 4)" in source and "SwinLike((2, 2)" in source


@pytest.mark.parametrize("style", ["module", "mixed"])
def test_converting_the_output_again_recovers_the_same_statements(tmp_path, style):
    source = converted(SwinLike().eval(), Style(style), torch.randn(2, 12, 8))
    path = write(tmp_path, "out.py", source)
    again = run("convert", path, "--to", style, "--input-shape", "2,12,8")
    assert again.exit_code == 0, again.output
    assert again.stdout == source


class Bumped(nn.Module):
    """Only some instances change the tensor after the recovered statements."""

    def __init__(self, rows, bump):
        super().__init__()
        self.rows = rows  # a literal attribute: the argument of an unrecorded build
        ramp = torch.arange(rows * 4.0).view(rows, 4)
        ramp = ramp * 2
        self.register_buffer("ramp", ramp, persistent=False)
        if bump:
            self.ramp.add_(1)

    def forward(self, x):
        return x + self.ramp


class TwoBumps(nn.Module):
    def __init__(self):
        super().__init__()
        self.plain = Bumped(5, False)
        self.bumped = Bumped(5, True)

    def forward(self, x):
        return self.bumped(self.plain(x))


def test_a_class_some_of_whose_instances_are_not_recovered_writes_every_value():
    model = TwoBumps().eval()
    assert recover_tensor(model.plain, "ramp") is not None
    assert recover_tensor(model.bumped, "ramp") is None
    source = converted(model, Style.MIXED, torch.randn(2, 5, 4))
    assert source.count("class Bumped") == 1
    assert "torch.arange" not in source


class CommentAboveAnotherLayer(nn.Module):
    def __init__(self):
        super().__init__()
        # a ramp
        ramp = torch.arange(20.0).view(5, 4)
        # the layer
        self.fc = nn.Linear(4, 4)
        ramp = ramp * 2
        self.register_buffer("ramp", ramp, persistent=False)

    def forward(self, x):
        return self.fc(x) + self.ramp


@pytest.mark.parametrize("style", CLASS_STYLES, ids=str)
def test_a_recovered_statement_keeps_its_comment_once(style):
    source = converted(CommentAboveAnotherLayer().eval(), style, torch.randn(2, 5, 4))
    assert source.count("# a ramp") == 1 and source.count("# the layer") == 1
    assert_before(source, "# a ramp", "ramp = torch.arange(20.0)")
    assert_before(source, "# the layer", "self.fc = nn.Linear")


class CommentOnTheFirstStatement(nn.Module):
    def __init__(self, width=4):
        # a ramp, computed before the module is set up
        ramp = torch.arange(5.0 * width).view(5, width)
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.register_buffer("ramp", ramp, persistent=False)

    def forward(self, x):
        return self.fc(x) + self.ramp


@pytest.mark.parametrize("style", CLASS_STYLES, ids=str)
def test_a_comment_above_the_first_statement_of_init_is_kept(style):
    model = CommentOnTheFirstStatement().eval()
    source = converted(model, style, torch.randn(2, 5, 4))
    assert source.count("# a ramp, computed before the module is set up") == 1
    assert_before(source, "# a ramp, computed", "ramp = torch.arange(")


class CausalMask(nn.Module):
    def __init__(self, block_size=8):
        super().__init__()
        # causal mask: attend to the left only
        self.register_buffer(
            "mask",
            torch.tril(torch.ones(block_size, block_size)).view(
                1, block_size, block_size
            ),
            persistent=False,
        )

    def forward(self, x):
        return x.masked_fill(self.mask == 0, 0.0)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=str)
def test_a_tensor_built_in_the_registering_call_itself_is_recovered(style):
    source = converted(CausalMask().eval(), style, torch.randn(2, 8, 8))
    assert "unpack_tensor" not in source
    assert "torch.tril(torch.ones(8, 8)).view(1, 8, 8)" in source
    assert_before(source, "# causal mask: attend to the left only", "torch.tril")


@pytest.mark.parametrize(
    "template, replacements, expected",
    [
        (
            "a = torch.arange(__nnconvert_literal_0__[1])",
            ["(3, 4)"],
            "a = torch.arange(4)",
        ),
        (
            "a = torch.arange(__nnconvert_literal_0__[1])",
            ["size"],
            "a = torch.arange(size[1])",
        ),
        ("a = __nnconvert_literal_0__ ** 2", ["-1"], "a = (-1) ** 2"),
        ("a = x**-0.5 * __nnconvert_literal_0__", ["2"], "a = x**-0.5 * 2"),
        ("a = torch.zeros(__nnconvert_literal_0__)", ["-1"], "a = torch.zeros(-1)"),
    ],
)
def test_placeholders_are_spliced_into_the_text_as_written(
    template, replacements, expected
):
    assert filled(template, replacements) == expected


def test_a_trailing_comment_too_long_for_the_line_goes_above_its_statement():
    code = recover_tensor(SwinLike(), "index")
    assert "coords_flatten = torch.flatten(coords, 1)  # 2, Wh*Ww" in code.lines(
        ["(3, 4)"]
    )
    narrow = code.lines(["(3, 4)"], width=40)
    at = narrow.index("coords_flatten = torch.flatten(coords, 1)")
    assert narrow[at - 1] == "# 2, Wh*Ww"


def test_functional_style_writes_the_swin_statements_as_a_function():
    """A module-level function named after the tensor, and a constant computed at import.

    One instance: its literals in place, as class styles write them, so
    that module -> functional gives what the original -> functional gives.
    """
    source = converted(SwinLike().eval(), Style.FUNCTIONAL, torch.randn(2, 12, 8))
    assert "unpack_tensor" not in source and "base64" not in source
    assert "def index() -> Tensor:" in source
    assert "    coords_h = torch.arange(3)" in source
    assert "    relative[:, :, 0] += 3 - 1  # shift to start from 0" in source
    assert "    return index\n\n\nINDEX = index()\n" in source
    assert "INDEX.view(-1)" in forward_text(source)
    # said once, in the function that builds the tensor, not again in init_params()
    assert source.count("# shift to start from 0") == 1
    assert source.count("# get pair-wise relative position index") == 1


def test_functional_style_writes_the_sinusoid_table_as_written():
    source = converted(Sinusoids().eval(), Style.FUNCTIONAL, torch.randn(2, 12, 6))
    assert "unpack_tensor" not in source
    assert "def table() -> Tensor:" in source
    assert "    table = torch.zeros(12, 6)" in source
    assert "    table[:, 0::2] = torch.sin(position * scale)  # even channels" in source
    assert "math.log(1e4)" in source and "TABLE = table()" in source
    assert "x + TABLE" in forward_text(source)


def test_functional_style_calls_one_function_for_two_window_sizes():
    """The literal that differs between the instances is the function's parameter."""
    source = converted(TwoWindows().eval(), Style.FUNCTIONAL, torch.randn(2, 16, 8))
    assert source.count("def index(") == 1
    assert "def index(window_size=(4, 4)) -> Tensor:" in source
    assert "    coords_h = torch.arange(window_size[0])" in source
    assert "INDEX = index()" in source
    assert "INDEX_2 = index(window_size=(2, 2))" in source
    # the block's __init__ comments on those statements: in the function only
    assert source.count("# shift to start from 0") == 1


def test_a_tensor_one_expression_builds_is_a_constant_of_its_own_in_functional_style():
    """No function for one expression: the constant, under the comments said on it."""
    source = converted(CausalMask().eval(), Style.FUNCTIONAL, torch.randn(2, 8, 8))
    assert (
        "# causal mask: attend to the left only\n"
        "MASK = torch.tril(torch.ones(8, 8)).view(1, 8, 8)\n"
    ) in source
    assert "def mask(" not in source and "MASK == 0" in forward_text(source)


@pytest.mark.parametrize(
    "model, shape, constant",
    [
        (SwinLike(), "2,12,8", "INDEX = index()"),
        (Sinusoids(), "2,12,6", "TABLE = table()"),
        (TwoWindows(), "2,16,8", "INDEX_2 = index(window_size=(2, 2))"),
        (CausalMask(), "2,8,8", "MASK = torch.tril("),
    ],
    ids=["swin", "sinusoids", "two_windows", "causal_mask"],
)
def test_converting_the_functional_output_again_gives_it_byte_for_byte(
    tmp_path, model, shape, constant
):
    """SPEC 5: the file's function and constant are read back as the tensor's build.

    Read into a class style, the constant is written as class styles
    always write a tensor read from a functional file: its value, where read.
    """
    inputs = torch.randn(*map(int, shape.split(",")))
    source = converted(model.eval(), Style.FUNCTIONAL, inputs)
    assert constant in source
    path = write(tmp_path, "out.py", source)
    again = run("convert", path, "--to", "functional", "--input-shape", shape)
    assert again.exit_code == 0, again.output
    assert again.stdout == source
    for style in ("module", "mixed"):
        other = run("convert", path, "--to", style, "--input-shape", shape)
        assert other.exit_code == 0, other.output
        assert "unpack_tensor(" in other.stdout and constant not in other.stdout


HAND_WRITTEN = """
import torch
import torch.nn.functional as F
from torch import Tensor

SCALE = 2


def ramp(n=6) -> Tensor:
    return torch.arange(n * 5.0).view(5, n) * SCALE


def own(n=6) -> Tensor:
    # a plain ramp
    return torch.arange(n * 5.0).view(5, n)


RAMP = ramp()
OWN = own(n=6)


def net(params: dict[str, Tensor], x: Tensor) -> Tensor:
    return F.linear(x, params["fc.weight"], params["fc.bias"]) + RAMP + OWN


def init_params() -> dict[str, Tensor]:
    return {"fc.weight": torch.randn(6, 6), "fc.bias": torch.zeros(6)}
"""


def test_a_hand_written_functional_files_own_constant_is_kept_as_its_function(
    tmp_path,
):
    """``OWN = own(n=6)`` stays the file's function and constant; ``ramp`` reads
    another global (``SCALE``), so it cannot stand alone: ``RAMP`` is its value."""
    path = write(tmp_path, "hand.py", HAND_WRITTEN)
    result = run("convert", path, "--to", "functional", "--input-shape", "2,5,6")
    assert result.exit_code == 0, result.output
    source = result.stdout
    assert "def own(n=6) -> Tensor:\n    # a plain ramp\n" in source
    assert "OWN = own()" in source and "+ OWN" in source
    assert "RAMP" not in source and "SCALE" not in source
