"""The lint pipeline: discover -> read -> parse -> facts -> project -> rules -> findings."""

from __future__ import annotations

import os
import sys
import threading
import traceback
from dataclasses import dataclass, field

from initlint import suppress
from initlint.cache import content_hash
from initlint.analysis.facts import extract
from initlint.analysis.model import FileFacts, Loc
from initlint.analysis.names import module_name_for
from initlint.config import Config
from initlint.findings import SEVERITY_RANK, Finding, Related
from initlint.source import (Source, SourceError, max_source_bytes, parse, read_bytes,
                             read_source, too_large)

_PREFILTER = ("torch", "nn.", "Module", "init")


@dataclass
class FileResult:
    path: str
    display: str
    facts: FileFacts | None = None
    error: SourceError | None = None
    suppress: dict = field(default_factory=dict)
    skip: bool = False
    cell_map: list | None = None
    internal_error: str | None = None
    context: bool = False  # analysed for cross-file facts only; nothing reported on it
    digest: str | None = None  # hash of the bytes analysed (the fixer edits only those)


def analyze_file(path: str, display: str, data: bytes | None = None) -> FileResult:
    """Everything per file: pure, picklable, cacheable."""
    res = FileResult(path, display)
    try:
        if data is None:
            data = read_bytes(path)
        res.digest = content_hash(data)
        src: Source = read_source(path, data)
    except SourceError as exc:
        res.error = exc
        return res
    res.cell_map = src.cell_map
    text = src.text
    if suppress.skip_file(text):
        res.skip = True
        return res
    limit = max_source_bytes()
    if len(text) > limit:  # characters: a lower bound on the UTF-8 size
        if any(tok in text for tok in _PREFILTER):
            res.error = SourceError(too_large(len(text.encode("utf-8", "surrogatepass")),
                                              limit), 1, 1)
        else:  # nothing initlint could find in it: not worth gigabytes of syntax tree
            res.facts = FileFacts(path=path, module=module_name_for(path) if os.path.exists(
                path) else os.path.splitext(os.path.basename(path))[0])
        return res
    res.suppress = suppress.suppressions(text)
    try:
        tree = parse(text, display)
    except SourceError as exc:
        res.error = exc
        return res
    module = module_name_for(path) if os.path.exists(path) else os.path.splitext(
        os.path.basename(path))[0]
    if not any(tok in text for tok in _PREFILTER):
        res.facts = FileFacts(path=path, module=module)
        return res
    is_package = path.endswith("__init__.py")
    try:
        try:
            res.facts = extract(tree, text, path, module, is_package)
        except RecursionError:
            # valid but deeply nested code (a 2,000-term `a + b + ...`, generated tables):
            # ast.parse took it, so the analysis must too; again with a deep stack
            res.facts = deep_call(extract, tree, text, path, module, is_package)
    except RecursionError:
        res.facts = FileFacts(path=path, module=module)
        res.internal_error = "analysis recursion limit reached (deeply nested code)"
    except Exception as exc:  # an analysis bug must not lose the other files
        res.facts = FileFacts(path=path, module=module)
        res.internal_error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    return res


# deep enough for the deepest tree ast.parse accepts (its own limit is about 3,000 levels)
_DEEP_RECURSION = 60_000
_DEEP_STACK = 512 * 1024 * 1024  # reserved address space; only the pages used are touched


def deep_call(fn, *args):
    """fn(*args) on a helper thread with a large C stack and a high recursion limit (the
    limit is process-wide: restored afterwards). Exceptions propagate; when no such thread
    can be made, RecursionError."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    old_limit = sys.getrecursionlimit()
    try:
        old_size = threading.stack_size()
        threading.stack_size(_DEEP_STACK)
    except (ValueError, RuntimeError):
        raise RecursionError("no thread with a deep stack") from None
    try:
        sys.setrecursionlimit(max(old_limit, _DEEP_RECURSION))
        worker = threading.Thread(target=run, name="initlint-deep", daemon=True)
        worker.start()
        worker.join()
    except RuntimeError:  # can't start new thread
        raise RecursionError("no thread with a deep stack") from None
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class Report:
    findings: list[Finding]
    files: list[FileResult]
    internal_errors: list[tuple[str, str]] = field(default_factory=list)  # (display, reason)
    fixed: int = 0
    context: list[FileResult] = field(default_factory=list)  # cross-file facts only (re-lint)


class Emitter:
    def __init__(self, owner_paths: dict | None = None):
        self.items: dict[tuple, dict] = {}
        self.owner_paths = owner_paths or {}

    def __call__(self, code, severity, message, op=None, judged=None, *, loc: Loc | None = None,
                 path: str | None = None, cls=None, layer=None, related=(), remedy=None):
        if op is not None:
            loc = op.loc
            path = path or op.src
        elif judged is not None and loc is None:
            w = judged.weight
            loc = w.spec.loc if w.spec is not None else w.owner.params[w.local].loc
            path = path or self.owner_paths.get(id(w.owner))
        if judged is not None:
            cls = cls or judged.weight.owner
            layer = layer or judged.weight.local
        key = (code, path, loc.row, loc.col)
        cur = self.items.get(key)
        entry = {"code": code, "severity": severity, "message": message, "loc": loc, "path": path,
                 "cls": cls, "layer": layer, "related": list(related), "remedy": remedy}
        if cur is None:
            self.items[key] = entry
            return
        if SEVERITY_RANK[severity] > SEVERITY_RANK[cur["severity"]]:
            entry["related"] = cur["related"] + entry["related"]
            self.items[key] = entry
        else:
            for r in related:
                if r not in cur["related"]:
                    cur["related"].append(r)



def run_rules(results: list[FileResult], config: Config) -> tuple[list[dict], list[tuple]]:
    from initlint.analysis.project import Project
    from initlint.rules import RULES

    facts = [r.facts for r in results if r.facts is not None]
    errors: list[tuple[str, str]] = []

    def build(fs):
        return _deep_retry(Project, fs, relu_like=frozenset(config.relu_like),
                           min_chain=config.min_chain)

    try:
        project = build(facts)
    except Exception:
        # the join broke on some file's facts: find those files (each alone), report them
        # as internal errors, and lint the others
        facts = []
        for r in results:
            if r.facts is None:
                continue
            try:
                build([r.facts])
            except Exception as exc:
                errors.append((r.display, _reason(exc)))
                continue
            facts.append(r.facts)
        try:
            project = build(facts)
        except Exception as exc:  # only a combination of files breaks it
            errors.append(("project analysis", _reason(exc)))
            return [], errors
    emitter = Emitter({id(c): f.path for f in facts for c in f.classes})
    enabled = config.enabled_codes()
    for code in sorted(enabled):
        rule = RULES[code]()
        try:
            _deep_retry(rule.check, project, emitter)
        except Exception as exc:  # report, keep the other rules' findings
            errors.append((f"rule {code}", _reason(exc)))
    _mark_reach(project, emitter)
    return list(emitter.items.values()), errors


def _mark_reach(project, emitter) -> None:
    """A fix that rewrites an init call changes every layer whose final init that call is
    (a loop over `[self.p6, self.p7]`, a `modules()` loop, an init function applied to
    several models): the remedy says how many (`reach`), and such a fix is `shared` (unsafe)."""
    reach: dict[tuple, int] = {}
    for j in project.judged:
        op = j.final
        if op is not None:
            k = (op.src, op.loc.row, op.loc.col)
            reach[k] = reach.get(k, 0) + 1
    for item in emitter.items.values():
        remedy = item.get("remedy")
        if remedy is None or not remedy.rewrites_call:  # the others insert for one layer
            continue
        n = reach.get((item["path"], item["loc"].row, item["loc"].col), 1)
        if n > 1:
            item["remedy"] = remedy.widened(n)


def _reason(exc: BaseException) -> str:
    """One line for the user, then the traceback for --verbose."""
    return f"{type(exc).__name__}: {exc}\n{''.join(traceback.format_exception(exc))}"


def _deep_retry(fn, *args, **kwargs):
    """fn(...), once more on a deep stack when deeply nested code exhausts the recursion
    limit (its findings are keyed: a partial first run only repeats them)."""
    try:
        return fn(*args, **kwargs)
    except RecursionError:
        return deep_call(lambda: fn(*args, **kwargs))


def lint(targets, config: Config, stdin: tuple[str, bytes] | None = None,
         analyze=None, context=()) -> Report:
    """Lint `targets` (discovered files); `stdin` is (display name, bytes) for `-`.
    `context` targets are analysed for cross-file facts (an init function applied from another
    file, a base class) but nothing is reported on them."""
    analyze = analyze or (lambda ts: [analyze_file(t.path, t.display) for t in ts])
    results: list[FileResult] = list(analyze(targets))
    if context:
        seen = {os.path.realpath(t.path) for t in targets}
        extra = [t for t in context if os.path.realpath(t.path) not in seen]
        for r in analyze(extra):
            r.context = True
            results.append(r)
    if stdin is not None:
        name, data = stdin
        results.append(analyze_file(name, name, data))
    # an analyzer may bring its own finish (initlint.parallel: memoized when nothing changed)
    return getattr(analyze, "finish", finish)(results, config)


def finish(results: list[FileResult], config: Config) -> Report:
    display = {r.path: r for r in results}
    findings: list[Finding] = []
    enabled = config.enabled_codes()
    for r in results:
        if r.error is not None and "IL001" in enabled and not r.context:
            findings.append(Finding("IL001", r.error.message, r.display, r.error.row, r.error.col,
                                    r.error.row, r.error.col, "error"))
    raw, errors = run_rules(results, config)
    internal = [(r.display, r.internal_error) for r in results if r.internal_error and
                not r.context]
    internal += errors
    explicit = config.explicit_codes()
    for item in raw:
        r = display.get(item["path"])
        if r is None:
            continue
        loc = item["loc"]
        related = [Related(msg, display[p].display if p in display else p, lc.row, lc.col)
                   for msg, p, lc in item["related"]]
        cls = item["cls"]
        findings.append(Finding(item["code"], item["message"], r.display, loc.row, loc.col,
                                loc.end_row, loc.end_col, item["severity"], related,
                                cls=f"{cls.module}.{cls.qualname}" if cls is not None else None,
                                layer=item["layer"], remedy=item["remedy"]))
    out = []
    by_display = {r.display: r for r in results}
    for f in findings:
        r = by_display.get(f.filename)
        if f.severity == "info" and not (config.show_info or f.code in explicit):
            continue
        if r is not None:
            if r.skip or r.context:
                continue
            if f.code in config.ignored_for(_rel(r.display, config)):
                continue
            if f.code != "IL001" and suppress.is_suppressed(r.suppress, f.code, {f.row, f.end_row}):
                continue
            if r.cell_map:
                _to_cell(f, r.cell_map)
        out.append(f)
    out.sort(key=Finding.sort_key)
    return Report(out, [r for r in results if not r.context], internal,
                  context=[r for r in results if r.context])


def _rel(display: str, config: Config) -> str:
    try:
        return os.path.relpath(os.path.abspath(display), config.root or ".")
    except ValueError:
        return display


def _to_cell(f: Finding, cell_map: list) -> None:
    def conv(row):
        if 1 <= row <= len(cell_map):
            return cell_map[row - 1]
        return None, row

    cell, row = conv(f.row)
    end_cell, end_row = conv(f.end_row)
    if cell is not None and end_cell != cell:
        # the span runs on into a later cell (cells are joined: a block can continue there);
        # end it with its own cell: at the start of the blank line read_notebook adds after it
        last = f.row
        while last < len(cell_map) and cell_map[last][0] == cell:
            last += 1
        end_row = cell_map[last - 1][1]
        f.end_col = 1
    f.joined = (f.row, f.end_row)  # the rows in the joined text the fixer edits
    f.cell = cell
    f.row, f.end_row = row, end_row
    for rel in f.related:
        if rel.filename == f.filename:
            rel.cell, rel.row = conv(rel.row)
