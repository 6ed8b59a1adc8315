"""Mixed style keeps the source's methods and rewrites its parameter-free layer calls.

:mod:`nnconvert.calls_rewritten`: a branch one trace does not take, its
comments and the attribute it tests stay, and the calls in it are rewritten
too; the rewritten class, built down the other branch, computes what the
original built so does.
"""

from __future__ import annotations

import ast

import torch

import nnconvert
from nnconvert import loading
from nnconvert.options import Style

from .helpers import write

BRANCHED = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, p=0.1, fast=True):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.GELU()
        self.drop = nn.Dropout(p)
        self.fast = fast

    def forward(self, x):
        # the comment stays by its line
        x = self.fc(x)
        if self.fast:
            return self.drop(self.act(x))
        return self.act(self.drop(x)) * 2
    HELPER


def example_inputs():
    return (torch.randn(3, 4),)
"""


def _converted(tmp_path, text: str) -> nnconvert.Conversion:
    loaded = loading.load_file(write(tmp_path, "model.py", text))
    conversion = nnconvert.convert(loaded.model, Style.MIXED, loaded.example_inputs)
    conversion.check(train=True)
    return conversion


def _classes(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "output.py", "exec"), namespace)
    return namespace


def test_a_branch_the_trace_does_not_take_is_kept_with_its_calls_rewritten(tmp_path):
    conversion = _converted(tmp_path, BRANCHED.replace("HELPER", ""))
    source = conversion.source
    assert conversion.as_written
    assert "if self.fast:" in source and "# the comment stays by its line" in source
    assert "nn.GELU" not in source and "nn.Dropout" not in source
    assert "self.p = p" in source
    forward = ast.unparse(
        next(
            n
            for n in ast.walk(ast.parse(source))
            if getattr(n, "name", "") == "forward"
        )
    )
    assert "F.dropout(F.gelu(x), p=self.p, training=self.training)" in forward
    assert "F.gelu(F.dropout(x, p=self.p, training=self.training)) * 2" in forward
    # the branch the trace never ran, built and run: as the original's
    original_class = _classes(BRANCHED.replace("HELPER", ""))["Net"]
    rewritten_class = _classes(source)["Net"]
    for p in (0.0, 1.0):
        original = original_class(p=p, fast=False)
        rewritten = rewritten_class(p=p, fast=False)
        rewritten.load_state_dict(original.state_dict())
        x = torch.randn(5, 4)
        torch.manual_seed(1)
        expected = original.train()(x)
        torch.manual_seed(1)
        assert torch.equal(rewritten.train()(x), expected)


def test_a_layer_passed_on_is_not_rewritten(tmp_path):
    """``self.twice(self.act, x)`` hands the layer on: no call to rewrite it in."""
    helper = "\n    def twice(self, f, x):\n        return f(f(x))\n"
    text = BRANCHED.replace("HELPER", helper).replace(
        "return self.drop(self.act(x))", "return self.drop(self.twice(self.act, x))"
    )
    conversion = _converted(tmp_path, text)
    assert "self.twice(self.act" not in conversion.source or "nn.GELU" in (
        conversion.source
    )
