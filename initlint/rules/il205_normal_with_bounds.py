"""IL205 normal-with-bounds: `normal_(t, -b, b)`: uniform bounds given to `normal_`."""

from __future__ import annotations

import math

from initlint.probe.verdicts import finite, fmt
from initlint.remedies import UniformBounds
from initlint.rules.base import Rule
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


OFF_CENTRE = 0.5  # probe: |mean| above this many stds confirms the shifted draw


class NormalWithBounds(Rule):
    code = "IL205"
    name = "normal-with-bounds"
    severity = "error"
    summary = "`normal_(t, -b, b)`: uniform bounds given to `normal_`."
    what = ("Finds `normal_` (or `.normal_()`) called with a negative mean and a positive std of "
            "the same magnitude — the arguments of `uniform_(t, -b, b)`.")
    why = ("`normal_`'s second and third arguments are mean and std: this draws N(-b, b²), a "
           "distribution centred on -b, not U(-b, b). The weights are biased and the layer's "
           "output shifted.")
    use_instead = """
        nn.init.uniform_(self.fc.weight, -0.1, 0.1)
    """
    fix_safety = "Renames `normal_` to `uniform_`, keeping the arguments; safe."
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.uniform_(self.fc.weight, -0.1, 0.1)
        nn.init.normal_(self.fc.bias, 0.0, 0.1)
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.normal_(self.fc.weight, -0.1, 0.1)
""",
                [Expect(10, 9, "error",
                        message_contains="`nn.init.normal_` with mean -0.1 and std 0.1")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.uniform_(self.fc.weight, -0.1, 0.1)
"""),
        Invalid(HEADER + """
def init_weights(m):
    if isinstance(m, nn.Linear):
        m.weight.data.normal_(-0.05, 0.05)
""",
                [Expect(8, 9, "error",
                        message_contains="`.normal_` with mean -0.05 and std 0.05")],
                fixed=HEADER + """
def init_weights(m):
    if isinstance(m, nn.Linear):
        m.weight.data.uniform_(-0.05, 0.05)
"""),
    ]

    def check(self, project, emit) -> None:
        for f in project.files:
            ops = []
            for c in f.classes:
                ops.extend(c.ops)
                ops.extend(c.forward_ops)
                for m in c.methods.values():
                    ops.extend(m.ops)
            for fn in f.functions.values():
                ops.extend(fn.ops)
            seen = set()
            for op in ops:
                if op.kind != "normal" or (op.loc.row, op.loc.col) in seen:
                    continue
                mean, std = op.params.get("mean"), op.params.get("std")
                if isinstance(mean, (int, float)) and isinstance(std, (int, float)) and mean < 0 \
                        and std > 0 and math.isclose(-mean, std):
                    seen.add((op.loc.row, op.loc.col))
                    emit(self.code, "error",
                         f"`{op.func}` with mean {mean:g} and std {std:g}: these are uniform "
                         f"bounds; this draws N({mean:g}, {std:g}²), centred on {mean:g}. Use "
                         f"uniform_(t, {mean:g}, {std:g})", op, None, path=op.src,
                         remedy=UniformBounds())

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when the measured mean is off zero by more than OFF_CENTRE stds."""
        p = ev.ix.weight_of(ev.full)
        if p is None or "std" not in p:
            return "not measured", f"no parameter found for `{ev.full}`"
        m, s = p.get("mean"), p.get("std")
        off = finite(m) and finite(s) and abs(m) > OFF_CENTRE * s
        return ("confirmed" if off else "not confirmed"), (
            f"`{p['name']}` has mean {fmt(m)} and std {fmt(s)}")
