"""Incremental evaluation: after an edit, only the classes that read the edited file run again.

The store (a directory, every file sealed like the lint cache: `initlint.cache.seal`) keeps

    forms/<digest>.pickle   a file's compact form (`SourceFile`), by the hash of its text
    classes/<hash>.pickle   per file, its classes' `ClassResult`s, each with the digest of
                            every file its evaluation read (its dependency set)
    index.pickle            per file: digest, module, the names of the classes it defines,
                            and the union of their dependency sets (an unchanged union: the
                            file's results are reused without reading them)

A run hashes every file, reuses a class's result when every file in its dependency set has
the digest it had, and evaluates the others with a project whose compact forms are loaded
from the store only when a lookup reaches them (an edit to one file reads a handful). When
the set of files changes (one added, removed or renamed), every result is dropped: a name
that resolved to nothing may now resolve, and no dependency set records an absence.
"""

from __future__ import annotations

import ast
import gc
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from initlint.cache import _atomic_write, content_hash, read_sealed
from initlint.evaluate.interp import Interpreter
from initlint.evaluate.sources import Project, SourceFile, module_for
from initlint.evaluate.summary import ClassResult, summarize
from initlint.evaluate.values import ClassV

STORE_FORMAT = 2
CHUNK = 64  # files evaluated with one interpreter before its memos are dropped
FORM_CACHE = 128  # compact forms kept across interpreters (least recently used dropped)


@dataclass
class Run:
    """What one run gave: every model class's result, and how much was reused."""

    results: dict = field(default_factory=dict)  # "path::Name" -> ClassResult
    evaluated: int = 0
    reused: int = 0
    parsed: int = 0  # files parsed from text this run
    loaded: int = 0  # compact forms read from the store
    seconds: float = 0.0


class _LazyFiles(Mapping):
    """module -> SourceFile, each read from the store (or parsed) the first time a lookup
    reaches it."""

    def __init__(self, session: "Session", modules: dict, texts: dict, digests: dict):
        self._s, self._paths, self._texts, self._digests = session, modules, texts, digests
        self._loaded: dict = {}

    def __getitem__(self, module):
        f = self._loaded.get(module)
        if f is None:
            path = self._paths[module]
            f = self._loaded[module] = self._s.cached_form(path, module, self._texts[path],
                                                           self._digests[path])
        return f

    def __contains__(self, module):
        return module in self._paths

    def __iter__(self):
        return iter(self._paths)

    def __len__(self):
        return len(self._paths)


class _LazyPaths(Mapping):
    def __init__(self, files: _LazyFiles, modules_by_path: dict):
        self._files, self._by_path = files, modules_by_path

    def __getitem__(self, path):
        return self._files[self._by_path[path]]

    def __iter__(self):
        return iter(self._by_path)

    def __len__(self):
        return len(self._by_path)


class Session:
    """Evaluate every model class of a tree; `directory` None: no store (always cold)."""

    def __init__(self, directory: str | None, key: bytes | None, root: str | None = None):
        self.directory, self.key, self.root = directory, key, root
        self.run_stats: Run | None = None
        self.ev = self.project = None
        self._forms: dict = {}  # (path, module, digest) -> SourceFile, least recent first
        self._bodies: dict = {}  # parsed function bodies, shared by the run's interpreters
        if directory and key:
            for sub in ("forms", "classes"):
                os.makedirs(os.path.join(directory, sub), exist_ok=True)

    # ------------------------------------------------------------------ store
    def _path(self, *parts) -> str:
        return os.path.join(self.directory, *parts)

    def _stored(self) -> dict:
        if not (self.directory and self.key):
            return {}
        data = read_sealed(self._path("index.pickle"), self.key)
        return data if isinstance(data, dict) and data.get("format") == STORE_FORMAT else {}

    def cached_form(self, path: str, module: str, text, digest: str) -> SourceFile:
        """`form`, through a bounded cache kept across interpreters: the files most models
        read (the framework base, shared layers) are parsed once per run, not once per
        interpreter; the bound keeps memory flat in the size of the tree."""
        key = (path, module, digest)
        f = self._forms.pop(key, None)
        if f is None:
            f = self.form(path, module, text, digest)
            if len(self._forms) >= FORM_CACHE:
                self._forms.pop(next(iter(self._forms)))
        self._forms[key] = f
        return f

    def form(self, path: str, module: str, text: str, digest: str) -> SourceFile:
        """The compact form of one file: from the store when it holds this digest's."""
        where = self._path("forms", f"{digest}.pickle") if self.directory and self.key else None
        if where:
            f = read_sealed(where, self.key)
            if isinstance(f, SourceFile) and f.path == path and f.module == module:
                self.run_stats.loaded += 1
                return f
        try:
            f = SourceFile.parse(path, text, module)
        except (SyntaxError, ValueError, RecursionError):  # nothing to evaluate in it
            f = SourceFile(path, module, {}, [], (), text)
        self.run_stats.parsed += 1
        if where:
            try:
                _atomic_write(self._path("forms"), where, f, self.key)
            except OSError:
                pass
        return f

    # ------------------------------------------------------------------ a run
    def run(self, sources: Mapping, keep: bool = True) -> Run:
        """Evaluate every model class of `sources` (`{path: text}`; any mapping: a text is
        read when needed). `keep=False`: results go to the store only, not into the `Run`
        (memory stays flat in the size of the tree)."""
        was = gc.isenabled()
        gc.disable()  # collected by hand once per interpreter (see _fresh_interpreter)
        try:
            return self._run(sources, keep)
        finally:
            if was:
                gc.enable()

    def _run(self, sources: Mapping, keep: bool) -> Run:
        t0 = time.perf_counter()
        run = self.run_stats = Run()
        digests = {p: content_hash(sources[p].encode("utf-8", "surrogatepass")) for p in sources}
        old = self._stored()
        old_files = old.get("files", {})
        same_tree = set(old_files) == set(digests)
        modules = {p: (old_files[p][1] if p in old_files and old_files[p][0] == digests[p]
                       else module_for(p, self.root)) for p in digests}
        self._fresh_interpreter(sources, modules, digests)
        index_files, since = {}, 0
        for path in digests:
            names = self._class_names(path, modules[path], digests[path], old_files)
            prev = old_files.get(path) if same_tree else None
            if not keep and prev is not None and prev[:3] == (digests[path], modules[path],
                                                              names) and \
                    all(digests.get(p) == d for p, d in prev[3].items()):
                index_files[path] = prev  # no file any of its classes read has changed
                run.reused += len(names)
                continue
            shard = self._shard(path) if same_tree else {}
            results, stale = {}, False
            for name in names:
                hit = shard.get(name)
                if hit is not None and all(digests.get(p) == d for p, d in hit.deps.items()):
                    results[name] = hit
                    run.reused += 1
                    continue
                results[name] = self._evaluate(path, name, digests)
                run.evaluated += 1
                stale = True
            if stale or set(shard) != set(results):
                self._save_shard(path, results)
                since += 1
                if since >= CHUNK:  # a fresh interpreter: its memos do not grow with the tree
                    self._fresh_interpreter(sources, modules, digests)
                    since = 0
            read = {p: d for r in results.values() for p, d in r.deps.items()}
            index_files[path] = (digests[path], modules[path], names, read)
            if keep:
                run.results.update((f"{path}::{n}", r) for n, r in results.items())
        if index_files != old_files:
            self._save(self._path("index.pickle") if self.directory else "",
                       {"format": STORE_FORMAT, "files": index_files})
        self.ev = self.project = None
        run.seconds = time.perf_counter() - t0
        return run

    def _fresh_interpreter(self, sources, modules, digests) -> None:
        # the automatic collector is paused for the run: with the syntax trees and memos of
        # an interpreter alive, its full passes cost more than the parsing it interrupts
        # (cold transformers: 22 s of 66 s in `ast.parse`, 7 s without them); the previous
        # interpreter's cycles are collected here, so memory stays flat
        self.ev = self.project = None
        gc.collect()
        files = _LazyFiles(self, {m: p for p, m in modules.items()}, sources, digests)
        self.project = Project.lazy(files, _LazyPaths(files, modules), self._bodies)
        self.ev = Interpreter(self.project)

    def _class_names(self, path, module, digest, old_files) -> tuple:
        prev = old_files.get(path)
        if prev is not None and prev[0] == digest and prev[1] == module:
            return prev[2]
        src = self.project.by_path[path]
        return tuple(n for n, node in src.defs.items() if isinstance(node, ast.ClassDef))

    def _evaluate(self, path: str, name: str, digests: dict) -> ClassResult:
        ev, project = self.ev, self.project
        src = project.by_path[path]
        c = project.lookup_global(src, name)
        qual = f"{src.module}.{name}"
        if not isinstance(c, ClassV) or not ev.is_module_class(c):
            deps = set(c.deps) if isinstance(c, ClassV) else set()
            return ClassResult(qual, path, "not a module",
                               deps={p: digests.get(p) for p in sorted(deps | {path})})
        evaluation = ev.build(c)
        evaluation.deps |= c.deps
        return summarize(qual, path, evaluation, digests)

    # ------------------------------------------------------------------ shards
    def _shard_path(self, path: str) -> str:
        return self._path("classes", content_hash(path.encode("utf-8", "surrogatepass")) +
                          ".pickle")

    def _shard(self, path: str) -> dict:
        """The results stored for the classes of one file ({name: ClassResult})."""
        if not (self.directory and self.key):
            return {}
        data = read_sealed(self._shard_path(path), self.key)
        if isinstance(data, dict) and data.get("path") == path:
            return data.get("results", {})
        return {}

    def _save_shard(self, path: str, results: dict) -> None:
        if self.directory and self.key:
            self._save(self._shard_path(path), {"path": path, "results": results})

    def _save(self, where: str, payload: dict) -> None:
        if not (self.directory and self.key):
            return
        try:
            _atomic_write(os.path.dirname(where), where, payload, self.key)
        except OSError:
            pass
