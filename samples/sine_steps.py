"""A sine-wave predictor after pytorch/examples' time_sequence_prediction.

Two ``nn.LSTMCell`` layers are stepped by hand over the time steps of the
input, the state carried from one step to the next; each step's prediction
is collected, and the predictions are joined at the end.
"""

import torch
import torch.nn as nn


class SineSteps(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input):
        outputs = []
        h_t = torch.zeros(input.size(0), 16)
        c_t = torch.zeros(input.size(0), 16)
        h_t2 = torch.zeros(input.size(0), 16)
        c_t2 = torch.zeros(input.size(0), 16)
        # one time step at a time: (batch, 1) each
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)  # the prediction for the next value
            outputs += [output]
        return torch.cat(outputs, dim=1)


def example_inputs():
    return (torch.sin(torch.arange(24.0).view(2, 12) / 4),)
