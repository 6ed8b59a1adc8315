"""Class styles keep the model's own construction (nnconvert/construction_kept.py).

Each model is a file of its own, loaded as the CLI loads it, so that its
source (builder methods, tables, the ``block`` class passed in) is there to
keep. Every conversion is checked against the original, eval and train.
"""

from __future__ import annotations

import ast
import inspect

import pytest
import torch

import nnconvert
from nnconvert import loading
from nnconvert.options import Style

from .helpers import assert_builds_alike, load_output, run, write

RESNET = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super(BasicBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = self.bn1(self.conv1(x))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, block=BasicBlock, num_blocks=(2, 1), num_classes=10):
        super(ResNet, self).__init__()
        self.in_planes = 8
        # the stem
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.layer1 = self._make_layer(block, 8, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 16, num_blocks[1], stride=2)
        self.linear = nn.Linear(16, num_classes)

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
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def example_inputs():
    return (torch.randn(2, 3, 8, 8),)
"""

#: already in module style: every layer forward calls is built in __init__
CHOMPED = """
import torch
import torch.nn as nn


class Chomp(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = size

    def forward(self, x):
        assert x.dim() == 3, "a batch of sequences"
        return x[:, :, : -self.size].contiguous()


class Net(nn.Module):
    def __init__(self, channels=(4, 6), kernel_size=3):
        super().__init__()
        layers = []
        for i, width in enumerate(channels):
            before = 3 if i == 0 else channels[i - 1]
            layers += [nn.Conv1d(before, width, kernel_size, padding=2), Chomp(2)]
            layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def example_inputs():
    return (torch.randn(2, 3, 10),)
"""

#: a layer only some blocks hold, which forward asks for by ``hasattr``
OPTIONAL = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class PreActBlock(nn.Module):
    def __init__(self, in_planes, planes):
        super().__init__()
        self.bn1 = nn.BatchNorm1d(in_planes)
        self.fc1 = nn.Linear(in_planes, planes)
        if in_planes != planes:
            self.shortcut = nn.Linear(in_planes, planes, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        return self.fc1(out) + shortcut


class Net(nn.Module):
    def __init__(self, widths=(4, 4, 8)):
        super().__init__()
        self.blocks = nn.Sequential(
            *[PreActBlock(a, b) for a, b in zip(widths, widths[1:])]
        )

    def forward(self, x):
        return F.gelu(self.blocks(x))


def example_inputs():
    return (torch.randn(3, 4),)
"""


def _converted(
    tmp_path, text: str, style: Style = Style.MODULE, class_name=None, **options
) -> nnconvert.Conversion:
    loaded = loading.load_file(write(tmp_path, "model.py", text), class_name=class_name)
    conversion = nnconvert.convert(
        loaded.model, style, loaded.example_inputs, **options
    )
    conversion.check(train=True)
    return conversion


def _method(source: str, cls: str, name: str) -> str:
    tree = ast.parse(source)
    found = next(c for c in tree.body if isinstance(c, ast.ClassDef) and c.name == cls)
    return ast.unparse(next(f for f in found.body if getattr(f, "name", "") == name))


def test_the_builder_method_and_the_block_class_stay(tmp_path):
    conversion = _converted(tmp_path, RESNET)
    source = conversion.source
    assert conversion.as_written
    assert "def _make_layer(self, block, planes, num_blocks, stride):" in source
    root_init = _method(source, "ResNet", "__init__")
    assert "block=BasicBlock, num_blocks=(2, 1), num_classes=10" in root_init
    assert "F." not in source and "import torch.nn.functional" not in source
    # the new layers stand after the layer forward calls before them
    lines = [line.strip() for line in source.splitlines()]
    stem = lines.index("self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)")
    assert lines[stem - 1] == "# the stem"
    assert lines[stem + 1].endswith("= nn.ReLU()")
    assert "nn.AdaptiveAvgPool2d(1)" in root_init
    # the built root takes another configuration, as the source's does
    built = conversion.namespace()["ResNet"](num_blocks=(1, 3), num_classes=5)
    assert len(built.layer2) == 3 and built.linear.out_features == 5


def test_the_kept_output_converts_to_itself(tmp_path):
    first = _converted(tmp_path, RESNET)
    again = nnconvert.convert(load_output(first), Style.MODULE, first.example_inputs)
    assert again.as_written
    assert again.source == first.source


def test_without_keep_source_the_tree_is_printed(tmp_path):
    printed = _converted(tmp_path, RESNET, keep_source=False)
    assert not printed.as_written
    assert "_make_layer" not in printed.source
    assert "nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))" in printed.source


def test_a_model_already_in_module_style_is_its_own_output(tmp_path):
    """Its forward too: the assert no trace keeps as written stays."""
    conversion = _converted(tmp_path, CHOMPED)
    assert conversion.as_written
    assert 'assert x.dim() == 3, "a batch of sequences"' in conversion.source
    assert "for i, width in enumerate(channels):" in conversion.source
    assert "def __init__(self, channels=(4, 6), kernel_size=3):" in conversion.source


def _construction_kept(tmp_path, monkeypatch, text: str) -> nnconvert.Conversion:
    """Module style with *Calls as layers* off, which is tried first and keeps these sources whole."""
    monkeypatch.setattr(nnconvert.api, "with_calls_as_layers", lambda *_, **__: None)
    return _converted(tmp_path, text)


def test_a_layer_some_blocks_lack_is_none_in_the_others(tmp_path, monkeypatch):
    conversion = _construction_kept(tmp_path, monkeypatch, OPTIONAL)
    assert conversion.as_written
    init = _method(conversion.source, "PreActBlock", "__init__")
    first = init.splitlines()[1:3]
    assert first[0].strip().startswith("super().__init__()")
    assert first[1].strip() == "self.shortcut = None"
    assert "if in_planes != planes:" in init


def test_the_cli_says_it_kept_the_construction(tmp_path):
    model = write(tmp_path, "model.py", RESNET)
    result = run("convert", model, "--to", "module")
    assert result.exit_code == 0, result.output
    assert "kept the model's own source: its methods as written" in result.stderr
    assert "def _make_layer" in result.stdout
    printed = run("convert", model, "--to", "module", "--no-keep-source")
    assert printed.exit_code == 0, printed.output
    assert "def _make_layer" not in printed.stdout
    assert "kept the model's own source" not in printed.stderr


def test_a_source_whose_layer_disagrees_with_the_printed_one_is_not_merged(tmp_path):
    """The source holds a ``softmax`` of another ``dim`` than the printed one calls.

    Merged, the printed ``forward`` would call the source's layer: the
    check of the build compares the printed layer's settings and refuses.
    The source's own ``forward`` then stays, its call written as a layer of
    its own beside the held one (:mod:`nnconvert.calls_as_layers`).
    """
    text = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.softmax = nn.Softmax(dim=0)  # held, never called

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)


def example_inputs():
    return (torch.randn(3, 4),)
"""
    loaded = loading.load_file(write(tmp_path, "model.py", text))
    printed = nnconvert.convert(
        loaded.model, Style.MODULE, loaded.example_inputs, keep_source=False
    )
    assert "self.softmax = nn.Softmax(dim=1)" in printed.source  # the name reused
    conversion = _converted(tmp_path, text)
    assert conversion.source != printed.source
    assert "self.softmax = nn.Softmax(dim=0)  # held, never called" in conversion.source
    assert "self.softmax1 = nn.Softmax(dim=1)" in conversion.source
    assert "return self.softmax1(self.fc(x))" in conversion.source


@pytest.mark.parametrize("keep_source", [True, False])
def test_both_ways_compute_the_same(tmp_path, keep_source):
    conversion = _converted(tmp_path, RESNET, keep_source=keep_source)
    model = conversion.load()
    torch.manual_seed(1)
    x = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(model.eval()(x), conversion.model.eval()(x))


FLAGGED = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, pre_norm=False):
        super().__init__()
        self.pre_norm = pre_norm
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        if self.pre_norm:
            return x + F.relu(self.fc(self.norm(x)))
        return self.norm(x + F.relu(self.fc(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block(4)

    def forward(self, x):
        return self.block(x)


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_setting_forward_reads_is_honoured_where_the_class_takes_it(tmp_path):
    """DETR's ``normalize_before``: a printed ``forward`` for this build only
    must not stand under the source's ``__init__``, which takes another value."""
    loaded = loading.load_file(write(tmp_path, "model.py", FLAGGED))
    original_block = type(loaded.model.module.block)
    conversion = _converted(tmp_path, FLAGGED)
    output_block = conversion.namespace()["Block"]
    if "pre_norm" not in inspect.signature(output_block).parameters:
        assert not conversion.as_written
        return
    torch.manual_seed(0)
    original = original_block(4, pre_norm=True).eval()
    rebuilt = output_block(4, pre_norm=True).eval()
    rebuilt.load_state_dict(original.state_dict())
    x = torch.randn(2, 4)
    torch.testing.assert_close(rebuilt(x), original(x))


HELPED = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def _body(self, x):
        return F.relu(self.fc(x))

    def forward(self, x):
        return self._body(x) * 2

    def features(self, x):
        return self._body(x)


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_method_forward_never_runs_still_finds_the_helpers_it_calls(tmp_path):
    """``features`` is kept as written; the ``_body`` it calls is there, in module style."""
    conversion = _converted(tmp_path, HELPED)
    assert conversion.as_written
    assert "def features(self, x):" in conversion.source
    assert "self.relu(self.fc(x))" in _method(conversion.source, "Net", "_body")
    model = conversion.load()
    x = torch.randn(2, 4)
    torch.testing.assert_close(model.features(x), conversion.model.features(x))


# --- mixed style: the stateless layers the printer calls as functions go ---


def test_mixed_style_takes_the_stateless_layers_out_and_keeps_the_rest(tmp_path):
    """Module style, then mixed: the source's construction comes back without the ReLUs."""
    module = _converted(tmp_path, RESNET)
    module_file = write(tmp_path, "module_style.py", module.source + EXAMPLE_INPUTS)
    mixed = _converted(tmp_path, module_file.read_text(), Style.MIXED)
    assert mixed.as_written
    source = mixed.source
    assert "def _make_layer(self, block, planes, num_blocks, stride):" in source
    assert "nn.ReLU" not in source and "nn.AdaptiveAvgPool2d" not in source
    assert "F.relu(" in _method(source, "ResNet", "forward")
    again = nnconvert.convert(load_output(mixed), Style.MIXED, mixed.example_inputs)
    assert again.source == source


EXAMPLE_INPUTS = """

def example_inputs():
    import torch

    return (torch.randn(2, 3, 8, 8),)
"""

#: a stateless layer built from a parameter, and one a method keeps calling
STATELESS = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, p=0.25):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(DROP)

    def forward(self, x):
        return self.drop(self.act(self.fc(x)))
    METHOD

def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_stateless_layer_of_literals_goes(tmp_path):
    text = STATELESS.replace("DROP", "0.25").replace("METHOD", "")
    conversion = _converted(tmp_path, text, Style.MIXED)
    assert conversion.as_written
    init = _method(conversion.source, "Net", "__init__")
    assert "nn.ReLU" not in init and "nn.Dropout" not in init
    assert "def __init__(self, p=0.25):" in conversion.source


def test_a_stateless_layer_built_from_a_parameter_keeps_it_as_a_setting(tmp_path):
    """``F.dropout(x, p=0.25)`` under an ``__init__`` taking ``p`` would ignore it.

    The attribute holds the setting instead, named as the parameter, and
    the call reads it: the class built with another ``p`` honours it.
    """
    text = STATELESS.replace("DROP", "p").replace("METHOD", "")
    conversion = _converted(tmp_path, text, Style.MIXED)
    assert conversion.as_written
    assert "nn.Dropout" not in conversion.source
    assert "self.p = p" in _method(conversion.source, "Net", "__init__")
    assert "p=self.p" in _method(conversion.source, "Net", "forward")
    namespace: dict = {}
    exec(compile(conversion.source, "out.py", "exec"), namespace)
    dropping_all = namespace["Net"](p=1.0).train()
    assert torch.equal(dropping_all(torch.randn(3, 4)), torch.zeros(3, 4))


def test_a_setting_takes_the_layers_name_where_its_own_is_taken(tmp_path):
    """``self.p`` already means something else: ``self.drop = p``."""
    text = STATELESS.replace("DROP", "p").replace("METHOD", "")
    text = text.replace(
        "self.drop = nn.Dropout(p)", "self.drop = nn.Dropout(p)\n        self.p = 3"
    )
    conversion = _converted(tmp_path, text, Style.MIXED)
    assert conversion.as_written
    assert "self.drop = p" in _method(conversion.source, "Net", "__init__")
    assert "p=self.drop" in _method(conversion.source, "Net", "forward")


def test_a_stateless_layer_another_method_calls_stays_printed(tmp_path, monkeypatch):
    """The merge replaces ``forward`` only: ``activate`` would call a layer gone.

    (:mod:`nnconvert.calls_rewritten`, tried first, rewrites both calls.)
    """
    monkeypatch.setattr(
        nnconvert.api, "with_layer_calls_rewritten", lambda *_, **__: None
    )
    method = "\n    def activate(self, x):\n        return self.act(x)\n"
    text = STATELESS.replace("DROP", "0.25").replace("METHOD", method)
    conversion = _converted(tmp_path, text, Style.MIXED)
    assert not conversion.as_written


def test_a_stateless_layer_another_class_calls_stays_printed(tmp_path):
    """``Net.forward`` calls ``self.block.act``: taken out of ``Block``, it would be missing."""
    text = """
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block.act(self.block(x) - 1)


def example_inputs():
    return (torch.randn(3, 4),)
"""
    conversion = _converted(tmp_path, text, Style.MIXED)
    assert not conversion.as_written


#: a class with no ``__init__`` of its own, as makemore's ``NewGELU``
NO_INIT = """
import math

import torch
import torch.nn as nn


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = 0.5


class NewGELU(PARENT):
    \"\"\"GELU as in Google BERT.\"\"\"

    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = NewGELU()

    def forward(self, x):
        return self.act(self.fc(x))


def example_inputs():
    return (torch.randn(3, 4),)
"""


@pytest.mark.parametrize("docstring", [True, False])
def test_a_class_without_init_takes_the_printed_one_after_its_docstring(
    tmp_path, docstring
):
    """Without a docstring (CLIP's ``QuickGELU``), before ``forward``, which is replaced."""
    text = NO_INIT.replace("PARENT", "nn.Module")
    if not docstring:
        text = text.replace('    """GELU as in Google BERT."""\n\n', "")
    conversion = _converted(tmp_path, text, class_name="Net")
    assert conversion.as_written
    source = conversion.source
    gelu = source[source.index("class NewGELU") : source.index("class Net")]
    assert ('"""GELU as in Google BERT."""' in gelu) == docstring
    assert gelu.index("def __init__") < gelu.index("def forward")
    assert gelu.count("def forward") == 1
    assert "self.tanh = nn.Tanh()" in _method(source, "NewGELU", "__init__")


def test_a_class_whose_base_class_builds_it_is_not_given_an_init(tmp_path):
    """``NewGELU`` runs ``Base.__init__``: an ``__init__`` of its own would not."""
    conversion = _converted(tmp_path, NO_INIT.replace("PARENT", "Base"))
    assert not conversion.as_written


#: a function held as an attribute, as makemore's ``BoWBlock.mlpf``
LAMBDA = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width=4, slope=0.1):
        super().__init__()
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(width, 8), c_proj=nn.Linear(8, width)))
        m = self.mlp
        self.mlpf = FUNCTION

    def forward(self, x):
        return x + self.mlpf(x)


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_function_over_the_layers_alone_is_no_setting(tmp_path, monkeypatch):
    function = "lambda x: m.c_proj(F.tanh(m.c_fc(x)))  # MLP forward"
    text = LAMBDA.replace("FUNCTION", function)
    conversion = _construction_kept(tmp_path, monkeypatch, text)
    assert conversion.as_written
    assert "self.mlpf = lambda x: m.c_proj(F.tanh(m.c_fc(x)))" in conversion.source


def test_a_function_over_a_parameter_is_a_setting(tmp_path):
    """``slope`` is in the printed call as this build's number: not merged."""
    function = "lambda x: m.c_proj(F.leaky_relu(m.c_fc(x), slope))"
    conversion = _converted(tmp_path, LAMBDA.replace("FUNCTION", function))
    assert not conversion.as_written


#: a block built two ways (the printer writes two shapes of it), as DLA's ``Tree``
SHAPED = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Inner(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return self.fc(x) * 2


class Block(nn.Module):
    def __init__(self, width, deep=False):
        super().__init__()
        self.body = Inner(width) if deep else nn.Linear(width, width)

    def forward(self, x):
        return ACTIVATION


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block(4, deep=True)
        self.second = Block(4)

    def forward(self, x):
        return F.relu(self.second(self.first(x)))


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_class_split_into_shapes_is_kept_whole_where_no_shape_changes(tmp_path):
    text = SHAPED.replace("ACTIVATION", "self.body(x)")
    printed = _converted(tmp_path, text, keep_source=False)
    assert "class Block2(nn.Module):" in printed.source  # two shapes, printed
    conversion = _converted(tmp_path, text)
    assert conversion.as_written
    assert "class Block2" not in conversion.source
    assert "Inner(width) if deep else" in _method(
        conversion.source, "Block", "__init__"
    )
    assert "self.relu = nn.ReLU()" in _method(conversion.source, "Net", "__init__")


def test_a_class_split_into_shapes_that_change_is_printed(tmp_path):
    """One shape's printed ``forward`` calls a ReLU layer, the other's does not."""
    activation = (
        "F.relu(self.body(x)) if isinstance(self.body, Inner) else self.body(x)"
    )
    text = SHAPED.replace("ACTIVATION", activation)
    conversion = _converted(tmp_path, text)
    assert not conversion.as_written


#: a tensor a method of the root builds for a block, as CLIP's ``build_attention_mask``
MASKED = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, attn_mask=None):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.attn_mask = attn_mask

    def forward(self, x):
        return F.relu(self.fc(x)) + self.attn_mask


class Net(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.width = width
        self.block = Block(width, attn_mask=self.build_attention_mask())

    def build_attention_mask(self):
        mask = torch.empty(self.width, self.width)
        mask.fill_(float("-inf"))
        mask.triu_(1)
        return mask

    def forward(self, x):
        return self.block(x)


def example_inputs():
    return (torch.randn(4, 4),)
"""


def test_the_printers_function_for_a_method_the_source_keeps_goes(tmp_path):
    printed = _converted(tmp_path, MASKED, keep_source=False)
    assert "\ndef build_attention_mask() -> Tensor:" in printed.source
    conversion = _converted(tmp_path, MASKED)
    assert conversion.as_written
    assert "\ndef build_attention_mask" not in conversion.source
    assert "    def build_attention_mask(self):" in conversion.source


def test_a_block_held_at_two_paths_is_found_by_either(tmp_path):
    """TCN's ``self.chomp1``, also ``self.net[1]``: the same ``Chomp`` twice."""
    text = CHOMPED.replace(
        """        layers = []
        for i, width in enumerate(channels):""",
        """        self.chomp = Chomp(2)
        layers = []
        for i, width in enumerate(channels):""",
    ).replace("Chomp(2)]", "self.chomp]")
    conversion = _converted(tmp_path, text)
    assert conversion.as_written
    assert "self.chomp = Chomp(2)" in conversion.source


def test_a_function_a_parameter_chooses_is_a_setting(tmp_path):
    """``F.relu if relu else F.gelu``: the printed ``forward`` calls this build's.

    So the construction is not kept with printed methods; the source is,
    with its call of the chosen function as written (DETR's
    ``_get_activation_fn``: :mod:`nnconvert.calls_as_layers`), and built
    with ``relu=False`` it computes what the original does.
    """
    text = (
        LAMBDA.replace("slope=0.1", "relu=True")
        .replace("self.mlpf = FUNCTION", "self.act = F.relu if relu else F.gelu")
        .replace("x + self.mlpf(x)", "x + self.mlp.c_proj(self.act(self.mlp.c_fc(x)))")
    )
    conversion = _converted(tmp_path, text)
    source = conversion.source
    assert "self.act = F.relu if relu else F.gelu" in source
    assert "self.mlp.c_proj(self.act(self.mlp.c_fc(x)))" in source
    builds = [{"relu": False}, {}]
    assert_builds_alike(text, source, "Block", builds, torch.randn(5, 4))


#: module-level code only the replaced ``forward`` reads, as Whisper's SDPA import
PROBED = """
import torch
import torch.nn as nn
import torch.nn.functional as F

# the fast kernel, where this torch has it
try:
    from torch.nn.functional import gelu as fast_gelu

    FAST = True
except ImportError:
    FAST = False


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if FAST:
            return fast_gelu(self.fc(x))
        return F.gelu(self.fc(x))


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_module_level_code_only_a_replaced_method_read_goes(tmp_path, monkeypatch):
    first = _construction_kept(tmp_path, monkeypatch, PROBED)
    assert first.as_written
    assert "FAST" not in first.source and "the fast kernel" not in first.source
    again = nnconvert.convert(load_output(first), Style.MODULE, first.example_inputs)
    assert again.source == first.source
