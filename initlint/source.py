"""Reading and decoding source files (PEP 263 cookies, BOMs, notebooks) and parsing them."""

from __future__ import annotations

import ast
import io
import json
import re
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
    python = _is_python_notebook(nb)  # an R or Julia notebook is not Python: nothing to lint
    for number, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(str(s) for s in src)
        raw_lines = _cell_lines(src)
        cell_lines = _python_lines(raw_lines) if python else [""] * len(raw_lines)
        cells.append((number, len(lines)))
        for i, ln in enumerate(cell_lines, start=1):
            lines.append(ln)
            cell_map.append((number, i))
        lines.append("")
        cell_map.append((number, len(cell_lines) + 1))
    return Source(path, "\n".join(lines) + "\n", cell_map=cell_map, cells=cells)


def _cell_lines(src: str) -> list[str]:
    """Lines as Python counts them: str.splitlines would also split on \\f, \\x1c or U+2028
    (inside a string literal, say), shifting every row after it and breaking the literal."""
    parts = re.split(r"\r\n|\r|\n", src)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def _is_python_notebook(nb: dict) -> bool:
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
    spec = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    lang = info.get("name") or spec.get("language")
    return not isinstance(lang, str) or lang.lower() in ("python", "python3", "ipython", "")


# cell magics whose body is still Python (only the `%%` line itself is blanked)
_PY_CELL_MAGICS = {"time", "timeit", "capture", "prun", "python", "python3", "debug", "pypy"}
_MAGIC_ASSIGN = re.compile(r"^\s*[\w.,\s]+=\s*[!%]")  # files = !ls ; t = %timeit -o f()
_HELP = re.compile(r"^\s*[\w.]+\?{1,2}\s*$")  # obj? / obj??
_LINE_MAGIC = re.compile(r"^(%%?[A-Za-z]|!(?!=)|\?)")  # not `% b` / `!= b` continuation lines


def _python_lines(cell_lines: list[str]) -> list[str]:
    """IPython syntax is not Python: magics, shell escapes and help become `pass` (same
    indentation, so a magic alone in a block still parses, and line numbers stay)."""
    if cell_lines and cell_lines[0].lstrip().startswith("%%"):
        magic = cell_lines[0].lstrip()[2:].split(None, 1)
        if not magic or magic[0] not in _PY_CELL_MAGICS:
            return [""] * len(cell_lines)  # %%bash, %%html, %%writefile ...: not Python
        cell_lines = [""] + cell_lines[1:]
    out = []
    for ln in cell_lines:
        stripped = ln.lstrip()
        if _LINE_MAGIC.match(stripped) or _MAGIC_ASSIGN.match(ln) or _HELP.match(ln):
            out.append(ln[: len(ln) - len(stripped)] + "pass")
        else:
            out.append(ln)
    return out


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
