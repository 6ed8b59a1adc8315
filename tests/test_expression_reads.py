"""Numbers ``forward`` computes in Python, written as the source computes them (issue 11).

``self.embedding(tokens) * math.sqrt(self.emb_size)`` traces to a multiply
by 5.656854249492381, and the output printed that number. The source map
says which operand the user wrote there
(:func:`nnconvert.printer.attribute_reads.expression_reads`): where it is
arithmetic of ``math`` and plain number attributes of ``self`` that gives
exactly the traced number, class styles write it, and set the attributes it
reads in ``__init__`` (from the constructor parameter of that name where
there is one); functional style writes ``math.sqrt(emb_size)`` and takes
``emb_size`` as a keyword with its value as default. Every output is
checked in eval and train mode and converts again to the same text.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output, recorded_conversion

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

CLASS_STYLES = (Style.MODULE, Style.MIXED)


class TokenEmbedding(nn.Module):
    """The PyTorch tutorial's: embeddings scaled by the square root of their width."""

    def __init__(self, vocab_size, emb_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


class TwoEmbeddings(nn.Module):
    """The class twice with different widths: one parameter, no second one for the scale."""

    def __init__(self):
        super().__init__()
        self.source = TokenEmbedding(10, 16)
        self.target = TokenEmbedding(10, 4)

    def forward(self, tokens):
        return self.source(tokens).sum(-1) + self.target(tokens).sum(-1)


class NewGELU(nn.Module):
    """minGPT's GELU: a constant of ``math`` alone."""

    def forward(self, x):
        return (
            0.5
            * x
            * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
        )


class Projection(nn.Module):
    """attention-is-all-you-need's output projection: ``seq_logit *= self.d_model ** -0.5``."""

    def __init__(self):
        super().__init__()
        self.d_model = 16
        self.proj = nn.Linear(16, 5, bias=False)

    def forward(self, x):
        seq_logit = self.proj(x)
        seq_logit *= self.d_model**-0.5
        return seq_logit


def _converted(model: type[nn.Module], style: Style, inputs: tuple):
    conversion = recorded_conversion(model, style, inputs)
    again = nnconvert.convert(conversion.load(), style, inputs)
    assert again.source == conversion.source
    return conversion.source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_scale_computed_from_an_attribute_is_written_as_the_source_writes_it(style):
    source = _converted(TwoEmbeddings, style, (torch.randint(0, 10, (2, 3)),))
    assert "import math" in source
    assert "math.sqrt(self.emb_size)" in source
    assert "self.emb_size = emb_size" in source
    assert "def __init__(self, vocab_size, emb_size):" in source
    assert "TokenEmbedding(10, 16)" in source and "TokenEmbedding(10, 4)" in source
    assert "5.656854249492381" not in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_constant_of_math_is_written_as_the_source_writes_it(style):
    source = _converted(NewGELU, style, (torch.randn(2, 4),))
    assert "math.sqrt(2.0 / math.pi)" in source
    assert "0.7978845608028654" not in source
    assert "0.044715" in source  # a number the source writes as a number


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_power_of_an_attribute_is_written_in_parentheses(style):
    """The trace's multiply takes it as one operand: ``(self.d_model**-0.5)``."""
    source = _converted(Projection, style, (torch.randn(2, 16),))
    assert "self.d_model = 16" in source
    assert "(self.d_model**-0.5)" in source
    assert "0.25" not in source


class InitialState(nn.Module):
    """yunjey's BiRNN: ``torch.zeros(self.num_layers * 2, ...)``, a call's argument."""

    def __init__(self):
        super().__init__()
        self.num_layers = 2
        self.lstm = nn.LSTM(4, 3, 2, batch_first=True, bidirectional=True)

    def forward(self, x):
        h0 = torch.zeros(self.num_layers * 2, x.size(0), 3)
        return self.lstm(x, (h0, h0))[0]


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_an_argument_computed_from_an_attribute_needs_no_parentheses(style):
    source = _converted(InitialState, style, (torch.randn(2, 5, 4),))
    assert "torch.zeros(self.num_layers * 2, x.size(0), 3)" in source


class OneEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = TokenEmbedding(10, 16)

    def forward(self, tokens):
        return self.tokens(tokens).sum(-1)


def test_functional_style_takes_the_attribute_as_a_keyword():
    inputs = (torch.randint(0, 10, (2, 3)),)
    conversion = recorded_conversion(OneEmbedding, Style.FUNCTIONAL, inputs)
    source = conversion.source
    assert "*, emb_size: int = 16" in source
    assert "* math.sqrt(emb_size)" in source
    assert "4.0" not in source
    again = nnconvert.convert(load_output(conversion), Style.FUNCTIONAL, inputs)
    assert again.source == source


class ScaledByALocal(nn.Module):
    """The scale bound to a local first (CCT's ``keep_prob = 1 - self.drop_prob``)."""

    def __init__(self, vocab_size, emb_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens):
        scale = math.sqrt(self.emb_size)
        return self.embedding(tokens.long()) * scale


class TwoScaledByALocal(TwoEmbeddings):
    def __init__(self):
        nn.Module.__init__(self)
        self.source = ScaledByALocal(10, 16)
        self.target = ScaledByALocal(10, 4)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_scale_bound_to_a_local_is_written_as_the_source_computes_it(style):
    source = _converted(TwoScaledByALocal, style, (torch.randint(0, 10, (2, 3)),))
    assert "math.sqrt(self.emb_size)" in source
    assert "5.656854249492381" not in source


class Clamped(nn.Module):
    """Conformer's ``dist.clamp(-max_pos_emb, max_pos_emb)``, ``max_pos_emb`` a local."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.max_pos = 2

    def forward(self, x):
        n, max_pos = x.shape[-1], self.max_pos
        return self.fc(x).clamp(-max_pos, max_pos) + max_pos


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_negated_local_reads_the_attribute_in_every_style(style):
    inputs = (torch.randn(2, 8),)
    if style is Style.FUNCTIONAL:
        conversion = recorded_conversion(Clamped, style, inputs)
        conversion.check(train=True)
        source = conversion.source
    else:
        source = _converted(Clamped, style, inputs)
    name = "max_pos" if style is Style.FUNCTIONAL else "self.max_pos"
    assert f".clamp(-{name}, {name})" in source and f"+ {name}" in source
    assert "-2" not in source
