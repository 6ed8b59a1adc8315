"""Identifiers and the one scheme that numbers a name until it is free.

Shared by every stage that invents names (the printer's variables, classes,
functions and constructor parameters; the style pass's new attributes), so
that they all clean and number names the same way.
"""

from __future__ import annotations

import keyword
import re
from typing import Collection, Container

#: Names every generated file may bind at its top level besides its own
#: definitions: its imports and functional style's helpers. A class or
#: function named after the model must not take one, or it would hide the
#: module the code calls (a function ``math`` breaks ``math.sqrt`` in
#: ``init_params()``; a class ``F`` breaks every ``F.relu``).
#: (The helpers are the rows of ``opspecs.helpers`` with a definition and
#: the functions of ``opspecs.layer_params``; ``tests/test_recurrent.py`` and
#: ``tests/test_layer_params.py`` check that every one is listed.)
MODULE_NAMES = frozenset(
    {"math", "torch", "nn", "F", "Tensor", "sub_params", "init_params"}
    | {"lstm", "gru", "rnn", "lstm_cell", "gru_cell", "rnn_cell", "batch_norm"}
    | {"unpack_tensor", "base64", "zlib"}
    | {"transformer_encoder_layer", "transformer_encoder"}
    | {"transformer_decoder_layer", "transformer_decoder", "transformer"}
    | {"kaiming_params", "norm_params", "batch_norm_params", "embedding_params"}
    | {"recurrent_params", "cell_params", "attention_params", "clone_params"}
    | {"transformer_params", "general_recurrent_params", "general_attention_params"}
)


#: Functional style's functions for torch's transformer layers, written only
#: for a model that holds one: DETR's own ``Transformer`` is the function
#: ``transformer``, its ``TransformerEncoderLayer``
#: ``transformer_encoder_layer``.
TRANSFORMER_HELPERS = frozenset(
    {"transformer_encoder_layer", "transformer_encoder"}
    | {"transformer_decoder_layer", "transformer_decoder", "transformer"}
    | {"transformer_params"}
)


#: Functional style's init functions for ``nn.MultiheadAttention``, written
#: only for a model that holds one: a block ``Attention`` elsewhere has its
#: init function ``attention_params``.
ATTENTION_HELPERS = frozenset({"attention_params", "general_attention_params"})


#: Functional style's loops and init functions for torch's recurrent layers
#: and cells, written only for a model that holds one: makemore's own
#: ``RNN`` and ``RNNCell`` are the functions ``rnn`` and ``rnn_cell``.
RECURRENT_HELPERS = frozenset(
    {"lstm", "gru", "rnn", "lstm_cell", "gru_cell", "rnn_cell"}
    | {"recurrent_params", "general_recurrent_params", "cell_params"}
)


#: The helpers of :data:`MODULE_NAMES` an output defines only for a model
#: that holds a layer of their family (``nnconvert.module_kinds`` says which
#: layers are whose): a model without one may name its own functions so.
FAMILY_HELPERS: dict[str, frozenset[str]] = {
    "transformer": TRANSFORMER_HELPERS,
    "attention": ATTENTION_HELPERS,
    "recurrent": RECURRENT_HELPERS,
}


def reserved_names(families: Collection[str]) -> frozenset[str]:
    """The names of :data:`MODULE_NAMES` an output may define, for a model that
    holds layers of ``families`` (keys of :data:`FAMILY_HELPERS`) and of no other."""
    unused = [
        names for family, names in FAMILY_HELPERS.items() if family not in families
    ]
    return MODULE_NAMES.difference(*unused)


def identifier(text: str) -> str:
    """``"conv-1.a"`` -> ``"conv_1_a"``: a valid, non-keyword Python identifier."""
    name = re.sub(r"\W", "_", text)
    if not name or name[0].isdigit():
        name = f"_{name}"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name = f"{name}_"
    return name


def definition_name(text: str, reserved: Container[str] = MODULE_NAMES) -> str:
    """``text`` as the name of a top-level definition: an identifier that hides nothing.

    A model's class name is data (``type(name, ...)`` takes any string):
    cleaned with :func:`identifier`, then ``math`` -> ``math_`` where it
    would hide a name of ``reserved`` (:func:`reserved_names`).
    """
    name = identifier(text)
    return f"{name}_" if name in reserved else name


def is_plain_identifier(text: str) -> bool:
    """``text`` can be written as ``self.<text>`` exactly, with no escaping."""
    return text.isidentifier() and not keyword.iskeyword(text)


def first_free(
    base: str,
    taken: Container[str],
    separator: str = "",
    *,
    first: int = 2,
    bare: bool = True,
) -> str:
    """The first of ``base``, ``base2``, ``base3`` … that ``taken`` does not hold.

    ``separator="_"`` numbers ``base_2`` …; ``first`` is the first number
    tried; ``bare=False`` skips ``base`` itself (``relu1``, ``relu2`` for a
    stem used more than once).
    """
    if bare and base not in taken:
        return base
    counter = first
    while f"{base}{separator}{counter}" in taken:
        counter += 1
    return f"{base}{separator}{counter}"


def snake_case(name: str) -> str:
    """``ConvNet`` -> ``conv_net``, ``MLPBlock`` -> ``mlp_block``.

    A digit binds to a capital after it that starts no word: ``Conv2D`` ->
    ``conv2d``, ESRGAN's ``ResidualDenseBlock_5C`` ->
    ``residual_dense_block_5c``, ``R2LTransformer`` -> ``r2l_transformer``;
    a word after it starts anew (``MV2Block`` -> ``mv2_block``).
    """
    words = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z0-9])(?=[A-Z][a-z])", "_", name)
    return identifier(words.lower())


def camel_case(name: str) -> str:
    """``down_sample`` -> ``DownSample``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))
