"""Tied weights: one tensor (or one layer) that a model holds under several names.

GPT-2 and nanoGPT tie their token embedding to the output layer
(``self.transformer.wte.weight = self.lm_head.weight``); a model may also
register one layer twice (``self.b = self.a``). The ``state_dict()`` then lists
the shared tensor under every name, while ``named_parameters()`` lists it once,
and the gradient of a tied parameter is the sum over all its uses. A rewrite
that builds the names as separate tensors computes the same in eval mode and
trains a different model, so the conversion keeps each tie:

* class styles write the assignment the user wrote, after the layers are
  built (:func:`own_ties`, one :class:`Tie` per statement);
* functional style reads the tensor under one key, its first ``state_dict()``
  key (:func:`canonical_keys`), the name ``named_parameters()`` gives it, so
  ``torch.func`` transforms over ``dict(model.named_parameters())`` see one
  leaf; ``init_params()`` stores the one tensor under every key.

Which side of a tie is the original is not recorded on the tensors; where
the model's ``__init__`` source says it (``self.X = self.Y``), ``Y`` is the
source, else the first name in ``state_dict()`` order is. A model read from
a functional file has no such ``__init__``: its ``init_params()`` says it
(``params["X"] = params["Y"]``), which the reader declares
(:func:`declare_written`).
"""

from __future__ import annotations

import ast
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from .errors import ConversionError
from .source_text import function_tree, self_path


@dataclass(frozen=True)
class Tie:
    """``self.<target> = self.<source>``: paths relative to the module that writes it.

    ``layer`` is True when a whole submodule is shared (``self.b = self.a``),
    False when one tensor is (``self.wte.weight = self.lm_head.weight``):
    then both layers were built, each drawing its own initial values.
    """

    target: str
    source: str
    layer: bool


def ties(module: nn.Module) -> list[Tie]:
    """Every tie inside ``module`` that carries ``state_dict()`` entries, in key order.

    A shared layer is one tie (its tensors follow it); a shared tensor whose
    layers are distinct is a tie of its own. Each target appears once.
    """
    state = module.state_dict(keep_vars=True)
    written = written_ties(module)
    found = _layer_ties(module, set(state))
    shared = [t.target for t in found]

    def under_shared(key: str) -> bool:
        return any(key.startswith(f"{p}.") for p in shared)

    groups: dict[int, list[str]] = {}
    for key, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and not under_shared(key):
            groups.setdefault(id(tensor), []).append(key)
    for keys in groups.values():
        if len(keys) > 1:
            source = _written_source(keys, written)
            found += [Tie(k, source, False) for k in keys if k != source]
    order = {key: i for i, key in enumerate(state)}
    # shared layers first, each by its source: the order does not depend on
    # where the tie registered the second name (an output's own ties come last)
    return sorted(
        found,
        key=lambda t: (
            not t.layer,
            _first_key(t.source, order),
            _first_key(t.target, order),
        ),
    )


def own_ties(module: nn.Module, has_class: Callable[[nn.Module], bool]) -> list[Tie]:
    """The ties ``module``'s own ``__init__`` writes.

    Those inside a submodule that gets a class (or function) of its own
    (``has_class``) are that class's: the deepest such submodule around both
    sides writes the tie, relative to itself.
    """
    return [t for t in ties(module) if not _inside_class(module, t, has_class)]


def replaced_keys(module: nn.Module) -> frozenset[str]:
    """The ``state_dict()`` keys whose tensor a tie replaces: each tie's target side.

    ``self.trg_word_prj.weight = self.decoder.trg_word_emb.weight``: the
    layer ``trg_word_prj`` is built with a weight of its own, which the tie
    then throws away; what its constructor arguments sized is gone.
    """
    keys = list(module.state_dict(keep_vars=True))
    return frozenset(
        key
        for tie in ties(module)
        for key in keys
        if key == tie.target or key.startswith(f"{tie.target}.")
    )


def canonical_keys(module: nn.Module) -> dict[str, str]:
    """``state_dict()`` key -> the first key of the same tensor (itself when not tied)."""
    first: dict[int, str] = {}
    canonical = {}
    for key, tensor in module.state_dict(keep_vars=True).items():
        canonical[key] = first.setdefault(id(tensor), key)
    return canonical


def tied_outside(module: nn.Module, path: str) -> dict[str, str]:
    """Keys of block ``path`` whose tensor ``module`` first names outside it: {its key: that key}.

    Functional style hands a block ``sub_params(params, "encoder.")``; T5's
    ``encoder.embed_tokens.weight`` is ``shared.weight``, which the caller
    reads under that key. The call passes it on under the block's own key
    (``{**sub_params(params, "encoder."), "embed_tokens.weight":
    params["shared.weight"]}``), so that the block reads the one tensor
    ``torch.func`` sees, and its gradient sums every use.
    """
    prefix = f"{path}."
    return {
        key[len(prefix) :]: first
        for key, first in canonical_keys(module).items()
        if key.startswith(prefix) and not first.startswith(prefix)
    }


def tie_text(
    owner: nn.Module, tie: Tie, render: Callable[[str], str]
) -> tuple[str, str]:
    """``("self.wte.weight", "self.lm_head.weight")``; ``render`` writes a path from ``self``."""
    target, source = render(tie.target), render(tie.source)
    if "getattr(" in target:
        raise ConversionError(
            f"tied weights: nnconvert cannot write the assignment to {tie.target!r} "
            f"in {type(owner).__qualname__}"
        )
    return target, source


def written_ties(module: nn.Module) -> dict[str, str]:
    """``self.X = self.Y`` assignments in ``__init__`` of the model's classes: {X: Y}.

    Paths are relative to the class that writes them; classes are read
    from ``module``'s own and its submodules' types (not torch's). Empty
    where no source is available.
    """
    found: dict[str, str] = {}
    for path, sub in module.named_modules():
        prefix = f"{path}." if path else ""
        declared = tuple(_DECLARED.get(sub, {}).items())
        for target, source in _assignments(type(sub)) + declared:
            found.setdefault(prefix + target, prefix + source)
    return found


#: module -> the ties declared for it (:func:`declare_written`), as {X: Y}
_DECLARED: "weakref.WeakKeyDictionary[nn.Module, dict[str, str]]" = (
    weakref.WeakKeyDictionary()
)


def declare_written(module: nn.Module, written: Mapping[str, str]) -> None:
    """``module`` ties key ``X`` to key ``Y`` (``{X: Y}``), as if its ``__init__`` wrote it.

    For a model without such source: a functional file's, whose
    ``init_params()`` writes ``params["X"] = params["Y"]`` (read by
    :mod:`nnconvert.functional.init_ties`). Converted again, the output
    ties the same way round.
    """
    _DECLARED[module] = dict(written)


def carry(originals: Iterable[nn.Module], copies: Mapping[int, Any]) -> None:
    """Give each copy (``copies``: ``deepcopy``'s memo, by ``id``) its original's declared ties."""
    for module in originals:
        copied = copies.get(id(module))
        if isinstance(copied, nn.Module) and module in _DECLARED:
            _DECLARED[copied] = _DECLARED[module]


#: class -> its :func:`_assignments`: every instance of a class asks again, and
#: reading the source is slow; weak, so that classes made on the fly can go
_ASSIGNMENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _assignments(cls: type) -> tuple[tuple[str, str], ...]:
    """``(X, Y)`` for each ``self.X = self.Y`` in ``cls.__init__`` (and its bases'), X once."""
    if cls not in _ASSIGNMENTS:
        _ASSIGNMENTS[cls] = _read_assignments(cls)
    return _ASSIGNMENTS[cls]


def _read_assignments(cls: type) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for base in cls.__mro__:
        init = vars(base).get("__init__")
        if init is None or (getattr(init, "__module__", None) or "").startswith(
            "torch"
        ):
            continue
        tree = function_tree(init)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = self_path(node.targets[0]), self_path(node.value)
                if target and value:
                    found.setdefault(target, value)
    return tuple(found.items())


def _layer_ties(module: nn.Module, keys: set[str]) -> list[Tie]:
    """Submodules registered under a second name, the highest name only, with state."""
    first: dict[int, str] = {}
    found: list[Tie] = []
    for path, sub in module.named_modules(remove_duplicate=False):
        if not path or any(path.startswith(f"{t.target}.") for t in found):
            continue
        if id(sub) not in first:
            first[id(sub)] = path
            continue
        if any(k.startswith(f"{path}.") for k in keys):
            found.append(Tie(path, first[id(sub)], True))
    return found


def _written_source(keys: list[str], written: dict[str, str]) -> str:
    """The key the user's ``self.X = self.Y`` names as ``Y``, else the first key."""
    for key in keys:
        source = written.get(key)
        if source in keys:
            return source
    return keys[0]


def _first_key(path: str, order: dict[str, int]) -> int:
    """Where ``path`` (a key, or a submodule's prefix) first appears in ``state_dict()``."""
    if path in order:
        return order[path]
    return min(i for k, i in order.items() if k.startswith(f"{path}."))


def _inside_class(
    module: nn.Module, tie: Tie, has_class: Callable[[nn.Module], bool]
) -> bool:
    """Both sides lie inside one proper submodule that gets a class of its own."""
    target, source = tie.target.split("."), tie.source.split(".")
    common = []
    for a, b in zip(target[:-1], source[:-1]):
        if a != b:
            break
        common.append(a)
    current = module
    for part in common:
        current = current._modules.get(part)
        if current is None:
            return False
        if has_class(current):
            return True
    return False


__all__ = [
    "Tie",
    "canonical_keys",
    "carry",
    "declare_written",
    "own_ties",
    "tie_text",
    "tied_outside",
    "ties",
    "written_ties",
]
