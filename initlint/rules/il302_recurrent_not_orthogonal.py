"""IL302 recurrent-not-orthogonal: RNN/LSTM/GRU recurrent weights (`weight_hh*`) are not
orthogonal."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.rules.base import Rule
from initlint.rules.common import has_init
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


class RecurrentNotOrthogonal(Rule):
    code = "IL302"
    name = "recurrent-not-orthogonal"
    severity = "info"
    opt_in = True
    summary = "RNN/LSTM/GRU recurrent weights (`weight_hh*`) are not orthogonal."
    what = "Finds recurrent layers whose hidden-to-hidden weights keep PyTorch's uniform default."
    why = ("An orthogonal recurrent matrix preserves the hidden state's norm across time steps; "
           "the uniform default lets gradients vanish or explode over long sequences (Saxe et al. 2013).")
    use_instead = """
        for name, p in self.rnn.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(p)
    """
    EXAMPLES = [
        Valid(HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(16, 32)
        for name, p in self.rnn.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(p)
"""),
        Invalid(HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(16, 32)
""",
                [Expect(9, 20, "info",
                        message_contains="recurrent weights of `rnn` (LSTM) keep the")]),
    ]

    def check(self, project, emit) -> None:
        for cls in project.module_classes:
            for path, spec in cls.layers.items():
                if K.layer_category(spec.kind) != "rnn":
                    continue
                if has_init(project, cls, path, lambda op: op.kind == "orthogonal" and (
                        op.param in ("*",) or "weight_hh" in op.param or (
                        op.filter and op.filter.name_test and "hh" in op.filter.name_test[1]))):
                    continue
                f = project.file_of(cls)
                emit(self.code, "info",
                     f"recurrent weights of `{path}` ({spec.kind.rsplit('.', 1)[-1]}) keep the "
                     f"uniform default; orthogonal_ keeps the hidden state's norm over time",
                     None, None, loc=spec.loc, path=f.path, cls=cls, layer=path)
