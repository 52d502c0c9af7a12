"""The project as the evaluator sees it: per file, a compact picklable form (its import map
and the top-level definitions and assignments, no expression-statement noise), and name
lookup across files.

A file's form depends only on its text, so it is what a cache stores per content hash; a
class's evaluation records which files it looked names up in (its dependency set), so an
edit re-evaluates only the classes that depend on the edited file.
"""

from __future__ import annotations

import ast
import os

from initlint.analysis.names import canonical, collect_imports, module_name_for
from initlint.evaluate.values import ClassV, FuncV, Ref, Unknown

_KEEP = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign,
         ast.If, ast.Try, ast.Expr, ast.AugAssign, ast.For, ast.With)


class SourceFile:
    """One file's compact form. `body`: its top-level statements that bind names or build
    and initialise models (scripts); docstrings and bare expressions without calls dropped."""

    __slots__ = ("path", "module", "imports", "body", "defs", "stars", "text", "_lines")

    def __init__(self, path: str, module: str, imports: dict, body: list, stars=(), text=""):
        self.path, self.module, self.imports, self.body = path, module, imports, body
        self.stars = tuple(stars)  # modules of `from X import *`
        self.text = text  # function bodies are parsed from it when first run
        self._lines = None
        self.defs = {}
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs.setdefault(stmt.name, stmt) if _overload(stmt) else \
                    self.defs.__setitem__(stmt.name, stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        self.defs[t.id] = stmt

    def __getstate__(self):
        return (self.path, self.module, self.imports, self.body, self.stars, self.text)

    def __setstate__(self, state):
        self.__init__(*state)

    @classmethod
    def parse(cls, path: str, text: str, module: str | None = None) -> "SourceFile":
        tree = ast.parse(text, filename=path)
        module = module or module_name_for(path)
        # imports inside functions are statements the interpreter runs where they are
        imap = collect_imports(tree, module, path.endswith("__init__.py"), nested=[])
        body = [s for s in tree.body if isinstance(s, _KEEP) and not (
            isinstance(s, ast.Expr) and not isinstance(s.value, ast.Call))]
        stars = [imap._resolve_relative(s.level, s.module) if s.level else s.module
                 for s in tree.body if isinstance(s, ast.ImportFrom)
                 and any(a.name == "*" for a in s.names)]
        out = cls(path, module, dict(imap.names), body, stars, text)
        for stmt in body:
            for fn in (stmt.body if isinstance(stmt, ast.ClassDef) else [stmt]):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    _strip(fn, out.lines())
        out._lines = None
        return out

    def lines(self) -> list:
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines


def _strip(fn, lines: list) -> None:
    """Drop a function's body from the compact form, keeping where it is: the syntax tree of
    a body is ~30x its text, and most functions of a project are never run by the analysis.
    A body that starts on a line of the signature stays."""
    first = fn.body[0]
    if first.lineno <= fn.lineno or first.lineno > len(lines):
        return
    head = lines[first.lineno - 1].encode("utf-8", "surrogatepass")[:first.col_offset]
    if head.strip():
        return
    fn.lazy = (first.lineno, fn.end_lineno)
    fn.body = None


def _overload(node) -> bool:
    """`@overload` stubs never replace the real definition."""
    return any((isinstance(d, ast.Name) and d.id == "overload")
               or (isinstance(d, ast.Attribute) and d.attr == "overload")
               for d in getattr(node, "decorator_list", ()))


def module_for(path: str, root: str | None = None) -> str:
    """The module name of a file: from the package layout on disk, or for a path not on
    disk from the path itself (`pkg/mod.py` -> `pkg.mod`)."""
    if os.path.exists(path):
        return module_name_for(path)
    rel = os.path.relpath(path, root) if root else path
    module = rel[:-3].replace(os.sep, ".").replace("/", ".")
    return module[: -len(".__init__")] if module.endswith(".__init__") else module


BODY_CACHE = 4096  # parsed function bodies kept; beyond it the least recently run is dropped


class Project:
    """All files, by module name; resolves a dotted name to a project definition or a Ref."""

    def body(self, fn, src: SourceFile) -> list:
        """A function's statements, parsed from the file's text on first use (bounded LRU:
        memory stays flat in the size of the project)."""
        if fn.body is not None:
            return fn.body
        key = (src.path, fn.lazy)  # not id(fn): a shared cache outlives the node
        hit = self._bodies.pop(key, None)
        if hit is None:
            start, end = fn.lazy
            seg = "if 1:\n" + "\n".join(src.lines()[start - 1:end]) + "\n"
            try:
                hit = ast.parse(seg).body[0].body
            except (SyntaxError, ValueError, IndexError):
                hit = []
            for stmt in hit:
                ast.increment_lineno(stmt, start - 2)
            if len(self._bodies) >= BODY_CACHE:
                self._bodies.pop(next(iter(self._bodies)))
        self._bodies[key] = hit
        return hit

    def __init__(self, files: list[SourceFile]):
        self.files = {f.module: f for f in files}
        self.by_path = {f.path: f for f in files}
        self._classes: dict = {}  # (module, name) -> ClassV
        self._funcs: dict = {}
        self._dotted: dict = {}
        self._bodies: dict = {}  # (path, lines) -> parsed statements, least recent first
        self.interp = None  # set by the Interpreter using this project

    @classmethod
    def from_sources(cls, sources: dict[str, str], root: str | None = None) -> "Project":
        """`{path: text}`; module names from the package layout on disk or, for paths not on
        disk, from the path itself (`pkg/mod.py` -> `pkg.mod`)."""
        files = []
        for path, text in sources.items():
            try:
                files.append(SourceFile.parse(path, text, module_for(path, root)))
            except (SyntaxError, ValueError):
                continue
        return cls(files)

    @classmethod
    def lazy(cls, files, by_path, bodies: dict | None = None) -> "Project":
        """A project over mappings that produce each file's compact form on first access
        (`module -> SourceFile`, `path -> SourceFile`): the incremental store's."""
        project = cls([])
        project.files, project.by_path = files, by_path
        if bodies is not None:  # shared with other projects over the same texts
            project._bodies = bodies
        return project

    # ------------------------------------------------------------------ lookup
    def lookup_global(self, src: SourceFile, name: str, deps: set | None = None):
        """The value of a module-level name: a definition of this file, an import, a Python
        builtin (as `Ref('builtins.X')`); Unknown when none."""
        node = src.defs.get(name)
        if node is not None:
            if deps is not None:
                deps.add(src.path)
            return self._def_value(src, name, node, deps)
        target = src.imports.get(name)
        if target is not None:
            return self.resolve_dotted(target, deps)
        for mod in src.stars:
            f = self.files.get(mod)
            if f is not None and f is not src:
                if deps is not None:  # consulted: a name it binds later changes the answer
                    deps.add(f.path)
                if self._binds(f, name, deps):
                    return self.lookup_global(f, name, deps)
        if name in _BUILTINS:
            return Ref(f"builtins.{name}")
        return Unknown(f"name {name}")

    def resolve_dotted(self, dotted: str, deps: set | None = None, depth: int = 0):
        hit = self._dotted.get(dotted)
        if hit is not None:
            if deps is not None and hit[1]:
                deps.update(hit[1])
            return hit[0]
        found: set = set()
        self._dotted[dotted] = (Unknown(f"import cycle {dotted}"), frozenset())
        v = self._resolve_dotted(dotted, found, depth)
        self._dotted[dotted] = (v, frozenset(found))
        if deps is not None:
            deps.update(found)
        return v

    def _resolve_dotted(self, dotted: str, deps: set, depth: int):
        dotted = canonical(dotted)
        parts = dotted.split(".")
        for i in range(len(parts) - 1, 0, -1):
            mod = ".".join(parts[:i])
            f = self.files.get(mod)
            if f is None:
                continue
            deps.add(f.path)  # consulted, whether or not it binds the name
            rest = parts[i:]
            if depth > 8 or not self._binds(f, rest[0], deps):
                if ".".join(parts[:i + 1]) in self.files:
                    continue
                return Ref(dotted)
            v = self.lookup_global(f, rest[0], deps)
            sub = ".".join(parts[:i + 1])
            if type(v) is Unknown and sub in self.files:
                v = Ref(sub)  # the package does not bind it: the submodule (a Ref resolves)
            for attr in rest[1:]:
                if isinstance(v, ClassV):
                    v = self.interp.class_attr(v, attr)[0]
                elif isinstance(v, Ref):
                    v = Ref(f"{v.name}.{attr}")
                else:
                    return Unknown(f"attribute {attr}")
            return v
        return Ref(dotted)

    def _binds(self, f: SourceFile, name: str, deps: set | None = None,
               seen: frozenset = frozenset()) -> bool:
        """Whether `f` binds `name`, itself or through its `from X import *` (re-exports
        through packages, cycles guarded); every file consulted is a dependency."""
        if deps is not None:
            deps.add(f.path)
        if name in f.defs or name in f.imports:
            return True
        seen = seen | {f.module}
        return any(m in self.files and m not in seen and self._binds(self.files[m], name, deps,
                                                                     seen)
                   for m in f.stars)

    def _def_value(self, src: SourceFile, name: str, node, deps: set | None = None):
        if isinstance(node, ast.ClassDef):
            key = (src.module, name)
            c = self._classes.get(key)
            if c is None:
                c = self._classes[key] = ClassV(name, f"{src.module}.{name}", node, src)
                c.deps = frozenset({src.path})  # recursion guard until its bases are known
                _, found = self.interp.captured(lambda: self.interp.build_class(c))
                c.deps = found | {src.path}  # the files its bases and body names came from
            if deps is not None:
                deps |= c.deps
            return c
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            key = (src.module, name)
            f = self._funcs.get(key)
            if f is None:
                f = self._funcs[key] = FuncV(node, src)
            return f
        return self.interp.module_assign(src, name, node, deps)

    def classes(self):
        """Every class defined at module level, as (SourceFile, name)."""
        for f in self.files.values():
            for name, node in f.defs.items():
                if isinstance(node, ast.ClassDef):
                    yield f, name


_BUILTINS = {
    "range", "len", "enumerate", "zip", "reversed", "list", "tuple", "dict", "set", "isinstance",
    "issubclass", "type", "getattr", "setattr", "hasattr", "super", "min", "max", "abs", "int",
    "float", "str", "bool", "sorted", "sum", "any", "all", "print", "round", "map", "filter",
    "callable", "id", "iter", "next", "object", "staticmethod", "classmethod", "property",
    "ValueError", "NotImplementedError", "TypeError", "KeyError", "RuntimeError", "Exception",
    "AssertionError", "AttributeError", "divmod", "pow", "frozenset", "vars", "repr", "hash",
}
