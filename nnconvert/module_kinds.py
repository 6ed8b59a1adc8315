"""What kind of module a submodule is: a standard layer, a container, or a block of its own.

Decided from its class alone, so the tracer, the style passes and the
printer agree on which modules become definitions of their own.
"""

from __future__ import annotations

import itertools
from typing import Any

from torch import nn

from .leaves import is_leaf
from .naming import reserved_names

#: Standard containers: printed as constructors, never as classes of their own.
CONTAINERS = (
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
    nn.ParameterList,
    nn.ParameterDict,
)


def is_stateless(value: Any) -> bool:
    """A module without parameters or buffers (``nn.ReLU()``): nothing to load or draw."""
    return isinstance(value, nn.Module) and not any(
        True for _ in itertools.chain(value.parameters(), value.buffers())
    )


def is_user_module(module: nn.Module) -> bool:
    """A module defined outside ``torch.nn``: the user's block, or a library's (torchvision's)."""
    name = type(module).__module__
    return not (name.startswith("torch.nn") or name.startswith("torch.ao.nn"))


def is_sequential_class(module: nn.Module) -> bool:
    """A user subclass of ``nn.Sequential`` that keeps Sequential's ``forward``."""
    return (
        isinstance(module, nn.Sequential)
        and type(module).forward is nn.Sequential.forward
    )


def is_defined_class(module: nn.Module) -> bool:
    """Gets a class (or function) of its own in the output.

    User subclasses of the list and dict containers count only when they
    define a ``forward`` (torchvision's ``_DenseBlock``); without one they are
    plain containers.
    """
    containers = (nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)
    if not is_user_module(module) or is_leaf(module):
        return False  # a third-party layer kept as an opaque call is no class of ours
    return (
        not isinstance(module, containers)
        or type(module).forward is not nn.Module.forward
    )


#: torch's transformer layers: functional style writes a function for each
#: (``transformer_encoder_layer``), whose names no definition may take then
TORCH_TRANSFORMERS = (
    nn.Transformer,
    nn.TransformerEncoder,
    nn.TransformerDecoder,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
)


#: The layers of each family of :data:`~.naming.FAMILY_HELPERS`: a model
#: that holds one has its family's helpers written, and their names taken.
FAMILY_LAYERS: dict[str, tuple[type[nn.Module], ...]] = {
    "transformer": TORCH_TRANSFORMERS,
    "attention": (nn.MultiheadAttention,),
    "recurrent": (nn.RNNBase, nn.RNNCellBase),
}


def reserved_for(model: nn.Module) -> frozenset[str]:
    """The helper names an output of ``model`` may define (:func:`~.naming.reserved_names`)."""
    modules = list(model.modules())
    held = {
        family
        for family, layers in FAMILY_LAYERS.items()
        if any(isinstance(m, layers) for m in modules)
    }
    return reserved_names(held)
