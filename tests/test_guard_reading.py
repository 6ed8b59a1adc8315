"""Shape guards read like the source: each written once, unpacked sizes as written, clear messages.

``q.view(*q.shape[:2], self.n_head, -1)`` (Whisper's attention) asks the
length of ``q.shape[:2]`` twice while tracing; the output writes the call as
the source did, which needs no guard at all. A guard on a plain argument (``for i in
range(future):``) says which argument differs, not that a shape does. Every
guard kept still refuses what it refused before.
"""

from __future__ import annotations

import operator

import pytest
import torch
from torch import fx, nn

import nnconvert
from nnconvert.branches import SHAPE_GUARD_MESSAGE, expect, only_when
from nnconvert.options import Style
from nnconvert.passes.guards import _ValueNumbers, drop_implied_guards

from .asserting_model import AssertsALength, AssertsBothSides
from .helpers import load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)


class HeadsAttention(nn.Module):
    """Whisper's ``qkv_attention``: heads split off with ``*x.shape[:2]``."""

    def __init__(self, n_state: int = 16, n_head: int = 2):
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state)

    def forward(self, x):
        q = self.query(x)
        k = self.key(x)
        q = q.view(*q.shape[:2], self.n_head, -1).permute(0, 2, 1, 3)
        k = k.view(*k.shape[:2], self.n_head, -1).permute(0, 2, 1, 3)
        return (q @ k.transpose(-1, -2)).flatten(1)


class MapsOverHeads(nn.Module):
    """vit-pytorch's attention: ``q, k, v = map(lambda t: ..., qkv)`` over a chunked tensor."""

    def __init__(self):
        super().__init__()
        self.to_qkv = nn.Linear(16, 48)

    def forward(self, x):
        qkv = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = map(lambda t: t.reshape(t.shape[0], -1, 2, 8).transpose(1, 2), qkv)
        return (q @ k.transpose(-1, -2)).softmax(-1) @ v


class SpreadsKeysAndValues(nn.Module):
    """CaiT's attention: ``qkv = (self.to_q(x), *self.to_kv(x).chunk(2, dim=-1))``."""

    def __init__(self):
        super().__init__()
        self.to_q = nn.Linear(16, 16)
        self.to_kv = nn.Linear(16, 32)

    def forward(self, x):
        qkv = (self.to_q(x), *self.to_kv(x).chunk(2, dim=-1))
        q, k, v = map(lambda t: t.reshape(t.shape[0], -1, 2, 8).transpose(1, 2), qkv)
        return (q @ k.transpose(-1, -2)).softmax(-1) @ v


class MasksTheLastWindows(nn.Module):
    """Swin's shifted masks: ``dots[:, :, -nw_w:] += ...`` reads ``-nw_w`` twice once traced."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        nw_w = x.shape[1] // 2
        y = self.fc(x)
        y[:, -nw_w:] += 1.0
        y[:, nw_w - 1 :: nw_w] += 2.0
        return y


class ReturnsAOneTuple(nn.Module):
    """attention-is-all-you-need's encoder: ``return enc_output,`` unless asked for more."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return (self.fc(x),)


class UnpacksWithAStar(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = ReturnsAOneTuple()

    def forward(self, x):
        enc_output, *_ = self.encoder(x)
        return enc_output.relu()


class CountsPositions(nn.Module):
    """nanoGPT's ``b, t = idx.size()`` with only ``t`` read, once."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)

    def forward(self, idx):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        return self.emb(idx) + pos[None, :, None]


class LoopsOverChunks(nn.Module):
    """The same chunks summed in a loop: a loop runs for any count, so the guard stays."""

    def forward(self, x):
        total = 0
        for part in x.chunk(3, dim=-1):
            total = total + part.exp()
        return total


class PredictsTheFuture(nn.Module):
    """``range(future)`` on a plain argument, whose steps differ: no loop, a guard.

    (Steps alike print as the loop: tests/test_range_loops.py.)
    """

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, future=0):
        x = self.fc(x)
        for i in range(future):
            x = self.fc(x) * (i + 1)
        return x


class MayReturnScores(nn.Module):
    """DINO's block returns its attention scores on request; traced without."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, return_attention=False):
        scores = self.fc(x)
        if return_attention:
            return scores
        return scores.softmax(-1)


class ChecksItsInput(nn.Module):
    """A model that refuses a width itself, with its own message."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.shape[-1] != 4:
            raise ValueError("expected 4 features")
        return self.fc(x)


class ScalesBy(nn.Module):
    """An int argument given with the example inputs (traced as a constant).

    Its steps differ, so it stays a guard (alike ones print as the loop:
    tests/test_range_loops.py).
    """

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, repeats):
        for i in range(repeats):
            x = self.fc(x) + i
        return x


def converted(model: nn.Module, style: Style, inputs: tuple) -> nnconvert.Conversion:
    conversion = nnconvert.convert(model, style, inputs)
    conversion.check(train=True)
    return conversion


def run(conversion: nnconvert.Conversion, *args, **kwargs):
    """Call the output as a user would: the module, or the function with the weights."""
    loaded = conversion.load()
    if conversion.style is Style.FUNCTIONAL:
        return loaded(dict(conversion.model.state_dict()), *args, **kwargs)
    return loaded(*args, **kwargs)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_sizes_unpacked_as_the_source_did_need_no_guard(style):
    """``*q.shape[:2]`` printed as written does what the source does for any rank.

    The trace guarded the length of ``q.shape[:2]`` (asked twice). Printed
    as the source wrote it, the call needs no guard: an input of another
    rank, which the guard refused, now gives what the original gives.
    """
    torch.manual_seed(0)
    model = HeadsAttention()
    conversion = converted(model, style, (torch.randn(2, 5, 16),))
    source = conversion.source
    heads = "n_head" if style is Style.FUNCTIONAL else "self.n_head"
    assert f"q.view(*q.shape[:2], {heads}, -1)" in source
    assert f"k.view(*k.shape[:2], {heads}, -1)" in source
    assert "len(" not in source and "getitem" not in source
    four_d = torch.randn(2, 3, 5, 16)  # q.shape[:2] is (2, 3): heads of the rest
    torch.testing.assert_close(run(conversion, four_d), model(four_d))


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_tuple_the_source_unpacks_is_unpacked_without_a_guard(style):
    """Iterating ``qkv`` asked its length; ``q, k, v = ...`` checks that itself.

    Unpacked where it is made, each element takes the name the source gave
    what its statement made of it (``q``, ``k``, ``v``, not ``out2``).
    """
    torch.manual_seed(0)
    model, inputs = MapsOverHeads(), (torch.randn(2, 5, 16),)
    conversion = converted(model, style, inputs)
    assert "q, k, v = " in conversion.source
    assert "if len(" not in conversion.source
    assert "out2" not in conversion.source
    for via in STYLES:  # read back from any style, the same text
        reloaded = load_output(nnconvert.convert(model, via, inputs))
        assert nnconvert.convert(reloaded, style, inputs).source == conversion.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_tuple_spread_into_another_is_unpacked_without_a_guard(style):
    """Spreading ``chunk``'s values into ``qkv`` asked their length, as a loop would.

    ``q, k, v = map(...)`` then refuses another count, and so does ``k, v =
    ....chunk(2, dim=-1)`` written where the chunks are made. Before, the
    output held the chunks in a variable named after the input (``x =
    F.linear(x, ...).chunk(2, dim=-1)``), guarded its length and indexed it
    (``k = x[0]``).
    """
    torch.manual_seed(0)
    model, inputs = SpreadsKeysAndValues(), (torch.randn(2, 5, 16),)
    conversion = converted(model, style, inputs)
    to_kv = 'F.linear(x, params["to_kv.weight"], params["to_kv.bias"])'
    if style is not Style.FUNCTIONAL:
        to_kv = "self.to_kv(x)"
    assert f"k, v = {to_kv}.chunk(2, dim=-1)" in conversion.source
    assert "if len(" not in conversion.source
    for via in STYLES:  # read back from any style, the same text
        reloaded = load_output(nnconvert.convert(model, via, inputs))
        assert nnconvert.convert(reloaded, style, inputs).source == conversion.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_tuple_of_one_unpacked_with_a_star_stays_so(style):
    """``enc_output, *_ = self.encoder(x)``, not ``x = ...; if len(x) != 1: ...; x[0]``."""
    model, inputs = UnpacksWithAStar(), (torch.randn(3, 4),)
    conversion = converted(model, style, inputs)
    assert "enc_output, *_ = " in conversion.source
    assert "if len(" not in conversion.source
    for via in STYLES:
        reloaded = load_output(nnconvert.convert(model, via, inputs))
        assert nnconvert.convert(reloaded, style, inputs).source == conversion.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_one_size_read_inline_is_asked_for_by_its_dimension(style):
    """``idx.size(1)``, not the trace's ``idx.size()[1]``."""
    model, inputs = CountsPositions(), (torch.randint(0, 10, (2, 5)),)
    conversion = converted(model, style, inputs)
    assert "torch.arange(0, idx.size(1), dtype=torch.int64)" in conversion.source
    assert "size()[" not in conversion.source
    reloaded = load_output(conversion)
    assert nnconvert.convert(reloaded, style, inputs).source == conversion.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_tuple_a_loop_runs_over_keeps_its_length_guard(style):
    conversion = converted(LoopsOverChunks(), style, (torch.randn(2, 6),))
    assert "if len(" in conversion.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_guard_on_a_plain_argument_names_it(style):
    conversion = converted(PredictsTheFuture(), style, (torch.randn(2, 4),))
    message = "traced with future=0; convert again with this future"
    assert f'raise ValueError("{message}")' in conversion.source
    assert SHAPE_GUARD_MESSAGE not in conversion.source
    with pytest.raises(ValueError, match=message):
        run(conversion, torch.randn(2, 4), future=2)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_test_of_a_flag_reads_as_the_source_asked_it(style):
    """The root's flag is traced both ways (``nnconvert/flags.py``): both paths run."""
    model = MayReturnScores()
    conversion = converted(model, style, (torch.randn(2, 4),))
    assert "if return_attention:" in conversion.source  # not ``if not not_2:``
    assert "not_" not in conversion.source
    assert "traced with return_attention" not in conversion.source
    x = torch.randn(2, 4)
    with torch.no_grad():
        scores = run(conversion, x, return_attention=True)
        torch.testing.assert_close(scores, model(x, return_attention=True))


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_guard_from_an_assert_quotes_it(style):
    """Converting again with a longer input would not help: the model refuses it."""
    conversion = converted(AssertsALength(), style, (torch.randn(2, 6, 4),))
    message = "the model asserts t <= self.block_size; this input fails it"
    assert message in conversion.source
    assert SHAPE_GUARD_MESSAGE not in conversion.source
    with pytest.raises(ValueError, match=message):
        run(conversion, torch.randn(2, 9, 4))


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_an_assert_with_a_message_guards_every_test_with_it(style):
    """Each side of ``assert a and b, "..."`` is the model's refusal, in its words.

    The first test jumps to the failing assertion rather than falling into
    it; it used to get the shape message (convert again), the second the
    quoted test; and an assertion over several lines was not found at all.
    """
    conversion = converted(AssertsBothSides(), style, (torch.randn(2, 3, 8, 8),))
    message = "height and width must be divisible by patch size"
    assert conversion.source.count(message) == 1  # one guard: ``if a or b:``
    assert "the model asserts" not in conversion.source
    for shape in [(2, 3, 6, 8), (2, 3, 8, 6)]:
        with pytest.raises(ValueError, match=message):
            run(conversion, torch.randn(shape))
    assert run(conversion, torch.randn(1, 3, 12, 4)).shape == (1, 4, 3, 1)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_guard_from_the_models_own_check_keeps_its_message(style):
    conversion = converted(ChecksItsInput(), style, (torch.randn(2, 4),))
    assert 'raise ValueError("expected 4 features")' in conversion.source
    with pytest.raises(ValueError, match="expected 4 features"):
        run(conversion, torch.randn(2, 5))


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_constant_argument_says_how_to_convert_again(style):
    conversion = converted(ScalesBy(), style, (torch.randn(2, 4), 2))
    message = "traced with repeats=2; convert again with this repeats"
    assert message in conversion.source
    with pytest.raises(ValueError, match=message):
        run(conversion, torch.randn(2, 4), 3)


@pytest.mark.parametrize("to", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("via", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "build, shape, written",
    [
        (HeadsAttention, (2, 5, 16), "*q.shape[:2]"),
        (PredictsTheFuture, (2, 4), "traced with future=0"),
        (MayReturnScores, (2, 4), "if return_attention:"),
        (AssertsALength, (2, 6, 4), "the model asserts t <= self.block_size"),
        (ChecksItsInput, (2, 4), "expected 4 features"),
        (AssertsBothSides, (2, 3, 8, 8), "must be divisible by patch size"),
    ],
    ids=[
        "unpacked_sizes",
        "argument_message",
        "flag",
        "assert",
        "own_check",
        "assert_message",
    ],
)
def test_guards_read_back_as_written(build, shape, written, via, to):
    """original -> via -> to is original -> to, byte for byte (functional in too)."""
    torch.manual_seed(0)
    model = build()
    inputs = (torch.randn(shape),)
    first = nnconvert.convert(model, via, inputs)
    assert written in first.source
    again = nnconvert.convert(load_output(first), to, inputs)
    assert again.source == nnconvert.convert(model, to, inputs).source


# -- the pass on graphs: which guard implies which ------------------------------


def guarded_graph(first: bool | None, second: bool | None) -> fx.Graph:
    """Two guards ``len(x.shape[:2]) == 2``, each always or under ``flag == first``."""
    graph = fx.Graph()
    x = graph.placeholder("x")
    flag = graph.placeholder("flag")
    for answer in (first, second):
        shape = graph.call_function(getattr, (x, "shape"))
        head = graph.call_function(operator.getitem, (shape, slice(None, 2, None)))
        length = graph.call_function(len, (head,))
        condition = graph.call_function(operator.eq, (length, 2))
        guard = graph.call_function(expect, (condition, SHAPE_GUARD_MESSAGE))
        if answer is not None:
            graph.call_function(only_when, (flag, answer, guard))
    graph.output(x)
    return graph


def guard_count(graph: fx.Graph) -> int:
    return sum(1 for n in graph.nodes if n.op == "call_function" and n.target is expect)


@pytest.mark.parametrize(
    "first, second, kept",
    [
        (None, None, 1),  # the same check twice on one path
        (None, True, 1),  # the first runs wherever the second does
        (True, True, 1),
        (True, None, 2),  # the first runs only under flag: the second is needed
        (True, False, 2),  # exclusive branches: each needs its own
    ],
)
def test_a_guard_goes_only_where_an_earlier_one_runs_too(first, second, kept):
    graph = guarded_graph(first, second)
    drop_implied_guards(graph)
    graph.lint()
    assert guard_count(graph) == kept


def _doubled(times: int) -> fx.Graph:
    """``x = x + x`` ``times`` times, then the same guard on it twice."""
    graph = fx.Graph()
    value = graph.placeholder("x")
    for _ in range(times):
        value = graph.call_function(operator.add, (value, value))
    for _ in range(2):
        condition = graph.call_function(operator.gt, (value, 0))
        graph.call_function(expect, (condition, SHAPE_GUARD_MESSAGE))
    graph.output(value)
    return graph


def test_guards_below_a_deep_graph_are_compared_by_small_keys():
    """A value computed through many shared steps (Whisper read back as functional).

    ``x = x + x`` thirty times is 2**30 paths from the guard to ``x``: a key
    that spelled them all out took minutes to hash. Each value's key is a
    number standing for its structure, the same size however deep the graph
    (checked on 12 steps, where a spelled-out key would be thousands of
    characters long), so the pass is quick on 30.
    """
    graph = _doubled(12)
    numbers = _ValueNumbers()
    guard = next(node for node in graph.nodes if node.target is expect)
    assert len(repr(numbers.of(guard.args[0]))) < 40
    graph = _doubled(30)
    assert drop_implied_guards(graph)
    assert guard_count(graph) == 1


def test_a_guard_on_another_value_stays():
    graph = fx.Graph()
    for name in ("q", "k"):
        shape = graph.call_function(getattr, (graph.placeholder(name), "shape"))
        length = graph.call_function(len, (shape,))
        condition = graph.call_function(operator.eq, (length, 3))
        graph.call_function(expect, (condition, SHAPE_GUARD_MESSAGE))
    graph.output(None)
    assert not drop_implied_guards(graph)
    assert guard_count(graph) == 2


class RotaryShapes(nn.Module):
    """llama2.c's ``reshape_for_broadcast``, its assert written as the check it is."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, freqs):
        if freqs.shape != (x.shape[1], x.shape[-1]):
            raise ValueError("freqs must match the sequence and the width")
        return self.fc(x * freqs.view(1, x.shape[1], 1, x.shape[3]))


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_shape_compared_with_a_tuple_of_sizes_is_guarded(style):
    """A failed ``!=`` whose right side is a tuple of traced sizes becomes its ``==`` guard."""
    inputs = (torch.randn(2, 3, 5, 4), torch.randn(3, 4))
    conversion = nnconvert.convert(RotaryShapes(), style, inputs)
    conversion.check(train=True)
    assert "freqs must match the sequence and the width" in conversion.source


class BroadcastShape(nn.Module):
    """llama2.c's ``reshape_for_broadcast``: a view shape made by iterating ``x.shape``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, freqs):
        ndim = x.ndim
        shape = [d if i == 1 or i == ndim - 1 else 1 for i, d in enumerate(x.shape)]
        return self.fc(x * freqs.view(shape))


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_rank_read_by_iterating_a_shape_is_guarded_and_traced_again(style):
    """The rank guard prints as ``len(x.shape)``, which the output's trace reads back."""
    inputs = (torch.randn(2, 3, 5, 4), torch.randn(3, 4))
    first = nnconvert.convert(BroadcastShape(), style, inputs)
    first.check(train=True)
    assert "len(x.shape) != 4" in first.source
    again = nnconvert.convert(load_output(first), style, inputs)
    again.check(train=True)
    assert again.source == first.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_one_step_on_a_number_is_written_where_it_is_read(style):
    """``-nw_w`` and ``nw_w - 1``, not ``neg2 = -nw_w`` and ``sub2 = nw_w - 1``.

    Each is read twice (the slice read, the slice written); a statement of
    its own, it took a name the user never wrote.
    """
    torch.manual_seed(0)
    conversion = converted(MasksTheLastWindows(), style, (torch.randn(2, 6, 8),))
    source = conversion.source
    assert source.count("y[:, -nw_w:]") == 2
    assert source.count("y[:, nw_w - 1 :: nw_w]") == 2
    assert "neg" not in source and "sub" not in source.replace("sub_params", "")
    reloaded = load_output(conversion)
    assert (
        nnconvert.convert(reloaded, style, conversion.example_inputs).source == source
    )
