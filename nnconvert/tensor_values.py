"""Tensors that no ``state_dict`` restores, written as code that rebuilds them exactly.

A non-persistent buffer (a Swin ``relative_position_index``), a plain tensor
attribute (a ViT's ``self.pos_embedding = posemb_sincos_2d(...)``) or a
constant ``forward`` makes from Python data is not in the weights the output
is given, so the output must carry its value. Two spellings, chosen per
tensor by :func:`tensor_call`:

* a small tensor (at most :data:`MAX_LITERAL` elements) stays readable:
  ``torch.tensor([1.0, 2.0, 3.0])``;
* any other is its raw bytes, zlib-compressed and base64-encoded, rebuilt by
  :func:`unpack_tensor` (a helper the output defines once), with its dtype
  and shape: ``unpack_tensor("eJz...", torch.int64, (196, 196))``.

Whichever is chosen is rebuilt here and compared bit for bit with the
original before it is written: a value that would change (a NaN payload
``tolist`` loses, a dtype ``torch.tensor`` would not infer) falls back to the
bytes, and a tensor neither spelling keeps is refused. Never a silent change.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, Callable

import torch
from torch import Tensor

from .errors import ConversionError

#: Tensors with at most this many elements are written as ``torch.tensor([...])``.
MAX_LITERAL = 16


def unpack_tensor(data: str, dtype: torch.dtype, shape: tuple[int, ...]) -> Tensor:
    """The tensor whose raw bytes are ``data`` (zlib-compressed, base64-encoded).

    A tensor that no state_dict restores, written by nnconvert bit for bit.
    """
    raw = bytearray(zlib.decompress(base64.b64decode(data)))
    return torch.frombuffer(raw, dtype=dtype).reshape(shape)


class Base64Text(str):
    """Base64 text, written as one string literal per :data:`LINE` characters.

    Python joins adjacent literals, so the value is the same; black puts each
    on a line of its own, and no line of the output runs for kilobytes.
    """

    def chunks(self) -> list[str]:
        return [self[i : i + LINE] for i in range(0, len(self), LINE)] or [""]


#: Characters of base64 text per string literal (base64's traditional 64).
LINE = 64


def pack_tensor(tensor: Tensor) -> tuple[Base64Text, torch.dtype, tuple[int, ...]]:
    """``unpack_tensor``'s arguments for ``tensor``: its bytes in memory order.

    The bytes are the machine's (little-endian on every platform PyTorch
    ships for); a non-contiguous tensor is written as its contiguous copy,
    the same values.
    """
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    raw = flat.view(torch.uint8).numpy().tobytes()
    data = Base64Text(base64.b64encode(zlib.compress(raw, 9)).decode("ascii"))
    return data, tensor.dtype, tuple(tensor.shape)


def tensor_call(value: Tensor, name: str) -> tuple[Callable, tuple, dict[str, Any]]:
    """``(function, args, kwargs)`` whose call returns ``value`` bit for bit.

    ``name`` says which tensor it is in the error raised when no spelling
    keeps the value (a tensor that requires grad, a sparse or quantized one).
    """
    if value.requires_grad:
        raise ConversionError(
            f"{name!r} is a tensor that requires grad but is neither a parameter nor "
            "in the state_dict; nnconvert cannot write it as a constant"
        )
    if value.layout is not torch.strided or value.is_quantized:
        raise ConversionError(
            f"{name!r} is a {value.layout} tensor outside the state_dict; "
            "nnconvert writes only dense tensors as constants"
        )
    for call in _spellings(value):
        function, args, kwargs = call
        if same_bits(function(*args, **kwargs), value):
            return call
    raise ConversionError(
        f"{name!r} (a {value.dtype} tensor of shape {tuple(value.shape)} outside the "
        "state_dict) cannot be written exactly"
    )


def _spellings(value: Tensor) -> list[tuple[Callable, tuple, dict[str, Any]]]:
    """The candidates, most readable first: a literal for small tensors, then the bytes."""
    found = []
    if 0 < value.numel() <= MAX_LITERAL and _literal_dtype(value):
        data = value.detach().cpu().tolist()
        kwargs = {} if value.dtype == inferred_dtype(value) else {"dtype": value.dtype}
        found.append((torch.tensor, (data,), kwargs))
    elif value.numel() == 0:
        same = value.dtype == torch.get_default_dtype()
        found.append(
            (torch.empty, tuple(value.shape), {} if same else {"dtype": value.dtype})
        )
    if value.numel() > 0:
        found.append((unpack_tensor, pack_tensor(value), {}))
    return found


def _literal_dtype(value: Tensor) -> bool:
    """``tolist`` gives Python numbers the printer writes back exactly.

    Not complex numbers, and not NaN: ``float("nan")`` may not have the
    original's bits (the bytes are written instead).
    """
    if value.is_complex():
        return False
    return not (value.is_floating_point() and bool(value.isnan().any()))


def inferred_dtype(value: Tensor) -> torch.dtype:
    """The dtype ``torch.tensor(value.tolist())`` would pick."""
    return torch.tensor(value.flatten()[:1].tolist() or [0.0]).dtype


def same_bits(a: Tensor, b: Tensor) -> bool:
    """Same dtype, shape, layout and bytes: ``-0.0`` differs from ``0.0``, a NaN equals itself."""
    if a.dtype != b.dtype or a.shape != b.shape or a.layout != b.layout:
        return False
    if a.layout is not torch.strided:  # Whisper's sparse alignment_heads
        return same_bits(a.to_dense(), b.to_dense())
    left = a.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
    right = b.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
    return torch.equal(left, right)


__all__ = [
    "Base64Text",
    "MAX_LITERAL",
    "inferred_dtype",
    "pack_tensor",
    "same_bits",
    "tensor_call",
    "unpack_tensor",
]
