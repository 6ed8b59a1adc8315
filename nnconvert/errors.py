"""Errors that nnconvert raises on purpose.

Every failure a user can cause ends in one of these, so that the CLI can print
one clear line and exit non-zero instead of a traceback.
"""

from __future__ import annotations


class NnconvertError(Exception):
    """Base class: something about the input model or request is not supported."""


class ConversionError(NnconvertError):
    """The model cannot be rewritten into the requested style."""


class CheckError(NnconvertError):
    """The rewritten code does not compute what the original computes."""


class InputError(NnconvertError):
    """The input file or the command-line arguments are unusable."""
