"""Distances between two inputs: CosineSimilarity, PairwiseDistance.

``torch.cosine_similarity`` and ``torch.pairwise_distance`` are the very same
objects as the ``F`` functions, so they need no aliases.
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .spec import Arguments, Example, OpSpec


def _norm(module: nn.Module) -> float:
    """``nn.PairwiseDistance`` stores its ``p`` argument as ``self.norm``."""
    return module.norm


def _same_names(arguments: Arguments) -> Arguments:
    """The call's ``p``, ``eps``, ``keepdim`` are the constructor's parameters."""
    return arguments


SPECS = (
    OpSpec(
        nn.CosineSimilarity,
        F.cosine_similarity,
        signature="x1, x2, dim=1, eps=1e-8",
        name="cos",
        inputs=2,
        call_positional=2,
        ctor_positional=0,
        examples=(
            Example("nn.CosineSimilarity()", ((2, 5), (2, 5))),
            Example("nn.CosineSimilarity(dim=0)", ((4, 5), (4, 5))),
            Example("nn.CosineSimilarity(dim=2, eps=1e-06)", ((2, 3, 6), (2, 1, 6))),
        ),
    ),
    OpSpec(
        nn.PairwiseDistance,
        F.pairwise_distance,
        signature="x1, x2, p=2.0, eps=1e-6, keepdim=False",
        name="dist",
        inputs=2,
        call_positional=2,
        ctor_positional=0,
        attributes={"p": "norm"},
        ctor_attributes={"p": _norm},
        ctor_from_call=_same_names,
        examples=(
            Example("nn.PairwiseDistance()", ((2, 5), (2, 5))),
            Example("nn.PairwiseDistance(p=1.0, keepdim=True)", ((2, 5), (2, 5))),
            Example("nn.PairwiseDistance(p=3, eps=0.0001)", ((3, 4, 5), (3, 4, 5))),
        ),
    ),
)
