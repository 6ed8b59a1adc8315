"""Front ends and the forward pipeline: one kind of input, facts carried as data.

A class and a functional file both load as a ``ModelInput``; what the
functional front end recognised reaches each traced ``Instance`` as data;
the forward pipeline (trace, passes, printer) never imports the functional
front end; the user's function and module are never changed; train/eval
flags come back per submodule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert import loading
from nnconvert.frontend import ModelInput, model_input
from nnconvert.functional import functional_model, load_functional, load_source
from nnconvert.hierarchy import EVAL_TRACE, TraceVariant, trace_instances
from nnconvert.modes import eval_mode, modes_kept
from nnconvert.options import Style

from .helpers import same_but_stateless_names

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = ROOT / "samples" / "expected"

#: The forward pipeline: it takes a ModelInput and must not know who made it.
FORWARD = (
    [
        ROOT / "nnconvert" / name
        for name in ("api.py", "hierarchy.py", "trace.py", "tracers.py", "check.py")
    ]
    + sorted((ROOT / "nnconvert" / "passes").glob("*.py"))
    + sorted((ROOT / "nnconvert" / "printer").glob("*.py"))
)


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports spelled with their dots."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", FORWARD, ids=lambda p: p.name)
def test_the_forward_pipeline_does_not_know_the_functional_front_end(path):
    imported = _imported_modules(path)
    functional = {
        m for m in imported if m.lstrip(".").split(".")[:2] == ["functional"]
    } | {m for m in imported if "nnconvert.functional" in m or "functional_input" in m}
    assert not functional, functional
    assert "FunctionalModel" not in path.read_text()


class LinearSpelledOut(nn.Module):
    """A class writing its layer's call by hand, over the layer's own tensors."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.norm = nn.LayerNorm(3)

    def forward(self, x):
        x = F.linear(x, self.fc.weight, self.fc.bias)
        return F.layer_norm(x, (3,), self.norm.weight, self.norm.bias, 1e-05)


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_a_class_inputs_call_over_one_layers_tensors_becomes_that_layers_call(style):
    """Lifting is a canonical pass for any input, not only functional files."""
    torch.manual_seed(0)
    x = torch.randn(2, 4)
    conversion = nnconvert.convert(LinearSpelledOut(), style, (x,))
    assert "F.linear" not in conversion.source
    assert "x = self.fc(x)" in conversion.source
    assert "self.fc = nn.Linear(4, 3)" in conversion.source
    assert "self.norm = nn.LayerNorm(3)" in conversion.source
    conversion.check(train=True)


def test_a_class_file_and_a_functional_file_load_as_model_inputs():
    lenet = loading.load_file(ROOT / "samples" / "lenet.py")
    assert isinstance(lenet.model, ModelInput)
    assert lenet.model.function_name is None and not lenet.model.built_paths
    assert lenet.model.name == "Net"
    resnet = loading.load_file(
        EXPECTED / "resnet.functional.py", input_shapes=[(2, 3, 32, 32)]
    )
    assert resnet.model.function_name == "res_net" == resnet.model.name
    assert type(resnet.model.module).__name__ == "ResNet"
    assert resnet.model.built_paths == {
        "layer1",
        "layer2",
        "layer2.0.downsample",
        "layer3",
        "layer3.0.downsample",
    }
    for path in resnet.model.built_paths:
        assert type(resnet.model.module.get_submodule(path)) is nn.Sequential


def test_what_the_front_end_built_reaches_each_instance_as_data():
    loaded = loading.load_file(
        EXPECTED / "resnet.functional.py", input_shapes=[(2, 3, 32, 32)]
    )
    instances = trace_instances(loaded.model, loaded.example_inputs, Style.MODULE)
    built = {i.path: i.built_attributes for i in instances if i.built_attributes}
    assert built == {
        "": {"layer1", "layer2", "layer3"},
        "layer2.0": {"downsample"},
        "layer3.0": {"downsample"},
    }
    # the same module without the facts: nothing is known to be built
    plain = trace_instances(loaded.model.module, loaded.example_inputs, Style.MODULE)
    assert not any(i.built_attributes for i in plain)


def test_the_facts_place_rebuilt_sequentials_where_first_used():
    """Without ``built_paths`` a rebuilt Sequential would sit in key order."""
    loaded = loading.load_file(
        EXPECTED / "resnet.functional.py", input_shapes=[(2, 3, 32, 32)]
    )
    inputs = loaded.example_inputs
    # the golden's structure, its block's parameters named as the golden's
    # basic_block_params names them: the original built as the CLI builds it
    with nnconvert.record_constructors():
        original = loading.import_file(ROOT / "samples" / "resnet.py").ResNet()
    expected = nnconvert.convert(original, "module", inputs).source
    got = nnconvert.convert(loaded.model, "module", inputs).source
    assert same_but_stateless_names(got, expected)  # the blocks' self.relu
    without = nnconvert.convert(loaded.model.module, "module", inputs).source
    assert without != expected


def test_an_instance_holds_graphs_by_trace_variant():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    (instance,) = trace_instances(model, (torch.randn(2, 4),), Style.MODULE)
    assert instance.graph is instance.graphs[EVAL_TRACE]
    assert list(instance.graphs) == [EVAL_TRACE] == [TraceVariant()]
    assert EVAL_TRACE.training is False and EVAL_TRACE.given_inputs is None
    assert TraceVariant(True, frozenset({"mask"})) != EVAL_TRACE
    assert instance.source_map == {}
    with pytest.raises(AttributeError):
        EVAL_TRACE.training = True  # frozen: usable as a key


def test_convert_takes_a_module_or_a_model_input():
    torch.manual_seed(0)
    model, x = LinearSpelledOut(), torch.randn(2, 4)
    read = model_input(model)
    assert model_input(read) is read and read.module is model
    plain = nnconvert.convert(model, "functional", (x,))
    wrapped = nnconvert.convert(read, "functional", (x,))
    assert plain.source == wrapped.source and wrapped.model is model


BLOCKS = """
import torch
import torch.nn.functional as F


def sub_params(params, prefix):
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def block(params, x, scale=2.0):
    return F.relu(F.linear(x, params["fc.weight"], params["fc.bias"])) * scale


def probe():
    pass


def net(params, x, *, training=False):
    probe()
    x = block(sub_params(params, "first."), x)
    return block(sub_params(params, "second."), x)


def init_params():
    params = {}
    for name in ("first", "second"):
        params[name + ".fc.weight"] = torch.randn(4, 4)
        params[name + ".fc.bias"] = torch.zeros(4)
    return params
"""


def test_the_users_functions_and_module_are_never_changed():
    """Not even while the function runs: its module's globals stay the user's."""
    namespace = load_source(BLOCKS, "blocks")
    seen = []
    namespace["probe"] = lambda: seen.append(namespace["block"])
    before = dict(namespace)
    x = torch.randn(2, 4)
    read = functional_model(namespace["net"], namespace["init_params"](), (x,))
    assert type(read.module.first).__name__ == "Block"  # recognised as a block
    for style in Style:
        nnconvert.convert(read, style, (x,)).check(train=True)
    assert len(seen) > 3 and all(b is before["block"] for b in seen)
    assert namespace.keys() == before.keys()
    assert all(namespace[k] is v for k, v in before.items())
    assert namespace["block"].__kwdefaults__ is None
    assert namespace["block"].__defaults__ == (2.0,)


def test_given_weights_are_laid_out_as_init_params_creates_them():
    namespace = load_source(BLOCKS, "blocks")
    created = namespace["init_params"]()
    reversed_weights = dict(reversed(list(created.items())))
    x = torch.randn(2, 4)
    read = load_functional(namespace, namespace["net"], (x,), weights=reversed_weights)
    assert list(read.module.state_dict()) == list(created)
    for key, tensor in read.module.state_dict().items():
        assert torch.equal(tensor, reversed_weights[key])


class Frozen(nn.Module):
    """A model in train mode with one submodule frozen in eval mode."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.norm(x))


def _flags(model: nn.Module) -> dict[str, bool]:
    return {name: m.training for name, m in model.named_modules()}


def test_every_submodule_keeps_its_own_mode_after_converting():
    model = Frozen().train()
    model.norm.eval()
    flags = _flags(model)
    for style in Style:
        nnconvert.convert(model, style, (torch.randn(2, 4),))
        assert _flags(model) == flags


def test_modes_come_back_even_on_errors():
    model = Frozen().train()
    model.norm.eval()
    flags = _flags(model)
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not any(_flags(model).values())
        raise RuntimeError("inside")
    assert _flags(model) == flags
    with modes_kept(model):
        model.train()
    assert _flags(model) == flags
