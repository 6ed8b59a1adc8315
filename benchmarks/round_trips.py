"""Round trips over the real-world suite: does an output convert back to itself?

SPEC invariant 5: converting an output to its own style reproduces it byte
for byte, and module -> functional -> module gives the text module -> module
gives. The tests hold the samples to it (``tests/test_round_trips.py``);
this script measures the real-world suite (``benchmarks/realworld.py``'s
models, built the same way). For each model it converts the original to
every style once, loads each output as a model again (a class style's with
``Conversion.load()``, a functional file through nnconvert's functional
reader with the original's weights) and converts that to:

* its own style: ``module -> module``, ``mixed -> mixed``,
  ``functional -> functional``;
* ``functional -> module``, compared with the direct module output printed
  from the trace (``keep_source=False``, both conversions): a functional
  file holds no construction of the source to keep (README, *Construction
  kept*).

A cell says ``same``, ``differs`` (the first differing line of each text)
or the one-line reason the second conversion failed. No equivalence check
here: ``realworld.py`` runs those.

Run (about ten minutes on 2 cores; ``--models`` takes a subset)::

    python benchmarks/round_trips.py                    # -> benchmarks/round_trips.md
    python benchmarks/round_trips.py --models cifar_resnet --output -
"""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings

import torch

import nnconvert
from nnconvert.frontend import ModelInput
from nnconvert.functional import load_functional_source
from realworld import (
    ENTRIES,
    HERE,
    SUITE,
    Entry,
    build_model,
    commit,
    import_model_file,
    one_line,
    write_report,
)

#: (converted to first, then to): the trips the invariant names
TRIPS = (
    ("module", "module"),
    ("mixed", "mixed"),
    ("functional", "functional"),
    ("functional", "module"),
)


def loaded(conversion: nnconvert.Conversion) -> ModelInput:
    """An output as a model to convert again, holding the original's weights."""
    if conversion.style.value != "functional":
        return ModelInput(conversion.load())
    return load_functional_source(
        conversion.source,
        conversion.name,
        conversion.example_inputs,
        weights=conversion.model.state_dict(keep_vars=True),
        class_name=type(conversion.model).__name__,
    )


def first_difference(expected: str, found: str) -> str:
    """``differs at line n: `expected` / `found```: where the second text leaves the first."""
    for number, (a, b) in enumerate(
        zip(expected.splitlines() + [""], found.splitlines() + [""]), 1
    ):
        if a != b:
            return f"differs at line {number}: `{a.strip()[:60]}` / `{b.strip()[:60]}`"
    return "differs"


def trips(entry: Entry) -> dict[tuple[str, str], str]:
    """The outcome of each trip of ``TRIPS`` for one model."""
    try:
        module = import_model_file(SUITE / entry.file)
    except Exception as error:  # a missing third-party package
        return {trip: f"does not import: {one_line(error)}" for trip in TRIPS}
    model = build_model(entry, module).eval()
    inputs = entry.inputs()
    direct: dict[str, nnconvert.Conversion | str] = {}
    for style in {s for trip in TRIPS for s in trip}:
        try:
            direct[style] = nnconvert.convert(model, to=style, example_inputs=inputs)
        except Exception as error:
            direct[style] = f"does not convert: {one_line(error)}"
    outcomes = {}
    for via, to in TRIPS:
        first, expected = direct[via], direct[to]
        if isinstance(first, str) or isinstance(expected, str):
            outcomes[via, to] = first if isinstance(first, str) else str(expected)
            continue
        keep = via == to  # across styles, printed from the trace
        try:
            again = nnconvert.convert(
                loaded(first), to=to, example_inputs=inputs, keep_source=keep
            )
            if not keep:
                expected = nnconvert.convert(
                    model, to=to, example_inputs=inputs, keep_source=False
                )
        except Exception as error:
            outcomes[via, to] = one_line(error)
            continue
        outcomes[via, to] = (
            "same"
            if again.source == expected.source
            else first_difference(expected.source, again.source)
        )
    return outcomes


def table(results: dict[str, dict[tuple[str, str], str]]) -> str:
    heads = [f"{via} -> {to}" for via, to in TRIPS]
    rows = ["| model | " + " | ".join(heads) + " |", "|---" * (len(TRIPS) + 1) + "|"]
    for name, outcomes in results.items():
        cells = [outcomes[trip].replace("|", "\\|") for trip in TRIPS]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    same = {t: sum(r[t] == "same" for r in results.values()) for t in TRIPS}
    rows.append(
        "| **same** | "
        + " | ".join(f"**{same[t]}/{len(results)}**" for t in TRIPS)
        + " |"
    )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="names of entries to run")
    parser.add_argument("--output", default=str(HERE / "round_trips.md"))
    arguments = parser.parse_args()
    warnings.filterwarnings("ignore")
    entries = [e for e in ENTRIES if not arguments.models or e.name in arguments.models]
    torch.set_num_threads(1)
    results = {}
    for entry in entries:
        results[entry.name] = trips(entry)
        summary = ", ".join(
            f"{via}->{to}: {outcome.split(':')[0]}"
            for (via, to), outcome in results[entry.name].items()
        )
        print(f"{entry.name:45} {summary}", file=sys.stderr)
    command = "python benchmarks/round_trips.py " + " ".join(sys.argv[1:])
    doc = __doc__.split("Run (")[0].split("\n", 2)[2].strip()
    text = (
        "# Round trips over the real-world suite\n\n"
        f"Command: `{command.strip()}` (nnconvert commit {commit()}, torch "
        f"{torch.__version__}).\n\n{doc}\n\n{table(results)}\n"
    )
    write_report(text, arguments.output)


if __name__ == "__main__":
    main()
