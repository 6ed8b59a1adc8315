"""``sub_params``: one submodule's slice of a weight dict, keyed as in its own state_dict.

Its own module so that both the helper rows (:mod:`.helpers`, which print
its definition into functional files) and the layer functions that hand
their parts a slice (:mod:`.transformer_dict`) can import it: the helper
rows import the layer functions.
"""

from __future__ import annotations

from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
