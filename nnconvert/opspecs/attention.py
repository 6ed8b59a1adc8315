"""Attention: ``nn.MultiheadAttention`` <-> ``F.multi_head_attention_forward``.

The layer's ``forward`` is that one call (its non-fast path) over the layer's
tensors, with what the caller passes -- ``key_padding_mask``,
``need_weights``, ``attn_mask``, ``average_attn_weights``, ``is_causal`` --
passed on, and with ``batch_first=True`` the batched inputs transposed to
sequence-first before it and the output back after it::

    query = x.transpose(1, 0)
    attn = F.multi_head_attention_forward(
        query, query, query, 16, 4,
        params["attn.in_proj_weight"], params["attn.in_proj_bias"],
        None, None, False, 0.0,
        params["attn.out_proj.weight"], params["attn.out_proj.bias"],
        need_weights=False,
    )
    x = attn[0].transpose(1, 0)

Both return ``(attn_output, attn_weights or None)``. In eval mode without
grad the layer may take a fused kernel (``torch._native_multi_head_attention``)
for self-attention instead; it computes the same up to rounding.

``out_proj`` is a submodule (``NonDynamicallyQuantizableLinear``, an
``nn.Linear`` built before the layer's own tensors are initialised): its
tensors are the row's ``out_proj.weight``/``out_proj.bias``, and they are
drawn first (:func:`_init`).
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .inits import empty, kaiming_uniform_and_bias, zeros
from .layer_params import attention_call
from .spec import BATCH_FIRST, TRAINING, Example, OpSpec, TensorInit


def _unless_embed_dim(attribute: str):
    def read(module: nn.Module):
        value = getattr(module, attribute)
        return None if value == module.embed_dim else value

    return read


def _training(module: nn.Module):
    """``training`` only switches attention dropout off: passed when there is some."""
    return TRAINING if module.dropout > 0 else True


def _none(module: nn.Module) -> None:
    return None


def _from_weights(call, shapes, prologue) -> dict:
    """``kdim``/``vdim`` are the widths of ``k_proj_weight``/``v_proj_weight``.

    ``embed_dim``, ``num_heads``, ``dropout`` and ``add_zero_attn`` are in the
    call; transposes before it are ``batch_first``.
    """
    ctor = {
        "bias": shapes["in_proj_bias"] is not None,
        "add_bias_kv": shapes["bias_k"] is not None,
        "batch_first": bool(prologue),
    }
    if shapes["q_proj_weight"] is not None:
        ctor["kdim"] = shapes["k_proj_weight"][1]
        ctor["vdim"] = shapes["v_proj_weight"][1]
    return ctor


def _init(module: nn.Module) -> list[TensorInit]:
    """``out_proj`` draws as ``nn.Linear`` when built, then ``_reset_parameters``.

    That is ``xavier_uniform_`` of the input projection(s), zeros for both
    biases (``out_proj.bias`` drew before it was zeroed), ``xavier_normal_``
    for ``bias_k``/``bias_v``.
    """
    inits = [
        TensorInit(f"out_proj.{init.attribute}", init.expression, init.then)
        for init in kaiming_uniform_and_bias(module.out_proj)
    ]
    if module.in_proj_bias is not None:
        zero = "nn.init.constant_({}, 0.0)"
        inits[1] = TensorInit("out_proj.bias", inits[1].expression, (zero,))
    if module._qkv_same_embed_dim:
        projections = ["in_proj_weight"]
    else:
        projections = ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
    for name in projections:
        tensor = getattr(module, name)
        inits.append(TensorInit(name, f"nn.init.xavier_uniform_({empty(tensor)})"))
    if module.in_proj_bias is not None:
        inits.append(TensorInit("in_proj_bias", zeros(module.in_proj_bias)))
    for name in ("bias_k", "bias_v"):
        tensor = getattr(module, name)
        if tensor is not None:
            inits.append(TensorInit(name, f"nn.init.xavier_normal_({empty(tensor)})"))
    return inits


SPECS = (
    OpSpec(
        nn.MultiheadAttention,
        F.multi_head_attention_forward,
        name="attn",
        inputs=3,
        call_positional=3,  # the inputs; the rest by name, as no one reads 13 in a row
        ctor_positional=2,
        weights=(
            "in_proj_weight",
            "in_proj_bias",
            "bias_k",
            "bias_v",
            "out_proj_weight",
            "out_proj_bias",
            "q_proj_weight",
            "k_proj_weight",
            "v_proj_weight",
        ),
        attributes={
            "embed_dim_to_check": "embed_dim",
            "dropout_p": "dropout",
            "out_proj_weight": "out_proj.weight",
            "out_proj_bias": "out_proj.bias",
            "training": _training,
            "use_separate_proj_weight": lambda m: not m._qkv_same_embed_dim,
            "static_k": _none,
            "static_v": _none,
        },
        ctor_attributes={
            "bias": lambda m: m.in_proj_bias is not None,
            "add_bias_kv": lambda m: m.bias_k is not None,
            "kdim": _unless_embed_dim("kdim"),
            "vdim": _unless_embed_dim("vdim"),
        },
        ctor_from_weights=_from_weights,
        init=_init,
        init_call=attention_call,
        forward_signature=(
            "query, key, value, key_padding_mask=None, need_weights=True, "
            "attn_mask=None, average_attn_weights=True, is_causal=False"
        ),
        prologues=(BATCH_FIRST,),
        examples=(
            Example("nn.MultiheadAttention(8, 2, batch_first=True)", ((2, 5, 8),) * 3),
            Example("nn.MultiheadAttention(8, 4, bias=False)", ((5, 2, 8),) * 3),
            Example(
                "nn.MultiheadAttention(8, 2, add_bias_kv=True, kdim=6, vdim=4)",
                ((5, 2, 8), (5, 2, 6), (5, 2, 4)),
            ),
            Example(
                "nn.MultiheadAttention(8, 2, dropout=0.25, add_zero_attn=True)",
                ((5, 2, 8), (3, 2, 8), (3, 2, 8)),
            ),
            Example(
                "nn.MultiheadAttention(8, 4, batch_first=True)",
                ((2, 5, 8), (2, 3, 8), (2, 3, 8)),
                keywords=(("need_weights", False), ("attn_mask", (5, 3))),
            ),
            Example(
                "nn.MultiheadAttention(8, 4, kdim=6, vdim=6)",
                ((5, 2, 8), (3, 2, 6), (3, 2, 6), (2, 3)),
                keywords=(("average_attn_weights", False),),
            ),
        ),
    ),
)
