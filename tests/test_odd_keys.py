"""Keys and attribute names that are not Python names convert, escaped, never run.

``nn.ModuleDict`` / ``nn.ParameterDict`` keys and names registered with
``register_parameter`` / ``register_buffer`` / ``add_module`` may be any
string without a dot: keywords (``class``, ``None``), numbers (``"1"``,
``"01"``), quotes, newlines, spaces. Every style writes them as string
literals (``self.heads["class"]``, ``params["heads.class.weight"]``,
``getattr(self, "class")`` where no ``.name`` can say it), keeps the original
``state_dict()`` keys, passes the check and reconverts to itself.
"""

from __future__ import annotations

import ast
import os

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output

KEYS = ["class", "lambda", "None", "1", "01", 'a"b', "a'b", "a\nb", "x y", "-", "ä"]
#: a key that would run code if it were pasted into the output unescaped
HOSTILE = '"](x); open("PWNED", "w"); x = self["'


class Heads(nn.Module):
    """A ``ModuleDict`` called by key."""

    def __init__(self, key: str):
        super().__init__()
        self.heads = nn.ModuleDict({key: nn.Linear(4, 4), "plain": nn.Linear(4, 4)})
        self.key = key

    def forward(self, x):
        return self.heads[self.key](x) + self.heads["plain"](x)


class Scales(nn.Module):
    """A ``ParameterDict`` read by key."""

    def __init__(self, key: str):
        super().__init__()
        self.scales = nn.ParameterDict({key: nn.Parameter(torch.randn(4))})
        self.key = key

    def forward(self, x):
        return x * self.scales[self.key]


class Registered(nn.Module):
    """A parameter, a buffer and a layer registered under names ``self.<name>`` cannot spell."""

    def __init__(self, key: str):
        super().__init__()
        self.register_parameter(key, nn.Parameter(torch.randn(4)))
        self.register_buffer(key + "_b", torch.randn(4))
        self.add_module(key + "_m", nn.Linear(4, 4))
        self.key = key

    def forward(self, x):
        x = x * getattr(self, self.key) + getattr(self, self.key + "_b")
        return getattr(self, self.key + "_m")(x)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.norm = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.norm(self.fc(x)).relu()


class Nested(nn.Module):
    """User blocks and a ``Sequential`` under odd keys of a ``ModuleDict``."""

    def __init__(self, key: str):
        super().__init__()
        self.stages = nn.ModuleDict(
            {key: Block(), "tail": nn.Sequential(nn.Linear(4, 4), nn.Tanh())}
        )
        self.key = key

    def forward(self, x):
        return self.stages["tail"](self.stages[self.key](x))


MODELS = [Heads, Scales, Registered, Nested]
STYLES = list(Style)


def convert(model: nn.Module, style: Style) -> nnconvert.Conversion:
    torch.manual_seed(0)
    return nnconvert.convert(model, style, (torch.randn(3, 4),))


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_odd_names_convert_check_and_keep_their_keys(model_class, key, style):
    model = model_class(key)
    conversion = convert(model, style)
    ast.parse(conversion.source)
    conversion.check(train=True)
    if style is not Style.FUNCTIONAL:
        loaded = conversion.load()
        assert list(loaded.state_dict()) == list(model.state_dict())
    for name in model.state_dict():
        assert repr(name)[1:-1] in conversion.source or style is not Style.FUNCTIONAL


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_odd_names_reconvert_to_themselves(model_class, key, style):
    """Converting an output to its own style reproduces it byte for byte."""
    conversion = convert(model_class(key), style)
    again = nnconvert.convert(load_output(conversion), style, conversion.example_inputs)
    assert again.source == conversion.source


#: (model, key, style) -> a line the output holds
SPELLINGS = [
    (Heads, "class", Style.MODULE, 'self.heads["class"](x)'),
    (Heads, "1", Style.MIXED, 'self.heads["1"](x)'),
    (Heads, "01", Style.MODULE, 'self.heads["01"](x)'),
    (Heads, "class", Style.FUNCTIONAL, 'params["heads.class.weight"]'),
    (Heads, 'a"b', Style.MODULE, "self.heads['a\"b'](x)"),
    (Heads, "a\nb", Style.MIXED, 'self.heads["a\\nb"](x)'),
    (Scales, "None", Style.MIXED, 'self.scales["None"]'),
    (Scales, "1", Style.MODULE, 'self.scales["1"]'),
    (Registered, "class", Style.MODULE, 'self.register_parameter("class", '),
    (Registered, "class", Style.MODULE, 'getattr(self, "class")'),
    (Registered, "1", Style.MIXED, 'self.register_buffer("1_b", torch.empty(4))'),
    (Registered, "1", Style.MIXED, 'self.add_module("1_m", nn.Linear(4, 4))'),
    (Registered, "x y", Style.FUNCTIONAL, 'params["x y_m.weight"]'),
    (Nested, "None", Style.MODULE, 'self.stages["None"](x)'),
    (Nested, "None", Style.FUNCTIONAL, 'sub_params(params, "stages.None.")'),
]


@pytest.mark.parametrize("model_class, key, style, line", SPELLINGS)
def test_names_are_written_as_escaped_python(model_class, key, style, line):
    source = convert(model_class(key), style).source
    assert line in source, source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_hostile_key_is_data(style, tmp_path, monkeypatch):
    """A key written to look like code stays a string: nothing runs from it."""
    monkeypatch.chdir(tmp_path)
    conversion = convert(Heads(HOSTILE), style)
    conversion.check(train=True)
    conversion.load()
    assert not os.path.exists(tmp_path / "PWNED")
    names = {
        n.id for n in ast.walk(ast.parse(conversion.source)) if isinstance(n, ast.Name)
    }
    assert "open" not in names


def test_fx_code_generation_escapes_names_on_traced_graphs_only():
    """The traced graph's own fx code reads odd names with getattr and escaping."""
    from nnconvert.trace import trace

    module = trace(Heads("class"), (torch.randn(2, 4),))
    assert "getattr(self.heads, 'class')" in module.code
    plain = torch.fx.symbolic_trace(nn.Sequential(nn.Linear(2, 2)))
    assert 'getattr(self, "0")' in plain.code  # fx's own codegen, untouched
