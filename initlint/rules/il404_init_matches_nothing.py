"""IL404 init-matches-nothing: An init loop or function whose filter can never select a weight
of its model."""

from __future__ import annotations

from initlint.rules.base import Rule
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


class InitMatchesNothing(Rule):
    code = "IL404"
    name = "init-matches-nothing"
    severity = "warning"
    summary = "An init loop or function whose filter can never select a weight of its model."
    what = ("Evaluates the filter of each `modules()`/`children()`/`named_parameters()` loop and "
            "`apply`'d function against the layers the model actually builds: "
            "`isinstance(m, nn.Conv2d)` where the model builds only `Conv1d`, `name == "
            "\"c_proj.weight\"` against `named_parameters()` names (which carry the full dotted "
            "path), `self.children()` where the layers are nested deeper. Also an override "
            "attribute set for the loop to read (`self.conv1.stddev = 0.01`) on a module the "
            "filter never selects (a wrapper around the Conv2d it does select).")
    why = "The init silently does nothing: the model trains with PyTorch's default init."
    use_instead = """
            if name.endswith("c_proj.weight"):
    """
    fix_safety = "No automatic fix."
    EXAMPLES = [
        Valid(HEADER + """
class GPT(nn.Module):
    def __init__(self, n_layer=2):
        super().__init__()
        self.h = nn.ModuleList([nn.ModuleDict({"c_proj": nn.Linear(8, 8)}) for _ in range(n_layer)])
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02)
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
""",
                [Expect(11, 13, "warning",
                        message_contains="this init filter never selects a weight of `Net`")]),
        Invalid(HEADER + """
class GPT(nn.Module):
    def __init__(self, n_layer=2):
        super().__init__()
        self.h = nn.ModuleList([nn.ModuleDict({"c_proj": nn.Linear(8, 8)}) for _ in range(n_layer)])
        for pn, p in self.named_parameters():
            if pn == "c_proj.weight":
                nn.init.normal_(p, mean=0.0, std=0.02)
""",
                [Expect(11, 13, "warning",
                        message_contains="this init filter never selects a weight of `GPT`")]),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
        for m in self.children():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
""",
                [Expect(11, 13, "warning",
                        message_contains="this init filter never selects a weight of `Net`")]),
    ]

    def _dead_overrides(self, project, emit) -> None:
        """`self.conv1.stddev = 0.01` for a loop that reads `m.stddev` from the modules it
        selects, where `conv1` is not one of them (torchvision's InceptionAux: a BasicConv2d
        wrapper, while the loop selects nn.Conv2d): the override is never read."""
        idx = project.index
        seen = set()
        for rp in project.replays:
            readers = {}
            for w in rp.weights.values():
                for op, _ in w.writes:
                    if op.filter is not None and op.filter.reads:
                        readers.setdefault(id(op.filter), op)
            for inst in rp.instances:
                for path, attr, loc in getattr(inst.owner, "overrides", ()):
                    if path != inst.local or (loc.row, attr) in seen:
                        continue
                    ops = [op for op in readers.values() if attr in op.filter.reads]
                    if not ops:
                        continue
                    if any(idx.filter_matches(op.filter, inst) is not False for op in ops):
                        continue
                    seen.add((loc.row, attr))
                    op = ops[0]
                    kind = (idx.spec_kind(inst.spec) or "module").rsplit(".", 1)[-1]
                    types = ", ".join(t.rsplit(".", 1)[-1] for t in op.filter.types or ())
                    f = project.file_of(inst.owner)
                    emit(self.code, "warning",
                         f"`self.{path}.{attr}` is set for the init at line {op.loc.row}, which "
                         f"reads `{attr}` only from the modules it selects ({types or 'its filter'}"
                         f"); `{path}` is a `{kind}`, so the value is never read and its layers "
                         f"get the loop's default; set it on the layer the loop selects", None,
                         None, loc=loc, path=f.path, cls=inst.owner,
                         related=[("the init that reads it", op.src, op.loc)])

    def check(self, project, emit) -> None:
        self._dead_overrides(project, emit)
        uses: dict[tuple, list] = {}
        for rp in project.replays:
            for u in rp.filter_uses:
                flt = u.op.filter
                if flt is None or (flt.types is None and flt.name_test is None and
                                   flt.classname_sub is None and flt.identity is None):
                    continue
                uses.setdefault((u.op.src, u.op.loc.row, u.op.loc.col), []).append(u)
        for key, us in uses.items():
            if any(u.matched or not u.decidable for u in us):
                continue
            u = us[0]
            flt = u.op.filter
            loc = flt.filter_loc or u.op.loc
            if flt.name_test is not None:
                how = flt.name_test
                detail = (f"no parameter name {how[0]} {how[1]!r}" + (
                    " — `named_parameters()` names carry the full dotted path; use endswith()"
                    if how[0] == "eq" else ""))
            elif flt.types is not None:
                detail = (f"the model builds no {' or '.join(t.rsplit('.', 1)[-1] for t in flt.types)}"
                          + (" among its direct children (`children()` does not recurse; use "
                             "`modules()`)" if flt.scope == "children" else ""))
            else:
                detail = "no module matches"
            emit(self.code, "warning",
                 f"this init filter never selects a weight of `{u.owner.name}`: {detail}; the "
                 f"init never runs", None, None, loc=loc, path=u.op.src, cls=u.owner)
