"""Transformer and modern vision models from timm, converted in every style.

Each model is built with ``timm.create_model(name, pretrained=False,
num_classes=10)`` (random weights, never downloaded) and fed a batch of two
images of its default input size. The table says whether plain
``torch.fx.symbolic_trace`` traces it (most of these it cannot), then, for
each style, ``pass`` with the conversion's seconds (``nnconvert.convert``
then ``Conversion.check(train=True)``), or the one-line reason it failed.

timm needs torchvision, which does not import beside the project's torch
2.13.0, so this runs in the zoo venv (see ``benchmarks/zoo.md`` for its set-up,
plus ``.venv-zoo/bin/pip install timm``)::

    .venv-zoo/bin/python benchmarks/timm_zoo.py              # -> benchmarks/timm_zoo.md
    .venv-zoo/bin/python benchmarks/timm_zoo.py --models convnext_atto --output -
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

import nnconvert
from nnconvert.reporting import one_line

HERE = Path(__file__).parent
STYLES = ("module", "functional", "mixed")
TIMEOUT_SECONDS = 600

#: Small variants of the families people use, transformers first.
MODELS = (
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "swin_tiny_patch4_window7_224",
    "cait_xxs24_224",
    "xcit_nano_12_p16_224",
    "pit_ti_224",
    "coat_lite_tiny",
    "levit_128s",
    "tiny_vit_5m_224",
    "mobilevit_xxs",
    "efficientformer_l1",
    "fastvit_t8",
    "hiera_tiny_224",
    "nest_tiny",
    "twins_svt_small",
    "crossvit_tiny_240",
    "mvitv2_tiny",
    "efficientvit_b0",
    "convit_tiny",
    "mobilevitv2_050",
    "convnext_atto",
    "poolformer_s12",
    "edgenext_xx_small",
    "efficientnet_b0",
    "mobilenetv3_small_050",
)


class Timeout(Exception):
    pass


def build(name: str) -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    import timm

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=10)
    _, height, width = model.pretrained_cfg["input_size"]
    return model, (torch.randn(2, 3, height, width),)


def plain_fx(model: torch.nn.Module) -> str:
    """``ok`` if ``torch.fx.symbolic_trace`` traces the model, else why not."""
    try:
        torch.fx.symbolic_trace(model)
        return "ok"
    except Exception as error:
        return f"fails: {one_line(error)[:80]}"


def convert_and_check(name: str, style: str) -> tuple[str, float]:
    """``pass`` or the one-line reason, and the seconds the conversion took."""
    model, inputs = build(name)
    started = time.perf_counter()

    def expire(*_: Any) -> None:
        raise Timeout(f"over {TIMEOUT_SECONDS} s")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIMEOUT_SECONDS)
    try:
        conversion = nnconvert.convert(model, to=style, example_inputs=inputs)
        seconds = time.perf_counter() - started
        conversion.check(train=True)
        return "pass", seconds
    except Exception as error:
        return one_line(error)[:200], time.perf_counter() - started
    finally:
        signal.alarm(0)


def row(name: str, fx: str, by_style: dict[str, tuple[str, float]]) -> str:
    cells = [
        f"pass ({seconds:.1f} s)" if outcome == "pass" else outcome
        for outcome, seconds in (by_style[s] for s in STYLES)
    ]
    return "| " + " | ".join([name, fx, *cells]).replace("\n", " ") + " |"


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
    import timm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="timm model names to run")
    parser.add_argument("--output", default=str(HERE / "timm_zoo.md"))
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    passed = dict.fromkeys(STYLES, 0)
    untraceable = 0
    names = arguments.models or MODELS
    for name in names:
        fx = plain_fx(build(name)[0])
        untraceable += fx != "ok"
        by_style = {}
        for style in STYLES:
            by_style[style] = convert_and_check(name, style)
            passed[style] += by_style[style][0] == "pass"
            print(f"{name:32} {style:10} {by_style[style][0]}", file=sys.stderr)
        rows.append(row(name, fx, by_style))
    command = "python benchmarks/timm_zoo.py " + " ".join(sys.argv[1:])
    text = (
        "# timm models: transformers and modern vision nets\n\n"
        f"Command: `{command.strip()}` in the zoo venv (nnconvert commit "
        f"{commit()}, timm {timm.__version__}, torch {torch.__version__} on the "
        "CPU, one thread). Random weights, `num_classes=10`, a batch of two "
        "images of each model's default input size. `plain fx`: whether "
        "`torch.fx.symbolic_trace` traces the model. Each style: "
        "`nnconvert.convert` then `.check(train=True)`; `pass` with the "
        "conversion's seconds, or the one-line reason it failed.\n\n"
        "| model | plain fx | " + " | ".join(STYLES) + " |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
        f"| **total** | **{untraceable}/{len(names)} fail** | "
        + " | ".join(f"**{passed[s]}/{len(names)}**" for s in STYLES)
        + " |\n"
    )
    if arguments.output == "-":
        print(text)
    else:
        Path(arguments.output).write_text(text)
        print(f"wrote {arguments.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
