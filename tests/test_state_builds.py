"""Parameters and persistent buffers written as the user's ``__init__`` builds them.

nanoGPT's ``nn.Parameter(torch.ones(ndim))``, a causal mask
``torch.tril(torch.ones(n, n))``, a sinusoidal table of a few ``torch``
and ``math`` statements: every style writes that code (module and mixed in
``__init__``, functional in ``init_params()``), not ``torch.empty``, when
running it gives the tensor's value at construction bit for bit. A random
draw, or code whose tensor ``__init__`` changes afterwards
(``nn.init.trunc_normal_``), is written as the user's code too: every style
writes the draw (``torch.randn(8) * 0.02``) and the ``trunc_normal_`` call
(``tests/test_init_draws.py``, ``tests/test_init_code.py``).
"""

from __future__ import annotations

import math

import black
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.functional import load_functional_source
from nnconvert.functional.source import load_source
from nnconvert.options import Style

from .helpers import load_output


class LayerNorm(nn.Module):
    """nanoGPT's: a LayerNorm with an optional bias."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalAttention(nn.Module):
    def __init__(self, dim, n):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.register_buffer("mask", torch.tril(torch.ones(n, n)).view(1, n, n))

    def forward(self, x):
        T = x.size(1)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        att = att.masked_fill(self.mask[:, :T, :T] == 0, float("-inf"))
        return F.softmax(att, dim=-1) @ v


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=16):
        super().__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        scale = -math.log(10000.0) / d_model
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * scale)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0)
        self.register_buffer("pe", pe)

    def forward(self, x):
        return x + self.pe[:, : x.size(1)]


class TinyLM(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.pos = PositionalEncoding(dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls, std=0.02)
        self.noise = nn.Parameter(torch.randn(dim) * 0.02)
        self.ln = LayerNorm(dim, True)
        self.a1 = CausalAttention(dim, 6)
        self.a2 = CausalAttention(dim, 8)

    def forward(self, x):
        x = self.ln(self.pos(x)) + self.noise
        x = torch.cat([self.cls.expand(x.size(0), -1, -1), x], dim=1)
        return self.a2(self.a1(x))


INPUTS = (torch.randn(2, 4, 8),)
#: keys whose tensors the user's code builds from literals
BUILT = ["pos.pe", "ln.weight", "ln.bias", "a1.mask", "a2.mask"]
#: keys drawn at random, or changed after their code ran: left torch.empty
LEFT = ["cls", "noise"]


def built_model() -> TinyLM:
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        return TinyLM()


def converted(style: Style, model: nn.Module | None = None) -> nnconvert.Conversion:
    model = built_model() if model is None else model
    return nnconvert.convert(model, style, INPUTS, keep_source=False)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_the_users_code_is_written_and_the_output_computes_the_same(style):
    conversion = converted(style)
    conversion.check(train=True)
    source = conversion.source
    mask = "torch.tril(torch.ones(n, n)).view(1, n, n)"
    # class styles write the parameters the user's code reads, functional style
    # the literals (printer/source_arguments.py)
    width = "8" if style is Style.FUNCTIONAL else "d_model"
    table = f"div_term = torch.exp(torch.arange(0, {width}, 2).float() * scale)"
    assert table in source
    if style is Style.FUNCTIONAL:
        assert 'params["ln.weight"] = torch.ones(8)' in source
        assert 'params["ln.bias"] = torch.zeros(8)' in source
        assert f"def mask(n=6) -> Tensor:\n    return {mask}\n" in source
        assert 'params["a1.mask"] = mask()' in source
        assert 'params["a2.mask"] = mask(n=8)' in source
        assert 'params["pos.pe"] = pe()' in source
        assert 'params["cls"] = torch.empty(1, 1, 8)' in source
        assert 'params["noise"] = torch.randn(8) * 0.02' in source
        # cls is set by the user's initialisation, before noise (init_code.py)
        filled = 'nn.init.trunc_normal_(params["cls"], std=0.02)'
        assert source.index(filled) < source.index('params["noise"] = ')
        assert "marked below" not in source
        said = (
            "The 5 tensors below that the model's own `__init__` computes from "
            "literals alone are built by the same code."
        )
        assert said in " ".join(source.split())
    else:
        assert "self.weight = nn.Parameter(torch.ones(ndim))" in source
        assert "self.bias = nn.Parameter(torch.zeros(ndim))" in source
        assert "def __init__(self, d_model, max_len=16):" in source
        assert f'self.register_buffer("mask", {mask})' in source
        # the root keeps dim: cls's size is written through it too (source_arguments)
        assert "def __init__(self, dim=8):" in source
        assert "CausalAttention(dim, 6)" in source
        assert "CausalAttention(dim, 8)" in source
        assert 'self.register_buffer("pe", pe)' in source
        assert "self.cls = nn.Parameter(torch.empty(1, 1, dim))" in source
        assert "self.noise = nn.Parameter(torch.randn(dim) * 0.02)" in source
        # the user's initialisation fills cls, before noise draws (init_code.py)
        filled = "nn.init.trunc_normal_(self.cls, std=0.02)"
        assert source.index(filled) < source.index("self.noise = ")


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_freshly_built_output_has_the_tensors_of_a_freshly_built_original(style):
    conversion = converted(style)
    if style is Style.FUNCTIONAL:
        namespace = load_source(conversion.source, conversion.name)
        fresh = namespace["init_params"]()
    else:
        fresh = type(conversion.load())().state_dict()
    original = built_model().state_dict()
    for key in BUILT:
        assert fresh[key].dtype == original[key].dtype, key
        assert fresh[key].shape == original[key].shape, key
        assert torch.equal(fresh[key], original[key]), key


def test_round_trips_are_byte_stable():
    """original -> via -> to gives original -> to, for every pair of styles.

    But functional -> a class style: the file has no ``__init__`` to read
    ``d_model`` or ``ndim`` from, so they come back as numbers
    (``tests/test_round_trips.py``, ``SOURCE_ARGUMENTS_NOT_CARRIED``). And
    mixed -> module: the mixed file is a source module style keeps with its
    ``F.softmax`` as a layer built after ``self.qkv``, its last statement
    (*Calls as layers*), where this file's module output is printed with
    the layer first; both compute the same.
    """
    direct = {style: converted(style) for style in Style}
    for via in Style:
        back = load_output(direct[via], "TinyLM")  # snake case loses "LM"
        for to in Style:
            again = nnconvert.convert(back, to, INPUTS)
            if via is Style.FUNCTIONAL and to is not Style.FUNCTIONAL:
                assert "torch.ones(8)" in again.source  # a number, not ndim
                again.check(train=True)
                continue
            if (via, to) == (Style.MIXED, Style.MODULE):
                assert again.as_written and "self.softmax(att) @ v" in again.source
                again.check(train=True)
                continue
            assert again.source == direct[to].source, f"{via.value} -> {to.value}"


def test_a_trained_model_writes_the_code_it_was_built_with():
    """The value at construction decides (recorded), not the weights it holds now."""
    fresh = converted(Style.MODULE).source
    model = built_model()
    with torch.no_grad():
        model.ln.weight.add_(0.5)
        model.a1.mask.zero_()
    trained = converted(Style.MODULE, model).source
    assert trained == fresh
    assert "self.weight = nn.Parameter(torch.ones(ndim))" in trained
    # built without a record, only the current value can be compared with:
    # what it no longer holds is left torch.empty
    torch.manual_seed(0)
    unrecorded = TinyLM()
    with torch.no_grad():
        unrecorded.ln.weight.add_(0.5)
    source = converted(Style.MODULE, unrecorded).source
    assert "self.weight = nn.Parameter(torch.empty(8))" in source


class Config:
    def __init__(self, block_size):
        self.block_size = block_size


class ConfigMasked(nn.Module):
    """minGPT's: the mask's size is a field of the config object it is built with."""

    def __init__(self, config):
        super().__init__()
        self.register_buffer(
            "bias", torch.tril(torch.ones(config.block_size, config.block_size))
        )

    def forward(self, x):
        return x.masked_fill(self.bias == 0, 0.0)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_literal_field_of_a_config_argument_is_read(style):
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        model = ConfigMasked(Config(4))
    conversion = nnconvert.convert(
        model, style, (torch.randn(2, 4, 4),), keep_source=False
    )
    conversion.check(train=True)
    assert "torch.tril(torch.ones(4, 4))" in conversion.source
    assert "torch.empty" not in conversion.source


#: a script's hyperparameter, read by ``__init__`` as ng-video-lecture's ``Head`` does
block_size = 4


class GlobalMasked(nn.Module):
    """karpathy's ng-video-lecture ``Head``: the mask's size is a module-level literal."""

    def __init__(self):
        super().__init__()
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))

    def forward(self, x):
        return x.masked_fill(self.tril == 0, 0.0)


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_module_level_literal_is_read_as_its_value(style):
    """Printed from the trace (the file's own text is not kept), the mask is built, not empty."""
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        model = GlobalMasked()
    conversion = nnconvert.convert(
        model, style, (torch.randn(2, 4, 4),), keep_source=False
    )
    conversion.check(train=True)
    assert "torch.tril(torch.ones(4, 4))" in conversion.source
    assert "torch.empty" not in conversion.source


# fmt: off
class UnevenlySpaced(nn.Module):
    """pytorch/examples' translation model spaces its table's code as black would not."""

    def __init__(self, emb_size=8, maxlen=16):
        super().__init__()
        den = torch.exp(- torch.arange(0, emb_size, 2)* math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        self.register_buffer('pos_embedding', pos_embedding)

    def forward(self, x):
        return x + self.pos_embedding[: x.size(0)]
# fmt: on


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_the_users_code_is_written_with_blacks_spacing(style):
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        model = UnevenlySpaced()
    conversion = nnconvert.convert(
        model, style, (torch.randn(4, 8),), keep_source=False
    )
    source = conversion.source
    if style is Style.FUNCTIONAL:  # a function of no parameters: the values
        assert "den = torch.exp(-torch.arange(0, 8, 2) * math.log(10000) / 8)" in source
    else:  # the root's own parameters, as its source writes them
        assert (
            "den = torch.exp(-torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)"
            in source
        )
    assert black.format_str(source, mode=black.Mode()) == source
    again = nnconvert.convert(load_output(conversion), style, (torch.randn(4, 8),))
    assert again.source == source


def test_a_tensor_left_empty_is_no_build_whatever_memory_held(monkeypatch):
    """``params["logit_scale"] = torch.empty(())`` read back is no build of it.

    CLIP ViT's functional output leaves ``logit_scale`` empty. Read back
    after a module conversion had freed a tensor of the same value, the
    check ran ``torch.empty(())``, found those bytes, took the statement for
    the code that builds the tensor, and the functional -> functional round
    trip differed (``benchmarks/round_trips.py``, in one process of three).
    Here ``torch.empty`` hands out such stale memory unless PyTorch is told
    to fill it, as the check now tells it.
    """
    from nnconvert.init_slices import RecoveredCode, reproduces

    value = math.log(1 / 0.07)
    fresh_empty = torch.empty

    def stale_empty(*size, **options):
        filled = (
            torch.are_deterministic_algorithms_enabled()
            and torch.utils.deterministic.fill_uninitialized_memory
        )
        if filled:
            return fresh_empty(*size, **options)
        if len(size) == 1 and isinstance(size[0], (tuple, list)):
            size = tuple(size[0])
        return torch.full(size, value)

    monkeypatch.setattr(torch, "empty", stale_empty)
    assert torch.empty(()) == value  # what the stale memory holds
    code = RecoveredCode((), "torch.empty(())", (), (), ())
    assert not reproduces(code, torch.tensor(value))


class ChanNorm(nn.Module):
    """NesT's ``LayerNorm``: one-letter parameters ``g`` and ``b``, over channels."""

    def __init__(self, dim):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.b = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x):
        var = torch.var(x, dim=1, unbiased=False, keepdim=True)
        mean = torch.mean(x, dim=1, keepdim=True)
        return (x - mean) / (var + 1e-5).sqrt() * self.g + self.b


class TwoWidths(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = ChanNorm(3)
        self.conv = nn.Conv2d(3, 4, 1)
        self.norm2 = ChanNorm(4)

    def forward(self, x):
        return self.norm2(self.conv(self.norm1(x)))


def _stable_functional(cls: type[nn.Module], *inputs: torch.Tensor) -> str:
    """The functional output of a new ``cls()`` (built under a seed, its constructors
    recorded), after its check, that builds the model's tensors anew bit for bit and
    reads back to the same text."""
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        model = cls()
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs, keep_source=False)
    conversion.check(train=True)
    source = conversion.source
    torch.manual_seed(0)
    fresh = load_source(source, conversion.name)["init_params"]()
    for key, tensor in model.state_dict().items():
        assert torch.equal(fresh[key], tensor), key
    again = nnconvert.convert(
        load_output(conversion, cls.__name__), "functional", inputs
    )
    assert again.source == source
    return source


def test_a_one_letter_tensors_function_is_named_after_its_class_too():
    """``def g(dim=3)`` at module level says nothing; ``chan_norm_g`` does."""
    source = _stable_functional(TwoWidths, torch.randn(2, 3, 5, 5))
    assert "def chan_norm_g(dim=3) -> Tensor:" in source
    assert 'params["norm2.b"] = chan_norm_b(dim=4)' in source
    assert "def g(" not in source and "def b(" not in source


class LayerScale(nn.Module):
    """XCiT's: ``init_eps`` picked by an ``if``/``elif`` on the depth, then filled in."""

    def __init__(self, dim, fn, depth):
        super().__init__()
        if depth <= 18:
            init_eps = 0.1
        elif depth <= 24:
            init_eps = 1e-5
        else:
            init_eps = 1e-6
        self.fn = fn
        self.scale = nn.Parameter(torch.full((dim,), init_eps))

    def forward(self, x):
        return self.fn(x) * self.scale


class ScaledBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            LayerScale(6, nn.Linear(6, 6), depth=1),
            LayerScale(6, nn.Linear(6, 6), depth=20),
        )

    def forward(self, x):
        return self.layers(x)


def test_a_tensor_one_number_throughout_is_written_as_that_fill():
    """No slice of ``__init__`` rebuilds ``scale`` (the ``if`` picks its value), its value does.

    It used to stay ``torch.empty``, under a warning to set it before use.
    """
    source = _stable_functional(ScaledBlocks, torch.randn(2, 6))
    assert 'params["layers.0.scale"] = torch.full((6,), 0.1)' in source
    assert 'params["layers.1.scale"] = torch.full((6,), 1e-05)' in source
    assert 'scale"] = torch.empty' not in source and "before use" not in source


def test_a_fill_the_model_no_longer_holds_is_not_written():
    """Trained, ``scale`` is no longer what ``__init__`` made: compared with the record."""
    with nnconvert.record_constructors():
        model = ScaledBlocks()
    with torch.no_grad():
        model.layers[0].scale.fill_(0.5)
    conversion = nnconvert.convert(
        model, Style.FUNCTIONAL, (torch.randn(2, 6),), keep_source=False
    )
    assert "torch.full((6,), 0.5)" not in conversion.source
    assert 'params["layers.1.scale"] = torch.full((6,), 1e-05)' in conversion.source


class EmptyPositions(nn.Module):
    """Whisper's ``TextDecoder``: a parameter that only a checkpoint fills."""

    def __init__(self):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.empty(4, 8))
        self.register_buffer("mask", torch.ones(4, 8), persistent=False)

    def forward(self, x):
        return x * self.mask + self.positional_embedding


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_tensor_allocated_empty_is_no_fill_whatever_memory_held(style, monkeypatch):
    """Built where ``torch.empty`` found zeros in memory, it is still no ``torch.zeros``:
    another run finds other bytes, and the output must not depend on them."""
    fresh_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *size, **options: torch.zeros(*size))
    with nnconvert.record_constructors():
        model = EmptyPositions()
    monkeypatch.setattr(torch, "empty", fresh_empty)
    inputs = (torch.randn(2, 4, 8),)
    conversion = nnconvert.convert(model, style, inputs, keep_source=False)
    conversion.check(train=True)
    assert "torch.zeros(4, 8)" not in conversion.source
    assert "torch.empty(4, 8)" in conversion.source
