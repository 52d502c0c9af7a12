"""Output formats. Each renderer takes the findings (and the report) and returns text."""

from __future__ import annotations

from collections import Counter

from initlint.findings import Finding

FORMATS = ("concise", "full", "json", "github", "sarif", "junit")


def render(fmt: str, findings: list[Finding], report=None, sources: dict | None = None) -> str:
    if fmt == "json":
        from initlint.report.json_format import render as r
    elif fmt == "github":
        from initlint.report.github import render as r
    elif fmt == "full":
        from initlint.report.text import render_full as r
    elif fmt == "sarif":
        from initlint.report.sarif import render as r
    elif fmt == "junit":
        from initlint.report.junit import render as r
    else:
        from initlint.report.text import render_concise as r
    return r(findings, report)


def statistics(findings: list[Finding]) -> str:
    from initlint.rules import RULES

    counts = Counter(f.code for f in findings)
    # [*] as in the concise format: a safe fix (`--fix` applies it without --unsafe-fixes)
    fixable = Counter(f.code for f in findings if f.fix is not None and f.fix.applicability == "safe")
    lines = []
    width = max((len(str(n)) for n in counts.values()), default=1)
    for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        mark = "[*]" if fixable.get(code) else "[ ]"
        name = RULES[code].name if code in RULES else code
        lines.append(f"{n:>{width}}\t{code}\t{mark} {name}")
    return "\n".join(lines) + ("\n" if lines else "")
