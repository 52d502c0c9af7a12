"""`initlint lsp`, tested as an editor uses it: a real `python -m initlint lsp` child process,
JSON-RPC with Content-Length framing over its stdin/stdout."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BAD = textwrap.dedent('''\
    import torch.nn as nn


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(256, 256)
            self.fc2 = nn.Linear(256, 256)
            self.fc3 = nn.Linear(256, 10)
            self.act = nn.ReLU()
            nn.init.xavier_uniform_(self.fc1.weight)
            nn.init.normal_(self.fc2.weight)

        def forward(self, x):
            return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))
    ''')
GOOD = BAD.replace("nn.init.xavier_uniform_(self.fc1.weight)",
                   'nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")').replace(
    "nn.init.normal_(self.fc2.weight)", 'nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")')
XAVIER_ROW = BAD.splitlines().index("        nn.init.xavier_uniform_(self.fc1.weight)")  # 0-based
NORMAL_ROW = BAD.splitlines().index("        nn.init.normal_(self.fc2.weight)")


class LspClient:
    """A tiny LSP client: Content-Length framed JSON-RPC over a child's stdio."""

    def __init__(self, *args: str, cwd: str | None = None, env: dict | None = None):
        full_env = dict(os.environ, PYTHONUNBUFFERED="1")
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "initlint", "lsp", *args], cwd=cwd, env=full_env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: queue.Queue = queue.Queue()
        self.transcript: list[tuple[str, dict]] = []
        self.notifications: list[dict] = []
        self.next_id = 0
        self.stderr = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    # -- framing
    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                k, _, v = line.decode("ascii").partition(":")
                headers[k.strip().lower()] = v.strip()
            body = out.read(int(headers["content-length"]))
            msg = json.loads(body.decode("utf-8"))
            self.transcript.append(("<-", msg))
            self.messages.put(msg)

    def _read_err(self) -> None:
        self.stderr = self.proc.stderr.read()

    def send(self, msg: dict) -> None:
        msg = {"jsonrpc": "2.0", **msg}
        self.transcript.append(("->", msg))
        body = json.dumps(msg).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict | None = None) -> None:
        self.send({"method": method, **({"params": params} if params is not None else {})})

    def request(self, method: str, params: dict | None = None, timeout: float = 20) -> dict:
        self.next_id += 1
        rid = self.next_id
        self.send({"id": rid, "method": method, **({"params": params} if params is not None else {})})
        deadline = time.monotonic() + timeout
        while True:
            msg = self._get(deadline, f"the reply to {method}")
            if msg.get("id") == rid and "method" not in msg:
                assert "error" not in msg, msg
                return msg
            self._other(msg)

    def _get(self, deadline: float, what: str) -> dict:
        left = deadline - time.monotonic()
        try:
            msg = self.messages.get(timeout=max(0.01, left))
        except queue.Empty:
            raise AssertionError(f"timed out waiting for {what}; stderr: {self.stderr[-2000:]!r}")
        if msg is None:
            raise AssertionError(f"server exited waiting for {what}; stderr: {self.stderr[-2000:]!r}")
        return msg

    def _other(self, msg: dict) -> None:
        if "method" in msg and "id" in msg:  # a server->client request: answer it
            self.send({"id": msg["id"], "result": None})
        elif "method" in msg:
            self.notifications.append(msg)

    def wait_notification(self, method: str, pred=lambda p: True, timeout: float = 20) -> dict:
        for i, n in enumerate(self.notifications):
            if n["method"] == method and pred(n["params"]):
                return self.notifications.pop(i)["params"]
        deadline = time.monotonic() + timeout
        while True:
            msg = self._get(deadline, method)
            if msg.get("method") == method and "id" not in msg and pred(msg["params"]):
                return msg["params"]
            self._other(msg)

    def drain(self, seconds: float) -> list[dict]:
        """Collect every notification that arrives within `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if msg is None:
                break
            self._other(msg)
        out, self.notifications = self.notifications, []
        return out

    # -- session
    def initialize(self, root: Path, options: dict | None = None, encodings=None) -> dict:
        caps: dict = {"textDocument": {"publishDiagnostics": {"relatedInformation": True},
                                       "codeAction": {"codeActionLiteralSupport": {
                                           "codeActionKind": {"valueSet": ["quickfix", "source"]}}}}}
        if encodings:
            caps["general"] = {"positionEncodings": encodings}
        reply = self.request("initialize", {
            "processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": caps,
            "initializationOptions": options or {},
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}]})
        self.notify("initialized", {})
        return reply["result"]

    def open(self, path: Path, text: str, version: int = 1) -> str:
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": version, "text": text}})
        return uri

    def diagnostics(self, uri: str, version: int | None = None, timeout: float = 20) -> list[dict]:
        params = self.wait_notification(
            "textDocument/publishDiagnostics",
            lambda p: p["uri"] == uri and (version is None or p.get("version") == version),
            timeout)
        return params["diagnostics"]

    def close(self) -> int:
        try:
            if self.proc.poll() is None:
                self.request("shutdown", timeout=10)
                self.notify("exit")
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def client_factory(tmp_path):
    clients = []

    def make(*args, **kw):
        c = LspClient(*args, cwd=str(tmp_path), **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()


def _by_code(diags):
    return {d["code"]: d for d in diags}


def test_lsp_session_diagnostics_change_code_actions(tmp_path, client_factory):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    path = tmp_path / "model.py"
    path.write_text(BAD)
    c = client_factory()
    result = c.initialize(tmp_path, {"debounceMs": 50})
    caps = result["capabilities"]
    assert result["serverInfo"]["name"] == "initlint"
    assert caps["textDocumentSync"]["openClose"] is True
    assert caps["textDocumentSync"]["change"] == 2  # incremental
    kinds = caps["codeActionProvider"]["codeActionKinds"]
    assert "quickfix" in kinds and "source.fixAll.initlint" in kinds

    uri = c.open(path, BAD)
    diags = _by_code(c.diagnostics(uri, 1))
    assert set(diags) == {"IL101", "IL202"}
    x = diags["IL101"]
    assert x["source"] == "initlint"
    assert x["severity"] == 2  # warning
    assert diags["IL202"]["severity"] == 1  # error
    assert x["range"]["start"] == {"line": XAVIER_ROW, "character": 8}
    assert x["range"]["end"] == {"line": XAVIER_ROW,
                                 "character": len("        nn.init.xavier_uniform_(self.fc1.weight)")}
    # no `docs-url` configured: initlint has no site, so no link (a relative path is no URI)
    assert "codeDescription" not in x
    assert "Xavier" in x["message"]
    rel = x["relatedInformation"]
    assert {r["message"] for r in rel} == {"layer `fc1` (Linear) built here", "feeds ReLU here"}
    assert all(r["location"]["uri"] == uri for r in rel)
    built = next(r for r in rel if "built" in r["message"])
    assert built["location"]["range"]["start"]["line"] == BAD.splitlines().index(
        "        self.fc1 = nn.Linear(256, 256)")

    # quick fixes on the IL202 line: a noqa suppression (plus the fix when the fix engine gives one)
    line = NORMAL_ROW
    reply = c.request("textDocument/codeAction", {
        "textDocument": {"uri": uri},
        "range": {"start": {"line": line, "character": 10}, "end": {"line": line, "character": 10}},
        "context": {"diagnostics": [diags["IL202"]], "only": ["quickfix"]}})
    actions = reply["result"]
    titles = [a["title"] for a in actions]
    assert "initlint: suppress IL202 with `# noqa: IL202`" in titles, titles
    assert not any("IL101" in t for t in titles)  # not on that line
    noqa = next(a for a in actions if "noqa" in a["title"])
    assert noqa["kind"] == "quickfix"
    (edit,) = noqa["edit"]["changes"][uri]
    end = len("        nn.init.normal_(self.fc2.weight)")
    assert edit == {"range": {"start": {"line": line, "character": end},
                              "end": {"line": line, "character": end}},
                    "newText": "  # noqa: IL202"}

    # the editor applies the noqa edit (an incremental change): IL202 disappears, IL101 stays
    c.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"range": edit["range"], "text": edit["newText"]}]})
    diags2 = _by_code(c.diagnostics(uri, 2))
    assert set(diags2) == {"IL101"}

    # a full-text change to the good model clears everything
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                        "contentChanges": [{"text": GOOD}]})
    assert c.diagnostics(uri, 3) == []
    # the file on disk was never read for diagnostics: it still has both mistakes
    assert path.read_text() == BAD
    # closing clears the diagnostics
    c.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert c.diagnostics(uri) == []
    assert c.close() == 0


def test_lsp_debounces_changes(tmp_path, client_factory):
    path = tmp_path / "model.py"
    c = client_factory()
    c.initialize(tmp_path, {"debounceMs": 400})
    uri = c.open(path, GOOD)
    assert c.diagnostics(uri, 1) == []
    # five quick edits, 50 ms apart: one lint, for the last version only
    for v in range(2, 7):
        text = BAD if v == 6 else GOOD + f"\n# edit {v}\n"
        c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": v},
                                            "contentChanges": [{"text": text}]})
        time.sleep(0.05)
    diags = c.diagnostics(uri, 6)
    assert {d["code"] for d in diags} == {"IL101", "IL202"}
    later = [n for n in c.drain(0.8) if n["method"] == "textDocument/publishDiagnostics"]
    versions = [n["params"].get("version") for n in later]
    assert versions == [], versions  # no stale publish for versions 2..5
    # didSave lints at once (no debounce wait)
    t0 = time.monotonic()
    c.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert {d["code"] for d in c.diagnostics(uri, 6)} == {"IL101", "IL202"}
    assert time.monotonic() - t0 < 5
    assert c.close() == 0


def test_lsp_uses_workspace_config_and_utf16_columns(tmp_path, client_factory):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.initlint]\nignore = ["IL202"]\nextend-exclude = ["generated"]\n')
    # a non-ASCII character before the call: UTF-16 columns differ from code points
    text = BAD.replace("        nn.init.xavier_uniform_(self.fc1.weight)",
                       "        s = '😋'; nn.init.xavier_uniform_(self.fc1.weight)")
    path = tmp_path / "pkg" / "model.py"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    c = client_factory()
    c.initialize(tmp_path)
    uri = c.open(path, text)
    diags = c.diagnostics(uri, 1)
    assert [d["code"] for d in diags] == ["IL101"]  # IL202 ignored by pyproject
    line = text.splitlines()[XAVIER_ROW]
    start = line.index("nn.init")
    # 😋 is one code point but two UTF-16 code units
    assert diags[0]["range"]["start"]["character"] == start + 1
    assert diags[0]["range"]["end"]["character"] == len(line) + 1
    # a file in an excluded folder gets no diagnostics, as `initlint .` would skip it
    gen = tmp_path / "generated" / "model.py"
    gen.parent.mkdir()
    gen.write_text(BAD)
    guri = c.open(gen, BAD)
    assert c.diagnostics(guri, 1) == []
    assert c.close() == 0


def test_lsp_syntax_error_and_bad_config(tmp_path, client_factory):
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nbogus-key = 1\n')
    path = tmp_path / "broken.py"
    c = client_factory()
    c.initialize(tmp_path)
    uri = c.open(path, "import torch\nclass Net(nn.Module:\n    pass\n")
    msg = c.wait_notification("window/showMessage")
    assert "bogus-key" in msg["message"] and msg["type"] == 1
    diags = c.diagnostics(uri, 1)
    assert [d["code"] for d in diags] == ["IL001"]
    assert diags[0]["range"]["start"]["line"] == 1
    assert c.proc.poll() is None  # still serving
    assert c.close() == 0


def test_lsp_fix_all_and_quickfix_from_fix_engine(tmp_path, client_factory):
    path = tmp_path / "model.py"
    path.write_text(GOOD)  # on disk: a different text; the buffer is what gets fixed
    c = client_factory()
    c.initialize(tmp_path)
    uri = c.open(path, BAD)
    diags = _by_code(c.diagnostics(uri, 1))
    x = diags["IL101"]
    reply = c.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": x["range"],
        "context": {"diagnostics": [x]}})
    actions = reply["result"]
    fixes = [a for a in actions if a["kind"] == "quickfix" and "noqa" not in a["title"]]
    assert fixes, [a["title"] for a in actions]
    new = _apply(BAD, fixes[0]["edit"]["changes"][uri])
    assert "xavier_uniform_(self.fc1.weight)" not in new and "kaiming" in new
    reply = c.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0},
                                                "end": {"line": 0, "character": 0}},
        "context": {"diagnostics": [], "only": ["source.fixAll"]}})
    (fix_all,) = reply["result"]
    assert fix_all["kind"] == "source.fixAll.initlint"
    fixed = _apply(BAD, fix_all["edit"]["changes"][uri])
    compile(fixed, "fixed.py", "exec")
    assert fixed != BAD and "xavier_uniform_" not in fixed
    assert path.read_text() == GOOD  # nothing was written to disk
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                        "contentChanges": [{"text": fixed}]})
    left = {d["code"] for d in c.diagnostics(uri, 2)}
    assert "IL101" not in left
    assert c.close() == 0


def _apply(text: str, edits: list[dict]) -> str:
    """Apply LSP TextEdits (ASCII text, so UTF-16 units == characters)."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln))

    def off(p):
        return offsets[p["line"]] + p["character"]

    for e in sorted(edits, key=lambda e: off(e["range"]["start"]), reverse=True):
        a, b = off(e["range"]["start"]), off(e["range"]["end"])
        text = text[:a] + e["newText"] + text[b:]
    return text


def test_lsp_without_pygls_says_which_extra(tmp_path):
    """Importing initlint.lsp_cli never needs pygls; running it without pygls exits 2."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(textwrap.dedent("""\
        import sys
        class _Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("pygls", "lsprotocol"):
                    raise ImportError(f"No module named {name!r}", name=name)
                return None
        sys.meta_path.insert(0, _Block())
        """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), ROOT]))
    # the rest of the CLI still works, and lists the lsp command
    r = subprocess.run([sys.executable, "-m", "initlint", "--help"], env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and b"lsp" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "initlint", "lsp"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "initlint[lsp]" in err and "pygls" in err
    assert "Traceback" not in err


INIT_FN = textwrap.dedent('''\
    import torch.nn as nn


    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return nn.functional.relu(self.fc(x))
    ''')


def test_lsp_sees_the_rest_of_the_project(tmp_path, client_factory):
    """An init function applied from another file of the workspace is not 'never applied'."""
    (tmp_path / "model.py").write_text(INIT_FN)
    (tmp_path / "train.py").write_text("from model import Net, init_weights\n\n"
                                       "net = Net()\nnet.apply(init_weights)\n")
    (tmp_path / "other.py").write_text(BAD)  # findings of other files are not published
    c = client_factory()
    c.initialize(tmp_path)
    uri = c.open(tmp_path / "model.py", INIT_FN)
    assert c.diagnostics(uri, 1) == []
    published = [n for n in c.drain(0.5) if n["method"] == "textDocument/publishDiagnostics"]
    assert all(n["params"]["uri"] == uri for n in published)
    # train.py stops applying it (saved to disk): after didSave the finding appears
    (tmp_path / "train.py").write_text("from model import Net\n\nnet = Net()\n")
    c.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    diags = c.diagnostics(uri, 1)
    assert [d["code"] for d in diags] == ["IL401"]
    assert c.close() == 0
    # and with projectContext off, the document is linted alone (the brief's minimal mode)
    (tmp_path / "train.py").write_text("from model import Net, init_weights\n\n"
                                       "net = Net()\nnet.apply(init_weights)\n")
    c = client_factory()
    c.initialize(tmp_path, {"projectContext": False})
    uri = c.open(tmp_path / "model.py", INIT_FN)
    assert [d["code"] for d in c.diagnostics(uri, 1)] == ["IL401"]
    assert c.close() == 0


def test_lsp_survives_malformed_messages(tmp_path, client_factory):
    c = client_factory()
    body = b"{not json"
    c.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    c.proc.stdin.flush()
    err = c.wait_notification("window/showMessage")
    assert err["type"] == 1
    c.initialize(tmp_path)  # still serving
    uri = c.open(tmp_path / "m.py", BAD)
    assert {d["code"] for d in c.diagnostics(uri, 1)} == {"IL101", "IL202"}
    assert c.close() == 0
    deadline = time.monotonic() + 5
    while b"Unable to handle message" not in c.stderr and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"Unable to handle message" in c.stderr
    assert b"Traceback" not in c.stderr
