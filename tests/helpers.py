"""What the tests share; test modules import from here, never from each other.

* samples and goldens: where they are, how a sample is built;
* generated source: the classes and functions it defines;
* the command line, run in-process;
* the benchmark scripts, loaded as modules;
* one-layer models built from the op-spec table's examples;
* functional outputs: their namespace, their ``init_params()``, loading one back;
* graphs before and after a pass, as short text (:func:`graph_text`).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import operator
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

import nnconvert
from nnconvert import loading
from nnconvert.api import execute
from nnconvert.cli import main
from nnconvert.frontend import ModelInput
from nnconvert.functional import load_functional_source, load_source
from nnconvert.opspecs import TRAINING, Example, OpSpec
from nnconvert.options import Style
from nnconvert.source_text import self_path

# -- samples and goldens --------------------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
EXPECTED = SAMPLES / "expected"
SAMPLE_FILES = sorted(SAMPLES.glob("*.py"))


def golden_path(sample: Path, style: Style) -> Path:
    return EXPECTED / f"{sample.stem}.{style.value}.py"


def missing_imports(path: Path) -> list[str]:
    """The libraries a sample imports at its top that are not installed (einops: test-only)."""
    missing = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if importlib.util.find_spec(top) is None and top not in missing:
                missing.append(top)
    return missing


def skip_without_imports(path: Path) -> None:
    """Skip the test when a library the sample imports is missing."""
    for name in missing_imports(path):
        pytest.importorskip(name)


def sample_builder(path: Path):
    """``(build, inputs)``: ``build()`` makes a new model of the sample, as the CLI does."""
    skip_without_imports(path)
    module = loading.import_file(path)
    cls = loading.pick_model(module, path, None)
    build = lambda: loading.build_model(cls, path, {})  # noqa: E731
    return build, loading.example_inputs(module, path, [], [], 10)


def load_sample(path: Path):
    """``(model, inputs)`` of a sample, as the CLI builds them (the model first).

    The model is the CLI's :class:`ModelInput`, which can build the original
    anew: the goldens' ``init_params()`` docstrings say what the CLI's say.
    """
    skip_without_imports(path)
    loaded = loading.load_file(path)
    return loaded.model, loaded.example_inputs


# -- generated source -----------------------------------------------------------


def defined_names(source: str) -> list[str]:
    """The classes and functions a generated file defines, in order."""
    definitions = (ast.ClassDef, ast.FunctionDef)
    return [
        node.name for node in ast.parse(source).body if isinstance(node, definitions)
    ]


# -- the command line -----------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# -- the benchmark scripts -------------------------------------------------------

BENCHMARKS = SAMPLES.parent / "benchmarks"


@functools.cache
def load_benchmark(name: str):
    """``benchmarks/NAME.py``, loaded once (its dataclasses need it in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(
        f"{name}_benchmark", BENCHMARKS / f"{name}.py"
    )
    benchmark = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = benchmark
    spec.loader.exec_module(benchmark)
    return benchmark


# -- one-layer models from the op-spec table ------------------------------------


#: Why a parameter-free layer's name does not come back (passes/styles.py).
STATELESS_NAMES_NOT_CARRIED = (
    "module style names a parameter-free layer the model holds after its "
    "attribute (self.relu called twice, self.attn_dropout) and declares it "
    "where the model does; functional and mixed style write it as a call "
    "(F.relu(x)), which carries no attribute name, so read back it is named "
    "by its stem (self.relu1, self.dropout1) and declared where first used"
)


def inlined_stateless_layers(source: str) -> str:
    """``source`` with each parameter-free layer's attribute replaced by its constructor.

    ``self.relu = nn.ReLU(inplace=True)`` goes, and ``self.relu(x)`` reads
    ``nn.ReLU(inplace=True)(x)``: what stays is what the names of such
    layers cannot change (:data:`STATELESS_NAMES_NOT_CARRIED`), so two
    outputs that differ only there compare equal.
    """
    layers: dict[str, str] = {}
    dropped: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        name = self_path(node.targets[0])
        if not name or "." in name or not isinstance(node.value, ast.Call):
            continue  # only ``self.<name> = <call>``
        built_text = ast.unparse(node.value)
        try:
            built = eval(built_text, {"nn": nn})
        except Exception:
            continue  # a name of the class (nn.Dropout(dropout)), a block
        if not isinstance(built, nn.Module) or any(
            True for _ in [*built.parameters(), *built.buffers()]
        ):
            continue
        layers[name] = built_text
        dropped |= set(range(node.lineno, node.end_lineno + 1))
    lines = source.splitlines()
    text = "\n".join(l for i, l in enumerate(lines, 1) if i not in dropped)
    for name, built_text in layers.items():
        text = re.sub(rf"\bself\.{name}\(", f"{built_text}(", text)
    return text


def same_but_stateless_names(got: str, expected: str) -> bool:
    """``got`` is ``expected``, or differs only in its parameter-free layers' names.

    For module style read from a functional or mixed output
    (:data:`STATELESS_NAMES_NOT_CARRIED`).
    """
    return got == expected or (
        inlined_stateless_layers(got) == inlined_stateless_layers(expected)
    )


#: Why a parameter-free layer's arguments come back as numbers.
STATELESS_ARGUMENTS_NOT_CARRIED = (
    "module style writes a parameter-free layer's arguments as the user's "
    "__init__ does (nn.Dropout(dropout)); mixed style writes the layer as a "
    "call in forward reading a setting (F.dropout(x, self.attn_dropout), "
    "self.attn_dropout = dropout) or, printed from the trace where the class "
    "cannot write it, a number (F.dropout(x, 0.1)): read back, module style "
    "names the layer by its stem (self.dropout1 = nn.Dropout(dropout)) or "
    "the class takes no such parameter"
)
#: The samples whose module output writes such arguments with the source's names.
STATELESS_ARGUMENTS_SAMPLES = frozenset(
    {"bert_encoder", "cached_mask", "gpt", "seq2seq_transformer"}
)
#: The samples whose module output names such a layer otherwise than its stem
#: would: module style read from their functional or mixed output differs.
NAMED_STATELESS_SAMPLES = frozenset(
    {
        "bert_encoder",  # self.dropout of the classifier head
        "cached_mask",
        "char_lstm",
        "convnet",  # one self.relu, called twice
        "gpt",  # self.attn_dropout, self.resid_dropout, self.drop
        "gru_classifier",
        "resnet",  # BasicBlock's one self.relu
        "seq2seq_transformer",
    }
)


class LayerModel(nn.Module):
    """``forward`` is one call of ``self.layer``: the module-style input."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


class TwoInputLayerModel(LayerModel):
    def forward(self, x, y):
        return self.layer(x, y)


class ThreeInputLayerModel(LayerModel):
    def forward(self, x, y, z):
        return self.layer(x, y, z)


class FunctionalCallModel(nn.Module):
    """``forward`` is the layer's functional call, written out: the functional-style input."""

    def __init__(self, spec: OpSpec, layer: nn.Module):
        super().__init__()
        self.function = spec.function
        self.arguments = spec.explicit_call_arguments(layer)

    def call_arguments(self) -> dict:
        return {
            k: self.training if v is TRAINING else v for k, v in self.arguments.items()
        }

    def forward(self, x):
        return self.function(x, **self.call_arguments())


class TwoInputFunctionalCallModel(FunctionalCallModel):
    def forward(self, x, y):
        return self.function(x, y, **self.call_arguments())


class KeywordLayerModel(LayerModel):
    """``forward(a, b, c, …)`` calls the layer with the example's keywords.

    The first inputs go positionally; each keyword that is a shape takes the
    next input, in order (``self.layer(a, b, c, need_weights=False,
    attn_mask=d)``).
    """

    def __init__(self, layer: nn.Module, positional: int, keywords: tuple):
        super().__init__(layer)
        self.positional = positional
        self.keywords = keywords

    def call(self, *inputs):
        rest = iter(inputs[self.positional :])
        keywords = {k: next(rest) if _is_shape(v) else v for k, v in self.keywords}
        return self.layer(*inputs[: self.positional], **keywords)


def _keyword_model_class(count: int) -> type:
    """A :class:`KeywordLayerModel` whose ``forward`` takes ``count`` named inputs."""
    names = ", ".join(f"x{i}" for i in range(count))
    namespace: dict = {}
    exec(f"def forward(self, {names}):\n    return self.call({names})\n", namespace)
    return type(
        f"KeywordLayerModel{count}",
        (KeywordLayerModel,),
        {"forward": namespace["forward"]},
    )


def _is_shape(value) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, int) for v in value)


def layer_model(example: Example) -> nn.Module:
    layer = build_layer(example)
    if example.keywords or len(example.inputs) > 3:
        model_class = _keyword_model_class(len(input_shapes(example)))
        return model_class(layer, len(example.inputs), example.keywords)
    models = (LayerModel, TwoInputLayerModel, ThreeInputLayerModel)
    return models[len(example.inputs) - 1](layer)


def input_shapes(example: Example) -> tuple[tuple[int, ...], ...]:
    """The shapes of every model input: the positional ones, then keyword tensors."""
    return example.inputs + tuple(v for _, v in example.keywords if _is_shape(v))


def functional_call_model(spec: OpSpec, example: Example) -> nn.Module:
    layer = build_layer(example)
    model_class = (FunctionalCallModel, TwoInputFunctionalCallModel)[
        len(example.inputs) - 1
    ]
    return model_class(spec, layer)


def build_layer(example: Example) -> nn.Module:
    return eval(example.layer, {"nn": nn, "torch": torch, "F": F})


def build_inputs(example: Example, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    if example.high is not None:
        return tuple(
            torch.randint(0, example.high, s, generator=generator)
            for s in input_shapes(example)
        )
    return tuple(torch.randn(s, generator=generator) for s in input_shapes(example))


class AliasCallModel(nn.Module):
    """``forward`` calls another spelling of a layer's function (``torch.relu``, ``x.relu()``)."""

    def __init__(self, target, arguments: dict):
        super().__init__()
        self.target = target
        self.arguments = arguments

    def forward(self, x):
        if isinstance(self.target, str):
            return getattr(x, self.target)(**self.arguments)
        return self.target(x, **self.arguments)


# -- functional outputs ---------------------------------------------------------

SEEDS = (0, 12345)


def functional(model: nn.Module, inputs: tuple, **options) -> dict:
    """The namespace of ``model``'s functional output."""
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs, **options)
    return execute(conversion.source, "<test init_params>") | {
        "__source__": conversion.source,
        "__name__": conversion.name,
    }


def assert_same_construction(
    build, init_params, unknown: set[str] = frozenset(), *, reordered: bool = False
):
    """``init_params()`` after a seed is ``build().state_dict()`` after that seed.

    Same keys (in the same order unless ``reordered``), shapes, dtypes, values
    bit for bit (except the ``unknown`` keys) and the same number of draws.
    """
    for seed in SEEDS:
        torch.manual_seed(seed)
        expected = build().state_dict()
        after_build = torch.get_rng_state()
        torch.manual_seed(seed)
        params = init_params()
        assert torch.equal(torch.get_rng_state(), after_build), "different draws"
        assert sorted(params) == sorted(expected)
        assert reordered or list(params) == list(expected)
        for key, tensor in expected.items():
            got = params[key]
            assert type(got) is torch.Tensor, key
            assert got.shape == tensor.shape, key
            assert got.dtype == tensor.dtype, key
            assert not got.requires_grad, key
            if key not in unknown:
                assert torch.equal(got, tensor), f"{key} differs at seed {seed}"


def checked_conversion(
    model_class: type[nn.Module], style: Style, inputs: tuple
) -> nnconvert.Conversion:
    """``model_class()`` (seed 0, eval mode) converted to ``style`` and checked in eval and train."""
    torch.manual_seed(0)
    conversion = nnconvert.convert(model_class().eval(), style, inputs)
    conversion.check()
    conversion.check(train=True)
    return conversion


def recorded_conversion(
    build: Callable[[], nn.Module],
    style: Style,
    inputs: tuple,
    *,
    record: bool = True,
    **options: Any,
) -> nnconvert.Conversion:
    """``build()`` at seed 0 under the constructor record (as the CLI builds), converted and checked.

    ``record=False`` builds it without (``convert(model)`` on an object).
    ``options`` go to :func:`nnconvert.convert`; checked in train mode.
    """
    torch.manual_seed(0)
    with nnconvert.record_constructors() if record else contextlib.nullcontext():
        model = build()
    conversion = nnconvert.convert(model, style, inputs, **options)
    conversion.check(train=True)
    return conversion


def load_output(
    conversion: nnconvert.Conversion, class_name: str | None = None
) -> ModelInput:
    """The output as a model again: the class with the weights, or the wrapped function."""
    if conversion.style is not Style.FUNCTIONAL:
        return ModelInput(conversion.load())
    return load_functional_source(
        conversion.source,
        conversion.name,
        conversion.example_inputs,
        weights=conversion.model.state_dict(keep_vars=True),
        class_name=class_name,
    )


# -- graphs, before and after a pass ----------------------------------------------


def module_with_forward(forward) -> nn.Module:
    """An ``nn.Module`` whose ``forward`` is ``forward(self, ...)``."""
    return type("Before", (nn.Module,), {"forward": forward})()


def code(text: str) -> str:
    """``text`` without the indentation and blank lines around it."""
    return textwrap.dedent(text).strip()


def graph_text(graph_module: torch.fx.GraphModule) -> str:
    """A graph as short Python, one line per node: the form before/after tests compare.

    ``relu = F.relu(x)``, ``view = torch.flatten(x, start_dim=1)``, ``conv =
    self.conv(x)``, ``add_ = x.add_(1)``, ``return (a, b)``. Node names are
    fx's; inputs are not listed; attributes read with ``get_attr`` are written
    where they are used (``self.training``, ``self.conv.weight``). Independent
    of nnconvert's printer on purpose.
    """
    lines = []
    for node in graph_module.graph.nodes:
        if node.op in ("placeholder", "get_attr"):
            continue
        if node.op == "output":
            lines.append(f"return {_argument(node.args[0])}")
        else:
            lines.append(f"{node.name} = {_expression(node)}")
    return "\n".join(lines)


_INFIX = {
    operator.add: "+",
    operator.sub: "-",
    operator.mul: "*",
    operator.truediv: "/",
    operator.floordiv: "//",
    operator.matmul: "@",
}


def _expression(node: torch.fx.Node) -> str:
    args = [_argument(a) for a in node.args]
    if node.op == "call_function" and node.target in _INFIX and not node.kwargs:
        return f" {_INFIX[node.target]} ".join(args)
    if node.op == "call_function" and node.target is operator.getitem:
        index = node.args[1]
        inside = (
            ", ".join(map(_argument, index)) if isinstance(index, tuple) else args[1]
        )
        return f"{args[0]}[{inside}]"
    if node.op == "call_function" and node.target is getattr:
        return f"{args[0]}.{node.args[1]}"
    arguments = ", ".join(
        args + [f"{k}={_argument(v)}" for k, v in node.kwargs.items()]
    )
    if node.op == "call_method":
        receiver, *rest = args
        arguments = ", ".join(
            rest + [f"{k}={_argument(v)}" for k, v in node.kwargs.items()]
        )
        return f"{receiver}.{node.target}({arguments})"
    if node.op == "call_module":
        return f"self.{node.target}({arguments})"
    return f"{_function_name(node.target)}({arguments})"


def _argument(value) -> str:
    if isinstance(value, torch.fx.Node):
        return f"self.{value.target}" if value.op == "get_attr" else value.name
    if isinstance(value, tuple):
        inside = ", ".join(map(_argument, value))
        return f"({inside},)" if len(value) == 1 else f"({inside})"
    if isinstance(value, list):
        return f"[{', '.join(map(_argument, value))}]"
    if isinstance(value, dict):
        items = ", ".join(f"{_argument(k)}: {_argument(v)}" for k, v in value.items())
        return f"{{{items}}}"
    if isinstance(value, slice):
        parts = [value.start, value.stop] + ([value.step] if value.step else [])
        return ":".join("" if p is None else _argument(p) for p in parts)
    if value is Ellipsis:
        return "..."
    return repr(value)


def _function_name(function) -> str:
    """``F.relu``, ``torch.flatten``, ``operator.neg``, ``count_batch``: short and unambiguous."""
    for prefix, namespace in (("F", F), ("torch", torch)):
        for name, value in vars(namespace).items():
            if value is function and not name.startswith("_"):
                return f"{prefix}.{name}"
    if getattr(operator, function.__name__, None) is function:
        return f"operator.{function.__name__}"
    return function.__name__  # a builtin (len) or a helper (count_batch)


def source_classes(source: str) -> dict[str, Any]:
    """The names a source file defines, executed as a file of its own."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "output.py", "exec"), namespace)
    return namespace


def assert_builds_alike(
    original: str, rewritten: str, name: str, builds: list[dict[str, Any]], x: Any
) -> None:
    """Class ``name`` of both sources, built with each of ``builds``, computes the same.

    The rewritten one holds the original's weights; both run in train mode
    under one seed (dropout draws alike), so a branch the conversion's own
    trace never took is checked too.
    """
    original_class = source_classes(original)[name]
    rewritten_class = source_classes(rewritten)[name]
    for keywords in builds:
        built = original_class(**keywords)
        rebuilt = rewritten_class(**keywords)
        rebuilt.load_state_dict(built.state_dict())
        torch.manual_seed(1)
        expected = built.train()(x)
        torch.manual_seed(1)
        assert torch.equal(rebuilt.train()(x), expected), keywords
