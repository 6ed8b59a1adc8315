"""Dropout layers: their functional forms take the module's ``training`` flag."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .spec import Example, OpSpec


def _never_inplace(module: nn.Module) -> bool:
    """``nn.AlphaDropout`` and ``nn.FeatureAlphaDropout`` accept ``inplace`` but never pass it.

    Their ``forward`` calls ``F.alpha_dropout(input, self.p, self.training)``,
    so the call is never in place; an ``inplace=True`` layer converts to the
    plain call, and no functional call converts back to one (the flag has no
    effect, so the examples leave it out: the round trip cannot recover it).
    """
    return False


def _dropout(module, function, examples, **extra) -> OpSpec:
    return OpSpec(
        module,
        function,
        name="dropout",
        training="training",
        examples=examples,
        **extra,
    )


SPECS = (
    _dropout(
        nn.Dropout,
        F.dropout,
        (
            Example("nn.Dropout()"),
            Example("nn.Dropout(0.2, inplace=True)", ((4, 10),)),
            Example("nn.Dropout(0.1)", ((2, 5, 6),)),
        ),
    ),
    _dropout(
        nn.Dropout1d,
        F.dropout1d,
        (
            Example("nn.Dropout1d()", ((2, 3, 16),)),
            Example("nn.Dropout1d(0.2, inplace=True)", ((2, 4, 8),)),
        ),
    ),
    _dropout(
        nn.Dropout2d,
        F.dropout2d,
        (
            Example("nn.Dropout2d()"),
            Example("nn.Dropout2d(0.3, inplace=True)", ((2, 4, 5, 5),)),
        ),
    ),
    _dropout(
        nn.Dropout3d,
        F.dropout3d,
        (
            Example("nn.Dropout3d()", ((2, 3, 4, 4, 4),)),
            Example("nn.Dropout3d(0.25, inplace=True)", ((2, 2, 3, 4, 4),)),
        ),
    ),
    _dropout(
        nn.AlphaDropout,
        F.alpha_dropout,
        (
            Example("nn.AlphaDropout()", ((4, 10),)),
            Example("nn.AlphaDropout(0.2)"),
        ),
        attributes={"inplace": _never_inplace},
    ),
    _dropout(
        nn.FeatureAlphaDropout,
        F.feature_alpha_dropout,
        (
            Example("nn.FeatureAlphaDropout()"),
            Example("nn.FeatureAlphaDropout(0.2)", ((2, 3, 4, 4, 4),)),
        ),
        attributes={"inplace": _never_inplace},
    ),
)
