"""The command line: ``nnconvert convert`` and ``nnconvert check``.

Only parses options, calls the API and reports. Exit codes: 0 done,
1 conversion or check failed, 2 bad usage or unusable input. stdout holds
only the result (the code, or the check's verdict): whatever the user's code
prints while it is imported, built, traced or checked goes to stderr.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import click

from . import batch, loading
from .api import Conversion, convert as convert_model
from .check import CheckReport, check_equivalent
from .errors import InputError, NnconvertError
from .frontend import ModelInput
from .isolation import IsolatedRewrite
from .options import Style, Tolerances
from .reporting import exit_message, one_line, user_prints_to_stderr

EXIT_FAILED = 1
EXIT_USAGE = 2


def _model_options(command: Callable) -> Callable:
    """Options shared by both commands: which model, built how, fed what."""
    options = [
        click.option(
            "--class",
            "class_name",
            metavar="NAME",
            help="Model class to convert, or a function in FILE that builds the model (a factory; its --init-args are its arguments). Default: the nn.Module class of FILE that no other class of FILE uses; when that is not one class, the error lists the candidates.",
        ),
        click.option(
            "--init-arg",
            "init_args",
            metavar="NAME=VALUE",
            multiple=True,
            help="Constructor argument for the model class, a Python literal (num_classes=10); repeatable. A bare name of a class or function defined in FILE passes that object (block=BasicBlock); other bare text is a string. Quote a string that is such a name: block=\"'BasicBlock'\".",
        ),
        click.option(
            "--weights",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="PATH",
            help="A state dict saved with torch.save: the weights of a functional model (default: the file's init_params()), or loaded into the class.",
        ),
        click.option(
            "--input-shape",
            "input_shapes",
            metavar="SHAPE",
            multiple=True,
            help="Shape of one example input, e.g. 2,3,32,32; repeat for several inputs (default: the file's example_inputs()).",
        ),
        click.option(
            "--input-dtype",
            "input_dtypes",
            metavar="DTYPE",
            multiple=True,
            help="dtype of the example inputs: one for all, or one per --input-shape (default float32).",
        ),
        click.option(
            "--input-high",
            type=int,
            default=10,
            show_default=True,
            metavar="N",
            help="Integer example inputs are drawn from [0, N).",
        ),
        click.option(
            "--rtol",
            type=float,
            default=None,
            help="Relative tolerance of the check (default: torch.testing.assert_close's for the dtype).",
        ),
        click.option(
            "--atol",
            type=float,
            default=None,
            help="Absolute tolerance of the check (default: as for --rtol).",
        ),
        click.option(
            "--train/--no-train",
            "train",
            default=True,
            show_default=True,
            help=(
                "Also check train mode: outputs, buffers and gradients after one "
                "step (one more forward and one backward of each model; a "
                "quarter to two thirds of the check's time on a ResNet-50 and "
                "a 12-layer transformer: benchmarks/perf.md)."
            ),
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _reporting_errors(command: Callable) -> Callable:
    """Turn nnconvert's errors into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except SystemExit as error:  # the user's code exited while it ran
            click.echo(
                f"nnconvert: error: {exit_message(error, 'while it runs')}", err=True
            )
            sys.exit(EXIT_USAGE)
        except InputError as error:
            click.echo(f"nnconvert: error: {error}", err=True)
            sys.exit(EXIT_USAGE)
        except NnconvertError as error:
            if os.environ.get("NNCONVERT_TRACEBACK") and error.__cause__ is not None:
                raise  # an nnconvert bug the API wrapped: show where it happened
            click.echo(f"nnconvert: error: {error}", err=True)
            sys.exit(EXIT_FAILED)
        except Exception as error:  # a bug or an unforeseen model: still one line
            if os.environ.get("NNCONVERT_TRACEBACK"):
                raise
            click.echo(
                f"nnconvert: internal error: {one_line(error)} "
                "(NNCONVERT_TRACEBACK=1 shows the traceback)",
                err=True,
            )
            sys.exit(EXIT_FAILED)

    return wrapper


MAIN_EXAMPLES = """\b
Examples:
  nnconvert convert model.py --to functional -o model_functional.py
  nnconvert convert models/ --to mixed -o models_mixed/
  nnconvert check model.py model_functional.py
  nnconvert check --source model.py --to functional model_functional.py
  nnconvert convert --help
"""

CONVERT_EXAMPLES = """\b
Examples:
  nnconvert convert model.py --to functional -o model_functional.py
  nnconvert convert model.py --to mixed --input-shape 2,3,32,32 > mixed.py
  nnconvert convert model.py --to module --diff
  nnconvert convert models/ extra.py --to functional -o functional/
  nnconvert convert models/ --to mixed --in-place
"""

CHECK_EXAMPLES = """\b
Examples:
  nnconvert check model.py model_functional.py
  nnconvert check model.py rewrite.py --input-shape 4,32 --no-train
  nnconvert check --source model.py --to functional model_functional.py
"""


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]}, epilog=MAIN_EXAMPLES
)
@click.version_option(package_name="nnconvert")
def main() -> None:
    """Rewrite PyTorch models between module, functional and mixed style, with proof."""


@main.command(epilog=CONVERT_EXAMPLES)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--to",
    "style",
    required=True,
    type=click.Choice([s.value for s in Style]),
    help="Target style.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),  # a folder is refused in one line, below
    help="Write here (atomically, after the check) instead of stdout; with several inputs or a folder, the folder the input tree is mirrored into.",
)
@click.option(
    "--in-place",
    is_flag=True,
    help="Rewrite each input file itself, atomically and only after its check passed; the file then holds the converted model only (its example_inputs() and other top-level code are not kept).",
)
@click.option(
    "--name",
    help="Name of the generated class or function (default: the model's class name, also when --class names a factory, unless that class is torch's own, such as the nn.Sequential a factory returns: then the factory's name; snake_case for functional).",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help=(
        "Run original and output side by side before writing: in eval mode "
        "the original about 3 times and the output twice (example batch, "
        "batch + 1), plus a probe and a run per other input shape and per "
        "optional input; the check is about 90% of a ResNet-50's "
        "conversion + check (benchmarks/perf.md), --no-check saves that."
    ),
)
@click.option(
    "--diff",
    is_flag=True,
    help="Print a unified diff from FILE to the converted code instead of the code.",
)
@click.option(
    "--keep-source/--no-keep-source",
    default=True,
    show_default=True,
    help=(
        "--to mixed: a model whose source already is in mixed style comes out "
        "as written (its classes, builder methods and tables, and the imports "
        "and module-level code they read), when that source builds the same "
        "model, and otherwise keeps its construction with its methods printed "
        "in mixed style and the stateless layers they call as functions taken "
        "out of __init__; --to module: that source with its methods as written "
        "and their functional calls rewritten as calls of layers added to "
        "__init__, or else with its methods printed in module style and the "
        "layers they call added to __init__; "
        "--no-keep-source prints it from the trace, as any other."
    ),
)
@_model_options
@_reporting_errors
def convert(
    paths: tuple[Path, ...],
    style: str,
    output: Path | None,
    in_place: bool,
    name: str | None,
    check: bool,
    diff: bool,
    keep_source: bool,
    **model_options: Any,
) -> None:
    """Convert the model in each PATH (a file, or every *.py file of a folder) to another style.

    One FILE: the code goes to stdout (or -o PATH), everything else to
    stderr. Several paths, a folder or --in-place: each model file is
    written under -o DIR (mirroring the tree) or over itself, a progress
    bar runs on stderr, and a table of converted, failed and skipped files
    (those that define no model) ends the run; exit 1 if any file failed.
    """
    if len(paths) == 1 and not paths[0].is_dir() and not in_place:
        _convert_one_file(
            paths[0], style, output, name, check, diff, keep_source, model_options
        )
        return
    _check_batch_flags(paths, output, in_place, name, check, diff)
    _check_model_flags(model_options)
    jobs = batch.collect(paths, output)
    convert_file = functools.partial(
        _converted_source,
        style=style,
        check=check,
        keep_source=keep_source,
        model_options=model_options,
    )
    outcomes = []
    with click.progressbar(
        jobs,
        label=f"converting to {style}",
        file=sys.stderr,
        item_show_func=lambda job: None if job is None else str(job.source),
    ) as bar:
        for job in bar:
            outcome = batch.run_job(
                job, convert_file, check_output_target, write_atomically, in_place
            )
            outcomes.append(outcome)
    click.echo(batch.summary(outcomes), nl=False)
    batch.raise_if_failed(outcomes)


def _check_batch_flags(
    paths: tuple[Path, ...],
    output: Path | None,
    in_place: bool,
    name: str | None,
    check: bool,
    diff: bool,
) -> None:
    """Refuse flag combinations that make no sense for many files, before any work."""
    if in_place and output is not None:
        raise InputError("give either -o DIR or --in-place, not both")
    if in_place and not check:
        raise InputError(
            "--in-place rewrites a file only after its check: drop --no-check"
        )
    if not in_place and output is None:
        shown = " ".join(str(p) for p in paths)
        raise InputError(
            f"{shown}: several inputs or a folder need -o DIR (mirrors the tree) "
            "or --in-place"
        )
    if diff:
        raise InputError("--diff takes one FILE, not several inputs or a folder")
    if name is not None:
        raise InputError("--name takes one FILE, not several inputs or a folder")
    if output is not None:
        batch.check_output_folder(output)


def _converted_source(
    file: Path,
    style: str,
    check: bool,
    keep_source: bool,
    model_options: dict[str, Any],
) -> str:
    """The converted code of one file of a folder run, checked unless --no-check.

    User code's prints go to stderr; the per-file report is not printed (the
    table at the end says what happened), so the progress bar stays readable.
    """
    with user_prints_to_stderr():
        _, conversion, train = _loaded_conversion(
            file, style, None, keep_source, model_options
        )
        if check:
            conversion.check(train=train)
    return conversion.source


def _loaded_conversion(
    file: Path,
    style: str,
    name: str | None,
    keep_source: bool,
    model_options: dict[str, Any],
) -> tuple[ModelInput, Conversion, bool]:
    """The model of FILE as the options build it, converted to ``style``.

    With whether its check includes train mode (``--train/--no-train``).
    The caller decides where the model's prints go.
    """
    model, inputs, tolerances, train = _load_model(file, **model_options)
    conversion = convert_model(
        model,
        style,
        inputs,
        name=name,
        tolerances=tolerances,
        keep_source=keep_source,
    )
    return model, conversion, train


def _convert_one_file(
    file: Path,
    style: str,
    output: Path | None,
    name: str | None,
    check: bool,
    diff: bool,
    keep_source: bool,
    model_options: dict[str, Any],
) -> None:
    """``convert FILE``: the code to stdout or -o PATH, the report to stderr."""
    if output is not None:
        check_output_target(output, file)
    with user_prints_to_stderr():
        model, conversion, train = _loaded_conversion(
            file, style, name, keep_source, model_options
        )
        for leaf in conversion.leaves:
            click.echo(f"leaf: {leaf}", err=True)
        if check:
            report = conversion.check(train=train)
            click.echo(
                f"checked {conversion.name} against {model.name}:\n{report}",
                err=True,
            )
    text = conversion.source
    if diff:
        text = "".join(
            difflib.unified_diff(
                loading.read_source(file).splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=str(file),
                tofile=str(output or f"{file} ({style})"),
            )
        )
    if output is None or diff:
        click.echo(text, nl=False)
    if output is not None:
        write_atomically(output, conversion.source)
    if conversion.fresh_build is not None:
        equal, total = conversion.fresh_build
        click.echo(
            "kept the model's own initialisation code: built anew under one seed, "
            f"the output equals the original on {equal} of {total} tensors",
            err=True,
        )
    if conversion.as_written:  # said once the output stands: an error is one line
        kept = (
            "kept the model's own source: its methods as written with their "
            "functional calls written as layers in place, else its construction "
            "with the methods printed in module style"
            if conversion.style is Style.MODULE
            else "kept the model's own source: as written where it already is in "
            "mixed style, else its parameter-free layers' calls written as "
            "functions in place or in methods printed in mixed style"
        )
        click.echo(f"{kept} (--no-keep-source prints it from the trace)", err=True)


class StaleError(NnconvertError):
    """A committed converted file differs from what converting its source gives today."""


@main.command("check", epilog=CHECK_EXAMPLES)
@click.argument(
    "files",
    nargs=-1,
    metavar="ORIGINAL REWRITE | --source FILE --to STYLE TWIN",
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--source",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Stale check: convert FILE today (with --to, --name and the model options) and compare the text with TWIN, the committed conversion; exit 1 and a unified diff on stdout when they differ.",
)
@click.option(
    "--to",
    "style",
    type=click.Choice([s.value for s in Style]),
    help="Stale check: the style TWIN was converted to (with --source).",
)
@click.option(
    "--name",
    help="Stale check: the --name TWIN was converted with, if any.",
)
@click.option(
    "--keep-source/--no-keep-source",
    default=True,
    show_default=True,
    help="Stale check: as TWIN was converted (convert's --keep-source).",
)
@_model_options
@_reporting_errors
def check_files(
    files: tuple[Path, ...],
    source: Path | None,
    style: str | None,
    name: str | None,
    keep_source: bool,
    **model_options: Any,
) -> None:
    """Check that REWRITE computes what ORIGINAL computes, with ORIGINAL's weights.

    REWRITE may be in any style: a class whose instance loads ORIGINAL's
    state_dict strictly, or a function taking the state_dict first.

    With --source FILE --to STYLE TWIN: check that TWIN, a committed
    conversion of FILE, is still exactly what converting FILE gives today
    (exit 0), else print the unified diff and exit 1 (for CI and pre-commit).
    """
    if source is not None or style is not None or name is not None:
        _check_stale(files, source, style, name, keep_source, model_options)
        return
    if len(files) != 2:
        raise InputError(
            "check takes ORIGINAL REWRITE, or --source FILE --to STYLE TWIN"
        )
    original, rewrite = files
    with user_prints_to_stderr():
        report, what, model_name = _check_files(original, rewrite, model_options)
    click.echo(
        f"{rewrite}:{what} computes what {original}:{model_name} computes\n{report}"
    )


def _check_stale(
    files: tuple[Path, ...],
    source: Path | None,
    style: str | None,
    name: str | None,
    keep_source: bool,
    model_options: dict[str, Any],
) -> None:
    """``check --source FILE --to STYLE TWIN``: is the committed TWIN today's conversion?

    Compares text, byte for byte: TWIN was checked when it was written, so
    the same text computes the same; a different text is a TWIN to refresh.
    """
    if source is None or style is None or len(files) != 1:
        raise InputError("the stale check takes --source FILE --to STYLE TWIN")
    (twin,) = files
    if not twin.is_file():
        raise InputError(f"{twin}: no such file")
    committed = loading.read_source(twin)
    with user_prints_to_stderr():
        _, conversion, _ = _loaded_conversion(
            source, style, name, keep_source, model_options
        )
        today = conversion.source
    command = f"nnconvert convert {source} --to {style}"
    if name is not None:
        command += f" --name {name}"
    if not keep_source:
        command += " --no-keep-source"
    if today == committed:
        click.echo(f"{twin}: up to date with `{command}`", err=True)
        return
    click.echo(
        "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                today.splitlines(keepends=True),
                fromfile=str(twin),
                tofile=f"{twin} ({command})",
            )
        ),
        nl=False,
    )
    raise StaleError(
        f"{twin} is stale: it is not what `{command}` gives today; "
        f"refresh it with `{command} -o {twin}`"
    )


def _check_files(
    original: Path, rewrite: Path, model_options: dict[str, Any]
) -> tuple[CheckReport, str, str]:
    """Load both files and compare them: (the report, REWRITE's model, ORIGINAL's).

    REWRITE runs in a child process (:mod:`.isolation`): the file being
    checked cannot reach the checker's code.
    """
    if not rewrite.is_file():
        raise InputError(f"{rewrite}: no such file")
    with IsolatedRewrite(rewrite) as isolated:  # starts while ORIGINAL loads
        model, inputs, tolerances, train = _load_model(original, **model_options)
        name = isolated.pick(type(model.module).__name__)
        report = check_equivalent(
            model.module, isolated.candidate, inputs, tolerances, train=train
        )
    return report, name, model.name


def _load_model(
    path: Path,
    class_name: str | None,
    init_args: tuple[str, ...],
    weights: Path | None,
    input_shapes: tuple[str, ...],
    input_dtypes: tuple[str, ...],
    input_high: int,
    rtol: float | None,
    atol: float | None,
    train: bool,
) -> tuple[ModelInput, tuple, Tolerances, bool]:
    _check_tolerances(rtol, atol, input_high)
    shapes = [loading.parse_shape(s) for s in input_shapes]
    loading.input_dtypes(shapes, input_dtypes, input_high)  # before the file runs
    loaded = loading.load_file(
        path,
        class_name=class_name,
        init_args=loading.parse_init_args(init_args),
        weights=weights,
        input_shapes=shapes,
        input_dtypes=input_dtypes,
        input_high=input_high,
    )
    return loaded.model, loaded.example_inputs, Tolerances(rtol=rtol, atol=atol), train


def _check_tolerances(rtol: float | None, atol: float | None, input_high: int) -> None:
    """Flag values no model can make right: exit 2 before any file is imported."""
    if (rtol is None) != (atol is None):
        raise InputError("give both --rtol and --atol, or neither")
    for flag, tolerance in (("--rtol", rtol), ("--atol", atol)):
        if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= 0):
            raise InputError(f"{flag} {tolerance}: must be a number >= 0")
    if input_high <= 0:
        raise InputError(f"--input-high {input_high}: must be > 0")


def _check_model_flags(model_options: dict[str, Any]) -> None:
    """All model flags, checked once for a folder run: a bad one is exit 2, not N failures."""
    _check_tolerances(
        model_options["rtol"], model_options["atol"], model_options["input_high"]
    )
    loading.parse_init_args(model_options["init_args"])
    shapes = [loading.parse_shape(s) for s in model_options["input_shapes"]]
    loading.input_dtypes(
        shapes, model_options["input_dtypes"], model_options["input_high"]
    )


def check_output_target(output: Path, file: Path) -> None:
    """Refuse an ``-o`` that cannot be written safely, before any work is done.

    The target (a symlink's target: the link stays a link) must be a regular
    file or not exist yet, must not be the input file, and no folder above it
    may be a file.
    """
    target = Path(os.path.realpath(output))
    if target == Path(os.path.realpath(file)):
        raise InputError(
            f"{output}: refusing to overwrite the input file; choose another --output"
        )
    if target.exists() and not target.is_file():
        kind = "a folder" if target.is_dir() else "not a regular file"
        raise InputError(f"{output}: {kind}; --output must be a file")
    for folder in target.parents:
        if folder.exists():
            if not folder.is_dir():
                raise InputError(f"{output}: {folder} is a file, not a folder")
            break


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory and rename: never a half file.

    Writes through a symlink to its target, keeps an existing file's
    permission bits (a new file gets the umask's mode, not mkstemp's 0600),
    and turns OS errors (a read-only folder) into one InputError line.
    """
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = _mode_for(target)
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise InputError(f"{path}: cannot write: {_os_reason(error)}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            os.fchmod(file.fileno(), mode)
        os.replace(temporary, target)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise InputError(f"{path}: cannot write: {_os_reason(error)}") from None
        raise


def _mode_for(target: Path) -> int:
    """The permission bits the written file gets: the existing file's, else 0666 & ~umask."""
    if target.is_file():
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _os_reason(error: OSError) -> str:
    """``Permission denied`` (the OS's words, without the file name repeated)."""
    return error.strerror or one_line(error)


if __name__ == "__main__":
    main()
