"""``init_params()`` of functional outputs: the original's tensors, drawn as ``nn`` draws them.

For every example of the op-spec table and every sample: under the same
``torch.manual_seed``, ``init_params()`` returns exactly the ``state_dict()``
of a newly constructed original -- same keys in the same order, shapes, dtypes
and bit-identical values -- and leaves the random generator in the same state.
The dict works as the weights of the generated function.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.init_code import functional_init
from nnconvert.options import Style
from nnconvert.opspecs import SPECS, spec_for_module
from nnconvert.state_builds import state_build

from .helpers import (
    SAMPLE_FILES,
    assert_same_construction,
    build_inputs,
    build_layer,
    functional,
    layer_model,
    load_output,
    recorded_conversion,
    sample_builder,
)

#: Rows that can appear in a functional output (layers kept as modules cannot).
FUNCTIONAL_SPECS = [spec for spec in SPECS if spec.function is not None]
CASES = [
    pytest.param(spec, example, id=example.layer)
    for spec in FUNCTIONAL_SPECS
    for example in spec.examples
]


def own_tensor_keys(model: nn.Module) -> set[str]:
    """Keys no table row explains: tensors the model's own code creates.

    A tensor of a table layer's submodule (``attn.out_proj.weight``) is the
    layer's. Those whose ``__init__`` code is written instead
    (``torch.zeros(16)``, :mod:`nnconvert.state_builds`) are explained too:
    ``init_params()`` must build them as a newly built model has them.
    """

    def explained(key: str) -> bool:
        path = key.split(".")[:-1]
        return any(
            spec_for_module(model.get_submodule(".".join(path[:n]))) is not None
            for n in range(len(path), 0, -1)
        )

    def built(key: str) -> bool:
        prefix, _, name = key.rpartition(".")
        return state_build(model.get_submodule(prefix), name) is not None

    return {key for key in model.state_dict() if not explained(key) and not built(key)}


def assert_runs_as_weights(model, function, init_params, inputs, unknown=()):
    """The dict is the generated function's weights argument (own tensors filled in)."""
    params = init_params()
    params.update({key: model.state_dict()[key].clone() for key in unknown})
    model.load_state_dict(params, strict=True)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(function(params, *inputs), model(*inputs))


#: Rows whose constructor draws in another order than ``state_dict()`` lists:
#: ``nn.MultiheadAttention`` builds ``out_proj`` (an ``nn.Linear``, which
#: draws) before it initialises its own tensors; the transformer layers hold one.
REORDERED_ROWS = {
    nn.MultiheadAttention,
    nn.TransformerEncoderLayer,
    nn.TransformerEncoder,
    nn.TransformerDecoderLayer,
    nn.TransformerDecoder,
    nn.Transformer,
}


def test_every_row_with_tensors_explains_every_tensor_in_order():
    for spec in FUNCTIONAL_SPECS:
        for example in spec.examples:
            layer = build_layer(example)
            keys = list(layer.state_dict())
            if not keys:
                continue
            assert spec.init is not None, f"nn.{spec.module.__name__} has no init"
            listed = [init.attribute for init in spec.init(layer)]
            if spec.module in REORDERED_ROWS:
                assert sorted(listed) == sorted(keys), example.layer
                assert listed != keys, f"{example.layer} is in state_dict() order"
            else:
                assert listed == keys, example.layer


@pytest.mark.parametrize("spec, example", CASES)
def test_layer_init_params_are_the_layers_construction(spec, example):
    inputs = build_inputs(example)
    model = layer_model(example)
    namespace = functional(model, inputs)
    init_params = namespace["init_params"]
    assert_same_construction(
        lambda: layer_model(example),
        init_params,
        reordered=spec.module in REORDERED_ROWS,
    )
    assert "Warning" not in namespace["__source__"]
    assert_runs_as_weights(model, namespace[namespace["__name__"]], init_params, inputs)


#: Samples whose init_params() lists keys in another order than state_dict(),
#: because construction does: a ResNet block's ``downsample`` is built (and
#: draws) before the block's own layers, but is registered after them; the
#: attention of vit, cached_mask, bert_encoder and seq2seq_transformer builds
#: ``out_proj`` first (``REORDERED_ROWS``).
REORDERED = {
    "resnet",
    "vit",
    "vit_einops",
    "cached_mask",
    "bert_encoder",
    "seq2seq_transformer",
}

#: What the model's own code may draw random numbers with (vit:
#: ``nn.Parameter(torch.randn(...) * 0.02)``).
OWN_DRAWS = ("rand", "randn", "randint", "randperm", "normal")
#: The ``nn.init`` functions the model's own code may re-initialise its raw
#: tensors with (window_attention: Swin's ``trunc_normal_`` of its bias table).
OWN_INITS = ("trunc_normal_",)


def _without_own_draws(build, monkeypatch):
    """``build``, with the model's own ``torch.randn(...)`` & co. on a private generator.

    init_params() cannot reproduce tensors the model's own code makes, nor the
    draws that code takes from the global generator; with those draws moved
    aside, every layer's tensor must still line up bit for bit. (Layers draw
    with ``Tensor.uniform_``/``normal_``, which stay as they are.)
    """

    def built():
        with monkeypatch.context() as patch:
            generator = torch.Generator().manual_seed(0)
            for name in OWN_DRAWS:
                function = getattr(torch, name)
                private = functools.partial(function, generator=generator)
                patch.setattr(torch, name, private)
            for name in OWN_INITS:
                function = getattr(nn.init, name)
                patch.setattr(
                    nn.init, name, functools.partial(function, generator=generator)
                )
            return build()

    return built


def _drawn(model: nn.Module, key: str) -> bool:
    prefix, _, name = key.rpartition(".")
    build = state_build(model.get_submodule(prefix), name, drawn=True)
    return build is not None and build.draws


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample_init_params_are_the_models_construction(sample, monkeypatch):
    build, inputs = sample_builder(sample)
    model = build()
    namespace = functional(model, inputs)
    source = namespace["__source__"]
    # the model's own initialisation, where init_params() runs it too
    # (nnconvert/init_code.py), sets the tensors it names and draws as the model does
    initialising = functional_init(model, ())
    unknown = own_tensor_keys(model) - (initialising.keys if initialising else set())
    # and tensors it draws at random are drawn by the model's own code (state_builds)
    drawn = {key for key in unknown if _drawn(model, key)}
    unknown -= drawn
    assert_same_construction(
        build if initialising or drawn else _without_own_draws(build, monkeypatch),
        namespace["init_params"],
        unknown,
        reordered=sample.stem in REORDERED,
    )
    assert ("Warning" in source) == bool(unknown)
    if unknown:  # one comment per run of them (and loop), the count in the docstring
        count = len(unknown)
        assert f"creates the {count} tensor{'s' if count > 1 else ''} marked" in source
        assert "own tensor" in source
    assert_runs_as_weights(
        model,
        namespace[namespace["__name__"]],
        namespace["init_params"],
        inputs,
        unknown,
    )


def test_a_layer_passed_to_a_constructor_draws_first():
    """ResNet's ``_make_layer`` builds ``downsample`` before the block that keeps it."""

    class Block(nn.Module):
        def __init__(self, downsample):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.downsample = downsample

        def forward(self, x):
            return self.conv(x) + self.downsample(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(2, 2)
            self.block = Block(nn.Conv2d(2, 2, 1))

        def forward(self, x):
            return self.block(x)

    namespace = functional(Net(), (torch.randn(1, 2, 3, 3),))
    assert_same_construction(Net, namespace["init_params"], reordered=True)
    assert list(namespace["init_params"]())[2:] == [
        "block.downsample.weight",
        "block.downsample.bias",
        "block.conv.weight",
        "block.conv.bias",
    ]


class _Float64(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4, dtype=torch.float64)
        self.bn = nn.BatchNorm1d(4, dtype=torch.float64)
        self.emb = nn.Embedding(5, 6, padding_idx=-1, dtype=torch.float64)

    def forward(self, x):
        return self.bn(self.fc(self.emb(x).sum(1)))


def test_dtypes_other_than_the_default_are_built_in_that_dtype():
    inputs = (torch.randint(0, 5, (3, 2)),)
    namespace = functional(_Float64(), inputs)
    assert "torch.empty(4, 6, dtype=torch.float64)" in namespace["__source__"]
    assert 'params["emb.weight"][4] = 0' in namespace["__source__"]
    assert_same_construction(_Float64, namespace["init_params"])


class _Shared(nn.Module):
    """One layer under two names, and a raw parameter between layers."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.again = self.first
        self.last = nn.Linear(4, 2)

    def forward(self, x):
        return self.last(self.again(self.first(x)))


def test_a_shared_layer_is_one_tensor():
    namespace = functional(_Shared(), (torch.randn(3, 4),))
    assert_same_construction(_Shared, namespace["init_params"])
    params = namespace["init_params"]()
    assert params["again.weight"] is params["first.weight"]


def test_init_params_keeps_its_name_when_the_model_is_called_so():
    """A class ``InitParams`` is function ``init_params_``: ``init_params`` is always the weights'."""

    class InitParams(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x)

    namespace = functional(InitParams(), (torch.randn(2, 3),))
    assert namespace["__name__"] == "init_params_"
    assert_same_construction(InitParams, namespace["init_params"])


class FilledLate(nn.Module):
    """denoising-diffusion's Unet: ``ups`` is registered empty before ``mid`` and
    filled after it, so its layers draw after ``mid``'s."""

    def __init__(self):
        super().__init__()
        self.downs = nn.ModuleList([])
        self.ups = nn.ModuleList([])
        for _ in range(2):
            self.downs.append(nn.Linear(4, 4))
        self.mid = nn.Linear(4, 4)
        for _ in range(2):
            self.ups.append(nn.Linear(4, 4))

    def forward(self, x):
        for down in self.downs:
            x = down(x)
        x = self.mid(x)
        for up in self.ups:
            x = up(x)
        return x


def test_a_container_filled_after_a_sibling_draws_after_it():
    conversion = recorded_conversion(FilledLate, Style.FUNCTIONAL, (torch.randn(2, 4),))
    init_params = conversion.namespace()["init_params"]
    assert_same_construction(FilledLate, init_params, reordered=True)
    text = conversion.source[conversion.source.index("def init_params") :]
    assert text.index('"mid"') < text.index('"ups.0"')


class BuiltBeforeItsPlace(nn.Module):
    """Perceiver: each ``layers[i]`` lists its cross layer first and its inner
    list second, but ``__init__`` builds the inner list first."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([])
        for _ in range(2):
            inner = nn.ModuleList([nn.Linear(4, 4)])
            self.layers.append(nn.ModuleList([nn.Linear(4, 4), inner]))

    def forward(self, x):
        for cross, inner in self.layers:
            x = cross(x)
            for layer in inner:
                x = layer(x)
        return x


def test_a_member_built_before_an_earlier_member_draws_first_and_reads_back_alike():
    inputs = (torch.randn(2, 4),)
    conversion = recorded_conversion(BuiltBeforeItsPlace, Style.FUNCTIONAL, inputs)
    init_params = conversion.namespace()["init_params"]
    assert_same_construction(BuiltBeforeItsPlace, init_params, reordered=True)
    text = conversion.source
    first = 'params[f"layers.{i}.1.0.weight"] ='
    assert text.index(first) < text.index('params[f"layers.{i}.0.weight"] =')
    # read back, the members are in index order again, as the original
    # registered them, and the file's draw order is written again as it was
    read = load_output(conversion)
    assert list(read.module.state_dict()) == list(conversion.model.state_dict())
    again = nnconvert.convert(read, Style.FUNCTIONAL, conversion.example_inputs)
    assert again.source == text


class WidensLater(nn.Module):
    """PiT: ``dim`` is drawn with, then doubled for the stages after."""

    def __init__(self, dim=4, stages=2):
        super().__init__()
        tokens = 3 * 2
        self.pos_embedding = nn.Parameter(torch.randn(1, tokens + 1, dim))
        self.stages = nn.ModuleList([])
        for _ in range(stages):
            self.stages.append(nn.Linear(dim, dim * 2))
            dim *= 2

    def forward(self, x):
        x = x + self.pos_embedding.mean()
        for stage in self.stages:
            x = stage(x)
        return x


def test_a_parameter_changed_after_a_draw_is_read_as_the_draw_saw_it():
    conversion = recorded_conversion(
        WidensLater, Style.FUNCTIONAL, (torch.randn(2, 4),)
    )
    assert_same_construction(WidensLater, conversion.namespace()["init_params"])
    assert "return torch.randn(1, tokens + 1, 4)" in conversion.source
