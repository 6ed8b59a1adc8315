"""A functional model's weight dict as module state: which tensors are parameters, and where.

Which tensors are parameters (:func:`parameter_names`):

1. an ``nn.Parameter`` in the dict is one (with its ``requires_grad``), and so
   is any tensor that requires grad;
2. when the dict marks none that way (a plain ``state_dict()``, weights from
   ``torch.load``, an ``init_params()`` result), floating-point tensors are
   parameters except those named like a layer's buffer (``running_mean``,
   ``running_var``, ``num_batches_tracked``); other dtypes are buffers;
3. when it does mark some, every other tensor is a buffer.

Every tensor is registered at its dotted key, in plain ``nn.Module`` hosts
(``conv1.weight`` is parameter ``weight`` of host ``conv1``), so that the
wrapper's ``state_dict()`` has exactly the dict's keys. One tensor under
several keys (tied weights, as ``init_params()`` writes them) stays one.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from ..errors import ConversionError

#: Buffer names of the table's layers: tensors so named are buffers by rule 2.
BUFFER_NAMES = frozenset({"running_mean", "running_var", "num_batches_tracked"})


def parameter_names(params: Mapping[str, torch.Tensor]) -> set[str]:
    """The keys that become parameters; the rest are buffers (module docstring, rules 1-3)."""
    marked = {
        key
        for key, tensor in params.items()
        if isinstance(tensor, nn.Parameter)
        or (isinstance(tensor, torch.Tensor) and tensor.requires_grad)
    }
    if marked:
        return marked
    return {
        key
        for key, tensor in params.items()
        if isinstance(tensor, torch.Tensor)
        and (tensor.is_floating_point() or tensor.is_complex())
        and key.rpartition(".")[2] not in BUFFER_NAMES
    }


def copy_weights(
    function: Callable, params: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Copies of ``params``: parameters (rules 1-3) or buffers; refuses values that are no tensors."""
    for key, tensor in params.items():
        if not isinstance(tensor, torch.Tensor):
            raise ConversionError(
                f"weight {key!r} of {function.__name__} is a {type(tensor).__name__}, "
                "not a tensor"
            )
    names = parameter_names(params)
    copies: dict[int, torch.Tensor] = {}  # one copy per tensor: ties stay ties
    return {
        key: copies.setdefault(id(tensor), _copy(tensor, key in names))
        for key, tensor in params.items()
    }


def numbered_in_index_order(
    tensors: Mapping[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """``tensors`` with the numbered members of each host in index order, the rest as given.

    A functional file's ``init_params()`` makes its tensors in the order the
    model built them, and a model may build a container's later member
    first (Perceiver builds the self-attention of ``layers.0.2`` before the
    cross-attention of ``layers.0.0``). Registered in that order, the
    wrapper would list ``layers.0.2`` first, where the original's
    ``nn.ModuleList`` lists its members by index, and blocks would be named
    in a different order than the first conversion named them. Numbered
    members take the places numbered members held, in index order; named
    members and tensors keep theirs.
    """
    tree: dict[str, Any] = {}
    for key in tensors:
        node = tree
        for part in key.split("."):
            node = node.setdefault(part, {})

    def keys(node: dict[str, Any], prefix: str) -> Iterator[str]:
        numbered = iter(sorted((n for n in node if n.isdigit()), key=int))
        for name in node:
            name = next(numbered) if name.isdigit() else name
            if node[name]:
                yield from keys(node[name], f"{prefix}{name}.")
            else:
                yield prefix + name

    return {key: tensors[key] for key in keys(tree, "")}


def _copy(tensor: torch.Tensor, parameter: bool) -> torch.Tensor:
    """A copy of ``tensor``: a parameter (rules 1-3 of the module docstring) or a buffer."""
    value = tensor.detach().clone()
    if not parameter:
        return value
    marked = isinstance(tensor, nn.Parameter) or tensor.requires_grad
    return nn.Parameter(value, requires_grad=tensor.requires_grad if marked else True)


def register(model: nn.Module, key: str, value: torch.Tensor | nn.Module) -> None:
    """Put ``value`` at the dotted ``key``, creating plain host modules on the way."""
    *path, name = key.split(".")
    host = model
    try:
        for part in path:
            child = host._modules.get(part)
            if child is None:
                child = nn.Module()
                host.add_module(part, child)
            host = child
        if isinstance(value, nn.Module):
            host.add_module(name, value)
        elif isinstance(value, nn.Parameter):
            host.register_parameter(name, value)
        else:
            host.register_buffer(name, value)
    except (KeyError, TypeError) as error:
        message = str(error).strip("'\"")
        raise ConversionError(
            f"weight key {key!r} cannot be a module attribute: {message}"
        ) from None


def tensor_at(model: nn.Module, key: str) -> torch.Tensor:
    """The tensor registered at the dotted ``key`` (:func:`register`)."""
    *path, name = key.split(".")
    host = model
    for part in path:
        host = host._modules[part]
    return getattr(host, name)


__all__ = ["BUFFER_NAMES", "copy_weights", "parameter_names", "register", "tensor_at"]
