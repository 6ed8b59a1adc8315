"""The wrapper class of each function: its name and a ``forward`` with the function's inputs.

Each function gets a subclass of :class:`~.wrapper.FunctionalModel` whose
``forward`` takes the function's inputs by name (``def forward(self, x,
y=2)``), so that fx, the hierarchy and the printer see the same signature the
function has. The class is named after the function in CamelCase (the name
module-style output gets), and numbered variants of one function share a
class (:func:`shape_of`).
"""

from __future__ import annotations

import inspect
import keyword
import re
from typing import Any, Callable

from ..errors import ConversionError


def wrapper_class(
    base: type, function: Callable, name: str | None = None, *, block: bool = False
) -> type:
    """A subclass of ``base`` for ``function``: ``forward`` takes the function's inputs.

    A ``block``'s function may take keyword-only settings without a default
    (``*, groups: int``): its caller passes them, the wrapper holds them.
    """
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters:
        raise ConversionError(
            f"{function.__name__}() takes no parameters; a functional model takes "
            "the weight dict first"
        )
    forward = _forward(_inputs(function, parameters[1:], block))
    return type(
        name or class_name_for(_named_after(function)),
        (base,),
        {"forward": forward, "__module__": function.__module__},
    )


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


def _named_after(function: Callable) -> str:
    """``drop_path`` for ``drop_path_2`` when the file has a function ``drop_path``.

    Functional style numbers a block's function whose name another function
    has: the user's own (DINO's ``DropPath`` calls ``drop_path``), or
    another shape of the same class (CaiT's ``LayerScale`` around attention
    is ``layer_scale``, around its feed-forward ``layer_scale_2``). Its class
    takes the name back, so what the output says of the class (``#
    LayerScale's own tensor``) reads the same when it is converted again;
    a class of other inputs than the base's is still a class of its own
    (:func:`shape_of`), which class styles number as they number shapes.
    """
    name, base = _numbered_base(function)
    if inspect.isfunction(base):
        return name
    return function.__name__


def _numbered_base(function: Callable) -> tuple[str, Any]:
    """``("basic_block", <its value>)`` for ``basic_block_2``; ``("", None)`` unnumbered.

    Also ``("pre_norm", ...)`` for ``pre_norm_feed_forward``, which calls
    ``feed_forward`` where ``pre_norm`` calls another function: a shape of
    one class named after the block it wraps (:mod:`nnconvert.printer.shape_names`).
    """
    name, namespace = function.__name__, function.__globals__
    match = re.fullmatch(r"(\w+?)_(\d+)", name)
    if match:
        return match[1], namespace.get(match[1])
    for cut in (i for i, c in enumerate(name) if c == "_"):
        base, wrapped = name[:cut], name[cut + 1 :]
        if (
            inspect.isfunction(namespace.get(base))
            and inspect.isfunction(namespace.get(wrapped))
            and wrapped in function.__code__.co_names
        ):
            return base, namespace[base]
    return "", None


def shape_of(function: Callable) -> Callable | None:
    """``basic_block`` for ``basic_block_2``: the function whose class this is another shape of.

    Functional style numbers the functions of one class whose instances run
    different code (a ResNet block with a ``downsample``); their blocks share
    that class again, so the module style can merge or name the shapes as it
    does for the original. Only for a function of the same inputs.
    """
    _, base = _numbered_base(function)
    if not inspect.isfunction(base) or base is function:
        return None

    def signature(f: Callable) -> list[tuple]:
        return [  # a block's settings aside (``*, stride: int``)
            (p.name, p.kind, p.default)
            for p in inspect.signature(f).parameters.values()
            if not (p.kind is p.KEYWORD_ONLY and p.default is p.empty)
        ]

    return base if signature(base) == signature(function) else None


def _inputs(
    function: Callable, parameters: list[inspect.Parameter], block: bool = False
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
            if parameter.default is parameter.empty and not block:
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


__all__ = ["class_name_for", "shape_of", "wrapper_class"]
