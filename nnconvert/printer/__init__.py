"""Traced, styled instances -> black-formatted Python source."""

from .program import format_source, print_program

__all__ = ["format_source", "print_program"]
