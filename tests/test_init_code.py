"""The user's own initialisation code, kept in every style (``nnconvert/init_code.py``).

A model's ``__init__`` that draws its weights again once its layers are
built (``self.init_weights()``, ``self.apply(self._init_weights)``,
``nn.init.trunc_normal_(self.pos, std=0.02)``) keeps that code: class
styles in ``__init__`` with the methods it calls and the module-level
helpers they read, functional style at the end of ``init_params()`` where
every ``self`` is a tensor of the weight dict. A freshly built output then
equals a freshly built original under one seed, bit for bit. Code that a
fresh build shows not to help, or that cannot stand in the output, is
left out, and the output is as before.
"""

from __future__ import annotations

import math
import time
import warnings
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert.init_code import SEED, fresh_equal, keeps_more

from .helpers import load_output


def _no_grad_trunc_normal_(tensor, mean, std, a, b):
    # Cut & paste from PyTorch official master until it's in a few official releases
    def norm_cdf(x):
        # Computes standard normal cumulative distribution function
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b]", stacklevel=2)
    with torch.no_grad():
        low, high = norm_cdf((a - mean) / std), norm_cdf((b - mean) / std)
        tensor.uniform_(2 * low - 1, 2 * high - 1)
        tensor.erfinv_()  # standard normal, truncated
        tensor.mul_(std * math.sqrt(2.0)).add_(mean)
        return tensor.clamp_(min=a, max=b)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    return _no_grad_trunc_normal_(tensor, mean, std, a, b)


class RNNModel(nn.Module):
    """The word language model of pytorch/examples: an init method over named layers."""

    def __init__(self, ntoken=20, ninp=8):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, ninp)
        self.decoder = nn.Linear(ninp, ntoken)
        # uniform weights, as in the paper
        self.init_weights()

    def init_weights(self):
        """Uniform embeddings and decoder, zero decoder bias."""
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        self.decoder.weight.data.uniform_(-initrange, initrange)

    def forward(self, x):
        output, _ = self.rnn(self.encoder(x))
        return self.decoder(output)


class BiasedConv(nn.Module):
    """pytorch/examples' GCN layer: its bias is made and zeroed under ``if use_bias:``."""

    def __init__(self, input_dim, output_dim, use_bias=False):
        super().__init__()
        self.kernel = nn.Parameter(torch.Tensor(input_dim, output_dim))
        nn.init.xavier_normal_(self.kernel)  # Xavier
        self.bias = None
        if use_bias:
            self.bias = nn.Parameter(torch.Tensor(output_dim))
            nn.init.zeros_(self.bias)  # zeros

    def forward(self, x):
        out = torch.mm(x, self.kernel)
        if self.bias is not None:
            out = out + self.bias
        return out


class BiasedGraph(nn.Module):
    def __init__(self, use_bias=True):
        super().__init__()
        self.gc1 = BiasedConv(6, 4, use_bias=use_bias)
        self.gc2 = BiasedConv(4, 3, use_bias=use_bias)

    def forward(self, x):
        return self.gc2(torch.relu(self.gc1(x)))


class TinyViT(nn.Module):
    """DINO's ViT in small: a module-level helper and ``self.apply``."""

    def __init__(self, dim=8, depth=2):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList([nn.Linear(dim, dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def forward(self, x):
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        for block in self.blocks:
            x = x + F.gelu(block(x))
        return self.norm(x)


class GraphLayer(nn.Module):
    """GAT's layer: a block whose own ``__init__`` ends with ``self.reset_parameters()``."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.W = nn.Parameter(torch.empty(n_in, n_out))
        self.reset_parameters()  # Xavier, as in the paper

    def reset_parameters(self):
        nn.init.xavier_normal_(self.W)

    def forward(self, h):
        return torch.relu(h @ self.W)


class Graph(nn.Module):
    def __init__(self):
        super().__init__()
        self.gat1 = GraphLayer(6, 8)
        self.gat2 = GraphLayer(8, 4)

    def forward(self, h):
        return self.gat2(self.gat1(h))


class Config:
    n_layer = 3
    n_embd = 8


class ScaledMLP(nn.Module):
    """nanoGPT's residual scaling: a config attribute the output does not take."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        # special scaled init to the residual projection, per GPT-2 paper
        torch.nn.init.normal_(
            self.c_proj.weight, std=0.02 / math.sqrt(2 * config.n_layer)
        )

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Jittered(nn.Module):
    """An initialisation no seeded build can repeat: the clock."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        nn.init.constant_(self.fc.bias, time.perf_counter_ns() % 1_000_003)

    def forward(self, x):
        return self.fc(x)


class Counted(nn.Module):
    """minGPT's report: a local the initialisation computes, then prints."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        nn.init.zeros_(self.fc.bias)
        # report number of parameters
        n_params = sum(p.numel() for p in self.parameters())
        print("number of parameters: %d" % (n_params,))

    def forward(self, x):
        return self.fc(x)


CASES = {
    "rnn_model": (RNNModel, lambda: (torch.randint(0, 20, (5, 2)),)),
    "tiny_vit": (TinyViT, lambda: (torch.randn(2, 3, 8),)),
    "graph": (Graph, lambda: (torch.randn(5, 6),)),
    "scaled_mlp": (lambda: ScaledMLP(Config()), lambda: (torch.randn(2, 8),)),
    "biased_graph": (BiasedGraph, lambda: (torch.randn(5, 6),)),
    "counted": (Counted, lambda: (torch.randn(2, 4),)),
}


def _built(make) -> nn.Module:
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        return make()


def _converted(name: str, style: str) -> tuple[nn.Module, nnconvert.Conversion]:
    """Mixed style printed from the trace (these sources already are mixed style)."""
    make, inputs = CASES[name]
    model = _built(make)
    conversion = nnconvert.convert(
        model, to=style, example_inputs=inputs(), keep_source=False
    )
    return model, conversion


def _fresh_original(name: str):
    make, _ = CASES[name]
    return lambda: _built(make).state_dict()


def _fresh_output(conversion: nnconvert.Conversion):
    if conversion.style.value == "functional":
        namespace: dict = {}
        exec(compile(conversion.source, "<test init_code>", "exec"), namespace)
        init = namespace["init_params"]
        return lambda: SimpleNamespace(state_dict=init)
    cls = type(conversion.load())
    return lambda: cls()


@pytest.mark.parametrize("style", ["module", "mixed"])
@pytest.mark.parametrize("name", list(CASES))
def test_class_styles_build_as_the_original(name, style):
    model, conversion = _converted(name, style)
    equal = fresh_equal(_fresh_original(name), _fresh_output(conversion))
    assert equal == frozenset(model.state_dict())
    assert conversion.fresh_build == (len(equal), len(equal))
    conversion.check(train=True)  # raises CheckError if the output differs


def test_init_method_kept_with_its_docstring_and_comment():
    _, conversion = _converted("rnn_model", "module")
    assert (
        "        # uniform weights, as in the paper\n        self.init_weights()\n"
        in (conversion.source)
    )
    assert "    def init_weights(self):\n" in conversion.source
    assert (
        '"""Uniform embeddings and decoder, zero decoder bias."""' in conversion.source
    )
    assert "self.decoder.weight.data.uniform_(-initrange, initrange)" in (
        conversion.source
    )


def test_module_level_helpers_and_their_comments_kept():
    _, conversion = _converted("tiny_vit", "module")
    source = conversion.source
    assert "import warnings\n" in source
    assert source.index("def _no_grad_trunc_normal_(") < source.index("class TinyViT")
    assert "# Computes standard normal cumulative distribution function" in source
    assert "        self.apply(self._init_weights)\n" in source
    assert "    def _init_weights(self, m):\n" in source


def test_a_constructor_argument_the_output_does_not_take_is_its_literal():
    _, conversion = _converted("scaled_mlp", "module")
    assert "std=0.02 / math.sqrt(2 * 3)" in conversion.source
    assert "config." not in conversion.source


def test_block_keeps_its_reset_in_each_instance():
    _, conversion = _converted("graph", "module")
    assert conversion.source.count("self.reset_parameters()  # Xavier") == 1
    assert "    def reset_parameters(self):\n" in conversion.source


def test_functional_runs_what_it_can_write_over_params_last():
    model, conversion = _converted("rnn_model", "functional")
    source = conversion.source
    assert "def init_weights(params: dict[str, Tensor]):\n" in source
    assert 'params["decoder.weight"].data.uniform_(-initrange, initrange)' in source
    body = source[source.index("def init_params(") :]
    assert body.index("    init_weights(params)\n") < body.index("    return params")
    assert "model's own initialisation code" in body
    equal = fresh_equal(_fresh_original("rnn_model"), _fresh_output(conversion))
    assert equal == frozenset(model.state_dict())


@pytest.mark.parametrize("style", ["module", "functional"])
def test_code_in_the_branch_every_instance_took_is_kept(style):
    """``nn.init.zeros_(self.bias)`` under ``if use_bias:``: the bias is zero, not garbage."""
    model, conversion = _converted("biased_graph", style)
    zeroed = "nn.init.zeros_(self.bias)  # zeros"
    if style == "functional":
        zeroed = 'nn.init.zeros_(params["gc1.bias"])  # zeros'
    assert zeroed in conversion.source
    equal = fresh_equal(_fresh_original("biased_graph"), _fresh_output(conversion))
    assert equal == frozenset(model.state_dict())


def test_functional_leaves_out_what_reads_modules():
    model, conversion = _converted("tiny_vit", "functional")
    source = conversion.source
    assert 'trunc_normal_(params["cls_token"], std=0.02)' in source
    assert "self.apply(" not in source and "def _init_weights" not in source


@pytest.mark.parametrize("name", ["rnn_model", "tiny_vit", "biased_graph"])
def test_functional_reads_back_to_the_same_class(name):
    model, module_style = _converted(name, "module")
    _, functional = _converted(name, "functional")
    inputs = CASES[name][1]()
    again = nnconvert.convert(
        load_output(functional, type(model).__name__),
        to="functional",
        example_inputs=inputs,
    )
    assert again.source == functional.source
    if name == "rnn_model":  # every statement of it has a functional form
        back = nnconvert.convert(
            load_output(functional, type(model).__name__),
            to="module",
            example_inputs=inputs,
        )
        # The initialisation comes back as the module style wrote it. The
        # root's ``ninp`` does not: module style reads it from the source
        # (``nn.LSTM(ninp, ninp)``), and a functional file's init_params()
        # keeps no size of a recurrent layer, whose weights are 4 * hidden
        # wide (test_round_trips.SOURCE_ARGUMENTS_NOT_CARRIED).
        assert "def __init__(self, ntoken=20, ninp=8):" in module_style.source
        assert "def __init__(self, ntoken=20):" in back.source
        for part in ("        # uniform weights", "    def init_weights(self):"):
            assert _from(back.source, part) == _from(module_style.source, part)


def _from(source: str, start: str) -> str:
    """``source`` from the line that starts with ``start`` on."""
    lines = source.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    return "\n".join(lines[first:])


def test_a_blocks_code_read_back_runs_after_that_blocks_tensors():
    """GCN's ``xavier_normal_(params["gc1.kernel"])`` stands between gc1's keys.

    Read back, functional style writes it there again (not before
    ``params["gc1.kernel"] = ...``, where it raised a KeyError), and class
    styles after ``self.gc1`` is built.
    """
    model, functional = _converted("biased_graph", "functional")
    inputs = CASES["biased_graph"][1]()
    back = nnconvert.convert(
        load_output(functional, type(model).__name__), "module", inputs
    )
    init = back.source[back.source.index("class BiasedGraph") :]
    assert init.index("self.gc1 = ") < init.index("xavier_normal_(self.gc1.kernel)")
    assert init.index("zeros_(self.gc1.bias)") < init.index("self.gc2 = ")
    equal = fresh_equal(_fresh_original("biased_graph"), _fresh_output(back))
    assert equal == frozenset(model.state_dict())


def test_code_a_seeded_build_cannot_repeat_is_left_out():
    make = Jittered
    model = _built(make)
    conversion = nnconvert.convert(  # printed: the source's own __init__ is its own
        model, to="module", example_inputs=(torch.randn(2, 4),), keep_source=False
    )
    assert "perf_counter" not in conversion.source
    assert "nn.init.constant_" not in conversion.source
    assert conversion.fresh_build is None
    conversion.check(train=True)


def test_kept_only_when_more_tensors_equal_and_none_fewer():
    assert keeps_more(frozenset({"a", "b"}), frozenset({"a"}))
    assert not keeps_more(frozenset({"a"}), frozenset({"a"}))
    assert not keeps_more(frozenset({"b", "c"}), frozenset({"a"}))
    assert not keeps_more(None, frozenset())


def test_fresh_builds_leave_the_random_state_and_stdout_alone(capsys):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()

    def build():
        print("number of parameters: 1")
        return nn.Linear(2, 2).state_dict()

    assert fresh_equal(build, lambda: nn.Linear(2, 2)) == {"weight", "bias"}
    assert torch.equal(torch.random.get_rng_state(), before)
    assert capsys.readouterr().out == ""
    assert SEED == 0


def test_functional_runs_a_blocks_initialisation_over_its_slice():
    model, conversion = _converted("graph", "functional")
    source = conversion.source
    assert "def reset_parameters(params: dict[str, Tensor]):\n" in source
    assert '    nn.init.xavier_normal_(params["W"])\n' in source
    body = source[source.index("def init_params(") :]
    first = body.index('    reset_parameters(sub_params(params, "gat1."))  # Xavier')
    assert body.index('params["gat1.W"] = ') < first < body.index('params["gat2.W"] = ')
    assert "set them before use" not in body
    equal = fresh_equal(_fresh_original("graph"), _fresh_output(conversion))
    assert equal == frozenset(model.state_dict())


def test_functional_check_of_init_params_runs_a_blocks_initialisation():
    """With a builder (the CLI's path), ``init_params()`` runs alone before printing.

    Its block initialisation calls ``sub_params``, which that lone run must
    define too; it was a ``NameError`` on every such model given through the CLI.
    """
    make, inputs = CASES["graph"]
    model = _built(make)
    read = nnconvert.ModelInput(model, fresh_state=_fresh_original("graph"))
    conversion = nnconvert.convert(read, to="functional", example_inputs=inputs())
    assert "equal to a new `Graph`'s under the same seed." in conversion.source
    conversion.check(train=True)


@pytest.mark.parametrize("style", ["module", "mixed", "functional"])
def test_a_local_only_initialisation_reads_is_kept_with_it(style, capsys):
    """Class styles keep ``n_params = ...`` and the print reading it; functional neither."""
    _, conversion = _converted("counted", style)
    conversion.check(train=True)
    source = conversion.source
    if style == "functional":  # self.parameters() has no weight-dict form
        assert "n_params" not in source and "print(" not in source
        assert 'nn.init.zeros_(params["fc.bias"])' in source
    else:
        assert (
            "        # report number of parameters\n"
            "        n_params = sum(p.numel() for p in self.parameters())\n"
            '        print("number of parameters: %d" % (n_params,))\n'
        ) in source
    assert "number of parameters: 20" in capsys.readouterr().out
