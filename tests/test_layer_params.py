"""Compact ``init_params()``: one call per common layer, one loop per run of identical blocks.

The functions of :mod:`nnconvert.opspecs.layer_params` stand in for a
layer's per-tensor statements, so for every example of every row that uses
one they must give a freshly built layer's ``state_dict()``: the same keys in
the same order, bit-identical values, the same number of draws. The loops of
:mod:`nnconvert.printer.init_loops` must keep the draw order of repeated
blocks, with raw parameters and ties inside them.
"""

from __future__ import annotations

import re

import black
import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.naming import MODULE_NAMES
from nnconvert.opspecs import SPECS
from nnconvert.opspecs.layer_params import DEFINITIONS, NEEDS, clone_params
from nnconvert.opspecs.spec import Example
from nnconvert.printer.init_loops import Statement, fold_loops

from .helpers import assert_same_construction, build_layer, functional, load_output

SEEDS = (0, 1)

CALL_CASES = [
    pytest.param(spec, example, id=example.layer)
    for spec in SPECS
    if spec.init_call is not None
    for example in spec.examples
]


def _created_by_calls(spec, layer: nn.Module, prefix: str) -> dict | None:
    """The layer's tensors as ``init_params()`` writes them: its calls, its copies cloned.

    In the row's ``init`` order, as the printer goes: a part's call at its
    first key, ``clone_params`` at the first key of a copied layer. None
    when the row gives no call for this configuration.
    """
    calls = spec.init_call(layer)
    if calls is None:
        return None
    calls = calls if isinstance(calls, tuple) else (calls,)
    by_part = {call.part: call for call in calls}
    params: dict = {}
    for init in spec.init(layer):
        if f"{prefix}.{init.attribute}" in params:
            continue
        if init.copy_of is not None:
            source, target = init.copy_of.split("."), init.attribute.split(".")
            common = next(n for n in range(1, len(source)) if source[-n] != target[-n])
            source_layer = ".".join([prefix, *source[: 1 - common]])
            target_layer = ".".join([prefix, *target[: 1 - common]])
            params |= clone_params(params, source_layer, target_layer)
            continue
        part = next(p for p in by_part if not p or init.attribute.startswith(p + "."))
        call = by_part.pop(part)
        where = f"{prefix}.{part}" if part else prefix
        params |= call.function(where, *call.arguments, **dict(call.keywords))
    return params


@pytest.mark.parametrize("spec, example", CALL_CASES)
def test_a_layer_call_is_the_layers_construction(spec, example):
    layer = build_layer(example)
    if _created_by_calls(spec, layer, "block.layer") is None:
        return  # a configuration the functions do not cover
    for seed in SEEDS:
        torch.manual_seed(seed)
        expected = build_layer(example).state_dict()
        after_build = torch.get_rng_state()
        torch.manual_seed(seed)
        params = _created_by_calls(spec, layer, "block.layer")
        assert torch.equal(torch.get_rng_state(), after_build), "different draws"
        assert list(params) == [f"block.layer.{key}" for key in expected]
        for key, tensor in expected.items():
            got = params[f"block.layer.{key}"]
            assert got.dtype == tensor.dtype and torch.equal(got, tensor), key


#: Configurations beyond the rows' examples whose calls must also be the construction.
VARIANTS = [
    "nn.LSTM(4, 8, num_layers=3, bias=False, bidirectional=True, proj_size=5)",
    "nn.GRU(3, 6, num_layers=2, batch_first=True, bidirectional=True, bias=False)",
    "nn.RNN(3, 6, num_layers=2, nonlinearity='relu', bidirectional=True)",
    "nn.LSTMCell(3, 5, bias=False)",
    "nn.MultiheadAttention(8, 2, add_bias_kv=True)",
    "nn.MultiheadAttention(8, 2, add_bias_kv=True, bias=False)",
    "nn.MultiheadAttention(8, 2, kdim=6)",
    "nn.MultiheadAttention(8, 2, kdim=8, vdim=8)",
    "nn.MultiheadAttention(8, 2, kdim=5, vdim=3, bias=False)",
    "nn.Embedding(7, 3, padding_idx=-2)",
    "nn.EmbeddingBag(7, 3, padding_idx=2)",
    "nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, norm_first=True, bias=False)",
    "nn.TransformerDecoderLayer(8, 2, dim_feedforward=20, norm_first=True)",
    "nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), num_layers=4)",
    "nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, bias=False), 3)",
    "nn.Transformer(8, 2, 3, 2, 16)",
    "nn.Transformer(8, 2, 1, 3, 12, bias=False, norm_first=True)",
]


@pytest.mark.parametrize("layer", VARIANTS)
def test_a_layer_call_is_the_construction_of_more_configurations(layer):
    example = Example(layer)
    spec = next(s for s in SPECS if s.module is type(build_layer(example)))
    assert spec.init_call(build_layer(example)) is not None
    test_a_layer_call_is_the_layers_construction(spec, example)


@pytest.mark.parametrize(
    "layer",
    [
        "nn.Linear(8, 4)",
        "nn.Conv2d(3, 8, 3)",
        "nn.BatchNorm2d(3)",
        "nn.LayerNorm(8)",
        "nn.Embedding(10, 4)",
        "nn.EmbeddingBag(10, 4)",
        "nn.LSTM(4, 8)",
        "nn.GRU(4, 8)",
        "nn.RNN(4, 8)",
        "nn.LSTMCell(4, 8)",
        "nn.GRUCell(4, 8)",
        "nn.RNNCell(4, 8)",
        "nn.MultiheadAttention(8, 2)",
        "nn.TransformerEncoderLayer(8, 2)",
        "nn.TransformerDecoderLayer(8, 2)",
        "nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 2)",
        "nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2), 2)",
        "nn.Transformer(8, 2, 1, 1, 16)",
    ],
)
def test_the_common_layers_take_one_call(layer):
    module = eval(layer)
    spec = next(s for s in SPECS if s.module is type(module))
    assert spec.init_call is not None and spec.init_call(module) is not None


class Recurrent(nn.Module):
    """Two recurrent layers: 24 tensors, written one at a time before."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, num_layers=2, bidirectional=True)
        self.gru = nn.GRU(16, 8, num_layers=2)

    def forward(self, x):
        return self.gru(self.lstm(x)[0])[0]


def test_recurrent_layers_are_one_call_each():
    namespace = functional(Recurrent(), (torch.randn(5, 2, 4),))
    source = namespace["__source__"]
    calls = [
        'params |= general_recurrent_params(\n        "lstm", 4, 8, num_layers=2, bidirectional=True, gates=4\n    )',
        'params |= recurrent_params("gru", 16, 8, num_layers=2, gates=3)',
    ]
    for call in calls:
        assert call in source
    assert "nn.init.uniform_(" not in source.split("def init_params")[1]
    assert_same_construction(Recurrent, namespace["init_params"])


class Encoder(nn.Module):
    """Four copies of one layer: the copies are one loop of ``clone_params``."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, num_layers=4)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.encoder(x))


def test_the_copies_of_a_layer_are_one_clone_each_in_a_loop():
    namespace = functional(Encoder(), (torch.randn(5, 2, 16),))
    source = namespace["__source__"]
    assert "for i in range(1, 4):" in source
    assert (
        'params |= clone_params(params, "encoder.layers.0", f"encoder.layers.{i}")'
        in source
    )
    assert ".clone()\n" not in source.split("def init_params")[1]
    assert_same_construction(Encoder, namespace["init_params"], reordered=True)
    params = namespace["init_params"]()
    first, last = (
        params["encoder.layers.0.linear1.weight"],
        params["encoder.layers.3.linear1.weight"],
    )
    assert torch.equal(first, last) and first is not last


class TiedCopies(nn.Module):
    """Copies of one layer, two of which then share a weight."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
        self.encoder.layers[3].linear1.weight = self.encoder.layers[1].linear1.weight

    def forward(self, x):
        return self.encoder(x)


def test_a_copy_with_a_tied_tensor_is_written_tensor_by_tensor():
    """``clone_params`` would give layer 3 a tensor of its own: its copies stay apart."""
    namespace = functional(TiedCopies(), (torch.randn(5, 2, 8),))
    init = namespace["__source__"].split("def init_params")[1]
    assert 'clone_params(params, "encoder.layers.0", "encoder.layers.2")' in init
    assert init.count("clone_params(") == 1
    assert_same_construction(TiedCopies, namespace["init_params"], reordered=True)
    params = namespace["init_params"]()
    weight = params["encoder.layers.1.linear1.weight"]
    assert params["encoder.layers.3.linear1.weight"] is weight


class Attentions(nn.Module):
    """Attention layers over keys of different widths: their function calls ``kaiming_params``."""

    widths = (4, 5, 6, 7, 8, 9)

    def __init__(self):
        super().__init__()
        self.attentions = nn.ModuleList(
            [nn.MultiheadAttention(16, 2, kdim=k, vdim=k) for k in self.widths]
        )

    def forward(self, x):
        for attention, width in zip(self.attentions, self.widths):
            memory = x[..., :width]
            x = attention(x, memory, memory, need_weights=False)[0]
        return x


def test_a_function_that_calls_another_comes_with_its_definition():
    namespace = functional(Attentions(), (torch.randn(5, 2, 16),))
    source = namespace["__source__"]
    assert (
        'params |= general_attention_params("attentions.5", 16, kdim=9, vdim=9)'
        in source
    )
    assert "kaiming_params(" not in source.split("def init_params")[1]
    assert source.index("def kaiming_params(") < source.index(
        "def general_attention_params("
    )
    assert_same_construction(Attentions, namespace["init_params"], reordered=True)


def test_layers_built_in_another_dtype_are_written_tensor_by_tensor():
    layer = nn.Linear(4, 2, dtype=torch.float64)
    spec = next(s for s in SPECS if s.module is nn.Linear)
    assert spec.init_call(layer) is None


def test_every_function_another_calls_is_defined_with_it():
    """The output defines a function and what it calls (``NEEDS``), nothing less."""
    for name, definition in DEFINITIONS.items():
        called = {
            other
            for other in DEFINITIONS
            if other != name and re.search(rf"\b{other}\(", definition)
        }
        assert called == set(NEEDS.get(name, ())), name


def test_every_function_is_a_reserved_black_formatted_name():
    for name, definition in DEFINITIONS.items():
        assert name in MODULE_NAMES
        assert black.format_str(definition, mode=black.Mode()) == definition


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, width)
        # no row explains it, nor does a slice of code rebuild it here (this
        # test's model is not built under record_constructors): its value does
        self.scale = nn.Parameter(torch.ones(width))
        self.again = nn.Linear(width, width)
        self.again.weight = self.fc.weight  # a tie inside the block

    def forward(self, x):
        return self.again(self.fc(self.norm(x))) * self.scale


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv1d(3, 8, 1)
        self.blocks = nn.ModuleList([Block(8) for _ in range(4)])
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        x = self.stem(x).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def test_repeated_blocks_are_one_loop_that_draws_in_the_same_order():
    model = Stack()
    namespace = functional(model, (torch.randn(2, 3, 5),))
    source = namespace["__source__"]
    assert "for i in range(4):" in source
    assert 'params |= kaiming_params(f"blocks.{i}.fc", 8, 8)' in source
    assert source.count("kaiming_params(f") == 2  # fc and again, once each
    # one number throughout when built: written as that fill, in the loop
    assert 'params[f"blocks.{i}.scale"] = torch.ones(8)' in source
    assert_same_construction(Stack, namespace["init_params"])
    params = namespace["init_params"]()
    for i in range(4):
        assert params[f"blocks.{i}.again.weight"] is params[f"blocks.{i}.fc.weight"]
    assert "marked below" not in source


class Scaled(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, width)
        self.scale = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return self.fc(self.norm(x)) * self.scale


class ScaledStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(*[Scaled(8) for _ in range(3)])
        self.norm = nn.BatchNorm1d(8)

    def forward(self, x):
        return self.norm(self.blocks(x))


def test_the_compact_form_is_a_fixed_point():
    """A functional file is also an input: converting it to its own style changes nothing."""
    inputs = (torch.randn(4, 8),)
    conversion = nnconvert.convert(ScaledStack(), "functional", inputs)
    assert "for i in range(3):" in conversion.source
    again = nnconvert.convert(
        load_output(conversion, "ScaledStack"), "functional", inputs
    )
    assert again.source == conversion.source


def _calls(*prefixes: str) -> list[Statement]:
    return [Statement(("params |= f(", ", 4)"), (p,)) for p in prefixes]


def test_consecutive_identical_blocks_fold_into_a_loop():
    assert fold_loops(_calls("a", "h.1.x", "h.1.y", "h.2.x", "h.2.y", "b")) == [
        'params |= f("a", 4)',
        "for i in range(1, 3):",
        '    params |= f(f"h.{i}.x", 4)',
        '    params |= f(f"h.{i}.y", 4)',
        'params |= f("b", 4)',
    ]


def test_blocks_that_differ_or_save_nothing_stay_as_they_are():
    different = _calls("h.0.x") + [Statement(("params |= f(", ", 5)"), ("h.1.x",))]
    assert fold_loops(different) == [
        'params |= f("h.0.x", 4)',
        'params |= f("h.1.x", 5)',
    ]
    assert fold_loops(_calls("h.0", "h.1")) == [
        'params |= f("h.0", 4)',
        'params |= f("h.1", 4)',
    ]
    # a key an f-string would have to escape is written as it is
    odd = _calls("h.0.{x}", "h.1.{x}", "h.2.{x}")
    assert fold_loops(odd) == [
        f"params |= f({k!r}, 4)".replace("'", '"')
        for k in ("h.0.{x}", "h.1.{x}", "h.2.{x}")
    ]


def test_a_statement_naming_keys_outside_its_block_ends_no_loop():
    tie = Statement(("params[", "] = params[", "]"), ("h.0.w", "emb.weight"))
    assert fold_loops([tie, tie]) == ['params["h.0.w"] = params["emb.weight"]'] * 2


def _growing(prefix: str, width: int) -> Statement:
    return Statement(("params |= f(", ", ", ")"), (prefix, width))


def test_numbers_that_grow_by_a_constant_are_written_in_terms_of_the_index():
    assert fold_loops([_growing(f"d.{n}.bn", 24 + 12 * n) for n in range(4)]) == [
        "for i in range(4):",
        '    params |= f(f"d.{i}.bn", 24 + 12 * i)',
    ]
    assert fold_loops([_growing(f"d.{n}.bn", 10 - n) for n in (1, 2, 3)]) == [
        "for i in range(1, 4):",
        '    params |= f(f"d.{i}.bn", 10 - i)',
    ]


def test_numbers_that_do_not_grow_by_a_constant_end_the_loop():
    widths = [16, 32, 64]
    lines = fold_loops([_growing(f"d.{n}.bn", w) for n, w in enumerate(widths)])
    assert lines == [f'params |= f("d.{n}.bn", {w})' for n, w in enumerate(widths)]


def test_a_loop_over_blocks_whose_width_grows_draws_in_the_same_order():
    class Dense(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.bn = nn.BatchNorm1d(width)
            self.fc = nn.Linear(width, 4)

        def forward(self, x):
            return torch.cat([x, self.fc(self.bn(x))], 1)

    class Growing(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(*[Dense(8 + 4 * n) for n in range(4)])

        def forward(self, x):
            return self.layers(x)

    namespace = functional(Growing(), (torch.randn(3, 8),))
    source = namespace["__source__"]
    assert 'params |= batch_norm_params(f"layers.{i}.bn", 8 + 4 * i)' in source
    assert 'params |= kaiming_params(f"layers.{i}.fc", 4, 8 + 4 * i)' in source
    assert_same_construction(Growing, namespace["init_params"])


def test_two_blocks_with_different_numbers_are_no_progression():
    lines = fold_loops([_growing(f"d.{n}.bn", w) for n, w in enumerate([16, 32])])
    assert lines == ['params |= f("d.0.bn", 16)', 'params |= f("d.1.bn", 32)']
