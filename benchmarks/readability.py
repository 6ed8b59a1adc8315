"""Readability: how close each output stays to the shape of its source (issue 11).

For every model of the real-world suite (``benchmarks/realworld/``, built as
``benchmarks/realworld.py`` builds it, and given with how to build it anew,
as the CLI gives a file's class) and every sample (``samples/*.py``, loaded
as the CLI loads it), and for each style, the output of
``nnconvert.convert`` is measured against the source it came from:

* **lines**: the output's non-blank lines, import statements left out, over
  the source's non-blank lines. The source is the text of the classes of the
  model's file that the built model instantiates (the root and every
  submodule whose class the file defines, each class from its ``class`` line
  or first decorator to its last line) without the methods the model never
  runs (:func:`model_methods`: only ``__init__``, ``forward`` and the methods
  they name through ``self.`` count, so nanoGPT's ``generate`` or
  ``configure_optimizers`` do not), and the module-level code those classes
  read (:func:`module_level_rows`: tables such as kuangliu's ``cfg``, helper
  functions such as ``drop_path``, base classes; not a layer class the model
  does not build, such as the ``ModifiedResNet`` of a CLIP built with a
  vision transformer; the class of a config the model was built from, such
  as makemore's ``ModelConfig``, which only its training script names): no imports, no module docstring, no factory
  functions, no training script. Both sides are counted as black formats
  them (:func:`black_lines`), as every output is formatted: a table written
  on one long line and exploded by black (kuangliu's VGG ``cfg``) or a
  constructor call split over three lines measures the formatter, not the
  conversion (the summary gives the ratio to the source as written too;
  it and a column of functional style's table also give the ratio without
  the functions nnconvert writes for layers, :func:`layer_lines`).
  The output is counted the way its source is (:func:`output_rows`): whole
  (including a functional output's ``init_params()``) except its imports,
  the methods of its classes the model never runs (by the same rule, so an
  output that keeps nanoGPT's ``generate`` is not charged for it) and the
  classes of the file the model does not build.
* **comments**: the comments on those lines whose text (without ``#``
  and surrounding blanks) appears in a comment of the output. A comment
  stands for the line it trails, or else the next line of code; where
  building the model and running it on its example inputs never runs that
  line (a branch its configuration does not take: nanoGPT's manual
  attention beside flash attention; for an ``if`` without ``else``, its
  body: the word language model's ``if tie_weights:``), the output has no
  code for it to stand by: such a lost comment is listed and counted as
  *not run* beside the others. One on a line that only building the model
  runs (a config dataclass's field, ``self._inplanes = width``, a
  ``print`` of the parameter count in ``__init__``), never the call on the
  inputs, is counted as *construction only*: functional style writes no
  construction but the weights' (``init_params()``), so such a line has no
  code there to stand by either.
* **docstrings**: the docstrings of those classes and of those methods whose
  first line appears in the output, its words in order, however the output
  breaks its lines (functional style quotes a block's ``__init__`` summary
  in a paragraph of ``init_params()``'s docstring); a lost one of a method
  that ``forward`` does not reach (nanoGPT's ``get_num_params``, which
  ``__init__`` calls) is counted as *construction only*.
* **definitions**: the output's top-level classes and functions (including
  ``init_params()``) over the source's definitions: its classes and the
  module-level functions they read (``drop_path``, ``conv3x3``).
* **literal-only pairs**: pairs of the output's top-level definitions that
  are the same once every number and string literal and their own names are
  blanked out -- definitions a person would have written once.
* **loops**: the output's ``for`` statements over the source's, counting in
  the source those of ``forward`` and the methods it reaches (``__init__``'s
  builders are construction, not computation) and in the output every one
  but those of ``init_params()``, of its block init functions
  (``block_params``) and of the functions nnconvert writes for layers
  (``lstm``, ``kaiming_params``). A count, not a match: an output with
  fewer ``for`` statements than its source unrolled one (``✗``).
* **helper methods kept**: the methods of the source's classes that
  ``forward`` reaches through ``self.`` (``encode``, ``forward_post``) and
  that building and running the model runs, properties aside, over those the
  output defines under the same name (a method, or in functional style a
  function, possibly numbered: ``forward_post_2``). One inlined into its
  caller is lost (``✗``; listed under the table).
* **``__init__`` parameters kept** (class styles): the parameters of the
  source classes' ``__init__`` that the output's class of the same name
  (or a shape of it: ``Block2``, ``BlockWithShortcut``) takes. A class built
  alike everywhere that takes none writes its sizes as numbers; one that
  drops a parameter the user's class takes (``config``, ``num_blocks``)
  cannot be built otherwise than the model was.
* **mixed, from the trace**: mixed style with ``keep_source=False``, every
  model printed from its trace: what the printer itself makes of the models
  the row above keeps as written.
* **kept as written**: ``Conversion.as_written``. Mixed style: the models
  whose output is their own source (``nnconvert.as_written``), which
  already is in mixed style. Module style: the models whose output keeps
  their construction (``nnconvert.construction_kept``: the source with its
  methods printed in module style where the printer adds layers, as
  written where it adds none).

Targets (issue 11): mixed at most 1.2 times the source's lines, functional at
most 2 times, every comment and docstring kept, no literal-only pairs. A miss
is marked ``✗``. Only conversions run (no equivalence check: that is
``realworld.py``'s and the golden tests' job); a few minutes on 2 cores.

Run::

    PYTHONPATH=. python benchmarks/readability.py             # -> benchmarks/readability.md
    PYTHONPATH=. python benchmarks/readability.py --models cifar_resnet lenet --output -
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import itertools
import re
import sys
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import black
import torch
from torch import nn

import nnconvert
from nnconvert import loading
from nnconvert.as_written import statements_read
from nnconvert.init_arguments import recorded_call
from nnconvert.opspecs import layer_params
from nnconvert.opspecs.helpers import HELPERS
from realworld import (
    ENTRIES,
    STYLES,
    SUITE,
    build_model,
    commit,
    import_model_file,
    one_line,
    write_report,
)

HERE = Path(__file__).parent
SAMPLES = HERE.parent / "samples"
#: Mixed style printed from the trace even where the source is kept as written
#: (``keep_source=False``): what the printer makes of every model.
FROM_TRACE = "mixed, from the trace"
MEASURED = (*STYLES, FROM_TRACE)
#: The most output lines per source line each style may take (issue 11).
LINE_TARGETS = {"mixed": 1.2, FROM_TRACE: 1.2, "functional": 2.0}
MISS = " ✗"


@dataclass(frozen=True)
class Case:
    """A model to measure: its source file and how to build it with its inputs."""

    name: str
    file: Path
    load: Callable[[], tuple[Any, tuple[Any, ...], nn.Module]]


@dataclass(frozen=True)
class Source:
    """What the model's source holds: lines, comments, docstrings, classes."""

    #: non-blank lines of the measured code as black formats it (:func:`black_lines`)
    lines: int
    comments: tuple[str, ...]
    docstrings: tuple[str, ...]
    #: its classes and the module-level functions they read (``drop_path``)
    definitions: int
    loops: int = 0
    #: the comments on lines that building and running the model never runs
    not_run: tuple[str, ...] = ()
    #: the comments on lines that building the model runs and the call does not
    construction_only: tuple[str, ...] = ()
    #: the docstrings of the methods ``forward`` does not reach (:func:`docstring_lines`)
    construction_docstrings: tuple[str, ...] = ()
    #: each class's ``__init__`` parameters, by class name (:func:`init_signatures`)
    parameters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the helper methods ``forward`` calls that the model runs (:func:`helper_methods`)
    helpers: tuple[str, ...] = ()
    #: non-blank lines of the measured code as the file writes it
    written_lines: int = 0
    #: the file's layer classes the model does not build (:func:`unbuilt_layer_classes`)
    unbuilt: tuple[str, ...] = ()


@dataclass(frozen=True)
class Measure:
    """One output measured against its source (``error`` when it did not convert)."""

    source: Source
    lines: int = 0
    lost_comments: tuple[str, ...] = ()
    lost_docstrings: tuple[str, ...] = ()
    definitions: int = 0
    literal_pairs: tuple[tuple[str, str], ...] = ()
    loops: int = 0
    error: str = ""
    #: mixed style: the output is the model's source as written (``Conversion.as_written``)
    as_written: bool = False
    #: the source's ``__init__`` parameters the output's class of that name takes
    kept_parameters: int = 0
    #: the source's helper methods the output does not define (:func:`lost_helpers`)
    lost_helpers: tuple[str, ...] = ()
    #: of ``lines``, those of the functions nnconvert writes for layers (:func:`layer_lines`)
    layer_lines: int = 0

    @property
    def lost_where_run(self) -> tuple[str, ...]:
        """The lost comments on code the model runs (``Source.not_run`` aside)."""
        return tuple(c for c in self.lost_comments if c not in self.source.not_run)

    @property
    def lost_in_construction(self) -> tuple[str, ...]:
        """The lost comments on code only building the model runs (``Source.construction_only``)."""
        return tuple(
            c for c in self.lost_where_run if c in self.source.construction_only
        )

    @property
    def lost_construction_docstrings(self) -> tuple[str, ...]:
        """The lost docstrings of methods only construction reaches."""
        return tuple(
            d for d in self.lost_docstrings if d in self.source.construction_docstrings
        )


def realworld_case(entry: Any) -> Case:
    def load() -> tuple[Any, tuple[Any, ...], nn.Module]:
        module = import_model_file(SUITE / entry.file)
        model = build_model(entry, module)
        # with how to build it anew, as the CLI gives a file's class (and
        # realworld.py its models): init_params() is compared, and makes
        # the model's own initialisation calls again (nnconvert/init_replay.py)
        given = nnconvert.ModelInput(
            model,
            fresh_state=lambda: build_model(entry, module).state_dict(),
            factory_name=entry.factory,
        )
        return given, entry.inputs(), model

    return Case(entry.name, SUITE / entry.file, load)


def sample_case(path: Path) -> Case:
    def load() -> tuple[Any, tuple[Any, ...], nn.Module]:
        torch.manual_seed(0)
        loaded = loading.load_file(path)
        return loaded.model, loaded.example_inputs, loaded.model.module

    return Case(path.stem, path, load)


def model_classes(tree: ast.Module, model: nn.Module) -> list[ast.ClassDef]:
    """The top-level classes of the file that ``model`` or a submodule is an instance of.

    The file is the root's class's, or where a factory returned one of
    torch's classes (ConvMixer's ``nn.Sequential``), its first submodule's
    of a user class.
    """
    module_name = next(
        (
            type(m).__module__
            for m in model.modules()
            if type(m).__module__.split(".")[0] != "torch"
        ),
        type(model).__module__,
    )
    used = {
        type(m).__name__ for m in model.modules() if type(m).__module__ == module_name
    }
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name in used
    ]


def module_level_rows(
    tree: ast.Module, classes: list[ast.ClassDef], model: nn.Module
) -> set[int]:
    """The lines of :func:`module_level_code`."""
    return {
        row
        for statement in module_level_code(tree, classes, model)
        for row in range(first_line(statement), statement.end_lineno + 1)
    }


def module_level_code(
    tree: ast.Module, classes: list[ast.ClassDef], model: nn.Module
) -> list[ast.stmt]:
    """The file's module-level statements the classes read, imports aside.

    Tables (kuangliu's ``cfg``), helper functions (``drop_path``, ``conv3x3``),
    base classes, a config dataclass: code of the model's as much as its
    classes, found as ``--to mixed`` finds what a source kept as written
    reads (:func:`nnconvert.as_written.statements_read`). A layer class the
    model does not build is not its code, though a constructor names it:
    CLIP's ``__init__`` builds a ``ModifiedResNet`` or a ``VisionTransformer``,
    never both (:func:`unbuilt_layer_classes`).
    """
    chosen = statements_read(tree, set(classes), config_class_names(model))
    skipped = (ast.Import, ast.ImportFrom)
    unbuilt = unbuilt_layer_classes(tree, model)
    return [
        statement
        for statement, _ in chosen or []
        if statement not in classes
        and not isinstance(statement, skipped)
        and statement not in unbuilt
    ]


def config_class_names(model: nn.Module) -> set[str]:
    """The classes of the config objects the model's constructors were given.

    makemore builds ``Transformer(ModelConfig(...))`` in its training script:
    no class of the model names ``ModelConfig``, yet the model is built from
    one and every output writes it (the root's default).
    """
    return {
        type(value).__name__
        for module in model.modules()
        for value in (recorded_call(module) or {}).values()
        if dataclasses.is_dataclass(value) and not isinstance(value, type)
    }


def unbuilt_layer_classes(tree: ast.Module, model: nn.Module) -> list[ast.ClassDef]:
    """The file's ``nn.Module`` classes that no submodule of ``model`` is or derives from."""
    built = {c for m in model.modules() for c in type(m).__mro__}
    namespace = getattr(type(model).__init__, "__globals__", {})
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and isinstance(namespace.get(node.name), type)
        and issubclass(namespace[node.name], nn.Module)
        and namespace[node.name] not in built
    ]


def model_methods(
    cls: ast.ClassDef, roots: tuple[str, ...] = ("__init__", "forward")
) -> set[str]:
    """The methods the model runs: ``__init__``, ``forward`` and what they reach.

    A method is reached when a reached method names it as ``self.<name>``
    or ``cls.<name>`` (``self.encode(x)``, ``self.apply(self._init_weights)``).
    Others -- ``generate``, ``configure_optimizers``, ``from_pretrained`` --
    are the training script's tools, not the model a conversion rewrites.
    """
    methods = {
        node.name: node
        for node in cls.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    reached: set[str] = set()
    todo = [name for name in roots if name in methods]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        for node in ast.walk(methods[name]):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
                and node.attr in methods
            ):
                todo.append(node.attr)
    return reached


def first_line(node: ast.AST) -> int:
    """Where a definition starts: its first decorator, else its ``def``/``class`` line."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def source_rows(cls: ast.ClassDef) -> set[int]:
    """The class's lines, without those of the methods the model does not run."""
    rows = set(range(first_line(cls), cls.end_lineno + 1))
    kept = model_methods(cls)
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name not in kept:
                rows -= set(range(first_line(node), node.end_lineno + 1))
    return rows


@dataclass(frozen=True)
class Executed:
    """The lines of a file that ran: building the model and calling it (``ran``),
    and of those, the ones the call on its example inputs ran (``called``)."""

    ran: frozenset[int]
    called: frozenset[int]


def executed_rows(case: Case) -> Executed:
    """The lines of the case's file that building the model and running it once run.

    Imported, built and called in eval mode on its example inputs under
    :func:`sys.settrace`, on a model of its own (the measured ones are
    built again).
    """
    target = case.file.resolve()
    mine: dict[str, bool] = {}
    rows: set[int] = set()
    called: set[int] = set()
    calling = False

    def on_line(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            rows.add(frame.f_lineno)
            if calling:
                called.add(frame.f_lineno)
        return on_line

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        name = frame.f_code.co_filename
        if name not in mine:
            mine[name] = Path(name).resolve() == target if name[:1] != "<" else False
        if mine[name]:
            rows.add(frame.f_lineno)
            if calling:
                called.add(frame.f_lineno)
            return on_line
        return None

    sys.settrace(on_call)
    try:
        _, inputs, module = (
            case.load()
        )  # the module itself: the first may be a ModelInput
        calling = True
        with torch.no_grad():
            module.eval()(*inputs)
    except Exception:  # a model the conversions report on
        pass
    finally:
        sys.settrace(None)
    return Executed(frozenset(rows), frozenset(called))


def comment_rows(text: str, rows: set[int]) -> list[tuple[str, int]]:
    """Each comment on ``rows`` and the line it stands for: its own, else the next of code."""
    found: list[tuple[str, int]] = []
    pending: list[str] = []
    code_rows: set[int] = set()
    skipped = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        row = token.start[0]
        if token.type == tokenize.COMMENT:
            body = token.string.lstrip("#").strip()
            if body and row in rows:
                if row in code_rows:
                    found.append((body, row))
                else:
                    pending.append(body)
        elif token.type not in (*skipped, tokenize.DEDENT, tokenize.ENDMARKER):
            code_rows.add(row)
            found += [(body, row) for body in pending]
            pending = []
    return found + [(body, 0) for body in pending]


def comment_texts(text: str, rows: set[int]) -> list[str]:
    """The comments on ``rows``, without ``#`` and blanks, in order."""
    return [body for body, _ in comment_rows(text, rows)]


def docstring_lines(
    classes: list[ast.ClassDef], construction_only: bool = False
) -> list[str]:
    """The first line of the docstring of each class and of each method the model runs.

    ``construction_only``: only those of the methods ``forward`` does not reach.
    """
    lines = []
    for cls in classes:
        kept = model_methods(cls)
        called = model_methods(cls, ("forward",))
        for node in [cls, *cls.body]:
            if construction_only and (
                not isinstance(node, ast.FunctionDef) or node.name in called
            ):
                continue
            if isinstance(node, ast.FunctionDef) and node.name not in kept:
                continue
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc and doc.strip():
                    lines.append(doc.strip().splitlines()[0].strip())
    return lines


def source_loops(classes: list[ast.ClassDef]) -> int:
    """The ``for`` statements of ``forward`` and the methods it reaches."""
    found = 0
    for cls in classes:
        run = model_methods(cls, ("forward",))
        for node in cls.body:
            if isinstance(node, ast.FunctionDef) and node.name in run:
                found += sum(isinstance(n, ast.For) for n in ast.walk(node))
    return found


#: functions an output defines for layers, not from the user's code
WRITTEN_FOR_LAYERS = frozenset(
    {"init_params"}
    | {h.name for h in HELPERS if h.definition is not None}
    | {name for name, f in vars(layer_params).items() if inspect.isfunction(f)}
)


def output_loops(output: str) -> int:
    """The output's ``for`` statements outside the functions written for layers.

    Nor in ``init_params()``'s block init functions (``block_params(prefix,
    ...)``, the functions whose first parameter is ``prefix``): construction,
    as the source's ``__init__`` loops are. A block's own function of a
    layer function's name (DETR's and llama2.c's ``Transformer`` is
    ``transformer(params, ...)`` where no torch transformer is written) counts.
    """
    return sum(
        isinstance(n, ast.For)
        for d in definitions(output)
        if not (d.name in WRITTEN_FOR_LAYERS and _first_parameter(d) != "params")
        and not _is_block_init(d)
        for n in ast.walk(d)
    )


def _is_block_init(definition: ast.AST) -> bool:
    """A function of ``init_params()`` for one block: its first parameter is ``prefix``."""
    return _first_parameter(definition) == "prefix"


def _first_parameter(definition: ast.AST) -> str | None:
    if not isinstance(definition, ast.FunctionDef):
        return None
    arguments = definition.args.posonlyargs + definition.args.args
    return arguments[0].arg if arguments else None


def read_source(
    file: Path,
    model: nn.Module,
    executed: Executed | None = None,
    factory: str | None = None,
) -> Source:
    """What the file holds for ``model``; ``executed``: its lines that building and running ran.

    ``factory``: the file's function that built the model (ConvMixer's), part of its code.
    """
    text = file.read_text()
    tree = ast.parse(text)
    classes = model_classes(tree, model)
    built = factory_definitions(tree, factory)
    module_level = module_level_code(tree, [*classes, *built], model)
    rows = measured_rows(tree, classes, model, built)
    functions = [s for s in module_level if isinstance(s, ast.FunctionDef)]
    comments = comment_rows(text, rows)
    ran = executed.ran if executed is not None else None
    return Source(
        black_lines(text, model, factory),
        tuple(body for body, _ in comments),
        tuple(docstring_lines(classes)),
        len(classes) + len(built) + len(functions),
        source_loops(classes),
        tuple(
            body
            for body, row in comments
            if ran is not None and not runs(row, tree, ran)
        ),
        tuple(
            body
            for body, row in comments
            if executed is not None
            and runs(row, tree, executed.ran)
            and not runs(row, tree, executed.called)
        ),
        tuple(docstring_lines(classes, construction_only=True)),
        tuple(init_signatures(classes).items()),
        helper_methods(classes, tree, ran),
        written_lines=count_lines(text, rows),
        unbuilt=tuple(c.name for c in unbuilt_layer_classes(tree, model)),
    )


def measured_rows(
    tree: ast.Module,
    classes: list[ast.ClassDef],
    model: nn.Module,
    built: list[ast.FunctionDef] = (),
) -> set[int]:
    """The lines of the file's code for ``model``: its ``classes``' and what they read.

    ``built``: the factory that built it (:func:`factory_definitions`), whole.
    """
    rows = set().union(*(source_rows(c) for c in classes))
    rows |= {r for f in built for r in range(first_line(f), f.end_lineno + 1)}
    return rows | module_level_rows(tree, [*classes, *built], model)


def factory_definitions(tree: ast.Module, factory: str | None) -> list[ast.FunctionDef]:
    """The file's function ``factory`` (as ``--class`` names it), if any."""
    return [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == factory
    ]


def black_lines(text: str, model: nn.Module, factory: str | None = None) -> int:
    """The non-blank :func:`measured_rows` of the file once black has formatted it."""
    formatted = black.format_str(text, mode=black.Mode())
    tree = ast.parse(formatted)
    classes, built = model_classes(tree, model), factory_definitions(tree, factory)
    return count_lines(formatted, measured_rows(tree, classes, model, built))


def count_lines(text: str, rows: set[int]) -> int:
    return sum(
        1
        for row, line in enumerate(text.splitlines(), 1)
        if row in rows and line.strip()
    )


def helper_methods(
    classes: list[ast.ClassDef], tree: ast.Module, ran: set[int] | None
) -> tuple[str, ...]:
    """``Class.method`` for each method ``forward`` reaches that building and running ran.

    DETR's ``forward_post`` and ``with_pos_embed`` count, its
    ``forward_pre`` (the other ``normalize_before``) does not; nor does a
    property (CLIP's ``dtype``: an attribute read, not a call).
    """
    found = []
    for cls in classes:
        methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
        for name in sorted(model_methods(cls, ("forward",)) - {"forward"}):
            method = methods[name]
            if method.decorator_list:
                continue
            if ran is None or runs(method.body[0].lineno, tree, ran):
                found.append(f"{cls.name}.{name}")
    return tuple(found)


def lost_helpers(helpers: Sequence[str], output: str) -> tuple[str, ...]:
    """The helpers no definition of the output is named after.

    A method or function of its name, or of its name numbered
    (functional style's ``forward_post_2``: two classes' ``forward_post``).
    """
    defined = {
        node.name
        for node in ast.walk(ast.parse(output))
        if isinstance(node, ast.FunctionDef)
    }
    return tuple(
        helper
        for helper in helpers
        if not any(
            re.fullmatch(re.escape(helper.split(".")[1]) + r"(_\d+)?", name)
            for name in defined
        )
    )


def init_signatures(classes: list[ast.ClassDef]) -> dict[str, tuple[str, ...]]:
    """Each class's ``__init__`` parameters (``self``, ``*args``, ``**kwargs`` aside)."""
    found = {}
    for cls in classes:
        for node in cls.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                arguments = node.args.args[1:] + node.args.kwonlyargs
                found[cls.name] = tuple(a.arg for a in arguments)
    return found


def kept_parameters(
    parameters: Sequence[tuple[str, Sequence[str]]], output: str
) -> int:
    """How many of the source's ``__init__`` parameters the output's classes take.

    A class of the output is the source's when it has its name, or its name
    and a suffix (``Block2``, ``BasicBlockWithShortcut``: another shape of
    it); a parameter counts when one of them takes it.
    """
    written = init_signatures(
        [n for n in ast.parse(output).body if isinstance(n, ast.ClassDef)]
    )
    kept = 0
    for name, names in parameters:
        taken = {
            p
            for other, params in written.items()
            if re.fullmatch(re.escape(name) + r"(\d+|With\w+)?", other)
            for p in params
        }
        kept += sum(1 for p in names if p in taken)
    return kept


def runs(row: int, tree: ast.Module, ran: set[int]) -> bool:
    """Whether the statement at ``row`` ran: an ``if`` without ``else``, its body too.

    The word language model's "Optionally tie weights as in: ..." stands
    above ``if tie_weights:``, whose test runs whatever the answer.
    """
    if row not in ran:
        return False
    body = _if_bodies(tree).get(row)
    return body is None or body in ran


@functools.cache
def _if_bodies(tree: ast.Module) -> dict[int, int]:
    """Each ``if`` without ``else``: its line, and its body's first line."""
    return {
        node.lineno: node.body[0].lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and not node.orelse
    }


def code_lines(output: str, unbuilt: Sequence[str] = ()) -> int:
    """The output's non-blank lines that :func:`output_rows` counts."""
    return count_lines(output, output_rows(ast.parse(output), unbuilt))


def output_rows(tree: ast.Module, unbuilt: Sequence[str] = ()) -> set[int]:
    """The output's lines measured as its source's are.

    Everything but its imports, the classes named as the source's layer
    classes the model does not build (``unbuilt``) and the methods of its
    classes the model never runs (:func:`source_rows`, by the rule that
    leaves them out of the source).
    """
    rows: set[int] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.ClassDef):
            if node.name not in unbuilt:
                rows |= source_rows(node)
            continue
        rows |= set(range(first_line(node), node.end_lineno + 1))
    return rows


class _BlankLiterals(ast.NodeTransformer):
    """Replaces every number and string literal by one placeholder."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, (int, float, complex, str, bytes)) and not isinstance(
            node.value, bool
        ):
            return ast.copy_location(ast.Constant("literal"), node)
        return node


def shape_of(definition: ast.ClassDef | ast.FunctionDef) -> str:
    """The definition's text with its own name and every literal blanked out."""
    blanked = _BlankLiterals().visit(ast.parse(ast.unparse(definition)).body[0])
    blanked.name = "_"
    return ast.dump(blanked)


def definitions(output: str) -> list[ast.ClassDef | ast.FunctionDef]:
    kinds = (ast.ClassDef, ast.FunctionDef)
    return [node for node in ast.parse(output).body if isinstance(node, kinds)]


def literal_pairs(output: str) -> tuple[tuple[str, str], ...]:
    """The names of the pairs of top-level definitions that differ only in literals."""
    shaped = [(d.name, shape_of(d)) for d in definitions(output)]
    return tuple(
        (a, b) for (a, sa), (b, sb) in itertools.combinations(shaped, 2) if sa == sb
    )


def lost(comments: tuple[str, ...], output: str) -> tuple[str, ...]:
    """The comments whose text is in no comment of the output (code does not count)."""
    rows = set(range(1, output.count("\n") + 2))
    kept = comment_texts(output, rows)
    return tuple(c for c in comments if not any(c in k for k in kept))


def measure(source: Source, output: str, as_written: bool = False) -> Measure:
    words = " ".join(output.split())
    return Measure(
        source,
        lines=code_lines(output, source.unbuilt),
        lost_comments=lost(source.comments, output),
        lost_docstrings=tuple(
            d for d in source.docstrings if " ".join(d.split()) not in words
        ),
        definitions=len(definitions(output)),
        literal_pairs=literal_pairs(output),
        loops=output_loops(output),
        as_written=as_written,
        kept_parameters=kept_parameters(source.parameters, output),
        lost_helpers=lost_helpers(source.helpers, output),
        layer_lines=layer_lines(output),
    )


def layer_lines(output: str) -> int:
    """The lines of the functions nnconvert writes for ``nn`` layers, their init functions too.

    ``lstm``, ``transformer_encoder_layer``, ``batch_norm``,
    ``kaiming_params`` ...: a layer without an ``F.*`` form spelled out once
    per file, code a person converting by hand would write as well, but not
    the shape of the user's model; the summary reports the ratio without them
    beside the target's.
    """
    return count_lines(
        output,
        {
            row
            for d in definitions(output)
            if d.name in WRITTEN_FOR_LAYERS - {"init_params"}
            and _first_parameter(d) != "params"
            for row in range(first_line(d), d.end_lineno + 1)
        },
    )


def run_case(case: Case, style: str, ran: Executed | None = None) -> Measure:
    try:
        model, inputs, module = case.load()
        factory = getattr(model, "factory_name", None)
        source = read_source(case.file, module, ran, factory)
    except Exception as error:  # a missing third-party package
        return Measure(Source(0, (), (), 0), error=f"does not load: {one_line(error)}")
    try:
        to, keep_source = ("mixed", False) if style == FROM_TRACE else (style, True)
        conversion = nnconvert.convert(
            model, to=to, example_inputs=inputs, keep_source=keep_source
        )
    except Exception as error:
        return Measure(source, error=one_line(error))
    return measure(source, conversion.source, conversion.as_written)


def ratio_cell(lines: int, source_lines: int, style: str) -> str:
    if not source_lines:
        return "-"
    ratio = lines / source_lines
    target = LINE_TARGETS.get(style)
    return f"{ratio:.2f}" + (MISS if target is not None and ratio > target else "")


def fraction_cell(kept: int, total: int) -> str:
    return f"{kept}/{total}" + (MISS if kept < total else "")


def comments_cell(kept: int, total: int, not_run: int, construction: int = 0) -> str:
    """``kept/total``, and how many of the lost are on code never run or only built."""
    return (
        fraction_cell(kept, total)
        + (f", {not_run} not run" if not_run else "")
        + (f", {construction} construction only" if construction else "")
    )


def docstrings_cell(kept: int, total: int, construction: int) -> str:
    """``kept/total``, and how many of the lost are of methods only construction reaches."""
    return fraction_cell(kept, total) + (
        f", {construction} construction only" if construction else ""
    )


def pairs_cell(pairs: int) -> str:
    return str(pairs) + (MISS if pairs else "")


def loops_cell(loops: int, source_loops: int) -> str:
    return f"{loops}/{source_loops}" + (MISS if loops < source_loops else "")


def row(name: str, m: Measure, style: str) -> str:
    if m.error:
        error = m.error.replace("|", "\\|")
        return f"| {name} | {m.source.lines} | {error} | | | | | | | | | |"
    s = m.source
    cells = [
        name,
        str(s.lines),
        str(m.lines),
        ratio_cell(m.lines, s.lines, style),
        without_layers_cell(m, style),
        comments_cell(
            len(s.comments) - len(m.lost_comments),
            len(s.comments),
            len(m.lost_comments) - len(m.lost_where_run),
            len(m.lost_in_construction),
        ),
        docstrings_cell(
            len(s.docstrings) - len(m.lost_docstrings),
            len(s.docstrings),
            len(m.lost_construction_docstrings),
        ),
        f"{m.definitions}/{s.definitions}",
        pairs_cell(len(m.literal_pairs)),
        loops_cell(m.loops, s.loops),
        helpers_cell(len(s.helpers) - len(m.lost_helpers), len(s.helpers)),
        parameters_cell(m.kept_parameters, _count(s.parameters), style),
    ]
    return "| " + " | ".join(cells) + " |"


def _count(parameters: Sequence[tuple[str, Sequence[str]]]) -> int:
    return sum(len(names) for _, names in parameters)


def helpers_cell(kept: int, total: int) -> str:
    return f"{kept}/{total}" + (MISS if kept < total else "")


def parameters_cell(kept: int, total: int, style: str) -> str:
    """``kept/total`` in class styles; functional style has no classes (``-``)."""
    return "-" if style == "functional" else f"{kept}/{total}"


HEADER = (
    "| model | source lines | output lines | ratio "
    "| ratio without layer functions | comments kept | docstrings kept "
    "| definitions / source definitions | literal-only pairs | loops "
    "| helper methods kept | `__init__` parameters kept |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def without_layers_cell(m: Measure, style: str) -> str:
    """Functional style's ratio without the functions written for layers (:func:`layer_lines`)."""
    if style != "functional" or not m.source.lines:
        return "-"
    return ratio_cell(m.lines - m.layer_lines, m.source.lines, style)


def totals(measures: list[Measure], style: str) -> dict[str, str]:
    """The style's summary: sums over the models that converted."""
    done = [m for m in measures if not m.error]
    source_lines = sum(m.source.lines for m in done)
    lines = sum(m.lines for m in done)
    target = LINE_TARGETS.get(style)
    over = (
        sum(m.lines > target * m.source.lines for m in done)
        if target is not None
        else None
    )
    written_lines = sum(m.source.written_lines for m in done)
    return {
        "converted": f"{len(done)}/{len(measures)}",
        "ratio": ratio_cell(lines, source_lines, style),
        "written ratio": f"{lines / written_lines:.2f}" if written_lines else "-",
        "over": "-" if over is None else f"{over}" + (MISS if over else ""),
        "comments": comments_cell(
            sum(len(m.source.comments) - len(m.lost_comments) for m in done),
            sum(len(m.source.comments) for m in done),
            sum(len(m.lost_comments) - len(m.lost_where_run) for m in done),
            sum(len(m.lost_in_construction) for m in done),
        ),
        "docstrings": docstrings_cell(
            sum(len(m.source.docstrings) - len(m.lost_docstrings) for m in done),
            sum(len(m.source.docstrings) for m in done),
            sum(len(m.lost_construction_docstrings) for m in done),
        ),
        "definitions": f"{sum(m.definitions for m in done)}/"
        f"{sum(m.source.definitions for m in done)}",
        "pairs": pairs_cell(sum(len(m.literal_pairs) for m in done)),
        "loops": loops_cell(
            sum(min(m.loops, m.source.loops) for m in done),
            sum(m.source.loops for m in done),
        ),
        "short": str(sum(m.loops < m.source.loops for m in done)),
        "helpers": helpers_cell(
            sum(len(m.source.helpers) - len(m.lost_helpers) for m in done),
            sum(len(m.source.helpers) for m in done),
        ),
        "as_written": str(sum(m.as_written for m in done)),
        "parameters": parameters_cell(
            sum(m.kept_parameters for m in done),
            sum(_count(m.source.parameters) for m in done),
            style,
        ),
    }


def without_layer_functions(results: dict[str, dict[str, Measure]]) -> str:
    """Functional style's ratio without the functions written for layers (:func:`layer_lines`)."""
    done = [
        m for by_style in results.values() if not (m := by_style["functional"]).error
    ]
    lines = sum(m.lines - m.layer_lines for m in done)
    source_lines = sum(m.source.lines for m in done)
    over = sum(m.lines - m.layer_lines > 2 * m.source.lines for m in done)
    layer = sum(m.layer_lines for m in done)
    return (
        f"Functional style: {layer} of its {sum(m.lines for m in done)} lines are"
        " the functions nnconvert writes for layers that have no `F.*` form or"
        " for their weights (`lstm`, `transformer_encoder_layer`, `batch_norm`,"
        " `kaiming_params`: `layer_lines` in the benchmark); without them the ratio is"
        f" {lines / source_lines:.2f} and {over} models are over 2x."
        if source_lines
        else ""
    )


def summary(results: dict[str, dict[str, Measure]]) -> str:
    rows = [
        "| style | converted | lines, all models | lines, to the source as written "
        "| models over the line target "
        "| comments kept | docstrings kept | definitions / source definitions "
        "| literal-only pairs | loops kept | models with fewer loops "
        "| helper methods kept | kept as written | `__init__` parameters kept |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for style in MEASURED:
        t = totals([by_style[style] for by_style in results.values()], style)
        rows.append(
            f"| {style} | {t['converted']} | {t['ratio']} | {t['written ratio']} "
            f"| {t['over']} "
            f"| {t['comments']} | {t['docstrings']} | {t['definitions']} "
            f"| {t['pairs']} | {t['loops']} | {t['short']} | {t['helpers']} "
            f"| {t['as_written']} "
            f"| {t['parameters']} |"
        )
    return "\n".join(rows)


def style_table(results: dict[str, dict[str, Measure]], style: str) -> str:
    target = LINE_TARGETS.get(style)
    title = f"## {style}" + (
        f" (line target: at most {target}× the source)" if target else ""
    )
    rows = [row(name, by_style[style], style) for name, by_style in results.items()]
    pairs = [
        f"{name}: " + ", ".join(f"`{a}` = `{b}`" for a, b in m.literal_pairs)
        for name, by_style in results.items()
        if (m := by_style[style]).literal_pairs
    ]
    lost = [
        f"{name}: " + ", ".join(texts)
        for name, by_style in results.items()
        if (texts := _lost_texts(by_style[style]))
    ]
    kept = [name for name, by_style in results.items() if by_style[style].as_written]
    listed = ["", "Literal-only pairs: " + "; ".join(pairs) + "."] if pairs else []
    listed += (
        ["", f"Kept as written ({len(kept)}): " + ", ".join(kept) + "."] if kept else []
    )
    listed += (
        ["", "Lost comments and docstrings: " + "; ".join(lost) + "."] if lost else []
    )
    helpers = [
        f"{name}: " + ", ".join(f"`{h}`" for h in m.lost_helpers)
        for name, by_style in results.items()
        if (m := by_style[style]).lost_helpers
    ]
    listed += (
        ["", "Helper methods inlined: " + "; ".join(helpers) + "."] if helpers else []
    )
    return "\n".join([title, "", HEADER, *rows, *listed])


def _lost_texts(m: Measure) -> list[str]:
    """The lost comments and docstrings, quoted, each with why it had no code to stand by.

    ``(not run)`` after those on code never run, ``(construction only)``
    after those on code only building the model runs.
    """
    where_run, built = set(m.lost_where_run), set(m.lost_in_construction)
    built_docstrings = set(m.lost_construction_docstrings)
    return [
        f"`{short(text)}`"
        + (
            " (not run)"
            if text not in where_run
            else " (construction only)" if text in built else ""
        )
        for text in m.lost_comments
    ] + [
        f"`{short(text)}`"
        + (" (construction only)" if text in built_docstrings else "")
        for text in m.lost_docstrings
    ]


def short(text: str) -> str:
    """A comment as the report quotes it: at most 50 characters, no backticks."""
    text = text.replace("`", "'")
    return text if len(text) <= 50 else text[:47] + "..."


def cases() -> list[Case]:
    return [realworld_case(e) for e in ENTRIES] + [
        sample_case(p) for p in sorted(SAMPLES.glob("*.py"))
    ]


def report(results: dict[str, dict[str, Measure]], command: str) -> str:
    doc = __doc__.split("Run::")[0].split("\n", 2)[2].strip()
    parts = [
        "# Readability: outputs against their sources",
        f"Command: `{command}` (nnconvert commit {commit()}, torch "
        f"{torch.__version__}).",
        doc,
        "## Summary (real-world suite and samples together)",
        summary(results),
        without_layer_functions(results),
        *(style_table(results, style) for style in MEASURED),
    ]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="names of models or samples")
    parser.add_argument("--output", default=str(HERE / "readability.md"))
    arguments = parser.parse_args()
    selected = [
        c for c in cases() if not arguments.models or c.name in arguments.models
    ]
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # the models' own deprecation warnings
    results: dict[str, dict[str, Measure]] = {}
    for case in selected:
        results[case.name] = {}
        ran = executed_rows(case)
        for style in MEASURED:
            m = run_case(case, style, ran)
            results[case.name][style] = m
            print(
                f"{case.name:45} {style:10} {row(case.name, m, style)}", file=sys.stderr
            )
    command = "PYTHONPATH=. python benchmarks/readability.py " + " ".join(sys.argv[1:])
    text = report(results, command.strip())
    write_report(text, arguments.output)


if __name__ == "__main__":
    main()
