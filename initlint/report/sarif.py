"""`--output-format sarif`: one SARIF 2.1.0 log (one run, every rule in tool.driver.rules).

Locations: rows are 1-based lines, columns 1-based *characters* (run.columnKind is
`unicodeCodePoints`), end columns exclusive — the same numbers as the JSON output. Relative
file names are made relative to `%SRCROOT%` (the directory initlint ran in), which is what
GitHub code scanning expects from a run in the repository root.

Notebook findings (finding.cell set) keep the line inside the cell in `region` and carry
the cell number in `properties.cell` and in the message ("cell 3: ..."); their fixes are
left out because the edits address the joined cell source, not the .ipynb JSON text.
"""

from __future__ import annotations

import os
from urllib.parse import quote
from urllib.request import pathname2url

from initlint import __version__
from initlint.findings import Finding, is_absolute_url, rule_url
from initlint.report.rulepage import page

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
SRCROOT = "%SRCROOT%"


def _url_path(path: str) -> str:
    try:
        return pathname2url(path)
    except UnicodeEncodeError:  # a file name that is not UTF-8: quote its bytes
        return quote(os.fsencode(path), safe="/")


def _artifact(filename: str) -> dict:
    if filename == "-" or not filename:
        return {"uri": "stdin"}
    if os.path.isabs(filename):
        return {"uri": "file://" + _url_path(filename)}
    rel = os.path.normpath(filename).replace(os.sep, "/")
    if rel.startswith("../"):
        return {"uri": "file://" + _url_path(os.path.abspath(filename))}
    # fsencode: a file name that is not UTF-8 (surrogate-escaped) still has its bytes quoted
    return {"uri": quote(os.fsencode(rel), safe="/"), "uriBaseId": SRCROOT}


def _region(row: int, col: int, end_row: int | None = None, end_col: int | None = None) -> dict:
    row = max(1, int(row or 1))
    col = max(1, int(col or 1))
    region = {"startLine": row, "startColumn": col}
    if end_row is not None and end_col is not None:
        end_row = max(row, int(end_row or row))
        end_col = max(1, int(end_col or 1))
        if end_row == row and end_col < col:
            end_col = col
        region["endLine"] = end_row
        region["endColumn"] = end_col
    return region


def _physical(filename: str, region: dict) -> dict:
    return {"artifactLocation": _artifact(filename), "region": region}


def _rule_descriptor(rule) -> dict:
    summary = rule.summary.strip()
    what = (rule.what or rule.summary).strip()
    full = what if not rule.why else f"{what} {rule.why.strip()}"
    doc = rule.doc()
    desc = {
        "id": rule.code,
        "name": _pascal(rule.name),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": full},
        "help": {"text": doc, "markdown": page(rule)},
        "defaultConfiguration": {"level": LEVELS.get(rule.severity, "warning"),
                                 "enabled": not rule.opt_in},
        "properties": {"tags": ["pytorch", "initialization"], "precision": "high",
                       "initlint/name": rule.name, "initlint/opt-in": bool(rule.opt_in)},
    }
    url = rule_url(rule.code)
    if is_absolute_url(url):  # SARIF wants an absolute URI: only with `docs-url` set
        desc["helpUri"] = url
    if rule.severity_logic:
        desc["properties"]["initlint/severity-logic"] = rule.severity_logic
    return desc


def _pascal(name: str) -> str:
    """SARIF/GitHub show `name` as an identifier: xavier-before-relu -> XavierBeforeRelu."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-"))


def _fixes(f: Finding) -> list[dict]:
    if f.fix is None or f.cell is not None or not f.fix.edits:
        return []
    by_file: dict = {}
    for e in f.fix.edits:
        by_file.setdefault(f.filename, []).append({
            "deletedRegion": _region(e.row, e.col, e.end_row, e.end_col),
            "insertedContent": {"text": e.content},
        })
    return [{
        "description": {"text": f"{f.fix.message} ({f.fix.applicability} fix)"},
        "artifactChanges": [{"artifactLocation": _artifact(fn), "replacements": reps}
                            for fn, reps in by_file.items()],
        "properties": {"applicability": f.fix.applicability},
    }]


def _result(f: Finding, index: dict[str, int]) -> dict:
    text = f.message if f.cell is None else f"cell {f.cell}: {f.message}"
    res: dict = {
        "ruleId": f.code,
        "level": LEVELS.get(f.severity, "warning"),
        "message": {"text": text},
        "locations": [{"physicalLocation": _physical(
            f.filename, _region(f.row, f.col, f.end_row, f.end_col))}],
    }
    if f.code in index:
        res["ruleIndex"] = index[f.code]
    related = []
    for i, r in enumerate(f.related, start=1):
        item = {"id": i, "message": {"text": r.message},
                "physicalLocation": _physical(r.filename, _region(r.row, r.col))}
        if getattr(r, "cell", None) is not None:
            item["properties"] = {"cell": r.cell}
        related.append(item)
    if related:
        res["relatedLocations"] = related
    fixes = _fixes(f)
    if fixes:
        res["fixes"] = fixes
    props = {"severity": f.severity}
    if f.cell is not None:
        props["cell"] = f.cell
    if f.cls:
        props["model"] = f.cls
    if f.layer:
        props["layer"] = f.layer
    res["properties"] = props
    return res


def build(findings: list[Finding], report=None) -> dict:
    """The SARIF log as a dict (render() serializes it)."""
    from initlint.rules import all_rules

    rules = all_rules()
    index = {r.code: i for i, r in enumerate(rules)}
    invocation: dict = {"executionSuccessful": not (report is not None and report.internal_errors)}
    if report is not None and report.internal_errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error",
             "message": {"text": f"internal error in {where}: "
                                 f"{(reason or '').strip().splitlines()[0] if (reason or '').strip() else 'unknown error'}"}}
            for where, reason in report.internal_errors]
    cwd = os.getcwd()
    base = "file://" + _url_path(cwd.rstrip(os.sep) + os.sep)
    run = {
        "tool": {"driver": {
            "name": "initlint",
            "version": __version__,
            "semanticVersion": __version__,
            "rules": [_rule_descriptor(r) for r in rules],
        }},
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"uri": base}},
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index) for f in findings],
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(findings: list[Finding], report=None) -> str:
    from initlint.report.json_format import dumps

    return dumps(build(findings, report))
