"""The functional front end: a function over a weight dict -> a :class:`~nnconvert.frontend.ModelInput`.

The reverse direction of ``--to functional``, kept apart from the forward
pipeline, which only ever sees the module and the facts this front end
hands it as data. One module per job:

* :mod:`.source` -- reading and executing functional source, with
  BatchNorm's counters made traceable;
* :mod:`.weights` -- the weight dict as parameters and buffers at their keys;
* :mod:`.classes` -- each function's wrapper class and its name;
* :mod:`.wrapper` -- the wrapper module running the function, and the
  dispatch of sub-function calls to blocks;
* :mod:`.blocks` -- recognising blocks from the calls one run makes;
* :mod:`.layers` -- adopting layers from functional calls over a host;
* :mod:`.containers` -- rebuilding ``nn.Sequential`` s from block functions;
* :mod:`.model` -- :func:`functional_model`, strings the above together;
* :mod:`.loader` -- the function with its weights, from a file or source.
"""

from .classes import class_name_for
from .loader import load_functional, load_functional_source
from .model import functional_model
from .source import exec_source, load_source, rewrite_source
from .weights import BUFFER_NAMES, parameter_names
from .wrapper import FunctionalModel

__all__ = [
    "BUFFER_NAMES",
    "FunctionalModel",
    "class_name_for",
    "exec_source",
    "functional_model",
    "load_functional",
    "load_functional_source",
    "load_source",
    "parameter_names",
    "rewrite_source",
]
