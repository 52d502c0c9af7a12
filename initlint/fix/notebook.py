"""Notebooks: a fix is computed on the joined source of the code cells and written back into
the `.ipynb` JSON text with only the changed cells' `source` values replaced (string or list
form, indentation and `\\u` escaping as the file had them); everything else keeps its bytes."""

from __future__ import annotations

import json
import re
from collections import defaultdict

from initlint.fix.sources import Source
from initlint.fix.text import Text, Unfixable, apply_spans

_WS = re.compile(r"[ \t\n\r]*")


def _source_spans(raw: str) -> dict[int, tuple[int, int]]:
    """Spans of each cell's `source` value in the notebook's JSON text (cells numbered from 1)."""
    dec = json.JSONDecoder()
    spans: dict[int, tuple[int, int]] = {}

    def ws(i):
        return _WS.match(raw, i).end()

    def members(i):
        """Yield (key, value_start, value_end) of the object at i; return the end."""
        assert raw[i] == "{"
        i = ws(i + 1)
        if raw[i] == "}":
            return
        while True:
            key, i = json.decoder.scanstring(raw, i + 1)
            i = ws(i)
            assert raw[i] == ":"
            i = ws(i + 1)
            _, end = dec.raw_decode(raw, i)
            yield key, i, end
            i = ws(end)
            if raw[i] == ",":
                i = ws(i + 1)
                continue
            assert raw[i] == "}"
            return

    start = ws(0)
    for key, s, e in members(start):
        if key != "cells":
            continue
        i = ws(s + 1)
        n = 0
        while raw[i] != "]":
            n += 1
            _, end = dec.raw_decode(raw, i)
            if raw[i] == "{":
                for k, vs, ve in members(i):
                    if k == "source":
                        spans[n] = (vs, ve)
            i = ws(end)
            if raw[i] == ",":
                i = ws(i + 1)
    return spans


def cells_of(data: bytes) -> dict[int, str]:
    nb = json.loads(data.decode("utf-8"))
    out = {}
    for n, cell in enumerate(nb.get("cells", []), start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            s = cell.get("source", "")
            out[n] = "".join(s) if isinstance(s, list) else s
    return out


def _cell_spans(src: Source, spans) -> dict[int, list[tuple[int, int, str]]]:
    """Joined-text spans -> spans in each cell's original `source` (magics and all)."""
    t = Text(src.text)
    cells = cells_of(src.data)
    starts: dict[int, list[int]] = {}
    out: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    cm = src.cell_map

    def local(off):
        row, col = t.pos(off)
        if not 1 <= row <= len(cm):
            raise Unfixable("edit outside the notebook's cells")
        cell, line = cm[row - 1]
        text = cells[cell]
        if cell not in starts:
            st = [0]
            for ln in text.splitlines(keepends=True):
                st.append(st[-1] + len(ln))
            starts[cell] = st
        st = starts[cell]
        if line > len(st) - 1:  # the blank line read_notebook adds after each cell
            return cell, len(text)
        return cell, min(st[line - 1] + col - 1, len(text))

    for s, e, content in spans:
        (c1, ls), (c2, le) = local(s), local(e)
        if c1 != c2:
            raise Unfixable("edit spans notebook cells")
        text = cells[c1]
        if ls == le == len(text) and text and not text.endswith(("\n", "\r")) and \
                content.endswith("\n") and not content.startswith("\n"):
            content = "\n" + content[:-1]
        out[c1].append((ls, le, content))
    return out


def notebook_bytes(src: Source, spans) -> bytes:
    raw = src.data.decode("utf-8")
    per_cell = _cell_spans(src, spans)
    cells = cells_of(src.data)
    source_spans = _source_spans(raw)
    pieces, last = [], 0
    for cell in sorted(per_cell, key=lambda c: source_spans[c][0]):
        new_text = apply_spans(cells[cell], per_cell[cell])
        if new_text == cells[cell]:
            continue
        s, e = source_spans[cell]
        pieces.append(raw[last:s])
        pieces.append(_json_source(raw[s:e], new_text, raw))
        last = e
    pieces.append(raw[last:])
    return "".join(pieces).encode("utf-8")


def _json_source(old_value: str, text: str, raw: str) -> str:
    ascii_only = raw.isascii() and "\\u" in raw

    def dump(s):
        return json.dumps(s, ensure_ascii=ascii_only)

    if not old_value.lstrip().startswith("["):
        return dump(text)
    lines = text.splitlines(keepends=True)
    if not lines:
        return "[]"
    nl = "\r\n" if "\r\n" in raw else "\n"
    m = re.match(r"\[(\s*?)(\r?\n)?([ \t]*)\S", old_value)
    if m and m.group(2):
        indent = m.group(3)
        close = re.search(r"\n([ \t]*)\]\s*$", old_value)
        close_indent = close.group(1) if close else indent[:-1]
        return "[" + nl + ("," + nl).join(indent + dump(ln) for ln in lines) + nl + close_indent + "]"
    return "[" + ", ".join(dump(ln) for ln in lines) + "]"
