"""Init vs. the activation that follows: IL101–IL104."""

from __future__ import annotations

import math

from initlint import knowledge as K
from initlint.analysis.index import fan
from initlint.analysis.project import SQRT2, describe, he_like
from initlint.remedies import MatchNonlinearity, UseKaiming, UseLecun, UseXavier
from initlint.rules import Rule, register
from initlint.rules.common import act_desc, cap, family, layer_desc, related_for, weight_judgments

_HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"


CHAIN_WARN = 3  # IL102: He layers chained through tanh/sigmoid before it is more than convention


def _plain_xavier(e) -> bool:
    return e.kind == "xavier" and e.gain is not None and e.named is None and e.gain < SQRT2 * 0.9


def _through_act(project, owner, local: str, fam: str, members) -> set:
    """The layers of `members` that take `local`'s output through one activation of family
    `fam`, with no normalization between: the links of an IL101/IL102 chain."""
    g = project.graph(owner)
    out = set()
    for nid in g.layer_nodes(local):
        for nx in g.nexts(nid):
            if nx.normalized or nx.node.kind != "act" or family(project, nx.node, owner) != fam:
                continue
            out.update(g.nodes[s].ref for s in g.succ.get(nx.node.id, [])
                       if g.nodes[s].kind == "layer" and g.nodes[s].ref in members)
    return out


def _relu_nexts(project, j):
    return [n for n in project.following(j.weight.owner, j.weight.local)
            if n.node.kind == "act" and family(project, n.node, j.weight.owner) == K.RELU]


@register
class XavierBeforeReLU(Rule):
    code = "IL101"
    name = "xavier-before-relu"
    severity = "warning"
    severity_logic = ("error on a chain of Xavier layers joined by ReLUs that compounds to ≤ ¼ of "
                      "the variance He keeps; warning for a single or mild mismatch; info when a "
                      "normalization layer follows the layer directly")
    summary = "A Xavier-initialized weight feeds a ReLU-family activation."
    what = ("Finds weights whose final init is Xavier/Glorot (gain 1 or a saturating gain) and "
            "whose layer's output goes into ReLU, ReLU6, LeakyReLU, PReLU or RReLU (plus names "
            "from `relu-like`).")
    why = ("A ReLU halves the second moment of its input. He init's gain √2 gives it back; "
           "Xavier's does not, so each Xavier layer after a ReLU passes on fan_in/(fan_in+fan_out) "
           "of the variance (½ for a square layer). Three square layers in a row shrink the "
           "signal's std by 2×, deeper stacks vanish.")
    example = """
        self.fc1 = nn.Linear(256, 256)
        nn.init.xavier_uniform_(self.fc1.weight)
        ...
        x = F.relu(self.fc1(x))
    """
    use_instead = """
        nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")
        # or keep Xavier with the ReLU gain:
        nn.init.xavier_uniform_(self.fc1.weight, gain=nn.init.calculate_gain("relu"))
    """
    fix_safety = ("Replaces the call with `kaiming_uniform_`/`kaiming_normal_` "
                  "(`nonlinearity=\"relu\"`, or `\"leaky_relu\"` with `a=` the slope). Safe when "
                  "the init targets one layer; unsafe when it sits in a loop or applied function "
                  "that other layers share.")
    VALID = [
        _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(256, 256)
        self.fc2 = nn.Linear(256, 10)
        nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")
        nn.init.xavier_uniform_(self.fc2.weight)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
""",
        _HEADER + """
class GainCorrected(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.xavier_uniform_(self.fc.weight, gain=nn.init.calculate_gain("relu"))
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))
""",
        _HEADER + """
class TanhNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.xavier_normal_(self.fc.weight)

    def forward(self, x):
        return torch.tanh(self.fc(x))
""",
    ]
    INVALID = [
        _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(256, 256)
        self.fc2 = nn.Linear(256, 10)
        nn.init.xavier_uniform_(self.fc1.weight)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
""",
        _HEADER + """
from torch.nn.init import xavier_normal_ as xn

class Deep(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, 10),
        )
        for m in self.modules():
            if isinstance(m, nn.Linear):
                xn(m.weight)

    def forward(self, x):
        return self.net(x)
""",
        _HEADER + """
from torch.nn import init

def init_weights(m):
    if type(m) == nn.Conv2d:
        init.xavier_uniform_(m.weight)

class Conv(nn.Module):
    def __init__(self, act_layer=nn.LeakyReLU):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.act = act_layer(0.2)
        self.apply(init_weights)

    def forward(self, x):
        return self.act(self.conv(x))
""",
    ]

    def check(self, project, emit) -> None:
        judged = weight_judgments(project)
        by_owner: dict[int, dict[str, object]] = {}
        for j in judged:
            by_owner.setdefault(id(j.weight.owner), {})[j.weight.local] = j
        for j in judged:
            e = describe(j.final, j.weight.spec)
            if not _plain_xavier(e):
                continue
            nexts = _relu_nexts(project, j)
            if not nexts:
                continue
            normalized = any(n.normalized for n in nexts)
            if normalized:
                severity = "info"
            else:
                factor = self._chain_factor(project, j, by_owner.get(id(j.weight.owner), {}))
                severity = "error" if factor <= 0.25 + 1e-9 else "warning"
            severity = cap(severity, j)
            nxt = nexts[0]
            act = act_desc(nxt.node)
            msg = (f"Xavier init on {layer_desc(project, j.weight.owner, j.weight.local)}, which "
                   f"feeds {act}: Xavier keeps the variance of linear/tanh layers, a ReLU halves "
                   f"it; use He/Kaiming init (nonlinearity=\"relu\")")
            if nxt.normalized:
                msg += " (a normalization layer follows directly, so the effect is normalized away)"
            slope = nxt.node.slope if nxt.node.act in ("leaky_relu", "prelu", "rrelu") else None
            emit(self.code, severity, msg, j.final, j, related=related_for(project, j, nxt),
                 remedy=UseKaiming(nonlinearity="leaky_relu" if slope else "relu", a=slope,
                                   shared=j.final.target == "filter"))

    def _chain_factor(self, project, j, layers: dict) -> float:
        """Variance kept relative to He along the Xavier/ReLU chain containing `j`."""
        owner = j.weight.owner
        chain_members = {}
        for local, jj in layers.items():
            if _plain_xavier(describe(jj.final, jj.weight.spec)):
                chain_members[local] = jj

        adj = {m: _through_act(project, owner, m, K.RELU, chain_members) for m in chain_members}
        radj: dict[str, set] = {m: set() for m in chain_members}
        for a, bs in adj.items():
            for b in bs:
                radj[b].add(a)
        # connected component of j's layer
        comp, stack = set(), [j.weight.local]
        while stack:
            m = stack.pop()
            if m in comp or m not in chain_members:
                continue
            comp.add(m)
            stack.extend(adj.get(m, ()))
            stack.extend(radj.get(m, ()))
        factor = 1.0
        for m in comp:
            if not radj.get(m):
                continue  # does not take a ReLU output from the chain
            spec = chain_members[m].weight.spec
            fi, fo = fan(spec)
            gain = describe(chain_members[m].final, chain_members[m].weight.spec).gain or 1.0
            f = fi / (fi + fo) if fi and fo else 0.5
            factor *= min(1.0, gain * gain * f)
        return factor


@register
class HeBeforeSaturating(Rule):
    code = "IL102"
    name = "he-before-saturating"
    severity = "warning"
    severity_logic = (f"info; warning where {CHAIN_WARN} or more He-initialized layers are joined "
                      "by saturating activations with no normalization between them (the "
                      "mismatch compounds)")
    summary = "A Kaiming/He init (or a ReLU gain) feeds tanh, sigmoid, hardtanh or softsign."
    what = ("Finds weights initialized for ReLU (Kaiming with the ReLU gain, Xavier with "
            "`calculate_gain('relu')`, `std=sqrt(2/fan)`) whose output goes into a saturating "
            "activation.")
    why = ("He's gain √2 is meant to compensate a ReLU. Before tanh or sigmoid it breaks the "
           "convention more than it breaks training: √2 sits close to tanh's 5/3, but sigmoid "
           "wants gain 1 and saturates sooner with the larger weights.")
    example = """
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")
        ...
        return torch.tanh(self.fc(x))
    """
    use_instead = """
        nn.init.xavier_normal_(self.fc.weight, gain=nn.init.calculate_gain("tanh"))
    """
    fix_safety = ("Replaces the call with Xavier and `gain=calculate_gain(\"tanh\")` (or "
                  "\"sigmoid\"); unsafe when the init is shared by layers feeding other activations.")
    VALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.xavier_normal_(self.fc.weight, gain=nn.init.calculate_gain("tanh"))

    def forward(self, x):
        return torch.tanh(self.fc(x))
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.gate = nn.Sigmoid()
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")

    def forward(self, x):
        return self.gate(self.fc(x))
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.fc.weight.data.normal_(0, (2 / 32) ** 0.5)

    def forward(self, x):
        return self.fc(x).tanh()
"""]

    def check(self, project, emit) -> None:
        judged = weight_judgments(project)
        he_layers: dict[int, set] = {}
        for j in judged:
            if j.final is not None and he_like(describe(j.final, j.weight.spec)):
                he_layers.setdefault(id(j.weight.owner), set()).add(j.weight.local)
        for j in judged:
            e = describe(j.final, j.weight.spec)
            if j.final is None or not he_like(e):
                continue
            nexts = [n for n in project.following(j.weight.owner, j.weight.local)
                     if n.node.kind == "act" and
                     family(project, n.node, j.weight.owner) == K.SATURATING]
            if not nexts:
                continue
            chain = self._chain(project, j, he_layers.get(id(j.weight.owner), set()))
            severity = "warning" if chain >= CHAIN_WARN and not all(
                n.normalized for n in nexts) else "info"
            act = act_desc(nexts[0].node)
            msg = (f"He/Kaiming init (gain √2) on {layer_desc(project, j.weight.owner, j.weight.local)},"
                   f" which feeds {act}: He's gain is meant for ReLU; for {act} use Xavier with "
                   f"gain=calculate_gain(\"{nexts[0].node.act}\") (√2 is close to tanh's 5/3, so "
                   f"this breaks convention more than training)")
            if severity == "warning":
                msg += f"; {chain} such layers are chained through saturating activations"
            emit(self.code, cap(severity, j), msg, j.final, j,
                 related=related_for(project, j, nexts[0]),
                 remedy=UseXavier(gain=nexts[0].node.act, shared=j.final.target == "filter"))


    @staticmethod
    def _chain(project, j, he: set) -> int:
        """Length of the longest chain of He-initialized layers joined by saturating
        activations (no normalization between) that `j`'s layer belongs to."""
        owner = j.weight.owner
        adj = {m: _through_act(project, owner, m, K.SATURATING, he) for m in he}
        memo: dict = {}

        def longest(m, seen=()):
            if m in memo:
                return memo[m]
            best = 1 + max((longest(n, seen + (m,)) for n in adj.get(m, ()) if n not in seen),
                           default=0)
            memo[m] = best
            return best

        radj: dict = {}
        for a, bs in adj.items():
            for b in bs:
                radj.setdefault(b, set()).add(a)

        bmemo: dict = {}

        def back(m, seen=()):
            if m not in bmemo:
                bmemo[m] = 1 + max((back(n, seen + (m,)) for n in radj.get(m, ())
                                    if n not in seen), default=0)
            return bmemo[m]

        local = j.weight.local
        return longest(local) + back(local) - 1


@register
class NonlinearityMismatch(Rule):
    code = "IL103"
    name = "nonlinearity-mismatch"
    severity = "warning"
    summary = "The init names a nonlinearity or slope whose gain is more than 10% off the activation that follows."
    what = ("Compares the gain implied by `kaiming_*_(nonlinearity=..., a=...)` or "
            "`gain=calculate_gain(...)` with the gain of the activation the layer feeds.")
    why = ("`kaiming_uniform_(w, a=math.sqrt(5))` — copied from `reset_parameters` — has gain "
           "√(1/3): before a ReLU it shrinks the signal's variance about 6× per layer. A slope "
           "that does not match the LeakyReLU that follows is off by the same mechanism.")
    example = """
        nn.init.kaiming_uniform_(self.fc.weight, a=math.sqrt(5))
        ...
        return F.relu(self.fc(x))
    """
    use_instead = """
        nn.init.kaiming_uniform_(self.fc.weight, nonlinearity="relu")
    """
    fix_safety = "Rewrites `nonlinearity=`/`a=` to match the activation; safe for a single layer."
    VALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.act = nn.LeakyReLU(0.2)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")

    def forward(self, x):
        return self.act(self.fc(x))
"""]
    INVALID = [_HEADER + """
import math

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.kaiming_uniform_(self.fc.weight, a=math.sqrt(5))

    def forward(self, x):
        return F.relu(self.fc(x))
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.act = nn.LeakyReLU(negative_slope=0.5)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")

    def forward(self, x):
        return self.act(self.fc(x))
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.xavier_uniform_(self.fc.weight, gain=nn.init.calculate_gain("tanh"))

    def forward(self, x):
        return torch.relu(self.fc(x))
"""]

    def check(self, project, emit) -> None:
        for j in weight_judgments(project):
            if j.final is None:
                continue
            e = describe(j.final, j.weight.spec)
            if e.gain is None or not (e.kind == "kaiming" or (e.kind == "xavier" and e.named)):
                continue
            following = project.following(j.weight.owner, j.weight.local)
            # the layer's output is also a result of the model (an FPN level read by the heads
            # beside the one that goes through ReLU): a linear gain suits that use
            also_linear = any(n.node.kind == "output" and not n.normalized for n in following)
            for n in following:
                if n.node.kind != "act":
                    continue
                fam = family(project, n.node, j.weight.owner)
                act_gain = K.act_gain(n.node.act or "", n.node.slope)
                if fam == K.RELU:
                    off = abs(e.gain / act_gain - 1)
                    if off <= 0.1:
                        continue
                elif fam == K.SATURATING:
                    if he_like(e):
                        continue  # IL102
                    lo, hi = 1.0, (5 / 3 if n.node.act == "tanh" else 1.0)
                    if lo * 0.9 <= e.gain <= hi * 1.1:
                        continue
                    off = min(abs(e.gain / lo - 1), abs(e.gain / hi - 1))
                else:
                    continue
                spelled = (f"nonlinearity='{e.named}'" + (f", a={e.slope:g}" if e.slope else "")
                           if e.kind == "kaiming" else f"gain=calculate_gain('{e.named}')")
                msg = (f"{spelled} gives gain {e.gain:.3g} on "
                       f"{layer_desc(project, j.weight.owner, j.weight.local)}, but it feeds "
                       f"{act_desc(n.node)} (gain {act_gain:.3g}): {off:.0%} off")
                if e.kind == "kaiming" and e.named == "leaky_relu" and e.slope and abs(
                        e.slope - math.sqrt(5)) < 1e-6:
                    msg += "; a=math.sqrt(5) is PyTorch's default init, copied from reset_parameters"
                slope = n.node.slope if n.node.act in ("leaky_relu", "prelu", "rrelu") else None
                severity = "warning"
                if also_linear:
                    severity = "info"
                    msg += ("; the layer's output is also returned without the activation, "
                            "which that gain suits")
                emit(self.code, cap(severity, j), msg, j.final, j, related=related_for(project, j, n),
                     remedy=MatchNonlinearity(act=n.node.act, a=slope, family=fam,
                                              shared=j.final.target == "filter"))
                break


@register
class SeluWithoutLecun(Rule):
    code = "IL104"
    name = "selu-without-lecun"
    severity = "warning"
    summary = "A SELU activation whose input layer is not LeCun-normal initialized."
    what = ("SELU's self-normalizing property holds only for weights drawn N(0, 1/fan_in) "
            "(LeCun normal): `kaiming_normal_(w, nonlinearity='linear')`.")
    why = ("With PyTorch's default init (variance 1/(3·fan_in)) or Xavier, activations drift "
           "away from the fixed point SELU relies on and the network stops self-normalizing.")
    example = """
        self.fc = nn.Linear(64, 64)   # default init
        ...
        return F.selu(self.fc(x))
    """
    use_instead = """
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="linear")
    """
    fix_safety = "Replaces the init (or adds one) with `kaiming_normal_(w, nonlinearity=\"linear\")`; safe."
    VALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="linear")

    def forward(self, x):
        return F.selu(self.fc(x))
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.act = nn.SELU()

    def forward(self, x):
        return self.act(self.fc(x))
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.xavier_uniform_(self.fc.weight)

    def forward(self, x):
        return torch.selu(self.fc(x))
"""]

    def check(self, project, emit) -> None:
        for j in weight_judgments(project):
            nexts = [n for n in project.following(j.weight.owner, j.weight.local)
                     if n.node.kind == "act" and n.node.act == "selu" and not n.normalized
                     and family(project, n.node, j.weight.owner) == K.SELU]
            if not nexts or j.conditional:
                continue
            e = describe(j.final, j.weight.spec)
            ok = (e.kind == "lecun" or (e.kind == "kaiming" and e.gain is not None and
                                        0.7 <= e.gain <= 1.1 and e.dist == "normal")
                  or (e.kind == "normal" and e.fan_gain is not None and abs(e.fan_gain - 1) < 0.1)
                  or e.symbolic)
            if ok:
                continue
            what = "PyTorch's default init" if j.final is None else f"`{j.final.func}`"
            msg = (f"{layer_desc(project, j.weight.owner, j.weight.local)} feeds SELU but is "
                   f"initialized with {what}: SELU self-normalizes only with LeCun normal init, "
                   f"kaiming_normal_(w, nonlinearity=\"linear\")")
            emit(self.code, cap("warning", j), msg, j.final, j,
                 related=related_for(project, j, nexts[0]),
                 remedy=UseLecun(shared=j.final is not None and j.final.target == "filter"))


@register
class SlopeGivenGain(Rule):
    code = "IL105"
    name = "slope-given-gain"
    severity = "error"
    severity_logic = "error (whatever the layer feeds, `a=` is read as a slope)"
    summary = "A gain (`calculate_gain(...)`) passed as Kaiming's `a=`, which is a negative slope."
    what = ("Finds `kaiming_uniform_/kaiming_normal_(w, a=calculate_gain(...))`, directly or "
            "through a local variable assigned from `calculate_gain`.")
    why = ("`a` is the negative slope of the leaky ReLU that follows, and Kaiming computes the "
           "gain from it as √(2/(1+a²)). Given a gain instead — `calculate_gain('leaky_relu', "
           "0.2)` = 1.39 — the init's gain becomes 0.84: the weights get 0.37× the variance "
           "intended, and the signal shrinks layer by layer.")
    example = """
        gain = nn.init.calculate_gain("leaky_relu", 0.2)
        nn.init.kaiming_normal_(self.conv.weight, a=gain)
    """
    use_instead = """
        nn.init.kaiming_normal_(self.conv.weight, a=0.2, nonlinearity="leaky_relu")
    """
    fix_safety = ("No automatic fix: the slope the author meant is the second argument of "
                  "`calculate_gain`, which may be computed elsewhere.")
    VALID = [_HEADER + """
class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        nn.init.kaiming_normal_(self.conv.weight, a=0.2, nonlinearity="leaky_relu")
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain("leaky_relu", 0.2))

    def forward(self, x):
        return F.leaky_relu(self.conv(x), 0.2)
"""]
    INVALID = [_HEADER + """
class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        nn.init.kaiming_normal_(self.conv.weight, a=nn.init.calculate_gain("leaky_relu", 0.2))

    def forward(self, x):
        return F.leaky_relu(self.conv(x), 0.2)
""", _HEADER + """
def weights_init(m):
    if isinstance(m, nn.Conv2d):
        gain = nn.init.calculate_gain("leaky_relu", 0.2)
        nn.init.kaiming_uniform_(m.weight, a=gain)

class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.apply(weights_init)

    def forward(self, x):
        return F.leaky_relu(self.conv(x), 0.2)
"""]

    def check(self, project, emit) -> None:
        for op in project.all_ops():
            if op.kind != "kaiming" or not op.params.get("a_is_gain"):
                continue
            a = op.params.get("a")
            detail = ""
            if isinstance(a, (int, float)):
                got = math.sqrt(2 / (1 + a * a))
                detail = (f": the gain {a:.3g} read as a slope makes the init's gain "
                          f"√(2/(1+{a:.3g}²)) = {got:.2f}, {(got / a) ** 2:.2f}× the variance "
                          f"meant")
            emit(self.code, "error",
                 f"`a=` of `{op.func}` is the negative slope of the leaky ReLU that follows, but "
                 f"it is given a gain (`calculate_gain(...)`){detail}; pass the slope: "
                 f"`a=<slope>, nonlinearity=\"leaky_relu\"`", op, None, path=op.src)
