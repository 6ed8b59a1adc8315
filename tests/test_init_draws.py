"""Tensors ``__init__`` draws at random, or builds with the file's own functions.

A ViT's ``nn.Parameter(torch.randn(1, 1, dim))``, Whisper's
``register_buffer("positional_embedding", sinusoids(n_ctx, n_state))``,
CLIP's ``torch.ones([]) * np.log(1 / 0.07)``: no value checks such code
alone, so before, class styles wrote ``torch.empty(...)`` and a freshly
built output held garbage until a ``state_dict`` was loaded. With the
user's initialisation kept (:mod:`nnconvert.init_code`), class styles write
it as the user's code (:mod:`nnconvert.init_slices`, ``fresh_checked``),
with the module-level functions and imports it reads, and keep it only if
a fresh build under one seed then equals a fresh original on more tensors
and none fewer (:func:`nnconvert.init_code.fresh_equal`). Every conversion
here also passes the equivalence check in eval and train mode.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

import nnconvert
from nnconvert.api import execute
from nnconvert.functional import load_functional_source
from nnconvert.init_code import (
    SEED,
    equal_keys,
    fresh_builder,
    fresh_equal,
    fresh_states,
)
from nnconvert.init_slices import recover_tensor
from nnconvert.options import Style

from .helpers import load_output
from .test_source_map import assert_before

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

CLASS_STYLES = [Style.MODULE, Style.MIXED]


def sinusoids(length, channels, max_timescale=10000):
    """Returns sinusoids for positional embedding (Whisper's helper)."""
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


class PatchViT(nn.Module):
    """A class token and position embedding drawn at random, between two layers."""

    def __init__(self, dim=16, num_patches=4, patch_dim=12):
        super().__init__()
        self.to_patch_embedding = nn.Linear(patch_dim, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)
        self.act = nn.GELU()
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        x = self.to_patch_embedding(x)
        cls_tokens = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls_tokens, x], dim=1) + self.pos_embedding
        return self.head(self.act(x[:, 0]))


class AudioLike(nn.Module):
    """A buffer a module-level function of the file builds, as Whisper's encoder."""

    def __init__(self, n_ctx=5, n_state=8):
        super().__init__()
        self.conv = nn.Conv1d(n_state, n_state, 3, padding=1)
        self.register_buffer("positional_embedding", sinusoids(n_ctx, n_state))

    def forward(self, x):
        x = F.gelu(self.conv(x)).permute(0, 2, 1)
        return x + self.positional_embedding


class ScaledLogits(nn.Module):
    """A constant numpy computes, as CLIP's ``logit_scale``."""

    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.relu = nn.ReLU()
        self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))

    def forward(self, x):
        return self.relu(self.fc(x)) * self.logit_scale.exp()


class NoiseBeforeLayer(nn.Module):
    """A draw into a local, then a layer, then the parameter made from the local.

    The output writes the draw just before the parameter, after the layer:
    a fresh build draws them in another order than the original.
    """

    def __init__(self, dim=6):
        super().__init__()
        noise = torch.randn(dim)
        self.fc = nn.Linear(dim, dim)
        self.relu = nn.ReLU()
        self.offset = nn.Parameter(noise * 2)

    def forward(self, x):
        return self.relu(self.fc(x)) + self.offset


class StateSpace(nn.Module):
    """mamba-minimal's ``A_log``: built with ``repeat``, imported beside ``rearrange``."""

    def __init__(self, d_inner=6, d_state=4):
        super().__init__()
        self.proj = nn.Linear(d_inner, d_inner)
        A = repeat(torch.arange(1, d_state + 1), "n -> d n", d=d_inner)
        self.A_log = nn.Parameter(torch.log(A))

    def forward(self, x):
        x = self.proj(x).unsqueeze(-1) * -torch.exp(self.A_log.float())
        return rearrange(x, "b l d n -> b (l d n)")


def _recorded(cls: type[nn.Module]) -> nn.Module:
    """A model built as the CLI builds one: its constructor calls recorded."""
    with nnconvert.record_constructors():
        return cls()


def _conversion(cls: type[nn.Module], style: Style, *inputs: torch.Tensor):
    """The conversion of a new ``cls()``, after its check passed in eval and train mode."""
    conversion = nnconvert.convert(_recorded(cls), style, inputs)
    conversion.check(train=True)
    return conversion


def _fresh_equal(cls: type[nn.Module], source: str, name: str) -> frozenset[str]:
    """The keys a new output built under :data:`SEED` shares with a new original, bit for bit."""
    build = fresh_builder(_recorded(cls), None)
    assert build is not None
    equal = fresh_equal(build, lambda: execute(source, "<test>")[name]())
    assert equal is not None
    return equal


def _keys(cls: type[nn.Module]) -> frozenset[str]:
    return frozenset(cls().state_dict())


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_parameters_drawn_at_random_are_written_as_the_users_draws(style):
    conversion = _conversion(PatchViT, style, torch.randn(2, 4, 12))
    source = conversion.source
    # the root's own parameters, as its source writes them (printer/source_arguments)
    assert "def __init__(self, dim=16, num_patches=4, patch_dim=12):" in source
    assert "nn.Parameter(torch.randn(1, 1, dim))" in source
    assert "nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)" in source
    assert "torch.empty" not in source
    # drawn in the user's order: the patch embedding's weights first
    assert_before(source, "self.to_patch_embedding = ", "self.cls_token = ")
    assert _fresh_equal(PatchViT, source, conversion.name) == _keys(PatchViT)
    # built without its constructor calls recorded, it cannot be built anew:
    # nothing checks the draws, and the parameter stays torch.empty
    unchecked = nnconvert.convert(PatchViT(), style, (torch.randn(2, 4, 12),))
    assert "self.cls_token = nn.Parameter(torch.empty(1, 1, 16))" in unchecked.source


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_buffer_a_module_level_function_builds_is_written_with_that_function(style):
    conversion = _conversion(AudioLike, style, torch.randn(2, 8, 5))
    source = conversion.source
    assert (
        'self.register_buffer("positional_embedding", sinusoids(n_ctx, n_state))'
        in source
    )
    assert "\ndef sinusoids(length, channels, max_timescale=10000):" in source
    assert '"""Returns sinusoids for positional embedding' in source
    assert "import math" in source
    assert_before(source, "def sinusoids(", "class AudioLike(")
    assert _fresh_equal(AudioLike, source, conversion.name) == _keys(AudioLike)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_constant_numpy_computes_is_written_with_the_numpy_import(style):
    conversion = _conversion(ScaledLogits, style, torch.randn(3, 8))
    source = conversion.source
    assert "nn.Parameter(torch.ones([]) * np.log(1 / 0.07))" in source
    assert "import numpy as np" in source
    assert _fresh_equal(ScaledLogits, source, conversion.name) == _keys(ScaledLogits)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_tensor_built_with_one_name_of_a_third_party_import_keeps_that_name(style):
    """``forward`` imports ``rearrange`` from einops; the kept code adds ``repeat``, once."""
    conversion = _conversion(StateSpace, style, torch.randn(2, 3, 6))
    source = conversion.source
    assert 'A = repeat(torch.arange(1, d_state + 1), "n -> d n", d=d_inner)' in source
    assert "torch.empty" not in source
    assert source.count("from einops import") == 1
    assert _fresh_equal(StateSpace, source, conversion.name) == _keys(StateSpace)


def test_a_draw_the_output_would_reorder_falls_back_to_torch_empty():
    model = _recorded(NoiseBeforeLayer)
    drawn = recover_tensor(model, "offset", fresh_checked=True)
    assert drawn is not None and drawn.fresh_checked  # the slice takes the draw
    for style in CLASS_STYLES:
        conversion = _conversion(NoiseBeforeLayer, style, torch.randn(3, 6))
        # the fresh build rejected it: written with it, fc and offset differ
        assert "self.offset = nn.Parameter(torch.empty(6))" in conversion.source
        assert "noise" not in conversion.source


def numpy_noise(n):
    return torch.from_numpy(np.random.randn(n)).float()


class NumpyNoise(nn.Module):
    """A parameter a function of the file draws with numpy's random numbers."""

    def __init__(self, dim=4):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.noise = nn.Parameter(numpy_noise(dim))

    def forward(self, x):
        return self.fc(x) + self.noise


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_draw_with_numpys_random_numbers_is_built_under_the_same_seed(style):
    conversion = _conversion(NumpyNoise, style, torch.randn(3, 4))
    source = conversion.source
    assert "self.noise = nn.Parameter(numpy_noise(dim))" in source
    assert "np.random.randn(n)" in source
    assert _fresh_equal(NumpyNoise, source, conversion.name) == _keys(NumpyNoise)


def test_recovering_a_draw_leaves_the_callers_random_state_alone():
    model = _recorded(PatchViT)
    torch.manual_seed(SEED)
    state = torch.random.get_rng_state()
    assert recover_tensor(model, "pos_embedding", fresh_checked=True) is not None
    assert torch.equal(torch.random.get_rng_state(), state)
    assert recover_tensor(model, "pos_embedding") is None  # the bit-for-bit path
    model = _recorded(NumpyNoise)
    np.random.seed(SEED)
    assert recover_tensor(model, "noise", fresh_checked=True) is not None
    assert np.random.randn() == np.random.RandomState(SEED).randn()


class TwoTokens(nn.Module):
    """Two parameters sliced from one local: the statement is written once."""

    def __init__(self, dim=4, pool="cls"):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        tokens = 1 if pool == "cls" else 0
        self.cls_token = nn.Parameter(torch.randn(tokens, dim))
        self.pos_embedding = nn.Parameter(torch.randn(tokens + 3, dim))
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.fc(x))
        return torch.cat([self.cls_token, x]) + self.pos_embedding


def test_a_statement_two_drawn_tensors_read_is_written_once():
    conversion = _conversion(TwoTokens, Style.MODULE, torch.randn(3, 4))
    # the root keeps ``pool``: the statement is the source's (printer/source_arguments)
    assert conversion.source.count('tokens = 1 if pool == "cls" else 0\n') == 1
    assert '"cls" == "cls"' not in conversion.source
    assert _fresh_equal(TwoTokens, conversion.source, conversion.name) == _keys(
        TwoTokens
    )


class TableEncoding(nn.Module):
    """A buffer a method of the class builds with numpy (attention-is-all-you-need's)."""

    def __init__(self, d_hid=6, n_position=5):
        super().__init__()
        self.fc = nn.Linear(d_hid, d_hid)
        # Not a parameter
        self.register_buffer("pos_table", self._sinusoid_table(n_position, d_hid))

    def _sinusoid_table(self, n_position, d_hid):
        """Sinusoid position encoding table."""
        table = np.array(
            [
                [pos / np.power(10000, 2 * (j // 2) / d_hid) for j in range(d_hid)]
                for pos in range(n_position)
            ]
        )
        table[:, 0::2] = np.sin(table[:, 0::2])  # dim 2i
        table[:, 1::2] = np.cos(table[:, 1::2])  # dim 2i+1
        return torch.FloatTensor(table).unsqueeze(0)

    def forward(self, x):
        return F.relu(self.fc(x)) + self.pos_table[:, : x.size(1)]


class CountingTable(TableEncoding):
    """Its table method changes the model: recovering may not run it."""

    def __init__(self, d_hid=6, n_position=5):
        nn.Module.__init__(self)
        self.fc = nn.Linear(d_hid, d_hid)
        self.register_buffer("pos_table", self._sinusoid_table(n_position, d_hid))

    def _sinusoid_table(self, n_position, d_hid):
        self.tables = getattr(self, "tables", 0) + 1
        return torch.ones(1, n_position, d_hid)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_buffer_a_method_builds_is_written_with_that_method(style):
    conversion = _conversion(TableEncoding, style, torch.randn(2, 5, 6))
    source = conversion.source
    assert "# Not a parameter" in source
    built = 'self.register_buffer("pos_table", self._sinusoid_table(n_position, d_hid))'
    assert built in source
    assert "    def _sinusoid_table(self, n_position, d_hid):" in source
    assert "table[:, 0::2] = np.sin(table[:, 0::2])  # dim 2i" in source
    assert "import numpy as np" in source
    assert_before(source, "def forward(", "def _sinusoid_table(")
    assert _fresh_equal(TableEncoding, source, conversion.name) == _keys(TableEncoding)
    # converted again, the method's docstring is not also said above the buffer
    again = nnconvert.convert(conversion.load(), style, (torch.randn(2, 5, 6),))
    assert again.source == source


def test_a_method_that_changes_the_model_is_not_run():
    model = _recorded(CountingTable)
    assert model.tables == 1
    assert recover_tensor(model, "pos_table", fresh_checked=True) is None
    assert model.tables == 1


@pytest.mark.parametrize(
    "template, values, expected",
    [
        ("n = 1 if {} == 'cls' else 0", ["'cls'"], "n = 1"),
        ("n = 1 if {} == 'cls' else 0", ["'mean'"], "n = 0"),
        ("n = ({} + 1 if {} > 2 else 0) * 2", ["4", "4"], "n = (4 + 1) * 2"),
        ("n = f(1 if {} else 0)", ["True"], "n = f(1)"),
        ("n = {} * 5 * 5", ["16"], "n = 16 * 5 * 5"),  # arithmetic stays as written
        ("n = 1 if {} > m else 0", ["4"], "n = 1 if 4 > m else 0"),  # m: no literal
    ],
)
def test_a_test_the_literals_decide_is_written_as_its_answer(
    template, values, expected
):
    """vit-pytorch's ``1 if pool == "cls" else 0``, ``pool`` written as ``"cls"``."""
    from nnconvert.init_slices import PLACEHOLDER, filled

    placeholders = [PLACEHOLDER.format(i) for i in range(len(values))]
    assert filled(template.format(*placeholders), values) == expected


def rotary_tables(dim, end, theta=10000.0):
    """cos and sin tables, as llama2.c's ``precompute_freqs_cis``."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: (dim // 2)].float() / dim))
    freqs = torch.outer(torch.arange(end), freqs).float()
    return torch.cos(freqs), torch.sin(freqs)  # real and imaginary parts


def noisy_table(end):
    return torch.randn(end, 1)


class Rotary(nn.Module):
    """Buffers outside the ``state_dict`` that functions of the file build.

    The code is kept with the model's initialisation statements, which a
    fresh build checks (:func:`nnconvert.api._checked_init_code`).
    """

    def __init__(self, dim=8, max_seq_len=6):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        freqs_cos, freqs_sin = rotary_tables(dim, max_seq_len)
        self.register_buffer("freqs_cos", freqs_cos, persistent=False)
        self.register_buffer("freqs_sin", freqs_sin, persistent=False)
        self.register_buffer("noise", noisy_table(max_seq_len), persistent=False)
        nn.init.zeros_(self.fc.bias)  # the initialisation a fresh build checks

    def forward(self, x):
        y = self.fc(x)
        return y * self.freqs_cos.repeat(1, 2) + self.noise - self.freqs_sin.sum()


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_buffer_outside_the_state_dict_a_function_builds_is_written_with_it(style):
    """Written as the user's code only where it gives the buffer bit for bit under any seed."""
    conversion = _conversion(Rotary, style, torch.randn(6, 8))
    source = conversion.source
    # (max_seq_len is a number: the noise's size writes it so, and a root
    # parameter is kept only where every use of it is written)
    assert "freqs_cos, freqs_sin = rotary_tables(dim, 6)\n" in source
    assert 'self.register_buffer("freqs_cos", freqs_cos, persistent=False)' in source
    assert "\ndef rotary_tables(dim, end, theta=10000.0):" in source
    assert "# real and imaginary parts" in source
    # a draw no fresh build compares (the buffer is in no state_dict): its bytes
    assert "noisy_table" not in source
    assert (
        'self.register_buffer(\n            "noise",\n            torch.tensor('
        in source
    )


def test_functional_init_params_builds_a_tensor_with_a_third_party_function():
    """``init_params()`` builds mamba's ``A_log`` with einops' ``repeat``, imported once.

    Read back, the file declares that build again: functional -> functional
    gives the same text. (Class styles read from it write the tensor's
    shape alone: their ``__init__`` has no import of the file to call.)
    """
    inputs = (torch.randn(2, 3, 6),)
    conversion = _conversion(StateSpace, Style.FUNCTIONAL, *inputs)
    source = conversion.source
    assert "from einops import rearrange, repeat" in source
    assert source.count("from einops import") == 1
    assert 'A = repeat(torch.arange(1, 4 + 1), "n -> d n", d=6)' in source
    assert "torch.empty(6, 4)" not in source
    build = fresh_builder(_recorded(StateSpace), None)
    expected, made = fresh_states(
        build, lambda: execute(source, "<t>")["init_params"]()
    )
    assert equal_keys(made, expected) == _keys(StateSpace)
    read = load_output(conversion, "StateSpace")
    assert nnconvert.convert(read, Style.FUNCTIONAL, inputs).source == source
    for style in CLASS_STYLES:
        nnconvert.convert(read, style, inputs).check(train=True)


class MixedHeads(nn.Module):
    """CaiT's attention: layers first, then parameters drawn at random, then a layer."""

    def __init__(self, dim=8, heads=2):
        super().__init__()
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.mix_heads = nn.Parameter(torch.randn(heads, heads))
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, _ = x.shape
        q = self.to_q(x).view(b, n, 2, -1)
        q = torch.einsum("bnhd,hg->bngd", q, self.mix_heads).reshape(b, n, -1)
        return self.to_out(q)


class TwoMixedHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.blocks = nn.Sequential(MixedHeads(), MixedHeads())

    def forward(self, x):
        return self.blocks(self.embed(x))


def _assert_built_anew_and_read_back(cls, conversion, *inputs: torch.Tensor) -> None:
    """A functional output's ``init_params()`` equals a new ``cls()`` bit for bit, key
    for key, and the file read back converts to the same text."""
    source = conversion.source
    init_params = execute(source, "<test>")["init_params"]
    expected, made = fresh_states(fresh_builder(_recorded(cls), None), init_params)
    assert equal_keys(made, expected) == _keys(cls)
    back = load_functional_source(source, conversion.name, inputs)
    again = nnconvert.convert(back, Style.FUNCTIONAL, inputs)
    assert again.source == source


def test_a_blocks_own_draws_come_among_its_layers_as_its_init_sets_them():
    """``state_dict()`` lists ``mix_heads`` before ``to_q``; ``__init__`` draws it after.

    Drawn in ``state_dict()`` order, every later tensor of the model took
    another draw (CaiT: 12 tensors differed). Read back, the functional file
    has no ``__init__`` to say so: its ``init_params()``'s order does.
    """
    conversion = _conversion(TwoMixedHeads, Style.FUNCTIONAL, torch.randn(2, 3, 4))
    source = conversion.source
    assert_before(source, '"blocks.{i}.to_q.weight"', '"blocks.{i}.mix_heads"')
    assert_before(source, '"blocks.{i}.mix_heads"', '"blocks.{i}.to_out.weight"')
    _assert_built_anew_and_read_back(TwoMixedHeads, conversion, torch.randn(2, 3, 4))


class PositionedLayers(nn.Module):
    """NesT's ``Transformer``: an empty list, a parameter drawn, then the list filled."""

    def __init__(self, dim=8, depth=2):
        super().__init__()
        self.layers = nn.ModuleList([])
        self.pos_emb = nn.Parameter(torch.randn(dim))
        for _ in range(depth):
            self.layers.append(nn.Linear(dim, dim))

    def forward(self, x):
        x = x + self.pos_emb
        for layer in self.layers:
            x = layer(x)
        return x


class TwoPositioned(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.blocks = nn.Sequential(PositionedLayers(), PositionedLayers())

    def forward(self, x):
        return self.blocks(self.embed(x))


def test_a_container_set_empty_is_built_where_it_is_filled():
    """``self.layers = nn.ModuleList([])`` comes first, its layers after ``pos_emb``."""
    conversion = _conversion(TwoPositioned, Style.FUNCTIONAL, torch.randn(2, 4))
    source = conversion.source
    assert_before(source, '"{prefix}.pos_emb"', '"{prefix}.layers.{i}.weight"')
    _assert_built_anew_and_read_back(TwoPositioned, conversion, torch.randn(2, 4))


def window_mask(size, shifted):
    """A file's function of literals only, as Swin's ``create_mask``."""
    mask = torch.zeros(size, size)
    if shifted:
        mask[-1:, :-1] = float("-inf")
    return mask


class WindowBlock(nn.Module):
    """Swin's ``WindowAttention``: its mask and position table set under ``if``s.

    ``if self.shifted:`` registers a mask built by the file's function;
    ``if relative:`` draws a table between two layers, its ``else`` another
    of another shape. For each instance the literals decide the branch.
    """

    def __init__(self, dim=8, shifted=False, relative=True):
        super().__init__()
        self.shifted = shifted
        if self.shifted:
            self.mask = nn.Parameter(window_mask(4, True), requires_grad=False)
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        if relative:
            self.pos_embedding = nn.Parameter(torch.randn(3, 3))
        else:
            self.pos_embedding = nn.Parameter(torch.randn(4, 4))
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        dots = q @ k.transpose(-1, -2) + self.pos_embedding.sum()
        if self.shifted:
            dots = dots + self.mask.sum().clamp(min=-1.0)
        return self.to_out(dots.softmax(dim=-1) @ v)


class WindowStage(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.blocks = nn.Sequential(WindowBlock(), WindowBlock(shifted=True))

    def forward(self, x):
        return self.blocks(self.embed(x))


def test_tensors_set_under_an_if_the_literals_decide_are_built_and_drawn_in_place():
    """Swin's masks and tables: ``torch.empty`` before, and every later draw shifted.

    A statement under an ``if`` the instance's literals decide is a
    top-level statement of the branch taken (``init_slices._Slicer._taken``):
    its code is recovered, and its draw comes where ``__init__`` makes it,
    between ``to_qkv`` and ``to_out`` (berniwal's Swin: 37 of 116 tensors
    were equal to a new original's, now 116).
    """
    inputs = (torch.randn(2, 4, 4),)
    conversion = _conversion(WindowStage, Style.FUNCTIONAL, *inputs)
    source = conversion.source
    assert "torch.empty(4, 4)" not in source
    assert "window_mask(4, True)" in source
    assert "torch.randn(3, 3)" in source and "torch.randn(4, 4)" not in source
    assert_before(source, '"{prefix}.to_qkv.weight"', '"{prefix}.pos_embedding"')
    assert_before(source, '"{prefix}.pos_embedding"', '"{prefix}.to_out.weight"')
    _assert_built_anew_and_read_back(WindowStage, conversion, *inputs)


def exists(val):
    return val is not None


def default(val, d):
    return val if exists(val) else d


class LambdaLike(nn.Module):
    """lambda-networks' ``LambdaLayer``: ``if exists(r):``, and a parameter reassigned.

    ``exists`` only tests its argument (``init_slices.is_predicate``), so the
    literals decide the ``if``; ``dim_out = default(dim_out, dim)`` reassigns
    a parameter that the table's code does not read.
    """

    def __init__(self, dim=8, *, dim_out=None, n=3, r=None):
        super().__init__()
        dim_out = default(dim_out, dim)
        self.to_q = nn.Linear(dim, dim_out)
        if exists(r):
            self.pos_conv = nn.Conv1d(1, 1, r)
        else:
            rel_lengths = 2 * n - 1
            self.rel_pos_emb = nn.Parameter(torch.randn(rel_lengths, dim))
        self.to_out = nn.Linear(dim_out, dim)

    def forward(self, x):
        return self.to_out(self.to_q(x)) + self.rel_pos_emb.sum()


def test_an_if_on_the_files_predicate_is_decided_and_an_unread_reassignment_allowed():
    """lambda-networks' ``rel_pos_emb`` was ``torch.empty``: 13 of 14 tensors equal."""
    inputs = (torch.randn(2, 8),)
    conversion = _conversion(LambdaLike, Style.FUNCTIONAL, *inputs)
    source = conversion.source
    assert "torch.empty(5, 8)" not in source
    assert "rel_lengths = 2 * 3 - 1" in source
    assert "torch.randn(rel_lengths, 8)" in source
    _assert_built_anew_and_read_back(LambdaLike, conversion, *inputs)
