"""The files as the fixer sees them: their bytes and the text the linter parsed, loaded once
per run; a file saved since it was linted is never fixed (its findings' rows are stale)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from initlint.findings import Finding


@dataclass
class Source:
    """A file as the fixer sees it: its bytes, and the text the linter parsed."""

    path: str
    display: str
    data: bytes
    text: str
    cell_map: list | None = None

    @property
    def notebook(self) -> bool:
        return self.cell_map is not None


def load(path: str, display: str, data: bytes | None) -> Source | None:
    """The file at `path` (or `data`, its bytes in memory); None if it cannot be read."""
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
    return Source(path, display, data, src.text, src.cell_map)


def location(f: Finding, src: Source) -> tuple[int, int, int, int]:
    """The finding's span in the linted text (a notebook's joined source, not its cell)."""
    if src.notebook and f.joined is not None:
        return f.joined[0], f.col, f.joined[1], f.end_col
    return f.row, f.col, f.end_row, f.end_col


def module_of(path: str) -> tuple[str, bool]:
    """(module name, is a package's `__init__`), for resolving relative imports."""
    from initlint.analysis.names import module_name_for

    if os.path.isfile(path):
        return module_name_for(path), path.endswith("__init__.py")
    return os.path.splitext(os.path.basename(path))[0], False


class Sources:
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

    def get(self, display: str) -> Source | None:
        r = self.files.get(display)
        if r is None:
            return None
        data = self.current.get(display)
        if data is not None:  # fixed in memory
            hit = self.cache.get(("mem", display))
            if hit is None or hit.data is not data:
                hit = self.cache[("mem", display)] = load(r.path, display, data)
            return hit
        if display not in self.cache:
            self.cache[display] = self._first_load(r, display)
        return self.cache[display]

    def _first_load(self, r, display: str) -> Source | None:
        data = None
        if isinstance(getattr(r, "text", None), str):  # an editor's buffer (initlint.lsp)
            data = r.text.encode("utf-8")
        elif self.stdin is not None and display == self.stdin[0] and r.path == self.stdin[0]:
            data = self.stdin[1]
        src = load(r.path, display, data)
        linted = getattr(r, "digest", None)
        if src is not None and data is None and linted is not None:
            from initlint.cache import content_hash

            if content_hash(src.data) != linted:  # saved since it was linted: the
                self.changed.add(display)  # findings' rows are not this text's
                src = None
        return src
