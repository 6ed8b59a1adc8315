"""What ``forward`` stores on its module for the caller stays (SPEC invariant 7).

llama2.c's ``Transformer`` returns the logits and leaves the loss on the
model, ``self.last_loss``, which its training loop reads. The output stores
it too: ``self.last_loss = ...`` in the class styles (set to None in
``__init__`` as the source does, under the user's comment), ``params[
"last_loss"] = ...`` in a functional root; the checker compares it after
every call. A cache ``forward`` reads back (``self.src_mask``) is not such a
store and prints as before.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.errors import CheckError, InputError
from nnconvert.options import Style
from nnconvert.stored_attributes import written_only

from .helpers import load_output, run, write


class LossOnModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 3)
        # the loss of the last call, None without targets
        self.last_loss = None

    def forward(self, x, targets=None):
        y = self.body(x)
        if targets is not None:
            # the training loop reads it off the model
            self.last_loss = F.mse_loss(y, targets)
        else:
            self.last_loss = None
        return y


class CachedMask(nn.Module):
    """A cache ``forward`` fills and reads back: not a store for the caller."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.mask = None

    def forward(self, x):
        if self.mask is None:
            self.mask = torch.ones(4)
        return self.fc(x) * self.mask


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        weights = self.proj(x).softmax(-1)
        self.attn_weights = weights  # kept for plotting
        return weights * x


class WithAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = Attention()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.attn(x))


pytestmark = pytest.mark.filterwarnings("ignore:Using a target size")

INPUTS = (torch.randn(2, 4), torch.randn(2, 3))


def _converted(style: Style, *inputs) -> nnconvert.Conversion:
    torch.manual_seed(0)
    conversion = nnconvert.convert(LossOnModel(), style, inputs or INPUTS)
    conversion.check(train=True)
    return conversion


class Resizable(LossOnModel):
    """A store another method makes is not ``forward``'s; one a helper makes is."""

    def resize(self, width):
        self.width = width

    def forward(self, x, targets=None):
        self.remember(x)
        return super().forward(x, targets)

    def remember(self, x):
        self.last_input = x


def test_only_written_attributes_are_stores():
    assert written_only(LossOnModel) == {"last_loss"}
    assert written_only(Resizable) == {"last_loss", "last_input"}
    assert written_only(CachedMask) == frozenset()  # read back: a cache
    assert written_only(Attention) == {"attn_weights"}


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_class_styles_store_on_self(style):
    source = _converted(style).source
    init = source[source.index("def __init__") : source.index("def forward")]
    forward = source[source.index("def forward") :]
    assert "# the loss of the last call, None without targets\n" in init
    assert "self.last_loss = None" in init
    # all-module style holds the loss as a layer, as every op with an nn class
    loss = "self.mse_loss" if style is Style.MODULE else "F.mse_loss"
    assert (
        "if targets is not None:\n"
        "            # the training loop reads it off the model\n"
        f"            self.last_loss = {loss}(y, targets)\n"
        "        else:\n"
        "            self.last_loss = None\n"
    ) in forward


def test_functional_root_stores_into_its_dict():
    source = _converted(Style.FUNCTIONAL).source
    assert 'params["last_loss"] = F.mse_loss(y, targets)' in source
    assert 'params["last_loss"] = None' in source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_the_output_leaves_what_the_original_leaves(style):
    conversion = _converted(style)
    original = conversion.model.eval()
    x, targets = INPUTS
    original(x, targets)
    expected = original.last_loss
    if style is Style.FUNCTIONAL:
        params = dict(original.state_dict())
        function = conversion.load()
        function(params, x, targets)
        got = params["last_loss"]
        function(params, x)
        after_none = params["last_loss"]
    else:
        loaded = conversion.load().eval()
        assert loaded.last_loss is None  # before the first call, as the original
        loaded(x, targets)
        got = loaded.last_loss
        loaded(x)
        after_none = loaded.last_loss
    torch.testing.assert_close(got, expected)
    assert after_none is None


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_the_checker_compares_the_store(style):
    """A rewrite storing a wrong loss fails the check, in process and as a file."""
    conversion = _converted(style)
    wrong = conversion.source.replace("F.mse_loss(y, targets)", "F.l1_loss(y, targets)")
    wrong = wrong.replace("nn.MSELoss()", "nn.L1Loss()")  # all-module: a layer
    assert wrong != conversion.source
    with pytest.raises(CheckError, match="last_loss"):
        dataclasses.replace(conversion, source=wrong).check()


def test_the_file_checker_compares_the_store(tmp_path):
    original = write(tmp_path, "original.py", ORIGINAL)
    rewrite = write(tmp_path, "rewrite.py", ORIGINAL.replace("mse_loss", "l1_loss"))
    result = run("check", str(original), str(rewrite))
    assert result.exit_code != 0
    assert "self.last_loss" in result.output
    assert run("check", str(original), str(original)).exit_code == 0


ORIGINAL = """
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 3)
        self.last_loss = None

    def forward(self, x, targets):
        y = self.body(x)
        self.last_loss = F.mse_loss(y, targets)
        return y


def example_inputs():
    return (torch.randn(2, 4), torch.randn(2, 3))
"""


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_a_block_stores_on_itself(style):
    torch.manual_seed(0)
    conversion = nnconvert.convert(WithAttention(), style, INPUTS[:1])
    conversion.check(train=True)
    assert "self.attn_weights = weights" in conversion.source
    loaded, original = conversion.load().eval(), conversion.model.eval()
    loaded(INPUTS[0])
    original(INPUTS[0])
    torch.testing.assert_close(loaded.attn.attn_weights, original.attn.attn_weights)


def test_functional_refuses_a_block_that_stores():
    with pytest.raises(InputError, match="'attn'.*self.attn_weights.*module or mixed"):
        nnconvert.convert(WithAttention(), Style.FUNCTIONAL, INPUTS[:1])


@pytest.mark.printed_from_trace
def test_a_cache_prints_as_before():
    torch.manual_seed(0)
    conversion = nnconvert.convert(CachedMask(), Style.MODULE, INPUTS[:1])
    conversion.check(train=True)
    assert "self.mask =" not in conversion.source.split("def forward")[1]


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_round_trips_keep_the_store(style):
    """original -> style -> style is byte for byte original -> style."""
    direct = _converted(style)
    again = nnconvert.convert(load_output(direct, "LossOnModel"), style, INPUTS)
    again.check(train=True)
    assert again.source == direct.source
