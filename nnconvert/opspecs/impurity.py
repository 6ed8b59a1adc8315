"""Which calls act by side effect: the data behind ``passes.graph_utils.is_impure``.

A call that changes state, draws random numbers or does anything else besides
returning its value must run exactly where and as often as the original ran
it, even when nothing reads its result: dead-code removal keeps it, the
printer never moves it into another expression.
"""

from __future__ import annotations

import collections
import dataclasses
import operator

import torch
import torch.nn.functional as F

from .. import branches
from ..stored_attributes import store_attribute
from .helpers import HELPERS

#: Python's augmented assignments, ``x[i] = v`` and ``x.name = v``: they change
#: their first operand.
INPLACE_OPERATORS = frozenset(
    {
        operator.iadd,
        operator.isub,
        operator.imul,
        operator.itruediv,
        operator.ifloordiv,
        operator.imod,
        operator.ipow,
        operator.imatmul,
        operator.iand,
        operator.ior,
        operator.ixor,
        operator.ilshift,
        operator.irshift,
        operator.setitem,
        setattr,
    }
)

#: Factories that draw from the random number generator: dropping or repeating
#: one shifts every later draw, so each runs exactly where the original ran it.
RANDOM_FACTORIES = frozenset(
    {
        torch.rand,
        torch.randn,
        torch.randint,
        torch.randperm,
        torch.normal,
        torch.bernoulli,
        torch.multinomial,
        torch.rand_like,
        torch.randn_like,
        torch.randint_like,
    }
)

#: Library calls that draw random numbers in train mode (dropout and its kin): a
#: block that makes one is not side-effect free, whatever its value numbering
#: says (see :mod:`nnconvert.block_purity`).
RANDOM_FUNCTIONS = RANDOM_FACTORIES | frozenset(
    {
        F.dropout,
        F.dropout1d,
        F.dropout2d,
        F.dropout3d,
        F.alpha_dropout,
        F.feature_alpha_dropout,
        F.rrelu,
        F.gumbel_softmax,
        torch.dropout,
        torch.alpha_dropout,
        torch.feature_dropout,
        torch.feature_alpha_dropout,
    }
)

#: Tensor methods that draw random numbers without a trailing ``_`` (the
#: in-place ones, ``bernoulli_``, are impure by their name already).
RANDOM_METHODS = frozenset({"bernoulli", "multinomial"})

#: Library calls that update the running statistics they are handed in train mode.
BUFFER_UPDATING_FUNCTIONS = frozenset({F.batch_norm, F.instance_norm})

#: Functions that are impure whatever their name says.
IMPURE_FUNCTIONS = (
    INPLACE_OPERATORS
    | RANDOM_FACTORIES
    | frozenset(helper.function for helper in HELPERS if helper.impure)
    | {branches.only_when}  # keeps a side effect of one branch, and its condition
    | {branches.expect}  # a shape guard raises
    | {store_attribute}  # ``self.last_loss = loss``
)

#: Lookups that renormalise their weight in place when given ``max_norm``
#: (``torch.embedding_renorm_``), by the position of ``max_norm`` in their
#: signature: ``nn.Embedding(10, 4, max_norm=1.0)`` changes its weight on every
#: call, so the call runs where the original ran it.
RENORMALISING = {F.embedding: 3, F.embedding_bag: 3}


def renormalises(function: object, args: tuple, kwargs: dict) -> bool:
    """A call of :data:`RENORMALISING` that passes a ``max_norm``."""
    try:
        position = RENORMALISING.get(function)  # type: ignore[call-overload]
    except TypeError:  # unhashable target
        return False
    if position is None:
        return False
    max_norm = args[position] if len(args) > position else kwargs.get("max_norm")
    return max_norm is not None


#: Methods that change a Python list or dict in place (FPN's ``results.extend``).
CONTAINER_MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "pop",
        "remove",
        "clear",
        "update",
        "setdefault",
        "popitem",
    }
)

#: Top-level packages whose functions change only what their names say (a
#: trailing ``_``, ``inplace=True``). Anything else -- a model's own block, a
#: function fx leaves opaque (torchvision's ``_add_shortcut`` adds into its
#: argument and returns nothing anyone reads) -- may work by side effect.
PURE_LIBRARIES = frozenset(
    {
        "torch",
        "operator",
        "_operator",
        "math",
        "builtins",
        "collections",
        "einops",
        "nnconvert",
    }
)


#: Pure functions whose trailing underscore only steps around a keyword
#: (``not x`` is ``operator.not_(x)``): :func:`is_inplace_name` does not apply.
KEYWORD_NAMED = frozenset({operator.not_, operator.and_, operator.or_})


def is_inplace_name(name: str) -> bool:
    """``add_``, ``relu_``: PyTorch's spelling of an in-place op (``__add__`` is not one)."""
    return name.endswith("_") and not name.endswith("__")


def is_library(target: object) -> bool:
    """Defined by a package of :data:`PURE_LIBRARIES` (a function or a class)."""
    module = getattr(target, "__module__", None) or ""
    return module.split(".")[0] in PURE_LIBRARIES


def is_output_record(target: object) -> bool:
    """A class of model outputs: a dataclass that is an ``OrderedDict`` (``transformers``'
    ``ModelOutput``, ``CausalLMOutputWithCrossAttentions``).

    Building one only holds its fields: no draw, no state, whoever defines
    it. Two traces that build it from different values build it once, over
    chosen fields, as a library call is merged.
    """
    return (
        isinstance(target, type)
        and issubclass(target, collections.OrderedDict)
        and dataclasses.is_dataclass(target)
    )
