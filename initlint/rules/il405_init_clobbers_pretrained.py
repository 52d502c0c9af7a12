"""IL405 init-clobbers-pretrained: A general init reaches a submodule built with pretrained
weights."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.rules.base import Rule
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


class InitClobbersPretrained(Rule):
    code = "IL405"
    name = "init-clobbers-pretrained"
    severity = "error"
    severity_logic = "error; warning when the init sits behind a run-time condition"
    summary = "A general init reaches a submodule built with pretrained weights."
    what = ("Finds `self.apply(fn)`, `for m in self.modules()` (and `named_modules`, "
            "`parameters`) inits whose filter selects built-in layer types, in a model that "
            "holds a submodule built with pretrained weights — `X.from_pretrained(...)`, "
            "`resnet50(weights=...)`, `timm.create_model(..., pretrained=True)`, or given "
            "weights by `self.X.load_state_dict(...)` earlier in `__init__` — that the loop "
            "walks into.")
    why = ("The loop re-initializes every Conv/Linear/Norm of the backbone: the pretrained "
           "weights that were downloaded are thrown away before the first step, and the model "
           "trains from scratch while its author believes it is fine-tuning.")
    use_instead = """
        self.backbone = torchvision.models.resnet50(weights="IMAGENET1K_V2")
        self.head = nn.Conv2d(2048, 21, 1)
        self.head.apply(self._init_weights)   # only the new layers
    """
    fix_safety = "No automatic fix: which submodules are new is the author's knowledge."
    EXAMPLES = [
        Valid(HEADER + """
import torchvision

class Seg(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torchvision.models.resnet50(weights="IMAGENET1K_V2")
        self.head = nn.Conv2d(2048, 21, 1)
        self.head.apply(self._init)

    def _init(self, m):
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x):
        return self.head(self.backbone(x))
"""),
        Valid(HEADER + """
import torchvision

class Scratch(nn.Module):
    def __init__(self, pretrained=False):
        super().__init__()
        self.backbone = torchvision.models.resnet18(weights=None)
        self.fc = nn.Linear(512, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.fc(self.backbone(x))
"""),
        Invalid(HEADER + """
import torchvision

class Seg(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = torchvision.models.resnet50(weights="IMAGENET1K_V2")
        self.head = nn.Conv2d(2048, 21, 1)
        self.apply(self._init)

    def _init(self, m):
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x):
        return self.head(self.backbone(x))
""",
                [Expect(13, 9, "error",
                        message_contains="`apply(self._init)` (general init) reaches")]),
        Invalid(HEADER + """
from transformers import AutoModel

class Cls(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = AutoModel.from_pretrained("bert-base-uncased")
        self.fc = nn.Linear(768, 2)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x):
        return self.fc(self.encoder(x).pooler_output)
""",
                [Expect(15, 17, "error",
                        message_contains="`nn.init.xavier_uniform_` (modules() loop)")]),
    ]

    _GENERAL = ("modules", "named_modules", "apply", "parameters", "named_parameters")

    def check(self, project, emit) -> None:
        idx = project.index
        for rp in project.replays:
            # built with pretrained weights, or given them by `load_state_dict` in `__init__`
            # (then only an init after that line overwrites them)
            loaded = {(id(i.owner), i.local): row for i in rp.instances
                      for path, row in getattr(i.owner, "loaded", ()) if path == i.local}
            pretrained = [i for i in rp.instances if i.spec.pretrained or
                          (id(i.owner), i.local) in loaded]
            if not pretrained:
                continue
            seen: set = set()
            for c in idx.mro(rp.root):
                for op in c.ops:
                    if op.kind != "apply":
                        self._judge(project, op, op, op.filter, pretrained, loaded, seen, emit)
                        continue
                    fn = self._applied(project, rp.root, op.params.get("fn") or "")
                    for inner in fn.ops if fn is not None else ():
                        if inner.kind not in ("apply", "copy", "rescale") and inner.filter:
                            self._judge(project, op, inner, inner.filter, pretrained, loaded,
                                        seen, emit, subpath=op.path)

    @staticmethod
    def _applied(project, root, name: str):
        idx = project.index
        if name.startswith("self."):
            found = idx.method(root, name[5:])
            return found[0] if found else None
        return idx.find_function(name)

    def _judge(self, project, where, op, flt, pretrained, loaded, seen, emit,
               subpath=None) -> None:
        """`where` is the statement to change (the loop's init call, or the `apply`); `loaded`
        maps (owner id, local path) to the row of its `load_state_dict` in `__init__`."""
        if op.target != "filter" or flt is None or (where.loc.row, where.src) in seen:
            return
        if flt.scope not in self._GENERAL or flt.identity or flt.identity_uid or flt.name_test:
            return
        if flt.types is not None and not any(t in K.LAYERS for t in flt.types):
            return  # selects project classes only: the backbone's layers are not those
        if flt.negated:
            return
        sub = flt.subpath if subpath is None else subpath
        hit = [i for i in pretrained if (not sub or i.full == sub or i.full.startswith(sub + "."))
               and (i.spec.pretrained or where.loc.row > loaded.get(
                   (id(i.owner), i.local), 1 << 30))]
        if not hit:
            return
        seen.add((where.loc.row, where.src))
        inst = hit[0]
        f = project.file_of(inst.owner)
        call = where.func if where.kind != "apply" else f"apply({where.params.get('fn')})"
        emit(self.code, "warning" if where.conditional or op.conditional else "error",
             f"`{call}` ({op.via or 'general init'}) reaches `{inst.full}`, which is built with "
             f"pretrained weights: its `{op.func}` overwrites them before training; init only "
             f"the new layers (e.g. `self.<head>.apply(...)`)", where, None, path=where.src,
             related=[(f"`{inst.full}` built with pretrained weights here", f.path, inst.spec.loc)])
