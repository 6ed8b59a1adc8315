"""Layer functions defined with only the options a file's calls pass (``opspecs/trimmed.py``).

Generated from the table: every example of the recurrent rows (the cells'
too) converts to a functional file whose ``lstm``/``gru``/``rnn``
(``lstm_cell`` ...) takes exactly the parameters its call passes, reads no
option it dropped, and passes the eval and train checks. Every trimming of
each recurrent function (each subset of its options) computes what the
layer or cell computes and reads back as its row; the transformer
functions' trimmings (many subsets) compile and read back, and the table's
transformer examples (``tests/test_layers.py``) check what they compute. Files written with the whole definitions still
read back. The folding itself is checked on before/after pairs.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.functional import functional_model, load_source
from nnconvert.functional.source import rewrite_source
from nnconvert.opspecs import SPECS, recurrent_dict, transformer, transformer_dict
from nnconvert.opspecs.trimmed import trimmed_source

from .helpers import build_inputs, layer_model, load_sample, run

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LEGACY = Path(__file__).resolve().parent / "legacy"

CASES = [
    pytest.param(spec, example, id=example.layer)
    for spec in SPECS
    if spec.dict_form is not None
    and spec.dict_form.function in recurrent_dict.FUNCTIONS
    for example in spec.examples
]


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def _options(function) -> list[str]:
    """The parameters a trimming may drop."""
    return [
        name
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty and name not in recurrent_dict.KEPT
    ]


def _read_names(definition: ast.FunctionDef) -> set[str]:
    """Names the definition reads and never assigns: its parameters and globals."""
    names = [n for n in ast.walk(definition) if isinstance(n, ast.Name)]
    stored = {n.id for n in names if isinstance(n.ctx, ast.Store)}
    return {n.id for n in names if isinstance(n.ctx, ast.Load)} - stored


def test_the_table_has_recurrent_cases():
    assert len(CASES) >= 3 * 6


@pytest.mark.parametrize("spec, example", CASES)
def test_the_definition_takes_what_its_call_passes(spec, example):
    function = spec.dict_form.function
    conversion = nnconvert.convert(
        layer_model(example), "functional", build_inputs(example)
    )
    tree = ast.parse(conversion.source)
    (definition,) = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == function.__name__
    ]
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == function.__name__
    ]
    assert calls
    names = _parameters(function)
    passed = {"input", "weights", *recurrent_dict.KEPT}
    for call in calls:
        passed |= {*names[: len(call.args)], *(k.arg for k in call.keywords)}
    assert [a.arg for a in definition.args.args] == [n for n in names if n in passed]
    dropped = set(names) - passed
    assert not dropped & _read_names(definition)
    conversion.check(train=True)


def _configuration(cls: type[nn.Module], options: tuple[str, ...]) -> dict:
    """Constructor keywords that set each option of ``options`` off its default (not ``bias``: the call passes it as well)."""
    values = {
        "batch_first": True,
        "bidirectional": True,
        "proj_size": 3,
        "nonlinearity": "relu",
        "dropout": 0.5,
    }
    return {k: v for k, v in values.items() if k in options}


def _trimmings(function, arguments: str):
    """Each subset of ``function``'s options and its trimmed definition, run.

    Checked first: the definition takes exactly the options kept, reads none
    of the others, and a call of it (``arguments``: ``"x, weights"``) is
    recognised as the dict form it trims.
    """
    options = _options(function)
    subsets = itertools.chain.from_iterable(
        itertools.combinations(options, n) for n in range(len(options) + 1)
    )
    for subset in subsets:
        text = trimmed_source(function, subset, recurrent_dict.KEPT)
        definition = ast.parse(text).body[0]
        assert [a.arg for a in definition.args.args] == [
            n for n in _parameters(function) if n not in options or n in subset
        ]
        assert not (set(options) - set(subset)) & _read_names(definition)
        call = f"\n\nresult = {function.__name__}({arguments})\n"
        tree, _ = rewrite_source(text + call, "<trimmed>")
        called = ast.unparse(tree.body[-1])
        assert called.endswith(f".dict_{function.__name__}({arguments})"), subset
        namespace = {"torch": torch, "F": torch.nn.functional, "Tensor": torch.Tensor}
        exec(compile(text, "<trimmed>", "exec"), namespace)
        yield subset, namespace[function.__name__]


MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
#: The layers' functions: the cells' (``recurrent_dict.CELLS``) have a test of their own.
LAYERS = [f for f in recurrent_dict.FUNCTIONS if f not in recurrent_dict.CELLS]


@pytest.mark.parametrize("function", LAYERS, ids=lambda f: f.__name__)
def test_every_trimming_computes_the_layer_and_reads_back(function):
    """Each subset of options: the trimmed function equals the layer, and is recognised."""
    cls = MODULES[function.__name__]
    for subset, trimmed in _trimmings(function, "x, weights"):
        torch.manual_seed(0)
        bias = "bias" not in subset
        layer = cls(4, 8, num_layers=2, bias=bias, **_configuration(cls, subset))
        layer.eval()
        batch_first = "batch_first" in subset
        x = torch.randn((3, 5, 4) if batch_first else (5, 3, 4))
        keywords = {"num_layers": 2, **_configuration(cls, subset)}
        if "training" in subset:
            keywords["training"] = False
        hx = None
        if "hx" in subset:
            layers = 2 * (2 if "bidirectional" in subset else 1)
            c = torch.randn(layers, 3, 8)
            hx = (torch.randn(layers, 3, keywords.get("proj_size", 8)), c)
            keywords["hx"] = hx if cls is nn.LSTM else c
        if "bias" in subset:
            keywords["bias"] = False
        got = trimmed(x, dict(layer.state_dict()), **keywords)
        torch.testing.assert_close(got, layer(x, keywords.get("hx")))


CELLS = {"lstm_cell": nn.LSTMCell, "gru_cell": nn.GRUCell, "rnn_cell": nn.RNNCell}


@pytest.mark.parametrize("function", recurrent_dict.CELLS, ids=lambda f: f.__name__)
def test_every_trimming_of_a_cell_computes_the_cell_and_reads_back(function):
    """Each subset of a cell's options (``hx``, ``nonlinearity``), with and
    without biases, batched and not: the trimmed function equals the cell and
    is recognised as the dict form (the weights first)."""
    cls = CELLS[function.__name__]
    for subset, trimmed in _trimmings(function, "weights, x"):
        for bias, batch in itertools.product((True, False), ((3,), ())):
            torch.manual_seed(0)
            layer = cls(4, 8, bias=bias, **_configuration(cls, subset)).eval()
            x = torch.randn(*batch, 4)
            keywords = _configuration(cls, subset)
            hx = None
            if "hx" in subset:
                h = torch.randn(*batch, 8)
                hx = keywords["hx"] = (
                    (h, torch.randn(*batch, 8)) if cls is nn.LSTMCell else h
                )
            weights = dict(layer.state_dict())
            got = trimmed(weights, x, **keywords)
            torch.testing.assert_close(got, layer(x, hx))


def test_the_folding_before_and_after():
    def sample(x, flag: bool = False, size: int = 0, mode: str = "a"):
        if flag:  # only with flag
            x = x + 1
        else:
            x = x - 1
        y = x * (2 if flag else 1) + size
        z = size or y.shape[0]
        if mode == "a" and x.dim() > 1:
            y = y.flatten()
        return y if not flag else -y, z

    assert trimmed_source(sample, ["mode"]) == (
        'def sample(x, mode: str = "a"):\n'
        "    x = x - 1\n"
        "    y = x\n"
        "    z = y.shape[0]\n"
        '    if mode == "a" and x.dim() > 1:\n'
        "        y = y.flatten()\n"
        "    return (y, z)\n"
    )
    assert trimmed_source(sample, []).splitlines()[4:6] == [
        "    if x.dim() > 1:",
        "        y = y.flatten()",
    ]
    whole = trimmed_source(sample, ["flag", "size", "mode"])
    assert ast.dump(ast.parse(whole)) == ast.dump(
        ast.parse(textwrap.dedent(inspect.getsource(sample)))
    )


def test_an_option_nothing_decides_reads_as_its_literal():
    def literal(x, p: float = 0.1, eps: float = 1e-05, flag: bool | None = None):
        x = torch.nn.functional.layer_norm(x, (3,), eps=eps)
        return torch.nn.functional.dropout(x, p, training=bool(flag))

    assert trimmed_source(literal, []).splitlines()[1:] == [
        "    x = torch.nn.functional.layer_norm(x, (3,))",
        "    return torch.nn.functional.dropout(x, 0.1, training=False)",
    ]


#: Functional goldens as written with the whole definitions (before trimming).
UNTRIMMED = {
    "char_lstm": (
        "--input-shape",
        "2,12",
        "--input-dtype",
        "int64",
        "--input-high",
        "40",
    ),
    "gru_classifier": (
        "--input-shape",
        "3,11",
        "--input-dtype",
        "int64",
        "--input-high",
        "50",
    ),
}


@pytest.mark.parametrize("style", ["module", "mixed"])
@pytest.mark.parametrize("sample", list(UNTRIMMED))
def test_the_whole_definitions_still_read_back(sample, style):
    """A functional file whose ``lstm`` has every option reads back as today's does."""
    earlier = LEGACY / f"{sample}.untrimmed.functional.py"
    today = SAMPLES / "expected" / f"{sample}.functional.py"
    assert "batched = input.dim() == 3" in earlier.read_text()
    assert "batched = input.dim() == 3" not in today.read_text()
    results = [
        run("convert", path, "--to", style, *UNTRIMMED[sample])
        for path in (earlier, today)
    ]
    for result in results:
        assert result.exit_code == 0, result.output
        assert "ok    train, gradients" in result.stderr
    assert results[0].stdout == results[1].stdout


def test_an_option_assigned_where_a_loop_or_closure_reads_it_is_refused():
    """Such a read sees the default on one run and the new value on another."""

    def closure(x, flag: bool = False):
        def step(y):
            return y + 1 if flag else y

        out = step(x)
        flag = True
        return out, step(x)

    def loop(x, flag: bool = False):
        for _ in range(2):
            x = x + 1 if flag else x
            flag = True
        return x

    for function in (closure, loop):
        assert function(0) == ((0, 1) if function is closure else 1)
        with pytest.raises(ValueError, match="assigned and read"):
            trimmed_source(function, [])
        trimmed_source(function, ["flag"])  # kept: nothing to fold


@pytest.mark.parametrize(
    "sample, function",
    [("bert_encoder", "bert_encoder"), ("seq2seq_transformer", "seq2_seq_transformer")],
)
def test_the_whole_transformer_definitions_still_read_back(sample, function):
    """A file whose ``transformer_encoder`` has every option lifts back as today's does."""
    model, inputs = load_sample(SAMPLES / f"{sample}.py")
    params = dict(model.module.state_dict())
    texts = [
        (LEGACY / f"{sample}.untrimmed.functional.py").read_text(),
        (SAMPLES / "expected" / f"{sample}.functional.py").read_text(),
    ]
    assert "    norm_first: bool = False,\n" in texts[0]
    assert "    norm_first: bool = False,\n" not in texts[1]
    lifted = []
    for text in texts:
        namespace = load_source(text)
        wrapper = functional_model(namespace[function], params, inputs)
        conversion = nnconvert.convert(wrapper, "module", inputs)
        conversion.check(train=True)
        lifted.append(conversion.source)
    assert lifted[0] == lifted[1]
    assert "nn.Transformer" in lifted[0]


def _some_subsets(options: list[str]) -> list[tuple[str, ...]]:
    """Every subset of at most two options, and every one missing at most one."""
    small = [c for n in range(3) for c in itertools.combinations(options, n)]
    large = [tuple(o for o in options if o != left) for left in options]
    return small + large + [tuple(options)]


#: Each transformer function and the name the helper rows hold it by: the
#: list form under its own, the dict form as ``dict_transformer_encoder``.
TRANSFORMER_FUNCTIONS = [
    pytest.param(f, f.__name__, id=f"list-{f.__name__}") for f in transformer.FUNCTIONS
] + [
    pytest.param(f, f"dict_{f.__name__}", id=f"dict-{f.__name__}")
    for f in transformer_dict.FUNCTIONS
]


@pytest.mark.parametrize("function, held_as", TRANSFORMER_FUNCTIONS)
def test_transformer_trimmings_compile_and_read_back(function, held_as):
    """The layer examples check what trimmed definitions compute; here, that each reads back.

    As the row it was trimmed from: the list form or the dict form, which
    share a name and parameters.
    """
    options = [
        name
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty and name not in transformer.KEPT
    ]
    for subset in _some_subsets(options):
        text = trimmed_source(function, subset, transformer.KEPT)
        compile(text, "<trimmed>", "exec")
        definition = ast.parse(text).body[0]
        assert not (set(options) - set(subset)) & _read_names(definition), subset
        call = f"\n\nresult = {function.__name__}(x, weights)\n"
        tree, _ = rewrite_source(text + call, "<trimmed>")
        called = ast.unparse(tree.body[-1])
        assert called.endswith(f".{held_as}(x, weights)"), subset


def test_a_trimmed_docstring_says_nothing_of_dropped_options():
    """``transformer_encoder`` without ``nested`` drops its note on ``nested``, rewrapped."""
    function, kept = transformer_dict.transformer_encoder, transformer.KEPT
    whole = trimmed_source(function, ["nested"], kept)
    trimmed = trimmed_source(function, [], kept)
    assert "``nested``:" in whole and "nested" not in trimmed
    docstring = ast.get_docstring(ast.parse(trimmed).body[0])
    assert docstring.rstrip().endswith("then ``norm.weight`` (and ``norm.bias``).")
    notes = trimmed.split('"""')[1].splitlines()[2:]
    assert notes and max(map(len, notes)) <= 76


def test_a_definition_with_another_docstring_still_reads_back():
    """Recognised by its code: an edited docstring, or an earlier version's notes."""
    function = transformer_dict.transformer_encoder
    text = trimmed_source(function, ["nested"], transformer.KEPT)
    without_note = trimmed_source(function, [], transformer.KEPT)
    definition = ast.parse(without_note).body[0]
    definition.body[0] = ast.Expr(ast.Constant("My own words on this function."))
    for written in (text, ast.unparse(definition)):
        call = "\n\nresult = transformer_encoder(x, weights)\n"
        tree, _ = rewrite_source(written + call, "<trimmed>")
        called = ast.unparse(tree.body[-1])
        assert called.endswith(".dict_transformer_encoder(x, weights)")
    # an earlier version's text: the note on ``nested`` in a definition without it
    earlier = without_note.replace(
        "(and ``norm.bias``).", "(and ``norm.bias``). ``nested``: gone."
    )
    tree, _ = rewrite_source(earlier + call, "<earlier>")
    assert ast.unparse(tree.body[-1]).endswith(".dict_transformer_encoder(x, weights)")
