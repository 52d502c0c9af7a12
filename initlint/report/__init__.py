"""Output formats. Each renderer takes the findings (and the report) and returns text."""

from __future__ import annotations

import os
from collections import Counter

from initlint.findings import Finding

FORMATS = ("concise", "full", "json", "json-lines", "github", "gitlab", "pylint", "sarif",
           "junit")


def render(fmt: str, findings: list[Finding], report=None, sources: dict | None = None,
           color: bool = False) -> str:
    if fmt in ("concise", "full"):
        from initlint.report import text

        return (text.render_full if fmt == "full" else text.render_concise)(
            findings, report, color=color)
    if fmt == "json":
        from initlint.report.json_format import render as r
    elif fmt == "json-lines":
        from initlint.report.json_format import render_lines as r
    elif fmt == "github":
        from initlint.report.github import render as r
    elif fmt == "gitlab":
        from initlint.report.gitlab import render as r
    elif fmt == "pylint":
        from initlint.report.pylint import render as r
    elif fmt == "sarif":
        from initlint.report.sarif import render as r
    elif fmt == "junit":
        from initlint.report.junit import render as r
    else:  # pragma: no cover - click checks the choice
        raise ValueError(f"unknown output format {fmt!r}")
    return r(findings, report)


def use_color(stream) -> bool:
    """Colour on a terminal; NO_COLOR (any value) turns it off, FORCE_COLOR (any value but
    0) on, as https://no-color.org and https://force-color.org describe."""
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR")
    if force is not None and force != "0" and force != "":
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _safe_fixable(f: Finding) -> bool:
    return f.fix is not None and f.fix.applicability == "safe"


def statistics(findings: list[Finding], fmt: str = "concise", color: bool = False) -> str:
    from initlint.rules import RULES

    counts = Counter(f.code for f in findings)
    # [*] as in the concise format: a safe fix (`--fix` applies it without --unsafe-fixes)
    fixable = Counter(f.code for f in findings if _safe_fixable(f))
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if fmt in ("json", "json-lines"):
        import json

        from initlint.report.json_format import dumps

        rows = [{"code": code, "name": RULES[code].name if code in RULES else code,
                 "count": n, "fixable": bool(fixable.get(code))} for code, n in order]
        if fmt == "json-lines":
            return "".join(json.dumps(row) + "\n" for row in rows)
        return dumps(rows)
    from initlint.report.text import paint

    lines = []
    width = max((len(str(n)) for n in counts.values()), default=1)
    for code, n in order:
        mark = "[*]" if fixable.get(code) else "[ ]"
        name = RULES[code].name if code in RULES else code
        lines.append(f"{n:>{width}}\t{paint(code, 'code', color)}\t{mark} {name}")
    return "\n".join(lines) + ("\n" if lines else "")


def show_fixes(findings: list[Finding], applied: bool, unsafe: bool = False) -> str:
    """`--show-fixes`: the fixes applied (after --fix) or available, per file and rule."""
    from initlint.rules import RULES

    if applied:
        chosen = list(findings)
    else:
        chosen = [f for f in findings if f.fix is not None and (
            unsafe or f.fix.applicability == "safe")]
    if not chosen:
        return "No fixes applied.\n" if applied else "No fixes available.\n"
    n = len(chosen)
    what = f"{n} finding{'s' if n != 1 else ''}"
    flag = "--fix --unsafe-fixes" if unsafe else "--fix"
    out = [f"Fixed {what}:" if applied else f"`{flag}` would fix {what}:"]
    per_file: dict[str, Counter] = {}
    for f in chosen:
        per_file.setdefault(f.filename, Counter())[f.code] += 1
    for filename in sorted(per_file):
        out.append(f"- {filename}:")
        for code, k in sorted(per_file[filename].items()):
            name = RULES[code].name if code in RULES else code
            out.append(f"    {k} × {code} ({name})")
    return "\n".join(out) + "\n"
