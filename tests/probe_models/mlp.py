"""Deep ReLU MLPs built in a loop, with a choice of init."""

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, depth=20, width=256, init="default", const_layer=None, nan_layer=None):
        super().__init__()
        layers = []
        for i in range(depth):
            layers.append(nn.Linear(width, width))
            layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers[:-1])  # no ReLU after the last layer
        for i, m in enumerate(self.net):
            if not isinstance(m, nn.Linear):
                continue
            if init == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif init == "normal":
                nn.init.normal_(m.weight, 0.0, 1.0)
        if const_layer is not None:
            nn.init.constant_(self.net[2 * const_layer].weight, 0.05)
        if nan_layer is not None:
            with torch.no_grad():
                self.net[2 * nan_layer].weight[0, 0] = float("nan")

    def forward(self, x):
        return self.net(x)


def deep_mlp(depth=20, width=256, init="default", **kw):
    return MLP(depth=depth, width=width, init=init, **kw)


def he_mlp(**kw):
    return MLP(init="he", **kw)


def normal_mlp(**kw):
    return MLP(init="normal", **kw)


def constant_hidden():
    return MLP(depth=6, init="he", const_layer=2)


def nan_weights():
    return MLP(depth=4, init="he", nan_layer=1)


class DeadReLU(nn.Module):
    """A hidden layer whose bias pushes nearly every unit below zero."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(128, 128)
        self.act2 = nn.ReLU()
        self.fc3 = nn.Linear(128, 10)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")
        nn.init.constant_(self.fc2.bias, -5.0)

    def forward(self, x):
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))))
