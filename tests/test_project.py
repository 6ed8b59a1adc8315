"""The project keeps its promises about itself: README true, code black-formatted."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import click

from nnconvert.cli import main
from nnconvert.opspecs import SPECS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command():
    test_command = next(
        line for line in _code_blocks("bash")[0].splitlines() if "pytest" in line
    )
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_lists_every_layer_of_the_table():
    missing = [
        s.module.__name__ for s in SPECS if f"`nn.{s.module.__name__}`" not in README
    ]
    assert not missing, f"README does not list: {missing}"


def test_readme_documents_every_cli_option():
    for command in main.commands.values():
        for param in command.params:
            if isinstance(param, click.Option):
                for flag in param.opts + param.secondary_opts:
                    assert f"{flag}" in README, f"{command.name} {flag} undocumented"


def test_readme_python_examples_run():
    api = README.split("## Python API", 1)[1].split("\n## ", 1)[0]
    examples = [
        textwrap.dedent(block)
        for block in re.findall(r"```python\n(.*?)```", api, flags=re.S)
        if "nnconvert.convert(" in block
    ]
    assert len(examples) >= 2  # convert and check; record_constructors
    for example in examples:
        exec(compile(example, "README.md", "exec"), {})


def test_project_code_is_black_formatted():
    dirs = [d for d in ("nnconvert", "tests", "benchmarks") if (ROOT / d).is_dir()]
    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--quiet", *dirs],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
