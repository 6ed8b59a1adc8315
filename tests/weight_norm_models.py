"""Small models with ``torch.nn.utils.weight_norm`` layers, for ``tests/test_weight_norm.py``.

They live outside the test file so that their source, which class styles
follow, is plain Python that pytest does not rewrite.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import weight_norm


class Chomp1d(nn.Module):
    def __init__(self, chomp_size):
        super().__init__()
        self.chomp_size = chomp_size

    def forward(self, x):
        return x[:, :, : -self.chomp_size].contiguous()


class TemporalBlock(nn.Module):
    """locuslab's TCN block: causal, dilated, weight-normed convolutions."""

    def __init__(self, n_inputs, n_outputs, kernel_size, dilation, dropout=0.2):
        super().__init__()
        padding = (kernel_size - 1) * dilation
        self.net = nn.Sequential(
            weight_norm(
                nn.Conv1d(
                    n_inputs, n_outputs, kernel_size, padding=padding, dilation=dilation
                )
            ),
            Chomp1d(padding),
            nn.ReLU(),
            nn.Dropout(dropout),
            weight_norm(
                nn.Conv1d(
                    n_outputs,
                    n_outputs,
                    kernel_size,
                    padding=padding,
                    dilation=dilation,
                )
            ),
            Chomp1d(padding),
            nn.ReLU(),
        )
        self.downsample = nn.Conv1d(n_inputs, n_outputs, 1)

    def forward(self, x):
        return torch.relu(self.net(x) + self.downsample(x))


class Tcn(nn.Module):
    def __init__(self):
        super().__init__()
        self.network = nn.Sequential(
            TemporalBlock(3, 8, 2, dilation=1), TemporalBlock(8, 8, 2, dilation=2)
        )

    def forward(self, x):
        return self.network(x)


class NormedLinears(nn.Module):
    """The three ways to choose what the norm keeps: ``dim=0``, ``dim=None``, ``dim=1``."""

    def __init__(self):
        super().__init__()
        self.fc1 = weight_norm(nn.Linear(6, 5))
        self.fc2 = weight_norm(nn.Linear(5, 4), dim=None)
        self.fc3 = weight_norm(nn.Linear(4, 3), dim=1)

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(torch.relu(self.fc1(x)))))


class NormedConvs(nn.Module):
    """A 2-d convolution, a transposed one, and a norm over the bias (``name=``)."""

    def __init__(self):
        super().__init__()
        self.conv = weight_norm(nn.Conv2d(3, 4, 3, padding=1))
        self.up = weight_norm(nn.ConvTranspose2d(4, 2, 2, stride=2), dim=1)
        self.head = weight_norm(nn.Linear(2, 2), name="bias")

    def forward(self, x):
        x = self.up(torch.relu(self.conv(x)))
        return self.head(x.mean((2, 3)))
