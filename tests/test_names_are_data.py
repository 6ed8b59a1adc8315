"""Names that come from the model or the caller are data, never code.

A class's ``__name__`` can be any string (``type(name, bases, ns)``), and
``--name`` is whatever the user typed. Printed as they are, they could run
code when the output is loaded (by the check itself), or hide the modules
the generated code uses (``torch``, ``nn``, ``F``, ``math``, ``Tensor``).
"""

from __future__ import annotations

import keyword

import pytest
import torch
from torch import nn

import nnconvert
from nnconvert import InputError
from nnconvert.options import Style

from .helpers import SAMPLES, run

INJECTION = (
    'Evil(nn.Module):\n    pass\n\nimport os\nos.system("touch PWNED")\n\nclass Evil'
)


def _model_class(name: str, block: type | None = None) -> type:
    def __init__(self):
        nn.Module.__init__(self)
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)
        if block is not None:
            self.block = block()

    def forward(self, x):
        x = self.bn(torch.relu(self.fc(x)))
        return self.block(x) if block is not None else x

    return type(name, (nn.Module,), {"__init__": __init__, "forward": forward})


def _inputs() -> tuple[torch.Tensor, ...]:
    return (torch.randn(3, 4),)


@pytest.mark.parametrize("style", list(Style))
def test_a_class_name_that_is_code_is_not_run(style, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = _model_class(INJECTION)()
    result = nnconvert.convert(model, style, _inputs())
    result.check(train=True)
    assert not (tmp_path / "PWNED").exists()
    assert "os.system" not in result.source
    assert result.name.isidentifier() and not keyword.iskeyword(result.name)


@pytest.mark.parametrize("style", list(Style))
def test_a_block_class_name_that_is_code_is_not_run(style, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = _model_class(INJECTION)
    model = _model_class("Outer", block)()
    result = nnconvert.convert(model, style, _inputs())
    result.check(train=True)
    assert not (tmp_path / "PWNED").exists()
    assert "os.system" not in result.source


@pytest.mark.parametrize("style", list(Style))
@pytest.mark.parametrize("class_name", ["Math", "Nn", "Torch", "F", "Tensor", "math"])
def test_a_class_named_like_a_module_the_output_uses_does_not_hide_it(
    class_name, style
):
    result = nnconvert.convert(_model_class(class_name)(), style, _inputs())
    result.check(train=True)
    if style is Style.FUNCTIONAL:
        torch.manual_seed(0)
        params = result.namespace()["init_params"]()
        result.load()(params, *_inputs())


@pytest.mark.parametrize("style", list(Style))
@pytest.mark.parametrize("class_name", ["F", "nn", "torch", "Tensor", "math"])
def test_a_block_class_named_like_a_module_the_output_uses_does_not_hide_it(
    class_name, style
):
    model = _model_class("Outer", _model_class(class_name))()
    result = nnconvert.convert(model, style, _inputs())
    result.check(train=True)


@pytest.mark.parametrize(
    "name", ["torch", "nn", "F", "math", "Tensor", "class", "a b", "x(y)", "1net", ""]
)
@pytest.mark.parametrize("style", list(Style))
def test_a_given_name_that_is_not_a_free_identifier_is_refused(name, style):
    with pytest.raises(InputError, match="name"):
        nnconvert.convert(_model_class("Net")(), style, _inputs(), name=name)


@pytest.mark.parametrize("name", ["torch", "class", "Evil(nn.Module)"])
def test_the_cli_refuses_such_a_name_with_exit_2_and_writes_nothing(name, tmp_path):
    output = tmp_path / "out.py"
    result = run(
        "convert", SAMPLES / "lenet.py", "--to", "module", "--name", name, "-o", output
    )
    assert result.exit_code == 2
    assert "name" in result.output and "Traceback" not in result.output
    assert not output.exists()


class TorchEncoder(nn.Module):
    """A model holding torch's own transformer layer."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)

    def forward(self, x):
        return self.layer(x)


@pytest.mark.parametrize("holds_torch_layer", [False, True])
def test_a_class_named_like_a_transformer_helper_keeps_its_name_where_none_is_written(
    holds_torch_layer,
):
    """DETR's own ``Transformer`` is the function ``transformer``; beside torch's
    ``nn.TransformerEncoderLayer``, whose function the output writes as
    ``transformer_encoder_layer``, a class ``TransformerEncoderLayer`` is not."""
    block = TorchEncoder if holds_torch_layer else _model_class("Inner")
    model = _model_class("TransformerEncoderLayer", block)()
    inputs = (torch.randn(3, 2, 4),) if holds_torch_layer else _inputs()
    if holds_torch_layer:
        model.fc, model.bn = nn.Linear(4, 4), nn.BatchNorm1d(2)
    result = nnconvert.convert(model, Style.FUNCTIONAL, inputs)
    result.check(train=True)
    expected = (
        "transformer_encoder_layer_"
        if holds_torch_layer
        else "transformer_encoder_layer"
    )
    assert result.name == expected
    if holds_torch_layer:
        assert result.source.count("def transformer_encoder_layer(") == 1
        with pytest.raises(InputError, match="name"):
            nnconvert.convert(model, Style.FUNCTIONAL, inputs, name="transformer")
