"""Layer arguments written as the user's ``__init__`` writes them (:mod:`nnconvert.printer.source_arguments`).

A block built alike everywhere has no column of differing literals, so
without its source it prints as a trace (``nn.Linear(8, 24)``). Its source
says what each argument is: a parameter, a local computed from parameters,
or ``+ - * //`` of those. Each output is checked in train mode and converts
again to the same text.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import SAMPLE_FILES, load_benchmark, load_sample, recorded_conversion

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

CLASS_STYLES = (Style.MODULE, Style.MIXED)


@dataclass
class Config:
    width: int = 8


class Attention(nn.Module):
    def __init__(self, dim, heads=2, dim_head=4, dropout=0.1, config=None):
        super().__init__()
        inner_dim = heads * dim_head
        self.heads = heads
        self.qkv = nn.Linear(dim, inner_dim * 3, bias=False)
        self.out = nn.Linear(inner_dim, config.width)  # a field of the config
        self.drop = nn.Dropout(dropout)  # parameter-free: a layer in module style only

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v)
        return self.drop(self.out(y.transpose(1, 2).reshape(b, n, -1)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        config = Config()
        self.a = Attention(8, config=config)
        self.b = Attention(8, config=config)

    def forward(self, x):
        return self.b(self.a(x))


def _converted(style: Style) -> nnconvert.Conversion:
    return recorded_conversion(Net, style, (torch.randn(2, 5, 8),))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_arguments_every_instance_shares_are_written_as_the_source_writes_them(style):
    source = _converted(style).source
    if style is Style.MODULE:  # the dropout layer's rate too
        signature = "def __init__(self, dim, config, heads=2, dim_head=4, dropout=0.1):"
        assert "self.drop = nn.Dropout(dropout)" in source
    else:  # F.dropout(..., 0.1, self.training) in forward
        signature = "def __init__(self, dim, config, heads=2, dim_head=4):"
    assert signature in source
    assert "        inner_dim = heads * dim_head\n" in source
    assert "nn.Linear(dim, inner_dim * 3, bias=False)" in source
    assert "self.heads = heads" in source  # forward reads it: set from the parameter
    assert "config = Config()\n" in source  # the local the source builds
    assert "self.a = Attention(8, config)" in source  # the defaults are left out


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_config_field_is_read_from_the_config_and_a_dropout_rate_is_a_default(
    style,
):
    source = _converted(style).source
    assert "nn.Linear(inner_dim, config.width)" in source
    assert "@dataclass\nclass Config:\n    width: int = 8\n" in source
    # the dropout rate: the parameter's default, or in mixed style a setting
    # the call in forward reads (the class takes no parameter for it)
    assert ("dropout=0.1" in source) == (style is Style.MODULE)
    setting = "self.dropout = 0.1" in source and "p=self.dropout," in source
    assert setting == (style is Style.MIXED)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_output_converts_again_to_the_same_text(style):
    first = _converted(style)
    again = nnconvert.convert(first.load(), style, (torch.randn(2, 5, 8),))
    assert again.source == first.source


def test_without_a_record_nothing_is_read():
    conversion = recorded_conversion(
        Net, Style.MODULE, (torch.randn(2, 5, 8),), record=False
    )
    assert "nn.Linear(8, 24, bias=False)" in conversion.source
    assert "class Attention(nn.Module):\n    def __init__(self):" in conversion.source


class Layer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(
            dim, dim, bias=True
        )  # a literal in the source: no parameter

    def forward(self, x):
        return torch.tanh(self.fc(x))


class Tower(nn.Module):
    def __init__(self, dim, depth):
        super().__init__()
        self.layers = nn.ModuleList([Layer(dim) for _ in range(depth)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Towers(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = Tower(6, 3)

    def forward(self, x):
        return self.tower(x)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_module_list_comprehension_passes_the_parameter_to_every_item(style):
    conversion = recorded_conversion(Towers, style, (torch.randn(2, 6),))
    source = conversion.source
    assert "nn.ModuleList([Layer(dim) for _ in range(depth)])" in source
    assert "class Tower(nn.Module):\n    def __init__(self, dim, depth):" in source
    assert "self.fc = nn.Linear(dim, dim)" in source  # bias=True: the default
    assert "self.tower = Tower(6, 3)" in source
    again = nnconvert.convert(conversion.load(), style, (torch.randn(2, 6),))
    assert again.source == source


class Stacks(nn.Module):
    """Three ways people count their blocks, each read as ``range(<parameter>)``.

    CLIP's ``nn.Sequential(*[... for _ in range(layers)])``, vit-pytorch's
    empty ``ModuleList([])`` that a loop appends to, and whisper's annotated
    ``self.blocks: Iterable[Layer] = nn.ModuleList(...)``.
    """

    def __init__(self, dim, layers, depth, rates):
        super().__init__()
        self.sequential = nn.Sequential(*[Layer(dim) for _ in range(layers)])
        self.appended = nn.ModuleList([])
        for _ in range(depth):
            self.appended.append(Layer(dim))
        self.annotated: list[Layer] = nn.ModuleList([Layer(dim) for _ in range(depth)])
        # items that differ: no one call to repeat, so no count
        self.scaled = nn.ModuleList([nn.Linear(dim, dim, bias=r > 0) for r in rates])

    def forward(self, x):
        x = self.sequential(x)
        for layer in self.appended:
            x = layer(x)
        for layer in self.annotated:
            x = layer(x)
        for layer in self.scaled:
            x = layer(x)
        return x


class TwoStacks(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Stacks(6, 2, 3, [1, 0])
        self.b = Stacks(6, 2, 3, [1, 0])

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_comprehension_over_range_is_written_with_its_count(style):
    """The count is a parameter like any size: ``range(layers)``, not ``range(2)``."""
    conversion = recorded_conversion(TwoStacks, style, (torch.randn(2, 6),))
    source = conversion.source
    assert "def __init__(self, dim, layers, depth):" in source
    assert "nn.Sequential(*[Layer(dim) for _ in range(layers)])" in source
    assert source.count("nn.ModuleList([Layer(dim) for _ in range(depth)])") == 2
    assert "nn.Linear(dim, dim), nn.Linear(dim, dim, bias=False)" in source
    assert "self.a = Stacks(6, 2, 3)" in source
    again = nnconvert.convert(conversion.load(), style, (torch.randn(2, 6),))
    assert again.source == source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_counted_root_built_with_another_count_is_the_source_built_so(style):
    """``Tower(depth=5)`` of the output builds five layers, as the source's does."""

    class Counted(nn.Module):
        def __init__(self, dim=6, depth=3):
            super().__init__()
            self.layers = nn.ModuleList([Layer(dim) for _ in range(depth)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    conversion = recorded_conversion(Counted, style, (torch.randn(2, 6),))
    assert "def __init__(self, dim=6, depth=3):" in conversion.source
    built = conversion.namespace()[conversion.name]
    torch.manual_seed(0)
    original = Counted(depth=5)
    output = built(depth=5)
    output.load_state_dict(original.state_dict())
    x = torch.randn(2, 6)
    torch.testing.assert_close(output(x), original(x))


class Recurrent(nn.Module):
    """``nn.LSTM.__init__`` takes ``*args, **kwargs``: its row's signature binds the call."""

    def __init__(self, features=3, hidden_size=5, num_layers=2):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        output, _ = self.lstm(x)
        return self.head(output)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_recurrent_layers_positional_sizes_are_its_parameters(style):
    """``nn.LSTM(features, hidden_size, num_layers)``, built anew with other sizes."""
    x = torch.randn(2, 4, 3)
    conversion = recorded_conversion(Recurrent, style, (x,))
    assert "def __init__(self, features=3, hidden_size=5, num_layers=2):" in (
        conversion.source
    )
    assert "nn.Linear(hidden_size, 1)" in conversion.source
    torch.manual_seed(0)
    original = Recurrent(hidden_size=7, num_layers=3)
    output = conversion.namespace()[conversion.name](hidden_size=7, num_layers=3)
    output.load_state_dict(original.state_dict())
    torch.testing.assert_close(output(x), original(x))
    again = nnconvert.convert(conversion.load(), style, (x,))
    assert again.source == conversion.source


class Encoded(nn.Module):
    """The layer ``nn.TransformerEncoder`` copies, built in a local first, as its docs do."""

    def __init__(self, dim=8, heads=2, depth=2):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 1)

    def forward(self, x):
        return self.head(self.encoder(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_layer_given_to_a_layer_through_a_local_reads_its_sizes(style):
    """``nn.TransformerEncoderLayer(dim, heads, ...)`` inside the encoder's call, built anew."""
    x = torch.randn(2, 5, 8)
    conversion = recorded_conversion(Encoded, style, (x,))
    assert "def __init__(self, dim=8, heads=2, depth=2):" in conversion.source
    assert "dim_feedforward=2 * dim" in conversion.source
    torch.manual_seed(0)
    original = Encoded(dim=12, heads=3).eval()
    output = conversion.namespace()[conversion.name](dim=12, heads=3).eval()
    output.load_state_dict(original.state_dict())
    x = torch.randn(2, 5, 12)
    torch.testing.assert_close(output(x), original(x))
    again = nnconvert.convert(conversion.load(), style, (torch.randn(2, 5, 8),))
    assert again.source == conversion.source


class Cloned(nn.Module):
    """DETR's ``_get_clones``: one layer built, then deep-copied for every place."""

    def __init__(self, dim=6, depth=2):
        super().__init__()
        layer = Layer(dim)
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(depth)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_deep_copy_made_while_building_keeps_its_originals_arguments(style):
    """The copies ran no ``__init__``: the record goes with the copy."""
    conversion = recorded_conversion(Cloned, style, (torch.randn(2, 6),))
    layer = conversion.source.split("class Layer(nn.Module):")[1].split("class ")[0]
    assert "def __init__(self, dim):" in layer
    assert "nn.Linear(dim, dim)" in layer
    assert "[Layer(dim) for _ in range(depth)]" in conversion.source
    assert not hasattr(nn.Module, "__deepcopy__")  # the hook is gone


class Indexed(nn.Module):
    """A root that runs one container whole and indexes the other's members."""

    def __init__(self, dim=6, depth=3, heads=2):
        super().__init__()
        self.stack = nn.Sequential(*[Layer(dim) for _ in range(depth)])
        self.heads = nn.ModuleList([nn.Linear(dim, 1) for _ in range(heads)])

    def forward(self, x):
        x = self.stack(x)
        return self.heads[0](x) + self.heads[1](x)  # heads=3 would add no third


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_root_count_is_kept_only_where_forward_runs_every_member(style):
    conversion = recorded_conversion(Indexed, style, (torch.randn(2, 6),))
    source = conversion.source
    assert "def __init__(self, dim=6, depth=3):" in source
    assert "nn.Sequential(*[Layer(dim) for _ in range(depth)])" in source
    assert "[nn.Linear(dim, 1) for _ in range(2)]" in source


class Scaled(nn.Module):
    """vit-pytorch's ``self.scale = dim_head ** -0.5``, read by ``forward``."""

    def __init__(self, dim, dim_head=4):
        super().__init__()
        self.scale = dim_head**-0.5
        self.to_q = nn.Linear(dim, dim_head)

    def forward(self, x):
        return self.to_q(x) * self.scale


class OneScaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Scaled(8)

    def forward(self, x):
        return self.a(x)


class TwoScaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Scaled(8, 4)
        self.b = Scaled(4, 16)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("model", [OneScaled, TwoScaled], ids=lambda m: m.__name__)
@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_an_attribute_forward_reads_is_set_as_the_source_sets_it(style, model):
    """``self.scale = dim_head**-0.5``, not ``0.5``, nor a ``scale`` parameter beside ``dim_head``."""
    conversion = recorded_conversion(model, style, (torch.randn(2, 8),))
    source = conversion.source
    assert "def __init__(self, dim, dim_head=4):" in source
    assert "self.scale = dim_head**-0.5" in source
    again = nnconvert.convert(conversion.load(), style, (torch.randn(2, 8),))
    assert again.source == source


class Masked(nn.Module):
    def __init__(self, dim, size):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.register_buffer("mask", torch.tril(torch.ones(size, size)))

    def forward(self, x):
        t = x.size(1)
        return self.fc(x) * self.mask[:t, :t].sum(-1, keepdim=True)


class TwoMasked(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Masked(5, 4)
        self.b = Masked(5, 4)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_tensor_the_users_code_builds_reads_the_parameter(style):
    """The buffer's code is the user's (:mod:`nnconvert.init_slices`): ``size`` stays its name."""
    conversion = recorded_conversion(TwoMasked, style, (torch.randn(2, 4, 5),))
    source = conversion.source
    assert "def __init__(self, dim, size):" in source
    assert "torch.tril(torch.ones(size, size))" in source
    assert "self.a = Masked(5, 4)" in source


class Projected(nn.Module):
    """vit-pytorch's ``Attention``: ``to_out`` is a Sequential or an Identity."""

    def __init__(self, dim, inner, dropout=0.0):
        super().__init__()
        project = inner != dim
        self.to_in = nn.Linear(dim, inner)
        self.to_out = (
            nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))
            if project
            else nn.Identity()
        )

    def forward(self, x):
        return self.to_out(self.to_in(x))


class TwoProjected(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Projected(6, 8, dropout=0.1)
        self.b = Projected(6, 8, dropout=0.1)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_branch_of_a_conditional_that_built_the_layer_is_read(style):
    conversion = recorded_conversion(TwoProjected, style, (torch.randn(2, 6),))
    assert "nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))" in (
        conversion.source
    )
    assert "self.a = Projected(6, 8, 0.1)" in conversion.source  # no default used


# -- the root's own parameters ----------------------------------------------------


class Mixer(nn.Module):
    """A block that bakes a size its source derives: ``round(dim * ratio)`` is no kept expression."""

    def __init__(self, dim, ratio=2.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, round(dim * ratio))
        self.fc2 = nn.Linear(round(dim * ratio), dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class SelfAttention(nn.Module):
    def __init__(self, dim, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).unbind(2)
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
        )
        return x + self.out(y.transpose(1, 2).reshape(b, n, c))


class Language(nn.Module):
    """A root whose parameters are used in every way the check must tell apart."""

    def __init__(self, vocab=20, dim=8, heads=2, mixer_dim=8, block_size=6, layers=2):
        super().__init__()
        self.block_size = block_size  # read by forward's assert
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(block_size, dim)
        self.blocks = nn.ModuleList(
            [
                SelfAttention(dim, heads=heads) for _ in range(layers)
            ]  # range(layers): written so
        )
        self.side = nn.Embedding(vocab, mixer_dim)
        self.mixer = Mixer(mixer_dim)  # Mixer writes 16 for round(dim * ratio)
        self.head = nn.Linear(dim, vocab)

    def forward(self, tokens):
        t = tokens.size(1)
        assert t <= self.block_size
        x = self.embed(tokens) + self.pos(torch.arange(t))
        for block in self.blocks:
            x = block(x)
        return self.head(x) + self.mixer(self.side(tokens)).sum(-1, keepdim=True)


def _language(style: Style) -> nnconvert.Conversion:
    return recorded_conversion(Language, style, (torch.randint(0, 20, (2, 5)),))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_root_keeps_a_parameter_only_where_every_use_is_written(style):
    """``Language(dim=16)`` of the output must build what the source builds, or not exist.

    ``vocab``, ``dim``, ``heads`` and ``layers`` are written wherever the
    root uses them (``heads`` passes to ``SelfAttention``, which keeps it
    whole; ``layers`` is the comprehension's ``range(layers)``);
    ``mixer_dim`` is written as a number somewhere and stays a number
    everywhere, so that no parameter promises what changing it would not
    do. ``block_size`` sizes one embedding and is read by forward's
    assert, whose guard reads ``self.block_size`` as the source does.
    """
    source = _language(style).source
    assert (
        "def __init__(self, vocab=20, dim=8, heads=2, block_size=6, layers=2)" in source
    )
    assert "nn.Embedding(vocab, dim)" in source
    assert "SelfAttention(dim, heads=heads) for _ in range(layers)" in source
    assert "self.mixer = Mixer(8)" in source  # Mixer bakes 16 for round(8 * 2.0)
    assert "nn.Embedding(vocab, 8)" in source
    assert "mixer_dim" not in source
    assert "self.block_size = block_size" in source
    assert "if t > self.block_size:" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_root_built_with_other_values_is_the_source_built_so(style):
    """Each kept root parameter, changed, builds the same model as the source so built."""
    conversion = _language(style)
    built = conversion.namespace()[conversion.name]
    changes = ({"vocab": 30}, {"dim": 12}, {"heads": 4}, {"layers": 3})
    longer = (torch.randint(0, 20, (2, 9)),)  # past the traced block size of 6
    for changed, inputs in [
        *((c, (torch.randint(0, 20, (2, 5)),)) for c in changes),
        ({"block_size": 10}, longer),
    ]:
        torch.manual_seed(0)
        original = Language(**changed).eval()
        output = built(**changed).eval()
        output.load_state_dict(original.state_dict())
        torch.testing.assert_close(output(*inputs), original(*inputs))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_root_with_its_parameters_converts_again_to_the_same_text(style):
    first = _language(style)
    with nnconvert.record_constructors():
        model = first.load()
    again = nnconvert.convert(model, style, (torch.randint(0, 20, (2, 5)),))
    assert again.source == first.source


class Embedder(nn.Module):
    def __init__(self, vocab, dim=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)

    def forward(self, tokens):
        return self.emb(tokens)


class SharedVocabulary(nn.Module):
    """attention-is-all-you-need's two vocabularies of one size, their embeddings tied."""

    def __init__(self, src_vocab=10, tgt_vocab=10):
        super().__init__()
        self.encoder = Embedder(src_vocab)
        self.decoder = Embedder(tgt_vocab)
        self.encoder.emb.weight = self.decoder.emb.weight

    def forward(self, src, tgt):
        return self.encoder(src) + self.decoder(tgt)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_root_literal_the_source_names_is_not_renamed_by_value(style):
    """Both are 10: the encoder's is ``src_vocab``, as written, not the other by value."""
    tokens = torch.randint(0, 10, (2, 3))
    source = recorded_conversion(SharedVocabulary, style, (tokens, tokens)).source
    assert "def __init__(self, src_vocab=10, tgt_vocab=10):" in source
    assert "self.encoder = Embedder(src_vocab)" in source
    assert "self.decoder = Embedder(tgt_vocab)" in source


class Hidden(nn.Module):
    """DINO's and timm's ``Block``: a hidden width ``int(dim * mlp_ratio)``."""

    def __init__(self, dim, mlp_ratio=4.0):
        super().__init__()
        mlp_hidden_dim = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, mlp_hidden_dim)
        self.fc2 = nn.Linear(mlp_hidden_dim, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class TwoHidden(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Hidden(8)
        self.b = Hidden(8, mlp_ratio=2.5)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_an_int_of_a_float_product_is_written_as_written(style):
    source = recorded_conversion(TwoHidden, style, (torch.randn(2, 8),)).source
    assert "def __init__(self, dim, mlp_ratio=4.0):" in source
    assert "        mlp_hidden_dim = int(dim * mlp_ratio)\n" in source
    assert "nn.Linear(dim, mlp_hidden_dim)" in source
    assert "self.a = Hidden(8)" in source and "Hidden(8, mlp_ratio=2.5)" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.stem)
def test_every_root_parameter_of_a_sample_builds_what_the_source_builds(sample, style):
    """The real-world benchmark's *root parameters* check, on every sample.

    Each parameter of the output's root class, given another value the
    sample's class accepts, builds the same ``state_dict`` shapes and,
    loaded with its weights, the same outputs.
    """
    model, inputs = load_sample(sample)
    conversion = nnconvert.convert(model, style, inputs)
    cell = load_benchmark("realworld").root_parameters(model.module, conversion, inputs)
    assert ";" not in cell, cell


class HeadAttention(nn.Module):
    """llama2.c's ``self.head_dim = dim // n_heads``, read back by the layers it sizes.

    And its ``n_kv_heads``, set from a test of ``None``.
    """

    def __init__(self, dim, n_heads, kv_heads=None):
        super().__init__()
        self.n_heads = n_heads
        self.n_kv_heads = n_heads if kv_heads is None else kv_heads
        self.head_dim = dim // n_heads
        self.wq = nn.Linear(dim, n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(n_heads * self.head_dim, dim, bias=False)

    def forward(self, x):
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        k = k.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
        y = F.scaled_dot_product_attention(q, k, k).transpose(1, 2)
        return self.wo(y.reshape(b, t, -1))


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = HeadAttention(8, 2)
        self.b = HeadAttention(8, 4, kv_heads=2)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_an_attribute_the_layers_read_back_is_a_local_of_its_name(style):
    """``head_dim = dim // n_heads`` first, the layers read it, the attribute is set from it."""
    x = torch.randn(2, 3, 8)
    conversion = recorded_conversion(TwoHeads, style, (x,))
    source = conversion.source
    assert (
        "    def __init__(self, dim, n_heads, kv_heads=None):\n"
        "        super().__init__()\n"
        "        n_kv_heads = n_heads if kv_heads is None else kv_heads\n"
        "        head_dim = dim // n_heads\n"
        "        self.wq = nn.Linear(dim, n_heads * head_dim, bias=False)\n"
        "        self.wk = nn.Linear(dim, n_kv_heads * head_dim, bias=False)\n"
        "        self.wo = nn.Linear(n_heads * head_dim, dim, bias=False)\n"
    ) in source
    assert "        self.head_dim = head_dim\n" in source
    again = nnconvert.convert(conversion.load(), style, (x,))
    assert again.source == conversion.source


class GraphAttention(nn.Module):
    """GAT's shape: a rate kept as a float and read in forward, two named layers."""

    def __init__(self, dim, dropout=0.4, slope=0.2):
        super().__init__()
        self.dropout = dropout  # Dropout rate
        self.fc = nn.Linear(dim, dim)
        self.leakyrelu = nn.LeakyReLU(slope)  # LeakyReLU activation function
        self.act = nn.ReLU()

    def forward(self, x):
        x = F.dropout(x, self.dropout, training=self.training)
        x = self.act(self.fc(x))
        x = F.dropout(self.leakyrelu(x), self.dropout, training=self.training)
        return self.act(x)


class TwoGraphAttentions(nn.Module):
    def __init__(self, dim=8, dropout=0.4):
        super().__init__()
        self.a = GraphAttention(dim, dropout=dropout)
        self.b = GraphAttention(dim, dropout=dropout)

    def forward(self, x):
        return self.b(self.a(x))


def test_module_style_keeps_the_parameter_free_layers_names_and_rates():
    """``self.act`` called twice stays one layer; ``F.dropout(x, self.dropout)`` gets
    ``nn.Dropout(dropout)``, so the root keeps ``dropout`` too."""
    x = torch.randn(2, 3, 8)
    conversion = recorded_conversion(TwoGraphAttentions, Style.MODULE, (x,))
    source = conversion.source
    assert "    def __init__(self, dim, dropout=0.4, slope=0.2):\n" in source
    assert "        self.dropout1 = nn.Dropout(dropout)\n" in source
    assert "        self.dropout2 = nn.Dropout(dropout)\n" in source
    # the source's names, with their comments
    assert "        # LeakyReLU activation function\n" in source
    assert "        self.leakyrelu = nn.LeakyReLU(slope)\n" in source
    assert source.count("self.act = nn.ReLU()") == 1
    assert source.count("self.act(") == 2
    assert "    def __init__(self, dim=8, dropout=0.4):\n" in source
    assert "self.a = GraphAttention(dim, dropout=dropout)" in source
    again = nnconvert.convert(conversion.load(), Style.MODULE, (x,))
    assert again.source == source
    # mixed style calls them in forward, the rate read from the attribute
    mixed = recorded_conversion(TwoGraphAttentions, Style.MIXED, (x,)).source
    assert "p=self.dropout, training=self.training" in mixed
    assert "self.act" not in mixed and "nn.Dropout" not in mixed


class DictDropout(nn.Module):
    """nanoGPT's shape: a parameter-free layer kept in an ``nn.ModuleDict``."""

    def __init__(self, vocab=10, width=8, dropout=0.1):
        super().__init__()
        self.transformer = nn.ModuleDict(
            dict(wte=nn.Embedding(vocab, width), drop=nn.Dropout(dropout))
        )
        self.head = nn.Linear(width, vocab)

    def forward(self, idx):
        return self.head(self.transformer.drop(self.transformer.wte(idx)))


def test_a_parameter_free_layer_of_a_module_dict_stays_in_it():
    idx = torch.randint(0, 10, (2, 5))
    conversion = recorded_conversion(DictDropout, Style.MODULE, (idx,))
    source = conversion.source
    assert '"drop": nn.Dropout(dropout)' in source
    assert "self.transformer.drop(self.transformer.wte(idx))" in source
    assert "    def __init__(self, vocab=10, width=8, dropout=0.1):\n" in source
    again = nnconvert.convert(conversion.load(), Style.MODULE, (idx,))
    assert again.source == source


class TimmMlp(nn.Module):
    """timm's ``Mlp``: widths that default to the input's, set again from themselves."""

    def __init__(self, in_features, hidden_features=None, out_features=None):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class TwoMlps(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.a = TimmMlp(dim, 4 * dim)
        self.b = TimmMlp(dim, 2 * dim, out_features=4)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_parameter_set_again_from_itself_is_written_as_the_source_writes_it(style):
    x = torch.randn(2, 8)
    conversion = recorded_conversion(TwoMlps, style, (x,))
    source = conversion.source
    assert (
        "    def __init__(self, in_features, hidden_features, out_features=None):\n"
        "        super().__init__()\n"
        "        out_features = out_features or in_features\n"
        "        hidden_features = hidden_features or in_features\n"
        "        self.fc1 = nn.Linear(in_features, hidden_features)\n"
    ) in source
    assert "        self.fc2 = nn.Linear(hidden_features, out_features)\n" in source
    assert "self.b = TimmMlp(dim, 2 * dim, out_features=4)" in source
    again = nnconvert.convert(conversion.load(), style, (x,))
    assert again.source == source


class SplitHalf(nn.Module):
    """ShuffleNetV2's block: a width computed from itself, which the layers read."""

    def __init__(self, in_channels, split_ratio=0.5):
        super().__init__()
        in_channels = int(in_channels * split_ratio)
        self.conv = nn.Conv2d(in_channels, in_channels, 1)
        self.split_ratio = split_ratio

    def forward(self, x):
        c = int(x.size(1) * self.split_ratio)
        return torch.cat([x[:, :c], self.conv(x[:, c:])], 1)


class TwoSplits(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = SplitHalf(8)
        self.b = SplitHalf(8)

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_width_computed_from_itself_is_written_as_the_source_writes_it(style):
    x = torch.randn(2, 8, 4, 4)
    conversion = recorded_conversion(TwoSplits, style, (x,))
    source = conversion.source
    assert "    def __init__(self, in_channels, split_ratio=0.5):\n" in source
    assert "        in_channels = int(in_channels * split_ratio)\n" in source
    assert "nn.Conv2d(in_channels, in_channels, 1)" in source
    again = nnconvert.convert(conversion.load(), style, (x,))
    assert again.source == source
