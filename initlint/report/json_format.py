"""`--output-format json`: one JSON array (RULES.md §4)."""

from __future__ import annotations

import json


def render(findings, report=None) -> str:
    return json.dumps([f.to_json() for f in findings], indent=2, ensure_ascii=False) + "\n"
