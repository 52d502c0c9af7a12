"""Statements: assignment and unpacking, `if` on known conditions (both branches as "may"
when unknown), `for`/`while` unrolled up to a budget (beyond it, one summarised pass that
stands for N copies), `with`, `try`, `return`/`break`/`continue`."""

from __future__ import annotations

import ast

from initlint.evaluate.exprs import known, truth
from initlint.evaluate.values import ModuleV, ParamV, TensorV, Unknown

MAX_UNROLL = 32  # iterations of a loop over a known range/list before it is summarised


class Frame:
    """One function activation (or a module's top level)."""

    __slots__ = ("src", "locals", "parent", "cls", "may", "rets", "summarised", "func")

    def __init__(self, src, parent=None, cls=None, may=False, func=None):
        self.src, self.parent, self.cls, self.may, self.func = src, parent, cls, may, func
        self.locals: dict = {}
        self.rets: list = []  # (value, may)
        self.summarised = False  # inside a loop pass that stands for N copies


def one_of(vals, origin):
    """The value several paths give: itself when they agree, else an Unknown that keeps
    the alternatives (a call of it can still say "one of these classes")."""
    v0 = vals[0]
    if all(v is v0 or (known(v) and known(v0) and v == v0) for v in vals):
        return v0
    alts = []
    for v in vals:
        if isinstance(v, Unknown):
            return Unknown(origin)
        if not any(a is v for a in alts):
            alts.append(v)
    return Unknown(origin, tuple(alts))


class StmtMixin:
    def run_block(self, body, fr) -> str | None:
        for stmt in body:
            self.tick()
            m = self._stmt_dispatch.get(type(stmt))
            if m is None:
                continue
            sig = m(self, stmt, fr)
            if sig:
                return sig
        return None

    # ------------------------------------------------------------------ assignment
    def assign(self, target, value, fr):
        t = type(target)
        if t is ast.Name:
            fr.locals[target.id] = value
        elif t in (ast.Tuple, ast.List):
            items = self.iterate(value)
            stars = [i for i, e in enumerate(target.elts) if isinstance(e, ast.Starred)]
            n = len(target.elts)
            if items is not None and not stars and len(items) == n:
                for e, v in zip(target.elts, items):
                    self.assign(e, v, fr)
            elif items is not None and len(stars) == 1 and len(items) >= n - 1:
                s = stars[0]
                tail = n - s - 1
                for e, v in zip(target.elts[:s], items[:s]):
                    self.assign(e, v, fr)
                self.assign(target.elts[s].value, list(items[s:len(items) - tail]), fr)
                for e, v in zip(target.elts[s + 1:], items[len(items) - tail:]):
                    self.assign(e, v, fr)
            else:  # a tensor unpacks to its parts (`a, b = x.chunk(2)`), anything else unknown
                for e in target.elts:
                    self.assign(e.value if isinstance(e, ast.Starred) else e,
                                TensorV(nodes=value.nodes) if isinstance(value, TensorV)
                                else Unknown("unpack"), fr)
        elif t is ast.Attribute:
            self.set_attr(self.ev(target.value, fr), target.attr, value, fr, target)
        elif t is ast.Subscript:
            obj, idx = self.ev(target.value, fr), self.ev(target.slice, fr)
            if isinstance(obj, dict) and known(idx):
                obj[idx] = value
            elif isinstance(obj, list) and isinstance(idx, int) and -len(obj) <= idx < len(obj):
                obj[idx] = value
            elif isinstance(obj, ModuleV):
                self.module_setitem(obj, idx, value, fr)
            elif isinstance(obj, (ParamV, TensorV)):
                self.tensor_setitem(obj, value, target, fr)
        elif t is ast.Starred:
            self.assign(target.value, value, fr)

    def _assign(self, stmt, fr):
        v = self.ev(stmt.value, fr)
        for t in stmt.targets:
            self.assign(t, v, fr)

    def _annassign(self, stmt, fr):
        if stmt.value is not None:
            self.assign(stmt.target, self.ev(stmt.value, fr), fr)

    def _augassign(self, stmt, fr):
        cur = self.ev(stmt.target, fr)
        rhs = self.ev(stmt.value, fr)
        op = type(stmt.op)
        if isinstance(cur, list) and op is ast.Add:
            items = self.iterate(rhs)
            if items is None:
                cur.append(Unknown("extend"))
            else:
                cur.extend(items)
            return
        if isinstance(cur, (ParamV, TensorV)):
            new = self.tensor_inplace(op, cur, rhs, stmt, fr)
        else:
            new = self.binop(op, cur, rhs, stmt, fr)
        self.assign(stmt.target, new, fr)

    def _expr(self, stmt, fr):
        self.ev(stmt.value, fr)

    # ------------------------------------------------------------------ control flow
    def _return(self, stmt, fr):
        v = None if stmt.value is None else self.ev(stmt.value, fr)
        fr.rets.append((v, fr.may))
        return "return"

    def _break(self, stmt, fr):
        return "break"

    def _continue(self, stmt, fr):
        return "continue"

    def _if(self, stmt, fr):
        t = truth(self.ev(stmt.test, fr))
        if t is not None:
            return self.run_block(stmt.body if t else stmt.orelse, fr)
        return self.run_both([stmt.body, stmt.orelse], fr)

    def run_both(self, blocks, fr) -> str | None:
        """Blocks one of which runs, which one unknown: each runs as "may"; a local that
        ends different across them becomes Unknown."""
        was_may, before = fr.may, dict(fr.locals)
        ends, sigs = [], []
        for block in blocks:
            fr.locals = dict(before)
            fr.may = True
            sigs.append(self.run_block(block, fr))
            ends.append(fr.locals)
        fr.may = was_may
        merged = {}
        for k in set().union(*ends):
            vals = [e.get(k, before.get(k, Unknown(f"unbound {k}"))) for e in ends]
            merged[k] = one_of(vals, f"branches of {k}")
        fr.locals = merged
        if all(s == "return" for s in sigs):
            return "return"
        if any(s == "return" for s in sigs):
            fr.may = True  # the rest of the function runs only on some paths
        return None

    def _for(self, stmt, fr):
        it = self.ev(stmt.iter, fr)
        items = self.iterate(it)
        limit = MAX_UNROLL if isinstance(it, range) else self.max_iter
        if items is not None and len(items) <= limit:
            for item in items:
                self.assign(stmt.target, item, fr)
                sig = self.run_block(stmt.body, fr)
                if sig == "return":
                    return sig
                if sig == "break" and not fr.may:
                    return None
            return self.run_block(stmt.orelse, fr)
        return self._summarise(stmt, fr, items)

    def _summarise(self, stmt, fr, items):
        """One pass standing for every iteration: the loop variable is unknown, what it
        builds is marked repeated, what it writes is "may" (it may run zero times)."""
        if isinstance(stmt, ast.For):
            self.assign(stmt.target, Unknown("loop variable"), fr)
        was = fr.summarised, fr.may
        fr.summarised, fr.may = True, True
        sig = self.run_block(stmt.body, fr)
        fr.summarised, fr.may = was
        return sig if sig == "return" else None

    def _while(self, stmt, fr):
        for _ in range(MAX_UNROLL):
            t = truth(self.ev(stmt.test, fr))
            if t is False:
                return self.run_block(stmt.orelse, fr)
            if t is None:
                return self._summarise(stmt, fr, None)
            sig = self.run_block(stmt.body, fr)
            if sig == "return":
                return sig
            if sig == "break":
                return None
        return None

    def _with(self, stmt, fr):
        for item in stmt.items:
            v = self.ev(item.context_expr, fr)
            if item.optional_vars is not None:
                self.assign(item.optional_vars, v, fr)
        return self.run_block(stmt.body, fr)

    def _try(self, stmt, fr):
        sig = self.run_block(stmt.body, fr)
        if sig is None:
            sig = self.run_block(stmt.orelse, fr)
        fin = self.run_block(stmt.finalbody, fr)
        return fin or sig

    def _funcdef(self, stmt, fr):
        from initlint.evaluate.values import FuncV

        fr.locals[stmt.name] = FuncV(stmt, fr.src, closure=fr, owner=fr.cls)

    def _import(self, stmt, fr):
        """An import inside a function binds a local, resolved like a module-level one."""
        from initlint.analysis.names import ImportMap

        imap = ImportMap(fr.src.module, fr.src.path.endswith("__init__.py"))
        imap.add(stmt)
        for local, target in imap.names.items():
            fr.locals[local] = self.project.resolve_dotted(target, self.deps)

    def _classdef(self, stmt, fr):
        fr.locals[stmt.name] = Unknown("local class")

    def _delete(self, stmt, fr):
        for t in stmt.targets:
            if isinstance(t, ast.Attribute):
                obj = self.ev(t.value, fr)
                if isinstance(obj, ModuleV):
                    for d in (obj.children, obj.params, obj.attrs):
                        d.pop(t.attr, None)
            elif isinstance(t, ast.Name):
                fr.locals.pop(t.id, None)

    _stmt_dispatch = {
        ast.Assign: _assign, ast.AnnAssign: _annassign, ast.AugAssign: _augassign,
        ast.Expr: _expr, ast.Return: _return, ast.Break: _break, ast.Continue: _continue,
        ast.If: _if, ast.For: _for, ast.AsyncFor: _for, ast.While: _while, ast.With: _with,
        ast.AsyncWith: _with, ast.Try: _try, ast.FunctionDef: _funcdef,
        ast.AsyncFunctionDef: _funcdef, ast.ClassDef: _classdef, ast.Delete: _delete,
        ast.Import: _import, ast.ImportFrom: _import,
    }
    if hasattr(ast, "TryStar"):
        _stmt_dispatch[ast.TryStar] = _try
