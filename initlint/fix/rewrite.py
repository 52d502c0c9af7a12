"""Rewriting ("ast to understand, libcst to change"): libcst helpers, the init call at a
finding (`Call`: which function, its arguments by name, rendered back in the call's own
style), and `Builder`, which collects one fix's edits and the imports it needs.

libcst parses only the text of the one call being changed, so the arguments that stay keep
their formatting and comments. libcst is imported on first use: a plain lint never loads it."""

from __future__ import annotations

import ast
import re

from initlint import knowledge as K
from initlint.fix.locate import FileCtx
from initlint.fix.text import NEWLINE, Unfixable, newline_of

_INIT_MODULES = ("torch.nn.init", "transformers.initialization")


def load_libcst():
    import libcst

    return libcst


def render(node) -> str:
    cst = load_libcst()
    return cst.Module(body=[]).code_for_node(node)


def parse_expr(code: str):
    return load_libcst().parse_expression(code)


def _no_ws():
    return load_libcst().SimpleWhitespace("")


def kw_arg(name: str, value):
    cst = load_libcst()
    if isinstance(value, str):
        value = parse_expr(value)
    return cst.Arg(value=value, keyword=cst.Name(name),
                   equal=cst.AssignEqual(whitespace_before=_no_ws(), whitespace_after=_no_ws()))


def as_kw(arg, name: str):
    cst = load_libcst()
    if arg.keyword is not None and arg.keyword.value == name:
        return arg
    if arg.keyword is not None:
        return arg.with_changes(keyword=cst.Name(name))
    return arg.with_changes(keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=_no_ws(), whitespace_after=_no_ws()))


def as_pos(arg):
    cst = load_libcst()
    if arg.keyword is None:
        return arg
    return arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)


def with_commas(new_items: list, orig_items) -> list:
    """Commas for a rebuilt argument/alias list, in the style of the original one."""
    cst = load_libcst()
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
    cst = load_libcst()
    ws = comma.whitespace_after
    if isinstance(ws, cst.ParenthesizedWhitespace) and ws.first_line.comment is not None:
        ws = ws.with_changes(first_line=cst.TrailingWhitespace())
        return comma.with_changes(whitespace_after=ws)
    return comma


def _string(value: str, quote: str) -> str:
    return quote + value + quote


# --------------------------------------------------------------------------- an init call

class Call:
    """An init call at a finding's location: `P.fname(tensor, ...)`, `fname(...)` or `t.meth_(...)`."""

    def __init__(self, b: "Builder", node: ast.Call):
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
                raise Unfixable("the receiver is an imported name, not a tensor")
            self.form = "method"
            self.short = func.attr
            self.sig = K.TENSOR_INIT_METHODS[func.attr][1] + ("generator",)
        else:
            raise Unfixable("not an init call")
        self.snippet = ctx.t.segment(node)
        self.newline = newline_of(self.snippet)  # libcst renders "\n": put the file's back
        code = NEWLINE.sub("\n", self.snippet) if self.newline != "\n" else self.snippet
        try:
            self.cst = parse_expr(code)
        except Exception as exc:  # libcst cannot parse what ast could: give up on this fix
            raise Unfixable(f"libcst: {exc}") from None
        if not isinstance(self.cst, load_libcst().Call):
            raise Unfixable("not a call")
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
                raise Unfixable("*args in the call")
            if arg.keyword is None:
                if pos >= len(names):
                    raise Unfixable("too many positional arguments")
                out[names[pos]] = arg
                pos += 1
            else:
                key = arg.keyword.value
                out[{"to": "b", "from": "a"}.get(key, key) if self.form == "method" else key] = arg
        if self.form == "func" and "tensor" not in out:
            raise Unfixable("no tensor argument")
        return out

    def tensor_arg(self):
        """The tensor as the first argument of an `nn.init` function."""
        if self.form == "func":
            return self.args["tensor"]
        return load_libcst().Arg(value=self.cst.func.value)

    def func_for(self, new_short: str):
        """The callee for `new_short` (an nn.init function), spelled the file's way."""
        if self.form == "func" and self.prefix_node is not None:
            return self.cst.func.with_changes(attr=load_libcst().Name(new_short))
        text = self.b.spell(new_short, self.node)
        return parse_expr(text)

    def gain_func(self) -> str:
        if self.form == "func" and self.prefix_node is not None:
            return render(self.cst.func.value) + ".calculate_gain"
        return self.b.spell("calculate_gain", self.node)

    def replace(self, func, args: list) -> tuple[int, int, str]:
        tensor = render(self.tensor_arg().value)
        kept = [render(a.value) for a in args if a.keyword is None or a.keyword.value == "tensor"]
        if self.form == "method" and isinstance(func, load_libcst().Attribute) and \
                render(func.value) == tensor:
            kept.append(tensor)  # still `tensor.method_(...)`
        if tensor not in kept:  # every rewritten call keeps the tensor it initializes
            raise Unfixable("the rewrite would lose the tensor argument")
        new = self.cst.with_changes(func=func, args=with_commas(args, self.cst.args))
        code = render(new)
        if self.newline != "\n":
            code = code.replace("\n", self.newline)
        s, e = self.b.ctx.t.node_span(self.node)
        return s, e, code

    def keep(self, *names: str) -> list:
        """Original arguments `names` (in that order), as keywords."""
        return [as_kw(self.args[n], n) for n in names if n in self.args]

    def s(self, value: str) -> str:
        return _string(value, self.quote)


def num_literal(value) -> str:
    """A slope as a Python literal: 0.2, 0.229167, 1e-05."""
    text = f"{float(value):.6g}"
    return text if any(ch in text for ch in ".en") else text + ".0"


class Builder:
    """Builds the edits of one fix; collects the imports it needs."""

    def __init__(self, ctx: FileCtx, facts=()):
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
        raise Unfixable(f"no way to name torch.nn.init.{func} here")

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
            cst = load_libcst()
            stmt = self._init_from_import()
            code = t.segment(stmt)
            newline = newline_of(code)
            node = cst.parse_statement(NEWLINE.sub("\n", code))
            imp = node.body[0]
            names = list(imp.names) + [cst.ImportAlias(name=cst.Name(n))
                                       for n in sorted(self.need_from)]
            new = imp.with_changes(names=with_commas(names, imp.names))
            out = render(new)
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
            raise Unfixable("statement does not start its line")
        self.spans.append(t.insert_after_line(stmt.end_lineno, indent + code))
        self.inserted.append(self.spans[-1])

    def append_to_body(self, fn: ast.FunctionDef, code: str) -> None:
        t = self.ctx.t
        first, last = fn.body[0], fn.body[-1]
        indent = t.indent_of(first.lineno)
        if len(indent) != t.char_col(first.lineno, first.col_offset) or first.lineno == fn.lineno:
            raise Unfixable("one-line function body")
        if isinstance(last, (ast.Return, ast.Raise)):
            off = t.starts[last.lineno - 1]
            self.spans.append((off, off, indent + code + t.newline))
        else:
            self.spans.append(t.insert_after_line(last.end_lineno, indent + code))
        self.inserted.append(self.spans[-1])
