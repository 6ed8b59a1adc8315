"""The two fx tracers: symbolic (:class:`ModelTracer`) and concrete (:class:`ConcreteTracer`).

:class:`ModelTracer` is ``fx.Tracer`` with what converting a model needs:
``self.training`` as a graph value, buffers kept as state, user blocks as
leaves, ``OrderedDict`` outputs, opaque ``torch.fx.wrap`` functions wherever
they are imported, and tensors built in ``forward`` recorded as calls.
:class:`ConcreteTracer` records the same graph while running every op on the
example inputs, and answers Python's questions (``len``, ``int``, ``bool``,
iteration) from the real values.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import operator
import traceback
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Sequence

import torch
from torch import fx, nn
from torch.fx._symbolic_trace import _orig_module_call

from .attributes import attribute_at
from .branches import OPPOSITES, expect
from .guard_messages import guard_message, message_in_source
from .copying import copy_model
from .errors import ConversionError
from .forward_calls import forward_calls_are_calls
from .example_values import clone_inputs, mutable
from .leaves import package_of, third_party_functions
from .modes import modes_kept
from .opspecs import helpers
from .opspecs.helpers import built_constant
from .tensor_builds import build_of
from .tensor_values import Base64Text, unpack_tensor
from .naming import is_plain_identifier
from .passes.graph_utils import sliced_from_end
from .method_calls import MethodRecorder
from .source_map import SourceRecorder
from .stored_attributes import stores_recorded
from .user_functions import calls_recorded, fx_wrapped_functions

_LIBRARY_DIRS = (Path(torch.__file__).parent, Path(__file__).parent)


KeepPredicate = Callable[[nn.Module], bool]


#: ``torch`` factories of Python data, recorded as calls when given a traced value.
_TENSOR_FACTORIES = ("tensor", "as_tensor", "scalar_tensor")


#: ``torch`` factories recorded as calls always: a tensor that ``forward`` builds
#: (RAFT's ``torch.linspace(-r, r, 2 * r + 1)`` grid, a causal mask) is written
#: as the call that builds it, not baked into the output as a constant.
_TENSOR_BUILDERS = (
    "arange",
    "linspace",
    "logspace",
    "zeros",
    "ones",
    "full",
    "eye",
    "empty",
    "rand",
    "randn",
    "randint",
    "randperm",
)


class ModelTracer(fx.Tracer):
    """``fx.Tracer`` that records ``self.training`` as a graph value.

    Plain fx bakes ``F.dropout(x, 0.5, self.training)`` into ``training=False``
    (or True); here every module's ``training`` flag reads as one ``get_attr``
    node while tracing, so the rewrite keeps following ``model.train()``.
    Branching on it (``if self.training:``) still needs a concrete answer.
    """

    #: Buffers read in forward (``x - self.mean``) stay state, never baked-in constants.
    proxy_buffer_attributes = True

    def __init__(self, keep: KeepPredicate | None = None, keywords: Sequence[str] = ()):
        super().__init__()
        self._keep = keep
        #: inputs the traced call passes by keyword (into ``**kwargs``), in order
        self._keywords = tuple(keywords)
        self._untraced_depth = 0  # > 0 while a leaf layer runs for real
        #: Python branched on a module's ``training`` flag (only a concrete trace can)
        self.branched_on_training = False
        self._source = SourceRecorder(self)  # node.meta: the user's lines and names
        #: attribute nodes placed where they were read (:class:`_Attribute`):
        #: the node they follow, the read's number
        self.placed_reads: dict[fx.Node, tuple[fx.Node, int]] = {}
        self.helper_calls = MethodRecorder(
            self
        )  # node.meta: the helper calls made them

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _Proxy(node, self)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if self._keep is not None and self._keep(m):
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def trace(self, root, concrete_args=None):  # type: ignore[override]
        self._autowrap_function_ids.update(map(id, fx_wrapped_functions()))
        self._keep_third_party_calls(root)
        originals = {
            name: getattr(torch, name) for name in _TENSOR_FACTORIES + _TENSOR_BUILDERS
        }
        for name, factory in originals.items():
            always = name in _TENSOR_BUILDERS
            setattr(torch, name, self._record_on_proxies(factory, always))
        helpers.unpack_tensor = self._record_packed
        helpers.built_constant = self._record_built
        # every module's flag becomes a graph value while tracing, then its own again
        flags = modes_kept(root) if isinstance(root, nn.Module) else nullcontext()
        namespaces = _user_globals(root)
        try:
            self._source.start(root)
            with (
                flags,
                _fx_wraps_under_every_name(namespaces),
                calls_recorded(self, namespaces),
                _autocast_refused(),
                _legacy_variables_detached(),
                forward_calls_are_calls(root),
                self.helper_calls.wrapped(root),
                stores_recorded(self, root),
            ):
                graph = super().trace(root, concrete_args)
            self._source.finish(graph)
            graph.set_codegen(EscapingCodeGen())
            return graph
        finally:
            for name, factory in originals.items():
                setattr(torch, name, factory)
            helpers.unpack_tensor = unpack_tensor
            helpers.built_constant = built_constant

    def _keep_third_party_calls(self, root: Any) -> None:
        """Calls of installed third-party functions stay one opaque node each.

        einops' ``rearrange(x, "b n (h d) -> b h n d", h=8)`` is not traced
        into (its shape cache fails on proxies, and its code is not the
        user's): fx's autowrap records it as a ``call_function``, printed as
        the same call with its import. Functions of the traced code's own
        package are traced through as before.
        """
        forward = getattr(type(root), "forward", root)
        namespace = getattr(forward, "__globals__", {})
        owner = type(root) if isinstance(root, nn.Module) else root
        functions, modules = third_party_functions(
            namespace, package_of(getattr(owner, "__module__", None))
        )
        self._autowrap_function_ids.update(map(id, functions))
        self._autowrap_search = [*self._autowrap_search, *modules]

    def _record_on_proxies(self, factory: Callable, always: bool) -> Callable:
        """``torch.tensor(channels)`` with a traced size becomes a graph node.

        Factories that take Python data do not dispatch on proxies: without
        this, RAFT's ``torch.tensor(num_channels)`` fails deep inside torch.
        """

        def factory_call(*args: Any, **kwargs: Any) -> Any:
            found: list[fx.Proxy] = []
            fx.node.map_aggregate(
                (args, kwargs),
                lambda v: found.append(v) if isinstance(v, fx.Proxy) else None,
            )
            if self._untraced_depth == 0 and (found or always):
                return self.create_proxy("call_function", factory, args, kwargs)
            return factory(*args, **kwargs)

        return factory_call

    def _record_packed(self, data: str, dtype: torch.dtype, shape: Any) -> Any:
        """A functional file's ``unpack_tensor(...)`` call stays that call.

        The source reader sends calls of the file's own ``unpack_tensor``
        here (the helper row is recognised by its definition); recorded, the
        tensor and what the file does with it (``.view(-1)``) print as written.
        """
        if self._untraced_depth > 0:
            return unpack_tensor(data, dtype, shape)
        arguments = (Base64Text(data), dtype, tuple(shape))
        return self.create_proxy("call_function", unpack_tensor, arguments, {})

    def _record_built(self, value: Any) -> Any:
        """A functional file's built constant (``RELATIVE_POSITION_INDEX``) stays that constant.

        Recorded as one node whose target is its build
        (:mod:`nnconvert.tensor_builds`), not as a tensor fx folds what
        ``forward`` does with it into (``.view(-1)``).
        """
        build = build_of(value)
        if self._untraced_depth > 0 or build is None:
            return value
        return self.create_proxy("call_function", build, (), {})

    def create_node(self, *args: Any, **kwargs: Any) -> fx.Node:
        node = super().create_node(*args, **kwargs)
        self._source.record(node)
        self.helper_calls.record(node)
        return node

    def create_arg(self, a: Any) -> Any:
        """An ``OrderedDict`` stays one: a recorded ``OrderedDict(...)`` call.

        fx turns every dict into a plain ``dict``, so torchvision's segmentation
        models (``result = OrderedDict(); result["out"] = x``) would return a
        different type after conversion.
        """
        if _is_output_dataclass(a):  # Hugging Face's ``ModelOutput``: the same class
            fields = {k: self.create_arg(v) for k, v in a.items()}
            return self.create_node("call_function", type(a), (), fields)
        if type(a) is OrderedDict:
            items = [(key, self.create_arg(value)) for key, value in a.items()]
            if all(isinstance(key, str) and key.isidentifier() for key, _ in items):
                return self.create_node("call_function", OrderedDict, (), dict(items))
            return self.create_node("call_function", OrderedDict, (items,), {})
        try:
            return super().create_arg(a)
        except NotImplementedError:
            raise ConversionError(unwritable_message(a)) from None

    def call_module(self, m, forward, args, kwargs):  # type: ignore[override]
        """A module built inside ``forward`` (``CrossEntropyLoss()(logits, labels)``) is traced through.

        It is no attribute of the model, so no ``call_module`` node can name
        it; what its ``forward`` calls (``F.cross_entropy``) is recorded.
        """
        try:
            self.path_of_module(m)
        except NameError:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def create_args_for_root(self, root_fn, is_module, concrete_args=None):
        if is_module and needs_own_root(root_fn, self._keywords):
            result = self._keyword_root(root_fn, concrete_args)
        else:
            result = super().create_args_for_root(root_fn, is_module, concrete_args)
        if is_module:
            flag = self.create_proxy("get_attr", "training", (), {})
            for module in self.root.modules():
                module.training = flag
        return result

    def _keyword_root(
        self, forward: Callable, concrete_args: dict[str, Any] | None
    ) -> tuple[Callable, list[Any]]:
        """Inputs for a ``forward`` fx cannot call by itself: decorated, or taking ``**kwargs``.

        fx reads the parameters from the innermost function but calls the
        decorator's wrapper, and rewrites a ``**kwargs`` function's code
        object (``co_varnames is too small`` on Hugging Face's
        ``@deprecate_kwarg``). Here each named parameter and each keyword the
        call passed (``self._keywords``) is one placeholder, and ``forward``
        -- wrapper and all -- is called as the model calls it:
        ``forward(self, hidden_states, position_ids=...)``.
        """
        innermost = inspect.unwrap(forward)
        signature = inspect.signature(innermost)
        named = _named_parameters(signature)
        concrete = dict(concrete_args or {})
        args: list[Any] = [self.root]
        args += [
            self._proxy_placeholder(name, concrete, signature, innermost)
            for name in named
        ]
        keyword_signature = inspect.Signature(
            [
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
                for name in self._keywords
            ]
        )
        args += [
            self._proxy_placeholder(name, concrete, keyword_signature, innermost)
            for name in self._keywords
        ]
        positional = 1 + _positional_only(signature)
        names = named[positional - 1 :] + list(self._keywords)
        # an input left at its default None is not passed, as callers leave it
        # out: a decorator may fill it in (``kwargs.setdefault(...)``)
        unset = {
            name
            for name in named
            if signature.parameters[name].default is None and name in concrete
        }

        def call(*values: Any) -> Any:
            # by keyword, as models call them: HF's ``@merge_with_config_defaults``
            # adds ``use_cache=`` as a keyword and clashes with a positional one
            by_keyword = {
                name: value
                for name, value in zip(names, values[positional:])
                if not (value is None and name in unset)
            }
            return forward(*values[:positional], **by_keyword)

        call.__annotations__ = dict(getattr(innermost, "__annotations__", {}))
        return call, args


def _named_parameters(signature: inspect.Signature) -> list[str]:
    """The parameters after ``self`` that a call may fill by position."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = []
    for parameter in list(signature.parameters.values())[1:]:
        if parameter.kind not in kinds:
            break
        names.append(parameter.name)
    return names


def _positional_only(signature: inspect.Signature) -> int:
    """How many parameters after ``self`` can only be passed by position."""
    kinds = [p.kind for p in list(signature.parameters.values())[1:]]
    return sum(1 for kind in kinds if kind is inspect.Parameter.POSITIONAL_ONLY)


def needs_own_root(forward: Callable, keywords: Sequence[str]) -> bool:
    """fx's own handling of ``forward``'s signature would fail or lose inputs.

    A decorated ``forward`` (fx analyses one function and calls another), a
    call that passed keywords into ``**kwargs``, or a signature with
    ``*args``, ``**kwargs`` or keyword-only parameters (fx rewrites the code
    object for those and fails with ``co_varnames is too small``).
    """
    if keywords or inspect.unwrap(forward) is not forward:
        return True
    code = getattr(forward, "__code__", None)
    variadic = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
    return code is not None and bool(code.co_flags & variadic or code.co_kwonlyargcount)


def unwritable_message(value: Any) -> str:
    """Why a value the model passes on or returns cannot be written as code."""
    name = type(value).__name__
    message = (
        f"the model passes on or returns a {type(value).__module__}.{name} object, "
        "which nnconvert cannot write as code"
    )
    if name.endswith("Cache"):  # transformers' DynamicCache: the key/value cache
        message += "; build the model with use_cache=False (or pass use_cache=False)"
    return message


def _is_output_dataclass(value: Any) -> bool:
    """A dataclass that is also an ``OrderedDict`` (``transformers``' ``ModelOutput``).

    fx would return a plain ``dict``; callers read ``out.last_hidden_state``.
    Its items are its fields that are set, so the call rebuilds it.
    """
    return isinstance(value, OrderedDict) and dataclasses.is_dataclass(value)


class EscapingCodeGen(fx.graph.CodeGen):
    """fx's own code generation, with every attribute name written as valid Python.

    fx writes a path's parts as ``.part`` whenever ``part.isidentifier()``,
    and otherwise as ``getattr(base, "part")`` without escaping: a
    ``ModuleDict`` key ``"class"`` gives ``self.heads.class(x)`` and one with
    a quote or a newline an unterminated string, SyntaxErrors when the
    ``GraphModule`` compiles. Installed on every graph the tracers make
    (deep copies keep it), it swaps in :func:`_escaped_target` for the
    duration of one code generation, so nothing outside these graphs changes.
    """

    def _gen_python_code(self, *args: Any, **kwargs: Any) -> Any:
        with _targets_escaped():
            return super()._gen_python_code(*args, **kwargs)


@contextmanager
def _targets_escaped():
    original = fx.graph._format_target
    fx.graph._format_target = _escaped_target
    try:
        yield
    finally:
        fx.graph._format_target = original


def _escaped_target(base: str, target: str) -> str:
    """``("self", "heads.class")`` -> ``getattr(self.heads, 'class')``: never code."""
    text = base
    for part in target.split("."):
        plain = is_plain_identifier(part)
        text = f"{text}.{part}" if plain else f"getattr({text}, {part!r})"
    return text


#: What ``fx.Proxy`` itself stores on a proxy: set as plain attributes.
_PROXY_OWN = frozenset({"node", "tracer"})


class _Proxy(fx.Proxy):
    """A proxy on which ``value.name = x`` is recorded as a ``setattr`` call.

    Plain fx stores the assignment on the proxy object: later reads while
    tracing see ``x``, but the graph never learns of it, so whoever receives
    the value afterwards gets the old attribute. CLIP's ``get_text_features``
    projects ``text_outputs.pooler_output = self.text_projection(...)`` on the
    ``ModelOutput`` a block returned, and returns that object.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _PROXY_OWN and not name.startswith("_"):
            self.tracer.create_proxy("call_function", setattr, (self, name, value), {})
        object.__setattr__(self, name, value)  # later reads while tracing see it

    def __getattr__(self, name: str) -> "_Attribute":
        return _Attribute(self, name)


class _Attribute(fx.proxy.Attribute):
    """``device = x.device``: its ``getattr`` node made where the user's code read it.

    fx makes an attribute's node only when the attribute is first used (most
    are methods, called at once, and need none): Perceiver's ``device``,
    read on a line of its own, would be a node of the ``torch.linspace(...,
    device=device)`` two lines below, made after what that line made
    before it, and printed there. So the node is noted as made on the line
    that read it, and placed in the graph after the node made last before
    the read. An attribute of an attribute not yet made (``x.a.b``) is
    left where fx makes it.
    """

    def __init__(self, root: fx.Proxy, attr: str) -> None:
        super().__init__(root, attr)
        unmade = isinstance(root, fx.proxy.Attribute) and root._node is None
        self._read_at = None if unmade else self.tracer._source.here()
        self._after = None if unmade else next(reversed(self.tracer.graph.nodes), None)
        self._read = next(_READS)  # reads after one node keep their order

    @property
    def node(self) -> fx.Node:  # type: ignore[override]
        if self._node is None:
            made = super().node
            if self._read_at is not None:
                self.tracer._source.record_at(made, self._read_at)
            if self._after is not None and self._after.graph is made.graph:
                placed = self.tracer.placed_reads
                position = self._after
                while position.next.op != "root" and _read_before(
                    placed.get(position.next), self._after, self._read
                ):
                    position = position.next
                position.append(made)
                placed[made] = (self._after, self._read)
        return self._node


#: the order attributes are read in, across tracers (only compared within one)
_READS = itertools.count()


def _read_before(placed: tuple[fx.Node, int] | None, after: fx.Node, read: int) -> bool:
    """A node placed after ``after`` by an earlier read than ``read``."""
    return placed is not None and placed[0] is after and placed[1] < read


class _ConcreteProxy(_Proxy):
    """A proxy that answers ``len``/``int``/``range`` from its example value.

    Each answer is also recorded as a guard (:meth:`ConcreteTracer.guard`).
    """

    def __len__(self) -> int:
        return self.tracer.guarded_len(self)

    def __getattr__(self, name: str) -> "_ConcreteAttribute":
        return _ConcreteAttribute(self, name)

    def __setitem__(self, key: Any, value: Any) -> None:
        """``attn[:, :, n:, n:] = ...``: an ``operator.setitem`` call, run on the example too.

        ``fx.Proxy`` has no ``__setitem__``, so plain fx cannot trace it; the
        call is in-place (:data:`opspecs.impurity.INPLACE_OPERATORS`), so it
        stays where the model made it.
        """
        self.tracer.create_proxy(
            "call_function", operator.setitem, (self, key, value), {}
        )

    def __int__(self) -> int:
        value = self.tracer.concrete_scalar(self)
        self.tracer.guard(self, value)
        return int(value)

    def __index__(self) -> int:  # no guard: see ConcreteTracer._guarded_range
        return int(self.tracer.concrete_scalar(self))

    def __float__(self) -> float:
        value = self.tracer.concrete_scalar(self)
        self.tracer.guard(self, value)
        return float(value)


class _ConcreteAttribute(_Attribute):
    """``x.shape`` before it is read: a length from the example, as for any proxy.

    lucidrains' attention unpacks ``b, n, _, h = *x.shape, self.heads``:
    the starred shape extends a list, and ``list.extend`` asks the iterable
    for its length first, which fx's attribute proxy refuses with an error.
    (Not a :class:`_Proxy`: an attribute proxy keeps its root and name as
    plain fields, which that class would record as ``setattr`` calls.)
    """

    def __len__(self) -> int:
        return self.tracer.guarded_len(self)

    def __getattr__(self, name: str) -> "_ConcreteAttribute":
        return _ConcreteAttribute(self, name)


class ConcreteTracer(ModelTracer):
    """Symbolic tracing that also runs every recorded op on the example inputs."""

    def __init__(
        self,
        example_inputs: Sequence[Any],
        keep: KeepPredicate | None = None,
        keywords: Sequence[str] = (),
    ):
        super().__init__(keep, keywords)
        self._inputs = list(clone_inputs(example_inputs))
        self._values: dict[fx.Node, Any] = {}
        self._ranked: set[fx.Node] = set()  # values whose length is guarded already
        self._shadow: nn.Module | None = None

    def trace(self, root, concrete_args=None):  # type: ignore[override]
        self._shadow = copy_model(root)
        namespaces = _user_globals(root)
        with (
            torch.no_grad(),
            _builtin_in(namespaces, "len", self._traced_len),
            _builtin_in(namespaces, "range", self._guarded_range),
            _builtin_in(namespaces, "int", self._traced_int),
            self._type_info_answered(),
        ):
            return super().trace(root, concrete_args)

    @contextmanager
    def _type_info_answered(self):
        """``torch.finfo(scores.dtype).min`` is answered from the example: a number.

        T5's attention masks with the smallest float of its scores' dtype;
        ``torch.finfo`` takes no proxy. The dtype comes from the weights, not
        from the input's shape, so the number is the same for every input.
        """
        originals = {name: getattr(torch, name) for name in ("finfo", "iinfo")}

        def answered(info: Callable) -> Callable:
            def call(*args: Any) -> Any:
                return info(*fx.node.map_aggregate(args, self._unwrap))

            return call

        for name, info in originals.items():
            setattr(torch, name, answered(info))
        try:
            yield
        finally:
            for name, info in originals.items():
                setattr(torch, name, info)

    def _guarded_range(self, *bounds: Any) -> range:
        """``range(x.size(1))``: the loop runs the traced count, and the output checks it.

        ``__index__`` itself records no guard: torch's argument parsing calls
        it on ``torch.reshape(x, (x.size(0), -1))`` before the call is
        recorded with the size still symbolic.
        """
        numbers = []
        for bound in bounds:
            if isinstance(bound, fx.Proxy) and bound.tracer is self:
                value = self.concrete_scalar(bound)
                self.guard(bound, value)
                bound = value
            numbers.append(bound)
        return range(*numbers)

    def _traced_len(self, obj: Any) -> Any:
        """``len(src)`` of a traced tensor stays a graph value: sized from the input.

        word_language_model builds its mask with ``torch.ones(len(src),
        len(src))``; a plain int would freeze the mask to the traced length.
        ``len`` of anything else (a list, a traced ``x.size()``) is Python's;
        of a traced shape (``len(x.shape)``, which the printer writes for a
        rank the model read by iterating the shape) it is the example's,
        guarded as iterating guards it.
        """
        if isinstance(obj, fx.Proxy) and obj.tracer is self:
            value = self.value_of(obj)
            if isinstance(value, torch.Tensor):
                return self.create_proxy("call_function", len, (obj,), {})
            if isinstance(value, tuple):  # fx's attribute proxy has no __len__
                self.guard(
                    self.create_proxy("call_function", len, (obj,), {}), len(value)
                )
                return len(value)
        return len(obj)

    def _traced_int(self, value: Any = 0, *base: Any) -> Any:
        """``int(x.size(1) * self.ratio)`` stays a graph value: sized from the input.

        ShuffleNet's ``SplitBlock`` splits its input at that channel; a plain
        int would freeze the split at the traced width (behind a guard), and
        every instance would need its own class. Only a number computed from
        traced sizes stays symbolic; ``int`` of anything else is Python's, and
        ``int`` of tensor data still refuses (:meth:`concrete_scalar`).
        """
        if not base and isinstance(value, fx.Proxy) and value.tracer is self:
            number = self.value_of(value)
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                return self.create_proxy("call_function", int, (value,), {})
        return int(value, *base)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ConcreteProxy(node, self)

    def create_proxy(self, kind, target, args, kwargs, *rest, **more):  # type: ignore[override]
        proxy = super().create_proxy(kind, target, args, kwargs, *rest, **more)
        self._untraced_depth += 1  # real code runs: its factories make tensors
        try:
            self._values[proxy.node] = self._evaluate(kind, target, args, kwargs)
        finally:
            self._untraced_depth -= 1
        return proxy

    def value_of(self, proxy: fx.Proxy) -> Any:
        return self._values[proxy.node]

    def guarded_len(self, proxy: fx.Proxy) -> int:
        """``len`` of a traced value: the example's, checked again by the output.

        A shape's length is its rank, guarded once however often it is asked
        (iterating the shape asks too: :meth:`iter`).
        """
        length = len(self.value_of(proxy))
        if proxy.node not in self._ranked:
            self._ranked.add(proxy.node)
            self.guard(self.create_proxy("call_function", len, (proxy,), {}), length)
        return length

    def _is_tensor(self, node: fx.Node) -> bool:
        return isinstance(self._values.get(node), torch.Tensor)

    def concrete_scalar(self, proxy: fx.Proxy) -> Any:
        value = self.value_of(proxy)
        if isinstance(value, torch.Tensor):
            raise ConversionError(
                f"{_user_location()}the model turns tensor data into a Python "
                "number; nnconvert cannot trace data-dependent code"
            )
        return value

    def guard(
        self, proxy: fx.Proxy, answer: Any, asking: FrameType | None = None
    ) -> None:
        """Record that ``proxy`` had the value ``answer``: the output checks it again.

        Python asked a question of a traced value (``int(x.size(1))``,
        ``if x.shape[-1] > 8:``, ``for s in x.size()[1:]:``) and the example
        answered it; what the trace recorded holds only for inputs that give
        the same answer. So the graph gets ``expect(proxy == answer)``
        (``expect(proxy)`` / ``expect(not proxy)`` for a truth value), which
        the output prints as ``if ...: raise ValueError(...)``. Answers
        about the training flag are not guards: the model is traced in both
        modes instead. The message names what differs (:func:`guard_message`),
        or is the source's own where the user's frame ``asking`` the question
        checks the answer itself (:func:`message_in_source`).
        """
        node = proxy.node
        if _reads_training_flag(node, self._is_tensor):
            return
        if answer is True or answer is False:
            if answer:
                condition = proxy
            elif node.op == "call_function" and node.target in OPPOSITES:
                # a node inside a tuple too: llama2.c's ``freqs_cis.shape ==
                # (x.shape[1], x.shape[-1])``, printed as ``!=``, traced again
                left, right = (fx.node.map_arg(a, self.proxy) for a in node.args)
                condition = self.create_proxy(
                    "call_function", OPPOSITES[node.target], (left, right), {}
                )
            else:
                condition = self.create_proxy(
                    "call_function", operator.not_, (proxy,), {}
                )
        else:
            condition = self.create_proxy(
                "call_function", operator.eq, (proxy, answer), {}
            )
        message = asking and message_in_source(asking)
        message = message or guard_message(node, self._values.get)
        self.create_proxy("call_function", expect, (condition, message), {})

    # Python asks these questions of proxies; answer from the example values.

    def to_bool(self, obj: fx.Proxy) -> bool:
        value = self.value_of(obj)
        if _reads_training_flag(obj.node, self._is_tensor):
            self.branched_on_training = True
        if isinstance(value, torch.Tensor):
            raise ConversionError(
                f"{_user_location()}control flow depends on tensor data; "
                "nnconvert can only trace code whose branches depend on shapes"
            )
        answer = bool(value)
        self.guard(obj, answer, _asking_frame())
        return answer

    def iter(self, obj: fx.Proxy):
        value = self.value_of(obj)
        if (
            isinstance(value, torch.Tensor)
            and value.dim()
            and obj.node.op == "get_attr"
        ):
            # a weight's rows, as many as the weights have: denoising-diffusion's
            # ``mk, mv = map(lambda t: ..., self.mem_kv)`` reads ``self.mem_kv[0]``
            # and ``self.mem_kv[1]``
            return iter([obj[i] for i in range(len(value))])
        if isinstance(value, torch.Tensor):
            raise ConversionError(
                f"{_user_location()}the model iterates over a tensor ('for row "
                "in tensor:' runs once per row of its first dimension); nnconvert "
                "cannot trace a loop over a tensor's rows"
            )
        if any(isinstance(v, torch.Tensor) for v in value):
            # as many steps as the example has (``for x_t in x.split(1, 1)``):
            # ``len`` of the proxy guards it
            return iter([obj[i] for i in range(len(obj))])
        sizes = isinstance(value, tuple) and all(type(v) is int for v in value)
        if sizes and _sizes_from_start(obj.node):
            # ``batch, length = x.shape[:-1]``: each size stays a graph value
            # (``x.shape[0]``), only the rank is checked again, once
            self.guarded_len(obj)
            whole = _whole_shape(obj)
            return iter([whole[i] for i in range(len(value))])
        if sizes and _sizes_to_end(obj.node):
            # ``height, width = x.shape[-2:]``: counted from the end, each
            # size stays a graph value whatever the rank, which is checked
            # once (the printer drops that guard where it writes the
            # unpacking, which refuses too few dimensions itself)
            self.guarded_len(obj)
            return iter([obj[i] for i in range(len(value))])
        self.guard(obj, value)
        return iter(value)

    def keys(self, obj: fx.Proxy):
        return self.value_of(obj).keys()

    def _evaluate(self, kind: str, target: Any, args: Any, kwargs: Any) -> Any:
        args, kwargs = mutable(fx.node.map_aggregate((args, kwargs), self._unwrap))
        if kind == "placeholder":
            index = sum(1 for n in self._values if n.op == "placeholder")
            if index < len(self._inputs):
                return self._inputs[index]
            return args[0] if args else None
        if kind == "get_attr":
            return attribute_at(self._shadow, target)
        if kind == "call_module":
            return _run_untraced(self._shadow.get_submodule(target), args, kwargs)
        if kind == "call_method":
            return getattr(args[0], target)(*args[1:], **kwargs)
        if kind == "call_function":
            return target(*args, **kwargs)
        return None

    def _unwrap(self, value: Any) -> Any:
        if isinstance(value, fx.Proxy):
            return self._values[value.node]
        return value


def _whole_shape(sizes: fx.Proxy) -> fx.Proxy:
    """``x.shape`` for ``x.shape[:-1]``: its first sizes are the same, and read plainer."""
    node = sizes.node
    if node.op == "call_function" and node.target is operator.getitem:
        return sizes.tracer.proxy(node.args[0])
    return sizes


def _sizes_to_end(node: fx.Node) -> bool:
    """``node`` is a tensor's last sizes, counted from its end: ``x.shape[-2:]``.

    Unpacked (``height, width = x.shape[-2:]``), each is the size it names
    in any input, as the source reads it, rather than the example's number:
    an image's height and width vary as a sequence's length does.
    """
    base = sliced_from_end(node)
    return base is not None and _sizes_from_start(base)


def _sizes_from_start(node: fx.Node) -> bool:
    """``node`` is a tensor's sizes from the first (batch) dimension on.

    ``x.shape``, ``x.size()``, ``x.shape[:-1]``: unpacked, their sizes stay
    symbolic, since the check runs other batch sizes and sequence lengths.
    ``x.size()[1:]`` (LeNet's ``num_flat_features``) is answered from the
    example with a guard, as before: the sizes after the batch are the
    layer sizes the model was built for.
    """
    if node.op == "call_function" and node.target is getattr:
        return node.args[1:] == ("shape",)
    if node.op == "call_method" and node.target == "size":
        return len(node.args) == 1 and not node.kwargs
    if node.op == "call_function" and node.target is operator.getitem:
        base, index = node.args
        return (
            isinstance(base, fx.Node)
            and isinstance(index, slice)
            and index.start in (None, 0)
            and _sizes_from_start(base)
        )
    return False


def _reads_training_flag(
    node: fx.Node, is_tensor: Callable[[fx.Node], bool] = lambda node: False
) -> bool:
    """``node`` is computed from a module's ``training`` flag (``not self.training``).

    Not through a tensor (``is_tensor``): ``x.is_cuda`` of ``x =
    F.batch_norm(..., training=training)`` (a functional file read back) is
    a question about ``x``'s device, the same in both modes, and keeps its
    guard.
    """
    seen: set[fx.Node] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.op == "get_attr" and current.target == "training":
            return True
        if current is not node and is_tensor(current):
            continue
        for argument in current.all_input_nodes:
            if argument not in seen:
                seen.add(argument)
                stack.append(argument)
    return False


def _user_globals(root: Any) -> list[dict[str, Any]]:
    """The module globals the user's code runs in while ``root`` is traced.

    Those of every module's ``forward`` and of the functions modules hold (a
    functional-style file's function, run by its wrapper); never torch's or
    nnconvert's own.
    """
    if not isinstance(root, nn.Module):
        return []
    functions = []
    for module in root.modules():
        functions.append(type(module).forward)
        functions += [v for v in vars(module).values() if inspect.isfunction(v)]
    found: dict[int, dict[str, Any]] = {}
    for function in functions:
        namespace = getattr(function, "__globals__", None)
        if isinstance(namespace, dict) and not _is_library(namespace):
            found[id(namespace)] = namespace
    return list(found.values())


def _is_library(namespace: dict[str, Any]) -> bool:
    """Globals of torch or of nnconvert itself (generated code is the user's)."""
    package = str(namespace.get("__name__", "")).split(".")[0]
    return package in ("torch", "nnconvert")


@contextmanager
def _autocast_refused():
    """``with torch.autocast(...):`` in traced code fails with a message that names it.

    fx records calls, not ``with`` blocks: the rewrite would lose the block
    and run its body in the caller's precision (timm's EfficientViT turns
    autocast off around its attention, ``device_type=v.device.type``).
    """
    autocast = torch.amp.autocast_mode.autocast
    original = autocast.__init__

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise ConversionError(
            f"{_user_location()}the model enters torch.autocast; nnconvert "
            "cannot write a `with` block, and dropping it would change the "
            "precision of what runs inside"
        )

    autocast.__init__ = refuse
    try:
        yield
    finally:
        autocast.__init__ = original


@contextmanager
def _legacy_variables_detached():
    """``torch.autograd.Variable(t)`` of a traced tensor is recorded as ``t.detach()``.

    Code from before PyTorch 0.4 wraps tensors in ``Variable`` (the capsule
    network's ``Variable(torch.zeros(*priors.size()))``). Its constructor
    is C code that refuses a proxy; what it returns is ``t`` detached from
    the graph, sharing its data, without ``requires_grad``. Other arguments
    than ``t`` are refused with a message that names the call.
    """
    meta = type(torch.autograd.Variable)
    own = meta.__dict__.get("__call__")

    def call(cls: type, *args: Any, **kwargs: Any) -> Any:
        if not (args and isinstance(args[0], fx.Proxy)):
            return type.__call__(cls, *args, **kwargs)
        if len(args) > 1 or any(kwargs.values()):
            raise ConversionError(
                f"{_user_location()}the model calls torch.autograd.Variable on a "
                "traced tensor with other arguments than the tensor; nnconvert "
                "writes Variable(t) as t.detach() only"
            )
        return args[0].detach()

    meta.__call__ = call
    try:
        yield
    finally:
        if own is None:
            del meta.__call__
        else:
            meta.__call__ = own


@contextmanager
def _builtin_in(namespaces: list[dict[str, Any]], name: str, replacement: Callable):
    """The builtin ``name`` in those globals is ``replacement`` while tracing.

    A namespace that defines its own ``name`` keeps it.
    """
    patched = [g for g in namespaces if name not in g]
    for namespace in patched:
        namespace[name] = replacement
    try:
        yield
    finally:
        for namespace in patched:
            namespace.pop(name, None)


@contextmanager
def _fx_wraps_under_every_name(namespaces: list[dict[str, Any]]):
    """A ``torch.fx.wrap`` function stays opaque under whatever name the user's code calls it.

    fx's autowrap skips names starting with ``_``: torchvision's swin calls
    ``_get_relative_position_bias`` from the module that wrapped it, but the
    converted file imports it under that name, and converting that file again
    would inline it. While tracing, each such name is registered as fx.wrap
    registers its own, and unregistered after.
    """
    registry = fx._symbolic_trace._wrapped_fns_to_patch
    wrapped = {  # nnconvert's own helpers (lstm, transformer_encoder) as before
        id(f)
        for f in fx_wrapped_functions()
        if not str(getattr(f, "__module__", "")).startswith("nnconvert")
    }
    added = [
        (id(namespace), name, namespace)
        for namespace in namespaces
        for name, value in list(namespace.items())
        if id(value) in wrapped and (id(namespace), name) not in registry
    ]
    for key, name, namespace in added:
        registry[(key, name)] = namespace
    try:
        yield
    finally:
        for key, name, _ in added:
            registry.pop((key, name), None)


def _run_untraced(module: nn.Module, args: tuple, kwargs: dict) -> Any:
    """Call ``module`` for real: fx patches ``Module.__call__`` while it traces."""
    patched = nn.Module.__call__
    nn.Module.__call__ = _orig_module_call
    try:
        return module(*args, **kwargs)
    finally:
        nn.Module.__call__ = patched


def _asking_frame() -> FrameType | None:
    """The innermost frame of user code (or of a converted file) on the stack."""
    frame = inspect.currentframe()
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if not any(path.is_relative_to(d) for d in _LIBRARY_DIRS):
            return frame
        frame = frame.f_back
    return None


def _user_location() -> str:
    """``file:line: `` of the innermost user frame on the stack, or ``""``."""
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename)
        if not any(path.is_relative_to(d) for d in _LIBRARY_DIRS) and path.exists():
            return f"{frame.filename}:{frame.lineno}: "
    return ""
