"""Reading and decoding source files (PEP 263 cookies, BOMs, notebooks) and parsing them."""

from __future__ import annotations

import ast
import io
import json
import sys
import tokenize
import warnings
from dataclasses import dataclass, field


class SourceError(Exception):
    def __init__(self, message: str, row: int = 1, col: int = 1):
        super().__init__(message)
        self.message = message
        self.row = row
        self.col = col


@dataclass
class Source:
    path: str
    text: str
    # notebook: per joined-source line, (cell number, line in cell); None for plain files
    cell_map: list | None = None
    cells: list | None = field(default=None, repr=False)


def decode(data: bytes, path: str) -> str:
    if b"\x00" in data:
        raise SourceError("file contains NUL bytes", _line_of(data, data.index(b"\x00")), 1)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise SourceError(f"bad encoding declaration: {exc}", 1, 1) from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        pos = getattr(exc, "start", 0) or 0
        raise SourceError(f"cannot decode as {encoding}: {exc.__class__.__name__} at byte {pos}",
                          _line_of(data, pos), 1) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def read_notebook(data: bytes, path: str) -> Source:
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"not a valid notebook (JSON): {exc}", 1, 1) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SourceError("not a valid notebook: no 'cells' list", 1, 1)
    lines: list[str] = []
    cell_map: list = []
    cells = []
    for number, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(str(s) for s in src)
        cell_lines = src.splitlines()
        # IPython magics and shell escapes are not Python: blank them (keeping line numbers)
        cell_lines = ["" if ln.lstrip().startswith(("%", "!", "?")) else ln for ln in cell_lines]
        cells.append((number, len(lines)))
        for i, ln in enumerate(cell_lines, start=1):
            lines.append(ln)
            cell_map.append((number, i))
        lines.append("")
        cell_map.append((number, len(cell_lines) + 1))
    return Source(path, "\n".join(lines) + "\n", cell_map=cell_map, cells=cells)


def read_source(path: str, data: bytes | None = None) -> Source:
    if data is None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except IsADirectoryError:
            raise SourceError("is a directory, not a file", 1, 1) from None
        except PermissionError:
            raise SourceError("permission denied", 1, 1) from None
        except FileNotFoundError:
            raise SourceError("file vanished before it could be read", 1, 1) from None
        except OSError as exc:
            raise SourceError(f"cannot read: {exc.strerror or exc}", 1, 1) from None
    if path.endswith(".ipynb"):
        return read_notebook(data, path)
    return Source(path, decode(data, path))


def parse(text: str, path: str) -> ast.Module:
    limit = sys.getrecursionlimit()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text, filename=path, type_comments=False)
    except SyntaxError as exc:
        raise SourceError(f"syntax error: {exc.msg}", exc.lineno or 1, exc.offset or 1) from None
    except (RecursionError, MemoryError):
        raise SourceError("too deeply nested to parse", 1, 1) from None
    except ValueError as exc:
        raise SourceError(f"cannot parse: {exc}", 1, 1) from None
    finally:
        sys.setrecursionlimit(limit)
