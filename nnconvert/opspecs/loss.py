"""Loss layers: a model that holds its criterion (``self.criterion = nn.MSELoss()``).

Each row's function is exactly what the layer's ``forward`` calls, with the
two inputs in the same order (``F.mse_loss(input, target, reduction=...)``).

The constructors' deprecated ``size_average`` and ``reduce`` are folded into
``reduction`` when the layer is built, so the layer never passes them and
they are never written. Functions that take a ``weight`` the layer does not
have (``F.mse_loss``, ``F.l1_loss``, ``F.huber_loss``) never get one.

A layer with class weights (``weight``, BCEWithLogitsLoss's ``pos_weight``)
holds them as buffers; a row is either parameter-free (a functional call
becomes the layer) or owns tensors, so these rows cover the layers without
them, and refuse one with a tensor, naming it, rather than write its values
into the call.

Integer class targets cannot be described by an :class:`~.spec.Example`
(its ``high`` fills every input with integers, and the prediction must be
float): CrossEntropyLoss's examples give class probabilities, and
``nn.NLLLoss`` and ``nn.BCELoss`` (whose inputs must lie in ``[0, 1]``) have
no row. Nor do the three-input losses (``nn.CosineEmbeddingLoss``,
``nn.MarginRankingLoss``): the table's tests write a parameter-free row's
call with at most two inputs; nor ``nn.SoftMarginLoss``, whose function has
no gradient for the target, which the tests differentiate.
"""

from __future__ import annotations

from typing import Callable

from torch import nn
from torch.nn import functional as F

from ..errors import ConversionError
from .spec import Example, OpSpec


def _none(module: nn.Module) -> None:
    """``size_average``/``reduce`` (folded into ``reduction``), or a ``weight`` the layer has not."""
    return None


def _without(name: str, function: Callable) -> Callable[[nn.Module], None]:
    """A getter of the buffer ``name``, which must be None (see the module docstring)."""

    def read(module: nn.Module) -> None:
        if getattr(module, name) is not None:
            raise ConversionError(
                f"nn.{type(module).__name__} with a {name!r} tensor: nnconvert "
                f"converts loss layers without one only; hold the tensor as a "
                f"buffer of the model and pass it in forward "
                f"(F.{function.__name__}(..., {name}=self.{name}))"
            )
        return None

    return read


#: The deprecated constructor arguments: never passed, never written.
_LEGACY = {"size_average": _none, "reduce": _none}

_PAIR = ((4, 5), (4, 5))


def _loss(module, function, name, examples, buffers=(), **extra) -> OpSpec:
    """A two-input loss; ``buffers`` are its tensors, which must not be set."""
    unset = {b: _without(b, function) for b in buffers}
    attributes = {**_LEGACY, **unset}
    return OpSpec(
        module,
        function,
        name=name,
        inputs=2,
        call_positional=2,
        ctor_positional=0,
        attributes={**attributes, **extra.pop("attributes", {})},
        ctor_attributes={**_LEGACY, **unset},
        examples=examples,
        **extra,
    )


SPECS = (
    _loss(
        nn.MSELoss,
        F.mse_loss,
        "mse_loss",
        (
            Example("nn.MSELoss()", _PAIR),
            Example('nn.MSELoss(reduction="sum")', ((2, 3, 4), (2, 3, 4))),
            Example('nn.MSELoss(reduction="none")', _PAIR),
        ),
        attributes={"weight": _none},
    ),
    _loss(
        nn.L1Loss,
        F.l1_loss,
        "l1_loss",
        (
            Example("nn.L1Loss()", _PAIR),
            Example('nn.L1Loss(reduction="none")', ((2, 3, 4), (2, 3, 4))),
        ),
        attributes={"weight": _none},
    ),
    _loss(
        nn.SmoothL1Loss,
        F.smooth_l1_loss,
        "smooth_l1_loss",
        (
            Example("nn.SmoothL1Loss()", _PAIR),
            Example("nn.SmoothL1Loss(beta=0.5)", _PAIR),
            Example('nn.SmoothL1Loss(reduction="sum", beta=2.0)', _PAIR),
        ),
    ),
    _loss(
        nn.HuberLoss,
        F.huber_loss,
        "huber_loss",
        (
            Example("nn.HuberLoss()", _PAIR),
            Example("nn.HuberLoss(delta=0.5)", _PAIR),
            Example('nn.HuberLoss(reduction="none", delta=2.0)', _PAIR),
        ),
        attributes={"weight": _none},
    ),
    # class probabilities as targets: an Example cannot give class indices
    _loss(
        nn.CrossEntropyLoss,
        F.cross_entropy,
        "cross_entropy",
        (
            Example("nn.CrossEntropyLoss()", _PAIR),
            Example("nn.CrossEntropyLoss(label_smoothing=0.1)", _PAIR),
            Example('nn.CrossEntropyLoss(reduction="none")', ((2, 5, 3), (2, 5, 3))),
        ),
        buffers=("weight",),
    ),
    _loss(
        nn.BCEWithLogitsLoss,
        F.binary_cross_entropy_with_logits,
        "bce_with_logits",
        (
            Example("nn.BCEWithLogitsLoss()", _PAIR),
            Example('nn.BCEWithLogitsLoss(reduction="sum")', ((2, 3, 4), (2, 3, 4))),
        ),
        buffers=("weight", "pos_weight"),
    ),
    _loss(
        nn.KLDivLoss,
        F.kl_div,
        "kl_div",
        # log-probabilities as targets: randn ones would be negative
        # probabilities; "batchmean" as the docs advise ("mean" warns)
        (
            Example('nn.KLDivLoss(reduction="batchmean", log_target=True)', _PAIR),
            Example(
                'nn.KLDivLoss(reduction="sum", log_target=True)', ((2, 3, 4), (2, 3, 4))
            ),
        ),
    ),
    _loss(
        nn.HingeEmbeddingLoss,
        F.hinge_embedding_loss,
        "hinge_embedding_loss",
        (
            Example("nn.HingeEmbeddingLoss()", _PAIR),
            Example("nn.HingeEmbeddingLoss(margin=0.5)", _PAIR),
        ),
    ),
    _loss(
        nn.MultiLabelSoftMarginLoss,
        F.multilabel_soft_margin_loss,
        "multilabel_soft_margin_loss",
        (
            Example("nn.MultiLabelSoftMarginLoss()", _PAIR),
            Example('nn.MultiLabelSoftMarginLoss(reduction="sum")', _PAIR),
        ),
        buffers=("weight",),
    ),
)
