"""Mixed style keeps the source's methods and rewrites its parameter-free layer calls.

:mod:`nnconvert.calls_rewritten`: a branch one trace does not take, its
comments and the attribute it tests stay, and the calls in it are rewritten
too; the rewritten class, built down the other branch, computes what the
original built so does.
"""

from __future__ import annotations

import ast

import torch
from torch import nn

import nnconvert
from nnconvert import loading
from nnconvert.options import Style

from .helpers import assert_builds_alike, source_classes, write

BRANCHED = """
import torch
from torch import nn
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, p=0.1, fast=True):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.GELU()
        self.drop = nn.Dropout(p)
        self.fast = fast

    def forward(self, x):
        # the comment stays by its line
        x = self.fc(x)
        if self.fast:
            return self.drop(self.act(x))
        return self.act(self.drop(x)) * 2
    HELPER


def example_inputs():
    return (torch.randn(3, 4),)
"""


def _converted(tmp_path, text: str) -> nnconvert.Conversion:
    loaded = loading.load_file(write(tmp_path, "model.py", text))
    conversion = nnconvert.convert(loaded.model, Style.MIXED, loaded.example_inputs)
    conversion.check(train=True)
    return conversion


def test_a_branch_the_trace_does_not_take_is_kept_with_its_calls_rewritten(tmp_path):
    conversion = _converted(tmp_path, BRANCHED.replace("HELPER", ""))
    source = conversion.source
    assert conversion.as_written
    assert "if self.fast:" in source and "# the comment stays by its line" in source
    assert "nn.GELU" not in source and "nn.Dropout" not in source
    assert "self.p = p" in source
    forward = ast.unparse(
        next(
            n
            for n in ast.walk(ast.parse(source))
            if getattr(n, "name", "") == "forward"
        )
    )
    assert "F.dropout(F.gelu(x), p=self.p, training=self.training)" in forward
    assert "F.gelu(F.dropout(x, p=self.p, training=self.training)) * 2" in forward
    # the branch the trace never ran, built and run: as the original's
    builds = [{"p": p, "fast": False} for p in (0.0, 1.0)]
    original = BRANCHED.replace("HELPER", "")
    assert_builds_alike(original, source, "Net", builds, torch.randn(5, 4))


def test_a_helper_method_calling_the_layer_is_rewritten_too(tmp_path):
    """``activate`` is no method the trace runs: its call is rewritten all the same."""
    helper = "\n    def activate(self, x):\n        return self.act(x)\n"
    conversion = _converted(tmp_path, BRANCHED.replace("HELPER", helper))
    assert conversion.as_written
    assert "def activate(self, x):\n        return F.gelu(x)" in conversion.source


def test_a_layer_passed_on_is_not_rewritten(tmp_path):
    """``self.twice(self.act, x)`` hands the layer on: no call to rewrite it in."""
    helper = "\n    def twice(self, f, x):\n        return f(f(x))\n"
    text = BRANCHED.replace("HELPER", helper).replace(
        "return self.drop(self.act(x))", "return self.drop(self.twice(self.act, x))"
    )
    conversion = _converted(tmp_path, text)
    assert "self.twice(self.act" not in conversion.source or "nn.GELU" in (
        conversion.source
    )


def test_a_line_with_other_than_ascii_text_is_rewritten_where_its_call_is(tmp_path):
    """``ast`` columns count UTF-8 bytes: ``é`` before the call must not shift it."""
    text = BRANCHED.replace("HELPER", "").replace(
        "            return self.drop(self.act(x))",
        '            return self.drop(self.act(x)) if "é" else x  # déjà vu',
    )
    conversion = _converted(tmp_path, text)
    assert conversion.as_written
    assert 'F.dropout(F.gelu(x), p=self.p, training=self.training) if "é" else x' in (
        conversion.source
    )
    assert "# déjà vu" in conversion.source


def test_a_layer_built_in_a_branch_is_not_rewritten(tmp_path):
    """``self.act`` is an ``nn.GELU`` or an ``nn.ReLU``: no one statement builds it."""
    text = BRANCHED.replace("HELPER", "").replace(
        "        self.act = nn.GELU()\n",
        "        if fast:\n            self.act = nn.GELU()\n"
        "        else:\n            self.act = nn.ReLU()\n",
    )
    conversion = _converted(tmp_path, text)
    assert "if self.fast:" not in conversion.source  # printed from the trace


def test_instances_whose_calls_differ_are_not_rewritten(tmp_path):
    """Two blocks' ``nn.LeakyReLU(slope, inplace=False)``: two literals, no setting."""
    text = """
import torch
from torch import nn
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, slope):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.LeakyReLU(slope, inplace=False)

    def forward(self, x):
        return self.act(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block(0.1)
        self.b = Block(0.2)

    def forward(self, x):
        return self.b(self.a(x))


def example_inputs():
    return (torch.randn(3, 4),)
"""
    conversion = _converted(tmp_path, text)
    assert "0.1" in conversion.source and "0.2" in conversion.source


MODULE_DICT = """
import torch
from torch import nn
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, p=0.1):
        super().__init__()
        self.parts = nn.ModuleDict(
            ENTRIES
        )

    def forward(self, x):
        x = self.parts.fc(x)
        return self.parts["act"](self.parts.drop(x))


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_key_of_a_module_dict_is_rewritten_and_its_setting_set_after_it(tmp_path):
    """nanoGPT's ``self.transformer.drop``: the key goes, the class holds the rate."""
    for entries in (
        "dict(fc=nn.Linear(4, 4), drop=nn.Dropout(p), act=nn.Tanh())",
        '{"fc": nn.Linear(4, 4), "drop": nn.Dropout(p), "act": nn.Tanh()}',
    ):
        conversion = _converted(tmp_path, MODULE_DICT.replace("ENTRIES", entries))
        source = conversion.source
        assert conversion.as_written
        assert "nn.Dropout" not in source and "nn.Tanh" not in source
        assert "self.p = p" in source
        assert (
            "F.tanh(F.dropout(x, p=self.p, training=self.training))" in source
            or "torch.tanh(F.dropout(x, p=self.p, training=self.training))" in source
        )
        net = source_classes(source)["Net"](p=1.0).train()
        assert torch.equal(net(torch.randn(3, 4)), torch.zeros(3, 4))


CHOSEN_ACTIVATION = """
import torch
from torch import nn
import torch.nn as nn


class Mlp(nn.Module):
    def __init__(self, act_layer=nn.GELU, drop=0.1):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = act_layer()
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.act(self.fc(x)))


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_layer_a_constructor_parameter_chooses_stays_a_layer(tmp_path):
    """DINO's ``self.act = act_layer()``: no function call honours another choice.

    ``F.gelu`` would fix this build's; the layer stays as written, the
    other calls are rewritten, and built with ``act_layer=nn.ReLU`` the
    output computes what the original does.
    """
    conversion = _converted(tmp_path, CHOSEN_ACTIVATION)
    source = conversion.source
    assert conversion.as_written
    assert "self.act = act_layer()" in source and "self.act(" in source
    assert "nn.Dropout" not in source and "F.dropout(" in source
    assert "F.gelu" not in source
    builds = [{"act_layer": nn.ReLU, "drop": 0.5}, {}]
    assert_builds_alike(CHOSEN_ACTIVATION, source, "Mlp", builds, torch.randn(5, 4))


HEADED = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        # layers
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(4, 4)
        # Non-linearities
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.drop(x)
        return self.relu(self.fc(x))


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_comment_heading_a_layer_that_goes_is_said_where_it_is_first_called(tmp_path):
    """Fast neural style's ``# Non-linearities``: it would head nothing in ``__init__``.

    A comment heading the statement and others after it (``# layers``)
    stays: the statements after it are still there.
    """
    conversion = _converted(tmp_path, HEADED)
    source = conversion.source
    assert conversion.as_written
    init, forward = source.split("def forward")
    assert "# layers\n        self.fc = nn.Linear(4, 4)" in init
    assert "Non-linearities" not in init
    assert "        # Non-linearities\n        return F.relu(self.fc(x))" in forward
    again = nnconvert.convert(conversion.load(), Style.MIXED, (torch.randn(3, 4),))
    assert again.source == source


CHOSEN_POOL = """
import torch
import torch.nn as nn


class Down(nn.Module):
    def __init__(self, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.pool(self.relu(self.conv(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.down1 = Down(1)
        self.down2 = Down(2)

    def forward(self, x):
        return self.down2(self.down1(x))


def example_inputs():
    return (torch.randn(2, 2, 8, 8),)
"""


def test_a_layer_whose_instances_a_parameter_makes_differ_stays_a_layer(tmp_path):
    """CLIP's ``nn.AvgPool2d(stride) if stride > 1 else nn.Identity()``.

    No one call stands for both instances; the layer stays as written and
    the class's other calls are rewritten.
    """
    conversion = _converted(tmp_path, CHOSEN_POOL)
    source = conversion.source
    assert conversion.as_written
    assert "self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()" in source
    assert "return self.pool(F.relu(self.conv(x)))" in source
    builds = [{"stride": 3}, {}]
    x = torch.randn(2, 2, 9, 9)
    assert_builds_alike(CHOSEN_POOL, source, "Down", builds, x)
