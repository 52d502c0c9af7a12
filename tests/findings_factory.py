"""Findings built by hand for the formatter tests: a format's test checks how it renders a
finding, not what a rule decides, so changing a rule's severity or message never breaks it.
(The end-to-end CLI tests that lint real code stay where they are.)"""

from __future__ import annotations

from initlint.engine import FileResult, Report
from initlint.findings import Edit, Finding, Fix, Related
from initlint.report import render

INIT_CALL = "nn.init.xavier_uniform_(self.fc1.weight)"


def make_finding(code: str = "IL101", severity: str = "warning", *, filename: str = "model.py",
                 row: int = 11, col: int = 9, end_col: int | None = None,
                 message: str | None = None, related: list[Related] | None = None,
                 fix: Fix | None = None, cell: int | None = None, cls: str | None = None,
                 layer: str | None = None) -> Finding:
    """A finding at `row`:`col` spanning `INIT_CALL` unless `end_col` says otherwise."""
    end = end_col if end_col is not None else col + len(INIT_CALL)
    return Finding(code, message or f"{code} test message on `fc1`", filename, row, col, row,
                   end, severity, related=list(related or []), fix=fix, cls=cls, layer=layer,
                   cell=cell)


def layer_and_act(filename: str = "model.py") -> list[Related]:
    """The two notes an activation rule attaches: the layer and the activation it feeds."""
    return [Related("layer `fc1` (Linear) built here", filename, 7, 20),
            Related("feeds ReLU here", filename, 10, 20)]


def kaiming_fix(row: int = 11, col: int = 9, applicability: str = "safe") -> Fix:
    new = 'nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")'
    edit = Edit(new, row, col, row, col + len(INIT_CALL))
    return Fix(applicability, "Use kaiming_uniform_", [edit])


def make_report(findings: list[Finding], extra_files: tuple[str, ...] = (),
                internal_errors: list[tuple[str, str]] | None = None) -> Report:
    """A report over the findings' files (and `extra_files`, linted clean)."""
    names = list(dict.fromkeys([f.filename for f in findings] + list(extra_files)))
    return Report(findings, [FileResult(n, n) for n in names],
                  internal_errors=list(internal_errors or []))


def render_findings(fmt: str, findings: list[Finding], extra_files: tuple[str, ...] = ()) -> str:
    return render(fmt, findings, make_report(findings, extra_files))


def two_findings(filename: str = "model.py") -> list[Finding]:
    """A warning with notes and a safe fix, and an error without either."""
    return [make_finding("IL101", "warning", filename=filename, related=layer_and_act(filename),
                         fix=kaiming_fix(), message="Xavier-like test message on `fc1`"),
            make_finding("IL202", "error", filename=filename, row=12, end_col=40,
                         message="unscaled-like test message on `fc2`")]
