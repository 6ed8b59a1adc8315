"""What a call passes, read from the call's own text (``nnconvert/call_sites.py``).

A recorded helper call given None keeps the parameter only where the call
passed the caller's own parameter on, unchanged: the value the trace saw
is then the caller's input, whatever it is on another call.
"""

from __future__ import annotations

import inspect
import sys

from nnconvert.call_sites import passed_parameters


def callee(x, mask=None, pos=None):
    """Stands for a helper method; :func:`_passed` puts a spy in its place."""


SIGNATURE = inspect.signature(callee)


def passes_on(x, mask=None, pos=None):
    return callee(x, mask, pos=pos)


def writes_none(x, mask=None):
    return callee(x, None, pos=mask)


def reassigns(x, mask=None, pos=None):
    pos = None
    return callee(x, mask=mask, pos=pos)


def spreads(x, *rest):
    return callee(x, *rest)


def _passed(caller, *args) -> dict[str, str]:
    """What ``caller``'s call of ``callee`` passed on, read while it runs."""
    found = {}

    def spy(x, mask=None, pos=None):
        found.update(passed_parameters(sys._getframe(1), SIGNATURE))

    globals()["callee"], original = spy, callee
    try:
        caller(*args)
    finally:
        globals()["callee"] = original
    return found


def test_parameters_passed_on_by_position_or_keyword_are_named():
    assert _passed(passes_on, 1) == {"x": "x", "mask": "mask", "pos": "pos"}


def test_a_none_written_at_the_call_is_no_parameter():
    assert _passed(writes_none, 1) == {"x": "x", "pos": "mask"}


def test_a_parameter_the_caller_assigns_is_not_passed_on():
    assert _passed(reassigns, 1) == {"x": "x", "mask": "mask"}


def test_a_starred_call_is_not_read():
    assert _passed(spreads, 1, None) == {}
