"""IL204 uninitialized-parameter: An `nn.Parameter(torch.empty(...))` that no init call reaches."""

from __future__ import annotations

import math

from initlint.probe.verdicts import fmt
from initlint.rules.base import Rule
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


# probe: uninitialized memory whose gain std·√fan_in falls outside these confirms IL204
WILD_GAIN_HIGH = 10.0
WILD_GAIN_LOW = 0.1


class UninitializedParameter(Rule):
    code = "IL204"
    name = "uninitialized-parameter"
    severity = "error"
    summary = "An `nn.Parameter(torch.empty(...))` that no init call reaches."
    what = ("Finds parameters created from uninitialized memory (`torch.empty`, `torch.Tensor(n, m)`) "
            "that no init statement anywhere in the class (or an `apply`'d function) writes.")
    why = ("`torch.empty` returns whatever was in memory: zeros on one machine, huge values or NaN "
           "on another. Training results depend on the allocator.")
    use_instead = """
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
    """
    fix_safety = "No automatic fix: the right init depends on what the parameter feeds."
    EXAMPLES = [
        Valid(HEADER + """
class MyLinear(nn.Module):
    def __init__(self, n, m):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(m, n))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")

    def forward(self, x):
        return x @ self.weight.t()
"""),
        Invalid(HEADER + """
class MyLinear(nn.Module):
    def __init__(self, n, m):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(m, n))
        self.bias = nn.Parameter(torch.Tensor(m))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)
""",
                [Expect(9, 23, "error",
                        message_contains="`weight` is created with uninitialized memory"),
                 Expect(10, 21, "error",
                        message_contains="`bias` is created with uninitialized memory and")]),
    ]

    def check(self, project, emit) -> None:
        for cls in project.module_classes:
            for name, spec in cls.params.items():
                if spec.ctor != "empty":
                    continue
                if self._reached(project, cls, name):
                    continue
                f = project.file_of(cls)
                emit(self.code, "error",
                     f"`{name}` is created with uninitialized memory and no init call reaches "
                     f"it: its values are whatever the allocator left there", None, None,
                     loc=spec.loc, path=f.path, cls=cls, layer=name)

    def _reached(self, project, cls, name) -> bool:
        idx = project.index
        if any(name in c.touched for c in idx.mro(cls)):
            return True  # handed to some function (`init_weight(self.weight)`): maybe an init
        if any(not b.startswith("torch.") for b in idx.external_bases(cls)):
            return True  # a base class outside the linted tree may initialize it
        for c in idx.mro(cls):
            for op in c.ops:
                if op.kind == "apply" or op.target == "filter":
                    return True  # a general init: it may reach it
                if op.param == name or op.path == name:
                    return True
            for fn in c.methods.values():
                for op in fn.ops:
                    if op.param == name or op.path == name or op.param == "*":
                        return True
        # another class's init selecting this one (`isinstance(m, ThisClass)`): any function
        names = {c.name for c in idx.mro(cls)}
        for op in project.all_ops():
            if op.target != "filter" or op.filter is None:
                continue
            types = op.filter.types
            if types is None:
                # an applied function with no type test (`m.weight.data.normal_()`): it may be
                # applied from outside the tree; a parameters() loop only reaches its own tree
                flt = op.filter
                if op.param == name and flt.scope == "apply" and flt.identity is None and (
                        flt.classname_sub is None or any(flt.classname_sub in n for n in names)):
                    return True
                continue
            if op.param in (name, "*") and any(t.rsplit(".", 1)[-1] in names for t in types):
                return True
        # a parent's `apply`/parameters() loop
        for rp in project.replays:
            for (full, p), w in rp.weights.items():
                if w.owner is cls and w.local == name and w.writes:
                    return True
        return False

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when the parameter holds NaN/Inf, a constant, or values whose gain
        std·√fan_in is outside [WILD_GAIN_LOW, WILD_GAIN_HIGH]."""
        p = ev.ix.weight_of(ev.full)
        if p is None or "std" not in p:
            return "not measured", f"no parameter found for `{ev.full}`"
        if p.get("finite") is False:
            return "confirmed", f"`{p['name']}` contains NaN/Inf"
        if p.get("rows_identical") or p.get("all_zero"):
            return "confirmed", f"`{p['name']}` is constant ({fmt(p.get('mean'))})"
        fi = p.get("fan_in") or 1
        gain = p["std"] * math.sqrt(fi)
        if gain > WILD_GAIN_HIGH or gain < WILD_GAIN_LOW:
            return "confirmed", (f"`{p['name']}` has std {fmt(p['std'])} (gain std·√fan_in = "
                                 f"{fmt(gain)})")
        return "not confirmed", (f"`{p['name']}` happened to hold values with std {fmt(p['std'])} "
                                 "(still uninitialized memory: another run may differ)")
