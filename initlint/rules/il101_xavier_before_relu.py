"""IL101 xavier-before-relu: A Xavier-initialized weight feeds a ReLU-family activation."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.analysis.index import fan
from initlint.analysis.project import describe, SQRT2
from initlint.remedies import UseKaiming
from initlint.rules.base import Rule
from initlint.rules.common import (act_desc, cap, family, layer_desc, related_for, shrink,
                                   through_act, weight_judgments)
from initlint.rules.examples import Expect, HEADER, Invalid, Valid

ERROR_FACTOR = 0.25  # a Xavier/ReLU chain keeping ≤ this share of He's variance is an error


def _plain_xavier(e) -> bool:
    return e.kind == "xavier" and e.gain is not None and e.named is None and e.gain < SQRT2 * 0.9


def _relu_nexts(project, j):
    return [n for n in project.following(j.weight.owner, j.weight.local)
            if n.node.kind == "act" and family(project, n.node, j.weight.owner) == K.RELU]


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
    use_instead = """
        nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")
        # or keep Xavier with the ReLU gain:
        nn.init.xavier_uniform_(self.fc1.weight, gain=nn.init.calculate_gain("relu"))
    """
    fix_safety = ("Replaces the call with `kaiming_uniform_`/`kaiming_normal_` "
                  "(`nonlinearity=\"relu\"`, or `\"leaky_relu\"` with `a=` the slope). Safe when "
                  "the init targets one layer; unsafe when it sits in a loop or applied function "
                  "that other layers share.")
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(256, 256)
        self.fc2 = nn.Linear(256, 10)
        nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")
        nn.init.xavier_uniform_(self.fc2.weight)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
"""),
        Valid(HEADER + """
class GainCorrected(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.xavier_uniform_(self.fc.weight, gain=nn.init.calculate_gain("relu"))
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))
"""),
        Valid(HEADER + """
class TanhNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.xavier_normal_(self.fc.weight)

    def forward(self, x):
        return torch.tanh(self.fc(x))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(256, 256)
        self.fc2 = nn.Linear(256, 10)
        nn.init.xavier_uniform_(self.fc1.weight)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
""",
                [Expect(11, 9, "warning",
                        message_contains="Xavier init on `fc1` (Linear), which feeds ReLU")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(256, 256)
        self.fc2 = nn.Linear(256, 10)
        nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
"""),
        Invalid(HEADER + """
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
                [Expect(19, 17, "error",
                        message_contains="Xavier init on `net.0` (Linear), which feeds")],
                fixed=HEADER + """
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
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x):
        return self.net(x)
""", unsafe_fixes=True),
        Invalid(HEADER + """
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
                [Expect(10, 9, "warning",
                        message_contains="Xavier init on `conv` (Conv2d), which feeds")],
                fixed=HEADER + """
from torch.nn import init

def init_weights(m):
    if type(m) == nn.Conv2d:
        init.kaiming_uniform_(m.weight, a=0.2, nonlinearity="leaky_relu")

class Conv(nn.Module):
    def __init__(self, act_layer=nn.LeakyReLU):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.act = act_layer(0.2)
        self.apply(init_weights)

    def forward(self, x):
        return self.act(self.conv(x))
""", unsafe_fixes=True),
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
                severity = "error" if factor <= ERROR_FACTOR + 1e-9 else "warning"
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

        adj = {m: through_act(project, owner, m, K.RELU, chain_members) for m in chain_members}
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

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when the signal entering the layers after this one shrinks by more than
        PER_LAYER_SHRINK per layer (He init keeps it at ≈1)."""
        return shrink(ev)
