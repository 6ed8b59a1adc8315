"""Module style keeps the source's methods and writes its functional calls as layers.

:mod:`nnconvert.calls_as_layers`: where the printed methods would lose a
branch the trace does not take, the source stays as written, each call
module style makes a layer of becomes that layer's call, and the layer is
built in ``__init__`` from what the call passed (``self.p`` stays a read
of ``self.p``). The rewritten class, built down the other branch, computes
what the original built so does.
"""

from __future__ import annotations

import ast

import torch

import nnconvert
from nnconvert import loading
from nnconvert.options import Style

from .helpers import assert_builds_alike, write
from .test_construction_kept import OPTIONAL

BRANCHED = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, p=0.1, fast=True):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.p = p
        self.fast = fast
        self.reset()

    def reset(self):
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        # the comment stays by its line
        x = self.fc(x)
        if self.fast:
            return F.dropout(F.gelu(x), self.p, training=self.training)
        return F.gelu(x) * 2
    HELPER


def example_inputs():
    return (torch.randn(3, 4),)
"""


def _converted(tmp_path, text: str) -> nnconvert.Conversion:
    loaded = loading.load_file(write(tmp_path, "model.py", text))
    conversion = nnconvert.convert(loaded.model, Style.MODULE, loaded.example_inputs)
    conversion.check(train=True)
    return conversion


def _method(source: str, name: str) -> str:
    return ast.unparse(
        next(n for n in ast.walk(ast.parse(source)) if getattr(n, "name", "") == name)
    )


def test_calls_become_layers_and_the_branch_the_trace_does_not_take_stays(tmp_path):
    conversion = _converted(tmp_path, BRANCHED.replace("HELPER", ""))
    source = conversion.source
    assert conversion.as_written
    assert "if self.fast:" in source and "# the comment stays by its line" in source
    init = _method(source, "__init__")
    # built after the last statement setting an attribute, before ``self.reset()``
    assert init.index("self.fast = fast") < init.index("self.dropout = nn.Dropout")
    assert init.index("nn.GELU()") < init.index("self.reset()")
    assert "self.dropout = nn.Dropout(self.p)" in init  # the attribute, not 0.1
    # right after the layer its input comes from, as the printer places it
    assert "self.fc = nn.Linear(4, 4)\n    self.gelu1 = nn.GELU()\n" in init
    forward = _method(source, "forward")
    assert "return self.dropout(self.gelu1(x))" in forward
    # the untaken branch's call: the layer that makes exactly that call
    assert "return self.gelu2(x) * 2" in forward
    assert "import torch.nn.functional as F" not in source  # nothing reads it now
    builds = [
        {"p": 0.0, "fast": True},
        {"p": 1.0, "fast": True},
        {"p": 0.5, "fast": False},
    ]
    original = BRANCHED.replace("HELPER", "")
    assert_builds_alike(original, source, "Net", builds, torch.randn(5, 4))


def test_calls_as_layers_come_before_the_printed_methods(tmp_path):
    """A source *Construction kept* could also keep: its ``forward`` stays as written.

    Printed from the trace, ``PreActBlock.forward`` would test
    ``self.shortcut is not None``; the user's ``hasattr`` line, and the
    root's own ``forward``, are what module style keeps.
    """
    conversion = _converted(tmp_path, OPTIONAL)
    source = conversion.source
    assert conversion.as_written
    assert 'shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x' in source
    assert "self.shortcut = None" not in source
    assert "out = self.relu(self.bn1(x))" in source
    assert "return self.gelu(self.blocks(x))" in source
    builds = [{"widths": (4, 4, 8)}, {"widths": (4, 6)}]
    assert_builds_alike(OPTIONAL, source, "Net", builds, torch.randn(5, 4))


#: an activation class with no ``__init__`` of its own, as makemore's ``NewGELU``
WITHOUT_INIT = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class GEGLU(nn.Module):
    \"\"\"Half the features gate the other half.\"\"\"

    def forward(self, x):
        assert x.shape[-1] % 2 == 0, "an even number of features"
        x, gates = x.chunk(2, dim=-1)
        return x * F.gelu(gates)


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)
        self.act = GEGLU()
        self.swish = Swish()

    def forward(self, x):
        return self.swish(self.act(self.fc(x)))


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_class_without_its_own_init_takes_one_building_its_layers(tmp_path):
    conversion = _converted(tmp_path, WITHOUT_INIT)
    source = conversion.source
    assert conversion.as_written
    # after the docstring, before the first method
    assert (
        '"""Half the features gate the other half."""\n\n'
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.gelu = nn.GELU()\n\n"
        "    def forward(self, x):\n"
        '        assert x.shape[-1] % 2 == 0, "an even number of features"\n'
        "        x, gates = x.chunk(2, dim=-1)\n"
        "        return x * self.gelu(gates)\n"
    ) in source
    assert (
        "class Swish(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.sigmoid = nn.Sigmoid()\n\n"
        "    def forward(self, x):\n"
        "        return x * self.sigmoid(x)\n"
    ) in source


def test_a_class_whose_base_builds_it_takes_no_new_init(tmp_path):
    """A new ``__init__`` would not run the base class's (``self.scale``): the source is not rewritten."""
    text = WITHOUT_INIT.replace(
        "class Swish(nn.Module):",
        "class Base(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.scale = 2.0\n\n\n"
        "class Swish(Base):",
    ).replace("x * torch.sigmoid(x)", "x * torch.sigmoid(x) * self.scale")
    conversion = _converted(tmp_path, text)
    assert not conversion.as_written  # printed from the trace, which checks
    assert "class Swish(Base)" not in conversion.source


#: a lambda ``__init__`` stores and ``forward`` calls, as makemore's bag-of-words block
IN_LAMBDA = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(4, 8), c_proj=nn.Linear(8, 4)))
        m = self.mlp
        self.mlpf = lambda x: m.c_proj(F.tanh(m.c_fc(x)))  # MLP forward

    def forward(self, x):
        assert x.dim() == 2
        return x + self.mlpf(x)


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_call_in_a_lambda_init_stores_becomes_a_layer(tmp_path):
    conversion = _converted(tmp_path, IN_LAMBDA)
    source = conversion.source
    assert conversion.as_written
    assert (
        "self.mlpf = lambda x: m.c_proj(self.tanh(m.c_fc(x)))  # MLP forward" in source
    )
    assert "self.tanh = nn.Tanh()" in source
    assert "assert x.dim() == 2" in source  # the source's forward, as written


def test_each_call_has_a_layer_of_its_own_and_a_helper_method_stays(tmp_path):
    """Three calls of ``F.gelu``, numbered in the source's order; one in a helper method."""
    helper = "\n    def activate(self, x):\n        return F.gelu(x)\n"
    text = BRANCHED.replace("HELPER", helper).replace(
        "F.dropout(F.gelu(x), self.p", "F.dropout(self.activate(F.gelu(x)), self.p"
    )
    conversion = _converted(tmp_path, text)
    source = conversion.source
    assert conversion.as_written
    assert "def activate(self, x):\n        return self.gelu3(x)" in source
    assert "self.dropout(self.activate(self.gelu1(x)))" in source
    assert "return self.gelu2(x) * 2" in source
    assert all(f"self.gelu{n} = nn.GELU()" in source for n in (1, 2, 3))


def test_a_flattening_view_becomes_a_flatten_layer(tmp_path):
    """kuangliu's ``out.view(out.size(0), -1)``: ``nn.Flatten()`` for every batch size."""
    text = BRANCHED.replace("HELPER", "").replace(
        "        x = self.fc(x)\n",
        "        x = self.fc(x.view(x.size(0), -1))\n",
    )
    text = text.replace("torch.randn(3, 4)", "torch.randn(3, 2, 2)")
    conversion = _converted(tmp_path, text)
    assert conversion.as_written
    assert "x = self.fc(self.flatten(x))" in conversion.source
    assert "self.flatten = nn.Flatten()" in conversion.source


def test_a_call_whose_argument_is_an_expression_is_not_rewritten(tmp_path):
    """``self.p * 2`` is no attribute a constructor could read: printed from the trace."""
    text = BRANCHED.replace("HELPER", "").replace(
        "self.p, training", "self.p * 2, training"
    )
    conversion = _converted(tmp_path, text)
    assert "if self.fast:" not in conversion.source
    assert "F.dropout" not in conversion.source


def test_a_module_level_function_stays_a_function(tmp_path):
    """``act(x)`` calls ``F.gelu`` outside any class: module style calls ``act`` as written."""
    text = BRANCHED.replace("HELPER", "").replace(
        "F.dropout(F.gelu(x)", "F.dropout(act(x)"
    )
    text = text.replace(
        "\n\nclass Net", "\n\ndef act(x):\n    return F.gelu(x)\n\n\nclass Net"
    )
    conversion = _converted(tmp_path, text)
    assert conversion.as_written
    assert "def act(x):\n    return F.gelu(x)" in conversion.source
    assert "return self.dropout(act(x))" in conversion.source


def test_instances_that_call_differently_are_not_rewritten(tmp_path):
    """One block takes the fast branch and one does not: each made other layers."""
    text = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, fast):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.fast = fast

    def forward(self, x):
        if self.fast:
            return F.relu(self.fc(x))
        return torch.tanh(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block(True)
        self.b = Block(False)

    def forward(self, x):
        return self.b(self.a(x))


def example_inputs():
    return (torch.randn(3, 4),)
"""
    conversion = _converted(tmp_path, text)
    assert not conversion.as_written or "self.fast" not in conversion.source


def test_an_untraced_call_no_layer_makes_exactly_stays_a_function(tmp_path):
    """``F.dropout(x, 0.5)`` drops in eval mode too; ``slope`` is a local: both stay."""
    text = BRANCHED.replace("HELPER", "").replace(
        "        return F.gelu(x) * 2\n",
        "        slope = 0.1\n"
        "        x = F.leaky_relu(x, slope) + F.leaky_relu(x, 0.2)\n"
        "        return F.dropout(x, 0.5) * 2\n",
    )
    conversion = _converted(tmp_path, text)
    source = conversion.source
    assert conversion.as_written
    forward = _method(source, "forward")
    assert "F.leaky_relu(x, slope) + self.act(x)" in forward  # the spec's stem
    assert "self.act = nn.LeakyReLU(0.2)" in source
    assert "return F.dropout(x, 0.5) * 2" in forward


CHOSEN_FUNCTION = """
import torch
import torch.nn as nn
import torch.nn.functional as F


def _get_activation_fn(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}.")


class FeedForward(nn.Module):
    def __init__(self, activation="relu", p=0.1):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.activation = _get_activation_fn(activation)
        self.p = p

    def forward(self, x):
        x = self.activation(self.linear(x))
        return F.dropout(x, self.p, training=self.training)


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_function_a_constructor_parameter_chose_stays_a_call(tmp_path):
    """DETR's ``self.activation = _get_activation_fn(activation)``.

    ``nn.ReLU`` in its place would hold this build's choice; the call stays
    as written, the other calls become layers, and built with
    ``activation="gelu"`` the output computes what the original does.
    """
    conversion = _converted(tmp_path, CHOSEN_FUNCTION)
    source = conversion.source
    assert conversion.as_written
    assert "self.activation = _get_activation_fn(activation)" in source
    assert "self.activation(self.linear(x))" in source
    assert "nn.ReLU" not in source and "nn.Dropout(self.p)" in source
    builds = [{"activation": "gelu", "p": 0.5}, {}]
    assert_builds_alike(
        CHOSEN_FUNCTION, source, "FeedForward", builds, torch.randn(5, 4)
    )


#: denoising-diffusion's ``Attend``: ``__init__`` returns early unless on CUDA
RETURNS_EARLY = """
import torch
import torch.nn as nn


class Attend(nn.Module):
    def __init__(self, dim=4, flash=False):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.flash = flash
        if not flash:
            return
        self.flash_proj = nn.Linear(dim, dim)

    def forward(self, x):
        if self.flash:
            x = self.flash_proj(x)
        return self.proj(x).softmax(dim=-1)


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_layers_are_built_before_an_early_return(tmp_path):
    conversion = _converted(tmp_path, RETURNS_EARLY)
    assert conversion.as_written
    init = _method(conversion.source, "__init__")
    # after the layer its input comes from, which every build passes
    assert (
        "self.proj = nn.Linear(dim, dim)\n    self.softmax = nn.Softmax(dim=-1)\n"
        in init
    )
    assert init.index("nn.Softmax(dim=-1)") < init.index("return")
    assert "return self.softmax(self.proj(x))" in conversion.source
    builds = [{"flash": False}, {"flash": True}]
    assert_builds_alike(
        RETURNS_EARLY, conversion.source, "Attend", builds, torch.randn(5, 4)
    )
