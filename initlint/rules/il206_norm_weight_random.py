"""IL206 norm-weight-random: A normalization layer's weight (γ) is drawn at random around zero."""

from __future__ import annotations

from initlint.analysis.project import describe
from initlint.rules.base import Rule
from initlint.rules.common import cap, layer_desc, related_for
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


class NormWeightRandom(Rule):
    code = "IL206"
    name = "norm-weight-random"
    severity = "error"
    severity_logic = "error; warning when the init sits behind a run-time condition"
    summary = "A normalization layer's weight (γ) is drawn at random around zero."
    what = ("Finds BatchNorm/LayerNorm/GroupNorm/InstanceNorm/RMSNorm weights whose final init is "
            "a draw centred on zero: `normal_(w, std=0.02)`, `trunc_normal_`, `uniform_(w, -b, b)` "
            "— typically a Hugging Face `_init_weights` with `nn.BatchNorm2d` or `nn.LayerNorm` in "
            "the `isinstance` tuple of the Linear/Conv branch.")
    why = ("γ scales the normalized signal. Drawn from N(0, 0.02) it is about 0.02 and negative "
           "for half the channels: the layer's output std collapses to ~0.02 and the sign of half "
           "the features flips at random. A zero γ is a deliberate recipe (the last BN of a "
           "residual branch); a random one is not.")
    use_instead = """
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    """
    fix_safety = ("No automatic fix: the norm class has to leave the shared branch, which changes "
                  "the structure of the init function.")
    EXAMPLES = [
        Valid(HEADER + """
class DCGANDisc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 4)
        self.bn = nn.BatchNorm2d(16)
        nn.init.normal_(self.conv.weight, 0.0, 0.02)
        nn.init.normal_(self.bn.weight, 1.0, 0.02)  # DCGAN: gamma ~ N(1, 0.02)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x):
        return F.leaky_relu(self.bn(self.conv(x)), 0.2)
"""),
        Valid(HEADER + """
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        nn.init.zeros_(self.bn.weight)  # zero-gamma residual recipe

    def forward(self, x):
        return x + self.bn(self.conv(x))
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).mean((2, 3)))
""",
                [Expect(15, 9, "error",
                        message_contains="`nn.init.normal_` draws the weight (γ) of `bn`")]),
        Invalid(HEADER + """
class Enc(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                nn.init.trunc_normal_(m.weight, std=0.02)

    def forward(self, x):
        return self.norm(self.fc(x))
""",
                [Expect(12, 13, "error",
                        message_contains="`nn.init.trunc_normal_` draws the weight (γ) of")]),
    ]

    def check(self, project, emit) -> None:
        reported = set()
        for j in project.judged:
            w = j.weight
            if w.param != "weight" or j.final is None or \
                    project.weight_category(w.spec) != "norm":
                continue
            op = j.final
            e = describe(op)
            if e.kind == "normal":
                centred = isinstance(e.mean, (int, float)) and abs(e.mean) < 0.1
            elif e.kind == "uniform" and not e.symbolic:
                centred = abs(e.mean) < 0.1 * max(e.std or 0, 1e-12) or e.mean == 0
            else:
                continue
            if not centred or (op.loc.row, op.src) in reported:
                continue
            reported.add((op.loc.row, op.src))
            spread = f"std {e.std:g}" if isinstance(e.std, (int, float)) else "a std from config"
            msg = (f"`{op.func}` draws the weight (γ) of "
                   f"{layer_desc(project, w.owner, w.local)} around zero ({spread}): about half "
                   f"the channels get a negative γ and the layer's output std collapses to the "
                   f"draw's spread; init norm weights with ones_ (take the norm class out of "
                   f"this branch)")
            # the statement to change is the filter that lets the norm class in, when there is one
            where = op.filter.filter_loc if op.filter is not None else None
            if where is not None:
                emit(self.code, cap("error", j), msg, None, j, loc=where, path=op.src,
                     related=[("the init call", op.src, op.loc), *related_for(project, j)])
            else:
                emit(self.code, cap("error", j), msg, op, j, related=related_for(project, j))
