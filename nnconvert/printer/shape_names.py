"""What tells a block class's definitions apart, for their names: the blocks they wrap.

vit-pytorch's ``PreNorm(dim, fn)`` wraps an ``Attention`` in one place and
a ``FeedForward`` in another: two shapes of one class, which the output
writes as two definitions. Numbered (``pre_norm_2``, ``PreNorm2``) the
second says nothing; named after the class of the block it holds where
the first held another (``pre_norm_feed_forward``, ``PreNormFeedForward``)
it says what it is.
"""

from __future__ import annotations

from torch import nn

from ..leaves import leaf_of
from ..opspecs.impurity import is_library


def _users_blocks(module: nn.Module) -> dict[str, type]:
    """Each direct child of ``module`` of a class of the user's: attribute -> class."""
    return {
        name: type(child)
        for name, child in module.named_children()
        if not is_library(type(child)) and leaf_of(child) is None
    }


class WrappedBlocks:
    """Remembers the blocks the first definition of each class holds."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], dict[str, type]] = {}

    def distinguishing(self, module: nn.Module) -> str | None:
        """The class name of the one block of the user's ``module`` holds where the first
        of its class held another, if there is just one and it is no block of its own class.

        None for the first module of a class (it is the reference), and where
        several blocks differ or one holds blocks of its own class (DLA's
        ``Tree`` that holds ``Tree`` blocks): those are numbered.
        """
        cls = type(module)  # by name: a functional file read back has a class per shape
        held = _users_blocks(module)
        first = self._first.setdefault((cls.__module__, cls.__qualname__), held)
        differing = {
            wrapped.__name__
            for name, wrapped in held.items()
            if name in first and first[name] is not wrapped
        }
        if len(differing) != 1 or cls.__name__ in differing:
            return None
        return differing.pop()
