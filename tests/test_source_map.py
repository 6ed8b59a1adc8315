"""The source map: the output keeps the names, comments and docstrings of its source.

Each model here is written in this file, so its source is available; every
conversion is also checked side by side (eval and train), since a name kept
wrongly would compute something else.
"""

from __future__ import annotations

import functools
import re

import torch
import torch.nn.functional as F
from torch import nn

import pytest

import nnconvert
from nnconvert.opspecs.layer_params import DEFINITIONS
from nnconvert.api import execute
from nnconvert.hierarchy import trace_instances
from nnconvert.options import Style

from .helpers import load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)


def converted(model: nn.Module, style: Style, *inputs: torch.Tensor) -> str:
    """The output's text, after the equivalence check passed in eval and train mode."""
    conversion = nnconvert.convert(model, style, inputs)
    conversion.check(train=True)
    return conversion.source


def forward_text(source: str) -> str:
    """The root's ``forward`` (class styles) or function (functional): the last one.

    In functional style, the last before ``init_params()`` and the layer
    functions it calls (``kaiming_params``), which stand just above it.
    """
    code = source.split("def init_params")[0]
    for name in DEFINITIONS:
        code = code.split(f"\ndef {name}(")[0]
    start = (
        code.rfind("def forward(") if "def forward(" in code else code.rfind("\ndef ")
    )
    return code[start:]


def assert_before(text: str, first: str, then: str) -> None:
    """``first`` is printed on a line before the line holding ``then``."""
    lines = text.splitlines()
    a = next(i for i, line in enumerate(lines) if first in line)
    b = next(i for i, line in enumerate(lines) if then in line)
    assert a < b, f"{first!r} is not before {then!r}"


class VAE(nn.Module):
    """A small variational autoencoder."""

    def __init__(self):
        super().__init__()
        # the encoder
        self.fc1 = nn.Linear(12, 8)
        self.fc21 = nn.Linear(8, 2)
        self.fc22 = nn.Linear(8, 2)
        # the decoder
        self.fc3 = nn.Linear(2, 12)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def forward(self, x):
        """Encode, then decode the mean."""
        mu, logvar = self.encode(x.view(-1, 12))
        z = mu + 0 * torch.exp(0.5 * logvar)  # no sampling: deterministic
        return torch.sigmoid(self.fc3(z)), mu, logvar


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_tuple_assignments_keep_the_users_names(style):
    # encode stays a method (a function in functional style): its names are in it
    text = converted(VAE(), style, torch.randn(3, 12)).split("def init_params")[0]
    assert "mu, logvar = " in forward_text(text)
    for name in ("mu", "logvar", "h1", "z"):  # encode's return: ``mu, logvar = ...``
        assert re.search(rf"\b{name}\b[\w, ]* = ", text), name
    assert "out" not in text


class CarriedState(nn.Module):
    """char-rnn's ``output, hidden = self.lstm(emb, hidden)``: the input's name taken over."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 6, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, x, hidden=None):
        output, hidden = self.gru(x, hidden)
        return self.head(output), hidden


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_an_optional_input_no_branch_asks_about_hands_its_name_on(style):
    text = forward_text(converted(CarriedState(), style, torch.randn(2, 5, 4)))
    assert re.search(r"output, hidden = .*gru", text)
    assert re.search(r"^ +return [^(].*, hidden$", text, re.M)  # no parentheses


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(8, 24)
        self.n_head = 2

    def forward(self, x):
        B, T, C = x.size()  # batch, time, channels
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = F.softmax(q @ k.transpose(-2, -1), dim=-1)
        y = att @ v
        return y.transpose(1, 2).reshape(B, T, C)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_shapes_the_user_unpacked_are_unpacked_and_reused(style):
    text = forward_text(converted(Attention(), style, torch.randn(2, 5, 8)))
    assert "B, T, C = x.size()" in text
    assert "q, k, v = " in text
    assert "x.size()[" not in text
    # the head count keeps its name (self.n_head; a keyword in functional style)
    assert re.search(r"k\.view\(B, T, (self\.)?n_head, C // (self\.)?n_head\)", text)
    assert_before(text, "# batch, time, channels", "B, T, C = x.size()")
    # a statement printed as steps has its comment above the step completing it
    assert_before(text, "# (B, nh, T, hs)", "transpose(1, 2)")


class TupleHeldProjections(nn.Module):
    """CaiT's attention: the projections are held in a tuple, then mapped to ``q, k, v``."""

    def __init__(self):
        super().__init__()
        self.to_q = nn.Linear(8, 8, bias=False)
        self.to_kv = nn.Linear(8, 16, bias=False)

    def forward(self, x):
        qkv = (self.to_q(x), *self.to_kv(x).chunk(2, dim=-1))
        q, k, v = map(lambda t: t.view(t.shape[0], -1, 2, 4).transpose(1, 2), qkv)
        attn = F.softmax(q @ k.transpose(-2, -1), dim=-1)
        return (attn @ v).transpose(1, 2).flatten(2)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_values_a_tuple_holds_take_the_names_of_what_they_become(style):
    text = forward_text(converted(TupleHeldProjections(), style, torch.randn(2, 5, 8)))
    assert re.search(r"^ +q = .*to_q", text, re.M), text
    assert re.search(r"^ +k, v = .*to_kv.*\.chunk\(2, dim=-1\)$", text, re.M), text
    assert not re.search(r"\bout\d*\b", text), text


class KeptInput(nn.Module):
    """ConvNeXt's block: the input kept as ``shortcut`` while ``x`` is rebound."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 4)

    def forward(self, x):
        shortcut = x
        x = self.fc1(x)
        x = F.relu(x)
        x = shortcut + self.fc2(x)
        return x * shortcut


class KeptFeature(nn.Module):
    """PointNet's ``pointfeat = x``: a value of the body, not an input, named twice."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 4)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        pointfeat = x
        x = self.fc2(x)
        return torch.cat([x, pointfeat], 1)


def checked_kwargs(forward):
    """A decorator as Hugging Face's ``@deprecate_kwarg``: library plumbing around ``forward``."""

    @functools.wraps(forward)
    def wrapped(*args, **kwargs):
        # the wrapper's own comment, no line of the model's
        kwargs.pop("old_name", None)
        return forward(*args, **kwargs)

    return wrapped


class Decorated(nn.Module):
    """A Llama decoder layer's shape, its ``forward`` wrapped by a decorator.

    Traced without ``cache``, the output refuses one before anything else,
    and binds ``residual`` after that, where the source does.
    """

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(4)
        self.mlp = nn.Linear(4, 4)

    @checked_kwargs
    def forward(self, hidden_states, cache=None):
        if cache is not None:  # traced without: the output refuses one first
            hidden_states = torch.cat([cache, hidden_states], 1)
        residual = hidden_states
        # Fully Connected
        hidden_states = self.norm(hidden_states)
        hidden_states = self.mlp(hidden_states)
        hidden_states = residual + hidden_states
        return hidden_states


class ReboundShortcut(nn.Module):
    """ResNet's ``identity = x``, rebound later: the two names would contend."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.down = nn.Linear(4, 4)

    def forward(self, x):
        identity = x
        x = self.fc1(x)
        identity = self.down(identity)
        return x + identity


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_an_input_the_source_names_twice_keeps_both_names(style):
    first = nnconvert.convert(KeptInput(), style, (torch.randn(3, 4),))
    first.check(train=True)
    text = forward_text(first.source)
    assert re.search(r"^ +shortcut = x$", text, re.M), text
    assert re.search(r"^ +x = .*\(x[,)]", text, re.M), text  # fc1 reads the input as x
    assert re.search(r"^ +x = shortcut \+ ", text, re.M), text
    assert re.search(r"^ +return x \* shortcut$", text, re.M), text
    assert not re.search(r"\bout\d*\b", text), text
    loaded = load_output(first, "KeptInput")  # the class, or the function wrapped
    assert nnconvert.convert(loaded, style, (torch.randn(3, 4),)).source == first.source
    text = forward_text(converted(Decorated(), style, torch.randn(3, 4)))
    assert "the wrapper's own comment" not in text and "kwargs" not in text
    assert re.search(r"^ +residual = hidden_states$", text, re.M), text
    assert_before(text, "raise ValueError", "residual = hidden_states")
    assert_before(text, "# Fully Connected", "hidden_states = ")
    assert re.search(r"^ +hidden_states = residual \+ hidden_states$", text, re.M)
    text = forward_text(converted(KeptFeature(), style, torch.randn(3, 4)))
    assert re.search(r"^ +pointfeat = x$", text, re.M), text
    assert re.search(r"^ +x = .*\(x[,)].*fc2|^ +x = .*fc2.*\(x[,)]", text, re.M), text
    assert re.search(r"torch\.cat\(\[x, pointfeat\], 1\)", text), text
    text = forward_text(converted(ReboundShortcut(), style, torch.randn(3, 4)))
    assert not re.search(r"^ +identity = x$", text, re.M), text


class Double(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return F.relu(self.conv(x))


class SkipNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inc = Double(3)
        self.down1 = Double(3)
        self.down2 = Double(3)
        self.out = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = x3 + x2
        x = x + x1
        return self.out(x)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_skip_tensors_keep_their_names(style):
    text = forward_text(converted(SkipNet(), style, torch.randn(2, 3, 6, 6)))
    for line in ("x1 = ", "x2 = ", "x3 = ", "x = x3 + x2", "x = x + x1"):
        assert line in text


class Shadowing(nn.Module):
    """The same names bound in a helper and in ``forward`` to different values."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 4)

    def helper(self, x):
        h = torch.relu(x)
        out = h * 2
        return out - x

    def forward(self, x):
        h = self.fc1(x)
        out = self.helper(h)
        a, b = self.fc2(out), h
        a, b = b, a  # swapped: each name now holds the other value
        return out + h * a - b


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_names_bound_more_than_once_still_compute_the_same(style):
    converted(Shadowing(), style, torch.randn(3, 4))  # the check is the judge


class Commented(nn.Module):
    """A model with comments.

    Its second paragraph.
    """

    def __init__(self):
        super().__init__()
        # 4 features in, 8 out
        self.fc1 = nn.Linear(4, 8)
        self.width = 8  # not a layer: printed nowhere, being about this line
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        """Two layers."""
        # first layer
        x = F.relu(self.fc1(x))
        # no space after the hash
        x = self.fc2(x)  # the logits
        # before return
        return x


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_comments_stand_before_the_statements_they_annotate(style):
    source = converted(Commented(), style, torch.randn(3, 4))
    text = forward_text(source)
    assert_before(text, "# first layer", "relu(")
    assert_before(text, "# no space after the hash", "fc2")
    assert_before(text, "# the logits", "fc2")
    assert_before(text, "# before return", "return x")
    # __init__'s, before the layer they describe (functional: in init_params)
    assert_before(
        source,
        "# 4 features in, 8 out",
        'fc1.weight"] = ' if style is Style.FUNCTIONAL else "self.fc1 = ",
    )
    # trailing a statement the output has not: about that line alone
    assert "# not a layer" not in source


class Branches(nn.Module):
    """A block whose ``__init__`` says what each branch is (GoogLeNet's Inception)."""

    def __init__(self):
        super().__init__()
        # 1x1 conv branch
        self.b1 = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU())
        self.width = 4  # not a layer: about this line alone
        # 3x3 conv branch
        self.b2 = nn.Conv2d(3, 4, 3, padding=1)
        # regularization
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.drop(torch.cat([self.b2(x), self.b1(x)], 1))


class WithBranches(nn.Module):
    def __init__(self):
        super().__init__()
        # the root's: in init_params() only
        self.block = Branches()

    def forward(self, x):
        return self.block(x)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_blocks_init_comments_are_kept_in_every_style(style):
    """Functional: in the block's function, before the first statement that reads the layer."""
    source = converted(WithBranches(), style, torch.randn(2, 3, 5, 5))
    if style is Style.FUNCTIONAL:
        block = source.split("def branches(")[1].split("\ndef ")[0]
        assert_before(block, "# 3x3 conv branch", 'params["b2.weight"]')
        assert_before(block, "# 1x1 conv branch", 'sub_params(params, "b1.")')
        assert "# not a layer" not in block
        assert_before(block, "# regularization", "F.dropout(")  # no weights
        assert source.count("# 1x1 conv branch") == 1
        assert "# the root's" not in block
        inputs = (torch.randn(2, 3, 5, 5),)
        first = nnconvert.convert(WithBranches(), style, inputs)
        assert nnconvert.convert(load_output(first), style, inputs).source == source
    else:
        assert_before(source, "# 1x1 conv branch", "self.b1 = ")
        assert_before(source, "# 3x3 conv branch", "self.b2 = ")


class Table(nn.Module):
    """Built from a class-level table, as kuangliu's MobileNetV2 is."""

    # (in, out) of each layer
    cfg = [(4, 8), (8, 2)]  # the last one is the head

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Linear(a, b) for a, b in self.cfg])

    def forward(self, x):
        return self.layers(x)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_class_body_comments_stay_at_the_top_of_the_class(style):
    """The table is built out; what it says stays with the class or its function."""
    source = converted(Table(), style, torch.randn(3, 4))
    head = "def table(" if style is Style.FUNCTIONAL else "class Table("
    assert_before(source, head, "# (in, out) of each layer")
    assert_before(source, "# (in, out) of each layer", "# the last one is the head")
    first = "return layers(" if style is Style.FUNCTIONAL else "def __init__"
    assert_before(source, "# the last one is the head", first)
    if style is not Style.FUNCTIONAL:
        again = nnconvert.convert(
            load_output(nnconvert.convert(Table(), style, (torch.randn(3, 4),))),
            style,
            (torch.randn(3, 4),),
        )
        assert again.source == source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_docstrings_stay_on_their_class_function_and_method(style):
    source = converted(Commented(), style, torch.randn(3, 4))
    if style is Style.FUNCTIONAL:
        assert (
            'def commented(params: dict[str, Tensor], x: Tensor) -> Tensor:\n    """A model with comments.'
            in source
        )
        assert "Two layers." in source  # forward's, as the function's last paragraph
    else:
        assert (
            'class Commented(nn.Module):\n    """A model with comments.\n\n    Its second paragraph.\n    """\n'
            in source
        )
        assert '    def forward(self, x):\n        """Two layers."""\n' in source


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_converting_an_output_again_keeps_its_comments_and_names(style):
    first = nnconvert.convert(Commented(), style, (torch.randn(3, 4),))
    again = nnconvert.convert(first.load(), style, (torch.randn(3, 4),))
    assert again.source == first.source
    vae = nnconvert.convert(VAE(), style, (torch.randn(3, 12),))
    assert (
        nnconvert.convert(vae.load(), style, (torch.randn(3, 12),)).source == vae.source
    )


def test_instances_map_nodes_to_the_lines_they_come_from():
    (instance,) = trace_instances(VAE(), (torch.randn(3, 12),), Style.MODULE)
    locations = instance.source_map
    assert {location.file for location in locations.values()} == {__file__}
    assert {location.function for location in locations.values()} == {"VAE.forward"}
    lines = {location.line for location in locations.values()}
    assert len(lines) == 3  # encode's call, z, the return


def test_a_model_without_source_prints_as_before():
    namespace = execute(
        "import torch\n"
        "from torch import nn\n"
        "class NoSource(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n"
        "    def forward(self, x):\n"
        "        # a comment nobody can read back\n"
        "        hidden = self.fc(x)\n"
        "        return hidden * 2\n",
        "<nnconvert test>",
    )
    model = namespace["NoSource"]()
    import linecache

    for name in [n for n in linecache.cache if n.startswith("<nnconvert test>")]:
        del linecache.cache[name]  # as if the text were gone
    source = converted(model, Style.MODULE, torch.randn(2, 4))
    assert "hidden" not in source and "#" not in source
    (instance,) = trace_instances(model, (torch.randn(2, 4),), Style.MODULE)
    assert instance.source_map == {}


class Hidden(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        features = self.fc1(x)
        x = F.relu(self.fc2(F.relu(features)))
        return x


def test_mixed_style_keeps_a_value_the_source_named_a_statement():
    text = forward_text(converted(Hidden(), Style.MIXED, torch.randn(3, 4)))
    assert "features = self.fc1(x)" in text
    assert "F.relu(features)" in text


@pytest.mark.parametrize("via", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("to", STYLES, ids=lambda s: s.value)
def test_names_and_comments_survive_round_trips(via, to):
    """original -> via -> to gives original -> to, byte for byte."""
    inputs = (torch.randn(3, 4),)
    for model in (Hidden(), Commented()):
        if via is Style.FUNCTIONAL and to is not Style.FUNCTIONAL:
            if isinstance(model, Commented):
                continue  # class and forward docstrings are one in functional style
        direct = nnconvert.convert(model, to, inputs).source
        first = nnconvert.convert(model, via, inputs)
        loaded = load_output(first, type(model).__name__)
        assert nnconvert.convert(loaded, to, inputs).source == direct


class RawDocstrings(nn.Module):
    r"""Adds the encoding :math:`\text{PE}(pos)`."""

    def forward(self, x):
        r"""Inputs: :math:`x \in \mathbb{R}^n`."""
        return x * 2


def test_raw_docstrings_of_a_class_and_its_forward_join_in_functional_style():
    source = converted(RawDocstrings(), Style.FUNCTIONAL, torch.randn(3, 4))
    assert (
        'r"""Adds the encoding :math:`\\text{PE}(pos)`.\n\n'
        '    Inputs: :math:`x \\in \\mathbb{R}^n`.\n    """' in source
    )


def test_a_functional_docstring_joining_two_becomes_the_class_docstring():
    inputs = (torch.randn(3, 4),)
    first = nnconvert.convert(Commented(), Style.FUNCTIONAL, inputs)
    again = nnconvert.convert(load_output(first, "Commented"), Style.MODULE, inputs)
    assert (
        '    """A model with comments.\n\n    Its second paragraph.\n\n'
        '    Two layers.\n    """\n\n    def __init__' in again.source
    )
    again.check(train=True)


class QuotedDocstring(nn.Module):
    """As in `"Graph Attention Networks" <https://arxiv.org/abs/1710.10903>`."""

    def forward(self, x):
        """Performs a forward pass through the network."""
        return x * 2


def test_docstrings_with_quotes_join_in_functional_style():
    """pytorch/examples' GAT quotes its paper's title in its class docstring."""
    source = converted(QuotedDocstring(), Style.FUNCTIONAL, torch.randn(3, 4))
    assert (
        '    """As in `"Graph Attention Networks" <https://arxiv.org/abs/1710.10903>`.\n\n'
        '    Performs a forward pass through the network.\n    """' in source
    )


class MaskedAttention(nn.Module):
    """Whisper's ``MultiHeadAttention``: a result and a cache, the mask optional."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x, mask=None):
        return self.fc(x).masked_fill(mask, 0.0), None


class MaskedResidual(nn.Module):
    """Whisper's block: ``x = x + self.attn(self.ln(x), mask=mask)[0]``, the mask read once."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(8)
        self.attn = MaskedAttention()

    def forward(self, x, mask):
        x = x + self.attn(self.ln(x), mask=mask)[0]
        return x


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_value_never_takes_the_name_of_an_argument_it_merely_reads(style):
    """``mask`` dies where the attention reads it; the attention's output is no mask."""
    mask = torch.rand(2, 5, 8) > 0.5
    conversion = nnconvert.convert(
        MaskedResidual(), style, (torch.randn(2, 5, 8), mask)
    )
    conversion.check(train=True)
    assert not re.search(r"\bmask(, _)? = ", conversion.source)
    assert "x + mask" not in conversion.source


class JoinedContext(nn.Module):
    """CaiT's attention: ``context`` is the input when none is given, else both joined."""

    def __init__(self):
        super().__init__()
        self.to_q = nn.Linear(8, 8)
        self.to_kv = nn.Linear(8, 16)

    def forward(self, x, context=None):
        context = x if context is None else torch.cat((x, context), dim=1)
        q = self.to_q(x)
        k, v = self.to_kv(context).chunk(2, dim=-1)
        return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v


class SelfThenCross(nn.Module):
    """CaiT's two transformers: one attends to itself, the other to its output."""

    def __init__(self):
        super().__init__()
        self.attn = JoinedContext()
        self.cls_attn = JoinedContext()

    def forward(self, x, cls_tokens):
        x = self.attn(x)
        return self.cls_attn(cls_tokens, context=x)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_join_that_replaces_an_optional_input_takes_its_name(style):
    """Both sides of ``context = x if context is None else ...`` assign ``context``.

    The given input is read last by the side that joins it; on the other
    path it holds ``None``, and nothing after the join reads it: the join
    takes the input's name, as the user's statement does (not ``out``).
    """
    inputs = (torch.randn(2, 5, 8), torch.randn(2, 1, 8))
    conversion = nnconvert.convert(SelfThenCross(), style, inputs)
    conversion.check(train=True)
    text = conversion.source
    assert re.search(r"^ +context = torch\.cat\(\(x, context\), dim=1\)$", text, re.M)
    assert re.search(r"^ +context = x$", text, re.M), text
    assert not re.search(r"\bout\d*\b", text), text
    loaded = load_output(
        conversion, "SelfThenCross"
    )  # the class, or the function wrapped
    assert nnconvert.convert(loaded, style, inputs).source == text


class FourierPositions(nn.Module):
    """Perceiver's positions: ``device`` and ``dtype`` read on lines of their own."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4, bias=False)

    def forward(self, data):
        b = data.shape[0]
        device = data.device
        dtype = data.dtype
        rows = torch.linspace(
            -1.0, 1.0, steps=data.shape[1], device=device, dtype=dtype
        )
        cols = torch.linspace(
            -1.0, 1.0, steps=data.shape[2], device=device, dtype=dtype
        )
        return self.fc(data) + rows[None, :, None] + cols[None, None, :] * b


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_an_attribute_read_on_its_own_line_stays_there(style):
    """fx makes ``data.device``'s node where it is first used; it prints where it was read."""
    text = forward_text(converted(FourierPositions(), style, torch.randn(2, 4, 4)))
    lines = [line.strip() for line in text.splitlines()]
    assert lines.index("device = data.device") < lines.index("dtype = data.dtype")
    assert lines.index("dtype = data.dtype") + 1 == next(
        i for i, line in enumerate(lines) if line.startswith("rows = torch.linspace(")
    )
    assert "steps=data.shape[1]" in text
