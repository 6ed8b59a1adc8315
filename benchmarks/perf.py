"""Issue 12's figures in one run: conversion vs the fx floor, scaling, stages, check, runtime.

Run from the repository root (a few minutes on 2 cores)::

    python benchmarks/perf.py                 # writes benchmarks/perf.md
    python benchmarks/perf.py --quick --sizes 100 1000 10000   # what perf.md holds

Every figure is a ratio of times measured in the same run, each time the
minimum of ``--repeats`` runs (the machine is shared and noisy: the minimum is
the run least disturbed by the other processes). Conversion runs on one
thread: the graphs' tensors are tiny and idle OpenMP threads only add noise.

1. conversion without the check vs the fx floor (``torch.fx.symbolic_trace``
   + ``gm.code``, or nnconvert's concrete tracer where symbolic tracing fails)
   on LeNet, a ResNet-50, a 12-layer pre-norm transformer and the synthetic
   models, per stage (trace, annotate, canonicalize, style, plan+print, black);
2. time per graph node and peak Python memory (tracemalloc) from ~100 to
   ~10,000 nodes for a deep chain, wide branches and many distinct classes;
3. the check: forward/backward passes it runs, its share of conversion+check,
   what ``--no-check`` and ``--no-train`` save;
4. the generated code's forward time vs the original at batch 1 and 32;
5. black: the full ``format_str`` vs the alternatives measured for
   ``printer.program.format_source``;
6. a 1.2 B-parameter transformer built on the ``meta`` device: conversion
   time and peak memory in a fresh process (its check runs on a smaller
   copy with real weights);
7. with ``--compile [MODEL ...]``: ``torch.compile`` of the original and of
   each style's output, compile time and steady-state forward time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import black
import torch
from torch import fx, nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import nnconvert  # noqa: E402
from nnconvert import trace as trace_module  # noqa: E402
from nnconvert.hierarchy import trace_instances  # noqa: E402
from nnconvert.modes import eval_mode  # noqa: E402
from nnconvert.passes import apply_style, canonicalize, outline_methods  # noqa: E402
from nnconvert.printer import program  # noqa: E402
from nnconvert.tracers import ConcreteTracer  # noqa: E402
from perf_models import (  # noqa: E402
    MODELS,
    SYNTHETIC,
    Case,
    large_check_copy,
    large_transformer,
    synthetic,
)

STAGES = ("trace", "annotate", "canonicalize", "style", "plan+print", "black")


def best(function: Callable[[], Any], repeats: int) -> float:
    """The least disturbed of ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def fx_floor(model: nn.Module, inputs: tuple[Any, ...]) -> tuple[str, float]:
    """Seconds to trace ``model`` and print ``gm.code``: symbolic, else concrete."""

    def symbolic() -> None:
        fx.symbolic_trace(model).code

    def concrete() -> None:
        fx.GraphModule(model, ConcreteTracer(inputs).trace(model)).code

    try:
        symbolic()
        return "symbolic", best(symbolic, 3)
    except Exception:
        return "concrete", best(concrete, 3)


@contextmanager
def _annotate_timer(seconds: dict[str, float]) -> Iterator[None]:
    """Time ``trace.annotate`` separately from the rest of tracing."""
    original = trace_module.annotate

    def timed(*args: Any) -> None:
        start = time.perf_counter()
        original(*args)
        seconds["annotate"] += time.perf_counter() - start

    trace_module.annotate = timed
    try:
        yield
    finally:
        trace_module.annotate = original


def _style_pass(graph: Any, style: nnconvert.Style) -> None:
    """The style pass and the helper-method outlining after it, as ``convert`` runs them."""
    apply_style(graph, style)
    outline_methods(graph)


def stages(model: nn.Module, inputs: tuple[Any, ...], style: str) -> dict[str, float]:
    """Seconds per stage of one conversion, as ``nnconvert.convert`` runs them."""
    parsed = nnconvert.Style.parse(style)
    seconds = dict.fromkeys(STAGES, 0.0)
    start = time.perf_counter()
    with _annotate_timer(seconds), eval_mode(model):
        instances = trace_instances(model, inputs, parsed)
    seconds["trace"] = time.perf_counter() - start - seconds["annotate"]
    for stage, run in (("canonicalize", canonicalize), ("style", _style_pass)):
        start = time.perf_counter()
        for instance in instances:
            run(instance.graph) if run is canonicalize else run(instance.graph, parsed)
        seconds[stage] = time.perf_counter() - start
    original_format = program.format_source
    program.format_source = lambda text: text
    try:
        start = time.perf_counter()
        text = program.print_program(instances, parsed, "model")
        seconds["plan+print"] = time.perf_counter() - start
    finally:
        program.format_source = original_format
    start = time.perf_counter()
    program.format_source(text)
    seconds["black"] = time.perf_counter() - start
    seconds["nodes"] = sum(len(i.graph.graph.nodes) for i in instances)
    seconds["lines"] = text.count("\n")
    return seconds


def best_stages(case: Case, style: str, repeats: int) -> dict[str, float]:
    """Per stage, the minimum over ``repeats`` conversions."""
    runs = [stages(*case, style) for _ in range(repeats)]
    return {key: min(run[key] for run in runs) for key in runs[0]}


def _row(lines: list[str], row: str) -> None:
    """Add a table row and show it at once: a run takes minutes."""
    lines.append(row)
    print(row, flush=True)


def total(seconds: dict[str, float]) -> float:
    return sum(seconds[stage] for stage in STAGES)


def floor_table(cases: dict[str, Case], style: str, repeats: int) -> list[str]:
    """Conversion (no check) vs the fx floor, per model, with the stages' shares."""
    lines = [
        f"| model | nodes | fx floor (s) | conversion (s) | ratio | "
        + " | ".join(STAGES)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(STAGES),
    ]
    for name, case in cases.items():
        tracer, floor = fx_floor(*case)
        seconds = best_stages(case, style, repeats)
        conversion = total(seconds)
        shares = " | ".join(f"{seconds[s] / conversion:.0%}" for s in STAGES)
        _row(
            lines,
            f"| {name} | {int(seconds['nodes'])} | {floor:.3f} ({tracer}) | "
            f"{conversion:.3f} | **{conversion / floor:.1f}×** | {shares} |",
        )
    return lines


def scaling_table(sizes: list[int], style: str, repeats: int) -> list[str]:
    """Time per graph node and peak memory per node, per synthetic family and size."""
    lines = [
        "| family | nodes | conversion (s) | µs per node | vs smallest | black share | "
        "peak MiB | KiB per node |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family in SYNTHETIC:
        first = None
        for size in sizes:
            case = synthetic(family, size)
            seconds = best_stages(case, style, repeats)
            per_node = total(seconds) / seconds["nodes"]
            first = first or per_node
            peak = peak_memory(lambda: nnconvert.convert(case[0], style, case[1]))
            _row(
                lines,
                f"| {family} | {int(seconds['nodes'])} | {total(seconds):.2f} | "
                f"{per_node * 1e6:.0f} | {per_node / first:.2f}× | "
                f"{seconds['black'] / total(seconds):.0%} | {peak / 2**20:.1f} | "
                f"{peak / 1024 / seconds['nodes']:.1f} |",
            )
    return lines


def peak_memory(function: Callable[[], Any]) -> int:
    """Peak bytes Python allocated while ``function`` ran (tracemalloc)."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class _PassCounter:
    """Counts forwards of the original model's class and ``Tensor.backward`` calls.

    The check runs deep copies of the original, so forwards are counted by
    class; the rewrite runs as many forwards as the original does.
    """

    def __init__(self) -> None:
        self.forwards = 0
        self.backwards = 0

    @contextmanager
    def watching(self, model: nn.Module) -> Iterator[None]:
        original_backward = torch.Tensor.backward

        def backward(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> None:
            self.backwards += 1
            original_backward(tensor, *args, **kwargs)

        def count(module: nn.Module, _: Any) -> None:
            self.forwards += type(module) is type(model)

        handle = nn.modules.module.register_module_forward_pre_hook(count)
        torch.Tensor.backward = backward
        try:
            yield
        finally:
            handle.remove()
            torch.Tensor.backward = original_backward


def check_table(cases: dict[str, Case], style: str, repeats: int) -> list[str]:
    """The check's passes and cost: conversion alone, + eval check, + train check."""
    lines = [
        "| model | conversion (s) | eval check (s) | train check (s) | original forwards "
        "(eval / eval+train) | backwards | check share (with train) | "
        "`--no-train` saves | `--no-check` saves |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (model, inputs) in cases.items():
        conversion = nnconvert.convert(model, style, inputs)
        convert_s = best(lambda: nnconvert.convert(model, style, inputs), repeats)
        conversion.check(train=True)  # warm-up: the first run loads the code
        eval_s = best(lambda: conversion.check(train=False), repeats)
        full_s = max(best(lambda: conversion.check(train=True), repeats), eval_s)
        eval_count, full_count = _PassCounter(), _PassCounter()
        with eval_count.watching(model):
            conversion.check(train=False)
        with full_count.watching(model):
            conversion.check(train=True)
        everything = convert_s + full_s
        _row(
            lines,
            f"| {name} | {convert_s:.3f} | {eval_s:.3f} | {full_s - eval_s:.3f} | "
            f"{eval_count.forwards} / {full_count.forwards} | {full_count.backwards} | "
            f"{full_s / everything:.0%} | {(full_s - eval_s) / everything:.0%} | "
            f"{full_s / everything:.0%} |",
        )
    return lines


def runtime_table(cases: dict[str, Case], repeats: int) -> list[str]:
    """Forward time of each style's output vs the original, batch 1 and 32, one thread.

    Eval mode, under ``torch.no_grad()`` (inference) and with autograd on (as
    a training step runs it): ``nn.MultiheadAttention`` and the
    ``nn.Transformer*`` layers take a fused fast path only in the first.
    """
    lines = [
        "| model | batch | autograd | original (ms) | functional | module | mixed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (model, inputs) in cases.items():
        model.eval()
        params = dict(model.state_dict())
        functional = nnconvert.convert(model, "functional", inputs).load()
        module = nnconvert.convert(model, "module", inputs).load().eval()
        mixed = nnconvert.convert(model, "mixed", inputs).load().eval()
        for batch, grad in itertools.product((1, 32), (False, True)):
            x = tuple(_batch(t, batch) for t in inputs)
            runners = {
                "original": lambda: model(*x),
                "functional": lambda: functional(params, *x),
                "module": lambda: module(*x),
                "mixed": lambda: mixed(*x),
            }
            times = _interleaved(runners, repeats, grad)
            base = times["original"]
            _row(
                lines,
                f"| {name} | {batch} | {'on' if grad else 'off (no_grad)'} | "
                f"{base * 1e3:.2f} | "
                + " | ".join(
                    f"{times[s] / base:.3f}×" for s in ("functional", "module", "mixed")
                )
                + " |",
            )
    return lines


def compile_table(names: list[str], repeats: int) -> list[str]:
    """``torch.compile`` of the original and of each style's output: compile and steady time.

    Each compile runs in a fresh process with an empty inductor cache
    directory, so none reuses kernels an earlier one built (the styles
    compile to the same kernels as the original); see :func:`compile_one`.
    """
    lines = [
        "| model | runs | original | functional | module | mixed |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        first, steady = {}, {}
        for style in ("original", "functional", "module", "mixed"):
            with tempfile.TemporaryDirectory() as cache:
                result = subprocess.run(
                    [sys.executable, __file__, "--compile-one", name, style],
                    env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache},
                    capture_output=True,
                    text=True,
                    check=True,
                )
            first[style], steady[style] = json.loads(result.stdout.splitlines()[-1])
        for label, times in (("compile (s)", first), ("steady (ms)", steady)):
            scale = 1.0 if label.startswith("compile") else 1e3
            base = times["original"]
            _row(
                lines,
                f"| {name} | {label} | {base * scale:.2f} | "
                + " | ".join(
                    f"{times[s] * scale:.2f} ({times[s] / base:.2f}×)"
                    for s in ("functional", "module", "mixed")
                )
                + " |",
            )
    return lines


def compile_one(name: str, style: str, repeats: int = 20) -> tuple[float, float]:
    """Seconds of the first call of ``torch.compile``'d ``style`` of ``name``, and of the fastest later one.

    The first call traces with dynamo and generates code with inductor
    (eval mode, example batch, one thread, no grad).
    """
    torch.manual_seed(0)
    model, inputs = MODELS[name]()
    model.eval()
    if style == "original":
        run = model
    elif style == "functional":
        function = nnconvert.convert(model, "functional", inputs).load()
        params = dict(model.state_dict())
        run = _with_params(function, params)
    else:
        run = nnconvert.convert(model, style, inputs).load().eval()
    compiled = torch.compile(run)
    with torch.no_grad():
        started = time.perf_counter()
        compiled(*inputs)
        first = time.perf_counter() - started
        steady = best(lambda: compiled(*inputs), repeats)
    return first, steady


def _with_params(function: Callable[..., Any], params: dict) -> Callable[..., Any]:
    return lambda *inputs: function(params, *inputs)


def large_table(style: str) -> list[str]:
    """The 1.2 B-parameter transformer on the meta device: time and peak memory, in a fresh process.

    Peak memory is the process's peak resident set (``VmHWM``), before and
    after converting: what the conversion adds on top of torch itself.
    (``ru_maxrss`` would not do: Linux carries it over from the parent,
    which has run everything else.)
    The check runs on a smaller copy with real weights (meta tensors have
    no values to compare).
    """
    lines = [
        "| model | parameters | style | conversion (s) | peak RSS before → after (MiB) "
        "| output lines | check |",
        "|---|---|---|---|---|---|---|",
    ]
    result = subprocess.run(
        [sys.executable, __file__, "--large-one", style],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout.splitlines()[-1])
    _row(
        lines,
        f"| transformer, 24 blocks × 2048 wide, meta device | "
        f"{data['parameters'] / 1e9:.2f} B | {style} | {data['seconds']:.2f} | "
        f"{data['rss_before']:.0f} → {data['rss_after']:.0f} | {data['lines']} | "
        f"skipped (no values); on a 2-block, 256-wide copy with real weights: "
        f"{data['check']} ({data['check_seconds']:.1f} s, eval and train) |",
    )
    return lines


def large_one(style: str) -> dict[str, Any]:
    """Convert :func:`perf_models.large_transformer` (then check the small copy); figures as data."""
    torch.set_num_threads(1)
    model, inputs = large_transformer()
    before = _peak_rss_mib()
    started = time.perf_counter()
    conversion = nnconvert.convert(model, style, inputs)
    seconds = time.perf_counter() - started
    after = _peak_rss_mib()
    small_model, small_inputs = large_check_copy()
    small = nnconvert.convert(small_model, style, small_inputs)
    started = time.perf_counter()
    try:
        small.check(train=True)
        check = "passed"
    except nnconvert.CheckError as error:
        check = f"FAILED: {error}"
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": seconds,
        "rss_before": before,
        "rss_after": after,
        "lines": conversion.source.count("\n"),
        "check": check,
        "check_seconds": time.perf_counter() - started,
    }


def _peak_rss_mib() -> float:
    """This process's peak resident set so far, in MiB (Linux's ``VmHWM``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batch(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """``tensor``'s first row repeated ``size`` times."""
    return tensor[:1].expand(size, *tensor.shape[1:]).contiguous()


def _interleaved(
    runners: dict[str, Callable[[], Any]], repeats: int, grad: bool = False
) -> dict[str, float]:
    """Minimum seconds per call of each runner, runs interleaved so noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in runners}
    with torch.set_grad_enabled(grad):
        for run in runners.values():
            run()  # warm up
        for _ in range(repeats):
            for name, run in runners.items():
                start = time.perf_counter()
                for _ in range(5):
                    run()
                samples[name].append((time.perf_counter() - start) / 5)
    return {name: min(values) for name, values in samples.items()}


def black_table(cases: dict[str, Case], style: str, repeats: int) -> list[str]:
    """black's full check vs ``fast`` mode vs what ``format_source`` does now."""
    lines = [
        "| model | lines | `black.format_str` (s) | `fast=True` | per definition, cached | "
        "`format_source` | equal |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, case in cases.items():
        text = _unformatted(*case, style)
        full = best(lambda: black.format_str(text, mode=black.Mode()), repeats)
        fast = best(lambda: _format_fast(text), repeats)
        split = best(lambda: _format_per_definition(text), repeats)
        ours = best(lambda: program.format_source(text), repeats)
        reference = black.format_str(text, mode=black.Mode())
        equal = program.format_source(text) == reference == _format_fast(text)
        _row(
            lines,
            f"| {name} | {text.count(chr(10))} | {full:.3f} | {fast / full:.2f}× | "
            f"{split / full:.2f}× | {ours / full:.2f}× | {'yes' if equal else 'NO'} |",
        )
    return lines


def _unformatted(model: nn.Module, inputs: tuple[Any, ...], style: str) -> str:
    """The printer's text before black."""
    original_format = program.format_source
    program.format_source = lambda text: text
    try:
        return nnconvert.convert(model, style, inputs).source
    finally:
        program.format_source = original_format


def _format_fast(text: str) -> str:
    """black without its AST equivalence check (``--fast``)."""
    try:
        return black.format_file_contents(text, fast=True, mode=black.Mode())
    except black.NothingChanged:  # already as black lays it out
        return text


def _format_per_definition(text: str) -> str:
    """Each top-level block formatted on its own, identical texts once (not exact)."""
    cache: dict[str, str] = {}
    blocks = text.split("\n\n\n")
    out = []
    for block in blocks:
        if block not in cache:
            cache[block] = black.format_str(block, mode=black.Mode())
        out.append(cache[block])
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 repeat, fewer runtime runs"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--style", default="mixed")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "perf.md")
    parser.add_argument(
        "--compile",
        nargs="*",
        default=None,
        metavar="MODEL",
        help="also time torch.compile on these models (default: LeNet)",
    )
    parser.add_argument("--compile-one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--large-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compile_one:
        torch.set_num_threads(1)
        print(json.dumps(compile_one(*args.compile_one)))
        return
    if args.large_one:
        print(json.dumps(large_one(args.large_one)))
        return
    if args.quick:
        args.repeats = 1
    torch.set_num_threads(1)
    torch.manual_seed(0)
    command = " ".join(["python benchmarks/perf.py", *sys.argv[1:]])
    real = {name: make() for name, make in MODELS.items()}
    chains = {
        f"{family}, {args.sizes[-2] if len(args.sizes) > 1 else args.sizes[0]} nodes": synthetic(
            family, args.sizes[-2] if len(args.sizes) > 1 else args.sizes[0]
        )
        for family in SYNTHETIC
    }
    sections = [
        (
            f"Conversion without the check vs the fx floor ({args.style} style; "
            "stage shares of the conversion)",
            floor_table({**real, **chains}, args.style, args.repeats),
        ),
        (
            f"Scaling ({args.style} style): time per graph node, peak Python memory",
            scaling_table(args.sizes, args.style, 1),
        ),
        (
            "The check (eval: example batch and batch + 1; train: outputs, buffers, "
            "gradients)",
            check_table(real, args.style, args.repeats),
        ),
        (
            "Generated code's forward time / the original's (one thread, min of interleaved runs)",
            runtime_table(real, 5 if args.quick else 20),
        ),
        ("black", black_table({**real, **chains}, args.style, args.repeats)),
        (
            "A 1B-parameter-class transformer (meta device; conversion without "
            "the check, in a fresh process)",
            large_table(args.style),
        ),
    ]
    if args.compile is not None:
        chosen = args.compile or ["LeNet"]
        sections.append(
            (
                "torch.compile: compile time and steady-state forward, each style "
                "vs the original (eval, example batch, one thread)",
                compile_table(chosen, max(args.repeats, 5)),
            )
        )
    lines = [
        "# nnconvert performance (issue 12)",
        "",
        f"Produced by `{command}` (torch {torch.__version__}, black {black.__version__}, "
        "one thread). Every time is the minimum of the repeats; every ratio compares "
        "times from this one run. The machine is shared (2 cores, other jobs running), "
        "so absolute times are noisy.",
    ]
    for title, table in sections:
        lines += ["", f"## {title}", "", *table]
        print("\n".join(lines[-len(table) - 2 :]), flush=True)
    args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
