"""What one class's evaluation leaves behind: a small, picklable record of its module tree,
every parameter's write history and what could not be built — no syntax trees, no abstract
values that point into them. It is what the incremental store keeps per class, and what two
evaluations are compared by (a re-evaluation after an edit must give the record a cold run
gives)."""

from __future__ import annotations

from dataclasses import dataclass, field

from initlint.evaluate.values import ModuleV, Unknown, Write, describe

_PLAIN = (int, float, str, bool, type(None))


@dataclass
class ClassResult:
    """One model class, evaluated with its own defaults."""

    qualname: str
    path: str
    status: str  # fully | partly | none (Evaluation.status)
    error: str | None = None
    modules: tuple = ()  # (dotted path, kind, activation, built behind an unknown `if`)
    params: dict = field(default_factory=dict)  # "path.name" -> (shape, tuple of Writes)
    unknowns: tuple = ()  # (module path, why it could not be built)
    deps: dict = field(default_factory=dict)  # file path -> content digest it was read at

    def comparable(self) -> tuple:
        """Everything but the dependency digests (which differ between two trees)."""
        return (self.qualname, self.path, self.status, self.error, self.modules,
                tuple(sorted(self.params.items())), self.unknowns)


@dataclass(frozen=True)
class Opaque:
    """A value the record does not keep: what it was (an Unknown's origin, a module's kind)."""

    what: str


def plain(v):
    """A value as the record keeps it: literals and tuples of them as they are, anything
    else as an `Opaque` that says what it was."""
    if isinstance(v, _PLAIN):
        return v
    if isinstance(v, (tuple, list)):
        return tuple(plain(x) for x in v)
    if isinstance(v, Unknown):
        return Opaque(f"unknown {v.origin}")
    return Opaque(describe(v))


def _write(w: Write) -> Write:
    return Write(w.kind, w.func, {k: plain(x) for k, x in w.params.items()},
                 tuple(w.loc) if w.loc else None, w.via, w.certainty)


def summarize(qualname: str, path: str, evaluation, digests: dict) -> ClassResult:
    m: ModuleV | None = evaluation.module
    res = ClassResult(qualname, path, evaluation.status, evaluation.error,
                      deps={p: digests.get(p) for p in sorted(evaluation.deps)})
    if m is None:
        return res
    mods, unknowns = [], []
    for name, sub in m.named_modules():
        mods.append((name, sub.kind, sub.act, sub.may))
        unknowns.extend((name, u) for u in sub.unknowns)
    res.modules, res.unknowns = tuple(mods), tuple(unknowns)
    for name, p in m.named_parameters():
        res.params[name] = (plain(p.shape) if p.shape is not None else None,
                            tuple(_write(w) for w in p.writes))
    return res
