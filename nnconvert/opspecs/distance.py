"""Distances between two inputs: CosineSimilarity, PairwiseDistance."""

from __future__ import annotations

from .spec import OpSpec

SPECS: tuple[OpSpec, ...] = ()
