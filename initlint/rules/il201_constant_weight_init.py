"""IL201 constant-weight-init: A hidden layer's weight matrix is set to zero or a constant."""

from __future__ import annotations

from initlint.rules.base import Rule
from initlint.rules.common import cap, layer_desc, related_for
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


class ConstantWeightInit(Rule):
    code = "IL201"
    name = "constant-weight-init"
    severity = "error"
    summary = "A hidden layer's weight matrix is set to zero or a constant."
    what = ("Finds a weight matrix (not a bias, not a norm layer's weight) whose final init is "
            "`zeros_`, `ones_`, `constant_`, `.zero_()`, `.fill_()` or a `torch.zeros/ones` "
            "Parameter, in a layer whose output feeds another weight layer.")
    why = ("Every unit of the layer computes the same function and receives the same gradient: "
           "the symmetry is never broken and the layer behaves like a single unit. A zero matrix "
           "also blocks the gradient to everything before it.")
    use_instead = """
        nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")
    """
    fix_safety = ("No automatic fix: which random init is right depends on the activation and "
                  "on whether the zero was meant for another layer. Deliberate zero-inits — the "
                  "last layer of a residual branch (Fixup, ReZero, SkipInit), an output head, "
                  "adaLN-Zero modulation — are not reported.")
    EXAMPLES = [
        Valid(HEADER + """
class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(64, 64)
        self.head = nn.Linear(64, 10)
        nn.init.zeros_(self.head.weight)

    def forward(self, x):
        return self.head(F.relu(self.body(x)))
"""),
        Valid(HEADER + """
class AdaLNZero(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.attn = nn.Linear(dim, dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * dim))
        nn.init.constant_(self.adaLN_modulation[-1].weight, 0)
        nn.init.constant_(self.adaLN_modulation[-1].bias, 0)

    def forward(self, x, c):
        shift, scale, gate = self.adaLN_modulation(c).chunk(3, dim=1)
        return x + gate * self.attn(modulate(x, shift, scale))
"""),
        Valid(HEADER + """
class ReZeroBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 64)
        nn.init.zeros_(self.fc2.weight)

    def forward(self, x):
        return x + self.fc2(F.relu(self.fc1(x)))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 10)
        nn.init.zeros_(self.fc1.weight)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
""",
                [Expect(11, 9, "error",
                        message_contains="the weight of hidden layer `fc1` (Linear) is")]),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
        with torch.no_grad():
            self.layers[0].weight.fill_(0.01)

    def forward(self, x):
        return self.layers(x)
""",
                [Expect(11, 13, "error",
                        message_contains="the weight of hidden layer `layers.0` (Conv2d)")]),
        Invalid(HEADER + """
class Raw(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.zeros(32, 64))
        self.out = nn.Linear(64, 2)

    def forward(self, x):
        return self.out(torch.tanh(x @ self.w1))
""",
                [Expect(9, 19, "error",
                        message_contains="the weight of hidden layer `w1` (layer) is set")]),
    ]

    def check(self, project, emit) -> None:
        for j in project.judged:
            w = j.weight
            if w.spec is not None:
                if w.param != "weight" or project.weight_category(w.spec) != "weight":
                    continue
                if j.final is None or j.final.kind not in ("zero", "constant"):
                    continue
            else:
                spec = w.owner.params.get(w.local)
                if spec is None or spec.ctor not in ("zeros", "ones", "full"):
                    continue
                if j.final is not None and j.final.kind not in ("zero", "constant"):
                    continue
                if spec.shape is not None and len(spec.shape) < 2:
                    continue
            if not project.is_hidden(w.owner, w.local):
                continue
            kind = "zero" if (j.final is None and w.owner.params[w.local].ctor == "zeros") or (
                j.final is not None and (j.final.kind == "zero" or j.final.params.get("val") == 0)) \
                else "a constant"
            msg = (f"the weight of hidden layer {layer_desc(project, w.owner, w.local)} is set to "
                   f"{kind}: every unit computes the same output and gets the same gradient, so "
                   f"symmetry never breaks; use a random init")
            emit(self.code, cap("error", j), msg, j.final, j, related=related_for(project, j))

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when every row of the weight is identical at init."""
        p = ev.ix.weight_of(ev.full)
        if p is None or "rows" not in p:
            return "not measured", f"no ≥2-D weight found for `{ev.full}`"
        if p.get("rows_identical"):
            what = "all zero" if p.get("all_zero") else "identical"
            return "confirmed", f"all {p['rows']} rows of `{p['name']}` are {what} at init"
        return "not confirmed", (f"the {p['rows']} rows of `{p['name']}` differ at init: a later "
                                 "init overwrites the constant one")
