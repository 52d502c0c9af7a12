"""Findings, fixes and their serialization."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from initlint.remedies import Remedy

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
# Each rule's page is docs/rules/CODE.md in the initlint repository (generated from the rule
# class: `initlint rule CODE --output-format markdown`). initlint has no web site, so a link is
# that repository-relative path unless `docs-url` in [tool.initlint] names where the pages are
# served (a base such as https://github.com/OWNER/initlint/blob/main/docs/rules/, or a
# template with {code}).
DOCS_PATH = "docs/rules/{code}.md"
_docs_url: str | None = None


def set_docs_url(base: str | None) -> None:
    global _docs_url
    _docs_url = base


def rule_url(code: str, base: str | None = None) -> str:
    base = base if base is not None else _docs_url
    if not base:
        return DOCS_PATH.format(code=code)
    if "{code}" in base:
        return base.replace("{code}", code)
    return base.rstrip("/") + f"/{code}.md"


def is_absolute_url(url: str) -> bool:
    """SARIF's helpUri and LSP's codeDescription need an absolute URI."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return bool(parts.scheme) and bool(parts.netloc or parts.scheme == "file")


@dataclass
class Edit:
    content: str
    row: int
    col: int
    end_row: int
    end_col: int

    def to_json(self) -> dict:
        return {"content": self.content, "location": {"row": self.row, "column": self.col},
                "end_location": {"row": self.end_row, "column": self.end_col}}


@dataclass
class Fix:
    applicability: str  # safe | unsafe
    message: str
    edits: list[Edit] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"applicability": self.applicability, "message": self.message,
                "edits": [e.to_json() for e in self.edits]}


@dataclass
class Related:
    message: str
    filename: str
    row: int
    col: int
    cell: int | None = None  # notebook cell number (row is then the line in the cell)

    def to_json(self) -> dict:
        return {"message": self.message, "filename": self.filename,
                "location": {"row": self.row, "column": self.col},
                **({"cell": self.cell} if self.cell is not None else {})}


@dataclass
class Finding:
    code: str
    message: str
    filename: str
    row: int
    col: int
    end_row: int
    end_col: int
    severity: str
    related: list[Related] = field(default_factory=list)
    fix: Fix | None = None
    cls: str | None = None  # model class the finding is about (qualified name)
    layer: str | None = None  # layer path inside that class
    remedy: Remedy | None = None  # what the rule says a fix should do (initlint.remedies)
    cell: int | None = None  # notebook cell number (row is then the line in the cell)
    joined: tuple[int, int] | None = None  # notebook: (row, end_row) in the joined cells

    @property
    def name(self) -> str:
        from initlint.rules import RULES

        rule = RULES.get(self.code)
        return rule.name if rule else self.code

    @property
    def url(self) -> str:
        return rule_url(self.code)

    def sort_key(self):
        # notebooks: cell before the line in it ("cell 1:7" before "cell 2:1")
        return (self.filename, self.cell or 0, self.row, self.col, self.code, self.message)

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "filename": self.filename,
            "location": {"row": self.row, "column": self.col},
            "end_location": {"row": self.end_row, "column": self.end_col},
            "related": [r.to_json() for r in self.related],
            "fix": self.fix.to_json() if self.fix else None,
            "url": self.url,
            "model": self.cls,
            "layer": self.layer,
            **({"cell": self.cell} if self.cell is not None else {}),
        }
