"""IL402 init-overwritten: A specific init that a later, more general init overwrites."""

from __future__ import annotations

from initlint.rules.base import Rule
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


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


def _meant(w, a, rp) -> str:
    """`zeros_(decoder.weight)` right before a draw on `decoder.weight`: the bias was meant."""
    if w.param == "weight" and a.kind in ("zero", "constant") and \
            (w.full, "bias") in rp.weights:
        return f"; did you mean `{'.'.join(x for x in (w.full, 'bias') if x)}`?"
    return ""


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
    use_instead = """
        self.apply(self._init_weights)
        nn.init.zeros_(self.head.weight)
    """
    fix_safety = "No automatic fix: moving statements can change what else runs in between."
    EXAMPLES = [
        Valid(HEADER + """
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
"""),
        Invalid(HEADER + """
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
""",
                [Expect(11, 9, "warning",
                        message_contains="`nn.init.zeros_` on `head.weight` (in `Net`) is")]),
        Invalid(HEADER + """
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
""",
                [Expect(12, 17, "warning",
                        message_contains="`nn.init.xavier_uniform_` on")]),
    ]

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
