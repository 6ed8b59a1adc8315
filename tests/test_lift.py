"""Before/after tests of the lifting pass, in the style of LibCST's codemod tests.

Before: a functional file's function over a weight dict, loaded as ``nnconvert
convert FILE`` loads it (BatchNorm's ``if training: params[K] += 1`` becomes
``count_batch``) and wrapped with :func:`nnconvert.functional_model`, which
registers each tensor at its dotted key in a plain host (``fc.weight`` is
parameter ``weight`` of host ``fc``). No example inputs are given, so the
hosts stay plain and the pass alone decides. After: what
:func:`nnconvert.passes.lift.lift_layers` leaves of the canonical graph --
the layers it built (``self.fc = nn.Linear(4, 4)``), then one line per node
(:func:`tests.helpers.graph_text`).
"""

from __future__ import annotations

import pytest
import torch

import nnconvert
from nnconvert.functional import load_source
from nnconvert.opspecs import spec_for_module
from nnconvert.passes.canonicalize import canonicalize
from nnconvert.passes.lift import lift_layers
from nnconvert.printer.classes import constructor_text
from nnconvert.trace import trace

from .helpers import code, graph_text


def lifted(source: str, weights: dict, *inputs: torch.Tensor) -> str:
    """``net`` of ``source`` over ``weights``, traced, canonicalized and lifted, as text."""
    function = load_source(code(source))["net"]
    model = nnconvert.functional_model(function, weights).module
    graph_module = trace(model, inputs)
    graph_module.meta["original"] = model  # as the hierarchy traces each instance
    canonicalize(graph_module)
    lift_layers(graph_module)
    graph_module.recompile()  # as the style pass does next
    layers = [
        f"self.{name} = {constructor_text(child)}"
        for name, child in graph_module.named_children()
        if spec_for_module(child) is not None
    ]
    return "\n".join(layers + [graph_text(graph_module)])


def linear_weights(features: int = 4) -> dict[str, torch.Tensor]:
    return {
        "fc.weight": torch.randn(features, features),
        "fc.bias": torch.randn(features),
    }


def batch_norm_weights(channels: int = 4) -> dict[str, torch.Tensor]:
    return {
        "bn.weight": torch.ones(channels),
        "bn.bias": torch.zeros(channels),
        "bn.running_mean": torch.zeros(channels),
        "bn.running_var": torch.ones(channels),
        "bn.num_batches_tracked": torch.tensor(0),
    }


def attention_weights(dim: int = 8) -> dict[str, torch.Tensor]:
    return {
        "attn.in_proj_weight": torch.randn(3 * dim, dim),
        "attn.in_proj_bias": torch.randn(3 * dim),
        "attn.out_proj.weight": torch.randn(dim, dim),
        "attn.out_proj.bias": torch.randn(dim),
    }


def test_calls_over_one_host_become_calls_of_one_layer():
    before = """
        import torch.nn.functional as F

        def net(params, x):
            x = F.linear(x, params["fc.weight"], params["fc.bias"])
            return F.linear(x, params["fc.weight"], params["fc.bias"])
    """
    assert lifted(before, linear_weights(), torch.randn(2, 4)) == code("""
        self.fc = nn.Linear(4, 4)
        fc = self.fc(x)
        fc_1 = self.fc(fc)
        return fc_1
        """)


def test_a_reflect_pad_before_a_conv_becomes_its_padding_mode():
    before = """
        import torch.nn.functional as F

        def net(params, x):
            x = F.pad(x, (1, 1, 1, 1), mode="reflect")
            return F.conv2d(x, params["conv.weight"], params["conv.bias"])
    """
    weights = {"conv.weight": torch.randn(4, 3, 3, 3), "conv.bias": torch.randn(4)}
    assert lifted(before, weights, torch.randn(2, 3, 5, 5)) == code("""
        self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
        conv = self.conv(x)
        return conv
        """)


def test_a_zero_pad_before_a_conv_stays_a_call():
    """``nn.Conv2d`` pads with zeros inside its call, never with an ``F.pad`` before it."""
    before = """
        import torch.nn.functional as F

        def net(params, x):
            x = F.pad(x, (1, 1, 1, 1))
            return F.conv2d(x, params["conv.weight"])
    """
    weights = {"conv.weight": torch.randn(4, 3, 3, 3)}
    assert lifted(before, weights, torch.randn(2, 3, 5, 5)) == code("""
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        pad = F.pad(x, pad=(1, 1, 1, 1))
        conv = self.conv(pad)
        return conv
        """)


def test_a_reflect_pad_read_elsewhere_stays_a_call():
    before = """
        import torch.nn.functional as F

        def net(params, x):
            x = F.pad(x, (1, 1, 1, 1), mode="reflect")
            return F.conv2d(x, params["conv.weight"]) + x.sum()
    """
    weights = {"conv.weight": torch.randn(4, 3, 3, 3)}
    assert lifted(before, weights, torch.randn(2, 3, 5, 5)) == code("""
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        pad = F.pad(x, pad=(1, 1, 1, 1), mode='reflect')
        conv = self.conv(pad)
        sum_1 = pad.sum()
        add = conv + sum_1
        return add
        """)


def test_batch_norm_with_its_counter_becomes_the_layer_for_its_input_shape():
    """The counter is the layer's own; a 4-D input picks ``nn.BatchNorm2d``."""
    before = """
        import torch.nn.functional as F

        def net(params, x, *, training=False):
            if training:
                params["bn.num_batches_tracked"] += 1
            return F.batch_norm(
                x,
                params["bn.running_mean"],
                params["bn.running_var"],
                params["bn.weight"],
                params["bn.bias"],
                training=training,
            )
    """
    assert lifted(before, batch_norm_weights(), torch.randn(2, 4, 3, 3)) == code("""
        self.bn = nn.BatchNorm2d(4)
        bn = self.bn(x)
        return bn
        """)


def test_batch_norm_with_cumulative_momentum_becomes_momentum_none():
    before = """
        import torch.nn.functional as F

        def net(params, x, *, training=False):
            if training:
                params["bn.num_batches_tracked"] += 1
            return F.batch_norm(
                x,
                params["bn.running_mean"],
                params["bn.running_var"],
                params["bn.weight"],
                params["bn.bias"],
                training=training,
                momentum=(
                    1.0 / float(params["bn.num_batches_tracked"]) if training else 0.0
                ),
            )
    """
    assert lifted(before, batch_norm_weights(), torch.randn(2, 4)) == code("""
        self.bn = nn.BatchNorm1d(4, momentum=None)
        bn = self.bn(x)
        return bn
        """)


def test_batch_norm_without_its_counter_is_no_layer():
    """``nn.BatchNorm2d`` would count batches where the call does not: refused."""
    before = """
        import torch.nn.functional as F

        def net(params, x, *, training=False):
            return F.batch_norm(
                x,
                params["bn.running_mean"],
                params["bn.running_var"],
                params["bn.weight"],
                params["bn.bias"],
                training=training,
            )
    """
    with pytest.raises(nnconvert.ConversionError, match="calls that no layer makes"):
        lifted(before, batch_norm_weights(), torch.randn(2, 4, 3, 3))


ATTENTION = """
    import torch.nn.functional as F

    def net(params, s):
        s = s.transpose(1, 0)
        s = F.multi_head_attention_forward(
            s, s, s, 8, 2,
            params["attn.in_proj_weight"], params["attn.in_proj_bias"],
            None, None, False, 0.0,
            params["attn.out_proj.weight"], params["attn.out_proj.bias"],
            need_weights=False,
        )[0]
        return {result}
"""


def test_batch_first_attention_absorbs_its_transposes():
    """``forward`` of a ``batch_first`` layer transposes its input and output itself."""
    before = ATTENTION.format(result="s.transpose(1, 0) * 2")
    assert lifted(before, attention_weights(), torch.randn(2, 3, 8)) == code("""
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        attn = self.attn(s, s, s, need_weights=False)
        getitem_1 = attn[0]
        mul = getitem_1 * 2
        return mul
        """)


@pytest.mark.xfail(
    strict=True,
    raises=TypeError,
    reason="lift's _output_back replaces the output's argument tuple (out,) by the "
    "layer call itself: fx cannot generate code ('Node' object is not subscriptable)",
)
def test_batch_first_attention_returned_as_it_is():
    before = ATTENTION.format(result="s.transpose(1, 0)")
    assert lifted(before, attention_weights(), torch.randn(2, 3, 8)) == code("""
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        attn = self.attn(s, s, s, need_weights=False)
        getitem_1 = attn[0]
        return getitem_1
        """)


def test_a_host_holding_more_than_the_layer_stays_a_host():
    """An ``nn.Linear`` at ``fc`` would drop ``fc.scale`` from the ``state_dict()``.

    Even though the function never reads it.
    """
    before = """
        import torch.nn.functional as F

        def net(params, x):
            return F.linear(x, params["fc.weight"], params["fc.bias"])
    """
    weights = linear_weights() | {"fc.scale": torch.randn(4)}
    assert lifted(before, weights, torch.randn(2, 4)) == code("""
        linear = F.linear(x, weight=self.fc.weight, bias=self.fc.bias)
        return linear
        """)


def test_a_weight_read_outside_the_call_keeps_the_call():
    """The layer would hide ``fc.weight`` from ``.sum()``: nothing is lifted."""
    before = """
        import torch.nn.functional as F

        def net(params, x):
            y = F.linear(x, params["fc.weight"], params["fc.bias"])
            return y + params["fc.weight"].sum()
    """
    assert lifted(before, linear_weights(), torch.randn(2, 4)) == code("""
        linear = F.linear(x, weight=self.fc.weight, bias=self.fc.bias)
        sum_1 = self.fc.weight.sum()
        add = linear + sum_1
        return add
        """)
