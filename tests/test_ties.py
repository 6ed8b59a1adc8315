"""Tied weights: one tensor (or one layer) under several names stays one in every style.

Module and mixed style write the tie the user wrote, after the layers are
built; functional style reads the tensor under one key and ``init_params()``
stores it under every key; the train check's gradients fail a rewrite that
loses the tie.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad

import nnconvert
from nnconvert.errors import CheckError, ConversionError
from nnconvert.options import Style

from .helpers import assert_same_construction, functional, load_output

#: the printer's mixed style is under test: models of this file print from the trace
pytestmark = pytest.mark.printed_from_trace


class TiedEmbeddings(nn.Module):
    """GPT-style: the token embedding and the output layer share one weight (nanoGPT's way)."""

    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.ln = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.wte.weight = self.lm_head.weight

    def forward(self, idx):
        return self.lm_head(self.ln(self.wte(idx)))


class TiedTheOtherWay(nn.Module):
    """Hugging Face's direction: the output layer takes the embedding's weight."""

    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        return self.lm_head(torch.tanh(self.wte(idx)))


class SharedLayer(nn.Module):
    """One layer registered under two names, each name called once."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = self.a

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


class CalledTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


class ReadsTheSecondName(TiedEmbeddings):
    """``forward`` reads the tied weight under its second name, as a tensor."""

    def forward(self, idx):
        return F.linear(self.ln(self.wte(idx)), self.lm_head.weight) * 0.5


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.out = nn.Linear(4, 4)
        self.out.weight = self.fc.weight

    def forward(self, x):
        return self.out(torch.relu(self.fc(x)))


class SharedBlocks(nn.Module):
    """A tie inside a block class, a block and a list member shared, a tie across them."""

    def __init__(self):
        super().__init__()
        self.enc = Block()
        self.enc2 = self.enc
        self.layers = nn.ModuleList([nn.Linear(4, 4)] * 2)
        self.head = nn.Linear(4, 4)
        self.head.weight = self.layers[0].weight

    def forward(self, x):
        x = self.enc2(self.enc(x))
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


class TiedAcrossABlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(4, 4)
        self.blk = Block()
        self.blk.fc.weight = self.emb.weight

    def forward(self, x):
        return self.blk(self.emb(x))


class Stack(nn.Module):
    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, idx):
        return self.fc(self.embed_tokens(idx))


class SharedThroughTheStacks(nn.Module):
    """T5's way: ``shared`` declared first, reached only through the stacks' ties."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Embedding(11, 6)
        self.encoder = Stack()
        self.decoder = Stack()
        self.encoder.embed_tokens.weight = self.shared.weight
        self.decoder.embed_tokens.weight = self.shared.weight

    def forward(self, idx, decoder_idx):
        return self.decoder(decoder_idx) + self.encoder(idx).mean(1, keepdim=True)


def _tokens():
    return (torch.randint(0, 11, (2, 5)),)


def _vectors():
    return (torch.randn(3, 4),)


CASES = {
    "tied_embeddings": (TiedEmbeddings, _tokens),
    "tied_the_other_way": (TiedTheOtherWay, _tokens),
    "shared_layer": (SharedLayer, _vectors),
    "called_twice": (CalledTwice, _vectors),
    "reads_the_second_name": (ReadsTheSecondName, _tokens),
    "shared_blocks": (SharedBlocks, _vectors),
    "shared_through_the_stacks": (
        SharedThroughTheStacks,
        lambda: _tokens() + (torch.randint(0, 11, (2, 3)),),
    ),
}
STYLES = list(Style)
CLASS_STYLES = [Style.MODULE, Style.MIXED]


def _case(name):
    cls, inputs = CASES[name]
    torch.manual_seed(0)
    return cls(), inputs()


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("name", list(CASES))
def test_ties_convert_and_pass_eval_and_train_checks(name, style):
    model, inputs = _case(name)
    conversion = nnconvert.convert(model, style, inputs)
    report = conversion.check(train=True)
    assert "train, gradients of every parameter and input" in [
        r.label for r in report.results
    ]


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize(
    "name, statement",
    [
        ("tied_embeddings", "self.wte.weight = self.lm_head.weight"),
        ("tied_the_other_way", "self.lm_head.weight = self.wte.weight"),
        ("shared_layer", "self.b = self.a"),
        ("shared_blocks", "self.enc2 = self.enc"),
        ("shared_blocks", "self.layers[1] = self.layers[0]"),
        ("shared_blocks", "self.head.weight = self.layers[0].weight"),
        ("shared_blocks", "self.out.weight = self.fc.weight"),
    ],
)
def test_class_styles_write_the_tie_the_user_wrote(name, statement, style):
    model, inputs = _case(name)
    conversion = nnconvert.convert(model, style, inputs)
    assert f"        {statement}\n" in conversion.source
    assert conversion.source.count(statement) == 1  # in Block's class, once


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("name", list(CASES))
def test_class_styles_keep_both_keys_and_one_tensor(name, style):
    model, inputs = _case(name)
    rewrite = nnconvert.convert(model, style, inputs).load()
    assert sorted(rewrite.state_dict()) == sorted(model.state_dict())
    rewrite.load_state_dict(model.state_dict(), strict=True)
    assert _shared_keys(rewrite) == _shared_keys(model)
    assert sorted(k for k, _ in rewrite.named_parameters()) == sorted(
        k for k, _ in model.named_parameters()
    )


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
@pytest.mark.parametrize("name", list(CASES))
def test_class_style_outputs_reconvert_to_themselves(name, style):
    model, inputs = _case(name)
    first = nnconvert.convert(model, style, inputs)
    assert nnconvert.convert(first.load(), style, inputs).source == first.source


@pytest.mark.parametrize("name", list(CASES))
def test_functional_reads_one_key_per_tied_tensor(name):
    model, inputs = _case(name)
    namespace = functional(model, inputs)
    body = namespace["__source__"].split("def init_params")[0]
    canonical = dict(model.named_parameters())
    for key in model.state_dict():
        if key not in canonical and "." in key:
            assert f'"{key}"' not in body  # a second name: never read
    net = namespace[namespace["__name__"]]
    torch.testing.assert_close(net(dict(model.state_dict()), *inputs), model(*inputs))


@pytest.mark.parametrize("name", ["tied_embeddings", "shared_layer", "shared_blocks"])
def test_torch_func_grad_over_named_parameters_sums_every_use(name):
    """``grad`` over ``dict(model.named_parameters())``: one leaf per tied tensor."""
    model, inputs = _case(name)
    namespace = functional(model, inputs)
    net = namespace[namespace["__name__"]]
    params = {k: p.detach() for k, p in model.named_parameters()}
    got = grad(lambda p: net(p, *inputs).square().sum())(params)
    model.zero_grad()
    model(*inputs).square().sum().backward()
    for key, parameter in model.named_parameters():
        torch.testing.assert_close(got[key], parameter.grad)


@pytest.mark.parametrize(
    "name", ["tied_embeddings", "tied_the_other_way", "shared_layer", "shared_blocks"]
)
def test_init_params_stores_one_tensor_under_both_keys(name):
    model, inputs = _case(name)
    namespace = functional(model, inputs)
    params = namespace["init_params"]()
    state = model.state_dict(keep_vars=True)
    for group in _shared_keys(model):
        first, *rest = sorted(group, key=list(state).index)
        for key in rest:
            assert params[key] is params[first], key
    cls = CASES[name][0]
    assert_same_construction(cls, namespace["init_params"])  # bit for bit, same draws


def test_init_params_draws_both_layers_then_ties():
    model, inputs = _case("tied_embeddings")
    source = functional(model, inputs)["__source__"]
    init = source.split("def init_params")[1]
    # in layer calls: they write the root's parameters (printer/root_arguments.py)
    assert 'params |= embedding_params("wte", vocab, dim)' in init
    assert 'params |= kaiming_params("lm_head", vocab, dim, bias=False)' in init
    assert init.rstrip().endswith(
        'params["wte.weight"] = params["lm_head.weight"]\n    return params'
    )


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_class_that_loses_the_tie_fails_the_train_check(style):
    model, inputs = _case("tied_embeddings")
    conversion = nnconvert.convert(model, style, inputs)
    statement = "        self.wte.weight = self.lm_head.weight\n"
    untied = dataclasses.replace(
        conversion, source=conversion.source.replace(statement, "")
    )
    assert untied.source != conversion.source
    untied.check(train=False)  # eval cannot tell
    with pytest.raises(CheckError, match=r"train gradients: .*ties 'lm_head.weight'"):
        untied.check(train=True)


def test_a_function_that_reads_the_second_key_fails_the_train_check():
    model, inputs = _case("tied_embeddings")
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    body, init = conversion.source.split("def init_params")
    read = 'params["wte.weight"]'
    assert body.count(read) == 2  # the embedding, then the head's F.linear
    head = body.rindex(read)
    second = body[:head] + 'params["lm_head.weight"]' + body[head + len(read) :]
    untied = dataclasses.replace(conversion, source=second + "def init_params" + init)
    untied.check(train=False)  # eval cannot tell
    with pytest.raises(CheckError, match=r"output\['wte.weight'\] differs.*ties"):
        untied.check(train=True)


def test_a_layer_built_twice_instead_of_shared_fails_the_check():
    model, inputs = _case("shared_layer")
    conversion = nnconvert.convert(model, Style.MODULE, inputs)
    built_twice = conversion.source.replace(
        "self.b = self.a", "self.b = nn.Linear(4, 4)"
    )
    assert built_twice != conversion.source
    untied = dataclasses.replace(conversion, source=built_twice)
    untied.check(train=False)  # the weights load, eval agrees
    with pytest.raises(
        CheckError, match=r"not in the original \['b.bias', 'b.weight'\]"
    ):
        untied.check(train=True)


def test_functional_hands_a_block_the_tensor_it_shares_with_the_outside():
    """The block reads the caller's key under its own: one leaf, every use in its gradient."""
    model = TiedAcrossABlock()
    conversion = nnconvert.convert(model, Style.FUNCTIONAL, _vectors())
    flat = "".join(conversion.source.split())  # black wraps the nested call
    assert (
        'block({**sub_params(params,"blk."),"fc.weight":params["emb.weight"]},' in flat
    )
    conversion.check(train=True)
    for style in CLASS_STYLES:  # class styles write it in the root
        conversion = nnconvert.convert(model, style, _vectors())
        assert "        self.blk.fc.weight = self.emb.weight\n" in conversion.source
        conversion.check(train=True)


def test_class_styles_declare_an_unused_tied_layer_where_the_original_does():
    """``shared`` first: ``named_parameters()`` names the tied tensor ``shared.weight``."""
    model, inputs = _case("shared_through_the_stacks")
    for style in CLASS_STYLES:
        conversion = nnconvert.convert(model, style, inputs)
        conversion.check(train=True)
        names = [name for name, _ in conversion.load().named_parameters()]
        assert names == [name for name, _ in model.named_parameters()]


class LoopedBlocks(nn.Module):
    def __init__(self, tied=(0, 1, 2)):
        super().__init__()
        self.emb = nn.Linear(4, 4)
        self.blocks = nn.ModuleList([Block() for _ in range(3)])
        for index in tied:
            self.blocks[index].fc.weight = self.emb.weight

    def forward(self, x):
        x = self.emb(x)
        for block in self.blocks:
            x = block(x)
        return x


def test_functional_hands_looped_blocks_the_tensor_they_share_with_the_outside():
    conversion = nnconvert.convert(LoopedBlocks(), Style.FUNCTIONAL, _vectors())
    assert "for i in range(3):" in conversion.source
    assert '"fc.weight": params["emb.weight"]}' in conversion.source
    conversion.check(train=True)
    # one block tied, the others not: no loop, each call hands its own
    conversion = nnconvert.convert(LoopedBlocks([1]), Style.FUNCTIONAL, _vectors())
    assert conversion.source.count('"fc.weight": params["emb.weight"]}') == 1
    conversion.check(train=True)


HANDED_IN = {
    "across_a_block": (TiedAcrossABlock, _vectors),
    "into_looped_blocks": (LoopedBlocks, _vectors),
}


@pytest.mark.parametrize("name", list(HANDED_IN))
def test_a_tensor_handed_into_a_block_reads_back_as_the_block(name):
    """``{**sub_params(params, "blk."), "fc.weight": params["emb.weight"]}`` is ``blk``'s weights.

    Read back, the call is the block again (not inlined layers over a
    ``ParameterDict``): the functional text is a fixed point, and the class
    styles made from it are those made from the original.
    """
    cls, inputs = HANDED_IN[name]
    torch.manual_seed(0)
    model = cls()
    first = nnconvert.convert(model, Style.FUNCTIONAL, inputs())
    assert "{**sub_params(params, " in first.source
    read_back = load_output(first)
    again = nnconvert.convert(read_back, Style.FUNCTIONAL, inputs())
    assert again.source == first.source
    again.check(train=True)
    for style in CLASS_STYLES:
        via_functional = nnconvert.convert(read_back, style, inputs())
        assert via_functional.source == nnconvert.convert(model, style, inputs()).source
        via_functional.check(train=True)


class Coder(nn.Module):
    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.word_emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.norm = nn.LayerNorm(dim)

    def forward(self, idx):
        return self.norm(self.word_emb(idx))


class TiedAcrossBlocks(nn.Module):
    """attention-is-all-you-need's way: two blocks' embeddings and the projection, one tensor."""

    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.encoder = Coder(vocab, dim)
        self.decoder = Coder(vocab, dim)
        self.prj = nn.Linear(dim, vocab, bias=False)
        self.encoder.word_emb.weight = self.decoder.word_emb.weight
        self.prj.weight = self.decoder.word_emb.weight

    def forward(self, idx, trg):
        return self.prj(self.decoder(trg) + self.encoder(idx).mean(1, keepdim=True))


class TiedWithABias(TiedEmbeddings):
    """The output layer keeps a bias of its own beside the tied weight."""

    def __init__(self, vocab=11, dim=6):
        super().__init__(vocab, dim)
        self.lm_head = nn.Linear(dim, vocab)
        self.wte.weight = self.lm_head.weight


READ_BACK = {
    "tied_across_blocks": (
        TiedAcrossBlocks,
        lambda: _tokens() + (torch.randint(0, 11, (2, 3)),),
    ),
    "tied_with_a_bias": (TiedWithABias, _tokens),
}


@pytest.mark.parametrize(
    "name",
    [
        "shared_layer",
        "called_twice",
        "tied_embeddings",
        "tied_the_other_way",
        "reads_the_second_name",
        "shared_through_the_stacks",
        *READ_BACK,
    ],
)
def test_functional_output_reconverts_to_itself(name):
    """A shared layer's second name is the same tensor in place: the functional text holds it.

    A tensor tied between layers is read under one key, by every layer's
    call: read back, each call is its own layer's again, and the tie goes
    the way ``init_params()`` writes it, so the layers' draws and the tie
    are written as before.
    """
    if name in READ_BACK:
        cls, inputs = READ_BACK[name]
        torch.manual_seed(0)
        model, inputs = cls(), inputs()
    else:
        model, inputs = _case(name)
    first = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    again = nnconvert.convert(load_output(first), Style.FUNCTIONAL, inputs)
    assert again.source == first.source
    again.check(train=True)


def test_functional_input_keeps_one_tensor_under_two_keys():
    """A functional file's weights tied by ``init_params()`` stay tied in class styles."""
    model, inputs = _case("tied_embeddings")
    first = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    read_back = load_output(first)
    state = read_back.module.state_dict(keep_vars=True)
    assert state["wte.weight"] is state["lm_head.weight"]
    for style in STYLES:
        nnconvert.convert(read_back, style, inputs).check(train=True)


def _shared_keys(model: nn.Module) -> list[set[str]]:
    """Groups of ``state_dict()`` keys that hold one tensor."""
    groups: dict[int, set[str]] = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        groups.setdefault(id(tensor), set()).add(key)
    return sorted((g for g in groups.values() if len(g) > 1), key=sorted)


class StageWithSharedLayer(nn.Module):
    """timm's CoaT: one layer built by the model and handed to every block of a stage.

    ``forward`` never calls ``self.cpe1`` itself; the blocks do.
    """

    def __init__(self):
        super().__init__()
        self.cpe1 = nn.Linear(4, 4)
        self.blocks = nn.ModuleList([_UsesShared(self.cpe1) for _ in range(2)])
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class _UsesShared(nn.Module):
    def __init__(self, shared: nn.Module):
        super().__init__()
        self.cpe = shared
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.cpe(x) + x)


@pytest.mark.parametrize("style", CLASS_STYLES, ids=lambda s: s.value)
def test_a_layer_only_blocks_call_is_registered_before_them(style):
    """Else ``named_parameters()`` names the shared tensors after a block, and the
    train check finds ``cpe1.weight``'s gradient missing."""
    torch.manual_seed(0)
    model = StageWithSharedLayer()
    conversion = nnconvert.convert(model, style, _vectors())
    conversion.check(train=True)
    rewrite = conversion.load()
    assert list(rewrite.state_dict()) == list(model.state_dict())
    assert [k for k, _ in rewrite.named_parameters()] == [
        k for k, _ in model.named_parameters()
    ]
