"""Where conversion time goes, and how fast the generated code runs.

Run from the repository root::

    python benchmarks/speed.py            # writes benchmarks/speed.md

Two measurements, each a set of ratios taken in one run (this machine is
shared and noisy, so absolute times mean little):

1. conversion stages (trace, passes, printing, black, check) on chains of
   Linear+LayerNorm+GELU blocks of growing depth;
2. forward time at batch 1 on one thread of the tutorial LeNet: the original
   module, the generated functional code over the ``state_dict``, the generated
   module and mixed classes, and ``torch.func.functional_call`` on the original.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

import nnconvert
from nnconvert import loading
from nnconvert.passes import apply_style, canonicalize
from nnconvert.printer import program
from nnconvert.hierarchy import trace_instances

ROOT = Path(__file__).resolve().parent.parent


class Chain(nn.Module):
    """``depth`` blocks of Linear -> LayerNorm -> GELU, as in an MLP stack."""

    def __init__(self, depth: int, width: int = 32):
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(depth))

    def forward(self, x):
        for fc, norm in zip(self.fcs, self.norms):
            x = nn.functional.gelu(norm(fc(x)))
        return x


def timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def conversion_stages(depth: int) -> dict[str, float]:
    """Seconds per stage of ``convert(..., to="functional")`` plus the check."""
    model = Chain(depth)
    inputs = (torch.randn(2, 32),)
    seconds: dict[str, float] = {}
    style = nnconvert.Style.FUNCTIONAL
    seconds["trace"], instances = timed(lambda: trace_instances(model, inputs, style))

    def passes():
        for instance in instances:
            canonicalize(instance.graph)
            apply_style(instance.graph, style)

    seconds["passes"], _ = timed(passes)
    original_format = program.format_source
    program.format_source = lambda text: text  # measure printing without black
    try:
        seconds["print"], text = timed(
            lambda: program.print_program(instances, style, "chain")
        )
    finally:
        program.format_source = original_format
    seconds["black"], _ = timed(lambda: program.format_source(text))
    conversion = nnconvert.convert(model, "functional", inputs)
    seconds["check"], _ = timed(conversion.check)
    seconds["nodes"] = float(sum(len(i.graph.graph.nodes) for i in instances))
    return seconds


def forward_times(repeats: int) -> dict[str, float]:
    """Median seconds per forward at batch 1 on one thread, for each way of running LeNet."""
    torch.set_num_threads(1)
    path = ROOT / "samples" / "lenet.py"
    module = loading.import_file(path)
    model = loading.build_model(loading.pick_model(module, path, None), path, {}).eval()
    x = torch.randn(1, 1, 32, 32)
    example = loading.example_inputs(module, path, [], [], 10)
    params = dict(model.state_dict())
    functional = nnconvert.convert(model, "functional", example).load()
    as_module = nnconvert.convert(model, "module", example).load().eval()
    as_mixed = nnconvert.convert(model, "mixed", example).load().eval()
    runners = {
        "original module": lambda: model(x),
        "generated functional": lambda: functional(params, x),
        "generated module": lambda: as_module(x),
        "generated mixed": lambda: as_mixed(x),
        "torch.func.functional_call": lambda: torch.func.functional_call(
            model, params, (x,)
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in runners}
    with torch.no_grad():
        for _ in range(repeats):  # interleaved, so noise hits every runner alike
            for name, run in runners.items():
                start = time.perf_counter()
                for _ in range(20):
                    run()
                samples[name].append((time.perf_counter() - start) / 20)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 100, 400])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "speed.md")
    args = parser.parse_args()
    command = "python benchmarks/speed.py " + " ".join(sys.argv[1:])
    lines = [
        "# nnconvert speed",
        "",
        f"Produced by `{command.strip()}` (torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads available).",
        "",
        "## Conversion stages (functional style), seconds",
        "",
        "| blocks | graph nodes | trace | passes | print | black | check | black share of conversion |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for depth in args.depths:
        s = conversion_stages(depth)
        conversion = s["trace"] + s["passes"] + s["print"] + s["black"]
        lines.append(
            f"| {depth} | {int(s['nodes'])} | {s['trace']:.3f} | {s['passes']:.3f} | "
            f"{s['print']:.3f} | {s['black']:.3f} | {s['check']:.3f} | "
            f"{s['black'] / conversion:.0%} |"
        )
    times = forward_times(args.repeats)
    base = times["original module"]
    lines += [
        "",
        "## LeNet forward, batch 1, one thread (median of interleaved runs)",
        "",
        "| runner | µs per forward | ratio to the original module |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {t * 1e6:.1f} | {t / base:.2f} |" for name, t in times.items()
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
