"""``nnconvert check ORIGINAL REWRITE``: the file being checked cannot reach the checker.

REWRITE is code nnconvert did not write. It runs in a child process, and
only the numbers it computes come back (issue 13): a file that replaces the
checker's functions, exits the process or prints fails or passes on what it
computes, with the usual message and exit code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nnconvert.check

from .helpers import run, write

ROOT = Path(__file__).resolve().parent.parent

ORIGINAL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        return torch.relu(self.bn(self.fc(x)))


def example_inputs():
    return (torch.randn(5, 4),)
"""

#: a rewrite computing the wrong thing, which would pass a checker it could patch
CHEATING = """
import torch
import torch.testing
from torch import nn
import nnconvert.check

{patch}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        {in_forward}
        return torch.relu(self.bn(self.fc(x))) * 2
"""

PATCH = """
def _always_close(*args, **kwargs):
    return None


def _no_differences(*args, **kwargs):
    return ()


torch.testing.assert_close = _always_close
nnconvert.check.compare = _no_differences
nnconvert.check.check_equivalent = lambda *a, **k: nnconvert.check.CheckReport(())
"""


@pytest.mark.parametrize("where", ["import", "forward"])
def test_a_rewrite_that_replaces_the_checker_still_fails(tmp_path, where):
    original = write(tmp_path, "original.py", ORIGINAL)
    patch_at_import = PATCH if where == "import" else ""
    in_forward = (
        "torch.testing.assert_close = lambda *a, **k: None; "
        "nnconvert.check.compare = lambda *a, **k: ()"
        if where == "forward"
        else "pass"
    )
    rewrite = write(
        tmp_path,
        "rewrite.py",
        CHEATING.format(patch=patch_at_import, in_forward=in_forward),
    )
    compare, assert_close = nnconvert.check.compare, torch.testing.assert_close
    result = run("check", original, rewrite)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnconvert: error: eval, "), lines
    assert "output differs" in lines[0]
    assert result.stdout == ""
    # nothing of the file ran in this process
    assert nnconvert.check.compare is compare
    assert torch.testing.assert_close is assert_close


def test_an_honest_rewrite_still_passes_with_its_name(tmp_path):
    original = write(tmp_path, "original.py", ORIGINAL)
    honest = write(tmp_path, "rewrite.py", CHEATING.format(patch="", in_forward="pass"))
    honest.write_text(honest.read_text().replace(" * 2", ""))
    result = run("check", original, honest)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{honest}:Net computes what {original}:Net")
    assert "ok    train, gradients of every parameter and input" in result.stdout


@pytest.mark.parametrize("code", ["0", "7"])
def test_a_rewrite_that_ends_the_process_is_a_usage_error(tmp_path, code):
    """``os._exit`` skips every handler: the child dies, the parent says so."""
    original = write(tmp_path, "original.py", ORIGINAL)
    rewrite = write(
        tmp_path,
        "rewrite.py",
        CHEATING.format(patch=f"import os\nos._exit({code})", in_forward="pass"),
    )
    result = run("check", original, rewrite)
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"nnconvert: error: {rewrite}: the file ended the checker's child process "
        f"(exit code {code}) while loading the file\n"
    )
    assert result.stdout == ""


def test_a_rewrite_that_exits_while_it_runs_names_the_line(tmp_path):
    original = write(tmp_path, "original.py", ORIGINAL)
    rewrite = write(
        tmp_path,
        "rewrite.py",
        CHEATING.format(patch="import sys", in_forward="sys.exit(9)"),
    )
    result = run("check", original, rewrite)
    assert result.exit_code == 2, result.output
    line = next(
        i
        for i, text in enumerate(rewrite.read_text().splitlines(), 1)
        if "exit(9)" in text
    )
    assert result.stderr == (
        f"nnconvert: error: {rewrite}:{line}: the code calls sys.exit(9) while it "
        "runs; a model file must not exit\n"
    )


def test_a_rewrite_that_raises_is_a_check_failure_naming_the_error(tmp_path):
    original = write(tmp_path, "original.py", ORIGINAL)
    rewrite = write(
        tmp_path,
        "rewrite.py",
        CHEATING.format(patch="", in_forward="raise KeyError('no such head')"),
    )
    result = run("check", original, rewrite)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        "nnconvert: error: eval, example inputs (batch 5): the rewrite fails: "
        "KeyError: 'no such head'\n"
    )


DICT_OUTPUT = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return {"logits": self.fc(x), "pair": (x.sum(), x.shape[0])}


def example_inputs():
    return (torch.randn(5, 4),)
"""


def test_plain_containers_come_back_whole(tmp_path):
    original = write(tmp_path, "original.py", DICT_OUTPUT)
    same = write(tmp_path, "same.py", DICT_OUTPUT)
    assert run("check", original, same).exit_code == 0
    renamed = write(tmp_path, "renamed.py", DICT_OUTPUT.replace('"logits"', '"out"'))
    result = run("check", original, renamed)
    assert result.exit_code == 1
    assert result.stderr == (
        "nnconvert: error: eval, example inputs (batch 5): different keys: "
        "missing ['logits']; not in the original ['out']\n"
    )


ORDERED_OUTPUT = """
from collections import OrderedDict

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return OrderedDict(logits=self.fc(x), hidden=x)


def example_inputs():
    return (torch.randn(5, 4),)
"""


def test_an_output_that_is_no_plain_container_comes_back_as_leaves(tmp_path):
    """An OrderedDict is no plain data for the load: its leaves and structure text."""
    original = write(tmp_path, "original.py", ORDERED_OUTPUT)
    same = write(tmp_path, "same.py", ORDERED_OUTPUT)
    assert run("check", original, same).exit_code == 0
    wrong = write(tmp_path, "wrong.py", ORDERED_OUTPUT.replace("hidden=x", "hidden=-x"))
    result = run("check", original, wrong)
    assert result.exit_code == 1, result.output
    assert (
        "nnconvert: error: eval, example inputs (batch 5): output['hidden'] differs"
        in (result.stderr)
    )
    plain = write(tmp_path, "plain.py", ORDERED_OUTPUT.replace("OrderedDict(", "dict("))
    result = run("check", original, plain)
    assert result.exit_code == 1, result.output
    assert "output structure differs" in result.stderr


def test_prints_of_the_rewrite_go_to_stderr_through_a_real_pipe(tmp_path):
    original = write(tmp_path, "original.py", ORIGINAL)
    rewrite = write(
        tmp_path,
        "rewrite.py",
        CHEATING.format(patch="print('hello at import')", in_forward="print('hi')"),
    )
    rewrite.write_text(rewrite.read_text().replace(" * 2", ""))
    completed = subprocess.run(
        [sys.executable, "-m", "nnconvert", "check", str(original), str(rewrite)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"{rewrite}:Net computes what {original}:Net")
    assert "hello" not in completed.stdout and "hi\n" not in completed.stdout
    assert "hello at import" in completed.stderr and "hi\n" in completed.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("x = 1\n", "{path}: defines no nn.Module class and no function taking params"),
        (
            "import torch\nraise ValueError('boom')\n",
            "{path}:2: cannot import the file: ValueError: boom",
        ),
        ("def f(:\n", "{path}:1: syntax error: invalid syntax"),
    ],
    ids=["no-model", "raises", "syntax"],
)
def test_a_rewrite_that_does_not_load_is_one_line_from_the_child(
    tmp_path, text, message
):
    original = write(tmp_path, "original.py", ORIGINAL)
    rewrite = tmp_path / "rewrite.py"
    rewrite.write_text(text)
    result = run("check", original, rewrite)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"nnconvert: error: {message.format(path=rewrite)}\n"
    assert result.stdout == ""
