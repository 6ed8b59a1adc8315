"""A comment stands before the code it annotates, and not at all when that code is gone.

The trace runs one path: a comment on a branch it did not take, or after
the ``return`` it took (DINO's ``interpolate_pos_encoding``), annotates
code the output does not have and is not printed. A comment on a
statement folded into the next one (``shape = ...  # note``, then
``torch.rand(shape)``) goes before the first step printed from it.
Every conversion here is checked side by side.
"""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnconvert
from nnconvert import loading, source_text
from nnconvert.options import Style

from .helpers import load_output, write
from .test_source_map import assert_before, converted

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace

STYLES = list(Style)


class EarlyReturn(nn.Module):
    def __init__(self, interpolate=False):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.interpolate = interpolate

    def resize(self, x):
        # doubled first
        x = x * 2
        if not self.interpolate:
            return x
        # we add a small number to avoid floating point error
        scale = 2 + 0.1
        return x * scale

    def forward(self, x):
        if self.interpolate:
            # the branch the trace does not take
            x = x + 1
        x = self.fc(x)
        x = self.resize(x)
        # the result
        return x


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_comments_on_code_the_trace_did_not_run_are_not_printed(style):
    text = converted(EarlyReturn(), style, torch.randn(3, 4))
    assert "# doubled first" in text
    assert "# the result" in text
    assert "small number" not in text
    assert "does not take" not in text


class Folded(nn.Module):
    def forward(self, x):
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one value per sample
        noise = torch.ones(shape, dtype=x.dtype) * 2
        return x * noise


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_comment_on_a_folded_statement_goes_before_its_first_step(style):
    text = converted(Folded(), style, torch.randn(3, 4))
    lines = [line.strip() for line in text.splitlines()]
    index = lines.index("# one value per sample")
    assert "torch.ones(" in lines[index + 1]


class Masked(nn.Module):
    """The seq2seq tutorial's mask: one statement, two steps in functional style."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        x = self.fc(x)
        # the decoder may not look ahead
        mask = nn.Transformer.generate_square_subsequent_mask(x.size(0))
        return x + mask


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_comment_above_a_statement_goes_before_its_first_step(style):
    """Functional style's ``mask = x.size(0)``, then ``mask = torch.triu(...)``: under it."""
    text = converted(Masked(), style, torch.randn(4, 4))
    lines = [line.strip() for line in text.splitlines()]
    first = next(i for i, line in enumerate(lines) if line.startswith("mask ="))
    assert lines[first - 1] == "# the decoder may not look ahead"


class Lambda(nn.Module):
    """minGPT's block: ``__init__`` keeps a lambda that ``forward`` calls."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        m = self.fc
        self.mlpf = lambda x: torch.tanh(m(x))  # MLP forward

    def forward(self, x):
        return x + self.mlpf(x)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_lambdas_comment_goes_before_the_code_made_from_it(style):
    text = converted(Lambda(), style, torch.randn(3, 4))
    lines = [line.strip() for line in text.splitlines()]
    index = lines.index("# MLP forward")
    assert "tanh" in lines[index + 1] or "fc" in lines[index + 1]


class Towers(nn.Module):
    """CLIP's shape: methods kept as methods, reading a weight's dtype through a property."""

    def __init__(self):
        super().__init__()
        self.image = nn.Linear(4, 4)
        self.text = nn.Linear(4, 4)

    @property
    def dtype(self):
        return self.image.weight.dtype

    def encode_image(self, x):
        return self.image(x.type(self.dtype))

    def encode_text(self, x):
        x = self.text(x.type(self.dtype))  # [batch, width]
        # the text tower's last step
        return x * 2

    def forward(self, image, text):
        image_features = self.encode_image(image)
        text_features = self.encode_text(text)

        # shape = [batch, batch]
        return image_features @ text_features.t()


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_each_function_says_its_own_comments_once(style):
    """Neither a kept method's comments in ``forward`` nor ``forward``'s in a method."""
    inputs = (torch.randn(3, 4), torch.randn(3, 4))
    source = converted(Towers().eval(), style, *inputs)
    for comment in ("# [batch, width]", "# the text tower's last step", "# shape ="):
        assert source.count(comment) == 1, comment
    forward = source.split("def forward(")[1].split("\n    def ")[0]
    assert "# shape = [batch, batch]" in forward
    assert "tower" not in forward and "[batch, width]" not in forward


class FlashAttention(nn.Module):
    """nanoGPT's ``CausalSelfAttention``: a flag chooses a path in ``__init__`` and ``forward``."""

    def __init__(self):
        super().__init__()
        # key, query, value projections
        self.qkv = nn.Linear(8, 24)
        # activation of the scores, a layer with no weights
        self.softmax = nn.Softmax(dim=-1)
        # flash attention needs PyTorch >= 2.0
        self.flash = True
        if not self.flash:
            # causal mask for the slow path
            self.register_buffer("mask", torch.ones(4, 4).tril())

    def forward(self, x):
        q, k, v = self.qkv(x).split(8, dim=-1)
        # causal attention
        if self.flash:
            # the fused kernel
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.softmax(q @ k.transpose(-2, -1) + self.mask) @ v


class Scores(nn.Module):
    """A layer mixed style calls as a function, said last in ``__init__``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.LeakyReLU(0.2)  # the scores' activation

    def forward(self, x):
        return self.act(self.fc(x))


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_init_comments_on_a_flag_go_to_the_path_it_chose(style):
    """The buffer only the slow path registers is not in the output; what
    ``__init__`` says about ``self.flash`` is said above the path it chose."""
    text = converted(FlashAttention(), style, torch.randn(2, 4, 8))
    assert "# key, query, value projections" in text
    assert "slow path" not in text
    assert text.count("# flash attention needs PyTorch >= 2.0") == 1
    # where the ``if`` stood: after the comment above it, before the one inside
    said = text.index("# flash attention needs PyTorch >= 2.0")
    assert text.index("# causal attention") < said < text.index("# the fused kernel")
    said = text.index("# the fused kernel")
    assert (
        text[said:]
        .split("\n")[1]
        .lstrip()
        .startswith(
            (
                "return F.scaled_dot_product_attention(",
                "out = F.scaled_dot_product_attention(",
            )
        )
    ), text[said:]


class TwoFlashBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = FlashAttention()
        self.second = FlashAttention()

    def forward(self, x):
        return self.second(self.first(x))


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_init_comments_on_a_block_s_flag_go_to_the_path_it_chose(style):
    """Said once, in the block's class or function, above the path taken."""
    text = converted(TwoFlashBlocks(), style, torch.randn(2, 4, 8))
    assert text.count("# flash attention needs PyTorch >= 2.0") == 1
    said = text.index("# flash attention needs PyTorch >= 2.0")
    lines = text[said:].split("\n")
    assert lines[1].strip() == "# the fused kernel"
    assert "F.scaled_dot_product_attention(" in lines[2]
    assert "slow path" not in text


class Presets(nn.Module):
    """minGPT's ``GPT``: a preset table merged into the config, nothing of the model built there."""

    def __init__(self, model_type=None, width=8):
        super().__init__()
        assert model_type is None or width is None  # exactly one of these
        if model_type is not None:
            # translate from model_type to a width
            width = {
                # tiny
                "tiny": 4,
                "small": 8,  # the default
            }[model_type]
        # the projection
        self.fc = nn.Linear(4, width)

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_comments_of_an_if_or_assert_that_builds_nothing_are_not_printed(style):
    """They would stand above ``self.fc`` as if about it."""
    text = converted(Presets(), style, torch.randn(2, 4))
    assert "# the projection" in text
    for lost in ("exactly one", "translate from", "# tiny", "the default"):
        assert lost not in text


class TrailedSetting(nn.Module):
    def __init__(self, window=(7, 7)):
        super().__init__()
        self.window = window  # Wh, Ww
        # the projection
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_comment_trailing_a_statement_the_output_has_not_is_not_printed(style):
    """Swin's ``self.window_size = window_size  # Wh, Ww``: not about the next line."""
    text = converted(TrailedSetting(), style, torch.randn(2, 4))
    assert "# the projection" in text
    assert "Wh, Ww" not in text


class TrailedRead(nn.Module):
    def __init__(self, heads=2):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.heads = heads  # Number of attention heads

    def forward(self, x):
        return self.fc(x).view(x.shape[0], self.heads, -1)


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_an_attribute_forward_reads_keeps_the_comment_trailing_it(style):
    """GAT's ``self.n_heads = n_heads # Number of attention heads``, written last."""
    text = converted(TrailedRead(), style, torch.randn(2, 4))
    assert "        # Number of attention heads\n        self.heads = " in text


def test_a_layer_called_as_a_function_takes_its_comment_to_the_call():
    text = converted(Scores(), Style.MIXED, torch.randn(3, 4))
    assert "self.act" not in text
    forward = text.split("def forward(")[1]
    assert forward.index("# the scores' activation") < forward.index("F.leaky_relu")


class TrailedActivation(nn.Module):
    """GAT: ``self.leakyrelu = nn.LeakyReLU(0.2) # LeakyReLU activation function``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.LeakyReLU(0.2)  # the scores' activation
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.act(self.fc(x)))


def test_a_layer_called_as_a_function_takes_the_comment_trailing_it_to_the_call():
    text = converted(TrailedActivation(), Style.MIXED, torch.randn(3, 4))
    assert "self.act" not in text
    forward = text.split("def forward(")[1]
    assert forward.index("# the scores' activation") < forward.index("F.leaky_relu")
    assert "# the scores' activation" not in text.split("def forward(")[0]


class TwiceSet(nn.Module):
    """CLIP's ``Bottleneck``: ``self.downsample = None``, then set again under an ``if``."""

    def __init__(self, stride=2):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.downsample = None
        if stride > 1:
            # downsampling layer, built only for a stride
            self.downsample = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) + self.downsample(x)


@pytest.mark.parametrize("style", [Style.MODULE, Style.MIXED], ids=lambda s: s.value)
def test_a_comment_above_the_second_assignment_stays_with_the_attribute(style):
    text = converted(TwiceSet(), style, torch.randn(3, 4))
    init = text.split("def __init__")[1].split("def forward")[0]
    lines = [line.strip() for line in init.splitlines()]
    comment = lines.index("# downsampling layer, built only for a stride")
    assert lines[comment + 1].startswith("self.downsample = ")


class Projection(nn.Module):
    """nanoGPT's attention says "output projection" in ``__init__`` and in ``forward``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        # output projection
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        x = torch.relu(self.fc(x))
        # output projection
        return self.proj(x)


class WithProjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Projection()

    def forward(self, x):
        return self.block(x)


def test_a_block_function_says_an_init_comment_its_forward_says_too_once():
    text = converted(WithProjection(), Style.FUNCTIONAL, torch.randn(3, 4))
    block = text.split("def projection(")[1].split("\ndef ")[0]
    assert block.count("# output projection") == 1


class Stylised(nn.Module):
    """fast_neural_style's ``TransformerNet`` in small: a root's activation layer, commented."""

    def __init__(self):
        super().__init__()
        # the layers
        self.fc = nn.Linear(4, 4)
        # Non-linearities
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.fc(x))


def test_a_roots_layer_without_tensors_says_its_comment_in_its_function():
    """``init_params()`` has no key to say it above: the function says it at the call."""
    conversion = nnconvert.convert(Stylised(), Style.FUNCTIONAL, (torch.randn(3, 4),))
    conversion.check(train=True)
    function, init = conversion.source.split("def init_params")
    assert "# Non-linearities\n    return F.relu(" in function
    assert "# the layers" in init and "# the layers" not in function
    again = nnconvert.convert(
        load_output(conversion), Style.FUNCTIONAL, (torch.randn(3, 4),)
    )
    assert again.source == conversion.source


class Heads(nn.Module):
    """A block whose head count is a keyword parameter in functional style."""

    def __init__(self, n_heads=2):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.n_heads = n_heads  # Number of attention heads

    def forward(self, x):
        return self.fc(x).view(x.shape[0], self.n_heads, -1)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Heads(2)
        self.b = Heads(4)

    def forward(self, x):
        return self.a(x) + self.b(x).view(x.shape[0], 2, -1)


def test_a_keyword_parameter_takes_the_comment_of_the_attribute_it_stands_for():
    """GAT's ``self.n_heads = n_heads  # Number of attention heads``, functional style.

    No statement of the function stands for the attribute: the comment goes
    above the keyword in the signature, and comes back from there when the
    output is converted again.
    """
    inputs = (torch.randn(3, 4),)
    conversion = nnconvert.convert(TwoHeads(), Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    source = conversion.source
    assert "    # Number of attention heads\n    n_heads: int,\n" in source
    assert source.count("# Number of attention heads") == 1
    again = nnconvert.convert(
        load_output(conversion, "TwoHeads"), Style.FUNCTIONAL, inputs
    )
    assert again.source == source


class Stages(nn.Module):
    """DCGAN's shape: what each stage's output is, written between the layers."""

    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            # input is 4 wide
            nn.Linear(4, 8),
            nn.ReLU(True),
            # state size. 8
            nn.Linear(8, 2),
            nn.Tanh(),  # squashed
        )

    def forward(self, x):
        return self.main(x)


def test_comments_between_a_sequentials_layers_go_to_its_functions_statements():
    """Above each layer's statement in the Sequential's function, not in ``init_params()``.

    Read back from there: converting the output again says them there again.
    """
    inputs = (torch.randn(3, 4),)
    conversion = nnconvert.convert(Stages(), Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    source = conversion.source
    main = source.split("def main(")[1].split("\ndef ")[0]
    assert_before(main, "# input is 4 wide", 'params["0.weight"]')
    assert_before(main, 'params["0.weight"]', "# state size. 8")
    assert_before(main, "# state size. 8", 'params["2.weight"]')
    assert "# squashed" in main
    init_params = source.split("def init_params(")[1]
    assert "#" not in init_params.replace('"""', "")
    again = nnconvert.convert(
        load_output(conversion, "Stages"), Style.FUNCTIONAL, inputs
    )
    assert again.source == source
    # a class style says them above the Sequential, as it says those inside
    # any statement of ``__init__``
    module = nnconvert.convert(load_output(conversion, "Stages"), Style.MODULE, inputs)
    module.check(train=True)
    assert_before(module.source, "# input is 4 wide", "# state size. 8")
    assert_before(module.source, "# squashed", "self.main = nn.Sequential(")


class GrownStages(nn.Module):
    """CycleGAN's generator: a list grown under section comments, then one Sequential."""

    def __init__(self, blocks=2):
        super().__init__()
        # the embedding, not one of the list's layers
        self.embed = nn.Linear(4, 4)
        # Initial block
        width = 8
        model = [nn.Linear(4, width), nn.ReLU(True)]
        # Middle blocks
        for _ in range(blocks):
            model += [nn.Linear(width, width), nn.ReLU(True)]
        # Output layer
        model += [nn.Linear(width, 2)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(self.embed(x))


def test_comments_above_a_grown_lists_layers_go_to_its_sequentials_statements():
    """``nn.Sequential(*model)``: each comment above the first layer built after it.

    Where each layer was built (recorded as the CLI builds a model) says it;
    before, the three stood stacked above the first key of ``init_params()``.
    """
    inputs = (torch.randn(3, 4),)
    with nnconvert.record_constructors():
        model = GrownStages()
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    source = conversion.source
    body = source.split("def model(")[1].split("\ndef ")[0]
    assert_before(body, "# Initial block", 'params["0.weight"]')
    assert_before(body, 'params["0.weight"]', "# Middle blocks")
    assert_before(body, "# Middle blocks", 'params["2.weight"]')
    assert_before(body, 'params["4.weight"]', "# Output layer")
    assert_before(body, "# Output layer", 'params["6.weight"]')
    init_params = source.split("def init_params(")[1]
    assert "# the embedding, not one of the list's layers" in init_params
    for comment in ("# Initial block", "# Middle blocks", "# Output layer"):
        assert comment not in init_params
        assert source.count(comment) == 1
    again = nnconvert.convert(
        load_output(conversion, "GrownStages"), Style.FUNCTIONAL, inputs
    )
    assert again.source == source


class StagedBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Linear(4, 4),
            # squashed before the second
            nn.Tanh(),
            nn.Linear(4, 4),
        )

    def forward(self, x):
        return self.main(x) + x


class TwoStaged(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = StagedBlock()
        self.second = StagedBlock()

    def forward(self, x):
        return self.second(self.first(x))


def test_a_blocks_sequential_says_its_comments_once_in_its_function():
    """Not also above the block's call of the Sequential."""
    inputs = (torch.randn(3, 4),)
    conversion = nnconvert.convert(TwoStaged(), Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    source = conversion.source
    assert source.count("# squashed before the second") == 1
    main = source.split("def main(")[1].split("\ndef ")[0]
    assert_before(main, "# squashed before the second", "torch.tanh")
    again = nnconvert.convert(
        load_output(conversion, "TwoStaged"), Style.FUNCTIONAL, inputs
    )
    assert again.source == source


class ChannelNorm(nn.Module):  # layernorm, but over the channels
    def __init__(self, dim):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, x):
        return (x - x.mean(dim=1, keepdim=True)) * self.g


class Normed(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = ChannelNorm(3)

    def forward(self, x):
        return self.norm(x)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_comment_on_the_class_line_stays_with_the_class(style):
    """CvT's ``class LayerNorm(nn.Module): # layernorm, but done in the channel dimension``.

    At the top of the class's body, or of its function in functional style;
    and there again when the output is converted again.
    """
    inputs = (torch.randn(2, 3, 4, 4),)
    conversion = nnconvert.convert(Normed(), style, inputs)
    conversion.check(train=True)
    text = conversion.source
    comment = "# layernorm, but over the channels"
    if style is Style.FUNCTIONAL:
        assert (
            "def channel_norm(params: dict[str, Tensor], x: Tensor) -> Tensor:\n    "
            + comment
            in text
        )
    else:
        assert_before(text, "class ChannelNorm(", comment)
        assert_before(text, comment, "def __init__(self")
    name = "Normed" if style is Style.FUNCTIONAL else None
    again = nnconvert.convert(load_output(conversion, name), style, inputs)
    assert again.source == text


#: written as a file, not a class here: black would indent the comments
#: that go on below a trailing one to their block, out of its column
TIED_HEAD = """
import torch
from torch import nn


class TiedHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.lm_head = nn.Linear(4, 10, bias=False)
        self.lm_head.weight = self.embedding.weight  # tie the head to the embedding
                                                     # as the paper does

    def forward(self, ids):
        x = self.embedding(ids) * 2  # scaled
                                     # by two
        # the head
        return self.lm_head(x)


def example_inputs():
    return (torch.tensor([[1, 2, 3]]),)
"""


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_trailing_comment_goes_on_below_in_its_column(style, tmp_path):
    """Mamba's ``# See "Weight Tying" paper`` under its tie's trailing comment.

    Such a line belongs to the statement above, in ``__init__`` (which
    functional style's ``init_params()`` writes) as in ``forward``, not to
    the code after it.
    """
    loaded = loading.load_file(write(tmp_path, "tied_head.py", TIED_HEAD))
    conversion = nnconvert.convert(loaded.model, style, loaded.example_inputs)
    conversion.check(train=True)
    lines = [line.strip() for line in conversion.source.splitlines()]
    for first, then in [
        ("# tie the head to the embedding", "# as the paper does"),
        ("# scaled", "# by two"),
    ]:
        assert lines[lines.index(first) + 1] == then
    assert_before(conversion.source, "# by two", "# the head")


class Stage(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(x) + x


class Perceiver(nn.Module):
    """lucidrains' Perceiver: comments above a loop, and a flag tested at the end."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(4, 8)
        self.layers = nn.ModuleList([Stage() for _ in range(3)])
        self.head = nn.Linear(8, 2)

    def forward(self, x, return_embeddings=False):
        # the stem widens the input
        x = self.stem(x)

        # layers
        for stage in self.layers:
            x = stage(x)

        # allow for fetching embeddings
        if return_embeddings:
            return x

        # to logits
        return self.head(x)


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
def test_a_hoisted_guard_and_a_loop_take_only_their_own_comments(style):
    """The guard on ``return_embeddings`` stands first in the output, with its
    own comment only; the comments above the user's ``for`` stand above it."""
    text = converted(Perceiver(), style, torch.randn(2, 4))
    lines = [line.strip() for line in text.splitlines()]

    def after(comment: str) -> str:
        return lines[lines.index(comment) + 1]

    assert after("# allow for fetching embeddings").startswith("if return_embeddings")
    assert "stem" in after("# the stem widens the input")
    assert after("# layers").startswith("for ")
    assert after("# to logits").startswith("return ")


def test_a_functional_loops_comment_stays_above_it_read_back():
    """Read back, the functional file's ``for i in range(3):`` is the loop's
    ``for``: ``# layers`` stands above it again, and the text is the same."""
    torch.manual_seed(0)
    conversion = nnconvert.convert(Perceiver(), Style.FUNCTIONAL, (torch.randn(2, 4),))
    again = nnconvert.convert(
        load_output(conversion, "Perceiver"), Style.FUNCTIONAL, (torch.randn(2, 4),)
    )
    assert "    # layers\n    for i in range(3):\n" in again.source
    assert again.source == conversion.source


class Inverted(nn.Module):
    """MobileNetV3's ``InvertedResidual``: one of two commented Sequentials, by a size."""

    def __init__(self, c, expand, residual=True):
        super().__init__()
        self.residual = residual
        if not expand:
            self.conv = nn.Sequential(
                # depthwise-A
                nn.Conv2d(c, c, 3, 1, 1, groups=c),
                # pointwise-A
                nn.Conv2d(c, c, 1),
            )
        else:
            self.conv = nn.Sequential(
                # pointwise-B
                nn.Conv2d(c, 2 * c, 1),
                # depthwise-B
                nn.Conv2d(2 * c, 2 * c, 3, 1, 1, groups=2 * c),
                # project-B
                nn.Conv2d(2 * c, c, 1),
            )

    def forward(self, x):
        if self.residual:
            return x + self.conv(x)
        return self.conv(x)


class Inverteds(nn.Module):
    def __init__(self, residual=True):
        super().__init__()
        self.a = Inverted(4, expand=False, residual=residual)
        self.b = Inverted(4, expand=True, residual=residual)

    def forward(self, x):
        return self.b(self.a(x))


def _functions_saying(source: str, comment: str) -> list[str]:
    """The names of the functions of ``source`` whose body holds ``comment``."""
    return [
        text.split("(")[0]
        for text in source.split("\ndef ")[1:]
        if f"# {comment}\n" in text
    ]


@pytest.mark.parametrize("residual", [True, False], ids=["own", "inlined"])
def test_a_sequential_built_in_one_of_two_ways_says_the_comments_of_its_own(
    residual,
):
    """Each block's layers under its literal's comments, one above each layer.

    ``__init__`` assigns ``self.conv`` twice: the comments of the literal that
    built a block's Sequential are said above its layers, never those of the
    other (MobileNetV3 said ``# dw`` above a pointwise conv). Where the
    block's whole ``forward`` is the Sequential's call, its function prints
    the layers and says them there. Converted again, the output says them
    again where it did.
    """
    inputs = (torch.randn(2, 4, 6, 6),)
    with nnconvert.record_constructors():
        model = Inverteds(residual)
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    source = conversion.source
    first, second = (source.count(f"-{x}\n") for x in "AB")
    assert (first, second) == (2, 3)
    assert len(set(_functions_saying(source, "depthwise-A"))) == 1
    own_a = _functions_saying(source, "depthwise-A")[0]
    assert _functions_saying(source, "pointwise-A") == [own_a]
    assert own_a not in _functions_saying(source, "pointwise-B")
    body = source.split(f"\ndef {own_a}(")[1].split("\ndef ")[0]
    assert_before(body, "# depthwise-A", "groups=4")
    assert_before(body, "groups=4", "# pointwise-A")
    again = nnconvert.convert(
        load_output(conversion, "Inverteds"), Style.FUNCTIONAL, inputs
    )
    assert again.source == source


class Activated(nn.Module):
    """Two Sequentials of two layers each: their classes tell which built a block."""

    def __init__(self, smooth):
        super().__init__()
        if smooth:
            self.body = nn.Sequential(
                # smooth projection
                nn.Linear(4, 4),
                nn.Tanh(),
            )
        else:
            self.body = nn.Sequential(
                # rectified projection
                nn.Linear(4, 4),
                nn.ReLU(),
            )

    def forward(self, x):
        return x + self.body(x)


class TwoActivated(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Activated(True)
        self.second = Activated(False)

    def forward(self, x):
        return self.second(self.first(x))


def test_sequentials_of_one_length_are_told_apart_by_their_layers_classes():
    inputs = (torch.randn(3, 4),)
    with nnconvert.record_constructors():
        model = TwoActivated()
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    conversion.check(train=True)
    source = conversion.source
    assert source.count("# smooth projection") == 1
    assert source.count("# rectified projection") == 1
    smooth = source.split("# smooth projection")[1].split("\ndef ")[0]
    rectified = source.split("# rectified projection")[1].split("\ndef ")[0]
    assert "torch.tanh" in smooth and "relu" not in smooth
    assert "relu" in rectified and "tanh" not in rectified


LIBRARY_HELPER = """
import torch


def scaled_mask(module, x):
    # the library's own branch, about what this trace never runs
    mask = torch.ones_like(x)
    return module.fc(x) * mask
"""

LIBRARY_MODEL = """
import sys

import torch
from torch import nn

sys.path.insert(0, {folder!r})
from library_helper import scaled_mask


def _local(module, x):
    # a helper of the model's own file
    y = module.out(x)
    return y + 1


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.out = nn.Linear(4, 4)

    def forward(self, x):
        # the layer's own comment
        x = scaled_mask(self, x)
        return _local(self, x)


def example_inputs():
    return (torch.randn(2, 4),)
"""


@pytest.mark.parametrize("installed", [True, False], ids=["installed", "users"])
def test_a_model_librarys_helper_keeps_its_comments_out(
    installed, tmp_path, monkeypatch
):
    """Hugging Face's ``create_causal_mask`` is the library's, not the model's.

    A helper in another file of an installed package (``transformers``'
    ``masking_utils``) keeps its comments out of the output; the model's
    own file keeps its, and so does a helper of the user's own files.
    """
    helper = write(tmp_path, "library_helper.py", LIBRARY_HELPER)
    source = LIBRARY_MODEL.format(folder=str(tmp_path))
    model_file = write(tmp_path, "library_model.py", source)
    if installed:
        files = {str(helper), str(model_file)}
        monkeypatch.setattr(source_text, "is_installed", lambda file: file in files)
    monkeypatch.delitem(sys.modules, "library_helper", raising=False)
    loaded = loading.load_file(model_file)
    conversion = nnconvert.convert(
        loaded.model, Style.FUNCTIONAL, loaded.example_inputs
    )
    conversion.check(train=True)
    assert "# the layer's own comment" in conversion.source
    assert "# a helper of the model's own file" in conversion.source
    kept = "# the library's own branch" in conversion.source
    assert kept is not installed, conversion.source
