"""The Python API misused (issue 13): only NnconvertError escapes, the model stays as it was."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import fx, nn

import nnconvert
from nnconvert import ConversionError, InputError, NnconvertError
from nnconvert import api

X = torch.randn(2, 4)


class Counting(nn.Module):
    """Counts its calls on ``self``, as some models count steps."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.fc(x)


class Remembering(nn.Module):
    """Keeps its last input on ``self``: under fx that would be a Proxy."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        self.last_input = x
        return self.fc(x)


class Exiting(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        raise SystemExit(5)


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def snapshot(model: nn.Module) -> tuple:
    """Everything convert could change: attributes, weights, mode, hooks."""
    return (
        {k: v for k, v in vars(model).items() if not k.startswith("_")},
        {k: v.clone() for k, v in model.state_dict().items()},
        [m.training for m in model.modules()],
        sorted(vars(model)),
    )


def assert_same(before: tuple, model: nn.Module) -> None:
    after = snapshot(model)
    assert after[0] == before[0]
    assert after[1].keys() == before[1].keys()
    for key in before[1]:
        assert torch.equal(after[1][key], before[1][key]), key
    assert after[2:] == before[2:]


# -- 5. misuse raises NnconvertError subclasses -----------------------------------


def test_an_unknown_style_is_an_input_error_listing_the_styles():
    with pytest.raises(InputError) as raised:
        nnconvert.convert(nn.Linear(4, 3), to="banana", example_inputs=(X,))
    assert str(raised.value) == (
        "unknown style 'banana'; choose one of module, functional, mixed"
    )


@pytest.mark.parametrize("model", [42, "model.py", torch.relu, nn.Linear])
def test_a_model_that_is_not_a_module_is_an_input_error(model):
    with pytest.raises(InputError, match="model must be an nn.Module"):
        nnconvert.convert(model, to="mixed", example_inputs=(X,))


def test_a_script_module_is_an_input_error():
    scripted = torch.jit.script(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
    with pytest.raises(InputError) as raised:
        nnconvert.convert(scripted, to="mixed", example_inputs=(X,))
    assert str(raised.value) == (
        "a torch.jit.ScriptModule cannot be traced by torch.fx; pass the Python "
        "nn.Module it was scripted from"
    )


class ScriptedBlock(torch.jit.ScriptModule):
    """pytorch-cifar100's stochastic depth block: ``torch.jit.script_method``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    @torch.jit.script_method
    def forward(self, x):
        return self.fc(x)


def test_a_script_module_inside_the_model_is_an_input_error():
    model = nn.Sequential(nn.Linear(4, 4), ScriptedBlock())
    with pytest.raises(InputError) as raised:
        nnconvert.convert(model, to="mixed", example_inputs=(X,))
    assert str(raised.value) == (
        "submodule '1' (ScriptedBlock) is a torch.jit.ScriptModule, which torch.fx "
        "cannot trace; write its class as a plain nn.Module (no "
        "torch.jit.script_method)"
    )


def test_a_lone_tensor_as_example_inputs_is_an_input_error():
    with pytest.raises(InputError, match=r"write \(x,\) for one tensor"):
        nnconvert.convert(nn.Linear(4, 3), to="mixed", example_inputs=X)


def test_sys_exit_in_forward_is_an_input_error_naming_the_line():
    with pytest.raises(InputError) as raised:
        nnconvert.convert(Exiting(), to="mixed", example_inputs=(X,))
    line = Exiting.forward.__code__.co_firstlineno + 1
    assert str(raised.value) == (
        f"{__file__}:{line}: the code calls sys.exit(5) while the model is traced; "
        "a model file must not exit"
    )


class ExitingOnAnotherBatch(nn.Module):
    """Exits only on the check's second batch size: tracing never sees it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        if x.shape[0] != X.shape[0]:
            raise SystemExit("bye")
        return self.fc(x)


def test_sys_exit_while_checked_is_an_input_error():
    result = nnconvert.convert(ExitingOnAnotherBatch(), to="mixed", example_inputs=(X,))
    with pytest.raises(InputError) as raised:
        result.check(train=True)
    line = ExitingOnAnotherBatch.forward.__code__.co_firstlineno + 2
    assert str(raised.value) == (
        f"{__file__}:{line}: the code calls sys.exit('bye') while the model is "
        "checked; a model file must not exit"
    )


@pytest.mark.parametrize(
    "error", [KeyError("odd key"), Unprintable(), AssertionError()]
)
def test_an_unexpected_error_is_a_conversion_error_to_report(monkeypatch, error):
    def broken(graph, style):
        raise error

    monkeypatch.setattr(api, "apply_style", broken)
    with pytest.raises(ConversionError) as raised:
        nnconvert.convert(nn.Linear(4, 3), to="mixed", example_inputs=(X,))
    message = str(raised.value)
    assert message.startswith(f"unexpected {type(error).__name__}")
    assert "this is an nnconvert bug, please report it" in message
    assert "\n" not in message
    assert raised.value.__cause__ is error


def test_nnconvert_errors_pass_through_unwrapped(monkeypatch):
    own = ConversionError("cannot rewrite this")

    def refusing(graph, style):
        raise own

    monkeypatch.setattr(api, "apply_style", refusing)
    with pytest.raises(ConversionError) as raised:
        nnconvert.convert(nn.Linear(4, 3), to="mixed", example_inputs=(X,))
    assert raised.value is own


def test_every_error_of_convert_is_an_nnconvert_error():
    for bad in (dict(to="x"), dict(model=1), dict(name="class")):
        arguments = dict(model=nn.Linear(4, 3), to="mixed", example_inputs=(X,))
        arguments.update(bad)
        with pytest.raises(NnconvertError):
            nnconvert.convert(**arguments)


# -- 6. the user's model is exactly as it was -----------------------------------


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
def test_a_model_that_counts_calls_is_not_changed_by_convert(style):
    model = Counting()
    before = snapshot(model)
    result = nnconvert.convert(model, to=style, example_inputs=(X,))
    assert model.calls == 0
    assert_same(before, model)
    assert result.model is model
    result.check(train=True)
    assert model.calls == 0


def test_convert_checks_against_the_model_as_given():
    """The output computes what a fresh model computes, not a counted-on one."""
    model = Counting()
    model.calls = 7
    result = nnconvert.convert(model, to="module", example_inputs=(X,))
    assert model.calls == 7
    converted = result.load()
    assert torch.equal(converted(X), model.fc(X))


def test_a_successful_conversion_leaves_no_attribute_behind():
    model = Remembering()
    before = snapshot(model)
    nnconvert.convert(model, to="functional", example_inputs=(X,))
    assert "last_input" not in vars(model)
    assert_same(before, model)


def test_a_failed_conversion_leaves_no_proxy_in_the_model(monkeypatch):
    def broken(graph, style):
        raise KeyError("late failure")

    monkeypatch.setattr(api, "apply_style", broken)
    model = Remembering()
    before = snapshot(model)
    with pytest.raises(ConversionError):
        nnconvert.convert(model, to="mixed", example_inputs=(X,))
    assert not any(isinstance(v, fx.Proxy) for v in vars(model).values())
    assert "last_input" not in vars(model)
    assert_same(before, model)


def test_the_train_mode_of_the_model_and_its_children_is_kept():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    model[1].eval()
    before = snapshot(model)
    nnconvert.convert(model, to="mixed", example_inputs=(X,))
    assert_same(before, model)


def test_a_model_that_cannot_be_copied_is_an_input_error():
    class Uncopyable(nn.Linear):
        def __deepcopy__(self, memo):
            raise TypeError("cannot pickle '_thread.lock' object")

    with pytest.raises(InputError, match="the model cannot be copied"):
        nnconvert.convert(Uncopyable(4, 3), to="mixed", example_inputs=(X,))


class WithFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.features(x))


def test_a_functional_input_keeps_its_facts_on_the_copy(monkeypatch):
    """``built_paths`` name submodules of the copy as of the original: same output."""
    functional = nnconvert.convert(WithFeatures(), to="functional", example_inputs=(X,))
    namespace = functional.namespace()
    weights = namespace["init_params"]()
    read = nnconvert.functional_model(namespace["with_features"], weights, (X,))
    assert read.built_paths
    original = copy.deepcopy(read.module.state_dict())
    result = nnconvert.convert(read, to="mixed", example_inputs=(X,))
    result.check(train=True)
    assert result.model is read.module
    for key, value in read.module.state_dict().items():
        assert torch.equal(value, original[key])
    monkeypatch.setattr(api, "copied_input", lambda read: read)
    uncopied = nnconvert.convert(read, to="mixed", example_inputs=(X,))
    assert result.source == uncopied.source


def test_outputs_run_as_a_file_runs_them_annotations_evaluated():
    """The check executes an output as its own file, not under nnconvert's ``__future__``.

    nnconvert's modules have ``from __future__ import annotations``; code
    compiled from them inherits it unless told not to, so an annotation that
    names something the output never imports (``Callable``) passed the check
    and failed with NameError when the file was run.
    """
    source = "def f(x: Undefined) -> int:\n    return 1\n"
    with pytest.raises(NameError, match="Undefined"):
        api.execute(source, "<nnconvert test>")


class PlainList(nn.Module):
    """golbin/WaveNet's ``self.res_blocks = [...]``: modules torch never registers."""

    def __init__(self):
        super().__init__()
        self.blocks = [nn.Linear(4, 4) for _ in range(2)]

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def test_modules_in_a_plain_list_are_named_when_the_trace_fails():
    """fx says only "parameter is not a member of this module"; the message says why."""
    with pytest.raises(ConversionError) as raised:
        nnconvert.convert(PlainList(), to="mixed", example_inputs=(X,))
    assert str(raised.value).endswith(
        "; PlainList.blocks is a plain list holding 2 module(s) "
        "(Linear): torch does not register them, so their weights are not the "
        "model's; hold them in an nn.ModuleList"
    )


class RowLoop(nn.Module):
    """BiLSTM-CRF's ``for feat in feats:``: as many steps as the tensor has rows."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, feats):
        total = torch.zeros(4)
        for feat in feats:
            total = total + self.fc(feat)
        return total


def test_a_loop_over_a_tensors_rows_is_refused_as_such():
    """Not called data-dependent: its length is a shape."""
    with pytest.raises(ConversionError) as raised:
        nnconvert.convert(RowLoop(), to="mixed", example_inputs=(X,))
    line = RowLoop.forward.__code__.co_firstlineno + 2
    assert str(raised.value) == (
        f"{__file__}:{line}: the model iterates over a tensor ('for row in "
        "tensor:' runs once per row of its first dimension); nnconvert cannot "
        "trace a loop over a tensor's rows"
    )


class MemoryKeysValues(nn.Module):
    """denoising-diffusion-pytorch's ``mk, mv = map(lambda t: ..., self.mem_kv)``:
    a loop over a weight's rows, as many as the weight has."""

    def __init__(self):
        super().__init__()
        self.mem_kv = nn.Parameter(torch.randn(2, 3, 4))
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        mk, mv = map(lambda t: t.sum(0), self.mem_kv)
        return self.fc(x) * mk + mv


@pytest.mark.parametrize("style", ["module", "functional", "mixed"])
@pytest.mark.parametrize("keep_source", [True, False], ids=["kept", "traced"])
def test_a_loop_over_a_weights_rows_reads_each_row(style, keep_source):
    """Printed from the trace, each row is read; a class style keeps the line."""
    conversion = nnconvert.convert(
        MemoryKeysValues(), to=style, example_inputs=(X,), keep_source=keep_source
    )
    conversion.check(train=True)
    if style != "functional" and keep_source:
        assert "mk, mv = map(lambda t: t.sum(0), self.mem_kv)" in conversion.source
        return
    weight = 'params["mem_kv"]' if style == "functional" else "self.mem_kv"
    assert f"{weight}[0]" in conversion.source and f"{weight}[1]" in conversion.source
