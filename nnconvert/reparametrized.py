"""Layers whose weight is recomputed outside ``forward``: converted where nnconvert can, else refused.

And any other hook on a layer: the trace records the layer's call, not
what a hook does around it (:func:`reject_hooks`).

``torch.nn.utils.weight_norm`` (TCN, WaveNet-style vocoders) and
``spectral_norm`` keep ``weight_g``/``weight_v`` (``weight_orig``, ``weight_u``
...) in the ``state_dict`` and set ``weight`` in a forward pre-hook before
every call; ``torch.nn.utils.parametrizations`` computes it in a
parametrization. The trace sees a plain layer call, so an output that did not
know would use one fixed ``weight`` (the check then fails).

A ``weight_norm`` hook on a table layer, over a tensor its row reads as one
plain weight (``nn.Conv*d``, ``nn.ConvTranspose*d``, ``nn.Linear`` ...), is
converted (:mod:`.opspecs.weight_norm`). Any other is refused up front,
naming the layer and the way out: remove the reparametrisation, which leaves
a model computing the same function with the current weights.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize

from .errors import InputError
from .opspecs.weight_norm import converts_weight_norm

#: The hook classes of ``torch.nn.utils`` that recompute a layer's weight.
_HOOKS = {
    ("torch.nn.utils.weight_norm", "WeightNorm"): "torch.nn.utils.remove_weight_norm",
    ("torch.nn.utils.spectral_norm", "SpectralNorm"): (
        "torch.nn.utils.remove_spectral_norm"
    ),
}


def reject_reparametrized(model: nn.Module) -> None:
    """Raise InputError for the first layer of ``model`` whose weight a hook or parametrization
    computes, unless nnconvert converts it (:func:`~.opspecs.weight_norm.converts_weight_norm`).
    """
    for path, module in model.named_modules():
        where = f"layer {path!r}" if path else "the model"
        kind = type(module).__name__
        for hook in module._forward_pre_hooks.values():
            remove = _HOOKS.get((type(hook).__module__, type(hook).__name__))
            if remove is not None and not converts_weight_norm(module, hook):
                raise InputError(
                    f"{where} ({kind}) recomputes its weight in a {type(hook).__name__} "
                    "hook before every call, which nnconvert does not convert; "
                    f"convert the model after {remove}(layer), which keeps "
                    "the weight it computes now"
                )
        if parametrize.is_parametrized(module):
            raise InputError(
                f"{where} ({kind}) has its tensors computed by "
                "torch.nn.utils.parametrize, which nnconvert does not convert; "
                "convert the model after parametrize.remove_parametrizations("
                "layer, name, leave_parametrized=True), which keeps the tensors "
                "it computes now"
            )


def reject_hooks(model: nn.Module) -> None:
    """Raise InputError for the first layer of ``model`` with a hook the output would not run.

    A forward pre-hook can change a layer's inputs or tensors (StyleGAN's
    ``EqualLR`` sets ``weight`` from ``weight_orig`` before every call), a
    forward hook its output, a backward hook its gradients. fx records the
    layer's call alone: the output would compute without the hook, and only
    the equivalence check would say so. ``torch.nn.utils`` hooks are
    :func:`reject_reparametrized`'s. A lazy layer not yet run holds its
    shape-inferring hook: it asks for one run of the model first.
    """
    for path, module in model.named_modules():
        where = f"layer {path!r}" if path else "the model"
        kind = type(module).__name__
        kinds = (
            (module._forward_pre_hooks, "forward pre-hook", "before every call"),
            (module._forward_hooks, "forward hook", "after every call"),
            (module._backward_hooks, "backward hook", "on every backward pass"),
            (module._backward_pre_hooks, "backward pre-hook", "on every backward pass"),
        )
        for hooks, name, when in kinds:
            for hook in hooks.values():
                if (type(hook).__module__, type(hook).__name__) in _HOOKS:
                    continue  # reject_reparametrized's
                if getattr(hook, "__func__", None) is _LAZY_HOOK:
                    raise InputError(
                        f"{where} ({kind}) is a lazy layer whose shapes are not "
                        "known yet; run the model once on an input, then convert it"
                    )
                raise InputError(
                    f"{where} ({kind}) runs a {name} ({_hook_name(hook)}) {when}, "
                    "which nnconvert does not convert: the output would call the "
                    "layer without it; remove the hook (handle.remove()) or "
                    "write what it does in the model's code"
                )


#: The forward pre-hook a lazy layer holds until its first call infers its shapes.
_LAZY_HOOK = nn.modules.lazy.LazyModuleMixin._infer_parameters


def _hook_name(hook: object) -> str:
    """``EqualLR`` for a callable object, the function's name for a function."""
    name = getattr(hook, "__qualname__", None)
    return name if isinstance(name, str) else type(hook).__name__
