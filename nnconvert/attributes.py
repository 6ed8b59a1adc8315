"""What an fx ``get_attr`` node reads: a dotted attribute path under a module.

Shared by the tracers (which evaluate ``get_attr`` while recording) and the
passes (which read the constants a graph holds), below both.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from torch import fx, nn

_MISSING: Any = object()


def attribute_at(root: object, target: str, default: Any = _MISSING) -> Any:
    """``root.features[0].weight`` for ``"features.0.weight"``, as fx resolves it.

    Raises AttributeError for a missing attribute unless ``default`` is given.
    """
    value: Any = root
    try:
        for part in target.split("."):
            value = getattr(value, part)
    except AttributeError:
        if default is _MISSING:
            raise
        return default
    return value


@contextmanager
def attributes_restored(model: nn.Module) -> Iterator[None]:
    """Every module's attributes as they were before the block ran.

    ``forward`` may store on ``self`` (word_language_model's ``self.src_mask
    = mask``, a cache filled the first time it runs): what is rebound or
    added is undone, so that tracing afterwards sees the model as it was
    given and records the code that fills the cache. In-place changes to
    tensors (BatchNorm statistics) are not undone.
    """
    saved = [(module, dict(vars(module))) for module in model.modules()]
    try:
        yield
    finally:
        for module, attributes in saved:
            vars(module).clear()
            vars(module).update(attributes)


@contextmanager
def traced_values_undone(model: nn.Module) -> Iterator[None]:
    """Attributes that tracing left holding a proxy get their values back.

    ``self.attn_mask = self.attn_mask.to(dtype=x.dtype)`` in ``forward``
    (OpenAI's CLIP) stores a proxy on the module while it is traced; the graph
    reads the attribute afterwards, and must find the tensor. What fx itself
    adds while tracing (``_tensor_constant0``) stays.
    """
    saved = [(module, dict(vars(module))) for module in model.modules()]
    try:
        yield
    finally:
        for module, before in saved:
            attributes = vars(module)
            for name, value in list(attributes.items()):
                if not isinstance(value, fx.Proxy):
                    continue
                if name in before:
                    attributes[name] = before[name]
                else:
                    del attributes[name]
