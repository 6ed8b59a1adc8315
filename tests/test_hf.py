"""Hugging Face ``transformers`` models: small random configurations, every style, checked.

Each model is built from a small configuration (hidden size 32, two layers,
random weights: nothing is downloaded), called as users call it
(``input_ids``, ``attention_mask``, ``labels`` for the heads that take them,
positionally with None for the inputs in between), converted to every style
and run side by side with the original: eval on the example, on another
batch size, on a doubled sequence length and without the attention mask;
train-mode outputs and gradients (:meth:`Conversion.check`).

Skipped when ``transformers`` is not installed.
"""

from __future__ import annotations

import functools
import re

import pytest
import torch

import nnconvert
from nnconvert.errors import ConversionError
from nnconvert.options import Style
from nnconvert.printer.functions import snake_case

from .helpers import load_benchmark

transformers = pytest.importorskip("transformers")

SMALL = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    vocab_size=100,
)
GPT2 = dict(n_embd=32, n_layer=2, n_head=2, vocab_size=100)

#: name -> (model type, configuration, class, inputs: i ids, m mask, _ None, l labels, t targets)
MODELS = {
    "bert": ("bert", SMALL, "BertModel", "im"),
    "bert-classifier": ("bert", SMALL, "BertForSequenceClassification", "im___l"),
    "gpt2": ("gpt2", dict(GPT2, use_cache=False), "GPT2Model", "i_m"),
    "gpt2-lm": ("gpt2", dict(GPT2, use_cache=False), "GPT2LMHeadModel", "i_m_____t"),
    "llama": (
        "llama",
        dict(SMALL, num_key_value_heads=1, use_cache=False),
        "LlamaModel",
        "im",
    ),
    "llama-lm": (
        "llama",
        dict(SMALL, num_key_value_heads=1, use_cache=False),
        "LlamaForCausalLM",
        "im___t",
    ),
    # its sliding-window mask once made the merge pair ``mask == 0`` with a
    # slice of the other trace's mask, which the namer could not name
    "mistral": (
        "mistral",
        dict(SMALL, num_key_value_heads=1, use_cache=False),
        "MistralModel",
        "im",
    ),
}


def build(name: str, **overrides) -> tuple[torch.nn.Module, tuple]:
    """The model (eval mode, seeded random weights) and its positional example inputs."""
    model_type, options, cls, call = MODELS[name]
    config = transformers.CONFIG_MAPPING[model_type](**{**options, **overrides})
    torch.manual_seed(0)
    model = getattr(transformers, cls)(config).eval()
    ids = torch.randint(0, 100, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0  # the second sequence is padded
    values = {"i": ids, "m": mask, "_": None, "l": torch.tensor([0, 1]), "t": ids}
    return model, tuple(values[c] for c in call)


@functools.cache
def converted(name: str, style: Style) -> nnconvert.Conversion:
    """``build(name)`` converted to ``style``, once for the tests that read it."""
    model, inputs = build(name)
    return nnconvert.convert(model, style, inputs)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
@pytest.mark.parametrize("name", list(MODELS))
def test_converts_and_checks(name: str, style: Style) -> None:
    conversion = converted(name, style)
    report = conversion.check(train=True)
    labels = [result.label for result in report.results]
    assert "eval, batch 3" in labels
    assert any("other input shape" in label for label in labels)  # sequence length
    assert "eval, without attention_mask" in labels
    assert "train, gradients of every parameter and input" in labels
    # the output is plain torch: transformers only for the output class it returns
    imports = re.findall(r"^from (transformers\S*) import", conversion.source, re.M)
    assert set(imports) <= {"transformers.modeling_outputs"}
    assert "import transformers" not in conversion.source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_branch_on_the_mask_reads_as_the_modeling_file(style: Style) -> None:
    """The traces with and without ``attention_mask`` join where they are alike.

    GPT-2's LM head calls its transformer once, over the mask (its output
    records join: building one draws nothing); the fields it reads are named
    as fields (``cross_attentions = transformer_outputs.cross_attentions``,
    not ``transformer_outputs = ...`` nor ``getattr_``), the record it
    returns ``outputs``, and no index chooses between two equal slices.

    BERT's encoder call stays one per side (the mask is made first under the
    ``if``); both sides bind it to ``encoder_outputs``, as
    ``modeling_bert.py`` does. Before, the side named second in graph order
    found the name taken and took over the input it read last.
    """
    source = converted("gpt2-lm", style).source
    call = r"(self\.transformer|gpt2_model)\("
    assert len(re.findall(rf"^ +transformer_outputs = {call}", source, re.M)) == 1
    assert not re.search(rf"^ +input_ids = {call}", source, re.M)
    assert "slice(" not in source and "getattr_" not in source
    fields = r"^ +cross_attentions = transformer_outputs\.cross_attentions$"
    assert re.search(fields, source, re.M)
    assert re.search(r"^ +outputs = CausalLMOutputWithCrossAttentions\($", source, re.M)
    source = converted("bert", style).source
    call = r"(self\.encoder|bert_encoder)\("
    assert len(re.findall(rf"^ +encoder_outputs = {call}", source, re.M)) == 2


def benchmark_config(name: str):
    """The configuration ``benchmarks/hf.py`` builds ``name`` from: one place for both."""
    (entry,) = [e for e in load_benchmark("hf").ENTRIES if e.name == name]
    return entry.config(transformers)


def clip() -> tuple[torch.nn.Module, tuple]:
    """A small ``CLIPModel`` and its inputs: ``input_ids``, ``pixel_values``, a padded mask."""
    torch.manual_seed(0)
    model = transformers.CLIPModel(benchmark_config("clip")).eval()
    _, (ids, mask) = build("bert")
    return model, (ids, torch.randn(2, 3, 32, 32), mask)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_clip_converts_and_checks(style: Style) -> None:
    """The dual encoder: ``get_text_features`` projects the ``pooler_output`` of
    the text model's output object in place (``text_outputs.pooler_output =
    ...``), which the output returns: the assignment is kept, once.
    """
    model, inputs = clip()
    conversion = nnconvert.convert(model, style, inputs)
    report = conversion.check(train=True)
    labels = [result.label for result in report.results]
    assert "eval, without attention_mask" in labels
    assert "train, gradients of every parameter and input" in labels
    assert conversion.source.count("text_outputs.pooler_output = ") == 1


def t5() -> tuple[torch.nn.Module, tuple]:
    """A small ``T5Model``: ``input_ids``, a padded mask, ``decoder_input_ids``."""
    torch.manual_seed(0)
    model = transformers.T5Model(benchmark_config("t5")).eval()
    _, (ids, mask) = build("bert")
    return model, (ids, mask, torch.randint(0, 100, (2, 5)))


def whisper() -> tuple[torch.nn.Module, tuple]:
    """A small ``WhisperModel``: 16 mel bins of 64 frames, ``decoder_input_ids``."""
    torch.manual_seed(0)
    model = transformers.WhisperModel(benchmark_config("whisper")).eval()
    return model, (torch.randn(2, 16, 64), None, torch.randint(2, 100, (2, 5)))


#: T5 in functional style alone: its three conversions took 403 s of a suite
#: that CI gives 90 minutes (module 152 s, mixed 163 s, functional 89 s);
#: ``benchmarks/hf.py`` converts and checks it in every style.
ENCODER_DECODERS = [(t5, Style.FUNCTIONAL)] + [(whisper, style) for style in Style]


@pytest.mark.parametrize(
    "make, style",
    ENCODER_DECODERS,
    ids=[f"{make.__name__}-{style.value}" for make, style in ENCODER_DECODERS],
)
def test_encoder_decoders_convert_and_check(make, style: Style) -> None:
    """T5 (tied ``shared`` embedding, cross-attention only in the decoder's
    blocks) and Whisper (a causal mask its decoder builds only when traced):
    train outputs and every gradient agree.
    """
    model, inputs = make()
    conversion = nnconvert.convert(model, style, inputs)
    report = conversion.check(train=True)
    labels = [result.label for result in report.results]
    assert "eval, batch 3" in labels
    assert "train, gradients of every parameter and input" in labels
    # a field read is named as the field: ``device = query_states.device``
    assert "getattr_" not in conversion.source


@pytest.mark.parametrize("style", [Style.MODULE, Style.FUNCTIONAL])
def test_one_definition_per_block_class(style: Style) -> None:
    """``LlamaDecoderLayer`` is defined once for both layers, under its own name."""
    model, inputs = build("llama")
    source = nnconvert.convert(model, style, inputs).source
    names = ["LlamaAttention", "LlamaMLP", "LlamaDecoderLayer", "LlamaRMSNorm"]
    for name in names:
        if style is Style.MODULE:
            assert source.count(f"class {name}(nn.Module):") == 1, name
        else:
            snake = snake_case(name)
            assert len(re.findall(rf"^def {snake}\(", source, re.M)) == 1, snake


def test_causal_mask_follows_the_sequence_length() -> None:
    """GPT-2's causal mask is built from the input: a longer sequence gives the original's result."""
    model, inputs = build("gpt2")
    new = nnconvert.convert(model, "module", inputs).load()
    longer = torch.randint(0, 100, (2, 11))
    mask = torch.ones(2, 11, dtype=torch.long)
    with torch.no_grad():
        expected = model(longer, None, mask).last_hidden_state
        actual = new(longer, None, mask).last_hidden_state
    torch.testing.assert_close(actual, expected)


def test_a_returned_cache_fails_loudly() -> None:
    """``use_cache=True`` returns a ``DynamicCache``: refused with what to do, never dropped."""
    model, inputs = build("llama", use_cache=True)
    with pytest.raises(ConversionError, match="use_cache=False"):
        nnconvert.convert(model, "module", inputs)
