"""Real architectures at tiny widths, written the way their reference code writes them
(torchvision, timm, GPT-2, Fixup), for the probe's verdicts and its static prediction."""

import math

import torch
from torch import nn
from torch.nn import functional as F


# ---------------------------------------------------------------------------- ResNet (BN)

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class ResNet(nn.Module):
    """torchvision's ResNet layout and init (kaiming fan_out convs, BN γ=1, default fc)."""

    def __init__(self, widths=(8, 16, 32), blocks=2, classes=10, zero_init_residual=True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(cin, w, 2 if b == 0 and i > 0 else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def forward(self, x):
        x = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---------------------------------------------------------------------------- VGG (no BN)

class VGG(nn.Module):
    """torchvision's VGG without BN, with torchvision's init: kaiming fan_out convs, zero
    biases, N(0, 0.01) classifier. At VGG16's width (a 25088-wide classifier input) 0.01 keeps
    the scale; at this tiny width (256) it shrinks the signal ~5× per classifier layer: a
    real vanishing signal, which the probe must report (and the prediction must foresee)."""

    def __init__(self, cfg=(16, "M", 32, "M", 64, 64, "M", 128, 128, "M"), classes=10,
                 hidden=256):
        super().__init__()
        layers, cin = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(cin * 4, hidden), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(hidden, classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# ---------------------------------------------------------------------------- GPT-2 style

class CausalSelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        k = k.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y)


class GPTBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.ln_2 = nn.LayerNorm(dim)
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.c_proj = nn.Linear(4 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    """Pre-LN transformer with GPT-2's init: N(0, 0.02) everywhere, residual projections
    N(0, 0.02/√(2L)), token and position embeddings N(0, 0.02), a final LayerNorm, a head."""

    def __init__(self, vocab=128, dim=32, layers=3, heads=2, block=16):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(block, dim)
        self.h = nn.ModuleList([GPTBlock(dim, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for blk in self.h:
            x = blk(x)
        return self.lm_head(self.ln_f(x))


# ---------------------------------------------------------------------------- ConvNeXt style

class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """dwconv 7×7 → LN → Linear 4× → GELU → Linear → layer scale γ (1e-6, shape (C, 1, 1) as
    torchvision has it) → residual add."""

    def __init__(self, dim, layer_scale=1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + self.layer_scale * y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, dims=(16, 32), depths=(2, 2), classes=10):
        super().__init__()
        stages = []
        for i, (d, n) in enumerate(zip(dims, depths)):
            if i == 0:
                down = nn.Sequential(nn.Conv2d(3, d, 4, stride=4), LayerNorm2d(d, eps=1e-6))
            else:
                down = nn.Sequential(LayerNorm2d(dims[i - 1], eps=1e-6),
                                     nn.Conv2d(dims[i - 1], d, 2, stride=2))
            stages += [down, nn.Sequential(*[ConvNeXtBlock(d) for _ in range(n)])]
        self.features = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x).mean([-2, -1])
        return self.head(self.norm(x))


# ---------------------------------------------------------------------------- ViT (zero head)

class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    """torchvision's VisionTransformer layout: conv patch embedding, class token, learned
    position embedding, pre-LN encoder blocks with nn.MultiheadAttention, a zero-initialized
    head; it says its input size (`image_size`)."""

    def __init__(self, image_size=32, patch=8, dim=32, depth=2, heads=2, mlp=64, classes=10):
        super().__init__()
        self.image_size = image_size
        self.conv_proj = nn.Conv2d(3, dim, patch, stride=patch)
        n = (image_size // patch) ** 2
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, n + 1, dim).normal_(std=0.02))
        self.layers = nn.Sequential(*[EncoderBlock(dim, heads, mlp) for _ in range(depth)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)
        fan_in = 3 * patch * patch
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.layers(x + self.pos_embedding)
        return self.head(self.ln(x)[:, 0])


# ---------------------------------------------------------------------------- Fixup

class FixupBlock(nn.Module):
    """Fixup (Zhang et al. 2019): no normalization; scalar biases and a scalar multiplier; the
    branch's last conv starts at zero."""

    def __init__(self, dim):
        super().__init__()
        self.bias1a = nn.Parameter(torch.zeros(1))
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1, bias=False)
        self.bias1b = nn.Parameter(torch.zeros(1))
        self.relu = nn.ReLU(inplace=True)
        self.bias2a = nn.Parameter(torch.zeros(1))
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1, bias=False)
        self.scale = nn.Parameter(torch.ones(1))
        self.bias2b = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = self.relu(self.conv1(x + self.bias1a) + self.bias1b)
        out = self.conv2(out + self.bias2a) * self.scale + self.bias2b
        return self.relu(out + x)


class FixupNet(nn.Module):
    def __init__(self, dim=16, blocks=4, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, dim, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.blocks = nn.Sequential(*[FixupBlock(dim) for _ in range(blocks)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(dim, classes)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            if isinstance(m, FixupBlock):
                c = m.conv1.weight
                std = math.sqrt(2 / (c.shape[0] * c[0][0].numel())) * blocks ** -0.5
                nn.init.normal_(c, mean=0, std=std)
                nn.init.constant_(m.conv2.weight, 0)
        nn.init.constant_(self.fc.weight, 0)
        nn.init.constant_(self.fc.bias, 0)

    def forward(self, x):
        x = self.blocks(self.relu(self.conv1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


# ---------------------------------------------------------------------------- bias-dominated

class BiasMLP(nn.Module):
    """Default (small) weights, biases drawn from N(0, 1): each layer's output is mostly its
    bias, so after a few layers every sample gives the same output."""

    def __init__(self, width=64, depth=12):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
        self.out = nn.Linear(width, 10)
        for layer in self.layers:
            nn.init.normal_(layer.bias, 0.0, 1.0)

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return self.out(x)


# ---------------------------------------------------------------------------- several inputs

class TwoInputs(nn.Module):
    """An image and a vector of side features, fused: forward(image, meta)."""

    def __init__(self, meta=12, width=16, classes=5):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.meta = nn.Linear(meta, width)
        self.fuse = nn.Linear(2 * width, width)
        self.head = nn.Linear(width, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, image, meta):
        a = F.relu(self.conv2(F.relu(self.conv(image))))
        a = F.adaptive_avg_pool2d(a, 1).flatten(1)
        b = F.relu(self.meta(meta))
        return self.head(F.relu(self.fuse(torch.cat([a, b], dim=1))))


def two_inputs_batch(batch_size):
    return torch.randn(batch_size, 3, 16, 16), torch.randn(batch_size, 12)


class DictInput(nn.Module):
    """forward(batch) with a dict: float features, integer token ids and a padding mask."""

    def __init__(self, vocab=50, dim=16, feats=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(feats, dim)
        self.fc1 = nn.Linear(2 * dim, dim)
        self.fc2 = nn.Linear(dim, 3)
        nn.init.normal_(self.emb.weight, std=1.0)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")

    def forward(self, batch):
        mask = batch["mask"].unsqueeze(-1).float()
        tok = (self.emb(batch["ids"]) * mask).sum(1) / mask.sum(1).clamp(min=1)
        x = torch.cat([tok, self.proj(batch["features"])], dim=-1)
        return self.fc2(F.relu(self.fc1(x)))


def dict_batch(batch_size):
    ids = torch.randint(0, 50, (batch_size, 10))
    mask = torch.ones(batch_size, 10, dtype=torch.long)
    mask[:, 7:] = 0
    return {"ids": ids, "mask": mask, "features": torch.randn(batch_size, 8)}


def gpt_loss(output):
    """A user loss: next-token cross-entropy against fixed targets."""
    n, vocab = output.shape[0] * output.shape[1], output.shape[-1]
    targets = torch.arange(n, device=output.device) % vocab
    return F.cross_entropy(output.reshape(-1, output.shape[-1]), targets)
