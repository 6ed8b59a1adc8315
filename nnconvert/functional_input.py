"""Functional-style input: a function over a weight dict, as an ``nn.Module`` to trace.

A functional model is ``def net(params: dict[str, Tensor], x, *, training=False)``
reading ``params["conv1.weight"]`` and friends (nnconvert's own ``--to
functional`` output is one). :func:`functional_model` wraps it with its
weights into a module that the rest of the pipeline traces like any other:

* every tensor is registered at its dotted key, in plain ``nn.Module`` hosts
  (``conv1.weight`` is parameter ``weight`` of host ``conv1``), so the
  wrapper's ``state_dict()`` has exactly the dict's keys;
* ``forward`` has the function's own inputs (``x``) and calls the function
  with a dict of the wrapper's tensors, and with ``training=self.training``
  when the function takes ``training``. While fx traces it, that dict holds
  one ``get_attr`` value per key, so every read of a weight is recorded.

Which tensors are parameters (see :func:`parameter_names`):

1. an ``nn.Parameter`` in the dict is one (with its ``requires_grad``), and so
   is any tensor that requires grad;
2. when the dict marks none that way (a plain ``state_dict()``, weights from
   ``torch.load``, an ``init_params()`` result), floating-point tensors are
   parameters except those named like a layer's buffer (``running_mean``,
   ``running_var``, ``num_batches_tracked``); other dtypes are buffers;
3. when it does mark some, every other tensor is a buffer.

BatchNorm's ``if training: params[K] += 1`` is a Python branch: fx would
record it in one mode only. :func:`rewrite_source` turns exactly that
statement shape (in functions whose first parameter is ``params``) into
``count_batch(params[K], training)``, which means the same and which fx
records as one call (:func:`torch.fx.wrap`), so the layer-lifting pass can
rebuild ``nn.BatchNorm2d`` from it.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import keyword
import linecache
import re
import sys
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import fx, nn

from .errors import ConversionError
from .opspecs.spec import count_batch
from .passes.canonicalize import canonicalize
from .passes.lift import find_layers
from .trace import trace

torch.fx.wrap("count_batch")  # traced as one call; the rewritten code calls it here

#: Buffer names of the table's layers: tensors so named are buffers by rule 2.
BUFFER_NAMES = frozenset({"running_mean", "running_var", "num_batches_tracked"})

#: The name rewritten code reaches this module by.
HELPER = "__nnconvert_functional__"

_counter = itertools.count()


# -- the wrapper ---------------------------------------------------------------


class FunctionalModel(nn.Module):
    """An ``nn.Module`` running a functional-style function over its own tensors.

    Build it with :func:`functional_model`; each function gets a subclass
    whose ``forward`` has the function's input parameters.
    """

    _function: Callable
    _keys: tuple[str, ...]
    _takes_training: bool

    def _run(self, *inputs: Any) -> Any:
        params = self._weights(inputs)
        if self._takes_training:
            return self._function(params, *inputs, training=self.training)
        return self._function(params, *inputs)

    def _weights(self, inputs: tuple[Any, ...]) -> dict[str, Any]:
        """The weight dict: the tensors themselves, or their fx values while tracing."""
        proxies = [v for v in (*inputs, self.training) if isinstance(v, fx.Proxy)]
        if proxies:
            tracer = proxies[0].tracer
            return {
                key: tracer.create_proxy("get_attr", key, (), {}) for key in self._keys
            }
        return {key: _tensor_at(self, key) for key in self._keys}


def functional_model(
    function: Callable,
    params: Mapping[str, torch.Tensor],
    example_inputs: Sequence[Any] | None = None,
    *,
    class_name: str | None = None,
) -> FunctionalModel:
    """Wrap ``function(params, *inputs)`` and its weights as a module (see the module docstring).

    The tensors are copied. With ``example_inputs``, hosts whose tensors the
    function only passes to one layer's functional call become that layer
    (:func:`adopt_layers`), so that the wrapper looks like the model that was
    written in functional style. ``class_name`` names the wrapper class
    (default: the function's name in CamelCase, :func:`class_name_for`),
    which is the default name of module-style output.
    """
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if not parameters:
        raise ConversionError(
            f"{function.__name__}() takes no parameters; a functional model takes "
            "the weight dict first"
        )
    inputs, takes_training = _inputs(function, parameters[1:])
    forward = _forward(inputs)
    cls = type(
        class_name or class_name_for(function.__name__),
        (FunctionalModel,),
        {"forward": forward, "__module__": function.__module__},
    )
    model = cls()
    model._function = function
    model._takes_training = takes_training
    model._keys = tuple(params)
    names = parameter_names(params)
    for key, tensor in params.items():
        if not isinstance(tensor, torch.Tensor):
            raise ConversionError(
                f"weight {key!r} of {function.__name__} is a {type(tensor).__name__}, "
                "not a tensor"
            )
        _register(model, key, tensor, key in names)
    if example_inputs is not None:
        adopt_layers(model, example_inputs)
    return model


def adopt_layers(model: FunctionalModel, example_inputs: Sequence[Any]) -> None:
    """Replace plain hosts by the layers the function's calls over them make.

    ``F.conv2d(x, params["conv1.weight"], params["conv1.bias"], stride=2)``
    makes host ``conv1`` an ``nn.Conv2d(3, 16, 3, stride=2)`` holding the same
    tensors (found by :func:`nnconvert.passes.lift.find_layers`). The function
    still only reads the tensors, so the wrapper computes what it did; but
    its structure is now the model's, for ``init_params()`` and the module
    style. Leaves the hosts alone when the function cannot be traced (the
    conversion reports why).
    """
    was_training = model.training
    model.eval()
    try:
        graph_module = trace(model, example_inputs)
        graph_module.meta["original"] = model
        canonicalize(graph_module)
    except ConversionError:
        return
    finally:
        model.train(was_training)
    for owner, lift in find_layers(graph_module).items():
        parent, _, name = owner.rpartition(".")
        setattr(model.get_submodule(parent), name, lift.layer.train(was_training))


def parameter_names(params: Mapping[str, torch.Tensor]) -> set[str]:
    """The keys that become parameters; the rest are buffers (module docstring, rules 1-3)."""
    marked = {
        key
        for key, tensor in params.items()
        if isinstance(tensor, nn.Parameter)
        or (isinstance(tensor, torch.Tensor) and tensor.requires_grad)
    }
    if marked:
        return marked
    return {
        key
        for key, tensor in params.items()
        if isinstance(tensor, torch.Tensor)
        and (tensor.is_floating_point() or tensor.is_complex())
        and key.rpartition(".")[2] not in BUFFER_NAMES
    }


def class_name_for(function_name: str) -> str:
    """``conv_net`` -> ``ConvNet``; the inverse of snake_case where one exists (not for ``MLP``)."""
    name = "".join(part[:1].upper() + part[1:] for part in function_name.split("_"))
    return name if name.isidentifier() and not keyword.iskeyword(name) else "Model"


def _inputs(
    function: Callable, parameters: list[inspect.Parameter]
) -> tuple[list[inspect.Parameter], bool]:
    """The parameters ``forward`` takes, and whether the function takes ``training``."""
    inputs, takes_training = [], False
    for parameter in parameters:
        if parameter.name == "training":
            takes_training = True
        elif parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ConversionError(
                f"{function.__name__}() takes *{parameter.name}; nnconvert needs "
                "named inputs"
            )
        elif parameter.kind is parameter.KEYWORD_ONLY:
            if parameter.default is parameter.empty:
                raise ConversionError(
                    f"{function.__name__}() takes the keyword-only input "
                    f"{parameter.name!r} without a default; make it positional"
                )
        else:
            inputs.append(parameter)
    return inputs, takes_training


def _forward(inputs: list[inspect.Parameter]) -> Callable:
    """``def forward(self, x, y=2): return self._run(x, y)``, with the function's input names."""
    names = [p.name for p in inputs]
    self_name = "self"
    while self_name in names:
        self_name += "_"
    text = (
        f"def forward({', '.join([self_name, *names])}):\n"
        f"    return {self_name}._run({', '.join(names)})\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(text, "<nnconvert functional forward>", "exec"), namespace)
    forward = namespace["forward"]
    defaults = tuple(p.default for p in inputs if p.default is not p.empty)
    forward.__defaults__ = defaults or None
    return forward


def _register(model: nn.Module, key: str, tensor: torch.Tensor, parameter: bool):
    """Register a copy of ``tensor`` at ``key``, creating plain host modules on the way."""
    *path, name = key.split(".")
    host = model
    try:
        for part in path:
            child = host._modules.get(part)
            if child is None:
                child = nn.Module()
                host.add_module(part, child)
            host = child
        value = tensor.detach().clone()
        if parameter:  # unmarked dicts (rule 2) make trainable parameters
            grad = tensor.requires_grad if _marks(tensor) else True
            host.register_parameter(name, nn.Parameter(value, requires_grad=grad))
        else:
            host.register_buffer(name, value)
    except (KeyError, TypeError) as error:
        message = str(error).strip("'\"")
        raise ConversionError(
            f"weight key {key!r} cannot be a module attribute: {message}"
        ) from None


def _marks(tensor: torch.Tensor) -> bool:
    return isinstance(tensor, nn.Parameter) or tensor.requires_grad


def _tensor_at(model: nn.Module, key: str) -> torch.Tensor:
    *path, name = key.split(".")
    host = model
    for part in path:
        host = host._modules[part]
    return getattr(host, name)


# -- the source rewrite ---------------------------------------------------------


def rewrite_source(source: str, filename: str) -> tuple[ast.Module, bool]:
    """Parse ``source``; BatchNorm's batch counters become ``count_batch`` calls.

    Returns the tree and whether anything was rewritten. Raises SyntaxError.
    """
    tree = ast.parse(source, filename)
    rewriter = _CounterRewriter()
    tree = ast.fix_missing_locations(rewriter.visit(tree))
    return tree, rewriter.changed


def exec_source(source: str, filename: str, namespace: dict[str, Any]) -> None:
    """Execute ``source`` in ``namespace`` with :func:`rewrite_source` applied."""
    tree, changed = rewrite_source(source, filename)
    if changed:
        namespace[HELPER] = sys.modules[__name__]
    exec(compile(tree, filename, "exec"), namespace)


def load_source(source: str, name: str = "functional") -> dict[str, Any]:
    """Execute generated functional source as a module of its own, ready to trace."""
    filename = f"<nnconvert functional input: {name} #{next(_counter)}>"
    linecache.cache[filename] = (
        len(source),
        None,
        source.splitlines(keepends=True),
        filename,
    )
    namespace: dict[str, Any] = {"__name__": re.sub(r"\W", "_", name)}
    exec_source(source, filename, namespace)
    return namespace


class _CounterRewriter(ast.NodeTransformer):
    """``if training: params[K] += 1`` -> ``count_batch(params[K], training)``.

    Only that exact shape (one statement, no ``else``, a subscript of the
    function's first parameter ``params``, incremented by the literal 1).
    """

    def __init__(self) -> None:
        self.changed = False
        self._params: list[str | None] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        arguments = node.args.posonlyargs + node.args.args
        first = arguments[0].arg if arguments else None
        self._params.append(first if first == "params" else None)
        self.generic_visit(node)
        self._params.pop()
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        params = self._params[-1] if self._params else None
        if params is None or node.orelse or len(node.body) != 1:
            return node
        (statement,) = node.body
        if not (
            isinstance(node.test, ast.Name)
            and isinstance(statement, ast.AugAssign)
            and isinstance(statement.op, ast.Add)
            and isinstance(statement.value, ast.Constant)
            and type(statement.value.value) is int
            and statement.value.value == 1
            and isinstance(statement.target, ast.Subscript)
            and isinstance(statement.target.value, ast.Name)
            and statement.target.value.id == params
        ):
            return node
        self.changed = True
        counter = ast.Subscript(
            statement.target.value, statement.target.slice, ast.Load()
        )
        call = ast.Call(
            ast.Attribute(ast.Name(HELPER, ast.Load()), "count_batch", ast.Load()),
            [counter, ast.Name(node.test.id, ast.Load())],
            [],
        )
        return ast.copy_location(ast.Expr(call), node)


__all__ = [
    "BUFFER_NAMES",
    "FunctionalModel",
    "class_name_for",
    "exec_source",
    "functional_model",
    "load_source",
    "parameter_names",
    "rewrite_source",
]
