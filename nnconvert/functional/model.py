"""``functional_model``: a function over a weight dict and its weights, as a model input.

A functional model is ``def net(params: dict[str, Tensor], x, *,
training=False)`` reading ``params["conv1.weight"]`` and friends
(nnconvert's own ``--to functional`` output is one). It is wrapped with its
weights into a module the forward pipeline traces like any other
(:mod:`.wrapper`, :mod:`.weights`). Given example inputs, the wrapper also
takes on the structure the function shows, without changing what it
computes:

1. sub-functions called over a submodule's weights become blocks
   (:mod:`.blocks`);
2. hosts whose tensors only feed one layer's functional call become that
   layer (:mod:`.layers`);
3. module-level third-party layers the functions call become submodules
   again, kept as leaves (:mod:`.leaf_layers`);
4. blocks whose function is exactly a chain through their numbered members
   become ``nn.Sequential`` s (:mod:`.containers`).

What the module does not show travels beside it in the
:class:`~nnconvert.frontend.ModelInput`: the function's name and the paths
built in steps 3 and 4.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch

from ..frontend import ModelInput
from ..range_counts import with_loop_steps
from .blocks import find_blocks
from .classes import wrapper_class
from .containers import rebuild_sequentials
from .layers import adopt_layers
from .leaf_layers import place_leaves
from .weights import copy_weights, numbered_in_index_order
from .wrapper import FunctionalModel, build_wrapper


def functional_model(
    function: Callable,
    params: Mapping[str, torch.Tensor],
    example_inputs: Sequence[Any] | None = None,
    *,
    class_name: str | None = None,
    initial: Mapping[str, torch.Tensor] | None = None,
) -> ModelInput:
    """Wrap ``function(params, *inputs)`` and its weights as a model input (module docstring).

    The tensors are copied (which are parameters: :mod:`.weights`). With
    ``example_inputs`` the wrapper also takes the model's structure from
    what the function does with its weights. ``class_name`` names the
    wrapper class (default: the function's name in CamelCase,
    :func:`~.classes.class_name_for`), which is the default name of
    module-style output. ``initial`` are the weights as the file's
    ``init_params()`` creates them (not copied, only read here): a layer's
    constructor arguments that only set initial values are read from them,
    never from ``params`` (which training may have changed).
    """
    tensors = numbered_in_index_order(copy_weights(function, params))
    classes = {function: wrapper_class(FunctionalModel, function, class_name)}
    model = build_wrapper(function, tensors, {}, classes)
    built: frozenset[str] = frozenset()
    if example_inputs is not None:
        # ``for i in range(future):`` run with steps, to see what its body calls
        example_inputs = with_loop_steps(model, example_inputs)
        calls = find_blocks(model, example_inputs)
        blocks = calls.blocks()
        if blocks:
            model = build_wrapper(
                function, tensors, blocks, classes, settings=calls.block_settings()
            )
        placed = place_leaves(model, calls.leaves, function.__globals__)
        adopt_layers(model, example_inputs, initial)
        if blocks:
            built = rebuild_sequentials(model, example_inputs)
        built |= {p for p in placed if not any(p.startswith(b + ".") for b in built)}
    return ModelInput(model, function_name=function.__name__, built_paths=built)


__all__ = ["functional_model"]
