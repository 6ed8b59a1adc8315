"""What keeping a mixed source as written costs: ``--to mixed`` with and without ``keep_source``.

For every model of the real-world suite (``benchmarks/realworld/``, built as
``benchmarks/realworld.py`` builds it, under ``record_constructors()``),
``nnconvert.convert(model, to="mixed")`` is timed with ``keep_source=True``
(the default: :mod:`nnconvert.as_written` builds the printed output's tree
of layers on the meta device, and the source once more to compare it with
the model) and with ``keep_source=False`` (printed from the trace only),
alternating in one process, the fastest of ``--repeats`` runs each. This
machine is shared and noisy: the ratio, taken in one run, is the figure;
the check (``.check(train=True)``, which every CLI conversion runs) is
timed once beside them, for scale.

Run from the repository root::

    python benchmarks/keep_source.py            # writes benchmarks/keep_source.md
    python benchmarks/keep_source.py --models cifar_resnet openai_whisper --output -
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

import nnconvert
from realworld import (
    ENTRIES,
    SUITE,
    build_model,
    commit,
    import_model_file,
    write_report,
)

HERE = Path(__file__).parent


def measure(entry, repeats: int) -> tuple[bool, float, float, float]:
    """(kept as written, keep_source time, from-the-trace time, check time)."""
    model = build_model(entry, import_model_file(SUITE / entry.file))
    inputs = entry.inputs()
    times: dict[bool, float] = {True: float("inf"), False: float("inf")}
    for _ in range(repeats):  # alternating, so that the machine's load hits both
        for keep in (True, False):
            start = time.perf_counter()
            nnconvert.convert(
                model, to="mixed", example_inputs=inputs, keep_source=keep
            )
            times[keep] = min(times[keep], time.perf_counter() - start)
    conversion = nnconvert.convert(model, to="mixed", example_inputs=inputs)
    start = time.perf_counter()
    conversion.check(train=True)
    check = time.perf_counter() - start
    return conversion.as_written, times[True], times[False], check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="names of real-world entries")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(HERE / "keep_source.md"))
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # the models' own deprecation warnings
    rows = []
    ratios = []
    for entry in ENTRIES:
        if arguments.models and entry.name not in arguments.models:
            continue
        kept, keep, trace, check = measure(entry, arguments.repeats)
        ratio = keep / trace
        if kept:
            ratios.append(ratio)
        row = (
            f"| {entry.name} | {'yes' if kept else 'no'} | {keep:.3f} | "
            f"{trace:.3f} | {ratio:.2f} | {check:.3f} |"
        )
        print(row, file=sys.stderr)
        rows.append(row)
    command = "python benchmarks/keep_source.py " + " ".join(sys.argv[1:])
    median = statistics.median(ratios) if ratios else float("nan")
    text = "\n".join(
        [
            "# Kept as written: what it costs",
            "",
            f"Command: `{command.strip()}` (nnconvert commit {commit()}, torch "
            f"{torch.__version__}, one thread, fastest of {arguments.repeats}).",
            "",
            __doc__.split("Run from")[0].split("\n", 2)[2].strip(),
            "",
            "| model | kept as written | keep_source (s) | from the trace (s) "
            "| ratio | check, train (s) |",
            "|---|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"Median ratio over the models kept as written: {median:.2f}.",
            "",
        ]
    )
    write_report(text, arguments.output)


if __name__ == "__main__":
    main()
