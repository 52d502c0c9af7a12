import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class DiTBlock(nn.Module):
    """DiT adaLN-Zero: the modulation Linear starts at zero, the block is the identity."""
    def __init__(self, d=64):
        super().__init__()
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.attn = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        nn.init.constant_(self.adaLN_modulation[-1].weight, 0)
        nn.init.constant_(self.adaLN_modulation[-1].bias, 0)

    def forward(self, x, c):
        shift, scale, gate, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=-1)
        x = x + gate * self.attn(self.norm(x) * (1 + scale) + shift)
        return x + gate2 * self.mlp(self.norm(x) * (1 + scale2) + shift2)


class ReZero(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.fc1 = nn.Linear(d, d)
        self.fc2 = nn.Linear(d, d)
        self.resweight = nn.Parameter(torch.Tensor([0]))

    def forward(self, x):
        return x + self.resweight * self.fc2(F.relu(self.fc1(x)))


class FixupBlock(nn.Module):
    def __init__(self, c=32, num_layers=16):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.scale = nn.Parameter(torch.ones(1))
        nn.init.normal_(self.conv1.weight, mean=0, std=math.sqrt(2 / (c * 9)) * num_layers ** (-0.5))
        nn.init.constant_(self.conv2.weight, 0)

    def forward(self, x):
        out = self.conv2(F.relu(self.conv1(x)))
        return F.relu(out * self.scale + x)


class LoRALinear(nn.Module):
    def __init__(self, d_in=64, d_out=64, r=8):
        super().__init__()
        self.base = nn.Linear(d_in, d_out)
        self.lora_A = nn.Linear(d_in, r, bias=False)
        self.lora_B = nn.Linear(r, d_out, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x))


class ZeroConv(nn.Module):
    """ControlNet: zero convolutions join the control branch to the locked model."""
    def __init__(self, c=32):
        super().__init__()
        self.control = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.SiLU())
        self.zero_conv = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.zero_conv.weight)
        nn.init.zeros_(self.zero_conv.bias)

    def forward(self, x, hint):
        return x + self.zero_conv(self.control(hint))


class ZeroHead(nn.Module):
    def __init__(self, d=64, n=10):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, d), nn.ReLU())
        self.head = nn.Linear(d, n)
        nn.init.kaiming_normal_(self.body[0].weight, nonlinearity="relu")
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        return self.head(self.body(x))


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class DCGANGenerator(nn.Module):
    def __init__(self, nz=16, ngf=8):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, x):
        return self.main(x)


netG = DCGANGenerator()
netG.apply(weights_init)


class NonLocalBlock(nn.Module):
    def __init__(self, c=32):
        super().__init__()
        self.theta = nn.Conv2d(c, c // 2, 1)
        self.phi = nn.Conv2d(c, c // 2, 1)
        self.g = nn.Conv2d(c, c // 2, 1)
        self.W = nn.Sequential(nn.Conv2d(c // 2, c, 1), nn.BatchNorm2d(c))
        nn.init.constant_(self.W[1].weight, 0)
        nn.init.constant_(self.W[1].bias, 0)

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.theta(x).flatten(2)
        p = self.phi(x).flatten(2)
        g = self.g(x).flatten(2)
        y = torch.softmax(t.transpose(1, 2) @ p, -1) @ g.transpose(1, 2)
        y = y.transpose(1, 2).reshape(b, c // 2, h, w)
        return x + self.W(y)
