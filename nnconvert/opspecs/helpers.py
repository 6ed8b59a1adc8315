"""Helper rows: the functions generated code may call besides ``torch`` and ``F``.

A layer's ``forward`` sometimes does more than one functional call: BatchNorm
counts batches (``if training: params[K] += 1``) and, with ``momentum=None``,
passes ``1.0 / float(params[K]) if training else 0.0``; functional style
hands a block its slice of the weights (``sub_params(params, "layer1.0.")``).
Each such function is one :class:`Helper` row, and every pass and printer
that meets one reads the row instead of naming the function:

* **how it prints** -- :attr:`Helper.form`, source text over the function's
  parameters (``"if {training}:\\n    {counter} += 1"``), a statement or an
  expression; a row with a :attr:`Helper.definition` prints it once in a
  file that calls it (``sub_params``; the recurrent layers' loops
  ``lstm``, ``gru``, ``rnn`` of :mod:`.recurrent`);
* **whether it is impure** -- :attr:`Helper.impure`: a call whose result
  nobody reads still runs (dead-code removal and inlining keep it);
* **how functional input recognises it** -- :attr:`Helper.slots`: the same
  form read as a pattern over source, each parameter a slot that accepts
  what the predicate allows (``params[K]``, a name); the source rewrite
  turns a match into a call of the function, which fx records as one node;
* **whether lift may read it back** -- :attr:`Helper.lift`: a state update
  the layer makes before its call (:attr:`LiftAs.UPDATE`, ``OpSpec.updates``)
  or an argument it computes (:attr:`LiftAs.ARGUMENT`, ``spec.Computed``);
* **whether it takes a layer's weights as one dict** --
  :attr:`Helper.weight_dict`: the layer's functional form of an op-spec row
  with a ``spec.DictForm`` (``batch_norm(sub_params(params, "bn1."), x,
  training=training)``), its first argument printed as the layer's slice.

One spelling serves printing and recognising, so what ``--to functional``
writes is exactly what functional input reads back.
"""

from __future__ import annotations

import ast
import copy
import enum
import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import branches
from ..tensor_values import unpack_tensor
from . import recurrent, recurrent_dict, transformer_dict
from . import transformer as transformers
from .recurrent import (  # noqa: F401 (fx.wrap patches these globals)
    gru,
    gru_cell,
    lstm,
    lstm_cell,
    rnn,
    rnn_cell,
)
from .recurrent_dict import gru as dict_gru  # noqa: F401 (fx.wrap patches these)
from .recurrent_dict import gru_cell as dict_gru_cell  # noqa: F401
from .recurrent_dict import lstm as dict_lstm  # noqa: F401
from .recurrent_dict import lstm_cell as dict_lstm_cell  # noqa: F401
from .recurrent_dict import rnn as dict_rnn  # noqa: F401
from .recurrent_dict import rnn_cell as dict_rnn_cell  # noqa: F401
from .slices import sub_params
from .trimmed import trimmed_source
from .transformer import (  # noqa: F401 (fx.wrap patches these globals)
    transformer,
    transformer_decoder,
    transformer_decoder_layer,
    transformer_encoder,
    transformer_encoder_layer,
)
from .transformer_dict import (  # noqa: F401 (fx.wrap patches these)
    transformer as dict_transformer,
    transformer_decoder as dict_transformer_decoder,
    transformer_decoder_layer as dict_transformer_decoder_layer,
    transformer_encoder as dict_transformer_encoder,
    transformer_encoder_layer as dict_transformer_encoder_layer,
)

#: A slot's predicate: does this source expression fit, in a function whose
#: weight dict is called by the given name?
SlotPredicate = Callable[[ast.expr, str], bool]


class LiftAs(enum.Enum):
    """What the lifting pass makes of a helper call next to a layer's call."""

    #: A state update the layer makes before its call (``OpSpec.updates``).
    UPDATE = "update"
    #: A call argument the layer computes when it runs (``spec.Computed``).
    ARGUMENT = "argument"


@dataclass(frozen=True)
class Helper:
    """One function that generated code may call (see the module docstring)."""

    function: Callable
    #: Source text over the function's parameters in braces (``str.format``:
    #: the form's own braces doubled); None: a plain call ``name(a, b)``.
    form: str | None = None
    impure: bool = False
    #: Parameter -> predicate: the form is also a source pattern (functional input).
    slots: Mapping[str, SlotPredicate] | None = None
    lift: LiftAs | None = None
    #: Source the output defines the function with, before its first use
    #: (read once, when this module is imported); None: nothing to define.
    definition: str | None = None
    #: Names the definition reads from the file's imports (``torch``, ``F``, ``Tensor``).
    imports: tuple[str, ...] = ()
    #: Functional input recognises the function by its definition: a file
    #: defining it exactly so (or trimmed so, see :attr:`trimmed`) calls the
    #: row's function, which fx records as one call (``lstm``; the
    #: layer-lifting pass rebuilds ``nn.LSTM`` from it).
    recognised_by_definition: bool = False
    #: Functions of other rows the definition calls: defined too, before it.
    needs: tuple[Callable, ...] = ()
    #: Its parameter ``weights`` is one layer's weights as a dict keyed as in
    #: the layer's own state_dict (``spec.DictForm``): printed as that layer's
    #: slice of the weight dict, ``sub_params(params, "bn1.")``.
    weight_dict: bool = False
    #: The name this module holds the function by, where two rows print
    #: under one name (``lstm`` over a list of weights, and ``dict_lstm``
    #: over a dict); None: its own name.
    attribute: str | None = None
    #: The definition is trimmed to the options a file's calls pass
    #: (:mod:`.trimmed`), always keeping these parameters; None: printed whole.
    trimmed: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        """The name the output defines and calls it by."""
        return self.function.__name__

    @property
    def global_name(self) -> str:
        """The name this module holds it by: what rewritten functional input calls."""
        return self.attribute or self.name

    @functools.cached_property
    def parameters(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.function).parameters)

    def definition_for(self, passed: Iterable[str]) -> str | None:
        """The definition a file prints whose calls pass the parameters ``passed``."""
        if self.trimmed is None or self.definition is None:
            return self.definition
        return trimmed_source(self.function, passed, self.trimmed)

    @property
    def _text(self) -> str:
        """The form, or a plain call ``name({a}, {b})``."""
        if self.form is not None:
            return self.form
        return f"{self.name}({', '.join('{%s}' % p for p in self.parameters)})"

    @functools.cached_property
    def _form_tree(self) -> ast.AST:
        """The form parsed with each parameter as a plain name: one statement or expression."""
        text = self._text.format(**{p: p for p in self.parameters})
        (statement,) = ast.parse(text).body
        return statement.value if isinstance(statement, ast.Expr) else statement

    @property
    def is_statement(self) -> bool:
        """Printed as lines of their own (``if training: ...``), never inside an expression."""
        return isinstance(self._form_tree, ast.stmt)

    @property
    def form_kind(self) -> type[ast.AST]:
        """The AST class of the printed form (``ast.IfExp``): for operator precedence."""
        return type(self._form_tree)

    def print(self, arguments: list[str]) -> list[str]:
        """The form with printed arguments, one string per line."""
        return self._text.format(**dict(zip(self.parameters, arguments))).split("\n")

    def match(self, node: ast.AST, params: str) -> list[ast.expr] | None:
        """The call's arguments when ``node`` is the form with every slot filled, else None.

        ``params`` is the name of the enclosing function's weight dict.
        Constants match exactly, except that a float in the form also
        matches the int of the same value (``1.0`` matches ``1``); never a bool.
        """
        if self.slots is None or type(node) is not self.form_kind:
            return None
        filled: dict[str, ast.expr] = {}
        if not _fits(self._form_tree, node, self.slots, params, filled):
            return None
        return [_loaded(filled[p]) for p in self.parameters]


def _fits(
    pattern: object,
    node: object,
    slots: Mapping[str, SlotPredicate],
    params: str,
    filled: dict[str, ast.expr],
) -> bool:
    if isinstance(pattern, ast.Name) and pattern.id in slots:
        if not isinstance(node, ast.expr) or not slots[pattern.id](node, params):
            return False
        if pattern.id in filled:
            return ast.dump(filled[pattern.id]) == ast.dump(node)
        filled[pattern.id] = node
        return True
    if isinstance(pattern, ast.Constant):
        return isinstance(node, ast.Constant) and _same_constant(
            pattern.value, node.value
        )
    if isinstance(pattern, list):
        return (
            isinstance(node, list)
            and len(pattern) == len(node)
            and all(_fits(p, n, slots, params, filled) for p, n in zip(pattern, node))
        )
    if isinstance(pattern, ast.expr_context):
        return True  # a slot read or written is the same expression
    if isinstance(pattern, ast.AST):
        return type(node) is type(pattern) and all(
            _fits(value, getattr(node, name, None), slots, params, filled)
            for name, value in ast.iter_fields(pattern)
        )
    return pattern == node


def _same_constant(pattern: object, value: object) -> bool:
    if type(value) is bool or type(pattern) is bool:
        return value is pattern
    if type(pattern) is float and type(value) is int:
        return value == pattern
    return type(value) is type(pattern) and value == pattern


def _loaded(node: ast.expr) -> ast.expr:
    """A copy of ``node`` read, not assigned (``params[K] += 1``'s target as an argument)."""
    node = copy.deepcopy(node)
    for inner in ast.walk(node):
        if hasattr(inner, "ctx"):
            inner.ctx = ast.Load()
    return node


def weight(node: ast.expr, params: str) -> bool:
    """Slot ``params[K]``: one entry of the function's weight dict."""
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == params
    )


def plain_name(node: ast.expr, params: str) -> bool:
    """Slot ``training``: a plain name (the function's flag)."""
    return isinstance(node, ast.Name)


# -- the functions --------------------------------------------------------------


def count_batch(counter: Tensor, training: bool) -> None:
    """``if training: counter += 1`` -- how BatchNorm advances ``num_batches_tracked``.

    A statement, not an expression: the printer writes it as that ``if``.
    """
    if training:
        counter.add_(1)


def cumulative_momentum(counter: Tensor, training: bool) -> float:
    """``1.0 / float(counter) if training else 0.0`` -- BatchNorm's ``momentum=None``.

    In train mode ``forward`` averages the statistics over every batch so far:
    the momentum is one over the counter that :func:`count_batch` just
    advanced. In eval mode the momentum is unused, and ``forward`` passes 0.0
    (the counter may still be 0). The printer writes it as that expression.
    """
    return 1.0 / float(counter) if training else 0.0


def batch_norm(
    weights: dict[str, Tensor],
    input: Tensor,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-05,
) -> Tensor:
    """``nn.BatchNorm*d`` over its state_dict: train mode counts the batch first."""
    if training and "num_batches_tracked" in weights:
        weights["num_batches_tracked"] += 1
    if momentum is None:  # the mean over every batch counted so far
        momentum = 1.0 / float(weights["num_batches_tracked"]) if training else 0.0
    stats = weights.get("running_mean"), weights.get("running_var")
    affine = weights.get("weight"), weights.get("bias")
    return F.batch_norm(input, *stats, *affine, training, momentum, eps)


# -- the rows -------------------------------------------------------------------

COUNT_BATCH = Helper(
    count_batch,
    form="if {training}:\n    {counter} += 1",
    impure=True,
    slots={"counter": weight, "training": plain_name},
    lift=LiftAs.UPDATE,
)
CUMULATIVE_MOMENTUM = Helper(
    cumulative_momentum,
    form="1.0 / float({counter}) if {training} else 0.0",
    slots={"counter": weight, "training": plain_name},
    lift=LiftAs.ARGUMENT,
)
#: Functional input recognises a block's slice by the weights it returns
#: (``FunctionalModel._prefix_of``), not by source: no slots.
SUB_PARAMS = Helper(
    sub_params, definition=inspect.getsource(sub_params), imports=("Tensor",)
)
#: BatchNorm's functional form over its weights as one dict (``norm.py``'s
#: rows' ``DictForm``): one line a call instead of the counting ``if`` and a
#: call over four keys; functional input recognises it by its definition,
#: trimmed to the options the file's calls pass (``momentum``, ``eps``).
BATCH_NORM = Helper(
    batch_norm,
    impure=True,
    definition=inspect.getsource(batch_norm),
    imports=("F", "Tensor"),
    recognised_by_definition=True,
    weight_dict=True,
    trimmed=("training",),
)


def _imports(function: Callable) -> tuple[str, ...]:
    """What a layer function's definition reads from the file's imports.

    The transformer functions' ``activation`` is annotated with ``Callable``,
    which Python evaluates when the file defines them.
    """
    if function in transformers.FUNCTIONS:
        return ("torch", "F", "Tensor", "Callable")
    return ("torch", "F", "Tensor")


#: ``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` and the ``nn.Transformer*`` layers in
#: functional style: plain calls of functions the file defines (their op-spec
#: rows are in :mod:`.recurrent` and :mod:`.transformer`; table order puts a
#: function after the ones it calls).
RECURRENT = tuple(
    Helper(
        function,
        definition=inspect.getsource(function),
        imports=_imports(function),
        recognised_by_definition=True,
        needs=transformers.NEEDS.get(function, ()),
        trimmed=transformers.KEPT if function in transformers.FUNCTIONS else None,
    )
    for function in recurrent.FUNCTIONS + transformers.FUNCTIONS
)

#: The recurrent layers' and cells' functions over their weights as one dict
#: (their rows' ``DictForm``): printed as ``lstm``, held here as
#: ``dict_lstm`` (``dict_lstm_cell`` ...), each file's definition trimmed to
#: the options its calls pass.
RECURRENT_DICTS = tuple(
    Helper(
        function,
        definition=inspect.getsource(function),
        imports=("torch", "F", "Tensor"),
        recognised_by_definition=True,
        weight_dict=True,
        attribute=f"dict_{function.__name__}",
        trimmed=recurrent_dict.KEPT,
    )
    for function in recurrent_dict.FUNCTIONS
)

#: The transformer layers' functions over their weights as one dict (their
#: rows' ``DictForm``): printed as ``transformer_encoder``, held here as
#: ``dict_transformer_encoder``, each file's definition trimmed to the
#: options its calls pass, as the list forms' are.
TRANSFORMER_DICTS = tuple(
    Helper(
        function,
        definition=inspect.getsource(function),
        imports=("torch", "F", "Tensor", "Callable"),
        recognised_by_definition=True,
        needs=transformer_dict.NEEDS.get(function, ()) + (sub_params,),
        weight_dict=True,
        attribute=f"dict_{function.__name__}",
        trimmed=transformers.KEPT,
    )
    for function in transformer_dict.FUNCTIONS
)

#: Where two traces join (:mod:`nnconvert.branches`): an expression where
#: neither side computes anything of its own (``0.1 if self.training else 0.0``);
#: otherwise the printer writes the ``if``/``else`` around each side's lines.
CHOOSE = Helper(branches.choose, form="{if_true} if {condition} else {if_false}")
#: An input traced only as None refuses any other value.
EXPECT_NONE = Helper(
    branches.expect_none,
    form="if {value} is not None:\n    raise ValueError({message})",
    impure=True,
)
#: A tensor no state_dict restores, too large for a literal: its bytes
#: (:mod:`nnconvert.tensor_values`).
UNPACK_TENSOR = Helper(
    unpack_tensor,
    definition=inspect.getsource(unpack_tensor),
    imports=("base64", "torch", "Tensor", "zlib"),
    recognised_by_definition=True,
)


def built_constant(value: Tensor) -> Tensor:
    """A functional file's module-level constant, read by its model's function.

    The source reader sends each read of a ``NAME = function(...)``
    constant here (:mod:`nnconvert.tensor_builds`); while tracing, the
    tracer records it as one node, the constant's build, so the file's
    function and constant print again as written. Otherwise ``value``.
    """
    return value


HELPERS: tuple[Helper, ...] = (
    COUNT_BATCH,
    CUMULATIVE_MOMENTUM,
    SUB_PARAMS,
    BATCH_NORM,
    CHOOSE,
    EXPECT_NONE,
    *RECURRENT,
    *RECURRENT_DICTS,
    *TRANSFORMER_DICTS,
    UNPACK_TENSOR,
)

_BY_FUNCTION = {helper.function: helper for helper in HELPERS}


def earlier_definitions() -> dict[str, str]:
    """Definitions earlier versions printed (never imported): their text -> the name this module holds the function by.

    :mod:`.earlier_recurrent_dict` (the dict forms, held as ``dict_lstm``
    ...), :mod:`.earlier_transformer` and :mod:`.earlier_helpers` (held by
    their own names).
    """
    records = {
        "earlier_recurrent_dict.py": "dict_{}",
        "earlier_transformer.py": "{}",
        "earlier_helpers.py": "{}",
    }
    found = {}
    for record, held_as in records.items():
        tree = ast.parse(Path(__file__).with_name(record).read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                found[ast.dump(node)] = held_as.format(node.name)
    return found


def helper_for(target: object) -> Helper | None:
    """The row of a call target, or None for anything that is not a helper."""
    try:
        return _BY_FUNCTION.get(target)  # type: ignore[arg-type]
    except TypeError:  # unhashable target
        return None


def lifted_as(kind: LiftAs) -> frozenset[Callable]:
    """The helper functions the lifting pass absorbs into a layer as ``kind``."""
    return frozenset(h.function for h in HELPERS if h.lift is kind)


# Rewritten source calls the recognised helpers through this module; fx keeps
# each call one node instead of tracing into it.
for _helper in HELPERS:
    if _helper.slots is not None or _helper.recognised_by_definition:
        torch.fx.wrap(_helper.global_name)
