"""Helper definitions as nnconvert printed them before they were trimmed.

A record, never imported or run: functional files written then define
``batch_norm`` with every option, exactly as below. Functional input
recognises this definition too (:mod:`nnconvert.functional.source`) and
calls today's function of :mod:`.helpers` for it, which computes the same.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def batch_norm(
    weights: dict[str, Tensor],
    input: Tensor,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-05,
) -> Tensor:
    """``nn.BatchNorm1d/2d/3d`` over its weights, keyed as in its state_dict.

    Train mode counts the batch first; ``momentum=None`` then averages the
    running statistics over every batch counted so far.
    """
    if training and "num_batches_tracked" in weights:
        weights["num_batches_tracked"] += 1
    if momentum is None:
        momentum = 1.0 / float(weights["num_batches_tracked"]) if training else 0.0
    stats = weights.get("running_mean"), weights.get("running_var")
    affine = weights.get("weight"), weights.get("bias")
    return F.batch_norm(input, *stats, *affine, training, momentum, eps)
