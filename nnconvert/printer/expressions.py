"""Node -> Python expression, one small emitter per node kind.

Operators print from a precedence table, so an inlined operand is wrapped in
parentheses only where Python needs them (``(a + b) * c``, never ``(a * b) + c``).
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import fx, nn

from ..branches import setting, submodule_given
from ..errors import ConversionError
from ..naming import is_plain_identifier
from ..opspecs import layout_call, specs_for_function
from ..opspecs.helpers import SUB_PARAMS, helper_for
from ..ties import tied_outside
from ..options import Style
from ..passes import TRAINING_ATTRIBUTE
from ..passes.methods import MethodCall
from ..tensor_builds import TensorBuild
from ..torch_names import qualified_name
from ..user_functions import kept_function
from .imports import Imports
from .second_names import same_value
from .layer_subclasses import SUPER_FORWARD
from .unpacked_sizes import UnpackedSizes, with_unpacked_sizes
from .values import literal, slice_literal

ATOM = 100  # calls, attributes, subscripts, names
CONDITIONAL = 1  # ``a if c else b``

#: operator -> (template, precedence); templates take already-printed operands.
BINARY = {
    operator.pow: ("**", 15),
    operator.mul: ("*", 13),
    operator.matmul: ("@", 13),
    operator.truediv: ("/", 13),
    operator.floordiv: ("//", 13),
    operator.mod: ("%", 13),
    operator.add: ("+", 12),
    operator.sub: ("-", 12),
    operator.lshift: ("<<", 11),
    operator.rshift: (">>", 11),
    operator.and_: ("&", 10),
    operator.xor: ("^", 9),
    operator.or_: ("|", 8),
    operator.eq: ("==", 7),
    operator.ne: ("!=", 7),
    operator.lt: ("<", 7),
    operator.le: ("<=", 7),
    operator.gt: (">", 7),
    operator.ge: (">=", 7),
    operator.is_: ("is", 7),
    operator.is_not: ("is not", 7),
}
UNARY = {
    operator.neg: ("-", 14),
    operator.pos: ("+", 14),
    operator.invert: ("~", 14),
    operator.not_: ("not ", 4),
}
INPLACE = {
    operator.iadd: "+=",
    operator.isub: "-=",
    operator.imul: "*=",
    operator.itruediv: "/=",
    operator.ifloordiv: "//=",
    operator.imod: "%=",
    operator.ipow: "**=",
    operator.imatmul: "@=",
    operator.iand: "&=",
    operator.ior: "|=",
    operator.ixor: "^=",
}


@dataclass(frozen=True)
class Expression:
    text: str
    precedence: int = ATOM


@dataclass
class ExpressionPrinter:
    """Prints the nodes of one body in one style; records the imports it used.

    One per body (or per class's constructor calls): its names are that
    body's statement plan, and nothing it records outlives the body.
    """

    style: Style
    names: dict[fx.Node, str] = field(default_factory=dict)
    imports: Imports = field(default_factory=Imports)
    #: functional style: call_module target -> (function name, takes training)
    callees: dict[str, tuple[str, bool]] = field(default_factory=dict)
    #: the module whose body is printed (class styles: the original, then its
    #: graph module): says, per part of an attribute path, whether it is a
    #: dict key, a list index or an attribute
    owners: tuple[nn.Module, ...] = ()
    #: functional style: call_module target -> the module-level third-party
    #: layer it calls (a :class:`~.function_plan.LeafCall`)
    leaves: dict[str, Any] = field(default_factory=dict)
    #: functional style: helper method -> the function it is written as
    methods: dict[str, str] = field(default_factory=dict)
    #: lists a data loop collected (its values, in order) -> the list's variable
    lists: dict[tuple[fx.Node, ...], str] = field(default_factory=dict)
    #: a loop's ``x[:, 0]`` -> (where its step stands in the index, -1: the
    #: whole index; the loop variable): printed ``x[:, t]``
    stepped: dict[fx.Node, tuple[int, str]] = field(default_factory=dict)
    #: functional style: an optional block call's target -> the keyword saying it runs
    flags: dict[str, str] = field(default_factory=dict)
    #: a loop over a container's members: member 0's path -> (the container's
    #: path, the loop variable); member 0's calls print through the variable
    #: (``layer[0](x)``; functional: ``params[f"layers.{i}.0.weight"]``)
    members: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: functional style: a member loop's block call (copy 0's) -> its keywords
    #: whose values the loop runs over, each printed as the loop's variable
    loop_keywords: dict[fx.Node, dict[str, str]] = field(default_factory=dict)

    # -- entry points --------------------------------------------------------

    def expression(self, node: fx.Node) -> Expression:
        if node in self.names:
            return Expression(self.names[node])
        emit: Callable[[fx.Node], Expression] = getattr(self, f"_{node.op}")
        return emit(node)

    def definition(self, node: fx.Node) -> str:
        """The expression that computes ``node`` (for its own statement)."""
        return getattr(self, f"_{node.op}")(node).text

    def argument(self, value: Any) -> str:
        """An argument in a call: a node's expression or a literal."""
        return self._value(value).text

    def operand(self, value: Any, precedence: int, *, right: bool = False) -> str:
        """``value`` inside an operator of ``precedence``, parenthesised if needed."""
        expression = self._value(value)
        needs = expression.precedence < precedence or (
            right and expression.precedence == precedence and precedence != 15
        )
        if precedence == 15 and not right and expression.precedence == 15:
            needs = True  # ** is right-associative
        return f"({expression.text})" if needs else expression.text

    def use(self, name: str) -> None:
        self.imports.use(name)

    # -- node kinds ----------------------------------------------------------

    def _placeholder(self, node: fx.Node) -> Expression:
        return Expression(self.names[node])

    def _get_attr(self, node: fx.Node) -> Expression:
        target = str(node.target)
        if self.style is Style.FUNCTIONAL:
            if target == TRAINING_ATTRIBUTE:
                return Expression("training")
            return Expression(f"params[{self.key(target)}]")
        return Expression(self.attribute_path(target))

    def _call_module(self, node: fx.Node) -> Expression:
        if self.style is Style.FUNCTIONAL and str(node.target) in self.leaves:
            return Expression(self._leaf_call(node))
        if self.style is Style.FUNCTIONAL:
            function, training = self.callees[str(node.target)]
            weights = self._block_weights(node)
            kwargs = {
                **node.kwargs,
                **{k: _Raw(v) for k, v in self.loop_keywords.get(node, {}).items()},
                **({"training": _Raw("training")} if training else {}),
            }
            return Expression(self._call(function, (_Raw(weights), *node.args), kwargs))
        return Expression(
            self._call(self.attribute_path(str(node.target)), node.args, node.kwargs)
        )

    def _block_weights(self, node: fx.Node) -> str:
        """``sub_params(params, "encoder.")``, with the tensors tied outside the block passed in.

        See :func:`~nnconvert.ties.tied_outside`.
        """
        target = str(node.target)
        (weights,) = SUB_PARAMS.print(["params", self.key(target + ".")])
        module = node.graph.owning_module
        return with_tied(
            weights, tied_outside(module.meta.get("original", module), target)
        )

    def weight_slice(self, node: fx.Node, weights: dict[str, Any]) -> str:
        """One layer's weights, keyed as in its state_dict: ``sub_params(params, "bn1.")``.

        The slice of the dict under the layer's key, where the graph reads
        every one of its tensors there (a tensor tied elsewhere is passed in
        under its key: :func:`with_tied`); else, in class styles, or when the
        tensors are no one layer's, the dict written out.
        """
        targets = {
            key: str(value.target)
            for key, value in weights.items()
            if isinstance(value, fx.Node) and value.op == "get_attr"
        }
        prefix = _common_prefix(targets)
        module = node.graph.owning_module
        original = module.meta.get("original", module) if module else None
        if self.style is not Style.FUNCTIONAL or prefix is None or original is None:
            return self.argument(weights)
        try:
            keys = set(original.get_submodule(prefix[:-1]).state_dict())
        except AttributeError:
            return self.argument(weights)
        if len(targets) != len(weights) or keys != set(weights):
            return self.argument(weights)
        (text,) = SUB_PARAMS.print(["params", self.key(prefix)])
        tied = {k: t for k, t in targets.items() if t != prefix + k}
        return with_tied(text, tied)

    def _leaf_call(self, node: fx.Node) -> str:
        """A third-party layer called in functional style, over its slice of the weights.

        ``rearrange_layer(x)`` when it holds no tensors, else
        ``torch.func.functional_call(layer, sub_params(params, "p."), (x,))``;
        ``layer.train(training)`` in place of ``layer`` when it reads its mode.
        """
        call = self.leaves[str(node.target)]
        layer = call.variable
        if call.leaf.reads_mode:
            layer = f"{layer}.train(training)"
        if not call.leaf.has_state:
            return self._call(layer, node.args, node.kwargs)
        self.use("torch")
        prefix = self.key(str(node.target) + ".")
        (weights,) = SUB_PARAMS.print(["params", prefix])
        arguments = [_Raw(layer), _Raw(weights), tuple(node.args)]
        if node.kwargs:
            arguments.append(dict(node.kwargs))
        return self._call("torch.func.functional_call", arguments, {})

    def _call_method(self, node: fx.Node) -> Expression:
        receiver, *args = node.args
        return Expression(
            self._call(
                f"{self.operand(receiver, ATOM)}.{node.target}", args, node.kwargs
            )
        )

    def _call_function(self, node: fx.Node) -> Expression:
        target = node.target
        if target in BINARY:
            symbol, precedence = BINARY[target]
            left, right = node.args
            return Expression(
                f"{self.operand(left, precedence)} {symbol} "
                f"{self.operand(right, precedence, right=True)}",
                precedence,
            )
        if target in UNARY:
            symbol, precedence = UNARY[target]
            return Expression(
                f"{symbol}{self.operand(node.args[0], precedence)}", precedence
            )
        if target is same_value:  # ``shortcut = x`` (.second_names)
            return self._value(node.args[0])
        if target is setting:  # a tested attribute, as the function's keyword
            (value,) = node.kwargs.values()
            return self._value(value)
        if target is submodule_given:  # a merged block's optional submodule
            (path,) = node.args
            if self.style is Style.FUNCTIONAL:
                return Expression(self.flags[path])
            _, precedence = BINARY[operator.is_not]
            return Expression(f"{self.attribute_path(path)} is not None", precedence)
        if isinstance(target, TensorBuild):  # a module-level constant (.built_tensors)
            return Expression(target.constant)
        if isinstance(target, MethodCall):  # self.encode(x); encode(params, x)
            if self.style is Style.FUNCTIONAL:
                function = self.methods.get(target.name, target.name)
                keywords = {k: _Raw(k) for k in target.keywords}  # the caller's own
                if target.reads_training:
                    keywords["training"] = _Raw("training")
                arguments = (_Raw("params"), *node.args)
                return Expression(self._call(function, arguments, keywords))
            return Expression(self._call(f"self.{target.name}", node.args, {}))
        if target is SUPER_FORWARD:  # a layer subclass's call of its base layer
            return Expression(self._call("super().forward", node.args, {}))
        helper = helper_for(target)
        if (
            helper is not None and helper.form is not None and not helper.is_statement
        ):  # its row's form
            (text,) = helper.print([self.argument(a) for a in node.args])
            precedence = CONDITIONAL if helper.form_kind is ast.IfExp else ATOM
            return Expression(text, precedence)
        if helper is not None and helper.weight_dict:
            index = helper.parameters.index("weights")
            arguments = list(node.args)
            if len(arguments) > index and isinstance(arguments[index], dict):
                # batch_norm(sub_params(params, "bn1."), x)
                weights = self.weight_slice(node, arguments[index])
                arguments[index] = _Raw(weights)
                return Expression(self._call(helper.name, arguments, node.kwargs))
        if target is operator.getitem:
            container, index = node.args
            if node in self.stepped:
                index = _stepped(index, *self.stepped[node])
            if self._whole_size_read_inline(container, index):
                # ``b, t = idx.size()`` with ``t`` read once: ``idx.size(1)``,
                # not the trace's ``idx.size()[1]``
                tensor = self.operand(container.args[0], ATOM)
                return Expression(f"{tensor}.size({index})")
            return Expression(self.subscript(container, index))
        if (
            target is getattr
            and len(node.args) == 2
            and is_plain_identifier(str(node.args[1]))
        ):
            return Expression(f"{self.operand(node.args[0], ATOM)}.{node.args[1]}")
        # a plain call (:func:`takes_loop_keywords`): a loop's variables where
        # each step passes another literal (``b1=block_size``)
        kwargs = {
            **node.kwargs,
            **{k: _Raw(v) for k, v in self.loop_keywords.get(node, {}).items()},
        }
        specs = specs_for_function(target)
        if specs:
            args, kwargs = layout_call(specs[0], list(node.args), kwargs)
            return Expression(self._call(self.function_name(target), args, kwargs))
        return Expression(self._call(self.function_name(target), node.args, kwargs))

    # -- pieces --------------------------------------------------------------

    def key(self, key: str) -> str:
        """A ``state_dict`` key as a string literal; in a loop over members, an f-string.

        ``"layers.0.1.weight"`` is ``f"layers.{i}.1.weight"`` inside ``for i in
        range(n)`` over ``layers``' members.
        """
        for member, (container, variable) in self.members.items():
            if key.startswith(f"{member}."):
                rest = key[len(member) :]
                return f'f"{container}.{{{variable}}}{rest}"'
        return literal(key)

    def attribute_path(self, target: str) -> str:
        """``"features.0.weight"`` -> ``self.features[0].weight`` (names escaped, never code).

        A Python name is an attribute (``self.heads.cls``); any other part is
        written the way its owner is indexed: a key of an ``nn.ModuleDict`` /
        ``nn.ParameterDict`` as a string (``self.d["1"]``,
        ``self.heads["class"]``), a position in an ``nn.Sequential`` /
        ``nn.ModuleList`` / ``nn.ParameterList`` as a number, any other name
        as an attribute, with ``getattr`` only where no ``.name`` can say it
        (a parameter registered as ``"class"``). Parts that the owner does
        not hold (layers a style pass added) are plain names or numbers.
        """
        if target == TRAINING_ATTRIBUTE:
            return "self.training"
        text, owners = "self", self.owners
        parts = target.split(".")
        for number, part in enumerate(parts):
            text = _attribute_part(_telling(owners), text, part)
            found = (o._modules.get(part) for o in owners)
            owners = tuple(child for child in found if child is not None)
            member = self.members.get(".".join(parts[: number + 1]))
            if member is not None:  # a loop over members: the loop's variable
                text = member[1]
        return text

    def function_name(self, function: Any) -> str:
        helper = helper_for(function)
        if helper is not None and helper.definition is not None:
            return helper.name  # defined in the file itself (``lstm``)
        kept = kept_function(function)
        if kept is not None:
            return kept.name  # the user's, written in the file as the user wrote it
        found = qualified_name(function)
        if found is None:
            raise ConversionError(
                f"cannot name the function {function!r} in generated code "
                "(it must be importable: torch, torch.nn.functional, math, operators, "
                "or a module-level function of an installed library)"
            )
        text, imported = found
        if imported:
            self.use(imported)
        return text

    def _call(self, callee: str, args: Any, kwargs: dict) -> str:
        parts = [self.argument(a) for a in with_unpacked_sizes(args, self.names)]
        parts += [f"{k}={self.argument(v)}" for k, v in kwargs.items()]
        return f"{callee}({', '.join(parts)})"

    def _whole_size_read_inline(self, container: Any, index: Any) -> bool:
        """``container`` is an inlined ``x.size()`` read at one constant dimension."""
        return (
            type(index) is int
            and isinstance(container, fx.Node)
            and container not in self.names
            and container.op == "call_method"
            and container.target == "size"
            and len(container.args) == 1
            and not container.kwargs
        )

    def subscript(self, container: Any, index: Any) -> str:
        """``x[:, 1:n]``: the text of an indexing, read (``getitem``) or assigned (``setitem``)."""
        return f"{self.operand(container, ATOM)}[{self._index(index)}]"

    def _index(self, index: Any) -> str:
        if isinstance(index, tuple) and index:
            items = [self._index(i) for i in index]
            return ", ".join(items) + ("," if len(items) == 1 else "")
        if isinstance(index, slice):
            if any(
                isinstance(v, (fx.Node, _Raw))
                for v in (index.start, index.stop, index.step)
            ):
                parts = [
                    "" if v is None else self.argument(v)
                    for v in (index.start, index.stop)
                ]
                text = ":".join(parts)
                return text + (
                    f":{self.argument(index.step)}" if index.step is not None else ""
                )
            return slice_literal(index)
        return self.argument(index)

    def _value(self, value: Any) -> Expression:
        if isinstance(value, _Raw):
            for name in value.uses:
                self.use(name)
            return Expression(value.text)
        if isinstance(value, UnpackedSizes):  # ``*q.shape[:2]``
            return Expression(
                f"*{self.subscript(value.sizes, slice(None, value.count))}"
            )
        if isinstance(value, fx.Node):
            return self.expression(value)
        if isinstance(value, list) and self._collected(value) is not None:
            return Expression(self._collected(value))
        if isinstance(value, (tuple, list)) and any(_contains_node(v) for v in value):
            items = [self.argument(v) for v in value]
            if isinstance(value, list):
                return Expression("[" + ", ".join(items) + "]")
            return Expression(
                "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
            )
        if isinstance(value, slice) and _contains_node(value):  # outside brackets
            parts = [value.start, value.stop] + ([value.step] if value.step else [])
            return Expression(f"slice({', '.join(map(self.argument, parts))})")
        if isinstance(value, dict) and any(_contains_node(v) for v in value.values()):
            items = [f"{literal(k)}: {self.argument(v)}" for k, v in value.items()]
            return Expression("{" + ", ".join(items) + "}")
        if isinstance(value, (torch.dtype, torch.device)):
            self.use("torch")
        if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
            return Expression(literal(value), 14 if value < 0 else ATOM)
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value < 0
        ):
            return Expression(literal(value), 14)
        return Expression(literal(value))

    def _collected(self, value: list) -> str | None:
        """The variable of the list a data loop collected ``value``'s items into."""
        if not self.lists or not all(isinstance(v, fx.Node) for v in value):
            return None
        return self.lists.get(tuple(value))


def _common_prefix(targets: dict[str, str]) -> str | None:
    """``"bn1."`` when most keys are read at that prefix (the rest: tied tensors)."""
    found = [t[: -len(k)] for k, t in targets.items() if t.endswith("." + k)]
    if not found:
        return None
    prefix = max(dict.fromkeys(found), key=found.count)
    return prefix if prefix.endswith(".") else None


def _stepped(index: Any, place: int, variable: str) -> Any:
    """``(slice(None), 0)`` -> ``(slice(None), t)``: a loop's index with its variable."""
    if place < 0:
        return _Raw(variable)
    return tuple(_Raw(variable) if i == place else part for i, part in enumerate(index))


#: container kinds -> how a part under them is written
_KEYED = (nn.ModuleDict, nn.ParameterDict)
_POSITIONAL = (nn.Sequential, nn.ModuleList, nn.ParameterList)


def _attribute_part(owner: nn.Module | None, text: str, part: str) -> str:
    """``text`` (which evaluates to ``owner``) followed by its ``part``."""
    if is_plain_identifier(part):  # dicts too: self.heads.cls, as people write it
        return f"{text}.{part}"
    if isinstance(owner, _KEYED):
        return f"{text}[{literal(part)}]"
    if isinstance(owner, _POSITIONAL) and _is_index(part):
        return f"{text}[{part}]"
    if owner is None and _is_index(part):  # unknown owner: a numbered container
        return f"{text}[{part}]"
    return f"getattr({text}, {literal(part)})"


def _is_index(part: str) -> bool:
    """``"3"``, not ``"03"`` nor ``"³"``: the spelling a list position has."""
    return part.isascii() and part.isdigit() and str(int(part)) == part


def _telling(owners: tuple[nn.Module, ...]) -> nn.Module | None:
    """The first of ``owners`` that says what it is.

    A graph module holds a plain ``nn.Module`` where the original has a
    container that fx traced through (its stand-in), and the original a
    plain host where a functional input built one (the style pass puts the
    real container in the graph module).
    """
    plain = [o for o in owners if type(o) is nn.Module]
    return next((o for o in owners if type(o) is not nn.Module), *plain[:1] or [None])


@dataclass(frozen=True)
class _Raw:
    """Source text passed through as an argument, with the imports it reads (``math``)."""

    text: str
    uses: tuple[str, ...] = ()


def with_tied(weights: str, tied: dict[str, str]) -> str:
    """A block's weights with the tensors it shares with the outside under its own keys.

    ``{**sub_params(params, "blk."), "fc.weight": params["emb.weight"]}``;
    ``weights`` alone when ``tied`` is empty.
    """
    if not tied:
        return weights
    items = [f"{literal(k)}: params[{literal(v)}]" for k, v in tied.items()]
    return "{**" + weights + ", " + ", ".join(items) + "}"


def _contains_node(value: Any) -> bool:
    found = False

    def visit(v: Any) -> Any:
        nonlocal found
        found = found or isinstance(v, fx.Node)
        return v

    fx.node.map_aggregate(value, visit)
    return found


def takes_loop_keywords(node: fx.Node) -> bool:
    """``node`` prints as a plain call of its function with its own keywords,
    so a loop may pass a variable for one (:meth:`ExpressionPrinter._call_function`'s
    last case): a block's call, or a function none of the printer's other
    cases writes (an operator, a helper's form, an indexing, a method of the
    user's, a tensor built at module level).
    """
    if node.op == "call_module":
        return True
    target = node.target
    return (
        node.op == "call_function"
        and target not in BINARY
        and target not in UNARY
        and target not in (setting, submodule_given, SUPER_FORWARD)
        and target not in (operator.getitem, getattr)
        and not isinstance(target, (TensorBuild, MethodCall))
        and helper_for(target) is None
    )
