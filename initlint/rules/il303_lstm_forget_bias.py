"""IL303 lstm-forget-bias: LSTM forget-gate bias is not set to 1."""

from __future__ import annotations

from initlint.rules.base import Rule
from initlint.rules.common import has_init
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


class LSTMForgetBias(Rule):
    code = "IL303"
    name = "lstm-forget-bias"
    severity = "info"
    opt_in = True
    summary = "LSTM forget-gate bias is not set to 1."
    what = "Finds LSTMs whose biases are never written (the forget-gate slice stays near 0)."
    why = ("A forget-gate bias of 1 keeps the cell state flowing at the start of training, which "
           "helps learn long-range dependencies (Jozefowicz et al. 2015).")
    use_instead = """
        for name, p in self.lstm.named_parameters():
            if "bias" in name:
                n = p.size(0)
                p.data[n // 4:n // 2].fill_(1.0)
    """
    EXAMPLES = [
        Valid(HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 32)
        for name, p in self.lstm.named_parameters():
            if "bias" in name:
                p.data[32:64].fill_(1.0)
"""),
        Invalid(HEADER + """
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 32)
""",
                [Expect(9, 21, "info",
                        message_contains="LSTM `lstm`'s forget-gate bias is never set to")]),
    ]

    def check(self, project, emit) -> None:
        for cls in project.module_classes:
            for path, spec in cls.layers.items():
                if (spec.kind or "").rsplit(".", 1)[-1] not in ("LSTM", "LSTMCell"):
                    continue
                if has_init(project, cls, path, lambda op: op.kind in (
                        "constant", "copy") and (op.params.get("partial") or op.param in ("*",))):
                    continue
                f = project.file_of(cls)
                emit(self.code, "info",
                     f"LSTM `{path}`'s forget-gate bias is never set to 1 (it starts near 0)",
                     None, None, loc=spec.loc, path=f.path, cls=cls, layer=path)
