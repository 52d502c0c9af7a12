"""Architecture-specific init: IL301 (residual BN γ), IL302/IL303 (recurrent, opt-in)."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.remedies import ZeroLastNorm
from initlint.rules import Rule, register

_HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"


def _zeroes(op, path: str, param: str = "weight") -> bool:
    if op.param != param:
        return False
    if op.kind == "zero" or (op.kind == "constant" and op.params.get("val") == 0):
        return op.path == path
    return False


def _redrawn(project, cls, path: str) -> bool:
    """The BN's γ is set to something other than its default 1 (a random draw, a constant) in
    some replay: it is no longer the γ = 1 this rule is about (IL206 judges a random γ)."""
    family = project.index.mro(cls)
    for rp in project.replays:
        for w in rp.weights.values():
            if w.local != path or w.param != "weight" or w.owner not in family:
                continue
            for op, _ in w.writes:
                if op.kind == "constant" and op.params.get("val") == 1:
                    continue
                if op.kind not in ("zero", "constant") or op.params.get("val") not in (0, None):
                    return True
    return False


@register
class ResidualBNNotZeroed(Rule):
    code = "IL301"
    name = "residual-bn-not-zeroed"
    severity = "warning"
    summary = "A residual block whose last BatchNorm γ is never zero-initialized."
    what = ("Finds blocks whose `forward` adds the block input (or a shortcut of it) to a branch "
            "that ends in BatchNorm, where nothing ever zero-inits that BatchNorm's weight. "
            "Zero-init behind a user flag (`if zero_init_residual:`) or in a method such as "
            "`zero_init_last()` counts as offered. Only the classic block counts: the add must "
            "happen unconditionally (`if self.use_res_connect: return x + self.conv(x)` in "
            "inverted residuals, or an aggregation node's `if self.shortcut:`, are not the "
            "Goyal recipe), and a γ that another init already sets (even to a random value, "
            "see IL206) is not left at 1.")
    why = ("With γ = 0 every residual block starts as the identity, which lets very deep ResNets "
           "train with large batches and improves accuracy (Goyal et al. 2017, 'Bag of Tricks'). "
           "With γ = 1 the variance of the residual stream grows with depth from the first step.")
    example = """
        out = self.bn2(self.conv2(out))
        out += identity
    """
    use_instead = """
        # in the model's init loop
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)
    """
    fix_safety = ("Adds `nn.init.zeros_(self.<bn>.weight)` at the end of the block's `__init__`; "
                  "unsafe: it changes the model's starting point (and pretrained-weight loading "
                  "is unaffected).")
    VALID = [_HEADER + """
class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + x)

class ResNet(nn.Module):
    def __init__(self, zero_init_residual=False):
        super().__init__()
        self.layer1 = nn.Sequential(BasicBlock(64), BasicBlock(64))
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def forward(self, x):
        return self.layer1(x)
"""]
    INVALID = [_HEADER + """
class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        out = self.bn2(out)
        out += identity
        return self.relu(out)
"""]

    def check(self, project, emit) -> None:
        idx = project.index
        zero_ops = []  # (op, class that runs it)
        for c in idx.all_classes():
            for op in c.ops:
                zero_ops.append(op)
            for m in c.methods.values():
                zero_ops.extend(m.ops)
        for fn in idx.functions.values():
            zero_ops.extend(fn.ops)
        for cls in project.module_classes:
            g = project.graph(cls)
            for add, bn in g.residual_branches():
                path = bn.ref
                if self._offered(project, cls, path, zero_ops) or _redrawn(project, cls, path):
                    continue
                spec = cls.layers[path]
                f = project.file_of(cls)
                emit(self.code, "warning",
                     f"residual block `{cls.name}` adds its input to a branch ending in BatchNorm "
                     f"`{path}`, whose weight (γ) is never zero-initialized: zero γ makes the "
                     f"block start as the identity (Goyal et al.); init it with "
                     f"nn.init.zeros_(...{path}.weight) or offer a zero_init_residual flag",
                     None, None, loc=spec.loc, path=f.path, cls=cls, layer=path,
                     related=[("the residual add", f.path, add.loc)] if add.loc else [],
                     remedy=ZeroLastNorm(bn=path, cls=cls.name))

    def _offered(self, project, cls, path, zero_ops) -> bool:
        idx = project.index
        names = {c.name for c in idx.mro(cls)}
        family = idx.mro(cls)
        # any replay where this BN's weight receives a zero (own init loops by type, a parent's
        # loop, a flag-guarded branch)
        for rp in project.replays:
            for w in rp.weights.values():
                if w.local == path and w.param == "weight" and w.owner in family and any(
                        _zeroes(op, op.path, "weight") for op, _ in w.writes):
                    return True
        for c in idx.mro(cls):
            for op in c.ops:
                if _zeroes(op, path) and op.target == "attr":
                    return True
            for m in c.methods.values():
                for op in m.ops:
                    if _zeroes(op, path) and op.target == "attr":
                        return True
        for op in zero_ops:
            if op.target != "filter" or op.filter is None:
                continue
            if not _zeroes(op, path):
                continue
            types = op.filter.types
            if types is None or any(t.rsplit(".", 1)[-1] in names for t in types):
                return True
        return False


@register
class RecurrentNotOrthogonal(Rule):
    code = "IL302"
    name = "recurrent-not-orthogonal"
    severity = "info"
    opt_in = True
    summary = "RNN/LSTM/GRU recurrent weights (`weight_hh*`) are not orthogonal."
    what = "Finds recurrent layers whose hidden-to-hidden weights keep PyTorch's uniform default."
    why = ("An orthogonal recurrent matrix preserves the hidden state's norm across time steps; "
           "the uniform default lets gradients vanish or explode over long sequences (Saxe et al. 2013).")
    example = "self.rnn = nn.LSTM(128, 256)"
    use_instead = """
        for name, p in self.rnn.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(p)
    """
    VALID = [_HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(16, 32)
        for name, p in self.rnn.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(p)
"""]
    INVALID = [_HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(16, 32)
"""]

    def check(self, project, emit) -> None:
        for cls in project.module_classes:
            for path, spec in cls.layers.items():
                if K.layer_category(spec.kind) != "rnn":
                    continue
                if self._has(project, cls, path, lambda op: op.kind == "orthogonal" and (
                        op.param in ("*",) or "weight_hh" in op.param or (
                        op.filter and op.filter.name_test and "hh" in op.filter.name_test[1]))):
                    continue
                f = project.file_of(cls)
                emit(self.code, "info",
                     f"recurrent weights of `{path}` ({spec.kind.rsplit('.', 1)[-1]}) keep the "
                     f"uniform default; orthogonal_ keeps the hidden state's norm over time",
                     None, None, loc=spec.loc, path=f.path, cls=cls, layer=path)

    @staticmethod
    def _has(project, cls, path, pred) -> bool:
        for c in project.index.mro(cls):
            ops = list(c.ops) + [op for m in c.methods.values() for op in m.ops]
            for op in ops:
                if op.target == "filter" and op.filter is not None and (
                        op.filter.subpath in ("", path)) and pred(op):
                    return True
                if op.target == "attr" and op.path == path and pred(op):
                    return True
        return False


@register
class FusedGateOrthogonal(Rule):
    code = "IL304"
    name = "fused-gate-orthogonal"
    severity = "info"
    opt_in = True
    summary = "`orthogonal_` over the whole fused gate matrix of an LSTM/GRU, not per gate."
    what = ("Finds `orthogonal_` applied to a recurrent layer's whole `weight_hh*`/`weight_ih*` "
            "— the gates stacked into one (4·hidden × hidden) matrix for LSTM, 3· for GRU.")
    why = ("A tall matrix made orthogonal as a whole has orthonormal columns, but each gate's "
           "(hidden × hidden) block is not orthogonal: its singular values spread around "
           "1/√gates. The norm-preserving recurrence the init is meant to give each gate is "
           "lost.")
    example = """
        for name, p in self.lstm.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(p)
    """
    use_instead = """
        for name, p in self.lstm.named_parameters():
            if "weight_hh" in name:
                for g in p.data.chunk(4, 0):
                    nn.init.orthogonal_(g)
    """
    fix_safety = "No automatic fix."
    VALID = [_HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(32, 64)

    def forward(self, x):
        return self.rnn(x)[0]
"""]
    INVALID = [_HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(32, 64)
        for name, p in self.lstm.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(p)

    def forward(self, x):
        return self.lstm(x)[0]
"""]

    def check(self, project, emit) -> None:
        for cls in project.module_classes:
            for path, spec in cls.layers.items():
                short = (spec.kind or "").rsplit(".", 1)[-1]
                if short not in ("LSTM", "GRU", "LSTMCell", "GRUCell"):
                    continue
                found = []

                def whole(op):
                    if op.kind != "orthogonal" or op.params.get("partial"):
                        return False
                    found.append(op)
                    return True

                if not RecurrentNotOrthogonal._has(project, cls, path, whole):
                    continue
                op = found[0]
                gates = 4 if short.startswith("LSTM") else 3
                emit(self.code, "info",
                     f"`{op.func}` makes the whole fused gate matrix of `{path}` ({short}, "
                     f"{gates} gates stacked) orthogonal, not each gate's block; init each "
                     f"gate's slice (`for g in w.chunk({gates}, 0): orthogonal_(g)`)", op, None,
                     path=op.src, cls=cls, layer=path)


@register
class LSTMForgetBias(Rule):
    code = "IL303"
    name = "lstm-forget-bias"
    severity = "info"
    opt_in = True
    summary = "LSTM forget-gate bias is not set to 1."
    what = "Finds LSTMs whose biases are never written (the forget-gate slice stays near 0)."
    why = ("A forget-gate bias of 1 keeps the cell state flowing at the start of training, which "
           "helps learn long-range dependencies (Jozefowicz et al. 2015).")
    example = "self.lstm = nn.LSTM(128, 256)"
    use_instead = """
        for name, p in self.lstm.named_parameters():
            if "bias" in name:
                n = p.size(0)
                p.data[n // 4:n // 2].fill_(1.0)
    """
    VALID = [_HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 32)
        for name, p in self.lstm.named_parameters():
            if "bias" in name:
                p.data[32:64].fill_(1.0)
"""]
    INVALID = [_HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 32)
"""]

    def check(self, project, emit) -> None:
        for cls in project.module_classes:
            for path, spec in cls.layers.items():
                if (spec.kind or "").rsplit(".", 1)[-1] not in ("LSTM", "LSTMCell"):
                    continue
                if RecurrentNotOrthogonal._has(project, cls, path, lambda op: op.kind in (
                        "constant", "copy") and (op.params.get("partial") or op.param in ("*",))):
                    continue
                f = project.file_of(cls)
                emit(self.code, "info",
                     f"LSTM `{path}`'s forget-gate bias is never set to 1 (it starts near 0)",
                     None, None, loc=spec.loc, path=f.path, cls=cls, layer=path)
