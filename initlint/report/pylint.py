"""`--output-format pylint`: `path:row: [CODE(name)] message`, the parseable form of pylint
that editors and CI problem matchers read (ruff writes the same)."""

from __future__ import annotations


def render(findings, report=None) -> str:
    lines = []
    for f in findings:
        where = f"cell {f.cell}: " if f.cell is not None else ""
        lines.append(f"{f.filename}:{f.row}: [{f.code}({f.name})] {where}{f.message}")
    return "".join(line + "\n" for line in lines)
