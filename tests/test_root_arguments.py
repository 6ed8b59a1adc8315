"""The root class keeps the constructor parameters that size its tensors, in every style.

Class styles write them in ``__init__``'s signature (their values as
defaults) and in the arguments that are them; functional style on
``init_params()`` and in its layer calls. A literal that only equals a
parameter stays a literal, and a parameter that also sizes what one style
cannot write (a raw ``nn.Parameter``) is not kept at all. Every output
passes the equivalence check (``nnconvert.convert`` runs it), and reading
an output back keeps the parameters byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output, same_but_stateless_names

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

INPUTS = (torch.randn(2, 3, 8, 8),)
CLASS_STYLES = [Style.MODULE, Style.MIXED]
#: How each style keeps :class:`Coincidence`'s parameters.
KEPT = {
    Style.MODULE: "def __init__(self, width=4, classes=2):",
    Style.MIXED: "def __init__(self, width=4, classes=2):",
    Style.FUNCTIONAL: "def init_params(width: int = 4, classes: int = 2)",
}


class Coincidence(nn.Module):
    """Two classes beside a kernel size, a stride and a width that are 2 too."""

    def __init__(self, width=4, classes=2):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 2, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, classes)
        self.out = nn.Linear(2, 4)  # 2 and 4: literals the user wrote

    def forward(self, x):
        x = self.flatten(self.pool(self.conv(x)))
        return self.out(self.fc(x))


class Positional(nn.Module):
    """The first also sizes a raw parameter, which no constructor call writes."""

    def __init__(self, width=4, classes=2):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 2, stride=2)
        self.scale = nn.Parameter(torch.ones(1, width, 1, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        x = self.conv(x) * self.scale
        return self.fc(self.flatten(self.pool(x)))


@dataclass
class Config:
    width: int = 4
    classes: int = 2


class Configured(nn.Module):
    """Built from an object that is not a literal: no parameter to keep."""

    def __init__(self, config: Config):
        super().__init__()
        self.conv = nn.Conv2d(3, config.width, 2, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(config.width, config.classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.conv(x))))


def _convert(build, style: Style) -> nnconvert.Conversion:
    with nnconvert.record_constructors():
        model = build()
    return nnconvert.convert(model, style, INPUTS)


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_class_styles_keep_the_parameters_where_they_size_tensors(style):
    source = _convert(Coincidence, style).source
    assert "def __init__(self, width=4, classes=2):" in source
    assert "nn.Conv2d(3, width, 2, stride=2)" in source
    assert "nn.Linear(width, classes)" in source
    assert "nn.Linear(2, 4)" in source  # equal values, not the parameters


def test_functional_style_keeps_them_on_init_params():
    conversion = _convert(Coincidence, Style.FUNCTIONAL)
    source = conversion.source
    assert "def init_params(width: int = 4, classes: int = 2)" in source
    assert 'kaiming_params("conv", width, 3, 2, 2)' in source
    assert 'kaiming_params("fc", classes, width)' in source
    assert 'kaiming_params("out", 4, 2)' in source
    init_params = conversion.namespace()["init_params"]
    shapes = {k: tuple(v.shape) for k, v in init_params(width=6).items()}
    assert shapes["conv.weight"] == (6, 3, 2, 2)
    assert shapes["fc.weight"] == (2, 6)


def test_a_parameter_that_sizes_what_a_call_cannot_write_is_not_kept():
    source = _convert(Positional, Style.FUNCTIONAL).source
    assert "width" not in source
    assert 'kaiming_params("fc", classes, 4)' in source
    assert "def init_params(classes: int = 2)" in source


@pytest.mark.parametrize("style", CLASS_STYLES)
def test_class_styles_keep_it_where_the_source_writes_it_all(style):
    """The raw parameter's ``torch.ones(1, width, 1, 1)`` is the user's code, kept as written.

    Every use of ``width`` in the root's ``__init__`` is then written as
    ``width`` (:mod:`nnconvert.printer.source_arguments`), so the class
    takes it.
    """
    source = _convert(Positional, style).source
    assert "def __init__(self, width=4, classes=2):" in source
    assert "self.scale = nn.Parameter(torch.ones(1, width, 1, 1))" in source
    assert "nn.Linear(width, classes)" in source


class Tripled(nn.Module):
    """``width`` also sizes ``3 * width``, which the output writes as a literal."""

    def __init__(self, width=4, classes=2):
        super().__init__()
        self.conv = nn.Conv2d(3, 3 * width, 2, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(3 * width, width)
        self.out = nn.Linear(width, classes)

    def forward(self, x):
        return self.out(self.fc(self.flatten(self.pool(self.conv(x)))))


@pytest.mark.parametrize("style", list(Style))
def test_a_parameter_that_also_sizes_a_multiple_of_itself_is_not_kept(style):
    """``Tripled(width=8)`` must build what the source builds, or not take ``width``.

    Functional style sizes by value and cannot say ``3 * width``; class
    styles write the source's expressions, and so take it.
    """
    source = _convert(Tripled, style).source
    if style is Style.FUNCTIONAL:
        assert "def init_params(classes: int = 2)" in source
    else:
        assert "def __init__(self, width=4, classes=2):" in source
        assert "nn.Conv2d(3, 3 * width, 2, stride=2)" in source
        assert "nn.Linear(3 * width, width)" in source


@pytest.mark.parametrize("style", list(Style))
def test_only_a_root_built_from_literals_keeps_them(style):
    """A config object is no literal: class styles take it defaulting to None, then build it.

    Every read of it is written through the name (``config.width``), so
    ``Configured(Config(width=8))`` builds what the source builds
    (:mod:`nnconvert.printer.config_objects`); functional style has no
    class to give it to.
    """
    source = _convert(lambda: Configured(Config()), style).source
    if style is Style.FUNCTIONAL:
        assert "config." not in source and "classes" not in source
        assert "def init_params() ->" in source
    else:
        assert (
            "def __init__(self, config=None):\n        super().__init__()\n" in source
        )
        assert "        if config is None:\n            config = Config()\n" in source
        assert "nn.Linear(config.width, config.classes)" in source
    kept = _convert(Coincidence, style).source
    assert KEPT[style] in kept


@pytest.mark.parametrize("via", list(Style))
@pytest.mark.parametrize("to", list(Style))
def test_read_back_the_parameters_stay(via, to):
    """original -> via -> to gives what original -> to gives, byte for byte."""
    first = _convert(Coincidence, via)
    with nnconvert.record_constructors():
        again = nnconvert.convert(load_output(first), to, INPUTS)
    expected = _convert(Coincidence, to).source
    if to is Style.MODULE and via is not Style.MODULE:  # self.pool comes back by stem
        assert same_but_stateless_names(again.source, expected)
    else:
        assert again.source == expected
    assert KEPT[to] in again.source


def test_the_sizes_are_the_dimensions_that_follow_the_parameter():
    from nnconvert.root_sizes import root_sizes

    with nnconvert.record_constructors():
        model = Coincidence()
    sizes = {s.name: (s.value, s.positions) for s in root_sizes(model)}
    assert sizes == {
        "width": (
            4,
            {("conv.weight", 0), ("conv.bias", 0), ("fc.weight", 1)},
        ),
        "classes": (2, {("fc.weight", 0), ("fc.bias", 0)}),
    }


class Loud(nn.Module):
    """Prints while it is built: building it again to find its sizes stays quiet."""

    def __init__(self, width=4, classes=2):
        super().__init__()
        print("building Loud")
        self.fc1 = nn.Linear(3, width)
        self.fc2 = nn.Linear(width, classes)

    def forward(self, x):
        return self.fc2(self.fc1(x))


def test_building_the_root_again_prints_nothing(capsys):
    model = Loud()
    capsys.readouterr()
    source = nnconvert.convert(model, Style.MODULE, (torch.randn(2, 3),)).source
    assert "def __init__(self, width=4, classes=2):" in source
    assert capsys.readouterr().out == ""


class TokenDecoder(nn.Module):
    """A decoder that sizes its embedding with its own literal.

    (attention-is-all-you-need's ``Decoder(n_trg_vocab, ...)`` is written with
    its parameter now, as its source writes it: :mod:`nnconvert.printer.source_arguments`.)
    """

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)

    def forward(self, tokens):
        return self.emb(tokens)


class TiedProjection(nn.Module):
    """attention-is-all-you-need's ``Transformer``: the projection's weight is the decoder's.

    ``vocab`` does not size the decoder's embedding (``TokenDecoder()``
    builds it with its own literal); the root's ``nn.Linear(4, vocab)``
    builds a weight that the tie replaces, so it sizes nothing either.
    """

    def __init__(self, vocab=10):
        super().__init__()
        self.decoder = TokenDecoder()
        self.proj = nn.Linear(4, vocab, bias=False)
        self.proj.weight = self.decoder.emb.weight

    def forward(self, tokens):
        return self.proj(self.decoder(tokens))


@pytest.mark.parametrize("style", list(Style))
def test_a_literal_whose_tensor_a_tie_replaces_keeps_no_parameter(style):
    """Kept there by value, ``vocab`` would not resize the model; read back it is lost.

    Class styles write the source's ``nn.Linear(4, vocab)``, which builds
    what the source builds whatever ``vocab`` is (the tie replaces its
    weight in both), and read back it stays.
    """
    inputs = (torch.tensor([[1, 2, 3]]),)
    with nnconvert.record_constructors():
        model = TiedProjection()
    first = nnconvert.convert(model, style, inputs)
    if style is Style.FUNCTIONAL:
        assert "vocab=" not in first.source and "vocab:" not in first.source
        return  # read back, a tensor two layer calls read is no layer yet
    assert "def __init__(self, vocab=10):" in first.source
    assert "nn.Linear(4, vocab, bias=False)" in first.source
    with nnconvert.record_constructors():
        again = nnconvert.convert(load_output(first), style, inputs)
    assert again.source == first.source


class Vocabulary(nn.Module):
    """The word language model's decoder: ``forward`` reads ``self.ntoken``, which sizes it too."""

    def __init__(self, ntoken=12, width=4):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, width)
        self.decoder = nn.Linear(width, ntoken)
        self.ntoken = ntoken

    def forward(self, tokens):
        return self.decoder(self.encoder(tokens)).view(-1, self.ntoken)


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED])
def test_an_attribute_set_to_a_kept_parameter_follows_it(style):
    """``self.ntoken = ntoken``, not ``= 12``: built with 30 tokens, the output reads 30."""
    tokens = torch.randint(0, 12, (3, 5))
    with nnconvert.record_constructors():
        model = Vocabulary()
    conversion = nnconvert.convert(model, style, (tokens,))
    assert "self.ntoken = ntoken" in conversion.source
    assert "def __init__(self, ntoken=12, width=4):" in conversion.source
    rebuilt = conversion.namespace()[conversion.name](ntoken=30)
    original = Vocabulary(ntoken=30)
    rebuilt.load_state_dict(original.state_dict())
    wide = torch.randint(0, 30, (3, 5))
    torch.testing.assert_close(rebuilt(wide), original(wide))
    with nnconvert.record_constructors():
        again = nnconvert.convert(load_output(conversion), style, (tokens,))
    assert again.source == conversion.source


def test_read_back_from_functional_the_attribute_follows_the_parameter_too():
    """``vocabulary(..., ntoken=50)`` beside ``init_params(ntoken=50)``: ``self.ntoken = ntoken``."""
    tokens = torch.randint(0, 12, (3, 5))
    with nnconvert.record_constructors():
        model = Vocabulary()
    functional = nnconvert.convert(model, Style.FUNCTIONAL, (tokens,))
    with nnconvert.record_constructors():
        again = nnconvert.convert(load_output(functional), Style.MODULE, (tokens,))
    assert again.source == nnconvert.convert(model, Style.MODULE, (tokens,)).source
