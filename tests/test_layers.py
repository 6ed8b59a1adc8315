"""Tests generated from the op-spec table: every row, every example, every style.

Each example is converted from a one-layer model in all three styles and checked
by running original and rewrite side by side (eval at two batch sizes, and
train mode: outputs, buffers, gradients). Parameter-free layers are also
converted back from their functional call to the layer.
"""

from __future__ import annotations

import pytest
from torch import nn

import nnconvert
from nnconvert.opspecs import SPECS, TRAINING, spec_for_module, specs_for_function
from nnconvert.opspecs.spec import identity, parse_signature
from nnconvert.options import Style
from nnconvert.printer.classes import constructor_text

from .helpers import (
    AliasCallModel,
    build_inputs,
    build_layer,
    functional_call_model,
    layer_model,
)

CASES = [
    pytest.param(spec, example, id=example.layer)
    for spec in SPECS
    for example in spec.examples
]


def _alias_cases():
    """For every alias, the first example whose call the alias can spell."""
    for spec in SPECS:
        for alias in spec.aliases:
            names = (
                [p.name for p in parse_signature(alias.signature)]
                if alias.signature
                else None
            )
            for example in spec.examples:
                arguments = spec.explicit_call_arguments(build_layer(example))
                if any(arguments.get(k, v) != v for k, v in alias.fixed.items()):
                    continue
                arguments = {k: v for k, v in arguments.items() if k not in alias.fixed}
                if names is not None and not set(arguments) <= set(names):
                    continue
                label = (
                    alias.target
                    if isinstance(alias.target, str)
                    else alias.target.__name__
                )
                yield pytest.param(
                    spec, alias, example, arguments, id=f"{label}-{example.layer}"
                )
                break
            else:
                yield pytest.param(
                    spec, alias, None, None, id=f"{alias.target}-no-example"
                )


ALIASES = list(_alias_cases())
PARAMETER_FREE = [
    case
    for case in CASES
    if not case.values[0].has_weights
    and case.values[0].function not in (None, identity)
]


def test_every_row_has_examples():
    missing = [spec.module.__name__ for spec in SPECS if not spec.examples]
    assert not missing, f"op specs without examples: {missing}"


def test_one_row_per_layer():
    modules = [spec.module for spec in SPECS]
    assert len(modules) == len(set(modules))


@pytest.mark.parametrize("spec, example", CASES)
def test_constructor_prints_as_written(spec, example):
    layer = build_layer(example)
    assert type(layer) is spec.module
    assert constructor_text(layer) == example.layer


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
@pytest.mark.parametrize("spec, example", CASES)
def test_layer_converts(spec, example, style):
    model = layer_model(example)
    if spec.function is None and style is Style.FUNCTIONAL:
        with pytest.raises(nnconvert.ConversionError, match="has no functional form"):
            nnconvert.convert(model, style, build_inputs(example))
        return
    conversion = nnconvert.convert(model, style, build_inputs(example))
    compile(conversion.source, "<generated>", "exec")
    report = conversion.check()
    assert report.results
    conversion.check(train=True)


#: Rows whose call an earlier row of the table makes too, and rebuilds as its
#: own class: ``F.softmax(x, dim=-3)`` is ``nn.Softmax(dim=-3)``, whether an
#: ``nn.Softmax2d`` made it or not (``specs_for_function`` order decides).
REBUILT_AS = {
    nn.Softmax2d: nn.Softmax,
    nn.UpsamplingNearest2d: nn.Upsample,
    nn.UpsamplingBilinear2d: nn.Upsample,
}


def test_rows_rebuilt_as_another_class_share_its_function():
    for row, rebuilt_as in REBUILT_AS.items():
        spec = spec_for_module(row())
        sharing = [s.module for s in specs_for_function(spec.function)]
        assert sharing.index(rebuilt_as) < sharing.index(row), row.__name__


@pytest.mark.parametrize("spec, example", PARAMETER_FREE)
def test_functional_call_becomes_the_layer(spec, example):
    """The call becomes the example's layer, built alike; or the row it maps to."""
    layer = build_layer(example)
    model = functional_call_model(spec, example)
    conversion = nnconvert.convert(model, Style.MODULE, build_inputs(example))
    conversion.check(train=True)
    (again,) = conversion.load().children()
    expected_class = REBUILT_AS.get(spec.module, spec.module)
    assert type(again) is expected_class, conversion.source
    if expected_class is spec.module:
        assert constructor_text(again) == example.layer
    else:  # built as the other row: it must make the very same call
        again_spec = spec_for_module(again)
        assert again_spec.function is spec.function
        assert again_spec.explicit_call_arguments(
            again
        ) == spec.explicit_call_arguments(layer)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
@pytest.mark.parametrize("spec, alias, example, arguments", ALIASES)
def test_alias_converts_like_the_function(spec, alias, example, arguments, style):
    assert (
        example is not None
    ), f"no example of nn.{spec.module.__name__} fits alias {alias}"
    assert (
        TRAINING not in arguments.values()
    ), "aliases of training-dependent calls need a test"
    model = AliasCallModel(alias.target, arguments)
    conversion = nnconvert.convert(model, style, build_inputs(example))
    conversion.check(train=True)
    # byte for byte what the row's own function, called alike, converts to
    function_call = AliasCallModel(spec.function, {**arguments, **alias.fixed})
    expected = nnconvert.convert(function_call, style, build_inputs(example)).source
    assert conversion.source == expected
