"""`# noqa: IL101`, `# initlint: ignore[IL101]` and `# initlint: skip-file`."""

from __future__ import annotations

import re

_NOQA = re.compile(r"#\s*noqa(?P<sep>\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?",
                   re.IGNORECASE)
_IGNORE = re.compile(r"#\s*initlint:\s*ignore\[(?P<codes>[^\]]*)\]")
_SKIP = re.compile(r"#\s*initlint:\s*skip-file\b")
ALL = "*"


def skip_file(text: str) -> bool:
    return "initlint:" in text and _SKIP.search(text) is not None


def suppressions(text: str) -> dict[int, set[str]]:
    """Row -> suppressed codes ({"*"} for a bare `# noqa`)."""
    out: dict[int, set[str]] = {}
    if "initlint:" not in text and "noqa" not in text.lower():  # `# NOQA` counts too
        return out
    from initlint.source import split_lines  # rows as Python counts them (not at \f)

    for row, line in enumerate(split_lines(text), start=1):
        if "#" not in line:
            continue
        codes: set[str] = set()
        m = _NOQA.search(line)
        if m:
            if m.group("codes"):
                codes |= {c.upper() for c in re.split(r"[\s,]+", m.group("codes")) if c}
            else:
                codes.add(ALL)
        m = _IGNORE.search(line)
        if m:
            found = {c.strip().upper() for c in m.group("codes").split(",") if c.strip()}
            codes |= found or {ALL}
        if codes:
            out[row] = codes
    return out


def is_suppressed(sup: dict[int, set[str]], code: str, rows) -> bool:
    for row in rows:
        codes = sup.get(row)
        if codes and (ALL in codes or code in codes or any(
                code.startswith(c) for c in codes if not c[-1].isdigit() or len(c) < len(code))):
            return True
    return False
