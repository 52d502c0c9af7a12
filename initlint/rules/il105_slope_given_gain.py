"""IL105 slope-given-gain: A gain (`calculate_gain(...)`) passed as Kaiming's `a=`, which is a
negative slope."""

from __future__ import annotations

import math

from initlint.rules.base import Rule
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


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
    use_instead = """
        nn.init.kaiming_normal_(self.conv.weight, a=0.2, nonlinearity="leaky_relu")
    """
    fix_safety = ("No automatic fix: the slope the author meant is the second argument of "
                  "`calculate_gain`, which may be computed elsewhere.")
    EXAMPLES = [
        Valid(HEADER + """
class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        nn.init.kaiming_normal_(self.conv.weight, a=0.2, nonlinearity="leaky_relu")
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain("leaky_relu", 0.2))

    def forward(self, x):
        return F.leaky_relu(self.conv(x), 0.2)
"""),
        Invalid(HEADER + """
class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        nn.init.kaiming_normal_(self.conv.weight, a=nn.init.calculate_gain("leaky_relu", 0.2))

    def forward(self, x):
        return F.leaky_relu(self.conv(x), 0.2)
""",
                [Expect(10, 9, "error",
                        message_contains="`a=` of `nn.init.kaiming_normal_` is the")]),
        Invalid(HEADER + """
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
""",
                [Expect(9, 9, "error",
                        message_contains="`a=` of `nn.init.kaiming_uniform_` is the")]),
    ]

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
