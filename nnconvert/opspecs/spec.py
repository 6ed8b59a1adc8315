"""The op-spec row: what one ``nn`` layer is as a functional call, and back.

A row is data plus a few optional hooks. It answers six questions that the
passes and the printer ask:

* ``call_arguments(module)`` -- the functional call an instance stands for
  (``nn.Conv2d(1, 6, 5)`` is ``F.conv2d(x, weight, bias)``), with the module's
  tensors as :class:`WeightRef` and its ``training`` flag as :data:`TRAINING`;
* ``constructor_arguments(module)`` -- the constructor call a person would write
  (positional where the PyTorch docs use them, non-default keywords only);
* ``module_from_call(arguments)`` -- the parameter-free layer a functional call
  stands for (``F.max_pool2d(x, 2)`` is ``nn.MaxPool2d(2)``), or None when no
  instance reproduces the call exactly;
* ``layer_from_call(arguments, shapes)`` -- the layer with tensors a call over
  weights stands for (``F.conv2d(x, w, b, stride=2)`` with a ``(16, 3, 3, 3)``
  ``w`` is ``nn.Conv2d(3, 16, 3, stride=2)``), from the row's
  ``ctor_from_weights``, or None;
* ``aliases`` -- other spellings of the same call (``torch.relu``, ``x.relu()``);
* ``init(module)`` -- how the layer's constructor creates each of its tensors,
  as source text making the same random draws in the same order
  (``nn.init.kaiming_uniform_(torch.empty(4, 8), a=math.sqrt(5))``), for the
  ``init_params()`` of functional outputs.

Every answer is verified by construction: a rebuilt module must reproduce the
original's functional call, so a wrong row fails loudly instead of emitting
wrong code.
"""

from __future__ import annotations

import ast
import functools
import inspect
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..errors import ConversionError
from ..torch_names import qualified_name

REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Param:
    """One parameter of a functional signature."""

    name: str
    default: Any = REQUIRED


@dataclass(frozen=True)
class WeightRef:
    """A tensor attribute (parameter or buffer) of the module, by attribute name."""

    attribute: str


class _Training:
    """Marker for "the module's ``training`` flag" inside call arguments (a singleton)."""

    def __repr__(self) -> str:
        return "TRAINING"

    def __copy__(self) -> "_Training":
        return self

    def __deepcopy__(self, memo: dict) -> "_Training":
        return self

    def __reduce__(self) -> str:
        return "TRAINING"


TRAINING = _Training()

ArgumentSource = str | Callable[[nn.Module], Any]
Arguments = dict[str, Any]
#: Function parameter -> shape of the tensor a call passes for it (None: none).
Shapes = Mapping[str, tuple[int, ...] | None]
#: ``ctor_from_weights(call arguments, shapes, prologue)`` -> constructor arguments.
WeightsHook = Callable[[Arguments, Shapes, list], Arguments | None]


@functools.lru_cache(maxsize=None)  # rows ask for their signature on every call
def parse_signature(text: str) -> tuple[Param, ...]:
    """Parse ``"input, weight, bias=None"`` into parameters (for C builtins without one)."""
    function = ast.parse(f"def f({text}): pass").body[0]
    assert isinstance(function, ast.FunctionDef)
    args = function.args.args + function.args.kwonlyargs
    defaults = [REQUIRED] * (len(function.args.args) - len(function.args.defaults))
    defaults += [ast.literal_eval(d) for d in function.args.defaults]
    defaults += [
        REQUIRED if d is None else ast.literal_eval(d)
        for d in function.args.kw_defaults
    ]
    return tuple(Param(a.arg, d) for a, d in zip(args, defaults))


def bind(params: tuple[Param, ...], args: tuple, kwargs: Mapping) -> dict[str, Any]:
    """Map call arguments to parameter names, as Python would (no defaults filled in).

    Raises TypeError for too many positional arguments, an unknown keyword
    or one given twice.
    """
    if len(args) > len(params):
        raise TypeError(f"too many positional arguments ({len(args)}) for {params}")
    bound = {p.name: a for p, a in zip(params, args)}
    names = {p.name for p in params}
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"unexpected argument {key!r}")
        if key in bound:
            raise TypeError(f"multiple values for argument {key!r}")
        bound[key] = value
    return bound


@functools.lru_cache(maxsize=None)  # asked per call and per layer: inspect is slow
def signature_of(function: Callable) -> tuple[Param, ...]:
    """The parameters of a Python function, for rows that do not spell them out."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        raise ValueError(f"{function!r} has no signature; give one") from None
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if any(p.kind in kinds for p in parameters):
        raise ValueError(f"{function!r} takes *args/**kwargs; give its signature")
    return tuple(Param(p.name, p.default) for p in parameters)


def _plain_key(value: Any) -> Any:
    """``value`` as a hashable key when it is plain data (numbers, strings, tuples), else None."""
    if type(value) in (type(None), bool, int, float, str):
        return (type(value), value)
    if type(value) in (tuple, list):
        items = tuple(_plain_key(v) for v in value)
        return None if None in items else (type(value), items)
    if type(value) is dict:
        items = tuple((k, _plain_key(v)) for k, v in value.items())
        return None if any(v is None for _, v in items) else (dict, items)
    return None


@functools.lru_cache(maxsize=None)  # asked per layer instance: inspect is slow
def _constructor_parameters(cls: type) -> tuple[Param, ...]:
    """``cls.__init__``'s parameters a person sets (no device/dtype/private ones)."""
    signature = inspect.signature(cls.__init__)
    skip = {"self", "device", "dtype"}
    return tuple(
        Param(p.name, p.default)
        for p in signature.parameters.values()
        if p.name not in skip
        and not p.name.startswith("_")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


def collapse(value: Any) -> Any:
    """``(2, 2)`` -> ``2``: PyTorch accepts one int wherever it expands a tuple."""
    if isinstance(value, (tuple, list)) and value and all(v == value[0] for v in value):
        if isinstance(value[0], (int, float)) and not isinstance(value[0], bool):
            return value[0]
    return value


def same_value(a: Any, b: Any) -> bool:
    """Equality that never asks a tensor for its truth value; recurses into containers."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, nn.Module) and isinstance(b, nn.Module):
        return _same_layer(a, b)
    if type(a) is not type(b) and not (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
    ):
        if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
            return len(a) == len(b) and all(map(same_value, a, b))
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _same_layer(a: nn.Module, b: nn.Module) -> bool:
    """Two table layers built alike (a constructor argument that is a layer: ``nn.TransformerEncoder``'s)."""
    from . import spec_for_module  # the table imports this module

    spec = spec_for_module(a)
    if a is b or spec is None or type(a) is not type(b):
        return a is b
    return same_value(spec.behaviour(a), spec.behaviour(b)) and same_value(
        spec.constructor_arguments(a), spec.constructor_arguments(b)
    )


def identity(input: torch.Tensor) -> torch.Tensor:
    """``nn.Identity``'s functional form: the input itself (the style passes drop the call)."""
    return input


@dataclass(frozen=True)
class Prologue:
    """A call a layer's ``forward`` makes on its input before its functional call.

    One description read in both directions: the style pass writes the call
    out (``passes.prologues.spell_prologue``) and the lifting pass reads it
    back into the layer (``passes.prologues.read_prologue``), so neither
    names a prologue. Its calls are the first part of
    :meth:`OpSpec.behaviour`, and ``ctor_from_weights`` sees them in its
    ``prologue``.

    function
        The call: ``F.pad``, or a ``torch.Tensor`` method, written as a method
        call (``x.transpose(1, 0)``).
    arguments
        The arguments a layer instance passes, or None when it makes no such
        call (``padding_mode="zeros"`` pads inside the convolution).
    signature
        Its parameters after the tensor, as source text, for builtins that
        have no Python signature; taken from the function otherwise.
    every_input
        Applied to every input (once per distinct one: ``query is key``
        stays true), not only the first.
    dims
        Applied only when the first input has this many dimensions
        (``batch_first`` transposes batched, 3-D inputs only).
    output_too
        Applied to the output after the call as well (its first element
        when the call returns a tuple): the call is its own inverse.
    """

    function: Callable
    arguments: Callable[[nn.Module], Arguments | None]
    signature: str | None = None
    every_input: bool = False
    dims: int | None = None
    output_too: bool = False

    @property
    def parameters(self) -> tuple[Param, ...]:
        """The parameters after the tensor the call applies to."""
        if self.signature is not None:
            return parse_signature(self.signature)
        return signature_of(self.function)[1:]

    @property
    def method(self) -> str | None:
        """``"transpose"`` when the function is a Tensor method, written ``x.transpose(...)``."""
        name = getattr(self.function, "__name__", "")
        return name if getattr(torch.Tensor, name, None) is self.function else None


def _swap_if_batch_first(module: nn.Module) -> Arguments | None:
    return {"dim0": 1, "dim1": 0} if module.batch_first else None


#: ``x.transpose(1, 0)``: what a ``batch_first`` layer does to each batched
#: input before its call, and to its output after it (its own inverse), as
#: ``nn.MultiheadAttention`` does.
BATCH_FIRST = Prologue(
    torch.Tensor.transpose,
    _swap_if_batch_first,
    signature="dim0, dim1",
    every_input=True,
    dims=3,
    output_too=True,
)


@dataclass(frozen=True)
class Computed:
    """A call argument computed when the layer runs: ``function(*arguments)``.

    ``arguments`` are :class:`WeightRef`/:data:`TRAINING` values, as in
    ``updates`` (BatchNorm's ``momentum=None`` passes
    ``cumulative_momentum(num_batches_tracked, training)``). The style pass
    makes it a call node; the lifting pass reads such a node back when the
    function's helper row allows it (``helpers.LiftAs.ARGUMENT``).
    """

    function: Callable
    arguments: tuple


@dataclass(frozen=True)
class DictForm:
    """A layer's functional form over its weights as one dict, keyed as in its state_dict.

    ``function`` -- a helper row the output defines (``helpers.batch_norm``)
    -- does what the row's call does together with its state updates:
    ``batch_norm(sub_params(params, "bn1."), x, training=training)`` for
    ``count_batch`` and ``F.batch_norm`` over four keys. It takes the
    layer's ``state_dict()`` as its parameter ``weights`` (first, or where
    the row's call takes its list of weights: ``lstm(x, weights)``), the
    inputs, and the canonical call's other configuring arguments, with the
    same names and defaults. The same data reads a call back into the row's
    canonical form (``passes.weight_dicts``).

    updates
        ``(function, attribute)``: the helper calls ``function(weights[attribute],
        training)`` itself when the dict holds ``attribute`` (BatchNorm's
        ``count_batch`` of ``num_batches_tracked``), as the row's ``updates`` do.
    computed
        Argument -> the :class:`Computed` the helper computes itself when the
        call passes None (``momentum=None``: the cumulative average).
    flag
        The call's argument that is the training flag those use.
    list_order
        For a row whose call takes its weights as one list (the recurrent
        layers' ``weights``): the sort key that puts the dict's keys in the
        list's order (``weight_ih_l0``, ``weight_hh_l0``, ... as
        ``_flat_weights_names``).
    fewest_calls
        A file writes the dict form when it makes at least this many calls
        of ``function``: below, the helper's definition costs more lines than
        the calls save (one BatchNorm). A count, not a comparison of the two
        printed files: reading an output back makes as many calls, so it
        chooses the same form again (SPEC invariant 5).
    """

    function: Callable
    updates: tuple[tuple[Callable, str], ...] = ()
    computed: Mapping[str, Computed] = field(default_factory=dict)
    flag: str = "training"
    list_order: Callable[[str], Any] | None = None
    fewest_calls: int = 1


@dataclass(frozen=True)
class TensorInit:
    """How a layer's constructor creates one of its tensors, as source text.

    ``expression`` evaluates to the tensor as the constructor leaves it and
    makes the same random draws (``nn.init.normal_(torch.empty(10, 4))``); it
    may use ``torch``, ``nn`` and ``math``. ``then`` are statements that finish
    it, with ``{}`` standing for the tensor (``"{}[0] = 0"``: Embedding's
    ``padding_idx`` row).
    """

    attribute: str
    expression: str
    then: tuple[str, ...] = ()
    #: The layer's attribute this tensor starts as a copy of (``expression``
    #: unused): a submodule the constructor deep-copies, as
    #: ``nn.TransformerEncoder`` copies its layer.
    copy_of: str | None = None
    #: Statements before it: draws the constructor made for tensors it then
    #: drew anew (``nn.Transformer``'s ``_reset_parameters``), values unused.
    before: tuple[str, ...] = ()
    #: The layer's attribute ``expression`` computes this tensor from, written
    #: there as ``{}``; it draws nothing (``weight_norm``'s ``weight_g``:
    #: ``torch.norm_except_dim({}, 2, 0)`` of ``weight_v``).
    derived_from: str | None = None


@dataclass(frozen=True)
class LayerInit:
    """All of a layer's tensors from one call: ``conv_params("conv1", 6, 1, 5, 5)``.

    ``function`` (one of :mod:`.layer_params`, whose source the output
    defines) takes the layer's key prefix, then ``arguments`` and
    ``keywords`` (plain constants), and returns the tensors its row's
    ``init`` lists, in that order, drawn the same way; a row's
    ``init_call`` gives one for the configurations the function covers.
    """

    function: Callable[..., dict]
    arguments: tuple[Any, ...]
    keywords: tuple[tuple[str, Any], ...] = ()
    #: The submodule the call creates, for a layer written as its parts (a
    #: transformer layer: ``self_attn``, ``linear1`` ...): its row's ``init``
    #: attributes under ``part``; "" for the whole layer.
    part: str = ""


@dataclass(frozen=True)
class Example:
    """A layer configuration the tests convert in every style.

    ``layer`` is the constructor exactly as nnconvert prints it (so the tests
    also pin the readable form); ``inputs`` are input shapes, filled with
    ``randn`` or, when ``high`` is set, with integers in ``[0, high)``, and
    passed to the layer positionally. ``keywords`` are keyword arguments of
    the layer call (``forward_signature``): a constant
    (``("need_weights", False)``), or a shape -- one more input, filled the
    same way (``("attn_mask", (5, 3))``).
    """

    layer: str
    inputs: tuple[tuple[int, ...], ...] = ((2, 3, 8, 8),)
    high: int | None = None
    keywords: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Alias:
    """Another spelling of a row's call.

    ``target`` is a callable (``torch.relu``) or a method name (``"relu"`` for
    ``x.relu()``); ``signature`` names its parameters when they differ from the
    row's; ``fixed`` adds arguments the spelling implies (``F.relu_`` is
    ``inplace=True``).
    """

    target: Callable | str
    signature: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class OpSpec:
    """One ``nn`` layer and its functional form. See the module docstring.

    Fields, in the order a row is usually written:

    module
        The ``nn`` class.
    function
        The canonical functional form; :func:`identity` for ``nn.Identity``;
        None for a layer kept as a module (none today), which
        module and mixed style can write but functional style cannot.
    signature
        The function's parameters as source text, for C builtins that have no
        Python signature; taken from the function otherwise.
    name
        Stem for attributes created by ``--to module`` (``relu`` -> ``relu1``).
    inputs
        How many leading function parameters the module's ``forward`` fills.
    call_positional / ctor_positional
        How many leading arguments are written positionally (counting inputs
        for calls), as PyTorch's docs and tutorials write them.
    weights
        Function parameters that are the module's tensors; the attribute of the
        same name unless ``attributes`` maps it elsewhere. A getter in
        ``attributes`` may pass a list of :class:`WeightRef` (a recurrent
        layer's weights, :mod:`.recurrent`); ``ctor_from_weights`` then sees
        a list of shapes.
    training
        The function parameter fed from ``module.training``.
    attributes
        Function parameter -> module attribute name, or a getter, where the
        parameter is not simply the attribute of the same name.
    ctor_attributes
        Constructor parameter -> getter, where the constructor argument cannot
        be read from the attribute of the same name.
    collapse
        Parameters where ``(k, k)`` may be written ``k``.
    canonical
        Normalises call arguments so that equal calls compare equal
        (``stride == kernel_size`` is written ``stride=None``).
    ctor_from_call
        Builds constructor arguments from call arguments where the default
        mapping (same names) does not apply; returns None to decline.
    ctor_from_weights
        The inverse for a layer with tensors: constructor arguments from the
        call's arguments (defaults filled in), the shapes of the tensors it
        passes by function parameter (None where it passes none) and the
        calls before it that the layer makes itself (``prologue``); call
        arguments of the same name are taken over unless it sets them
        (``in_channels = weight.shape[1] * groups``). Used by
        :meth:`layer_from_call`; returns None to decline.
    ctor_from_init
        Constructor arguments that only set initial values (``nn.PReLU``'s
        ``init``), from the layer's tensors, by attribute, as a functional
        file's ``init_params()`` creates them -- never trained weights.
        Applied after :meth:`layer_from_call` by the lifting pass, which keeps
        them only when the layer still makes the same call; returns None to
        decline.
    prologues
        Calls ``forward`` makes on its inputs before the main call, one
        :class:`Prologue` each (``padding_mode="reflect"`` convolutions pad
        first; ``batch_first`` layers transpose, :data:`BATCH_FIRST`).
    updates
        State updates the layer makes before its call, as ``(function,
        arguments)`` with :class:`WeightRef`/:data:`TRAINING` arguments
        (BatchNorm counts batches: ``helpers.count_batch``).
    aliases
        Other spellings of the call.
    init
        The layer's tensors as its constructor creates them: one
        :class:`TensorInit` per ``state_dict()`` entry, listed in the order
        the constructor draws random numbers for them (helpers in
        :mod:`.inits`). Every row that owns tensors has one; under the same
        ``torch.manual_seed`` the expressions equal a freshly built layer's
        tensors bit for bit (``tests/test_init_params.py``).
    init_call
        The same tensors as ``init`` from one call of a function the output
        defines (:class:`LayerInit`, :mod:`.layer_params`), so that
        ``init_params()`` spends one line on the layer, or one call per
        part for a layer made of parts (a transformer layer; each
        :attr:`LayerInit.part`); None for a configuration the functions do
        not cover.
    examples
        Configurations the tests convert in every style; every row has some.
    ctor_signature
        The constructor's parameters as source text, for classes whose
        ``__init__`` takes ``*args, **kwargs`` (``nn.LSTM``).
    forward_signature
        ``forward``'s parameters as source text, for layers whose ``forward``
        takes more than the inputs (``nn.MultiheadAttention``'s
        ``need_weights``, ``attn_mask`` …): what a caller passes for them goes
        to the function's parameter of the same name (``need_weights=False``);
        the function's default stands for an argument not passed.
    first_weight
        The key, in the layer, of the first tensor of a list of weights whose
        keys run through submodules (``self_attn.in_proj_weight``: the
        transformer layers): the lifting pass finds the layer's host by it.
    dict_form
        The call over the layer's weights as one dict (:class:`DictForm`),
        which functional style writes where it makes the file shorter
        (:meth:`dict_call_arguments` says for which instances it can).
    """

    module: type[nn.Module]
    function: Callable | None
    signature: str | None = None
    name: str = ""
    inputs: int = 1
    call_positional: int = 1
    ctor_positional: int = 1
    weights: tuple[str, ...] = ()
    training: str | None = None
    attributes: Mapping[str, ArgumentSource] = field(default_factory=dict)
    ctor_attributes: Mapping[str, Callable[[nn.Module], Any]] = field(
        default_factory=dict
    )
    collapse: frozenset[str] = frozenset()
    canonical: Callable[[Arguments], Arguments] | None = None
    ctor_from_call: Callable[[Arguments], Arguments | None] | None = None
    ctor_from_weights: WeightsHook | None = None
    ctor_from_init: Callable[[Mapping[str, Any]], Arguments | None] | None = None
    prologues: tuple[Prologue, ...] = ()
    updates: Callable[[nn.Module], list[tuple[Callable, tuple]]] | None = None
    aliases: tuple[Alias, ...] = ()
    init: Callable[[nn.Module], list[TensorInit]] | None = None
    init_call: (
        Callable[[nn.Module], LayerInit | tuple[LayerInit, ...] | None] | None
    ) = None
    examples: tuple[Example, ...] = ()
    ctor_signature: str | None = None
    forward_signature: str | None = None
    first_weight: str | None = None
    dict_form: DictForm | None = None
    #: meta layers :meth:`rebuild` built, by their plain constructor arguments
    _built: dict = field(default_factory=dict, init=False, repr=False)

    # -- signatures ---------------------------------------------------------

    @property
    def parameters(self) -> tuple[Param, ...]:
        """The canonical function's parameters, inputs first."""
        if self.signature is not None:
            return parse_signature(self.signature)
        if self.function is None:
            return (Param("input"),)
        return signature_of(self.function)

    @property
    def argument_parameters(self) -> tuple[Param, ...]:
        """The parameters after the tensor inputs: the ones a call configures."""
        return tuple(
            p for p in self.parameters[self.inputs :] if not p.name.startswith("_")
        )

    @property
    def ctor_parameters(self) -> tuple[Param, ...]:
        """Constructor parameters a person sets (no device/dtype/private ones)."""
        if self.ctor_signature is not None:
            return parse_signature(self.ctor_signature)
        return _constructor_parameters(self.module)

    @property
    def has_weights(self) -> bool:
        return bool(self.weights)

    @property
    def passed_by_caller(self) -> dict[str, Any]:
        """Function parameters that ``forward`` takes from its caller, with their defaults."""
        if self.forward_signature is None:
            return {}
        names = {p.name for p in parse_signature(self.forward_signature)}
        return {p.name: p.default for p in self.argument_parameters if p.name in names}

    def bind_forward(self, args: tuple, kwargs: Mapping) -> tuple[list, Arguments]:
        """A layer call's inputs, and what it passes for :attr:`passed_by_caller` (defaults dropped).

        Raises TypeError for arguments ``forward`` does not take.
        """
        if self.forward_signature is None:
            params = self.parameters[: self.inputs]
        else:
            params = parse_signature(self.forward_signature)
        bound = bind(params, args, kwargs)
        inputs = [bound.pop(p.name) for p in params[: self.inputs] if p.name in bound]
        if len(inputs) != self.inputs:
            raise TypeError(f"{self.inputs} inputs expected")
        defaults = self.passed_by_caller
        # in forward's order, whatever order the caller wrote: one spelling,
        # the same as the lifting pass gives the functional call's arguments
        ordered = [p.name for p in params if p.name in bound]
        return inputs, {
            k: bound[k] for k in ordered if not same_value(bound[k], defaults[k])
        }

    def prologue_calls(self, module: nn.Module) -> list[tuple[Prologue, Arguments]]:
        """The :class:`Prologue` calls this instance makes, with its arguments for each."""
        calls = []
        for prologue in self.prologues:
            arguments = prologue.arguments(module)
            if arguments is not None:
                calls.append((prologue, arguments))
        return calls

    # -- module -> call -----------------------------------------------------

    def call_arguments(self, module: nn.Module) -> Arguments:
        """Every configuring argument of the call ``module`` makes, defaults included."""
        arguments: Arguments = {}
        for param in self.argument_parameters:
            arguments[param.name] = self._read_call_argument(module, param.name)
        return self.normalise(arguments)

    def _read_call_argument(self, module: nn.Module, name: str) -> Any:
        if name == self.training:
            return TRAINING
        if name in self.passed_by_caller:
            return self.passed_by_caller[name]
        source = self.attributes.get(name, name)
        if callable(source):
            return source(module)
        read = operator.attrgetter(source)  # "out_proj.weight": a submodule's
        if name in self.weights:
            from .weight_norm import weight_norms  # which imports this module

            normed = weight_norms(module).get(source)
            if normed is not None:  # computed by a hook before every call
                return normed.computed
            return WeightRef(source) if read(module) is not None else None
        try:
            return read(module)
        except AttributeError:
            raise ConversionError(
                f"op spec for nn.{self.module.__name__}: the module has no "
                f"attribute {source!r} for argument {name!r} of {self.function_name}"
            ) from None

    def normalise(self, arguments: Arguments) -> Arguments:
        """Collapse repeated tuples and apply the row's canonical form."""
        arguments = {
            k: collapse(v) if k in self.collapse else v for k, v in arguments.items()
        }
        if self.canonical is not None:
            arguments = self.canonical(dict(arguments))
        return arguments

    def drop_defaults(self, arguments: Arguments) -> Arguments:
        """Keep only the arguments a person would have to write."""
        defaults = {p.name: p.default for p in self.argument_parameters}
        return {
            k: v
            for k, v in arguments.items()
            if defaults.get(k, REQUIRED) is REQUIRED or not same_value(v, defaults[k])
        }

    def explicit_call_arguments(self, module: nn.Module) -> Arguments:
        """The call ``module`` makes, with defaults dropped."""
        return self.drop_defaults(self.call_arguments(module))

    def dict_call_arguments(self, module: nn.Module) -> Arguments | None:
        """The arguments of ``module``'s :attr:`dict_form` call after the weights dict, or None.

        None when the row has no dict form or the instance's call and state
        updates are not exactly what the helper does over its
        ``state_dict()``: then the layer keeps its canonical call.
        """
        form = self.dict_form
        if form is None:
            return None
        keys = set(module.state_dict())
        if not keys:  # no slice to pass (``affine=False`` without statistics)
            return None
        arguments = self.explicit_call_arguments(module)
        expected = [
            (function, (WeightRef(attribute), arguments.get(form.flag)))
            for function, attribute in form.updates
            if attribute in keys
        ]
        updates = list(self.updates(module)) if self.updates else []
        if not same_value(updates, expected):
            return None
        found: Arguments = {}
        for name, value in arguments.items():
            if name in self.weights:
                if not self._read_back_from_dict(name, value, list(keys)):
                    return None
                continue
            if isinstance(value, Computed):
                if value != self._dict_computed(name, arguments):
                    return None
                value = None
            elif value is None and name in form.computed:
                return None  # None would read back as the computed value
            found[name] = value
        return found

    def _read_back_from_dict(self, name: str, value: Any, keys: list[str]) -> bool:
        """The call's weights argument ``name`` is what a dict with ``keys`` gives back.

        A tensor: the attribute of its name, or None. A list: every key, in
        the row's :attr:`DictForm.list_order`.
        """
        if isinstance(value, list):
            order = self.dict_form.list_order
            wanted = sorted(keys, key=order) if order is not None else None
            return wanted == [getattr(v, "attribute", None) for v in value]
        attribute = self.attributes.get(name, name)
        return value is None or value == WeightRef(attribute)

    def _dict_computed(self, name: str, arguments: Arguments) -> Computed | None:
        """The :class:`Computed` a dict-form call's ``None`` for ``name`` stands for."""
        computed = self.dict_form.computed.get(name) if self.dict_form else None
        if computed is None:
            return None
        flag = arguments.get(self.dict_form.flag)
        return Computed(
            computed.function,
            tuple(flag if a is TRAINING else a for a in computed.arguments),
        )

    # -- module -> init_params() --------------------------------------------

    def tensor_inits(self, module: nn.Module) -> list[TensorInit] | None:
        """:attr:`init` for this instance: ``weight_norm``'s tensors as it sets them.

        A layer with ``weight_norm`` hooks holds ``weight_g``/``weight_v``
        where the row lists ``weight`` (:func:`.weight_norm.normed_inits`).
        """
        if self.init is None:
            return None
        from .weight_norm import normed_inits  # which imports this module

        return normed_inits(module, self.init(module))

    def layer_init_call(
        self, module: nn.Module
    ) -> LayerInit | tuple[LayerInit, ...] | None:
        """:attr:`init_call` for this instance; None for one with ``weight_norm`` hooks.

        The layer functions (``kaiming_params``) make the plain layer's keys;
        a weight-normed layer is written tensor by tensor (:meth:`tensor_inits`).
        """
        from .weight_norm import weight_norms  # which imports this module

        if self.init_call is None or weight_norms(module):
            return None
        return self.init_call(module)

    # -- module -> constructor ----------------------------------------------

    def constructor_arguments(self, module: nn.Module) -> tuple[list[Any], Arguments]:
        """``(positional, keywords)`` that rebuild ``module``'s configuration."""
        return layout(self.constructor_values(module), self.ctor_positional)

    def constructor_values(self, module: nn.Module) -> list[tuple[Param, Any]]:
        """Every constructor parameter with the value that rebuilds ``module``, defaults too."""
        values: list[tuple[Param, Any]] = []
        for param in self.ctor_parameters:
            if param.name in self.ctor_attributes:
                value = self.ctor_attributes[param.name](module)
            else:
                try:
                    value = getattr(module, param.name)
                except AttributeError:
                    raise ConversionError(
                        f"op spec for nn.{self.module.__name__}: cannot read "
                        f"constructor argument {param.name!r} from the instance"
                    ) from None
            if param.name in self.collapse:
                value = collapse(value)
            values.append((param, value))
        return values

    def rebuild(self, module: nn.Module) -> nn.Module:
        """A fresh instance from :meth:`constructor_arguments`, checked against ``module``.

        The instance is on the ``meta`` device when the layer builds there,
        and then shared by every call with the same arguments: read it only.

        Raises ConversionError when the row cannot reproduce the instance, so
        that a gap in the table shows up as an error, never as wrong code.
        """
        from .weight_norm import weight_norms  # which imports this module

        positional, keywords = self.constructor_arguments(module)
        normed = bool(weight_norms(module))  # hooks the fresh layer gets too
        # on the meta device first: no weights allocated and initialised (most
        # of a ResNet's conversion time went there); a layer that cannot be
        # built or compared there is built for real, as it always was. One with
        # weight_norm hooks is built for real: its hooks are not to be shared
        if not normed:
            try:
                with torch.device("meta"):
                    rebuilt = self._meta_layer(positional, keywords)
                if self._rebuilds(module, rebuilt, positional, keywords):
                    return rebuilt
            except Exception:
                pass
        return self._built_for_real(module, positional, keywords, normed)

    def _built_for_real(
        self, module: nn.Module, positional: list, keywords: Arguments, normed: bool
    ) -> nn.Module:
        """The layer built from its arguments on the CPU, with ``module``'s ``weight_norm`` hooks if ``normed``, checked."""
        from .weight_norm import with_weight_norms  # which imports this module

        hooked = " with weight_norm" if normed else ""
        try:
            rebuilt = self.module(*positional, **keywords)
            if normed:
                rebuilt = with_weight_norms(rebuilt, module)
        except Exception as error:
            raise ConversionError(
                f"op spec for nn.{self.module.__name__}: constructor arguments "
                f"{positional} {keywords}{hooked} do not build the layer: {error}"
            ) from None
        if not self._rebuilds(module, rebuilt, positional, keywords):
            raise ConversionError(
                f"op spec for nn.{self.module.__name__}: rebuilt layer "
                f"{rebuilt!r}{hooked} differs from the original {module!r}"
            )
        return rebuilt

    def _meta_layer(self, positional: list, keywords: Arguments) -> nn.Module:
        """The layer these arguments build (on the current device), built once per arguments.

        A 10,000-layer chain has a few distinct configurations; building
        each layer again was a millisecond apiece. Arguments that are not
        plain data are never looked up (built every time).
        """
        key = _plain_key((positional, keywords))
        if key is None:
            return self.module(*positional, **keywords)
        built = self._built.get(key)
        if built is None:
            built = self._built[key] = self.module(*positional, **keywords)
        return built

    def _rebuilds(
        self,
        module: nn.Module,
        rebuilt: nn.Module,
        positional: list,
        keywords: Arguments,
    ) -> bool:
        """``rebuilt`` calls what ``module`` calls and gives back the same arguments."""
        same_call = same_value(self.behaviour(rebuilt), self.behaviour(module))
        stable = same_value(self.constructor_arguments(rebuilt), (positional, keywords))
        return same_call and stable

    def behaviour(self, module: nn.Module) -> tuple:
        """What ``forward`` does, as data: the calls it makes and the tensors it owns.

        Two instances with equal behaviour compute the same function, even when
        their ``repr`` differs (``output_size=1`` vs ``(1, 1)``).
        """
        calls = [(p.function, args) for p, args in self.prologue_calls(module)]
        updates = list(self.updates(module)) if self.updates else []
        arguments = self.explicit_call_arguments(module) if self.function else {}
        return calls, updates, arguments, _shapes(module)

    # -- call -> module -----------------------------------------------------

    def module_from_call(self, arguments: Arguments) -> nn.Module | None:
        """The parameter-free layer that makes exactly this call, if there is one."""
        if self.has_weights:
            return None
        arguments = self.normalise(arguments)
        if self.ctor_from_call is not None:
            ctor = self.ctor_from_call(dict(arguments))
            if ctor is None:
                return None
        else:
            defaults = {p.name: p.default for p in self.argument_parameters}
            ctor = self._ctor_from_same_names({**defaults, **arguments})
        try:
            module = self.module(**ctor)
        except Exception:
            return None
        wanted = self.drop_defaults(arguments)
        made = self.explicit_call_arguments(module)
        if wanted.keys() != made.keys() or not all(
            same_value(wanted[k], made[k]) for k in wanted
        ):
            return None
        return module

    def layer_from_call(
        self,
        arguments: Arguments,
        shapes: Mapping[str, tuple[int, ...]],
        prologue: list[tuple[Callable, Arguments]] = (),
        updates: list[tuple[Callable, tuple]] = (),
    ) -> nn.Module | None:
        """The layer with tensors that makes exactly this call, if there is one.

        ``arguments`` are the call's configuring arguments with its tensors as
        :class:`WeightRef` (attribute names) and the training flag as
        :data:`TRAINING`; ``shapes`` are all the tensors the layer is to own,
        by attribute; ``prologue`` and ``updates`` the calls around the call
        that the layer would make itself. Verified by construction: a fresh
        layer's :meth:`behaviour` must be exactly that.
        """
        if self.ctor_from_weights is None:
            return None
        from .weight_norm import read_weight_norms  # which imports this module

        arguments = self.normalise(arguments)
        # ``torch._weight_norm(v, g, dim)`` for a weight: a weight_norm hook on it
        hooks, plain, plain_shapes = read_weight_norms(arguments, shapes)
        defaults = {p.name: p.default for p in self.argument_parameters}
        full = {**defaults, **plain}
        weights = {w: _shape_of(full.get(w), plain_shapes) for w in self.weights}
        ctor = self._ctor_from_same_names(full)
        for name in (*self.weights, self.training):
            ctor.pop(name, None)
        try:
            found = self.ctor_from_weights(full, weights, list(prologue))
            if found is None:
                return None
            module = self.module(**{**ctor, **found})
            for hook in hooks:
                module = hook.apply(module)
            made = self.behaviour(module)
        except Exception:  # shapes no layer has: no layer
            return None
        wanted = (list(prologue), list(updates), self.drop_defaults(arguments))
        return module if same_value(made, (*wanted, dict(shapes))) else None

    def _ctor_from_same_names(self, arguments: Arguments) -> Arguments:
        by_attribute = {
            (
                self.attributes.get(k, k) if not callable(self.attributes.get(k)) else k
            ): v
            for k, v in arguments.items()
        }
        ctor_names = {p.name for p in self.ctor_parameters}
        return {
            k: v
            for k, v in by_attribute.items()
            if k in ctor_names and v is not REQUIRED
        }

    # -- naming -------------------------------------------------------------

    @property
    def function_name(self) -> str:
        """The public name code calls the function by (``F.threshold``'s own name is ``_threshold``)."""
        if self.function is identity:
            return "identity"
        found = qualified_name(self.function)
        return found[0].rpartition(".")[2] if found else repr(self.function)

    @property
    def stem(self) -> str:
        """Attribute stem for generated submodules."""
        return self.name or self.module.__name__.lower()


def layout(
    values: list[tuple[Param, Any]], positional: int
) -> tuple[list[Any], Arguments]:
    """Split into positional and keyword arguments, dropping arguments equal to defaults.

    The first ``positional`` arguments are written positionally up to the last
    one that is kept; the rest are keywords.
    """
    keep = [
        param.default is REQUIRED or not same_value(value, collapse(param.default))
        for param, value in values
    ]
    last_positional = max(
        (i for i in range(min(positional, len(values))) if keep[i]), default=-1
    )
    args = [value for _, value in values[: last_positional + 1]]
    kwargs = {
        param.name: value
        for i, (param, value) in enumerate(values)
        if i > last_positional and keep[i]
    }
    return args, kwargs


def layout_call(
    spec: OpSpec, inputs: list[Any], arguments: Arguments
) -> tuple[list[Any], Arguments]:
    """Positional and keyword arguments for printing a canonical call."""
    params = spec.argument_parameters
    values = [(p, arguments.get(p.name, p.default)) for p in params]
    values = [(p, v) for p, v in values if not (v is REQUIRED)]
    args, kwargs = layout(values, spec.call_positional - spec.inputs)
    return list(inputs) + args, kwargs


def _shape_of(value: Any, shapes: Mapping[str, tuple[int, ...]]) -> Any:
    """The shape a call argument passes: a tensor's, a list of them for a list (recurrent weights), else None."""
    if isinstance(value, WeightRef):
        return shapes.get(value.attribute)
    if isinstance(value, (list, tuple)) and value:
        return [_shape_of(v, shapes) for v in value]
    return None


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}
