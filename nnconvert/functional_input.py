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

Given example inputs, the wrapper also takes on the structure the function
shows, without changing what it computes:

* a sub-function called with a submodule's slice of the weights
  (``basic_block(sub_params(params, "layer1.0."), x)``, as ``--to
  functional`` writes blocks) becomes a block: a wrapper of that function at
  ``layer1.0``, which the call then runs as a module (:func:`find_blocks`);
* a host whose tensors only feed one layer's functional call becomes that
  layer, holding the same tensors (:func:`adopt_layers`), so that
  ``init_params()`` and the module style see ``nn.Conv2d``, not a host.
  Constructor arguments that only set initial values (``nn.PReLU``'s
  ``init``) come from the weights as the file's ``init_params()`` creates
  them, when it is given them (``initial``); never from the weights the
  function runs with.
* a block whose function is exactly a chain through its numbered members
  (as ``--to functional`` writes an ``nn.Sequential``) becomes that
  ``nn.Sequential`` (:func:`rebuild_sequentials`).

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
rebuild ``nn.BatchNorm2d`` from it. Likewise ``momentum=None``'s
``1.0 / float(params[K]) if training else 0.0`` becomes
``cumulative_momentum(params[K], training)``.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import keyword
import linecache
import re
import sys
import types
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import fx, nn

from .errors import ConversionError
from .opspecs.spec import (  # noqa: F401  (wrapped below, called by name)
    count_batch,
    cumulative_momentum,
)
from .hierarchy import REBUILT, capture_inputs
from .passes.canonicalize import canonicalize
from .passes.lift import find_layers, holds_only_numbered_modules, sequential_of
from .example_values import clone_inputs
from .trace import trace

torch.fx.wrap("count_batch")  # traced as one call; the rewritten code calls it here
torch.fx.wrap("cumulative_momentum")

#: Buffer names of the table's layers: tensors so named are buffers by rule 2.
BUFFER_NAMES = frozenset({"running_mean", "running_var", "num_batches_tracked"})

#: The name rewritten code reaches this module by.
HELPER = "__nnconvert_functional__"

_counter = itertools.count()


# -- the wrapper ---------------------------------------------------------------


class FunctionalModel(nn.Module):
    """An ``nn.Module`` running a functional-style function over its own tensors.

    Build it with :func:`functional_model`; each function gets a subclass
    whose ``forward`` has the function's input parameters. A sub-function
    called with a submodule's slice of the weights (``basic_block(sub_params(
    params, "layer1.0."), x)``) is a block: a wrapper of its own at that
    path, which the call then runs as a module.
    """

    _function: Callable
    _keys: tuple[str, ...]  # the keys of the dict the function gets
    _takes_training: bool
    _blocks: dict[str, Callable]  # path -> the function of the block there
    _callees: dict[str, Callable]  # global name -> functional-style function

    def _run(self, *inputs: Any) -> Any:
        params = self._weights(inputs)
        kwargs = {"training": self.training} if self._takes_training else {}
        with _Dispatching(self):
            return self._function(params, *inputs, **kwargs)

    def _weights(self, inputs: tuple[Any, ...]) -> dict[str, Any]:
        """The weight dict: the tensors themselves, or their fx values while tracing."""
        proxies = [v for v in (*inputs, self.training) if isinstance(v, fx.Proxy)]
        if proxies:
            tracer = proxies[0].tracer
            base = _path_in(tracer, self)
            return {
                key: tracer.create_proxy("get_attr", base + key, (), {})
                for key in self._keys
            }
        return {key: _tensor_at(self, key) for key in self._keys}

    def _prefix_of(self, params: Any) -> str | None:
        """``"layer1.0."`` when ``params`` is exactly ``sub_params(own weights, that prefix)``."""
        if not isinstance(params, dict) or not params:
            return None
        keys = {name: self._key_of(value) for name, value in params.items()}
        name, key = next(iter(keys.items()))
        if key is None or not key.endswith("." + name):
            return None
        prefix = key[: len(key) - len(name)]
        inside = {k[len(prefix) :] for k in self._keys if k.startswith(prefix)}
        if set(params) != inside or any(keys[n] != prefix + n for n in params):
            return None
        return prefix

    def _key_of(self, value: Any) -> str | None:
        """The key (relative to this wrapper) a weight-dict value was read from."""
        if isinstance(value, fx.Proxy):
            base = _path_in(value.tracer, self)
            target = str(value.node.target)
            if value.node.op != "get_attr" or not target.startswith(base):
                return None
            return target[len(base) :]
        return self._ids.get(id(value)) if isinstance(value, torch.Tensor) else None


def _path_in(tracer: fx.Tracer, module: nn.Module) -> str:
    """``"layer1.0."``: where ``module`` sits in the traced root (``""`` for the root)."""
    if module is tracer.root:
        return ""
    return tracer.path_of_module(module) + "."


#: Wrappers whose function is running, innermost last.
_RUNNING: list[FunctionalModel] = []
#: While discovering blocks: prefix -> function (None: two functions, no block).
_FOUND: dict[str, Callable | None] | None = None


class _Dispatcher:
    """Stands for a sub-function while a wrapper runs: a call over a block's weights runs the block."""

    def __init__(self, function: Callable):
        self.function = function

    def __call__(self, params: Any, *args: Any, **kwargs: Any) -> Any:
        current = _RUNNING[-1] if _RUNNING else None
        prefix = current._prefix_of(params) if current is not None else None
        if prefix is not None:
            path = prefix[:-1]
            if current._blocks.get(path) is self.function:
                kwargs.pop("training", None)  # the block passes its own flag
                return current.get_submodule(path)(*args, **kwargs)
            takes_tensors = any(
                isinstance(v, torch.Tensor) for v in (*args, *kwargs.values())
            )
            if _FOUND is not None and takes_tensors:  # not a helper like sub_params
                if _FOUND.setdefault(prefix, self.function) is not self.function:
                    _FOUND[prefix] = None
        return self.function(params, *args, **kwargs)


class _Dispatching:
    """Runs a wrapper's function with its callees standing in as dispatchers."""

    def __init__(self, wrapper: FunctionalModel):
        self.wrapper = wrapper
        self.saved: dict[str, Callable] = {}

    def __enter__(self) -> None:
        wrapper = self.wrapper
        wrapper._ids = {id(t): k for k, t in wrapper.state_dict(keep_vars=True).items()}
        namespace = wrapper._function.__globals__
        for name, function in wrapper._callees.items():
            if namespace.get(name) is function:
                self.saved[name] = function
                namespace[name] = _Dispatcher(function)
        _RUNNING.append(wrapper)

    def __exit__(self, *exc: Any) -> None:
        _RUNNING.pop()
        self.wrapper._function.__globals__.update(self.saved)


def functional_model(
    function: Callable,
    params: Mapping[str, torch.Tensor],
    example_inputs: Sequence[Any] | None = None,
    *,
    class_name: str | None = None,
    initial: Mapping[str, torch.Tensor] | None = None,
) -> FunctionalModel:
    """Wrap ``function(params, *inputs)`` and its weights as a module (see the module docstring).

    The tensors are copied. With ``example_inputs`` the wrapper also takes
    the model's structure from what the function does with its weights: a
    sub-function called with a submodule's weights becomes a block (a
    wrapper of its own, :func:`find_blocks`), and a host whose tensors only
    feed one layer's functional call becomes that layer
    (:func:`adopt_layers`). ``class_name`` names the wrapper class (default:
    the function's name in CamelCase, :func:`class_name_for`), which is the
    default name of module-style output. ``initial`` are the weights as the
    file's ``init_params()`` creates them (not copied, only read here): a
    layer's constructor arguments that only set initial values are read from
    them, never from ``params`` (which training may have changed).
    """
    for key, tensor in params.items():
        if not isinstance(tensor, torch.Tensor):
            raise ConversionError(
                f"weight {key!r} of {function.__name__} is a {type(tensor).__name__}, "
                "not a tensor"
            )
    names = parameter_names(params)
    tensors = {key: _copy(tensor, key in names) for key, tensor in params.items()}
    classes = {function: _wrapper_class(function, class_name)}
    model = _build(function, tensors, {}, classes)
    if example_inputs is not None:
        blocks = find_blocks(model, example_inputs)
        if blocks:
            model = _build(function, tensors, blocks, classes)
        adopt_layers(model, example_inputs, initial)
        if blocks:
            rebuild_sequentials(model, example_inputs)
    return model


def find_blocks(
    model: FunctionalModel, example_inputs: Sequence[Any]
) -> dict[str, Callable]:
    """Prefix -> sub-function, for every call of a sub-function over a submodule's weights.

    Runs the model once on the example inputs (in eval mode, without grad).
    """
    global _FOUND
    was_training = model.training
    _FOUND = {}
    try:
        with torch.no_grad():
            model.eval()(*clone_inputs(example_inputs))
        found = _FOUND
    except Exception:
        found = {}
    finally:
        _FOUND = None
        model.train(was_training)
    return {prefix: f for prefix, f in found.items() if f is not None}


def adopt_layers(
    model: FunctionalModel,
    example_inputs: Sequence[Any],
    initial: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Replace plain hosts by the layers the function's calls over them make.

    ``F.conv2d(x, params["conv1.weight"], params["conv1.bias"], stride=2)``
    makes host ``conv1`` an ``nn.Conv2d(3, 16, 3, stride=2)`` holding the same
    tensors (found by :func:`nnconvert.passes.lift.find_layers`). The function
    still only reads the tensors, so the wrapper computes what it did; but
    its structure is now the model's, for ``init_params()`` and the module
    style. ``initial`` (the weights as ``init_params()`` creates them, by
    key) gives a layer the constructor arguments that only its initial
    values show (``nn.PReLU(4, init=0.1)``, not ``nn.PReLU(4)``). Leaves the
    hosts alone when the function cannot be traced (the conversion reports
    why).
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
    for owner, lift in find_layers(graph_module, initial).items():
        parent, _, name = owner.rpartition(".")
        setattr(model.get_submodule(parent), name, lift.layer.train(was_training))


def rebuild_sequentials(model: FunctionalModel, example_inputs: Sequence[Any]) -> None:
    """Blocks whose function is exactly an ``nn.Sequential``'s become one.

    ``--to functional`` writes an ``nn.Sequential`` as a function named after
    the attribute that holds it (``features(sub_params(params, "features."),
    x)``), running its members in order. A block whose function is exactly
    such a chain over its numbered members
    (:func:`nnconvert.passes.lift.sequential_of`) becomes, at that attribute,

    * an ``nn.Sequential`` of its layers and blocks when the function is
      named like the attribute (maybe numbered: ``double_conv2`` at
      ``double_conv``; ``sequential`` at a number);
    * else an ``nn.Sequential`` subclass named like the function's class
      (``stack`` -> ``Stack``), as ``--to functional`` writes one (a
      subclass's function is named after its class).

    Other blocks stay as they are. Inner blocks first, so Sequentials nest
    (ResNet's ``layer2`` holds blocks holding a ``downsample``). Layers must
    have been adopted (:func:`adopt_layers`). Leaves the blocks alone when
    the function cannot be traced (the conversion reports why).
    """
    blocks = [
        (path, m)
        for path, m in model.named_modules()
        if path and isinstance(m, FunctionalModel) and holds_only_numbered_modules(m)
    ]
    if not blocks:
        return
    was_training = model.training
    try:  # in eval mode, as the blocks are traced
        inputs = capture_inputs(model.eval(), example_inputs, [b for _, b in blocks])
    except ConversionError:
        return  # the conversion reports why
    finally:
        model.train(was_training)
    subclasses: dict[type, type] = {}  # wrapper class -> its Sequential subclass

    def keep(module: nn.Module) -> bool:
        return isinstance(module, (FunctionalModel, nn.Sequential))

    for path, block in reversed(blocks):  # inner blocks first
        if id(block) not in inputs:
            continue
        was_training = block.training
        block.eval()
        try:
            graph_module = trace(block, inputs[id(block)], keep)
            graph_module.meta["original"] = block
            canonicalize(graph_module)
            sequential = sequential_of(graph_module)
        except ConversionError:
            continue
        finally:
            block.train(was_training)
        if sequential is None:
            continue
        parent, _, name = path.rpartition(".")
        if not _named_as_sequential(block._function.__name__, name):
            cls = type(block)
            if cls not in subclasses:
                namespace = {"__module__": cls.__module__}
                subclasses[cls] = type(cls.__name__, (nn.Sequential,), namespace)
            sequential = subclasses[cls](*sequential)
        setattr(sequential, REBUILT, True)  # placed where first used
        setattr(model.get_submodule(parent), name, sequential.train(was_training))


def _named_as_sequential(function_name: str, attribute: str) -> bool:
    """``features`` at ``features``, ``double_conv2`` at ``double_conv``, ``sequential`` at ``0``."""
    base = "sequential" if attribute.isdigit() else re.sub(r"\W", "_", attribute)
    return re.fullmatch(rf"{re.escape(base)}_?\d*", function_name) is not None


def _build(
    function: Callable,
    tensors: dict[str, torch.Tensor],
    blocks: dict[str, Callable],
    classes: dict[Callable, type],
    root: Callable | None = None,
) -> FunctionalModel:
    """A wrapper of ``function`` over ``tensors``, with a wrapper per block inside."""
    root = root or function
    if function not in classes:  # a block's (the root's is made first)
        base = _shape_of(function)
        base = None if base is root else base  # a block class named like the root
        if base is not None and base not in classes:
            classes[base] = _wrapper_class(base)
        classes[function] = classes[base] if base else _wrapper_class(function)
    model = classes[function]()
    model._function = function
    model._keys = tuple(tensors)
    model._takes_training = "training" in inspect.signature(function).parameters
    model._callees = _callees(function)
    outer = [p for p in blocks if not any(p != q and p.startswith(q) for q in blocks)]
    model._blocks = {p[:-1]: blocks[p] for p in outer}
    placed: set[str] = set()
    for key, tensor in tensors.items():
        prefix = next((p for p in outer if key.startswith(p)), None)
        if prefix is None:
            _register(model, key, tensor)
        elif prefix not in placed:
            placed.add(prefix)
            inner = {
                k[len(prefix) :]: t for k, t in tensors.items() if k.startswith(prefix)
            }
            nested = {
                q[len(prefix) :]: f
                for q, f in blocks.items()
                if q.startswith(prefix) and q != prefix
            }
            _register(
                model, prefix[:-1], _build(blocks[prefix], inner, nested, classes, root)
            )
    return model


def _shape_of(function: Callable) -> Callable | None:
    """``basic_block`` for ``basic_block_2``: the function whose class this is another shape of.

    Functional style numbers the functions of one class whose instances run
    different code (a ResNet block with a ``downsample``); their blocks share
    that class again, so the module style can merge or name the shapes as it
    does for the original. Only for a function of the same inputs.
    """
    match = re.fullmatch(r"(\w+?)_(\d+)", function.__name__)
    base = function.__globals__.get(match[1]) if match else None
    if not inspect.isfunction(base) or base is function:
        return None

    def signature(f: Callable) -> list[tuple]:
        return [
            (p.name, p.kind, p.default)
            for p in inspect.signature(f).parameters.values()
        ]

    return base if signature(base) == signature(function) else None


def _wrapper_class(function: Callable, name: str | None = None) -> type:
    """The wrapper class of one function: ``forward`` takes the function's inputs."""
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters:
        raise ConversionError(
            f"{function.__name__}() takes no parameters; a functional model takes "
            "the weight dict first"
        )
    forward = _forward(_inputs(function, parameters[1:]))
    return type(
        name or class_name_for(function.__name__),
        (FunctionalModel,),
        {"forward": forward, "__module__": function.__module__},
    )


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
    """``conv_net`` -> ``ConvNet``, ``basic_block_2`` -> ``BasicBlock_2``.

    The inverse of the functional style's snake_case wherever one exists
    (``MLP`` -> ``mlp`` -> ``Mlp`` has none).
    """
    parts = [p for p in function_name.split("_") if p]
    name = "".join(
        ("_" if p[0].isdigit() and i else "") + p[0].upper() + p[1:]
        for i, p in enumerate(parts)
    )
    return name if name.isidentifier() and not keyword.iskeyword(name) else "Model"


def _inputs(
    function: Callable, parameters: list[inspect.Parameter]
) -> list[inspect.Parameter]:
    """The parameters ``forward`` takes: all but ``training`` and keyword-only ones."""
    inputs = []
    for parameter in parameters:
        if parameter.name == "training":
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ConversionError(
                f"{function.__name__}() takes *{parameter.name}; nnconvert needs "
                "named inputs"
            )
        if parameter.kind is parameter.KEYWORD_ONLY:
            if parameter.default is parameter.empty:
                raise ConversionError(
                    f"{function.__name__}() takes the keyword-only input "
                    f"{parameter.name!r} without a default; make it positional"
                )
            continue
        inputs.append(parameter)
    return inputs


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


def _copy(tensor: torch.Tensor, parameter: bool) -> torch.Tensor:
    """A copy of ``tensor``: a parameter (rules 1-3 of the module docstring) or a buffer."""
    value = tensor.detach().clone()
    if not parameter:
        return value
    marked = isinstance(tensor, nn.Parameter) or tensor.requires_grad
    return nn.Parameter(value, requires_grad=tensor.requires_grad if marked else True)


def _register(model: nn.Module, key: str, value: torch.Tensor | nn.Module) -> None:
    """Put ``value`` at the dotted ``key``, creating plain host modules on the way."""
    *path, name = key.split(".")
    host = model
    try:
        for part in path:
            child = host._modules.get(part)
            if child is None:
                child = nn.Module()
                host.add_module(part, child)
            host = child
        if isinstance(value, nn.Module):
            host.add_module(name, value)
        elif isinstance(value, nn.Parameter):
            host.register_parameter(name, value)
        else:
            host.register_buffer(name, value)
    except (KeyError, TypeError) as error:
        message = str(error).strip("'\"")
        raise ConversionError(
            f"weight key {key!r} cannot be a module attribute: {message}"
        ) from None


def _tensor_at(model: nn.Module, key: str) -> torch.Tensor:
    *path, name = key.split(".")
    host = model
    for part in path:
        host = host._modules[part]
    return getattr(host, name)


# -- the source rewrite ---------------------------------------------------------

from .opspecs import helpers  # noqa: E402  (this section's own: it moves as one piece)


def rewrite_source(source: str | bytes, filename: str) -> tuple[ast.Module, bool]:
    """Parse ``source``; what a helper row's form matches becomes a call of the helper.

    BatchNorm's ``if training: params[K] += 1`` becomes ``count_batch(params[K],
    training)``, its ``1.0 / float(params[K]) if training else 0.0`` a
    ``cumulative_momentum`` call (module docstring; the rows are in
    :mod:`nnconvert.opspecs.helpers`).

    Returns the tree and whether anything was rewritten. Raises SyntaxError.
    """
    tree = ast.parse(source, filename)
    rewriter = _HelperRewriter()
    tree = ast.fix_missing_locations(rewriter.visit(tree))
    return tree, rewriter.changed


def exec_source(source: str | bytes, filename: str, namespace: dict[str, Any]) -> None:
    """Execute ``source`` in ``namespace`` with :func:`rewrite_source` applied.

    Rewritten code reaches the helpers as ``__nnconvert_functional__.<name>``,
    in the module that wraps them for fx.
    """
    tree, changed = rewrite_source(source, filename)
    if changed:
        namespace[HELPER] = helpers
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


class _HelperRewriter(ast.NodeTransformer):
    """Each helper row's form, matched in source, -> a call of the helper (innermost first).

    Only inside functions whose first parameter is ``params`` (the weight
    dict), and only in exactly the row's shape (``Helper.match``):
    ``if training: params[K] += 1`` (one statement, no ``else``, the literal
    ``1``) -> ``count_batch(params[K], training)``.
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

    def generic_visit(self, node: ast.AST) -> ast.AST:
        node = super().generic_visit(node)
        params = self._params[-1] if self._params else None
        if params is None:
            return node
        for helper in _RECOGNISED:
            arguments = helper.match(node, params)
            if arguments is None:
                continue
            self.changed = True
            callee = ast.Attribute(
                ast.Name(HELPER, ast.Load()), helper.name, ast.Load()
            )
            call: ast.AST = ast.Call(callee, arguments, [])
            if helper.is_statement:
                call = ast.Expr(call)
            return ast.copy_location(call, node)
        return node


#: The rows functional input recognises in source.
_RECOGNISED = tuple(helper for helper in helpers.HELPERS if helper.slots is not None)


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
