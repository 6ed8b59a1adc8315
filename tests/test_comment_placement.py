"""A comment stands before the code it annotates, and not at all when that code is gone.

The trace runs one path: a comment on a branch it did not take, or after
the ``return`` it took (DINO's ``interpolate_pos_encoding``), annotates
code the output does not have and is not printed. A comment on a
statement folded into the next one (``shape = ...  # note``, then
``torch.rand(shape)``) goes before the first step printed from it.
Every conversion here is checked side by side.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nnconvert.options import Style

from .test_source_map import converted

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)


class EarlyReturn(nn.Module):
    def __init__(self, interpolate=False):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.interpolate = interpolate

    def resize(self, x):
        # doubled first
        x = x * 2
        if not self.interpolate:
            return x
        # we add a small number to avoid floating point error
        scale = 2 + 0.1
        return x * scale

    def forward(self, x):
        if self.interpolate:
            # the branch the trace does not take
            x = x + 1
        x = self.fc(x)
        x = self.resize(x)
        # the result
        return x


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_comments_on_code_the_trace_did_not_run_are_not_printed(style):
    text = converted(EarlyReturn(), style, torch.randn(3, 4))
    assert "# doubled first" in text
    assert "# the result" in text
    assert "small number" not in text
    assert "does not take" not in text


class Folded(nn.Module):
    def forward(self, x):
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one value per sample
        noise = torch.ones(shape, dtype=x.dtype) * 2
        return x * noise


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_comment_on_a_folded_statement_goes_before_its_first_step(style):
    text = converted(Folded(), style, torch.randn(3, 4))
    lines = [line.strip() for line in text.splitlines()]
    index = lines.index("# one value per sample")
    assert "torch.ones(" in lines[index + 1]


class Towers(nn.Module):
    """CLIP's shape: methods kept as methods, reading a weight's dtype through a property."""

    def __init__(self):
        super().__init__()
        self.image = nn.Linear(4, 4)
        self.text = nn.Linear(4, 4)

    @property
    def dtype(self):
        return self.image.weight.dtype

    def encode_image(self, x):
        return self.image(x.type(self.dtype))

    def encode_text(self, x):
        x = self.text(x.type(self.dtype))  # [batch, width]
        # the text tower's last step
        return x * 2

    def forward(self, image, text):
        image_features = self.encode_image(image)
        text_features = self.encode_text(text)

        # shape = [batch, batch]
        return image_features @ text_features.t()


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_each_function_says_its_own_comments_once(style):
    """Neither a kept method's comments in ``forward`` nor ``forward``'s in a method."""
    inputs = (torch.randn(3, 4), torch.randn(3, 4))
    source = converted(Towers().eval(), style, *inputs)
    for comment in ("# [batch, width]", "# the text tower's last step", "# shape ="):
        assert source.count(comment) == 1, comment
    forward = source.split("def forward(")[1].split("\n    def ")[0]
    assert "# shape = [batch, batch]" in forward
    assert "tower" not in forward and "[batch, width]" not in forward
