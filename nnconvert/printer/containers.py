"""The containers a loop may run over: numbered members of one list.

``for layer in self.layers:`` traces into calls of ``layers.0`` …
``layers.n-1``; the printer writes such calls as a loop again only over a
container that holds exactly those members (:mod:`.loops`,
:mod:`.data_loops`).
"""

from __future__ import annotations

from torch import nn


def member_containers(owner: nn.Module) -> dict[str, int]:
    """Each container of members ``0`` … ``n-1`` under ``owner`` (path -> members).

    An ``nn.ModuleList``/``nn.Sequential``, or the plain host that stands
    for one in functional input read back (:func:`is_list_of`). One member
    is enough: the user's ``for`` over it says whether it is looped over
    (:func:`nnconvert.passes.unrolled.find_member_loops`).
    """
    found = {}
    for path, module in owner.named_modules():
        names = list(module._modules)
        if path and names and names == [str(i) for i in range(len(names))]:
            if is_list_of(module, len(names)):
                found[path] = len(names)
    return found


def is_list_of(holder: nn.Module, count: int) -> bool:
    """A ModuleList or Sequential of ``count`` members (or the plain host that stands for one).

    Functional input read back holds a block list in a plain ``nn.Module``
    with members ``0`` … ``n-1``; class styles print it as an ``nn.ModuleList``.
    """
    keys = [str(i) for i in range(count)]
    if isinstance(holder, (nn.ModuleList, nn.Sequential)):
        return len(holder) == count
    return type(holder) is nn.Module and list(holder._modules) == keys
