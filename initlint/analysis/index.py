"""Project index: joins per-file facts across the linted tree.

Resolves classes and helper factories across files, builds instance trees (a model class and
everything it builds, transitively), and replays every init write in effect order to find,
per concrete weight, the init that finally takes effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from initlint import knowledge as K
from initlint.analysis.model import ClassFacts, FileFacts, Filter, FunctionFacts, InitOp, LayerSpec

MAX_DEPTH = 8
# The ancestors looked at per class: real class trees are a few dozen deep at most, and every
# rule that walks a class's ancestors costs their number, so a generated 5,000-deep chain
# would cost 5,000² steps; a class deeper than this is judged on its nearest MAX_MRO.
MAX_MRO = 256


@dataclass
class Weight:
    """One weight tensor of one layer, seen from a root model class."""

    full: str  # dotted path from the root ("blocks.0.fc1")
    owner: ClassFacts  # the class that builds the layer
    local: str  # path inside the owner
    spec: LayerSpec | None
    param: str  # weight | bias | raw parameter name
    writes: list = field(default_factory=list)  # [(InitOp, ClassFacts)] in effect order


@dataclass
class Instance:
    full: str
    owner: ClassFacts
    local: str
    spec: LayerSpec
    cls: ClassFacts | None  # project class of the layer, when it is one


class Index:
    def __init__(self, files: list[FileFacts]):
        self.files = files
        self.by_qual: dict[str, ClassFacts] = {}
        self.by_name: dict[str, list[ClassFacts]] = {}
        self.functions: dict[str, FunctionFacts] = {}
        self.file_of: dict[int, FileFacts] = {}
        self.refs: dict[str, int] = {}
        for f in files:
            for c in f.classes:
                self.by_qual[f"{f.module}.{c.qualname}"] = c
                self.by_name.setdefault(c.name, []).append(c)
                self.file_of[id(c)] = f
            for name, fn in f.functions.items():
                self.functions[f"{f.module}.{name}"] = fn
                self.file_of[id(fn)] = f
            for r in f.refs:
                self.refs[r] = self.refs.get(r, 0) + 1
        self._fn_by_short: dict[str, list[FunctionFacts]] = {}
        for q, fn in self.functions.items():
            self._fn_by_short.setdefault(q.rsplit(".", 1)[-1], []).append(fn)
        self._class_cache: dict[str, ClassFacts | None] = {}
        self._inst_cache: dict[int, tuple] = {}
        self._ext_cache: dict[int, list[str]] = {}
        self._module_cache: dict[int, bool] = {}
        self.external_applies: dict[int, list[InitOp]] = {}
        for f in files:
            for cname, op in f.external_applies:
                c = self.find_class(cname)
                if c is not None:
                    self.external_applies.setdefault(id(c), []).append(op)
        self.calls: dict[str, list] = {}  # callee short name -> [max positional, keywords]
        for f in files:
            for callee, (npos, kws) in f.calls.items():
                e = self.calls.setdefault(callee.rsplit(".", 1)[-1], [0, set()])
                e[0] = max(e[0], npos)
                e[1].update(kws)
        self._mro_cache: dict[int, list[ClassFacts]] = {}
        self._tm_cache: dict[tuple, bool] = {}  # type_matches is pure once the index is built
        self.instantiated: set[int] = set()
        for c in self.all_classes():
            for r in c.referenced_classes:
                d = self.find_class(r)
                if d is not None and d is not c:
                    self.instantiated.add(id(d))
            for spec in c.layers.values():
                d = self.class_of_spec(spec)
                if d is not None and d is not c:
                    self.instantiated.add(id(d))

    # ------------------------------------------------------------------ lookups
    def arg_overridden(self, cls: ClassFacts, param: str) -> bool:
        """Does some call in the tree pass `param` to `cls(...)` (or to a subclass)?"""
        names = {cls.name}
        for c in self.all_classes():
            if cls in self.mro(c):
                names.add(c.name)
        for name in names:
            e = self.calls.get(name)
            if e is None:
                continue
            npos, kws = e
            if param in kws or "**" in kws:
                return True
            if param in cls.init_params and cls.init_params.index(param) < npos:
                return True
        return False

    def all_classes(self) -> list[ClassFacts]:
        return [c for f in self.files for c in f.classes]

    def find_class(self, name: str | None) -> ClassFacts | None:
        if not name:
            return None
        try:
            return self._class_cache[name]
        except KeyError:
            pass
        c = self._class_cache[name] = self._find_class(name)
        return c

    def _find_class(self, name: str) -> ClassFacts | None:
        c = self.by_qual.get(name)
        if c is not None:
            return c
        short = name.rsplit(".", 1)[-1]
        cands = self.by_name.get(short, [])
        if len(cands) == 1:
            return cands[0]
        # same module suffix: "models.blocks.Block" vs indexed "pkg.models.blocks.Block"
        for c in cands:
            if f"{c.module}.{c.qualname}".endswith(name) or name.endswith(f"{c.module}.{c.qualname}"):
                return c
        return None

    def find_function(self, name: str | None) -> FunctionFacts | None:
        if not name:
            return None
        fn = self.functions.get(name)
        if fn is not None:
            return fn
        cands = self._fn_by_short.get(name.rsplit(".", 1)[-1], [])
        return cands[0] if len(cands) == 1 else None

    def spec_kind(self, spec: LayerSpec) -> str | None:
        if spec.kind is None and spec.factory:
            fn = self.find_function(spec.factory)
            if fn is not None and fn.returns_kind:
                return fn.returns_kind
        return spec.kind

    def class_of_spec(self, spec: LayerSpec) -> ClassFacts | None:
        kind = self.spec_kind(spec)
        if kind is None or kind.startswith("torch."):
            return None
        return self.find_class(kind)

    def mro(self, cls: ClassFacts) -> list[ClassFacts]:
        key = id(cls)
        if key in self._mro_cache:
            return self._mro_cache[key]
        self._mro_cache[key] = [cls]
        out = [cls]
        seen = {key}  # by identity: facts compare field by field, which is slow and deep
        for b in cls.bases:
            c = self.find_class(b)
            if c is not None and c is not cls:
                for x in self.mro(c):
                    if id(x) not in seen:
                        seen.add(id(x))
                        out.append(x)
        del out[MAX_MRO:]  # a hostile 5,000-deep chain must not cost depth² (see MAX_MRO)
        self._mro_cache[key] = out
        return out

    def external_bases(self, cls: ClassFacts) -> list[str]:
        """Base classes outside the linted tree (torch's, a framework's, unresolved)."""
        cached = self._ext_cache.get(id(cls))
        if cached is not None:
            return cached
        out = self._ext_cache[id(cls)] = []
        for c in self.mro(cls):
            for b in c.bases:
                if self.find_class(b) is None:
                    out.append(b)
        return out

    def is_module(self, cls: ClassFacts) -> bool:
        key = id(cls)
        if key in self._module_cache:
            return self._module_cache[key]
        self._module_cache[key] = False
        result = False
        for b in self.external_bases(cls):
            if b in K.MODULE_BASES or b in K.LAYERS or b.startswith("torch.nn.") or \
                    b.endswith(K.HF_BASE_SUFFIXES) or b.rsplit(".", 1)[-1] in ("Module", "Sequential"):
                result = True
        if not result and (cls.layers or cls.forward is not None and cls.params):
            result = True
        self._module_cache[key] = result
        return result

    def is_hf_model(self, cls: ClassFacts) -> bool:
        return any(b.rsplit(".", 1)[-1].endswith("PreTrainedModel") or
                   b.rsplit(".", 1)[-1] in ("ModelMixin", "PreTrainedModel")
                   for b in self.external_bases(cls)) or any(
            c.name.endswith("PreTrainedModel") for c in self.mro(cls))

    def method(self, cls: ClassFacts, name: str) -> tuple[FunctionFacts, ClassFacts] | None:
        for c in self.mro(cls):
            if name in c.methods:
                return c.methods[name], c
        return None

    def layer_owner_is_builtin_subclass(self, cls: ClassFacts) -> bool:
        return any(b in K.LAYERS for b in self.external_bases(cls))

    # ------------------------------------------------------------------ instance trees
    def instances(self, root: ClassFacts) -> tuple[list[Instance], bool]:
        """Every layer reachable from `root`; the flag says whether the tree is fully known."""
        cached = self._inst_cache.get(id(root))
        if cached is None:
            cached = self._inst_cache[id(root)] = self._instances(root)
        return cached

    def _instances(self, root: ClassFacts) -> tuple[list[Instance], bool]:
        out: list[Instance] = []
        complete = [True]

        def visit(cls: ClassFacts, prefix: str, depth: int, seen: tuple) -> None:
            if depth > MAX_DEPTH or id(cls) in seen:
                complete[0] = False
                return
            for c in self.mro(cls):
                for path, spec in c.layers.items():
                    full = f"{prefix}{path}"
                    sub = self.class_of_spec(spec)
                    out.append(Instance(full, c, path, spec, sub))
                    kind = self.spec_kind(spec)
                    if sub is not None:
                        visit(sub, f"{full}.", depth + 1, seen + (id(cls),))
                    elif spec.children is None and (kind is None or not kind.startswith("torch.")) \
                            and spec.act is None:
                        complete[0] = False
                    elif spec.container and spec.children is None:
                        complete[0] = False
                if c.unknown_attrs:
                    complete[0] = False
                if c is not cls:
                    continue
            if self.external_bases(cls) and not all(
                    b.startswith("torch.nn.") for b in self.external_bases(cls)):
                complete[0] = False

        visit(root, "", 0, ())
        return out, complete[0]

    # ------------------------------------------------------------------ filters
    def type_matches(self, types: tuple[str, ...], kind: str | None, cls: ClassFacts | None) -> bool:
        try:
            return self._tm_cache[(types, kind, id(cls))]
        except KeyError:
            r = self._tm_cache[(types, kind, id(cls))] = self._type_matches(types, kind, cls)
            return r
        except TypeError:  # unhashable types
            return self._type_matches(types, kind, cls)

    def _type_matches(self, types, kind: str | None, cls: ClassFacts | None) -> bool:
        if kind is None:
            return False
        names = {kind, kind.rsplit(".", 1)[-1]}
        if cls is not None:
            for c in self.mro(cls):
                names.add(c.name)
                for b in c.bases:
                    names.add(b)
                    names.add(b.rsplit(".", 1)[-1])
        for t in types:
            short = t.rsplit(".", 1)[-1]
            if t in names or short in names:
                return True
            if short == "_ConvNd" and "Conv" in kind.rsplit(".", 1)[-1]:
                return True
            if short in ("_BatchNorm", "_NormBase") and "BatchNorm" in kind:
                return True
            if short == "Module":
                return True
        return False

    @staticmethod
    def types_only(flt: Filter) -> bool:
        """Whether filter_matches(flt, inst, rel) is type_matches(flt.types, kind of inst,
        class of inst) for every instance (keep in step with filter_matches)."""
        return flt.types is not None and flt.identity is None and not flt.identity_uid and \
            not flt.exclude_uid and not flt.exclude_identity

    def filter_matches(self, flt: Filter, inst: Instance, rel: str | None = None) -> bool | None:
        """True/False, or None when it cannot be told. `rel` is the instance's path relative to
        the module the filter runs on (scope and subpath are checked by the caller)."""
        rel = inst.full if rel is None else rel
        if flt.identity is not None:
            return rel == flt.identity or inst.local == flt.identity
        if flt.identity_uid:
            return inst.spec.uid == flt.identity_uid
        if flt.exclude_uid and inst.spec.uid == flt.exclude_uid:
            return False
        if flt.exclude_identity and (rel == flt.exclude_identity or
                                     inst.local == flt.exclude_identity):
            return False
        kind = self.spec_kind(inst.spec)
        if flt.types is not None:
            return self.type_matches(flt.types, kind, inst.cls)
        if flt.classname_sub is not None:
            short = (kind or "").rsplit(".", 1)[-1]
            if not short:
                return None
            return flt.classname_sub in short
        return True


def certain(op: InitOp) -> bool:
    return not op.conditional and not op.params.get("partial")


def fan(spec: LayerSpec | None) -> tuple[float | None, float | None]:
    """(fan_in, fan_out) of a layer's weight from literal arguments."""
    if spec is None or spec.kind is None:
        return None, None
    short = spec.kind.rsplit(".", 1)[-1]
    a = spec.args
    if short in ("Linear", "Conv1D", "Bilinear"):
        fi, fo = a.get("in_features"), a.get("out_features")
        return (_num(fi), _num(fo))
    if short.startswith(("Conv", "ConvTranspose")) and "Lazy" not in short:
        ci, co, k = _num(a.get("in_channels")), _num(a.get("out_channels")), a.get("kernel_size")
        dims = int(short[-2]) if short[-2].isdigit() else 2
        if _num(k) is not None:
            rf = k ** dims
        elif isinstance(k, tuple) and k and all(_num(x) is not None for x in k):
            rf = math.prod(k)
        else:
            return None, None
        groups = _num(a.get("groups", 1)) or None
        if ci is None or co is None or groups is None:
            return None, None
        if short.startswith("ConvTranspose"):
            return co / groups * rf, ci * rf
        return ci / groups * rf, co * rf
    return None, None


def _num(v):
    """A size: a positive real number a float can hold (not -3, 0, NaN, 10**400)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            return v if 0 < float(v) < 1e18 else None
        except OverflowError:
            return None
    return None
