"""Rebuilding containers: a block whose function is exactly an ``nn.Sequential`` becomes one.

``--to functional`` writes an ``nn.Sequential`` as a function named after the
attribute that holds it (``features(sub_params(params, "features."), x)``),
running its members in order. A block whose function is exactly such a
chain over its numbered members (:func:`nnconvert.passes.lift.sequential_of`)
becomes, at that attribute,

* an ``nn.Sequential`` of its layers and blocks when the function is named
  like the attribute (maybe numbered: ``double_conv2`` at ``double_conv``;
  ``sequential`` at a number);
  or when another block of the same function is (one function written for
  ``base``, ``layer1`` and ``layer2`` is named ``base``);
* else an ``nn.Sequential`` subclass named like the function's class
  (``stack`` -> ``Stack``), as ``--to functional`` writes one (a subclass's
  function is named after its class).

A function that takes keywords is one too (``sm_mlp_head(..., normalized_shape=(16,))``
for two heads of other widths; RegNet's ``layer(..., groups=3)``): each
block is traced at its caller's values, so its Sequential holds the layers
those values build; the keywords size or set its layers, and a layer holds
its own settings.

Other blocks stay as they are. The paths rebuilt are returned as data: the
input did not declare them, so class styles place them where first used,
as any layer the conversion adds (``ModelInput.built_paths``).
"""

from __future__ import annotations

import ast
import re
from typing import Any, Sequence

from torch import nn

from ..errors import ConversionError
from ..hierarchy import capture_inputs
from ..leaves import is_leaf
from ..modes import eval_mode
from ..passes.canonicalize import canonicalize
from ..passes.lift import holds_only_numbered_modules, sequential_of
from ..passes.weight_dicts import spell_out_dict_calls
from ..source_text import function_definition
from ..trace import trace
from .wrapper import FunctionalModel

#: The attribute of a rebuilt Sequential holding the function it was read
#: from (:func:`layer_comments`); an instance attribute, as copies of the
#: model keep it.
READ_FROM = "_nnconvert_read_from"


#: ``params["3.weight"]``, ``sub_params(params, "3.")``: a key of member 3;
#: ``params["net.3.weight"]`` in a block whose whole function is its ``net``'s.
_MEMBER_KEY = re.compile(r"^(?:[A-Za-z_]\w*\.)?(\d+)\.")


def layer_comments(sequential: nn.Module) -> list[tuple[str, list[str]]]:
    """The comments of a rebuilt Sequential's function, by the member they stand above.

    Functional style says the comments between a Sequential's layers
    (DCGAN's ``# state size. (ngf*8) x 4 x 4``) above the first statement
    of the layer after them (:func:`~nnconvert.source_text.sequential_comments`);
    read back here, in the form of ``init_comments``, so that converting
    the output again says them there again. The function's i-th assignment
    is member i where there are as many as members; else a statement stands
    for the member whose key it reads, and a comment above one that reads
    none goes with the next one that does.
    """
    function = vars(sequential).get(READ_FROM)
    found = function_definition(function) if function is not None else None
    if found is None:
        return []
    source, definition = found
    steps = [s for s in definition.body if isinstance(s, (ast.Assign, ast.AnnAssign))]
    # one statement per member, as ``--to functional`` writes them: the i-th
    # is member i, a layer without weights too (``x = torch.tanh(x)``)
    by_order = len(steps) == len(sequential)
    comments: dict[str, list[str]] = {}
    waiting: list[str] = []
    # a Sequential's function has no comments in its signature
    previous = definition.lineno
    for statement in definition.body:
        waiting += [
            source.comments[line]
            for line in range(previous + 1, statement.lineno)
            if line in source.comments
        ]
        previous = statement.end_lineno
        member = (
            str(steps.index(statement)) if by_order and statement in steps else None
        )
        member = member or next(
            (
                match.group(1)
                for node in ast.walk(statement)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
                for match in [_MEMBER_KEY.match(node.value)]
                if match
            ),
            None,
        )
        if member is not None and waiting:
            comments.setdefault(member, []).extend(waiting)
            waiting = []
    return list(comments.items())


def rebuild_sequentials(
    model: FunctionalModel, example_inputs: Sequence[Any]
) -> frozenset[str]:
    """Blocks whose function is exactly an ``nn.Sequential``'s become one; their paths.

    Inner blocks first, so Sequentials nest (ResNet's ``layer2`` holds blocks
    holding a ``downsample``). Layers must have been adopted
    (:func:`~.layers.adopt_layers`). Leaves the blocks alone when the
    function cannot be traced (the conversion reports why).
    """
    blocks = [
        (path, m)
        for path, m in model.named_modules()
        if path
        and isinstance(m, FunctionalModel)
        and (holds_only_numbered_modules(m) or _numbered_child(m) is not None)
    ]
    if not blocks:
        return frozenset()
    try:  # in eval mode, as the blocks are traced
        with eval_mode(model):
            inputs = capture_inputs(model, example_inputs, [b for _, b in blocks])
    except ConversionError:
        return frozenset()  # the conversion reports why
    subclasses: dict[type, type] = {}  # wrapper class -> its Sequential subclass
    plain = _plain_functions(blocks)
    built: set[str] = set()
    for path, block in reversed(blocks):  # inner blocks first
        if id(block) not in inputs:
            continue
        child = _numbered_child(block)
        if child is not None:
            sequential = _sequential_for(block, inputs[id(block)], within=child)
            if sequential is not None:  # ``return self.net(x)``
                # its keys are ``net.0.weight``: its comments read as a Sequential's
                vars(sequential)[READ_FROM] = block.function
                setattr(block, child, sequential.train(block.training))
                block.hand_body_to(child)
                built.add(f"{path}.{child}")
            continue
        sequential = _sequential_for(block, inputs[id(block)])
        if sequential is None:
            continue
        parent, _, name = path.rpartition(".")
        if block.function not in plain:
            cls = type(block)
            if cls not in subclasses:
                namespace = {"__module__": cls.__module__}
                subclasses[cls] = type(cls.__name__, (nn.Sequential,), namespace)
            sequential = subclasses[cls](*sequential)
        vars(sequential)[READ_FROM] = block.function
        setattr(model.get_submodule(parent), name, sequential.train(block.training))
        built.add(path)
    return frozenset(built)


def _plain_functions(blocks: Sequence[tuple[str, FunctionalModel]]) -> set[Any]:
    """The functions of plain ``nn.Sequential`` s: named like an attribute holding one.

    ``--to functional`` writes one function for several Sequentials of one
    body, named after the first one's attribute (``base`` for ``base``,
    ``layer1`` and ``layer2``): all of them are plain Sequentials again.
    """
    return {
        block.function
        for path, block in blocks
        if _named_as_sequential(block.function.__name__, path.rpartition(".")[2])
    }


def _numbered_child(block: FunctionalModel) -> str | None:
    """The name of ``block``'s one child, a host of numbered members only, and
    nothing else in ``block``: maybe the ``nn.Sequential`` its whole function is."""
    children = list(block.named_children())
    own_tensors = [
        *block.named_parameters(recurse=False),
        *block.named_buffers(recurse=False),
    ]
    if len(children) != 1 or own_tensors:
        return None
    name, child = children[0]
    if type(child) is not nn.Module or not holds_only_numbered_modules(child):
        return None
    return name


def _sequential_for(
    block: FunctionalModel, inputs: tuple[Any, ...], within: str = ""
) -> nn.Sequential | None:
    """The ``nn.Sequential`` the block's function spells out, traced on its inputs, or None.

    ``within``: that of the block's child at this name, where it is the
    block's whole function (``features.0`` … ; lucidrains' ``FeedForward``
    that ``--to functional`` wrote with its ``net``'s layers).
    """

    def keep(module: nn.Module) -> bool:
        return isinstance(module, (FunctionalModel, nn.Sequential)) or is_leaf(module)

    try:
        with eval_mode(block):
            graph_module = trace(block, inputs, keep)
            graph_module.meta["original"] = block
            canonicalize(graph_module)
            spell_out_dict_calls(
                graph_module.graph
            )  # batch_norm(...): the canonical call
            return sequential_of(graph_module, within)
    except ConversionError:
        return None


def _named_as_sequential(function_name: str, attribute: str) -> bool:
    """``features`` at ``features``, ``double_conv2`` at ``double_conv``, ``sequential`` at ``0``.

    Also ``layer`` at ``layer2``: numbered attributes with one body share a
    function named by their stem.
    """
    base = "sequential" if attribute.isdigit() else re.sub(r"\W", "_", attribute)
    stem = re.sub(r"_?\d+$", "", base)
    return any(
        re.fullmatch(rf"{re.escape(b)}_?\d*", function_name) is not None
        for b in {base, stem}
        if b
    )


__all__ = ["rebuild_sequentials"]
