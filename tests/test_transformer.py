"""``nn.TransformerEncoderLayer`` / ``nn.TransformerEncoder``: beyond the table's examples.

The table-generated tests (``tests/test_layers.py``) call the layers with
random inputs and float masks. Here: boolean padding and causal masks with
``is_causal``, PyTorch's eval fast paths (the fused layer kernel, and the
nested-tensor path that returns zeros at padded positions) against the
written-out calls, the helper definitions printed once and in order, and
``init_params()`` of an encoder whose layers are deep copies of one.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import assert_same_construction, defined_names, functional

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace


class Encoder(nn.Module):
    """An encoder called with a padding mask, as BERT-style models call it."""

    def __init__(self, batch_first: bool = True, **options):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            16, 2, dim_feedforward=32, batch_first=batch_first
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, **options)

    def forward(self, x, padding):
        return self.encoder(x, src_key_padding_mask=padding)


def _padding() -> torch.Tensor:
    padding = torch.zeros(2, 5, dtype=torch.bool)
    padding[1, 3:] = True  # the second sequence is padded (left-aligned)
    return padding


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_nested_fast_path_zeros_padded_positions_in_every_style(style):
    """Eval without grad: PyTorch runs nested tensors and pads with zeros; so does the function."""
    model, inputs = Encoder().eval(), (torch.randn(2, 5, 16), _padding())
    with torch.no_grad():
        fast = model(*inputs)
    assert fast[1, 3:].eq(0).all()  # what the fast path gives at padded positions
    conversion = nnconvert.convert(Encoder(), style, inputs)
    if style is Style.FUNCTIONAL:
        assert "nested=True" in conversion.source
    conversion.check(train=True)


def test_without_nested_tensors_padded_positions_are_computed():
    inputs = (torch.randn(2, 5, 16), _padding())
    model = Encoder(enable_nested_tensor=False)
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    assert "nested=True" not in conversion.source
    conversion.check(train=True)
    namespace = functional(model, inputs, name="encode")
    function = namespace["encode"]
    params = dict(model.state_dict())
    model.eval()
    with torch.no_grad():
        out = function(params, *inputs)
        assert out[1, 3:].ne(0).any()
        torch.testing.assert_close(out, model(*inputs), rtol=1e-5, atol=1e-5)


class Causal(nn.Module):
    """A causal mask with ``is_causal=True``, sequence first."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32)

    def forward(self, x, mask):
        return self.layer(x, src_mask=mask, is_causal=True)


def test_causal_mask_and_flag_are_passed_on():
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    inputs = (torch.randn(5, 2, 16), mask)
    conversion = nnconvert.convert(Causal(), Style.FUNCTIONAL, inputs)
    assert "src_mask=mask" in conversion.source
    assert "is_causal=True" in conversion.source
    conversion.check(train=True)


class BoolMaskBatchFirst(nn.Module):
    """Boolean masks in the layer's own fused fast path (batch first, eval, no grad)."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(
            16, 4, dim_feedforward=32, batch_first=True
        )

    def forward(self, x, padding):
        return self.layer(x, src_key_padding_mask=padding)


def test_fused_layer_kernel_agrees_to_rounding():
    inputs = (torch.randn(2, 5, 16), _padding())
    model = BoolMaskBatchFirst().eval()
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    function = functional(model, inputs, name="encode")["encode"]
    with torch.no_grad():  # the fused kernel
        expected = model(*inputs)
        got = function(dict(model.state_dict()), *inputs)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    conversion.check(train=True)


def test_helpers_are_defined_once_callees_first():
    inputs = (torch.randn(2, 5, 16), _padding())
    source = nnconvert.convert(Encoder(), Style.FUNCTIONAL, inputs).source
    names = defined_names(source)
    assert names.count("transformer_encoder_layer") == 1
    assert names.index("transformer_encoder_layer") < names.index("transformer_encoder")


def test_class_styles_keep_the_constructor():
    inputs = (torch.randn(2, 5, 16), _padding())
    for style in (Style.MODULE, Style.MIXED):
        source = nnconvert.convert(Encoder(), style, inputs).source
        assert (
            "nn.TransformerEncoder(\n"
            "            nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, "
            "batch_first=True),\n            num_layers=2,\n        )"
        ) in source, source
        assert "transformer_encoder" not in source


def test_init_params_copies_the_deep_copied_layer():
    inputs = (torch.randn(2, 5, 16), _padding())
    namespace = functional(Encoder(), inputs)
    assert (
        'params|=clone_params(params,"encoder.layers.0","encoder.layers.1")'
        in "".join(namespace["__source__"].split())
    )
    assert_same_construction(Encoder, namespace["init_params"], reordered=True)


def test_other_activation_is_refused_in_one_line():
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, activation=torch.tanh)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)

    with pytest.raises(nnconvert.ConversionError, match='only "relu" and "gelu"'):
        nnconvert.convert(Model(), Style.FUNCTIONAL, (torch.randn(5, 2, 16),))


class Seq2Seq(nn.Module):
    """``nn.Transformer`` with a causal target mask and ``tgt_is_causal``, batch first."""

    def __init__(self):
        super().__init__()
        self.transformer = nn.Transformer(
            16,
            2,
            num_encoder_layers=1,
            num_decoder_layers=2,
            dim_feedforward=32,
            batch_first=True,
        )

    def forward(self, src, tgt, tgt_mask, src_padding):
        return self.transformer(
            src,
            tgt,
            tgt_mask=tgt_mask,
            src_key_padding_mask=src_padding,
            memory_key_padding_mask=src_padding,
            tgt_is_causal=True,
        )


def _seq2seq_inputs() -> tuple:
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    return (torch.randn(2, 5, 16), torch.randn(2, 4, 16), mask, _padding())


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_transformer_with_masks_in_every_style(style):
    conversion = nnconvert.convert(Seq2Seq(), style, _seq2seq_inputs())
    if style is Style.FUNCTIONAL:
        names = defined_names(conversion.source)
        assert names[:6] == [
            "sub_params",  # each function hands its parts their slice
            "transformer_encoder_layer",
            "transformer_encoder",
            "transformer_decoder_layer",
            "transformer_decoder",
            "transformer",
        ]
        assert "tgt_is_causal=True" in conversion.source
    else:
        assert "nn.Transformer(" in conversion.source
    conversion.check(train=True)


def test_transformer_init_params_replays_reset_parameters():
    """Construction draws, then ``xavier_uniform_`` of every matrix: bit-identical."""
    namespace = functional(Seq2Seq(), _seq2seq_inputs())
    assert "nn.init.xavier_uniform_" in namespace["__source__"]
    assert_same_construction(Seq2Seq, namespace["init_params"], reordered=True)


class Passthrough(nn.Module):
    """A custom encoder: what ``nn.Transformer`` calls it with, and the input back."""

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        return src


def test_custom_encoder_is_refused_in_one_line():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.Transformer(
                16, 2, dim_feedforward=32, custom_encoder=Passthrough()
            )

        def forward(self, src, tgt):
            return self.transformer(src, tgt)

    inputs = (torch.randn(5, 2, 16), torch.randn(4, 2, 16))
    with pytest.raises(nnconvert.ConversionError, match="custom encoder"):
        nnconvert.convert(Custom(), Style.FUNCTIONAL, inputs)


def test_the_functional_file_runs_on_its_own():
    """It imports what its definitions' annotations name (``Callable``).

    Python 3.11 evaluates a parameter's annotation when it defines the
    function: without the import the file raised NameError when run.
    """
    conversion = nnconvert.convert(
        Encoder(), "functional", (torch.randn(2, 5, 16), _padding())
    )
    assert "activation: str | Callable[[Tensor], Tensor]" in conversion.source
    namespace: dict = {"__name__": "encoder_functional"}
    # dont_inherit: not under this file's ``from __future__ import annotations``
    code = compile(conversion.source, "encoder.py", "exec", dont_inherit=True)
    exec(code, namespace)
    assert callable(namespace[conversion.name])
