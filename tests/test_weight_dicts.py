"""Layers called over their weights as one dict in functional style (``OpSpec.dict_form``).

``batch_norm(sub_params(params, "bn1."), x, training=training)`` instead of
the counting ``if`` and ``F.batch_norm`` over four keys. Generated from the
table: every example of every row with a dict form, four of them in a chain
(so that the helper's definition pays for itself; printed as one loop over
the members), converts to functional style with the helper, passes the eval and train checks, reads back to the
same layers in class styles and to the same text in functional style. A
file where the helper costs more lines than it saves keeps the calls written
out; files in that form, the only one before, still read back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.functional import functional_model, load_source
from nnconvert.opspecs import SPECS
from nnconvert.opspecs.spec import same_value
from nnconvert.printer.classes import constructor_text

from .helpers import (
    build_inputs,
    build_layer,
    layer_model,
    load_output,
    load_sample,
    run,
)

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LEGACY = Path(__file__).resolve().parent / "legacy"

CASES = [
    pytest.param(spec, example, id=example.layer)
    for spec in SPECS
    if spec.dict_form is not None
    for example in spec.examples
]

#: Examples with tensors: the ones a dict form passes (one without has no slice).
WEIGHTED_CASES = [case for case in CASES if build_layer(case.values[1]).state_dict()]


class Chain(nn.Module):
    """Layers one after the other."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


#: Calls in a chain: enough for the helper to pay off in every configuration
#: (one without affine weights saves four lines a call).
LENGTH = 12


def _model(example) -> tuple[nn.Module, list[str]]:
    """The model a case converts, and the key prefix of each of its layers.

    A chain of :data:`LENGTH` layers where the layer maps its one input to
    a tensor of the same shape (BatchNorm: its helper is defined for these
    calls only); the one layer otherwise (the recurrent and transformer
    layers' functions are defined whichever form calls them).
    """
    torch.manual_seed(0)
    if example.keywords or len(example.inputs) > 1:  # a mask, a decoder's memory
        return layer_model(example), ["layer."]
    inputs = build_inputs(example)
    output = build_layer(example)(*inputs)
    if not (isinstance(output, torch.Tensor) and output.shape == inputs[0].shape):
        return layer_model(example), ["layer."]
    layers = [build_layer(example) for _ in range(LENGTH)]
    return Chain(layers), [f"layers.{i}." for i in range(LENGTH)]


def _layers(model: nn.Module) -> list[nn.Module]:
    return list(model.layers) if hasattr(model, "layers") else [model.layer]


def _slices(prefixes: list[str]) -> list[str]:
    """How the calls pass each layer's slice: a chain is one loop over its
    members (``for i in range(12):``), a single layer its own key."""
    if len(prefixes) > 1:
        return [
            f"for i in range({len(prefixes)}):",
            'sub_params(params, f"layers.{i}.")',
        ]
    return [f'sub_params(params, "{prefixes[0]}")']


def test_the_table_has_dict_forms():
    assert CASES


@pytest.mark.parametrize("spec, example", WEIGHTED_CASES)
def test_the_layer_is_called_over_its_weights(spec, example):
    model, prefixes = _model(example)
    inputs = build_inputs(example)
    conversion = nnconvert.convert(model, "functional", inputs)
    assert f"def {spec.dict_form.function.__name__}(" in conversion.source
    body = conversion.source.split("def init_params(")[0]
    for text in _slices(prefixes):
        assert text in body
    for key in _layers(model)[0].state_dict():  # no key read one by one
        assert f'params["{prefixes[0]}{key}"]' not in body
        assert f'params[f"layers.{{i}}.{key}"]' not in body
    # only a helper's definition calls the function and counts batches
    assert body.count(f"F.{spec.function.__name__}(") <= 1
    assert body.count("+= 1") <= 1
    conversion.check(train=True)


@pytest.mark.parametrize("spec, example", WEIGHTED_CASES)
def test_the_dict_form_reads_back_to_the_same_layers(spec, example):
    model, prefixes = _model(example)
    inputs = build_inputs(example)
    conversion = nnconvert.convert(model, "functional", inputs)
    for text in _slices(prefixes):
        assert text in conversion.source
    original = _layers(model)[0]
    namespace = load_source(conversion.source)
    params = {k: v.clone() for k, v in model.state_dict().items()}
    wrapper = functional_model(namespace[conversion.name], params, inputs)
    for style in ("module", "mixed"):
        back = nnconvert.convert(wrapper, style, inputs)
        back.check(train=True)
        layers = _layers(back.load())
        assert len(layers) == len(prefixes)
        for layer in layers:
            if constructor_text(layer) != example.layer:
                # only an argument that changes nothing for this layer may
                # go (enable_nested_tensor=False where norm_first disallows it)
                assert same_value(spec.behaviour(layer), spec.behaviour(original))
    again = nnconvert.convert(wrapper, "functional", inputs)
    assert again.source == conversion.source


def test_train_mode_counts_batches_and_averages_with_momentum_none():
    """Step after step the function's buffers follow the module's (``momentum=None``)."""
    torch.manual_seed(0)
    model = Chain([nn.BatchNorm2d(3, momentum=None) for _ in range(4)])
    x = torch.randn(2, 3, 4, 4)
    conversion = nnconvert.convert(model, "functional", (x,))
    assert "for i in range(4):" in conversion.source
    assert (
        'sub_params(params, f"layers.{i}."), x, training=training, momentum=None'
        in conversion.source
    )
    function = load_source(conversion.source)[conversion.name]
    params = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    for step in range(3):
        batch = torch.randn(2, 3, 4, 4) * (step + 1) + step
        torch.testing.assert_close(function(params, batch, training=True), model(batch))
        for key, value in model.state_dict().items():
            torch.testing.assert_close(params[key], value, msg=key)
    assert int(params["layers.3.num_batches_tracked"]) == 3
    model.eval()
    torch.testing.assert_close(function(params, x), model(x))


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_the_helper_is_written_from_as_many_calls_as_pay_for_it(count):
    """BatchNorm's row: from three calls on (``DictForm.fewest_calls``), and stably.

    Reading the output back makes as many calls, so converting it again
    chooses the same form (a model of two BatchNorms once chose one form
    and, read back, the other).
    """
    inputs = (torch.randn(2, 3, 8, 8),)
    model = Chain([nn.BatchNorm2d(3) for _ in range(count)])
    conversion = nnconvert.convert(model, "functional", inputs)
    written = "def batch_norm(" in conversion.source
    assert written == (count >= 3)
    if not written:
        assert "F.batch_norm(" in conversion.source and "+= 1" in conversion.source
    again = nnconvert.convert(load_output(conversion, "Chain"), "functional", inputs)
    assert again.source == conversion.source


class TiedNorms(nn.Module):
    """Four BatchNorms, two of which share their affine weight."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d = (nn.BatchNorm1d(4) for _ in range(4))
        self.d.weight = self.a.weight

    def forward(self, x):
        return self.d(self.c(self.b(self.a(x))))


def test_a_tied_weight_is_passed_in_under_its_first_key():
    model = TiedNorms()
    inputs = (torch.randn(8, 4),)
    conversion = nnconvert.convert(model, "functional", inputs)
    tied = '{**sub_params(params, "d."), "weight": params["a.weight"]}, x'
    assert tied in conversion.source
    conversion.check(train=True)
    namespace = load_source(conversion.source)
    params = dict(model.state_dict(keep_vars=True))
    wrapper = functional_model(namespace[conversion.name], params, inputs)
    # (class styles refuse a tie between BatchNorms read from a function, as
    # they did before the dict form: passes/lift.py cannot hold the buffers)
    again = nnconvert.convert(wrapper, "functional", inputs)
    # the function reads back to itself (init_params() does not: a tie read
    # from a function leaves its hosts without layers, as before the dict form)
    assert _function(again.source, "tied_norms") == _function(
        conversion.source, "tied_norms"
    )


def _function(source: str, name: str) -> str:
    return source.split(f"def {name}(")[1].split("\n\n\ndef ")[0]


#: Functional goldens as written before the dict form (``F.batch_norm`` over
#: four keys; ``lstm(x, [params[...], ...])``; ``lstm_cell(x, params[...],
#: ..., hx=(h, c))``, the cell's function over its tensors one by one, which
#: read back as the row's canonical call): today's output with every
#: dict-form call spelled out, so that they differ from the goldens in that
#: alone. With the inputs to read them on, and what they say that today's
#: goldens say otherwise.
LEGACY_FILES = {
    "resnet": (("--input-shape", "2,3,32,32"), "F.batch_norm(", "batch_norm(sub_"),
    "char_lstm": (
        ("--input-shape", "2,12", "--input-dtype", "int64", "--input-high", "40"),
        '[\n            params["lstm.weight_ih_l0"],',
        'sub_params(params, "lstm."),',
    ),
    "sine_steps": (
        ("--input-shape", "2,12"),
        'lstm_cell(\n            input_t,\n            params["lstm1.weight_ih"],',
        'lstm_cell(sub_params(params, "lstm1."), input_t, hx=(h_t, c_t))',
    ),
}


@pytest.mark.parametrize("style", ["module", "mixed"])
@pytest.mark.parametrize("sample", list(LEGACY_FILES))
def test_the_written_out_form_still_reads_back(sample, style):
    """A functional file from before the dict form reads back as today's does."""
    arguments, old, new = LEGACY_FILES[sample]
    legacy = LEGACY / f"{sample}.functional.py"
    today = SAMPLES / "expected" / f"{sample}.functional.py"
    assert old in legacy.read_text() and new in today.read_text()
    results = [
        run("convert", path, "--to", style, *arguments) for path in (legacy, today)
    ]
    for result in results:
        assert result.exit_code == 0, result.output
        assert "ok    train, gradients" in result.stderr
    assert results[0].stdout == results[1].stdout


@pytest.mark.parametrize(
    "sample, function",
    [("bert_encoder", "bert_encoder"), ("seq2seq_transformer", "seq2_seq_transformer")],
)
def test_the_transformer_list_form_still_reads_back(sample, function):
    """``transformer_encoder(x, [params[...], ...])``, as files were written before the dict form.

    Trimmed as today's definitions are; it lifts to the same module as
    today's text, which passes the layer's slice and reads back to itself.
    """
    model, inputs = load_sample(SAMPLES / f"{sample}.py")
    params = dict(model.module.state_dict())
    legacy = (LEGACY / f"{sample}.functional.py").read_text()
    today = (SAMPLES / "expected" / f"{sample}.functional.py").read_text()
    assert "weights: list[Tensor]" in legacy and "weights: list[Tensor]" not in today
    key = next(iter(params))
    assert f'params["{key}"],' not in today.split("def init_params(")[0]
    sources = {}
    for name, text in (("legacy", legacy), ("today", today)):
        wrapper = functional_model(load_source(text)[function], params, inputs)
        for style in ("module", "functional"):
            conversion = nnconvert.convert(wrapper, style, inputs)
            conversion.check(train=True)
            sources[name, style] = conversion.source
    assert sources["legacy", "module"] == sources["today", "module"]
    assert "nn.Transformer" in sources["today", "module"]
    # functional to functional keeps the calls a file makes (as for lstm)
    assert _function(sources["today", "functional"], function) == _function(
        today, function
    )
