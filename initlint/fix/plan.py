"""Planning: findings -> `Plan`s (one fix each, as edits of the linted text), `attach_fixes`
for the report, and `select`, the non-overlapping subset one pass applies."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from initlint.findings import Edit, Finding, Fix
from initlint.fix.locate import FileCtx
from initlint.fix.remedies import PLANNERS
from initlint.fix.rewrite import Builder
from initlint.fix.sources import Source, Sources, location, module_of
from initlint.fix.text import Text, Unfixable


@dataclass
class Plan:
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


def plans_for_file(src: Source, findings: list[Finding], errors: list[str],
                    facts=()) -> list[Plan]:
    try:
        ctx = FileCtx(src.text, *module_of(src.path))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    plans = []
    for f in findings:
        h = f.remedy
        fixer = PLANNERS.get(type(h))
        if fixer is None:
            continue
        node = ctx.call_at(*location(f, src))
        if node is None:
            continue
        b = Builder(ctx, facts)
        try:
            applicability, message = fixer(b, f, node, h)
            spans = b.finish()
            if h.shared:  # the call initializes other layers too: they change with it
                applicability = "unsafe"
                n = h.reach
                message += (f" (unsafe: this call initializes {n} layers, and every one of "
                            f"them changes)" if n else " (unsafe: a shared init, every layer "
                            "it reaches changes)")
        except Unfixable:
            continue
        except Exception as exc:  # a bug in one fix must not cost the others (or the lint)
            errors.append(f"internal error computing the fix for {f.code} at "
                          f"{f.filename}:{f.row}:{f.col}: {type(exc).__name__}: {exc}")
            continue
        spans.sort()
        edits = edits_of(spans, ctx.t, src, f.cell)
        if edits is None:
            continue
        at = ctx.t.offset(*location(f, src)[:2]) if h.shared else None
        plans.append(Plan(f, Fix(applicability, message, edits), spans, at, list(b.inserted)))
    return plans


def edits_of(spans, t: Text, src: Source, cell=None) -> list[Edit] | None:
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


def plan_findings(findings: list[Finding], sources: Sources, errors: list[str]) -> list[Plan]:
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if type(f.remedy) in PLANNERS:
            by_file[f.filename].append(f)
    plans = []
    for display in sorted(by_file):
        src = sources.get(display)
        if src is None:
            continue
        plans.extend(plans_for_file(src, by_file[display], errors, sources.facts))
    return plans


def attach_fixes(findings: list[Finding], report, stdin: tuple[str, bytes] | None = None,
                 sources: dict[str, bytes] | None = None) -> list[str]:
    """Fill `finding.fix` for every finding with a fix. `sources` maps display names to bytes
    that replace the file on disk (an editor's unsaved buffer). Returns problems (for logs)."""
    errors: list[str] = []
    for f in findings:
        f.fix = None
    for p in plan_findings(findings, Sources(report, stdin, dict(sources or {})), errors):
        p.finding.fix = p.fix
    return errors


def select(plans: list[Plan]) -> list[Plan]:
    """Non-overlapping plans in a deterministic order; identical edits may be shared."""
    accepted: list[Plan] = []
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
