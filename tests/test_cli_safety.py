"""A careless or hostile user (issue 13): stdout, sys.exit, -o, bad flags, class choice.

Each case asserts the one line on stderr, the exit code and that no file
changed that should not.
"""

from __future__ import annotations

import ast
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .helpers import run, write

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
LENET = SAMPLES / "lenet.py"
GOLDEN_MIXED = (SAMPLES / "expected" / "lenet.mixed.py").read_text()

PRINTING_MODEL = """
import torch
from torch import nn

print("hello at import")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        print("hello from __init__")
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        print("hello from forward")
        return self.fc(x)


def example_inputs():
    return (torch.randn(2, 4),)
"""


def exiting_model(where: str, code: str = "0") -> str:
    """A small model that calls ``sys.exit(code)`` at import, in __init__, in forward,
    or (``check``) only on a batch size tracing never runs."""
    return f"""
import sys
import torch
from torch import nn

{"sys.exit(" + code + ")" if where == "import" else ""}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        {"sys.exit(" + code + ")" if where == "init" else "pass"}
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        {"sys.exit(" + code + ")" if where == "forward" else "pass"}
        {"if x.shape[0] != 2: sys.exit(" + code + ")" if where == "check" else ""}
        return self.fc(x)


def example_inputs():
    return (torch.randn(2, 4),)
"""


def one_error_line(result) -> str:
    """stderr, which must be exactly one ``nnconvert: error:`` line."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nnconvert: error: "), result.stderr
    return lines[0]


def line_of(path: Path, text: str) -> int:
    """The 1-based line of ``path`` that contains ``text``."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


# -- 1. stdout holds only the code ------------------------------------------------


@pytest.mark.printed_from_trace  # its model, in mixed style, would come back as written
def test_prints_of_the_model_go_to_stderr(tmp_path):
    model = write(tmp_path, "m.py", PRINTING_MODEL)
    result = run("convert", model, "--to", "mixed")
    assert result.exit_code == 0, result.output
    ast.parse(result.stdout)
    assert "hello" not in result.stdout
    for said in ("hello at import", "hello from __init__", "hello from forward"):
        assert said in result.stderr


def test_prints_of_the_model_do_not_reach_stdout_through_a_real_pipe(tmp_path):
    """``python -m nnconvert convert m.py --to mixed > out.py`` writes valid Python."""
    model = write(tmp_path, "m.py", PRINTING_MODEL)
    out = tmp_path / "out.py"
    with open(out, "w") as stdout:
        completed = subprocess.run(
            [sys.executable, "-m", "nnconvert", "convert", str(model), "--to", "mixed"],
            cwd=ROOT,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert completed.returncode == 0, completed.stderr
    ast.parse(out.read_text())
    assert "class Net(nn.Module)" in out.read_text()
    assert "hello from forward" in completed.stderr


def test_check_prints_only_its_verdict_on_stdout(tmp_path):
    model = write(tmp_path, "m.py", PRINTING_MODEL)
    converted = tmp_path / "converted.py"
    assert run("convert", model, "--to", "functional", "-o", converted).exit_code == 0
    result = run("check", model, converted)
    assert result.exit_code == 0, result.output
    assert "hello" not in result.stdout
    assert result.stdout.startswith(f"{converted}:net computes what {model}:Net")
    assert "hello from forward" in result.stderr


# -- 2. sys.exit in the user's code ---------------------------------------------


@pytest.mark.parametrize("code", ["0", "3", "None", "'bye'"])
def test_sys_exit_at_import_is_an_error(tmp_path, code):
    model = write(tmp_path, "m.py", exiting_model("import", code))
    out = tmp_path / "out.py"
    result = run("convert", model, "--to", "mixed", "-o", out)
    assert result.exit_code == 2
    line = one_error_line(result)
    shown = "" if code == "None" else code
    assert line == (
        f"nnconvert: error: {model}:{line_of(model, 'sys.exit(')}: the code calls "
        f"sys.exit({shown}) at import; a model file must not exit"
    )
    assert not out.exists()
    assert result.stdout == ""


@pytest.mark.parametrize(
    "where, doing",
    [
        ("init", "while the model is built"),
        ("forward", "while the model is traced"),
        ("check", "while the model is checked"),
    ],
)
def test_sys_exit_while_building_or_running_is_an_error(tmp_path, where, doing):
    model = write(tmp_path, "m.py", exiting_model(where, "0"))
    out = tmp_path / "out.py"
    result = run("convert", model, "--to", "functional", "-o", out)
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert f"{model}:{line_of(model, 'sys.exit(0)')}: " in line
    assert f"calls sys.exit(0) {doing}" in line
    assert not out.exists()


def test_check_reports_sys_exit_in_either_file(tmp_path):
    good = write(tmp_path, "good.py", exiting_model("none"))
    exiting = write(tmp_path, "exiting.py", exiting_model("import", "3"))
    for original, rewrite in ((exiting, good), (good, exiting)):
        result = run("check", original, rewrite)
        assert result.exit_code == 2, result.output
        line = one_error_line(result)
        assert f"{exiting}:{line_of(exiting, 'sys.exit(')}: " in line
        assert "calls sys.exit(3) at import" in line
        assert result.stdout == ""


def test_check_reports_sys_exit_while_the_files_run(tmp_path):
    exiting = write(tmp_path, "exiting.py", exiting_model("check", "4"))
    result = run("check", exiting, exiting)
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert f"{exiting}:{line_of(exiting, 'sys.exit(4)')}: " in line
    assert "calls sys.exit(4) while it runs" in line
    assert result.stdout == ""


# -- 3. -o writes safely -----------------------------------------------------------


def test_output_through_a_symlink_writes_its_target(tmp_path):
    target = tmp_path / "real.py"
    target.write_text("old\n")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    result = run("convert", LENET, "--to", "mixed", "-o", link, "--no-train")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == GOLDEN_MIXED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.py", "real.py"]


def test_output_through_a_dangling_symlink_creates_its_target(tmp_path):
    target = tmp_path / "sub" / "real.py"
    link = tmp_path / "link.py"
    link.symlink_to(target)
    result = run("convert", LENET, "--to", "mixed", "-o", link, "--no-check")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and target.read_text() == GOLDEN_MIXED


def test_output_to_a_fifo_is_refused_before_the_model_runs(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    model = write(tmp_path, "m.py", PRINTING_MODEL)
    result = run("convert", model, "--to", "mixed", "-o", fifo)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"nnconvert: error: {fifo}: not a regular file; --output must be a file"
    )
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py", "pipe"]


def test_output_through_a_symlink_to_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link.py"
    link.symlink_to(fifo)
    result = run("convert", LENET, "--to", "mixed", "-o", link)
    assert result.exit_code == 2
    assert "not a regular file" in one_error_line(result)
    assert link.is_symlink() and stat.S_ISFIFO(os.stat(link).st_mode)


def test_output_to_a_folder_is_refused(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    result = run("convert", LENET, "--to", "mixed", "-o", folder)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"nnconvert: error: {folder}: a folder; --output must be a file"
    )
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_output_keeps_the_permission_bits_of_the_file_it_replaces(tmp_path, mode):
    out = tmp_path / "out.py"
    out.write_text("old\n")
    out.chmod(mode)
    result = run("convert", LENET, "--to", "mixed", "-o", out, "--no-check")
    assert result.exit_code == 0, result.output
    assert out.read_text() == GOLDEN_MIXED
    assert stat.S_IMODE(out.stat().st_mode) == mode


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_new_output_file_gets_the_umask_mode(tmp_path, umask):
    out = tmp_path / "out.py"
    previous = os.umask(umask)
    try:
        result = run("convert", LENET, "--to", "mixed", "-o", out, "--no-check")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_output_under_a_file_is_refused(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    out = blocker / "sub" / "out.py"
    result = run("convert", LENET, "--to", "mixed", "-o", out)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"nnconvert: error: {out}: {blocker} is a file, not a folder"
    )
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_in_a_read_only_folder_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = run("convert", LENET, "--to", "mixed", "-o", folder / "out.py")
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"nnconvert: error: {folder / 'out.py'}: cannot write: Permission denied"
    )
    assert list(folder.iterdir()) == []


def test_write_errors_of_the_os_are_one_line(tmp_path, monkeypatch):
    """As a read-only folder gives when not root: mkstemp refused."""
    from nnconvert import cli

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "mkstemp", refuse)
    out = tmp_path / "out.py"
    result = run("convert", LENET, "--to", "mixed", "-o", out, "--no-check")
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"nnconvert: error: {out}: cannot write: Permission denied"
    )
    assert not out.exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from nnconvert import cli

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    out = tmp_path / "out.py"
    out.write_text("old\n")
    monkeypatch.setattr(cli.os, "replace", full)
    result = run("convert", LENET, "--to", "mixed", "-o", out, "--no-check")
    assert result.exit_code == 2
    assert "cannot write: No space left on device" in one_error_line(result)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.py"]


# -- 4. bad flags are usage errors ------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--input-shape", "-1"],
            "bad --input-shape '-1': every size must be a positive integer",
        ),
        (
            ["--input-shape", "0,4"],
            "bad --input-shape '0,4': every size must be a positive integer",
        ),
        (
            ["--input-shape", "100000,100000"],
            "bad --input-shape '100000,100000': 10000000000 elements, more than "
            "the 268435456 (2**28) an example input may have",
        ),
        (["--input-high", "-5"], "--input-high -5: must be > 0"),
        (["--input-high", "0"], "--input-high 0: must be > 0"),
        (["--rtol", "-1", "--atol", "0"], "--rtol -1.0: must be a number >= 0"),
        (["--rtol", "0", "--atol", "-1"], "--atol -1.0: must be a number >= 0"),
        (["--rtol", "nan", "--atol", "0"], "--rtol nan: must be a number >= 0"),
        (["--rtol", "0", "--atol", "nan"], "--atol nan: must be a number >= 0"),
        (["--rtol", "inf", "--atol", "0"], "--rtol inf: must be a number >= 0"),
        (
            ["--init-arg", "hidden=4", "--init-arg", "hidden=8"],
            "--init-arg hidden was given twice",
        ),
        (
            ["--input-shape", "2,4", "--input-dtype", "int8", "--input-high", "1000"],
            "--input-high 1000: int8 holds integers up to 127; pass --input-high "
            "128 or less, or a wider --input-dtype",
        ),
        (
            ["--input-shape", "2,4", "--input-dtype", "banana"],
            "unknown dtype 'banana'; choose one of float16, bfloat16, float32, "
            "float64, half, float, double, int8, int16, int32, int64, uint8, long, "
            "int, bool",
        ),
        (
            ["--input-shape", "2,4", "--input-dtype", "int64", "--input-dtype", "int8"],
            "give one --input-dtype, or one per --input-shape (1)",
        ),
    ],
)
def test_bad_flags_are_usage_errors(tmp_path, flags, message):
    model = write(tmp_path, "m.py", PRINTING_MODEL)
    out = tmp_path / "out.py"
    result = run("convert", model, "--to", "mixed", "-o", out, *flags)
    assert result.exit_code == 2, result.output
    assert one_error_line(result) == f"nnconvert: error: {message}"
    assert "hello" not in result.output  # refused before the file ran
    assert not out.exists()


def test_bad_flags_are_usage_errors_for_check_too(tmp_path):
    result = run("check", LENET, LENET, "--input-shape", "0,1,32,32")
    assert result.exit_code == 2
    assert "every size must be a positive integer" in one_error_line(result)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    model = tmp_path / "m.py"
    model.write_bytes(b"import torch\n# caf\xe9\n")
    result = run("convert", model, "--to", "mixed", "--input-shape", "2,4")
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"nnconvert: error: {model}:2: not utf-8 text (byte 0xe9); save the file "
        "as UTF-8 or declare its encoding (# -*- coding: latin-1 -*-)"
    )


def test_an_unknown_declared_encoding_is_a_usage_error(tmp_path):
    model = tmp_path / "m.py"
    model.write_bytes(b"# -*- coding: klingon -*-\nimport torch\n")
    result = run("convert", model, "--to", "mixed", "--input-shape", "2,4")
    assert result.exit_code == 2
    assert "klingon" in one_error_line(result)


@pytest.mark.printed_from_trace  # its model, in mixed style, would come back as written
def test_diff_of_a_latin1_file_that_says_so(tmp_path):
    source = PRINTING_MODEL.replace("import torch\n", "import torch\n# café\n", 1)
    model = tmp_path / "m.py"
    model.write_bytes(("# -*- coding: latin-1 -*-\n" + source).encode("latin-1"))
    result = run("convert", model, "--to", "mixed", "--diff", "--no-check")
    assert result.exit_code == 0, result.output
    assert "-# café\n" in result.stdout


def test_diff_of_a_latin1_file_that_does_not_say_so(tmp_path):
    model = tmp_path / "m.py"
    model.write_bytes(PRINTING_MODEL.replace("hello", "héllo").encode("latin-1"))
    result = run("convert", model, "--to", "mixed", "--diff")
    assert result.exit_code == 2
    assert "not utf-8 text (byte 0xe9)" in one_error_line(result)
    assert result.stdout == ""


@pytest.mark.parametrize(
    "content",
    [b"", b"\x80\x02garbage" * 10, b"PK\x03\x04not a zip", b"plain text\n"],
    ids=["empty", "pickle-like", "zip-like", "text"],
)
def test_garbage_weights_are_one_line(tmp_path, content):
    weights = tmp_path / "w.pt"
    weights.write_bytes(content)
    model = write(tmp_path, "m.py", PRINTING_MODEL.replace("print(", "len("))
    result = run("convert", model, "--to", "mixed", "--weights", weights)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(
        f"nnconvert: error: {weights}: cannot load weights: not a state dict "
        "saved with torch.save ("
    )
    assert "Warning" not in result.stderr


# -- 7. which class is the model --------------------------------------------------

REBOUND = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.relu(self.fc(x))


Inner = Net


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Inner()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.inner(x))


def example_inputs():
    return (torch.randn(3, 4),)
"""


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_the_default_class_is_the_one_its_name_is_bound_to(tmp_path, style):
    model = write(tmp_path, "m.py", REBOUND)
    result = run("convert", model, "--to", style)
    assert result.exit_code == 0, result.output
    assert "nn.Linear(4, 2)" in result.stdout or '"head.weight"' in result.stdout
    assert "against Net:" in result.stderr
    namespace: dict = {}
    exec(result.stdout, namespace)
    top = "net" if style == "functional" else "Net"
    if style != "functional":
        assert set(namespace[top]().state_dict()) == {
            "inner.fc.weight",
            "inner.fc.bias",
            "head.weight",
            "head.bias",
        }


def test_a_rebound_class_is_no_candidate_under_its_name(tmp_path):
    from nnconvert import loading

    path = write(tmp_path, "m.py", REBOUND)
    module = loading.import_file(path)
    classes = loading.model_classes(module)
    assert classes == [module.Net]
    assert loading.pick_model(module, path, "Net") is module.Net
    assert module.Inner not in classes


def test_check_picks_the_rewrite_class_its_name_is_bound_to(tmp_path):
    """REWRITE defines a block ``Net`` and rebinds ``Net``: the final one is checked."""
    original = write(
        tmp_path,
        "original.py",
        REBOUND.replace("Inner = Net\n", "")
        .replace("class Net(nn.Module):", "class Block(nn.Module):", 1)
        .replace("Inner()", "Block()"),
    )
    rewrite = write(tmp_path, "rewrite.py", REBOUND)
    result = run("check", original, rewrite)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{rewrite}:Net computes what {original}:Net")


# -- 8. python -m nnconvert and examples in --help -----------------------------


def test_python_dash_m_runs_the_command_line():
    completed = subprocess.run(
        [sys.executable, "-m", "nnconvert", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("Usage: nnconvert ")
    assert "Examples:" in completed.stdout


@pytest.mark.parametrize("command", [[], ["convert"], ["check"]])
def test_every_help_shows_examples(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    examples = result.stdout.split("Examples:\n", 1)[1]
    assert examples.count("  nnconvert ") >= 2


def test_help_examples_name_real_options():
    """Each example line parses: its options exist for its command."""
    for command in ("convert", "check"):
        text = run(command, "--help").stdout
        options = text.split("Examples:")[0]
        for line in text.split("Examples:\n", 1)[1].splitlines():
            words = line.split()
            assert words[:2] == ["nnconvert", command], line
            for word in words:
                if word.startswith("-") and word != "-o":
                    assert word in options, word


def test_weights_flag_still_loads_a_real_state_dict(tmp_path):
    """The silenced torch.load still loads good weights (the warnings filter is local)."""
    model = write(tmp_path, "m.py", PRINTING_MODEL.replace("print(", "len("))
    weights = tmp_path / "w.pt"
    torch.manual_seed(1)
    layer = torch.nn.Linear(4, 3)
    torch.save({f"fc.{k}": v for k, v in layer.state_dict().items()}, weights)
    result = run("convert", model, "--to", "mixed", "--weights", weights)
    assert result.exit_code == 0, result.output


# -- 9. no third-party warning noise --------------------------------------------


def test_a_plain_run_prints_no_warning_of_a_library(tmp_path):
    """stderr holds the check's report only, even with every warning shown once."""
    out = tmp_path / "out.py"
    completed = subprocess.run(
        [sys.executable, "-m", "nnconvert", "convert", str(LENET), "--to", "functional"]
        + ["-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "default"},
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stderr.splitlines()
    assert lines[0] == "checked net against Net:", completed.stderr
    assert all(line.startswith(("ok ", "skip ")) for line in lines[1:]), lines
    assert "Warning" not in completed.stderr


def test_numpy_is_a_dependency_since_torch_warns_without_it():
    """torch's wheel does not require numpy, but warns on every run without it."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [d.split(">")[0].split("=")[0].strip() for d in project["dependencies"]]
    assert "numpy" in names


# -- 10. names from a file are data; device nodes; odd keys in --weights -------

EVIL_CLASS_FILE = """
import torch
from torch import nn


def _forward(self, x):
    return torch.relu(self.fc(x))


def _init(self):
    nn.Module.__init__(self)
    self.fc = nn.Linear(4, 3)


Evil = type(
    'Evil(nn.Module):\\n    pass\\n\\nimport os\\nos.system("touch PWNED")\\n\\nclass Evil',
    (nn.Module,),
    {"__init__": _init, "forward": _forward},
)


def build():
    return Evil()


def example_inputs():
    return (torch.randn(2, 4),)
"""


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_a_class_name_that_is_code_in_a_file_is_not_run(tmp_path, monkeypatch, style):
    """The file builds a class named with code (by a factory): written; nothing ran."""
    monkeypatch.chdir(tmp_path)
    model = write(tmp_path, "m.py", EVIL_CLASS_FILE)
    out = tmp_path / "out.py"
    result = run("convert", model, "--to", style, "--class", "build", "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "os.system" not in text and "import os" not in text
    ast.parse(text)
    assert run("check", model, out, "--class", "build").exit_code == 0
    assert not (tmp_path / "PWNED").exists()


def test_the_cli_refuses_a_name_that_is_code_in_one_line(tmp_path):
    out = tmp_path / "out.py"
    result = run("convert", LENET, "--to", "module", "--name", "Evil(nn.Module)")
    assert result.exit_code == 2
    assert one_error_line(result) == (
        "nnconvert: error: name 'Evil(nn.Module)' is not a Python identifier"
    )
    assert result.stdout == "" and not out.exists()


def test_output_to_a_device_node_is_refused_and_the_node_stays(tmp_path):
    """``-o /dev/null``: a real character device, as a copy of ``/dev/full`` would be."""
    device = Path("/dev/null")
    before = os.stat(device)
    model = write(tmp_path, "m.py", PRINTING_MODEL)
    result = run("convert", model, "--to", "mixed", "-o", device)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        "nnconvert: error: /dev/null: not a regular file; --output must be a file"
    )
    assert "hello" not in result.output  # refused before the model ran
    after = os.stat(device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


ODD_KEYS_MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleDict({"class": nn.Linear(4, 4), "1": nn.Linear(4, 4)})
        self.scales = nn.ParameterDict({'q"t': nn.Parameter(torch.rand(4))})
        self.register_parameter("x y", nn.Parameter(torch.randn(4)))

    def forward(self, x):
        x = self.heads["class"](x) + self.heads["1"](x)
        return x * self.scales['q"t'] + getattr(self, "x y")


def example_inputs():
    return (torch.randn(3, 4),)
"""


def test_a_functional_file_reads_odd_keys_from_weights(tmp_path):
    """``--weights`` of a functional file whose keys are keywords, numbers, quotes, spaces.

    (A parameter, not a buffer, under ``"x y"``: a functional file cannot tell
    a bare tensor's kind; README, Limits, *Functional input*.)
    """
    model = write(tmp_path, "m.py", ODD_KEYS_MODEL)
    functional, back = tmp_path / "functional.py", tmp_path / "back.py"
    assert run("convert", model, "--to", "functional", "-o", functional).exit_code == 0
    from nnconvert import loading

    torch.manual_seed(3)
    original = loading.load_file(model).model.module
    weights = tmp_path / "w.pt"
    torch.save(original.state_dict(), weights)
    result = run(
        "convert",
        functional,
        "--to",
        "module",
        "-o",
        back,
        "--weights",
        weights,
        "--input-shape",
        "3,4",
    )
    assert result.exit_code == 0, result.output
    rebuilt = loading.import_file(back).Net()
    rebuilt.load_state_dict(torch.load(weights), strict=True)
    assert list(rebuilt.state_dict()) == list(original.state_dict())
    x = torch.randn(3, 4)
    torch.testing.assert_close(rebuilt(x), original(x))
    assert run("check", model, back, "--weights", weights).exit_code == 0


CACHE_MODEL = """
import torch
from torch import nn


class Cache(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("k", torch.zeros(2, 4))

    def update(self, x):
        return self.k + x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.cache = Cache()

    def forward(self, x):
        return self.cache.update(x)
"""


def test_a_submodule_used_through_another_method_is_named_with_its_line(tmp_path):
    """gpt-fast's ``self.kv_cache.update(...)``: the line that uses it, and how."""
    model = write(tmp_path, "m.py", CACHE_MODEL)
    result = run("convert", model, "--to", "module", "--input-shape", "2,4")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        f"nnconvert: error: {model}:21: submodule 'cache' (Cache) holds tensors (k) "
        "but is only used through its method update() (self.cache.update(...)); "
        "nnconvert converts a submodule by tracing its calls, not calls of its "
        "other methods"
    )
