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


class AssertsBothSides(nn.Module):
    """RegionViT's ``assert divisible_by(h, ...) and divisible_by(w, ...), "..."``."""

    def __init__(self):
        super().__init__()
        self.patch_size = 4
        self.conv = nn.Conv2d(3, 4, 4, stride=4)

    def forward(self, x):
        *_, h, w = x.shape
        assert (
            h % self.patch_size == 0 and w % self.patch_size == 0
        ), "height and width must be divisible by patch size"
        return self.conv(x)
