"""The user's module-level functions that ``forward`` calls stay functions (issue 11).

``drop_path(x, self.drop_prob, self.training)``, ``swish(x)``,
``apply_rotary(x, cos, sin)`` (which calls a function of its own): each is
written once, as the user wrote it, and called where the user called it,
in every style (:mod:`nnconvert.user_functions`). A function whose text
cannot stand alone in the output, or a call that hands it something the
output cannot write (a module), is traced through as before. Every output
is checked in eval and train mode and converts again to the same text.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import textwrap
from typing import Tuple

import numpy as np
import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.errors import ConversionError
from nnconvert.options import Style
from nnconvert.user_functions import kept_function

from .helpers import load_output, recorded_conversion

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

EPS = 1e-6
TABLE = torch.arange(4.0)  # computed when the file loads: no literal


def swish(x):
    """The SiLU, written out."""
    return x * x.sigmoid()  # x times its sigmoid


def drop_path(x, drop_prob: float = 0.0, training: bool = False):
    # stochastic depth: in train mode, zero whole samples
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    return x * x.new_empty(shape).bernoulli_(keep_prob) / keep_prob


def pair(t):
    return t if isinstance(t, tuple) else (t, t)


def _halves(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    return x[..., ::2], x[..., 1::2]


def apply_rotary(x, cos, sin):
    even, odd = _halves(x)
    return torch.cat([even * cos - odd * sin, even * sin + odd * cos], -1)


def rms_norm(x):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)


def scaled_by_table(x):
    return x * TABLE


def run_twice(block, x):
    return block(block(x))


class DropPath(nn.Module):
    def __init__(self, drop_prob=0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training)


class Block(nn.Module):
    def __init__(self, dim, drop):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.drop_path = DropPath(drop)

    def forward(self, x):
        return x + self.drop_path(swish(self.fc(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Block(8, 0.1), Block(8, 0.2))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(swish(self.blocks(x)))


class Rotary(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.register_buffer("cos", torch.rand(4))
        self.register_buffer("sin", torch.rand(4))

    def forward(self, x):
        return rms_norm(apply_rotary(self.proj(x), self.cos, self.sin))


def rope_table(dim, end):
    """The cosines and sines of the rotary angles."""
    freqs = 1.0 / (10000.0 ** (torch.arange(0, dim, 2).float() / dim))
    angles = torch.outer(torch.arange(end).float(), freqs)
    return torch.cos(angles), torch.sin(angles)  # (end, dim // 2) each


class TableRotary(nn.Module):
    """llama2.c's buffers: computed in ``__init__`` by a function of the file."""

    def __init__(self, dim=8, end=6):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        cos, sin = rope_table(dim, end)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x):
        t = x.shape[1]
        return apply_rotary(self.proj(x), self.cos[:t], self.sin[:t])


class CosineOnly(nn.Module):
    """Half of an unpacking kept: the other part is never a buffer."""

    def __init__(self, dim=8, end=6):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        cos, _ = rope_table(dim, end)
        self.register_buffer("cos", cos, persistent=False)

    def forward(self, x):
        return self.proj(x)[..., :4] * self.cos[: x.shape[1]]


class CausalMask(nn.Module):
    """Whisper's ``TextDecoder``: a mask filled with ``-np.inf``, registered unsaved."""

    def __init__(self, n_ctx=6):
        super().__init__()
        self.proj = nn.Linear(6, 6)
        mask = torch.empty(n_ctx, n_ctx).fill_(-np.inf).triu_(1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        return self.proj(x) + self.mask


def scale_(x, s):
    x.mul_(s)  # in place: the call is made for its effect


def split_heads(x, n):
    b, t, c = x.shape
    return x.view(b, t, n, c // n).transpose(1, 2)


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.n = 2

    def forward(self, x):
        y = self.fc(x)
        scale_(y, 2.0)
        h = split_heads(y, n=self.n)
        return h.sum(1)


class Unwritable(nn.Module):
    """One function reads a tensor the file computes, one is given a module."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return scaled_by_table(run_twice(self.fc, x))


def _top_level(source: str) -> dict[str, ast.stmt]:
    """The output's top-level functions and assignments by name."""
    found = {}
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.FunctionDef):
            found[statement.name] = statement
        elif isinstance(statement, ast.Assign):
            for target in ast.walk(statement.targets[0]):  # ``COS, SIN = ...``
                if isinstance(target, ast.Name):
                    found[target.id] = statement
    return found


def _as_written(function) -> str:
    return ast.unparse(ast.parse(textwrap.dedent(inspect.getsource(function))))


def _converted_again(conversion: nnconvert.Conversion, *inputs) -> str:
    again = load_output(conversion, type(conversion.model).__name__)
    return nnconvert.convert(again, to=conversion.style, example_inputs=inputs).source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_functions_stay_as_written(style):
    """``swish`` and ``drop_path`` are defined once, with their comments, and called."""
    inputs = (torch.randn(3, 8),)
    conversion = recorded_conversion(Net, style, inputs)
    source = conversion.source
    defined = _top_level(source)
    for function in (swish, drop_path):
        assert ast.unparse(defined[function.__name__]) == _as_written(function)
    assert "# x times its sigmoid" in source
    assert "# stochastic depth: in train mode, zero whole samples" in source
    assert source.count("bernoulli_") == 1  # in drop_path only: no inlined copy
    training = "training" if style is Style.FUNCTIONAL else "self.training"
    assert (
        f"drop_path(x, {'drop_prob' if style is Style.FUNCTIONAL else 'self.drop_prob'}, {training})"
        in source
    )
    assert _converted_again(conversion, *inputs) == source


def test_functional_block_takes_another_name():
    """``DropPath``'s function is not called ``drop_path``: that is the user's function."""
    conversion = recorded_conversion(Net, Style.FUNCTIONAL, (torch.randn(3, 8),))
    functions = [
        f for f in ast.parse(conversion.source).body if isinstance(f, ast.FunctionDef)
    ]
    names = [f.name for f in functions]
    assert names.count("drop_path") == 1
    assert [a.arg for a in _top_level(conversion.source)["drop_path"].args.args] == [
        "x",
        "drop_prob",
        "training",
    ]


def test_read_back_the_block_takes_its_class_name_again():
    """``drop_path_2`` (numbered for the user's ``drop_path``) is ``DropPath`` in module style."""
    inputs = (torch.randn(3, 8),)
    functional = recorded_conversion(Net, Style.FUNCTIONAL, inputs)
    again = nnconvert.convert(
        load_output(functional, "Net"), to=Style.MODULE, example_inputs=inputs
    )
    again.check(train=True)
    assert "class DropPath(nn.Module):" in again.source
    assert "DropPath_2" not in again.source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_functions_they_call_and_constants_come_along(style):
    """``apply_rotary`` calls ``_halves``; ``rms_norm`` reads ``EPS``: all kept, in file order."""
    inputs = (torch.randn(2, 3, 8),)
    conversion = recorded_conversion(Rotary, style, inputs)
    defined = list(_top_level(conversion.source))
    kept = ["EPS", "_halves", "apply_rotary", "rms_norm"]
    assert [name for name in defined if name in kept] == kept
    assert "from typing import Tuple" in conversion.source
    assert "apply_rotary(" in conversion.source and "rms_norm(" in conversion.source
    assert _converted_again(conversion, *inputs) == conversion.source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_call_made_for_its_effect_stays_and_keywords_stay_keywords(style):
    """``scale_(y, 2.0)`` returns nothing and stays; ``n=self.n`` stays a keyword."""
    inputs = (torch.randn(2, 3, 8),)
    conversion = recorded_conversion(InPlace, style, inputs)
    n = "n" if style is Style.FUNCTIONAL else "self.n"
    assert "    scale_(y, 2.0)\n" in conversion.source
    assert f"h = split_heads(y, n={n})" in conversion.source
    assert _converted_again(conversion, *inputs) == conversion.source


def test_functional_style_builds_a_buffer_with_the_users_function():
    """``cos, sin = rope_table(dim, end)``: a constant built by that call, not base64."""
    inputs = (torch.randn(2, 5, 8),)
    conversion = recorded_conversion(TableRotary, Style.FUNCTIONAL, inputs)
    source = conversion.source
    defined = _top_level(source)
    assert ast.unparse(defined["rope_table"]) == _as_written(rope_table)
    assert "unpack_tensor" not in source
    # one statement into both constants, as the source's one call
    assert "\nCOS, SIN = rope_table(8, 6)\n" in source
    assert "COS[:t]" in source and "SIN[:t]" in source
    assert _converted_again(conversion, *inputs) == source


def test_an_unpacking_builds_only_the_constants_used():
    inputs = (torch.randn(2, 5, 8),)
    conversion = recorded_conversion(CosineOnly, Style.FUNCTIONAL, inputs)
    assert "\nCOS, _ = rope_table(8, 6)\n" in conversion.source
    assert _converted_again(conversion, *inputs) == conversion.source


def test_functional_style_builds_a_buffer_reading_numpy_as_the_file_does():
    """``-np.inf``: the output imports numpy as the file does, and builds the mask."""
    inputs = (torch.randn(2, 6, 6),)
    conversion = recorded_conversion(CausalMask, Style.FUNCTIONAL, inputs)
    source = conversion.source
    assert "unpack_tensor" not in source
    assert "import numpy as np\n" in source
    assert "mask = torch.empty(6, 6).fill_(-np.inf).triu_(1)" in source
    assert _converted_again(conversion, *inputs) == source


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_what_cannot_stand_alone_is_traced_through(style):
    """A function reading ``TABLE`` (a computed tensor), one given a module: inlined."""
    conversion = recorded_conversion(Unwritable, style, (torch.randn(2, 4),))
    defined = _top_level(conversion.source)
    assert "scaled_by_table" not in defined and "run_twice" not in defined
    assert kept_function(scaled_by_table) is None
    assert kept_function(run_twice) is not None  # kept, but not for that call


def test_only_plain_functions_of_the_users_files():
    """Not torch's, not a nested function, not a lambda; no table the file binds."""

    def nested(x):
        return x

    assert kept_function(torch.nn.functional.relu) is None
    assert kept_function(nested) is None
    assert kept_function(lambda x: x) is None
    assert kept_function([64, "M"]) is None and kept_function({"a": 1}) is None
    assert kept_function(swish).name == "swish"


LIBRARY = """
def swish(x):
    return x * 2
"""

MODEL = """
import torch
from torch import nn
from {library} import swish as doubled


def swish(x):
    return x * x.sigmoid()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return doubled(swish(self.fc(x)))
"""


def test_two_files_defining_one_name_fail_loudly(tmp_path, monkeypatch):
    """Two kept functions called ``swish``: the output cannot hold both."""
    library = f"doubling_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{library}.py").write_text(LIBRARY)
    (tmp_path / "model.py").write_text(MODEL.format(library=library))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("two_swishes", tmp_path / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(ConversionError, match="both define 'swish'"):
        nnconvert.convert(
            module.Net(), to=Style.MODULE, example_inputs=(torch.randn(2, 4),)
        )


class Swish(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return swish(self.fc(x))


def test_a_root_function_named_as_a_kept_function_asks_for_another_name():
    """Functional ``Swish`` would be ``swish``, the user's function it calls."""
    model, inputs = Swish(), (torch.randn(2, 4),)
    with pytest.raises(ConversionError, match="--name"):
        nnconvert.convert(model, to=Style.FUNCTIONAL, example_inputs=inputs)
    conversion = nnconvert.convert(
        model, to=Style.FUNCTIONAL, example_inputs=inputs, name="swish_net"
    )
    conversion.check(train=True)
    assert (
        "def swish_net(" in conversion.source and "def swish(x):" in conversion.source
    )


class PatchTokens(nn.Module):
    """vit-pytorch's shape: a drawn parameter sized by a function of the file."""

    def __init__(self, image_size=8, patch_size=4, dim=6):
        super().__init__()
        image_height, image_width = pair(image_size)
        patch_height, patch_width = pair(patch_size)
        num_patches = (image_height // patch_height) * (image_width // patch_width)
        self.pos_embedding = nn.Parameter(torch.randn(num_patches, dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return self.proj(x + self.pos_embedding)


def test_functional_init_params_calls_the_users_function_as_init_did():
    """``init_params()`` draws ``pos_embedding`` after ``pair(...)``, as ``__init__``
    did, so every later draw lines up; read back, the text is the same."""
    inputs = (torch.randn(2, 4, 6),)
    torch.manual_seed(0)
    read = nnconvert.ModelInput(
        PatchTokens(), fresh_state=lambda: PatchTokens().state_dict()
    )
    conversion = nnconvert.convert(read, Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    source = conversion.source
    assert ast.unparse(_top_level(source)["pair"]) == _as_written(pair)
    assert "before use" not in source  # no tensor left to ``torch.empty``
    init_params = conversion.namespace()["init_params"]
    torch.manual_seed(3)
    made = init_params()
    torch.manual_seed(3)
    fresh = PatchTokens().state_dict()
    assert all(torch.equal(made[k], fresh[k]) for k in fresh)
    # read back (as a model object: no fresh build to compare with, as before)
    direct = recorded_conversion(PatchTokens, Style.FUNCTIONAL, inputs, record=False)
    assert _converted_again(direct, *inputs) == direct.source
    # and in a class style: it builds and computes the same
    loaded = load_output(conversion, "PatchTokens")
    nnconvert.convert(loaded, Style.MODULE, inputs).check(train=True)


def exists(val):
    return val is not None


class MaybeBiased(nn.Module):
    """lucidrains' test of an optional input by a helper that tests for None."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x, bias=None):
        x = self.fc(x)
        if exists(bias):
            x = x + bias
        return x


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_none_test_answers_without_a_call_or_a_guard(style):
    """``exists(tensor)`` is True whatever the tensor holds: the branch, as the user's test."""
    torch.manual_seed(0)
    inputs = (torch.randn(2, 8), torch.randn(2, 8))
    conversion = nnconvert.convert(MaybeBiased(), style, inputs, keep_source=False)
    conversion.check(train=True)
    assert "exists" not in conversion.source
    assert "raise ValueError" not in conversion.source
    assert "if bias is not None:" in conversion.source


def default(val, d):
    return val if exists(val) else d


class ContextOrSelf(nn.Module):
    """Conformer's attention: its context, or its input where none is given."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x, context=None):
        context = default(context, x)
        return self.fc(x) * context


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_choice_made_by_a_none_test_is_the_value_it_chose(style):
    """Traced without ``context``: ``x`` where the source reads ``context``."""
    torch.manual_seed(0)
    conversion = nnconvert.convert(
        ContextOrSelf(), style, (torch.randn(2, 8),), keep_source=False
    )
    conversion.check(train=True)
    assert "default" not in conversion.source
    assert "* x" in conversion.source


PASTED = """
import torch
from torch import nn


# a second module's helpers, pasted above the file's own
def exists(val):
    return val is not None


def default(val, d):
    return val if exists(val) else d


def exists(x):
    return x is not None


def default(val, d):
    if exists(val):
        return val
    return d() if callable(d) else d


def scaled(x, scale=None):
    return x * default(scale, 0.5)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return scaled(self.fc(x))
"""


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_function_defined_again_in_its_file_is_kept_as_calls_find_it(tmp_path, style):
    """Python keeps a file's last ``def`` of a name; so does the output, once."""
    (tmp_path / "pasted.py").write_text(PASTED)
    spec = importlib.util.spec_from_file_location("pasted", tmp_path / "pasted.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    conversion = nnconvert.convert(
        module.Net(), to=style, example_inputs=(torch.randn(2, 4),)
    )
    conversion.check(train=True)
    assert conversion.source.count("def exists(") == 1
    assert conversion.source.count("def default(") == 1
    assert "return d() if callable(d) else d" in conversion.source
