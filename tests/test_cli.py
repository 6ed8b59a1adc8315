"""The command line, end to end: outputs, exit codes, one-line errors, files left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import run, write

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LENET = SAMPLES / "lenet.py"


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_convert_prints_the_golden_output(style):
    result = run("convert", LENET, "--to", style)
    assert result.exit_code == 0, result.output
    expected = (SAMPLES / "expected" / f"lenet.{style}.py").read_text()
    assert result.stdout == expected
    assert "ok    eval, batch 3" in result.stderr


def test_mixed_keeps_a_mixed_source_as_written_and_says_so():
    kept = run("convert", LENET, "--to", "mixed")
    assert kept.exit_code == 0, kept.output
    assert "        super(Net, self).__init__()\n" in kept.stdout  # as written
    assert "kept the model's own source" in kept.stderr
    printed = run("convert", LENET, "--to", "mixed", "--no-keep-source")
    assert printed.exit_code == 0, printed.output
    assert "        super().__init__()\n" in printed.stdout  # from the trace
    assert "kept the model's own source" not in printed.stderr
    assert "ok    eval, batch 3" in printed.stderr


def test_output_file_is_written_and_input_untouched(tmp_path):
    before = LENET.read_text()
    out = tmp_path / "deep" / "net.py"
    result = run("convert", LENET, "--to", "functional", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_text() == (SAMPLES / "expected" / "lenet.functional.py").read_text()
    assert result.stdout == ""
    assert LENET.read_text() == before
    assert [p.name for p in out.parent.iterdir()] == ["net.py"]


def test_refuses_to_overwrite_the_input(tmp_path):
    copy = write(tmp_path, "lenet.py", LENET.read_text())
    result = run("convert", copy, "--to", "mixed", "-o", copy)
    assert result.exit_code == 2
    assert copy.read_text() == LENET.read_text()


@pytest.mark.printed_from_trace  # its model, in mixed style, would come back as written
def test_diff_shows_the_change():
    result = run("convert", LENET, "--to", "mixed", "--diff", "--no-check")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"--- {LENET}")
    assert (
        "+        self.fc1 = nn.Linear(400, 120)" in result.stdout
    )  # 16 * 5 * 5, traced
    assert "checked" not in result.stderr


def test_input_shape_and_init_arg_options(tmp_path):
    model = write(
        tmp_path,
        "model.py",
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Head(nn.Module):
            def __init__(self, features, classes=3):
                super().__init__()
                self.fc = nn.Linear(features, classes)

            def forward(self, x):
                return F.relu(self.fc(x))
        """,
    )
    result = run(
        "convert",
        model,
        "--to",
        "module",
        "--init-arg",
        "features=6",
        "--input-shape",
        "4,6",
    )
    assert result.exit_code == 0, result.output
    # the root's arguments, given or default, are its parameters' defaults
    assert "def __init__(self, features=6, classes=3):" in result.stdout
    assert "self.fc = nn.Linear(features, classes)" in result.stdout
    assert "self.relu = nn.ReLU()" in result.stdout


def test_integer_inputs_from_options(tmp_path):
    model = write(
        tmp_path,
        "embed.py",
        """
        import torch.nn as nn

        class Embed(nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = nn.Embedding(7, 4)

            def forward(self, tokens):
                return self.embedding(tokens).sum(1)
        """,
    )
    result = run(
        "convert",
        model,
        "--to",
        "functional",
        "--input-shape",
        "2,5",
        "--input-dtype",
        "int64",
        "--input-high",
        "7",
    )
    assert result.exit_code == 0, result.output
    assert 'F.embedding(tokens, params["embedding.weight"])' in result.stdout


@pytest.mark.parametrize(
    "text, message",
    [
        ("import torch\nclass Broken(:\n", "broken.py:2: syntax error"),
        ("import torch.nn as nn\n", "defines no nn.Module subclass"),
        (
            "import torch.nn as nn\nclass M(nn.Module):\n    def forward(self, x):\n        return x\n",
            "no example inputs",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, text, message):
    path = write(tmp_path, "broken.py", text)
    result = run("convert", path, "--to", "module")
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_bad_usage_exit_2():
    assert run("convert", LENET, "--to", "jax").exit_code == 2
    result = run("convert", LENET, "--to", "module", "--class", "Nope")
    assert result.exit_code == 2
    assert "no nn.Module class 'Nope' (classes in the file: Net)" in result.stderr


def test_unsupported_layer_fails_with_exit_1_and_writes_nothing(tmp_path):
    model = write(
        tmp_path,
        "lrn.py",
        """
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
        """,
    )
    out = tmp_path / "out.py"
    result = run("convert", model, "--to", "functional", "-o", out)
    assert result.exit_code == 1
    assert "'lrn' (torch.nn.modules.normalization.CrossMapLRN2d) has no op spec" in (
        result.stderr
    )
    assert not out.exists()


def test_data_dependent_control_flow_names_the_line(tmp_path):
    model = write(
        tmp_path,
        "branchy.py",
        """
        import torch
        import torch.nn as nn

        class Branchy(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                if x.sum() > 0:
                    return self.fc(x)
                return x

        def example_inputs():
            return (torch.randn(2, 4),)
        """,
    )
    result = run("convert", model, "--to", "mixed")
    assert result.exit_code == 1
    assert f"{model}:11: control flow depends on tensor data" in result.stderr


def test_frozen_batch_size_is_caught_by_the_check(tmp_path):
    model = write(
        tmp_path,
        "frozen.py",
        """
        import operator

        import torch
        import torch.nn as nn

        class Frozen(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(12, 2)

            def forward(self, x):
                n = operator.index(x.numel())  # unguarded: the trace keeps 24
                return self.fc(x.reshape(n // 12, 12))

        def example_inputs():
            return (torch.randn(2, 3, 4),)
        """,
    )
    result = run("convert", model, "--to", "functional")
    assert result.exit_code == 1
    assert "eval, batch 3: the rewrite fails" in result.stderr


def test_check_accepts_an_equivalent_file_in_any_style():
    for style in ("module", "functional", "mixed"):
        result = run("check", LENET, SAMPLES / "expected" / f"lenet.{style}.py")
        assert result.exit_code == 0, result.output
        assert "computes what" in result.stdout


def test_check_rejects_a_different_computation(tmp_path):
    right = (SAMPLES / "expected" / "lenet.functional.py").read_text()
    wrong = right.replace("F.max_pool2d(", "F.avg_pool2d(", 1)
    assert wrong != right
    path = write(tmp_path, "wrong.py", wrong)
    result = run("check", LENET, path)
    assert result.exit_code == 1
    assert "output differs" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_rejects_weights_that_do_not_load(tmp_path):
    renamed = (
        (SAMPLES / "expected" / "lenet.module.py")
        .read_text()
        .replace("self.fc3", "self.out")
    )
    path = write(tmp_path, "renamed.py", renamed)
    result = run("check", LENET, path)
    assert result.exit_code == 1
    assert "do not load strictly" in result.stderr
