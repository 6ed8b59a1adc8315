"""Functional ``init_params()`` makes the model's own initialisation calls again.

The models below initialise as real ones do (nanoGPT's ``self.apply`` and
its loop over ``named_parameters()``, a block zeroing its own projection,
DINO's file-level ``trunc_normal_``, attention-is-all-you-need drawing
before it ties its embeddings). Code that ``init_code`` cannot write over a
weight dict is recorded while a new original is built and made again in
``init_params()``; each test runs the output's ``init_params()`` against a
new original under several seeds (same values bit for bit, same number of
draws), and converts the output again to the same text.
"""

from __future__ import annotations

from pathlib import Path

from nnconvert import loading

from .helpers import assert_same_construction, run, write

#: nanoGPT's initialisation, on a two-block model with tied embeddings.
APPLIED = """
import math

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        return x + self.proj(torch.relu(self.fc(x)))


class Gpt(nn.Module):
    def __init__(self, n_layer=2):
        super().__init__()
        self.wte = nn.Embedding(11, 8)
        self.blocks = nn.ModuleList([Block() for _ in range(n_layer)])
        self.head = nn.Linear(8, 11, bias=False)
        self.wte.weight = self.head.weight
        # init all weights
        self.apply(self._init_weights)
        # scaled init of the residual projections
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        x = self.wte(idx)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def example_inputs():
    return (torch.randint(0, 11, (2, 5)),)
"""

#: Each block initialises itself in its own ``__init__`` (through ``named_parameters()``,
#: which a weight dict has not), between the draws of the others.
IN_BLOCKS = """
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        for name, p in self.named_parameters():
            if name.endswith("weight"):
                nn.init.xavier_uniform_(p)
            else:
                nn.init.zeros_(p)

    def forward(self, x):
        return torch.relu(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Block(), Block(), Block())
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.blocks(x))


def example_inputs():
    return (torch.randn(4, 8),)
"""

#: DINO's own ``trunc_normal_``, written with tensor methods, applied to every Linear.
FILE_FUNCTION = """
import math

import torch
from torch import nn


def _no_grad_trunc_normal_(tensor, mean, std, a, b):
    with torch.no_grad():
        low = (1.0 + math.erf((a - mean) / std / math.sqrt(2.0))) / 2.0
        high = (1.0 + math.erf((b - mean) / std / math.sqrt(2.0))) / 2.0
        tensor.uniform_(2 * low - 1, 2 * high - 1)
        tensor.erfinv_()
        tensor.mul_(std * math.sqrt(2.0))
        tensor.add_(mean)
        tensor.clamp_(min=a, max=b)
        return tensor


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    return _no_grad_trunc_normal_(tensor, mean, std, a, b)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 12)
        self.norm = nn.LayerNorm(12)
        self.fc2 = nn.Linear(12, 6)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return self.fc2(self.norm(self.fc1(x)))


def example_inputs():
    return (torch.randn(3, 6),)
"""

#: Attention is all you need: every matrix drawn again, then the projection tied.
TIED_AFTER = """
import torch
from torch import nn


class Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.prj = nn.Linear(8, 10, bias=False)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.prj.weight = self.emb.weight

    def forward(self, src):
        return self.prj(self.emb(src))


def example_inputs():
    return (torch.randint(0, 10, (2, 3)),)
"""


def convert(path: Path) -> str:
    result = run("convert", path, "--to", "functional")
    assert result.exit_code == 0, result.output
    return result.stdout


def assert_made_again(path: Path, source: str) -> None:
    """Same tensors, same draws as a new original; converted again, the same text."""
    module = loading.import_file(path)
    cls = loading.pick_model(module, path, None)
    namespace: dict = {}
    exec(source, namespace)
    assert_same_construction(cls, namespace["init_params"])
    examples = path.read_text().split("def example_inputs", 1)[1]
    again = write(path.parent, "again.py", f"{source}\n\ndef example_inputs{examples}")
    assert convert(again) == source
    doc = " ".join(namespace["init_params"].__doc__.split())
    assert "under the same seed." in doc and "except" not in doc


def init_params_text(source: str) -> str:
    return source[source.index("def init_params") :]


def test_apply_and_named_parameters_loop_are_made_again_after_the_ties(tmp_path):
    path = write(tmp_path, "gpt.py", APPLIED)
    source = convert(path)
    assert_made_again(path, source)
    text = init_params_text(source)
    # after the tie, as self.apply ran on the tied weight
    tie = text.index('params["wte.weight"] = params["head.weight"]')
    assert tie < text.index("# init all weights")
    assert (
        "    # init all weights\n"
        "    # Gpt.__init__: self.apply(self._init_weights)\n"
        '    nn.init.normal_(params["head.weight"], std=0.02)\n'
        "    for i in range(2):\n"
        '        nn.init.normal_(params[f"blocks.{i}.fc.weight"], std=0.02)\n'
        '        nn.init.zeros_(params[f"blocks.{i}.fc.bias"])\n'
        '        nn.init.normal_(params[f"blocks.{i}.proj.weight"], std=0.02)\n'
        '        nn.init.zeros_(params[f"blocks.{i}.proj.bias"])\n'
        '    nn.init.normal_(params["head.weight"], std=0.02)\n'
        "    # scaled init of the residual projections\n"
        "    # Gpt.__init__: for name, p in self.named_parameters(): ...\n"
        '    nn.init.normal_(params["blocks.0.proj.weight"], std=0.01)\n'
        '    nn.init.normal_(params["blocks.1.proj.weight"], std=0.01)\n'
        "    return params\n"
    ) in text


def test_a_block_initialising_itself_is_made_again_among_the_draws(tmp_path):
    path = write(tmp_path, "net.py", IN_BLOCKS)
    source = convert(path)
    assert_made_again(path, source)
    text = init_params_text(source)
    # each block's calls after its own draws, before the next block's
    assert (
        '    params |= block_params("blocks.0")\n'
        '    nn.init.xavier_uniform_(params["blocks.0.fc.weight"])\n'
        '    nn.init.zeros_(params["blocks.0.fc.bias"])\n'
        '    params |= block_params("blocks.1")\n'
    ) in text
    assert text.index('params["blocks.2.fc.bias"]') < text.index(
        'params["head.weight"]'
    )


def test_a_function_of_the_file_is_called_and_kept(tmp_path):
    path = write(tmp_path, "mlp.py", FILE_FUNCTION)
    source = convert(path)
    assert_made_again(path, source)
    assert source.count("def trunc_normal_(") == 1
    assert source.count("def _no_grad_trunc_normal_(") == 1
    text = init_params_text(source)
    assert 'trunc_normal_(params["fc1.weight"], std=0.02)' in text
    assert 'nn.init.constant_(params["fc1.bias"], 0)' in text
    assert ".erfinv_()" not in text  # the function's steps stay in the function


def test_a_draw_into_a_weight_tied_away_afterwards_still_draws(tmp_path):
    path = write(tmp_path, "seq.py", TIED_AFTER)
    source = convert(path)
    assert_made_again(path, source)
    text = init_params_text(source)
    # prj's own weight was drawn, then replaced by emb's
    assert text.count("nn.init.xavier_uniform_(torch.empty(10, 8))") == 1
    assert 'nn.init.xavier_uniform_(params["' in text
    # a draw into nothing reads like a mistake: the docstring says why it is there
    assert "draws into a tensor that the model replaced" in " ".join(text.split())


#: Whisper's layers: subclasses with their own ``forward``, which no row explains.
SUBCLASSES = """
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm(nn.LayerNorm):
    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.float()).type(x.dtype)


class Linear(nn.Linear):
    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.to(x.dtype), self.bias.to(x.dtype))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = LayerNorm(8)
        self.proj = Linear(8, 16)
        self.out = nn.Linear(16, 4)

    def forward(self, x):
        return self.out(torch.relu(self.proj(self.ln(x))))


def example_inputs():
    return (torch.randn(3, 8),)
"""


def test_a_layer_subclass_is_drawn_as_its_layer_s_row_draws_it(tmp_path):
    """Whisper's subclasses change ``forward`` alone: their base layer built them."""
    path = write(
        tmp_path,
        "encoder.py",
        SUBCLASSES.replace("self.out = nn.Linear(16, 4)", "self.out = Linear(16, 4)"),
    )
    source = convert(path)
    assert_made_again(path, source)
    text = init_params_text(source)
    assert "set them before use" not in text and "Warning" not in text
    # with its layer's function: read back, the call says how they were made
    assert (
        '    params |= norm_params("ln", 8)\n'
        '    params |= kaiming_params("proj", 16, 8)\n'
        '    params |= kaiming_params("out", 4, 16)\n'
    ) in text


def test_a_layer_subclass_building_itself_is_drawn_by_the_calls_its_layer_made(
    tmp_path,
):
    """A subclass with an ``__init__`` of its own may build otherwise than its
    row: its tensors are drawn by the calls its layer made, each right after
    its tensor, the last one too."""
    own_init = (
        "class Linear(nn.Linear):\n"
        "    def __init__(self, n_in, n_out):\n"
        "        super().__init__(n_in, n_out)\n\n"
    )
    path = write(
        tmp_path,
        "encoder.py",
        SUBCLASSES.replace("self.out = nn.Linear(16, 4)", "self.out = Linear(16, 4)")
        .replace("class Linear(nn.Linear):\n", own_init)
        .replace(
            "class LayerNorm(nn.LayerNorm):\n",
            "class LayerNorm(nn.LayerNorm):\n    def __init__(self, n):\n        super().__init__(n)\n\n",
        ),
    )
    source = convert(path)
    assert_made_again(path, source)
    text = init_params_text(source)
    assert "set them before use" not in text and "Warning" not in text
    assert (
        '    params["ln.weight"] = torch.empty(8)\n'
        '    nn.init.ones_(params["ln.weight"])\n'
        '    params["ln.bias"] = torch.empty(8)\n'
        '    nn.init.zeros_(params["ln.bias"])\n'
        '    params["proj.weight"] = torch.empty(16, 8)\n'
        '    nn.init.kaiming_uniform_(params["proj.weight"], a=math.sqrt(5))\n'
    ) in text
    assert text.endswith(
        '    params["out.bias"] = torch.empty(4)\n'
        '    nn.init.uniform_(params["out.bias"], a=-0.25, b=0.25)\n'
        "    return params\n"
    )


#: DCGAN's weights_init, applied in ``__init__``: in-place methods on ``.data``.
DATA_METHODS = """
import torch
from torch import nn


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(8),
            nn.LeakyReLU(0.2),
            nn.Conv2d(8, 1, 4, 1, 0, bias=False),
        )
        self.apply(weights_init)

    def forward(self, x):
        return self.main(x)


def example_inputs():
    return (torch.randn(2, 3, 8, 8),)
"""


def test_in_place_methods_on_data_are_made_again(tmp_path):
    path = write(tmp_path, "dcgan.py", DATA_METHODS)
    source = convert(path)
    assert_made_again(path, source)
    text = init_params_text(source)
    assert (
        "    # Discriminator.__init__: self.apply(weights_init)\n"
        '    params["main.0.weight"].normal_(0.0, 0.02)\n'
        '    params["main.1.weight"].normal_(1.0, 0.02)\n'
        '    params["main.1.bias"].fill_(0)\n'
        '    params["main.3.weight"].normal_(0.0, 0.02)\n'
    ) in text


#: An LSTM tagger that re-initialises its recurrent weights, as many do.
ORTHOGONAL = """
import torch
from torch import nn


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(5, 8)
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.head = nn.Linear(8, 3)
        for name, weight in self.lstm.named_parameters():
            if name.startswith("weight_hh"):
                nn.init.orthogonal_(weight)

    def forward(self, x):
        out, _ = self.lstm(self.embed(x))
        return self.head(out)


def example_inputs():
    return (torch.randn(2, 4, 5),)
"""


def test_orthogonal_recurrent_weights_are_made_again(tmp_path):
    path = write(tmp_path, "tagger.py", ORTHOGONAL)
    source = convert(path)
    assert_made_again(path, source)
    assert (
        "    # Tagger.__init__: for name, weight in self.lstm.named_parameters(): ...\n"
        '    nn.init.orthogonal_(params["lstm.weight_hh_l0"])\n'
        "    return params\n"
    ) in init_params_text(source)


#: LeViT's attention: a norm zeroed before the layers listed ahead of it are built.
ZEROED_EARLY = """
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim=4):
        super().__init__()
        self.to_q = nn.Conv2d(dim, dim, 1, bias=False)
        out_batch_norm = nn.BatchNorm2d(dim)
        nn.init.zeros_(out_batch_norm.weight)
        self.to_out = nn.Sequential(nn.GELU(), nn.Conv2d(dim, dim, 1), out_batch_norm)

    def forward(self, x):
        return self.to_out(self.to_q(x))


def example_inputs():
    return (torch.randn(2, 4, 3, 3),)
"""


def test_a_call_on_a_layer_built_early_waits_for_the_layer_s_statement(tmp_path):
    path = write(tmp_path, "levit.py", ZEROED_EARLY)
    source = convert(path)
    assert_made_again(path, source)
    text = init_params_text(source)
    zeroed = text.index('nn.init.zeros_(params["to_out.2.weight"])')
    assert text.index('"to_out.2"') < zeroed


#: ConvNeXt's head: ``self.apply`` draws every layer again, then the root scales
#: the head (a statement over weights, which ``init_params()`` keeps as code).
APPLIED_THEN_SCALED = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, head_init_scale=0.5):
        super().__init__()
        self.stem = nn.Linear(4, 8)
        self.head = nn.Linear(8, 3)
        self.apply(self._init_weights)
        self.head.weight.data.mul_(head_init_scale)
        self.head.bias.data.mul_(head_init_scale)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.constant_(m.bias, 0.1)

    def forward(self, x):
        return self.head(torch.relu(self.stem(x)))


def example_inputs():
    return (torch.randn(2, 4),)
"""


def test_a_kept_statement_after_apply_scales_what_apply_drew(tmp_path):
    """``apply``'s calls on the head are made although the kept ``mul_`` names
    the head too, and the ``mul_`` comes after them, as in the source."""
    path = write(tmp_path, "net.py", APPLIED_THEN_SCALED)
    source = convert(path)
    assert_made_again(path, source)
    text = init_params_text(source)
    assert (
        "    # Net.__init__: self.apply(self._init_weights)\n"
        '    nn.init.trunc_normal_(params["stem.weight"], std=0.02)\n'
        '    nn.init.constant_(params["stem.bias"], 0.1)\n'
        '    nn.init.trunc_normal_(params["head.weight"], std=0.02)\n'
        '    nn.init.constant_(params["head.bias"], 0.1)\n'
        '    params["head.weight"].data.mul_(0.5)\n'
        '    params["head.bias"].data.mul_(0.5)\n'
        "    return params\n"
    ) in text
