"""The wrapper: an ``nn.Module`` running a functional-style function over its own tensors.

``forward`` has the function's own inputs (``x``) and calls the function with
a dict of the wrapper's tensors, and with ``training=self.training`` when the
function takes ``training``. While fx traces it, that dict holds one
``get_attr`` value per key, so every read of a weight is recorded.

A sub-function called with a submodule's slice of the weights
(``basic_block(sub_params(params, "layer1.0."), x)``, as ``--to functional``
writes blocks) is a block when the front end recognised one there
(:mod:`.blocks`): a wrapper of that function at ``layer1.0``, which the call
then runs as a module. To see those calls, each run calls a copy of the
function bound to a globals dict of its own, in which the sub-functions are
:class:`_Dispatcher` s bound to that run; the user's module and its functions
are never changed.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import types
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import torch
from torch import fx, nn

from ..init_arguments import declare
from ..method_calls import arguments_of, recorded_call
from ..source_map import NAMES, SOURCE, Frame
from ..source_text import function_tree
from ..stored_attributes import store_attribute
from .classes import shape_of, wrapper_class
from .leaf_layers import CallSite, leaf_stand_ins
from .weights import register, tensor_at

if TYPE_CHECKING:
    from .blocks import BlockCalls


class FunctionalModel(nn.Module):
    """An ``nn.Module`` running a functional-style function over its own tensors.

    Built by :func:`build_wrapper`; each function gets a subclass whose
    ``forward`` has the function's input parameters (:mod:`.classes`).
    Its private fields are the front end's own: nothing outside
    :mod:`nnconvert.functional` reads them.
    """

    _function: Callable
    _keys: tuple[str, ...]  # the keys of the dict the function gets
    _takes_training: bool
    _blocks: dict[str, Callable]  # path -> the function of the block there
    _callees: dict[str, Callable]  # global name -> functional-style function
    _settings: dict[str, Any]  # the literal keywords its caller passes
    _leaf_paths: dict[CallSite, str]  # a module-level leaf's call -> its submodule
    _whole_body: str | None  # the child whose Sequential the function is

    def __init__(
        self,
        function: Callable,
        keys: tuple[str, ...],
        blocks: dict[str, Callable],
        settings: dict[str, Any] | None = None,
    ):
        super().__init__()
        self._function = function
        self._keys = keys
        self._takes_training = "training" in inspect.signature(function).parameters
        self._blocks = blocks
        self._callees = _callees(function)
        self._settings = dict(settings or {})
        self._leaf_paths = {}  # filled by place_leaves
        self._whole_body = None  # set by hand_body_to
        declare(
            self,
            _in_signature_order(
                function, _named_by_user(function, settings, self._callees)
            ),
            keywords=[
                name
                for name in inspect.signature(function).parameters
                if name in (settings or {})
            ],
        )

    @property
    def function(self) -> Callable:
        """The functional-style function this wrapper runs (the user's, never a copy)."""
        return self._function

    @property
    def keyword_settings(self) -> dict[str, Any]:
        """The literal keywords its caller passes (``stride=2``): a class's plain attributes.

        A test of such a keyword (``if stride == 1:``) is the class's test
        of its attribute (:mod:`nnconvert.printer.attribute_tests`).
        """
        return dict(self._settings)

    @property
    def whole_body(self) -> str | None:
        """The child whose ``nn.Sequential`` the function is, which ``forward`` calls instead."""
        return self._whole_body

    def hand_body_to(self, child: str) -> None:
        """From now on ``forward`` returns ``self.<child>(x)``: the ``nn.Sequential``
        rebuilt from the function's layers (:mod:`.containers`), as the
        user's block wrote ``return self.net(x)``."""
        self._whole_body = child

    def _run(self, *inputs: Any, recorder: BlockCalls | None = None) -> Any:
        """Call the function on ``inputs``; ``recorder`` collects sub-function calls."""
        if self._whole_body is not None:
            return self._run_whole_body(inputs)
        params = self._weights(inputs)
        kwargs = dict(self._settings)
        if self._takes_training:
            kwargs["training"] = self.training
        function = _Run(self, recorder, params).bind(self._function)
        return function(params, *inputs, **kwargs)

    def _run_whole_body(self, inputs: tuple[Any, ...]) -> Any:
        """``self.<child>(x)``; traced, a call the source map places on the
        function's ``return``, which returned the Sequential's value as made
        (the printer writes ``return self.net(x)``, as the user did)."""
        result = getattr(self, self._whole_body)(*inputs)
        node = result.node if isinstance(result, fx.Proxy) else None
        if node is not None and node.op == "call_module" and SOURCE not in node.meta:
            returned = _return_frame(self._function)
            if returned is not None:
                node.meta[SOURCE], node.meta[NAMES] = (returned,), (None,)
        return result

    def _weights(self, inputs: tuple[Any, ...]) -> dict[str, Any]:
        """The weight dict: the tensors themselves, or their fx values while tracing."""
        proxies = [v for v in (*inputs, self.training) if isinstance(v, fx.Proxy)]
        if proxies:
            tracer = proxies[0].tracer
            base = _path_in(tracer, self)
            weights = {
                key: tracer.create_proxy("get_attr", base + key, (), {})
                for key in self._keys
            }
            return _StoringWeights(weights, self, tracer)
        return _StoringWeights({k: tensor_at(self, k) for k in self._keys}, self)


def _return_frame(function: Callable) -> Frame | None:
    """Where ``function`` ends in ``return``, as the source map places a node made there."""
    definition = function_tree(function)
    if definition is None or not isinstance(definition.body[-1], ast.Return):
        return None
    code = function.__code__
    line = code.co_firstlineno + definition.body[-1].lineno - 1
    name = getattr(code, "co_qualname", code.co_name)
    return Frame(code.co_filename, line, name, code.co_firstlineno)


def _in_signature_order(function: Callable, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` in the order ``function`` takes them: the constructor they stand for.

    Functional style names a block's keywords after its ``__init__`` and
    writes them in its order (:mod:`nnconvert.printer.init_names`); read
    back, they are the block's constructor arguments, in that order.
    """
    order = {name: i for i, name in enumerate(inspect.signature(function).parameters)}
    return dict(
        sorted(settings.items(), key=lambda item: order.get(item[0], len(order)))
    )


def _named_by_user(
    function: Callable, settings: dict[str, Any] | None, callees: Iterable[str]
) -> dict[str, Any]:
    """The ``settings`` whose names may be the user's ``__init__``'s, not functional style's own.

    Functional style names a keyword after the user where it can; else
    after the keyword of the call it fills (``F.conv2d(..., groups=groups)``),
    ``value`` (``x * value``) or the optional call it decides
    (``has_shortcut``). Those say nothing of the user, and declared they
    would name a class's width after ``groups`` where module -> module
    keeps ``out_channels``: left out. A user's name equal to such a name
    (``stride``) is the name the class gets anyway. A keyword passed on
    only to functions of the file (``scores(..., hidden=hidden)``, the
    ``callees`` by name) is the same keyword there, not a layer's; one a
    callee merely takes (ShuffleNet's ``shuffle_block(..., *, groups=2)``,
    called without it) does not make a layer's ``groups`` the user's. Only
    a keyword filled by the setting itself names it (``groups=groups``):
    CvT's attention takes ``dim`` and calls ``.chunk(2, dim=1)``, and its
    ``dim`` is still the user's.
    """
    definition = function_tree(function)
    if definition is None:
        return {}
    callee_names = set(callees)
    named_after_keyword = {  # ``groups=groups``, ``groups=groups_2``
        keyword.value.id
        for call in ast.walk(definition)
        if isinstance(call, ast.Call)
        and not (isinstance(call.func, ast.Name) and call.func.id in callee_names)
        for keyword in call.keywords
        if isinstance(keyword.value, ast.Name)
        and re.sub(r"_\d+$", "", keyword.value.id) == keyword.arg
    }
    return {
        name: value
        for name, value in (settings or {}).items()
        if name not in named_after_keyword
        and not re.fullmatch(r"value(_\d+)?", name)
        and not (name.startswith("has_") and isinstance(value, bool))
    }


def build_wrapper(
    function: Callable,
    tensors: dict[str, torch.Tensor],
    blocks: dict[str, Callable],
    classes: dict[Callable, type],
    root: Callable | None = None,
    settings: dict[str, dict[str, Any]] | None = None,
    own_settings: dict[str, Any] | None = None,
) -> FunctionalModel:
    """A wrapper of ``function`` over ``tensors``, with a wrapper per block inside.

    ``blocks`` maps key prefixes (``"layer1.0."``) to the function of the
    block there; ``classes`` the functions to their wrapper classes (the
    root's is made first, with the name the caller chose) and is filled in;
    ``settings`` the literal keywords each prefix's function is called with
    (``own_settings``: this wrapper's own).
    """
    root = root or function
    settings = settings or {}
    if function not in classes:  # a block's (the root's is made first)
        base = shape_of(function)
        base = None if base is root else base  # a block class named like the root
        if base is not None and base not in classes:
            classes[base] = wrapper_class(FunctionalModel, base, block=True)
        classes[function] = (
            classes[base]
            if base
            else wrapper_class(FunctionalModel, function, block=True)
        )
    outer = [p for p in blocks if not any(p != q and p.startswith(q) for q in blocks)]
    model = classes[function](
        function, tuple(tensors), {p[:-1]: blocks[p] for p in outer}, own_settings
    )

    def inside(prefix: str, table: Mapping[str, Any]) -> dict[str, Any]:
        return {
            q[len(prefix) :]: v
            for q, v in table.items()
            if q != prefix and q.startswith(prefix)
        }

    def place(prefix: str, inner: dict[str, torch.Tensor]) -> None:
        block = build_wrapper(
            blocks[prefix],
            inner,
            inside(prefix, blocks),
            classes,
            root,
            inside(prefix, settings),
            settings.get(prefix),
        )
        register(model, prefix[:-1], block)

    # a block without weights (a channel shuffle, MaxViT's ``attend``) goes
    # before the first block with weights its function calls after it, where
    # ``__init__`` most likely built it; the others follow the weights' order
    weighted = {p for p in outer if any(k.startswith(p) for k in tensors)}
    waiting = [p for p in outer if p not in weighted]
    placed: set[str] = set()
    for key, tensor in tensors.items():
        prefix = next((p for p in outer if key.startswith(p)), None)
        if prefix is None:
            register(model, key, tensor)
        elif prefix not in placed:
            placed.add(prefix)
            called_before = outer[: outer.index(prefix)]
            for earlier in [p for p in waiting if p in called_before]:
                waiting.remove(earlier)
                place(earlier, {})
            place(prefix, inside(prefix, tensors))
    for prefix in waiting:
        place(prefix, {})
    return model


class _Run:
    """One run of a wrapper's function: the wrapper, its tensors by identity, the recorder."""

    def __init__(
        self, wrapper: FunctionalModel, recorder: BlockCalls | None, params: Any = None
    ):
        self.wrapper = wrapper
        self.recorder = recorder
        self.params = params  # the dict the function is given: its helpers get it too
        self.prefixes: list[str] = []  # the block calls running, innermost last
        self.leaf_counts: dict[tuple[tuple[str, ...], str], int] = {}  # calls so far
        if recorder is not None:
            recorder.leaves.run = self  # the run that orders the leaves' calls
        keys_of_tensor: dict[int, list[str]] = {}
        for key, tensor in wrapper.state_dict(keep_vars=True).items():
            keys_of_tensor.setdefault(id(tensor), []).append(key)
        self.keys_by_id = {i: keys[-1] for i, keys in keys_of_tensor.items()}
        # every key of a tensor held under several keys (tied weights) -> all of them
        self.tied_keys = {
            key: frozenset(keys)
            for keys in keys_of_tensor.values()
            if len(keys) > 1
            for key in keys
        }

    def bind(self, function: Callable) -> Callable:
        """``function`` calling the wrapper's sub-functions through dispatchers of this run."""
        namespace = dict(function.__globals__)
        slicer = namespace.get("sub_params")
        if inspect.isfunction(slicer):
            namespace["sub_params"] = self._slicing(slicer)
        for name, callee in self.wrapper._callees.items():
            if namespace.get(name) is callee:
                copy = _with_globals(callee, namespace)
                namespace[name] = _Dispatcher(callee, copy, self)
        namespace.update(leaf_stand_ins(namespace, self))
        return _with_globals(function, namespace)

    def _slicing(self, slicer: Callable) -> Callable:
        """``sub_params`` whose slices remember their prefix (:class:`_Slice`).

        A block without weights is handed an empty slice
        (``shuffle_block(sub_params(params, "shuffle."), x)``): no tensor in
        it says where it was cut, the slice itself does. A dict the caller
        built (a block's slice with a tied tensor under its own key, the
        Transformer's ``decoder``) says where it was cut by its tensors
        (:meth:`prefix_of`), so the slices cut from it know theirs too.
        """

        def sub_params(params: Any, prefix: Any, *args: Any, **kwargs: Any) -> Any:
            result = slicer(params, prefix, *args, **kwargs)
            if isinstance(params, _Slice):
                base = params.prefix
            elif params is self.params:
                base = ""
            else:
                base = self.prefix_of(params)
                if base is None:
                    return result
            if not isinstance(result, dict) or not isinstance(prefix, str):
                return result
            return _Slice(result, base + prefix)

        return sub_params

    def prefix_of(self, params: Any) -> str | None:
        """``"layer1.0."`` when ``params`` is exactly ``sub_params(own weights, that prefix)``.

        A tensor the block shares with the outside may be handed in under the
        caller's key, as ``--to functional`` writes it: ``{**sub_params(params,
        "blk."), "fc.weight": params["emb.weight"]}`` is ``blk``'s weights when
        ``blk.fc.weight`` and ``emb.weight`` are one tensor.
        """
        if isinstance(params, _Slice) and not params:
            return params.prefix if self._holds_no_keys(params.prefix) else None
        if not isinstance(params, dict) or not params:
            return None
        keys = {name: self.key_of(value) for name, value in params.items()}
        if None in keys.values():
            return None
        prefixes = dict.fromkeys(  # a tied tensor under its caller's key says nothing
            key[: len(key) - len(name)]
            for name, key in keys.items()
            if key.endswith("." + name)
        )
        for prefix in prefixes:  # each tried once: one, as a rule
            inside = {
                k[len(prefix) :] for k in self.wrapper._keys if k.startswith(prefix)
            }
            if set(params) == inside and all(
                self._same_tensor(keys[n], prefix + n) for n in params
            ):
                return prefix
        return None

    def _holds_no_keys(self, prefix: str) -> bool:
        """``prefix`` is a submodule's path (``"shuffle."``) under which no weight is kept."""
        path = prefix[:-1]
        return (
            prefix.endswith(".")
            and all(part.isidentifier() or part.isdigit() for part in path.split("."))
            and not any(k.startswith(prefix) or k == path for k in self.wrapper._keys)
        )

    def _same_tensor(self, key: str, other: str) -> bool:
        return key == other or other in self.tied_keys.get(key, ())

    def key_of(self, value: Any) -> str | None:
        """The key (relative to the wrapper) a weight-dict value was read from."""
        if isinstance(value, fx.Proxy):
            base = _path_in(value.tracer, self.wrapper)
            target = str(value.node.target)
            if value.node.op != "get_attr" or not target.startswith(base):
                return None
            return target[len(base) :]
        if isinstance(value, torch.Tensor):
            return self.keys_by_id.get(id(value))
        return None


class _StoringWeights(dict):
    """A run's weight dict; a key the function adds is what ``forward`` stores for its caller.

    ``params["last_loss"] = loss``, as ``--to functional`` writes llama2.c's
    ``self.last_loss = loss``: while tracing, a
    :func:`~nnconvert.stored_attributes.store_attribute` node; run, the
    wrapper's attribute, as the module's was.
    """

    def __init__(self, weights: dict, wrapper: nn.Module, tracer: Any = None):
        super().__init__(weights)
        self._wrapper = wrapper
        self._tracer = tracer

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if key in self._wrapper._keys or not isinstance(key, str):
            return
        if self._tracer is not None:
            self._tracer.create_proxy(
                "call_function", store_attribute, (key, value), {}
            )
        else:
            object.__setattr__(self._wrapper, key, value)


class _Slice(dict):
    """A slice of a run's weight dict that knows its key ``prefix`` (relative to the wrapper)."""

    def __init__(self, weights: dict, prefix: str):
        super().__init__(weights)
        self.prefix = prefix


class _Dispatcher:
    """Stands for a sub-function in one run: a call over a block's weights runs the block."""

    def __init__(self, function: Callable, bound: Callable, run: _Run):
        self.function = function  # the user's, as blocks are keyed by it
        self.bound = bound  # its copy calling through this run's dispatchers
        self.run = run

    def __call__(self, params: Any, *args: Any, **kwargs: Any) -> Any:
        prefix = self.run.prefix_of(params)
        if prefix is not None:
            path = prefix[:-1]
            wrapper = self.run.wrapper
            if wrapper._blocks.get(path) is self.function:
                block = wrapper.get_submodule(path)
                kwargs.pop("training", None)  # the block passes its own flag
                for name in self._settings_of(block):  # and its own keywords
                    kwargs.pop(name, None)
                return block(*args, **kwargs)
            takes_tensors = _holds_tensors((*args, *kwargs.values()))
            # over the weights its caller runs over: a helper of that block
            helper = self.run.prefixes[-1:] == [prefix]
            if self.run.recorder is not None and takes_tensors and not helper:
                # not a helper like sub_params
                self.run.recorder.record(
                    prefix, self.function, _literals(self.function, kwargs)
                )
                # a step of its caller, as a layer's call over member 0's weights
                # is: a leaf between members is numbered by them (.leaf_layers)
                self.run.recorder.leaves.step(keys=[prefix])
            self.run.prefixes.append(prefix)
            try:
                return self._call(params, *args, **kwargs)
            finally:
                self.run.prefixes.pop()
        return self._call(params, *args, **kwargs)

    def _settings_of(self, block: nn.Module) -> Any:
        """The keywords the block passes itself; a rebuilt Sequential's, its function's.

        :mod:`.containers` rebuilds a block whose function only loops over its
        members ``num_blocks`` times as an ``nn.Sequential`` of that many.
        """
        settings = getattr(block, "_settings", None)
        if settings is not None:
            return settings
        return keyword_only_parameters(self.function)

    def _call(self, params: Any, *args: Any, **kwargs: Any) -> Any:
        """The function itself; recorded as a helper call over its caller's weights."""
        if params is self.run.params:  # a helper over the same weights: a method
            arguments = arguments_of(self.function, (params, *args), kwargs)
            return recorded_call(
                self.function,
                arguments,
                lambda: self.bound(params, *args, **kwargs),
                sys._getframe(2),  # the block function calling, through __call__
            )
        return self.bound(params, *args, **kwargs)


def _holds_tensors(values: Any) -> bool:
    """A tensor among ``values``, also inside a list, tuple or dict (``root(..., [x1, x2])``)."""
    if isinstance(values, torch.Tensor):
        return True
    if isinstance(values, dict):
        values = values.values()
    elif not isinstance(values, (list, tuple)):
        return False
    return any(_holds_tensors(v) for v in values)


def _literals(function: Callable, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keywords of a block call that set a literal (``groups=8``), not ``training``.

    Only ``function``'s keyword-only parameters (``*, groups: int``) are
    settings: functional style writes a block's settings there, and the
    block's ``forward`` takes every other parameter as an input. A literal
    passed by name to an input (``attention(..., x, mask=None)``) is that
    input's value in this call; held as a setting too, the block would
    pass it twice.
    """
    settings = keyword_only_parameters(function)
    return {
        k: v
        for k, v in kwargs.items()
        if k in settings
        and not isinstance(v, (torch.Tensor, fx.Proxy))
        and not callable(v)
    }


def _with_globals(function: Callable, namespace: dict[str, Any]) -> Callable:
    """A copy of ``function`` reading its globals from ``namespace`` (closure, defaults kept)."""
    copy = types.FunctionType(
        function.__code__,
        namespace,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    copy.__module__ = function.__module__
    return copy


def _path_in(tracer: fx.Tracer, module: nn.Module) -> str:
    """``"layer1.0."``: where ``module`` sits in the traced root (``""`` for the root)."""
    if module is tracer.root:
        return ""
    return tracer.path_of_module(module) + "."


def _callees(function: Callable) -> dict[str, Callable]:
    """Global names for functions that take ``params`` first, which the function calls.

    Directly or through each other (``layer1`` calls ``basic_block``), so
    that the blocks of a block are found too.
    """
    namespace = function.__globals__
    found: dict[str, Callable] = {}
    functions = [function]
    while functions:
        names: set[str] = set()
        codes = [functions.pop().__code__]
        while codes:
            code = codes.pop()
            names.update(code.co_names)
            codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        for name in sorted(names - set(found)):
            value = namespace.get(name)
            if (
                inspect.isfunction(value)
                and value is not function
                and value.__globals__ is namespace
                and list(inspect.signature(value).parameters)[:1] == ["params"]
            ):
                found[name] = value
                functions.append(value)
    return dict(sorted(found.items()))


__all__ = ["FunctionalModel", "build_wrapper"]


def keyword_only_parameters(function: Callable) -> list[str]:
    """``function``'s keyword-only parameters other than ``training``."""
    return [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "training"
    ]
