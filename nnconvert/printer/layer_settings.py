"""Mixed style: a parameter-free layer's setting kept as the source sets it.

Mixed style calls a parameter-free layer as a function, with the literal
the instance holds: nanoGPT's ``self.attn_dropout = nn.Dropout(config.dropout)``
prints as ``F.dropout(att, p=0.1, training=self.training)``, and the class
no longer says that ``p`` is the config's. Where the source builds the
layer with one argument that is an expression (``config.dropout``, the
parameter ``dropout``), the printer keeps it as nanoGPT itself writes its
flash attention's dropout: the attribute holds the setting
(``self.attn_dropout = config.dropout``) and the call reads it
(``F.dropout(att, self.attn_dropout, self.training)``).

:func:`layer_setting_read` names such a literal slot, for
:mod:`.attribute_reads`; :func:`layer_settings` gives the source's
expression, which :func:`~.source_arguments.written_reads` writes in
``__init__`` where the class can. The attribute is named as the
expression ends (``self.upscale_factor = upscale_factor`` for
``self.pixel_shuffle = nn.PixelShuffle(upscale_factor)``) where the class
has no other use for that name, else as the layer. Where the class
already holds the setting (``self.dropout = dropout`` or ``self.p_drop =
dropout`` beside ``self.drop = nn.Dropout(dropout)``), the call reads that
attribute, and nothing is added: functional style's keyword is then the
one both calls read, not a literal beside it. A layer built with a
literal (``nn.Dropout(0.25)``) or with several arguments is printed as
before.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

from torch import fx, nn

from ..module_kinds import is_stateless, is_user_module
from ..passes.styles import CALLED_FROM_LAYER, MADE_FROM_LAYER, positional_name
from ..source_text import attributes_stored, called_name, function_tree, self_path
from .values import same_literal


@dataclass(frozen=True)
class LayerSetting:
    """A layer's one setting, and the attribute mixed style holds it in."""

    #: the attribute holding the layer: ``pixel_shuffle``
    layer: str
    #: the layer's parameter the source's argument binds to: ``upscale_factor``
    parameter: str
    #: the source's argument: ``upscale_factor``, ``config.dropout``
    expression: ast.expr
    #: the attribute holding the setting: the name the expression ends in
    #: (:func:`~nnconvert.source_text.called_name`: ``dropout`` for
    #: ``config.dropout``) where the class has no other use for it
    #: (``self.upscale_factor``), else the layer's (``self.resid_dropout =
    #: config.dropout``); the attribute the class already holds it in
    #: where it does (:attr:`held`)
    name: str
    #: the class already sets ``self.<name>`` to the expression
    #: (``self.dropout = config.dropout``): no statement is added
    held: bool = False

    @property
    def statement(self) -> str:
        """The statement of ``__init__`` holding it: ``self.resid_dropout = config.dropout``.

        Empty where the class already holds it (:attr:`held`): the layer's
        statement goes, and nothing takes its place.
        """
        if self.held:
            return ""
        return f"self.{self.name} = {ast.unparse(self.expression)}"


def layer_settings(module: nn.Module) -> dict[str, LayerSetting]:
    """Each parameter-free ``torch.nn`` layer of ``module`` built with one argument that is no literal.

    By the layer's attribute. The layer is set once, by a statement of
    ``__init__``'s own body, ``self.<layer> = nn.<Layer>(<argument>)``.
    """
    init = function_tree(type(module).__dict__.get("__init__"))
    if init is None:
        return {}
    set_in_init = attributes_stored(init)
    set_once = list(_set_once(init, set_in_init))
    found = {}
    for attribute, value in set_once:
        layer = module._modules.get(attribute)
        if layer is None or not is_stateless(layer) or is_user_module(layer):
            continue
        bound = _one_argument(value, type(layer))
        if bound is not None:
            found[attribute] = LayerSetting(attribute, *bound, attribute)
    taken = set(set_in_init) | set(vars(module)) | set(dir(type(module)))
    wanted = Counter(called_name(s.expression) for s in found.values())
    holding = _settings_held(set_once, module)
    for layer, setting in found.items():
        name = called_name(setting.expression)
        value = getattr(module._modules[layer], setting.parameter, None)
        holder = holding.get(ast.unparse(setting.expression))
        if holder is not None and same_literal(vars(module)[holder], value):
            found[layer] = dataclasses.replace(setting, name=holder, held=True)
        elif name is not None and name not in taken and wanted[name] == 1:
            found[layer] = dataclasses.replace(setting, name=name)
    return found


def _settings_held(
    set_once: list[tuple[str, ast.expr]], module: nn.Module
) -> dict[str, str]:
    """The plain attributes ``__init__``'s own body sets once (``set_once``), by the text of their expression.

    ``{"config.dropout": "dropout"}`` for ``self.dropout = config.dropout``:
    a layer built from the same text may read that attribute. A text two
    attributes hold is left out (which would it read?).
    """
    found: dict[str, list[str]] = {}
    for attribute, value in set_once:
        if attribute in vars(module):
            found.setdefault(ast.unparse(value), []).append(attribute)
    return {text: names[0] for text, names in found.items() if len(names) == 1}


def _set_once(
    init: ast.FunctionDef | ast.AsyncFunctionDef, set_in_init: Counter[str]
) -> Iterator[tuple[str, ast.expr]]:
    """``self.<attribute> = <value>`` of ``__init__``'s own body, for an attribute nothing else sets."""
    for statement in init.body:
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            continue
        target = statement.targets[0]
        if not isinstance(target, ast.Attribute) or self_path(target.value) != "":
            continue
        if set_in_init[target.attr] == 1:
            yield target.attr, statement.value


def entry_setting(
    module: nn.Module, container: str, key: str, value: ast.expr
) -> LayerSetting | None:
    """The setting of the layer at ``key`` of ``module``'s ``nn.ModuleDict`` ``container``.

    ``value``: the source's expression building it (nanoGPT's
    ``drop=nn.Dropout(config.dropout)`` in ``nn.ModuleDict(dict(...))``).
    Its attribute on ``module`` is named as the expression ends, else as
    the key, where ``module``'s class has no other use for that name; None
    where neither is free.
    """
    layer = module._modules[container]._modules.get(key)
    if layer is None or not is_stateless(layer) or is_user_module(layer):
        return None
    bound = _one_argument(value, type(layer))
    init = function_tree(type(module).__dict__.get("__init__"))
    if bound is None or init is None:
        return None
    taken = (
        set(attributes_stored(init))
        | set(vars(module))
        | set(dir(type(module)))
        | {s.name for s in layer_settings(module).values()}
    )
    for name in (called_name(bound[1]), key):
        if name is not None and name.isidentifier() and name not in taken:
            return LayerSetting(f"{container}.{key}", *bound, name)
    return None


def _one_argument(value: ast.expr, layer: type) -> tuple[str, ast.expr] | None:
    """The layer parameter a call's one argument binds to, and the argument; None for a literal."""
    if not isinstance(value, ast.Call) or len(value.args) + len(value.keywords) != 1:
        return None
    if value.args and isinstance(value.args[0], ast.Starred):
        return None
    if value.keywords and value.keywords[0].arg is None:
        return None
    argument = value.args[0] if value.args else value.keywords[0].value
    if _is_literal(argument):
        return None
    try:
        bound = inspect.signature(layer).bind(
            *([None] if value.args else []),
            **({value.keywords[0].arg: None} if value.keywords else {}),
        )
    except (TypeError, ValueError):
        return None
    (parameter,) = bound.arguments
    return parameter, argument


def _is_literal(expression: ast.expr) -> bool:
    """A number, string or tuple of them as written: ``0.25``, ``-1``, ``(1, 1)``."""
    try:
        ast.literal_eval(expression)
    except ValueError:
        return False
    return True


def layer_setting_read(
    node: fx.Node, key: Any, kind: str, module: nn.Module, value: Any
) -> str | None:
    """The attribute holding the setting ``node``'s argument ``key`` is, where mixed style made it from a layer.

    The call's argument of the layer parameter's name, holding the layer's
    value (``p`` of ``F.dropout``, 0.1, for ``nn.Dropout(config.dropout)``).
    In functional style (:data:`~nnconvert.passes.styles.CALLED_FROM_LAYER`)
    the slot is a keyword of the block's function, named as the attribute
    that already holds the setting, else as the argument ends
    (``dropout``): the one keyword every call built from that argument
    reads.
    """
    attribute = node.meta.get(MADE_FROM_LAYER, node.meta.get(CALLED_FROM_LAYER))
    if not isinstance(attribute, str) or kind not in ("arg", "kw"):
        return None
    setting = layer_settings(module).get(attribute)
    if setting is None:
        return None
    name = key if kind == "kw" else positional_name(node, key)
    held = getattr(module._modules[attribute], setting.parameter, None)
    if name != setting.parameter or not same_literal(held, value):
        return None
    if CALLED_FROM_LAYER in node.meta and not setting.held:  # no attribute
        return called_name(setting.expression)
    return setting.name
