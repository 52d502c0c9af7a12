"""Human-readable formats: `concise` (one line each) and `full` (with source context).

With colour (a terminal, or FORCE_COLOR; never with NO_COLOR) the location is bold, the code
and severity coloured, as ruff does; the text is the same with or without it.
"""

from __future__ import annotations

import click

from initlint.findings import Finding

_STYLE = {"path": {"bold": True}, "code": {"fg": "red", "bold": True},
          "error": {"fg": "red", "bold": True}, "warning": {"fg": "yellow", "bold": True},
          "info": {"fg": "blue", "bold": True}, "fix": {"fg": "cyan"},
          "caret": {"fg": "red", "bold": True}, "dim": {"fg": "blue"}}


def paint(text: str, kind: str, color: bool) -> str:
    return click.style(text, **_STYLE[kind]) if color else text


def _where(f: Finding) -> str:
    if f.cell is not None:
        return f"{f.filename}:cell {f.cell}:{f.row}:{f.col}"
    return f"{f.filename}:{f.row}:{f.col}"


def _summary(findings: list[Finding], color: bool = False) -> str:
    if not findings:
        return "All checks passed!\n"
    n = len(findings)
    fixable = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe")
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
    out = f"Found {n} finding{'s' if n != 1 else ''}.\n"
    if fixable:
        out += f"{paint('[*]', 'fix', color)} {fixable} fixable with the `--fix` option.\n"
    if unsafe:
        out += f"{unsafe} more fixable with `--fix --unsafe-fixes`.\n"
    return out


def _mark(f: Finding, color: bool) -> str:
    return " " + paint("[*]", "fix", color) if f.fix is not None and \
        f.fix.applicability == "safe" else ""


def render_concise(findings: list[Finding], report=None, color: bool = False) -> str:
    lines = []
    for f in findings:
        lines.append(f"{paint(_where(f), 'path', color)}: {paint(f.code, 'code', color)}"
                     f"{_mark(f, color)} [{paint(f.severity, f.severity, color)}] {f.message}")
    body = "\n".join(lines) + ("\n" if lines else "")
    return body + _summary(findings, color)


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


def _cell_lines(filename: str) -> dict[int, list[str]] | None:
    """A notebook's code cells as linted (magics blanked): cell number -> its lines."""
    from initlint.source import SourceError, read_source, split_lines

    try:
        src = read_source(filename)
    except SourceError:
        return None
    if not src.cell_map:
        return None
    joined = split_lines(src.text)
    cells: dict[int, list[str]] = {}
    for (cell, _line), text in zip(src.cell_map, joined):
        cells.setdefault(cell, []).append(text)
    return cells


def _snippet(f: Finding, lines: list[str], color: bool) -> list[str]:
    out = []
    if not (lines and 1 <= f.row <= len(lines)):
        return out
    width = len(str(min(f.end_row, len(lines)) + 1))
    gutter = paint(" " * width + " |", "dim", color)
    for row in range(max(1, f.row - 1), min(len(lines), f.row + 1) + 1):
        number = paint(f"{row:>{width}} |", "dim", color)
        out.append(f"{number} {lines[row - 1]}")
        if row == f.row:
            span = max(1, (f.end_col - f.col) if f.end_row == f.row else
                       len(lines[row - 1]) - f.col + 1)
            out.append(f"{gutter} {' ' * (f.col - 1)}{paint('^' * span, 'caret', color)}")
    return out


def render_full(findings: list[Finding], report=None, color: bool = False) -> str:
    out = []
    cache: dict[str, list[str] | None] = {}
    cells: dict[str, dict[int, list[str]] | None] = {}
    for f in findings:
        out.append(f"{paint(f.code, 'code', color)}{_mark(f, color)} "
                   f"[{paint(f.severity, f.severity, color)}] {f.message}")
        out.append(f"  {paint('-->', 'dim', color)} {_where(f)}")
        if f.cell is None:
            lines = cache.setdefault(f.filename, _source_lines(f.filename))
        else:  # the cell's own lines, numbered as in the cell
            nb = cells.setdefault(f.filename, _cell_lines(f.filename)) or {}
            lines = nb.get(f.cell)
        out.extend(_snippet(f, lines or [], color))
        for r in f.related:
            cell = f"cell {r.cell}:" if getattr(r, "cell", None) is not None else ""
            out.append(f"  = note: {r.message} ({r.filename}:{cell}{r.row}:{r.col})")
        if f.fix is not None:
            out.append(f"  = help: {f.fix.message} ({f.fix.applicability} fix)")
        out.append(f"  = docs: initlint rule {f.code} ({f.url})")
        out.append("")
    return "\n".join(out) + ("\n" if out else "") + _summary(findings, color)
