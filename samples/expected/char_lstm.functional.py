import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def lstm(
    input: Tensor,
    weights: dict[str, Tensor],
    hx: tuple[Tensor, Tensor] | None = None,
    num_layers: int = 1,
    batch_first: bool = False,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """``nn.LSTM``: the gate equations, one time step at a time.

    ``weights`` is the layer's state_dict: ``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0``, ``bias_hh_l0`` … per layer (``_reverse`` for a second
    direction).
    """

    def run(x: Tensor, key: str, h: Tensor, c: Tensor) -> tuple[Tensor, ...]:
        w_ih, w_hh = weights[f"weight_ih_{key}"], weights[f"weight_hh_{key}"]
        b_ih, b_hh = weights.get(f"bias_ih_{key}"), weights.get(f"bias_hh_{key}")
        output = []
        for x_t in x:
            gates = F.linear(x_t, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
            i, f, g, o = gates.chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            output.append(h)
        return torch.stack(output), h, c

    if batch_first:  # (batch, time, feature) -> (time, batch, feature)
        input = input.movedim(-2, 0)
    if hx is None:
        hidden_size = weights["weight_ih_l0"].shape[0] // 4
        shape = (num_layers, *input.shape[1:-1])
        hx = (
            input.new_zeros(*shape, hidden_size),
            input.new_zeros(*shape, hidden_size),
        )
    initial = zip(hx[0], hx[1])  # (h, c) of each layer and direction, in order
    h_n, c_n = [], []
    for layer in range(num_layers):
        if training and dropout and layer > 0:
            input = F.dropout(input, dropout, training)
        output, h, c = run(input, f"l{layer}", *next(initial))
        h_n.append(h)
        c_n.append(c)
        input = output
    if batch_first:
        input = input.movedim(0, -2)
    return input, (torch.stack(h_n), torch.stack(c_n))


def char_lstm(
    params: dict[str, Tensor], x: Tensor, hidden=None, *, training: bool = False
):
    # x: (batch, seq_len) character indices
    emb = F.dropout(F.embedding(x, params["embed.weight"]), p=0.2, training=training)
    output, hidden = lstm(
        emb,
        sub_params(params, "lstm."),
        hx=hidden,
        num_layers=2,
        batch_first=True,
        dropout=0.2,
        training=training,
    )
    output = F.dropout(output, p=0.2, training=training)
    # logits for the next character at every position
    logits = F.linear(output, params["decoder.weight"], params["decoder.bias"])
    return logits, hidden


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


def init_params(vocab_size: int = 40, embed_size: int = 16) -> dict[str, Tensor]:
    """Fresh weights for `char_lstm`, equal to a new `CharLSTM`'s under the same seed."""
    params: dict[str, Tensor] = {}
    params |= embedding_params("embed", vocab_size, embed_size)
    params |= recurrent_params("lstm", embed_size, 32, num_layers=2, gates=4)
    params |= kaiming_params("decoder", vocab_size, 32)
    return params
