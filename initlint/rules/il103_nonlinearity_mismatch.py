"""IL103 nonlinearity-mismatch: The init names a nonlinearity or slope whose gain is more than
10% off the activation that follows."""

from __future__ import annotations

import math

from initlint import knowledge as K
from initlint.analysis.project import describe, he_like
from initlint.remedies import MatchNonlinearity
from initlint.rules.base import Rule
from initlint.rules.common import (act_desc, cap, family, layer_desc, related_for, shrink,
                                   weight_judgments)
from initlint.rules.examples import Expect, HEADER, Invalid, Valid

TOLERANCE = 0.1  # a gain more than 10% off the activation's is a mismatch


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
    use_instead = """
        nn.init.kaiming_uniform_(self.fc.weight, nonlinearity="relu")
    """
    fix_safety = "Rewrites `nonlinearity=`/`a=` to match the activation; safe for a single layer."
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.act = nn.LeakyReLU(0.2)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")

    def forward(self, x):
        return self.act(self.fc(x))
"""),
        Invalid(HEADER + """
import math

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.kaiming_uniform_(self.fc.weight, a=math.sqrt(5))

    def forward(self, x):
        return F.relu(self.fc(x))
""",
                [Expect(12, 9, "warning",
                        message_contains="nonlinearity='leaky_relu', a=2.23607 gives gain")],
                fixed=HEADER + """
import math

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.kaiming_uniform_(self.fc.weight, nonlinearity="relu")

    def forward(self, x):
        return F.relu(self.fc(x))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.act = nn.LeakyReLU(negative_slope=0.5)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")

    def forward(self, x):
        return self.act(self.fc(x))
""",
                [Expect(11, 9, "warning",
                        message_contains="nonlinearity='relu' gives gain 1.41 on `fc`")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.act = nn.LeakyReLU(negative_slope=0.5)
        nn.init.kaiming_normal_(self.fc.weight, a=0.5, nonlinearity="leaky_relu")

    def forward(self, x):
        return self.act(self.fc(x))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.xavier_uniform_(self.fc.weight, gain=nn.init.calculate_gain("tanh"))

    def forward(self, x):
        return torch.relu(self.fc(x))
""",
                [Expect(10, 9, "warning",
                        message_contains="gain=calculate_gain('tanh') gives gain 1.67 on")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.xavier_uniform_(self.fc.weight, gain=nn.init.calculate_gain("relu"))

    def forward(self, x):
        return torch.relu(self.fc(x))
"""),
    ]

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
                    if off <= TOLERANCE:
                        continue
                elif fam == K.SATURATING:
                    if he_like(e):
                        continue  # IL102
                    lo, hi = 1.0, (5 / 3 if n.node.act == "tanh" else 1.0)
                    if lo * (1 - TOLERANCE) <= e.gain <= hi * (1 + TOLERANCE):
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

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when the signal entering the layers after this one shrinks by more than
        PER_LAYER_SHRINK per layer (He init keeps it at ≈1)."""
        return shrink(ev)
