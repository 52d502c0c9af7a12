"""Replay init writes in effect order, per root model class.

Order (DESIGN.md): PyTorch's default -> children's own `__init__` inits (children are built
first) -> base class `__init__` -> statements of this `__init__` in order, where `apply`,
`named_apply`, `modules()` loops and HF `post_init()` expand over the subtree at that point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from initlint import knowledge as K
from initlint.analysis.index import Index, Instance, Weight
from initlint.analysis.model import ClassFacts, FunctionFacts, InitOp


@dataclass
class FilterUse:
    op: InitOp
    owner: ClassFacts  # class whose init runs the filter
    matched: bool
    decidable: bool


@dataclass
class Replay:
    root: ClassFacts
    weights: dict[tuple[str, str], Weight] = field(default_factory=dict)
    instances: list[Instance] = field(default_factory=list)
    complete: bool = True
    filter_uses: list[FilterUse] = field(default_factory=list)
    unknown_general: bool = False


class Replayer:
    def __init__(self, index: Index):
        self.index = index

    def run(self, root: ClassFacts) -> Replay:
        idx = self.index
        insts, complete = idx.instances(root)
        rp = Replay(root=root, instances=insts, complete=complete)
        for inst in insts:
            kind = idx.spec_kind(inst.spec)
            for p in K.param_names(kind):
                rp.weights[(inst.full, p)] = Weight(inst.full, inst.owner, inst.local, inst.spec, p)
        self._raw_params(root, "", rp, 0)
        self._run_class(root, "", rp, 0, ())
        # `model = Root(); model.apply(fn)` in a script: after construction
        for op in idx.external_applies.get(id(root), ()):
            self._apply_op(op, root, root, "", rp)
        return rp

    def _raw_params(self, cls: ClassFacts, prefix: str, rp: Replay, depth: int) -> None:
        if depth > 8:
            return
        for c in self.index.mro(cls):
            for name in c.params:
                key = (prefix.rstrip("."), name)
                rp.weights[key] = Weight(key[0], c, name, None, name)

    def _sub_instances(self, rp: Replay, prefix: str) -> list[Instance]:
        if not prefix:
            return rp.instances
        if not prefix.endswith("."):
            return [i for i in rp.instances if i.full.startswith(prefix)]
        # every dotted prefix of every instance path, built once per replay: the filters of
        # nested classes then scan their own subtree, not the root's whole tree
        if getattr(self, "_prefix_of", None) is not rp:
            self._prefix_of, self._by_prefix = rp, {}
            for inst in rp.instances:
                full, i = inst.full, inst.full.find(".")
                while i >= 0:
                    self._by_prefix.setdefault(full[:i + 1], []).append(inst)
                    i = full.find(".", i + 1)
        return self._by_prefix.get(prefix, [])

    def _kind_groups(self, rp: Replay, prefix: str, base: str, flt) -> list:
        """The instances a filter on `base` visits, grouped by (layer kind, project class) in
        first-seen order; cached per replay (a pass's ops share them)."""
        children = flt.scope == "children"
        key = (prefix, base, children, flt.subpath if children else "")
        if getattr(self, "_groups_of", None) is not rp:
            self._groups_of, self._groups = rp, {}
        out = self._groups.get(key)
        if out is None:
            groups: dict = {}
            for inst in self._sub_instances(rp, base):
                if base and not inst.full.startswith(base):
                    continue
                if children:
                    rel = inst.full[len(prefix):]
                    r = rel[len(flt.subpath) + 1:] if flt.subpath else rel
                    if "." in r:
                        continue
                kind = self.index.spec_kind(inst.spec)
                g = groups.get((kind, id(inst.cls)))
                if g is None:
                    g = groups[(kind, id(inst.cls))] = (kind, inst.cls, [])
                g[2].append(inst)
            out = self._groups[key] = list(groups.values())
        return out

    def _run_class(self, cls: ClassFacts, prefix: str, rp: Replay, depth: int, seen: tuple) -> None:
        if depth > 8 or id(cls) in seen:
            return
        seen = seen + (id(cls),)
        idx = self.index
        # children first: their own __init__ runs when they are built
        for inst in self._sub_instances(rp, prefix):
            if inst.cls is None or not inst.full.startswith(prefix):
                continue
            if inst.owner not in idx.mro(cls):
                continue
            self._run_class(inst.cls, f"{inst.full}.", rp, depth + 1, seen)
            if inst.cls is not None:
                for name in [n for c in idx.mro(inst.cls) for n in c.params]:
                    key = (inst.full, name)
                    if key not in rp.weights:
                        owner = next(c for c in idx.mro(inst.cls) if name in c.params)
                        rp.weights[key] = Weight(key[0], owner, name, None, name)
        # base classes' __init__ (super().__init__()) then this class's statements
        for c in reversed(idx.mro(cls)):
            for op in c.ops:
                self._apply_op(op, c, cls, prefix, rp)

    def _fn_for_apply(self, op: InitOp, cls: ClassFacts) -> tuple[FunctionFacts | None, ClassFacts | None]:
        name = op.params.get("fn") or op.func
        idx = self.index
        if name.startswith("self.") or op.via == "post_init()" or "." not in name and \
                idx.method(cls, name) is not None:
            m = idx.method(cls, name.split(".", 1)[-1] if name.startswith("self.") else name)
            if m is not None:
                return m
            return None, None
        fn = idx.find_function(name)
        return fn, None

    def _apply_op(self, op: InitOp, c: ClassFacts, cls: ClassFacts, prefix: str, rp: Replay) -> None:
        idx = self.index
        if op.kind == "apply":
            fn, owner = self._fn_for_apply(op, cls)
            if fn is None:
                if op.via != "post_init()":
                    rp.unknown_general = True
                    self._write_all(op, c, prefix + (op.path + "." if op.path else ""), rp)
                return
            sub = prefix + (op.path + "." if op.path else "")
            for fop in fn.ops:
                if fop.kind == "apply":
                    continue
                if fop.target == "filter" and fop.filter is not None:
                    self._expand_filter(fop, owner or c, sub, rp, self_cls=cls)
                elif fop.target in ("attr", "param"):
                    self._write_attr(fop, owner or c, prefix, rp)
            return
        if op.target == "filter" and op.filter is not None:
            self._expand_filter(op, c, prefix, rp, self_cls=cls)
            return
        self._write_attr(op, c, prefix, rp)

    def _write_all(self, op, c, prefix, rp) -> None:
        for key, w in rp.weights.items():
            if key[0].startswith(prefix):
                w.writes.append((op, c))

    def _write_attr(self, op: InitOp, c: ClassFacts, prefix: str, rp: Replay) -> None:
        path = op.path
        if op.layer_uid:
            path = None
            for p, spec in c.layers.items():
                if spec.uid == op.layer_uid:
                    path = p
                    break
            if path is None:
                return
        if op.target == "param":
            key = (prefix.rstrip("."), op.param)
        else:
            key = (f"{prefix}{path}", op.param)
        w = rp.weights.get(key)
        if w is not None:
            w.writes.append((op, c))

    def _expand_filter(self, op: InitOp, c: ClassFacts, prefix: str, rp: Replay,
                       self_cls: ClassFacts | None = None) -> None:
        idx = self.index
        flt = op.filter
        matched = False
        decidable = rp.complete
        base = prefix + (flt.subpath + "." if flt.subpath else "")
        if flt.scope in ("parameters", "named_parameters") or op.param == "*":
            owner_path = (prefix + flt.subpath) if flt.subpath else prefix.rstrip(".")
            for key, w in rp.weights.items():
                mod = key[0]
                if owner_path:
                    if mod == owner_path:
                        rel_mod = ""
                    elif mod.startswith(owner_path + "."):
                        rel_mod = mod[len(owner_path) + 1:]
                    else:
                        continue
                else:
                    rel_mod = mod
                rel_name = ".".join(p for p in (rel_mod, key[1]) if p)
                if flt.name_test is not None:
                    how, text = flt.name_test
                    ok = (rel_name == text if how == "eq" else rel_name.endswith(text) if
                          how == "endswith" else rel_name.startswith(text) if how == "startswith"
                          else text in rel_name)
                    if not ok:
                        continue
                if flt.types is not None:
                    continue
                matched = True
                w.writes.append((op, c))
            rp.filter_uses.append(FilterUse(op, c, matched, decidable))
            return
        if idx.types_only(flt):
            # the answer depends on (layer kind, project class) only: ask once per group, then
            # visit the matching instances alone (the groups are shared by the ops of a pass)
            for kind, sub, members in self._kind_groups(rp, prefix, base, flt):
                if not idx.type_matches(flt.types, kind, sub):
                    continue
                for inst in members:
                    matched = _write_inst(rp, inst, op, c) or matched
            insts = ()
        else:
            insts = self._sub_instances(rp, base)
        for inst in insts:
            if base and not inst.full.startswith(base):
                continue
            rel = inst.full[len(prefix):]
            if flt.scope == "children":
                r = rel[len(flt.subpath) + 1:] if flt.subpath else rel
                if "." in r:
                    continue
            res = idx.filter_matches(flt, inst, rel)
            if res is None:
                decidable = False
                continue
            if not res:
                continue
            matched = _write_inst(rp, inst, op, c) or matched
        # the class itself can be selected by `isinstance(m, ThisClass)` (apply visits the root)
        if flt.types is not None and flt.scope in ("modules", "apply", "named_modules") and not flt.subpath:
            owner_cls = self_cls or c
            if idx.type_matches(flt.types, f"{owner_cls.module}.{owner_cls.name}", owner_cls):
                key = (prefix + op.path, op.param) if op.path else (prefix.rstrip("."), op.param)
                w = rp.weights.get(key)
                if w is not None:
                    matched = True
                    w.writes.append((op, c))
        rp.filter_uses.append(FilterUse(op, c, matched, decidable))


def _write_inst(rp: Replay, inst: Instance, op: InitOp, c: ClassFacts) -> bool:
    """Record `op` (run by class `c`) as a write to the weight it selects in `inst`: the
    instance's own parameter, or the one at `op.path` under it. Whether the filter matched
    something: a selected instance without that sub-path matches nothing."""
    w = rp.weights.get((inst.full + ("." + op.path if op.path else ""), op.param))
    if w is None:
        return not op.path
    w.writes.append((op, c))
    return True
