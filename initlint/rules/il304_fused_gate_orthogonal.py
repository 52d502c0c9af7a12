"""IL304 fused-gate-orthogonal: `orthogonal_` over the whole fused gate matrix of an LSTM/GRU,
not per gate."""

from __future__ import annotations

from initlint.rules.base import Rule
from initlint.rules.common import has_init
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


class FusedGateOrthogonal(Rule):
    code = "IL304"
    name = "fused-gate-orthogonal"
    severity = "info"
    opt_in = True
    summary = "`orthogonal_` over the whole fused gate matrix of an LSTM/GRU, not per gate."
    what = ("Finds `orthogonal_` applied to a recurrent layer's whole `weight_hh*`/`weight_ih*` "
            "— the gates stacked into one (4·hidden × hidden) matrix for LSTM, 3· for GRU.")
    why = ("A tall matrix made orthogonal as a whole has orthonormal columns, but each gate's "
           "(hidden × hidden) block is not orthogonal: its singular values spread around "
           "1/√gates. The norm-preserving recurrence the init is meant to give each gate is "
           "lost.")
    use_instead = """
        for name, p in self.lstm.named_parameters():
            if "weight_hh" in name:
                for g in p.data.chunk(4, 0):
                    nn.init.orthogonal_(g)
    """
    fix_safety = "No automatic fix."
    EXAMPLES = [
        Valid(HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(32, 64)

    def forward(self, x):
        return self.rnn(x)[0]
"""),
        Invalid(HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(32, 64)
        for name, p in self.lstm.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(p)

    def forward(self, x):
        return self.lstm(x)[0]
""",
                [Expect(12, 17, "info",
                        message_contains="`nn.init.orthogonal_` makes the whole fused")]),
    ]

    def check(self, project, emit) -> None:
        for cls in project.module_classes:
            for path, spec in cls.layers.items():
                short = (spec.kind or "").rsplit(".", 1)[-1]
                if short not in ("LSTM", "GRU", "LSTMCell", "GRUCell"):
                    continue
                found = []

                def whole(op):
                    if op.kind != "orthogonal" or op.params.get("partial"):
                        return False
                    found.append(op)
                    return True

                if not has_init(project, cls, path, whole):
                    continue
                op = found[0]
                gates = 4 if short.startswith("LSTM") else 3
                emit(self.code, "info",
                     f"`{op.func}` makes the whole fused gate matrix of `{path}` ({short}, "
                     f"{gates} gates stacked) orthogonal, not each gate's block; init each "
                     f"gate's slice (`for g in w.chunk({gates}, 0): orthogonal_(g)`)", op, None,
                     path=op.src, cls=cls, layer=path)
