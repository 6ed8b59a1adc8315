"""A shared class's constructor parameters take the names of the user's ``__init__``.

Blocks built under :func:`nnconvert.record_constructors` (as ``nnconvert
convert FILE`` builds a model) keep their arguments; a class emitted for
several instances names each parameter after the ``__init__`` parameter
whose argument is that literal in every instance. Without a record, literal
attributes named like a parameter stand in; otherwise the names stay those
of the layers' arguments. Every output still passes the equivalence check,
and converting a class-style output again keeps the names. Functional
style names a block function's keywords by the same rule; read back, they
name the classes as module -> module does.
"""

from __future__ import annotations

import ast
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.init_arguments import init_arguments
from nnconvert.options import Style
from nnconvert.printer.derived_sizes import derived_sizes
from nnconvert.printer.init_names import init_names, init_order

from .helpers import SAMPLES, load_output, load_sample, run, same_but_stateless_names

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

CLASS_STYLES = (Style.MODULE, Style.MIXED)


class Expand(nn.Module):
    """Two linears; the literals that differ are ``width`` and ``hidden``."""

    def __init__(self, width, hidden):
        super().__init__()
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)

    def forward(self, x):
        return self.down(F.relu(self.up(x)))


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Expand(8, 16)
        self.second = Expand(8, 32)
        self.project = nn.Linear(8, 12)
        self.third = Expand(12, 24)

    def forward(self, x):
        return self.third(self.project(self.second(self.first(x))))


class Leaky(nn.Module):
    """A literal that is a layer's argument in module style (``nn.LeakyReLU(slope)``)."""

    def __init__(self, slope):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.slope = slope

    def forward(self, x):
        return F.leaky_relu(self.linear(x), self.slope)


class TwoLeaky(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Leaky(0.1)
        self.b = Leaky(0.2)

    def forward(self, x):
        return self.b(self.a(x))


class Scaled(nn.Module):
    """A literal of forward that differs between instances: kept on ``self``."""

    def __init__(self, factor):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.factor = factor

    def forward(self, x):
        return self.linear(x) * self.factor


class TwoScaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Scaled(0.5)
        self.b = Scaled(2.0)

    def forward(self, x):
        return self.b(self.a(x))


class Square(nn.Module):
    """``in_planes == planes`` in every instance: the values cannot tell them apart."""

    def __init__(self, in_planes, planes):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, planes, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class SquareStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.widen = nn.Conv2d(3, 4, 1)
        self.a = Square(4, 4)
        self.narrow = nn.Conv2d(4, 6, 1)
        self.b = Square(6, 6)

    def forward(self, x):
        return self.b(self.narrow(self.a(self.widen(x))))


class Pair(nn.Module):
    """Like DLA's ``Tree``: one width (``2 * out_channels``) is no argument of its own."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.merge = nn.Conv2d(2 * out_channels, out_channels, 1)
        self.first = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.second = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x):
        a = self.first(x)
        return self.merge(torch.cat([a, self.second(a)], 1))


class Pairs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Pair(3, 4)
        self.b = Pair(4, 8)

    def forward(self, x):
        return self.b(self.a(x))


def init_signature(source: str, class_name: str) -> list[str]:
    """The parameters of ``class_name.__init__`` in ``source``, ``self`` left out."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            init = next(f for f in node.body if getattr(f, "name", "") == "__init__")
            return [a.arg for a in init.args.args[1:] + init.args.kwonlyargs]
    raise AssertionError(f"no class {class_name} in:\n{source}")


def converted(build, inputs, style: Style) -> nnconvert.Conversion:
    with nnconvert.record_constructors():
        model = build()
    conversion = nnconvert.convert(model, style, inputs)
    conversion.check(train=True)
    return conversion


# -- recording -------------------------------------------------------------------


def test_recorded_arguments_are_bound_to_the_signature_with_defaults():
    class Block(nn.Module):
        def __init__(self, width, scale=2.0, *, name="b", config=None):
            super().__init__()
            self.linear = nn.Linear(width, width)

    with nnconvert.record_constructors():
        with nnconvert.record_constructors():  # re-entrant
            block = Block(4, config=object())
        other = Block(5, scale=3.0)
    assert sys.getprofile() is None
    # the config object is not a literal: no hole can match it
    assert init_arguments(block) == {"width": 4, "scale": 2.0, "name": "b"}
    assert init_arguments(other) == {
        "width": 5,
        "scale": 3.0,
        "name": "b",
        "config": None,
    }
    assert init_arguments(block.linear)["in_features"] == 4
    assert init_arguments(Block(6)) == {}  # built without a record, nothing stored


def test_a_copy_keeps_the_record():
    from nnconvert.copying import copy_model

    with nnconvert.record_constructors():
        model = Tower()
    assert init_arguments(copy_model(model).second) == {"width": 8, "hidden": 32}


def test_without_a_record_literal_attributes_named_like_parameters_stand_in():
    assert init_arguments(Leaky(0.3)) == {"slope": 0.3}
    assert init_arguments(Expand(3, 4)) == {}


# -- naming ----------------------------------------------------------------------


def test_a_column_takes_the_parameter_its_values_equal_in_every_instance():
    with nnconvert.record_constructors():
        a, b = Expand(8, 16), Expand(12, 16)
    columns = [("in_features", [8, 12]), ("out_features", [16, 16]), ("p", [1, 2])]
    assert init_names([a, b], columns) == {
        "in_features": "width",
        "out_features": "hidden",
        "p": "p",  # no parameter is 1 in one and 2 in the other
    }


def test_values_of_another_type_do_not_match():
    with nnconvert.record_constructors():
        a, b = Expand(8, 16), Expand(12, 24)
    columns = [("value", [8.0, 12.0]), ("other", [True, True])]
    assert init_names([a, b], columns) == {"value": "value", "other": "other"}


def test_a_name_taken_elsewhere_is_not_given_and_a_kept_name_is_numbered():
    with nnconvert.record_constructors():
        a, b = Expand(8, 16), Expand(12, 24)
    columns = [("hidden", [1, 2]), ("x", [16, 24])]
    assert init_names([a, b], columns) == {"hidden": "hidden_2", "x": "hidden"}
    assert init_names([a, b], [("x", [16, 24])], frozenset({"hidden"})) == {"x": "x"}


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_block_parameters_take_the_init_names(style):
    conversion = converted(Tower, (torch.randn(2, 8),), style)
    assert init_signature(conversion.source, "Expand") == ["width", "hidden"]
    assert "Expand(8, 16)" in conversion.source
    assert "nn.Linear(width, hidden)" in conversion.source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_literal_of_a_layer_in_one_style_and_of_forward_in_the_other(style):
    conversion = converted(TwoLeaky, (torch.randn(2, 4),), style)
    assert init_signature(conversion.source, "Leaky") == ["slope"]


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_forward_literal_takes_the_init_name(style):
    conversion = converted(TwoScaled, (torch.randn(2, 4),), style)
    assert init_signature(conversion.source, "Scaled") == ["factor"]
    assert "self.factor = factor" in conversion.source
    assert "* self.factor" in conversion.source


class Heads(nn.Module):
    """``n_heads`` both sizes a weight and is read by ``forward``, as GAT's layer does."""

    def __init__(self, width, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.proj = nn.Linear(width, width * n_heads)
        self.gain = nn.Parameter(torch.ones(n_heads, 1))

    def forward(self, x):
        b, _ = x.shape
        heads = self.proj(x).view(b, self.n_heads, -1) * self.gain
        return heads.sum(1)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Heads(4, 2)
        self.second = Heads(4, 3)

    def forward(self, x):
        return self.second(self.first(x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_forward_literal_that_a_sizing_parameter_gives_reads_that_parameter(style):
    conversion = converted(TwoHeads, (torch.randn(2, 4),), style)
    # width is 4 in both, so no column of values says it is a parameter; the
    # source does (nn.Linear(width, width * n_heads): printer/source_arguments.py)
    assert init_signature(conversion.source, "Heads") == ["width", "n_heads"]
    assert "nn.Linear(width, width * n_heads)" in conversion.source
    assert "self.n_heads = n_heads" in conversion.source
    assert "view(b, self.n_heads, -1)" in conversion.source
    assert "Heads(4, 2)" in conversion.source


def test_an_object_built_without_a_record_uses_its_attributes():
    conversion = nnconvert.convert(TwoLeaky(), Style.MODULE, (torch.randn(2, 4),))
    conversion.check(train=True)
    assert init_signature(conversion.source, "Leaky") == ["slope"]


def test_without_any_record_the_layer_names_stay():
    conversion = nnconvert.convert(Tower(), Style.MODULE, (torch.randn(2, 8),))
    assert init_signature(conversion.source, "Expand") == [
        "in_features",
        "out_features",
    ]


def test_equal_columns_take_the_name_they_had_if_it_is_one_of_them():
    conversion = converted(SquareStack, (torch.randn(2, 3, 8, 8),), Style.MODULE)
    # 4 == 4 and 6 == 6: the values cannot tell in_planes from planes, but the
    # source can (nn.Conv2d(in_planes, planes, ...): printer/source_arguments.py)
    assert init_signature(conversion.source, "Square") == ["in_planes", "planes"]
    assert "nn.Conv2d(in_planes, planes, 3, padding=1)" in conversion.source
    # without the source's word, the first in the signature
    columns = [("in_channels", [4, 6]), ("out_channels", [4, 6])]
    with nnconvert.record_constructors():
        a, b = Square(4, 4), Square(6, 6)
    assert init_names([a, b], columns[:1]) == {"in_channels": "in_planes"}


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_width_no_parameter_holds_is_computed_from_the_parameters(style):
    conversion = converted(Pairs, (torch.randn(2, 3, 8, 8),), style)
    # was Pair(in_channels, out_channels, in_channels_2), the last being
    # 2 * out_channels: derived_sizes writes it as the user did
    assert init_signature(conversion.source, "Pair") == ["in_channels", "out_channels"]
    assert (
        "nn.Conv2d(2 * out_channels, out_channels, 1)" in conversion.source
    )  # as written
    assert "Pair(3, 4)" in conversion.source


def test_a_width_no_expression_gives_is_named_where_it_goes_not_like_a_parameter():
    with nnconvert.record_constructors():
        a, b = Pair(3, 4), Pair(4, 8)
    columns = [("in_channels", [3, 4]), ("out_channels", [4, 8]), ("x", [7, 1])]
    columns.append(("in_channels_2", [9, 2]))  # no parameter, no expression
    renamed = init_names([a, b], columns, places={"in_channels_2": "merge"})
    assert renamed["in_channels_2"] == "merge_in_channels"
    assert (
        derived_sizes(
            columns[2:],
            [init_arguments(m) for m in (a, b)],
            ["in_channels", "out_channels"],
        )
        == {}
    )


def test_names_follow_the_init_signature():
    with nnconvert.record_constructors():
        a, b = Expand(8, 16), Expand(12, 24)
    assert init_order([a, b], ["x", "hidden", "width"]) == ["width", "hidden", "x"]


# -- round trips -----------------------------------------------------------------


@pytest.mark.parametrize("via", CLASS_STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("to", CLASS_STYLES, ids=lambda s: s.value)
def test_class_styles_keep_the_names_converted_again(via, to):
    inputs = (torch.randn(2, 8),)
    first = converted(Tower, inputs, via)
    again = nnconvert.convert(load_output(first), to, inputs)
    assert again.source == converted(Tower, inputs, to).source
    assert init_signature(again.source, "Expand") == ["width", "hidden"]


def test_read_back_from_functional_style_the_layer_names_come_back():
    """A functional file has no constructors: the names it cannot carry are today's."""
    inputs = (torch.randn(2, 8),)
    functional = converted(Tower, inputs, Style.FUNCTIONAL)
    again = nnconvert.convert(load_output(functional), Style.MODULE, inputs)
    without_record = nnconvert.convert(Tower(), Style.MODULE, inputs)
    assert again.source == without_record.source


def test_the_resnet_sample_names_its_block_as_the_source_does():
    model, inputs = load_sample(SAMPLES / "resnet.py")
    conversion = nnconvert.convert(model, Style.MODULE, inputs)
    assert init_signature(conversion.source, "BasicBlock") == [
        "inplanes",
        "planes",
        "stride",
        "downsample",
    ]


class Shadowing(nn.Module):
    """Parameters named like what the output imports."""

    def __init__(self, torch, F):
        super().__init__()
        self.linear = nn.Linear(torch, F)

    def forward(self, x):
        return self.linear(x)


class TwoShadowing(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Shadowing(4, 8)
        self.b = Shadowing(8, 4)

    def forward(self, x):
        return torch.relu(self.b(self.a(x)))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_name_the_file_imports_is_never_a_parameter(style):
    conversion = converted(TwoShadowing, (torch.randn(2, 4),), style)
    assert init_signature(conversion.source, "Shadowing") == [
        "in_features",
        "out_features",
    ]


class DoubleConv(nn.Module):
    """milesial's UNet block: ``mid_channels=None`` means ``out_channels``."""

    def __init__(self, in_channels, out_channels, mid_channels=None):
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


def double_convs(*arguments):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(*(DoubleConv(*a) for a in arguments))

        def forward(self, x):
            return self.blocks(x)

    return Net


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_middle_width_given_in_every_instance_takes_its_name(style):
    net = double_convs((3, 8, 6), (8, 4, 10))
    conversion = converted(net, (torch.randn(2, 3, 8, 8),), style)
    assert init_signature(conversion.source, "DoubleConv") == [
        "in_channels",
        "out_channels",
        "mid_channels",
    ]


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_middle_width_left_to_its_default_is_not_named_like_another_parameter(style):
    # mid_channels is None in the first instance: the middle widths (8, 10)
    # are no argument's; today they were out_channels, the real ones out_channels_2
    net = double_convs((3, 8), (8, 4, 10))
    conversion = converted(net, (torch.randn(2, 3, 8, 8),), style)
    assert init_signature(conversion.source, "DoubleConv") == [
        "in_channels",
        "out_channels",
        "double_conv_out_channels",
    ]


def test_a_class_style_file_converted_again_on_the_command_line_keeps_the_names(
    tmp_path,
):
    """``nnconvert convert FILE`` builds the model under a record."""
    mixed = run("convert", SAMPLES / "resnet.py", "--to", "mixed", "--no-check")
    assert mixed.exit_code == 0, mixed.output
    path = tmp_path / "resnet_mixed.py"
    path.write_text(mixed.stdout)
    again = run("convert", path, "--to", "module", "--input-shape", "2,3,32,32")
    assert again.exit_code == 0, again.output
    # printed from the trace, as this file's conversions are (its golden keeps the source)
    printed = run("convert", SAMPLES / "resnet.py", "--to", "module", "--no-check")
    assert printed.exit_code == 0, printed.output
    assert same_but_stateless_names(
        again.stdout, printed.stdout
    )  # the blocks' self.relu
    assert "def __init__(self, inplanes, planes, stride=1" in again.stdout


# -- functional style ------------------------------------------------------------


class Drop(nn.Module):
    """Two forward literals, used in the other order than ``__init__`` takes them.

    (The ``nn.Tanh`` module: mixed style prints the class, not keeps it as written.)
    """

    def __init__(self, rate, scale):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Tanh()
        self.rate = rate
        self.scale = scale

    def forward(self, x):
        return F.dropout(self.act(self.fc(x)) * self.scale, self.rate, self.training)


class TwoDrops(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Drop(0.1, 2.0)
        self.b = Drop(0.25, 0.5)

    def forward(self, x):
        return self.b(self.a(x))


class Unnamed(nn.Module):
    """``s`` is stored as ``factor``: only a record says which argument it is."""

    def __init__(self, s):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.factor = s

    def forward(self, x):
        return self.fc(x) * self.factor


class TwoUnnamed(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Unnamed(2.0)
        self.b = Unnamed(3.0)

    def forward(self, x):
        return self.b(self.a(x))


def test_a_functional_keyword_takes_the_init_name():
    conversion = converted(TwoScaled, (torch.randn(2, 4),), Style.FUNCTIONAL)
    source = conversion.source
    assert (
        "def scaled(params: dict[str, Tensor], x: Tensor, *, factor: float)" in source
    )
    assert ") * factor" in source
    assert 'scaled(sub_params(params, "a."), x, factor=0.5)' in source


def test_functional_keywords_follow_the_init_signature():
    conversion = converted(TwoDrops, (torch.randn(2, 4),), Style.FUNCTIONAL)
    source = conversion.source
    drop = next(f for f in ast.parse(source).body if getattr(f, "name", "") == "drop")
    assert [a.arg for a in drop.args.kwonlyargs] == ["rate", "scale", "training"]
    assert "p=rate,training=training," in "".join(source.split())
    assert "rate=0.1, scale=2.0, training=training" in source


def test_a_functional_keyword_no_argument_matches_keeps_its_name():
    """No attribute is named like ``s``: the keyword is what ``forward`` reads.

    ``self.fc(x) * self.factor`` reads ``factor``, recorded or not (with or
    without the ``s`` the record gives: the attribute's name is the one
    both the functional body and a class read back from it can keep,
    :mod:`nnconvert.printer.attribute_reads`).
    """
    inputs = (torch.randn(2, 4),)
    conversion = nnconvert.convert(TwoUnnamed(), Style.FUNCTIONAL, inputs)
    assert "*, factor: float" in conversion.source
    assert "factor=2.0" in conversion.source
    recorded = converted(TwoUnnamed, inputs, Style.FUNCTIONAL)
    assert "*, factor: float" in recorded.source


@pytest.mark.parametrize("record", [True, False], ids=["recorded", "attributes"])
@pytest.mark.parametrize("to", CLASS_STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("build", [TwoScaled, TwoDrops], ids=lambda b: b.__name__)
def test_functional_round_trips_keep_the_init_names(build, to, record):
    """module -> functional -> ``to`` is module -> ``to``, byte for byte."""
    inputs = (torch.randn(2, 4),)
    if record:
        functional = converted(build, inputs, Style.FUNCTIONAL)
        direct = converted(build, inputs, to)
    else:
        functional = nnconvert.convert(build(), Style.FUNCTIONAL, inputs)
        direct = nnconvert.convert(build(), to, inputs)
    again = nnconvert.convert(load_output(functional), to, inputs)
    again.check(train=True)
    assert same_but_stateless_names(again.source, direct.source)  # self.drop
    assert (
        "self.scale = scale" in again.source or "self.factor = factor" in again.source
    )


@pytest.mark.parametrize("build", [TwoScaled, TwoDrops], ids=lambda b: b.__name__)
def test_functional_style_converted_again_keeps_its_keywords(build):
    inputs = (torch.randn(2, 4),)
    functional = converted(build, inputs, Style.FUNCTIONAL)
    again = nnconvert.convert(load_output(functional), Style.FUNCTIONAL, inputs)
    assert again.source == functional.source


def test_a_declared_module_has_exactly_its_declared_arguments():
    from nnconvert.copying import copy_model
    from nnconvert.init_arguments import declare, init_parameters

    with nnconvert.record_constructors():
        model = TwoScaled()
    declare(model.a, {"rate": 0.5, "factor": 0.5, "config": object()})
    assert init_arguments(model.a) == {"rate": 0.5, "factor": 0.5}
    assert init_parameters(model.a) == ["rate", "factor"]
    assert init_parameters(model.b) == ["factor"]  # its __init__'s
    assert init_arguments(copy_model(model).a) == {"rate": 0.5, "factor": 0.5}


class Stage(nn.Module):
    """``layers`` is the literal of forward and the attribute of a Sequential."""

    def __init__(self, width, layers):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(width, width), nn.ReLU())
        self.repeat = layers

    def forward(self, x):
        return self.layers(x) * self.repeat


class TwoStages(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Stage(4, 2)
        self.b = Stage(4, 3)

    def forward(self, x):
        return self.b(self.a(x))


def test_a_functional_keyword_never_hides_a_function_the_body_calls():
    """The Sequential's function is ``layers``: the keyword is the attribute forward reads."""
    conversion = converted(TwoStages, (torch.randn(2, 4),), Style.FUNCTIONAL)
    assert 'layers(sub_params(params, "layers."), x)' in conversion.source
    assert "*, repeat: int" in conversion.source


class Depthwise(nn.Module):
    """MobileNetV2's block: the middle width is ``groups`` in functional style."""

    def __init__(self, in_planes, expansion):
        super().__init__()
        planes = in_planes * expansion
        self.expand = nn.Conv2d(in_planes, planes, 1)
        self.depthwise = nn.Conv2d(planes, planes, 3, padding=1, groups=planes)

    def forward(self, x):
        return self.depthwise(F.relu(self.expand(x)))


class TwoDepthwise(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Depthwise(4, 2)
        self.narrow = nn.Conv2d(8, 4, 1)
        self.b = Depthwise(4, 3)

    def forward(self, x):
        return self.b(self.narrow(self.a(x)))


@pytest.mark.parametrize("to", CLASS_STYLES, ids=lambda s: s.value)
def test_a_keyword_named_after_its_call_names_no_class_parameter(to):
    """``groups=groups`` says nothing of the user: read back, the width keeps its name."""
    inputs = (torch.randn(2, 4, 6, 6),)
    functional = converted(TwoDepthwise, inputs, Style.FUNCTIONAL)
    assert "groups=groups" in functional.source
    again = nnconvert.convert(load_output(functional), to, inputs)
    again.check(train=True)
    assert "groups" not in init_signature(again.source, "Depthwise")
    # converted directly, the class takes the user's ``expansion`` and computes
    # ``planes``; the functional file has no init function for two blocks
    # (it would cost lines), so no size of theirs is carried: read back, the
    # width is named after the layer argument it fills
    assert init_signature(again.source, "Depthwise") == ["out_channels"]
    direct = converted(TwoDepthwise, inputs, to).source
    # in_planes is 4 in both: the source names it (printer/source_arguments.py)
    assert init_signature(direct, "Depthwise") == ["in_planes", "expansion"]
