"""A tuple the source made by mapping one function over elements is written as that map.

lucidrains' attention splits its heads with ``q, k, v = map(lambda t:
rearrange(t, ...), qkv)``; the trace runs the lambda once per element. Each
style prints the statement as a map again, over the elements, instead of a
tuple of near-copies (:mod:`nnconvert.printer.mapped_values`); the output
is checked against the original and converts to itself unchanged.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import checked_conversion, load_output

einops = pytest.importorskip("einops")

#: class styles print from the trace here, where the printer writes the map
pytestmark = pytest.mark.printed_from_trace


class MappedHeads(nn.Module):
    """vit-pytorch's ``Attention``, its heads split by a ``map`` of a lambda."""

    def __init__(self, dim=16, heads=2, dim_head=8):
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, dim_head * heads * 3, bias=False)
        self.to_out = nn.Linear(dim_head * heads, dim)

    def forward(self, x):
        qkv = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = map(
            lambda t: einops.rearrange(t, "b n (h d) -> b h n d", h=self.heads), qkv
        )
        attn = (q @ k.transpose(-1, -2)).softmax(dim=-1)
        return self.to_out(einops.rearrange(attn @ v, "b h n d -> b n (h d)"))


class GeneratedHeads(MappedHeads):
    """Perceiver's split: a generator expression over the elements."""

    def forward(self, x):
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = (
            einops.rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in (q, k, v)
        )
        attn = (q @ k.transpose(-1, -2)).softmax(dim=-1)
        return self.to_out(einops.rearrange(attn @ v, "b h n d -> b n (h d)"))


class Pair(nn.Module):
    """Two instances that differ in ``heads``: the functional keyword the lambda reads."""

    def __init__(self, block=MappedHeads):
        super().__init__()
        self.first = block(heads=2)
        self.second = block(heads=4, dim_head=4)

    def forward(self, x):
        return self.second(self.first(x))


def tokens() -> tuple[torch.Tensor]:
    return (torch.randn(2, 5, 16),)


def _own_style_again(conversion: nnconvert.Conversion) -> str:
    read = load_output(conversion)
    return nnconvert.convert(read, conversion.style, conversion.example_inputs).source


MAP = {
    Style.FUNCTIONAL: (
        'q, k, v = map(lambda t: rearrange(t, "b n (h d) -> b h n d", h=heads), (q, k, v))'
    ),
    Style.MODULE: (
        "q, k, v = map(\n"
        '            lambda t: rearrange(t, "b n (h d) -> b h n d", h=self.heads), (q, k, v)\n'
        "        )"
    ),
}
MAP[Style.MIXED] = MAP[Style.MODULE]


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_map_of_a_lambda_is_written_as_that_map(style):
    conversion = checked_conversion(Pair, style, tokens())
    source = conversion.source
    assert MAP[style] in source
    assert source.count("rearrange(t,") == 1  # one definition for both blocks
    assert "rearrange(q," not in source and "rearrange(k," not in source
    assert _own_style_again(conversion) == source


@pytest.mark.parametrize("block", [MappedHeads, GeneratedHeads])
def test_the_lambda_reads_the_keyword_its_function_takes_when_read_back(block):
    """One instance: ``h=self.heads`` is the function's ``heads`` keyword, read back too.

    Read back, the keyword is read inside the lambda (or generator), whose
    frame is not the block function's; before, the second conversion wrote
    ``h=2`` and dropped the keyword
    (:func:`nnconvert.printer.attribute_reads._keywords_of`).
    """
    conversion = checked_conversion(block, Style.FUNCTIONAL, tokens())
    assert 'rearrange(t, "b n (h d) -> b h n d", h=heads)' in conversion.source
    assert "*, heads: int = 2" in conversion.source
    assert _own_style_again(conversion) == conversion.source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_generator_over_the_elements_is_written_as_that_generator(style):
    conversion = checked_conversion(lambda: Pair(GeneratedHeads), style, tokens())
    source = conversion.source
    heads = "heads" if style is Style.FUNCTIONAL else "self.heads"
    expected = f'(rearrange(t, "b n (h d) -> b h n d", h={heads}) for t in (q, k, v))'
    assert expected in " ".join(source.split()).replace("( ", "(").replace(" )", ")")
    assert source.count("rearrange(t,") == 1
    assert _own_style_again(conversion) == source
