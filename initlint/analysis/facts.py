"""Per-file facts from the stdlib `ast`: modules, layers, init statements, forward data flow.

No rule reads the syntax tree: everything a rule needs is recorded here as plain data
(:mod:`initlint.analysis.model`), which is what the cache stores.
"""

from __future__ import annotations

import ast
import collections
import copy
import itertools
import re

from initlint import knowledge as K
from initlint.analysis.consteval import evaluate, fan_scaled_gain
from initlint.analysis.model import (
    ClassFacts,
    FileFacts,
    Filter,
    FunctionFacts,
    Graph,
    InitOp,
    LayerSpec,
    Loc,
    Node,
    ParamSpec,
)
from initlint.analysis.names import collect_imports
from initlint.source import char_col, split_lines

MAX_UNROLL = 12
MAX_INLINE_DEPTH = 4
def _uid_base(path: str) -> int:
    """First layer uid of a file: uids must be unique across files and the same whichever
    process analyses the file, in whatever order (worker pools, the cache)."""
    import hashlib

    return (int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogatepass"),
                                           digest_size=6).digest(), "big") << 20) + 1
RT_ACT, RT_MODULE = "?act", "?"  # class references decided at run time


def _merge_refs(a: str | None, b: str | None) -> str:
    """Two possible classes for one name: a run-time activation if both are activations."""
    def is_act(r):
        return r == RT_ACT or r in K.ACT_MODULES
    return RT_ACT if is_act(a) and is_act(b) else RT_MODULE

_PARAM_CTORS = {
    "torch.empty": "empty",
    "torch.Tensor": "empty",
    "torch.FloatTensor": "empty",
    "torch.randn": "randn",
    "torch.rand": "rand",
    "torch.zeros": "zeros",
    "torch.ones": "ones",
    "torch.full": "full",
    "torch.tensor": "tensor",
    "torch.eye": "eye",
    "torch.arange": "tensor",
    "torch.linspace": "tensor",
    "torch.zeros_like": "zeros",
    "torch.ones_like": "ones",
    "torch.randn_like": "randn",
    "torch.empty_like": "empty",
}
_NOT_FACTORIES = ("torch.nn.init.", "torch.nn.functional.", "math.", "numpy.",
                  "transformers.initialization.")
_LEGACY_CTORS = {"torch.Tensor", "torch.FloatTensor"}  # memory for sizes, a copy for data
_PARAMETER = {"torch.nn.Parameter", "torch.nn.parameter.Parameter"}
_FUNCTIONAL_NORMS = K.FUNCTIONAL_NORMS
_SHAPE_METHODS = K.SHAPE_METHODS | {"__getitem__"}


# views of a raw parameter that keep it a weight matrix (`_Forward._raw_param`)
_VIEW_METHODS = frozenset({"t", "transpose", "permute", "view", "reshape", "float", "half", "to",
                           "type_as", "contiguous", "unsqueeze", "squeeze", "expand",
                           "index_select", "bfloat16", "double"})
_VIEW_FUNCTIONS = frozenset({"torch.index_select", "torch.transpose", "torch.permute",
                             "torch.t", "torch.reshape"})


class _FnIndex:
    __slots__ = ("returns", "calls", "names", "self_attrs", "nested")

    def __init__(self):
        self.returns: list = []
        self.calls: list = []
        self.names: list = []
        self.self_attrs: set = set()
        self.nested: list = []  # function definitions inside this one, at any depth


_EMPTY = _FnIndex()
_FUNC_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
# fields that never hold a node index_tree records (strings, ints, context and operator
# singletons, import aliases): not visiting them changes nothing and saves a third of the walk
_NOT_CHILDREN = frozenset({"ctx", "op", "ops", "id", "attr", "arg", "name", "names", "module",
                           "level", "kind", "type_comment", "type_ignores", "is_async",
                           "conversion", "simple", "tag", "rest", "kwd_attrs"})
_CHILD_FIELDS: dict = {}


def index_tree(tree: ast.AST):
    """One pass over the tree: identifiers used anywhere (for "never applied"), imports inside
    functions, and per function its returns, calls and loaded names (nested ones included)."""
    refs: set = set()
    top: set = set()  # refs that are not only Name loads inside function bodies
    fns: dict[int, _FnIndex] = {}
    nested_imports: list = []
    AST = ast.AST
    Name, Attribute, Constant, Call, Return = ast.Name, ast.Attribute, ast.Constant, ast.Call, \
        ast.Return
    Imp, ImpFrom, Load = ast.Import, ast.ImportFrom, ast.Load
    stack: list = [(tree, ())]
    push, pop, child_fields = stack.append, stack.pop, _CHILD_FIELDS
    while stack:
        node, owners = pop()
        t = type(node)
        if t is Name:
            if type(node.ctx) is Load:
                refs.add(node.id)
                for o in owners:
                    o.names.append(node)
                if not owners:
                    top.add(node.id)
            continue
        if t is Attribute:
            v = node.value
            if type(v) is Name and v.id == "self":
                for o in owners:
                    o.self_attrs.add(node.attr)
                if not owners:
                    refs.add(node.attr)
                    top.add(node.attr)
            else:
                refs.add(node.attr)
                top.add(node.attr)
        elif t is Call:
            for o in owners:
                o.calls.append(node)
        elif t is Constant:
            v = node.value
            if type(v) is str and len(v) < 64 and v.isidentifier():
                refs.add(v)  # getattr(self, "init_weights"), hooks by name
                top.add(v)
            continue
        elif t is Return:
            if node.value is not None:
                for o in owners:
                    o.returns.append(node)
        elif t in _FUNC_TYPES:
            idx = fns[id(node)] = _FnIndex()
            for o in owners:
                o.nested.append(node)
            owners = owners + (idx,)
        elif (t is Imp or t is ImpFrom) and owners:
            nested_imports.append(node)
        fields = child_fields.get(t)
        if fields is None:
            fields = child_fields[t] = tuple(f for f in t._fields if f not in _NOT_CHILDREN)
        for field in fields:
            v = getattr(node, field, None)
            if type(v) is list:
                for x in v:
                    if isinstance(x, AST):
                        push((x, owners))
            elif isinstance(v, AST):
                push((v, owners))
    for idx in fns.values():
        idx.returns.reverse()
        idx.calls.reverse()
    _TOP_REFS[id(refs)] = top
    return fns, refs, nested_imports


_TOP_REFS: dict = {}  # id(refs) -> its top-level names, handed from index_tree to the Extractor


_NUMERIC_PARAMS = frozenset(("std", "gain", "a", "b", "val", "mean", "sparsity"))


def _checked(name: str, val):
    """A parameter value fit to judge, else None (symbolic): a string `gain`, a complex or
    infinite `std`, a `nonlinearity` that is not a string are user errors, not inits."""
    if val is None:
        return None
    if name in _NUMERIC_PARAMS:
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            return None
        try:
            return val if abs(float(val)) < 1e100 else None  # also NaN: the comparison is False
        except OverflowError:
            return None
    if name in ("nonlinearity", "mode") and not isinstance(val, str):
        return None
    return val


_DELIBERATE = re.compile(r"\b(deliberate(ly)?|intentional(ly)?|on purpose|by design|"
                         r"special init|requires? (a |this )?(special|specific|different) init|"
                         r"as in the (paper|original)|following the (paper|original)|"
                         r"(official|original|reference) (implementation|init|recipe))\b", re.I)
_HEADERS = ("if ", "elif ", "else", "for ", "with ", "try", "@")


class _Lines:
    def __init__(self, source: str):
        self.lines = split_lines(source)  # not str.splitlines: it also splits at \f

    def deliberate(self, row: int) -> bool:
        """A comment at the init site says the choice is deliberate: on the call's line, or in
        the comment block right above it or above the `if`/`elif` header(s) that select it."""
        lines = self.lines
        if not 0 < row <= len(lines):
            return False
        line = lines[row - 1]
        if "#" in line and _DELIBERATE.search(line[line.index("#"):]):
            return True
        r = row - 1
        headers = 0
        while r >= 1:
            text = lines[r - 1].strip()
            if text.startswith("#"):
                if _DELIBERATE.search(text):
                    return True
            elif text.startswith(_HEADERS) and headers < 2:
                headers += 1
            else:
                return False
            r -= 1
        return False

    def col(self, row: int, byte_col: int) -> int:
        """1-based character column (`source.char_col`, the fixer's conversion too)."""
        if 0 < row <= len(self.lines):
            return char_col(self.lines[row - 1], byte_col) + 1
        return byte_col + 1

    def loc(self, node: ast.AST) -> Loc:
        row = getattr(node, "lineno", 1) or 1
        end_row = getattr(node, "end_lineno", row) or row
        return Loc(row, self.col(row, getattr(node, "col_offset", 0) or 0), end_row,
                   self.col(end_row, getattr(node, "end_col_offset", 0) or 0))


class _Ctx:
    """State of a walk over `__init__` (or an init method)."""

    def __init__(self, method: str):
        self.method = method
        self.env: dict = {}
        self.classrefs: dict[str, str | None] = {}  # local name -> canonical class ("" runtime)
        self.locals: dict[str, object] = {}  # name -> LayerSpec | list[LayerSpec]
        self.filters: dict[str, Filter] = {}  # loop/apply variable -> filter
        self.attr_vars: dict[str, str] = {}  # loop var -> attr path
        self.param_vars: dict[str, Filter] = {}  # named_parameters loop var -> filter
        self.aliases: dict[str, tuple] = {}  # p = module.out_proj.weight
        self.conditional = False
        self.flag: str | None = None
        self.via: str | None = None
        self.repeat_unknown = False
        self.depth = 0
        self.arg_names: set[str] = set()
        self.param_refs: set[str] = set()  # class refs still equal to an argument's default

    def child(self) -> "_Ctx":
        c = copy.copy(self)
        c.filters = dict(self.filters)
        c.attr_vars = dict(self.attr_vars)
        c.param_vars = dict(self.param_vars)
        c.env = dict(self.env)
        return c


def _attr_chain(node: ast.AST) -> list | None:
    """`self.a.b[0].c` -> ["self", "a", "b", 0, "c"]; None if not such a chain."""
    parts: list = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            idx = node.slice
            if isinstance(idx, ast.Constant) and isinstance(idx.value, (int, str)):
                parts.append(idx.value)
            elif (isinstance(idx, ast.UnaryOp) and isinstance(idx.op, ast.USub)
                  and isinstance(idx.operand, ast.Constant) and isinstance(idx.operand.value, int)):
                parts.append(-idx.operand.value)
            else:
                parts.append("*")
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return list(reversed(parts))
        else:
            return None


class Extractor:
    def __init__(self, tree: ast.Module, source: str, path: str, module: str, is_package: bool):
        self.tree = tree
        self.source = source
        self.lines = _Lines(source)
        self.path = path
        self.module = module
        self.fn_index, refs, nested_imports = index_tree(tree)
        self.imap = collect_imports(tree, module, is_package, nested_imports)
        self.local_defs: dict[str, str] = {}
        self._resolved: dict = {}
        self.module_env: dict = {}
        top = _TOP_REFS.pop(id(refs), set())
        # a name loaded inside a function is a call only if that function is live (IL401);
        # attributes and strings anywhere, and names outside functions, always count
        self.facts = FileFacts(path=path, module=module, refs=refs, free_refs=top)
        self.order = itertools.count()
        self._uid = itertools.count(_uid_base(path))

    # ------------------------------------------------------------------ names
    def resolve(self, node: ast.AST) -> str | None:
        # memoized per node (the tree outlives the extractor; imports and module-level
        # definitions are complete before the first call): half the calls are repeats
        try:
            return self._resolved[node]
        except KeyError:
            name = self._resolved[node] = self._resolve(node)
            return name

    def _resolve(self, node: ast.AST) -> str | None:
        name = self.imap.resolve(node)
        if name is not None:
            return name
        if isinstance(node, ast.Name) and node.id in self.local_defs:
            return self.local_defs[node.id]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in self.local_defs:
                return f"{self.local_defs[node.value.id]}.{node.attr}"
        return None

    def ev(self, node, ctx: _Ctx | None = None):
        env = self.module_env if ctx is None else {**self.module_env, **ctx.env}
        return evaluate(node, env, self.resolve)

    # ------------------------------------------------------------------ entry
    def run(self) -> FileFacts:
        for stmt in self.tree.body:
            if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                self.local_defs[stmt.name] = f"{self.module}.{stmt.name}"
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                    stmt.targets[0], ast.Name):
                val = evaluate(stmt.value, self.module_env, self.imap.resolve)
                if val is not None:
                    self.module_env[stmt.targets[0].id] = val
        self.facts.imports = dict(self.imap.names)
        self._visit_body(self.tree.body, prefix="")
        self._script_models(self.tree.body)
        if _SLICE_WRITE.search(self.source):  # a dead slice needs a slice written in place first
            self.facts.dead_slices = _dead_slice_writes(self.tree, self.lines)
        calls = self.facts.calls
        for idx in self.fn_index.values():
            for call in idx.calls:
                if not call.keywords and len(call.args) < 2:
                    continue
                name = self.resolve(call.func)
                if name is None or not name.rsplit(".", 1)[-1][:1].isupper():
                    continue
                entry = calls.setdefault(name, [0, set()])
                npos = len(call.args)
                if any(isinstance(a, ast.Starred) for a in call.args):
                    npos = 99
                entry[0] = max(entry[0], npos)
                for kw in call.keywords:
                    entry[1].add(kw.arg if kw.arg else "**")
        for entry in calls.values():  # sorted: the same facts pickle to the same bytes
            entry[1] = sorted(entry[1])
        self._external_applies(self.tree.body)
        for stmt in self.tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._external_applies(stmt.body)
        return self.facts

    def _script_models(self, body) -> None:
        """Scripts and notebooks build models too: `model = nn.Sequential(...)` at module level,
        then `for m in model.modules(): ...` or `nn.init.X(model[0].weight)`, is analysed as
        the constructor of a Sequential whose `__init__` runs those statements on `self`."""
        for i, stmt in enumerate(body):
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and
                    isinstance(stmt.targets[0], ast.Name) and isinstance(stmt.value, ast.Call)):
                continue
            if self.resolve(stmt.value.func) not in K.SEQUENTIAL_BASES:
                continue
            name = stmt.targets[0].id
            later = []
            for nxt in body[i + 1:]:
                if isinstance(nxt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and any(
                        isinstance(t, ast.Name) and t.id == name
                        for t in getattr(nxt, "targets", [getattr(nxt, "target", None)])):
                    break  # `model` is rebound: what follows is about another object
                if isinstance(nxt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(nxt)):
                    later.append(_rename(copy.deepcopy(nxt), name, "self"))
            where = dict(lineno=stmt.lineno, col_offset=stmt.col_offset,
                         end_lineno=stmt.end_lineno, end_col_offset=stmt.end_col_offset)
            sup = ast.Expr(ast.Call(
                func=ast.Attribute(ast.Call(ast.Name("super", ast.Load(), **where), [], [],
                                            **where), "__init__", ast.Load(), **where),
                args=stmt.value.args, keywords=stmt.value.keywords, **where), **where)
            tp = {"type_params": []} if "type_params" in ast.ClassDef._fields else {}  # 3.12+
            init = ast.FunctionDef(
                name="__init__", args=ast.arguments(posonlyargs=[], args=[ast.arg("self")],
                                                    kwonlyargs=[], kw_defaults=[], defaults=[]),
                body=[sup, *later], decorator_list=[], returns=None, **tp, **where)
            cls = ast.ClassDef(name=name, bases=[stmt.value.func], keywords=[], body=[init],
                               decorator_list=[], **tp, **where)
            idx = _FnIndex()
            for n in ast.walk(init):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                    idx.names.append(n)
                elif isinstance(n, ast.Call):
                    idx.calls.append(n)
            self.fn_index[id(init)] = idx
            self._class(cls, prefix="")

    def _external_applies(self, body) -> None:
        """`model = Net(...)` then `model.apply(init_fn)` in a script or a training function."""
        instances: dict[str, str] = {}
        stack = collections.deque(body)  # a queue: list.pop(0) made 650k statements quadratic
        while stack:
            stmt = stack.popleft()
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                    stmt.targets[0], ast.Name) and isinstance(stmt.value, ast.Call):
                name = self.resolve(stmt.value.func)
                if name and name.rsplit(".", 1)[-1][:1].isupper():
                    instances[stmt.targets[0].id] = name
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                call = stmt.value
                func = call.func
                if isinstance(func, ast.Attribute) and func.attr == "apply" and call.args and \
                        isinstance(func.value, ast.Name) and func.value.id in instances:
                    fn = call.args[0]
                    if isinstance(fn, ast.Call) and self.resolve(fn.func) == "functools.partial" \
                            and fn.args:
                        fn = fn.args[0]
                    fname = self.resolve(fn) or self.imap.dotted(fn)
                    if fname:
                        op = InitOp(kind="apply", func=fname, params={"fn": fname},
                                    loc=self.lines.loc(call), target="filter", method="<module>",
                                    order=next(self.order), via=f"apply({fname.rsplit('.', 1)[-1]})",
                                    src=self.path)
                        self.facts.external_applies.append((instances[func.value.id], op))
            for field_name in ("body", "orelse", "finalbody"):
                stack.extend(getattr(stmt, field_name, []) or [])
            for h in getattr(stmt, "handlers", []) or []:
                stack.extend(h.body)

    def _visit_body(self, body, prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                self._class(stmt, prefix)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and not prefix:
                ff = self._function(stmt, qual=stmt.name, is_method=False, cls=None)
                self.facts.functions[stmt.name] = ff
            elif isinstance(stmt, (ast.If, ast.Try)):
                self._visit_body(stmt.body, prefix)
                for h in getattr(stmt, "handlers", []):
                    self._visit_body(h.body, prefix)
                self._visit_body(stmt.orelse, prefix)

    # ------------------------------------------------------------------ functions
    def _function(self, fn, qual: str, is_method: bool, cls: ClassFacts | None) -> FunctionFacts:
        ff = FunctionFacts(name=fn.name, qualname=qual, loc=self.lines.loc(fn), is_method=is_method)
        args = fn.args.posonlyargs + fn.args.args
        if is_method and args and not _is_staticmethod(fn):
            args = args[1:]  # self / cls; a @staticmethod's first argument is the module
        ctx = _Ctx(fn.name)
        self._bind_defaults(fn, ctx)
        if args and fn.name not in ("__init__", "forward"):
            # the first argument of an init function is the module `apply` hands it
            first = args[0].arg
            ctx.filters[first] = Filter(scope="apply", reads=_attrs_read(fn.body, first))
        sink: list[InitOp] = []
        self._walk(fn.body, ctx, cls, sink)
        ff.ops = [op for op in sink if op.kind != "apply"] + [op for op in sink if op.kind == "apply"]
        self._liveness(fn, ff, cls, depth=0)
        # a factory: returns a layer
        for node in self.fn_index.get(id(fn), _EMPTY).returns:
            spec = self._layer(node.value, ctx, cls)
            if isinstance(spec, LayerSpec):
                ff.returns_kind = spec.kind
                ff.returns_spec = spec
                break
        return ff

    def _liveness(self, fn, ff: FunctionFacts, cls, depth: int) -> None:
        """What IL401 needs to tell a dead init function: the names the function loads (its
        calls, the functions it passes to `apply`), and whether a function defined inside it
        initializes weights (`def init_weights(net): def init_func(m): ...; net.apply(...)`)."""
        names: dict[str, int] = {}
        for n in self.fn_index.get(id(fn), _EMPTY).names:
            names[n.id] = names.get(n.id, 0) + 1
        ff.names = names
        ff.returns_value = bool(self.fn_index.get(id(fn), _EMPTY).returns)
        if depth > 3:
            return
        for stmt in self.fn_index.get(id(fn), _EMPTY).nested:
            inner = self._function(stmt, qual=f"{ff.qualname}.{stmt.name}", is_method=False,
                                   cls=cls)
            if any(op.kind not in ("apply", "copy", "rescale") for op in inner.ops) or \
                    inner.nested_init:
                ff.nested_init = True
                return

    def _bind_defaults(self, fn, ctx: _Ctx) -> None:
        args = fn.args.posonlyargs + fn.args.args
        ctx.arg_names = {a.arg for a in args + fn.args.kwonlyargs}
        defaults = fn.args.defaults
        pairs = list(zip(args[len(args) - len(defaults):], defaults))
        pairs += [(a, d) for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults) if d is not None]
        for arg, default in pairs:
            val = self.ev(default)
            if val is not None:
                ctx.env[arg.arg] = val
            ref = self._classref(default, ctx)
            if ref is not None:
                ctx.classrefs[arg.arg] = ref
                ctx.param_refs.add(arg.arg)

    # ------------------------------------------------------------------ classes
    def _class(self, node: ast.ClassDef, prefix: str) -> None:
        qual = f"{prefix}{node.name}"
        bases = []
        for b in node.bases:
            name = self.resolve(b) or self.imap.dotted(b)
            if name:
                bases.append(name)
        cf = ClassFacts(name=node.name, qualname=qual, module=self.module, loc=self.lines.loc(node),
                        bases=bases)
        methods: dict[str, ast.FunctionDef] = {}
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                methods[stmt.name] = stmt  # the last definition wins (@overload stubs first)
            elif isinstance(stmt, ast.ClassDef):
                self._class(stmt, prefix=f"{qual}.")
        self._methods = methods
        init = methods.get("__init__")
        if init is not None:
            cf.init_params = [a.arg for a in (init.args.posonlyargs + init.args.args)[1:]]
            ctx = _Ctx("__init__")
            self._bind_defaults(init, ctx)
            sink: list[InitOp] = []
            self._walk(init.body, ctx, cf, sink)
            cf.ops = sink
            cf.overrides = _overrides(init.body, cf)
            cf.loaded = _loaded(init.body)
            for n in self.fn_index.get(id(init), _EMPTY).names:
                r = self.resolve(n)
                if r:
                    cf.referenced_classes.append(r)
        for name, fn in methods.items():
            if name in ("__init__", "forward"):
                cf.methods[name] = ff = FunctionFacts(name=name, qualname=f"{qual}.{name}",
                                                      loc=self.lines.loc(fn), is_method=True)
                self._liveness(fn, ff, cf, depth=4)  # the names it loads, no nested scan
                continue
            cf.methods[name] = self._function(fn, f"{qual}.{name}", True, cf)
        for name, fn in methods.items():
            cf.self_refs |= self.fn_index.get(id(fn), _EMPTY).self_attrs
        for name, fn in methods.items():
            if name == "forward":
                continue
            for n in self.fn_index.get(id(fn), _EMPTY).calls:
                if True:
                    for a in list(n.args) + [k.value for k in n.keywords]:
                        chain = _attr_chain(a)
                        if chain and chain[0] == "self" and len(chain) >= 2:
                            cf.touched.add(str(chain[1]))
        fwd = methods.get("forward")
        if fwd is not None:
            cf.forward = _Forward(self, cf, methods).run(fwd)
            ctx = _Ctx("forward")
            sink = []
            self._walk(fwd.body, ctx, cf, sink)
            cf.forward_ops = [op for op in sink if op.kind not in ("apply",)]
        elif any(b in K.SEQUENTIAL_BASES for b in bases) and cf.top:
            cf.forward = _Forward(self, cf, methods).sequential_self()
        self.facts.classes.append(cf)

    # ------------------------------------------------------------------ class references
    def _classref(self, node, ctx: _Ctx) -> str | None:
        """A class object (not an instance): `nn.GELU`, `partial(nn.Conv2d, ...)`. "" = runtime."""
        if node is None:
            return None
        if isinstance(node, ast.Constant) and node.value is None:
            return None
        if isinstance(node, ast.Name) and node.id in ctx.classrefs:
            return ctx.classrefs[node.id]
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = self.resolve(node)
            if name and (name in K.ACT_MODULES or name in K.LAYERS or name in K.TRANSPARENT_LAYERS
                         or (name[:1].isupper() or name.rsplit(".", 1)[-1][:1].isupper())):
                return name
            return None
        if isinstance(node, ast.Call):
            fname = self.resolve(node.func)
            if fname == "functools.partial" and node.args:
                return self._classref(node.args[0], ctx)
            if fname in K.RUNTIME_ACT_FACTORIES:
                return RT_ACT
            return None
        if isinstance(node, ast.IfExp):
            a = self._classref(node.body, ctx)
            b = self._classref(node.orelse, ctx)
            if a is not None and a == b:
                return a
            if a is not None or b is not None:
                return _merge_refs(a, b)
            return None
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            for v in reversed(node.values):
                r = self._classref(v, ctx)
                if r is not None:
                    return r
        if isinstance(node, ast.Subscript):
            base = self.resolve(node.value)
            if base in K.RUNTIME_ACT_FACTORIES:
                return RT_ACT
        return None

    # ------------------------------------------------------------------ layers
    def _runtime_spec(self, ref: str, node, ctx) -> LayerSpec:
        spec = self._new_spec(None, node, ctx)
        spec.runtime = True
        spec.runtime_act = ref == RT_ACT
        return spec

    def _new_spec(self, kind, node, ctx, args=None) -> LayerSpec:
        spec = LayerSpec(kind=kind, loc=self.lines.loc(node), uid=next(self._uid))
        if ctx is not None and ctx.repeat_unknown:
            spec.repeated = True
        if kind in K.ACT_MODULES:
            spec.act = K.ACT_MODULES[kind]
            spec.slope = self._slope(spec.act, node, ctx)
        if args is not None and kind in K.LAYERS:
            spec.args = self._layer_args(kind, args, ctx)
        if isinstance(node, ast.Call) and kind not in K.LAYERS:
            spec.pretrained = self._pretrained(kind, node, ctx)
        return spec

    def _pretrained(self, kind: str | None, call: ast.Call, ctx) -> bool:
        """Built with pretrained weights: `X.from_pretrained(...)`, `resnet50(pretrained=True)`,
        `resnet50(weights="IMAGENET1K_V2")`, `timm.create_model(name, pretrained=True)`."""
        if (kind or "").endswith(".from_pretrained") or (
                isinstance(call.func, ast.Attribute) and call.func.attr == "from_pretrained"):
            return True
        for kw in call.keywords:
            if kw.arg in ("pretrained", "weights", "pretrained_backbone", "weights_backbone"):
                if isinstance(kw.value, ast.Constant) and kw.value.value in (
                        None, False, "", 0):
                    continue
                val = self.ev(kw.value, ctx) if ctx is not None else None
                if val is True or (isinstance(val, str) and val) or (
                        kw.arg.startswith("weights") and isinstance(kw.value, (ast.Attribute,
                                                                               ast.Constant))):
                    return True
        return False

    def _slope(self, act, node, ctx):
        if not isinstance(node, ast.Call):
            return None
        if act == "leaky_relu":
            for kw in node.keywords:
                if kw.arg == "negative_slope":
                    return _checked("a", self.ev(kw.value, ctx))
            if node.args:
                return _checked("a", self.ev(node.args[0], ctx))
            return 0.01
        if act == "prelu":
            for kw in node.keywords:
                if kw.arg == "init":
                    return _checked("a", self.ev(kw.value, ctx))
            return 0.25
        return None

    def _layer_args(self, kind, call: ast.Call, ctx) -> dict:
        names = K.LAYERS[kind][1]
        out = {}
        for name, arg in zip(names, call.args):
            if isinstance(arg, ast.Starred):
                break
            out[name] = self.ev(arg, ctx)
        for kw in call.keywords:
            if kw.arg:
                out[kw.arg] = self.ev(kw.value, ctx)
        return out

    def _layer(self, node, ctx: _Ctx, cls: ClassFacts | None):
        """A module instance built by `node`: LayerSpec, list of LayerSpec, or None."""
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ctx.classrefs:
                kind = ctx.classrefs[func.id]
                if kind in (RT_ACT, RT_MODULE):
                    return self._runtime_spec(kind, node, ctx)
                if kind is not None:
                    spec = self._instance(kind, node, ctx, cls)
                    if spec is not None and func.id in ctx.param_refs:
                        spec.from_param = func.id
                    return spec
            if isinstance(func, (ast.Call, ast.Subscript)):
                ref = self._classref(func, ctx)
                if ref in (RT_ACT, RT_MODULE):
                    return self._runtime_spec(ref, node, ctx)
                if ref:
                    return self._instance(ref, node, ctx, cls)
                return None
            name = self.resolve(func)
            if name is None:
                return None
            if name in ("collections.OrderedDict", "dict"):
                return None
            return self._instance(name, node, ctx, cls)
        if isinstance(node, ast.Name):
            v = ctx.locals.get(node.id)
            return v
        if isinstance(node, ast.Subscript):
            base = self.resolve(node.value)
            if base in K.RUNTIME_ACT_FACTORIES:
                return self._runtime_spec(RT_ACT, node, ctx)
            return None
        if isinstance(node, ast.IfExp):
            a = self._layer(node.body, ctx, cls)
            b = self._layer(node.orelse, ctx, cls)
            if isinstance(a, LayerSpec) and isinstance(b, LayerSpec):
                if a.kind == b.kind and a.act == b.act:
                    return a
                both_acts = (a.act or a.runtime_act) and (b.act or b.runtime_act)
                spec = self._runtime_spec(RT_ACT if both_acts else RT_MODULE, node, ctx)
                if both_acts:
                    spec.act = a.act if a.act == b.act else None
                return spec
            if isinstance(a, LayerSpec) or isinstance(b, LayerSpec):
                spec = a if isinstance(a, LayerSpec) else b
                # `nn.ReLU() if act else nn.Identity()` style: a conditional layer
                new = copy.copy(spec)
                new.runtime = True
                return new
            return None
        if isinstance(node, (ast.List, ast.Tuple)):
            out = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    v = self._layer(elt.value, ctx, cls)
                else:
                    v = self._layer(elt, ctx, cls)
                if isinstance(v, list):
                    out.extend(v)
                elif isinstance(v, LayerSpec):
                    out.append(v)
            return out
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            sub = ctx.child()
            sub.repeat_unknown = True
            v = self._layer(node.elt, sub, cls)
            if isinstance(v, LayerSpec):
                v.repeated = True
                return [v]
            return None
        return None

    def _instance(self, kind: str, node: ast.Call, ctx: _Ctx, cls) -> LayerSpec | None:
        if kind in ("torch.nn.Sequential",):
            spec = self._new_spec(kind, node, ctx)
            spec.container = "sequential"
            spec.children = []
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    v = self._layer(arg.value, ctx, cls)
                    if isinstance(v, list):
                        spec.children.extend(v)
                    else:
                        spec.children = None
                        break
                elif isinstance(arg, ast.Call) and self.resolve(arg.func) in (
                        "collections.OrderedDict",) or (isinstance(arg, ast.Call) and isinstance(
                        arg.func, ast.Name) and arg.func.id == "OrderedDict"):
                    items = arg.args[0] if arg.args else None
                    if isinstance(items, (ast.List, ast.Tuple)):
                        for it in items.elts:
                            if isinstance(it, ast.Tuple) and len(it.elts) == 2:
                                child = self._layer(it.elts[1], ctx, cls)
                                if isinstance(child, LayerSpec):
                                    key = it.elts[0]
                                    child.args = dict(child.args)
                                    child.args["__name__"] = key.value if isinstance(
                                        key, ast.Constant) else None
                                    spec.children.append(child)
                    elif isinstance(items, ast.Name) and isinstance(ctx.locals.get(items.id), list):
                        spec.children.extend(ctx.locals[items.id])
                    else:
                        spec.children = None
                        break
                else:
                    v = self._layer(arg, ctx, cls)
                    if isinstance(v, LayerSpec):
                        spec.children.append(v)
                    elif isinstance(v, list):
                        spec.children.extend(v)
                    else:
                        spec.children.append(self._new_spec(None, arg, ctx))
            return spec
        if kind in ("torch.nn.ModuleList", "torch.nn.ModuleDict"):
            spec = self._new_spec(kind, node, ctx)
            spec.container = "list" if kind.endswith("List") else "dict"
            spec.children = []
            if node.args:
                arg = node.args[0]
                if spec.container == "dict" and isinstance(arg, ast.Dict):
                    for k, v in zip(arg.keys, arg.values):
                        child = self._layer(v, ctx, cls)
                        if isinstance(child, LayerSpec):
                            child.args = dict(child.args)
                            child.args["__name__"] = k.value if isinstance(k, ast.Constant) else None
                            spec.children.append(child)
                else:
                    v = self._layer(arg, ctx, cls)
                    if isinstance(v, list):
                        spec.children.extend(v)
                    elif isinstance(v, LayerSpec):
                        spec.children.append(v)
            return spec
        if kind in ("functools.partial",):
            return None
        spec = self._new_spec(kind, node, ctx, node)
        if kind in K.ACT_MODULES or kind in K.LAYERS or kind in K.TRANSPARENT_LAYERS:
            return spec
        if kind.startswith("torch.") and not kind.startswith("torch.nn.") or \
                kind.startswith(_NOT_FACTORIES):
            return None  # torch.zeros(...), init functions, math: values, not modules
        short = kind.rsplit(".", 1)[-1]
        if not short[:1].isupper():
            # a lower-case callable: a helper factory (`conv3x3`) resolved in the index
            spec.kind = None
            spec.factory = kind
        return spec

    # ------------------------------------------------------------------ registration
    def _register(self, cls: ClassFacts, path: str, spec: LayerSpec) -> None:
        spec.path = path
        if path not in cls.layers:
            if "." not in path:
                cls.top.append(path)
        cls.layers[path] = spec
        if spec.children is not None:
            for i, child in enumerate(spec.children):
                name = child.args.get("__name__") if child.args else None
                if spec.container == "list" and child.repeated and len(spec.children) == 1:
                    cpath = f"{path}.*"
                else:
                    cpath = f"{path}.{name if name is not None else i}"
                if child.path is None or child.path == cpath:
                    self._register(cls, cpath, child)
                else:
                    cls.layers[cpath] = child

    # ------------------------------------------------------------------ targets
    def _target(self, node, ctx: _Ctx, cls: ClassFacts | None):
        """(target, path, param, filter, uid, partial) of a tensor an init writes, or None."""
        partial = False
        while True:
            if isinstance(node, ast.Attribute) and node.attr == "data":
                node = node.value
            elif isinstance(node, ast.Subscript):
                partial = True
                node = node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("view", "reshape", "t", "transpose", "flatten", "detach"):
                node = node.func.value
            else:
                break
        if isinstance(node, ast.Name):
            if node.id in ctx.param_vars:
                return ("filter", "", "*", ctx.param_vars[node.id], 0, partial)
            if node.id in ctx.aliases:
                t = ctx.aliases[node.id]
                return t[:5] + (partial or t[5],)
            return None
        chain = _attr_chain(node)
        if not chain or len(chain) < 2:
            return None
        head, rest, param = chain[0], chain[1:-1], chain[-1]
        if not isinstance(param, str):
            return None
        if head == "self":
            if not rest:
                if cls is not None:
                    return ("param", param, param, None, 0, partial)
                return None
            path = self._norm_path(cls, rest)
            return ("attr", path, param, None, 0, partial) if path is not None else None
        if head in ctx.filters:
            sub = ".".join(str(p) for p in rest)
            return ("filter", sub, param, ctx.filters[head], 0, partial)
        if head in ctx.attr_vars:
            path = ctx.attr_vars[head] + ("." + ".".join(str(p) for p in rest) if rest else "")
            return ("attr", path, param, None, 0, partial)
        if head in ctx.locals and isinstance(ctx.locals[head], LayerSpec) and not rest:
            return ("attr", "", param, None, ctx.locals[head].uid, partial)
        return None

    def _norm_path(self, cls: ClassFacts | None, parts: list) -> str | None:
        out: list[str] = []
        for p in parts:
            if isinstance(p, int) and p < 0 and cls is not None:
                spec = cls.layers.get(".".join(out))
                if spec is not None and spec.children:
                    p = len(spec.children) + p
                else:
                    return None
            out.append(str(p))
        return ".".join(out)

    # ------------------------------------------------------------------ init calls
    def _params_of(self, sig, call: ast.Call, ctx, skip_first=True):
        kind, names, defaults = sig
        params = dict(defaults)
        args = call.args[1:] if skip_first else call.args
        nodes = {}
        for name, arg in zip(names, args):
            nodes[name] = arg
        for kw in call.keywords:
            if kw.arg:
                nodes[kw.arg] = kw.value
        symbolic = False
        fan_gain = None
        for name, n in nodes.items():
            if name == "gain" and isinstance(n, ast.Call) and n.args and isinstance(
                    n.args[0], ast.Constant) and (self.resolve(n.func) or "").endswith("calculate_gain"):
                if isinstance(n.args[0].value, str):
                    params["gain_nl"] = n.args[0].value
            if name == "a" and _gain_call(n, self.resolve, ctx.env):
                params["a_is_gain"] = True  # kaiming_*(w, a=calculate_gain(...)): a gain as slope
            val = _checked(name, self.ev(n, ctx))
            if name == "std" and val is not None and not isinstance(n, ast.Constant):
                params["std_expr"] = True  # written as a formula: `(2 / 32) ** 0.5`
            if val is None:
                params[name] = None
                if name in ("std", "gain", "a", "b", "val", "nonlinearity", "mean"):
                    if name == "std":
                        fan_gain = fan_scaled_gain(n, {**self.module_env, **ctx.env}, self.resolve)
                    symbolic = True
            else:
                params[name] = val
        return params, symbolic, fan_gain

    def _record(self, sink, ctx, cls, call: ast.Call, kind, func_text, params, target, symbolic=False,
                fan_gain=None) -> None:
        tgt, path, param, flt, uid, partial = target
        if partial:
            params = dict(params)
            params["partial"] = True
        op = InitOp(kind=kind, func=func_text, params=params, loc=self.lines.loc(call), target=tgt,
                    path=path, param=param, filter=flt, method=ctx.method,
                    conditional=ctx.conditional, flag=ctx.flag, order=next(self.order), via=ctx.via,
                    layer_uid=uid, std_fan_gain=fan_gain, symbolic=symbolic, src=self.path,
                    deliberate=self.lines.deliberate(call.lineno))
        sink.append(op)

    def _init_call(self, call: ast.Call, ctx: _Ctx, cls, sink) -> bool:
        func = call.func
        name = self.resolve(func)
        text = self.imap.dotted(func) or (name or "")
        if name is not None and name not in K.INIT_FUNCTIONS:
            name = _init_alias(name, self.local_defs)
        if name in K.INIT_FUNCTIONS:
            first = call.args[0] if call.args else next(
                (k.value for k in call.keywords if k.arg == "tensor"), None)
            target = self._target(first, ctx, cls) if first is not None else None
            if target is None:
                return True
            sig = K.INIT_FUNCTIONS[name]
            params, symbolic, fan_gain = self._params_of(sig, call, ctx)
            kind = sig[0]
            if kind == "copy":
                params = {}
            self._record(sink, ctx, cls, call, kind, text, params, target, symbolic, fan_gain)
            return True
        if isinstance(func, ast.Attribute):
            meth = func.attr
            if meth in K.TENSOR_INIT_METHODS or meth in K.RESCALE_METHODS:
                target = self._target(func.value, ctx, cls)
                if target is None:
                    return False
                if meth in K.RESCALE_METHODS:
                    factor = self.ev(call.args[0], ctx) if call.args else None
                    self._record(sink, ctx, cls, call, "rescale", f".{meth}",
                                 {"factor": factor, "op": meth}, target, factor is None)
                    return True
                sig = K.TENSOR_INIT_METHODS[meth]
                params, symbolic, fan_gain = self._params_of(sig, call, ctx, skip_first=False)
                if sig[0] == "copy":
                    params = {}
                self._record(sink, ctx, cls, call, sig[0], f".{meth}", params, target, symbolic,
                             fan_gain)
                return True
        return False

    def _tensor_ctor(self, node, ctx) -> tuple[str, tuple | None, bool] | None:
        """What a `nn.Parameter(...)` argument builds: (ctor, shape, scaled)."""
        scaled = False
        while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            scaled = True
            node = node.left if isinstance(node.left, ast.Call) else node.right
        if isinstance(node, ast.Call):
            name = self.resolve(node.func)
            if name in _PARAM_CTORS:
                ctor = _PARAM_CTORS[name]
                if name in _LEGACY_CTORS and ctor == "empty" and node.args:
                    # `torch.Tensor([mix_factor])` is data; `torch.Tensor(n, m)` is memory
                    first = node.args[0]
                    if isinstance(first, (ast.List, ast.Tuple, ast.ListComp, ast.Set)):
                        return "tensor", None, scaled
                    if len(node.args) == 1 and isinstance(first, ast.Call) or isinstance(
                            self.ev(first, ctx), (list, tuple, float)):
                        return "other", None, scaled  # built from a value, not a size
                shape = tuple(self.ev(a, ctx) for a in node.args if not isinstance(a, ast.Starred))
                return ctor, shape, scaled
            if isinstance(node.func, ast.Attribute) and node.func.attr in K.TENSOR_INIT_METHODS:
                inner = self._tensor_ctor(node.func.value, ctx)
                if inner is not None:
                    meth = node.func.attr
                    return f"init:{meth}", inner[1], scaled
            return "other", None, scaled
        return "other", None, scaled

    # ------------------------------------------------------------------ statement walk
    def _walk(self, body, ctx: _Ctx, cls: ClassFacts | None, sink: list) -> None:
        for stmt in body:
            self._stmt(stmt, ctx, cls, sink)

    def _stmt(self, stmt, ctx: _Ctx, cls, sink) -> None:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            self._call_stmt(stmt.value, ctx, cls, sink)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if stmt.value is None:
                return
            for t in targets:
                self._assign(t, stmt.value, ctx, cls, sink)
        elif isinstance(stmt, ast.AugAssign):
            self._augassign(stmt, ctx, cls, sink)
        elif isinstance(stmt, ast.If):
            self._if(stmt, ctx, cls, sink)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            self._for(stmt, ctx, cls, sink)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            self._walk(stmt.body, ctx, cls, sink)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            self._walk(stmt.body, ctx, cls, sink)
            self._walk(stmt.orelse, ctx, cls, sink)
            self._walk(stmt.finalbody, ctx, cls, sink)
        elif isinstance(stmt, ast.While):
            self._walk(stmt.body, ctx, cls, sink)

    def _call_stmt(self, call: ast.Call, ctx, cls, sink) -> None:
        if self._init_call(call, ctx, cls, sink):
            return
        func = call.func
        fname = self.resolve(func)
        # self.apply(fn) / model.apply(fn) / named_apply(fn, self)
        if isinstance(func, ast.Attribute) and func.attr == "apply" and call.args:
            owner = _attr_chain(func.value)
            sub = ""
            if owner and owner[0] == "self" and len(owner) > 1:
                sub = ".".join(str(p) for p in owner[1:])
            elif owner and owner[0] in ctx.filters:
                return
            self._apply(call.args[0], call, ctx, cls, sink, sub)
            return
        if (fname or "").endswith("named_apply") and call.args:
            self._apply(call.args[0], call, ctx, cls, sink, "")
            return
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                func.value.id == "self" and cls is not None:
            meth = func.attr
            if meth == "post_init":
                cls.calls_post_init = True
                self._record_apply(sink, ctx, call, "_init_weights", "post_init()")
                return
            if meth == "add_module" and len(call.args) >= 2:
                key = self.ev(call.args[0], ctx)
                spec = self._layer(call.args[1], ctx, cls)
                if isinstance(key, str) and isinstance(spec, LayerSpec):
                    self._register(cls, key, spec)
                else:
                    cls.unknown_attrs.append(str(key))
                return
            if meth in ("register_parameter",) and len(call.args) >= 2:
                key = self.ev(call.args[0], ctx)
                if isinstance(key, str):
                    self._param(cls, key, call.args[1], ctx, call)
                return
            if ctx.method == "__init__" or ctx.depth:
                if ctx.method == "__init__" and ctx.depth == 0:
                    cls.init_calls.append(meth)
                fn = self._methods.get(meth) if hasattr(self, "_methods") else None
                if fn is not None and ctx.depth < MAX_INLINE_DEPTH and meth != "__init__":
                    sub = ctx.child()
                    sub.depth = ctx.depth + 1
                    sub.via = f"{meth}()"
                    sub.locals = dict(ctx.locals)
                    self._walk(fn.body, sub, cls, sink)
            return
        if isinstance(func, ast.Name) and func.id == "setattr" and len(call.args) == 3 and \
                isinstance(call.args[0], ast.Name) and call.args[0].id == "self" and cls is not None:
            key = self.ev(call.args[1], ctx)
            spec = self._layer(call.args[2], ctx, cls)
            if isinstance(key, str) and isinstance(spec, LayerSpec):
                self._register(cls, key, spec)
            elif self._may_be_module(call.args[2], ctx) or isinstance(spec, LayerSpec):
                cls.unknown_attrs.append(str(key))
            return
        # super().__init__(layers...) in a Sequential subclass
        if isinstance(func, ast.Attribute) and func.attr == "__init__" and isinstance(
                func.value, ast.Call) and isinstance(func.value.func, ast.Name) and \
                func.value.func.id == "super" and cls is not None and (call.args or call.keywords):
            if any(b in K.SEQUENTIAL_BASES or b.endswith(".Sequential") for b in cls.bases):
                seq = self._instance("torch.nn.Sequential", call, ctx, cls)
                if seq is not None and seq.children is not None:
                    for i, child in enumerate(seq.children):
                        name = child.args.get("__name__") if child.args else None
                        self._register(cls, str(name if name is not None else i), child)
                else:
                    cls.unknown_attrs.append("<super>")
            return
        # layers.append(nn.Linear(...)) / layers.extend([...])
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                func.attr in ("append", "extend", "insert"):
            lst = ctx.locals.get(func.value.id)
            if isinstance(lst, list) and call.args:
                v = self._layer(call.args[-1], ctx, cls)
                if isinstance(v, LayerSpec):
                    lst.append(v)
                elif isinstance(v, list):
                    lst.extend(v)
            return
        # self.blocks.append(Block())
        if isinstance(func, ast.Attribute) and func.attr in ("append", "extend") and cls is not None:
            chain = _attr_chain(func.value)
            if chain and chain[0] == "self" and len(chain) == 2:
                spec = cls.layers.get(str(chain[1]))
                if spec is not None and spec.children is not None and call.args:
                    v = self._layer(call.args[0], ctx, cls)
                    items = v if isinstance(v, list) else [v] if isinstance(v, LayerSpec) else []
                    for item in items:
                        spec.children.append(item)
                        self._register(cls, spec.path or str(chain[1]), spec)
            return

    def _record_apply(self, sink, ctx, call, fn_name, via) -> None:
        sink.append(InitOp(kind="apply", func=fn_name, params={"fn": fn_name}, loc=self.lines.loc(call),
                           target="filter", method=ctx.method, conditional=ctx.conditional,
                           flag=ctx.flag, order=next(self.order), via=via, src=self.path))

    def _apply(self, fn_node, call, ctx, cls, sink, sub: str) -> None:
        # unwrap partial(fn, ...)
        if isinstance(fn_node, ast.Call) and self.resolve(fn_node.func) == "functools.partial" \
                and fn_node.args:
            fn_node = fn_node.args[0]
        if isinstance(fn_node, ast.Attribute) and isinstance(fn_node.value, ast.Name) and \
                fn_node.value.id == "self":
            name = f"self.{fn_node.attr}"
        else:
            name = self.resolve(fn_node) or self.imap.dotted(fn_node)
        if not name:
            return
        if cls is not None and ctx.method == "__init__" and ctx.depth == 0:
            cls.applied.append(name)
        op_via = f"apply({name.rsplit('.', 1)[-1]})"
        self._record_apply(sink, ctx, call, name, op_via)
        sink[-1].path = sub

    _NOT_MODULES = {"int", "float", "len", "str", "bool", "tuple", "list", "dict", "set",
                    "range", "isinstance", "hasattr", "min", "max", "sum", "abs", "round",
                    "sorted", "zip", "enumerate", "print", "type", "super"}

    def _may_be_module(self, value, ctx) -> bool:
        """Could this unresolved value be a module (so the instance tree is incomplete)?"""
        if isinstance(value, ast.Call):
            func = value.func
            if isinstance(func, ast.Name) and func.id in self._NOT_MODULES:
                return False
            name = self.resolve(func)
            if name and (name.startswith(("torch.", "math.", "numpy.", "functools.")) and
                         not name.startswith("torch.nn.")):
                return False
            if isinstance(func, ast.Attribute) and func.attr in (
                    "get", "pop", "format", "split", "join", "lower", "upper", "register_buffer",
                    "size", "numel", "item", "tolist"):
                return False
            return True
        if isinstance(value, ast.Name):
            return value.id not in ctx.env and value.id not in ctx.classrefs
        if isinstance(value, (ast.Subscript, ast.IfExp, ast.BoolOp)):
            return True
        return False

    def _param(self, cls, name, value, ctx, node) -> None:
        if not (isinstance(value, ast.Call) and self.resolve(value.func) in _PARAMETER):
            return
        arg = value.args[0] if value.args else next(
            (k.value for k in value.keywords if k.arg == "data"), None)
        ctor = self._tensor_ctor(arg, ctx) if arg is not None else ("empty", None, False)
        if ctor is None:
            return
        spec = ParamSpec(name=name, loc=self.lines.loc(value), ctor=ctor[0], shape=ctor[1],
                         scaled=ctor[2])
        cls.params[name] = spec

    def _assign(self, target, value, ctx: _Ctx, cls, sink) -> None:
        if isinstance(target, ast.Name):
            name = target.id
            if _gain_call(value, self.resolve, ctx.env):
                ctx.env[_GAIN_MARK + name] = True
            else:
                ctx.env.pop(_GAIN_MARK + name, None)
            v = self._classname_var(value, ctx)
            if v:
                ctx.env[name] = ("__classname__", v)  # classname = m.__class__.__name__
                return
            ref = self._classref(value, ctx)
            if ref is not None and not isinstance(value, ast.Call) or (
                    isinstance(value, ast.Call) and self.resolve(value.func) == "functools.partial"):
                if ref is not None:
                    ctx.param_refs.discard(name)
                    if ctx.conditional and ctx.classrefs.get(name) not in (None,):
                        ctx.classrefs[name] = _merge_refs(ctx.classrefs[name], ref)
                    else:
                        ctx.classrefs[name] = ref
                    return
            if isinstance(value, (ast.List, ast.Tuple)) and not value.elts:
                ctx.locals[name] = []
                return
            spec = self._layer(value, ctx, cls)
            if spec is not None:
                ctx.locals[name] = spec
                return
            t = self._target(value, ctx, cls)
            if t is not None:
                ctx.aliases[name] = t
                return
            val = self.ev(value, ctx)
            if val is not None:
                ctx.env[name] = val
            else:
                ctx.env.pop(name, None)
            return
        if isinstance(target, ast.Tuple):
            return
        chain = _attr_chain(target)
        if not chain or cls is None:
            return
        if chain[0] == "self" and len(chain) == 2 and isinstance(chain[1], str):
            attr = chain[1]
            if isinstance(value, ast.Call) and self.resolve(value.func) in _PARAMETER:
                self._param(cls, attr, value, ctx, value)
                return
            spec = self._layer(value, ctx, cls)
            if isinstance(spec, LayerSpec):
                self._register(cls, attr, spec)
            elif isinstance(spec, list):
                holder = LayerSpec(kind="torch.nn.ModuleList", loc=self.lines.loc(value),
                                   container="list", children=spec, uid=next(self._uid))
                self._register(cls, attr, holder)
            else:
                val = self.ev(value, ctx)
                if val is not None:
                    ctx.env[f"self.{attr}"] = val
                elif self._may_be_module(value, ctx):
                    cls.unknown_attrs.append(attr)
            return
        # self.fc.weight = nn.Parameter(torch.zeros(...)) / m.weight.data = ...
        t = self._target(target, ctx, cls)
        if t is None:
            return
        arg = value
        if isinstance(value, ast.Call) and self.resolve(value.func) in _PARAMETER and value.args:
            arg = value.args[0]
        ctor = self._tensor_ctor(arg, ctx)
        if ctor is None:
            return
        is_param = isinstance(value, ast.Call) and self.resolve(value.func) in _PARAMETER
        if not isinstance(value, (ast.Call, ast.BinOp)):
            return  # `self.decoder.weight = embeddings.weight`: tying, not an init
        if ctor[0] == "other" and not is_param and t[2] not in ("weight", "bias"):
            return  # `self.x.requires_grad = False`, flags, caches: not an init
        kind = {"zeros": "zero", "ones": "constant", "full": "constant", "randn": "normal",
                "rand": "uniform", "empty": "uninitialized"}.get(ctor[0], "copy")
        params = {"val": 1.0} if ctor[0] == "ones" else {}
        if kind in ("normal", "uniform") and ctor[2]:
            kind, params = "copy", {}
        if kind == "normal":
            params = {"mean": 0.0, "std": 1.0}
        self._record(sink, ctx, cls, value, kind, "assignment", params, t)

    def _augassign(self, stmt: ast.AugAssign, ctx, cls, sink) -> None:
        if isinstance(stmt.target, ast.Name) and stmt.target.id in ctx.locals and isinstance(
                stmt.op, ast.Add):
            lst = ctx.locals[stmt.target.id]
            if isinstance(lst, list):
                v = self._layer(stmt.value, ctx, cls)
                if isinstance(v, list):
                    lst.extend(v)
                elif isinstance(v, LayerSpec):
                    lst.append(v)
            return
        if isinstance(stmt.op, (ast.Mult, ast.Div)):
            t = self._target(stmt.target, ctx, cls)
            if t is not None:
                factor = self.ev(stmt.value, ctx)
                self._record(sink, ctx, cls, stmt, "rescale",
                             "*=" if isinstance(stmt.op, ast.Mult) else "/=",
                             {"factor": factor, "op": "mul_" if isinstance(stmt.op, ast.Mult)
                              else "div_"}, t, factor is None)

    # ------------------------------------------------------------------ conditions
    def _type_test(self, test, ctx: _Ctx):
        """(var, Filter refinement) for isinstance/type/class-name tests on a filter variable."""
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) and test.values:
            # isinstance(m, nn.Conv2d) or isinstance(m, nn.Linear): the union of the types
            parts = [self._type_test(v, ctx) for v in test.values]
            if all(p is not None and set(p[1]) == {"types"} and p[1]["types"] is not None
                   for p in parts) and len({p[0] for p in parts}) == 1:
                types = tuple(t for p in parts for t in p[1]["types"])
                return parts[0][0], {"types": types}
        if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and \
                test.func.id == "isinstance" and len(test.args) == 2:
            var = test.args[0]
            if isinstance(var, ast.Name) and var.id in ctx.filters:
                types = self._types(test.args[1], ctx)
                return var.id, {"types": types}
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left, op, right = test.left, test.ops[0], test.comparators[0]
            # type(m) == nn.Linear / m.__class__ is nn.Linear
            for a, b in ((left, right), (right, left)):
                v = None
                if isinstance(a, ast.Call) and isinstance(a.func, ast.Name) and a.func.id == "type" \
                        and a.args and isinstance(a.args[0], ast.Name):
                    v = a.args[0].id
                elif isinstance(a, ast.Attribute) and a.attr == "__class__" and isinstance(
                        a.value, ast.Name):
                    v = a.value.id
                if v in ctx.filters and isinstance(op, (ast.Eq, ast.Is)):
                    return v, {"types": self._types(b, ctx)}
            # 'Conv' in m.__class__.__name__ / classname.find('Conv') != -1
            if isinstance(op, ast.In) and isinstance(left, ast.Constant) and isinstance(left.value, str):
                v = self._classname_var(right, ctx)
                if v:
                    return v, {"classname_sub": left.value}
                if isinstance(right, ast.Name) and right.id in ctx.param_vars:
                    return right.id, {"name_test": ("in", left.value)}
            if isinstance(left, ast.Call) and isinstance(left.func, ast.Attribute) and \
                    left.func.attr == "find" and left.args and isinstance(left.args[0], ast.Constant):
                v = self._classname_var(left.func.value, ctx)
                if v and isinstance(op, (ast.NotEq, ast.Gt, ast.GtE)) and isinstance(
                        left.args[0].value, str):
                    return v, {"classname_sub": left.args[0].value}
            # m is self.final_conv / m is final_conv (a local layer)
            if isinstance(op, ast.Is) and isinstance(left, ast.Name) and left.id in ctx.filters:
                chain = _attr_chain(right)
                if chain and chain[0] == "self":
                    return left.id, {"identity": ".".join(str(p) for p in chain[1:])}
                if isinstance(right, ast.Name) and isinstance(ctx.locals.get(right.id), LayerSpec):
                    return left.id, {"identity_uid": ctx.locals[right.id].uid}
            # name == "c_proj.weight" on named_parameters / named_modules
            if isinstance(op, ast.Eq) and isinstance(right, ast.Constant) and isinstance(
                    right.value, str) and isinstance(left, ast.Name) and left.id in ctx.param_vars:
                return left.id, {"name_test": ("eq", right.value)}
        if isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and \
                test.func.attr in ("endswith", "startswith") and isinstance(test.func.value, ast.Name) \
                and test.func.value.id in ctx.param_vars and test.args and \
                isinstance(test.args[0], ast.Constant) and isinstance(test.args[0].value, str):
            return test.func.value.id, {"name_test": (test.func.attr, test.args[0].value)}
        return None

    def _classname_var(self, node, ctx) -> str | None:
        if isinstance(node, ast.Attribute) and node.attr == "__name__" and isinstance(
                node.value, ast.Attribute) and node.value.attr == "__class__" and isinstance(
                node.value.value, ast.Name) and node.value.value.id in ctx.filters:
            return node.value.value.id
        if isinstance(node, ast.Name) and node.id in ctx.env and isinstance(ctx.env[node.id], tuple) \
                and ctx.env[node.id][:1] == ("__classname__",):
            return ctx.env[node.id][1]
        return None

    def _types(self, node, ctx) -> tuple[str, ...] | None:
        if isinstance(node, (ast.Tuple, ast.List)):
            out = []
            for e in node.elts:
                t = self._types(e, ctx)
                if t is None:
                    return None
                out.extend(t)
            return tuple(out)
        name = self.resolve(node) or self.imap.dotted(node)
        if name is None and isinstance(node, ast.Name):
            name = node.id
        return (name,) if name else None

    def _is_guard(self, test, ctx) -> bool:
        """`if m.bias is not None`, `if self.bias is not None`: structural, not a run-time flag."""
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(
                test.ops[0], (ast.IsNot, ast.Is)) and isinstance(test.comparators[0], ast.Constant) \
                and test.comparators[0].value is None:
            chain = _attr_chain(test.left)
            return bool(chain) and (chain[0] == "self" or chain[0] in ctx.filters)
        if isinstance(test, ast.Attribute):
            chain = _attr_chain(test)
            return bool(chain) and chain[0] in ctx.filters
        if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == \
                "hasattr" and test.args and isinstance(test.args[0], ast.Name) and \
                test.args[0].id in ctx.filters:
            return True
        return False

    def _if(self, stmt: ast.If, ctx: _Ctx, cls, sink) -> None:
        test = stmt.test
        parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) \
            else [test]
        refine: dict[str, dict] = {}
        runtime = []
        for p in parts:
            r = self._type_test(p, ctx)
            if r is not None:
                refine.setdefault(r[0], {}).update(r[1])
            elif not self._is_guard(p, ctx):
                runtime.append(p)
        # a condition on a known constant is decided statically
        if not refine and len(runtime) == 1 and not any(
                isinstance(n, ast.Name) and n.id in ctx.arg_names for n in ast.walk(runtime[0])):
            val = self.ev(runtime[0], ctx)
            if isinstance(val, bool) or (isinstance(val, (int, float)) and not isinstance(val, bool)):
                self._walk(stmt.body if val else stmt.orelse, ctx, cls, sink)
                return
        body_ctx = ctx.child()
        for var, upd in refine.items():
            base = body_ctx.filters.get(var) or body_ctx.param_vars.get(var)
            if base is None:
                continue
            new = copy.copy(base)
            for k, v in upd.items():
                setattr(new, k, v)
            new.filter_loc = Loc(stmt.lineno, self.lines.col(stmt.lineno, stmt.col_offset),
                                 stmt.test.end_lineno or stmt.lineno,
                                 self.lines.col(stmt.test.end_lineno or stmt.lineno,
                                                stmt.test.end_col_offset or 0))
            # every variable bound to the same loop (`for name, p in named_parameters()`)
            for table in (body_ctx.filters, body_ctx.param_vars):
                for k, v in list(table.items()):
                    if v is base:
                        table[k] = new
        if runtime:
            body_ctx.conditional = True
            try:
                body_ctx.flag = ast.unparse(runtime[0])[:80]
            except Exception:  # pragma: no cover
                body_ctx.flag = "condition"
        self._walk(stmt.body, body_ctx, cls, sink)
        self._merge_locals(ctx, body_ctx)
        if stmt.orelse:
            else_ctx = ctx.child()
            ident = [(v, u) for v, u in refine.items() if ("identity" in u or "identity_uid" in u)
                     and len(refine) == 1 and not runtime]
            if ident:
                var, upd = ident[0]
                base = else_ctx.filters.get(var)
                if base is not None:
                    new = copy.copy(base)
                    new.exclude_uid = upd.get("identity_uid", 0)
                    new.exclude_identity = upd.get("identity")
                    else_ctx.filters[var] = new
                self._walk(stmt.orelse, else_ctx, cls, sink)
                self._merge_locals(ctx, else_ctx)
                return
            if runtime or refine:
                else_ctx.conditional = ctx.conditional or bool(runtime)
                else_ctx.flag = body_ctx.flag if runtime else ctx.flag
            self._walk(stmt.orelse, else_ctx, cls, sink)
            self._merge_locals(ctx, else_ctx)

    @staticmethod
    def _merge_locals(ctx, sub) -> None:
        for k, v in sub.classrefs.items():
            if k not in ctx.classrefs or ctx.classrefs[k] is None:
                ctx.classrefs[k] = v
            elif ctx.classrefs[k] != v:
                ctx.classrefs[k] = _merge_refs(ctx.classrefs[k], v)
        for k, v in sub.locals.items():
            ctx.locals.setdefault(k, v)

    def _for(self, stmt, ctx: _Ctx, cls, sink) -> None:
        it = stmt.iter
        target = stmt.target
        # for i, m in enumerate(self.modules()): the same loop, with a counter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and \
                it.func.id == "enumerate" and it.args and isinstance(target, ast.Tuple) and \
                len(target.elts) == 2 and isinstance(it.args[0], ast.Call):
            it, target = it.args[0], target.elts[1]
        # for m in self.modules() / self.net.modules() / self.children() / named_modules()
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in (
                "modules", "children", "named_modules", "named_children", "parameters",
                "named_parameters"):
            owner = _attr_chain(it.func.value)
            if owner is None:
                return
            sub = ""
            if owner[0] == "self":
                sub = ".".join(str(p) for p in owner[1:])
            elif owner[0] in ctx.filters:
                return  # nested loop over a filtered module: rare, skip
            elif owner[0] not in ctx.filters and cls is None and ctx.method != "__init__":
                pass
            scope = it.func.attr
            flt = Filter(scope=scope, subpath=sub)
            v = target.elts[1] if isinstance(target, ast.Tuple) and len(target.elts) == 2 \
                else target
            if isinstance(v, ast.Name):
                flt.reads = _attrs_read(stmt.body, v.id)
            var = target
            if isinstance(target, ast.Tuple) and len(target.elts) == 2:
                var = target.elts[1]
                name_var = target.elts[0]
            else:
                name_var = None
            body_ctx = ctx.child()
            body_ctx.via = f"{scope}() loop"
            if isinstance(var, ast.Name):
                if scope in ("parameters", "named_parameters"):
                    body_ctx.param_vars[var.id] = flt
                    if isinstance(name_var, ast.Name):
                        body_ctx.param_vars[name_var.id] = flt
                        body_ctx.filters.pop(name_var.id, None)
                else:
                    body_ctx.filters[var.id] = flt
                    if isinstance(name_var, ast.Name):
                        body_ctx.param_vars[name_var.id] = flt
                self._loop_body(stmt, body_ctx, cls, sink)
            return
        # for layer in [self.fc1, self.fc2] / for p in [module.q, module.k]
        if isinstance(it, (ast.List, ast.Tuple)) and isinstance(target, ast.Name):
            bindings = []
            for e in it.elts:
                chain = _attr_chain(e)
                path = ".".join(str(p) for p in chain[1:]) if chain and chain[0] == "self" \
                    and len(chain) >= 2 else None
                if path is not None and cls is not None and path in cls.layers:
                    bindings.append(("attr", path))
                    continue
                t = self._target(e, ctx, cls)
                if t is not None:
                    bindings.append(("alias", t))
                elif path is not None:
                    bindings.append(("attr", path))
            if bindings and len(bindings) == len(it.elts):
                for how, val in bindings:
                    sub = ctx.child()
                    sub.aliases = dict(ctx.aliases)
                    if how == "attr":
                        sub.attr_vars[target.id] = val
                    else:
                        sub.aliases[target.id] = val
                    self._walk(stmt.body, sub, cls, sink)
                return
            # for dim in (64, 128): unroll with values bound
            vals = [self.ev(e, ctx) for e in it.elts]
            for v in vals[:MAX_UNROLL]:
                sub = ctx
                if v is not None:
                    ctx.env[target.id] = v
                self._walk(stmt.body, sub, cls, sink)
            return
        # for layer in self.layers (a ModuleList): the element is an attr
        chain = _attr_chain(it)
        if chain and chain[0] == "self" and isinstance(target, ast.Name) and cls is not None:
            path = ".".join(str(p) for p in chain[1:])
            spec = cls.layers.get(path)
            if spec is not None and spec.children is not None:
                for i, child in enumerate(spec.children):
                    sub = ctx.child()
                    sub.attr_vars[target.id] = child.path or f"{path}.{i}"
                    self._walk(stmt.body, sub, cls, sink)
                return
        # for i in range(n): unroll
        n = None
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
            args = [self.ev(a, ctx) for a in it.args]
            if all(isinstance(a, int) for a in args) and 1 <= len(args) <= 3:
                try:
                    n = len(range(*args))
                except (ValueError, OverflowError):  # range(0, 9, 0), range(10**40)
                    n = None
        count = n if n is not None and n <= MAX_UNROLL else 2
        for i in range(count):
            sub = ctx
            prev_unknown = sub.repeat_unknown
            if n is None or n > MAX_UNROLL:
                sub.repeat_unknown = True
            if isinstance(target, ast.Name):
                if n is not None and n <= MAX_UNROLL and isinstance(it, ast.Call) and len(it.args) == 1:
                    ctx.env[target.id] = i
                else:
                    ctx.env.pop(target.id, None)
            self._walk(stmt.body, sub, cls, sink)
            sub.repeat_unknown = prev_unknown

    def _loop_body(self, stmt, ctx, cls, sink) -> None:
        # classname = m.__class__.__name__
        for s in stmt.body:
            if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
                v = self._classname_var(s.value, ctx)
                if v:
                    ctx.env[s.targets[0].id] = ("__classname__", v)
                    continue
            self._stmt(s, ctx, cls, sink)


# ====================================================================== forward data flow
class _Forward:
    """Symbolic execution of `forward`: which node's output feeds which."""

    def __init__(self, ex: Extractor, cls: ClassFacts, methods: dict):
        self.ex = ex
        self.cls = cls
        self.methods = methods
        self.g = Graph()
        self.ids = itertools.count()
        self.depth = 0
        self.cond = 0  # > 0 inside an `if` body or a conditional expression
        self.param_alias: dict[str, str] = {}  # local name -> raw parameter it is a view of
        self.loop_elems: dict[str, list[LayerSpec]] = {}

    def _mul(self, left, right) -> frozenset:
        """`x * torch.sigmoid(x)` is SiLU (swish) applied to x, not a sigmoid gate."""
        for a, b in ((left, right), (right, left)):
            if len(b) == 1:
                gate = self.g.nodes[next(iter(b))]
                if gate.kind == "act" and gate.act == "sigmoid" and a and \
                        {i for i, o in self.g.edges if o == gate.id} == set(a):
                    gate.act = gate.ref = "silu"
                    return b
        return frozenset({self.node("mul", left | right)})

    def _add(self, left, right, where) -> int:
        nid = self.node("add", left | right, loc=self.ex.lines.loc(where))
        self.g.residual_adds.append((nid, sorted(left), sorted(right)))
        if self.cond:
            self.g.conditional_adds.append(nid)
        return nid

    def node(self, kind, inputs, **kw) -> int:
        nid = next(self.ids)
        self.g.nodes.append(Node(id=nid, kind=kind, **kw))
        for i in inputs:
            self.g.edges.append((i, nid))
        return nid

    def run(self, fn) -> Graph:
        env: dict[str, frozenset] = {}
        args = fn.args.posonlyargs + fn.args.args
        for a in args[1:]:
            env[a.arg] = frozenset({self.node("input", [], ref=a.arg)})
        if fn.args.vararg:
            env[fn.args.vararg.arg] = frozenset({self.node("input", [], ref=fn.args.vararg.arg)})
        ret = self.block(fn.body, env)
        if ret:
            self.node("output", ret)
        return self.g

    def sequential_self(self) -> Graph:
        inp = frozenset({self.node("input", [], ref="x")})
        out = inp
        for name in self.cls.top:
            out = self.apply_spec(self.cls.layers[name], out)
        self.node("output", out)
        return self.g

    # statements: return the union of returned values
    def block(self, body, env) -> frozenset:
        ret: frozenset = frozenset()
        for stmt in body:
            ret |= self.stmt(stmt, env)
        return ret

    def stmt(self, stmt, env) -> frozenset:
        if isinstance(stmt, ast.Return):
            return self.expr(stmt.value, env) if stmt.value is not None else frozenset()
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            if stmt.value is None:
                return frozenset()
            val = self.expr(stmt.value, env)
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            alias = self._raw_param(stmt.value)
            for t in targets:
                self.bind(t, val, env)
                if isinstance(t, ast.Name):
                    if alias:
                        self.param_alias[t.id] = alias
                    else:
                        self.param_alias.pop(t.id, None)
            return frozenset()
        if isinstance(stmt, ast.AugAssign):
            val = self.expr(stmt.value, env)
            if isinstance(stmt.target, ast.Name):
                cur = env.get(stmt.target.id, frozenset())
                if isinstance(stmt.op, ast.Add) and cur and val:
                    env[stmt.target.id] = frozenset({self._add(cur, val, stmt)})
                elif isinstance(stmt.op, ast.Mult) and cur and val:
                    env[stmt.target.id] = self._mul(cur, val)
                else:
                    env[stmt.target.id] = cur | val
            return frozenset()
        if isinstance(stmt, ast.Expr):
            self.expr(stmt.value, env)
            return frozenset()
        if isinstance(stmt, ast.If):
            e1, e2 = dict(env), dict(env)
            self.cond += 1
            try:
                r = self.block(stmt.body, e1) | self.block(stmt.orelse, e2)
            finally:
                self.cond -= 1
            for k in set(e1) | set(e2):
                env[k] = e1.get(k, frozenset()) | e2.get(k, frozenset())
            return r
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            return self.loop(stmt, env)
        if isinstance(stmt, ast.While):
            r = self.block(stmt.body, env)
            return r | self.block(stmt.body, env)
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            return self.block(stmt.body, env)
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            r = self.block(stmt.body, env)
            for h in stmt.handlers:
                r |= self.block(h.body, env)
            return r | self.block(stmt.orelse, env) | self.block(stmt.finalbody, env)
        return frozenset()

    def bind(self, target, val, env) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = val
        elif isinstance(target, (ast.Tuple, ast.List)):
            for e in target.elts:
                self.bind(e.value if isinstance(e, ast.Starred) else e, val, env)

    def _elements(self, it) -> tuple[list[list[LayerSpec]], int] | None:
        """Elements of `self.layers`, `enumerate(...)`, `zip(self.a, self.b)`."""
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "enumerate" \
                and it.args:
            r = self._elements(it.args[0])
            return (r[0], 1) if r else None
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "zip":
            cols = []
            for a in it.args:
                r = self._elements(a)
                if r is None:
                    return None
                cols.append(r[0][0])
            return ([list(c) for c in zip(*cols)] if cols else None), 2
        chain = _attr_chain(it)
        if chain and chain[0] == "self":
            if len(chain) >= 2 and chain[-1] in ("values",) and False:
                pass
            parts = chain[1:]
            if parts and parts[-1] == "*":
                parts = parts[:-1]
            path = ".".join(str(p) for p in parts)
            spec = self.cls.layers.get(path)
            if spec is not None and spec.children:
                return [spec.children], 0
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in (
                "values", "children"):
            return self._elements(it.func.value)
        return None

    def loop(self, stmt, env) -> frozenset:
        el = self._elements(stmt.iter)
        ret = frozenset()
        for _ in range(2):  # twice: the second pass links the loop's end to its start
            if el is not None:
                groups, mode = el
                t = stmt.target
                if mode == 1 and isinstance(t, ast.Tuple) and len(t.elts) == 2:
                    t = t.elts[1]
                    if isinstance(stmt.target.elts[0], ast.Name):
                        env.pop(stmt.target.elts[0].id, None)
                if mode == 2 or (mode == 0 and len(groups) > 1):
                    cols = groups
                    names = t.elts if isinstance(t, ast.Tuple) else []
                    for i, n in enumerate(names):
                        if isinstance(n, ast.Name) and i < len(cols):
                            self.loop_elems[n.id] = cols[i] if mode != 2 else [row[i] for row in cols]
                    if mode == 2:
                        for i, n in enumerate(names):
                            if isinstance(n, ast.Name):
                                self.loop_elems[n.id] = [row[i] for row in cols]
                elif isinstance(t, ast.Name):
                    self.loop_elems[t.id] = groups[0]
            ret |= self.block(stmt.body, env)
        return ret

    # expressions: return the set of producer node ids
    def expr(self, node, env) -> frozenset:
        if node is None:
            return frozenset()
        if isinstance(node, ast.Name):
            return env.get(node.id, frozenset())
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, ast.BinOp):
            left = self.expr(node.left, env)
            right = self.expr(node.right, env)
            if isinstance(node.op, ast.Add) and left and right:
                return frozenset({self._add(left, right, node)})
            if isinstance(node.op, ast.Mult) and left and right:
                return self._mul(left, right)
            if isinstance(node.op, ast.MatMult):
                for side, other in ((node.right, left), (node.left, right)):
                    p = self._raw_param(side)
                    if p is not None and other:
                        return frozenset({self.node("layer", other, ref=p, loc=p_loc(self, side))})
            return left | right
        if isinstance(node, ast.IfExp):
            self.expr(node.test, env)
            self.cond += 1
            try:
                return self.expr(node.body, env) | self.expr(node.orelse, env)
            finally:
                self.cond -= 1
        if isinstance(node, (ast.Tuple, ast.List)):
            out = frozenset()
            for e in node.elts:
                out |= self.expr(e.value if isinstance(e, ast.Starred) else e, env)
            return out
        if isinstance(node, ast.Subscript):
            return self.expr(node.value, env)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                return frozenset()
            return self.expr(node.value, env)
        if isinstance(node, ast.UnaryOp):
            return self.expr(node.operand, env)
        if isinstance(node, ast.Starred):
            return self.expr(node.value, env)
        if isinstance(node, ast.Dict):
            out = frozenset()
            for v in node.values:
                out |= self.expr(v, env)
            return out
        return frozenset()

    def _args(self, call, env) -> frozenset:
        out = frozenset()
        for a in call.args:
            out |= self.expr(a, env)
        for k in call.keywords:
            out |= self.expr(k.value, env)
        return out

    def call(self, call: ast.Call, env) -> frozenset:
        func = call.func
        ex = self.ex
        # self.X(...) / self.X[i](...)
        chain = _attr_chain(func)
        if chain and chain[0] == "self" and len(chain) >= 2:
            path_parts = chain[1:]
            name = ".".join(str(p) for p in path_parts)
            if len(path_parts) == 1 and name in self.methods and name not in self.cls.layers:
                return self.inline(self.methods[name], call, env)
            if len(path_parts) == 1 and name == "act_fn" and name not in self.cls.layers:
                pass
            spec = self._spec_at(path_parts)
            inputs = self._args(call, env)
            if spec is not None:
                return self.apply_spec(spec, inputs)
            if name in self.cls.params:
                return inputs
            return frozenset({self.node("opaque", inputs, ref=name)})
        if isinstance(func, ast.Name) and func.id in self.loop_elems:
            inputs = self._args(call, env)
            elems = self.loop_elems[func.id]
            outs = frozenset()
            for spec in elems[:MAX_UNROLL]:
                outs |= self.apply_spec(spec, inputs)
            return outs
        fname = ex.resolve(func)
        if fname in ("torch.nn.functional.linear", "torch.matmul", "torch.mm", "torch.bmm",
                     "torch.nn.functional.conv1d", "torch.nn.functional.conv2d") and len(call.args) >= 2:
            p = self._raw_param(call.args[1])
            if p is not None:
                inputs = self.expr(call.args[0], env)
                return frozenset({self.node("layer", inputs, ref=p, loc=p_loc(self, call.args[1]))})
        if fname in _FUNCTIONAL_NORMS:
            inputs = self.expr(call.args[0], env) if call.args else self._args(call, env)
            return frozenset({self.node("norm", inputs, ref=None, loc=ex.lines.loc(call))})
        if fname in K.ACT_FUNCTIONS:
            inputs = self.expr(call.args[0], env) if call.args else self._args(call, env)
            short = K.ACT_FUNCTIONS[fname]
            slope = None
            if short == "leaky_relu":
                slope = 0.01
                for kw in call.keywords:
                    if kw.arg == "negative_slope":
                        slope = _checked("a", ex.ev(kw.value))
                if len(call.args) > 1:
                    slope = _checked("a", ex.ev(call.args[1]))
            return frozenset({self.node("act", inputs, act=short, slope=slope, ref=short,
                                        loc=ex.lines.loc(call))})
        if isinstance(func, ast.Subscript) or (fname in K.RUNTIME_ACT_FACTORIES):
            base = ex.resolve(func.value) if isinstance(func, ast.Subscript) else fname
            if base in K.RUNTIME_ACT_FACTORIES:
                inputs = self._args(call, env)
                return frozenset({self.node("act", inputs, runtime=True, loc=ex.lines.loc(call))})
        if isinstance(func, ast.Attribute):
            if func.attr in K.ACT_TENSOR_METHODS:
                inputs = self.expr(func.value, env)
                return frozenset({self.node("act", inputs, act=K.ACT_TENSOR_METHODS[func.attr],
                                            ref=func.attr, loc=ex.lines.loc(call))})
            if fname and fname.startswith("super") or (isinstance(func.value, ast.Call) and
                                                       isinstance(func.value.func, ast.Name) and
                                                       func.value.func.id == "super"):
                inputs = self._args(call, env)
                if func.attr == "forward" and any(b in K.SEQUENTIAL_BASES for b in self.cls.bases):
                    out = inputs
                    for name in self.cls.top:
                        out = self.apply_spec(self.cls.layers[name], out)
                    return out
                return frozenset({self.node("opaque", inputs, ref="super")})
            if fname is None and func.attr in ("append", "extend", "insert") and \
                    isinstance(func.value, ast.Name):
                # `outs.append(y)` / `p.extend([p6, p7])`: the list now holds those values
                name = func.value.id
                env[name] = env.get(name, frozenset()) | self._args(call, env)
                return frozenset()
            if fname is None:
                # a tensor method: x.view(...), x.flatten(1), x.chunk(2)
                recv = self.expr(func.value, env)
                if func.attr in _SHAPE_METHODS or func.attr.endswith("_") is False:
                    return recv | (self._args(call, env) if func.attr in ("add", "mul") else
                                   frozenset())
                return recv
        if fname in K.TRANSPARENT_FUNCTIONS or (fname or "").startswith("torch.nn.functional."):
            return self._args(call, env)
        if fname and fname.startswith("torch."):
            return self._args(call, env)
        if isinstance(func, ast.Name) and func.id in ("len", "range", "isinstance", "int", "float",
                                                      "print", "list", "tuple", "getattr"):
            return frozenset()
        inputs = self._args(call, env)
        if not inputs:
            return frozenset()
        return frozenset({self.node("opaque", inputs, ref=fname or ex.imap.dotted(func))})

    def _raw_param(self, node, depth: int = 0) -> str | None:
        """The raw parameter `node` is a view of: `self.w`, `self.w.t()`, `w.T`, a local bound to
        one, `torch.index_select(self.w, 0, i)`, `w.transpose(1, 2)[None]`, `a if c else b`."""
        if depth > 8:
            return None
        if isinstance(node, ast.Name):
            return self.param_alias.get(node.id)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                return node.attr if node.attr in self.cls.params else None
            return self._raw_param(node.value, depth + 1) if node.attr in ("T", "mT", "data") \
                else None
        if isinstance(node, ast.Subscript):
            return self._raw_param(node.value, depth + 1)
        if isinstance(node, ast.IfExp):
            return self._raw_param(node.body, depth + 1) or self._raw_param(node.orelse, depth + 1)
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr in _VIEW_METHODS:
                return self._raw_param(f.value, depth + 1)
            if self.ex.resolve(f) in _VIEW_FUNCTIONS and node.args:
                return self._raw_param(node.args[0], depth + 1)
        return None

    def _spec_at(self, parts) -> LayerSpec | None:
        path = ".".join(str(p) for p in parts)
        spec = self.cls.layers.get(path)
        if spec is not None:
            return spec
        if parts and parts[-1] == "*":
            base = self.cls.layers.get(".".join(str(p) for p in parts[:-1]))
            if base is not None and base.children:
                holder = LayerSpec(kind=None, loc=base.loc, path=path)
                holder.children = base.children
                holder.container = "any"
                return holder
        if parts and isinstance(parts[-1], int) and parts[-1] < 0:
            base = self.cls.layers.get(".".join(str(p) for p in parts[:-1]))
            if base is not None and base.children and -parts[-1] <= len(base.children):
                return base.children[parts[-1]]
        return None

    def inline(self, fn, call, env) -> frozenset:
        if self.depth >= MAX_INLINE_DEPTH:
            return frozenset({self.node("opaque", self._args(call, env), ref=fn.name)})
        self.depth += 1
        sub: dict = {}
        params = [a.arg for a in (fn.args.posonlyargs + fn.args.args)[1:]]
        for p, a in zip(params, call.args):
            sub[p] = self.expr(a, env)
        for kw in call.keywords:
            if kw.arg in params:
                sub[kw.arg] = self.expr(kw.value, env)
        ret = self.block(fn.body, sub)
        self.depth -= 1
        return ret

    def apply_spec(self, spec: LayerSpec, inputs: frozenset) -> frozenset:
        if spec.container == "any":
            out = frozenset()
            for child in spec.children or []:
                out |= self.apply_spec(child, inputs)
            return out
        if spec.container == "sequential":
            if spec.children is None:
                return frozenset({self.node("module", inputs, ref=spec.path, loc=spec.loc)})
            out = inputs
            for child in spec.children:
                out = self.apply_spec(child, out)
            return out
        if spec.act is not None or spec.runtime_act:
            return frozenset({self.node("act", inputs, ref=spec.path, act=spec.act, slope=spec.slope,
                                        param=spec.from_param,
                                        runtime=spec.runtime, loc=spec.loc)})
        kind = spec.kind
        cat = K.layer_category(kind)
        if kind in K.TRANSPARENT_LAYERS:
            return inputs
        if cat == "norm":
            return frozenset({self.node("norm", inputs, ref=spec.path, loc=spec.loc)})
        if cat in ("weight", "embedding"):
            return frozenset({self.node("layer", inputs, ref=spec.path, loc=spec.loc)})
        return frozenset({self.node("module", inputs, ref=spec.path, loc=spec.loc)})


_INIT_SHORT = {}
for _full in K.INIT_FUNCTIONS:
    _INIT_SHORT.setdefault(_full.rsplit(".", 1)[-1], _full)


_NOT_OVERRIDES = frozenset({"weight", "bias", "data", "training", "inplace"})


def _attrs_read(body, var: str) -> tuple:
    """Attributes an init loop or applied function reads from its module variable besides the
    parameters: `hasattr(m, "stddev")`, `getattr(m, "stddev", 0.1)`, `m.stddev`."""
    out = set()
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and \
                    n.func.id in ("hasattr", "getattr") and len(n.args) >= 2 and \
                    isinstance(n.args[0], ast.Name) and n.args[0].id == var and \
                    isinstance(n.args[1], ast.Constant) and isinstance(n.args[1].value, str):
                out.add(n.args[1].value)
            elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and \
                    n.value.id == var and isinstance(n.ctx, ast.Load) and \
                    not n.attr.startswith("_") and n.attr not in _NOT_OVERRIDES:
                out.add(n.attr)
    return tuple(sorted(out - {"modules", "named_modules", "children", "parameters",
                                "named_parameters", "apply"}))


def _overrides(body, cf) -> list:
    """`self.conv1.stddev = 0.01` in `__init__`: a number set on a child for an init to read."""
    out = []
    for stmt in body:
        for n in ast.walk(stmt):
            if not (isinstance(n, ast.Assign) and len(n.targets) == 1):
                continue
            t = n.targets[0]
            chain = _attr_chain(t) if isinstance(t, ast.Attribute) else None
            if not chain or chain[0] != "self" or len(chain) < 3 or \
                    not isinstance(n.value, ast.Constant) or \
                    not isinstance(n.value.value, (int, float)) or chain[-1] in _NOT_OVERRIDES:
                continue
            path = ".".join(str(p) for p in chain[1:-1])
            if path in cf.layers:
                out.append((path, chain[-1], Loc(n.lineno, n.col_offset + 1, n.end_lineno or
                                                  n.lineno, (n.end_col_offset or 0) + 1)))
    return out


# the text of an in-place write to a slice, the only kind `_written` reports with a slice:
# `b[lo:hi].fill_(`, `b.data[lo:].zero_(`, `init.constant_(b[lo:hi], ...)`
_SLICE_WRITE = re.compile(r"\]\s*\.\s*(?:fill_|zero_|normal_|uniform_|copy_|constant_|zeros_|"
                          r"ones_)\s*\(|_\(\s*\w+(?:\s*\.\s*data)?\s*\[")
_INPLACE = frozenset({"fill_", "zero_", "normal_", "uniform_", "copy_", "constant_",
                      "zeros_", "ones_"})


def _written(stmt):
    """(base name, slice or None) a statement writes in place: `b.data[lo:hi].fill_(1)`,
    `b[lo:].zero_()`, `nn.init.zeros_(b)`, `b.data.fill_(0)`; None if it writes nothing so."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    f = call.func
    if isinstance(f, ast.Attribute) and f.attr in _INPLACE and not (
            isinstance(f.value, ast.Attribute) and f.value.attr == "init"):
        target = f.value
    elif isinstance(f, ast.Attribute) and f.attr in _INPLACE and call.args:
        target = call.args[0]  # nn.init.zeros_(b) / init.constant_(b[lo:hi], 1)
    else:
        return None
    sl = None
    if isinstance(target, ast.Subscript):
        sl, target = target.slice, target.value
        if not isinstance(sl, ast.Slice) or sl.step is not None:
            return None
    if isinstance(target, ast.Attribute) and target.attr == "data":
        target = target.value
    if not isinstance(target, ast.Name):
        return None
    return target.id, sl


def _covers(later, earlier) -> bool:
    """`later` (a slice or None = the whole tensor) writes all of `earlier`, by the text of
    their bounds: `[a:]` covers `[a:b]`, the whole tensor covers any slice."""
    if later is None:
        return True
    same = lambda x, y: x is None or (y is not None and ast.dump(x) == ast.dump(y))  # noqa: E731
    return same(later.lower, earlier.lower) and same(later.upper, earlier.upper)


def _dead_slice_writes(tree, lines) -> list:
    """A slice set in place and then overwritten by a later write in the same block that covers
    it (`bias[n//4:n//2].fill_(1.)` for the forget gate, then `bias[n//4:].fill_(0.)`):
    [(dead Loc, overwriting Loc)]."""
    out = []
    for node in ast.walk(tree):
        for field_name in ("body", "orelse", "finalbody"):
            block = getattr(node, field_name, None)
            if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
                continue
            slices: dict = {}
            for stmt in block:
                w = _written(stmt)
                if w is None:
                    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                        for t in getattr(stmt, "targets", [getattr(stmt, "target", None)]):
                            if isinstance(t, ast.Name):
                                slices.pop(t.id, None)  # rebound: another tensor
                    continue
                base, sl = w
                for earlier_sl, earlier in slices.get(base, []):
                    if _covers(sl, earlier_sl):
                        out.append((lines.loc(earlier.value), lines.loc(stmt.value)))
                slices[base] = [(e_sl, e) for e_sl, e in slices.get(base, [])
                                if not _covers(sl, e_sl)]
                if sl is not None:
                    slices[base].append((sl, stmt))
    return out


def _loaded(body) -> list:
    """`self.backbone.load_state_dict(...)` in `__init__`: (layer path, row)."""
    out = []
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
                    n.func.attr == "load_state_dict":
                chain = _attr_chain(n.func.value)
                if chain and chain[0] == "self" and len(chain) >= 2:
                    out.append((".".join(str(p) for p in chain[1:]), n.lineno))
    return out


def _rename(node, old: str, new: str):
    """`node` with every load of the name `old` read as `new` (a script's `model` as `self`)."""
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id == old:
            n.id = new
    return node


def _gain_call(node, resolve, env) -> bool:
    """`calculate_gain(...)`, directly or through a local assigned from it."""
    if isinstance(node, ast.Call):
        return (resolve(node.func) or "").endswith("calculate_gain")
    if isinstance(node, ast.Name):
        return env.get(f"{_GAIN_MARK}{node.id}", False)
    return False


_GAIN_MARK = "\0gain:"  # env key marking a local assigned from calculate_gain(...)


def _is_staticmethod(fn) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" or
               isinstance(d, ast.Attribute) and d.attr == "staticmethod"
               for d in fn.decorator_list)


def _init_alias(name: str, local_defs: dict) -> str:
    """`from .vision_transformer import trunc_normal_` (a re-export) -> the init it names."""
    short = name.rsplit(".", 1)[-1]
    if short.endswith("_") and short in _INIT_SHORT and short not in local_defs and \
            not name.startswith(("torch.Tensor", "self.")):
        return _INIT_SHORT[short]
    return name


def p_loc(fwd: "_Forward", node) -> Loc:
    return fwd.ex.lines.loc(node)


def extract(tree: ast.Module, source: str, path: str, module: str, is_package: bool) -> FileFacts:
    return Extractor(tree, source, path, module, is_package).run()
