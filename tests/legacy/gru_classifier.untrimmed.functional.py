import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sub_params(params: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The weights of one submodule, keyed as in its own state_dict."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def gru(
    input: Tensor,
    weights: dict[str, Tensor],
    hx: Tensor | None = None,
    num_layers: int = 1,
    bias: bool = True,
    batch_first: bool = False,
    dropout: float = 0.0,
    training: bool = False,
    bidirectional: bool = False,
) -> tuple[Tensor, Tensor]:
    """``nn.GRU``: the gate equations, one time step at a time.

    ``weights`` is the layer's state_dict: ``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0`` (none without ``bias``) … per layer, ``_reverse`` for the
    second direction.
    """
    batched = input.dim() == 3
    if not batched:  # one sequence: a batch of one
        input = input.unsqueeze(1)
        hx = None if hx is None else hx.unsqueeze(1)
    elif batch_first:
        input = input.transpose(0, 1)
    directions = 2 if bidirectional else 1
    if hx is None:
        hidden_size = weights["weight_ih_l0"].shape[0] // 3
        hx = input.new_zeros(num_layers * directions, input.shape[1], hidden_size)
    h_n = []
    for layer in range(num_layers):
        if layer > 0:
            input = F.dropout(input, dropout, training)
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            key = f"l{layer}_reverse" if direction == 1 else f"l{layer}"
            w_ih, w_hh = weights[f"weight_ih_{key}"], weights[f"weight_hh_{key}"]
            b_ih, b_hh = weights.get(f"bias_ih_{key}"), weights.get(f"bias_hh_{key}")
            h = hx[k]
            steps = range(input.shape[0])
            output = [None] * len(steps)
            for t in reversed(steps) if direction == 1 else steps:
                r_x, z_x, n_x = F.linear(input[t], w_ih, b_ih).chunk(3, -1)
                r_h, z_h, n_h = F.linear(h, w_hh, b_hh).chunk(3, -1)
                r = torch.sigmoid(r_x + r_h)
                z = torch.sigmoid(z_x + z_h)
                n = torch.tanh(n_x + r * n_h)
                h = (1 - z) * n + z * h
                output[t] = h
            outputs.append(torch.stack(output))
            h_n.append(h)
        input = torch.cat(outputs, -1)
    h_n = torch.stack(h_n)
    if not batched:
        return input.squeeze(1), h_n.squeeze(1)
    return (input.transpose(0, 1) if batch_first else input), h_n


def gru_classifier(
    params: dict[str, Tensor], tokens: Tensor, *, training: bool = False
) -> Tensor:
    embedded = F.dropout(
        F.embedding(tokens, params["embedding.weight"], padding_idx=0),
        p=0.3,
        training=training,
    )
    _, hidden = gru(
        embedded,
        sub_params(params, "gru."),
        num_layers=2,
        batch_first=True,
        dropout=0.1,
        training=training,
        bidirectional=True,
    )
    # hidden: (num_layers * 2, batch, hidden_dim); the last layer's two directions
    hidden = torch.cat((hidden[-2], hidden[-1]), dim=1)
    return F.linear(
        F.dropout(hidden, p=0.3, training=training),
        params["fc.weight"],
        params["fc.bias"],
    )


def embedding_params(
    prefix: str, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None
) -> dict[str, Tensor]:
    """An `nn.Embedding` or `nn.EmbeddingBag`: normal rows, the `padding_idx` row zeroed."""
    weight = nn.init.normal_(torch.empty(num_embeddings, embedding_dim))
    if padding_idx is not None:
        weight[padding_idx] = 0
    return {f"{prefix}.weight": weight}


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


def init_params(
    vocab_size: int = 50, embed_dim: int = 16, num_classes: int = 4
) -> dict[str, Tensor]:
    """Fresh weights for `gru_classifier`, with the original `state_dict()` keys.

    Same shapes and dtypes; each layer is initialised as `torch.nn` initialises it by
    default, so after the same `torch.manual_seed`, the tensors equal those of a newly
    built `GRUClassifier`, bit for bit (nnconvert compared them).
    """
    params: dict[str, Tensor] = {}
    params |= embedding_params("embedding", vocab_size, embed_dim, padding_idx=0)
    params |= general_recurrent_params(
        "gru", embed_dim, 24, num_layers=2, bidirectional=True, gates=3
    )
    params |= kaiming_params("fc", num_classes, 48)
    return params
