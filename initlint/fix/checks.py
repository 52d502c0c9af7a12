"""The checks a pass runs on its own result before it keeps a fix: the fixed text must parse
(a fix whose result does not is dropped, with a message), and the re-lint must not draw a new
finding where a fix acted (`made_worse`: a shared init that now suits one layer and not
another, an inserted init that a later one overwrites)."""

from __future__ import annotations

import io
import tokenize
from collections import defaultdict

from initlint.findings import Finding
from initlint.fix.notebook import notebook_bytes
from initlint.fix.plan import Plan
from initlint.fix.sources import Source, Sources, location
from initlint.fix.text import Text, Unfixable, apply_spans

def _syntax_problem(src: Source, data: bytes) -> str | None:
    from initlint.source import SourceError, parse, read_source

    if isinstance(data, Exception):
        return f"cannot build the file: {data}"
    try:
        text = read_source(src.path, data).text
        parse(text, src.display)
    except SourceError as exc:
        return f"{exc.message} (line {exc.row})"
    return None


def _build_bytes(src: Source, spans) -> bytes:
    if src.notebook:
        return notebook_bytes(src, spans)
    text = apply_spans(src.text, spans)
    try:
        enc, _ = tokenize.detect_encoding(io.BytesIO(src.data).readline)
    except SyntaxError:
        enc = "utf-8"
    return text.encode(enc)


def try_plans(src: Source, plans: list[Plan], messages: list[str]) -> tuple[bytes, list[Plan]]:
    """Apply `plans` to `src`; drop the ones whose result does not parse."""
    def build(ps):
        try:
            return _build_bytes(src, [s for p in ps for s in p.spans])
        except (Unfixable, UnicodeError, ValueError, KeyError) as exc:
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
            messages.append(f"initlint: dropped fix for {f.code} at {where(f)}: the result does "
                            f"not parse: {why}")
    if len(good) < len(plans) and good:
        data = build(good)
        if _syntax_problem(src, data) is None:
            return data, good
    if good:
        messages.append(f"initlint: dropped {len(good)} fix(es) in {src.display}: together they "
                        f"do not parse: {problem}")
    return src.data, []


def where(f: Finding) -> str:
    if f.cell is not None:
        return f"{f.filename}:cell {f.cell}:{f.row}:{f.col}"
    return f"{f.filename}:{f.row}:{f.col}"


def reject_key(p: Plan, srcs: Sources, src: Source | None = None) -> tuple:
    """Identifies a fix across passes (rows move when other fixes insert lines)."""
    f = p.finding
    src = src or srcs.get(f.filename)
    row = location(f, src)[0] if src is not None else f.row
    line = Text(src.text).line(row).strip() if src is not None else ""
    return (f.filename, f.code, f.remedy.key if f.remedy else None, line, f.col)


def made_worse(old: Source, new: Source | None, applied: list[Plan], before, after):
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

    old_t, new_t = Text(old.text), Text(apply_spans(old.text, spans))
    name = old.display

    def at(fs, src, t):
        out = defaultdict(set)
        for f in fs:
            if f.filename == name:
                row, col = location(f, src)[:2]
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
