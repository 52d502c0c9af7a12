import torch
import torch.nn as nn


class Pos(nn.Module):
    def __init__(self, d=16):
        super().__init__()
        self.freq = nn.Parameter(torch.randn(d // 2, 1))
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        return self.proj(torch.cat([torch.sin(x @ self.freq.T), torch.cos(x @ self.freq.T)], -1))
