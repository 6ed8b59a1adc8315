"""What each of a block's own tensors held when its ``__init__`` returned.

A parameter or persistent buffer the user's ``__init__`` builds
(``nn.Parameter(torch.ones(ndim))``) is written as that code only when
running it gives the tensor's value at construction, bit for bit
(:mod:`nnconvert.init_slices`). The current value is that value only for a
model nobody has trained or loaded weights into; compared with it, a trained
model's output would silently write ``torch.empty`` where a fresh one's
writes ``torch.ones``. So, while :func:`~nnconvert.init_arguments.recording`
watches the model being built, the return of each user-defined block's own
``__init__`` records a fingerprint of its own parameters and buffers: dtype,
shape and a digest of the bytes (not a copy: a model's weights are not held
twice). Code ``__init__`` ran after building a tensor (``trunc_normal_``)
is in the fingerprint, as it should be.

Records live beside the module (a weak map), as
:mod:`nnconvert.init_arguments`'s do; :func:`carry` hands them to a deep copy.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import torch
from torch import nn

_BUILT: "weakref.WeakKeyDictionary[nn.Module, dict[str, Fingerprint]]" = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Fingerprint:
    """A tensor's dtype, shape and bytes' digest: equal fingerprints, same bits."""

    dtype: torch.dtype
    shape: tuple[int, ...]
    digest: bytes


def fingerprint(tensor: torch.Tensor) -> Fingerprint | None:
    """The tensor's :class:`Fingerprint`; None for one without bytes to read (meta)."""
    try:
        flat = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        digest = hashlib.blake2b(flat.numpy().data).digest()
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return None
    return Fingerprint(tensor.dtype, tuple(tensor.shape), digest)


def record_built(module: nn.Module) -> None:
    """Fingerprint ``module``'s own parameters and buffers as they are now.

    Called when its own ``__init__`` returns. Only for a class of the
    user's: torch's own layers are written from the op-spec table, never
    from their ``__init__``.
    """
    if module in _BUILT or type(module).__module__.startswith("torch."):
        return
    found = {}
    for name, tensor in [*module._parameters.items(), *module._buffers.items()]:
        if isinstance(tensor, torch.Tensor):
            made = fingerprint(tensor)
            if made is not None:
                found[name] = made
    _BUILT[module] = found


def built_fingerprint(module: nn.Module, name: str) -> Fingerprint | None:
    """The fingerprint of ``module``'s tensor ``name`` at construction; None: not recorded."""
    return _BUILT.get(module, {}).get(name)


def carry(originals: Iterable[nn.Module], copies: Mapping[int, Any]) -> None:
    """Give each copy (``copies``: ``deepcopy``'s memo, by ``id``) its original's record."""
    for module in originals:
        copied = copies.get(id(module))
        if isinstance(copied, nn.Module) and module in _BUILT:
            _BUILT[copied] = _BUILT[module]


__all__ = ["Fingerprint", "built_fingerprint", "carry", "fingerprint", "record_built"]
