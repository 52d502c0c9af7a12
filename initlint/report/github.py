"""`--output-format github`: GitHub Actions workflow commands."""

from __future__ import annotations


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render(findings, report=None) -> str:
    lines = []
    for f in findings:
        level = {"error": "error", "warning": "warning"}.get(f.severity, "notice")
        lines.append(
            f"::{level} file={_escape_prop(f.filename)},line={f.row},col={f.col},"
            f"endLine={f.end_row},endColumn={f.end_col},title={_escape_prop(f.code)}::"
            f"{_escape_data(f.message if f.cell is None else f'cell {f.cell}: {f.message}')}")
    return "\n".join(lines) + ("\n" if lines else "")
