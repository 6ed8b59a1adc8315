"""The readability benchmark's comment measure: which line a comment stands for, and whether it ran.

A lost comment on code the built model never runs (a branch its
configuration does not take) is reported apart (``benchmarks/readability.py``).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import textwrap

import torch

from .helpers import BENCHMARKS, load_benchmark

SOURCE = textwrap.dedent("""\
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, tie=False):
            super().__init__()
            # the layer
            self.fc = nn.Linear(4, 4)  # four wide
            # optionally tie
            if tie:
                self.fc.bias = None

        def forward(self, x):
            if x.shape[0] > 100:
                # never for small batches
                x = x * 2
            return self.fc(x)
    """)


def readability():
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # it imports ``realworld``
    return load_benchmark("readability")


def test_a_comment_stands_for_its_own_line_or_the_next_of_code():
    rows = set(range(1, SOURCE.count("\n") + 1))
    found = dict(readability().comment_rows(SOURCE, rows))
    assert found == {
        "the layer": 9,
        "four wide": 9,
        "optionally tie": 11,
        "never for small batches": 17,
    }


def _executed(bench, tmp_path, source: str, name: str):
    """What building ``source``'s class ``name`` and running it ran, and the built model."""
    path = tmp_path / f"{name.lower()}.py"
    path.write_text(source)

    def load():
        spec = importlib.util.spec_from_file_location(f"readability_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = getattr(module, name)()
        return model, (torch.randn(2, 4),), model

    return bench.executed_rows(bench.Case(name, path, load)), path, load()[0]


def test_comments_on_code_never_run_are_told_apart(tmp_path):
    bench = readability()
    ran = _executed(bench, tmp_path, SOURCE, "Net")[0].ran
    tree = ast.parse(SOURCE)
    not_run = {
        body
        for body, row in bench.comment_rows(SOURCE, set(range(1, 30)))
        if not bench.runs(row, tree, ran)
    }
    # ``if tie:`` runs its test, not its body; the forward's branch never runs
    assert not_run == {"optionally tie", "never for small batches"}


def test_comments_and_docstrings_only_construction_reaches_are_told_apart(tmp_path):
    """Functional style writes no construction: what only ``__init__`` runs is counted apart."""
    bench = readability()
    source = SOURCE.replace(
        "        self.fc = nn.Linear(4, 4)  # four wide\n",
        "        self.fc = nn.Linear(4, 4)  # four wide\n" "        self.report()\n",
    ) + textwrap.indent(
        textwrap.dedent('''
            def report(self):
                """Print the size."""
                print(self.size())

            def size(self):
                """The number of weights."""
                return sum(p.numel() for p in self.parameters())

            def scaled(self, x):
                """Twice ``x``."""
                return 2 * x
            '''),
        "    ",
    )
    source = source.replace("return self.fc(x)", "return self.scaled(self.fc(x))")
    executed, path, model = _executed(bench, tmp_path, source, "Net")
    measured = bench.read_source(path, model, executed)
    assert set(measured.construction_only) == {"the layer", "four wide"}
    assert set(measured.not_run) == {"optionally tie", "never for small batches"}
    # ``report`` and ``size`` run only while ``__init__`` does; ``scaled`` in ``forward``
    assert set(measured.construction_docstrings) == {
        "Print the size.",
        "The number of weights.",
    }
    lost = bench.measure(measured, "def net(params, x):\n    return x\n")
    assert set(lost.lost_in_construction) == {"the layer", "four wide"}
    assert set(lost.lost_construction_docstrings) == set(
        measured.construction_docstrings
    )
    assert "Twice ``x``." in lost.lost_docstrings


def test_init_parameters_kept_count_the_classes_of_one_name_and_its_shapes():
    """``Block2`` and ``BlockWithShortcut`` are shapes of the source's ``Block``."""
    measure = readability()
    parameters = [("Block", ("dim", "heads")), ("Net", ("width",))]
    output = textwrap.dedent("""\
        class Block2(nn.Module):
            def __init__(self, dim):
                super().__init__()


        class BlockWithShortcut(nn.Module):
            def __init__(self, heads, shortcut=None):
                super().__init__()


        class Network(nn.Module):
            def __init__(self, width=4):
                super().__init__()
        """)
    # Network is not Net: its width does not count
    assert measure.kept_parameters(parameters, output) == 2
    tree = ast.parse(SOURCE)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert measure.init_signatures(classes) == {"Net": ("tie",)}


HELPERS = textwrap.dedent("""\
    from torch import nn


    class Layer(nn.Module):
        def __init__(self, pre=False):
            super().__init__()
            self.pre = pre

        @property
        def width(self):
            return 4

        def with_pos(self, x, pos):
            return x if pos is None else x + pos

        def forward_pre(self, x, pos):
            return self.with_pos(x, pos)

        def forward_post(self, x, pos):
            return self.with_pos(x, pos) * 2

        def unused(self, x):
            return x

        def forward(self, x, pos=None):
            if self.pre:
                return self.forward_pre(x, pos)
            return self.forward_post(x, pos)
    """)


def test_helper_methods_are_those_forward_reaches_and_runs(tmp_path):
    """The branch not taken and a property do not count; a numbered function does."""
    bench = readability()
    ran = _executed(bench, tmp_path, HELPERS, "Layer")[0].ran
    tree = ast.parse(HELPERS)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    helpers = bench.helper_methods(classes, tree, ran)
    assert helpers == ("Layer.forward_post", "Layer.with_pos")
    output = textwrap.dedent("""\
        def forward_post_2(params, x, pos=None):
            return x * 2
        """)
    assert bench.lost_helpers(helpers, output) == ("Layer.with_pos",)


def test_a_block_function_named_like_a_layer_function_counts_its_loops():
    """``transformer(params, ...)`` is the user's block (DETR's ``Transformer``);
    ``transformer(weights, ...)`` the function written for torch's layer."""
    bench = readability()
    output = textwrap.dedent("""\
        def transformer(params, x):
            for i in range(2):
                x = x + 1
            return x


        def lstm(weights, x):
            for step in x:
                pass
            return x
        """)
    assert bench.output_loops(output) == 1


def test_lines_count_both_sides_as_black_formats_them_and_alike(tmp_path):
    """A source kept as written measures 1.0: its formatting and unrun methods aside."""
    bench = readability()
    source = textwrap.dedent("""\
        import torch
        from torch import nn

        SIZES = {'small': [4, 'M', 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]}


        class Net(nn.Module):
            def __init__(self, size='small'):
                super().__init__()
                self.fc = nn.Linear(SIZES[size][0], 4)

            def forward(self, x):
                return self.fc(x)

            def generate(self, x, steps):
                for _ in range(steps):
                    x = self(x)
                return x
        """)
    path = tmp_path / "net.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("net_lines", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    measured = bench.read_source(path, module.Net())
    output = bench.black.format_str(source, mode=bench.black.Mode())
    # black explodes the table: more lines than the file's, counted on both sides
    assert measured.lines > measured.written_lines
    assert bench.code_lines(output, measured.unbuilt) == measured.lines
    # an output without ``generate`` (printed from the trace) measures the same
    without_generate = output.split("    def generate")[0]
    assert bench.code_lines(without_generate) == measured.lines
