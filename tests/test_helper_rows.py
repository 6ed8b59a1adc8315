"""Helper rows and prologue rows, before and after (in the style of codemod tests).

Each helper row of ``nnconvert/opspecs/helpers.py`` is recognised in source,
printed, and lifted back into its layer; each prologue an op-spec row declares
(``OpSpec.prologues``) is written out by the style pass and read back by the
lifting pass. The tables drive the parametrisation, so a new row is tested too.
"""

from __future__ import annotations

import ast
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from nnconvert.attributes import attribute_at
from nnconvert.functional.source import HELPER, rewrite_source
from nnconvert.opspecs import SPECS
from nnconvert.opspecs.helpers import (
    COUNT_BATCH,
    CUMULATIVE_MOMENTUM,
    HELPERS,
    SUB_PARAMS,
    count_batch,
    cumulative_momentum,
    helper_for,
)
from nnconvert.opspecs.impurity import IMPURE_FUNCTIONS
from nnconvert.opspecs.spec import bind, parse_signature
from nnconvert.options import Style
from nnconvert.passes.canonicalize import canonicalize
from nnconvert.passes.graph_utils import (
    TRAINING_ATTRIBUTE,
    is_impure,
    remove_dead_code,
)
from nnconvert.passes.lift import lift_calls
from nnconvert.passes.styles import to_functional
from nnconvert.printer.body import print_body
from nnconvert.printer.statements import plan_statements
from nnconvert.trace import trace

from .helpers import build_inputs, build_layer, layer_model

RECOGNISED = [h for h in HELPERS if h.slots is not None]


def rewritten(source: str) -> str:
    tree, _ = rewrite_source(textwrap.dedent(source), "<test>")
    return ast.unparse(tree)


def unparsed(source: str) -> str:
    return ast.unparse(ast.parse(textwrap.dedent(source)))


# -- recognised from source ----------------------------------------------------


@pytest.mark.parametrize(
    "before, after",
    [
        (
            """
            def f(params, x, training=False):
                if training:
                    params["bn.num_batches_tracked"] += 1
                return x
            """,
            f"""
            def f(params, x, training=False):
                {HELPER}.count_batch(params["bn.num_batches_tracked"], training)
                return x
            """,
        ),
        (
            """
            def f(params, x, training=False):
                m = 1 / float(params["bn.num_batches_tracked"]) if training else 0
                return m
            """,
            f"""
            def f(params, x, training=False):
                m = {HELPER}.cumulative_momentum(params["bn.num_batches_tracked"], training)
                return m
            """,
        ),
        (  # 1.0 is not the int 1 that count_batch adds; True is no number
            """
            def f(params, training):
                if training:
                    params["n"] += 1.0
                return 1.0 / float(params["n"]) if training else False
            """,
            """
            def f(params, training):
                if training:
                    params["n"] += 1.0
                return 1.0 / float(params["n"]) if training else False
            """,
        ),
        (  # only over the weight dict, a function's first parameter ``params``
            """
            def f(weights, training):
                if training:
                    weights["n"] += 1
            """,
            """
            def f(weights, training):
                if training:
                    weights["n"] += 1
            """,
        ),
    ],
)
def test_source_rewrite(before, after):
    assert rewritten(before) == unparsed(after)


@pytest.mark.parametrize("helper", RECOGNISED, ids=lambda h: h.name)
def test_every_recognised_row_reads_its_own_printed_form(helper):
    """What ``--to functional`` prints is what functional input reads back."""
    arguments = {"counter": 'params["bn.num_batches_tracked"]', "training": "training"}
    printed = helper.print([arguments[p] for p in helper.parameters])
    body = textwrap.indent("\n".join(printed), "    ")
    if not helper.is_statement:
        body = f"    value = {printed[0]}"
    source = f"def f(params, training):\n{body}\n"
    call = f"{HELPER}.{helper.name}(params['bn.num_batches_tracked'], training)"
    assert call in rewritten(source)


def test_rows_know_their_functions():
    assert helper_for(count_batch) is COUNT_BATCH
    assert helper_for(cumulative_momentum) is CUMULATIVE_MOMENTUM
    assert helper_for(F.relu) is None and helper_for([]) is None
    assert count_batch in IMPURE_FUNCTIONS  # its row says impure
    assert cumulative_momentum not in IMPURE_FUNCTIONS


# -- printed -------------------------------------------------------------------


def _batch_norm_graph() -> fx.Graph:
    """``F.batch_norm`` as functional input traces BatchNorm with ``momentum=None``."""
    graph = fx.Graph()
    x = graph.placeholder("x")
    x.meta["value"] = torch.empty(2, 3, 4, 4, device="meta")
    counter = graph.get_attr("bn.num_batches_tracked")
    training = graph.get_attr(TRAINING_ATTRIBUTE)
    graph.call_function(count_batch, (counter, training))
    momentum = graph.call_function(cumulative_momentum, (counter, training))
    arguments = {"training": training, "momentum": momentum}
    for name in ("running_mean", "running_var", "weight", "bias"):
        arguments[name] = graph.get_attr(f"bn.{name}")
    out = graph.call_function(F.batch_norm, (x,), arguments)
    out.meta["value"] = x.meta["value"]
    graph.output(out)
    return graph


def test_helpers_print_their_forms():
    graph = _batch_norm_graph()
    body = print_body(graph, Style.FUNCTIONAL, plan_statements(graph, Style.FUNCTIONAL))
    assert body.parameters == ["x: Tensor"]
    assert body.lines == [
        "if training:",
        '    params["bn.num_batches_tracked"] += 1',
        'x = F.batch_norm(x, params["bn.running_mean"], params["bn.running_var"], '
        'params["bn.weight"], params["bn.bias"], training=training, '
        'momentum=1.0 / float(params["bn.num_batches_tracked"]) if training else 0.0)',
        "return x",
    ]


def test_count_batch_is_never_dropped():
    graph = _batch_norm_graph()
    (update,) = [n for n in graph.nodes if n.target is count_batch]
    (momentum,) = [n for n in graph.nodes if n.target is cumulative_momentum]
    assert is_impure(update) and not is_impure(momentum)


def test_sub_params_is_a_plain_call_with_its_definition():
    assert SUB_PARAMS.print(["params", '"layer1.0."']) == [
        'sub_params(params, "layer1.0.")'
    ]
    namespace: dict = {}
    exec("from torch import Tensor\n" + SUB_PARAMS.definition, namespace)
    weights = {"layer1.0.weight": 1, "layer1.1.weight": 2, "fc.bias": 3}
    assert namespace["sub_params"](weights, "layer1.") == {
        "0.weight": 1,
        "1.weight": 2,
    }


# -- lifted back ---------------------------------------------------------------


class _Host(nn.Module):
    """A functional input's root: plain hosts of tensors at their keys."""

    def __init__(self):
        super().__init__()
        self.bn = nn.Module()
        layer = nn.BatchNorm2d(3)
        for name, tensor in layer.named_parameters():
            self.bn.register_parameter(name, tensor)
        for name, tensor in layer.named_buffers():
            self.bn.register_buffer(name, tensor)


def _summary(module: fx.GraphModule) -> list[str]:
    return [
        f"{node.op} {getattr(node.target, '__name__', node.target)}"
        for node in module.graph.nodes
    ]


def test_helper_calls_lift_into_the_layer():
    host = _Host()
    module = fx.GraphModule(host, _batch_norm_graph())
    module.meta["original"] = host
    before = _summary(module)
    assert "call_function count_batch" in before
    assert "call_function cumulative_momentum" in before
    lift_calls(module)
    assert _summary(module) == ["placeholder x", "call_module bn", "output output"]
    assert type(module.bn) is nn.BatchNorm2d and module.bn.momentum is None


def test_a_helper_call_the_row_does_not_lift_stays():
    """``cumulative_momentum`` of another tensor is not BatchNorm's momentum."""
    host = _Host()
    graph = _batch_norm_graph()
    (momentum,) = [n for n in graph.nodes if n.target is cumulative_momentum]
    with graph.inserting_before(momentum):
        other = graph.get_attr("bn.running_var")
    momentum.args = (other, momentum.args[1])
    module = fx.GraphModule(host, graph)
    module.meta["original"] = host
    lift_calls(module)
    assert "call_module bn" not in _summary(module)


# -- prologue rows -------------------------------------------------------------

PROLOGUE_EXAMPLES = [
    (spec, example)
    for spec in SPECS
    for example in spec.examples
    if spec.prologue_calls(build_layer(example))
]


def _functional(example) -> fx.GraphModule:
    model = layer_model(example)
    module = trace(model, build_inputs(example))
    module.meta["original"] = model
    canonicalize(module)
    to_functional(module)
    return module


def _prologue_nodes(module: fx.GraphModule, spec) -> list[fx.Node]:
    targets = {p.method or p.function for p in spec.prologues}
    return [n for n in module.graph.nodes if n.target in targets]


def test_every_prologue_of_the_table_is_exercised():
    declared = {p for spec in SPECS for p in spec.prologues}
    made = {
        p
        for spec, e in PROLOGUE_EXAMPLES
        for p, _ in spec.prologue_calls(build_layer(e))
    }
    assert declared == made and len(made) == 2  # padding_mode, batch_first
    rows = {spec.module for spec, _ in PROLOGUE_EXAMPLES}
    assert {nn.Conv1d, nn.Conv2d, nn.MultiheadAttention} <= rows


@pytest.mark.parametrize(
    "spec, example", PROLOGUE_EXAMPLES, ids=[e.layer for _, e in PROLOGUE_EXAMPLES]
)
def test_prologue_is_written_out_and_lifted_back(spec, example):
    module = _functional(example)
    layer = module.meta["original"].layer
    written = _prologue_nodes(module, spec)
    steps = spec.prologue_calls(layer)
    inputs = len(example.inputs)  # distinct tensors, all batched
    calls = sum((inputs if p.every_input else 1) + p.output_too for p, _ in steps)
    assert len(written) == calls, module.graph
    assert all(node.users for node in written)
    lift_calls(module)
    assert not _prologue_nodes(module, spec), module.graph
    (call,) = [n for n in module.graph.nodes if n.op == "call_module"]
    assert call.target == "layer"


def test_padding_mode_before_and_after():
    (example,) = [
        e
        for spec, e in PROLOGUE_EXAMPLES
        if e.layer == 'nn.Conv2d(3, 6, 3, padding=1, padding_mode="replicate")'
    ]
    module = _functional(example)
    assert _lines(module, Style.FUNCTIONAL) == [  # ``return self.layer(x)``
        'return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), '
        'params["layer.weight"], params["layer.bias"])'
    ]
    lift_calls(module)
    assert _lines(module, Style.MODULE) == ["return self.layer(x)"]


def _lines(module: fx.GraphModule, style: Style) -> list[str]:
    return print_body(module.graph, style, plan_statements(module.graph, style)).lines


def test_batch_first_before_and_after():
    (example,) = [
        e
        for spec, e in PROLOGUE_EXAMPLES
        if e.layer == "nn.MultiheadAttention(8, 2, batch_first=True)"
    ]
    module = _functional(example)
    assert _lines(module, Style.FUNCTIONAL) == [
        "x, out = F.multi_head_attention_forward(x.transpose(1, 0), y.transpose(1, 0), "
        'z.transpose(1, 0), embed_dim_to_check=8, num_heads=2, in_proj_weight=params["layer.in_proj_weight"], '
        'in_proj_bias=params["layer.in_proj_bias"], bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0, '
        'out_proj_weight=params["layer.out_proj.weight"], out_proj_bias=params["layer.out_proj.bias"])',
        "x = x.transpose(1, 0)",
        "return x, out",
    ]
    lift_calls(module)
    assert _lines(module, Style.MODULE) == ["x = self.layer(x, y, z)", "return x"]


def test_unbatched_input_makes_no_transposes():
    example = next(
        e for spec, e in PROLOGUE_EXAMPLES if "MultiheadAttention" in e.layer
    )
    layer = build_layer(example)
    assert layer.batch_first
    model = layer_model(example)
    inputs = tuple(x[0] for x in build_inputs(example))  # (5, 8): unbatched
    module = trace(model, inputs)
    module.meta["original"] = model
    canonicalize(module)
    to_functional(module)
    assert not [n for n in module.graph.nodes if n.target == "transpose"]
    (call,) = [
        n for n in module.graph.nodes if n.target is F.multi_head_attention_forward
    ]
    assert [a.op for a in call.args] == ["placeholder"] * 3


# -- impurity, binding, attribute paths ------------------------------------------


def test_dead_code_removal_keeps_what_the_impurity_table_lists():
    graph = fx.Graph()
    x = graph.placeholder("x")
    counter = graph.get_attr("n")
    training = graph.get_attr(TRAINING_ATTRIBUTE)
    graph.call_function(count_batch, (counter, training))  # impure helper row
    graph.call_function(torch.randn, (3,))  # random factory
    graph.call_method("append", (x, 1))  # container mutator
    graph.call_method("add_", (x, 1))  # in-place by name
    graph.call_function(F.relu, (x,))  # pure: goes
    graph.call_function(cumulative_momentum, (counter, training))  # pure helper: goes
    graph.output(x)
    remove_dead_code(graph)
    assert [str(getattr(n.target, "__name__", n.target)) for n in graph.nodes] == [
        "x",
        "n",
        "training",
        "count_batch",
        "randn",
        "append",
        "add_",
        "output",
    ]


def test_one_binder_for_calls_and_layer_calls():
    params = parse_signature("input, weight, bias=None")
    assert bind(params, ("x", "w"), {"bias": "b"}) == {
        "input": "x",
        "weight": "w",
        "bias": "b",
    }
    for args, kwargs in [(("x", "w", "b", "extra"), {}), (("x",), {"input": "y"})]:
        with pytest.raises(TypeError):
            bind(params, args, kwargs)
    attention = next(s for s in SPECS if s.module is nn.MultiheadAttention)
    inputs, passed = attention.bind_forward(("q", "k", "v"), {"need_weights": False})
    assert inputs == ["q", "k", "v"] and passed == {"need_weights": False}


def test_attribute_paths_as_get_attr_reads_them():
    root = nn.Sequential(nn.Linear(2, 3))
    assert attribute_at(root, "0.weight") is root[0].weight
    assert attribute_at(root, "0.missing", None) is None
    with pytest.raises(AttributeError):
        attribute_at(root, "1.weight")
