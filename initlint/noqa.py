"""`initlint --add-noqa`: add `# noqa: CODE` to every line that has a finding, as ruff does.

A line that already carries `# noqa: CODES` gets the new codes merged into that comment. The
comment goes on the finding's first line, or on its last when the first ends inside a
multi-line string (a comment there would be string text). Each file is re-parsed before it is
written, and replaced atomically (the write path of `--fix`); notebooks and stdin are left
alone, with a message.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import defaultdict

from initlint.findings import Finding
from initlint.suppress import _NOQA

_EOL = re.compile(r"(\r\n|\r|\n)?$")
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _string_rows(text: str) -> set[int]:
    """Rows whose end lies inside a multi-line string (no comment can go there)."""
    rows: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                rows.update(range(tok.start[0], tok.end[0]))
            elif getattr(tokenize, "FSTRING_START", None) is not None and tok.type in (
                    tokenize.FSTRING_MIDDLE,) and tok.end[0] > tok.start[0]:
                rows.update(range(tok.start[0], tok.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return rows


def _with_codes(line: str, codes: list[str]) -> str:
    body, eol = line[: len(line) - len(_EOL.search(line).group(0))], _EOL.search(line).group(0)
    m = _NOQA.search(body)
    if m and m.group("codes"):
        have = [c.upper() for c in re.split(r"[\s,]+", m.group("codes")) if c]
        merged = have + [c for c in codes if c not in have]
        return body[: m.start("codes")] + ", ".join(merged) + body[m.end("codes"):] + eol
    if m:  # a bare `# noqa` suppresses everything already
        return line
    return body.rstrip() + "  # noqa: " + ", ".join(codes) + eol


def add_noqa(findings: list[Finding]) -> tuple[int, list[str]]:
    """(directives added, messages for stderr)."""
    from initlint.fix.sources import load as _load
    from initlint.fix.write import write_atomic as _write

    by_file: dict[str, list[Finding]] = defaultdict(list)
    messages: list[str] = []
    for f in findings:
        if f.code == "IL001":
            continue
        by_file[f.filename].append(f)
    added = 0
    for filename, items in sorted(by_file.items()):
        if filename == "-" or items[0].cell is not None or filename.endswith(".ipynb"):
            messages.append(f"{filename}: --add-noqa edits Python files only; left as it is")
            continue
        src = _load(filename, filename, None)
        if src is None or src.notebook:
            messages.append(f"{filename}: cannot be read; left as it is")
            continue
        lines = _LINES.findall(src.text)  # rows as Python counts them (not at \f or \v)
        inside = _string_rows(src.text)
        per_row: dict[int, list[str]] = defaultdict(list)
        for f in items:
            row = f.row if f.row not in inside else f.end_row
            if row in inside or not 1 <= row <= len(lines):
                messages.append(f"{filename}:{f.row}:{f.col}: {f.code}: no line to put a noqa "
                                "comment on (inside a string); left as it is")
                continue
            if f.code not in per_row[row]:
                per_row[row].append(f.code)
        changed = 0
        for row, codes in per_row.items():
            new = _with_codes(lines[row - 1], sorted(codes))
            if new != lines[row - 1]:
                lines[row - 1] = new
                changed += len(codes)
        if not changed:
            continue
        text = "".join(lines)
        try:
            ast.parse(text)
        except SyntaxError as exc:  # never write a file that no longer parses
            messages.append(f"{filename}: adding noqa comments would break it ({exc.msg}); "
                            "left as it is")
            continue
        try:  # the file's own encoding (its cookie; utf-8-sig keeps a BOM)
            encoding = tokenize.detect_encoding(io.BytesIO(src.data).readline)[0]
        except SyntaxError:
            encoding = "utf-8"
        try:
            data = text.encode(encoding)
        except (UnicodeEncodeError, LookupError):
            messages.append(f"{filename}: cannot be written back in its encoding; left as it is")
            continue
        problem = _write(src, data)
        if problem:
            messages.append(f"{filename}: not written: {problem}")
            continue
        added += changed
    return added, messages
