"""Errors in the user's files, told in one line: ``file:line: what failed``."""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path
from typing import Iterator


def error_location(error: BaseException, path: Path) -> str:
    """``file:line: `` of the innermost frame in ``path``, if the error passed through it."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if Path(f.filename) == path.resolve()
    ]
    if not frames:
        frames = [
            f
            for f in traceback.extract_tb(error.__traceback__)
            if Path(f.filename) == path
        ]
    return f"{path}:{frames[-1].lineno}: " if frames else f"{path}: "


def one_line(error: BaseException) -> str:
    """``TypeError: what it says``, on one line."""
    try:
        text = " ".join(str(error).split())
    except Exception:  # an error whose message itself fails must still be told
        text = "(its message cannot be printed)"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def exit_location(error: SystemExit, path: Path | None = None) -> str:
    """``file:line: `` of the ``sys.exit`` call: in ``path`` if it passed there, else innermost."""
    if path is not None:
        located = error_location(error, path)
        if located != f"{path}: ":
            return located
    frames = traceback.extract_tb(error.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""


def exit_message(error: SystemExit, doing: str, path: Path | None = None) -> str:
    """One line for user code that called ``sys.exit``, which nnconvert never lets end it.

    A model file that exits would otherwise end nnconvert with the file's own
    exit code (0 included) and nothing converted or checked.
    """
    code = "" if error.code is None else repr(error.code)
    return (
        f"{exit_location(error, path)}the code calls sys.exit({code}) {doing}; "
        "a model file must not exit"
    )


@contextlib.contextmanager
def user_prints_to_stderr() -> Iterator[None]:
    """While user code runs, its ``print()`` goes to stderr: stdout holds only the code.

    So ``nnconvert convert m.py --to mixed > out.py`` writes valid Python even
    when the model prints from ``forward`` or at import.
    """
    with contextlib.redirect_stdout(sys.stderr):
        yield


__all__ = [
    "error_location",
    "exit_location",
    "exit_message",
    "one_line",
    "user_prints_to_stderr",
]
