"""Autofix: every finding with a canonical remedy gets a `Fix` of minimal text edits.

Design ("ast to understand, libcst to change", DESIGN.md):

* The rules attach a typed remedy to the finding (`initlint.remedies`: which fix, which activation, ...).
* For a file with such findings we parse it once with the stdlib `ast` (cheap) to find the call
  at the finding's location, its statement, function and class, and the file's imports.
* The call itself is rewritten with libcst, parsing only that call's source text
  (`libcst.parse_expression`): the arguments we keep keep their formatting and comments, and
  the edit replaces just the call. New statements (`zeros_` for IL301, a LeCun init for IL104)
  are inserted as whole lines; a missing import extends an existing
  `from torch.nn.init import ...` or adds `import torch`.
* `apply` applies non-overlapping fixes (in a deterministic order), re-parses the result
  (a fix whose result does not parse is dropped with a message), re-lints the changed files in
  memory, takes back a fix that draws a new finding where it acted (a shared init that now
  suits one layer and not another, an inserted init that a later one overwrites), and repeats
  until nothing fixable is left (at most MAX_PASSES). Then it writes each changed file
  atomically (temp file + os.replace, permissions kept). Notebooks are written back with only
  the changed cells' `source` values replaced in the JSON text.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import io
import json
import os
import re
import stat
import tempfile
import tokenize
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

from initlint import knowledge as K
from initlint import remedies as R
from initlint.analysis.names import ImportMap
from initlint.findings import Edit, Finding, Fix

MAX_PASSES = 10
_INIT_MODULES = ("torch.nn.init", "transformers.initialization")
_NL_RE = re.compile(r"\r\n|\r|\n")
_GAIN_NAMES = ("tanh", "sigmoid")  # saturating activations calculate_gain knows


# --------------------------------------------------------------------------- results

@dataclass
class Outcome:
    findings: list[Finding]  # what is left after fixing (decides the exit code)
    diff_text: str = ""  # unified diff (--diff), else ""
    messages: list[str] = field(default_factory=list)  # lines for stderr
    fixed_findings: list[Finding] = field(default_factory=list)
    stdout_text: bytes | None = None  # --fix on stdin: the fixed source, for stdout
    fixed_files: list[str] = field(default_factory=list)
    write_failures: list[str] = field(default_factory=list)  # files left as they were (exit 2)


@dataclass
class _Plan:
    """A fix for one finding: the public `Fix` plus its edits as offsets in the linted text."""

    finding: Finding
    fix: Fix
    spans: list[tuple[int, int, str]]  # (start, end, replacement), offsets into the text
    at: int | None = None  # offset of the call a shared init fix rewrites
    inserted: list = field(default_factory=list)  # spans that insert new statements

    @property
    def key(self):
        return (min(s for s, _, _ in self.spans), self.finding.code, self.finding.row,
                self.finding.col)


class _Unfixable(Exception):
    pass


# --------------------------------------------------------------------------- text positions

class _Text:
    """Offsets <-> (row, col), 1-based, col in characters (as `Finding` and `Edit` use)."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in _NL_RE.finditer(text)]
        m = _NL_RE.search(text)
        self.newline = m.group(0) if m else "\n"

    def offset(self, row: int, col: int) -> int:
        if row < 1:
            return 0
        if row > len(self.starts):
            return len(self.text)
        return min(self.starts[row - 1] + max(col, 1) - 1, len(self.text))

    def pos(self, off: int) -> tuple[int, int]:
        row = bisect.bisect_right(self.starts, off)
        return row, off - self.starts[row - 1] + 1

    def line(self, row: int) -> str:
        """Line `row` without its line break."""
        if not 1 <= row <= len(self.starts):
            return ""
        start = self.starts[row - 1]
        end = self.starts[row] if row < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def char_col(self, row: int, byte_col: int) -> int:
        """ast's UTF-8 byte column -> 0-based character column."""
        line = self.line(row)
        if line.isascii():
            return byte_col
        return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def node_span(self, node: ast.AST) -> tuple[int, int]:
        s = self.starts[node.lineno - 1] + self.char_col(node.lineno, node.col_offset) \
            if node.lineno <= len(self.starts) else len(self.text)
        e = self.starts[node.end_lineno - 1] + self.char_col(node.end_lineno, node.end_col_offset) \
            if node.end_lineno <= len(self.starts) else len(self.text)
        return s, e

    def segment(self, node: ast.AST) -> str:
        s, e = self.node_span(node)
        return self.text[s:e]

    def insert_after_line(self, row: int, line: str) -> tuple[int, int, str]:
        """An insertion of `line` as a new line after line `row`."""
        if row < len(self.starts):
            off = self.starts[row]
            return off, off, line + self.newline
        return len(self.text), len(self.text), self.newline + line

    def indent_of(self, row: int) -> str:
        line = self.line(row)
        return line[: len(line) - len(line.lstrip(" \t"))]


# --------------------------------------------------------------------------- file context

def _parse(text: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text)


class _FileCtx:
    """One file's text, syntax tree, imports and call index (built once per pass)."""

    def __init__(self, text: str, module: str = "__initlint_fix__", is_package: bool = False):
        # the file's real module name: `from .. import initialization as init` resolves
        self.module, self.is_package = module, is_package
        self.t = _Text(text)
        self.tree = _parse(text)
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


# --------------------------------------------------------------------------- libcst helpers

def _cst():
    import libcst

    return libcst


def _render(node) -> str:
    cst = _cst()
    return cst.Module(body=[]).code_for_node(node)


def _parse_expr(code: str):
    return _cst().parse_expression(code)


def _no_ws():
    return _cst().SimpleWhitespace("")


def _kw_arg(name: str, value):
    cst = _cst()
    if isinstance(value, str):
        value = _parse_expr(value)
    return cst.Arg(value=value, keyword=cst.Name(name),
                   equal=cst.AssignEqual(whitespace_before=_no_ws(), whitespace_after=_no_ws()))


def _as_kw(arg, name: str):
    cst = _cst()
    if arg.keyword is not None and arg.keyword.value == name:
        return arg
    if arg.keyword is not None:
        return arg.with_changes(keyword=cst.Name(name))
    return arg.with_changes(keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=_no_ws(), whitespace_after=_no_ws()))


def _as_pos(arg):
    cst = _cst()
    if arg.keyword is None:
        return arg
    return arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)


def _with_commas(new_items: list, orig_items) -> list:
    """Commas for a rebuilt argument/alias list, in the style of the original one."""
    cst = _cst()
    orig_items = list(orig_items)
    commas = [getattr(a, "comma", None) for a in orig_items]
    real = [c for c in commas if isinstance(c, cst.Comma)]
    trailing = commas[-1] if commas and isinstance(commas[-1], cst.Comma) else None
    template = _clean_comma(real[0]) if real and (trailing is None or real[0] is not trailing) \
        else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    last_orig = orig_items[-1] if orig_items else None
    if trailing is not None and not any(item is last_orig for item in new_items):
        trailing = _clean_comma(trailing)  # its comment was about the argument we dropped
    out = []
    for i, item in enumerate(new_items):
        is_last = i == len(new_items) - 1
        if is_last:
            comma = trailing if trailing is not None else cst.MaybeSentinel.DEFAULT
        else:
            comma = item.comma if isinstance(item.comma, cst.Comma) and item is not last_orig \
                else template
        out.append(item.with_changes(comma=comma))
    return out


def _clean_comma(comma):
    """A comma in the same layout, without the comment that followed it."""
    cst = _cst()
    ws = comma.whitespace_after
    if isinstance(ws, cst.ParenthesizedWhitespace) and ws.first_line.comment is not None:
        ws = ws.with_changes(first_line=cst.TrailingWhitespace())
        return comma.with_changes(whitespace_after=ws)
    return comma


def _string(value: str, quote: str) -> str:
    return quote + value + quote


# --------------------------------------------------------------------------- an init call

class _Call:
    """An init call at a finding's location: `P.fname(tensor, ...)`, `fname(...)` or `t.meth_(...)`."""

    def __init__(self, b: "_Builder", node: ast.Call):
        self.b = b
        self.node = node
        ctx = b.ctx
        func = node.func
        name = ctx.resolve(func, node)
        self.short = None
        self.form = None
        self.prefix_node = None
        if name is not None and name in K.INIT_FUNCTIONS:
            self.form = "func"
            self.short = name.rsplit(".", 1)[-1]
            self.sig = ("tensor",) + K.INIT_FUNCTIONS[name][1] + ("generator",)
            mod = name.rsplit(".", 1)[0]
            if isinstance(func, ast.Attribute) and mod in _INIT_MODULES:
                self.prefix_node = func.value
        elif isinstance(func, ast.Attribute) and func.attr in K.TENSOR_INIT_METHODS and (
                name is None or not name.startswith(("torch.nn.", "timm.", "transformers."))):
            if ctx.resolve(func.value, node) is not None and not isinstance(func.value, ast.Call):
                # `init.normal_(w)` with `init` an imported module we could not place: the
                # tensor is the argument, not `init`; never guess
                raise _Unfixable("the receiver is an imported name, not a tensor")
            self.form = "method"
            self.short = func.attr
            self.sig = K.TENSOR_INIT_METHODS[func.attr][1] + ("generator",)
        else:
            raise _Unfixable("not an init call")
        self.snippet = ctx.t.segment(node)
        m = _NL_RE.search(self.snippet)
        self.newline = m.group(0) if m else "\n"  # libcst renders "\n": put the file's back
        code = _NL_RE.sub("\n", self.snippet) if self.newline != "\n" else self.snippet
        try:
            self.cst = _parse_expr(code)
        except Exception as exc:  # libcst cannot parse what ast could: give up on this fix
            raise _Unfixable(f"libcst: {exc}") from None
        if not isinstance(self.cst, _cst().Call):
            raise _Unfixable("not a call")
        self.args = self._map_args()
        m = re.search(r"""(?<![\w])(['"])""", self.snippet)
        self.quote = m.group(1) if m else ctx.quote  # the call's own style, else the file's

    @property
    def dist(self) -> str:
        return "uniform" if "uniform" in (self.short or "") else "normal"

    def _map_args(self) -> dict:
        out = {}
        names = self.sig
        pos = 0
        for arg in self.cst.args:
            if arg.star:
                raise _Unfixable("*args in the call")
            if arg.keyword is None:
                if pos >= len(names):
                    raise _Unfixable("too many positional arguments")
                out[names[pos]] = arg
                pos += 1
            else:
                key = arg.keyword.value
                out[{"to": "b", "from": "a"}.get(key, key) if self.form == "method" else key] = arg
        if self.form == "func" and "tensor" not in out:
            raise _Unfixable("no tensor argument")
        return out

    def tensor_arg(self):
        """The tensor as the first argument of an `nn.init` function."""
        if self.form == "func":
            return self.args["tensor"]
        return _cst().Arg(value=self.cst.func.value)

    def func_for(self, new_short: str):
        """The callee for `new_short` (an nn.init function), spelled the file's way."""
        if self.form == "func" and self.prefix_node is not None:
            return self.cst.func.with_changes(attr=_cst().Name(new_short))
        text = self.b.spell(new_short, self.node)
        return _parse_expr(text)

    def gain_func(self) -> str:
        if self.form == "func" and self.prefix_node is not None:
            return _render(self.cst.func.value) + ".calculate_gain"
        return self.b.spell("calculate_gain", self.node)

    def replace(self, func, args: list) -> tuple[int, int, str]:
        tensor = _render(self.tensor_arg().value)
        kept = [_render(a.value) for a in args if a.keyword is None or a.keyword.value == "tensor"]
        if self.form == "method" and isinstance(func, _cst().Attribute) and \
                _render(func.value) == tensor:
            kept.append(tensor)  # still `tensor.method_(...)`
        if tensor not in kept:  # every rewritten call keeps the tensor it initializes
            raise _Unfixable("the rewrite would lose the tensor argument")
        new = self.cst.with_changes(func=func, args=_with_commas(args, self.cst.args))
        code = _render(new)
        if self.newline != "\n":
            code = code.replace("\n", self.newline)
        s, e = self.b.ctx.t.node_span(self.node)
        return s, e, code

    def keep(self, *names: str) -> list:
        """Original arguments `names` (in that order), as keywords."""
        return [_as_kw(self.args[n], n) for n in names if n in self.args]

    def s(self, value: str) -> str:
        return _string(value, self.quote)


def _num(value) -> str:
    """A slope as a Python literal: 0.2, 0.229167, 1e-05."""
    text = f"{float(value):.6g}"
    return text if any(ch in text for ch in ".en") else text + ".0"


# --------------------------------------------------------------------------- plan builder

class _Builder:
    """Builds the edits of one fix; collects the imports it needs."""

    def __init__(self, ctx: _FileCtx, facts=()):
        self.ctx = ctx
        self.facts = facts  # every linted file's facts (what else runs on the same layers)
        self.spans: list[tuple[int, int, str]] = []
        self.need_from: list[str] = []  # names to add to `from torch.nn.init import ...`
        self.need_torch = False
        self.inserted: list[tuple[int, int, str]] = []  # new statements (not imports)

    # ---- names
    def spell(self, func: str, site: ast.AST) -> str:
        """How to call `torch.nn.init.<func>` at `site`, reusing the file's own imports."""
        ctx = self.ctx
        imap = ctx.imports_at(site)
        names = imap.names
        taken = ctx.defined | ctx.locals_at(site)
        target = "torch.nn.init." + func
        for local, canon in names.items():
            if canon == target and local not in taken:
                return local
        if ctx.star_init and func not in names and func not in taken:
            return func
        for mod, suffix in (("torch.nn.init", ""), ("torch.nn", ".init"), ("torch", ".nn.init")):
            for local, canon in names.items():
                if canon == mod and local not in taken:
                    return f"{local}{suffix}.{func}"
        if func in self.need_from:
            return func
        frm = self._init_from_import()
        if frm is not None and func not in names and func not in taken:
            self.need_from.append(func)
            return func
        if "torch" not in names and "torch" not in taken:
            self.need_torch = True
            return f"torch.nn.init.{func}"
        raise _Unfixable(f"no way to name torch.nn.init.{func} here")

    def _init_from_import(self) -> ast.ImportFrom | None:
        for stmt in self.ctx.top_imports:
            if isinstance(stmt, ast.ImportFrom) and stmt.module == "torch.nn.init" and \
                    not stmt.level and not any(a.name == "*" for a in stmt.names):
                return stmt
        return None

    def finish(self) -> list[tuple[int, int, str]]:
        spans = list(self.spans)
        t = self.ctx.t
        if self.need_from:
            cst = _cst()
            stmt = self._init_from_import()
            code = t.segment(stmt)
            m = _NL_RE.search(code)
            newline = m.group(0) if m else "\n"
            node = cst.parse_statement(_NL_RE.sub("\n", code))
            imp = node.body[0]
            names = list(imp.names) + [cst.ImportAlias(name=cst.Name(n))
                                       for n in sorted(self.need_from)]
            new = imp.with_changes(names=_with_commas(names, imp.names))
            out = _render(new)
            s, e = t.node_span(stmt)
            spans.append((s, e, out.replace("\n", newline) if newline != "\n" else out))
        if self.need_torch:
            spans.append(self._import_torch())
        return spans

    def _import_torch(self) -> tuple[int, int, str]:
        t = self.ctx.t
        body = self.ctx.tree.body
        first_def = next((i for i, s in enumerate(body) if isinstance(
            s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))), len(body))
        imports = [s for s in body[:first_def] if isinstance(s, (ast.Import, ast.ImportFrom))]
        if imports:
            return t.insert_after_line(imports[-1].end_lineno, "import torch")
        i = 0
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            if len(body) == 1:
                return t.insert_after_line(body[0].end_lineno, "import torch")
            i = 1
        off = t.starts[body[i].lineno - 1]
        return off, off, "import torch" + t.newline

    # ---- statements
    def insert_after(self, stmt: ast.stmt, code: str) -> None:
        t = self.ctx.t
        indent = t.indent_of(stmt.lineno)
        if len(indent) != t.char_col(stmt.lineno, stmt.col_offset):
            raise _Unfixable("statement does not start its line")
        self.spans.append(t.insert_after_line(stmt.end_lineno, indent + code))
        self.inserted.append(self.spans[-1])

    def append_to_body(self, fn: ast.FunctionDef, code: str) -> None:
        t = self.ctx.t
        first, last = fn.body[0], fn.body[-1]
        indent = t.indent_of(first.lineno)
        if len(indent) != t.char_col(first.lineno, first.col_offset) or first.lineno == fn.lineno:
            raise _Unfixable("one-line function body")
        if isinstance(last, (ast.Return, ast.Raise)):
            off = t.starts[last.lineno - 1]
            self.spans.append((off, off, indent + code + t.newline))
        else:
            self.spans.append(t.insert_after_line(last.end_lineno, indent + code))
        self.inserted.append(self.spans[-1])


def _attr_path(self_name: str, path: str) -> str:
    out = self_name
    for part in path.split("."):
        if part.isdigit():
            out += f"[{part}]"
        elif part.isidentifier():
            out += "." + part
        else:
            raise _Unfixable(f"layer path {path!r}")
    return out


_CONTAINERS = ("torch.nn.Sequential", "torch.nn.ModuleList")


def _layer_ref(ctx: _FileCtx, node: ast.Call, path: str) -> tuple[ast.stmt, ast.AST, str]:
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
            raise _Unfixable("layer in a container that is not a literal Sequential/ModuleList")
        indices.insert(0, str(next(i for i, a in enumerate(items) if a is cur)))
        cur = call
    stmt = ctx.parent.get(id(cur))
    fn = ctx.enclosing(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    if fn is None or not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is not cur:
        raise _Unfixable("layer not assigned directly")
    me = _self_name(fn)
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    names = [tg.attr for tg in targets if isinstance(tg, ast.Attribute) and
             isinstance(tg.value, ast.Name) and tg.value.id == me]
    if len(names) != 1 or path.split(".") != names + indices:
        raise _Unfixable("layer path does not match the code")
    if ctx.enclosing(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) is not fn:
        raise _Unfixable("layer not built in a method")
    return stmt, fn, _attr_path(me, path)


def _self_name(fn: ast.AST) -> str:
    args = fn.args.posonlyargs + fn.args.args
    if not args:
        raise _Unfixable("method without self")
    return args[0].arg


# --------------------------------------------------------------------------- the remedies

def _nonlinearity_args(c: _Call, act: str | None, a, family: str | None) -> tuple[list, str] | None:
    """`a=`/`nonlinearity=` arguments that match activation `act`."""
    if family == K.RELU or act in ("relu", "relu6", "leaky_relu", "prelu", "rrelu"):
        if a:
            return [_kw_arg("a", _num(a)), _kw_arg("nonlinearity", c.s("leaky_relu"))], \
                f'nonlinearity="leaky_relu", a={_num(a)}'
        return [_kw_arg("nonlinearity", c.s("relu"))], 'nonlinearity="relu"'
    if act in ("tanh", "sigmoid", "selu", "linear"):
        return [_kw_arg("nonlinearity", c.s(act))], f'nonlinearity="{act}"'
    return None


def _to_kaiming(b, c: _Call, nl_args: list, dist: str | None = None) -> tuple[tuple, str]:
    short = f"kaiming_{dist or c.dist}_"
    keep = c.keep("mode") if c.short and c.short.startswith("kaiming") else []
    args = [c.tensor_arg()] + keep + nl_args + c.keep("generator")
    return c.replace(c.func_for(short), args), short


def _to_xavier(b, c: _Call, act: str | None) -> tuple[tuple, str]:
    short = f"xavier_{c.dist}_"
    args = [c.tensor_arg()]
    if act in _GAIN_NAMES:
        args.append(_kw_arg("gain", f"{c.gain_func()}({c.s(act)})"))
    args += c.keep("generator")
    return c.replace(c.func_for(short), args), short


def _fix_kaiming(b: _Builder, f: Finding, node: ast.Call, h: R.UseKaiming):
    c = _Call(b, node)
    nl = _nonlinearity_args(c, h.nonlinearity or "relu", h.a, K.RELU)
    span, short = _to_kaiming(b, c, nl[0])
    b.spans.append(span)
    return ("unsafe" if h.shared else "safe"), f"Use `{short}` with {nl[1]}"


def _fix_xavier(b: _Builder, f: Finding, node: ast.Call, h: R.UseXavier):
    c = _Call(b, node)
    act = h.gain
    span, short = _to_xavier(b, c, act)
    b.spans.append(span)
    gain = f' with gain=calculate_gain("{act}")' if act in _GAIN_NAMES else ""
    return ("unsafe" if h.shared else "safe"), f"Use `{short}`{gain}"


def _fix_nonlinearity(b: _Builder, f: Finding, node: ast.Call, h: R.MatchNonlinearity):
    c = _Call(b, node)
    act, a, family = h.act, h.a, h.family
    safety = "unsafe" if h.shared else "safe"
    if c.short and c.short.startswith("kaiming"):
        nl = _nonlinearity_args(c, act, a, family)
        if nl is None:
            raise _Unfixable(f"no nonlinearity for {act}")
        span, short = _to_kaiming(b, c, nl[0], c.dist)
        b.spans.append(span)
        return safety, f"Use {nl[1]}"
    if c.short and c.short.startswith("xavier") and "gain" in c.args:
        gain = c.args["gain"]
        value = gain.value
        cst = _cst()
        if not (isinstance(value, cst.Call) and _render(value.func).endswith("calculate_gain")):
            raise _Unfixable("gain is not a calculate_gain() call")
        if family == K.RELU or act in ("relu", "leaky_relu", "prelu", "rrelu", "relu6"):
            new_args = [c.s("leaky_relu"), _num(a)] if a else [c.s("relu")]
        elif act in _GAIN_NAMES:
            new_args = [c.s(act)]
        else:
            raise _Unfixable(f"no gain for {act}")
        new_value = value.with_changes(args=_with_commas(
            [cst.Arg(value=_parse_expr(x)) for x in new_args], value.args))
        args = [gain.with_changes(value=new_value) if arg is gain else arg for arg in c.cst.args]
        b.spans.append(c.replace(c.cst.func, args))
        return safety, f"Use gain=calculate_gain({', '.join(new_args)})"
    raise _Unfixable("not a kaiming/xavier call")


def _is_init_call(b: _Builder, node: ast.Call) -> bool:
    name = b.ctx.resolve(node.func, node)
    if name is not None and name in K.INIT_FUNCTIONS:
        return True
    return isinstance(node.func, ast.Attribute) and node.func.attr in K.TENSOR_INIT_METHODS


def _fix_lecun(b: _Builder, f: Finding, node: ast.Call, h: R.UseLecun):
    safety = "unsafe" if h.shared else "safe"
    if _is_init_call(b, node):
        c = _Call(b, node)
        span, _ = _to_kaiming(b, c, [_kw_arg("nonlinearity", c.s("linear"))], "normal")
        b.spans.append(span)
        return safety, 'Use LeCun normal init: `kaiming_normal_` with nonlinearity="linear"'
    # the layer is left at PyTorch's default: add an init after the statement that builds it
    if not f.layer:
        raise _Unfixable("no layer path")
    stmt, fn, ref = _layer_ref(b.ctx, node, f.layer)
    weight = ref + ".weight"
    quote = b.ctx.quote
    call = f"{b.spell('kaiming_normal_', node)}({weight}, nonlinearity={quote}linear{quote})"
    b.insert_after(stmt, call)
    return safety, f"Add LeCun normal init `{call}`"


def _fix_scaled(b: _Builder, f: Finding, node: ast.Call, h: R.ScaleByFan):
    if h.runtime:
        raise _Unfixable("activation chosen at run time")
    c = _Call(b, node)
    act, a, family = h.act, h.a, h.family
    if family == K.RELU:
        nl = _nonlinearity_args(c, act, a if act in ("leaky_relu", "prelu", "rrelu") else None,
                                K.RELU)
        span, short = _to_kaiming(b, c, nl[0])
        what = f"`{short}` with {nl[1]}"
    elif act == "selu":
        span, short = _to_kaiming(b, c, [_kw_arg("nonlinearity", c.s("linear"))], "normal")
        what = '`kaiming_normal_` with nonlinearity="linear" (LeCun)'
    else:
        span, short = _to_xavier(b, c, act if act in _GAIN_NAMES else None)
        what = f"`{short}`" + (f' with gain=calculate_gain("{act}")' if act in _GAIN_NAMES else "")
    b.spans.append(span)
    return "unsafe", f"Scale by fan-in: use {what}"


def _fix_uniform(b: _Builder, f: Finding, node: ast.Call, h: R.UniformBounds):
    c = _Call(b, node)
    if c.short not in ("normal_", "normal"):
        raise _Unfixable("not normal_")
    lo, hi = c.args.get("mean"), c.args.get("std")
    if lo is None or hi is None:
        raise _Unfixable("bounds not given")
    if c.form == "method":
        func = c.cst.func.with_changes(attr=_cst().Name("uniform_"))
        args = [_as_pos(lo), _as_pos(hi)] + c.keep("generator")
    else:
        func = c.func_for("uniform_")
        both_pos = lo.keyword is None and hi.keyword is None
        args = [c.args["tensor"]] + ([lo, hi] if both_pos else [_as_kw(lo, "a"), _as_kw(hi, "b")])
        args += c.keep("generator")
    b.spans.append(c.replace(func, args))
    return "safe", "Use `uniform_` with these bounds"


def _fix_zero_bn(b: _Builder, f: Finding, node: ast.Call, h: R.ZeroLastNorm):
    bn, cls_name = h.bn, h.cls
    if not bn or not cls_name:
        raise _Unfixable("no BN path")
    cls = b.ctx.enclosing(node, ast.ClassDef)
    stmt, fn, ref = _layer_ref(b.ctx, node, bn)
    if cls is None or cls.name != cls_name or fn.name != "__init__" or \
            b.ctx.enclosing(fn, ast.ClassDef) is not cls:
        raise _Unfixable("BatchNorm not built in the block's __init__")
    if stmt not in fn.body:
        raise _Unfixable("BatchNorm built conditionally")
    later = _norm_overwriter(b.facts, cls_name)
    if later is not None:
        raise _Unfixable(f"a later init would overwrite it ({later})")
    weight = ref + ".weight"
    call = f"{b.spell('zeros_', fn.body[-1])}({weight})"
    b.append_to_body(fn, call)
    return "unsafe", f"Zero-init the last BatchNorm's weight: add `{call}` to `__init__`"


def _hits_norm_weight(op) -> bool:
    """Can this loop/applied init write a BatchNorm's weight (then a γ zeroed in the block's
    `__init__` is overwritten when a model containing the block runs it)?"""
    flt = op.filter
    if op.target != "filter" or flt is None or op.kind == "zero" or \
            op.param not in ("weight", "*") or flt.identity or flt.identity_uid:
        return False
    if flt.classname_sub:
        sub = flt.classname_sub.lower()
        return ("norm" in sub or "batch" in sub) != flt.negated
    if flt.types is None:
        return True
    return any("Norm" in t for t in flt.types) != flt.negated


def _norm_overwriter(facts, block: str) -> str | None:
    """Where a class other than `block` (or an init function) writes BatchNorm weights in a
    loop or an applied function, in a file that names the block (builds it directly, through
    a helper, or as a `block=` default); None if nowhere in the linted files."""
    for ff in facts:
        if block not in ff.refs:
            continue  # a model there cannot build the block by name
        owners = [(c.name, c.ops + [o for m in c.methods.values() for o in m.ops])
                  for c in ff.classes if c.name != block]
        owners += [(fn.name, fn.ops) for fn in ff.functions.values()]
        for name, ops in owners:
            for op in ops:
                if _hits_norm_weight(op):
                    return f"`{name}`, {os.path.basename(op.src or ff.path)}:{op.loc.row}"
    return None


def _fix_randn(b: _Builder, f: Finding, node: ast.Call, h: R.ScaleRandn):
    ctx = b.ctx
    if not node.args or not isinstance(node.args[0], ast.Call):
        raise _Unfixable("not Parameter(torch.randn(...))")
    rnd = node.args[0]
    if ctx.resolve(rnd.func, rnd) != "torch.randn":
        raise _Unfixable("not torch.randn")
    dims = None
    size = next((k.value for k in rnd.keywords if k.arg == "size"), None)
    if size is not None and not rnd.args:
        dims = list(size.elts) if isinstance(size, (ast.Tuple, ast.List)) else None
    elif len(rnd.args) == 1 and isinstance(rnd.args[0], (ast.Tuple, ast.List)):
        dims = list(rnd.args[0].elts)
    elif rnd.args:
        dims = list(rnd.args)
    if not dims or len(dims) < 2 or any(isinstance(d, ast.Starred) for d in dims):
        raise _Unfixable("shape not known")
    if len(dims) == 3:
        # (n_layers, out, in) stacked linear maps or an (out, in, k) conv1d kernel: which
        # dimensions make the fan-in depends on the use
        raise _Unfixable("a stack of weight matrices: the fan-in dimension is not clear")
    orientation = _orientation(ctx, node, h.param or f.layer or "")
    if orientation is None:
        raise _Unfixable("fan-in dimension unclear")
    if orientation == "in_first":
        if len(dims) != 2:
            raise _Unfixable("fan-in dimension unclear")
        fan_nodes = [dims[0]]
    else:
        fan_nodes = dims[1:]
    parts = [ctx.t.segment(d) if isinstance(d, (ast.Name, ast.Attribute, ast.Constant, ast.Call,
                                                  ast.Subscript)) else f"({ctx.t.segment(d)})"
             for d in fan_nodes]
    if all(isinstance(d, ast.Constant) and d.value == 1 for d in fan_nodes):
        raise _Unfixable("fan-in 1: std 1 is already 1/sqrt(fan_in); scaling by 1 does nothing")
    fan = parts[0] if len(parts) == 1 else "(" + " * ".join(parts) + ")"
    _, end = ctx.t.node_span(rnd)
    b.spans.append((end, end, f" * {fan} ** -0.5"))
    return "unsafe", f"Scale `torch.randn(...)` by `{fan} ** -0.5` (1/sqrt(fan_in))"


def _orientation(ctx: _FileCtx, node: ast.AST, param: str) -> str | None:
    """How a raw weight is used: `x @ W` (in_first) or `F.linear(x, W)`/`x @ W.t()` (out_first)."""
    cls = ctx.enclosing(node, ast.ClassDef)
    if cls is None or not param:
        return "out_first"

    def is_p(n) -> bool:
        return isinstance(n, ast.Attribute) and n.attr == param and isinstance(n.value, ast.Name) \
            and n.value.id == "self"

    def is_pt(n) -> bool:
        if isinstance(n, ast.Attribute) and n.attr in ("T", "mT") and is_p(n.value):
            return True
        return isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
            n.func.attr in ("t", "transpose") and is_p(n.func.value)

    votes = set()
    for n in ast.walk(cls):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult):
            if is_p(n.right) or is_pt(n.left):
                votes.add("in_first")
            if is_p(n.left) or is_pt(n.right):
                votes.add("out_first")
        elif isinstance(n, ast.Call) and len(n.args) >= 2:
            fname = n.func.attr if isinstance(n.func, ast.Attribute) else (
                n.func.id if isinstance(n.func, ast.Name) else "")
            if fname == "linear" and is_p(n.args[1]):
                votes.add("out_first")
            elif fname in ("matmul", "mm"):
                if is_p(n.args[1]) or is_pt(n.args[0]):
                    votes.add("in_first")
                if is_p(n.args[0]) or is_pt(n.args[1]):
                    votes.add("out_first")
    if len(votes) > 1:
        return None
    return votes.pop() if votes else "out_first"


_FIXERS = {
    R.UseKaiming: _fix_kaiming,
    R.UseXavier: _fix_xavier,
    R.MatchNonlinearity: _fix_nonlinearity,
    R.UseLecun: _fix_lecun,
    R.ScaleByFan: _fix_scaled,
    R.ScaleRandn: _fix_randn,
    R.UniformBounds: _fix_uniform,
    R.ZeroLastNorm: _fix_zero_bn,
}


# --------------------------------------------------------------------------- per file

@dataclass
class _Source:
    """A file as the fixer sees it: its bytes, and the text the linter parsed."""

    path: str
    display: str
    data: bytes
    text: str
    cell_map: list | None = None

    @property
    def notebook(self) -> bool:
        return self.cell_map is not None


def _load(path: str, display: str, data: bytes | None) -> _Source | None:
    from initlint.source import SourceError, read_source

    if data is None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return None
    try:
        src = read_source(path, data)
    except SourceError:
        return None
    return _Source(path, display, data, src.text, src.cell_map)


def _loc(f: Finding, src: _Source) -> tuple[int, int, int, int]:
    if src.notebook and f.joined is not None:
        return f.joined[0], f.col, f.joined[1], f.end_col
    return f.row, f.col, f.end_row, f.end_col


def _module_of(path: str) -> tuple[str, bool]:
    from initlint.analysis.names import module_name_for

    if os.path.isfile(path):
        return module_name_for(path), path.endswith("__init__.py")
    return os.path.splitext(os.path.basename(path))[0], False


def _plans_for_file(src: _Source, findings: list[Finding], errors: list[str],
                    facts=()) -> list[_Plan]:
    try:
        ctx = _FileCtx(src.text, *_module_of(src.path))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    plans = []
    for f in findings:
        h = f.remedy
        fixer = _FIXERS.get(type(h))
        if fixer is None:
            continue
        node = ctx.call_at(*_loc(f, src))
        if node is None:
            continue
        b = _Builder(ctx, facts)
        try:
            applicability, message = fixer(b, f, node, h)
            spans = b.finish()
            if h.shared:  # the call initializes other layers too: they change with it
                applicability = "unsafe"
                n = h.reach
                message += (f" (unsafe: this call initializes {n} layers, and every one of "
                            f"them changes)" if n else " (unsafe: a shared init, every layer "
                            "it reaches changes)")
        except _Unfixable:
            continue
        except Exception as exc:  # a bug in one fix must not cost the others (or the lint)
            errors.append(f"internal error computing the fix for {f.code} at "
                          f"{f.filename}:{f.row}:{f.col}: {type(exc).__name__}: {exc}")
            continue
        spans.sort()
        edits = _edits(spans, ctx.t, src, f.cell)
        if edits is None:
            continue
        at = ctx.t.offset(*_loc(f, src)[:2]) if h.shared else None
        plans.append(_Plan(f, Fix(applicability, message, edits), spans, at, list(b.inserted)))
    return plans


def _edits(spans, t: _Text, src: _Source, cell=None) -> list[Edit] | None:
    """Public edits; in a notebook, rows count from the top of the finding's cell (an edit in
    another cell is not offered)."""
    out = []
    for s, e, content in spans:
        (r1, c1), (r2, c2) = t.pos(s), t.pos(e)
        if src.notebook:
            cm = src.cell_map
            if not (1 <= r1 <= len(cm) and 1 <= r2 <= len(cm)):
                return None
            (cell1, r1), (cell2, r2) = cm[r1 - 1], cm[r2 - 1]
            if cell1 != cell2 or cell1 != cell:
                return None
        out.append(Edit(content, r1, c1, r2, c2))
    return out


def _plans(findings: list[Finding], sources: "_Sources", errors: list[str]) -> list[_Plan]:
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if type(f.remedy) in _FIXERS:
            by_file[f.filename].append(f)
    plans = []
    for display in sorted(by_file):
        src = sources.get(display)
        if src is None:
            continue
        plans.extend(_plans_for_file(src, by_file[display], errors, sources.facts))
    return plans


class _Sources:
    """Sources by display name, loaded once; `current` (display -> bytes) overrides the disk."""

    def __init__(self, report, stdin=None, current: dict | None = None):
        self.files = {r.display: r for r in report.files}
        # with the context files': a loop there can undo a fix here
        self.facts = [r.facts for r in list(report.files) + list(getattr(report, "context", None)
                                                                  or []) if r.facts is not None]
        self.stdin = stdin
        self.current = current if current is not None else {}
        self.cache: dict = {}
        self.changed: set[str] = set()  # files saved since they were linted: not fixed

    def get(self, display: str) -> _Source | None:
        r = self.files.get(display)
        if r is None:
            return None
        data = self.current.get(display)
        if data is not None:  # fixed in memory
            hit = self.cache.get(("mem", display))
            if hit is None or hit.data is not data:
                hit = self.cache[("mem", display)] = _load(r.path, display, data)
            return hit
        if display not in self.cache:
            if isinstance(getattr(r, "text", None), str):  # an editor's buffer (initlint.lsp)
                data = r.text.encode("utf-8")
            elif self.stdin is not None and display == self.stdin[0] and r.path == self.stdin[0]:
                data = self.stdin[1]
            src = _load(r.path, display, data)
            linted = getattr(r, "digest", None)
            if src is not None and data is None and linted is not None:
                from initlint.cache import content_hash

                if content_hash(src.data) != linted:  # saved since it was linted: the
                    self.changed.add(display)  # findings' rows are not this text's
                    src = None
            self.cache[display] = src
        return self.cache[display]


def attach_fixes(findings: list[Finding], report, stdin: tuple[str, bytes] | None = None,
                 sources: dict[str, bytes] | None = None) -> list[str]:
    """Fill `finding.fix` for every finding with a fix. `sources` maps display names to bytes
    that replace the file on disk (an editor's unsaved buffer). Returns problems (for logs)."""
    errors: list[str] = []
    for f in findings:
        f.fix = None
    for p in _plans(findings, _Sources(report, stdin, dict(sources or {})), errors):
        p.finding.fix = p.fix
    return errors


# --------------------------------------------------------------------------- applying

def _apply_spans(text: str, spans) -> str:
    out = text
    for s, e, content in sorted(set(spans), reverse=True):
        out = out[:s] + content + out[e:]
    return out


def _select(plans: list[_Plan]) -> list[_Plan]:
    """Non-overlapping plans in a deterministic order; identical edits may be shared."""
    accepted: list[_Plan] = []
    taken: list[tuple[int, int, str]] = []
    for p in sorted(plans, key=lambda p: p.key):
        ok = True
        for s, e, c in p.spans:
            for ts, te, tc in taken:
                if (s, e, c) == (ts, te, tc):
                    continue
                if s < te and ts < e or (s == e == ts == te) or (s == e and ts < s < te) or (
                        ts == te and s < ts < e):
                    ok = False
                    break
            if not ok:
                break
        if ok:
            accepted.append(p)
            taken.extend(p.spans)
    return accepted


def _syntax_problem(src: _Source, data: bytes) -> str | None:
    from initlint.source import SourceError, parse, read_source

    if isinstance(data, Exception):
        return f"cannot build the file: {data}"
    try:
        text = read_source(src.path, data).text
        parse(text, src.display)
    except SourceError as exc:
        return f"{exc.message} (line {exc.row})"
    return None


def _build(src: _Source, spans) -> bytes:
    if src.notebook:
        return _notebook_bytes(src, spans)
    text = _apply_spans(src.text, spans)
    try:
        enc, _ = tokenize.detect_encoding(io.BytesIO(src.data).readline)
    except SyntaxError:
        enc = "utf-8"
    return text.encode(enc)


def _try(src: _Source, plans: list[_Plan], messages: list[str]) -> tuple[bytes, list[_Plan]]:
    """Apply `plans` to `src`; drop the ones whose result does not parse."""
    def build(ps):
        try:
            return _build(src, [s for p in ps for s in p.spans])
        except (_Unfixable, UnicodeError, ValueError, KeyError) as exc:
            return exc

    data = build(plans)
    problem = _syntax_problem(src, data)
    if problem is None:
        return data, plans
    good = []
    for p in plans:
        why = _syntax_problem(src, build([p]))
        if why is None:
            good.append(p)
        else:
            f = p.finding
            messages.append(f"initlint: dropped fix for {f.code} at {_where(f)}: the result does "
                            f"not parse: {why}")
    if len(good) < len(plans) and good:
        data = build(good)
        if _syntax_problem(src, data) is None:
            return data, good
    if good:
        messages.append(f"initlint: dropped {len(good)} fix(es) in {src.display}: together they "
                        f"do not parse: {problem}")
    return src.data, []


def _where(f: Finding) -> str:
    if f.cell is not None:
        return f"{f.filename}:cell {f.cell}:{f.row}:{f.col}"
    return f"{f.filename}:{f.row}:{f.col}"


def apply(report, cfg, unsafe: bool = False, diff_only: bool = False,
          stdin: tuple[str, bytes] | None = None, analyze=None) -> Outcome:
    """Apply fixes; a bug in the fixer is reported as an internal error (exit 2), not a
    traceback, and whatever was not yet written stays as it was."""
    try:
        return _apply(report, cfg, unsafe, diff_only, stdin)
    except Exception as exc:
        import traceback

        report.internal_errors.append(
            ("fix", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return Outcome(findings=report.findings)


def _apply(report, cfg, unsafe: bool, diff_only: bool, stdin) -> Outcome:
    """Apply fixes (safe ones; unsafe too with `unsafe`), re-lint until stable, write files.

    Each pass applies the non-overlapping fixes of every file, checks that the result parses,
    re-lints the changed files in memory and keeps a fix only if it does not make things worse
    where it acted: a rewritten shared init that now draws a different finding (for another
    layer it reaches), or an inserted statement that draws one (an init that a later one
    overwrites), is taken back. A file whose fixes undo each other is left as it was.
    """
    import dataclasses

    from initlint import engine

    # context files (`--context`): their facts take part in the re-lint, they are never fixed
    results = list(report.files) + list(getattr(report, "context", None) or [])
    index = {r.display: i for i, r in enumerate(report.files)}
    srcs = _Sources(report, stdin)
    current = srcs.current  # display -> bytes after fixing
    originals: dict[str, _Source] = {}
    history: dict[str, set] = defaultdict(set)
    frozen: set[str] = set()  # files whose fixes cycle: left as they were
    rejected: set[tuple] = set()  # fixes that made things worse: not offered again
    messages: list[str] = []
    errors: list[str] = []
    fixed: list[Finding] = []
    explicit = cfg.explicit_codes()
    all_cfg = dataclasses.replace(cfg, show_info=True)

    def visible(fs):
        return [f for f in fs if f.severity != "info" or cfg.show_info or f.code in explicit]

    def plans_for(fs):
        ps = _plans(fs, srcs, errors)
        ok = [p for p in ps if _reject_key(p, srcs) not in rejected]
        for f in fs:
            f.fix = None
        for p in ok:
            p.finding.fix = p.fix
        return ok

    findings = report.findings
    everything = None  # all findings, info included (to see what a fix changes)
    converged = False
    for _ in range(MAX_PASSES):
        todo = [p for p in plans_for(findings) if (unsafe or p.fix.applicability == "safe")
                and p.finding.filename not in frozen]
        if not todo:
            converged = True
            break
        if everything is None:
            everything = engine.finish(results, all_cfg).findings
        by_file: dict[str, list[_Plan]] = defaultdict(list)
        for p in todo:
            by_file[p.finding.filename].append(p)
        passed: dict[str, tuple] = {}  # display -> (source before, result before, applied)
        for display in sorted(by_file):
            src = srcs.get(display)
            if src is None:
                continue
            originals.setdefault(display, src)
            data, applied = _try(src, _select(by_file[display]), messages)
            if not applied or data == src.data:
                continue
            if data in history[display]:
                messages.append(f"initlint: fixes for {display} keep undoing each other (an init "
                                f"shared by layers that need different inits?); left unchanged")
                frozen.add(display)
                current.pop(display, None)
                fixed = [f for f in fixed if f.filename != display]
                results[index[display]] = report.files[index[display]]
                passed[display] = (None, None, [])
                continue
            history[display].add(src.data)
            passed[display] = (src, results[index[display]], applied)
            current[display] = data
            r = results[index[display]]
            results[index[display]] = engine.analyze_file(r.path, r.display, data)
        if not passed:
            converged = True
            break
        after = engine.finish(results, all_cfg).findings
        worse = False
        for display, (src, result, applied) in passed.items():
            if src is None:
                continue
            bad = _made_worse(src, srcs.get(display), applied, everything, after)
            if bad:
                worse = True
                for p in bad:
                    rejected.add(_reject_key(p, srcs, src))
                    f = p.finding
                    messages.append(f"initlint: dropped fix for {f.code} at {_where(f)}: it would "
                                    f"draw a new finding where it acts (the init is shared or "
                                    f"overwritten)")
                if originals[display] is src:  # back to the state before this pass
                    current.pop(display, None)
                else:
                    current[display] = src.data
                results[index[display]] = result
                history[display].discard(src.data)
                continue
            fixed.extend(p.finding for p in applied)
        if worse:
            after = engine.finish(results, all_cfg).findings
        everything = after
        findings = visible(after)
    if not converged:
        messages.append(f"initlint: fixes did not converge after {MAX_PASSES} passes; "
                        f"check the result")
        plans_for(findings)
    messages.extend(f"initlint: {e}" for e in errors)

    out = Outcome(findings=findings, messages=messages)
    stdin_name = stdin[0] if stdin else None
    changed_files = [d for d in sorted(current)
                     if d not in frozen and current[d] != originals[d].data]
    diffs = []
    failed = []
    for display in changed_files:
        src, new = originals[display], current[display]
        if diff_only:
            diffs.append(_diff(src, new))
        elif stdin is not None and display == stdin_name and src.path == stdin_name:
            continue
        else:
            problem = _write(src, new)
            if problem:
                messages.append(f"initlint: error: cannot write {display}: {problem}")
                failed.append(display)
    for display in sorted(srcs.changed):
        what = "show the fixes for" if diff_only else "write"
        messages.append(f"initlint: error: cannot {what} {display}: {CHANGED_ON_DISK}")
        failed.append(display)
    if stdin is not None and not diff_only:  # like ruff: the (fixed) source goes to stdout
        out.stdout_text = current.get(stdin_name, stdin[1])
    if failed:  # what could not be written is still there
        for display in failed:
            i = index[display]
            results[i] = report.files[i]
            current.pop(display, None)
        out.findings = engine.finish(results, cfg).findings
        plans_for(out.findings)
        for f in out.findings:  # `--fix` was tried there: "fixable with --fix" would be a lie
            if f.filename in failed:
                f.fix = None
    out.write_failures = failed
    out.fixed_findings = [f for f in fixed if f.filename not in failed]
    out.fixed_files = [d for d in changed_files if d not in failed]
    n_fixed, n_files = len(out.fixed_findings), len(out.fixed_files)
    if diffs:
        out.diff_text = "".join(diffs)
    if n_fixed:
        verb = "Would fix" if diff_only else "Fixed"
        messages.insert(0, f"{verb} {n_fixed} finding{'s' if n_fixed != 1 else ''} in {n_files} "
                           f"file{'s' if n_files != 1 else ''}.")
    return out


def _reject_key(p: _Plan, srcs: "_Sources", src: _Source | None = None) -> tuple:
    """Identifies a fix across passes (rows move when other fixes insert lines)."""
    f = p.finding
    src = src or srcs.get(f.filename)
    row = _loc(f, src)[0] if src is not None else f.row
    line = _Text(src.text).line(row).strip() if src is not None else ""
    return (f.filename, f.code, f.remedy.key if f.remedy else None, line, f.col)


def _made_worse(old: _Source, new: _Source | None, applied: list[_Plan], before, after):
    """The applied fixes that drew a new finding where they acted."""
    if new is None:
        return []
    spans = sorted({s for p in applied for s in p.spans})

    def moved(off: int) -> int:
        delta = 0
        for s, e, c in spans:
            if e <= off and not (s == e == off):
                delta += len(c) - (e - s)
        return off + delta

    old_t, new_t = _Text(old.text), _Text(_apply_spans(old.text, spans))
    name = old.display

    def at(fs, src, t):
        out = defaultdict(set)
        for f in fs:
            if f.filename == name:
                row, col = _loc(f, src)[:2]
                out[(row, col)].add(f.code)
                out[row].add(f.code)
        return out

    was, now = at(before, old, old_t), at(after, new, new_t)
    bad = []
    for p in applied:
        if p.at is not None:
            r0, c0 = old_t.pos(p.at)
            r1, c1 = new_t.pos(moved(p.at))
            if now.get((r1, c1), set()) - was.get((r0, c0), set()):
                bad.append(p)
                continue
        for s, e, c in p.inserted:
            start = moved(s)
            first, last = new_t.pos(start)[0], new_t.pos(start + len(c.rstrip("\r\n")))[0]
            if any(now.get(row) for row in range(first, last + 1)):
                bad.append(p)
                break
    return bad


def _diff(src: _Source, new: bytes) -> str:
    if src.notebook:
        old_cells, new_cells = _cells_of(src.data), _cells_of(new)
        out = []
        for n in sorted(set(old_cells) | set(new_cells)):
            a, b = old_cells.get(n, ""), new_cells.get(n, "")
            if a != b:
                out.append(_unified(a, b, f"{src.display}:cell {n}"))
        return "".join(out)
    from initlint.source import decode

    return _unified(src.text, decode(new, src.path), src.display)


def _unified(a: str, b: str, name: str) -> str:
    out = []
    for line in difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                     fromfile=name, tofile=name):
        out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(out)


TEMP_SUFFIX = ".initlint"
CHANGED_ON_DISK = "it changed on disk while initlint was fixing it; your version is kept as it is"
_PENDING_TEMPS: set[str] = set()  # temp files being written now (removed on SIGTERM/INT/HUP)


def _writable(st: os.stat_result, path: str) -> bool:
    """May the user write this file? The permission bits decide, also for root (whose
    `access()` ignores them): a file the user made read-only is not replaced."""
    if not os.access(path, os.W_OK):
        return False
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: the read-only attribute
        return bool(st.st_mode & stat.S_IWRITE)
    if st.st_uid == os.geteuid():
        return bool(st.st_mode & stat.S_IWUSR)
    if st.st_gid in os.getgroups() or st.st_gid == os.getegid():
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)


def _same_bytes(path: str, expected: bytes) -> bool:
    """Does the file hold exactly `expected` now (compared by content hash)?"""
    import hashlib

    try:
        with open(path, "rb") as fh:
            now = fh.read()
    except OSError:
        return False
    return len(now) == len(expected) and \
        hashlib.blake2b(now).digest() == hashlib.blake2b(expected).digest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, it is someone else's
        return True
    return True


def remove_stale_temps(directory: str, base: str) -> None:
    """Temp files of `base` that a killed initlint left behind (`.base.PID.XXXX.initlint`
    whose PID is gone; older pid-less ones after an hour)."""
    import time

    pat = re.compile(re.escape(f".{base}.") + r"(?:(\d+)\.)?[A-Za-z0-9_]+" + re.escape(TEMP_SUFFIX))
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = pat.fullmatch(name)
        if m is None:
            continue
        full = os.path.join(directory, name)
        try:
            if m.group(1) is not None:
                if int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
                    continue
            elif time.time() - os.lstat(full).st_mtime < 3600:
                continue
            os.unlink(full)
        except OSError:
            pass


class _CleanupOnSignal:
    """While a temp file exists, SIGTERM/SIGINT/SIGHUP remove it before the process dies
    (SIGKILL cannot be caught: `remove_stale_temps` sweeps up after it on the next run)."""

    SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")

    def __enter__(self):
        import signal
        import threading

        self.old = {}
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                self.old[sig] = signal.signal(sig, self._handler)
            except (OSError, ValueError):
                pass
        return self

    def _handler(self, sig, frame):
        import signal

        for tmp in list(_PENDING_TEMPS):
            try:
                os.unlink(tmp)
            except OSError:
                pass
        _PENDING_TEMPS.clear()
        signal.signal(sig, self.old.get(sig, signal.SIG_DFL))
        os.kill(os.getpid(), sig)  # die (or raise KeyboardInterrupt) as the signal meant

    def __exit__(self, *exc):
        import signal

        for sig, old in self.old.items():
            try:
                signal.signal(sig, old)
            except (OSError, ValueError):
                pass
        return False


def _write(src: _Source, data: bytes) -> str | None:
    """Atomic replace: temp file beside the target, permissions kept, then os.replace; None,
    or why the file was left as it is. The file is compared with the bytes the fixes were
    computed from twice: before anything is written, and again after the temp file is
    complete, right before the rename (an editor's save meanwhile is never overwritten)."""
    real = os.path.realpath(src.path)
    try:
        st = os.stat(real)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if not _writable(st, real):
        return "it is read-only (no write permission); left as it is"
    if not _same_bytes(real, src.data):
        return CHANGED_ON_DISK
    directory = os.path.dirname(real) or "."
    base = os.path.basename(real)
    remove_stale_temps(directory, base)
    with _CleanupOnSignal():
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=TEMP_SUFFIX,
                                       dir=directory)
        except OSError as exc:
            return exc.strerror or str(exc)
        _PENDING_TEMPS.add(tmp)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if hasattr(os, "chown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except OSError:
                    pass
            # the last look, as late as it can be: a save while the temp file was written
            if not _same_bytes(real, src.data):
                os.unlink(tmp)
                return CHANGED_ON_DISK
            os.replace(tmp, real)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return exc.strerror or str(exc)
        finally:
            _PENDING_TEMPS.discard(tmp)
    return None


# --------------------------------------------------------------------------- notebooks

_WS = re.compile(r"[ \t\n\r]*")


def _source_spans(raw: str) -> dict[int, tuple[int, int]]:
    """Spans of each cell's `source` value in the notebook's JSON text (cells numbered from 1)."""
    dec = json.JSONDecoder()
    spans: dict[int, tuple[int, int]] = {}

    def ws(i):
        return _WS.match(raw, i).end()

    def members(i):
        """Yield (key, value_start, value_end) of the object at i; return the end."""
        assert raw[i] == "{"
        i = ws(i + 1)
        if raw[i] == "}":
            return
        while True:
            key, i = json.decoder.scanstring(raw, i + 1)
            i = ws(i)
            assert raw[i] == ":"
            i = ws(i + 1)
            _, end = dec.raw_decode(raw, i)
            yield key, i, end
            i = ws(end)
            if raw[i] == ",":
                i = ws(i + 1)
                continue
            assert raw[i] == "}"
            return

    start = ws(0)
    for key, s, e in members(start):
        if key != "cells":
            continue
        i = ws(s + 1)
        n = 0
        while raw[i] != "]":
            n += 1
            _, end = dec.raw_decode(raw, i)
            if raw[i] == "{":
                for k, vs, ve in members(i):
                    if k == "source":
                        spans[n] = (vs, ve)
            i = ws(end)
            if raw[i] == ",":
                i = ws(i + 1)
    return spans


def _cells_of(data: bytes) -> dict[int, str]:
    nb = json.loads(data.decode("utf-8"))
    out = {}
    for n, cell in enumerate(nb.get("cells", []), start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            s = cell.get("source", "")
            out[n] = "".join(s) if isinstance(s, list) else s
    return out


def _cell_spans(src: _Source, spans) -> dict[int, list[tuple[int, int, str]]]:
    """Joined-text spans -> spans in each cell's original `source` (magics and all)."""
    t = _Text(src.text)
    cells = _cells_of(src.data)
    starts: dict[int, list[int]] = {}
    out: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    cm = src.cell_map

    def local(off):
        row, col = t.pos(off)
        if not 1 <= row <= len(cm):
            raise _Unfixable("edit outside the notebook's cells")
        cell, line = cm[row - 1]
        text = cells[cell]
        if cell not in starts:
            st = [0]
            for ln in text.splitlines(keepends=True):
                st.append(st[-1] + len(ln))
            starts[cell] = st
        st = starts[cell]
        if line > len(st) - 1:  # the blank line read_notebook adds after each cell
            return cell, len(text)
        return cell, min(st[line - 1] + col - 1, len(text))

    for s, e, content in spans:
        (c1, ls), (c2, le) = local(s), local(e)
        if c1 != c2:
            raise _Unfixable("edit spans notebook cells")
        text = cells[c1]
        if ls == le == len(text) and text and not text.endswith(("\n", "\r")) and \
                content.endswith("\n") and not content.startswith("\n"):
            content = "\n" + content[:-1]
        out[c1].append((ls, le, content))
    return out


def _notebook_bytes(src: _Source, spans) -> bytes:
    raw = src.data.decode("utf-8")
    per_cell = _cell_spans(src, spans)
    cells = _cells_of(src.data)
    source_spans = _source_spans(raw)
    pieces, last = [], 0
    for cell in sorted(per_cell, key=lambda c: source_spans[c][0]):
        new_text = _apply_spans(cells[cell], per_cell[cell])
        if new_text == cells[cell]:
            continue
        s, e = source_spans[cell]
        pieces.append(raw[last:s])
        pieces.append(_json_source(raw[s:e], new_text, raw))
        last = e
    pieces.append(raw[last:])
    return "".join(pieces).encode("utf-8")


def _json_source(old_value: str, text: str, raw: str) -> str:
    ascii_only = raw.isascii() and "\\u" in raw

    def dump(s):
        return json.dumps(s, ensure_ascii=ascii_only)

    if not old_value.lstrip().startswith("["):
        return dump(text)
    lines = text.splitlines(keepends=True)
    if not lines:
        return "[]"
    nl = "\r\n" if "\r\n" in raw else "\n"
    m = re.match(r"\[(\s*?)(\r?\n)?([ \t]*)\S", old_value)
    if m and m.group(2):
        indent = m.group(3)
        close = re.search(r"\n([ \t]*)\]\s*$", old_value)
        close_indent = close.group(1) if close else indent[:-1]
        return "[" + nl + ("," + nl).join(indent + dump(ln) for ln in lines) + nl + close_indent + "]"
    return "[" + ", ".join(dump(ln) for ln in lines) + "]"
