"""nnconvert: rewrite PyTorch models between module, functional and mixed style, with proof.

>>> import torch, nnconvert
>>> result = nnconvert.convert(model, to="functional", example_inputs=(torch.randn(2, 1, 32, 32),))
>>> print(result.source)
>>> result.check()

Built under ``nnconvert.record_constructors()``, a model's blocks keep the
arguments they were built with, and module and mixed outputs name their
classes' constructor parameters after the user's ``__init__``:

>>> with nnconvert.record_constructors():
...     model = Net()
"""

from .api import Conversion, convert
from .check import CheckReport
from .errors import CheckError, ConversionError, InputError, NnconvertError
from .frontend import ModelInput
from .functional import functional_model
from .init_arguments import recording as record_constructors
from .options import Style, Tolerances

__all__ = [
    "CheckError",
    "CheckReport",
    "Conversion",
    "ConversionError",
    "InputError",
    "ModelInput",
    "NnconvertError",
    "Style",
    "Tolerances",
    "convert",
    "functional_model",
    "record_constructors",
]
