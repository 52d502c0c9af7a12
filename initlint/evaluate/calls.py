"""Calls: project functions and methods inlined (depth budget, memo for literal-only calls),
classes instantiated, bound/static/class methods, `super()`, `functools.partial`, lambdas,
`*args`/`**kwargs`; attribute access on every abstract value. Built-in torch and Python
callables are in :mod:`initlint.evaluate.torchlib`."""

from __future__ import annotations

import ast

from initlint import knowledge as K
from initlint.evaluate.exprs import known
from initlint.evaluate.stmts import Frame
from initlint.evaluate.values import (
    BoundMethod, ClassV, FuncV, ModuleV, ParamV, PartialV, Ref, TensorV, Unknown, is_unknown,
)

MAX_DEPTH = 12  # nested inlined calls
INST_MEMO = 1024  # built instances kept for reuse (least recently built dropped first)


class SuperV:
    __slots__ = ("obj", "after")

    def __init__(self, obj, after):
        self.obj, self.after = obj, after


class CallMixin:
    def call_node(self, node, fr):
        f = node.func
        if isinstance(f, ast.Name) and f.id == "super" and not node.args:
            return self._super(fr)
        fv = self.ev(f, fr)
        args: list = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                items = self.iterate(self.ev(a.value, fr))
                if items is None:
                    args.append(Unknown("*args"))
                else:
                    args.extend(items)
            else:
                args.append(self.ev(a, fr))
        kwargs: dict = {}
        for k in node.keywords:
            v = self.ev(k.value, fr)
            if k.arg is None:
                if isinstance(v, dict):
                    kwargs.update({str(kk): vv for kk, vv in v.items()})
                else:
                    kwargs["**"] = Unknown("**kwargs")
            else:
                kwargs[k.arg] = v
        return self.call(fv, args, kwargs, fr, node)

    def _super(self, fr):
        first = fr.func.node.args.args[0].arg if fr.func and fr.func.node.args.args else None
        obj = fr.locals.get(first) if first else None
        if obj is None or fr.cls is None:
            return Unknown("super")
        return SuperV(obj, fr.cls)

    def call(self, f, args, kwargs, fr, node):
        t = type(f)
        if t is FuncV:
            return self.invoke(f, args, kwargs, node)
        if t is BoundMethod:
            if isinstance(f.func, FuncV):
                if f.func.kind == "staticmethod":
                    return self.invoke(f.func, args, kwargs, node)
                return self.invoke(f.func, [f.obj] + list(args), kwargs, node)
            return self.call_method(f.obj, f.func, args, kwargs, fr, node)
        if t is PartialV:
            return self.call(f.func, list(f.args) + list(args), {**f.kwargs, **kwargs}, fr, node)
        if t is ClassV:
            return self.instantiate(f, args, kwargs, fr, node)
        if t is Ref:
            return self.call_ref(f.name, args, kwargs, fr, node)
        if t is ModuleV:
            return self.call_module(f, args, kwargs, fr, node)
        if t is SuperV:
            return Unknown("call super")
        if t is Unknown and f.alts and all(isinstance(a, (ClassV, Ref, PartialV)) for a in f.alts):
            return self._call_alternatives(f, args, kwargs, fr, node)
        return self.call_unknown(f, args, kwargs, fr, node)

    def _call_alternatives(self, f, args, kwargs, fr, node):
        """One of several classes, which one decided at run time: each is built (as "may");
        the same kind is that kind, activations of different kinds a run-time activation."""
        was, fr.may = fr.may, True
        try:
            outs = [self.call(a, args, kwargs, fr, node) for a in f.alts]
        finally:
            fr.may = was
        if all(isinstance(o, ModuleV) for o in outs):
            if all(o.kind == outs[0].kind for o in outs):
                outs[0].may = was
                return outs[0]
            if all(o.act or o.kind == "?act" for o in outs):
                return ModuleV(kind="?act", loc=self.loc(node, fr), may=was)
        return Unknown(f"call {f.origin}")

    # ------------------------------------------------------------------ project functions
    def bind(self, fn: FuncV, args, kwargs, fr: Frame) -> None:
        a = fn.node.args
        defs = fr.parent if fr.parent is not None else Frame(fn.src)
        positional = list(a.posonlyargs) + list(a.args)
        n_def = len(a.defaults)
        for i, p in enumerate(positional):
            if i < len(args):
                v = args[i]
            elif p.arg in kwargs:
                v = kwargs[p.arg]
            elif i >= len(positional) - n_def:
                v = self.ev(a.defaults[i - (len(positional) - n_def)], defs)
            elif "**" in kwargs or any(is_unknown(x) and x.origin == "*args" for x in args):
                v = Unknown(f"argument {p.arg}")
            else:
                v = Unknown(f"missing argument {p.arg}")
            fr.locals[p.arg] = v
        if a.vararg is not None:
            fr.locals[a.vararg.arg] = tuple(args[len(positional):])
        for p, d in zip(a.kwonlyargs, a.kw_defaults):
            fr.locals[p.arg] = kwargs[p.arg] if p.arg in kwargs else (
                self.ev(d, defs) if d is not None else Unknown(f"argument {p.arg}"))
        if a.kwarg is not None:
            names = {p.arg for p in positional[:len(args)]} | {p.arg for p in positional} | {
                p.arg for p in a.kwonlyargs}
            fr.locals[a.kwarg.arg] = {k: v for k, v in kwargs.items()
                                      if k not in names and k != "**"}

    def invoke(self, fn: FuncV, args, kwargs, node):
        if self.depth >= MAX_DEPTH:
            return Unknown(f"depth {fn.name}")
        if fn.owner is not None and K.is_framework_base(fn.owner.qualname) and \
                fn.name not in K.FRAMEWORK_INIT_HOOKS:
            # a framework base class (HF PreTrainedModel) is a built-in, whether or not its
            # source is in the project: its machinery builds no modules; its init hooks run
            return None if fn.name == "__init__" else Unknown(f"framework {fn.name}")
        memo_key = None
        if all(_scalar(x) for x in args) and all(_scalar(x) for x in kwargs.values()):
            memo_key = (id(fn.node), tuple(args), tuple(sorted(kwargs.items())))
            hit = self.memo.get(memo_key)
            if hit is not None:
                self.deps |= hit[1]
                return hit[0]
        out, found = self.captured(lambda: self._run_function(fn, args, kwargs))
        if memo_key is not None and known(out) and out is not None:  # None: run for effect
            self.memo[memo_key] = (out, found)
        return out

    def _run_function(self, fn: FuncV, args, kwargs):
        fr = Frame(fn.src, parent=fn.closure, cls=fn.owner, func=fn)
        self.bind(fn, args, kwargs, fr)
        self.depth += 1
        try:
            if isinstance(fn.node, ast.Lambda):
                return self.ev(fn.node.body, fr)
            self.run_block(self.project.body(fn.node, fn.src), fr)
        finally:
            self.depth -= 1
        return self._result(fr)

    @staticmethod
    def _result(fr):
        if not fr.rets:
            return None
        v0, may0 = fr.rets[0]
        if not may0:
            return v0
        if all(v is v0 or (known(v) and known(v0) and v == v0) for v, _ in fr.rets):
            return v0
        return Unknown("returns")

    # ------------------------------------------------------------------ classes
    def build_class(self, c: ClassV) -> None:
        """Bases and the class body's names (functions as FuncV, other assignments
        evaluated) once, when the class is first looked up."""
        fr = Frame(c.src)
        c.bases = [self.ev(b, fr) for b in c.node.bases]
        for stmt in c.node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = "function"
                for d in stmt.decorator_list:
                    name = d.id if isinstance(d, ast.Name) else getattr(d, "attr", "")
                    if name in ("staticmethod", "classmethod", "property"):
                        kind = name
                    elif name == "overload":
                        kind = "overload"
                if kind == "overload" and stmt.name in c.attrs:
                    continue
                c.attrs[stmt.name] = FuncV(stmt, c.src, closure=None, owner=c, kind=kind)
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                    stmt.targets[0], ast.Name):
                c.attrs[stmt.targets[0].id] = _Lazy(stmt.value)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None and isinstance(
                    stmt.target, ast.Name):
                c.attrs[stmt.target.id] = _Lazy(stmt.value)

    def class_attr(self, c: ClassV, name: str):
        v, owner = c.lookup(name)
        if isinstance(v, _Lazy):
            v, found = self.captured(lambda: self.ev(v.node, Frame(owner.src)))
            owner.attrs[name] = v
            if found:
                owner.__dict__.setdefault("attr_deps", {})[name] = found
        elif owner is not None and name in owner.__dict__.get("attr_deps", ()):
            self.deps |= owner.attr_deps[name]
        if isinstance(c, ClassV):
            self.deps |= c.deps  # the classes of its MRO, wherever they live
        return v, owner

    def is_module_class(self, c: ClassV) -> bool:
        from initlint.evaluate.torchlib import is_builtin_module

        return any(isinstance(b, Ref) and is_builtin_module(b.name) for b in c.mro())

    def instantiate(self, c: ClassV, args, kwargs, fr, node):
        """Build an instance. Memoised on the class and its (frozen) arguments: a block
        built with the same arguments again is a copy of the first one, not a re-run."""
        from initlint.evaluate.values import clone

        key = _freeze((c, tuple(args), kwargs))
        hit = self.inst_memo.get(key) if key is not _NO else None
        if hit is not None:
            m = clone(hit[0])
            m.loc, m.may, m.repeated = self.loc(node, fr), fr.may, fr.summarised
            self.deps |= hit[1]
            return m
        m, mine = self.captured(lambda: self._instantiate(c, args, kwargs, fr, node))
        if key is not _NO:
            if len(self.inst_memo) >= INST_MEMO:  # bounded: memory flat in project size
                self.inst_memo.pop(next(iter(self.inst_memo)))
            self.inst_memo[key] = (clone(m), frozenset(mine))
        return m

    def _instantiate(self, c: ClassV, args, kwargs, fr, node):
        m = ModuleV(kind=c.qualname, cls=c, loc=self.loc(node, fr), may=fr.may,
                    repeated=fr.summarised, plain=not self.is_module_class(c))
        init, owner = self.class_attr(c, "__init__")
        if isinstance(init, FuncV):
            m.args = {"*": list(args), **kwargs}
            self.invoke(init, [m] + list(args), kwargs, node)
        else:
            base = next((b for b in c.mro() if isinstance(b, Ref)), None)
            if base is not None and not m.plain:
                self.builtin_init(m, base.name, args, kwargs, fr, node)
        return m

    # ------------------------------------------------------------------ attributes
    def get_attr(self, obj, attr, fr, node=None):
        t = type(obj)
        if t is ModuleV:
            for d in (obj.children, obj.params, obj.attrs):
                if attr in d:
                    return d[attr]
            if attr == "post_init" and self.is_hf(obj):
                return BoundMethod(obj, attr)  # HF semantics, whether or not its source is here
            if obj.cls is not None:
                v, owner = self.class_attr(obj.cls, attr)
                if isinstance(v, FuncV):
                    if v.kind == "property":
                        return self.invoke(v, [obj], {}, node)
                    if v.kind == "staticmethod":
                        return v
                    return BoundMethod(obj, v, owner)
                if v is not None or any(attr in c.attrs for c in obj.cls.mro()
                                        if isinstance(c, ClassV)):
                    return v
            return self.module_attr(obj, attr, fr)
        if t is SuperV:
            mro = obj.obj.cls.mro() if isinstance(obj.obj, ModuleV) and obj.obj.cls else []
            after = mro[mro.index(obj.after) + 1:] if obj.after in mro else []
            for c in after:
                if isinstance(c, ClassV) and attr in c.attrs:
                    v, _ = self.class_attr(c, attr)
                    return BoundMethod(obj.obj, v, c) if isinstance(v, FuncV) else v
                if isinstance(c, Ref):
                    return BoundMethod(obj.obj, f"super:{c.name}:{attr}")
            return Unknown(f"super().{attr}")
        if t is ClassV:
            if attr == "__name__":
                return obj.name
            v, _ = self.class_attr(obj, attr)
            if isinstance(v, FuncV) and v.kind == "classmethod":
                return BoundMethod(obj, v)
            return v if v is not None else Unknown(f"class attribute {attr}")
        if t is Ref:
            if attr == "__name__":
                return obj.name.rsplit(".", 1)[-1]
            return self.ref_attr(obj, attr)
        if t in (ParamV, TensorV):
            return self.tensor_attr(obj, attr, fr)
        if t in (str, list, dict, tuple):
            return BoundMethod(obj, attr)
        if t is FuncV and attr == "__name__":
            return obj.name
        if t is PartialV and attr in ("func", "keywords", "args"):
            return obj.func if attr == "func" else dict(obj.kwargs) if attr == "keywords" \
                else tuple(obj.args)
        return Unknown(f"attribute {attr}")

    def set_attr(self, obj, attr, value, fr, node=None):
        if isinstance(obj, ModuleV):
            if not obj.plain and isinstance(value, ModuleV) and not value.plain:
                obj.params.pop(attr, None)
                obj.attrs.pop(attr, None)
                obj.children[attr] = value
                value.may = value.may or fr.may
            elif not obj.plain and isinstance(value, ParamV):
                obj.children.pop(attr, None)
                obj.params[attr] = value
            elif value is None and (attr in obj.params or attr in obj.children):
                obj.params.pop(attr, None)
                obj.children.pop(attr, None)
                obj.attrs[attr] = None
            elif attr in obj.params and isinstance(value, TensorV):
                self.write_param(obj.params[attr], value, fr, node)
            else:
                if is_unknown(value) and value.origin.startswith("call"):
                    obj.unknowns.append(f"{attr}: {value.origin}")
                obj.attrs[attr] = value
        elif isinstance(obj, ClassV):
            obj.attrs[attr] = value


_NO = object()


def _freeze(v):
    """A hashable key for an argument value, or _NO when it has identity that matters (a
    module, a tensor, a closure)."""
    t = type(v)
    if t in (int, float, str, bool, type(None)):
        return (t.__name__, v)
    if t in (list, tuple):
        items = tuple(_freeze(x) for x in v)
        return _NO if any(i is _NO for i in items) else ("L", items)
    if t is dict:
        items = tuple(sorted(((repr(k), _freeze(x)) for k, x in v.items()), key=lambda p: p[0]))
        return _NO if any(i[1] is _NO for i in items) else ("D", items)
    if t is Unknown:
        return ("?",)
    if t is ClassV:
        return ("C", id(v))
    if t is Ref:
        return ("R", v.name)
    if t is FuncV:
        return ("F", id(v.node)) if v.closure is None else _NO
    if t is PartialV:
        k = _freeze((v.func, v.args, v.kwargs))
        return _NO if k is _NO else ("P", k)
    return _NO


def _scalar(v) -> bool:
    return isinstance(v, (int, float, str, bool, type(None))) or isinstance(v, tuple) and all(
        _scalar(x) for x in v)


class _Lazy:
    """A class-level assignment, evaluated on first read."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node
