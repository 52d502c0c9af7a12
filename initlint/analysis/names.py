"""Import-alias resolution: every spelling of a name to one canonical dotted name.

`nn.init.xavier_uniform_`, `init.xavier_uniform_` (after `from torch.nn import init`) and
`xu` (after `from torch.nn.init import xavier_uniform_ as xu`) all resolve to
`torch.nn.init.xavier_uniform_`. Deterministic: the first binding in source order that is not
inside an `except ImportError` fallback wins.
"""

from __future__ import annotations

import ast

# Canonicalization of well-known re-export paths.
_PREFIX_REWRITES = (
    ("torch.nn.modules.activation.", "torch.nn."),
    ("torch.nn.modules.linear.", "torch.nn."),
    ("torch.nn.modules.conv.", "torch.nn."),
    ("torch.nn.modules.batchnorm.", "torch.nn."),
    ("torch.nn.modules.normalization.", "torch.nn."),
    ("torch.nn.modules.container.", "torch.nn."),
    ("torch.nn.modules.module.", "torch.nn."),
    ("torch.nn.modules.", "torch.nn."),
    ("timm.models.layers.", "timm.layers."),
    ("transformers.models.", "transformers.models."),
)


def canonical(name: str) -> str:
    for old, new in _PREFIX_REWRITES:
        if name.startswith(old):
            return new + name[len(old):]
    return name


def module_name_for(path: str, package_root_markers: bool = True) -> str:
    """Dotted module name of a file, walking up while `__init__.py` exists."""
    import os

    path = os.path.abspath(path)
    directory, filename = os.path.split(path)
    stem = filename.rsplit(".", 1)[0]
    parts = [] if stem == "__init__" else [stem]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, pkg = os.path.split(directory)
        parts.insert(0, pkg)
        if not pkg:
            break
    return ".".join(parts) if parts else stem


def _is_package(module: str, path: str | None) -> bool:
    return bool(path) and path.endswith("__init__.py")


class ImportMap:
    """Names bound by imports in one module, to canonical dotted names."""

    def __init__(self, module: str, is_package: bool = False):
        self.module = module
        self.is_package = is_package
        self.names: dict[str, str] = {}

    def _bind(self, local: str, target: str, fallback: bool) -> None:
        if fallback and local in self.names:
            return
        self.names[local] = canonical(target)

    def _resolve_relative(self, level: int, mod: str | None) -> str:
        base = self.module.split(".")
        if not self.is_package:
            base = base[:-1]
        if level > 1:
            base = base[: len(base) - (level - 1)] if level - 1 <= len(base) else []
        parts = base + ([mod] if mod else [])
        return ".".join(p for p in parts if p)

    def add(self, node: ast.Import | ast.ImportFrom, fallback: bool = False) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self._bind(alias.asname, alias.name, fallback)
                else:
                    top = alias.name.split(".")[0]
                    self._bind(top, top, fallback)
        else:
            if node.level:
                base = self._resolve_relative(node.level, node.module)
            else:
                base = node.module or ""
            for alias in node.names:
                if alias.name == "*":
                    continue
                local = alias.asname or alias.name
                self._bind(local, f"{base}.{alias.name}" if base else alias.name, fallback)

    def resolve(self, node: ast.AST) -> str | None:
        """Canonical dotted name of a Name/Attribute chain, or None."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(node.id)
        parts.reverse()
        head = self.names.get(parts[0])
        if head is None:
            return None
        return canonical(".".join([head] + parts[1:]))

    def dotted(self, node: ast.AST) -> str | None:
        """The name as written (no resolution), e.g. `nn.init.normal_`."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(node.id)
        return ".".join(reversed(parts))


def collect_imports(tree: ast.Module, module: str, is_package: bool,
                    nested: list | None = None) -> ImportMap:
    imap = ImportMap(module, is_package)

    def visit(body: list[ast.stmt], fallback: bool) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                imap.add(stmt, fallback)
            elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                visit(stmt.body, fallback)
                for handler in stmt.handlers:
                    visit(handler.body, True)
                visit(stmt.orelse, fallback)
                visit(stmt.finalbody, fallback)
            elif isinstance(stmt, ast.If):
                visit(stmt.body, fallback)
                visit(stmt.orelse, True)

    visit(tree.body, False)
    # imports inside functions: bound only where the module level did not bind the name
    if nested is None:
        nested = [sub for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef,
                                                                      ast.AsyncFunctionDef))
                  for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))]
    for sub in nested:
        imap.add(sub, True)
    return imap
