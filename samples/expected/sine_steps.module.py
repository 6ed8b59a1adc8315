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
