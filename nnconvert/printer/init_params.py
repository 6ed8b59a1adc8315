"""``init_params()``: fresh weights for a functional output, drawn the way ``nn`` draws them.

For every ``state_dict()`` entry of the original model, in the order
constructing the model creates it, the op-spec row of the layer that owns it
says how the layer's constructor creates it
(:class:`~nnconvert.opspecs.spec.TensorInit`)::

    def init_params() -> dict[str, Tensor]:
        params: dict[str, Tensor] = {}
        params["conv1.weight"] = nn.init.kaiming_uniform_(
            torch.empty(6, 1, 5, 5), a=math.sqrt(5)
        )
        params["conv1.bias"] = nn.init.uniform_(
            torch.empty(6), -1 / math.sqrt(25), 1 / math.sqrt(25)
        )
        ...
        return params

Construction order is taken to be ``state_dict()`` order (submodules in the
order they were registered, which is the order ``__init__`` usually builds
them), except that a submodule passed to its parent's constructor was built
before it, and that a table layer's tensors come in its row's order
(``nn.MultiheadAttention`` builds ``out_proj`` first) -- see
:func:`construction_order`. The tests check that the draws line up, bit for
bit, for every sample and every example of the table.

A tensor no row explains (a raw ``nn.Parameter`` or buffer the model's own code
creates) cannot be reproduced from the instance: it is written as
``torch.empty`` under a comment saying so, the docstring warns, and the
conversion goes on. A tensor registered under two keys (a shared layer, tied
weights) is one tensor in the dict too.

The docstring claims only what was checked. A model's ``__init__`` may
re-initialise its layers (``nn.init.orthogonal_``, a custom
``_init_weights``), which no row knows. Given an :class:`InitClaim` (the
result of running this function against a newly built original,
:mod:`nnconvert.init_check`), it says which tensors equal the original's bit
for bit; without one, it says how the tensors are drawn and claims no
equality.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConversionError
from ..naming import is_plain_identifier
from ..opspecs import spec_for_module
from ..opspecs.inits import empty
from ..opspecs.spec import TensorInit
from ..helper_origins import ancestry, helper_comments
from ..source_text import (
    INIT_SUMMARY,
    comments_per_attribute,
    docstring_summary,
    docstrings,
)
from ..ties import ties
from .imports import Imports, Printed
from .values import literal

#: Name of the generated function (``init_params_`` if the model's function has it).
FUNCTION = "init_params"

_MODULE_PREFIX = re.compile(r"\b(torch|nn|math)\.")

#: Keys a docstring may show as they are: nothing that could end the string.
_SHOWABLE_KEY = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class InitClaim:
    """What comparing ``init_params()`` with a newly built original showed.

    ``equal``: the keys whose tensors were bit-identical after the same
    ``torch.manual_seed``. Keys not in it differ (or are missing there).
    ``wording``: the claim paragraph of a functional input's
    ``init_params()`` (:func:`inherited_claim`), which ``equal`` was
    compared with: it stands when every tensor the new function draws is
    equal (tensors it leaves ``torch.empty`` aside); else, or when None,
    the claim is worded from ``equal``.
    """

    equal: frozenset[str]
    wording: str | None = None


#: How the claim paragraph nnconvert writes begins.
_CLAIM_START = "Same shapes and dtypes; each layer is initialised as `torch.nn`"

#: What an inherited paragraph may hold: it is printed into a docstring.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.,;:()`' \-]+")


def inherited_claim(doc: str) -> str | None:
    """The claim paragraph of an ``init_params()`` docstring nnconvert wrote, as one line.

    None for any other docstring (a hand-written one claims what its author
    says, not what nnconvert checked) or one holding characters that could
    end or escape the docstring it is copied into.
    """
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    if len(paragraphs) < 2:
        return None
    claim = " ".join(paragraphs[1].split())
    if not claim.startswith(_CLAIM_START) or not _PLAIN_TEXT.fullmatch(claim):
        return None
    return claim


def _helper_comments(model: nn.Module, keys: list[str]) -> dict[str, list[str]]:
    """Per root key, what the helper method that computed its tensor says (:mod:`..helper_origins`).

    Said above the key: ``init_params()`` is where functional style defines
    the root's saved tensors (a block's are said in its function, as its
    ``__init__``'s comments are).
    """
    made_by = helper_comments(ancestry(model, ""))
    return {key: made_by[key] for key in keys if key in made_by}


def _init_summary(model: nn.Module) -> str | None:
    """The summary of the docstring of the model's ``__init__``, quoted for ``init_params()``.

    ``init_params()`` is what functional style has for the constructor: the
    first paragraph of its docstring ("Initializes the GAT model.") is said
    there, and read back from there (:func:`~nnconvert.source_text.docstrings`).
    """
    literal = docstrings(model).of_init
    summary = docstring_summary(literal) if literal else None
    if summary is None:
        return None
    return INIT_SUMMARY.format(summary)


def function_name(function: str) -> str:
    """The name of the generated ``init_params`` next to the model's function ``function``."""
    return FUNCTION if function != FUNCTION else FUNCTION + "_"


def init_params_function(
    model: nn.Module, function: str, claim: InitClaim | None = None
) -> Printed:
    """``def init_params()`` for ``model``, whose functional form is ``function``.

    ``claim`` is what a comparison with a newly built original showed; None
    when there was none, and then the docstring claims no equality.
    """
    imports = Imports({"Tensor"})
    state = model.state_dict(keep_vars=True)
    lines = ["params: dict[str, Tensor] = {}"]
    first_key: dict[int, str] = {}  # id(tensor) -> the key it was first written under
    inits: dict[str, dict[str, TensorInit]] = {}
    tied = _TensorTies(model)
    unknown: set[str] = set()  # keys of tensors no row explains
    order = construction_order(model, list(state))
    comments, rest = comments_per_attribute(model, [key.split(".")[0] for key in order])
    made_by = _helper_comments(model, order)
    for key in order:
        lines += comments.pop(key.split(".")[0], [])  # the root __init__'s, above it
        lines += made_by.get(key, [])
        tensor, target = state[key], f"params[{literal(key)}]"
        source = _copy_source(model, key)
        if source is not None:  # a deep copy, as its layer's constructor made it
            lines.append(f"{target} = params[{literal(source)}].clone()")
            first_key.setdefault(id(tensor), key)
            tied.written.add(key)
            continue
        prefix, attribute = _layer_of(model, key)
        owner = _submodule(model, prefix)
        if prefix not in inits:
            inits[prefix] = _layer_inits(owner)
        init = inits[prefix].get(attribute)
        alias = tied.alias(key, tensor, init is not None, first_key)
        if alias is not None:  # written under another key: here, or after the ties
            if alias:
                lines.append(f"{target} = params[{literal(alias)}]")
                if alias in unknown:
                    unknown.add(key)
            continue
        first_key.setdefault(id(tensor), key)
        tied.written.add(key)
        if init is None:
            unknown.add(key)
            lines += _unknown(key, tensor, owner, target, imports)
            continue
        for statement in init.before:
            _use_modules(statement, imports)
            lines.append(statement)
        _use_modules(init.expression, imports)
        lines.append(f"{target} = {init.expression}")
        for statement in init.then:
            _use_modules(statement, imports)
            lines.append(statement.format(target))
    lines += tied.statements() + rest
    lines.append("return params")
    unknown_count = len(set(first_key.values()) & unknown)
    differ, compared = None, [k for k in state if k not in unknown]
    if claim is not None:
        differ = [k for k in compared if k not in claim.equal]
    text = (
        f"def {function_name(function)}() -> dict[str, Tensor]:\n"
        + _docstring(
            function,
            type(model).__name__,
            unknown_count,
            differ,
            len(compared),
            None if claim is None or differ else claim.wording,
            _init_summary(model),
        )
        + "".join(f"    {line}\n" for line in lines)
    )
    return Printed(text, imports)


class _TensorTies:
    """Tensors shared by distinct layers (``self.wte.weight = self.lm_head.weight``).

    Both layers were built, each drawing its own values, before the tie
    replaced one: so each key a table row creates is drawn in its place,
    and the tie is a statement after every draw, from the key the user's
    code names as the source. A layer registered twice was built once: its
    second name is the same tensor, in place, with no draw; so is a key no
    row creates (a plain host's, as a functional input holds them).
    """

    def __init__(self, model: nn.Module):
        self.ties = [t for t in ties(model) if not t.layer]
        self.sources = {t.target: t.source for t in self.ties}
        state = model.state_dict(keep_vars=True)
        self.tensors = {id(state[t.source]): t.source for t in self.ties}
        self.written: set[str] = set()
        self.later: list[tuple[str, str]] = []

    def alias(
        self, key: str, tensor, drawn: bool, first_key: dict[int, str]
    ) -> str | None:
        """The key ``key`` is written from in place; "" after the ties; None: draw it."""
        source = self.sources.get(key)
        if source is not None and not drawn:
            return self._from(key, source)
        if source is not None or key in self.tensors.values():
            return None
        if id(tensor) not in first_key:
            return None
        if id(tensor) in self.tensors:  # a shared layer's name for a tied tensor
            return self._from(key, self.tensors[id(tensor)])
        return first_key[id(tensor)]

    def _from(self, key: str, source: str) -> str:
        """``source`` when it is written already; else "": ``key`` follows the ties."""
        if source in self.written:
            return source
        self.later.append((key, source))
        return ""

    def statements(self) -> list[str]:
        """``params["wte.weight"] = params["lm_head.weight"]``: one tensor under both keys."""
        pairs = [
            (t.target, t.source) for t in self.ties if t.target in self.written
        ] + self.later
        if not pairs:
            return []
        return ["# tied weights: one tensor under both keys, as in the original"] + [
            f"params[{literal(target)}] = params[{literal(source)}]"
            for target, source in pairs
        ]


def construction_order(model: nn.Module, keys: list[str]) -> list[str]:
    """``keys`` (``state_dict()`` order) in the order constructing ``model`` creates them.

    That is registration order -- a module's own tensors, then its submodules
    depth first, as ``state_dict()`` lists them -- except that a submodule
    its class's ``__init__`` receives as an argument (``self.downsample =
    downsample`` in torchvision's ResNet blocks) was built before that
    ``__init__`` ran, so it comes before the module's other submodules;
    and that a table layer with submodules lists its keys as its row's
    ``init`` does (:func:`_layer_order`). Keys that no submodule owns keep
    their place at the end.
    """
    by_owner: dict[str, list[str]] = {}
    for key in keys:
        by_owner.setdefault(key.rpartition(".")[0], []).append(key)
    ordered: list[str] = []
    early_of: dict[type, frozenset[str]] = {}  # class -> _assigned_from_arguments

    def visit(prefix: str, module: nn.Module) -> None:
        spec = spec_for_module(module)
        if spec is not None and spec.init is not None and module._modules:
            ordered.extend(_layer_order(prefix, module, spec, by_owner))
            return
        ordered.extend(by_owner.pop(prefix, []))
        children = [(n, c) for n, c in module._modules.items() if c is not None]
        if type(module) not in early_of:
            early_of[type(module)] = _assigned_from_arguments(type(module))
        early = early_of[type(module)]
        children.sort(key=lambda item: item[0] not in early)  # stable
        for name, child in children:
            visit(f"{prefix}.{name}" if prefix else name, child)

    visit("", model)
    placed = set(ordered)
    return ordered + [key for key in keys if key not in placed]


def _layer_order(
    prefix: str, layer: nn.Module, spec, by_owner: dict[str, list[str]]
) -> list[str]:
    """A table layer's keys, its submodules' too, in the order its row's ``init`` lists them.

    That is the order its constructor draws them: ``nn.MultiheadAttention``
    builds ``out_proj`` (an ``nn.Linear``, which draws) before initialising
    its own tensors. Keys the row does not list follow, as registered.
    """
    dot = f"{prefix}." if prefix else ""
    mine = [
        key
        for owner in list(by_owner)
        if owner == prefix or owner.startswith(dot) or not prefix
        for key in by_owner.pop(owner)
    ]
    listed = [dot + init.attribute for init in spec.init(layer)]
    return [k for k in listed if k in mine] + [k for k in mine if k not in listed]


def _layer_of(model: nn.Module, key: str) -> tuple[str, str]:
    """``(prefix, attribute)``: the table layer whose row creates ``key``, and the key in it.

    Usually the tensor's own module (``conv1``, ``weight``); a table layer's
    submodule without a row of its own is the layer's (``attn``,
    ``out_proj.weight``). The outermost row that lists it decides: it built
    its parts, and may have drawn them anew (``nn.Transformer``'s
    ``xavier_uniform_`` over its layers' matrices). The tensor's own module
    when no row lists it.
    """
    parts = key.split(".")
    for cut in range(len(parts)):
        prefix, attribute = ".".join(parts[:cut]), ".".join(parts[cut:])
        if attribute in _layer_inits(_submodule(model, prefix)):
            return prefix, attribute
    prefix, _, attribute = key.rpartition(".")
    return prefix, attribute


def _assigned_from_arguments(cls: type) -> frozenset[str]:
    """Attributes ``cls.__init__`` sets straight from one of its arguments.

    ``self.downsample = downsample``, where ``downsample`` is an argument the
    function never rebinds. Empty when the source is not available.
    """
    init = cls.__init__
    if (getattr(init, "__module__", None) or "").startswith("torch"):
        return frozenset()
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    function = tree.body[0]
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return frozenset()
    arguments = function.args
    positional = arguments.posonlyargs + arguments.args
    if not positional:
        return frozenset()
    me = positional[0].arg  # self
    names = {a.arg for a in positional[1:] + arguments.kwonlyargs}
    assigned: dict[str, str] = {}
    rebound: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            rebound.add(node.id)
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and node.value.id in names
        ):
            for target in node.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == me
                ):
                    assigned[target.attr] = node.value.id
    return frozenset(a for a, n in assigned.items() if n not in rebound)


def _submodule(model: nn.Module, prefix: str) -> nn.Module | None:
    try:
        return model.get_submodule(prefix)
    except AttributeError:
        return None


def _copy_source(model: nn.Module, key: str) -> str | None:
    """The key ``key``'s tensor starts as a copy of, when an enclosing row says so (:attr:`TensorInit.copy_of`).

    The outermost row decides: it built the copies (``nn.TransformerEncoder``'s
    layers are deep copies of one), whatever rows its parts have.
    """
    parts = key.split(".")
    for cut in range(len(parts)):
        prefix, attribute = ".".join(parts[:cut]), ".".join(parts[cut:])
        init = _layer_inits(_submodule(model, prefix)).get(attribute)
        if init is not None and init.copy_of is None:
            return None
        if init is not None:
            return f"{prefix}.{init.copy_of}" if prefix else init.copy_of
    return None


def _layer_inits(layer: nn.Module | None) -> dict[str, TensorInit]:
    spec = None if layer is None else spec_for_module(layer)
    if spec is None or spec.init is None:
        return {}
    return {init.attribute: init for init in spec.init(layer)}


def _unknown(
    key: str,
    tensor,
    owner: nn.Module | None,
    target: str,
    imports: Imports,
) -> list[str]:
    """A tensor no row explains: ``torch.empty``, under a comment saying so."""
    if not isinstance(tensor, torch.Tensor):
        raise ConversionError(
            f"state_dict entry {key!r} is a {type(tensor).__name__}, not a tensor"
        )
    imports.use("torch")
    name = _owner_name(owner)
    whose = f"{name}'s own tensor" if is_plain_identifier(name) else "own tensor"
    return [f"# {whose}: set it before use", f"{target} = {empty(tensor)}"]


#: owners named by no class of the model's: torch's containers, and the plain
#: host a functional input holds the same tensors in (the comment must not
#: change when a functional output is converted to itself)
_CONTAINERS = (nn.ParameterDict, nn.ParameterList)


def _owner_name(owner: nn.Module | None) -> str:
    """The class a tensor's comment names: the model's own classes only."""
    if owner is None or isinstance(owner, _CONTAINERS) or type(owner) is nn.Module:
        return ""
    return type(owner).__name__


def _use_modules(text: str, imports: Imports) -> None:
    for module in _MODULE_PREFIX.findall(text):
        imports.use(module)


def _docstring(
    function: str,
    model_class: str,
    unknown: int,
    differ: list[str] | None,
    compared: int = 0,
    wording: str | None = None,
    init_summary: str | None = None,
) -> str:
    """What ``init_params()`` gives, claiming equality with the original only where checked.

    ``differ``: the keys a comparison found different (empty: all equal),
    None when no comparison ran; ``compared``: how many keys it compared;
    ``wording``: an inherited claim (:class:`InitClaim`), which replaces them.
    ``init_summary``: the last paragraph, what the model's ``__init__`` said of itself.
    """
    model = f"`{model_class}`" if is_plain_identifier(model_class) else "the model"
    layers = "of its `nn` layers " if unknown else ""
    paragraphs = [
        f"Fresh weights for `{function}`, with the original `state_dict()` keys.",
        wording or _claim(model, layers, differ, compared),
    ]
    if unknown:
        them = "them" if unknown > 1 else "it"
        warning = (
            f"Warning: the model's own code creates the {unknown} "
            f"tensor{'s' if unknown > 1 else ''} marked below; nnconvert cannot "
            f"reproduce {them} and leaves {them} uninitialised (`torch.empty`): "
            f"set {them} before use."
        )
        paragraphs.append(warning)
    if init_summary:
        paragraphs.append(init_summary)
    first, *rest = paragraphs
    text = textwrap.fill(first, 88, initial_indent='    """', subsequent_indent="    ")
    for paragraph in rest:
        text += "\n\n" + textwrap.fill(
            paragraph,
            88,
            initial_indent="    ",
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return text + '\n    """\n'


def _claim(model: str, layers: str, differ: list[str] | None, compared: int) -> str:
    """The paragraph on equality with a newly built original: only what was compared."""
    drawn = (
        "Same shapes and dtypes; each layer is initialised as `torch.nn` "
        "initialises it by default"
    )
    seeded = f"after the same `torch.manual_seed`, the tensors {layers}"
    if differ is None:
        return (
            f"{drawn}. Not compared with a newly built {model}, whose own code "
            "may initialise tensors otherwise (`nn.init.orthogonal_`, an "
            "`_init_weights` method) or draw random numbers before its layers do."
        )
    if not differ:
        return (
            f"{drawn}, so {seeded}equal those of a newly built {model}, bit for "
            "bit (nnconvert compared them)."
        )
    if len(differ) == compared:
        return (
            f"{drawn}: {model} initialises them otherwise, and none equals that "
            f"of a newly built {model} after the same `torch.manual_seed` "
            "(nnconvert compared them)."
        )
    return (
        f"{drawn}; {seeded}equal those of a newly built {model}, bit for bit, "
        f"except {len(differ)}, which {'differ' if len(differ) > 1 else 'differs'} "
        "(nnconvert compared them): "
        f"{_key_list(differ)}."
    )


def _key_list(keys: list[str]) -> str:
    """``a.weight``, ``b.bias`` and 2 more: keys are data, shown only when they are plain."""
    shown = [f"`{key}`" for key in keys if _SHOWABLE_KEY.fullmatch(key)]
    hidden = len(keys) - len(shown)
    if hidden:
        shown.append(
            f"{hidden} {'other ' if shown else ''}key{'s' if hidden > 1 else ''}"
        )
    return ", ".join(shown)


__all__ = [
    "FUNCTION",
    "InitClaim",
    "function_name",
    "inherited_claim",
    "init_params_function",
]
