"""Module and container methods: `apply` (children first), `modules()`/`named_modules()`/
`children()`/`named_children()`/`parameters()`/`named_parameters()` with full dotted names,
`add_module`/`register_parameter`/`register_buffer`, ModuleList/Sequential growth, tensor
methods that write a parameter (`.normal_()`, `.fill_()`, `.zero_()`, `.copy_()`, `mul_`),
Hugging Face `post_init()` -> `_init_weights`. Filters over what these return are not
special: an `isinstance`/name/`dim()` test is just an expression evaluated on each concrete
module or parameter."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.evaluate.exprs import known
from initlint.evaluate.values import (
    CERTAIN, MAY, BoundMethod, ClassV, ModuleV, ParamV, Ref, TensorV, Unknown, is_unknown,
)

_SELF_METHODS = {"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "train", "eval",
                 "requires_grad_", "type", "share_memory", "zero_grad"}
_STR_METHODS = {"find", "startswith", "endswith", "lower", "upper", "split", "rsplit",
                "replace", "strip", "join", "format", "count", "index", "rfind", "partition",
                "rpartition", "isdigit", "lstrip", "rstrip", "title", "capitalize"}
_LIST_READ = {"index", "count", "copy"}
_DICT_READ = {"get", "keys", "values", "items", "copy"}


class InitMixin:
    def certainty(self, fr):
        return MAY if fr.may else CERTAIN

    def iterate(self, v):
        """A known iterable's items as a list, else None."""
        if isinstance(v, (list, tuple)):
            return list(v)
        if isinstance(v, (range, str)):
            return list(v) if len(v) <= 10000 else None
        if isinstance(v, dict):
            return list(v)
        if isinstance(v, ModuleV) and not v.unknowns:
            if v.kind.endswith("ModuleDict"):
                return list(v.children)
            if v.kind.endswith(("Sequential", "ModuleList")) or v.cls and any(
                    isinstance(b, Ref) and b.name.endswith(("Sequential", "ModuleList"))
                    for b in v.cls.mro()):
                return list(v.children.values())
        return None

    # ------------------------------------------------------------------ containers
    def module_index(self, m: ModuleV, idx):
        if m.kind.endswith("ModuleDict") and isinstance(idx, str):
            return m.children.get(idx, Unknown(f"key {idx}"))
        items = self.iterate(m)
        if items is None:
            return Unknown("index")
        if isinstance(idx, int) and -len(items) <= idx < len(items):
            return items[idx]
        if isinstance(idx, slice):
            out = ModuleV(kind=m.kind, loc=m.loc)
            for i, c in enumerate(items[idx]):
                out.children[str(i)] = c
            return out
        return Unknown("index")

    def module_setitem(self, m: ModuleV, key, value, fr):
        if isinstance(value, ModuleV):
            value.may = value.may or fr.may
            m.children[str(key)] = value
        elif is_unknown(value) or value is None:
            m.unknowns.append(f"{key}: {getattr(value, 'origin', 'None')}")
        elif isinstance(value, (list, tuple)):  # Sequential(*[...]) of unknowns
            m.unknowns.append(f"{key}: not a module")

    # ------------------------------------------------------------------ attributes
    def module_attr(self, m: ModuleV, attr, fr):
        if attr in ("apply", "modules", "named_modules", "children", "named_children",
                    "parameters", "named_parameters", "buffers", "named_buffers",
                    "register_parameter", "register_buffer", "add_module", "register_module",
                    "append", "extend", "insert", "reset_parameters", "post_init",
                    "state_dict", "forward", "__call__", "keys", "values", "items") \
                or attr in _SELF_METHODS:
            return _bound(m, attr)
        if attr == "__class__":
            return m.cls if m.cls else Ref(m.kind)
        if attr in m.args and m.cls is None:
            return m.args[attr]
        if attr == "training":
            return Unknown("training")
        return Unknown(f"attribute {attr}")

    def tensor_attr(self, t, attr, fr):
        if attr == "data":
            return t
        if attr == "shape":
            return tuple(t.shape) if t.shape is not None else Unknown("shape")
        if attr == "ndim":
            return len(t.shape) if t.shape is not None else Unknown("ndim")
        if attr in ("requires_grad", "is_cuda", "dtype", "device", "grad"):
            return Unknown(attr)
        if attr in ("T", "mT"):
            return self.tensor_view(t, None, fr)
        return _bound(t, attr)

    # ------------------------------------------------------------------ methods
    def call_method(self, obj, name, args, kwargs, fr, node):
        if name.startswith("super:"):
            _, base, meth = name.split(":")
            if meth == "__init__":
                self.builtin_init(obj, base, args, kwargs, fr, node)
                return None
            return self.call_method(obj, meth, args, kwargs, fr, node) if isinstance(
                obj, ModuleV) else Unknown(meth)
        if isinstance(obj, ModuleV):
            return self.module_method(obj, name, args, kwargs, fr, node)
        if isinstance(obj, (ParamV, TensorV)):
            return self.tensor_method(obj, name, args, kwargs, fr, node)
        if isinstance(obj, list):
            if name == "append" and len(args) == 1:
                obj.append(args[0])
                return None
            if name == "extend" and len(args) == 1:
                items = self.iterate(args[0])
                obj.extend(items if items is not None else [Unknown("extend")])
                return None
            if name == "insert" and len(args) == 2 and isinstance(args[0], int):
                obj.insert(args[0], args[1])
                return None
            if name == "pop" and obj:
                return obj.pop(args[0] if args and isinstance(args[0], int) else -1)
        if isinstance(obj, dict):
            if name == "update" and args and isinstance(args[0], dict):
                obj.update(args[0])
                obj.update(kwargs)
                return None
            if name == "setdefault" and args and known(args[0]):
                return obj.setdefault(args[0], args[1] if len(args) > 1 else None)
            if name == "pop" and args and known(args[0]):
                return obj.pop(args[0], *args[1:2]) if args[0] in obj or len(args) > 1 \
                    else Unknown("pop")
            if name in _DICT_READ and all(known(a) for a in args):
                out = getattr(obj, name)(*args)
                return list(out) if name in ("keys", "values", "items") else out
        pure = (_STR_METHODS if isinstance(obj, str) else _LIST_READ if isinstance(obj, (
            list, tuple)) else ())
        if name in pure and all(known(a) for a in args) and all(known(v) for v in kwargs.values()):
            try:
                return getattr(obj, name)(*args, **kwargs)
            except Exception:  # the analysed code's own error
                return Unknown(name)
        return Unknown(f"method {name}")

    def module_method(self, m, name, args, kwargs, fr, node):
        if name in _SELF_METHODS:
            return m
        if name in ("forward", "__call__"):
            return self.call_module(m, args, kwargs, fr, node)
        if name == "apply" and args:
            fn = args[0]
            label = f"apply({getattr(fn, 'name', None) or getattr(getattr(fn, 'func', None), 'name', '?')})"
            with self.via_as(label):
                for sub in m.post_order():  # children first
                    self.call(fn, [sub], {}, fr, node)
            return m
        if name in ("modules", "named_modules", "children", "named_children"):
            if self._unresolved(m):
                return Unknown("submodules")
            if name.endswith("children"):
                pairs = list(m.children.items())
            else:
                pairs = list(m.named_modules(args[1] if len(args) > 1 and isinstance(
                    args[1], str) else kwargs.get("prefix", "")))
            return [tuple(p) for p in pairs] if name.startswith("named") else [p[1] for p in pairs]
        if name in ("parameters", "named_parameters", "buffers", "named_buffers"):
            if self._unresolved(m):
                return Unknown("parameters")
            buf = "buffers" in name
            pairs = [(f"{mn}.{pn}" if mn else pn, p) for mn, sub in m.named_modules()
                     for pn, p in sub.params.items() if p.buffer == buf]
            if kwargs.get("recurse") is False:
                pairs = [(pn, p) for pn, p in m.params.items() if p.buffer == buf]
            return [tuple(p) for p in pairs] if name.startswith("named") else [p[1] for p in pairs]
        if name in ("register_parameter", "register_buffer") and len(args) >= 2:
            key, val = args[0], args[1]
            if not isinstance(key, str):
                return Unknown(name)
            if val is None:
                m.params.pop(key, None)
                return None
            p = val if isinstance(val, ParamV) else self.make_param(val, fr, node)
            p.buffer = name == "register_buffer"
            m.params[key] = p
            return None
        if name in ("add_module", "register_module") and len(args) == 2:
            if isinstance(args[0], str):
                self.module_setitem(m, args[0], args[1], fr)
            elif fr.summarised and isinstance(args[1], ModuleV):
                args[1].repeated = True  # `add_module(str(i), ...)` in a summarised loop
                self.module_setitem(m, "*", args[1], fr)
            else:
                m.unknowns.append("add_module: name")
            return None
        if name == "append" and args:
            self.module_setitem(m, str(len(m.children)), args[0], fr)
            return m
        if name == "extend" and args:
            items = self.iterate(args[0])
            if items is None:
                m.unknowns.append("extend")
            for it in items or ():
                self.module_setitem(m, str(len(m.children)), it, fr)
            return m
        if name == "insert" and len(args) == 2 and isinstance(args[0], int):
            items = list(m.children.values())
            items.insert(args[0], args[1])
            m.children = {str(i): c for i, c in enumerate(items)}
            return None
        if name == "reset_parameters" and m.cls is None:
            for p in m.params.values():
                d = next((w for w in p.writes if w.via == "default"), None)
                if d is not None:
                    p.writes.append(type(d)(d.kind, d.func, d.params, self.loc(node, fr),
                                            "reset_parameters()", self.certainty(fr)))
            return None
        if name == "post_init" and self.is_hf(m):
            fn = self.get_attr(m, "_init_weights", fr, node)
            if isinstance(fn, Unknown):
                return None
            with self.via_as("post_init()"):
                for sub in m.post_order():
                    self.call(fn, [sub], {}, fr, node)
            return None
        if name in ("keys", "values", "items") and m.kind.endswith("ModuleDict"):
            d = m.children
            return list(d) if name == "keys" else list(d.values()) if name == "values" else \
                list(d.items())
        return Unknown(f"method {name}")

    def _unresolved(self, m) -> bool:
        """Some submodule could not be built: a loop over modules would claim absence."""
        return not m.complete()

    def is_hf(self, m) -> bool:
        return m.cls is not None and any(
            c.name.endswith(K.HF_BASE_SUFFIXES) for c in m.cls.mro() if isinstance(c, (
                ClassV, Ref)))

    def tensor_method(self, t, name, args, kwargs, fr, node):
        p = t if isinstance(t, ParamV) else t.param
        if name == "dim":
            return t.dim() if isinstance(t, ParamV) else (
                len(t.shape) if t.shape is not None else Unknown("dim"))
        if name == "size":
            if t.shape is None:
                return Unknown("size")
            if args and isinstance(args[0], int) and -len(t.shape) <= args[0] < len(t.shape):
                return t.shape[args[0]]
            return tuple(t.shape) if not args else Unknown("size")
        if name == "numel":
            s = t.shape
            if s is None or not all(isinstance(d, int) for d in s):
                return Unknown("numel")
            n = 1
            for d in s:
                n *= d
            return n
        if p is not None and name in K.TENSOR_INIT_METHODS:
            kind, names, defaults = K.TENSOR_INIT_METHODS[name]
            if name == "copy_" and args and isinstance(args[0], TensorV):
                self.write_param(p, args[0], fr, node)
                return t
            params = dict(defaults)
            params.update(zip(names, args))
            params.update(kwargs)
            self.record(p, kind, f"tensor.{name}", params, fr, node)
            return t
        if p is not None and name in K.RESCALE_METHODS:
            f = args[0] if args else Unknown("factor")
            if name == "div_" and isinstance(f, (int, float)) and f:
                f = 1 / f
            elif name == "div_":
                f = Unknown("factor")
            self.record(p, "rescale", f"tensor.{name}", {"factor": f}, fr, node)
            return t
        if name in ("requires_grad_", "detach", "clone", "contiguous", "to", "float"):
            return t
        if self.mode == "forward":
            return self.tensor_forward_method(t, name, args, kwargs, fr, node)
        return TensorV(shape=None, ctor="other", param=None)

    def tensor_inplace(self, op, cur, rhs, stmt, fr):
        import ast

        p = cur if isinstance(cur, ParamV) else cur.param
        if p is not None and op in (ast.Mult, ast.Div) and self.mode != "forward":
            f = rhs
            if op is ast.Div:
                f = 1 / rhs if isinstance(rhs, (int, float)) and rhs else Unknown("factor")
            self.record(p, "rescale", "*=" if op is ast.Mult else "/=", {"factor": f}, fr, stmt)
            return cur
        return self.tensor_binop(op, cur, rhs, stmt, fr)


def _bound(obj, attr):
    return BoundMethod(obj, attr)
