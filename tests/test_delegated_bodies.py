"""A block whose ``forward`` returns its ``nn.Sequential``'s result is that Sequential in functional style.

lucidrains' ``FeedForward`` (``return self.net(x)``) printed as two
functions, ``feed_forward`` calling ``net``; now ``feed_forward`` holds the
layers itself, one statement each (:mod:`nnconvert.delegated_bodies`).
Checked side by side, and read back to the same text; read back into a
class style, the block holds its ``nn.Sequential`` again and returns its
result (:mod:`nnconvert.functional.containers`).
"""

from __future__ import annotations

import ast

import torch
from einops.layers.torch import Rearrange
from torch import nn

import nnconvert
from nnconvert.options import Style

from .helpers import load_output, recorded_conversion


class FeedForward(nn.Module):
    """lucidrains' feed-forward block."""

    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(0.1),
            nn.Linear(hidden_dim, dim),
        )

    def forward(self, x):
        return self.net(x)


class PooledFeedForward(FeedForward):
    """The same, with a third-party layer kept as a call among the members."""

    def __init__(self, dim, hidden_dim):
        super().__init__(dim, hidden_dim)
        self.net.append(Rearrange("b n d -> b n d"))


class Residual(nn.Module):
    def __init__(self, block, dim=8):
        super().__init__()
        self.ff = block(dim, 16)
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        return self.head(self.ff(x) + x)


def functions(source: str) -> dict[str, ast.FunctionDef]:
    return {
        node.name: node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef)
    }


def converted(block) -> nnconvert.Conversion:
    conversion = recorded_conversion(
        lambda: Residual(block), Style.FUNCTIONAL, (torch.randn(2, 5, 8),)
    )
    again = nnconvert.convert(
        load_output(conversion), Style.FUNCTIONAL, conversion.example_inputs
    )
    assert again.source == conversion.source
    return conversion


def test_a_block_returning_its_sequential_holds_its_layers():
    conversion = converted(FeedForward)
    defined = functions(conversion.source)
    assert "net" not in defined
    body = ast.unparse(defined["feed_forward"])
    assert "params['net.1.weight']" in body
    # one statement per layer, as the Sequential's own function wrote them
    assert len(defined["feed_forward"].body) >= 5


def test_a_sequential_holding_a_library_layer_stays_a_function():
    """Read back, only the Sequential's function puts ``Rearrange`` among its members."""
    conversion = converted(PooledFeedForward)
    assert "net" in functions(conversion.source)
    assert isinstance(load_output(conversion).module.ff.net, nn.Sequential)


def test_read_back_the_block_calls_its_sequential_again():
    """module -> functional -> module gives module -> module's text (SPEC 5):
    the functional file's block is read back holding an ``nn.Sequential`` of
    the layers its function runs, and ``forward`` returns its result."""
    inputs = (torch.randn(2, 5, 8),)
    conversion = converted(FeedForward)
    model = load_output(conversion)
    assert isinstance(model.module.ff.net, nn.Sequential)
    assert [type(m) for m in model.module.ff.net] == [
        nn.LayerNorm,
        nn.Linear,
        nn.GELU,
        nn.Dropout,
        nn.Linear,
    ]
    back = nnconvert.convert(model, Style.MODULE, inputs)
    back.check(train=True)
    assert "        return self.net(x)\n" in back.source
    torch.manual_seed(0)
    direct = nnconvert.convert(Residual(FeedForward), Style.MODULE, inputs)
    assert back.source == direct.source


class Chained(nn.Module):
    """Not the one child's Sequential: the block adds its input."""

    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden_dim), nn.Linear(hidden_dim, dim))

    def forward(self, x):
        return self.net(x) + x


def test_a_block_doing_more_than_its_sequential_reads_back_as_before():
    conversion = converted(Chained)
    assert "net" in functions(conversion.source)  # its own function, as before
    model = load_output(conversion)
    assert model.module.ff.whole_body is None
    nnconvert.convert(model, Style.MODULE, conversion.example_inputs).check()
