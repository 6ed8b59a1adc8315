"""Many model files at once: ``nnconvert convert PATH... --to STYLE`` over files and folders.

A module of its own because a run over a project differs from the one-file
command: it writes files (mirrored under ``-o DIR``, or ``--in-place``)
instead of printing code, keeps going after a file fails, and ends with a
table saying what happened to each file. Each file keeps the one-file
command's safety: its output is written atomically and only after its
check passed, so a failed file leaves nothing written and its target as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .errors import InputError, NnconvertError
from .loading import NoModelError
from .reporting import exit_message, one_line

CONVERTED, FAILED, SKIPPED = "converted", "failed", "skipped"


class BatchFailed(NnconvertError):
    """Some files of a folder conversion failed: exit 1, after the summary table."""


@dataclass(frozen=True)
class Job:
    """One model file and where its conversion goes."""

    source: Path
    target: Path


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: its status and a path or the one-line reason."""

    source: Path
    status: str
    detail: str


def is_skipped_folder(name: str) -> bool:
    """Hidden folders (``.git``, ``.venv``) and caches hold no model of the project."""
    return name.startswith(".") or name == "__pycache__"


def python_files(folder: Path, exclude: Path | None) -> list[Path]:
    """Every ``*.py`` file under ``folder``, recursively and sorted, without following links.

    ``exclude`` (the ``-o`` folder when it lies inside the input tree) is left
    out, so a second run does not convert the first run's outputs.
    """
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(
            f
            for f in folders
            if not is_skipped_folder(f)
            and (exclude is None or _absolute(Path(root) / f) != exclude)
        )
        found += [Path(root) / f for f in sorted(files) if f.endswith(".py")]
    return found


def _absolute(path: Path) -> Path:
    """An absolute path without resolving links: where the user sees the file."""
    return Path(os.path.abspath(path))


def collect(paths: Sequence[Path], output_dir: Path | None) -> list[Job]:
    """The jobs of ``convert PATH...``: each model file once, with its target.

    A folder gives its ``*.py`` files; a file is taken as named. With
    ``output_dir`` the targets mirror the inputs below their common folder
    (``models/a.py`` and ``models/sub/b.py`` from ``models`` go to
    ``DIR/a.py`` and ``DIR/sub/b.py``); without it a file is its own target
    (``--in-place``).
    """
    exclude = None if output_dir is None else _absolute(output_dir)
    sources: list[Path] = []
    bases = []
    for path in paths:
        if path.is_dir():
            sources += python_files(path, exclude)
            bases.append(_absolute(path))
        elif path.is_file():
            sources.append(path)
            bases.append(_absolute(path).parent)
        else:
            raise InputError(f"{path}: no such file or folder")
    unique = list({_absolute(s): s for s in sources}.values())
    if output_dir is None:
        return [Job(s, s) for s in unique]
    common = Path(os.path.commonpath([str(b) for b in bases]))
    jobs = [Job(s, output_dir / _absolute(s).relative_to(common)) for s in unique]
    refuse_overwriting_inputs(jobs, output_dir)
    return jobs


def refuse_overwriting_inputs(jobs: Sequence[Job], output_dir: Path) -> None:
    """An ``-o DIR`` that maps a file onto itself would rewrite inputs nobody asked to.

    (``convert models -o models``): only ``--in-place`` rewrites an input.
    """
    for job in jobs:
        if os.path.realpath(job.target) == os.path.realpath(job.source):
            raise InputError(
                f"{output_dir}: -o DIR would overwrite the input {job.source}; "
                "choose another folder, or --in-place"
            )


def check_output_folder(output_dir: Path) -> None:
    """``-o DIR`` for several inputs must be a folder, or not exist yet."""
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(
            f"{output_dir}: not a folder; with several inputs or a folder, "
            "-o names the folder the outputs go to"
        )


def run_job(
    job: Job,
    convert: Callable[[Path], str],
    prepare: Callable[[Path, Path], None],
    write: Callable[[Path, str], None],
    in_place: bool = False,
) -> Outcome:
    """Convert one file and write it; any failure becomes the file's one-line reason.

    ``prepare`` refuses an unsafe target before the model runs; ``write``
    runs only once ``convert`` (which checks) returned, so a failed file
    writes nothing. A file that defines no model is skipped, not failed.
    """
    try:
        if not in_place:
            prepare(job.target, job.source)
        text = convert(job.source)
        write(job.target, text)
    except NoModelError:
        return Outcome(job.source, SKIPPED, "defines no model")
    except SystemExit as error:  # the user's code exited while it ran
        return Outcome(job.source, FAILED, exit_message(error, "while it runs"))
    except NnconvertError as error:
        return Outcome(job.source, FAILED, " ".join(str(error).split()))
    except Exception as error:  # a bug or an unforeseen model: still one line
        return Outcome(job.source, FAILED, f"internal error: {one_line(error)}")
    return Outcome(job.source, CONVERTED, str(job.target))


def summary(outcomes: Iterable[Outcome]) -> str:
    """The table at the end: one row per file (status, file, target or reason), then counts."""
    outcomes = list(outcomes)
    rows = []
    for outcome in outcomes:
        if outcome.status == CONVERTED:
            rows.append(f"{outcome.status:<10} {outcome.source} -> {outcome.detail}")
        elif outcome.detail.startswith(f"{outcome.source}:"):
            rows.append(f"{outcome.status:<10} {outcome.detail}")
        else:
            rows.append(f"{outcome.status:<10} {outcome.source}: {outcome.detail}")
    counts = ", ".join(
        f"{sum(o.status == status for o in outcomes)} {status}"
        for status in (CONVERTED, FAILED, SKIPPED)
    )
    files = "file" if len(outcomes) == 1 else "files"
    rows.append(f"{len(outcomes)} {files}: {counts}")
    return "\n".join(rows) + "\n"


def raise_if_failed(outcomes: Sequence[Outcome]) -> None:
    """Exit 1 (through the CLI's error reporting) when any file failed."""
    failed = sum(o.status == FAILED for o in outcomes)
    if failed:
        raise BatchFailed(f"{failed} of {len(outcomes)} files failed (see the table)")


__all__ = [
    "BatchFailed",
    "Job",
    "Outcome",
    "check_output_folder",
    "collect",
    "python_files",
    "raise_if_failed",
    "run_job",
    "summary",
]
