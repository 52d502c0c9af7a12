"""IL301 residual-bn-not-zeroed: A residual block whose last BatchNorm γ is never zero-
initialized."""

from __future__ import annotations

from initlint.probe.verdicts import fmt
from initlint.remedies import ZeroLastNorm
from initlint.rules.base import Rule
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


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
    use_instead = """
        # in the model's init loop
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)
    """
    fix_safety = ("Adds `nn.init.zeros_(self.<bn>.weight)` at the end of the block's `__init__`; "
                  "unsafe: it changes the model's starting point (and pretrained-weight loading "
                  "is unaffected).")
    EXAMPLES = [
        Valid(HEADER + """
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
"""),
        Invalid(HEADER + """
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
""",
                [Expect(13, 20, "warning",
                        message_contains="residual block `BasicBlock` adds its input to a")],
                fixed=HEADER + """
class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        out = self.bn2(out)
        out += identity
        return self.relu(out)
""", unsafe_fixes=True),
    ]

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

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when the last BN's weight is not zero at init."""
        p = ev.ix.weight_of(ev.full)
        if p is None or "std" not in p:
            return "not measured", f"no weight found for `{ev.full}`"
        if p.get("all_zero"):
            return "not confirmed", f"`{p['name']}` is zero at init"
        return "confirmed", f"`{p['name']}` has mean {fmt(p.get('mean'))} at init, not zero"
