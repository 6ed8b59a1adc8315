"""Graph passes: canonicalize, then one style pass. Each takes and returns a GraphModule."""

from .canonicalize import canonicalize
from .graph_utils import TRAINING_ATTRIBUTE
from .methods import outline_methods
from .styles import apply_style

__all__ = ["TRAINING_ATTRIBUTE", "apply_style", "canonicalize", "outline_methods"]
