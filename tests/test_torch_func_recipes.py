"""The README's torch.func recipes run as written and check themselves.

Each recipe block compares the functional output under a ``torch.func``
transform with the original module (autograd, ``functional_call``), so a
recipe that stops working, or starts computing something else, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def test_every_torch_func_recipe_runs_and_matches_the_module():
    blocks = re.findall(r"```python\n(.*?)```", _section("torch.func recipes"), re.S)
    assert len(blocks) >= 7, "set-up, grad, per-sample, ensemble, MAML, train, compile"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md (torch.func recipes)", "exec"), namespace)
