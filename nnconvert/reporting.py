"""Errors in the user's files, told in one line: ``file:line: what failed``."""

from __future__ import annotations

import traceback
from pathlib import Path


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
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


__all__ = ["error_location", "one_line"]
