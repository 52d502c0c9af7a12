"""A small conv net: its input shape (B, 3, 32, 32) must be inferred from `stem`."""

from torch import nn


class ConvNet(nn.Module):
    def __init__(self, channels=3, classes=10, width=16):
        super().__init__()
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * width, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.act(self.bn1(self.stem(x)))
        x = self.act(self.bn2(self.conv2(x)))
        return self.head(self.pool(x).flatten(1))


class Tokens(nn.Module):
    """Embedding first: the input is token ids."""

    def __init__(self, vocab=100, dim=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, ids):
        return self.proj(self.emb(ids)).mean(1)
