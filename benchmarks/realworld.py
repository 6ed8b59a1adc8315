"""The real-world suite: model files from public repositories, converted in every style.

Each file in ``benchmarks/realworld/`` is a model file as its authors published
it (the header names the repository, commit and licence); this script builds
each model the way its repository does (a factory such as ``ResNet18()``, or
the class with the sizes its training script uses, made small), converts it to
every style with ``nnconvert.convert`` and runs the full check (eval and train
mode) with ``Conversion.check(train=True)``. Random weights only.

A second group of columns, *fresh build*, measures what a user who builds
the output anew and trains it from scratch gets (SPEC invariant 7): after
``torch.manual_seed(0)``, the output is built (module and mixed: its class
called with no arguments; functional: its ``init_params()``) and so is the
original (as the benchmark builds it, constructors recorded); the cell is
``n/m``, ``n`` of the ``m`` ``state_dict`` tensors equal bit for bit, or
``error: ...`` when a build fails (``no output`` when the conversion
failed). It is a measurement, not a pass/fail: a model whose ``__init__``
draws its weights again (``nn.init.orthogonal_``, ``self.apply(...)``)
differs in functional style, whose ``init_params()`` draws each layer as
``torch.nn`` does by default. The totals row sums the tensors over the
models that built and counts the models with every tensor equal.

A third group, *root parameters*, checks what the output's root promises:
each parameter its class (functional: ``init_params()``) takes, given
another value the original's class accepts, must build what the original
builds with it (:func:`root_parameters`); a config it takes, each field
changed in turn.

A fourth, *other shapes*, counts the input shapes other than the example's
that the original accepts and the output runs alike (:func:`other_shapes_cell`,
from the check's own runs): an output whose shape guard refuses one answered
from the example a size its source computes (SPEC invariant 7).

Run (about two minutes on 2 cores; ``--models`` takes a subset)::

    python benchmarks/realworld.py                      # -> benchmarks/realworld.md
    python benchmarks/realworld.py --models nanogpt cifar_resnet --output -

``vit_pytorch`` needs ``einops`` (``pip install einops``); without it that row
says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import inspect
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch

import nnconvert
from nnconvert.check import GUARD_REFUSES, OTHER_SHAPE, CheckReport
from nnconvert.init_arguments import recorded_call
from nnconvert.init_code import equal_keys, fresh_states
from nnconvert.options import Style
from nnconvert.printer.init_params import function_name
from nnconvert.root_promises import other_value, recorded_keywords

HERE = Path(__file__).parent
SUITE = HERE / "realworld"
STYLES = ("module", "functional", "mixed")
TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Entry:
    """One model of the suite: its file, how its repository builds it, its inputs."""

    name: str
    file: str
    build: Callable[[ModuleType], torch.nn.Module]
    inputs: Callable[[], tuple[Any, ...]]
    #: the file's function that builds the model, as ``--class`` gives it to
    #: the CLI: it names an output whose class is torch's (``nn.Sequential``)
    factory: str | None = None


def images(*shape: int) -> Callable[[], tuple[Any, ...]]:
    return lambda: (torch.randn(*shape),)


def tokens(vocabulary: int, *shape: int) -> Callable[[], tuple[Any, ...]]:
    return lambda: (torch.randint(0, vocabulary, shape),)


def word_language_model(kind: str) -> Callable[[ModuleType], torch.nn.Module]:
    return lambda m: m.RNNModel(kind, 50, 16, 16, 2, dropout=0.2)


def recurrent_inputs(kind: str) -> Callable[[], tuple[Any, ...]]:
    def make() -> tuple[Any, ...]:
        state = torch.zeros(2, 3, 16)
        hidden = (state, state.clone()) if kind == "LSTM" else state
        return (torch.randint(0, 50, (7, 3)), hidden)

    return make


def tokens_and_targets(vocabulary: int, *shape: int) -> Callable[[], tuple[Any, ...]]:
    """``model(X, Y)``, as nanoGPT's train.py calls it: the loss is computed too."""
    return lambda: (
        torch.randint(0, vocabulary, shape),
        torch.randint(0, vocabulary, shape),
    )


def nanogpt(m: ModuleType) -> torch.nn.Module:
    config = m.GPTConfig(
        block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=16, dropout=0.1
    )
    return m.GPT(config)


def makemore(kind: str, *arguments: str) -> Callable[[ModuleType], torch.nn.Module]:
    """makemore's ``--type`` models, built as its script builds them, made small."""

    def build(m: ModuleType) -> torch.nn.Module:
        config = m.ModelConfig(
            vocab_size=27, block_size=8, n_layer=2, n_head=2, n_embd=16, n_embd2=16
        )
        return getattr(m, kind)(config, *arguments)

    return build


def translation_inputs() -> tuple[Any, ...]:
    """What language_translation/main.py passes: sequence-first tokens and masks."""
    src = torch.randint(0, 60, (9, 2))
    tgt = torch.randint(0, 50, (7, 2))
    src_mask = torch.zeros(9, 9)
    tgt_mask = torch.nn.Transformer.generate_square_subsequent_mask(7)
    src_padding_mask = torch.zeros(2, 9, dtype=torch.bool)
    src_padding_mask[1, 6:] = True
    tgt_padding_mask = torch.zeros(2, 7, dtype=torch.bool)
    tgt_padding_mask[1, 5:] = True
    return (
        src,
        tgt,
        src_mask,
        tgt_mask,
        src_padding_mask,
        tgt_padding_mask,
        src_padding_mask.clone(),
    )


def mingpt(m: ModuleType) -> torch.nn.Module:
    """minGPT's GPT, configured the way its CfgNode would be (a small custom size)."""
    config = SimpleNamespace(
        model_type=None,
        n_layer=2,
        n_head=2,
        n_embd=16,
        vocab_size=50,
        block_size=16,
        embd_pdrop=0.1,
        resid_pdrop=0.1,
        attn_pdrop=0.1,
    )
    return m.GPT(config)


def clip(vision_layers: Any, vision_width: int, resolution: int, patch: Any):
    """OpenAI's CLIP as ``build_model`` sizes it from a checkpoint, made small."""
    return lambda m: m.CLIP(
        embed_dim=16,
        image_resolution=resolution,
        vision_layers=vision_layers,
        vision_width=vision_width,
        vision_patch_size=patch,
        context_length=8,
        vocab_size=50,
        transformer_width=16,
        transformer_heads=2,
        transformer_layers=2,
    )


def clip_inputs(resolution: int) -> Callable[[], tuple[Any, ...]]:
    """Images and tokenized text as ``clip.tokenize`` pads it: the end token (the
    vocabulary's largest id, which ``text.argmax(-1)`` finds) then zeros."""

    def make() -> tuple[Any, ...]:
        text = torch.randint(1, 49, (2, 8))
        text[0, 5], text[0, 6:] = 49, 0
        text[1, 7] = 49
        return (torch.randn(2, 3, resolution, resolution), text)

    return make


def attention_is_all_you_need(m: ModuleType) -> torch.nn.Module:
    """train.py's Transformer (one vocabulary, both weight sharings on), made small."""
    return m.Transformer(
        40,
        40,
        src_pad_idx=0,
        trg_pad_idx=0,
        d_word_vec=16,
        d_model=16,
        d_inner=32,
        n_layers=2,
        n_head=2,
        d_k=8,
        d_v=8,
        dropout=0.1,
        n_position=20,
    )


def padded_source_and_target() -> tuple[Any, ...]:
    """``model(src_seq, trg_seq)`` as train.py calls it: batch first, 0 pads."""
    source = torch.randint(1, 40, (2, 9))
    source[1, 6:] = 0
    target = torch.randint(1, 40, (2, 7))
    target[1, 5:] = 0
    return (source, target)


def graph_inputs() -> tuple[Any, ...]:
    """Node features and an adjacency matrix with self-loops, as gat/main.py's Cora."""
    adjacency = (torch.rand(10, 10) < 0.3).float()
    adjacency = ((adjacency + adjacency.T + torch.eye(10)) > 0).float()
    return (torch.randn(10, 12), adjacency)


def sparse_graph_inputs() -> tuple[Any, ...]:
    """What gcn/main.py's ``load_cora`` returns: sparse features, a sparse D^-1/2 (A + I) D^-1/2."""
    features = (torch.rand(10, 12) < 0.3).float()
    adjacency = (torch.rand(10, 10) < 0.3).float()
    adjacency = ((adjacency + adjacency.T) > 0).float() + torch.eye(10)
    degree = torch.diag(adjacency.sum(dim=1) ** -0.5)
    return (features.to_sparse(), (degree @ adjacency @ degree).to_sparse())


def snli(m: ModuleType) -> torch.nn.Module:
    """legacy/snli's classifier, configured as train.py's defaults do (made small)."""
    config = SimpleNamespace(
        n_embed=30,
        d_embed=8,
        d_proj=12,
        d_hidden=10,
        n_layers=1,
        dp_ratio=0.2,
        birnn=True,
        n_cells=2,  # n_layers, doubled for the bidirectional encoder
        projection=True,
        fix_emb=True,
        d_out=3,
    )
    return m.SNLIClassifier(config)


def premise_and_hypothesis() -> tuple[Any, ...]:
    """A torchtext batch: sequence-first premise and hypothesis tokens."""
    batch = SimpleNamespace(
        premise=torch.randint(0, 30, (7, 2)), hypothesis=torch.randint(0, 30, (5, 2))
    )
    return (batch,)


def detr_transformer(m: ModuleType) -> torch.nn.Module:
    """DETR's transformer as ``build_transformer`` builds it (post-norm, intermediate
    decoder outputs), made small."""
    return m.Transformer(
        d_model=16,
        nhead=2,
        num_encoder_layers=2,
        num_decoder_layers=2,
        dim_feedforward=32,
        dropout=0.1,
        return_intermediate_dec=True,
    )


def detr_inputs() -> tuple[Any, ...]:
    """What DETR's model passes: backbone features, their padding mask, the query
    embeddings and the positional encoding."""
    mask = torch.zeros(2, 4, 5, dtype=torch.bool)
    mask[1, :, 4:] = True  # the second image is narrower: padded on the right
    return (
        torch.randn(2, 16, 4, 5),
        mask,
        torch.randn(6, 16),
        torch.randn(2, 16, 4, 5),
    )


def llama2c(m: ModuleType) -> torch.nn.Module:
    """llama2.c's Llama, sized as its train.py's defaults in small (grouped-query attention)."""
    arguments = m.ModelArgs(
        dim=16,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        vocab_size=40,
        multiple_of=8,
        max_seq_len=12,
        dropout=0.1,
    )
    return m.Transformer(arguments)


def dino_vit(m: ModuleType) -> torch.nn.Module:
    """DINO's ``vit_tiny`` recipe (qkv bias, LayerNorm eps 1e-6), made small, with
    the stochastic depth its training uses."""
    return m.VisionTransformer(
        img_size=[32],
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        mlp_ratio=4,
        qkv_bias=True,
        norm_layer=m.partial(torch.nn.LayerNorm, eps=1e-6),
        drop_path_rate=0.1,
    )


def whisper(m: ModuleType) -> torch.nn.Module:
    """``Whisper(ModelDimensions(...))`` as ``whisper.load_model`` builds it, made small."""
    return m.Whisper(
        m.ModelDimensions(
            n_mels=8,
            n_audio_ctx=6,
            n_audio_state=16,
            n_audio_head=2,
            n_audio_layer=2,
            n_vocab=50,
            n_text_ctx=8,
            n_text_state=16,
            n_text_head=2,
            n_text_layer=2,
        )
    )


def mel_and_tokens() -> tuple[Any, ...]:
    """``model(mel, tokens)``: a log-mel spectrogram (twice the audio context) and tokens."""
    return (torch.randn(2, 8, 12), torch.randint(0, 50, (2, 5)))


ENTRIES = [
    Entry("cifar_lenet", "cifar_lenet.py", lambda m: m.LeNet(), images(2, 3, 32, 32)),
    Entry("cifar_vgg", "cifar_vgg.py", lambda m: m.VGG("VGG11"), images(2, 3, 32, 32)),
    Entry(
        "cifar_resnet", "cifar_resnet.py", lambda m: m.ResNet18(), images(2, 3, 32, 32)
    ),
    Entry(
        "cifar_preact_resnet",
        "cifar_preact_resnet.py",
        lambda m: m.PreActResNet18(),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cifar_mobilenetv2",
        "cifar_mobilenetv2.py",
        lambda m: m.MobileNetV2(),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cifar_densenet",
        "cifar_densenet.py",
        lambda m: m.densenet_cifar(),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cifar_googlenet",
        "cifar_googlenet.py",
        lambda m: m.GoogLeNet(),
        images(2, 3, 32, 32),
    ),
    Entry("cifar_senet", "cifar_senet.py", lambda m: m.SENet18(), images(2, 3, 32, 32)),
    Entry(
        "cifar_shufflenetv2",
        "cifar_shufflenetv2.py",
        lambda m: m.ShuffleNetV2(net_size=0.5),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cifar_efficientnet",
        "cifar_efficientnet.py",
        lambda m: m.EfficientNetB0(),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cifar_dla_simple",
        "cifar_dla_simple.py",
        lambda m: m.SimpleDLA(),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cifar_regnet",
        "cifar_regnet.py",
        lambda m: m.RegNetX_200MF(),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cifar_mobilenet",
        "cifar_mobilenet.py",
        lambda m: m.MobileNet(),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cifar_pnasnet",
        "cifar_pnasnet.py",
        lambda m: m.PNASNetA(),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cifar_resnext",
        "cifar_resnext.py",
        lambda m: m.ResNeXt29_2x64d(),
        images(2, 3, 32, 32),
    ),
    Entry("cifar_dpn", "cifar_dpn.py", lambda m: m.DPN26(), images(2, 3, 32, 32)),
    Entry("cifar_dla", "cifar_dla.py", lambda m: m.DLA(), images(2, 3, 32, 32)),
    Entry(
        "examples_mnist", "examples_mnist.py", lambda m: m.Net(), images(2, 1, 28, 28)
    ),
    Entry("examples_vae", "examples_vae.py", lambda m: m.VAE(), images(2, 1, 28, 28)),
    Entry(
        "examples_dcgan_generator",
        "examples_dcgan.py",
        lambda m: m.Generator(m.ngpu),
        images(2, 100, 1, 1),
    ),
    Entry(
        "examples_dcgan_discriminator",
        "examples_dcgan.py",
        lambda m: m.Discriminator(m.ngpu),
        images(2, 3, 64, 64),
    ),
    Entry(
        "examples_super_resolution",
        "examples_super_resolution.py",
        lambda m: m.Net(upscale_factor=3),
        images(2, 1, 16, 16),
    ),
    Entry(
        "examples_word_language_model_lstm",
        "examples_word_language_model.py",
        word_language_model("LSTM"),
        recurrent_inputs("LSTM"),
    ),
    Entry(
        "examples_word_language_model_gru",
        "examples_word_language_model.py",
        word_language_model("GRU"),
        recurrent_inputs("GRU"),
    ),
    Entry(
        "examples_word_language_model_transformer",
        "examples_word_language_model.py",
        lambda m: m.TransformerModel(50, 16, 2, 16, 2, dropout=0.2),
        tokens(50, 7, 3),
    ),
    Entry(
        "examples_fast_neural_style",
        "examples_fast_neural_style.py",
        lambda m: m.TransformerNet(),
        images(2, 3, 32, 32),
    ),
    Entry(
        "examples_translation",
        "examples_translation.py",
        lambda m: m.Translator(2, 2, 32, 4, 60, 50, 64, 0.1),
        translation_inputs,
    ),
    Entry(
        "examples_mnist_rnn",
        "examples_mnist_rnn.py",
        lambda m: m.Net(),
        images(2, 1, 28, 28),
    ),
    Entry(
        "examples_time_sequence",
        "examples_time_sequence.py",
        lambda m: m.Sequence().double(),
        lambda: (torch.randn(3, 20, dtype=torch.double),),
    ),
    Entry("nanogpt", "nanogpt.py", nanogpt, tokens_and_targets(50, 2, 8)),
    Entry("mingpt", "mingpt.py", mingpt, tokens_and_targets(50, 2, 8)),
    Entry(
        "vit_pytorch",
        "vit_pytorch.py",
        lambda m: m.ViT(
            image_size=32,
            patch_size=8,
            num_classes=10,
            dim=32,
            depth=2,
            heads=2,
            mlp_dim=64,
        ),
        images(2, 3, 32, 32),
    ),
    Entry(
        "clip_vit",
        "openai_clip.py",
        clip(vision_layers=2, vision_width=64, resolution=32, patch=8),
        clip_inputs(32),
    ),
    Entry(
        "clip_resnet",
        "openai_clip.py",
        clip(vision_layers=(1, 1, 1, 1), vision_width=8, resolution=64, patch=None),
        clip_inputs(64),
    ),
    Entry(
        "attention_is_all_you_need",
        "attention_is_all_you_need.py",
        attention_is_all_you_need,
        padded_source_and_target,
    ),
    Entry(
        "examples_gat",
        "examples_gat.py",
        lambda m: m.GAT(in_features=12, n_hidden=8, n_heads=2, num_classes=3),
        graph_inputs,
    ),
    Entry(
        "examples_gcn",
        "examples_gcn.py",
        lambda m: m.GCN(input_dim=12, hidden_dim=8, output_dim=3),
        sparse_graph_inputs,
    ),
    Entry("examples_snli", "examples_snli.py", snli, premise_and_hypothesis),
    Entry("detr_transformer", "detr_transformer.py", detr_transformer, detr_inputs),
    Entry(
        "locuslab_tcn",
        "locuslab_tcn.py",
        # the sequential MNIST recipe of the repository's README, made small
        lambda m: m.TemporalConvNet(3, [8, 8, 8], kernel_size=2, dropout=0.2),
        images(2, 3, 16),
    ),
    Entry(
        "tutorial_resnet",
        "tutorial_resnet.py",
        lambda m: m.ResNet(m.ResidualBlock, [2, 2, 2]),  # as the script builds it
        images(2, 3, 32, 32),
    ),
    Entry(
        "tutorial_birnn",
        "tutorial_birnn.py",
        # the script's sizes, made small: MNIST rows as a sequence of 28
        lambda m: m.BiRNN(input_size=28, hidden_size=16, num_layers=2, num_classes=10),
        images(2, 28, 28),
    ),
    Entry("llama2c", "llama2c.py", llama2c, tokens_and_targets(40, 2, 8)),
    Entry("dino_vit", "dino_vit.py", dino_vit, images(2, 3, 32, 32)),
    Entry("openai_whisper", "openai_whisper.py", whisper, mel_and_tokens),
    Entry(
        "mamba_minimal",
        "mamba_minimal.py",
        # the README's demo model, made small
        lambda m: m.Mamba(m.ModelArgs(d_model=16, n_layer=2, vocab_size=50)),
        tokens(50, 2, 8),
    ),
    Entry(
        "convmixer",
        "convmixer.py",
        # the README's ConvMixer-1536/20 recipe, made small
        lambda m: m.ConvMixer(32, 2, kernel_size=5, patch_size=4, n_classes=10),
        images(2, 3, 32, 32),
        factory="ConvMixer",
    ),
    Entry(
        "mlp_mixer",
        "mlp_mixer.py",
        # the README's example, made small
        lambda m: m.MLPMixer(
            image_size=32,
            channels=3,
            patch_size=8,
            dim=16,
            depth=2,
            num_classes=10,
            dropout=0.1,
        ),
        images(2, 3, 32, 32),
        factory="MLPMixer",
    ),
    # train_classification.py / train_segmentation.py, --feature_transform, made small
    Entry(
        "pointnet_cls",
        "pointnet.py",
        lambda m: m.PointNetCls(k=5, feature_transform=True),
        images(2, 3, 64),
    ),
    Entry(
        "pointnet_seg",
        "pointnet.py",
        lambda m: m.PointNetDenseCls(k=4, feature_transform=True),
        images(2, 3, 64),
    ),
    *(
        Entry(f"makemore_{name}", "makemore.py", build, tokens_and_targets(27, 2, 8))
        for name, build in [
            ("transformer", makemore("Transformer")),
            ("bow", makemore("BoW")),
            ("rnn", makemore("RNN", "rnn")),
            ("gru", makemore("RNN", "gru")),
            ("mlp", makemore("MLP")),
            ("bigram", makemore("Bigram")),
        ]
    ),
    # lucidrains/vit-pytorch's variants: each README example, made small but
    # two layers deep where a loop runs over them (a layer dropout of 0: CaiT
    # and XCiT drop layers by a random draw in eval mode too, which no trace
    # can follow)
    *(
        Entry(f"lucidrains_{name}", f"lucidrains_{name}.py", build, images(*shape))
        for name, build, shape in [
            (
                "simple_vit",
                lambda m: m.SimpleViT(
                    image_size=32,
                    patch_size=8,
                    num_classes=10,
                    dim=32,
                    depth=2,
                    heads=2,
                    mlp_dim=64,
                ),
                (2, 3, 32, 32),
            ),
            (
                "deepvit",
                lambda m: m.DeepViT(
                    image_size=32,
                    patch_size=8,
                    num_classes=10,
                    dim=32,
                    depth=2,
                    heads=2,
                    mlp_dim=64,
                    dropout=0.1,
                    emb_dropout=0.1,
                ),
                (2, 3, 32, 32),
            ),
            (
                "cait",
                lambda m: m.CaiT(
                    image_size=32,
                    patch_size=8,
                    num_classes=10,
                    dim=32,
                    depth=2,
                    cls_depth=1,
                    heads=2,
                    mlp_dim=64,
                    dropout=0.1,
                    emb_dropout=0.1,
                ),
                (2, 3, 32, 32),
            ),
            (
                "cct",
                lambda m: m.CCT(
                    img_size=32,
                    embedding_dim=32,
                    n_conv_layers=1,
                    kernel_size=3,
                    stride=1,
                    padding=1,
                    pooling_kernel_size=3,
                    pooling_stride=2,
                    pooling_padding=1,
                    num_layers=2,
                    num_heads=2,
                    mlp_ratio=2.0,
                    num_classes=10,
                    positional_embedding="learnable",
                ),
                (2, 3, 32, 32),
            ),
            (
                "pit",
                lambda m: m.PiT(
                    image_size=32,
                    patch_size=4,
                    dim=32,
                    num_classes=10,
                    depth=(2, 2),
                    heads=2,
                    mlp_dim=64,
                    dropout=0.1,
                    emb_dropout=0.1,
                ),
                (2, 3, 32, 32),
            ),
            (
                "levit",
                lambda m: m.LeViT(
                    image_size=64,
                    num_classes=10,
                    stages=2,
                    dim=(32, 48),
                    depth=2,
                    heads=(2, 3),
                    mlp_mult=2,
                    dropout=0.1,
                ),
                (2, 3, 64, 64),
            ),
            (
                "cvt",
                lambda m: m.CvT(
                    num_classes=10,
                    s1_emb_dim=16,
                    s1_depth=1,
                    s2_emb_dim=32,
                    s2_heads=2,
                    s2_depth=1,
                    s3_emb_dim=48,
                    s3_heads=2,
                    s3_depth=1,
                ),
                (2, 3, 64, 64),
            ),
            (
                "nest",
                lambda m: m.NesT(
                    image_size=32,
                    patch_size=4,
                    dim=16,
                    heads=2,
                    num_hierarchies=2,
                    block_repeats=(2, 2),
                    num_classes=10,
                ),
                (2, 3, 32, 32),
            ),
            (
                "mobile_vit",
                lambda m: m.MobileViT(
                    image_size=(64, 64),
                    dims=[16, 24, 32],
                    channels=[8, 16, 16, 16, 24, 24, 32, 32, 40, 40, 64],
                    num_classes=10,
                ),
                (2, 3, 64, 64),
            ),
            (
                "xcit",
                lambda m: m.XCiT(
                    image_size=32,
                    patch_size=8,
                    num_classes=10,
                    dim=32,
                    depth=2,
                    cls_depth=1,
                    heads=2,
                    mlp_dim=64,
                    dropout=0.1,
                    emb_dropout=0.1,
                ),
                (2, 3, 32, 32),
            ),
            (
                "cross_vit",
                lambda m: m.CrossViT(
                    image_size=32,
                    num_classes=10,
                    depth=1,
                    sm_dim=16,
                    sm_patch_size=8,
                    sm_enc_depth=2,
                    sm_enc_heads=2,
                    sm_enc_mlp_dim=32,
                    lg_dim=32,
                    lg_patch_size=16,
                    lg_enc_depth=2,
                    lg_enc_heads=2,
                    lg_enc_mlp_dim=32,
                    cross_attn_depth=2,
                    cross_attn_heads=2,
                    dropout=0.1,
                    emb_dropout=0.1,
                ),
                (2, 3, 32, 32),
            ),
            (
                "regionvit",
                lambda m: m.RegionViT(
                    dim=(16, 32, 48, 64), depth=(2, 2, 2, 2), num_classes=10
                ),
                (2, 3, 224, 224),
            ),
            (
                "sep_vit",
                lambda m: m.SepViT(
                    num_classes=10,
                    dim=16,
                    dim_head=8,
                    heads=(1, 2, 2, 2),
                    depth=(2, 2, 2, 2),
                    window_size=7,
                    dropout=0.1,
                ),
                (2, 3, 224, 224),
            ),
            (
                "max_vit",
                lambda m: m.MaxViT(
                    num_classes=10,
                    dim_conv_stem=16,
                    dim=16,
                    dim_head=8,
                    depth=(1, 1),
                    window_size=4,
                    dropout=0.1,
                ),
                (2, 3, 32, 32),
            ),
            # lucidrains' other repositories: each README's example, made small
            (
                "perceiver",
                lambda m: m.Perceiver(
                    input_channels=3,
                    input_axis=2,
                    num_freq_bands=6,
                    max_freq=10.0,
                    depth=2,
                    num_latents=16,
                    latent_dim=32,
                    cross_heads=1,
                    latent_heads=2,
                    cross_dim_head=16,
                    latent_dim_head=16,
                    num_classes=10,
                    self_per_cross_attn=1,
                ),
                (2, 8, 8, 3),
            ),
            (
                "conformer",
                lambda m: m.Conformer(
                    dim=32,
                    depth=2,
                    dim_head=16,
                    heads=2,
                    ff_mult=2,
                    conv_expansion_factor=2,
                    conv_kernel_size=7,
                ),
                (2, 20, 32),
            ),
            (
                "g_mlp",
                lambda m: m.gMLPVision(
                    image_size=32,
                    patch_size=8,
                    num_classes=10,
                    dim=32,
                    depth=2,
                    attn_dim=16,
                ),
                (2, 3, 32, 32),
            ),
            (
                "siren",
                lambda m: m.SirenNet(
                    dim_in=2,
                    dim_hidden=32,
                    dim_out=3,
                    num_layers=3,
                    final_activation=torch.nn.Sigmoid(),
                    w0_initial=30.0,
                ),
                (4, 2),
            ),
            (
                "scalable_vit",
                lambda m: m.ScalableViT(
                    num_classes=10,
                    dim=16,
                    heads=(1, 2, 2, 2),
                    depth=(2, 2, 2, 2),
                    ssa_dim_key=(8, 8, 8, 8),
                    reduction_factor=(8, 4, 2, 1),
                    window_size=(8, 4, None, None),
                    dropout=0.1,
                ),
                (2, 3, 64, 64),
            ),
            (
                "lambda",
                lambda m: m.LambdaLayer(8, dim_k=4, n=4, heads=2, dim_out=8, dim_u=1),
                (2, 8, 4, 4),
            ),
        ]
    ),
    # added after the readability work, to try it on code it was not made on
    Entry(
        "berniwal_swin",
        "berniwal_swin.py",
        lambda m: m.SwinTransformer(
            hidden_dim=8,
            layers=(2, 2, 2, 2),
            heads=(1, 1, 2, 2),
            channels=3,
            num_classes=5,
            head_dim=8,
            window_size=2,
            downscaling_factors=(2, 2, 2, 2),
            relative_pos_embedding=True,
        ),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cyclegan_generator",
        "pytorch_gan_cyclegan.py",
        lambda m: m.GeneratorResNet((3, 32, 32), 2),
        images(2, 3, 32, 32),
    ),
    Entry(
        "cyclegan_discriminator",
        "pytorch_gan_cyclegan.py",
        lambda m: m.Discriminator((3, 32, 32)),
        images(2, 3, 32, 32),
    ),
    # added in stop 65, to try the tool on code it was not made on
    Entry(
        "convnext",
        "convnext.py",
        # ConvNeXt-T's recipe (layer scale, stochastic depth), made small
        lambda m: m.ConvNeXt(
            depths=[1, 1, 2, 1],
            dims=[8, 16, 32, 64],
            drop_path_rate=0.1,
            num_classes=10,
        ),
        images(2, 3, 32, 32),
    ),
    Entry(
        "lucidrains_ddpm_unet",
        "lucidrains_ddpm_unet.py",
        # the README's Unet(dim=64, dim_mults=(1, 2, 4, 8)), made small
        lambda m: m.Unet(dim=8, dim_mults=(1, 2), attn_dim_head=8, attn_heads=2),
        lambda: (torch.randn(2, 3, 16, 16), torch.randint(0, 1000, (2,)).float()),
    ),
]


class Timeout(Exception):
    pass


def import_model_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"realworld_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module.__name__] = module  # as an import and the CLI register it
    spec.loader.exec_module(module)
    return module


def build_model(entry: "Entry", module: ModuleType) -> torch.nn.Module:
    """``entry``'s model as ``nnconvert convert FILE`` builds it: seed 0, constructors recorded."""
    torch.manual_seed(0)
    with nnconvert.record_constructors():
        return entry.build(module)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    text = f"{type(error).__name__}: {text}"
    return text if len(text) <= 160 else text[:157] + "..."


#: The root-parameter cell of a model that did not convert.
NO_OUTPUT_ROOT = "no output"


#: The fresh-build cell of a model that did not convert: there is nothing to build.
NO_OUTPUT = "no output"


#: The other-shapes cell of an output whose check failed: the shapes were not tried.
NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class Outcome:
    """One model in one style: the check's result, the conversion's seconds, the fresh build.

    ``result`` is ``pass`` or the one-line reason; ``fresh`` is
    :func:`fresh_build`'s cell, or :data:`NO_OUTPUT`.
    """

    result: str
    seconds: float
    fresh: str
    #: :func:`root_parameters`' cell (``-``: the output's root takes none)
    root: str = NO_OUTPUT_ROOT
    #: :func:`other_shapes_cell`: other input shapes the output runs
    shapes: str = NO_OUTPUT


def convert_and_check(entry: Entry, style: str) -> Outcome:
    """``entry`` converted to ``style``, checked, and its output built anew."""
    try:
        module = import_model_file(SUITE / entry.file)
    except Exception as error:  # a missing third-party package
        return Outcome(f"does not import: {one_line(error)}", 0.0, NO_OUTPUT)
    model = build_model(entry, module)
    inputs = entry.inputs()
    started = time.perf_counter()

    def expire(*_: Any) -> None:
        raise Timeout(f"over {TIMEOUT_SECONDS} s")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIMEOUT_SECONDS)
    try:
        try:
            # as the CLI gives it: with how to build the original anew, which
            # functional style's init_params() is compared with before printing
            read = nnconvert.ModelInput(
                model,
                fresh_state=lambda: build_model(entry, module).state_dict(),
                factory_name=entry.factory,
            )
            conversion = nnconvert.convert(read, to=style, example_inputs=inputs)
        except Exception as error:
            return Outcome(one_line(error), time.perf_counter() - started, NO_OUTPUT)
        seconds = time.perf_counter() - started
        shapes = NOT_CHECKED
        try:
            shapes = other_shapes_cell(conversion.check(train=True))
            result = "pass"
        except Exception as error:
            result, seconds = one_line(error), time.perf_counter() - started
        fresh = fresh_build(entry, module, conversion)
        root = root_parameters(build_model(entry, module), conversion, inputs)
        return Outcome(result, seconds, fresh, root, shapes)
    finally:
        signal.alarm(0)


def other_shapes_cell(report: CheckReport) -> str:
    """``n/m``: of the ``m`` other input shapes the original accepts, the output runs ``n``.

    The check tries other sizes than the example's (:func:`nnconvert.check.other_shapes`:
    the last two dimensions doubled, ...) where the original accepts them;
    an output that refuses one with a shape guard answered a size from the
    example that the source computes (SPEC invariant 7): it is listed after
    the count. ``-``: the original accepts no other shape.
    """
    ran = [r.label for r in report.results if r.label.startswith(OTHER_SHAPE)]
    refused = [
        s[: -len(GUARD_REFUSES)] for s in report.skipped if s.endswith(GUARD_REFUSES)
    ]
    if not ran and not refused:
        return "-"
    cell = f"{len(ran)}/{len(ran) + len(refused)}"
    if refused:
        cell += "; refused: " + ", ".join(
            label[len(OTHER_SHAPE) :].strip(" ()") for label in refused
        )
    return cell


def root_parameters(
    original: torch.nn.Module, conversion: nnconvert.Conversion, inputs: tuple
) -> str:
    """``n/m``: of the ``m`` root parameters tried, ``n`` build what the source builds.

    ``original`` is the model, built under ``nnconvert.record_constructors()``:
    what its class was given is what the rebuilds are given, but one value.

    The output's root (module and mixed: its class's ``__init__``;
    functional: ``init_params()``) takes parameters with the model's
    values as defaults. Each one given another value (an ``int`` doubled, a
    ``bool`` flipped, a ``float`` halved; others are not tried) must build
    what the original's class builds when given it, the other arguments as
    the benchmark gave them; a config parameter (``config=None`` or
    ``config=GPTConfig(...)``), each
    field of the config changed in turn (:func:`_tried_values`): the same
    ``state_dict`` keys and shapes, and,
    loaded with the original's weights, the same outputs in eval mode on
    the example inputs (where the original runs on them; a functional
    model function that takes the parameter too, as the word language
    model's ``ntoken``, is given it as ``init_params()`` is). A value the
    original refuses is not tried. ``-``: nothing to try. Failures follow
    as ``name: reason``.
    """
    defined = conversion.namespace()
    if conversion.style is Style.FUNCTIONAL:
        root = defined[function_name(conversion.name)]
        parameters = list(inspect.signature(root).parameters.values())
    else:
        root = defined[conversion.name]
        parameters = list(inspect.signature(root.__init__).parameters.values())[1:]
    given = recorded_keywords(type(original), recorded_call(original) or {})
    tried, failed = 0, []
    for label, name, value, output_value in _tried_values(parameters, given, defined):
        try:
            torch.manual_seed(0)
            with nnconvert.record_constructors():
                rebuilt = type(original)(**{**given, name: value})
        except Exception:
            continue  # the source refuses that value: nothing to compare
        tried += 1
        try:
            reason = _differs(
                conversion, defined, {name: output_value}, rebuilt, inputs
            )
        except Exception as error:
            reason = one_line(error)
        if reason:
            failed.append(f"{label}: {reason}")
    if not tried:
        return "-"
    cell = f"{tried - len(failed)}/{tried}"
    return cell + ("; " + "; ".join(failed) if failed else "")


def _tried_values(
    parameters: Sequence[inspect.Parameter],
    given: Mapping[str, Any],
    defined: Mapping[str, Any],
) -> Iterator[tuple[str, str, Any, Any]]:
    """``(label, parameter, source's value, output's value)`` for each value tried.

    A parameter with a number or ``bool`` default: :func:`nnconvert.root_promises.other_value`. One
    defaulting to None or to a config that the model was given a config for
    (``config=None``, the output building its own ``GPTConfig(...)``; a
    source kept as written, ``config=GPTConfig(n_layer=2, ...)``): each
    number or ``bool`` field of that config changed in turn (``config.n_layer``),
    the source given its own config class, the output the class of that
    name it defines (a copy), as a user of either builds it.
    """
    for parameter in parameters:
        value = other_value(parameter.default)
        if value is not None:
            yield parameter.name, parameter.name, value, value
            continue
        config = given.get(parameter.name)
        default = parameter.default
        if not _is_config(config) or not (default is None or _is_config(default)):
            continue
        fields = _config_fields(config)
        made = defined.get(type(config).__name__, type(config))
        for field, item in fields.items():
            other = other_value(item)
            if other is None:
                continue
            changed = {**fields, field: other}
            label = f"{parameter.name}.{field}"
            yield label, parameter.name, type(config)(**changed), made(**changed)


def _is_config(value: Any) -> bool:
    """A dataclass instance or a ``SimpleNamespace``: fields a user changes by keyword."""
    if isinstance(value, SimpleNamespace):
        return True
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _config_fields(config: Any) -> dict[str, Any]:
    """The config's fields by name, as its class takes them again."""
    if isinstance(config, SimpleNamespace):
        return dict(vars(config))
    return {
        f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init
    }


def _differs(
    conversion: nnconvert.Conversion,
    defined: Mapping[str, Any],
    changed: Mapping[str, Any],
    rebuilt: torch.nn.Module,
    inputs: tuple,
) -> str | None:
    """Why the output built with ``changed`` is not ``rebuilt`` (None: it is)."""
    if conversion.style is Style.FUNCTIONAL:
        state = defined[function_name(conversion.name)](**changed)
        function = defined[conversion.name]
        taken = inspect.signature(function).parameters
        given = {k: v for k, v in changed.items() if k in taken}  # ntoken=100 too

        def run(weights: Mapping[str, torch.Tensor]) -> Any:
            return function(dict(weights), *inputs, **given)

    else:
        output = defined[conversion.name](**changed).eval()
        state = output.state_dict()

        def run(weights: Mapping[str, torch.Tensor]) -> Any:
            output.load_state_dict(weights)
            return output(*inputs)

    expected = rebuilt.state_dict()
    shapes = {k: tuple(v.shape) for k, v in expected.items()}
    if {k: tuple(v.shape) for k, v in state.items()} != shapes:
        return "another state_dict"
    rebuilt.eval()
    with torch.no_grad():
        try:
            wanted = rebuilt(*inputs)
        except Exception:
            return None  # the inputs do not fit that model: the shapes are all
        try:
            # NaN where both are: weights the source leaves torch.empty
            # (Whisper's positional_embedding) may hold NaN bits
            torch.testing.assert_close(run(expected), wanted, equal_nan=True)
        except Exception as error:
            return f"other outputs ({one_line(error)[:60]})"
    return None


def fresh_build(
    entry: Entry, module: ModuleType, conversion: nnconvert.Conversion
) -> str:
    """``n/m``: of the ``m`` tensors, ``n`` equal bit for bit in a new output and a new original.

    What a user training the output from scratch gets (SPEC invariant 7):
    both built under one seed (:func:`nnconvert.init_code.fresh_states`),
    the original as :func:`build_model` builds it, the output as a user
    would (:func:`new_output_state`). ``m`` counts the keys of either
    ``state_dict``. A build that fails is the cell ``error: ...``.
    """
    try:
        made = new_output_builder(conversion)
        expected, state = fresh_states(
            lambda: build_model(entry, module).state_dict(), made
        )
    except Exception as error:
        return f"error: {one_line(error)}"
    equal = equal_keys(state, expected)
    return f"{len(equal)}/{len(expected.keys() | state.keys())}"


def new_output_builder(
    conversion: nnconvert.Conversion,
) -> Callable[[], Mapping[str, torch.Tensor]]:
    """How a user builds ``conversion``'s output anew, as a ``state_dict``.

    Module and mixed style: its class called with no arguments; functional
    style: its ``init_params()``. The source runs here, unseeded: only the
    build itself is drawn under the seed.
    """
    defined = conversion.namespace()
    if conversion.style is Style.FUNCTIONAL:
        return defined[function_name(conversion.name)]
    cls = defined[conversion.name]
    return lambda: cls().state_dict()


def table(results: dict[str, dict[str, Outcome]]) -> str:
    """One row per model: the check in each style, then the fresh build in each."""
    headers = [
        *STYLES,
        *(f"{style} fresh build" for style in STYLES),
        *(f"{style} root parameters" for style in STYLES),
        *(f"{style} other shapes" for style in STYLES),
    ]
    rows = [
        "| model | " + " | ".join(headers) + " |",
        "|---" * (len(headers) + 1) + "|",
    ]
    for name, by_style in results.items():
        cells = [check_cell(by_style[style]) for style in STYLES]
        cells += [by_style[style].fresh.replace("|", "\\|") for style in STYLES]
        cells += [by_style[style].root.replace("|", "\\|") for style in STYLES]
        cells += [by_style[style].shapes for style in STYLES]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    total = len(results)
    passed = [sum(r[s].result == "pass" for r in results.values()) for s in STYLES]
    totals = [f"**{n}/{total}**" for n in passed]
    totals += [fresh_total([r[s].fresh for r in results.values()]) for s in STYLES]
    totals += [root_total([r[s].root for r in results.values()]) for s in STYLES]
    totals += [shapes_total([r[s].shapes for r in results.values()]) for s in STYLES]
    rows.append("| **total** | " + " | ".join(totals) + " |")
    return "\n".join(rows)


def check_cell(outcome: Outcome) -> str:
    if outcome.result == "pass":
        return f"pass ({outcome.seconds:.1f} s)"
    return outcome.result.replace("|", "\\|")


def fresh_total(cells: list[str]) -> str:
    """The fresh-build column's total: tensors equal over tensors, then models all equal.

    ``**n/m** tensors, k/N models``: the sums over the models that built,
    and how many of all N models had every tensor equal (one that did not
    build, or did not convert, is not).
    """
    counts = [
        tuple(map(int, cell.split("/")))
        for cell in cells
        if not cell.startswith("error") and cell != NO_OUTPUT
    ]
    equal = sum(n for n, _ in counts)
    tensors = sum(m for _, m in counts)
    whole = sum(n == m for n, m in counts)
    return f"**{equal}/{tensors}** tensors, {whole}/{len(cells)} models"


def counted_cells(cells: list[str]) -> list[tuple[int, int]]:
    """``(n, m)`` of each cell that starts ``n/m`` (``2/3; name: reason``), the others skipped."""
    return [
        (int(n), int(m))
        for n, m in (
            cell.split(";")[0].split("/") for cell in cells if cell[:1].isdigit()
        )
    ]


def root_total(cells: list[str]) -> str:
    """The root-parameter column's total: parameters that rebuild alike over those tried."""
    counts = counted_cells(cells)
    alike = sum(n for n, _ in counts)
    tried = sum(m for _, m in counts)
    return f"**{alike}/{tried}** parameters, {len(counts)} models"


def shapes_total(cells: list[str]) -> str:
    """The other-shapes column's total: shapes run over shapes tried, models refusing one."""
    counts = counted_cells(cells)
    ran = sum(n for n, _ in counts)
    tried = sum(m for _, m in counts)
    refusing = sum(n < m for n, m in counts)
    return f"**{ran}/{tried}** shapes, {refusing} models refuse one"


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="names of entries to run")
    parser.add_argument("--output", default=str(HERE / "realworld.md"))
    arguments = parser.parse_args()
    entries = [e for e in ENTRIES if not arguments.models or e.name in arguments.models]
    torch.set_num_threads(1)
    results: dict[str, dict[str, Outcome]] = {}
    for entry in entries:
        results[entry.name] = {}
        for style in STYLES:
            outcome = convert_and_check(entry, style)
            results[entry.name][style] = outcome
            print(
                f"{entry.name:45} {style:10} {outcome.result} | fresh {outcome.fresh}",
                file=sys.stderr,
            )
    command = "python benchmarks/realworld.py " + " ".join(sys.argv[1:])
    text = (
        "# Real-world suite: model files from public repositories\n\n"
        f"Command: `{command.strip()}` (nnconvert commit {commit()}, torch "
        f"{torch.__version__}, one thread). Each cell: `nnconvert.convert(model, "
        "to=style)`, the model given with how to build it anew as the CLI gives it "
        "(`nnconvert.ModelInput(model, fresh_state=...)`), then `.check(train=True)` (eval and train mode, two batch "
        "sizes, gradients); `pass` with the conversion's seconds, or the one-line "
        "reason it failed. *Fresh build* (a measurement, not a pass/fail): `n/m`, "
        "of the `m` `state_dict` tensors, `n` equal bit for bit in an output built "
        "anew (module and mixed: its class with no arguments; functional: its "
        "`init_params()`) and in the original built anew, both after "
        "`torch.manual_seed(0)`; `error: ...` when one does not build. *Root "
        "parameters* (a check of what the output promises): `n/m`, of the `m` "
        "parameters of the output's root class (functional: `init_params()`) "
        "given another value (an int doubled, a bool flipped, a float halved) "
        "that the original's class accepts, `n` build what it builds with that "
        "value (the same `state_dict` shapes; loaded with its weights, the same "
        "outputs in eval mode on the example inputs where they fit); `-`: "
        "nothing to try; failures follow as `name: reason`. *Other shapes* (SPEC "
        "invariant 7): `n/m`, of the `m` other input shapes the check tried that "
        "the original accepts (the example's last two dimensions doubled, or its "
        "last doubled or halved; a size several inputs share doubled), `n` the "
        "output runs and matches; one its shape guard refuses (a size answered "
        "from the example) follows as `refused: ...`; `-`: the original accepts "
        "none; `not checked`: the check failed before it tried them. The files "
        "and their origins are in `benchmarks/realworld/`.\n\n" + table(results) + "\n"
    )
    write_report(text, arguments.output)


def write_report(text: str, output: str) -> None:
    """``text`` to stdout (``--output -``) or to the file ``output``."""
    if output == "-":
        print(text)
    else:
        Path(output).write_text(text)
        print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
