"""Tests of a plain attribute that pick a block's path: both paths in one class.

kuangliu's MobileNetV2 ``Block`` ends ``out = out + self.shortcut(x) if
self.stride == 1 else out``; EfficientNet's adds its input ``if
self.has_skip:``. A trace runs one answer per instance, so blocks built
with ``stride=1`` and ``stride=2`` trace apart, and were written as two
classes. Where the class's ``forward`` tests one plain attribute (a number,
a flag, a string or None set in ``__init__``) and that test alone tells the
two shapes apart, they are one class again: the two traces merged
(:func:`~nnconvert.merge.merge_graphs`) under the user's test, read from
``self.stride`` as the class keeps it.

Only single tests are read: ``self.flag``, ``not self.flag`` and one
comparison of an attribute with a literal (``self.stride == 1``), each as
the one of its pair the printer may write either way round. Anything
else (``self.training``, calls, two attributes) is left to the classes as
they are.

A block read back from a functional file runs a function whose keywords
its caller passes (``def block(params, x, *, stride)``): a test of such a
keyword (``if stride == 1:``, as functional style writes the class's
test; :mod:`.tested_paths`) is the test of the attribute it stands for.
"""

from __future__ import annotations

import ast
import inspect
import operator
from dataclasses import dataclass
from typing import Any, Callable

from torch import fx, nn

from ..source_text import bound_once, function_definition, self_path
from .attribute_reads import settings_read

#: The comparisons a test may make, each as the one of its pair the graph
#: holds: ``self.k != 1`` is the test ``self.k == 1``, its answers the other
#: way round. Which way the printer writes it depends on which branch has
#: code, so a test read back from an output is the test it was made from.
_COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.eq,
    ast.Lt: operator.lt,
    ast.GtE: operator.lt,
    ast.Gt: operator.gt,
    ast.LtE: operator.gt,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_,
}

#: The values an attribute may hold for a test to read it.
_PLAIN = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class AttributeTest:
    """``self.<attribute>``, or compared with ``constant``.

    ``not self.flag`` is the test ``self.flag``, ``self.k != 1`` the test
    ``self.k == 1`` (:data:`_COMPARISONS`).
    """

    attribute: str
    compare: Callable[[Any, Any], Any] | None = None
    constant: Any = None

    def answer(self, module: nn.Module) -> bool | None:
        """What the test gives for ``module``; None where the attribute is no plain value."""
        value = plain_attribute(module, self.attribute)
        if value is MISSING:
            return None
        if self.compare is not None:
            return bool(self.compare(value, self.constant))
        return bool(value)

    def condition(self, graph: fx.Graph) -> fx.Node:
        """The test as nodes of ``graph``: ``self.stride == 1`` reads ``get_attr("stride")``."""
        value = graph.get_attr(self.attribute)
        if self.compare is not None:
            return graph.call_function(self.compare, (value, self.constant))
        return value


#: :func:`plain_attribute`'s answer for an attribute that holds no plain value
MISSING = object()


def plain_attribute(module: nn.Module, name: str) -> Any:
    """``module.<name>`` where ``__init__`` set it to a plain value, else a marker.

    For a block read back from a functional file: the keyword ``name``.
    """
    value = vars(module).get(name, MISSING)
    if value is MISSING:
        value = _keyword_settings(module).get(name, MISSING)
    if value is MISSING or type(value) not in _PLAIN:
        return MISSING
    return value


def _keyword_settings(module: nn.Module) -> dict[str, Any]:
    """The keywords a block read back from a functional file is called with; else none."""
    held = inspect.getattr_static(type(module), "keyword_settings", None)
    return module.keyword_settings if isinstance(held, property) else {}


def attribute_tests(cls: type, module: nn.Module | None = None) -> list[AttributeTest]:
    """The single-attribute tests of ``cls.forward`` (``if``, ``... if ... else ...``), in order.

    Of the function ``module`` runs where it is read back from a functional
    file: tests of its keywords.
    """
    read_back = module is not None and bool(_keyword_settings(module))
    function = module.function if read_back else getattr(cls, "forward", None)
    found = function_definition(function)
    if found is None:
        return []
    _, definition = found
    attribute_of = (
        _keyword_reader(definition) if read_back else _attribute_reader(definition)
    )
    tests: list[AttributeTest] = []
    for node in ast.walk(definition):
        if isinstance(node, (ast.If, ast.IfExp)):
            test = _read(node.test, attribute_of)
            if test is not None and test not in tests:
                tests.append(test)
    return tests


def _keyword_reader(definition: ast.FunctionDef) -> Callable[[ast.expr], str | None]:
    """Reads a bare keyword-only parameter the function never rebinds (not ``training``)."""
    keywords = settings_read(definition)

    def read(node: ast.expr) -> str | None:
        return node.id if isinstance(node, ast.Name) and node.id in keywords else None

    return read


def _attribute_reader(definition: ast.FunctionDef) -> Callable[[ast.expr], str | None]:
    """Reads ``self.name``, or a local ``forward`` binds once to it.

    CCT's ``DropPath`` unpacks ``batch, drop_prob, device, dtype =
    x.shape[0], self.drop_prob, x.device, x.dtype`` and tests ``drop_prob``
    (:func:`~nnconvert.source_text.bound_once`).
    """

    def read(node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            bound = bound_once(definition, node.id)
            return None if bound is None else _self_attribute(bound)
        return _self_attribute(node)

    return read


def _read(
    test: ast.expr, attribute_of: Callable[[ast.expr], str | None]
) -> AttributeTest | None:
    if isinstance(test, ast.BoolOp):
        # ``self.drop_prob == 0. or not self.training``: the traces keep the
        # mode's test, the attribute's picks the shape
        tests = [v for v in test.values if not _tests_training(v)]
        return _read(tests[0], attribute_of) if len(tests) == 1 else None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        attribute = attribute_of(test.operand)
        return AttributeTest(attribute) if attribute else None
    if isinstance(test, ast.Compare):
        if len(test.ops) != 1 or type(test.ops[0]) not in _COMPARISONS:
            return None
        attribute = attribute_of(test.left)
        right = test.comparators[0]
        if attribute is None or not isinstance(right, ast.Constant):
            return None
        if type(right.value) not in _PLAIN:
            return None
        return AttributeTest(attribute, _COMPARISONS[type(test.ops[0])], right.value)
    attribute = attribute_of(test)
    return AttributeTest(attribute) if attribute else None


def _self_attribute(node: ast.expr) -> str | None:
    """``name`` for ``self.name`` (never ``self.training``: the traces keep that test)."""
    path = self_path(node)
    if not path or "." in path or path == "training":
        return None
    return path


def _tests_training(node: ast.expr) -> bool:
    """``self.training`` or ``not self.training``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node = node.operand
    return self_path(node) == "training"


def telling_test(
    cls: type, first: list[nn.Module], second: list[nn.Module]
) -> tuple[AttributeTest, bool] | None:
    """The one test of ``cls.forward`` that all of ``first`` answer alike and all of ``second`` otherwise.

    With the answer ``first`` gives. None where no test tells them apart,
    or tests of several attributes do: the shapes may then differ for
    another reason. Tests of one attribute that all tell them apart are its
    ``if`` and ``elif`` (ConvNeXt's ``LayerNorm``: ``if self.data_format ==
    "channels_last": ... elif self.data_format == "channels_first": ...``):
    the first, in the order of the source, tells them.
    """
    telling = []
    for test in attribute_tests(cls, first[0] if first else None):
        answers = {test.answer(m) for m in first}, {test.answer(m) for m in second}
        if None in answers[0] | answers[1]:
            continue
        if len(answers[0]) == 1 and len(answers[1]) == 1 and answers[0] != answers[1]:
            telling.append((test, next(iter(answers[0]))))
    if len({test.attribute for test, _ in telling}) != 1:
        return None
    return telling[0]


__all__ = ["AttributeTest", "attribute_tests", "plain_attribute", "telling_test"]
