"""Models with statically detectable init mistakes (the static pass finds them; the probe
confirms them or not)."""

import torch
from torch import nn


class DefaultChain(nn.Module):
    """IL203: seven default-init Linear layers joined by ReLUs."""

    def __init__(self, width=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, 10),
        )

    def forward(self, x):
        return self.net(x)


class XavierReLU(nn.Module):
    """IL101: Xavier layers feeding ReLUs."""

    def __init__(self, width=256):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.fc3 = nn.Linear(width, width)
        self.fc4 = nn.Linear(width, width)
        for m in (self.fc1, self.fc2, self.fc3, self.fc4):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        x = torch.relu(self.fc3(x))
        return self.fc4(x)


class ZeroHidden(nn.Module):
    """IL201: a zero hidden layer; IL202: an unscaled normal_ init."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, 64)
        self.fc4 = nn.Linear(64, 10)
        self.act = nn.ReLU()
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc2.weight)
        nn.init.normal_(self.fc3.weight)

    def forward(self, x):
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        x = self.act(self.fc3(x))
        return self.fc4(x)


class Wrapper(nn.Module):
    """Holds two instances of the chain: findings on `DefaultChain` join by instance path."""

    def __init__(self):
        super().__init__()
        self.a = DefaultChain()
        self.b = DefaultChain()

    def forward(self, x):
        return self.b.net[:-1](self.a.net[:-1](x))
