"""Whole layers in ``init_params()``: one call creates all of a layer's tensors.

Written tensor by tensor, a convolution costs two statements of three lines
each after black; a model of forty layers, a few hundred lines. The common
layers instead get one call each of a small function the output defines once
(only when it uses it)::

    params |= kaiming_params("features.0", 64, 3, 3, 3)
    params |= batch_norm_params("features.1", 64)

Each function below is that definition (its source is what the output
prints) and makes exactly the draws its layers' constructors make, in their
order, on tensors of the default dtype; the rows' ``init_call`` hooks
(:class:`~nnconvert.opspecs.spec.LayerInit`) say which layer calls which,
with what arguments, and decline (None) for a configuration the function
does not cover, which is then written tensor by tensor
(:class:`~nnconvert.opspecs.spec.TensorInit`). ``tests/test_layer_params.py``
checks, for every example of every row, that the call gives the keys, the
order and the values bit for bit of a freshly built layer.

A layer made of layers is its parts' calls (a transformer layer:
``attention_params``, ``kaiming_params``, ``norm_params``, each with its
:attr:`~nnconvert.opspecs.spec.LayerInit.part`); a layer that is a deep
copy of another (``nn.TransformerEncoder`` copies the layer it is given) is
``clone_params``, which the printer writes where the copy comes. Where a
layer's options make a function long (a bidirectional LSTM, attention over
keys of another width), the common configuration has a short function and
the ``general_`` one takes every option: the output defines the one it calls,
and only when its calls save more lines than the definition costs.
:data:`NEEDS` lists the functions a function calls, which the output then
defines too.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import replace

import torch
from torch import Tensor, nn

from .spec import LayerInit


def kaiming_params(prefix: str, *shape: int, bias: bool = True) -> dict[str, Tensor]:
    """An `nn.Linear` or `nn.Conv*d` whose weight has `shape`, drawn as they draw it."""
    weight = nn.init.kaiming_uniform_(torch.empty(shape), a=math.sqrt(5))
    params = {f"{prefix}.weight": weight}
    if bias:
        bound = 1 / math.sqrt(math.prod(shape[1:]))
        params[f"{prefix}.bias"] = nn.init.uniform_(
            torch.empty(shape[0]), -bound, bound
        )
    return params


def norm_params(prefix: str, *shape: int, bias: bool = True) -> dict[str, Tensor]:
    """A normalisation layer's affine weight (ones) and bias (zeros) of `shape`."""
    params = {f"{prefix}.weight": torch.ones(shape)}
    if bias:
        params[f"{prefix}.bias"] = torch.zeros(shape)
    return params


def batch_norm_params(prefix: str, num_features: int) -> dict[str, Tensor]:
    """An `nn.BatchNorm*d`: affine weight and bias, then its running statistics."""
    return {
        f"{prefix}.weight": torch.ones(num_features),
        f"{prefix}.bias": torch.zeros(num_features),
        f"{prefix}.running_mean": torch.zeros(num_features),
        f"{prefix}.running_var": torch.ones(num_features),
        f"{prefix}.num_batches_tracked": torch.tensor(0),
    }


def embedding_params(
    prefix: str, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None
) -> dict[str, Tensor]:
    """An `nn.Embedding` or `nn.EmbeddingBag`: normal rows, the `padding_idx` row zeroed."""
    weight = nn.init.normal_(torch.empty(num_embeddings, embedding_dim))
    if padding_idx is not None:
        weight[padding_idx] = 0
    return {f"{prefix}.weight": weight}


def recurrent_params(
    prefix: str, input_size: int, hidden_size: int, num_layers: int = 1, *, gates: int
) -> dict[str, Tensor]:
    """An `nn.LSTM` (4 `gates`), `nn.GRU` (3) or `nn.RNN` (1): its `reset_parameters`."""
    bound = 1 / math.sqrt(hidden_size)
    params = {}
    for layer in range(num_layers):
        shapes = {
            "weight_ih": (gates * hidden_size, hidden_size if layer else input_size),
            "weight_hh": (gates * hidden_size, hidden_size),
            "bias_ih": (gates * hidden_size,),
            "bias_hh": (gates * hidden_size,),
        }
        for name, shape in shapes.items():
            weight = nn.init.uniform_(torch.empty(shape), -bound, bound)
            params[f"{prefix}.{name}_l{layer}"] = weight
    return params


def general_recurrent_params(
    prefix: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bias: bool = True,
    bidirectional: bool = False,
    proj_size: int = 0,
    *,
    gates: int,
) -> dict[str, Tensor]:
    """An `nn.LSTM` (4 `gates`), `nn.GRU` (3) or `nn.RNN` (1): its `reset_parameters`.

    With every option: no biases, both directions, a projection (`proj_size`).
    """
    bound, width = 1 / math.sqrt(hidden_size), proj_size or hidden_size
    directions = ["", "_reverse"] if bidirectional else [""]
    shapes = {}
    for layer in range(num_layers):
        inputs = width * len(directions) if layer else input_size
        for suffix in directions:
            shapes[f"weight_ih_l{layer}{suffix}"] = (gates * hidden_size, inputs)
            shapes[f"weight_hh_l{layer}{suffix}"] = (gates * hidden_size, width)
            if bias:
                shapes[f"bias_ih_l{layer}{suffix}"] = (gates * hidden_size,)
                shapes[f"bias_hh_l{layer}{suffix}"] = (gates * hidden_size,)
            if proj_size:
                shapes[f"weight_hr_l{layer}{suffix}"] = (proj_size, hidden_size)
    return {
        f"{prefix}.{name}": nn.init.uniform_(torch.empty(shape), -bound, bound)
        for name, shape in shapes.items()
    }


def cell_params(
    prefix: str, input_size: int, hidden_size: int, bias: bool = True, *, gates: int
) -> dict[str, Tensor]:
    """An `nn.LSTMCell` (4 `gates`), `nn.GRUCell` (3) or `nn.RNNCell` (1)."""
    bound = 1 / math.sqrt(hidden_size)
    shapes = {
        "weight_ih": (gates * hidden_size, input_size),
        "weight_hh": (gates * hidden_size, hidden_size),
    }
    if bias:
        shapes["bias_ih"] = (gates * hidden_size,)
        shapes["bias_hh"] = (gates * hidden_size,)
    return {
        f"{prefix}.{name}": nn.init.uniform_(torch.empty(shape), -bound, bound)
        for name, shape in shapes.items()
    }


def attention_params(
    prefix: str, embed_dim: int, bias: bool = True
) -> dict[str, Tensor]:
    """An `nn.MultiheadAttention`: `out_proj` draws as it is built, then `_reset_parameters`."""
    out_proj = kaiming_params(f"{prefix}.out_proj", embed_dim, embed_dim, bias=bias)
    weight = nn.init.xavier_uniform_(torch.empty(3 * embed_dim, embed_dim))
    params = {f"{prefix}.in_proj_weight": weight}
    if bias:
        params[f"{prefix}.in_proj_bias"] = torch.zeros(3 * embed_dim)
        out_proj[f"{prefix}.out_proj.bias"] = torch.zeros(embed_dim)
    return params | out_proj


def general_attention_params(
    prefix: str,
    embed_dim: int,
    kdim: int | None = None,
    vdim: int | None = None,
    bias: bool = True,
    add_bias_kv: bool = False,
) -> dict[str, Tensor]:
    """An `nn.MultiheadAttention`: `out_proj` draws as it is built, then `_reset_parameters`.

    With every option: keys or values of other widths (three projections),
    `bias_k` and `bias_v`.
    """
    out_proj = kaiming_params(f"{prefix}.out_proj", embed_dim, embed_dim, bias=bias)
    if kdim is None and vdim is None:
        shapes = {"in_proj_weight": (3 * embed_dim, embed_dim)}
    else:  # keys or values of another width: three projections
        shapes = {
            "q_proj_weight": (embed_dim, embed_dim),
            "k_proj_weight": (embed_dim, kdim),
            "v_proj_weight": (embed_dim, vdim),
        }
    params = {
        f"{prefix}.{name}": nn.init.xavier_uniform_(torch.empty(shape))
        for name, shape in shapes.items()
    }
    if bias:
        params[f"{prefix}.in_proj_bias"] = torch.zeros(3 * embed_dim)
        out_proj[f"{prefix}.out_proj.bias"] = torch.zeros(embed_dim)
    if add_bias_kv:
        for name in ("bias_k", "bias_v"):
            params[f"{prefix}.{name}"] = nn.init.xavier_normal_(
                torch.empty(1, 1, embed_dim)
            )
    return params | out_proj


def clone_params(
    params: dict[str, Tensor], source: str, target: str
) -> dict[str, Tensor]:
    """The layer at `source` again at `target`, as `copy.deepcopy` copies a layer.

    `nn.TransformerEncoder` and `nn.TransformerDecoder` build their layers
    as copies of the one they are given: equal tensors, no draws.
    """
    return {
        target + key[len(source) :]: tensor.clone()
        for key, tensor in params.items()
        if key.startswith(source + ".")
    }


def transformer_params(
    prefix: str,
    d_model: int,
    num_encoder_layers: int,
    num_decoder_layers: int,
    dim_feedforward: int,
    bias: bool = True,
) -> dict[str, Tensor]:
    """An `nn.Transformer`: per stack, its first layer as built, the others copies of it.

    Then `_reset_parameters` draws every matrix anew with `xavier_uniform_`,
    in `parameters()` order (the order of the keys here).
    """
    params = {}
    stacks = {"encoder": num_encoder_layers, "decoder": num_decoder_layers}
    for stack, count in stacks.items():
        first = f"{prefix}.{stack}.layers.0"
        attentions = ["self_attn", "multihead_attn"][: 1 + (stack == "decoder")]
        for name in attentions:
            params |= attention_params(f"{first}.{name}", d_model, bias=bias)
        params |= kaiming_params(
            f"{first}.linear1", dim_feedforward, d_model, bias=bias
        )
        params |= kaiming_params(
            f"{first}.linear2", d_model, dim_feedforward, bias=bias
        )
        for norm in range(1, len(attentions) + 2):
            params |= norm_params(f"{first}.norm{norm}", d_model, bias=bias)
        for layer in range(1, count):
            params |= clone_params(params, first, f"{prefix}.{stack}.layers.{layer}")
        params |= norm_params(f"{prefix}.{stack}.norm", d_model, bias=bias)
    for tensor in params.values():
        if tensor.dim() > 1:
            nn.init.xavier_uniform_(tensor)
    return params


#: Every function above, as the output defines it: name -> source.
DEFINITIONS: dict[str, str] = {
    function.__name__: inspect.getsource(function)
    for function in (
        kaiming_params,
        norm_params,
        batch_norm_params,
        embedding_params,
        recurrent_params,
        general_recurrent_params,
        cell_params,
        attention_params,
        general_attention_params,
        clone_params,
        transformer_params,
    )
}

#: The functions each one calls, defined with it.
NEEDS: dict[str, tuple[str, ...]] = {
    "attention_params": ("kaiming_params",),
    "general_attention_params": ("kaiming_params",),
    "transformer_params": (
        "attention_params",
        "kaiming_params",
        "norm_params",
        "clone_params",
    ),
}


def _default_dtype(module: nn.Module) -> bool:
    """The functions draw in the default dtype only (a layer built in float64 draws otherwise)."""
    return all(
        t.dtype == torch.get_default_dtype()
        for t in module.state_dict().values()
        if t.is_floating_point()
    )


def _has(module: nn.Module, name: str) -> bool:
    return getattr(module, name, None) is not None


def kaiming_call(module: nn.Module) -> LayerInit | None:
    """``nn.Linear`` and ``nn.Conv*d`` (not transposed: its bias follows the weight's second axis)."""
    shape = tuple(module.weight.shape)
    if not _default_dtype(module) or 0 in shape:
        return None
    return LayerInit(kaiming_params, shape, _bias_keyword(module))


def transposed_kaiming_call(module: nn.Module) -> LayerInit | None:
    """``nn.ConvTranspose*d`` without a bias: its weight is drawn as ``kaiming_params`` draws.

    Its fan-in is the weight's second axis on, as for any convolution; a
    bias, though, has the weight's second axis times the groups as its
    length, not the first axis ``kaiming_params`` gives it (declines).
    """
    return None if _has(module, "bias") else kaiming_call(module)


def _bias_keyword(module: nn.Module) -> tuple[tuple[str, bool], ...]:
    """``bias=False`` for a layer without one; nothing (the default) otherwise."""
    return () if _has(module, "bias") else (("bias", False),)


def norm_call(module: nn.Module) -> LayerInit | None:
    """``nn.LayerNorm``, ``nn.GroupNorm``, ``nn.RMSNorm`` and affine instance norms.

    Only a layer whose tensors are exactly its affine ones: an instance norm
    that tracks running statistics declines.
    """
    if not _has(module, "weight") or not _default_dtype(module):
        return None
    if getattr(module, "track_running_stats", False):
        return None
    shape = tuple(module.weight.shape)
    if not shape:
        return None
    return LayerInit(norm_params, shape, _bias_keyword(module))


def batch_norm_call(module: nn.Module) -> LayerInit | None:
    """``nn.BatchNorm*d``, affine with running statistics (the default); else None."""
    if not (module.affine and module.track_running_stats and _has(module, "bias")):
        return None
    if not _default_dtype(module):
        return None
    return LayerInit(batch_norm_params, (module.num_features,))


def embedding_call(module: nn.Module) -> LayerInit | None:
    """``nn.Embedding`` and ``nn.EmbeddingBag`` (``normal_``, the padding row zeroed)."""
    if not _default_dtype(module):
        return None
    padding = module.padding_idx
    keywords = () if padding is None else (("padding_idx", padding),)
    return LayerInit(embedding_params, tuple(module.weight.shape), keywords)


#: How many gates each recurrent layer stacks in its weights.
_GATES = {
    nn.LSTM: 4,
    nn.GRU: 3,
    nn.RNN: 1,
    nn.LSTMCell: 4,
    nn.GRUCell: 3,
    nn.RNNCell: 1,
}
#: The recurrent layers' options, with their defaults.
_RECURRENT_OPTIONS = (
    ("num_layers", 1),
    ("bias", True),
    ("bidirectional", False),
    ("proj_size", 0),
)


def recurrent_call(module: nn.Module) -> LayerInit | None:
    """``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` and their cells; only the options that differ from the default."""
    gates = _GATES.get(type(module))
    if gates is None or not _default_dtype(module) or module.hidden_size <= 0:
        return None
    sizes = (module.input_size, module.hidden_size)
    if isinstance(module, nn.RNNCellBase):
        bias = () if module.bias else (("bias", False),)
        return LayerInit(cell_params, sizes, (*bias, ("gates", gates)))
    keywords = tuple(
        (name, getattr(module, name))
        for name, default in _RECURRENT_OPTIONS
        if getattr(module, name) != default
    )
    function = recurrent_params
    if any(name != "num_layers" for name, _ in keywords):
        function = general_recurrent_params
    return LayerInit(function, sizes, (*keywords, ("gates", gates)))


def attention_call(module: nn.Module) -> LayerInit | None:
    """``nn.MultiheadAttention`` as its constructor leaves it; ``kdim``/``vdim`` when they differ."""
    if not _default_dtype(module) or module.embed_dim <= 0:
        return None
    keywords: list[tuple[str, object]] = []
    if not module._qkv_same_embed_dim:
        keywords += [("kdim", module.kdim), ("vdim", module.vdim)]
    if module.in_proj_bias is None:
        keywords.append(("bias", False))
    if module.bias_k is not None:
        keywords.append(("add_bias_kv", True))
    if keywords and keywords != [("bias", False)]:
        return LayerInit(general_attention_params, (module.embed_dim,), tuple(keywords))
    return LayerInit(attention_params, (module.embed_dim,), tuple(keywords))


def transformer_layer_call(module: nn.Module) -> tuple[LayerInit, ...] | None:
    """``nn.TransformerEncoderLayer``/``DecoderLayer`` as its parts, in the order ``__init__`` builds them."""
    names = ["self_attn", "multihead_attn", "linear1", "linear2"]
    names += ["norm1", "norm2", "norm3"]
    calls = _parts(module, [name for name in names if hasattr(module, name)])
    return None if calls is None else tuple(calls)


def transformer_stack_call(module: nn.Module) -> tuple[LayerInit, ...] | None:
    """``nn.TransformerEncoder``/``Decoder``: the first layer as its parts, then ``norm``.

    The other layers are copies of the first (``clone_params``, written by
    ``init_params()``'s printer where the copies come).
    """
    if not len(module.layers):
        return None
    first = transformer_layer_call(module.layers[0])
    if first is None:
        return None
    calls = [replace(c, part=f"layers.0.{c.part}") for c in first]
    if module.norm is not None:
        norm = _parts(module, ["norm"])
        if norm is None:
            return None
        calls += norm
    return tuple(calls)


def transformer_call(module: nn.Module) -> LayerInit | None:
    """``nn.Transformer`` with the encoder and decoder its constructor builds, one call."""
    encoder, decoder = module.encoder, module.decoder
    if (type(encoder), type(decoder)) != (nn.TransformerEncoder, nn.TransformerDecoder):
        return None
    if encoder.norm is None or decoder.norm is None or not _default_dtype(module):
        return None
    layers = [*encoder.layers, *decoder.layers]
    if not len(encoder.layers) or not len(decoder.layers):
        return None
    first = encoder.layers[0]
    shape = first.linear1.weight.shape
    if any(layer.linear1.weight.shape != shape for layer in layers):
        return None
    sizes = (shape[1], len(encoder.layers), len(decoder.layers), shape[0])
    return LayerInit(transformer_params, sizes, _bias_keyword(first.linear1))


#: The call of each kind of part a transformer layer holds.
_PART_CALLS = {
    nn.MultiheadAttention: attention_call,
    nn.Linear: kaiming_call,
    nn.LayerNorm: norm_call,
    nn.RMSNorm: norm_call,
}


def _parts(module: nn.Module, names: list[str]) -> list[LayerInit] | None:
    """One call per named submodule, each for its part; None when one has none."""
    calls = []
    for name in names:
        part = getattr(module, name)
        call = _PART_CALLS.get(type(part), lambda _: None)(part)
        if call is None:
            return None
        calls.append(replace(call, part=name))
    return calls


__all__ = [
    "DEFINITIONS",
    "NEEDS",
    "attention_call",
    "attention_params",
    "cell_params",
    "clone_params",
    "embedding_call",
    "embedding_params",
    "general_attention_params",
    "general_recurrent_params",
    "recurrent_call",
    "recurrent_params",
    "transformer_call",
    "transformer_layer_call",
    "transformer_params",
    "transformer_stack_call",
    "batch_norm_call",
    "batch_norm_params",
    "kaiming_call",
    "kaiming_params",
    "norm_call",
    "norm_params",
]
