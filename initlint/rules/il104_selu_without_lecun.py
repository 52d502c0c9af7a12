"""IL104 selu-without-lecun: A SELU activation whose input layer is not LeCun-normal initialized."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.analysis.project import describe
from initlint.remedies import UseLecun
from initlint.rules.base import Rule
from initlint.rules.common import cap, family, layer_desc, related_for, shrink, weight_judgments
from initlint.rules.examples import Expect, HEADER, Invalid, Valid

# what counts as LeCun normal: a Kaiming-normal gain in this range, or a std of gain·√(1/fan_in)
# with the gain this close to 1
LECUN_GAIN = (0.7, 1.1)
LECUN_STD_TOL = 0.1


class SeluWithoutLecun(Rule):
    code = "IL104"
    name = "selu-without-lecun"
    severity = "warning"
    summary = "A SELU activation whose input layer is not LeCun-normal initialized."
    what = ("SELU's self-normalizing property holds only for weights drawn N(0, 1/fan_in) "
            "(LeCun normal): `kaiming_normal_(w, nonlinearity='linear')`.")
    why = ("With PyTorch's default init (variance 1/(3·fan_in)) or Xavier, activations drift "
           "away from the fixed point SELU relies on and the network stops self-normalizing.")
    use_instead = """
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="linear")
    """
    fix_safety = "Replaces the init (or adds one) with `kaiming_normal_(w, nonlinearity=\"linear\")`; safe."
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="linear")

    def forward(self, x):
        return F.selu(self.fc(x))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.act = nn.SELU()

    def forward(self, x):
        return self.act(self.fc(x))
""",
                [Expect(9, 19, "warning",
                        message_contains="`fc` (Linear) feeds SELU but is initialized")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="linear")
        self.act = nn.SELU()

    def forward(self, x):
        return self.act(self.fc(x))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.xavier_uniform_(self.fc.weight)

    def forward(self, x):
        return torch.selu(self.fc(x))
""",
                [Expect(10, 9, "warning",
                        message_contains="`fc` (Linear) feeds SELU but is initialized")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="linear")

    def forward(self, x):
        return torch.selu(self.fc(x))
"""),
    ]

    def check(self, project, emit) -> None:
        for j in weight_judgments(project):
            nexts = [n for n in project.following(j.weight.owner, j.weight.local)
                     if n.node.kind == "act" and n.node.act == "selu" and not n.normalized
                     and family(project, n.node, j.weight.owner) == K.SELU]
            if not nexts or j.conditional:
                continue
            e = describe(j.final, j.weight.spec)
            ok = (e.kind == "lecun" or (e.kind == "kaiming" and e.gain is not None and
                                        LECUN_GAIN[0] <= e.gain <= LECUN_GAIN[1] and e.dist == "normal")
                  or (e.kind == "normal" and e.fan_gain is not None and abs(e.fan_gain - 1) < LECUN_STD_TOL)
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

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when the signal entering the layers after this one shrinks by more than
        PER_LAYER_SHRINK per layer (He init keeps it at ≈1)."""
        return shrink(ev)
