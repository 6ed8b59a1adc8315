"""``convert PATH...`` over folders, ``check --source`` (stale twins) and the pre-commit hook.

A folder of mixed good and bad files gives the right table and exit code,
writes only the good files' outputs (checked against their originals), and
changes nothing else.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from .helpers import run, write

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
LENET = SAMPLES / "lenet.py"
README = (ROOT / "README.md").read_text()


def golden(style: str) -> str:
    return (SAMPLES / "expected" / f"lenet.{style}.py").read_text()


#: Traces, but its output fails the check on another batch size (in module
#: style too: ``F.leaky_relu`` becomes a layer, and the slope is a local, so
#: the source cannot keep the call, and the printed ``forward`` stands).
FAILS_CHECK = """
import operator

import torch
import torch.nn as nn
import torch.nn.functional as F

class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 2)

    def forward(self, x):
        n = operator.index(x.numel())  # unguarded: the trace keeps 24
        slope = 0.1
        return F.leaky_relu(self.fc(x.reshape(n // 12, 12)), slope)

def example_inputs():
    return (torch.randn(2, 3, 4),)
"""

DOES_NOT_IMPORT = """
import torch

raise RuntimeError("boom")
"""

NO_MODEL = """
def helper(x):
    return x + 1
"""

EXITS = """
import sys

sys.exit(0)
"""


def project(tmp_path: Path) -> Path:
    """A folder of mixed good and bad files, with a subfolder and a hidden one."""
    root = tmp_path / "models"
    (root / "sub").mkdir(parents=True)
    (root / ".venv").mkdir()
    write(root, "lenet.py", LENET.read_text())
    write(root, "frozen.py", FAILS_CHECK)
    write(root, "utils.py", NO_MODEL)
    write(root / "sub", "broken.py", DOES_NOT_IMPORT)
    write(root / "sub", "lenet2.py", LENET.read_text())
    write(root / ".venv", "exits.py", EXITS)
    return root


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and mode: what must not change."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def rows(stdout: str) -> dict[str, str]:
    """The summary table as {file: row}, and its last line under ``"total"``."""
    lines = stdout.splitlines()
    table = {"total": lines[-1]}
    for line in lines[:-1]:
        status, rest = line.split(maxsplit=1)
        source = re.split(r" -> |:", rest, maxsplit=1)[0]
        table[source] = line
    return table


def expected_table(root: Path, out: Path | None) -> dict[str, str]:
    """The rows of the project's summary: lenet twice converted, one failure each kind."""
    lenet, lenet2 = root / "lenet.py", root / "sub" / "lenet2.py"
    target = (lambda p: p) if out is None else (lambda p: out / p.relative_to(root))
    return {
        str(lenet): f"converted  {lenet} -> {target(lenet)}",
        str(lenet2): f"converted  {lenet2} -> {target(lenet2)}",
        str(root / "utils.py"): f"skipped    {root / 'utils.py'}: defines no model",
        "total": "5 files: 2 converted, 2 failed, 1 skipped",
    }


def test_folder_to_output_dir_converts_the_good_files_only(tmp_path):
    root = project(tmp_path)
    before = snapshot(root)
    out = tmp_path / "out"
    result = run("convert", root, "--to", "functional", "-o", out)
    assert result.exit_code == 1, result.output
    table = rows(result.stdout)
    for key, row in expected_table(root, out).items():
        assert table.pop(key) == row
    frozen, broken = str(root / "frozen.py"), str(root / "sub" / "broken.py")
    failed_check = table.pop(frozen)
    assert failed_check.startswith(f"failed     {frozen}: ")
    assert "eval, batch 3: the rewrite fails" in failed_check
    assert table.pop(broken) == (
        f"failed     {broken}:4: cannot import the file: RuntimeError: boom"
    )
    assert table == {}, "hidden folders are not searched"
    assert result.stderr.strip().splitlines()[-1] == (
        "nnconvert: error: 2 of 5 files failed (see the table)"
    )
    assert snapshot(root) == before
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "lenet.py",
        "sub",
        "sub/lenet2.py",
    ]
    assert (out / "lenet.py").read_text() == golden("functional")
    checked = run("check", root / "sub" / "lenet2.py", out / "sub" / "lenet2.py")
    assert checked.exit_code == 0, checked.output


def test_in_place_rewrites_only_files_whose_check_passed(tmp_path):
    root = project(tmp_path)
    (root / "lenet.py").chmod(0o640)
    before = snapshot(root)
    result = run("convert", root, "--to", "module", "--in-place")
    assert result.exit_code == 1, result.output
    table = rows(result.stdout)
    for key, row in expected_table(root, None).items():
        assert table[key] == row
    after = snapshot(root)
    changed = sorted(name for name in before if after[name] != before[name])
    assert changed == ["lenet.py", "sub/lenet2.py"]
    assert sorted(after) == sorted(before), "no temporary or extra file is left"
    assert (root / "lenet.py").read_text() == golden("module")
    assert stat.S_IMODE((root / "lenet.py").stat().st_mode) == 0o640
    checked = run("check", LENET, root / "sub" / "lenet2.py")
    assert checked.exit_code == 0, checked.output


def test_all_good_folder_exits_0_and_a_second_run_skips_its_output(tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    write(root, "lenet.py", LENET.read_text())
    write(root, "utils.py", NO_MODEL)
    out = root / "functional"
    first = run("convert", root, "--to", "functional", "-o", out)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[-1] == "2 files: 1 converted, 0 failed, 1 skipped"
    assert "converting to functional" in first.stderr
    second = run("convert", root, "--to", "functional", "-o", out)
    assert second.exit_code == 0, second.output
    assert second.stdout == first.stdout, "the -o folder inside the tree is left out"
    assert (out / "lenet.py").read_text() == golden("functional")


def test_several_files_mirror_below_their_common_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "deep").mkdir(parents=True)
    a = write(tmp_path, "a/lenet.py", LENET.read_text())
    b = write(tmp_path, "b/deep/lenet.py", LENET.read_text())
    out = tmp_path / "out"
    result = run("convert", a, b, "--to", "module", "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "a" / "lenet.py").read_text() == golden("module")
    assert (out / "b" / "deep" / "lenet.py").read_text() == golden("module")
    assert result.stdout.splitlines()[-1] == "2 files: 2 converted, 0 failed, 0 skipped"


def test_one_file_in_place(tmp_path):
    model = write(tmp_path, "lenet.py", LENET.read_text())
    result = run("convert", model, "--to", "functional", "--in-place")
    assert result.exit_code == 0, result.output
    assert model.read_text() == golden("functional")
    assert (
        result.stdout
        == f"converted  {model} -> {model}\n1 file: 1 converted, 0 failed, 0 skipped\n"
    )


@pytest.mark.parametrize(
    "flags, message",
    [
        ([], "several inputs or a folder need -o DIR (mirrors the tree) or --in-place"),
        (["--in-place", "-o", "OUT"], "give either -o DIR or --in-place, not both"),
        (
            ["--in-place", "--no-check"],
            "--in-place rewrites a file only after its check",
        ),
        (["-o", "OUT", "--diff"], "--diff takes one FILE"),
        (["-o", "OUT", "--name", "Net"], "--name takes one FILE"),
        (["-o", "FILE"], "not a folder; with several inputs or a folder"),
        (["-o", "OUT", "MISSING"], "missing.py: no such file or folder"),
        (["-o", "ROOT"], "-o DIR would overwrite the input"),
        (["-o", "OUT", "--rtol", "nan", "--atol", "0"], "--rtol nan: must be"),
        (["-o", "OUT", "--input-shape", "0,4"], "0,4"),
        (["-o", "OUT", "--init-arg", "a=1", "--init-arg", "a=2"], "a"),
        (["-o", "ROOT/sub/.."], "-o DIR would overwrite the input"),
    ],
)
def test_bad_folder_usage_is_one_line_exit_2_and_writes_nothing(
    tmp_path, flags, message
):
    root = project(tmp_path)
    a_file = write(tmp_path, "file.txt", "keep")
    before = snapshot(tmp_path)
    names = {
        "OUT": tmp_path / "out",
        "FILE": a_file,
        "MISSING": tmp_path / "missing.py",
        "ROOT": root,
        "ROOT/sub/..": root / "sub" / "..",
    }
    args = [str(names.get(flag, flag)) for flag in flags]
    result = run("convert", root, "--to", "mixed", *args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("nnconvert: error: ") and message in line
    assert snapshot(tmp_path) == before
    assert result.stdout == ""


def test_a_file_that_exits_fails_alone(tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    write(root, "exits.py", EXITS)
    write(root, "lenet.py", LENET.read_text())
    result = run("convert", root, "--to", "mixed", "-o", tmp_path / "out")
    assert result.exit_code == 1, result.output
    exits = root / "exits.py"
    assert rows(result.stdout)[str(exits)] == (
        f"failed     {exits}:4: the code calls sys.exit(0) at import; "
        "a model file must not exit"
    )
    assert (tmp_path / "out" / "lenet.py").read_text() == golden("mixed")
    assert not (tmp_path / "out" / "exits.py").exists()


# -- check --source: stale twins ------------------------------------------------


def twin_of(tmp_path: Path, style: str = "functional") -> tuple[Path, Path]:
    """A copy of LeNet and its committed twin, written by ``convert -o``."""
    source = write(tmp_path, "net.py", LENET.read_text())
    twin = tmp_path / f"net_{style}.py"
    written = run("convert", source, "--to", style, "-o", twin)
    assert written.exit_code == 0, written.output
    return source, twin


def test_fresh_twin_passes_the_stale_check(tmp_path):
    source, twin = twin_of(tmp_path)
    result = run("check", "--source", source, "--to", "functional", twin)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"{twin}: up to date with `nnconvert convert {source} --to functional`"
    )


def test_stale_twin_exits_1_with_a_diff(tmp_path):
    source, twin = twin_of(tmp_path)
    committed = twin.read_text()
    source.write_text(
        source.read_text().replace("nn.Linear(84, 10)", "nn.Linear(84, 7)")
    )
    result = run("check", "--source", source, "--to", "functional", twin)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(f"--- {twin}\n+++ {twin} (nnconvert convert ")
    assert '\n-    params |= kaiming_params("fc3", 10, 84)\n' in result.stdout
    assert '\n+    params |= kaiming_params("fc3", 7, 84)\n' in result.stdout
    (line,) = result.stderr.splitlines()[-1:]
    assert line == (
        f"nnconvert: error: {twin} is stale: it is not what `nnconvert convert "
        f"{source} --to functional` gives today; refresh it with `nnconvert convert "
        f"{source} --to functional -o {twin}`"
    )
    assert twin.read_text() == committed, "the check writes nothing"
    refreshed = run("convert", source, "--to", "functional", "-o", twin)
    assert refreshed.exit_code == 0
    again = run("check", "--source", source, "--to", "functional", twin)
    assert again.exit_code == 0, again.output


def test_twin_in_another_style_or_name_is_stale(tmp_path):
    source, twin = twin_of(tmp_path, "mixed")
    other = run("check", "--source", source, "--to", "module", twin)
    assert other.exit_code == 1
    assert other.stdout.startswith(f"--- {twin}")
    named = run("check", "--source", source, "--to", "mixed", "--name", "LeNet", twin)
    assert named.exit_code == 1
    assert "+class LeNet(nn.Module):" in named.stdout


def test_a_twin_printed_from_the_trace_is_checked_as_it_was_written(tmp_path):
    source = write(tmp_path, "net.py", LENET.read_text())
    twin = tmp_path / "net_mixed.py"
    written = run("convert", source, "--to", "mixed", "--no-keep-source", "-o", twin)
    assert written.exit_code == 0, written.output
    same = run("check", "--source", source, "--to", "mixed", "--no-keep-source", twin)
    assert same.exit_code == 0, same.output
    kept = run("check", "--source", source, "--to", "mixed", twin)
    assert kept.exit_code == 1  # LeNet kept as written is another text
    assert "--to mixed --no-keep-source -o" not in kept.stderr
    assert "+        super(Net, self).__init__()" in kept.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--to", "functional", "TWIN"],
            "the stale check takes --source FILE --to STYLE TWIN",
        ),
        (
            ["--source", "SOURCE", "TWIN"],
            "the stale check takes --source FILE --to STYLE TWIN",
        ),
        (["--source", "SOURCE", "--to", "mixed"], "the stale check takes"),
        (
            ["--source", "SOURCE", "--to", "mixed", "MISSING"],
            "missing.py: no such file",
        ),
        (["ONLY"], "check takes ORIGINAL REWRITE, or --source FILE --to STYLE TWIN"),
    ],
)
def test_bad_stale_check_usage_exits_2(tmp_path, args, message):
    source, twin = twin_of(tmp_path)
    names = {
        "SOURCE": source,
        "TWIN": twin,
        "MISSING": tmp_path / "missing.py",
        "ONLY": source,
    }
    result = run("check", *[str(names.get(a, a)) for a in args])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("nnconvert: error: ") and message in line


# -- the pre-commit hook ---------------------------------------------------------


def test_pre_commit_hook_runs_the_readme_configuration(tmp_path, monkeypatch):
    """The hook's entry with the README's args: 0 on a fresh twin, 1 and a diff when stale."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (config,) = [
        yaml.safe_load(block)
        for block in re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
        if "nnconvert-stale" in block
    ]
    (entry,) = config["repos"][0]["hooks"]
    assert entry["id"] == hook["id"] and hook["pass_filenames"] is False
    command = hook["entry"].split()
    assert command[0] == "nnconvert"
    source, twin = entry["args"][1], entry["args"][-1]
    assert re.search(entry["files"], source) and re.search(entry["files"], twin)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    Path(source).write_text(LENET.read_text())
    style = entry["args"][entry["args"].index("--to") + 1]
    assert run("convert", source, "--to", style, "-o", twin).exit_code == 0
    fresh = run(*command[1:], *entry["args"])
    assert fresh.exit_code == 0, fresh.output
    Path(source).write_text(
        LENET.read_text()
        .replace("(120, 84)", "(120, 80)")
        .replace("(84, 10)", "(80, 10)")
    )
    stale = run(*command[1:], *entry["args"])
    assert stale.exit_code == 1, stale.output
    assert stale.stdout.startswith(f"--- {twin}")


def test_output_dir_without_the_check_writes_what_converts(tmp_path):
    """--no-check with -o DIR: the model that fails the check is written, as for one FILE."""
    root = project(tmp_path)
    out = tmp_path / "out"
    result = run("convert", root, "--to", "functional", "-o", out, "--no-check")
    assert result.exit_code == 1, result.output
    assert rows(result.stdout)["total"] == "5 files: 3 converted, 1 failed, 1 skipped"
    assert sorted(p.name for p in out.rglob("*.py")) == [
        "frozen.py",
        "lenet.py",
        "lenet2.py",
    ]


UNSUPPORTED = """
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lrn = nn.CrossMapLRN2d(3)

    def forward(self, x):
        return self.lrn(x)

def example_inputs():
    return (torch.randn(2, 4, 5, 5),)
"""


def test_stale_check_of_a_source_that_no_longer_converts_exits_1(tmp_path):
    source, twin = twin_of(tmp_path)
    committed = twin.read_text()
    source.write_text(UNSUPPORTED)
    result = run("check", "--source", source, "--to", "functional", twin)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "has no op spec" in line
    assert twin.read_text() == committed
