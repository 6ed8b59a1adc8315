"""Padding layers: Zero, Constant, Reflection, Replication and Circular padding in 1-3 dimensions."""

from __future__ import annotations

from .spec import OpSpec

SPECS: tuple[OpSpec, ...] = ()
