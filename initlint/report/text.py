"""Human-readable formats: `concise` (one line each) and `full` (with source context)."""

from __future__ import annotations

from initlint.findings import Finding


def _where(f: Finding) -> str:
    if f.cell is not None:
        return f"{f.filename}:cell {f.cell}:{f.row}:{f.col}"
    return f"{f.filename}:{f.row}:{f.col}"


def _summary(findings: list[Finding]) -> str:
    if not findings:
        return "All checks passed!\n"
    n = len(findings)
    fixable = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe")
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
    out = f"Found {n} finding{'s' if n != 1 else ''}.\n"
    if fixable:
        out += f"[*] {fixable} fixable with the `--fix` option.\n"
    if unsafe:
        out += f"{unsafe} more fixable with `--fix --unsafe-fixes`.\n"
    return out


def render_concise(findings: list[Finding], report=None) -> str:
    lines = []
    for f in findings:
        mark = " [*]" if f.fix is not None and f.fix.applicability == "safe" else ""
        lines.append(f"{_where(f)}: {f.code}{mark} [{f.severity}] {f.message}")
    body = "\n".join(lines) + ("\n" if lines else "")
    return body + _summary(findings)


def _source_lines(filename: str) -> list[str] | None:
    from initlint.source import SourceError, decode, read_bytes, split_lines

    try:
        data = read_bytes(filename)  # never blocks on a FIFO; no directories, no devices
    except SourceError:
        return None
    try:
        text = decode(data, filename)  # its coding cookie, its BOM
    except SourceError:
        text = data.decode("utf-8", "replace")
    return split_lines(text)


def render_full(findings: list[Finding], report=None) -> str:
    out = []
    cache: dict[str, list[str] | None] = {}
    for f in findings:
        mark = " [*]" if f.fix is not None and f.fix.applicability == "safe" else ""
        out.append(f"{f.code}{mark} [{f.severity}] {f.message}")
        out.append(f"  --> {_where(f)}")
        lines = cache.setdefault(f.filename, _source_lines(f.filename)) if f.cell is None else None
        if lines and 1 <= f.row <= len(lines):
            width = len(str(min(f.end_row, len(lines)) + 1))
            for row in range(max(1, f.row - 1), min(len(lines), f.row + 1) + 1):
                out.append(f"{row:>{width}} | {lines[row - 1]}")
                if row == f.row:
                    span = max(1, (f.end_col - f.col) if f.end_row == f.row else
                               len(lines[row - 1]) - f.col + 1)
                    out.append(f"{'':>{width}} | {' ' * (f.col - 1)}{'^' * span}")
        for r in f.related:
            cell = f"cell {r.cell}:" if getattr(r, "cell", None) is not None else ""
            out.append(f"  = note: {r.message} ({r.filename}:{cell}{r.row}:{r.col})")
        if f.fix is not None:
            out.append(f"  = help: {f.fix.message} ({f.fix.applicability} fix)")
        out.append(f"  = docs: initlint rule {f.code}")
        out.append("")
    return "\n".join(out) + ("\n" if out else "") + _summary(findings)
