"""An integer argument of a layer call in ``init_params()``, and the dimensions it sizes.

``kaiming_params("outc", 2, 8, 1, 1)``: argument 0 is the rows of
``outc.weight`` and of ``outc.bias``. Which dimensions an argument sizes
is found by calling the layer function with it doubled
(:func:`nnconvert.root_sizes.sized_by`), so it holds for every function of
:mod:`nnconvert.opspecs.layer_params` without a table of its own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..opspecs.spec import LayerInit
from ..root_sizes import Position, sized_by


@dataclass(frozen=True)
class SizeArgument:
    """Argument ``index`` (``value``) of ``call``, the layer call for key prefix ``prefix``."""

    prefix: str
    index: int
    value: int
    call: LayerInit

    @functools.cached_property
    def reach(self) -> frozenset[Position]:
        """The dimensions of the call's tensors that are this argument."""
        call = self.call

        def build(value: int) -> dict:
            arguments = list(call.arguments)
            arguments[self.index] = value
            return call.function(self.prefix, *arguments, **dict(call.keywords))

        return sized_by(build, self.value)


__all__ = ["SizeArgument"]
