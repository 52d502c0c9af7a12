"""IL102 he-before-saturating: A Kaiming/He init (or a ReLU gain) feeds tanh, sigmoid, hardtanh
or softsign."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.analysis.project import describe, he_like
from initlint.probe.verdicts import label
from initlint.remedies import UseXavier
from initlint.rules.base import Rule
from initlint.rules.common import (act_desc, cap, family, layer_desc, related_for, through_act,
                                   weight_judgments)
from initlint.rules.examples import Expect, HEADER, Invalid, Valid

SATURATED = 0.10  # probe: the fraction of saturated activation outputs that confirms IL102
CHAIN_WARN = 3  # IL102: He layers chained through tanh/sigmoid before it is more than convention


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
    use_instead = """
        nn.init.xavier_normal_(self.fc.weight, gain=nn.init.calculate_gain("tanh"))
    """
    fix_safety = ("Replaces the call with Xavier and `gain=calculate_gain(\"tanh\")` (or "
                  "\"sigmoid\"); unsafe when the init is shared by layers feeding other activations.")
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.xavier_normal_(self.fc.weight, gain=nn.init.calculate_gain("tanh"))

    def forward(self, x):
        return torch.tanh(self.fc(x))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.gate = nn.Sigmoid()
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")

    def forward(self, x):
        return self.gate(self.fc(x))
""",
                [Expect(11, 9, "info",
                        message_contains="He/Kaiming init (gain √2) on `fc` (Linear),")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.gate = nn.Sigmoid()
        nn.init.xavier_normal_(self.fc.weight, gain=nn.init.calculate_gain("sigmoid"))

    def forward(self, x):
        return self.gate(self.fc(x))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.fc.weight.data.normal_(0, (2 / 32) ** 0.5)

    def forward(self, x):
        return self.fc(x).tanh()
""",
                [Expect(10, 9, "info",
                        message_contains="He/Kaiming init (gain √2) on `fc` (Linear),")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.xavier_normal_(self.fc.weight.data, gain=nn.init.calculate_gain("tanh"))

    def forward(self, x):
        return self.fc(x).tanh()
"""),
    ]

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
        adj = {m: through_act(project, owner, m, K.SATURATING, he) for m in he}
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

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when at least SATURATED of the outputs of the saturating activation
        after the layer are saturated."""
        rows = ev.ix.layers
        k = next((n for n, r in enumerate(rows) if r["name"] == ev.mod), None)
        if k is None:
            return "not measured", f"`{label(ev.mod)}` did not run in the forward pass"
        nxt = next((r for r in rows[k + 1:k + 4] if r.get("saturated_fraction") is not None), None)
        if nxt is None:
            return "not measured", ("the saturating activation after it is not a module the "
                                    "probe can hook")
        sf = nxt["saturated_fraction"]
        return ("confirmed" if sf >= SATURATED else "not confirmed"), (
            f"{sf:.0%} of the outputs of `{label(nxt['name'])}` ({nxt['type']}) are saturated")
