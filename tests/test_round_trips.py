"""Round trips: converting an output again changes nothing.

For every sample and every example of the op-spec table, and every pair of
styles A, B: the module-style original converted to A, loaded back, and
converted to B gives exactly (byte for byte) what the original converted to B
gives. A == B is the "own style" round trip.

A class-style output is loaded with the original weights (``.load()``). A
functional output is loaded by the loader ``nnconvert convert FILE`` uses
(:func:`nnconvert.functional.load_functional_source`): the function with the
original's ``state_dict(keep_vars=True)`` as its weights (so parameters and
buffers are told apart as in the original), laid out in the order of the
file's ``init_params()``, which also gives the initial weights.

What cannot round-trip, and why, is in :func:`known_failure`: those cases are
strict xfails, so the list fails as soon as one of them starts to pass. One
loss is checked instead: module style names a parameter-free layer after the
model's attribute, which a functional call does not carry; there the texts
must differ, and be the same with those layers inlined
(:func:`~tests.helpers.inlined_stateless_layers`).
"""

from __future__ import annotations

import re

import functools
from pathlib import Path

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert import loading
from nnconvert.api import default_name
from nnconvert.functional import class_name_for
from nnconvert.opspecs import SPECS
from nnconvert.options import Style

from .helpers import (
    NAMED_STATELESS_SAMPLES,
    STATELESS_ARGUMENTS_NOT_CARRIED,
    STATELESS_ARGUMENTS_SAMPLES,
    STATELESS_NAMES_NOT_CARRIED,
    build_inputs,
    inlined_stateless_layers,
    layer_model,
    load_output,
    missing_imports,
)
from .round_trip_models import MODELS as ROUND_TRIP_MODELS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
STYLES = list(Style)
CLASS_STYLES = (Style.MODULE, Style.MIXED)

#: Examples whose layer has a setting the functional call does not show: the
#: layer rebuilt from the call computes the same but is written differently.
LOSSY = {
    # F.pad(x, (1, 1, 1, 1), mode="reflect") then F.conv2d: padding="same" and
    # padding=1 are the same padding here, and the call cannot say which.
    'nn.Conv2d(3, 6, 3, padding="same", padding_mode="reflect")': (
        CLASS_STYLES,
        'padding="same" is written padding=1',
    ),
    # enable_nested_tensor only chooses PyTorch's eval fast path (no functional
    # call of its own): the layer read back from the call has the default.
    "nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, "
    'activation="gelu", batch_first=True, norm_first=True), num_layers=2, '
    "norm=nn.LayerNorm(16), enable_nested_tensor=False)": (
        CLASS_STYLES,
        "enable_nested_tensor=False is not in the functional call",
    ),
}

#: Samples whose functional form does not show everything their module form
#: does (sample stem -> (target styles, why)). Functional style writes
#: an nn.Sequential as a function of its own and unrolls a loop over an
#: nn.ModuleList in the caller, so passes/lift.py tells the two apart; but
#: a module-level third-party layer (leaf) without weights called by the root
#: function carries no attribute name, a tied weight is read under one key
#: (README, Limits, "Tied weights"), and a non-persistent buffer is a tensor
#: the function builds, and read back it is one that forward builds (the same
#: values).
LEAF_NAMED_BY_VARIABLE = (
    "the root function calls pool's Reduce as reduce_layer(x), which carries no "
    "attribute name: read back it is self.reduce (README, Leaves); and the "
    "rebuilt to_patch_embedding Sequential is placed where first used, before "
    "cls_token, as for any Sequential rebuilt next to the root's own parameters"
)
#: (A block with two instances or more carries them: its init function's
#: parameters, read back as its sizes, functional/block_inits.py.)
INIT_NAMES_NOT_CARRIED = (
    "class styles name a shared block's constructor parameters after the "
    "user's __init__; a functional block takes weights, not sizes, and a block "
    "used once has no init function of its own, so no keyword carries those "
    "names and read back they take the layers' argument names (in_channels, "
    "out_channels): printer/init_names.py"
)
#: (The sizes a class style writes as the user's source does, read from its
#: ``__init__``: printer/source_arguments.py.)
SOURCE_ARGUMENTS_NOT_CARRIED = (
    "class styles write a block's (and the root's) layer arguments as the "
    "user's __init__ writes them (nn.Linear(dim, 4 * dim), Block(dim)) where "
    "every instance has the same value; a functional file has no __init__ to read them from "
    "and its init_params() writes the sizes as numbers, so read back they "
    "are numbers: printer/source_arguments.py"
)
#: Lossy samples whose functional form still reads back as a model the check passes.
CHECKED_THOUGH_LOSSY = frozenset(
    {
        "droppath",
        "unet",
        "vit",
        "gpt",
        "tied_lm",
        "window_attention",
        "seq2seq_transformer",
        "vit_einops",
        "bert_encoder",
        "cached_mask",
        "raw_params",
        "sine_steps",
        "char_lstm",
        "gru_classifier",
    }
)
LOSSY_SAMPLES: dict[str, tuple[tuple[Style, ...], str]] = {
    "vit_einops": (
        CLASS_STYLES,
        LEAF_NAMED_BY_VARIABLE + "; and " + SOURCE_ARGUMENTS_NOT_CARRIED,
    ),
    "droppath": (CLASS_STYLES, SOURCE_ARGUMENTS_NOT_CARRIED),
    "unet": (CLASS_STYLES, SOURCE_ARGUMENTS_NOT_CARRIED),
    "vit": (CLASS_STYLES, SOURCE_ARGUMENTS_NOT_CARRIED),
    # the root's own: bert_encoder's num_layers=layers, cached_mask's nhead,
    # raw_params' torch.randn(dim, dim), sine_steps' nn.LSTMCell(1, hidden)
    "bert_encoder": (CLASS_STYLES, SOURCE_ARGUMENTS_NOT_CARRIED),
    "cached_mask": (CLASS_STYLES, SOURCE_ARGUMENTS_NOT_CARRIED),
    "raw_params": (CLASS_STYLES, SOURCE_ARGUMENTS_NOT_CARRIED),
    "sine_steps": (CLASS_STYLES, SOURCE_ARGUMENTS_NOT_CARRIED),
    # nn.LSTM(embed_size, hidden_size, num_layers) and the 2 * hidden_dim
    # of the GRU's classifier
    "char_lstm": (CLASS_STYLES, SOURCE_ARGUMENTS_NOT_CARRIED),
    "gru_classifier": (CLASS_STYLES, SOURCE_ARGUMENTS_NOT_CARRIED),
    "tied_lm": (
        CLASS_STYLES,
        "the function reads the tied weight as transformer.wte.weight only: "
        "functional style reads each call back as its own layer's "
        "(functional/tied_reads.py), class styles keep both calls spelled out "
        "over that key (F.embedding, F.linear); and " + SOURCE_ARGUMENTS_NOT_CARRIED,
    ),
    "gpt": (
        CLASS_STYLES,
        "the function reads the tied weight as wte.weight only: functional "
        "style reads each call back as its own layer's "
        "(functional/tied_reads.py), class styles keep both calls spelled out "
        "over that key (F.embedding, F.linear); and " + SOURCE_ARGUMENTS_NOT_CARRIED,
    ),
    "window_attention": (
        CLASS_STYLES,
        "a non-persistent buffer comes back as a tensor forward builds",
    ),
    "seq2seq_transformer": (
        CLASS_STYLES,
        "PositionalEncoding's input token_embedding is named like the function "
        "of TokenEmbedding, so the functional file calls it token_embedding2; "
        "and " + INIT_NAMES_NOT_CARRIED + "; and " + SOURCE_ARGUMENTS_NOT_CARRIED,
    ),
}


_NOT_MODULE = (Style.FUNCTIONAL, Style.MIXED)
#: Samples whose module output names a value otherwise than module style
#: read from another style's output can (sample stem -> (via styles, target
#: styles, why)). The ResNet's optional ``downsample`` is not one: it is an
#: optional call in functional style too (``if has_downsample: x =
#: downsample(...)``), named as class styles name it.
RENAMED_SAMPLES: dict[str, tuple[tuple[Style, ...], tuple[Style, ...], str]] = {
    stem: (_NOT_MODULE, (Style.MODULE,), STATELESS_NAMES_NOT_CARRIED)
    for stem in NAMED_STATELESS_SAMPLES
} | {
    stem: (_NOT_MODULE, (Style.MODULE,), STATELESS_ARGUMENTS_NOT_CARRIED)
    for stem in STATELESS_ARGUMENTS_SAMPLES
}
#: Mixed style holds such a layer's setting in an attribute its call reads
#: (``self.attn_dropout = dropout``, ``F.dropout(att, p=self.attn_dropout)``);
#: functional style makes each attribute read a keyword parameter of the
#: block's function (``attn_dropout: float = 0.1``), where the model's own
#: trace gives the number.
#: Where the attribute is named as the expression (``self.dropout =
#: dropout``), the direct functional output reads a keyword of that name
#: too (``dropout: float = 0.1``) and the two agree; ``gpt`` names its two
#: by layer (``attn_dropout``, ``resid_dropout``, both from ``dropout``).
SETTINGS_READ_SAMPLES = frozenset({"gpt"})
SETTINGS_READ = (
    "mixed style holds a parameter-free layer's setting in an attribute "
    "(self.attn_dropout = dropout); functional style from it takes a keyword "
    "parameter (attn_dropout: float = 0.1) where the original gives p=0.1"
)


def _sample_cases():
    for path in sorted(SAMPLES.glob("*.py")):
        missing = missing_imports(path)
        marks = [pytest.mark.skip(f"needs {', '.join(missing)}")] if missing else []
        yield pytest.param(("sample", path), id=path.stem, marks=marks)


def _example_cases():
    for spec in SPECS:
        for example in spec.examples:
            yield pytest.param(("example", example), id=example.layer)


SAMPLE_CASES = list(_sample_cases())
SPEC_OF = {example.layer: spec for spec in SPECS for example in spec.examples}
CASES = SAMPLE_CASES + list(_example_cases())


@functools.lru_cache(maxsize=None)
def original(case) -> tuple[nn.Module, tuple]:
    kind, what = case
    if kind == "sample":
        loaded = loading.load_file(what)
        return loaded.model.module, loaded.example_inputs
    torch.manual_seed(0)
    return layer_model(what), build_inputs(what)


@functools.lru_cache(maxsize=None)
def direct(case, style: Style, keep_source: bool = True) -> nnconvert.Conversion:
    """``keep_source=False``: the class styles printed from the trace, which a
    file of another style converted to them gives (it holds no mixed source
    to keep, nor the source's construction)."""
    model, inputs = original(case)
    return nnconvert.convert(model, style, inputs, keep_source=keep_source)


@functools.lru_cache(maxsize=None)
def reloaded(case, via: Style, keep_source: bool = True) -> ModelInput:
    """The original converted to ``via`` and loaded back (shared by the three targets)."""
    model, _ = original(case)
    return load_output(direct(case, via, keep_source), lost_class_name(model))


def lost_class_name(model: nn.Module) -> str | None:
    """The class name, when snake_case loses it (``MLP`` -> ``mlp`` -> ``Mlp``)."""
    name = type(model).__name__
    back = class_name_for(default_name(name, Style.FUNCTIONAL))
    return name if back != name else None


def known_failure(case, via: Style, to: Style) -> str | None:
    """Why original -> via -> to cannot give original -> to; None when it must."""
    kind, what = case
    if kind == "example":
        if via is not Style.MODULE and to is Style.MODULE and _named_layer(case):
            return STATELESS_NAMES_NOT_CARRIED
        styles, why = LOSSY.get(what.layer, ((), ""))
        return why if via is Style.FUNCTIONAL and to in styles else None
    styles, why = LOSSY_SAMPLES.get(what.stem, ((), ""))
    if via is Style.FUNCTIONAL and to in styles:
        return why
    if (via, to) == (Style.MIXED, Style.FUNCTIONAL):
        return SETTINGS_READ if what.stem in SETTINGS_READ_SAMPLES else None
    vias, tos, renamed = RENAMED_SAMPLES.get(what.stem, ((), (), ""))
    return renamed if via in vias and to in tos else None


def _named_layer(case) -> bool:
    """The example's layer holds no tensor and module style calls it ``self.layer``.

    As the model names it, where the layer rebuilt from its functional call
    is the same layer (an ``nn.Softmax2d`` comes back as the
    ``nn.Softmax(-3)`` it calls, named ``self.softmax``).
    """
    model, _ = original(case)
    layer = model.layer
    if any(True for _ in layer.parameters()) or any(True for _ in layer.buffers()):
        return False
    return "self.layer = " in direct(case, Style.MODULE).source


def without_functional_form(case) -> str | None:
    """Layers the table keeps as modules (``nn.LSTM``): functional style refuses them."""
    kind, what = case
    if kind == "example" and SPEC_OF[what.layer].function is None:
        return f"{what.layer} has no functional form"
    return None


@pytest.mark.parametrize("to", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("via", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("case", CASES)
def test_round_trip(case, via, to, request):
    """original -> via -> to gives what original -> to gives, byte for byte.

    Into a class style from another: what original -> to prints from the
    trace, both ways; a source kept as written (mixed) or with its own
    construction (module) comes back only through its own style.
    """
    if Style.FUNCTIONAL in (via, to) and without_functional_form(case):
        pytest.skip(without_functional_form(case))
    why = known_failure(case, via, to)
    if why is not None and why != STATELESS_NAMES_NOT_CARRIED:
        request.applymarker(pytest.mark.xfail(strict=True, reason=why))
    _, inputs = original(case)
    keep = via is to
    again = nnconvert.convert(reloaded(case, via, keep), to, inputs, keep_source=keep)
    again = again.source
    expected = direct(case, to, keep_source=keep).source
    if why == STATELESS_NAMES_NOT_CARRIED:  # the same but for those names
        assert again != expected
        assert inlined_stateless_layers(again) == inlined_stateless_layers(expected)
    else:
        assert again == expected


@pytest.mark.parametrize("case", SAMPLE_CASES)
def test_functional_input_is_checked_against_the_rewrite(case, request):
    """A functional input is the original of the check: same weights, every style."""
    if case[1].stem in LOSSY_SAMPLES and case[1].stem not in CHECKED_THOUGH_LOSSY:
        reason = LOSSY_SAMPLES[case[1].stem][1]
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    model, inputs = original(case)
    wrapper = load_output(direct(case, Style.FUNCTIONAL), lost_class_name(model))
    assert wrapper.module.state_dict().keys() == model.state_dict().keys()
    for style in STYLES:
        conversion = nnconvert.convert(wrapper, style, inputs)
        assert conversion.model is wrapper.module
        report = conversion.check(train=True)
        assert any("gradients" in r.label for r in report.results), report


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in SAMPLE_CASES
        if not c.marks
        and c.values[0][1].stem not in LOSSY_SAMPLES
        and lost_class_name(original(c.values[0])[0])
    ],
)
def test_a_class_name_snake_case_loses_changes_only_the_name(case):
    """Without an explicit class name ``MLP`` comes back as ``Mlp``: nothing else changes."""
    model, inputs = original(case)
    name = type(model).__name__
    derived = class_name_for(default_name(name, Style.FUNCTIONAL))
    wrapper = load_output(direct(case, Style.FUNCTIONAL))
    assert type(wrapper.module).__name__ == derived != name
    for style in STYLES:
        again = nnconvert.convert(wrapper, style, inputs).source
        expected = direct(case, style, keep_source=False).source
        if style is not Style.FUNCTIONAL:
            expected = expected.replace(f"class {name}(", f"class {derived}(")
        expected = re.sub(f"(a\\s+new\\s+)`{name}`", f"\\1`{derived}`", expected)
        if known_failure(case, Style.FUNCTIONAL, style) is None:
            assert again == expected


def test_the_op_spec_table_inverts_its_own_calls():
    """Every example with tensors is rebuilt from its own call (``layer_from_call``).

    And from its fresh tensors (``ctor_from_init``), as a functional file's
    ``init_params()`` creates them.
    """
    from nnconvert.opspecs.spec import _shapes, same_value
    from nnconvert.passes.lift import layer_with_initial

    from .helpers import build_layer

    rebuilt = lossy = 0
    for spec in SPECS:
        for example in spec.examples:
            layer = build_layer(example)
            shapes = _shapes(layer)
            if not spec.has_weights or not shapes or spec.function is None:
                continue
            assert spec.ctor_from_weights is not None, spec.module.__name__
            again = spec.layer_from_call(
                spec.explicit_call_arguments(layer),
                shapes,
                spec.behaviour(layer)[0],  # the calls before it: prologue, transposes
                spec.updates(layer) if spec.updates else [],
            )
            assert again is not None, example.layer
            again = layer_with_initial(spec, again, dict(layer.state_dict()))
            assert same_value(
                spec.behaviour(again), spec.behaviour(layer)
            ), example.layer
            # same_value: an argument that is a layer (TransformerEncoder's) is
            # compared by what it is built as, not by identity
            same = same_value(
                spec.constructor_arguments(again), spec.constructor_arguments(layer)
            )
            assert same or example.layer in LOSSY, example.layer
            rebuilt, lossy = rebuilt + same, lossy + (not same)
    assert rebuilt > 40 and lossy == len(LOSSY)


def _real_world_trips():
    for name, (_, _, trips) in ROUND_TRIP_MODELS.items():
        for via, to in trips:
            yield pytest.param(name, Style(via), Style(to), id=f"{name}-{via}-{to}")


@pytest.mark.parametrize("name, via, to", list(_real_world_trips()))
def test_real_world_shapes_round_trip(name, via, to):
    """The shapes that broke round trips on the real-world suite trip (round_trip_models)."""
    build, inputs, _ = ROUND_TRIP_MODELS[name]
    torch.manual_seed(0)
    model, example_inputs = build().eval(), inputs()
    keep = via is to  # across styles, printed from the trace all the way
    through = nnconvert.convert(model, via, example_inputs, keep_source=keep)
    again = nnconvert.convert(
        load_output(through, lost_class_name(model)),
        to,
        example_inputs,
        keep_source=keep,
    )
    expected = nnconvert.convert(model, to, example_inputs, keep_source=keep)
    assert again.source == expected.source
    again.check(train=True)
