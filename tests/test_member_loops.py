"""Loops over a container's members whose body is more than one call.

``for attn, ff in self.layers: x = attn(x) + x; x = ff(x) + x`` traces into
one copy of the body per member (``layers.0.0``, ``layers.1.0``, …); each
style prints the loop again (:func:`nnconvert.passes.unrolled.find_member_loops`):
``for layer in self.layers:`` with ``layer[0](x)`` in class styles, ``for i in
range(n):`` over ``f"layers.{i}.0."`` in functional style. Every output is
checked against the original in eval and train mode, and survives the
round trips of SPEC invariant 5. Members called anywhere else, or a body the
user wrote out member by member, stay as they are.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import checked_conversion, load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.tanh(self.fc(self.norm(x)))


class Pairs(nn.Module):
    """vit-pytorch's Transformer: a ModuleList of [attention, feed-forward] pairs."""

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.layers = nn.ModuleList([])
        for _ in range(depth):
            self.layers.append(nn.ModuleList([Attention(dim), nn.Linear(dim, dim)]))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class Residuals(nn.Module):
    """One block per member, called inside an expression: ``x = x + block(x)``."""

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList([Attention(dim) for _ in range(depth)])

    def forward(self, x):
        for block in self.blocks:
            x = x + 0.5 * block(x)
        return x


class ReadAfter(Residuals):
    """Member 0 called again after the loop: the calls stay as they are."""

    def forward(self, x):
        for block in self.blocks:
            x = x + 0.5 * block(x)
        return self.blocks[0](x)


class WrittenOut(Residuals):
    """The user wrote each member's call: the output keeps them so."""

    def forward(self, x):
        x = x + 0.5 * self.blocks[0](x)
        x = x + 0.5 * self.blocks[1](x)
        x = x + 0.5 * self.blocks[2](x)
        return x


class Scored(nn.Module):
    """A layer that returns its output and its attention, as the Transformer's do."""

    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        scores = torch.softmax(self.fc(x), dim=-1)
        return x + scores, scores


class Encoder(nn.Module):
    """attention-is-all-you-need's encoder loop: unpacked results, a flag per step."""

    def __init__(self, depth=3):
        super().__init__()
        self.layer_stack = nn.ModuleList([Scored() for _ in range(depth)])

    def forward(self, x, return_attns=False):
        attentions = []
        for layer in self.layer_stack:
            x, attention = layer(x)
            attentions += [attention] if return_attns else []
        if return_attns:
            return x, attentions
        return (x,)


class Started(nn.Module):
    """DETR's encoder: the loop's variable starts as the input, ``output = src``."""

    def __init__(self, depth=3):
        super().__init__()
        self.layers = nn.ModuleList([Attention(8) for _ in range(depth)])

    def forward(self, src):
        output = src
        for layer in self.layers:
            output = layer(output)
        return output * 2


class Perceptron(nn.Module):
    """The MLP people write over an ``nn.ModuleList`` of plain layers: in
    functional style each member is a functional call over its weights."""

    def __init__(self, depth=3):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(depth)])

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


class OnePair(Pairs):
    """A container of one member, looped over: the source's ``for`` says it is a loop."""

    def __init__(self):
        super().__init__(depth=1)


def keep_layers(layers: nn.ModuleList, dropout: float) -> nn.ModuleList:
    """XCiT's ``dropout_layers``, which keeps every layer at ``dropout=0``."""
    return layers if dropout == 0 else layers[:1]


class OneKeptPair(OnePair):
    """XCiT's ``Transformer``: the ``for`` runs over a local made from the container."""

    def forward(self, x):
        layers = keep_layers(self.layers, 0.0)
        for attn, ff in layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class OneWrittenOut(Residuals):
    """One member, called by hand: no loop."""

    def __init__(self):
        super().__init__(depth=1)

    def forward(self, x):
        return x + 0.5 * self.blocks[0](x)


class OneCalledTwice(OneWrittenOut):
    """One member called in each of two steps: two steps are no loop over the member."""

    def forward(self, x):
        for _ in range(2):
            x = x + 0.5 * self.blocks[0](x)
        return x


def _inputs():
    torch.manual_seed(0)
    return (torch.randn(2, 5, 8),)


def _converted(cls: type[nn.Module], style: Style) -> nnconvert.Conversion:
    return checked_conversion(cls, style, _inputs())


#: a loop over pairs as class styles print it (vit-pytorch's, as written)
PAIRS_LOOP = (
    "for attn, ff in self.layers:\n"
    "            x = attn(x) + x\n"
    "            x = ff(x) + x\n"
)

LOOPS = {
    Pairs: {
        Style.MODULE: PAIRS_LOOP,
        Style.MIXED: PAIRS_LOOP,
        Style.FUNCTIONAL: (
            "for i in range(3):\n"
            '        x = attention(sub_params(params, f"layers.{i}.0."), x) + x\n'
        ),
    },
    Started: {
        Style.MODULE: (
            "output = src\n"
            "        for layer in self.layers:\n"
            "            output = layer(output)\n"
        ),
        Style.MIXED: (
            "output = src\n"
            "        for layer in self.layers:\n"
            "            output = layer(output)\n"
        ),
        Style.FUNCTIONAL: (
            "output = src\n"
            "    for i in range(3):\n"
            '        output = attention(sub_params(params, f"layers.{i}."), output)\n'
        ),
    },
    Perceptron: {
        Style.MODULE: "for layer in self.layers:\n            x = self.relu(layer(x))\n",
        Style.MIXED: "for layer in self.layers:\n            x = F.relu(layer(x))\n",
        Style.FUNCTIONAL: (
            "for i in range(3):\n"
            "        x = F.relu(\n"
            '            F.linear(x, params[f"layers.{i}.weight"], params[f"layers.{i}.bias"])\n'
            "        )\n"
        ),
    },
    OnePair: {
        Style.MODULE: PAIRS_LOOP,
        Style.MIXED: PAIRS_LOOP,
        Style.FUNCTIONAL: (
            "for i in range(1):\n"
            '        x = attention(sub_params(params, f"layers.{i}.0."), x) + x\n'
            "        x = (\n"
            '            F.linear(x, params[f"layers.{i}.1.weight"], '
            'params[f"layers.{i}.1.bias"])\n'
        ),
    },
    OneKeptPair: {  # the trace ran the loop over the container: it prints so
        Style.MODULE: "for attn, ff in self.layers:\n            x = attn(x) + x\n",
        Style.MIXED: "for attn, ff in self.layers:\n            x = attn(x) + x\n",
        Style.FUNCTIONAL: (
            "for i in range(1):\n"
            '        x = attention(sub_params(params, f"layers.{i}.0."), x) + x\n'
        ),
    },
    Residuals: {
        Style.MODULE: "for block in self.blocks:\n            x = x + 0.5 * block(x)\n",
        Style.MIXED: "for block in self.blocks:\n            x = x + 0.5 * block(x)\n",
        Style.FUNCTIONAL: (
            "for i in range(3):\n"
            '        x = x + 0.5 * attention(sub_params(params, f"blocks.{i}."), x)\n'
        ),
    },
}


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("cls", list(LOOPS), ids=lambda c: c.__name__)
def test_a_body_over_each_member_prints_as_one_loop(cls, style):
    source = _converted(cls, style).source
    assert LOOPS[cls][style] in source
    for unrolled in ("layers[1]", "layers.1.", "blocks[1]", "blocks.1."):
        assert unrolled not in source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "cls", [ReadAfter, WrittenOut, OneWrittenOut], ids=lambda c: c.__name__
)
def test_members_read_elsewhere_or_written_out_stay(cls, style):
    source = _converted(cls, style).source
    assert (
        "for block in" not in source
        and "for i in range" not in source.split("def init_params(")[0]
    )


class EncoderModel(nn.Module):
    """The encoder as a block: its parent passes the flag (the root's own flags
    are traced both ways, ``nnconvert/flags.py``)."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()

    def forward(self, x):
        return self.encoder(x)[0]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_guard_on_a_flag_asks_first_and_the_steps_loop(style):
    """The flag's guard moves to the top (``passes/guards.py``), so every step is alike."""
    conversion = _converted(EncoderModel, style)
    source = conversion.source
    assert source.count("raise ValueError") == 1
    loop = "for i in range(3):" if style is Style.FUNCTIONAL else "for layer in"
    assert loop in source
    assert source.index("if return_attns:") < source.index(loop)
    model = load_output(conversion).module if style is not Style.FUNCTIONAL else None
    if model is not None:
        with pytest.raises(ValueError, match="return_attns"):
            model.encoder(*_inputs(), return_attns=True)


@pytest.mark.parametrize("to", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("via", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("cls", list(LOOPS), ids=lambda c: c.__name__)
def test_the_loop_survives_round_trips(cls, via, to, request):
    """original -> via -> to is original -> to, byte for byte.

    Except the user's names for a member's items (``for attn, ff in``),
    which a functional file, iterating over indices, does not hold.
    """
    if (
        cls in (Pairs, OnePair, OneKeptPair)
        and via is Style.FUNCTIONAL
        and to is not Style.FUNCTIONAL
    ):
        reason = "a functional file's loop over indices names no items"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    direct = _converted(cls, to)
    through = _converted(cls, via)
    name = cls.__name__ if via is Style.FUNCTIONAL else None
    again = nnconvert.convert(load_output(through, name), to, _inputs())
    assert again.source == direct.source


class NormedPairs(nn.Module):
    """Members with a BatchNorm each, which functional style calls over its weight dict."""

    def __init__(self, depth=3):
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.ModuleList([Attention(8), nn.BatchNorm1d(5)]) for _ in range(depth)]
        )

    def forward(self, x):
        for attn, bn in self.layers:
            x = attn(x) + x
            x = bn(x) + x
        return x


def test_a_layer_over_its_weight_dict_reads_each_members_weights():
    """``batch_norm(sub_params(params, f"layers.{i}.1."), ...)``, not member 0's every time."""
    source = _converted(NormedPairs, Style.FUNCTIONAL).source
    assert 'batch_norm(sub_params(params, f"layers.{i}.1."), ' in source
    assert '"layers.0.1."' not in source


class Chain(nn.Module):
    """DINO's ``for blk in self.blocks: x = blk(x)``: one call per member."""

    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList([Attention(dim) for _ in range(depth)])

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        return x


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_a_loop_keeps_the_variable_the_source_names(style):
    """``for blk in self.blocks:`` as written, for both kinds of member loop."""
    chain = _converted(Chain, style).source
    assert "for blk in self.blocks:\n            x = blk(x)\n" in chain
    encoder = _converted(EncoderModel, style).source
    assert "for layer in self.layer_stack:" in encoder


class PairsNamedAgain(Pairs):
    """``ff`` names a tensor after the loop: the items' names are not free."""

    def forward(self, x):
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        ff = x.sum(-1, keepdim=True)
        return self.norm(x) + ff


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_unpacked_items_keep_the_sources_names_only_where_free(style):
    """``for attn, ff in self.layers:`` as written; the member's variable where a name is taken."""
    assert "for attn, ff in self.layers:" in _converted(Pairs, style).source
    again = _converted(PairsNamedAgain, style).source
    assert "for layer in self.layers:\n            x = layer[0](x) + x\n" in again


class EnumeratedPairs(Pairs):
    """Perceiver's ``for i, (cross_attn, ...) in enumerate(self.layers):``."""

    def __init__(self, dim=8, depth=3):
        super().__init__(dim, depth)
        self.gated = [False] * depth

    def forward(self, x):
        for i, (attn, ff) in enumerate(self.layers):
            x = attn(x) + x
            x = ff(x) * 2 + x if self.gated[i] else ff(x) + x
        return self.norm(x)


class EnumeratedChain(Chain):
    def forward(self, x):
        for i, blk in enumerate(self.blocks):
            x = blk(x)
        return x


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_a_loop_over_an_enumerated_container_keeps_the_items_names(style):
    """The index goes (the trace read it as a constant); the items keep their names."""
    pairs = _converted(EnumeratedPairs, style).source
    assert "for attn, ff in self.layers:\n            x = attn(x) + x\n" in pairs
    chain = _converted(EnumeratedChain, style).source
    assert "for blk in self.blocks:\n            x = blk(x)\n" in chain


class Down(nn.Module):
    def __init__(self, dim, stride):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, stride=stride, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


class Stages(nn.Module):
    """MobileViT's trunk: each member's calls hand their result on, strides differ."""

    def __init__(self, dim=4, strides=(2, 1, 2)):
        super().__init__()
        self.stages = nn.ModuleList(
            [nn.ModuleList([Down(dim, s), nn.Conv2d(dim, dim, 1)]) for s in strides]
        )

    def forward(self, x):
        for down, mix in self.stages:
            x = down(x)
            x = mix(x)
        return x


STAGE_LOOPS = {
    Style.MODULE: (
        "for down, mix in self.stages:\n"
        "            x = down(x)\n"
        "            x = mix(x)\n"
    ),
    Style.MIXED: (
        "for down, mix in self.stages:\n"
        "            x = down(x)\n"
        "            x = mix(x)\n"
    ),
    Style.FUNCTIONAL: (
        "for i, stride in enumerate((2, 1, 2)):\n"
        '        x = down(sub_params(params, f"stages.{i}.0."), x, stride=stride)\n'
        '        x = F.conv2d(x, params[f"stages.{i}.1.weight"], params[f"stages.{i}.1.bias"])\n'
    ),
}


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_members_that_hand_their_result_on_loop_over_their_literals(style):
    """Functional style loops over the strides beside the index; class styles over the members."""
    inputs = (torch.randn(2, 4, 16, 16),)
    conversion = checked_conversion(Stages, style, inputs)
    assert STAGE_LOOPS[style] in conversion.source
    assert "stages.1." not in conversion.source.split("def init_params(")[0]
    again = nnconvert.convert(load_output(conversion, "Stages"), style, inputs)
    assert again.source == conversion.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_one_member_called_in_two_steps_is_no_loop_over_it(style):
    """The ``for`` around the member's call ran twice: its body is no one step."""
    source = _converted(OneCalledTwice, style).source
    assert "range(1)" not in source and "for block in self.blocks" not in source


class TwoStreams(nn.Module):
    """CrossViT's ``MultiScaleEncoder``: two streams advanced in one statement a step."""

    def __init__(self, dim=8, depth=2):
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.ModuleList([Attention(dim), nn.Linear(dim, dim)]) for _ in range(depth)]
        )

    def forward(self, sm_tokens, lg_tokens):
        for sm_enc, lg_enc in self.layers:
            sm_tokens, lg_tokens = sm_enc(sm_tokens), lg_enc(lg_tokens)
        return sm_tokens + lg_tokens


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_tuple_assignment_in_a_loop_stays_one_statement(style):
    """``a, b = f(a), g(b)`` in the loop's body, printed from the trace, as written.

    In functional style each call takes its slice of the weights: too long
    for one line, the values are in parentheses, which black breaks one
    value a line (not the first call's arguments, then ``), next_call(``).
    """
    inputs = (torch.randn(2, 5, 8), torch.randn(2, 5, 8))
    torch.manual_seed(0)
    conversion = nnconvert.convert(TwoStreams(), style, inputs, keep_source=False)
    conversion.check()
    conversion.check(train=True)
    source = conversion.source
    if style is Style.FUNCTIONAL:
        assert "for i in range(2):\n        sm_tokens, lg_tokens = (\n" in source
        assert "\n            attention(" in source
        assert "\n            F.linear(" in source
        assert "), F.linear(" not in source
    else:
        assert (
            "for sm_enc, lg_enc in self.layers:\n"
            "            sm_tokens, lg_tokens = sm_enc(sm_tokens), lg_enc(lg_tokens)\n"
        ) in source
