"""Watching a functional file's ``init_params()`` run: its helpers wrapped for the while.

``init_params()`` says how a file made its weights -- a block's sizes
(``block_params(prefix, 64, 128)``, :mod:`.block_inits`), a layer's
function (``kaiming_params(prefix, 256, 256)``, :mod:`.layer_calls`) --
only in the calls it makes. To hear them, the functions it calls are
replaced in its globals by wrappers that record each call while it runs,
and put back after, whatever happens.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

#: (name, value) of one of ``init``'s globals -> its recording wrapper, or None
Wrapper = Callable[[str, Any], Any]


@contextlib.contextmanager
def globals_wrapped(init: Callable, wrapper: Wrapper) -> Iterator[None]:
    """While the block runs, each global of ``init`` ``wrapper`` wraps is its wrapper."""
    namespace = getattr(init, "__globals__", None)
    originals = {}
    if isinstance(namespace, dict):
        for name, value in list(namespace.items()):
            wrapped = wrapper(name, value)
            if wrapped is not None:
                originals[name] = value
                namespace[name] = wrapped
    try:
        yield
    finally:
        if isinstance(namespace, dict):
            namespace.update(originals)


__all__ = ["globals_wrapped"]
