"""IL401 init-never-applied: An init function or method that nothing calls or `.apply`s."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.rules.base import Rule
from initlint.rules.examples import Expect, HEADER, Invalid, Valid


_NOT_INIT = ("apply", "copy", "rescale")


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
    use_instead = """
                self.fc = nn.Linear(64, 64)
                self.apply(self._init_weights)
    """
    fix_safety = ("No automatic fix: where to call it (and whether it should run when weights "
                  "are loaded from a checkpoint) is the author's call.")
    EXAMPLES = [
        Valid(HEADER + """
def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.apply(init_weights)
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        return self.fc(x)
""",
                [Expect(11, 5, "error",
                        message_contains="`Net._init_weights` initializes weights but is")]),
        Invalid(HEADER + """
class MyLayer(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, n))

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
""",
                [Expect(11, 5, "error",
                        message_contains="`MyLayer.reset_parameters` initializes weights")]),
    ]

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
