"""A model with an ``assert`` in ``forward``, outside the test files.

pytest rewrites the ``assert`` statements of test modules into its own
code, so a model that must keep the plain statement lives here.
"""

from torch import nn


class AssertsALength(nn.Module):
    """nanoGPT's ``assert t <= self.config.block_size``: the model's own refusal."""

    def __init__(self):
        super().__init__()
        self.block_size = 8
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        t = x.size(1)
        assert t <= self.block_size, f"Cannot forward sequence of length {t}"
        return self.fc(x)
