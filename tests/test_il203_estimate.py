"""IL203's message quotes how much the signal's std shrinks along a default-init ReLU chain;
the number must be what a measurement on the live model gives (within 2x), biases and max-pools
included (AlexNet: the old `6 ** (n/2)` said 1296x where a measurement gives ~50x)."""

import re
import textwrap

import pytest

torch = pytest.importorskip("torch")

ALEXLIKE = '''
import torch
import torch.nn as nn


class AlexLike(nn.Module):
    def __init__(self, num_classes=100):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=5, stride=2, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 96, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(96, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5),
            nn.Linear(64 * 3 * 3, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(p=0.5),
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)
'''

MLP = '''
import torch.nn as nn


class DeepMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10),
        )

    def forward(self, x):
        return self.net(x)
'''


def _measured_shrink(source: str, name: str, shape) -> float:
    ns: dict = {}
    exec(compile(textwrap.dedent(source), name, "exec"), ns)
    ratios = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = ns[name]().eval()
        outs = []
        hooks = [m.register_forward_hook(lambda _m, _i, o: outs.append(o.std().item()))
                 for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        with torch.no_grad():
            model(torch.randn(*shape))
        for h in hooks:
            h.remove()
        ratios.append(outs[0] / outs[-1])
    return sum(ratios) / len(ratios)


@pytest.mark.parametrize("source,name,shape", [(ALEXLIKE, "AlexLike", (16, 3, 96, 96)),
                                               (MLP, "DeepMLP", (64, 256))])
def test_il203_quotes_the_measured_shrink(lint, source, name, shape):
    found = [f for f in lint(source) if f["code"] == "IL203"]
    assert len(found) == 1, found
    quoted = float(re.search(r"shrinks ≈ ([0-9.]+)×", found[0]["message"]).group(1))
    measured = _measured_shrink(source, name, shape)
    assert measured / 2 <= quoted <= measured * 2, (quoted, measured)
