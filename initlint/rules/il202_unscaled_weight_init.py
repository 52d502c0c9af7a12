"""IL202 unscaled-weight-init: A weight's init scale ignores its fan-in."""

from __future__ import annotations

import math

from initlint import knowledge as K
from initlint.analysis.index import fan
from initlint.analysis.project import describe
from initlint.probe.verdicts import finite, fmt, label, ratio_text
from initlint.remedies import ScaleByFan, ScaleRandn
from initlint.rules.base import Rule
from initlint.rules.common import cap, family, layer_desc, related_for
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


GAIN_OFF_STATIC = 4  # a literal std whose implied gain std·√fan_in is this far off is reported
TINY_FAN_IN = 2  # unit draws into a fan-in this small are the scaled init already
GAIN_OFF = 2.0  # probe: a layer that multiplies (or divides) the std by this confirms IL202


# literal stds of documented model-wide recipes: a layer they leave "too small" is the recipe's
# choice (GPT-2/BERT `initializer_range`, ViT/DeiT/Swin `trunc_normal_(std=.02)`, DCGAN)
RECIPE_STDS = frozenset({0.02})


def _unit_draw(op, e) -> bool:
    """`normal_(w)` / `normal_(w, 0, 1)` / `uniform_(w)` / `uniform_(w, -1, 1)`: scale 1."""
    if e.symbolic:
        return False
    return (e.kind == "normal" and e.std == 1.0) or (
        e.kind == "uniform" and op.params.get("b") == 1.0 and op.params.get("a") in (0.0, -1.0))


class UnscaledWeightInit(Rule):
    code = "IL202"
    name = "unscaled-weight-init"
    severity = "error"
    severity_logic = ("error; warning when the scale is only too small (a single small layer "
                      "attenuates, it does not explode) or when the layer is an output whose "
                      "consumer is not visible (logits: the scale may be a chosen temperature); "
                      "info when a normalization layer directly follows the layer, when a "
                      "comment at the init says it is deliberate, or when a too-small std is "
                      "the model-wide 0.02 recipe")
    summary = "A weight's init scale ignores its fan-in."
    what = ("Finds `normal_(w)`, `normal_(w, 0, 1)`, `uniform_(w)`, `uniform_(w, -1, 1)`, "
            "`nn.Parameter(torch.randn(out, in))` used as a weight, or a literal std whose "
            "implied gain std·√fan_in is more than 4× off the gain of the activation that follows "
            "(too large anywhere; too small only in a hidden layer). Embeddings are exempt.")
    why = ("With std 1 a layer multiplies the variance of its input by fan_in: a 512-wide layer "
           "grows the signal's std ≈ 23×, and a few layers overflow or saturate. `uniform_(w)` "
           "draws from U(0, 1): every weight is positive, with mean 0.5.")
    use_instead = """
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")
    """
    fix_safety = ("Replaces the call with the activation-appropriate Kaiming/Xavier call, or "
                  "scales `torch.randn(out, in)` by `in ** -0.5`; unsafe (it changes the weights' "
                  "distribution, which a checkpoint-loading path may rely on).")
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1000, 64)
        self.fc = nn.Linear(768, 768)
        nn.init.normal_(self.emb.weight)
        nn.init.normal_(self.fc.weight, std=0.02)

    def forward(self, x):
        return self.fc(self.emb(x))
"""),
        Valid(HEADER + """
class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(64, 64, 3)
        self.norm = nn.InstanceNorm2d(64)
        nn.init.normal_(self.conv.weight, 0.0, 0.02)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(512, 512)
        nn.init.normal_(self.fc.weight)

    def forward(self, x):
        return F.relu(self.fc(x))
""",
                [Expect(10, 9, "error",
                        message_contains="unscaled init of `fc` (Linear)")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(512, 512)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")

    def forward(self, x):
        return F.relu(self.fc(x))
""", unsafe_fixes=True),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self, d_in=128, d_out=64):
        super().__init__()
        self.W = nn.Parameter(torch.randn(d_in, d_out))

    def forward(self, x):
        return x @ self.W
""",
                [Expect(9, 18, "error",
                        message_contains="`nn.Parameter(torch.randn(...))` weight `W` has")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self, d_in=128, d_out=64):
        super().__init__()
        self.W = nn.Parameter(torch.randn(d_in, d_out) * d_in ** -0.5)

    def forward(self, x):
        return x @ self.W
""", unsafe_fixes=True),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(256, 256)
        self.fc.weight.data.uniform_(-1, 1)

    def forward(self, x):
        return self.fc(x)
""",
                [Expect(10, 9, "warning",
                        message_contains="unscaled init of `fc` (Linear)")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(256, 256)
        nn.init.xavier_uniform_(self.fc.weight.data)

    def forward(self, x):
        return self.fc(x)
""", unsafe_fixes=True),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1024, 1024)
        nn.init.normal_(self.fc.weight, std=0.5)

    def forward(self, x):
        return torch.relu(self.fc(x))
""",
                [Expect(10, 9, "error",
                        message_contains="unscaled init of `fc` (Linear)")],
                fixed=HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1024, 1024)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")

    def forward(self, x):
        return torch.relu(self.fc(x))
""", unsafe_fixes=True),
    ]

    def check(self, project, emit) -> None:
        for j in project.judged:
            w = j.weight
            if w.spec is None:
                self._raw(project, j, emit)
                continue
            if w.param != "weight" or project.weight_category(w.spec) != "weight":
                continue
            if j.final is None:
                continue
            e = describe(j.final, j.weight.spec)
            if e.kind not in ("normal", "uniform") or e.symbolic or e.std is None:
                continue
            nexts = project.following(w.owner, w.local)
            normalized = any(n.normalized for n in nexts)
            fi, _ = fan(w.spec)
            acts = [n for n in nexts if n.node.kind == "act"]
            gain = K.act_gain(acts[0].node.act or "", acts[0].node.slope) if acts and \
                family(project, acts[0].node, w.owner) != K.RUNTIME else 1.0
            too_small = False
            unit = _unit_draw(j.final, e)
            if unit:
                if fi is not None and fi <= TINY_FAN_IN:
                    continue
                reason = (f"`{j.final.func}` draws with std {e.std:.3g} whatever the fan-in" +
                          (" and mean 0.5 (all weights positive)" if e.mean == 0.5 else ""))
            else:
                if fi is None:
                    continue
                implied = e.std * math.sqrt(fi)
                if implied > GAIN_OFF_STATIC * gain:
                    reason = (f"std {e.std:g} with fan_in {fi:g} implies gain {implied:.3g}, "
                              f"{implied / gain:.1f}× the {gain:.3g} this layer needs")
                elif implied * GAIN_OFF_STATIC < gain and not j.final.params.get("std_expr") and \
                        project.is_hidden(w.owner, w.local) and \
                        not project.graph(w.owner).renormalized(w.local):
                    reason = (f"std {e.std:g} with fan_in {fi:g} implies gain {implied:.3g}, "
                              f"{gain / implied:.1f}× below the {gain:.3g} this hidden layer needs")
                    too_small = True
                else:
                    continue
            recipe = too_small and e.std in RECIPE_STDS
            severity = self._severity(project, w, normalized or recipe, too_small,
                                      unit and not acts)
            msg = (f"unscaled init of {layer_desc(project, w.owner, w.local)}: {reason}; scale by "
                   f"fan-in (Kaiming/Xavier)")
            if normalized:
                msg += " (a normalization layer follows, so its scale is normalized away)"
            elif recipe:
                msg += (f" (std {e.std:g} is the GPT/BERT/ViT/DCGAN recipe, usually applied "
                        f"model-wide on purpose)")
            emit(self.code, cap(severity, j), msg, j.final, j, related=related_for(project, j),
                 remedy=ScaleByFan(act=acts[0].node.act if acts else None,
                                  a=acts[0].node.slope if acts else None,
                                  family=family(project, acts[0].node) if acts else None,
                                  runtime=bool(acts and acts[0].node.runtime),
                                  shared=j.final.target == "filter"))

    @staticmethod
    def _severity(project, w, normalized: bool, too_small: bool, unseen_output: bool) -> str:
        """info when normalized away (or a model-wide recipe); warning when too small, or an
        output whose consumer we cannot see (logits into gumbel-softmax, a loss: the scale may
        be a deliberate temperature); error otherwise."""
        if normalized:
            return "info"
        if too_small or (unseen_output and not project.is_hidden(w.owner, w.local)):
            return "warning"
        return "error"

    def _raw(self, project, j, emit) -> None:
        """A raw `nn.Parameter` used as a weight matrix (2-D, or a stacked bank of them)."""
        w = j.weight
        spec = w.owner.params.get(w.local)
        if spec is None or spec.shape is None or len(spec.shape) < 2:
            return
        if any(isinstance(d, int) and d <= TINY_FAN_IN for d in spec.shape[-2:]):
            return  # (d // 2, 1): the fan-in may be that 1, and std 1 is then the scaled init
        g = project.graph(w.owner)
        if not g.layer_nodes(w.local):
            return  # not used as a weight matrix (a token, a position embedding)
        nexts = [n for nid in g.layer_nodes(w.local) for n in g.nexts(nid)]
        severity = "info" if any(n.normalized for n in nexts) else "error"
        f = project.file_of(w.owner)
        stacked = " (a stack of weight matrices)" if len(spec.shape) > 2 else ""
        final_unit = j.final is not None and _unit_draw(j.final, describe(j.final, None))
        if j.final is not None and not final_unit:
            return  # a later init sets the scale
        if spec.ctor in ("randn", "rand") and not spec.scaled:
            ctor = "torch.randn" if spec.ctor == "randn" else "torch.rand"
            msg = (f"`nn.Parameter({ctor}(...))` weight `{w.local}`{stacked} has std "
                   f"{'1' if spec.ctor == 'randn' else '0.29 and mean 0.5'} whatever its fan-in; "
                   f"scale it by fan_in ** -0.5 or init it with nn.init.kaiming_*/xavier_*")
            if final_unit:
                msg += f" (`{j.final.func}` at line {j.final.loc.row} redraws it at std 1 again)"
            emit(self.code, cap(severity, j), msg, None, None, loc=spec.loc, path=f.path,
                 cls=w.owner, layer=w.local, remedy=ScaleRandn(param=w.local))
        if final_unit:
            msg = (f"unscaled init of weight `{w.local}`{stacked}: `{j.final.func}` draws with std "
                   f"1 whatever the fan-in; scale by fan-in (Kaiming/Xavier)")
            emit(self.code, cap(severity, j), msg, j.final, j, related=related_for(project, j),
                 remedy=ScaleByFan(shared=j.final.target == "filter"))

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when the layer multiplies (or divides) the std of its input by GAIN_OFF or
        more, or its output is NaN/Inf."""
        ix, mod = ev.ix, ev.mod
        if mod not in ix.order:
            return "not measured", f"`{label(mod)}` did not run in the forward pass"
        i = ix.order.index(mod)
        s1 = ix.first_row[mod].get("out_std")
        if i > 0:
            s0, ref = ix.out_std(ix.order[i - 1]), f"`{label(ix.order[i - 1])}`"
        else:
            s0, ref = ix.first_row[mod].get("in_std"), "its input"
        if not (finite(s0) and finite(s1)) or not s0:
            if s1 is not None and not finite(s1):
                return "confirmed", f"the output of `{label(mod)}` is NaN/Inf"
            return "not measured", f"output std {fmt(s1)} at `{label(mod)}`, {fmt(s0)} at {ref}"
        g = s1 / s0
        text = (f"output std {fmt(s0)} at {ref} → {fmt(s1)} at `{label(mod)}` "
                f"({ratio_text(g)} in one layer)") + ix.predicted(
                    ([ix.order[i - 1]] if i > 0 else []) + [mod])
        return ("confirmed" if g >= GAIN_OFF or g <= 1 / GAIN_OFF else "not confirmed"), text
