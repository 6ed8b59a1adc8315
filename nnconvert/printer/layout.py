"""Black's layout of the output: what the printer plans its lines by."""

import black

_MODE = black.Mode()

#: The longest line black leaves as it is (its default, which the output uses).
LINE_LENGTH: int = _MODE.line_length


def black_lines(code: str) -> int:
    """How many lines black writes ``code`` (whole statements) in."""
    return black.format_str(code, mode=_MODE).count("\n")


__all__ = ["LINE_LENGTH", "black_lines"]
