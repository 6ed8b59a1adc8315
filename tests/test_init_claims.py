"""``init_params()`` claims only what was checked (issue 9, item 8).

Where the original can be built anew (the CLI builds the file's class), the
docstring of a functional output's ``init_params()`` says which tensors
equal a newly built original after the same seed; each test then runs both
and confirms the claim, both ways. Where it cannot (the API given an
instance), the docstring claims no equality.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

import nnconvert
from nnconvert import loading
from nnconvert.printer.init_params import inherited_claim

from .helpers import SAMPLES, assert_same_construction, run, write
from .test_init_replay import ORTHOGONAL as WHOLE_ORTHOGONAL

LENET = SAMPLES / "lenet.py"

#: An LSTM tagger that re-initialises half of its recurrent weights: a call
#: on part of a tensor, which ``init_params()`` cannot make again
#: (:mod:`nnconvert.init_replay`; the whole tensor is: ``tests/test_init_replay.py``).
ORTHOGONAL = WHOLE_ORTHOGONAL.replace("orthogonal_(weight)", "orthogonal_(weight[:16])")
assert ORTHOGONAL != WHOLE_ORTHOGONAL

#: A GPT-style ``_init_weights``: every layer re-drawn after construction.
INIT_WEIGHTS = """
import torch
from torch import nn


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.norm = nn.LayerNorm(8)
        self.fc2 = nn.Linear(8, 2)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(self, x):
        return self.fc2(self.norm(self.fc1(x)))


def example_inputs():
    return (torch.randn(3, 4),)
"""


def docstring(source: str) -> str:
    """The ``init_params()`` docstring of a functional output, as one line."""
    namespace: dict = {}
    exec(source, namespace)
    return " ".join(namespace["init_params"].__doc__.split())


def claimed_different(doc: str) -> set[str]:
    """The keys a docstring lists as different from the original's."""
    listed = doc.split("(nnconvert compared them):", 1)
    return set(re.findall(r"`([^`]+)`", listed[1])) if len(listed) == 2 else set()


def compare(path: Path, source: str) -> tuple[set[str], set[str]]:
    """(keys equal, keys different): the output's ``init_params()`` against a new original."""
    module = loading.import_file(path)
    cls = loading.pick_model(module, path, None)
    namespace: dict = {}
    exec(source, namespace)
    torch.manual_seed(0)
    expected = cls().state_dict()
    torch.manual_seed(0)
    made = namespace["init_params"]()
    equal = {k for k in made if torch.equal(made[k], expected[k])}
    return equal, set(made) - equal


def convert(path: Path) -> str:
    result = run("convert", path, "--to", "functional")
    assert result.exit_code == 0, result.output
    assert "ok    train, gradients" in result.stderr
    return result.stdout


def test_lenet_claims_every_tensor_and_it_is_true():
    source = convert(LENET)
    doc = docstring(source)
    assert doc == "Fresh weights for `net`, equal to a new `Net`'s under the same seed."
    namespace: dict = {}
    exec(source, namespace)
    module = loading.import_file(LENET)
    assert_same_construction(module.Net, namespace["init_params"])


def test_orthogonal_init_is_not_claimed(tmp_path):
    path = write(tmp_path, "tagger.py", ORTHOGONAL)
    source = convert(path)
    doc = docstring(source)
    equal, different = compare(path, source)
    assert different == {"lstm.weight_hh_l0"}  # the test's own comparison
    assert claimed_different(doc) == different
    assert "except 1, which differs" in doc
    assert equal and not equal & claimed_different(doc)


def test_init_weights_that_redraws_every_layer_is_made_again_and_claimed(tmp_path):
    path = write(tmp_path, "mlp.py", INIT_WEIGHTS)
    source = convert(path)
    doc = docstring(source)
    equal, different = compare(path, source)
    assert not different and len(equal) == 6  # the test's own comparison
    assert doc.startswith(
        "Fresh weights for `mlp`, equal to a new `Mlp`'s under the same seed."
    )
    # the calls _init_weights made, after the layers, as recorded
    assert (
        "    # Mlp.__init__: self.apply(self._init_weights)\n"
        '    nn.init.normal_(params["fc1.weight"], std=0.02)\n'
        '    nn.init.zeros_(params["fc1.bias"])\n'
        '    nn.init.normal_(params["fc2.weight"], std=0.02)\n'
        '    nn.init.zeros_(params["fc2.bias"])\n'
        "    return params\n"
    ) in source


#: ``_init_weights`` writing into its tensors by index: no call to make again.
SLICED = INIT_WEIGHTS.replace(
    """            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.bias)""",
    """            module.weight.data[:] = torch.randn_like(module.weight) * 0.02
            module.bias.data[:] = 0.5""",
)


def test_init_weights_written_by_index_claims_none_of_them(tmp_path):
    path = write(tmp_path, "mlp.py", SLICED)
    source = convert(path)
    doc = docstring(source)
    equal, different = compare(path, source)
    assert {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"} <= different
    assert equal == {"norm.weight", "norm.bias"}  # LayerNorm: ones and zeros
    assert claimed_different(doc) == different
    assert "under the same seed, except 4, which differ" in doc
    assert "_init_weights" not in source


def test_every_tensor_different_says_none_equals(tmp_path):
    path = write(
        tmp_path,
        "mlp.py",
        SLICED.replace("self.norm = nn.LayerNorm(8)", "self.norm = nn.Identity()"),
    )
    source = convert(path)
    doc = docstring(source)
    _, different = compare(path, source)
    assert different == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert "none equals a new `Mlp`'s under the same seed" in doc
    assert "except" not in doc


def test_an_instance_alone_is_not_compared_and_claims_nothing(tmp_path):
    path = write(tmp_path, "tagger.py", ORTHOGONAL)
    model = loading.load_file(path).model.module  # a plain instance, as API users have
    source = nnconvert.convert(model, "functional", (torch.randn(2, 4, 5),)).source
    doc = docstring(source)
    assert "equal" not in doc
    assert "(not compared with a new `Tagger`)" in doc


def test_the_api_compares_when_given_a_builder(tmp_path):
    """``ModelInput(model, fresh_state=...)``: the API's way to ask for the check."""
    path = write(tmp_path, "tagger.py", ORTHOGONAL)
    module = loading.import_file(path)
    model_input = nnconvert.ModelInput(
        module.Tagger(), fresh_state=lambda: module.Tagger().state_dict()
    )
    source = nnconvert.convert(
        model_input, "functional", (torch.randn(2, 4, 5),)
    ).source
    assert claimed_different(docstring(source)) == {"lstm.weight_hh_l0"}


def test_a_builder_that_fails_means_no_claim():
    def broken():
        raise RuntimeError("no")

    model_input = nnconvert.ModelInput(nn.Linear(3, 2), fresh_state=broken)
    source = nnconvert.convert(model_input, "functional", (torch.randn(2, 3),)).source
    assert "not compared" in docstring(source)


def test_a_functional_output_keeps_its_claim_when_converted_to_itself(tmp_path):
    """Its init_params() is reproduced bit for bit, so the claim about the class holds."""
    path = write(tmp_path, "tagger.py", ORTHOGONAL)
    first = write(tmp_path, "tagger_functional.py", convert(path))
    result = run("convert", first, "--to", "functional", "--input-shape", "2,4,5")
    assert result.exit_code == 0, result.output
    assert result.stdout == first.read_text()


def test_a_docstring_nnconvert_did_not_write_is_not_inherited():
    ours = "Fresh weights for `net`, equal to a new `Net`'s under the same seed.\n    "
    assert inherited_claim(ours) == ", equal to a new `Net`'s under the same seed."
    assert inherited_claim("Fresh.\n\nRandom weights, bit for bit.") is None
    assert inherited_claim("Fresh weights for `net`, random.") is None
    assert inherited_claim(ours.replace("seed.", 'seed """ + x')) is None
    assert inherited_claim(ours.replace("seed.", "seed \\x00.")) is None
