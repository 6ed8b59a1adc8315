"""Layer calls a functional file's ``init_params()`` made for tensors no layer holds again.

``--to functional`` writes a layer's tensors as one call
(``params |= kaiming_params("layers.0.conv1", 32, 32, 1, 1, bias=False)``)
also when the forward never calls the layer: EfficientNet's first block
skips its expansion convolution, CLIP's attention pool hands its
projections' weights to ``F.multi_head_attention_forward``. Read back, no
call says which layer those tensors were, and the reader does not invent
one (a convolution's stride or groups are not in its weight); they stay a
plain host. What the file did say is how they were made: the reader
declares that call on the host (:mod:`nnconvert.functional.layer_calls`),
and ``init_params()`` writes it again (SPEC invariant 5), where it would
otherwise leave the tensors ``torch.empty``. Where the file wrote the
tensors one by one (``params["conv1.weight"] = nn.init.kaiming_uniform_(
...)``, as it does when a layer function saves no lines), those statements
are declared instead (:mod:`nnconvert.functional.tensor_inits`), as the
:class:`~nnconvert.opspecs.spec.TensorInit` s a row would give.

Records live beside the module (a weak map), as
:mod:`nnconvert.init_arguments`'s do; :func:`carry` hands them to a deep copy.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from torch import nn

from .opspecs.spec import LayerInit, TensorInit


@dataclass(frozen=True)
class DeclaredInit:
    """The call that made a host's tensors, and their names in the order it made them."""

    call: LayerInit
    attributes: tuple[str, ...]


_DECLARED: "weakref.WeakKeyDictionary[nn.Module, DeclaredInit]" = (
    weakref.WeakKeyDictionary()
)
_TENSORS: "weakref.WeakKeyDictionary[nn.Module, dict[str, TensorInit]]" = (
    weakref.WeakKeyDictionary()
)
_ORDER: "weakref.WeakKeyDictionary[nn.Module, tuple[str, ...]]" = (
    weakref.WeakKeyDictionary()
)


def plain_host(model: nn.Module, prefix: str, blocks: bool = False) -> nn.Module | None:
    """The submodule at ``prefix`` when the reader made it to hold tensors only.

    The hosts a functional file's reader makes for tensors no layer claimed
    (a plain ``nn.Module``): only they can declare how ``init_params()``
    made them. ``blocks``: also a block it makes of one of the file's
    functions that calls no other block or layer (Whisper's ``linear(params,
    x)``, read back from its ``Linear(nn.Linear)``), for a layer function's
    call (its statements one by one are the file's own code, a build).
    """
    from .functional.wrapper import FunctionalModel  # the reader imports this module

    try:
        host = model.get_submodule(prefix)
    except AttributeError:
        return None
    block = blocks and isinstance(host, FunctionalModel)
    if type(host) is not nn.Module and not block:
        return None
    if not prefix or any(True for _ in host.children()):
        return None
    return host


def declare_init(host: nn.Module, declared: DeclaredInit) -> None:
    """``host``'s tensors were made by ``declared.call``."""
    _DECLARED[host] = declared


def declared_init(host: nn.Module | None) -> DeclaredInit | None:
    """The call declared for ``host``, if any."""
    return None if host is None else _DECLARED.get(host)


def declare_tensor_inits(host: nn.Module, inits: Mapping[str, TensorInit]) -> None:
    """``host``'s tensors (by attribute) were made by these statements."""
    _TENSORS[host] = dict(inits)


def declared_tensor_inits(host: nn.Module | None) -> dict[str, TensorInit]:
    """The statements declared for ``host``'s tensors, by attribute (empty: none)."""
    return {} if host is None else _TENSORS.get(host, {})


def declare_construction_order(model: nn.Module, keys: Iterable[str]) -> None:
    """``model`` made its tensors in the order of ``keys``: a functional file's ``init_params()``'s.

    The file made them in the order the model it came from built them,
    blocks' own tensors among their layers where their ``__init__`` set
    them so (CaiT's attention draws ``mix_heads_pre_attn`` after ``to_kv``).
    Read back, its blocks have no ``__init__`` to say so, and
    ``state_dict()`` lists a module's own tensors first: the file's order
    is the one to write again (:func:`~nnconvert.printer.init_params.construction_order`).
    """
    _ORDER[model] = tuple(keys)


def declared_construction_order(model: nn.Module) -> tuple[str, ...] | None:
    return _ORDER.get(model)


def carry(originals: Iterable[nn.Module], copies: Mapping[int, Any]) -> None:
    """Give each copy (``copies``: ``deepcopy``'s memo, by ``id``) its original's record."""
    for module in originals:
        copied = copies.get(id(module))
        if not isinstance(copied, nn.Module):
            continue
        for records in (_DECLARED, _TENSORS, _ORDER):
            if module in records:
                records[copied] = records[module]


__all__ = [
    "DeclaredInit",
    "carry",
    "declare_construction_order",
    "declare_init",
    "declare_tensor_inits",
    "declared_construction_order",
    "declared_init",
    "declared_tensor_inits",
]
