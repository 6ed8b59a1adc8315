"""Sparse inputs: pytorch/examples' GCN multiplies a sparse adjacency matrix.

Its ``load_cora`` returns the node features and the normalised adjacency
matrix as sparse COO tensors, and ``GraphConv.forward`` runs
``torch.spmm(adj_mat, support)``. The check draws other inputs from the
example ones (more rows, a doubled size): a sparse tensor takes no index and
no reshape, so it is drawn from its dense form and made sparse again. The
model is the file as published (``benchmarks/realworld/examples_gcn.py``),
built and fed as ``benchmarks/realworld.py`` does.
"""

from __future__ import annotations

import pytest

import nnconvert
from nnconvert.options import Style

from .helpers import load_benchmark


@pytest.mark.parametrize("style", list(Style), ids=lambda s: s.value)
def test_a_model_of_sparse_inputs_converts_and_checks(style):
    realworld = load_benchmark("realworld")
    entry = next(e for e in realworld.ENTRIES if e.name == "examples_gcn")
    module = realworld.import_model_file(realworld.SUITE / entry.file)
    model = realworld.build_model(entry, module)
    inputs = entry.inputs()
    assert all(x.is_sparse for x in inputs)
    conversion = nnconvert.convert(model, style, inputs)
    report = str(conversion.check(train=True))
    assert "every size 10 doubled" in report  # drawn sparse, checked
    assert "gradients of every parameter" in report
