"""Functional-style input: ``nnconvert convert`` on a function over a weight dict.

The function and its weights (``init_params()`` or ``--weights``) become a
module that converts to every style; functional calls over weights become
their layers again in module and mixed style; the wrapper is the original of
the equivalence check.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert import loading
from nnconvert.functional import (
    FunctionalModel,
    class_name_for,
    functional_model,
    load_source,
    parameter_names,
    rewrite_source,
)

from .helpers import load_sample, run, same_but_stateless_names, write

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
EXPECTED = SAMPLES / "expected"
SHAPES = {
    "lenet": "2,1,32,32",
    "convnet": "4,3,32,32",
    "mlp": "2,7,32",
    "resnet": "2,3,32,32",  # nn.Sequential of blocks, merged block shapes
    "unet": "2,3,16,16",  # nn.Sequential with members without weights
    "vit": "2,3,16,16",  # a loop over an nn.ModuleList of blocks
}


@pytest.mark.parametrize("style", ["module", "mixed", "functional"])
@pytest.mark.parametrize("sample", ["lenet", "convnet", "resnet", "unet", "vit"])
def test_a_functional_golden_converts_back_to_every_golden(sample, style, request):
    """The weights come from the file's init_params(); nothing else is given.

    A mixed golden of a sample written in mixed style is the sample as
    written, which a functional file does not hold: the functional file
    converts back to the sample's mixed output printed from the trace.
    The ViT's goldens draw its position embedding as the sample does, the
    functional one in ``init_params()``, read back as that draw. The UNet's
    and the ViT's class goldens write layer arguments as their source does
    (``in_channels // 2``, ``Block(dim, heads, hidden)``), which a functional
    file has no ``__init__`` to say (``tests/test_round_trips.py``).
    """
    if sample in ("unet", "vit") and style != "functional":
        reason = "class styles read layer arguments from the source: printer/source_arguments.py"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    functional = EXPECTED / f"{sample}.functional.py"
    result = run("convert", functional, "--to", style, "--input-shape", SHAPES[sample])
    assert result.exit_code == 0, result.output
    if style != "functional":  # a functional file holds no construction to keep
        model, inputs = load_sample(SAMPLES / f"{sample}.py")
        expected = nnconvert.convert(model, style, inputs, keep_source=False).source
    else:
        expected = (EXPECTED / f"{sample}.{style}.py").read_text()
    if style == "module":  # the ResNet's and the ConvNet's self.relu, by stem
        assert same_but_stateless_names(result.stdout, expected)
    else:
        assert result.stdout == expected
    assert "ok    train, gradients" in result.stderr


@pytest.mark.parametrize("style", ["module", "functional"])
def test_a_file_with_the_untrimmed_batch_norm_converts_as_today(style, tmp_path):
    """Files written before ``batch_norm`` was trimmed define it with every option."""
    earlier = Path(nnconvert.__file__).parent / "opspecs" / "earlier_helpers.py"
    untrimmed = ast.unparse(
        next(
            node
            for node in ast.parse(earlier.read_text()).body
            if isinstance(node, ast.FunctionDef) and node.name == "batch_norm"
        )
    )
    today = (EXPECTED / "resnet.functional.py").read_text()
    tree = ast.parse(today)
    trimmed = next(
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == "batch_norm"
    )
    lines = today.splitlines()
    old = "\n".join(
        lines[: trimmed.lineno - 1] + [untrimmed] + lines[trimmed.end_lineno :]
    )
    assert "if momentum is None:" in old
    path = write(tmp_path, "resnet_old.py", old)
    result = run("convert", path, "--to", style, "--input-shape", SHAPES["resnet"])
    assert result.exit_code == 0, result.output
    golden = (EXPECTED / f"resnet.{style}.py").read_text()
    if (
        style == "module"
    ):  # printed from the trace (this file's mark); the golden keeps the source
        sample = SAMPLES / "resnet.py"
        printed = run("convert", sample, "--to", style, "--no-check")
        assert printed.exit_code == 0, printed.output
        golden = printed.stdout
    assert same_but_stateless_names(result.stdout, golden)  # the blocks' self.relu


def test_weights_option_gives_the_weights(tmp_path):
    namespace = load_source((EXPECTED / "lenet.functional.py").read_text())
    weights = tmp_path / "lenet.pt"
    torch.save(namespace["init_params"](), weights)
    result = run(
        "convert",
        EXPECTED / "lenet.functional.py",
        "--to",
        "module",
        "--weights",
        weights,
        "--input-shape",
        SHAPES["lenet"],
    )
    assert result.exit_code == 0, result.output
    model, inputs = load_sample(SAMPLES / "lenet.py")
    # printed from the trace: a functional file holds no construction to keep
    expected = nnconvert.convert(model, "module", inputs, keep_source=False).source
    assert result.stdout == expected


def test_weights_option_loads_into_a_class(tmp_path):
    path = SAMPLES / "lenet.py"
    module = loading.import_file(path)
    saved = {k: torch.randn_like(v) for k, v in module.Net().state_dict().items()}
    weights = tmp_path / "net.pt"
    torch.save(saved, weights)
    inputs = loading.example_inputs(module, path, [], [], 10)
    model = loading.load_model(module, path, module.Net, {}, weights, inputs).module
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, saved[key]), key
    result = run("convert", path, "--to", "mixed", "--weights", weights)
    assert result.exit_code == 0, result.output


def test_weights_that_do_not_fit_fail_with_exit_2(tmp_path):
    weights = tmp_path / "wrong.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, weights)
    result = run(
        "convert", SAMPLES / "lenet.py", "--to", "module", "--weights", weights
    )
    assert result.exit_code == 2
    assert "the weights do not load into Net" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    torch.save([1, 2], weights)
    result = run(
        "convert", SAMPLES / "lenet.py", "--to", "module", "--weights", weights
    )
    assert result.exit_code == 2
    assert "not a state dict" in result.stderr


def test_a_functional_file_without_weights_is_refused(tmp_path):
    path = write(
        tmp_path,
        "bare.py",
        """
        import torch.nn.functional as F

        def head(params, x):
            return F.linear(x, params["fc.weight"])
        """,
    )
    result = run("convert", path, "--to", "module", "--input-shape", "2,3")
    assert result.exit_code == 2
    assert f"{path}:4: head is in functional style" in result.stderr
    assert "--weights PATH" in result.stderr
    assert result.stdout == ""


HAND_WRITTEN = """
import torch
import torch.nn.functional as F


def init_params():
    return {
        "stem.weight": torch.randn(8, 3, 3, 3) * 0.1,
        "stem.bias": torch.zeros(8),
        "norm.weight": torch.ones(8),
        "norm.bias": torch.zeros(8),
        "norm.running_mean": torch.zeros(8),
        "norm.running_var": torch.ones(8),
        "norm.num_batches_tracked": torch.tensor(0),
        "head.weight": torch.randn(4, 8) * 0.1,
        "proj.weight": torch.randn(4, 4),
        "temperature": torch.ones(()),
    }


def example_inputs():
    return (torch.randn(2, 3, 16, 16),)


def tiny_net(params, x, *, training=False):
    x = F.conv2d(x, params["stem.weight"], params["stem.bias"], stride=2, padding=1)
    if training:
        params["norm.num_batches_tracked"] += 1
    x = F.batch_norm(
        x,
        params["norm.running_mean"],
        params["norm.running_var"],
        params["norm.weight"],
        params["norm.bias"],
        training=training,
        momentum=0.05,
    )
    x = F.relu(x).mean((2, 3))
    x = F.linear(x, params["head.weight"])
    w = params["proj.weight"] + params["proj.weight"].t()
    return F.linear(x, w) / params["temperature"]
"""


def test_hand_written_functional_code_gets_its_layers_back(tmp_path):
    path = write(tmp_path, "tiny.py", HAND_WRITTEN)
    result = run("convert", path, "--to", "module")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "class TinyNet(nn.Module):" in out
    assert "self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)" in out
    assert "self.norm = nn.BatchNorm2d(8, momentum=0.05)" in out
    assert "self.head = nn.Linear(8, 4, bias=False)" in out
    # not a layer's call: stays a call over the tensors, in a container or at top level
    assert 'self.proj = nn.ParameterDict({"weight": nn.Parameter(' in out
    assert "self.temperature = nn.Parameter(torch.empty(()))" in out
    assert "self.proj.weight.t()" in out
    assert "num_batches_tracked" not in out
    assert "ok    train, buffers after the step" in result.stderr


def test_hand_written_functional_code_keeps_its_function(tmp_path):
    path = write(tmp_path, "tiny.py", HAND_WRITTEN)
    result = run("convert", path, "--to", "functional")
    assert result.exit_code == 0, result.output
    assert "def tiny_net(" in result.stdout
    assert 'if training:\n        params["norm.num_batches_tracked"] += 1' in (
        result.stdout
    )
    mixed = run("convert", path, "--to", "mixed")
    assert mixed.exit_code == 0, mixed.output
    assert "x = self.stem(x)" in mixed.stdout


PRELU = """
import torch
import torch.nn.functional as F


def init_params({arguments}):
    return {{
        "filled.weight": torch.full((4,), 0.1),
        "drawn.weight": torch.rand(4),
    }}


def example_inputs():
    return (torch.randn(2, 4, 5),)


def net(params, x):
    return F.prelu(F.prelu(x, params["filled.weight"]), params["drawn.weight"])
"""


def test_prelu_init_comes_from_init_params(tmp_path):
    """``init`` is the value init_params() fills the weight with, if it fills it."""
    path = write(tmp_path, "prelu.py", PRELU.format(arguments=""))
    result = run("convert", path, "--to", "module")
    assert result.exit_code == 0, result.output
    assert "self.filled = nn.PReLU(4, init=0.1)" in result.stdout
    assert "self.drawn = nn.PReLU(4)" in result.stdout  # not one value: the default
    result = run("convert", path, "--to", "functional")
    assert result.exit_code == 0, result.output
    assert 'params["filled.weight"] = torch.full((4,), 0.1)' in result.stdout
    assert 'params["drawn.weight"] = torch.full((4,), 0.25)' in result.stdout


def test_prelu_init_never_comes_from_the_weights(tmp_path):
    """With ``--weights`` the init is still init_params()'s; without one, the default."""
    weights = tmp_path / "trained.pt"
    trained = {"filled.weight": torch.full((4,), 0.7), "drawn.weight": torch.ones(4)}
    torch.save(trained, weights)
    for arguments, filled in [("", "init=0.1"), ("scale", None)]:
        # init_params(scale) cannot run without --init-arg: no initial values
        path = write(tmp_path, "prelu.py", PRELU.format(arguments=arguments))
        result = run("convert", path, "--to", "module", "--weights", weights)
        assert result.exit_code == 0, result.output
        expected = f"nn.PReLU(4, {filled})" if filled else "nn.PReLU(4)"
        assert f"self.filled = {expected}\n" in result.stdout
        assert "self.drawn = nn.PReLU(4)\n" in result.stdout
        assert "ok    train, gradients" in result.stderr
    # the Python API: initial values only from `initial`, never from the weights
    namespace = load_source(PRELU.format(arguments=""))
    inputs = (torch.randn(2, 4, 5),)
    fresh = {"filled.weight": torch.full((4,), 0.3), "drawn.weight": torch.rand(4)}
    for initial, filled in [(None, "nn.PReLU(4)"), (fresh, "nn.PReLU(4, init=0.3)")]:
        read = functional_model(namespace["net"], trained, inputs, initial=initial)
        model = read.module
        assert type(model.filled) is nn.PReLU
        assert torch.equal(model.filled.weight, trained["filled.weight"])
        source = nnconvert.convert(read, "module", inputs).source
        assert f"self.filled = {filled}\n" in source


@pytest.mark.parametrize(
    "tensor, value",
    [
        (torch.full((4,), 0.1), 0.1),
        (torch.full((3,), 0.1, dtype=torch.float64), 0.1),
        (torch.full((2,), 0.1, dtype=torch.bfloat16), 0.1),
        (torch.full((2, 2), -2.5), -2.5),
        (torch.full((1,), 1 / 3), 0.33333334),
        (torch.tensor([0.1, 0.2]), None),
        (torch.empty(0), None),
        (torch.ones(2, dtype=torch.int64), None),
    ],
)
def test_filled_value_is_the_shortest_that_fills_the_tensor(tensor, value):
    from nnconvert.opspecs.inits import filled_value

    found = filled_value(tensor)
    assert found == value and type(found) is type(value)
    if value is not None:
        assert torch.equal(torch.full_like(tensor, found), tensor)


def test_check_takes_a_functional_original():
    result = run(
        "check",
        EXPECTED / "convnet.functional.py",
        EXPECTED / "convnet.module.py",
        "--input-shape",
        SHAPES["convnet"],
    )
    assert result.exit_code == 0, result.output
    assert "computes what" in result.stdout and ":conv_net computes" in result.stdout


# -- the pieces ----------------------------------------------------------------


def test_batch_counters_become_count_batch_calls():
    source = textwrap.dedent("""
        def f(params, x, *, training=False):
            if training:
                params["bn.num_batches_tracked"] += 1
            if training:
                params["a"] += 2
            if not training:
                params["b"] += 1
            return x

        def g(weights, training):
            if training:
                weights["c"] += 1
        """)
    tree, changed = rewrite_source(source, "<test>")
    text = ast.unparse(tree)
    assert changed
    assert (
        "__nnconvert_functional__.count_batch(params['bn.num_batches_tracked'], training)"
        in text
    )
    assert "params['a'] += 2" in text and "params['b'] += 1" in text
    assert "weights['c'] += 1" in text


def test_cumulative_momentum_becomes_a_call():
    source = textwrap.dedent("""
        def f(params, x, *, training=False):
            a = 1.0 / float(params["bn.num_batches_tracked"]) if training else 0.0
            b = 1 / float(params["c"]) if training else 0
            c = 2.0 / float(params["d"]) if training else 0.0
            d = 1.0 / float(params["e"]) if training else 0.1
            e = 1.0 / int(params["f"]) if training else 0.0
            return x

        def g(weights, training):
            return 1.0 / float(weights["g"]) if training else 0.0
        """)
    tree, changed = rewrite_source(source, "<test>")
    text = ast.unparse(tree)
    assert changed
    call = "__nnconvert_functional__.cumulative_momentum"
    assert f"a = {call}(params['bn.num_batches_tracked'], training)" in text
    assert f"b = {call}(params['c'], training)" in text
    assert text.count(call) == 2
    assert "1.0 / float(weights['g']) if training else 0.0" in text


class CumulativeBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(3, momentum=None)

    def forward(self, x):
        return self.bn(x)


def test_batch_norm_with_momentum_none_averages_over_every_batch():
    """Functional ``momentum=None`` follows nn step after step, and converts back."""
    torch.manual_seed(0)
    model = CumulativeBatchNorm()
    x = torch.randn(2, 3, 4, 4)
    conversion = nnconvert.convert(model, "functional", (x,))
    momentum = (
        'momentum=1.0 / float(params["bn.num_batches_tracked"]) if training else 0.0'
    )
    assert momentum in conversion.source
    namespace = load_source(conversion.source)
    function = namespace[conversion.name]
    params = namespace["init_params"]()
    assert function(params, x).shape == x.shape  # eval with no batch counted yet
    model.train()
    for step in range(4):  # one step alone cannot tell 1 / count from momentum=1.0
        batch = torch.randn(2, 3, 4, 4) * (step + 1) + step
        torch.testing.assert_close(function(params, batch, training=True), model(batch))
        for key, value in model.state_dict().items():
            torch.testing.assert_close(params[key], value, msg=key)
    assert int(params["bn.num_batches_tracked"]) == 4
    model.eval()
    torch.testing.assert_close(function(params, x), model(x))

    wrapper = functional_model(function, params, (x,))
    bn = wrapper.module.bn
    assert isinstance(bn, nn.BatchNorm2d) and bn.momentum is None
    for style in ("module", "mixed"):
        back = nnconvert.convert(wrapper, style, (x,))
        assert "self.bn = nn.BatchNorm2d(3, momentum=None)" in back.source
        back.check(train=True)
    again = nnconvert.convert(wrapper, "functional", (x,))
    assert again.source == conversion.source


def test_parameters_and_buffers():
    plain = {
        "fc.weight": torch.zeros(2, 2),
        "bn.running_mean": torch.zeros(2),
        "bn.num_batches_tracked": torch.tensor(0),
        "scale": torch.ones(2),
    }
    assert parameter_names(plain) == {"fc.weight", "scale"}
    marked = dict(plain, **{"fc.weight": nn.Parameter(torch.zeros(2, 2))})
    assert parameter_names(marked) == {"fc.weight"}


@pytest.mark.parametrize(
    "function, cls",
    [
        ("conv_net", "ConvNet"),
        ("net", "Net"),
        ("basic_block_2", "BasicBlock_2"),
        ("tiny_vi_t", "TinyViT"),
        ("mlp", "Mlp"),
    ],
)
def test_class_names(function, cls):
    assert class_name_for(function) == cls


def test_the_wrapper_is_a_module_with_the_dicts_keys():
    def head(params, x, *, training=False):
        return torch.nn.functional.dropout(
            torch.nn.functional.linear(x, params["fc.weight"], params["fc.bias"]),
            0.5,
            training,
        )

    weights = {"fc.weight": torch.randn(3, 4), "fc.bias": torch.zeros(3)}
    x = torch.randn(2, 4)
    read = functional_model(head, weights, (x,))
    model = read.module
    assert isinstance(model, FunctionalModel)
    assert list(model.state_dict()) == list(weights)
    assert isinstance(model.fc, nn.Linear)  # the call's layer, holding the tensors
    assert model.fc.weight.requires_grad
    torch.testing.assert_close(model.eval()(x), head(weights, x))
    conversion = nnconvert.convert(read, "module", (x,))
    assert "self.fc = nn.Linear(4, 3)" in conversion.source
    assert "self.dropout = nn.Dropout()" in conversion.source
    conversion.check(train=True)


# -- containers: a Sequential is a function of its own, a chain inline a ModuleList


def _linear(params, key, x):
    return torch.nn.functional.linear(x, params[f"{key}.weight"], params[f"{key}.bias"])


def chain_with_gap(params, x):
    x = _linear(params, "seq.0", x)
    x = torch.nn.functional.relu(x)
    x = torch.nn.functional.leaky_relu(x, 0.2)
    x = _linear(params, "seq.3", x)
    return torch.tanh(x) + 1


def whole_chain(params, x):
    x = _linear(params, "seq.0", x)
    x = torch.nn.functional.relu(x)
    x = _linear(params, "seq.2", x)
    x = torch.nn.functional.relu(x)
    return x


def residual_member(params, x):
    y = _linear(params, "seq.0", x)
    x = _linear(params, "seq.1", y) + y
    return x


def _weights(*indices: int) -> dict[str, torch.Tensor]:
    weights = {}
    for i in indices:
        weights[f"seq.{i}.weight"] = torch.randn(4, 4)
        weights[f"seq.{i}.bias"] = torch.randn(4)
    return weights


@pytest.mark.parametrize(
    "function, indices, container, forward",
    [
        (
            chain_with_gap,
            (0, 3),
            "nn.ModuleList(\n            [nn.Linear(4, 4), nn.Identity(), nn.Identity(), "
            "nn.Linear(4, 4)]\n        )",
            "x = self.seq[0](x)\n        x = self.relu(x)\n",
        ),
        (
            whole_chain,  # even the whole function: a loop over a ModuleList
            (0, 2),
            "nn.ModuleList([nn.Linear(4, 4), nn.Identity(), nn.Linear(4, 4)])",
            "x = self.seq[0](x)\n        x = self.relu1(x)\n",
        ),
        (
            residual_member,
            (0, 1),
            "nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])",
            # the call's one reader is the statement's sum: ``x``, a chain of it
            "x = self.seq[1](y)\n        x = x + y\n",
        ),
    ],
    ids=lambda v: v.__name__ if callable(v) else "",
)
def test_numbered_weights_used_inline_are_a_module_list(
    function, indices, container, forward
):
    """Functional style writes a loop over an nn.ModuleList inline, an nn.Sequential not."""
    torch.manual_seed(0)
    x = torch.randn(2, 4)
    read = functional_model(function, _weights(*indices), (x,))
    for style in ("module", "mixed"):
        conversion = nnconvert.convert(read, style, (x,))
        source = conversion.source
        assert f"self.seq = {container}\n" in source, source
        if style == "module":
            assert forward in source, source
        assert conversion.load().state_dict().keys() == read.module.state_dict().keys()
        conversion.check(train=True)


SEQUENTIAL_FILE = """
import torch
import torch.nn.functional as F


def sub_params(params, prefix):
    return {{k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}}


def linear(weights, i, x):
    return F.linear(x, weights[f"{{i}}.weight"], weights[f"{{i}}.bias"])


def {name}(params, x):
{body}


def net(params, x):
    x = {name}(sub_params(params, "seq."), x)
    return torch.tanh(x)
"""


def _sequential_file(name: str, body: str, *indices: int):
    """``net`` calling ``name`` over its slice of the weights, ``seq.<i>.weight`` …"""
    body = textwrap.indent(body.strip(), "    ")
    namespace = load_source(SEQUENTIAL_FILE.format(name=name, body=body), "net")
    return namespace["net"], _weights(*indices)


EXACT = [
    (
        "seq",
        "x = linear(params, 0, x)\nx = F.relu(x)\nx = F.leaky_relu(x, 0.2)\n"
        "x = linear(params, 3, x)\nreturn x",
        (0, 3),
        "nn.Sequential(\n            nn.Linear(4, 4), nn.ReLU(), nn.LeakyReLU(0.2), "
        "nn.Linear(4, 4)\n        )",
    ),
    (
        "seq",  # a member without weights before the first one with weights
        "x = F.gelu(x)\nx = linear(params, 1, x)\nreturn x",
        (1,),
        "nn.Sequential(nn.GELU(), nn.Linear(4, 4))",
    ),
    (
        "seq",  # and after the last one (vgg's features)
        "x = linear(params, 0, x)\nx = F.relu(x)\nx = linear(params, 2, x)\n"
        "x = F.relu(x)\nreturn x",
        (0, 2),
        "nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU())",
    ),
    (
        "seq",  # nothing between: nn.Identity, which functional style drops
        "x = linear(params, 0, x)\nx = linear(params, 2, x)\nreturn x",
        (0, 2),
        "nn.Sequential(nn.Linear(4, 4), nn.Identity(), nn.Linear(4, 4))",
    ),
    (
        "seq2",  # numbered, as when a block function took the name
        "x = linear(params, 0, x)\nx = F.relu(x)\nreturn x",
        (0,),
        "nn.Sequential(nn.Linear(4, 4), nn.ReLU())",
    ),
    (
        "stack",  # named otherwise: a subclass, as --to functional names one
        "x = linear(params, 0, x)\nx = F.relu(x)\nx = linear(params, 2, x)\nreturn x",
        (0, 2),
        "Stack()",
    ),
]


@pytest.mark.parametrize(
    "name, body, indices, container", EXACT, ids=[str(i) for i in range(len(EXACT))]
)
def test_a_function_that_is_exactly_a_chain_is_an_nn_sequential(
    name, body, indices, container
):
    torch.manual_seed(0)
    x = torch.randn(2, 4)
    function, weights = _sequential_file(name, body, *indices)
    read = functional_model(function, weights, (x,))
    assert isinstance(read.module.seq, nn.Sequential)
    assert read.built_paths == {"seq"}  # placed where first used, as data
    for style in ("module", "mixed"):
        conversion = nnconvert.convert(read, style, (x,))
        source = conversion.source
        assert f"self.seq = {container}\n" in source, source
        assert "self.seq(x)" in source, source
        assert conversion.load().state_dict().keys() == read.module.state_dict().keys()
        conversion.check(train=True)
    if name == "stack":
        assert (
            "class Stack(nn.Sequential):\n    def __init__(self):\n        super()."
            "__init__(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))\n" in source
        ), source
    functional = nnconvert.convert(read, "functional", (x,))
    called = "stack" if name == "stack" else "seq"
    assert f'x = {called}(sub_params(params, "seq."), x)' in functional.source
    functional.check(train=True)


NOT_EXACT = [
    (  # the last call may be the caller's
        "x = linear(params, 0, x)\nx = F.relu(x)\nx = linear(params, 2, x)\nreturn x + 1",
        (0, 2),
    ),
    (  # two calls for one missing number
        "x = linear(params, 0, x)\nx = F.relu(x)\nx = F.relu(x)\n"
        "x = linear(params, 2, x)\nreturn x",
        (0, 2),
    ),
    ("x = F.relu(x)\nx = F.gelu(x)\nx = linear(params, 1, x)\nreturn x", (1,)),
    ("y = linear(params, 0, x)\nx = linear(params, 1, y) + y\nreturn x", (0, 1)),
    ("x = linear(params, 1, x)\nx = linear(params, 0, x)\nreturn x", (0, 1)),
]


@pytest.mark.parametrize(
    "body, indices", NOT_EXACT, ids=[str(i) for i in range(len(NOT_EXACT))]
)
def test_a_function_that_is_not_exactly_a_chain_stays_a_block(body, indices):
    torch.manual_seed(0)
    x = torch.randn(2, 4)
    function, weights = _sequential_file("seq", body, *indices)
    read = functional_model(function, weights, (x,))
    assert isinstance(read.module.seq, FunctionalModel)
    assert not isinstance(read.module.seq, nn.Sequential)
    assert read.built_paths == frozenset()
    conversion = nnconvert.convert(read, "functional", (x,))
    assert 'x = seq(sub_params(params, "seq."), x)' in conversion.source
    conversion.check(train=True)


TIED_INTO_A_BLOCK = """
import torch.nn.functional as F


def sub_params(params, prefix):
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def doubled(params, x):
    return x * 2


def decoder(params, tokens):
    return doubled(sub_params(params, "twice."), F.embedding(tokens, params["emb.weight"]))


def net(params, tokens):
    shared = {**sub_params(params, "decoder."), "emb.weight": params["emb.weight"]}
    return decoder(shared, tokens) + F.embedding(tokens, params["emb.weight"])
"""


def test_a_block_without_weights_inside_a_block_handed_a_tied_tensor():
    """The Transformer's decoder gets its slice with the encoder's embedding in it.

    A slice cut from that dict (``sub_params(params, "twice.")``, empty: the
    block has no weights) still knows where it was cut, so ``doubled`` is a
    block, as it is where the slice comes from ``params`` itself.
    """
    net = load_source(TIED_INTO_A_BLOCK, "net")["net"]
    weight = torch.randn(10, 4)
    weights = {"emb.weight": weight, "decoder.emb.weight": weight}
    tokens = torch.tensor([[1, 2, 3]])
    read = functional_model(net, weights, (tokens,))
    assert isinstance(read.module.decoder, FunctionalModel)
    assert isinstance(read.module.decoder.twice, FunctionalModel)
    conversion = nnconvert.convert(read, "functional", (tokens,))
    assert "def doubled(params: dict[str, Tensor], x: Tensor)" in conversion.source
    conversion.check(train=True)
