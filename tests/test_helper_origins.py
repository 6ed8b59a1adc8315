"""A tensor a helper method computed in ``__init__`` keeps what the method says.

The output holds the tensor's value, not the method that computed it
(:mod:`nnconvert.helper_origins`): the method's docstring and comments go
with the tensor's definition -- above ``self.<name> = ...`` in class
styles; in functional style above its key in ``init_params()`` (a saved
tensor) or above the statement that rebuilds it where it is read (a tensor
outside the ``state_dict``), unless the method alone rebuilds it: then the
method itself is written, as a function building a module-level constant.
Every conversion here is checked side by side.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.helper_origins import ancestry, helper_comments
from nnconvert.options import Style

from .helpers import load_output
from .test_source_map import converted

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)
CLASS_STYLES = [Style.MODULE, Style.MIXED]


class Table(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        # not a parameter
        self.register_buffer("table", self._make_table(n, d))

    def _make_table(self, n, d):
        """A ramp, one row per position."""
        # TODO: a closed form
        table = torch.arange(n * d, dtype=torch.float32).view(1, n, d)
        table[:, :, 0] = 0  # the first column stays zero
        return table

    def forward(self, x):
        return x + self.table[:, : x.size(1)]


class WithTable(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.table = Table(6, 4)

    def forward(self, x):
        return self.table(self.fc(x))


class Block(nn.Module):
    def __init__(self, width, mask=None):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.mask = mask

    def forward(self, x):
        x = self.fc(x)
        if self.mask is not None:
            x = x + self.mask
        return x


class Stack(nn.Module):
    def __init__(self, width, layers, mask=None):
        super().__init__()
        self.blocks = nn.Sequential(*[Block(width, mask) for _ in range(layers)])

    def forward(self, x):
        return self.blocks(x)


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.size = 5
        self.plain = Stack(5, 1)
        self.masked = Stack(5, 2, mask=self.build_mask())

    def build_mask(self):
        # causal: -inf above the diagonal
        mask = torch.full((self.size, self.size), float("-inf"))
        mask.triu_(1)  # zero out the lower diagonal
        return mask

    def forward(self, x):
        return self.masked(self.plain(x))


def _lines_before(text: str, marker: str, count: int) -> list[str]:
    """The ``count`` comment lines above the first line holding ``marker``, stripped.

    Skipping the comment ``init_params()`` writes itself just above a key
    (``# Table's own tensor: set it before use``).
    """
    lines = [line.strip() for line in text.splitlines()]
    index = next(i for i, line in enumerate(lines) if marker in line)
    if lines[index - 1].endswith("own tensor: set it before use"):
        index -= 1
    return lines[index - count : index]


TABLE_COMMENTS = [
    "# Made by _make_table(): A ramp, one row per position.",
    "# TODO: a closed form",
    "# table[:, :, 0] = 0  # the first column stays zero",
]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_buffer_keeps_the_docstring_and_comments_of_the_method_that_made_it(style):
    text = converted(WithTable(), style, torch.randn(2, 6, 4))
    assert text.count("# TODO: a closed form") == 1
    if style is Style.FUNCTIONAL:  # a block's: in its function, as its __init__'s
        function = text[text.index("def table(") : text.index("def with_table(")]
        assert _lines_before(function, 'params["table"]', 4) == [
            "# not a parameter",
            *TABLE_COMMENTS,
        ]
    else:
        assert (
            _lines_before(text, 'self.register_buffer("table", ', 3) == TABLE_COMMENTS
        )


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_the_roots_buffer_keeps_them_too(style):
    """Functional style: above its key in ``init_params()``, read back from there."""
    text = converted(Table(6, 4), style, torch.randn(2, 6, 4))
    definition = (
        'params["table"] = '
        if style is Style.FUNCTIONAL
        else 'self.register_buffer("table", '
    )
    assert _lines_before(text, definition, 4) == ["# not a parameter", *TABLE_COMMENTS]
    assert text.count("# TODO: a closed form") == 1


MASK_COMMENTS = [
    "# Made by build_mask():",
    "# causal: -inf above the diagonal",
    "# mask.triu_(1)  # zero out the lower diagonal",
]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_tensor_handed_down_to_a_block_keeps_what_its_method_says(style):
    """CLIP's ``attn_mask=self.build_attention_mask()``, stored by each block."""
    text = converted(Masked(), style, torch.randn(2, 5, 5))
    # not saved: built by the method's body, a function before the rest
    assert (
        "def build_mask() -> Tensor:\n"
        "    # causal: -inf above the diagonal\n"
        '    mask = torch.full((5, 5), float("-inf"))\n'
        "    mask.triu_(1)  # zero out the lower diagonal\n"
        "    return mask\n"
    ) in text
    assert "unpack_tensor" not in text
    assert "# Made by" not in text  # the method itself says it
    if style is Style.FUNCTIONAL:
        assert "\n\nMASK = build_mask()\n" in text and "x = x + MASK\n" in text
    else:  # each block that holds the mask builds it, as the parent handed it
        assert "self.mask = build_mask()\n" in text


def test_the_method_is_followed_through_parameters_locals_and_sequentials():
    model = Masked()
    masked = helper_comments(ancestry(model, "masked.blocks.1"))
    assert masked == {"mask": MASK_COMMENTS}
    assert helper_comments(ancestry(model, "plain.blocks.0")) == {}  # mask=None
    assert helper_comments(ancestry(model, "")) == {}  # the Stacks are modules


class Local(nn.Module):
    def __init__(self):
        super().__init__()
        table = self.make()
        self.register_buffer("table", table, persistent=False)
        self.twice = self.make() + self.make()  # two calls: whose words are they?

    def make(self):
        """Ones."""
        return torch.ones(3)

    def forward(self, x):
        return x + self.table + self.twice


def test_the_method_is_followed_through_a_local_of_init():
    assert helper_comments(ancestry(Local(), "")) == {
        "table": ["# Made by make(): Ones."]
    }


class Given(nn.Module):
    """A tensor from outside the model: no method of the user's made it."""

    def __init__(self, mask):
        super().__init__()
        self.block = Block(3, mask)

    def forward(self, x):
        return self.block(x)


class Reset(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(3, 3))
        self.scale = self.compute_scale()
        self.reset_parameters()

    def compute_scale(self):
        """A number, not a tensor: the output has no attribute for it."""
        return 2

    def reset_parameters(self):
        """Reinitialize learnable parameters."""
        nn.init.eye_(self.weight)

    def forward(self, x):
        return x @ self.weight * self.scale


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_only_a_tensor_a_method_computed_is_commented(style):
    text = converted(Given(torch.ones(3)), style, torch.randn(2, 3))
    assert "Made by" not in text
    text = converted(Reset(), style, torch.randn(2, 3))
    assert "Made by" not in text
    assert "A number" not in text
    # reset_parameters is the model's initialisation (nnconvert/init_code.py):
    # init_params() runs it; class styles keep it only when a new build of the
    # original can show it helps, which a model built without a record cannot
    kept = style is Style.FUNCTIONAL
    assert ("Reinitialize learnable parameters." in text) == kept


@pytest.mark.parametrize("to", CLASS_STYLES, ids=lambda s: s.value)
def test_the_roots_buffer_comments_survive_a_round_trip_through_functional(to):
    inputs = (torch.randn(2, 6, 4),)
    first = nnconvert.convert(Table(6, 4), Style.FUNCTIONAL, inputs)
    again = nnconvert.convert(load_output(first, "Table"), to, inputs).source
    # (read back as a parameter by this loader: the comments are the point here)
    definition = next(
        line for line in again.splitlines() if "(1, 6, 4)" in line
    ).strip()
    assert _lines_before(again, definition, 4) == [
        "# not a parameter",
        *TABLE_COMMENTS,
    ]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_tensor_built_by_its_method_converts_again_to_the_same_text(style):
    inputs = (torch.randn(2, 5, 5),)
    first = nnconvert.convert(Masked(), style, inputs)
    first.check(train=True)
    again = nnconvert.convert(load_output(first, "Masked"), style, inputs)
    assert again.source == first.source
