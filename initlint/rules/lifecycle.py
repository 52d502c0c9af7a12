"""Whether an init takes effect at all: IL401–IL404."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.rules import Rule, register

_HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"


_NOT_INIT = ("apply", "copy", "rescale")


def _same_init(a, b) -> bool:
    """Overwriting an init with the same init is harmless (not worth a finding)."""
    keys = ("val", "std", "mean", "gain", "a", "b", "mode", "nonlinearity")
    return a.kind == b.kind and all(a.params.get(k) == b.params.get(k) for k in keys) and \
        not a.symbolic and not b.symbolic


def _specificity(op) -> int:
    if op.target in ("attr", "param"):
        return 2
    if op.filter is not None and op.filter.subpath:
        return 1
    return 0


def _init_functions(idx) -> set[int]:
    """Module-level functions that initialize weights: with an init call of their own, a
    nested function that has one (`def init_func(m)` applied by `init_weights(net)`), or a call
    of another such function (`init_all(model)` calling `_xavier(m)`) when they return nothing
    (a factory that returns a model it initialized is an entry point, not an init step)."""
    fns = list(idx.functions.values())
    inits = {id(fn) for fn in fns if fn.nested_init or
             any(op.kind not in _NOT_INIT for op in fn.ops)}
    by_name: dict[str, list] = {}
    for fn in fns:
        by_name.setdefault(fn.name, []).append(fn)
    changed = True
    while changed:
        changed = False
        for fn in fns:
            if id(fn) not in inits and not fn.returns_value and any(
                    id(g) in inits for n in fn.names for g in by_name.get(n, ()) if g is not fn):
                inits.add(id(fn))
                changed = True
    return inits


def _dead_functions(project, inits: set[int]) -> list[tuple]:
    """Init functions whose name nothing live refers to: not at module or class level, not as
    an attribute or a string anywhere, and inside function bodies only in functions that are
    dead themselves. Returns (function, the dead functions that name it)."""
    idx = project.index
    free: set = set()
    for f in idx.files:
        free |= f.free_refs
    bodies = list(idx.functions.values())
    for c in idx.all_classes():
        bodies.extend(c.methods.values())
    # a function that returns a value and that nothing calls is an entry point of the
    # package's API (`define_G()` returns the model it built): live, and so what it calls
    dead = {id(fn): fn for fn in idx.functions.values()
            if fn.name not in free and not fn.name.startswith("test") and
            (not fn.returns_value or id(fn) in inits)}
    users: dict[str, list] = {}
    for g in bodies:
        for n in g.names:
            users.setdefault(n, []).append(g)
    changed = True
    while changed:
        changed = False
        for key, fn in list(dead.items()):
            if any(g is not fn and id(g) not in dead for g in users.get(fn.name, ())):
                del dead[key]
                changed = True
    return [(fn, sorted({g.name for g in users.get(fn.name, ()) if g is not fn}))
            for key, fn in dead.items() if key in inits]


def _meant(w, a, rp) -> str:
    """`zeros_(decoder.weight)` right before a draw on `decoder.weight`: the bias was meant."""
    if w.param == "weight" and a.kind in ("zero", "constant") and \
            (w.full, "bias") in rp.weights:
        return f"; did you mean `{'.'.join(x for x in (w.full, 'bias') if x)}`?"
    return ""


@register
class InitNeverApplied(Rule):
    code = "IL401"
    name = "init-never-applied"
    severity = "error"
    summary = "An init function or method that nothing calls or `.apply`s."
    what = ("Finds functions and methods that initialize weights (`_init_weights`, a module-level "
            "`init_weights(m)`, a custom module's `reset_parameters`) whose name is never called, "
            "passed to `.apply`, or otherwise referenced anywhere in the linted tree. Framework "
            "hooks are exempt: Hugging Face `PreTrainedModel._init_weights` (called by "
            "`post_init()`), `reset_parameters` of subclasses of built-in layers.")
    why = "The model trains with PyTorch's default init; the carefully written init never runs."
    example = """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(64, 64)

            def _init_weights(self, m):
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight)
    """
    use_instead = """
                self.fc = nn.Linear(64, 64)
                self.apply(self._init_weights)
    """
    fix_safety = ("No automatic fix: where to call it (and whether it should run when weights "
                  "are loaded from a checkpoint) is the author's call.")
    VALID = [_HEADER + """
def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.apply(init_weights)
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        return self.fc(x)
""", _HEADER + """
class MyLayer(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, n))

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
"""]

    def check(self, project, emit) -> None:
        idx = project.index
        inits = _init_functions(idx)
        for fn, callers in _dead_functions(project, inits):
            f = idx.file_of[id(fn)]
            how = (f" (its only callers are never called either: "
                   f"{', '.join(f'`{c}`' for c in callers)})" if callers else "")
            emit(self.code, "error",
                 f"init function `{fn.name}` is never called or applied anywhere in the linted "
                 f"tree{how}: the weights it would initialize keep PyTorch's default init", None,
                 None, loc=fn.loc, path=f.path)
        subclasses: dict[int, list] = {}
        for c in idx.all_classes():
            for base in idx.mro(c)[1:]:
                subclasses.setdefault(id(base), []).append(c)
        for cls in project.module_classes:
            for name, fn in cls.methods.items():
                if name in ("__init__", "forward") or not [op for op in fn.ops
                                                            if op.kind not in _NOT_INIT]:
                    continue
                if idx.refs.get(name, 0):
                    continue  # used on another object, by name in a string, or as a bare name
                family = idx.mro(cls) + subclasses.get(id(cls), [])
                if any(name in c.self_refs for c in family):
                    continue  # `self.apply(self._init_weights)`, `self.reset_parameters()`
                if name in K.FRAMEWORK_INIT_HOOKS and self._framework_calls(project, cls, name):
                    continue
                f = project.file_of(cls)
                emit(self.code, "error",
                     f"`{cls.name}.{name}` initializes weights but is never called or applied "
                     f"(e.g. `self.apply(self.{name})` or `self.{name}()` in `__init__`): the "
                     f"model keeps PyTorch's default init", None, None, loc=fn.loc, path=f.path,
                     cls=cls)
        self._forgotten_inherited(project, subclasses, emit)

    def _forgotten_inherited(self, project, subclasses, emit) -> None:
        """A subclass that never calls the init method it inherits while its siblings do."""
        idx = project.index
        for cls in project.module_classes:
            if not cls.layers or cls.ops or cls.applied or cls.calls_post_init:
                continue
            family = idx.mro(cls)
            called = set()
            for c in family:
                called |= set(c.init_calls) | c.self_refs
            for base in family[1:]:
                for name, fn in base.methods.items():
                    if name in ("__init__", "forward") or name in called or \
                            not any(op.kind not in _NOT_INIT for op in fn.ops):
                        continue
                    siblings = sorted(s.name for s in subclasses.get(id(base), [])
                                      if s not in family and name in s.init_calls)
                    if not siblings:
                        continue
                    f = project.file_of(cls)
                    emit(self.code, "warning",
                         f"`{cls.name}` never calls the `{base.name}.{name}()` it inherits, "
                         f"which its sibling{'s' if len(siblings) > 1 else ''} "
                         f"{', '.join(f'`{s}`' for s in siblings)} call{'' if len(siblings) > 1 else 's'}"
                         f" in `__init__`: its weights keep PyTorch's default init", None, None,
                         loc=cls.loc, path=f.path, cls=cls)

    @staticmethod
    def _framework_calls(project, cls, name) -> bool:
        idx = project.index
        if idx.is_hf_model(cls):
            return True
        ext = idx.external_bases(cls)
        if name in ("reset_parameters", "_reset_parameters") and any(b in K.LAYERS for b in ext):
            return True  # the built-in layer's __init__ calls it
        # a base class outside the tree may call the hook (a framework's own post-init)
        return any(not b.startswith("torch.") and b not in ("object",) for b in ext)


@register
class InitOverwritten(Rule):
    code = "IL402"
    name = "init-overwritten"
    severity = "warning"
    summary = "A specific init that a later, more general init overwrites."
    what = ("Replays every init write in the order it takes effect (children's `__init__`, then "
            "the parent's statements, `apply`, `modules()` loops, `post_init()`) and finds a "
            "specific init (one named layer or parameter) that a later general init reaches.")
    why = ("The specific init is dead: `nn.init.zeros_(self.head.weight)` followed by "
           "`self.apply(self._init_weights)` trains with whatever `_init_weights` does to the "
           "head. General-then-specific is the right order.")
    example = """
        nn.init.zeros_(self.head.weight)
        self.apply(self._init_weights)
    """
    use_instead = """
        self.apply(self._init_weights)
        nn.init.zeros_(self.head.weight)
    """
    fix_safety = "No automatic fix: moving statements can change what else runs in between."
    VALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(64, 64)
        self.head = nn.Linear(64, 10)
        self.apply(self._init_weights)
        nn.init.zeros_(self.head.weight)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(64, 64)
        self.head = nn.Linear(64, 10)
        nn.init.zeros_(self.head.weight)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
""", _HEADER + """
class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

class Model(nn.Module):
    def __init__(self, dim=96, depth=2):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
"""]

    @staticmethod
    def _dead_slices(project, emit) -> None:
        for f in project.files:
            for dead, over in getattr(f, "dead_slices", ()):
                emit("IL402", "warning",
                     f"this slice init is overwritten by the write at line {over.row}, which "
                     f"covers the same elements: this init is dead; make the later slice start "
                     f"where this one ends", None,
                     None, loc=dead, path=f.path, related=[("overwritten here", f.path, over)])

    def check(self, project, emit) -> None:
        self._dead_slices(project, emit)
        reported = set()
        for rp in project.replays:
            for w in rp.weights.values():
                writes = w.writes
                for i, (a, a_cls) in enumerate(writes):
                    if a.kind in ("rescale", "apply", "copy") or (a.loc.row, a.src, id(rp)) in \
                            reported:
                        continue
                    layer_cls = w.owner if w.spec is None else project.index.class_of_spec(w.spec)
                    own_default = layer_cls is not None and a_cls is layer_cls
                    for b, b_cls in writes[i + 1:]:
                        if own_default and b_cls is not layer_cls:
                            # a reusable layer's init of its own raw parameter (HF `Conv1D`) is
                            # its default, like a built-in's reset_parameters: a model that
                            # re-inits it is the intended override, not a dead init
                            break
                        if b is a or b.kind in ("rescale", "copy") or b.conditional or \
                                b.params.get("partial") or b.symbolic and b.kind not in (
                                "normal", "uniform", "xavier", "kaiming"):
                            continue
                        same_tensor = _specificity(a) == _specificity(b) == 2 and \
                            b_cls is a_cls and not a.conditional
                        if not same_tensor and (_specificity(a) <= _specificity(b) or
                                                _same_init(a, b)):
                            continue
                        if same_tensor and _same_init(a, b):
                            continue
                        # once per root model: the same dead init seen from another root adds
                        # that root's overwriting init to the finding's related locations
                        reported.add((a.loc.row, a.src, id(rp)))
                        target = '.'.join(x for x in (w.full, w.param) if x)
                        if same_tensor:
                            msg = (f"`{a.func}` on `{target}` is overwritten by `{b.func}` on the "
                                   f"same tensor at line {b.loc.row}: this init is dead"
                                   f"{_meant(w, a, rp)}")
                        else:
                            msg = (f"`{a.func}` on `{target}` (in `{rp.root.name}`) is "
                                   f"overwritten by the later `{b.func}` "
                                   f"({b.via or 'general init'}, line {b.loc.row}) before "
                                   f"training: this init is dead; init specific layers after "
                                   f"the general pass")
                        emit(self.code, "warning", msg, a, None, path=a.src,
                             related=[(f"overwritten here ({b.via or b.func}, in "
                                       f"`{rp.root.name}`)", b.src, b.loc)])
                        break


@register
class InitInForward(Rule):
    code = "IL403"
    name = "init-in-forward"
    severity = "error"
    summary = "`nn.init.*` or an in-place random/constant fill of a parameter inside `forward`."
    what = "Finds init calls on parameters inside `forward`."
    why = ("Every forward pass re-initializes the weight, erasing what the optimizer learned: "
           "the layer never trains, and the model's output is random at inference.")
    example = """
        def forward(self, x):
            nn.init.xavier_uniform_(self.fc.weight)
            return self.fc(x)
    """
    use_instead = """
        def __init__(self):
            ...
            nn.init.xavier_uniform_(self.fc.weight)
    """
    fix_safety = ("No automatic fix: moving the call into `__init__` changes when it runs, and "
                  "the right place (after which layer is built, before or after an `apply`) "
                  "needs a human decision.")
    VALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.xavier_uniform_(self.fc.weight)
        self.register_buffer("mask", torch.ones(8))

    def forward(self, x):
        self.mask.fill_(1.0)
        return self.fc(x)
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        nn.init.xavier_uniform_(self.fc.weight)
        return self.fc(x)
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 8) * 0.1)

    def forward(self, x):
        with torch.no_grad():
            self.w.normal_(0, 0.1)
        return x @ self.w
"""]

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


@register
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
    example = """
        for name, p in self.named_parameters():
            if name == "c_proj.weight":
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layer))
    """
    use_instead = """
            if name.endswith("c_proj.weight"):
    """
    fix_safety = "No automatic fix."
    VALID = [_HEADER + """
class GPT(nn.Module):
    def __init__(self, n_layer=2):
        super().__init__()
        self.h = nn.ModuleList([nn.ModuleDict({"c_proj": nn.Linear(8, 8)}) for _ in range(n_layer)])
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02)
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
""", _HEADER + """
class GPT(nn.Module):
    def __init__(self, n_layer=2):
        super().__init__()
        self.h = nn.ModuleList([nn.ModuleDict({"c_proj": nn.Linear(8, 8)}) for _ in range(n_layer)])
        for pn, p in self.named_parameters():
            if pn == "c_proj.weight":
                nn.init.normal_(p, mean=0.0, std=0.02)
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
        for m in self.children():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
"""]

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


@register
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
    example = """
        self.backbone = torchvision.models.resnet50(weights="IMAGENET1K_V2")
        self.head = nn.Conv2d(2048, 21, 1)
        self.apply(self._init_weights)   # reaches every Conv2d of the backbone
    """
    use_instead = """
        self.backbone = torchvision.models.resnet50(weights="IMAGENET1K_V2")
        self.head = nn.Conv2d(2048, 21, 1)
        self.head.apply(self._init_weights)   # only the new layers
    """
    fix_safety = "No automatic fix: which submodules are new is the author's knowledge."
    VALID = [_HEADER + """
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
""", _HEADER + """
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
"""]
    INVALID = [_HEADER + """
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
""", _HEADER + """
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
"""]

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
