"""`initlint lsp`: a Language Server (pygls 2.x) over stdio.

- Diagnostics for Python documents on didOpen and didSave (at once) and on didChange
  (debounced, 300 ms by default; `initializationOptions.debounceMs` changes it). The
  in-memory text is linted, never the file on disk, with the configuration that applies to
  the file's path (the nearest pyproject.toml / initlint.toml, as on the command line).
- Each diagnostic has the rule code, a codeDescription link to the rule page, source
  "initlint", relatedInformation (the layer and the activation involved) and severity
  error -> Error, warning -> Warning, info -> Information.
- Code actions: the finding's fix (the same edits `initlint --fix` applies, from
  `initlint.fix.attach_fixes`), "suppress with `# noqa: CODE`", and
  `source.fixAll.initlint` (every safe fix of the document at once).

Positions: findings are 1-based lines and 1-based *character* columns; they are converted to
the position encoding negotiated with the client (UTF-16 unless the client offers another).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from dataclasses import dataclass, field

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from initlint import __version__
from initlint.findings import is_absolute_url

log = logging.getLogger("initlint.lsp")

SOURCE = "initlint"
FIX_ALL_KIND = "source.fixAll.initlint"
DEFAULT_DEBOUNCE = 0.3
PYTHON_LANGUAGES = {"python", "pyi"}
SEVERITY = {"error": T.DiagnosticSeverity.Error, "warning": T.DiagnosticSeverity.Warning,
            "info": T.DiagnosticSeverity.Information}


@dataclass
class DocState:
    """The findings last published for one document version (code actions use them)."""
    version: int | None
    text: str
    findings: list = field(default_factory=list)
    cfg: object = None
    fixed_text: str | None = None  # fix-all result, computed on the first request


class InitlintServer(LanguageServer):
    def __init__(self, debounce: float = DEFAULT_DEBOUNCE):
        super().__init__(
            "initlint", __version__,
            text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
        self.debounce = debounce
        self.states: dict[str, DocState] = {}
        self.pending: dict[str, asyncio.Task] = {}
        self.config_errors_shown: set[str] = set()
        self.lint_lock = threading.Lock()
        self.project_context = True
        self.context = ProjectContext()


class ProjectContext:
    """The other files of the document's project, analyzed once and kept while unchanged
    (keyed by mtime and size). Project-wide rules need them: an `init_weights` defined in the
    open file and `.apply`d from train.py is not "never applied" (IL401), a helper factory in
    another module tells what a layer is. Findings are only reported for the open document."""

    MAX_FILES = 3000
    TTL = 10.0  # seconds a discovered file list is reused (didChange does not re-walk)

    def __init__(self):
        self.results: dict[str, tuple[tuple, object]] = {}
        self.listing: dict[tuple, tuple[float, list]] = {}

    def root_for(self, path: str, cfg, folders: list[str]) -> str:
        if cfg.path:
            return os.path.dirname(os.path.abspath(cfg.path))
        real = os.path.realpath(path)
        best = ""
        for f in folders:
            f = os.path.realpath(f)
            if real.startswith(f.rstrip(os.sep) + os.sep) and len(f) > len(best):
                best = f
        folder = os.path.dirname(os.path.abspath(path))
        if not best or best in (os.path.abspath(os.sep), os.path.expanduser("~")):
            return folder  # never walk a whole disk or home directory
        return best

    def targets(self, root: str, cfg, path: str, fresh: bool) -> list:
        import time

        from initlint.discover import Target, discover

        key = (root, cfg.fingerprint() if hasattr(cfg, "fingerprint") else "", tuple(cfg.exclude),
               tuple(cfg.extend_exclude))
        now = time.monotonic()
        hit = self.listing.get(key)
        if hit is None or fresh or now - hit[0] > self.TTL:
            found, _ = discover([root], cfg)
            if len(found) > self.MAX_FILES:  # too big to keep in step: the folder only
                folder = os.path.dirname(os.path.abspath(path))
                found = [Target(t.path, t.display) for t in found
                         if os.path.dirname(os.path.abspath(t.path)) == folder]
            hit = (now, found)
            self.listing[key] = hit
        me = os.path.realpath(path)
        return [t for t in hit[1] if os.path.realpath(t.path) != me]

    def analyze(self, targets) -> list:
        from initlint import engine

        out = []
        for t in targets:
            try:
                st = os.stat(t.path)
                stamp = (t.display, st.st_mtime_ns, st.st_size)
            except OSError:
                continue
            hit = self.results.get(t.path)
            if hit is None or hit[0] != stamp:
                hit = (stamp, engine.analyze_file(t.path, t.display))
                self.results[t.path] = hit
            out.append(hit[1])
        return out


server = InitlintServer()


# ---------------------------------------------------------------------------- linting

def _doc_path(ls: InitlintServer, uri: str) -> str:
    path = to_fs_path(uri)
    if path:
        return path
    # untitled:Untitled-1 and friends: pretend the file sits in the workspace root
    root = ls.workspace.root_path or os.getcwd()
    name = re.sub(r"[^\w.-]", "_", uri.rsplit("/", 1)[-1].rsplit(":", 1)[-1]) or "untitled"
    if not name.endswith((".py", ".pyi")):
        name += ".py"
    return os.path.join(root, name)


def _is_lintable(uri: str, path: str, language_id: str | None) -> bool:
    if path.endswith(".ipynb"):
        return False  # notebooks: lint the .ipynb file from the CLI (cells, not JSON text)
    if path.endswith((".py", ".pyi")):
        return True
    return (language_id or "").lower() in PYTHON_LANGUAGES


def _config_for(path: str):
    """(config for the file, error message or None). A broken config file is reported to
    the user once and the defaults are used, so the editor keeps its diagnostics."""
    from initlint.cli import build_config
    from initlint.config import Config, ConfigError

    start = path if os.path.exists(path) else os.path.dirname(path)
    try:
        return build_config(None, [start], (), (), (), False), None
    except ConfigError as exc:
        return Config(), str(exc)


def _show_config_error(ls: InitlintServer, msg: str | None) -> None:
    if msg and msg not in ls.config_errors_shown:
        ls.config_errors_shown.add(msg)
        ls.window_show_message(T.ShowMessageParams(
            type=T.MessageType.Error,
            message=f"initlint: configuration error, using the defaults: {msg}"))


def _excluded(cfg, path: str, root: str) -> bool:
    """`exclude`/`extend-exclude` for the file or a folder between it and the project root
    (as `initlint ROOT` would skip it)."""
    if cfg.excluded(path, False):
        return True
    root = os.path.abspath(root)
    d = os.path.dirname(os.path.abspath(path))
    while d.startswith(root.rstrip(os.sep) + os.sep) and d != root:
        if cfg.excluded(d, True):
            return True
        d = os.path.dirname(d)
    return False


def _encoding(text: str) -> str:
    """The encoding the file declares (PEP 263 cookie), so the bytes we lint decode back to
    the buffer's text; utf-8 without one."""
    import io
    import tokenize

    head = "".join(text.splitlines(keepends=True)[:2]).encode("utf-8", "surrogatepass")
    try:
        enc, _ = tokenize.detect_encoding(io.BytesIO(head).readline)
        "".encode(enc)
    except (SyntaxError, LookupError):
        return "utf-8"
    return "utf-8" if enc == "utf-8-sig" else enc


def _encode(text: str) -> tuple[bytes, str]:
    enc = _encoding(text)
    try:
        return text.encode(enc), enc
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass"), "utf-8"


def _fixer():
    try:
        from initlint import fix as fixer
    except ImportError:  # the autofix engine is optional here: diagnostics still work
        return None
    return fixer if hasattr(fixer, "attach_fixes") else None


def lint_text(path: str, text: str, cfg, context: tuple | None = None) -> tuple[list, object]:
    """Lint an in-memory document: (findings with fixes attached, report). `context` is
    (targets, analyze) for the rest of the project; only the document's findings are kept.
    The fixes are computed on the buffer (`sources` override), never on the file on disk."""
    from initlint import engine

    data, _ = _encode(text)
    if context:
        targets, analyze = context
        report = engine.lint(targets, cfg, stdin=(path, data), analyze=analyze)
    else:
        report = engine.lint([], cfg, stdin=(path, data))
    findings = [f for f in report.findings if f.filename == path]
    fixer = _fixer()
    if fixer is not None:
        try:
            fixer.attach_fixes(findings, report, stdin=(path, data), sources={path: data})
        except Exception:  # a fixer bug must not cost the user the diagnostics
            log.exception("attaching fixes failed")
            for f in findings:
                f.fix = None
    return findings, report


def fix_all_text(path: str, text: str, cfg) -> str | None:
    """The buffer with every safe fix applied (re-linted until stable, as `initlint --fix`
    does on stdin); None when there is nothing to fix. Nothing is written to disk."""
    from initlint import engine

    fixer = _fixer()
    if fixer is None or not hasattr(fixer, "apply"):
        return None
    data, enc = _encode(text)
    stdin = (path, data)
    report = engine.lint([], cfg, stdin=stdin)
    if not report.findings:
        return None
    out = fixer.apply(report, cfg, unsafe=False, diff_only=False, stdin=stdin)
    new = out.stdout_text
    if isinstance(new, (bytes, bytearray)):
        try:
            new = bytes(new).decode(enc)
        except UnicodeDecodeError:
            return None
    return new if new is not None and new != text else None


def _rng(lines: list[str], doc, row: int, col: int, end_row: int, end_col: int) -> T.Range:
    """1-based (row, character col) span, end exclusive -> LSP range in client units."""
    def pos(r, c):
        line = max(0, r - 1)
        return T.Position(line=line, character=max(0, c - 1))

    start, end = pos(row, col), pos(end_row or row, end_col or col)
    if (end.line, end.character) < (start.line, start.character):
        end = start
    rng = T.Range(start=start, end=end)
    if doc is not None:
        try:
            return doc.position_codec.range_to_client_units(lines, rng)
        except Exception:
            return rng
    return rng


def to_diagnostic(f, uri: str, path: str, lines: list[str], doc) -> T.Diagnostic:
    related = []
    for r in f.related:
        if r.filename == path or r.filename == f.filename:
            ruri, rlines = uri, lines
        else:
            ruri, rlines = from_fs_path(os.path.abspath(r.filename)) or r.filename, []
        related.append(T.DiagnosticRelatedInformation(
            location=T.Location(uri=ruri, range=_rng(rlines, doc if rlines else None,
                                                     r.row, r.col, r.row, r.col)),
            message=r.message))
    return T.Diagnostic(
        range=_rng(lines, doc, f.row, f.col, f.end_row, f.end_col),
        message=f.message,
        severity=SEVERITY.get(f.severity, T.DiagnosticSeverity.Warning),
        code=f.code,
        # a link only where `docs-url` names an absolute base (the LSP wants a URI)
        code_description=T.CodeDescription(href=f.url) if is_absolute_url(f.url) else None,
        source=SOURCE,
        related_information=related or None,
    )


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _lines(text: str) -> list[str]:
    """Lines as LSP and Python's tokenizer count them (\\n, \\r\\n, \\r only; not \\f or
    U+2028, which str.splitlines also splits on)."""
    return _LINE.findall(text) or [""]


def _folders(ls: InitlintServer) -> list[str]:
    out = []
    try:
        for f in (ls.workspace.folders or {}).values():
            p = to_fs_path(f.uri)
            if p:
                out.append(p)
        if ls.workspace.root_path:
            out.append(ls.workspace.root_path)
    except Exception:
        pass
    return out


async def lint_and_publish(ls: InitlintServer, uri: str, fresh: bool = False) -> None:
    try:
        doc = ls.workspace.get_text_document(uri)
    except Exception:
        return
    version, text = doc.version, doc.source
    path = _doc_path(ls, uri)
    if not _is_lintable(uri, path, doc.language_id):
        return
    loop = asyncio.get_running_loop()

    def work():
        with ls.lint_lock:
            cfg, problem = _config_for(path)
            errors.append(problem)
            root = ls.context.root_for(path, cfg, _folders(ls))
            if _excluded(cfg, path, root):
                return [], cfg
            context = None
            if ls.project_context:
                try:
                    context = (ls.context.targets(root, cfg, path, fresh), ls.context.analyze)
                except Exception:  # context is a help; the document alone still lints
                    log.exception("project context for %s", path)
            return lint_text(path, text, cfg, context)[0], cfg

    errors: list = []  # filled in the worker thread, sent from here (one writer thread)
    try:
        findings, cfg = await loop.run_in_executor(None, work)
        for problem in errors:
            _show_config_error(ls, problem)
    except Exception as exc:  # never let an analysis bug kill the server
        log.exception("linting %s failed", uri)
        ls.window_log_message(T.LogMessageParams(
            type=T.MessageType.Error, message=f"initlint: internal error on {path}: {exc}"))
        return
    # a newer version arrived while we were linting: its own lint will publish
    try:
        current = ls.workspace.get_text_document(uri)
    except Exception:
        return
    if uri not in ls.states and uri not in _open_uris(ls):
        return
    if current.version != version or current.source != text:
        return
    ls.states[uri] = DocState(version, text, findings, cfg)
    lines = _lines(text)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
        uri=uri, version=version,
        diagnostics=[to_diagnostic(f, uri, path, lines, doc) for f in findings]))


def _open_uris(ls: InitlintServer) -> set[str]:
    try:
        return set(ls.workspace.text_documents)
    except Exception:
        return set()


def schedule(ls: InitlintServer, uri: str, delay: float, fresh: bool = False) -> None:
    old = ls.pending.pop(uri, None)
    if old is not None and not old.done():
        old.cancel()

    async def run():
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            await lint_and_publish(ls, uri, fresh)
        except asyncio.CancelledError:
            pass
        finally:
            if ls.pending.get(uri) is task:
                ls.pending.pop(uri, None)

    task = asyncio.get_running_loop().create_task(run())
    ls.pending[uri] = task


# ---------------------------------------------------------------------------- features

@server.feature(T.INITIALIZE)
def initialize(ls: InitlintServer, params: T.InitializeParams) -> None:
    opts = params.initialization_options
    if isinstance(opts, dict):
        ms = opts.get("debounceMs", opts.get("debounce_ms"))
        if isinstance(ms, (int, float)) and ms >= 0:
            ls.debounce = ms / 1000.0
        if opts.get("projectContext") is False:
            ls.project_context = False


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: InitlintServer, params: T.DidOpenTextDocumentParams) -> None:
    schedule(ls, params.text_document.uri, 0, fresh=True)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: InitlintServer, params: T.DidChangeTextDocumentParams) -> None:
    schedule(ls, params.text_document.uri, ls.debounce)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
async def did_save(ls: InitlintServer, params: T.DidSaveTextDocumentParams) -> None:
    schedule(ls, params.text_document.uri, 0, fresh=True)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
async def did_close(ls: InitlintServer, params: T.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    task = ls.pending.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.states.pop(uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def _overlaps(a: T.Range, b: T.Range) -> bool:
    a0, a1 = (a.start.line, a.start.character), (a.end.line, a.end.character)
    b0, b1 = (b.start.line, b.start.character), (b.end.line, b.end.character)
    return a0 <= b1 and b0 <= a1


def _text_edits(doc, lines, edits) -> list[T.TextEdit]:
    return [T.TextEdit(range=_rng(lines, doc, e.row, e.col, e.end_row, e.end_col),
                       new_text=e.content) for e in edits]


_NOQA_CODES = re.compile(r"#\s*noqa\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*)",
                         re.IGNORECASE)


def noqa_edit(lines: list[str], row: int, code: str, doc) -> T.TextEdit | None:
    """Append `# noqa: CODE` to line `row` (1-based), or add CODE to its noqa list."""
    if not 1 <= row <= len(lines):
        return None
    raw = lines[row - 1]
    body = raw.rstrip("\r\n")
    m = _NOQA_CODES.search(body)
    if m:
        codes = [c for c in re.split(r"[\s,]+", m.group("codes")) if c]
        if code in {c.upper() for c in codes}:
            return None
        pos = m.end("codes")
        new = f", {code}"
    elif re.search(r"#\s*noqa\b(?!\s*:)", body, re.IGNORECASE):
        return None  # a bare noqa already silences everything
    else:
        if body.rstrip().endswith("\\"):
            return None  # a comment cannot follow a line continuation
        pos = len(body.rstrip())
        new = f"  # noqa: {code}"
    rng = _rng(lines, doc, row, pos + 1, row, len(body) + 1 if not m else pos + 1)
    return T.TextEdit(range=rng, new_text=new)


def _suppress_row(lines: list[str], f) -> int:
    """The line to put the noqa on: the first line, unless it ends in a backslash."""
    row = f.row
    if 1 <= row <= len(lines) and lines[row - 1].rstrip("\r\n").rstrip().endswith("\\"):
        return f.end_row
    return row


def _whole_document_edit(doc, text: str, new: str) -> T.TextEdit:
    lines = _lines(text)
    last = lines[-1]
    if last.endswith(("\n", "\r")):
        end = T.Position(line=len(lines), character=0)
    else:
        end = doc.position_codec.position_to_client_units(
            lines, T.Position(line=len(lines) - 1, character=len(last)))
    return T.TextEdit(range=T.Range(start=T.Position(line=0, character=0), end=end),
                      new_text=new)


@server.feature(
    T.TEXT_DOCUMENT_CODE_ACTION,
    T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix,
                                           T.CodeActionKind.SourceFixAll, FIX_ALL_KIND],
                        resolve_provider=False))
async def code_action(ls: InitlintServer, params: T.CodeActionParams) -> list[T.CodeAction]:
    uri = params.text_document.uri
    state = ls.states.get(uri)
    if state is None:
        return []
    try:
        doc = ls.workspace.get_text_document(uri)
    except Exception:
        return []
    if doc.source != state.text:
        return []  # the findings are for an older text; the next publish brings new ones
    lines = _lines(state.text)
    only = params.context.only if params.context else None

    def wanted(kind: str) -> bool:
        if not only:
            return True
        names = [getattr(k, "value", k) for k in only]
        return any(kind == k or kind.startswith(f"{k}.") for k in names)

    path = _doc_path(ls, uri)
    actions: list[T.CodeAction] = []
    if wanted(T.CodeActionKind.QuickFix):
        for f in state.findings:
            diag = to_diagnostic(f, uri, path, lines, doc)
            if not _overlaps(diag.range, params.range):
                continue
            if f.fix is not None and f.fix.edits:
                unsafe = f.fix.applicability != "safe"
                actions.append(T.CodeAction(
                    title=f"initlint: {f.fix.message}" + (" (unsafe fix)" if unsafe else ""),
                    kind=T.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    is_preferred=not unsafe,
                    edit=T.WorkspaceEdit(changes={uri: _text_edits(doc, lines, f.fix.edits)})))
            edit = noqa_edit(lines, _suppress_row(lines, f), f.code, doc)
            if edit is not None:
                actions.append(T.CodeAction(
                    title=f"initlint: suppress {f.code} with `# noqa: {f.code}`",
                    kind=T.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    edit=T.WorkspaceEdit(changes={uri: [edit]})))
    safe = any(f.fix is not None and f.fix.applicability == "safe" for f in state.findings)
    if wanted(FIX_ALL_KIND) and safe:
        if state.fixed_text is None:
            def work():
                with ls.lint_lock:
                    return fix_all_text(path, state.text, state.cfg)
            try:
                new = await asyncio.get_running_loop().run_in_executor(None, work)
            except Exception:
                log.exception("fix-all failed on %s", uri)
                new = None
            state.fixed_text = new if new is not None else state.text
        if state.fixed_text != state.text and doc.source == state.text:
            actions.append(T.CodeAction(
                title="initlint: fix all safely fixable problems",
                kind=FIX_ALL_KIND,
                edit=T.WorkspaceEdit(changes={
                    uri: [_whole_document_edit(doc, state.text, state.fixed_text)]})))
    return actions


def serve(debounce: float | None = None) -> None:
    if debounce is not None:
        server.debounce = debounce
    start_stdio(server)


# --------------------------------------------------------------------------- framing
# pygls' own stdio loop trusts the client's framing: one Content-Length that is wrong,
# non-numeric, negative or missing, or LF-only separators, leave it waiting forever (not even
# `shutdown` is answered), and a huge Content-Length is allocated at once. This reader takes
# the stream apart itself: it accepts LF-only lines, skips what is not a message to the next
# `Content-Length:` header, recovers a body whose announced length was too long (a complete
# JSON value followed by the next header, or by silence), and refuses bodies over
# MAX_MESSAGE_BYTES without reading them into memory. Each problem is one line on stderr.

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
STALL_SECONDS = 0.5  # no new bytes for this long: a pending body may have had a wrong length
_HEADER_START = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _is_json(data: bytes) -> bool:
    import json

    try:
        return isinstance(json.loads(data), (dict, list))
    except ValueError:
        return False


class Framer:
    """Splits a JSON-RPC byte stream into message bodies. `feed(bytes)`, then `pop(stalled)`
    until it returns None; each item is ("body", bytes) or ("problem", text)."""

    def __init__(self):
        self.buf = bytearray()
        self.scan_from = 0  # where to look for the next header inside a pending body

    def feed(self, data: bytes) -> None:
        self.buf += data

    def _drop(self, n: int) -> None:
        del self.buf[:n]
        self.scan_from = 0

    def pop(self, stalled: bool = False):
        buf = self.buf
        m = _HEADER_START.search(buf)
        if m is None:
            keep = 32  # a header split across reads
            if len(buf) > keep:
                junk = bytes(buf[:-keep])
                self._drop(len(buf) - keep)
                if junk.strip():
                    return "problem", f"skipped {len(junk)} bytes that are not a message"
            return None
        if m.start():
            junk = bytes(buf[:m.start()])
            self._drop(m.start())
            if junk.strip():
                return "problem", (f"skipped {len(junk)} bytes before a Content-Length header "
                                   f"(a wrong Content-Length or a header without one)")
            return self.pop(stalled)
        e = _HEADER_END.search(buf)
        if e is None:
            if len(buf) > MAX_HEADER_BYTES:
                self._drop(m.end())
                return "problem", "a header block without an end; looking for the next message"
            return None
        start = e.end()
        value = None
        for line in re.split(rb"\r?\n", bytes(buf[:e.start()])):
            name, _, v = line.partition(b":")
            if name.strip().lower() == b"content-length":
                value = v.strip()
        if value is None or not re.fullmatch(rb"[0-9]{1,18}", value):
            self._drop(start)
            return "problem", (f"bad Content-Length {value.decode('latin-1') if value else ''!r}; "
                               f"looking for the next message")
        n = int(value)
        if n > MAX_MESSAGE_BYTES:
            self._drop(start)
            return "problem", (f"a message of {n} bytes is over the limit of "
                               f"{MAX_MESSAGE_BYTES}; skipped")
        end = start + n
        # a header inside the announced body, after a complete JSON value: the length lied
        lo = max(start, self.scan_from - 32)
        nxt = _HEADER_START.search(buf, lo, min(end, len(buf)))
        self.scan_from = min(end, len(buf))
        if nxt is not None and _is_json(bytes(buf[start:nxt.start()])):
            body = bytes(buf[start:nxt.start()])
            self._drop(nxt.start())
            return "recovered", body
        if len(buf) >= end:
            body = bytes(buf[start:end])
            self._drop(end)
            return "body", body
        if stalled and _is_json(bytes(buf[start:])):
            body = bytes(buf[start:])
            self._drop(len(buf))
            return "recovered", body
        return None


def start_stdio(ls: InitlintServer, fd_in: int | None = None, stdout=None) -> None:
    """pygls' `start_io`, with the reader above in place of its own."""
    import sys

    from pygls.io_ import StdoutWriter

    ls._stop_event = threading.Event()
    ls.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
    fd = sys.stdin.fileno() if fd_in is None else fd_in
    try:
        asyncio.run(_read_loop(ls, fd))
    except BrokenPipeError:
        log.error("the connection to the client is lost; shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        ls.shutdown()


async def _read_loop(ls: InitlintServer, fd: int) -> None:
    import json

    from pygls.exceptions import JsonRpcException

    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue = asyncio.Queue()

    def pump() -> None:  # a daemon thread: a blocked read never holds up the exit
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                data = b""
            loop.call_soon_threadsafe(chunks.put_nowait, data)
            if not data:
                return

    threading.Thread(target=pump, name="initlint-lsp-stdin", daemon=True).start()
    framer = Framer()
    eof = False
    while not eof and not ls._stop_event.is_set():
        stalled = False
        try:
            data = await asyncio.wait_for(chunks.get(), STALL_SECONDS)
            if data:
                framer.feed(data)
            else:
                eof = stalled = True
        except asyncio.TimeoutError:
            stalled = True
        while True:
            item = framer.pop(stalled)
            if item is None:
                break
            kind, value = item
            if kind == "problem":
                log.warning("bad message framing from the client: %s", value)
                continue
            if kind == "recovered":
                log.warning("bad message framing from the client: the Content-Length was "
                            "longer than the message; read it up to the next message")
            try:
                message = json.loads(value, object_hook=ls.protocol.structure_message)
                ls.protocol.handle_message(message)
            except Exception as exc:
                log.exception("Unable to handle message")
                ls._report_server_error(exc, JsonRpcException)
