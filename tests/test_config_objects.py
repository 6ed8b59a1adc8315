"""Models built from a config object keep it (:mod:`nnconvert.printer.config_objects`).

nanoGPT, llama2.c, minGPT and Whisper pass one object of sizes down their
blocks (``Block(config)``, ``nn.Linear(config.n_embd, 4 * config.n_embd)``).
Class styles write the reads as the source does: each block takes the
config, the root builds it as its first local, and the config's dataclass
is copied into the output. Every output is checked in train mode, converts
again to the same text, and builds anew what the original builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_benchmark, load_output, recorded_conversion

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

CLASS_STYLES = (Style.MODULE, Style.MIXED)


@dataclass
class GPTConfig:
    block_size: int = 64
    vocab_size: int = 100  # padded up
    n_layer: int = 12
    n_embd: int = 768
    bias: bool = True


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        return x + self.mlp(self.ln(x))


class GPT(nn.Module):
    """nanoGPT's shape: the blocks in a dict, the count from the config."""

    def __init__(self, config):
        super().__init__()
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, idx):
        x = self.transformer.wte(idx)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(x)


def small_gpt() -> GPT:
    return GPT(GPTConfig(vocab_size=20, n_layer=2, n_embd=8, bias=False))


class Looped(nn.Module):
    """llama2.c's shape: blocks appended in a loop, each given its index and the config."""

    def __init__(self, params: GPTConfig):
        super().__init__()
        self.layers = nn.ModuleList()
        for layer_id in range(params.n_layer):
            self.layers.append(LoopedBlock(layer_id, params))
        self.norm = nn.LayerNorm(params.n_embd)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class LoopedBlock(nn.Module):
    def __init__(self, layer_id: int, args: GPTConfig):
        super().__init__()
        self.layer_id = layer_id
        self.mlp = MLP(args)

    def forward(self, x):
        return x + self.mlp(x)


class Encoder(nn.Module):
    def __init__(self, n_state, n_layer):
        super().__init__()
        self.layers = nn.Sequential(
            *[nn.Linear(n_state, n_state) for _ in range(n_layer)]
        )

    def forward(self, x):
        return self.layers(x)


class Aliased(nn.Module):
    """Whisper's shape: the config kept on ``self`` and read back through it."""

    def __init__(self, dims: GPTConfig):
        super().__init__()
        self.dims = dims
        self.encoder = Encoder(self.dims.n_embd, self.dims.n_layer)
        self.register_buffer("scale", torch.ones(self.dims.n_embd) * 2)

    def forward(self, x):
        return self.encoder(x) * self.scale


class Namespaced(nn.Module):
    """minGPT's shape: a namespace of sizes (its ``CfgNode``)."""

    def __init__(self, config):
        super().__init__()
        self.mlp = MLP(config)
        self.register_buffer(
            "mask", torch.tril(torch.ones(config.n_embd, config.n_embd))
        )

    def forward(self, x):
        return self.mlp(x) @ self.mask


@dataclass
class WithMethod:
    n_embd: int = 8
    bias: bool = True

    def hidden(self):
        return 4 * self.n_embd


class Method(nn.Module):
    """A config whose class has a method: not copied, its reads stay numbers."""

    def __init__(self, config):
        super().__init__()
        self.mlp = MLP(config)

    def forward(self, x):
        return self.mlp(x)


MODELS = {
    "gpt": (small_gpt, lambda: (torch.randint(0, 20, (2, 5)),)),
    "looped": (
        lambda: Looped(GPTConfig(n_layer=2, n_embd=8)),
        lambda: (torch.randn(2, 8),),
    ),
    "aliased": (
        lambda: Aliased(GPTConfig(n_layer=3, n_embd=8)),
        lambda: (torch.randn(2, 8),),
    ),
    "namespaced": (
        lambda: Namespaced(SimpleNamespace(n_embd=8, bias=True)),
        lambda: (torch.randn(2, 8),),
    ),
    "method": (lambda: Method(WithMethod()), lambda: (torch.randn(2, 8),)),
}


def _converted(name: str, style: Style) -> nnconvert.Conversion:
    build, inputs = MODELS[name]
    return recorded_conversion(build, style, inputs())


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_blocks_take_the_config_and_the_root_builds_it(style):
    source = _converted("gpt", style).source
    assert "@dataclass\nclass GPTConfig:\n    block_size: int = 64\n" in source
    assert "    vocab_size: int = 100  # padded up\n" in source  # as written
    assert "class MLP(nn.Module):\n    def __init__(self, config):" in source
    assert "nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)" in source
    assert "self.mlp = MLP(config)" in source
    # the fields it was built with, not the defaults
    assert (
        "config = GPTConfig(vocab_size=20, n_layer=2, n_embd=8, bias=False)" in source
    )
    assert '"wte": nn.Embedding(config.vocab_size, config.n_embd)' in source
    # forward loops over the blocks: the count is the config's
    assert (
        '"h": nn.ModuleList([Block(config) for _ in range(config.n_layer)])' in source
    )


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_blocks_appended_in_a_loop_are_given_the_config(style):
    source = _converted("looped", style).source
    assert "config = GPTConfig(" not in source  # the user named it params
    assert "params = GPTConfig(n_layer=2, n_embd=8)" in source
    assert "LoopedBlock(params)" in source
    assert "class LoopedBlock(nn.Module):\n    def __init__(self, args):" in source
    assert "self.mlp = MLP(args)" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_an_attribute_set_to_the_config_reads_as_the_config(style):
    source = _converted("aliased", style).source
    assert "dims = GPTConfig(n_layer=3, n_embd=8)" in source
    assert "self.encoder = Encoder(dims.n_embd, dims.n_layer)" in source
    # the user's tensor code reads the field too
    assert 'self.register_buffer("scale", torch.ones(dims.n_embd) * 2)' in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_namespace_is_imported(style):
    source = _converted("namespaced", style).source
    assert "from types import SimpleNamespace\n" in source
    assert "config = SimpleNamespace(n_embd=8, bias=True)" in source
    assert "nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)" in source
    assert "torch.tril(torch.ones(config.n_embd, config.n_embd))" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_config_class_that_cannot_stand_alone_leaves_numbers(style):
    source = _converted("method", style).source
    assert "WithMethod(" not in source and "config." not in source
    assert "nn.Linear(8, 32)" in source


@pytest.mark.parametrize("name", sorted(MODELS))
def test_functional_style_writes_the_sizes(name):
    source = _converted(name, Style.FUNCTIONAL).source
    assert "Config" not in source and "SimpleNamespace" not in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_output_converts_again_to_the_same_text(name, style):
    first = _converted(name, style)
    again = nnconvert.convert(first.load(), style, MODELS[name][1]())
    assert again.source == first.source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_output_builds_what_the_original_builds(name, style):
    build, _ = MODELS[name]
    cls = _converted(name, style).namespace()[build().__class__.__name__]
    torch.manual_seed(1)
    expected = build().state_dict()
    torch.manual_seed(1)
    built = cls().state_dict()
    assert list(built) == list(expected)
    assert all(torch.equal(built[k], expected[k]) for k in expected)


class KeptGPT(nn.Module):
    """nanoGPT's root, its config kept on ``self`` for the user's own code."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.bias)

    def forward(self, idx):
        x = self.transformer.wte(idx)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(x)


def _kept_gpt(style: Style) -> nnconvert.Conversion:
    return recorded_conversion(
        lambda: KeptGPT(GPTConfig(vocab_size=20, n_layer=2, n_embd=8, bias=False)),
        style,
        (torch.randint(0, 20, (2, 5)),),
    )


#: Another config for each field the root reads: each builds what the source builds.
OTHER_CONFIGS = [
    dict(vocab_size=30, n_layer=2, n_embd=8, bias=False),
    dict(vocab_size=20, n_layer=3, n_embd=8, bias=False),
    dict(vocab_size=20, n_layer=2, n_embd=16, bias=False),
    dict(vocab_size=20, n_layer=2, n_embd=8, bias=True),
]


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_root_takes_its_config_defaulting_to_the_one_it_was_built_with(style):
    source = _kept_gpt(style).source
    assert "class KeptGPT(nn.Module):\n" in source
    assert (
        "    def __init__(self, config=None):\n"
        "        super().__init__()\n"
        "        if config is None:\n"
        "            config = GPTConfig(vocab_size=20, n_layer=2, n_embd=8, bias=False)\n"
        "        self.config = config\n"
    ) in source


@pytest.mark.parametrize("fields", OTHER_CONFIGS, ids=lambda f: str(sorted(f.items())))
@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_root_built_with_another_config_is_the_source_built_with_it(style, fields):
    defined = _kept_gpt(style).namespace()
    torch.manual_seed(0)
    expected = KeptGPT(GPTConfig(**fields)).eval()
    torch.manual_seed(0)
    built = defined["KeptGPT"](defined["GPTConfig"](**fields)).eval()
    assert built.config == defined["GPTConfig"](**fields)
    wanted = expected.state_dict()
    assert {k: v.shape for k, v in built.state_dict().items()} == {
        k: v.shape for k, v in wanted.items()
    }
    built.load_state_dict(wanted)
    idx = torch.randint(0, fields["vocab_size"], (2, 5))
    torch.testing.assert_close(built(idx), expected(idx))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_root_taking_its_config_converts_again_to_the_same_text(style):
    first = _kept_gpt(style)
    again = nnconvert.convert(
        load_output(first), style, (torch.randint(0, 20, (2, 5)),)
    )
    again.check(train=True)
    assert again.source == first.source


def test_a_root_whose_config_is_read_as_a_number_keeps_it_a_local():
    """``self.dims.n_embd``: the blocks' sizes are numbers, so the root offers no config."""
    source = _converted("aliased", Style.MODULE).source
    assert "    def __init__(self):\n" in source
    assert "dims = GPTConfig(n_layer=3, n_embd=8)" in source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_the_benchmark_tries_every_field_of_the_root_config(style):
    """The real-world benchmark's *root parameters* check changes each config field in turn."""
    inputs = (torch.randint(0, 20, (2, 5)),)
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        model = KeptGPT(GPTConfig(vocab_size=20, n_layer=2, n_embd=8, bias=False))
    conversion = nnconvert.convert(model, style, inputs)
    cell = load_benchmark("realworld").root_parameters(model, conversion, inputs)
    assert cell == "5/5", cell  # block_size, vocab_size, n_layer, n_embd, bias


class Indexed(nn.Module):
    """``forward`` runs ``self.h[0]`` and ``self.h[1]``: ``range(config.n_layer)`` is a number."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])

    def forward(self, x):
        return self.h[1](self.h[0](x))


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_root_config_with_a_field_written_as_a_number_is_no_parameter(style):
    """``Indexed(GPTConfig(n_layer=4))`` would still build two blocks: no ``config`` taken."""
    source = recorded_conversion(
        lambda: Indexed(GPTConfig(n_layer=2, n_embd=8)), style, (torch.randn(2, 8),)
    ).source
    assert (
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        config = GPTConfig(n_layer=2, n_embd=8)\n"
        "        self.h = nn.ModuleList([Block(config) for _ in range(2)])\n"
    ) in source
    assert "self.config" not in source
