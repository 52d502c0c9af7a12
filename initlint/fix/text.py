"""Text positions for edits: the analysis's line table (`initlint.source.LineTable`) plus what
a fix needs on top of it (node spans, new lines in the file's own line break, indentation)."""

from __future__ import annotations

import ast

from initlint.source import NEWLINE, LineTable


class Unfixable(Exception):
    """This finding gets no fix (the code is not in a form the fixer can rewrite safely)."""


def newline_of(text: str) -> str:
    """The first line break in `text` ("\\n" when it has none)."""
    m = NEWLINE.search(text)
    return m.group(0) if m else "\n"


class Text(LineTable):
    """Offsets <-> (row, col) of one text, and the edits a fix builds on them."""

    def __init__(self, text: str):
        super().__init__(text)
        self.newline = newline_of(text)

    def node_span(self, node: ast.AST) -> tuple[int, int]:
        s = self.starts[node.lineno - 1] + self.char_col(node.lineno, node.col_offset) \
            if node.lineno <= len(self.starts) else len(self.text)
        e = self.starts[node.end_lineno - 1] + self.char_col(node.end_lineno, node.end_col_offset) \
            if node.end_lineno <= len(self.starts) else len(self.text)
        return s, e

    def segment(self, node: ast.AST) -> str:
        s, e = self.node_span(node)
        return self.text[s:e]

    def insert_after_line(self, row: int, line: str) -> tuple[int, int, str]:
        """An insertion of `line` as a new line after line `row`."""
        if row < len(self.starts):
            off = self.starts[row]
            return off, off, line + self.newline
        return len(self.text), len(self.text), self.newline + line

    def indent_of(self, row: int) -> str:
        line = self.line(row)
        return line[: len(line) - len(line.lstrip(" \t"))]


def apply_spans(text: str, spans) -> str:
    """`text` with the (start, end, replacement) spans applied (duplicates once)."""
    out = text
    for s, e, content in sorted(set(spans), reverse=True):
        out = out[:s] + content + out[e:]
    return out
