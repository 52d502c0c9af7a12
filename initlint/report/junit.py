"""`--output-format junit`: JUnit XML for CI test-report viewers (GitLab, Jenkins, Azure).

One <testsuite name="initlint"> (inside <testsuites>), one <testcase> per linted file
(classname "initlint", name = the file as displayed), one <failure> per finding of that file
(type = the rule code). A file with `# initlint: skip-file` is a <skipped/> test case; an
internal error while analyzing a file is an <error>.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from initlint.findings import Finding


# characters XML 1.0 cannot carry, even escaped (control characters, lone surrogates)
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _BAD_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _sanitize(el: ET.Element) -> None:
    for node in el.iter():
        node.attrib.update({k: _clean(v) for k, v in node.attrib.items()})
        if node.text:
            node.text = _clean(node.text)


def _where(f: Finding) -> str:
    if f.cell is not None:
        return f"{f.filename}:cell {f.cell}:{f.row}:{f.col}"
    return f"{f.filename}:{f.row}:{f.col}"


def _failure_text(f: Finding) -> str:
    lines = [f"{_where(f)}: {f.code} [{f.severity}] {f.message}"]
    for r in f.related:
        cell = f"cell {r.cell}:" if getattr(r, "cell", None) is not None else ""
        lines.append(f"  note: {r.message} ({r.filename}:{cell}{r.row}:{r.col})")
    if f.fix is not None:
        lines.append(f"  help: {f.fix.message} ({f.fix.applicability} fix)")
    lines.append(f"  docs: {f.url}")
    return "\n".join(lines)


def _first_line(text: str | None) -> str:
    text = (text or "").strip()
    return text.splitlines()[0] if text else "unknown error"


def build(findings: list[Finding], report=None) -> ET.Element:
    # testcases in a stable order: every linted file (report.files), then any file only
    # findings name (should not happen, but never drop a finding)
    order: list[str] = []
    skipped: set[str] = set()
    if report is not None:
        for r in report.files:
            if r.display not in order:
                order.append(r.display)
            if getattr(r, "skip", False):
                skipped.add(r.display)
    per_file: dict[str, list[Finding]] = {}
    for f in findings:
        per_file.setdefault(f.filename, []).append(f)
        if f.filename not in order:
            order.append(f.filename)
    errors_by_file: dict[str, list[str]] = {}
    suite_errors: list[str] = []
    if report is not None:
        for where, reason in report.internal_errors:
            if where in order:
                errors_by_file.setdefault(where, []).append(reason or "")
            else:
                suite_errors.append(f"internal error in {where}: {_first_line(reason)}")

    root = ET.Element("testsuites", name="initlint")
    suite = ET.SubElement(root, "testsuite", name="initlint")
    n_fail = n_err = n_skip = 0
    for name in order:
        case = ET.SubElement(suite, "testcase", classname="initlint", name=name, file=name)
        items = per_file.get(name, [])
        for f in items:
            el = ET.SubElement(case, "failure", type=f.code,
                               message=f"{f.code} [{f.severity}] {f.message}")
            el.text = _failure_text(f)
        for reason in errors_by_file.get(name, []):
            el = ET.SubElement(case, "error", type="internal-error",
                               message=_first_line(reason))
            el.text = reason
        if name in skipped and not items:
            ET.SubElement(case, "skipped", message="initlint: skip-file")
            n_skip += 1
        if items:
            n_fail += 1
        if errors_by_file.get(name):
            n_err += 1
    if suite_errors:  # a rule crashed: not one file's fault, a test case of its own
        case = ET.SubElement(suite, "testcase", classname="initlint", name="initlint rules")
        el = ET.SubElement(case, "error", type="internal-error", message=suite_errors[0])
        el.text = "\n".join(suite_errors)
        n_err += 1
    counts = {"tests": str(len(order) + (1 if suite_errors else 0)), "failures": str(n_fail), "errors": str(n_err),
              "skipped": str(n_skip), "time": "0"}
    suite.attrib.update(counts)
    root.attrib.update({k: v for k, v in counts.items() if k != "skipped"})
    return root


def render(findings: list[Finding], report=None) -> str:
    root = build(findings, report)
    _sanitize(root)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
