"""Before/after tests of the canonicalize pass, in the style of LibCST's codemod tests.

Before: a ``forward`` as people write it, traced as the pipeline traces it
(:func:`nnconvert.trace.trace`). After: the graph
:func:`nnconvert.passes.canonicalize.canonicalize` leaves, one line per node
(:func:`tests.helpers.graph_text`; fx names the nodes after what was traced).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nnconvert.passes.canonicalize import canonicalize
from nnconvert.trace import trace

from .helpers import code, graph_text, module_with_forward


def canonicalized(forward, *inputs: torch.Tensor) -> str:
    """``forward(self, ...)`` traced on ``inputs``, canonicalized, as text."""
    model = module_with_forward(forward)
    graph_module = trace(model, inputs)
    graph_module.meta["original"] = model  # as the hierarchy traces each instance
    return graph_text(canonicalize(graph_module))


def record(x):
    """A helper fx keeps opaque (``torch.fx.wrap``), as torchvision wraps its own."""


torch.fx.wrap("record")


def test_relu_spellings_become_f_relu():
    def forward(self, x):
        return torch.relu(x) + x.relu() + F.relu(x, inplace=False)

    assert canonicalized(forward, torch.randn(2, 3)) == code("""
        relu = F.relu(x)
        relu_1 = F.relu(x)
        add = relu + relu_1
        relu_2 = F.relu(x)
        add_1 = add + relu_2
        return add_1
        """)


def test_in_place_spellings_become_the_call_with_inplace():
    def forward(self, x):
        return F.relu_(x), torch.relu_(x), x.relu_()

    assert canonicalized(forward, torch.randn(2, 3)) == code("""
        relu_ = F.relu(x, inplace=True)
        relu__1 = F.relu(x, inplace=True)
        relu__2 = F.relu(x, inplace=True)
        return (relu_, relu__1, relu__2)
        """)


def test_methods_become_their_function_with_arguments_named():
    def forward(self, x):
        return x.sigmoid(), x.softmax(1), x.flatten(1)

    assert canonicalized(forward, torch.randn(2, 3)) == code("""
        sigmoid = torch.sigmoid(x)
        softmax = F.softmax(x, dim=1)
        flatten = torch.flatten(x, start_dim=1)
        return (sigmoid, softmax, flatten)
        """)


def test_arguments_that_restate_defaults_are_dropped():
    """``(2, 2)`` is ``2``; ``stride=None`` is the kernel; ``self.training`` stays a value."""

    def forward(self, x):
        pooled = F.max_pool2d(x, (2, 2), stride=None, padding=0)
        bigger = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return pooled, bigger, F.dropout(x, 0.5, self.training)

    assert canonicalized(forward, torch.randn(2, 3, 4, 4)) == code("""
        max_pool2d = F.max_pool2d(x, kernel_size=2)
        interpolate = F.interpolate(x, scale_factor=2.0)
        dropout = F.dropout(x, training=self.training)
        return (max_pool2d, interpolate, dropout)
        """)


def test_a_view_keeping_the_batch_size_becomes_flatten():
    """``x.size(0)`` then ``-1``: the shape read goes too. A constant rest stays."""

    def forward(self, x):
        return x.view(x.size(0), -1), x.reshape(x.shape[0], 48)

    assert canonicalized(forward, torch.randn(2, 3, 4, 4)) == code("""
        view = torch.flatten(x, start_dim=1)
        getattr_1 = x.shape
        getitem = getattr_1[0]
        reshape = x.reshape(getitem, 48)
        return (view, reshape)
        """)


def test_a_constant_rest_is_no_flatten_for_other_sizes():
    """``x.view(-1, 48)`` of a 3x8x8 input is four rows per sample, not ``flatten``."""

    def forward(self, x):
        return x.view(-1, 3 * 4 * 4)

    assert canonicalized(forward, torch.randn(2, 3, 4, 4)) == code("""
        view = x.view(-1, 48)
        return view
        """)


def test_a_view_of_minus_one_and_guarded_sizes_becomes_flatten():
    """The tutorial LeNet's ``num_flat_features`` loop: its sizes are guarded."""

    def forward(self, x):
        features = 1
        for size in x.size()[1:]:
            features *= size
        return x.view(-1, features)

    assert canonicalized(forward, torch.randn(2, 3, 4, 4)) == code("""
        size = x.size()
        getitem = size[1:]
        eq = operator.eq(getitem, (3, 4, 4))
        expect = expect(eq, 'input shape differs from the traced one; convert again with this shape')
        view = torch.flatten(x, start_dim=1)
        return view
        """)


def test_views_that_do_not_keep_the_batch_size_stay():
    def forward(self, x):
        return x.view(-1, 16), x.view(x.size(0), 3, -1), x.view(6, -1)

    assert canonicalized(forward, torch.randn(2, 3, 4, 4)) == code("""
        view = x.view(-1, 16)
        size = x.size(0)
        view_1 = x.view(size, 3, -1)
        view_2 = x.view(6, -1)
        return (view, view_1, view_2)
        """)


def test_a_batch_size_read_with_len_stays_symbolic_and_flattens():
    """``len(x)`` is recorded by the concrete tracer, not frozen to this batch's ``2``."""

    def forward(self, x):
        return torch.reshape(x, (len(x), -1))

    assert canonicalized(forward, torch.randn(2, 3, 4)) == code("""
        reshape = torch.flatten(x, start_dim=1)
        return reshape
        """)


def test_a_number_the_example_fixes_is_not_flattened():
    """``x.view(2, -1)``: true for this batch only, so it is kept as written."""

    def forward(self, x):
        return torch.reshape(x, (2, -1))

    assert canonicalized(forward, torch.randn(2, 3, 4)) == code("""
        reshape = torch.reshape(x, (2, -1))
        return reshape
        """)


def test_unused_calls_go_while_in_place_random_and_opaque_calls_stay():
    def forward(self, x):
        unused = torch.sigmoid(x)  # noqa: F841
        noise = torch.randn(3)  # noqa: F841 -- moves the generator on
        record(x)
        x.add_(1)
        return x

    assert canonicalized(forward, torch.randn(2, 3)) == code("""
        randn = torch.randn(3)
        record = record(x)
        add_ = x.add_(1)
        return x
        """)


def test_small_tensor_constants_become_literals():
    """fx parks ``torch.tensor([...])`` on the module; it comes back as the call."""

    def forward(self, x):
        return x * torch.tensor([1.0, 2.0, 3.0])

    assert canonicalized(forward, torch.randn(2, 3)) == code("""
        tensor = torch.tensor([1.0, 2.0, 3.0])
        mul = x * tensor
        return mul
        """)


def test_a_canonical_graph_stays_as_it_is():
    def forward(self, x):
        y = F.max_pool2d(torch.relu(x), (2, 2), stride=None)
        return F.dropout(y.view(y.size(0), -1), 0.5, self.training)

    model = module_with_forward(forward)
    graph_module = trace(model, (torch.randn(2, 3, 4, 4),))
    once = graph_text(canonicalize(graph_module))
    assert graph_text(canonicalize(graph_module)) == once
    assert once == code("""
        relu = F.relu(x)
        max_pool2d = F.max_pool2d(relu, kernel_size=2)
        view = torch.flatten(max_pool2d, start_dim=1)
        dropout = F.dropout(view, training=self.training)
        return dropout
        """)
