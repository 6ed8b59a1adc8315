"""A 1.5B-parameter transformer, converted on the ``meta`` device: time and peak memory.

nanoGPT's ``GPT`` (``benchmarks/realworld/nanogpt.py``, as published) with
GPT-2 XL's configuration (48 layers, 25 heads, width 1600, 1.56B
parameters) is built under ``torch.device("meta")``: its tensors have shapes
and dtypes but no storage, so nothing of the 6 GB of float32 weights is
allocated, and the tracer computes every shape on meta tensors. Each style
is converted in a fresh process (so that its peak resident memory is its
own); the check needs real weights and is run instead on the same
architecture cut to two layers with random weights (the cpu rows), whose
blocks are the large one's, block for block.

Run (a few minutes on 2 cores)::

    python benchmarks/large_model.py            # -> benchmarks/large_model.md
    python benchmarks/large_model.py --output -

Peak memory is ``ru_maxrss`` of the converting process, with the resident
size after ``import torch, nnconvert`` and the model's build beside it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
STYLES = ("module", "functional", "mixed")
XL = dict(n_layer=48, n_head=25, n_embd=1600)


def _resident_mib() -> float:
    """Resident memory now, from /proc (``ru_maxrss`` only gives the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(style: str, layers: int, device: str, check: bool) -> dict:
    """One conversion in this process: seconds, memory, output size, check outcome."""
    import torch

    sys.path.insert(0, str(HERE))
    import realworld

    import nnconvert

    nanogpt = realworld.import_model_file(realworld.SUITE / "nanogpt.py")
    config = nanogpt.GPTConfig(
        block_size=1024,
        vocab_size=50304,
        dropout=0.0,
        bias=True,
        **{**XL, "n_layer": layers},
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = nanogpt.GPT(config)
    tokens = torch.randint(0, 50304, (2, 16), device=device)
    before = _resident_mib()
    started = time.perf_counter()
    conversion = nnconvert.convert(model, to=style, example_inputs=(tokens,))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    outcome = "not run (meta tensors hold no values)"
    if check:
        conversion.check(train=True)
        outcome = "pass (eval and train)"
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": seconds,
        "resident_before_mib": before,
        "peak_mib": peak,
        "lines": len(conversion.source.splitlines()),
        "check": outcome,
    }


def _in_child(style: str, layers: int, device: str, check: bool) -> dict:
    command = [sys.executable, __file__, "--one", style, str(layers), device]
    command += ["--check"] if check else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(HERE / "large_model.md"))
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        style, layers, device = arguments.one
        print(json.dumps(measure(style, int(layers), device, arguments.check)))
        return
    import torch

    rows = [
        "| model | device | style | parameters | conversion (s) | RSS before (MiB) "
        "| peak RSS (MiB) | output lines | check |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cases = [(48, "meta", False), (2, "cpu", True)]
    for layers, device, check in cases:
        for style in STYLES:
            found = _in_child(style, layers, device, check)
            name = f"nanoGPT, GPT-2 XL sizes, {layers} layers"
            if "error" in found:
                rows.append(f"| {name} | {device} | {style} | | {found['error']} |||||")
                continue
            rows.append(
                f"| {name} | {device} | {style} | {found['parameters'] / 1e9:.2f}B "
                f"| {found['seconds']:.1f} | {found['resident_before_mib']:.0f} "
                f"| {found['peak_mib']:.0f} | {found['lines']} | {found['check']} |"
            )
            print(rows[-1], file=sys.stderr)
    command = "python benchmarks/large_model.py " + " ".join(sys.argv[1:])
    text = (
        "# A 1.5B-parameter transformer\n\n"
        f"Command: `{command.strip()}` (torch {torch.__version__}, 2 CPU cores "
        "shared with other jobs: seconds include waiting for the CPU). "
        + __doc__.split("\n\n")[1].replace("\n", " ").replace("``", "`")
        + "\n\n"
        + "\n".join(rows)
        + "\n"
    )
    if arguments.output == "-":
        print(text)
    else:
        Path(arguments.output).write_text(text)
        print(f"wrote {arguments.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
