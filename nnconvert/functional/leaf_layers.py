"""Third-party layers a functional file builds at module level: submodules (leaves) again.

``--to functional`` builds each leaf (:mod:`nnconvert.leaves`) once at
module level and calls it directly (``x = rearrange_layer(x)``, or
``rearrange_layer.train(training)(x)``) or over its weights
(``torch.func.functional_call(ein_mix_layer, sub_params(params, "mix."),
(x,))``). Read back, each call site becomes a submodule of the wrapper, a
copy of the module-level layer that stays a leaf:

* a layer called over a slice of the weights sits at that slice's prefix
  (``mix``) and holds those very tensors;
* a layer without tensors sits where its call stands: in a block whose keys
  are all numbered (a Sequential's function), at the number its call's
  place among the members gives (``to_patch_embedding.0`` when it runs
  before the calls over ``1.``, ``2.``, ``3.``: :func:`_numbers`);
  otherwise under a name from its variable (``rearrange_layer`` ->
  ``rearrange``).

One discovery run (:func:`~.blocks.find_blocks`) records the calls
(:class:`LeafCalls`), :func:`place_leaves` puts the copies in, and every later
run, eager or traced, calls those submodules: fx records one ``call_module``
of a leaf, as for a model that holds the layer. Running the module-level
layer itself under fx would trace into its library (einops caches recipes by
shape and fails on proxies).
"""

from __future__ import annotations

import copy
import keyword
import re
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, count
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

import torch
from torch import fx, nn
from torch.overrides import TorchFunctionMode

from ..errors import ConversionError
from ..leaves import is_third_party_layer, mark_leaves, package_of

if TYPE_CHECKING:
    from .wrapper import FunctionalModel, _Run

#: Where a call without weights stands: the prefixes of the functions running
#: (innermost last), the layer's global name, and which call of it there it is.
CallSite = tuple[tuple[str, ...], str, int]


#: One step of a function's run, for placing leaves in a Sequential's function:
#: the number of the member whose weights a call reads, a leaf's call site, or
#: None for a call that reads no weights (a parameter-free member).
Step = int | CallSite | None


@dataclass
class LeafCalls:
    """What the discovery run saw of the module-level leaves, in call order.

    ``over_weights``: path (from the root) -> the global name of the layer
    called over that path's weights; ``without_weights``: the call sites of
    layers called directly; ``steps``: each running function's calls
    (by the prefixes running, as in a :data:`CallSite`), when the file has
    leaves (:func:`recording_steps`).
    """

    over_weights: dict[str, str] = field(default_factory=dict)
    without_weights: list[CallSite] = field(default_factory=list)
    steps: dict[tuple[str, ...], list[Step]] = field(default_factory=dict)
    run: _Run | None = None  # the discovery run (set by it)
    in_leaf: bool = False  # a leaf runs: its own calls are not steps

    def step(self, site: CallSite | None = None, keys: Iterable[str] = ()) -> None:
        """Record a call of the innermost running function: a leaf's, or one reading ``keys``."""
        if self.run is None or self.in_leaf:
            return
        prefixes = tuple(self.run.prefixes)
        step: Step = site
        if site is None:
            inner = prefixes[-1] if prefixes else ""
            heads = {k[len(inner) :].split(".")[0] for k in keys if k.startswith(inner)}
            number = heads.pop() if len(heads) == 1 else ""
            step = int(number) if number.isdigit() else None
        self.steps.setdefault(prefixes, []).append(step)

    @contextmanager
    def inside_leaf(self) -> Iterator[None]:
        """A leaf runs: the calls it makes are its own, not steps of the function."""
        self.in_leaf = True
        try:
            yield
        finally:
            self.in_leaf = False


class _StepRecorder(TorchFunctionMode):
    """Records each torch call of the discovery run as a step (:meth:`LeafCalls.step`)."""

    def __init__(self, calls: LeafCalls):
        super().__init__()
        self.calls = calls

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") != "__get__":  # not x.shape and the like
            run = self.calls.run
            tensors = [
                v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor)
            ]
            known = run.keys_by_id if run is not None else {}
            keys = [known[id(t)] for t in tensors if id(t) in known]
            self.calls.step(keys=keys)
        return func(*args, **kwargs)


@contextmanager
def recording_steps(calls: LeafCalls, namespace: Mapping[str, Any]) -> Iterator[None]:
    """Record the steps of the run inside, when the file has module-level leaves."""
    if not module_leaves(namespace):
        yield
        return
    with _StepRecorder(calls):
        yield


def module_leaves(namespace: Mapping[str, Any]) -> dict[str, nn.Module]:
    """The file's module-level third-party layers, by global name."""
    own = package_of(namespace.get("__name__"))
    return {
        name: value
        for name, value in namespace.items()
        if isinstance(value, nn.Module) and is_third_party_layer(value, own)
    }


def leaf_stand_ins(namespace: Mapping[str, Any], run: _Run) -> dict[str, Any]:
    """Globals that route one run's leaf calls to the wrapper's submodules.

    Each module-level leaf is replaced by a :class:`_LeafCall`, and
    ``torch.func.functional_call`` (through ``torch``, or imported by name)
    by one that runs a stand-in's submodule. Empty when the file has no
    leaves: nothing changes for other files.
    """
    layers = module_leaves(namespace)
    if not layers:
        return {}
    stand_ins: dict[str, Any] = {
        name: _LeafCall(name, layer, run) for name, layer in layers.items()
    }
    call = _functional_call(run)
    for name, value in namespace.items():
        if value is torch:
            stand_ins[name] = _TorchView(call)
        elif value is torch.func.functional_call:
            stand_ins[name] = call
    return stand_ins


class _LeafCall:
    """Stands for a module-level leaf in one run: calls the submodule placed for it."""

    def __init__(self, name: str, layer: nn.Module, run: _Run):
        self.name = name
        self.layer = layer
        self.run = run

    def train(self, mode: Any = True) -> _LeafCall:
        """``layer.train(training)``: the submodule follows the wrapper's own mode."""
        wrapper = self.run.wrapper
        if not isinstance(mode, fx.Proxy) and mode is not wrapper.training:
            raise ConversionError(
                f"{self.name}.train({mode!r}) sets another mode than the function "
                "runs in; nnconvert reads only .train(training)"
            )
        return self

    def eval(self) -> _LeafCall:
        return self.train(False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = self.run
        prefixes = tuple(run.prefixes)
        counts = run.leaf_counts
        number = counts[prefixes, self.name] = counts.get((prefixes, self.name), -1) + 1
        site = (prefixes, self.name, number)
        path = run.wrapper._leaf_paths.get(site)
        target = run.wrapper.get_submodule(path) if path is not None else self.layer
        if run.recorder is None:
            return target(*args, **kwargs)
        leaves = run.recorder.leaves
        leaves.without_weights.append(site)
        leaves.step(site)
        with leaves.inside_leaf():
            return target(*args, **kwargs)


def _functional_call(run: _Run) -> Callable:
    """``torch.func.functional_call`` that runs a leaf's submodule over its own weights."""

    def functional_call(
        module: Any,
        parameter_and_buffer_dicts: Any,
        args: Any = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        if not isinstance(module, _LeafCall):
            return torch.func.functional_call(
                module, parameter_and_buffer_dicts, args, kwargs, **options
            )
        args = () if args is None else args if isinstance(args, tuple) else (args,)
        prefix = run.prefix_of(parameter_and_buffer_dicts)
        if prefix is None:
            raise ConversionError(
                f"{module.name} is called over weights that are not one submodule's "
                "(sub_params(params, PREFIX)); nnconvert cannot place it"
            )
        path = prefix[:-1]
        target = run.wrapper.get_submodule(path)
        if type(target) is type(module.layer):  # placed
            return target(*args, **(kwargs or {}))
        if run.recorder is None:
            return torch.func.functional_call(
                module.layer, parameter_and_buffer_dicts, args, kwargs, **options
            )
        leaves = run.recorder.leaves
        leaves.over_weights.setdefault(path, module.name)
        leaves.step(keys=[prefix + key for key in parameter_and_buffer_dicts])
        with leaves.inside_leaf():
            return torch.func.functional_call(
                module.layer, parameter_and_buffer_dicts, args, kwargs, **options
            )

    return functional_call


class _TorchView(types.ModuleType):
    """``torch`` as one run's function sees it: ``torch.func.functional_call`` is the run's."""

    def __init__(self, functional_call: Callable):
        super().__init__("torch")
        self.func = _FuncView(functional_call)

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


class _FuncView(types.ModuleType):
    """``torch.func`` with the run's ``functional_call``."""

    def __init__(self, functional_call: Callable):
        super().__init__("torch.func")
        self.functional_call = functional_call

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.func, name)


# -- placing the copies ---------------------------------------------------------------


def place_leaves(
    model: FunctionalModel, calls: LeafCalls, namespace: Mapping[str, Any]
) -> frozenset[str]:
    """Copies of the leaves at the paths their calls show; the paths placed by call site.

    A layer over weights replaces the plain host of those weights (keeping
    the very tensors); one without sits in the innermost block running it
    (module docstring). The placed leaves are marked as leaves, so the
    front end's own traces keep them calls. Returns the call-site paths:
    the input did not declare them (``ModelInput.built_paths``).
    """
    layers = module_leaves(namespace)
    for path, name in calls.over_weights.items():
        _adopt_weights(model, path, layers[name])
    placed: set[str] = set()
    # block prefix -> (the call site from the block, from the root) in call order
    by_block: dict[str, list[tuple[CallSite, CallSite]]] = {}
    for site in dict.fromkeys(calls.without_weights):
        block, relative = _innermost_block(model, site[0])
        by_block.setdefault(block, []).append(((relative, *site[1:]), site))
    for block, sites in by_block.items():
        wrapper = model.get_submodule(block[:-1]) if block else model
        names = _names(wrapper, sites, calls.steps)
        for (site, _), name in zip(sites, names):
            layer = copy.deepcopy(layers[site[1]]).train(model.training)
            wrapper.add_module(name, layer)
            wrapper._leaf_paths[site] = name
            placed.add(block + name)
    if calls.over_weights or placed:
        mark_leaves(model)
    return frozenset(placed)


def _adopt_weights(model: nn.Module, path: str, layer: nn.Module) -> None:
    """A copy of ``layer`` at ``path`` holding the tensors registered there."""
    parent, _, name = path.rpartition(".")
    host = model.get_submodule(path)
    held = host.state_dict(keep_vars=True)
    leaf = copy.deepcopy(layer).train(model.training)
    expected = leaf.state_dict(keep_vars=True)
    if _shapes(held) != _shapes(expected):
        raise ConversionError(
            f"{path!r} is called through {type(layer).__name__}, whose tensors "
            f"{sorted(expected)} differ from the weights under {path + '.'!r}: "
            f"{sorted(held)}"
        )
    for key, tensor in held.items():
        *owner_path, attribute = key.split(".")
        owner = leaf.get_submodule(".".join(owner_path))
        slot = owner._parameters if attribute in owner._parameters else owner._buffers
        slot[attribute] = tensor
    setattr(model.get_submodule(parent), name, leaf)


def _shapes(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Size]:
    return {key: tensor.shape for key, tensor in tensors.items()}


def _innermost_block(
    model: nn.Module, prefixes: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """The innermost running prefix that is a wrapper of its own, and the prefixes inside it."""
    from .wrapper import FunctionalModel

    for i in reversed(range(len(prefixes))):
        prefix = prefixes[i]
        if isinstance(model.get_submodule(prefix[:-1]), FunctionalModel):
            inner = tuple(p[len(prefix) :] for p in prefixes[i + 1 :])
            return prefix, inner
    return "", prefixes


def _names(
    wrapper: FunctionalModel,
    sites: list[tuple[CallSite, CallSite]],
    steps: Mapping[tuple[str, ...], list[Step]],
) -> list[str]:
    """Names for the leaves called in ``wrapper``'s function, in call order.

    ``sites``: each call's site from the wrapper and from the root. In a
    function over numbered keys only (a Sequential's), the numbers its
    steps give them (:func:`_numbers`); else names from the variables.
    """
    heads = {key.split(".")[0] for key in wrapper._keys}
    if heads and all(h.isdigit() for h in heads):
        stacks = {absolute[0] for site, absolute in sites if not site[0]}
        if len(stacks) == 1 and all(not site[0] for site, _ in sites):
            numbers = _numbers(steps.get(stacks.pop(), []))
            found = [numbers.get(absolute) for _, absolute in sites]
            if None not in found and not {str(n) for n in found} & heads:
                return [str(n) for n in found]
    taken = heads | set(wrapper._modules)

    def free(name: str) -> bool:  # not a key, a submodule, a keyword or nn.Module's
        return not (name in taken or keyword.iskeyword(name) or hasattr(wrapper, name))

    names = []
    for (_, variable, _), _ in sites:
        base = re.sub(r"(_layer)?(_\d+)?$", "", variable) or variable
        candidates = chain([base, variable], (f"{base}_{n}" for n in count(2)))
        name = next(c for c in candidates if free(c))
        taken.add(name)
        names.append(name)
    return names


def _numbers(steps: list[Step]) -> dict[CallSite, int]:
    """The member number each leaf's call takes in a Sequential's function, or {} if unsure.

    Members run in number order: before the member with weights numbered
    ``j``, since the one numbered ``i``, come exactly ``j - i - 1`` calls
    without weights (the members between, leaves among them); the calls
    after the last one are the last members. A member's several calls
    (one per tensor op it runs) count once.
    """
    numbers: dict[CallSite, int] = {}
    last = -1
    pending: list[Step] = []
    for step in steps:
        if isinstance(step, int):
            if step == last and not pending:
                continue
            if step <= last or len(pending) != step - last - 1:
                return {}
        else:
            pending.append(step)
            continue
        numbers.update({p: last + 1 + k for k, p in enumerate(pending) if p})
        last, pending = step, []
    numbers.update({p: last + 1 + k for k, p in enumerate(pending) if p})
    return numbers


__all__ = [
    "LeafCalls",
    "leaf_stand_ins",
    "module_leaves",
    "place_leaves",
    "recording_steps",
]
