"""Locating what a finding points at: one file's syntax tree, imports and call index
(`FileCtx`, built once per file and pass), and the `self.net[0]` reference of a layer built in
a method (`layer_ref`), checked against the syntax so that an inserted init names a layer
that exists at run time."""

from __future__ import annotations

import ast
import warnings
from collections import defaultdict

from initlint.analysis.names import ImportMap
from initlint.fix.text import Text, Unfixable


def _parse_quietly(text: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text)


class FileCtx:
    """One file's text, syntax tree, imports and call index (built once per pass)."""

    def __init__(self, text: str, module: str = "__initlint_fix__", is_package: bool = False):
        # the file's real module name: `from .. import initialization as init` resolves
        self.module, self.is_package = module, is_package
        self.t = Text(text)
        self.tree = _parse_quietly(text)
        self.parent: dict[int, ast.AST] = {}
        self.calls: dict[tuple, list[ast.Call]] = defaultdict(list)
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[id(child)] = node
            if isinstance(node, ast.Call):
                self.calls[self._key(node)].append(node)
        self.module_imports = ImportMap(module, is_package)
        self.defined: set[str] = set()
        self.star_init = False
        self.top_imports: list[ast.stmt] = []
        self._visit_module(self.tree.body, False, top=True)
        self._site_maps: dict[int, ImportMap] = {}
        self._quote: str | None = None

    # ---- indexing
    def _key(self, node: ast.AST) -> tuple:
        t = self.t
        return (node.lineno, t.char_col(node.lineno, node.col_offset) + 1, node.end_lineno,
                t.char_col(node.end_lineno, node.end_col_offset) + 1)

    def call_at(self, row: int, col: int, end_row: int, end_col: int) -> ast.Call | None:
        found = self.calls.get((row, col, end_row, end_col))
        if found:
            return found[0]
        near = [c for k, cs in self.calls.items() if k[:2] == (row, col) for c in cs]
        return near[0] if len(near) == 1 else None

    @property
    def quote(self) -> str:
        """The file's usual string quote (double when it has no preference)."""
        if self._quote is None:
            count = {"'": 0, '"': 0}
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                        node.lineno == node.end_lineno:
                    seg = self.t.segment(node).lstrip("rRbBuU")
                    if seg[:1] in count and seg[:3] not in ('"""', "'''"):
                        count[seg[:1]] += 1
            self._quote = "'" if count["'"] > count['"'] else '"'
        return self._quote

    def ancestors(self, node: ast.AST):
        while id(node) in self.parent:
            node = self.parent[id(node)]
            yield node

    def enclosing(self, node: ast.AST, types) -> ast.AST | None:
        for a in self.ancestors(node):
            if isinstance(a, types):
                return a
        return None

    def statement(self, node: ast.AST) -> ast.stmt | None:
        if isinstance(node, ast.stmt):
            return node
        return self.enclosing(node, ast.stmt)

    # ---- imports and names
    def _visit_module(self, body, fallback: bool, top: bool = False) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.module_imports.add(stmt, fallback)
                if isinstance(stmt, ast.ImportFrom) and stmt.module == "torch.nn.init" and \
                        not stmt.level and any(a.name == "*" for a in stmt.names):
                    self.star_init = True
                if top:
                    self.top_imports.append(stmt)
            elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                self._visit_module(stmt.body, fallback)
                for h in stmt.handlers:
                    self._visit_module(h.body, True)
                self._visit_module(stmt.orelse, fallback)
                self._visit_module(stmt.finalbody, fallback)
            elif isinstance(stmt, ast.If):
                self._visit_module(stmt.body, fallback)
                self._visit_module(stmt.orelse, True)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defined.add(stmt.name)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for tgt in targets:
                    for n in ast.walk(tgt):
                        if isinstance(n, ast.Name):
                            self.defined.add(n.id)

    def imports_at(self, node: ast.AST) -> ImportMap:
        """Module-level imports plus those of the functions enclosing `node`."""
        funcs = [a for a in self.ancestors(node) if isinstance(a, (ast.FunctionDef,
                                                                    ast.AsyncFunctionDef))]
        if not funcs:
            return self.module_imports
        key = id(funcs[0])
        if key not in self._site_maps:
            imap = ImportMap(self.module, self.is_package)
            imap.names = dict(self.module_imports.names)
            for fn in reversed(funcs):
                for sub in ast.walk(fn):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        imap.add(sub, False)
            self._site_maps[key] = imap
        return self._site_maps[key]

    def resolve(self, node: ast.AST, site: ast.AST) -> str | None:
        return self.imports_at(site).resolve(node)

    def locals_at(self, site: ast.AST) -> set[str]:
        """Names the functions around `site` bind themselves (parameters, assignments): they
        shadow a module-level `init` or `nn`."""
        out: set[str] = set()
        for fn in self.ancestors(site):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            a = fn.args
            out |= {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
            out |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
            if not isinstance(fn, ast.Lambda):
                out |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and
                        isinstance(n.ctx, ast.Store)}
        return out


def _attr_path(self_name: str, path: str) -> str:
    out = self_name
    for part in path.split("."):
        if part.isdigit():
            out += f"[{part}]"
        elif part.isidentifier():
            out += "." + part
        else:
            raise Unfixable(f"layer path {path!r}")
    return out


_CONTAINERS = ("torch.nn.Sequential", "torch.nn.ModuleList")


def layer_ref(ctx: FileCtx, node: ast.Call, path: str) -> tuple[ast.stmt, ast.AST, str]:
    """(statement, method, `self.net[0]`) for the layer constructor `node` at `path`, checked
    against the syntax: `self.<name> = <ctor>` or a literal `nn.Sequential(...)`/`ModuleList([...])`
    nesting whose positions are the path's indices. Layers from dynamic lists (`layers.append`,
    comprehensions, conditional entries) are refused: an index there may not exist at run time."""
    indices: list[str] = []
    cur: ast.AST = node
    while True:
        parent = ctx.parent.get(id(cur))
        if isinstance(parent, ast.List):
            holder = ctx.parent.get(id(parent))
            items, call = parent.elts, holder
            if not (isinstance(call, ast.Call) and call.args and call.args[0] is parent):
                break
        elif isinstance(parent, ast.Call) and any(a is cur for a in parent.args):
            items, call = parent.args, parent
        else:
            break
        if ctx.resolve(call.func, call) not in _CONTAINERS or \
                any(isinstance(a, ast.Starred) for a in items):
            raise Unfixable("layer in a container that is not a literal Sequential/ModuleList")
        indices.insert(0, str(next(i for i, a in enumerate(items) if a is cur)))
        cur = call
    stmt = ctx.parent.get(id(cur))
    fn = ctx.enclosing(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    if fn is None or not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is not cur:
        raise Unfixable("layer not assigned directly")
    me = _self_name(fn)
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    names = [tg.attr for tg in targets if isinstance(tg, ast.Attribute) and
             isinstance(tg.value, ast.Name) and tg.value.id == me]
    if len(names) != 1 or path.split(".") != names + indices:
        raise Unfixable("layer path does not match the code")
    if ctx.enclosing(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) is not fn:
        raise Unfixable("layer not built in a method")
    return stmt, fn, _attr_path(me, path)


def _self_name(fn: ast.AST) -> str:
    args = fn.args.posonlyargs + fn.args.args
    if not args:
        raise Unfixable("method without self")
    return args[0].arg
