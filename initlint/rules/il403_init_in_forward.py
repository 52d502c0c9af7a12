"""IL403 init-in-forward: `nn.init.*` or an in-place random/constant fill of a parameter inside
`forward`."""

from __future__ import annotations

from initlint.probe.verdicts import label
from initlint.rules.base import Rule
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


class InitInForward(Rule):
    code = "IL403"
    name = "init-in-forward"
    severity = "error"
    summary = "`nn.init.*` or an in-place random/constant fill of a parameter inside `forward`."
    what = "Finds init calls on parameters inside `forward`."
    why = ("Every forward pass re-initializes the weight, erasing what the optimizer learned: "
           "the layer never trains, and the model's output is random at inference.")
    use_instead = """
        def __init__(self):
            ...
            nn.init.xavier_uniform_(self.fc.weight)
    """
    fix_safety = ("No automatic fix: moving the call into `__init__` changes when it runs, and "
                  "the right place (after which layer is built, before or after an `apply`) "
                  "needs a human decision.")
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.xavier_uniform_(self.fc.weight)
        self.register_buffer("mask", torch.ones(8))

    def forward(self, x):
        self.mask.fill_(1.0)
        return self.fc(x)
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        nn.init.xavier_uniform_(self.fc.weight)
        return self.fc(x)
""",
                [Expect(12, 9, "error",
                        message_contains="`nn.init.xavier_uniform_` re-initializes")]),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 8) * 0.1)

    def forward(self, x):
        with torch.no_grad():
            self.w.normal_(0, 0.1)
        return x @ self.w
""",
                [Expect(13, 13, "error",
                        message_contains="`.normal_` re-initializes `w` on every forward")]),
    ]

    def check(self, project, emit) -> None:
        for cls in project.module_classes:
            for op in cls.forward_ops:
                if op.kind in ("rescale", "copy", "apply"):
                    continue
                if op.target == "attr":
                    spec = cls.layers.get(op.path)
                    if spec is None or op.param not in ("weight", "bias"):
                        continue
                elif op.target == "param":
                    if op.param not in cls.params:
                        continue
                else:
                    continue
                emit(self.code, "error",
                     f"`{op.func}` re-initializes `{op.path}{'.' + op.param if op.target == 'attr' else ''}` "
                     f"on every forward pass, erasing what training learned; initialize once in "
                     f"`__init__`", op, None, path=op.src, cls=cls)

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when a parameter of the layer changed during the forward pass."""
        own = [p for p in ev.ix.params.values() if p["name"] == ev.full or p["module"] == ev.mod]
        changed = [p["name"] for p in own if p.get("changed_in_forward")]
        if changed:
            return "confirmed", f"`{changed[0]}` changed during the forward pass"
        return "not confirmed", (f"the parameters of `{label(ev.mod)}` did not change in the "
                                 "forward pass")
