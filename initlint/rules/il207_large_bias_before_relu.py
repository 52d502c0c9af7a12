"""IL207 large-bias-before-relu: A bias drawn with a spread (or set to a negative constant) that
rivals the pre-activation scale, before a ReLU."""

from __future__ import annotations

import math

from initlint import knowledge as K
from initlint.analysis.index import fan
from initlint.analysis.project import describe
from initlint.rules.base import Rule
from initlint.rules.common import act_desc, cap, family, layer_desc, related_for
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


BIAS_RIVALS = 0.8  # IL207: a bias spread this close to the pre-activation's own spread


def _weight_var(op, spec) -> float | None:
    """Var(W) of a layer's weight after `op` (None: PyTorch's default), when computable."""
    fi, fo = fan(spec)
    if fi is None:
        return None
    if op is None:
        return 1 / (3 * fi)
    e = describe(op, spec)
    if e.symbolic:
        return None
    if e.kind == "kaiming" and e.gain is not None:
        n = fo if op.params.get("mode") == "fan_out" else fi
        return e.gain ** 2 / n if n else None
    if e.kind == "xavier" and e.gain is not None and fo:
        return e.gain ** 2 * 2 / (fi + fo)
    if e.kind in ("normal", "uniform") and isinstance(e.std, (int, float)):
        return e.std ** 2 + (e.mean or 0) ** 2
    if e.kind == "lecun":
        return 1 / fi
    return None


class LargeBiasBeforeReLU(Rule):
    code = "IL207"
    name = "large-bias-before-relu"
    severity = "warning"
    severity_logic = "warning (the input scale is taken as 1)"
    summary = "A bias drawn with a spread (or set to a negative constant) that rivals the pre-activation scale, before a ReLU."
    what = ("Finds biases of layers feeding a ReLU-family activation whose final init is a random "
            "draw with a std of at least 0.8× the std the weights give the pre-activation (for "
            "inputs of unit scale), or a negative constant of that size.")
    why = ("A unit whose bias lies a pre-activation std below zero fires for fewer than one "
           "input in six, two stds below for one in forty: its output and gradient are zero for "
           "nearly every input from the first step on. With the bias spread as large as the "
           "weights' contribution, a sixth of the units start that way, and a negative constant "
           "of that size kills most of them.")
    use_instead = """
        nn.init.zeros_(self.fc.bias)
    """
    fix_safety = "Replaces the bias init with `zeros_`; unsafe (it changes the model's init)."
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")
        nn.init.constant_(self.fc.bias, 0.1)  # a small positive bias keeps units alive
        self.out = nn.Linear(64, 10)
        nn.init.normal_(self.out.bias, 0, 1)  # no ReLU after it

    def forward(self, x):
        return self.out(F.relu(self.fc(x)))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self, m=4):
        super().__init__()
        self.fc = nn.Linear(m, 64)
        self.out = nn.Linear(64, 1)
        nn.init.normal_(self.fc.bias, 0, (1 / m) ** 0.5)

    def forward(self, x):
        return self.out(F.relu(self.fc(x)))
""",
                [Expect(11, 9, "warning",
                        message_contains="bias of `fc` (Linear) is drawn with std 0.5,")]),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")
        nn.init.constant_(self.fc.bias, -3.0)

    def forward(self, x):
        return F.relu(self.fc(x))
""",
                [Expect(11, 9, "warning",
                        message_contains="bias of `fc` (Linear) is set to -3, below the")]),
    ]

    def check(self, project, emit) -> None:
        weights = {}
        for rp in project.replays:
            for (full, param), w in rp.weights.items():
                if param == "weight":
                    weights[(id(rp.root), full)] = w
        for j in project.judged:
            w = j.weight
            if w.param != "bias" or j.final is None or \
                    project.weight_category(w.spec) != "weight":
                continue
            e = describe(j.final)
            if e.symbolic:
                continue
            nexts = project.following(w.owner, w.local)
            relu = [n for n in nexts if n.node.kind == "act" and not n.normalized and
                    family(project, n.node, w.owner) == K.RELU]
            if not relu or any(n.normalized for n in nexts):
                continue
            wt = weights.get((id(j.root), w.full))
            if wt is None:
                continue
            var = _weight_var(project.final_write(wt)[0], w.spec)
            fi, _ = fan(w.spec)
            if var is None or fi is None:
                continue
            sigma = math.sqrt(fi * var)  # pre-activation std of W·x for unit inputs
            if e.kind in ("normal", "uniform") and isinstance(e.std, (int, float)) and \
                    e.std >= BIAS_RIVALS * sigma and abs(e.mean or 0) < e.std:
                dead = 0.5 * math.erfc(sigma / e.std / math.sqrt(2))
                what = (f"drawn with std {e.std:.3g}, while the weights give the "
                        f"pre-activation a std of ≈{sigma:.2g} (unit inputs): about {dead:.0%} "
                        f"of the units start more than one std below zero, firing for fewer "
                        f"than one input in six")
            elif e.kind in ("constant", "normal") and isinstance(e.mean, (int, float)) and \
                    e.mean <= -sigma and not (e.std or 0) > abs(e.mean):
                what = (f"set to {e.mean:g}, below the ≈{sigma:.2g} std the weights give the "
                        f"pre-activation (unit inputs): most units start dead")
            else:
                continue
            msg = (f"bias of {layer_desc(project, w.owner, w.local)} is {what}, so they never "
                   f"activate and get no gradient before {act_desc(relu[0].node)}; init "
                   f"biases to zero or a small positive constant")
            emit(self.code, cap("warning", j), msg, j.final, j, related=related_for(project, j, relu[0]))
