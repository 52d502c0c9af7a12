"""Reading and decoding source files (PEP 263 cookies, BOMs, notebooks) and parsing them."""

from __future__ import annotations

import ast
import bisect
import errno
import io
import json
import os
import re
import stat
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
        pos = data.index(b"\x00")
        row = _line_of(data, pos)
        col = len(data[data.rfind(b"\n", 0, pos) + 1:pos].decode("utf-8", "replace")) + 1
        hint = " (UTF-16 or UTF-32 text? Python source must be UTF-8 or declare an ASCII-based " \
            "encoding)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") or pos < 2 else " (a binary file?)"
        raise SourceError(f"file contains NUL bytes, first at line {row}, column {col}{hint}",
                          row, col)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise SourceError(f"bad encoding declaration: {exc}", 1, 1) from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        pos = exc.start
        row = _line_of(data, pos)
        line_start = data.rfind(b"\n", 0, pos) + 1
        col = len(data[line_start:pos].decode(encoding, "replace")) + 1
        bad = data[pos:exc.end][:4].hex(" ")
        hint = (" (declare the file's encoding with a `# -*- coding: NAME -*-` line)"
                if encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig") else "")
        raise SourceError(f"cannot decode as {encoding}: invalid byte(s) {bad} at line {row}, "
                          f"column {col}{hint}", row, col) from None
    except LookupError as exc:
        raise SourceError(f"bad encoding declaration: {exc}", 1, 1) from None
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
        elif not isinstance(src, str):  # malformed (a number, null): no code
            src = ""
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
    parts = NEWLINE.split(src)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


# ---- line tables: one implementation for the analysis (`Loc` columns) and the fixer (edits)

NEWLINE = re.compile(r"\r\n|\r|\n")  # the line breaks Python counts (not \\f, \\x1c, U+2028)


def char_col(line: str, byte_col: int) -> int:
    """`ast`'s UTF-8 byte column on `line` -> 0-based character column."""
    if line.isascii():
        return byte_col
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))


class LineTable:
    """A text's line starts: offsets <-> (row, col), 1-based, col in characters (as `Finding`,
    `Loc` and `Edit` count them); rows end at \\r\\n, \\r or \\n only, like `split_lines`."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in NEWLINE.finditer(text)]

    def offset(self, row: int, col: int) -> int:
        if row < 1:
            return 0
        if row > len(self.starts):
            return len(self.text)
        return min(self.starts[row - 1] + max(col, 1) - 1, len(self.text))

    def pos(self, off: int) -> tuple[int, int]:
        row = bisect.bisect_right(self.starts, off)
        return row, off - self.starts[row - 1] + 1

    def line(self, row: int) -> str:
        """Line `row` without its line break ("" outside the text)."""
        if not 1 <= row <= len(self.starts):
            return ""
        start = self.starts[row - 1]
        end = self.starts[row] if row < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def char_col(self, row: int, byte_col: int) -> int:
        """`ast`'s byte column on line `row` -> 0-based character column."""
        return char_col(self.line(row), byte_col)


def split_lines(text: str) -> list[str]:
    """Lines as Python numbers them: split at \\r\\n, \\r or \\n only (str.splitlines also splits
    at \\f, \\v, \\x1c-\\x1e, \\x85, U+2028/9, which leaves every later row off by one)."""
    return _cell_lines(text)


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


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _not_regular(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"{kind}, not a regular file: not read"


# Python's `ast` needs about 180 bytes of memory per byte of source: a 4 MiB file takes
# ~0.7 GB and ~5 s to analyse, a 50 MB one 9 GB. Larger files (generated tables, dumped
# graphs) are reported, not analysed; INITLINT_MAX_FILE_SIZE (bytes, or 8M, 512K) moves the line.
MAX_SOURCE_BYTES = 4 * 1024 * 1024
# not even read past this (a notebook's outputs may be large; its code is what counts)
MAX_READ_BYTES = 256 * 1024 * 1024


def max_source_bytes() -> int:
    raw = os.environ.get("INITLINT_MAX_FILE_SIZE", "").strip().upper().rstrip("B")
    scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(raw[-1:], 1) if raw else 1
    try:
        value = int(float(raw[:-1] if scale > 1 else raw) * scale)
    except ValueError:
        return MAX_SOURCE_BYTES
    return value if value > 0 else MAX_SOURCE_BYTES


def too_large(size: int, limit: int) -> str:
    return (f"file too large to analyse ({_mb(size)}; the limit is {_mb(limit)}, set "
            f"INITLINT_MAX_FILE_SIZE to raise it): not checked")


def _mb(n: int) -> str:
    return f"{n / 1024 ** 2:.1f} MiB" if n >= 1024 ** 2 else f"{n / 1024:.0f} KiB"


def read_bytes(path: str) -> bytes:
    """The bytes of a regular file, or SourceError with a one-line reason. Never blocks on a
    FIFO or a device: it is opened non-blocking and checked with fstat before any read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise SourceError("is a directory, not a file", 1, 1) from None
    except PermissionError:
        raise SourceError("permission denied", 1, 1) from None
    except FileNotFoundError:
        why = "a broken symbolic link" if os.path.islink(path) else "file vanished before it could be read"
        raise SourceError(why, 1, 1) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError("symbolic link loop", 1, 1) from None
        try:  # a socket cannot be opened at all (ENXIO: "No such device or address")
            st = os.stat(path)
        except OSError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise SourceError(_not_regular(st.st_mode), 1, 1) from None
        raise SourceError(f"cannot read: {exc.strerror or exc}", 1, 1) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(_not_regular(st.st_mode), 1, 1)
        if st.st_size > max(MAX_READ_BYTES, max_source_bytes()):
            raise SourceError(too_large(st.st_size, max_source_bytes()), 1, 1)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            return fh.read()
    except MemoryError:
        raise SourceError("file too large to read into memory", 1, 1) from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}", 1, 1) from None
    finally:
        if fd >= 0:
            os.close(fd)


def read_source(path: str, data: bytes | None = None) -> Source:
    if data is None:
        data = read_bytes(path)
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
