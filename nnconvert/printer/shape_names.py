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


def _users_blocks(module: nn.Module) -> dict[str, tuple[str, str]]:
    """Each direct child of ``module`` of a class of the user's: attribute -> its class.

    A class by its module and name: a functional file read back has a
    class per shape of one (``attention`` and ``attention_2`` are both
    ``Attention``), which tells no block apart.
    """
    return {
        name: _class_key(type(child))
        for name, child in module.named_children()
        if not is_library(type(child)) and leaf_of(child) is None
    }


def _class_key(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__


class WrappedBlocks:
    """Remembers the blocks the first definition of each class holds."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}

    def distinguishing(self, module: nn.Module) -> str | None:
        """The class name of the one block of the user's ``module`` holds where the first
        of its class held another, if there is just one and it is no block of its own class.

        None for the first module of a class (it is the reference), and where
        several blocks differ or one holds blocks of its own class (DLA's
        ``Tree`` that holds ``Tree`` blocks): those are numbered. Classes are
        told apart by name (:func:`_users_blocks`).
        """
        cls = type(module)
        held = _users_blocks(module)
        first = self._first.setdefault(_class_key(cls), held)
        differing = {
            key[1].rpartition(".")[2]
            for name, key in held.items()
            if name in first and first[name] != key
        }
        if len(differing) != 1 or cls.__name__ in differing:
            return None
        return differing.pop()
