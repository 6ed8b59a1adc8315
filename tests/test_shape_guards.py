"""Shape decisions the tracer answered become guards in the output, never silent constants.

The concrete tracer answers Python's questions about shapes (``if
x.shape[-1] > 8:``, ``int(x.size(1))``, ``for s in x.size()[1:]:``) from the
example inputs. The output keeps what that answer traced, and checks the
answer again: an input that would have gone the other way is refused with a
clear error, not computed differently.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.branches import SHAPE_GUARD_MESSAGE
from nnconvert.errors import ConversionError
from nnconvert.check import other_shapes
from nnconvert.options import Style

from .helpers import load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)


class PoolsLargeInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        x = self.conv(x)
        if x.shape[-1] > 8:
            x = F.avg_pool2d(x, 2)
        return x.flatten(1).sum(1)


class SingleSampleSpecialCase(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 5)

    def forward(self, x):
        if x.size(0) == 1:
            return self.fc(x) * 2
        return self.fc(x)


class FloatOfASize(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x) / float(x.size(1))


CASES = {
    "comparison": (PoolsLargeInputs, (2, 3, 16, 16), (2, 3, 8, 8)),
    "batch_of_one": (SingleSampleSpecialCase, (3, 5), (1, 5)),
    "float": (FloatOfASize, (2, 5, 4), (2, 6, 4)),
}


def checked(build, shape: tuple[int, ...], style: Style):
    """A new model and its conversion, checked in eval and train mode."""
    torch.manual_seed(0)
    model = build()
    conversion = nnconvert.convert(model, style, (torch.randn(shape),))
    conversion.check(train=True)
    return model, conversion


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("case", CASES)
def test_an_input_the_trace_did_not_cover_is_refused(case, style):
    build, traced_shape, other_shape = CASES[case]
    model, conversion = checked(build, traced_shape, style)
    assert "raise ValueError" in conversion.source
    rewrite = conversion.load()
    other = torch.randn(other_shape)
    model(other)  # the original takes it, on its other path
    with pytest.raises(ValueError, match="input shape differs from the traced one"):
        if style is Style.FUNCTIONAL:
            rewrite(dict(model.state_dict()), other)
        else:
            rewrite(other)


class IntOfASize(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        features = int(x.size(1)) * int(x.size(2))
        return self.fc(x.reshape(-1, features))


class SplitsAtAFraction(nn.Module):
    """ShuffleNet's SplitBlock: the split point is computed from the width."""

    def __init__(self, ratio=0.5):
        super().__init__()
        self.ratio = ratio

    def forward(self, x):
        c = int(x.size(1) * self.ratio)
        return x[:, :c, :, :] * 2, x[:, c:, :, :]


INT_CASES = {
    "reshape": (IntOfASize, (2, 3, 4), (2, 4, 3)),
    "split": (SplitsAtAFraction, (2, 4, 3, 3), (2, 6, 3, 3)),
}


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("case", INT_CASES)
def test_int_of_sizes_stays_computed_from_the_input(case, style):
    """``int(x.size(1) * ratio)`` is written as such: no guard, other widths work."""
    build, traced_shape, other_shape = INT_CASES[case]
    model, conversion = checked(build, traced_shape, style)
    assert "raise ValueError" not in conversion.source
    assert "int(x.size(1)" in conversion.source
    rewrite = conversion.load()
    other = torch.randn(other_shape)
    params = dict(model.state_dict())
    got = rewrite(params, other) if style is Style.FUNCTIONAL else rewrite(other)
    torch.testing.assert_close(got, model(other))


def test_the_guard_is_the_opposite_of_the_traced_answer():
    conversion = nnconvert.convert(
        PoolsLargeInputs(), Style.MIXED, (torch.randn(2, 3, 16, 16),)
    )
    assert "if x.shape[-1] <= 8:" in conversion.source


def test_a_model_without_shape_questions_gets_no_guard():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, (torch.randn(2, 4),))
    assert "raise" not in conversion.source


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_guards_read_back_as_the_same_guards(style):
    first = nnconvert.convert(PoolsLargeInputs(), style, (torch.randn(2, 3, 16, 16),))
    again = nnconvert.convert(load_output(first), style, (torch.randn(2, 3, 16, 16),))
    assert again.source == first.source


def test_the_check_runs_another_shape_where_the_model_takes_one():
    model = PoolsLargeInputs()
    [(label, (resized,))] = other_shapes(model, (torch.randn(2, 3, 16, 16),))[:1]
    assert resized.shape == (2, 3, 32, 32)
    report = nnconvert.convert(
        model, Style.MODULE, (torch.randn(2, 3, 16, 16),)
    ).check()
    assert any("other input shape" in r.label for r in report.results)


def test_a_frozen_shape_without_a_guard_fails_the_other_shape_check():
    """The check itself catches a constant taken from the traced shape."""
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1))
    conversion = nnconvert.convert(model, Style.MODULE, (torch.randn(2, 3, 8, 8),))
    frozen = conversion.source.replace("nn.AdaptiveAvgPool2d(1)", "nn.AvgPool2d(8)")
    assert frozen != conversion.source
    wrong = nnconvert.Conversion(
        frozen, conversion.name, Style.MODULE, model, conversion.example_inputs
    )
    with pytest.raises(nnconvert.CheckError, match="other input shape"):
        wrong.check()


def test_the_guard_message_is_one_line_of_code():
    assert len(f'                "{SHAPE_GUARD_MESSAGE}"') <= 88


class StepsOverTime(nn.Module):
    """pytorch/examples' time_sequence_prediction: a cell in a Python loop over steps."""

    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(1, 8)

    def forward(self, x):
        h = torch.zeros(x.size(0), 8)
        c = torch.zeros(x.size(0), 8)
        for x_t in x.split(1, dim=1):
            h, c = self.cell(x_t, (h, c))
        return h


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_loop_over_tensor_pieces_runs_any_length(style):
    """The unrolled loop is one body again (:mod:`nnconvert.printer.data_loops`): no guard."""
    conversion = nnconvert.convert(StepsOverTime(), style, (torch.randn(2, 6),))
    report = conversion.check(train=True)
    assert not any("refuses" in reason for reason in report.skipped)
    assert "for x_t in x.split(1, dim=1):" in conversion.source
    rewrite = conversion.load()
    model = conversion.model
    longer = torch.randn(2, 12)
    weights = (dict(model.state_dict()),) if style is Style.FUNCTIONAL else ()
    torch.testing.assert_close(rewrite(*weights, longer), model(longer))


class ScaledSteps(StepsOverTime):
    """Each step scaled by its number: the steps differ, so they stay unrolled."""

    def forward(self, x):
        h = torch.zeros(x.size(0), 8)
        c = torch.zeros(x.size(0), 8)
        for i, x_t in enumerate(x.split(1, dim=1)):
            h, c = self.cell(x_t * (i + 1), (h, c))
        return h


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_loop_over_tensor_pieces_is_guarded_by_its_length(style):
    """The unrolled loop holds for the example's 6 steps only: other lengths are refused."""
    conversion = nnconvert.convert(ScaledSteps(), style, (torch.randn(2, 6),))
    report = conversion.check(train=True)
    assert any("refuses" in reason for reason in report.skipped)
    rewrite = conversion.load()
    model = conversion.model
    longer = torch.randn(2, 12)
    model(longer)  # the original takes it
    with pytest.raises(ValueError, match=SHAPE_GUARD_MESSAGE):
        if style is Style.FUNCTIONAL:
            rewrite(dict(model.state_dict()), longer)
        else:
            rewrite(longer)


class TurnsAutocastOff(nn.Module):
    """timm's EfficientViT: attention in float32 whatever the caller's autocast."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        x = self.fc(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.softmax(-1)
        return x


def test_an_autocast_block_is_refused_by_name_not_dropped():
    """fx records calls, not ``with`` blocks: the rewrite would run the body in another precision."""
    with pytest.raises(ConversionError, match="enters torch.autocast"):
        nnconvert.convert(TurnsAutocastOff(), Style.MIXED, (torch.randn(3, 8),))
    with torch.autocast("cpu", enabled=False):  # autocast works again after the trace
        pass


class FixedSpectrogramAnyTokens(nn.Module):
    """Whisper: the audio must keep its length, the tokens need not."""

    def __init__(self):
        super().__init__()
        self.audio = nn.Linear(12, 8)
        self.embedding = nn.Embedding(20, 8)

    def forward(self, mel, tokens):
        if mel.shape[-1] != 12:
            raise ValueError("the spectrogram has a fixed length")
        return self.embedding(tokens) + self.audio(mel).mean(1, keepdim=True)


def test_another_shape_is_tried_on_each_input_alone():
    model = FixedSpectrogramAnyTokens()
    inputs = (torch.randn(2, 3, 12), torch.randint(0, 20, (2, 5)))
    ((label, resized),) = other_shapes(model, inputs)
    assert "input 1 only" in label
    assert resized[0].shape == (2, 3, 12) and resized[1].shape != (2, 5)


class ParallelOnGpus(nn.Module):
    """pytorch/examples' DCGAN: a question about the input's device, not its shape."""

    def __init__(self, ngpu=1):
        super().__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(nn.Linear(4, 4), nn.Tanh())

    def forward(self, input):
        if (input.is_cuda or input.is_xpu) and self.ngpu > 1:
            return nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        return self.main(input)


class HalfPrecisionBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.dtype == torch.float16:
            x = x.float()
        return self.fc(x)


@pytest.mark.parametrize(
    "case, says",
    [
        (ParallelOnGpus, "traced with inputs on cpu; convert again with inputs on"),
        (HalfPrecisionBranch, "traced with torch.float32 inputs; convert again"),
    ],
)
def test_a_guard_on_the_inputs_device_or_dtype_says_so(case, says):
    model = case().eval()
    x = torch.randn(3, 4)
    conversion = nnconvert.convert(model, to="functional", example_inputs=(x,))
    assert says in conversion.source
    assert SHAPE_GUARD_MESSAGE not in conversion.source
    conversion.check(train=True)


@pytest.mark.parametrize("style", ["functional", "module", "mixed"])
def test_guards_raising_one_message_are_one_if(style):
    """DCGAN's device test traces as two guards with one message: one ``if a or b:``."""
    x = torch.randn(3, 4)
    conversion = nnconvert.convert(
        ParallelOnGpus().eval(), to=style, example_inputs=(x,), keep_source=False
    )
    assert "if input.is_cuda or input.is_xpu:" in conversion.source
    assert conversion.source.count("raise ValueError") == 1
    conversion.check(train=True)
    loaded = load_output(conversion, "ParallelOnGpus")
    again = nnconvert.convert(loaded, style, (x,), keep_source=False)
    assert again.source == conversion.source


class DeviceAfterNorm(nn.Module):
    """PointNet's ``if x.is_cuda: iden = iden.cuda()`` on a normalised tensor."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        x = self.bn(self.fc(x))
        iden = torch.eye(2).view(1, 4)
        if x.is_cuda:
            iden = iden.cuda()
        return x + iden


def test_a_device_guard_on_a_value_made_with_the_training_flag_reads_back():
    """Read back, ``x`` is ``F.batch_norm(..., training=training)``: its device is no question of the mode."""
    inputs = (torch.randn(3, 4),)
    conversion = nnconvert.convert(DeviceAfterNorm().eval(), "functional", inputs)
    assert "if x.is_cuda:" in conversion.source
    again = nnconvert.convert(
        load_output(conversion, "DeviceAfterNorm"), "functional", inputs
    )
    assert again.source == conversion.source
    again.check(train=True)


class StarredShape(nn.Module):
    """lucidrains' attention: ``b, n, _, h = *x.shape, self.heads``."""

    def __init__(self, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(8, 24, bias=False)

    def forward(self, x):
        b, n, _, h = *x.shape, self.heads
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.reshape(b, n, h, -1).transpose(1, 2)
        k = k.reshape(b, n, h, -1).transpose(1, 2)
        v = v.reshape(b, n, h, -1).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return out.transpose(1, 2).reshape(b, n, -1)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_starred_shape_unpacks_into_sizes_of_the_input(style):
    """Each size stays the input's (another length runs), the rank is checked once."""
    torch.manual_seed(0)
    model = StarredShape()
    conversion = nnconvert.convert(
        model, style, (torch.randn(2, 5, 8),), keep_source=False
    )
    conversion.check(train=True)
    rewrite = conversion.load()

    def run(x):
        if style is Style.FUNCTIONAL:
            return rewrite(dict(model.state_dict()), x)
        return rewrite(x)

    longer = torch.randn(3, 7, 8)
    assert torch.allclose(run(longer), model(longer), atol=1e-6)
    with pytest.raises(ValueError):
        run(torch.randn(2, 5, 1, 8))


class WindowedAttention(nn.Module):
    """ScalableViT's attention: ``height, width, heads = *x.shape[-2:], self.heads``."""

    def __init__(self, heads=2):
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Conv2d(4, 12, 1, bias=False)

    def forward(self, x):
        height, width, heads = *x.shape[-2:], self.heads
        q, k, v = self.to_qkv(x).flatten(2).transpose(1, 2).chunk(3, dim=-1)
        q, k, v = (
            t.reshape(t.shape[0], -1, heads, 2).transpose(1, 2) for t in (q, k, v)
        )
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2)
        return out.reshape(-1, 4, height, width)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_the_last_sizes_unpack_into_the_inputs_sizes(style):
    """``*x.shape[-2:]`` stays the input's height and width, unguarded: another size runs.

    The example answered them once (``x=16, y=16`` in every block of a
    functional ScalableViT, refusing any other image size).
    """
    torch.manual_seed(0)
    model = WindowedAttention()
    conversion = nnconvert.convert(
        model, style, (torch.randn(2, 4, 6, 6),), keep_source=False
    )
    conversion.check(train=True)
    assert "height, width = x.shape[-2:]" in conversion.source
    assert "raise ValueError" not in conversion.source
    rewrite = conversion.load()
    other = torch.randn(3, 4, 5, 7)
    params = dict(model.state_dict())
    got = rewrite(params, other) if style is Style.FUNCTIONAL else rewrite(other)
    torch.testing.assert_close(got, model(other))


class StarredHeightWidth(nn.Module):
    """NesT's ``*_, h, w = x.shape``: the sizes are read where used, no ``outs = x.shape``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        *_, h, w = x.shape
        return self.conv(x).reshape(-1, 4, h * w)


def test_a_shape_unpacked_in_part_stays_inline():
    conversion = nnconvert.convert(
        StarredHeightWidth(), Style.FUNCTIONAL, (torch.randn(2, 4, 6, 6),)
    )
    conversion.check(train=True)
    assert "= x.shape\n" not in conversion.source
