"""Graph passes: canonicalize, then one style pass. Each takes and returns a GraphModule."""

from .canonicalize import canonicalize
from .styles import TRAINING_ATTRIBUTE, apply_style

__all__ = ["TRAINING_ATTRIBUTE", "apply_style", "canonicalize"]
