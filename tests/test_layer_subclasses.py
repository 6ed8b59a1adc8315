"""A user class that subclasses a torch layer stays its subclass in the class styles.

OpenAI CLIP and Whisper subclass ``nn.LayerNorm``, ``nn.Linear`` and
``nn.Conv1d`` to change only ``forward`` (fp16 casts). Module and mixed
style write ``class LayerNorm(nn.LayerNorm):`` with no ``__init__``, build
each instance with the layer's own arguments (``LayerNorm(16)``) and read the
layer's attributes in ``forward`` (``self.stride``), so that one class serves
instances of every width. Each conversion is checked against the original in
eval and train mode, loads the original ``state_dict()`` strictly, and
converts again in its own style to the same text.
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

#: mixed style under test is the one printed from the trace (these models are
#: already mixed style, which ``convert`` would otherwise keep as written)
pytestmark = pytest.mark.printed_from_trace

CLASS_STYLES = [Style.MODULE, Style.MIXED]


class LayerNorm(nn.LayerNorm):
    """Subclass torch's LayerNorm to handle fp16."""

    def forward(self, x: torch.Tensor):
        orig_type = x.dtype
        ret = super().forward(x.type(torch.float32))
        return ret.type(orig_type)


class Linear(nn.Linear):
    """Whisper's ``Linear``: the weights cast to the input's dtype."""

    def forward(self, x):
        return F.linear(
            x,
            self.weight.to(x.dtype),
            None if self.bias is None else self.bias.to(x.dtype),
        )


class Conv1d(nn.Conv1d):
    """Whisper's ``Conv1d``: overrides the ``_conv_forward`` that ``forward`` calls."""

    def _conv_forward(self, x, weight, bias):
        return super()._conv_forward(
            x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype)
        )


class AudioNet(nn.Module):
    """Two convolutions and two norms of different sizes share a class each."""

    def __init__(self):
        super().__init__()
        self.conv1 = Conv1d(4, 8, 3, padding=1)
        self.conv2 = Conv1d(8, 16, 3, stride=2, padding=1)
        self.act = nn.GELU()
        self.ln_conv = LayerNorm(16)
        self.fc = Linear(16, 32)
        self.ln_fc = LayerNorm(32)
        self.out = Linear(32, 32, bias=False)

    def forward(self, x):
        x = self.act(self.conv2(self.act(self.conv1(x))))
        x = self.ln_conv(x.permute(0, 2, 1))
        return self.out(self.ln_fc(self.fc(x)))


class Gained(nn.Linear):
    """Adds a parameter of its own: the layer's constructor does not build it."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features)
        self.gain = nn.Parameter(torch.ones(out_features))

    def forward(self, x):
        return super().forward(x) * self.gain


class GainedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = LayerNorm(8)
        self.proj = Gained(8, 4)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.proj(self.norm(x)))


class ZeroInit(nn.Linear):
    # starts from zero: only the initial values change, not forward
    def reset_parameters(self):
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)


class ZeroHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = ZeroInit(8, 4)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.head(x))


class HalfNorm(nn.LayerNorm):
    """Normalises at half precision's resolution."""

    def forward(self, x):
        return super().forward(x.half().float())


class Norms(nn.Module):
    """One instance with tensors, one without: traced apart, printed alike."""

    def __init__(self):
        super().__init__()
        self.affine = HalfNorm(8, eps=1e-6)
        self.plain = HalfNorm(8, eps=1e-6, elementwise_affine=False)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.plain(self.act(self.affine(x)))


class BatchNormAct(nn.BatchNorm2d):
    """timm's norm-and-activation in small: ``torch.relu`` after the layer."""

    def forward(self, x):
        return torch.relu(super().forward(x))


class NormedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = BatchNormAct(8, momentum=0.2)

    def forward(self, x):
        return self.bn(self.conv(x))


AUDIO_INPUTS = (torch.randn(2, 4, 10),)


def converted(model: nn.Module, inputs: tuple, style: Style) -> nnconvert.Conversion:
    """``model`` in ``style``: checked in eval and train mode, loaded strictly, stable."""
    torch.manual_seed(0)
    model.eval()
    conversion = nnconvert.convert(model, style, inputs)
    conversion.check()
    conversion.check(train=True)
    loaded = conversion.load()
    loaded.load_state_dict(model.state_dict(), strict=True)
    assert list(loaded.state_dict()) == list(model.state_dict())
    again = nnconvert.convert(load_output(conversion), style, inputs)
    assert again.source == conversion.source  # stable in its own style
    return conversion


def classes(source: str) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}


def base_of(node: ast.ClassDef) -> str:
    (base,) = node.bases
    return ast.unparse(base)


def methods(node: ast.ClassDef) -> dict[str, str]:
    return {n.name: ast.unparse(n) for n in node.body if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_layer_subclass_keeps_its_base_and_has_no_init(style):
    written = classes(converted(AudioNet(), AUDIO_INPUTS, style).source)
    assert base_of(written["LayerNorm"]) == "nn.LayerNorm"
    assert base_of(written["Conv1d"]) == "nn.Conv1d"
    assert base_of(written["Linear"]) == "nn.Linear"
    for name in ["LayerNorm", "Conv1d", "Linear"]:
        assert list(methods(written[name])) == ["forward"], name
    # the docstring stays on its class
    assert ast.get_docstring(written["LayerNorm"]) == (
        "Subclass torch's LayerNorm to handle fp16."
    )


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_instances_are_built_with_the_layer_s_own_arguments(style):
    source = converted(AudioNet(), AUDIO_INPUTS, style).source
    init = methods(classes(source)["AudioNet"])["__init__"]
    assert "self.conv1 = Conv1d(4, 8, 3, padding=1)" in init
    assert "self.conv2 = Conv1d(8, 16, 3, stride=2, padding=1)" in init
    assert "self.ln_conv = LayerNorm(16)" in init  # two widths, one class
    assert "self.ln_fc = LayerNorm(32)" in init
    assert "self.fc = Linear(16, 32)" in init
    assert "(32, 32, bias=False)" in init
    assert [n for n in classes(source) if n.startswith("LayerNorm")] == ["LayerNorm"]


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_forward_reads_the_layer_s_attributes_or_calls_super(style):
    written = classes(converted(AudioNet(), AUDIO_INPUTS, style).source)
    assert methods(written["LayerNorm"])["forward"] == (  # as Whisper writes it
        "def forward(self, x):\n"
        "    orig_type = x.dtype\n"
        "    ret = super().forward(x.type(torch.float32))\n"
        "    return ret.type(orig_type)"
    )
    conv = methods(written["Conv1d"])["forward"]
    assert "stride=self.stride" in conv and "padding=self.padding" in conv
    # a call over cast weights is not the layer's own: it stays spelled out
    assert "self.weight.to(input.dtype)" in conv


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_subclass_with_a_parameter_of_its_own_stays_a_module(style):
    written = classes(converted(GainedNet(), (torch.randn(3, 8),), style).source)
    assert base_of(written["Gained"]) == "nn.Module"
    assert "self.gain = nn.Parameter" in methods(written["Gained"])["__init__"]
    assert base_of(written["LayerNorm"]) == "nn.LayerNorm"


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_subclass_that_keeps_forward_keeps_the_layer_s(style):
    source = converted(ZeroHead(), (torch.randn(3, 8),), style).source
    assert "class ZeroInit(nn.Linear):\n    pass\n" in source
    assert "self.head = ZeroInit(8, 4)" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_instances_whose_forwards_print_alike_share_a_class(style):
    source = converted(Norms(), (torch.randn(3, 8),), style).source
    assert [n for n in classes(source) if n.startswith("HalfNorm")] == ["HalfNorm"]
    assert "self.affine = HalfNorm(8, eps=1e-06)" in source
    assert "self.plain = HalfNorm(8, eps=1e-06, elementwise_affine=False)" in source


def test_a_subclass_that_module_style_gives_a_layer_of_its_own_stays_a_module():
    """Module style calls ``torch.relu`` as ``self.relu``, which only an ``__init__``
    of the class's own can build; mixed style calls ``F.relu`` and keeps the base."""
    inputs = (torch.randn(2, 3, 6, 6),)
    module = classes(converted(NormedConv(), inputs, Style.MODULE).source)
    assert base_of(module["BatchNormAct"]) == "nn.Module"
    assert "self.relu = nn.ReLU()" in methods(module["BatchNormAct"])["__init__"]
    mixed = classes(converted(NormedConv(), inputs, Style.MIXED).source)
    assert base_of(mixed["BatchNormAct"]) == "nn.BatchNorm2d"
    assert "momentum=self.momentum" in methods(mixed["BatchNormAct"])["forward"]


@pytest.mark.xfail(
    strict=True,
    reason="a functional file has no carrier for the base class: its block "
    "function takes weights, so module style read back from it writes "
    "LayerNorm(nn.Module) with the tensors and sizes of its own",
)
def test_module_through_functional_gives_module_again():
    """SPEC invariant 5's module -> functional -> module cannot hold for a layer subclass.

    It did not before layer subclasses were kept either: the class read back
    from the functional file names its sizes ``arg``, ``arg_2``, where the
    one written from the model takes the user's ``in_channels``.
    """
    torch.manual_seed(0)
    model = AudioNet().eval()
    module = nnconvert.convert(model, Style.MODULE, AUDIO_INPUTS)
    functional = nnconvert.convert(model, Style.FUNCTIONAL, AUDIO_INPUTS)
    again = nnconvert.convert(load_output(functional), Style.MODULE, AUDIO_INPUTS)
    again.check()
    assert again.source == module.source
