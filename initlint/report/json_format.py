"""`--output-format json`: one JSON array (RULES.md §4)."""

from __future__ import annotations

import json


def render(findings, report=None) -> str:
    return dumps([f.to_json() for f in findings])


def dumps(data) -> str:
    """Indented JSON, UTF-8 where it can be, escaped where it cannot (the JSON formats)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if not _encodable(text):  # a file name that is not UTF-8: escape, stay valid UTF-8
        text = json.dumps(data, indent=2, ensure_ascii=True) + "\n"
    return text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def render_lines(findings, report=None) -> str:
    """`--output-format json-lines`: one JSON object per line, as each finding is known."""
    import json

    lines = []
    for f in findings:
        line = json.dumps(f.to_json(), ensure_ascii=False)
        if not _encodable(line):
            line = json.dumps(f.to_json(), ensure_ascii=True)
        lines.append(line)
    return "".join(line + "\n" for line in lines)
