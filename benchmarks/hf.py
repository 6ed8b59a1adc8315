"""Hugging Face ``transformers`` models: small random configurations, every style, checked.

Each model is built from a small configuration (hidden size 32, two layers,
random weights: nothing is downloaded), called as users call it
(``input_ids``, ``attention_mask``, ``pixel_values``, ... positionally, None
for the inputs in between), converted to every style with
``nnconvert.convert`` and checked with ``Conversion.check(train=True)``.
Before that, two other tracers are tried on the same model and inputs, to
compare the options: plain ``torch.fx.symbolic_trace`` and
``torch.export.export(..., strict=False)``.

Set-up and run (transformers is not a dependency of nnconvert)::

    python -m venv --system-site-packages /tmp/hfvenv
    /tmp/hfvenv/bin/pip install "transformers>=5"
    /tmp/hfvenv/bin/python benchmarks/hf.py              # -> benchmarks/hf.md
    /tmp/hfvenv/bin/python benchmarks/hf.py --models llama --output -
"""

from __future__ import annotations

import argparse
import copy
import inspect
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # this checkout's nnconvert, not an installed one

import nnconvert  # noqa: E402

STYLES = ("module", "functional", "mixed")
TIMEOUT_SECONDS = 300
SMALL = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    vocab_size=100,
)
DECODER = dict(SMALL, num_key_value_heads=1, use_cache=False)


@dataclass(frozen=True)
class Entry:
    """One model: its class, its configuration and the inputs users give it, by name."""

    name: str
    cls: str
    config: Callable[[Any], Any]
    inputs: Callable[[], dict[str, torch.Tensor]]


def text(length: int = 7) -> dict[str, torch.Tensor]:
    """``input_ids`` and an ``attention_mask`` that pads the second sequence."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 100, (2, length), generator=generator)
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, length - 2 :] = 0
    return {"input_ids": ids, "attention_mask": mask}


def config(model_type: str, **options: Any) -> Callable[[Any], Any]:
    return lambda t: t.CONFIG_MAPPING[model_type](**options)


def clip_config(t: Any) -> Any:
    common = dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    return t.CLIPConfig(
        text_config=dict(common, vocab_size=100, max_position_embeddings=32),
        vision_config=dict(common, image_size=32, patch_size=8),
        projection_dim=16,
    )


def pixels() -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.randn(2, 3, 32, 32)}


ENTRIES = [
    Entry("bert", "BertModel", config("bert", **SMALL), text),
    Entry(
        "bert-classifier",
        "BertForSequenceClassification",
        config("bert", **SMALL),
        lambda: {**text(), "labels": torch.tensor([0, 1])},
    ),
    Entry(
        "distilbert",
        "DistilBertModel",
        config(
            "distilbert", dim=32, n_layers=2, n_heads=2, hidden_dim=64, vocab_size=100
        ),
        text,
    ),
    Entry("roberta", "RobertaModel", config("roberta", **SMALL), text),
    Entry(
        "gpt2",
        "GPT2Model",
        config("gpt2", n_embd=32, n_layer=2, n_head=2, vocab_size=100, use_cache=False),
        text,
    ),
    Entry(
        "gpt2-lm",
        "GPT2LMHeadModel",
        config("gpt2", n_embd=32, n_layer=2, n_head=2, vocab_size=100, use_cache=False),
        lambda: {**text(), "labels": text()["input_ids"]},
    ),
    Entry(
        "opt",
        "OPTModel",
        config(
            "opt",
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            ffn_dim=64,
            vocab_size=100,
            word_embed_proj_dim=32,
            use_cache=False,
        ),
        text,
    ),
    Entry(
        "gpt-neox",
        "GPTNeoXModel",
        config("gpt_neox", **dict(SMALL, use_cache=False)),
        text,
    ),
    Entry("llama", "LlamaModel", config("llama", **DECODER), text),
    Entry(
        "llama-lm",
        "LlamaForCausalLM",
        config("llama", **DECODER),
        lambda: {**text(), "labels": text()["input_ids"]},
    ),
    Entry("mistral", "MistralModel", config("mistral", **DECODER), text),
    Entry("qwen2", "Qwen2Model", config("qwen2", **DECODER), text),
    Entry(
        "vit",
        "ViTModel",
        config("vit", **dict(SMALL, image_size=32, patch_size=8)),
        pixels,
    ),
    Entry(
        "t5",
        "T5Model",
        config(
            "t5",
            d_model=32,
            d_kv=16,
            d_ff=64,
            num_layers=2,
            num_heads=2,
            vocab_size=100,
            use_cache=False,
        ),
        lambda: {**text(), "decoder_input_ids": text(5)["input_ids"]},
    ),
    Entry(
        "whisper",
        "WhisperModel",
        config(
            "whisper",
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            num_mel_bins=16,
            max_source_positions=32,
            vocab_size=100,
            pad_token_id=1,
            bos_token_id=2,
            eos_token_id=2,
            decoder_start_token_id=3,
            use_cache=False,
        ),
        lambda: {
            "input_features": torch.randn(2, 16, 64),
            "decoder_input_ids": text(5)["input_ids"],
        },
    ),
    Entry(
        "clip",
        "CLIPModel",
        clip_config,
        lambda: {**text(), **pixels()},
    ),
]


def positional(model: torch.nn.Module, named: dict[str, Any]) -> tuple[Any, ...]:
    """``named`` as the positional inputs of ``model.forward``, None in between.

    nnconvert's example inputs are positional; a user calling
    ``model(input_ids=..., attention_mask=...)`` calls the same function.
    """
    names = [
        p.name
        for p in inspect.signature(model.forward).parameters.values()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    last = max(names.index(name) for name in named)
    return tuple(named.get(name) for name in names[: last + 1])


def build(entry: Entry, transformers: Any) -> tuple[torch.nn.Module, tuple[Any, ...]]:
    torch.manual_seed(0)
    model = getattr(transformers, entry.cls)(entry.config(transformers)).eval()
    return model, positional(model, entry.inputs())


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout(f"over {TIMEOUT_SECONDS} s")


def timed(function: Callable[[], Any]) -> tuple[str, float]:
    """``("ok", seconds)`` or ``(one-line reason, seconds)``."""
    start = time.perf_counter()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_SECONDS)
    try:
        function()
        outcome = "ok"
    except Exception as error:  # the row says why
        first = " ".join(str(error).split())[:300]
        outcome = f"{type(error).__name__}: {first}"
    finally:
        signal.alarm(0)
    return outcome, time.perf_counter() - start


def fx_trace(model: torch.nn.Module, inputs: tuple[Any, ...]) -> None:
    torch.fx.symbolic_trace(model)


def export_trace(model: torch.nn.Module, inputs: tuple[Any, ...]) -> None:
    torch.export.export(model, inputs, strict=False)


def convert_and_check(model: torch.nn.Module, inputs: tuple, style: str) -> int:
    """Converts and checks; the output's non-blank lines (the shape of what it reads like)."""
    conversion = nnconvert.convert(model, style, inputs)
    conversion.check(train=True)
    return sum(1 for line in conversion.source.splitlines() if line.strip())


def run(entries: list[Entry], write: Callable[[list[str]], None]) -> list[str]:
    """One table row per entry; ``write`` gets the rows so far after each one."""
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    rows = []
    for entry in entries:
        rows.append("| " + " | ".join(row(entry, transformers)) + " |")
        write(rows)
    return rows


def row(entry: Entry, transformers: Any) -> list[str]:
    """The cells of one model: both tracers, then each style."""
    cells = [entry.name, entry.cls]
    built: list[Any] = []
    outcome, seconds = timed(lambda: built.extend(build(entry, transformers)))
    if outcome != "ok":
        return cells + [_cell(f"the model does not build: {outcome}", seconds)] * 5
    model, inputs = built
    for tracer in (fx_trace, export_trace):
        outcome, seconds = timed(lambda: tracer(copy.deepcopy(model), inputs))
        cells.append(_cell(outcome, seconds))
        print(entry.name, tracer.__name__, outcome[:120], f"{seconds:.1f}s", flush=True)
    for style in STYLES:
        lines: list[int] = []
        outcome, seconds = timed(
            lambda: lines.append(convert_and_check(model, inputs, style))
        )
        cells.append(_cell(outcome, seconds, *lines))
        print(entry.name, style, outcome[:120], f"{seconds:.1f}s", flush=True)
    return cells


def _cell(outcome: str, seconds: float, lines: int | None = None) -> str:
    text = "pass" if outcome == "ok" else outcome.replace("|", "\\|")
    size = "" if lines is None else f", {lines} lines"
    return f"{text} ({seconds:.1f} s{size})"


def report(rows: list[str]) -> str:
    import transformers

    header = (
        "| model | class | `fx.symbolic_trace` | `torch.export` (non-strict) "
        "| module | functional | mixed |\n|---|---|---|---|---|---|---|"
    )
    return "\n".join(
        [
            "# Hugging Face models",
            "",
            "Made by `benchmarks/hf.py` (its docstring has the set-up: a venv "
            "with `transformers`):",
            "",
            "```",
            "python -m venv --system-site-packages /tmp/hfvenv",
            '/tmp/hfvenv/bin/pip install "transformers>=5"',
            "/tmp/hfvenv/bin/python benchmarks/hf.py",
            "```",
            "",
            f"torch {torch.__version__}, transformers {transformers.__version__}, "
            f"nnconvert at commit {_commit()}. "
            "Small random configurations (hidden size 32, two layers), called "
            "with `input_ids` and an `attention_mask` that pads one sequence "
            "(`pixel_values`, `input_features`, `decoder_input_ids`, `labels` "
            "where the model takes them). The two tracer columns only trace "
            "(the options measured for the tracer choice); the style columns "
            "convert with `nnconvert.convert` and pass `Conversion.check("
            "train=True)` (eval at batch 2 and 3, at another sequence length, "
            "without each optional input; train outputs, buffers and "
            "gradients), or give the one-line reason; beside a pass, the "
            "output's non-blank lines. Seconds are wall time on a shared "
            "2-core machine.",
            "",
            header,
            *rows,
            "",
        ]
    )


def _commit() -> str:
    """The checkout's short commit hash: which code made the table."""
    git = ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"]
    found = subprocess.run(git, capture_output=True, text=True, check=False)
    return found.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="names of entries to run")
    parser.add_argument("--output", default=str(HERE / "hf.md"))
    options = parser.parse_args()
    entries = [e for e in ENTRIES if not options.models or e.name in options.models]
    if options.output == "-":
        sys.stdout.write(report(run(entries, lambda rows: None)))
    else:  # written after each model: a partial table survives an interruption
        run(entries, lambda rows: Path(options.output).write_text(report(rows)))


if __name__ == "__main__":
    main()
