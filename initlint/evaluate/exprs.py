"""Expressions: names, attributes, arithmetic on known values, comparisons, containers,
comprehensions, f-strings, lambdas. One semantics for `__init__`, init functions, `forward`
and module-level scripts."""

from __future__ import annotations

import ast
import operator

from initlint.evaluate.values import (
    BoundMethod, ClassV, FuncV, ModuleV, ParamV, PartialV, Ref, TensorV, Unknown, is_unknown,
)

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow, ast.BitOr: operator.or_, ast.BitAnd: operator.and_,
           ast.LShift: operator.lshift, ast.RShift: operator.rshift, ast.BitXor: operator.xor}
_CMPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
         ast.Gt: operator.gt, ast.GtE: operator.ge}
_LITERAL = (int, float, str, bool, type(None), bytes)
_ABSTRACT = (ModuleV, ParamV, TensorV, ClassV, FuncV, Ref, BoundMethod, PartialV)


def known(v) -> bool:
    """A value built only of literals and containers of literals."""
    if isinstance(v, _LITERAL):
        return True
    if isinstance(v, (list, tuple)):
        return all(known(x) for x in v)
    return False


def truth(v):
    """True/False when the evaluator knows it, else None."""
    if is_unknown(v) or isinstance(v, (TensorV, ParamV)):
        return None
    if isinstance(v, _LITERAL) or isinstance(v, (list, tuple, dict)):
        return bool(v)
    if isinstance(v, _ABSTRACT):
        return True
    return None


def _safe(fn, *args):
    try:
        out = fn(*args)
    except Exception:  # a failing literal op in analysed code is not ours to raise
        return Unknown("arith")
    if isinstance(out, (str, bytes, list, tuple)) and len(out) > 10000:
        return Unknown("large")
    return out


class ExprMixin:
    def ev(self, node, fr):
        self.steps += 1  # tick(), inline: this is the interpreter's hottest line
        if self.steps > self.budget:
            self.tick()
        t = type(node)
        if t is ast.Name:
            return self.load_name(node.id, fr)
        if t is ast.Constant:
            return node.value
        m = self._expr_dispatch.get(t)
        if m is None:
            return Unknown(t.__name__)
        return m(self, node, fr)

    # ------------------------------------------------------------------ atoms
    def _constant(self, node, fr):
        return node.value

    def _name(self, node, fr):
        return self.load_name(node.id, fr)

    def _attribute(self, node, fr):
        return self.get_attr(self.ev(node.value, fr), node.attr, fr, node)

    def _joined(self, node, fr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
                continue
            v = self.ev(part.value, fr)
            if not isinstance(v, _LITERAL) or part.format_spec is not None:
                return Unknown("f-string")
            out.append(str(v) if part.conversion in (-1, 115) else repr(v))
        return "".join(out)

    def _lambda(self, node, fr):
        return FuncV(node, fr.src, closure=fr, owner=fr.cls)

    def _named(self, node, fr):
        v = self.ev(node.value, fr)
        self.assign(node.target, v, fr)
        return v

    # ------------------------------------------------------------------ operators
    def _binop(self, node, fr):
        a, b = self.ev(node.left, fr), self.ev(node.right, fr)
        return self.binop(type(node.op), a, b, node, fr)

    def binop(self, op, a, b, node, fr):
        if isinstance(a, (TensorV, ParamV)) or isinstance(b, (TensorV, ParamV)):
            return self.tensor_binop(op, a, b, node, fr)
        if known(a) and known(b) and op in _BINOPS:
            if op is ast.Pow and isinstance(b, (int, float)) and abs(b) > 64:
                return Unknown("pow")
            return _safe(_BINOPS[op], a, b)
        if op is ast.Add and isinstance(a, list) and isinstance(b, list):
            return a + b
        if op is ast.Add and isinstance(a, tuple) and isinstance(b, tuple):
            return a + b
        if op is ast.Mult and isinstance(a, list) and isinstance(b, int) and 0 <= b <= 64:
            return a * b
        if op is ast.BitOr and isinstance(a, dict) and isinstance(b, dict):
            return {**a, **b}
        return Unknown("arith")

    def _unary(self, node, fr):
        v = self.ev(node.operand, fr)
        if isinstance(node.op, ast.Not):
            t = truth(v)
            return Unknown("not") if t is None else not t
        if isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, bool):
            return _safe({ast.USub: operator.neg, ast.UAdd: operator.pos,
                          ast.Invert: operator.invert}[type(node.op)], v)
        if isinstance(v, TensorV):
            return v
        return Unknown("unary")

    def _boolop(self, node, fr):
        is_and = isinstance(node.op, ast.And)
        last = None
        for sub in node.values:
            last = self.ev(sub, fr)
            t = truth(last)
            if t is None:
                rest = [self.ev(s, fr) for s in node.values[node.values.index(sub) + 1:]]
                if not is_and and any(truth(r) is True for r in rest) and all(
                        isinstance(r, bool) for r in rest):
                    return True
                if is_and and any(truth(r) is False for r in rest) and all(
                        isinstance(r, bool) for r in rest):
                    return False
                return Unknown("bool")
            if t is not is_and:
                return last
        return last

    def _compare(self, node, fr):
        left = self.ev(node.left, fr)
        for op, comp in zip(node.ops, node.comparators):
            right = self.ev(comp, fr)
            r = self.compare(type(op), left, right)
            if r is not True:
                return r
            left = right
        return True

    def compare(self, op, a, b):
        if op in (ast.Is, ast.IsNot):
            if is_unknown(a) or is_unknown(b):
                return Unknown("is")
            same = a is b or (a is None and b is None) or (
                isinstance(a, Ref) and isinstance(b, Ref) and a.name == b.name)
            return same if op is ast.Is else not same
        if op in (ast.In, ast.NotIn):
            if isinstance(b, dict) and known(a):
                r = a in b
            elif isinstance(b, (str, list, tuple)) and known(a) and known(b):
                r = _safe(operator.contains, b, a)
            elif isinstance(b, ModuleV) and isinstance(a, str) and b.kind.endswith("ModuleDict"):
                r = a in b.children
            elif isinstance(b, (list, tuple)) and isinstance(a, _ABSTRACT):
                r = any(x is a or isinstance(x, Ref) and isinstance(a, Ref) and x.name == a.name
                        for x in b)
                if not r and any(is_unknown(x) for x in b):
                    return Unknown("in")
            else:
                return Unknown("in")
            if is_unknown(r):
                return r
            return r if op is ast.In else not r
        if op in (ast.Eq, ast.NotEq):
            if isinstance(a, (ClassV, Ref, ModuleV)) or isinstance(b, (ClassV, Ref, ModuleV)):
                if is_unknown(a) or is_unknown(b):
                    return Unknown("eq")
                same = a is b or (isinstance(a, Ref) and isinstance(b, Ref) and a.name == b.name)
                return same if op is ast.Eq else not same
        if known(a) and known(b) and op in _CMPS:
            return _safe(_CMPS[op], a, b)
        return Unknown("compare")

    def _ifexp(self, node, fr):
        t = truth(self.ev(node.test, fr))
        if t is not None:
            return self.ev(node.body if t else node.orelse, fr)
        from initlint.evaluate.stmts import one_of

        return one_of([self.ev(node.body, fr), self.ev(node.orelse, fr)], "choice")

    # ------------------------------------------------------------------ containers
    def _elts(self, elts, fr):
        out = []
        for e in elts:
            if isinstance(e, ast.Starred):
                v = self.ev(e.value, fr)
                items = self.iterate(v)
                if items is None:
                    return None
                out.extend(items)
            else:
                out.append(self.ev(e, fr))
        return out

    def _list(self, node, fr):
        out = self._elts(node.elts, fr)
        return Unknown("list") if out is None else out

    def _tuple(self, node, fr):
        out = self._elts(node.elts, fr)
        return Unknown("tuple") if out is None else tuple(out)

    def _set(self, node, fr):
        out = self._elts(node.elts, fr)
        return Unknown("set") if out is None else out

    def _dict(self, node, fr):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                d = self.ev(v, fr)
                if not isinstance(d, dict):
                    return Unknown("dict")
                out.update(d)
                continue
            key = self.ev(k, fr)
            if not known(key) or isinstance(key, list):
                return Unknown("dict key")
            out[key] = self.ev(v, fr)
        return out

    def _subscript(self, node, fr):
        obj = self.ev(node.value, fr)
        idx = self.ev(node.slice, fr)
        return self.subscript(obj, idx, node, fr)

    def _slice(self, node, fr):
        parts = [None if p is None else self.ev(p, fr) for p in (node.lower, node.upper, node.step)]
        if any(p is not None and not isinstance(p, int) for p in parts):
            return Unknown("slice")
        return slice(*parts)

    def subscript(self, obj, idx, node, fr):
        if isinstance(obj, (TensorV, ParamV)):
            return self.tensor_view(obj, node, fr)
        if isinstance(obj, ModuleV):
            return self.module_index(obj, idx)
        if isinstance(obj, dict) and known(idx) and not isinstance(idx, list):
            return obj.get(idx, Unknown(f"key {idx!r}"))
        if isinstance(obj, (list, tuple, str)) and isinstance(idx, (int, slice)):
            r = _safe(operator.getitem, obj, idx)
            return list(r) if isinstance(obj, list) and isinstance(r, list) else r
        return Unknown("subscript")

    # ------------------------------------------------------------------ comprehensions
    def _comp_items(self, node, fr):
        """Values of a comprehension as a list, or None when an iterable is unknown."""
        from initlint.evaluate.stmts import MAX_UNROLL, Frame

        inner = Frame(fr.src, parent=fr, cls=fr.cls, may=fr.may)
        out: list = []

        def gen(i):
            if i == len(node.generators):
                if isinstance(node, ast.DictComp):
                    out.append((self.ev(node.key, inner), self.ev(node.value, inner)))
                else:
                    out.append(self.ev(node.elt, inner))
                return True
            g = node.generators[i]
            it = self.ev(g.iter, inner)
            items = self.iterate(it)
            if isinstance(it, range) and len(it) > MAX_UNROLL or is_unknown(it) and not g.ifs:
                # one pass standing for N copies (what it builds is marked repeated)
                was, inner.summarised = inner.summarised, True
                self.assign(g.target, Unknown("loop variable"), inner)
                ok = gen(i + 1)
                inner.summarised = was
                return ok
            if items is None or len(items) > self.max_iter:
                return False
            for item in items:
                self.assign(g.target, item, inner)
                ok = True
                for cond in g.ifs:
                    t = truth(self.ev(cond, inner))
                    if t is None:
                        return False
                    ok = ok and t
                if ok and not gen(i + 1):
                    return False
            return True
        return out if gen(0) else None

    def _listcomp(self, node, fr):
        out = self._comp_items(node, fr)
        return Unknown("comprehension") if out is None else out

    def _dictcomp(self, node, fr):
        out = self._comp_items(node, fr)
        if out is None or not all(known(k) for k, _ in out):
            return Unknown("comprehension")
        return dict(out)

    _expr_dispatch = {
        ast.Constant: _constant, ast.Name: _name, ast.Attribute: _attribute,
        ast.JoinedStr: _joined, ast.Lambda: _lambda, ast.NamedExpr: _named,
        ast.BinOp: _binop, ast.UnaryOp: _unary, ast.BoolOp: _boolop, ast.Compare: _compare,
        ast.IfExp: _ifexp, ast.List: _list, ast.Tuple: _tuple, ast.Set: _set, ast.Dict: _dict,
        ast.Subscript: _subscript, ast.Slice: _slice, ast.ListComp: _listcomp,
        ast.GeneratorExp: _listcomp, ast.SetComp: _listcomp, ast.DictComp: _dictcomp,
        ast.Call: lambda self, node, fr: self.call_node(node, fr),
        ast.Await: lambda self, node, fr: self.ev(node.value, fr),
    }
