"""`--output-format gitlab`: a GitLab Code Quality report (a JSON array of issues:
description, check_name, fingerprint, severity, location.path, location.lines.begin/end).

Paths are relative to the directory initlint ran in (GitLab wants them relative to the
repository root: run it there, as in the CI example). The fingerprint is stable under edits
elsewhere in the file: it hashes the path, the code, the message and the finding's rank among
identical ones, not the line number, so a merge request shows moved findings as unchanged.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter

SEVERITY = {"error": "major", "warning": "minor", "info": "info"}


def _path(filename: str) -> str:
    if filename == "-":
        return "stdin"
    rel = filename
    if os.path.isabs(filename):
        try:
            rel = os.path.relpath(filename)
        except ValueError:  # another drive
            rel = filename
        if rel.startswith(".."):  # outside the run's folder: as given
            rel = filename
    return os.path.normpath(rel).replace(os.sep, "/")


def build(findings, report=None) -> list[dict]:
    seen: Counter = Counter()
    out = []
    for f in findings:
        path = _path(f.filename)
        where = f"cell {f.cell}: " if f.cell is not None else ""
        key = (path, f.code, f.cell, f.message)
        seen[key] += 1
        digest = hashlib.sha256("\0".join(
            [path, f.code, str(f.cell or ""), f.message, str(seen[key])]).encode(
                "utf-8", "surrogateescape")).hexdigest()
        out.append({
            "description": f"{f.code} {where}{f.message}",
            "check_name": f"{f.code} ({f.name})",
            "fingerprint": digest,
            "severity": SEVERITY.get(f.severity, "minor"),
            "location": {"path": path, "lines": {"begin": f.row, "end": max(f.row, f.end_row)}},
        })
    return out


def render(findings, report=None) -> str:
    from initlint.report.json_format import dumps

    return dumps(build(findings, report))
