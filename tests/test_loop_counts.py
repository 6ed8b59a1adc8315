"""Blocks whose loops run different numbers of times are one function (issue 11).

MobileViT builds ``Transformer(dim, depth, ...)`` three times, with depths 2,
4 and 3; functional style wrote ``transformer``, ``transformer_2`` and
``transformer_3``, the same but for ``range(2)``, ``range(4)`` and
``range(3)`` (:mod:`nnconvert.printer.rolled_loops`). Here one function
counts to a keyword named after the ``__init__`` argument (``depth``), for a
loop over pairs of members and for one call per member; each output is
checked in eval and train mode and converts again to the same text.
"""

from __future__ import annotations

import ast

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert.init_arguments import recording
from nnconvert.options import Style

from .helpers import load_output
from .test_literal_only_blocks import converted, functions
from .test_member_loops import Attention


class Transformer(nn.Module):
    """MobileViT's in small: ``depth`` pairs of members, looped over."""

    def __init__(self, dim: int, depth: int):
        super().__init__()
        self.layers = nn.ModuleList([])
        for _ in range(depth):
            self.layers.append(nn.ModuleList([Attention(dim), nn.Linear(dim, dim)]))

    def forward(self, x):
        for ff, proj in self.layers:
            x = ff(x) + x
            x = proj(x) + x
        return x


class Stack(nn.Module):
    """One call per member: ``for block in self.blocks: x = block(x)``."""

    def __init__(self, dim: int, depth: int):
        super().__init__()
        self.blocks = nn.ModuleList([Attention(dim) for _ in range(depth)])
        self.scale = 0.5

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x * self.scale


class MobileViT(nn.Module):
    def __init__(self, block: type[nn.Module] = Transformer, depths=(2, 4, 3)):
        super().__init__()
        self.stage1 = block(8, depths[0])
        self.down1 = nn.Linear(8, 12)
        self.stage2 = block(12, depths[1])
        self.down2 = nn.Linear(12, 6)
        self.stage3 = block(6, depths[2])

    def forward(self, x):
        x = self.down1(self.stage1(x))
        x = self.down2(self.stage2(x))
        return self.stage3(x)


def _built(block: type[nn.Module] = Transformer, depths=(2, 4, 3)) -> MobileViT:
    """Built as the CLI builds a model: each block records its ``__init__`` arguments."""
    with recording():
        return MobileViT(block, depths)


def _inputs() -> tuple[torch.Tensor]:
    torch.manual_seed(0)
    return (torch.randn(2, 5, 8),)


def _loop_counts(function: ast.FunctionDef) -> list[str]:
    """What each ``for`` of ``function`` counts to: ``range(depth)`` -> ``depth``."""
    return [
        ast.unparse(node.iter.args[0])
        for node in ast.walk(function)
        if isinstance(node, ast.For)
        and isinstance(node.iter, ast.Call)
        and ast.unparse(node.iter.func) == "range"
    ]


@pytest.mark.parametrize("block", [Transformer, Stack], ids=lambda c: c.__name__)
def test_blocks_of_different_depths_share_one_function(block):
    conversion = converted(_built(block), _inputs(), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    name = block.__name__.lower()
    assert [n for n in defined if n.startswith(name)] == [name]
    assert _loop_counts(defined[name]) == ["depth"]
    assert "depth: int" in ast.unparse(defined[name].args)
    calls = ast.unparse(defined["mobile_vi_t"])
    assert [f"depth={d}" in calls for d in (2, 4, 3)] == [True] * 3


@pytest.mark.parametrize("depths", [(2, 1, 3), (2, 1, 2)])
def test_a_block_of_depth_one_shares_the_function(depths):
    """A depth of one is a loop of one step (the source's ``for`` says so): cut
    to one step, the deeper blocks read the same, so one function serves every
    depth, 1 included (CaiT's ``cls_transformer`` of depth 1 beside its
    ``patch_transformer`` of depth 2 wrote ``transformer_2``, the same but for
    ``range(1)``)."""
    conversion = converted(_built(depths=depths), _inputs(), Style.FUNCTIONAL)
    conversion.check()
    conversion.check(train=True)
    defined = functions(conversion.source)
    assert [n for n in defined if n.startswith("transformer")] == ["transformer"]
    assert _loop_counts(defined["transformer"]) == ["depth"]
    calls = ast.unparse(defined["mobile_vi_t"])
    assert [f"depth={d}" in calls for d in depths] == [True] * 3
    back = load_output(conversion, "MobileViT")
    assert nnconvert.convert(back, Style.FUNCTIONAL, _inputs()).source == (
        conversion.source
    )


def test_a_block_of_depth_one_that_calls_one_member_keeps_its_own_function():
    """``for block in self.blocks: x = block(x)`` over one block reads as one
    call (a one-call step is no loop: :func:`nnconvert.passes.unrolled._one_member_loop`),
    so that block keeps a function of its own."""
    conversion = converted(_built(Stack, (2, 1, 3)), _inputs(), Style.FUNCTIONAL)
    defined = functions(conversion.source)
    assert [n for n in defined if n.startswith("stack")] == ["stack", "stack_2"]
    assert _loop_counts(defined["stack"]) == ["depth"]
    assert _loop_counts(defined["stack_2"]) == []


def test_blocks_of_one_depth_keep_their_count_written():
    """Nothing to share: the loop counts to its number, as before."""
    model = _built(depths=(3, 3, 3))
    conversion = converted(model, _inputs(), Style.FUNCTIONAL)
    (function,) = [
        f for n, f in functions(conversion.source).items() if n == "transformer"
    ]
    assert _loop_counts(function) == ["3"]
    assert "depth" not in ast.unparse(function.args)


@pytest.mark.parametrize("to", [Style.MODULE, Style.MIXED])
@pytest.mark.parametrize("block", [Transformer, Stack], ids=lambda c: c.__name__)
def test_the_shared_function_reads_back_as_the_model(block, to):
    """functional -> class styles computes what the original does, each depth its own.

    Read back, class styles still write a class per depth (``Transformer2``):
    the functional file's blocks carry no constructor parameters, so each
    class writes its sizes and its count as numbers.
    """
    functional = converted(_built(block), _inputs(), Style.FUNCTIONAL)
    back = nnconvert.convert(load_output(functional, "MobileViT"), to, _inputs())
    back.check()
    back.check(train=True)
    assert "for " in back.source


class Stages(nn.Module):
    """Stages of different depths looped over: ``for stage in self.stages``."""

    def __init__(self, depths=(2, 3, 2)):
        super().__init__()
        self.stages = nn.ModuleList([Transformer(8, depth) for depth in depths])

    def forward(self, x):
        for stage in self.stages:
            x = stage(x)
        return x


def test_stages_of_different_depths_loop_over_their_depths():
    """One function for every stage, so the caller's loop is one loop again.

    And ``init_params()`` draws what a new model draws, stage by stage.
    """
    with recording():
        model = Stages()
    given = nnconvert.ModelInput(model, fresh_state=lambda: Stages().state_dict())
    conversion = nnconvert.convert(given, Style.FUNCTIONAL, _inputs())
    conversion.check()
    conversion.check(train=True)
    defined = functions(conversion.source)
    assert "for i, depth in enumerate((2, 3, 2)):" in ast.unparse(defined["stages"])
    namespace: dict = {}
    exec(conversion.source, namespace)
    torch.manual_seed(1)
    drawn = namespace["init_params"]()
    torch.manual_seed(1)
    fresh = Stages().state_dict()
    assert drawn.keys() == fresh.keys()
    assert all(torch.equal(drawn[k], fresh[k]) for k in fresh)


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
@pytest.mark.parametrize("block", [Transformer, Stack], ids=lambda c: c.__name__)
def test_class_styles_printed_from_the_trace_write_one_class(block, style):
    """The depths trace apart, but each class loops over its members and builds
    ``depth`` of them: the same text, so one class (and the converted output
    converts to itself again)."""
    model = _built(block)
    conversion = nnconvert.convert(model, style, _inputs(), keep_source=False)
    conversion.check()
    conversion.check(train=True)
    name = block.__name__
    classes = [
        n.name
        for n in ast.parse(conversion.source).body
        if isinstance(n, ast.ClassDef) and n.name.startswith(name)
    ]
    assert classes == [name]
    assert "    def __init__(self, dim, depth):" in conversion.source
    again = nnconvert.convert(load_output(conversion), style, _inputs())
    assert again.source == conversion.source
