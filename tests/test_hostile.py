"""Hostile inputs: whatever a repository contains, initlint says clearly what it could not
read (IL001 with a location and a reason, or a message), goes on with the other files, and
never hangs, crashes or prints a bare traceback.

Every test lints the hostile file *next to* a good model file and checks that the good
file's finding is still reported. Most run in-process (click's CliRunner) and several also
as a real subprocess (`python -m initlint`), where a hang would be caught by a timeout.
"""

from __future__ import annotations

import ctypes
import json
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from conftest import run_cli
from initlint import engine, source
from initlint.cli import main
from initlint.config import Config

# IL101 at 6:9 (Xavier feeding ReLU)
GOOD = textwrap.dedent("""\
    import torch.nn as nn
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 10)
            nn.init.xavier_uniform_(self.fc.weight)
            self.act = nn.ReLU()
            self.fc2 = nn.Linear(10, 10)
        def forward(self, x):
            return self.fc2(self.act(self.fc(x)))
""")
GOOD_AT = (6, 9)


def invoke(*args):
    """CliRunner run with JSON output; (exit code, findings by file name, stderr)."""
    res = CliRunner().invoke(main, [*map(str, args), "--output-format", "json", "--no-cache"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.stderr, res.stderr
    found = json.loads(res.stdout) if res.stdout.strip() else []
    return res.exit_code, found, res.stderr


def by_file(found):
    out: dict[str, list] = {}
    for f in found:
        out.setdefault(os.path.basename(f["filename"]), []).append(f)
    return out


def only_il001(found, name):
    items = by_file(found)[name]
    assert [f["code"] for f in items] == ["IL001"], items
    f = items[0]
    assert f["severity"] == "error"
    assert f["location"]["row"] >= 1 and f["location"]["column"] >= 1
    return f


def good_still_linted(found):
    good = by_file(found)["good.py"]
    assert [(f["code"], f["location"]["row"], f["location"]["column"]) for f in good] == \
        [("IL101", *GOOD_AT)]


@pytest.fixture
def good(tmp_path):
    p = tmp_path / "good.py"
    p.write_text(GOOD)
    return p


# ---------------------------------------------------------------- encodings and bytes
def test_not_utf8_is_il001_at_the_bad_byte(tmp_path, good):
    bad = tmp_path / "latin.py"
    bad.write_bytes(b"import torch\nx = 'caf\xe9'\n")
    code, found, _ = invoke(tmp_path)
    assert code == 1
    f = only_il001(found, "latin.py")
    assert (f["location"]["row"], f["location"]["column"]) == (2, 9)
    assert "utf-8" in f["message"] and "e9" in f["message"] and "coding" in f["message"]
    good_still_linted(found)


def test_coding_cookie_latin1_columns_are_characters(tmp_path, good):
    # `é` is one character, two UTF-8 bytes, one latin-1 byte: columns count characters
    text = ("# -*- coding: latin-1 -*-\n" + GOOD.replace("self.fc(", "self.fcé(").replace(
        "self.fc =", "self.fcé =").replace(
        "        nn.init.xavier_uniform_(self.fc.weight)\n",
        "        s = 'ééé'; nn.init.xavier_uniform_(self.fcé.weight)\n"))
    bad = tmp_path / "cookie.py"
    bad.write_bytes(text.encode("latin-1"))
    assert b"\xc3" not in bad.read_bytes()  # really latin-1, not UTF-8
    code, found, _ = invoke(tmp_path)
    items = by_file(found)["cookie.py"]
    assert [f["code"] for f in items] == ["IL101"]
    line = text.splitlines()[6]
    assert items[0]["location"] == {"row": 7, "column": line.index("nn.init") + 1}
    assert items[0]["end_location"]["column"] == len(line) + 1
    assert "`fcé`" in items[0]["message"]
    good_still_linted(found)


def test_coding_cookie_latin1_full_format_shows_decoded_source(tmp_path):
    text = "# -*- coding: latin-1 -*-\n" + GOOD.replace("self.fc.weight)", "self.fc.weight)  # é")
    (tmp_path / "cookie.py").write_bytes(text.encode("latin-1"))
    res = CliRunner().invoke(main, [str(tmp_path / "cookie.py"), "--output-format", "full",
                                    "--no-cache"])
    assert res.exit_code == 1
    assert "# é" in res.stdout and "\ufffd" not in res.stdout


def test_unknown_coding_cookie_is_il001(tmp_path, good):
    (tmp_path / "bad.py").write_bytes(b"# -*- coding: klingon -*-\nimport torch\n")
    code, found, _ = invoke(tmp_path)
    f = only_il001(found, "bad.py")
    assert "encoding" in f["message"] and "klingon" in f["message"]
    good_still_linted(found)


def test_bom_is_not_counted_in_columns(tmp_path, good):
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    code, found, _ = invoke(tmp_path)
    items = by_file(found)["bom.py"]
    assert [(f["code"], f["location"]["row"], f["location"]["column"]) for f in items] == \
        [("IL101", *GOOD_AT)]
    good_still_linted(found)


def test_bom_with_conflicting_cookie_is_il001(tmp_path, good):
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf# coding: latin-1\nimport torch\n")
    code, found, _ = invoke(tmp_path)
    assert "encoding" in only_il001(found, "bom.py")["message"]
    good_still_linted(found)


def test_nul_bytes_are_il001_with_location(tmp_path, good):
    (tmp_path / "nul.py").write_bytes(b"import torch\nx = 1\x00\n")
    code, found, _ = invoke(tmp_path)
    f = only_il001(found, "nul.py")
    assert (f["location"]["row"], f["location"]["column"]) == (2, 6)
    assert "NUL" in f["message"]
    good_still_linted(found)


def test_utf16_file_is_il001_naming_the_likely_cause(tmp_path, good):
    (tmp_path / "u16.py").write_bytes(GOOD.encode("utf-16"))
    code, found, _ = invoke(tmp_path)
    assert "UTF-16" in only_il001(found, "u16.py")["message"]
    good_still_linted(found)


def test_hostile_bytes_on_stdin(good):
    res = CliRunner().invoke(main, ["-", str(good), "--stdin-filename", "in.py", "--no-cache",
                                    "--output-format", "json"], input=b"import torch\n\xff\x00\n")
    assert res.exit_code == 1, res.output
    found = json.loads(res.stdout)
    assert only_il001(found, "in.py")["location"]["row"] == 2
    good_still_linted(found)


def test_empty_file_is_clean(tmp_path, good):
    (tmp_path / "empty.py").write_bytes(b"")
    (tmp_path / "blank.py").write_bytes(b"\n\n  \n")
    code, found, _ = invoke(tmp_path)
    assert set(by_file(found)) == {"good.py"}
    good_still_linted(found)
    code, found, _ = invoke(tmp_path / "empty.py", tmp_path / "blank.py")
    assert (code, found) == (0, [])


# ---------------------------------------------------------------- line endings and whitespace
@pytest.mark.parametrize("eol", ["\r\n", "\r"])
def test_crlf_and_cr_line_endings_give_the_same_findings(tmp_path, good, eol):
    (tmp_path / "eol.py").write_bytes(GOOD.replace("\n", eol).encode())
    code, found, _ = invoke(tmp_path)
    items = by_file(found)["eol.py"]
    assert [(f["code"], f["location"]["row"], f["location"]["column"],
             f["end_location"]["row"]) for f in items] == [("IL101", *GOOD_AT, GOOD_AT[0])]
    good_still_linted(found)


def test_mixed_line_endings_and_form_feeds_keep_rows(tmp_path, good):
    lines = GOOD.splitlines()
    # \f alone on a line (old GNU style), CR, CRLF and LF mixed: Python counts \r\n, \r and
    # \n only; str.splitlines would also split at \f and shift every row after it
    lines.insert(1, "\f")
    eols = ["\r", "\n", "\r\n", "\n"] * 10
    text = "".join(ln + eols[i] for i, ln in enumerate(lines))
    text = text.replace("self.fc.weight)", "self.fc.weight)  # noqa: IL101 \x0c")
    (tmp_path / "mixed.py").write_bytes(text.encode())
    code, found, _ = invoke(tmp_path)
    assert "mixed.py" not in by_file(found)  # the noqa is on the reported row: suppressed
    (tmp_path / "mixed.py").write_bytes(text.replace("# noqa: IL101", "").encode())
    code, found, _ = invoke(tmp_path)
    items = by_file(found)["mixed.py"]
    assert [(f["code"], f["location"]["row"], f["location"]["column"]) for f in items] == \
        [("IL101", GOOD_AT[0] + 1, GOOD_AT[1])]


def test_tabs_indentation_columns_count_characters(tmp_path, good):
    text = GOOD.replace("    ", "\t")
    (tmp_path / "tabs.py").write_bytes(text.encode())
    code, found, _ = invoke(tmp_path)
    items = by_file(found)["tabs.py"]
    assert [(f["code"], f["location"]["row"], f["location"]["column"]) for f in items] == \
        [("IL101", 6, 3)]  # two tabs, then the call


def test_inconsistent_tabs_and_spaces_is_il001(tmp_path, good):
    (tmp_path / "taberr.py").write_bytes(b"import torch\nif True:\n        x = 1\n\ty = 2\n")
    code, found, _ = invoke(tmp_path)
    f = only_il001(found, "taberr.py")
    assert f["location"]["row"] == 4 and "syntax error" in f["message"]
    good_still_linted(found)


def test_python2_syntax_is_il001_with_the_line(tmp_path, good):
    (tmp_path / "py2.py").write_bytes(b"import torch\n\nprint 'hello'\nexec 'x = 1'\n")
    code, found, _ = invoke(tmp_path)
    f = only_il001(found, "py2.py")
    assert f["location"]["row"] == 3 and "print" in f["message"]
    good_still_linted(found)


# ---------------------------------------------------------------- size and depth
def test_ten_thousand_nested_parentheses(tmp_path, good):
    (tmp_path / "deep.py").write_text("import torch\nx = " + "(" * 10000 + "1" + ")" * 10000 + "\n")
    code, found, err = invoke(tmp_path)
    f = only_il001(found, "deep.py")
    assert f["location"]["row"] == 2 and "nested" in f["message"]
    good_still_linted(found)
    assert code == 1 and "internal error" not in err


@pytest.mark.parametrize("indent", [" ", "\t"])
def test_ten_thousand_nested_blocks(tmp_path, good, indent, monkeypatch):
    # one more indent character per level: 50 MB in all, past the size limit; raise it so
    # that the parser itself meets the nesting
    monkeypatch.setenv("INITLINT_MAX_FILE_SIZE", "64M")
    lines = ["import torch.nn as nn"]
    lines += [indent * i + ("def f():" if i % 2 else "if x:") for i in range(10000)]
    lines.append(indent * 10000 + "pass")
    (tmp_path / "deep.py").write_text("\n".join(lines) + "\n")
    code, found, err = invoke(tmp_path)
    f = only_il001(found, "deep.py")
    assert f["location"]["row"] == 102 and "indentation" in f["message"]
    good_still_linted(found)
    assert "internal error" not in err


def test_long_operator_chains_are_analysed_not_internal_errors(tmp_path, good):
    # valid Python (compile() takes it) that is deeper than the default recursion limit allows
    # a recursive analysis: a 2,500-term sum in forward, a 2,000-deep unary chain in __init__
    n = 2500
    text = GOOD.replace("return self.fc2(self.act(self.fc(x)))",
                        "y = " + " + ".join(["self.fc(x)"] * n) + "\n"
                        "        return self.fc2(self.act(self.fc(x)))")
    text = text.replace("nn.init.xavier_uniform_(self.fc.weight)",
                        "nn.init.xavier_uniform_(self.fc.weight, gain=" + "-" * 2000 + "1)")
    compile(text, "deep.py", "exec")
    (tmp_path / "deep.py").write_text(text)
    code, found, err = invoke(tmp_path)
    assert "internal error" not in err
    assert [(f["code"], f["location"]["row"]) for f in by_file(found)["deep.py"]] == \
        [("IL101", GOOD_AT[0])]
    good_still_linted(found)


def test_too_deep_for_pythons_own_parser_is_il001(tmp_path, good):
    (tmp_path / "deep.py").write_text("import torch\ny = " + " + ".join(["x"] * 20000) + "\n")
    code, found, err = invoke(tmp_path)
    assert "nested" in only_il001(found, "deep.py")["message"]
    good_still_linted(found)


def test_50_mb_file_is_reported_fast_and_small(tmp_path, good):
    """A 50 MB model file would need ~9 GB of syntax tree: it is reported as too large to
    analyse (not parsed: the message says so) and the rest of the run goes on."""
    block = GOOD.split("class M", 1)[1]
    chunk = "".join(f"class M{i}" + block for i in range(2000)).encode()
    big = tmp_path / "big.py"
    with open(big, "wb") as fh:
        fh.write(b"import torch.nn as nn\n")
        while fh.tell() < 50 * 1024 * 1024:
            fh.write(chunk)
    t0 = time.perf_counter()
    proc = run_cli(str(tmp_path), "--no-cache", "--output-format", "json")
    elapsed = time.perf_counter() - t0
    print(f"\n50 MB file: {elapsed:.2f} s (subprocess, whole run)")
    assert proc.returncode == 1, proc.stderr
    found = json.loads(proc.stdout)
    f = only_il001(found, "big.py")
    assert "too large" in f["message"] and "INITLINT_MAX_FILE_SIZE" in f["message"]
    good_still_linted(found)


def test_large_file_without_models_is_skipped_silently(tmp_path, good):
    (tmp_path / "table.py").write_bytes(b"DATA = [\n" + b"    1.5,\n" * 700_000 + b"]\n")
    assert (tmp_path / "table.py").stat().st_size > source.MAX_SOURCE_BYTES
    code, found, _ = invoke(tmp_path)
    assert set(by_file(found)) == {"good.py"}


def test_size_limit_can_be_raised(tmp_path, monkeypatch):
    (tmp_path / "m.py").write_text(GOOD + "#" * 3000 + "\n")
    monkeypatch.setenv("INITLINT_MAX_FILE_SIZE", "2K")
    code, found, _ = invoke(tmp_path)
    assert "too large" in only_il001(found, "m.py")["message"]
    monkeypatch.setenv("INITLINT_MAX_FILE_SIZE", "1M")
    code, found, _ = invoke(tmp_path)
    assert [f["code"] for f in found] == ["IL101"]


# ---------------------------------------------------------------- file system oddities
def test_symlink_loop(tmp_path, good):
    (tmp_path / "loop1.py").symlink_to(tmp_path / "loop2.py")
    (tmp_path / "loop2.py").symlink_to(tmp_path / "loop1.py")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to(tmp_path)  # a directory loop: not followed
    (tmp_path / "sub" / "up.py").symlink_to(tmp_path)  # a link to a directory, named .py
    # walking the folder: links that lead nowhere are not source files
    code, found, _ = invoke(tmp_path)
    assert set(by_file(found)) == {"good.py"}
    good_still_linted(found)
    # named on the command line: reported
    code, found, _ = invoke(tmp_path / "loop1.py", good)
    assert "loop" in only_il001(found, "loop1.py")["message"]
    good_still_linted(found)


def test_broken_symlink(tmp_path, good):
    (tmp_path / "gone.py").symlink_to(tmp_path / "nowhere.py")
    code, found, _ = invoke(tmp_path)
    assert set(by_file(found)) == {"good.py"}
    code, found, _ = invoke(tmp_path / "gone.py", good)
    assert "broken symbolic link" in only_il001(found, "gone.py")["message"]
    good_still_linted(found)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_never_hangs(tmp_path, good):
    os.mkfifo(tmp_path / "pipe.py")  # nobody ever writes to it: a read would block forever
    for args in ([str(tmp_path)], [str(tmp_path)], [str(tmp_path / "pipe.py"), str(good)]):
        for fmt in ("json", "full"):  # `full` also reads the file to show the source line
            proc = subprocess.run(
                [sys.executable, "-m", "initlint", *args, "--output-format", fmt],
                cwd=tmp_path, capture_output=True, text=True, timeout=60)  # cache on: its path
            assert proc.returncode == 1, proc.stderr
            assert "Traceback" not in proc.stderr
            if fmt == "json":
                found = json.loads(proc.stdout)
                good_still_linted(found)
                if "pipe.py" in args[0]:
                    assert "FIFO" in only_il001(found, "pipe.py")["message"]
                else:
                    assert "pipe.py" not in by_file(found)  # in a walk: not a source file


def test_device_named_explicitly(good):
    code, found, _ = invoke("/dev/null", good)
    assert "character device" in only_il001(found, "null")["message"]
    good_still_linted(found)


def test_directory_named_x_py(tmp_path, good):
    d = tmp_path / "x.py"
    d.mkdir()
    (d / "inner.py").write_text(GOOD)
    code, found, _ = invoke(tmp_path)
    assert sorted(by_file(found)) == ["good.py", "inner.py"]
    code, found, _ = invoke(d)  # named directly: a folder to walk
    assert [f["code"] for f in found] == ["IL101"]
    # a path that is a directory reaching the reader (a race, an explicit odd path)
    r = engine.analyze_file(str(d), "x.py")
    assert r.error is not None and "directory" in r.error.message


def _drop_dac_capabilities():
    """In the child, before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    bounding set, so that even root is refused a chmod-000 file."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _unprivileged_run(args, cwd):
    cmd = [sys.executable, "-m", "initlint", *args]
    if os.geteuid() != 0:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    if not sys.platform.startswith("linux"):
        pytest.skip("running as root on a system without Linux capabilities: root reads "
                    "chmod-000 files, so 'unreadable' cannot be arranged")
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120,
                              preexec_fn=_drop_dac_capabilities)
    except subprocess.SubprocessError as exc:  # prctl refused (no CAP_SETPCAP): truly root
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE ({exc}): root reads "
                    "chmod-000 files, so 'unreadable' cannot be arranged")


def test_unreadable_file_and_directory(tmp_path, good):
    (tmp_path / "secret.py").write_text(GOOD)
    (tmp_path / "secret.py").chmod(0)
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "inner.py").write_text(GOOD)
    (tmp_path / "locked").chmod(0)
    try:
        for args in ([str(tmp_path)], [str(tmp_path / "secret.py"), str(good)]):
            proc = _unprivileged_run([*args, "--output-format", "json", "--no-cache"], tmp_path)
            assert proc.returncode == 1, proc.stderr
            assert "Traceback" not in proc.stderr
            found = json.loads(proc.stdout)
            assert "permission denied" in only_il001(found, "secret.py")["message"]
            good_still_linted(found)
            if len(args) == 1:  # the folder it could not list is named, not skipped silently
                assert "permission denied" in only_il001(found, "locked")["message"]
    finally:
        (tmp_path / "locked").chmod(0o755)
        (tmp_path / "secret.py").chmod(0o644)


def test_permission_denied_in_process(tmp_path, good, monkeypatch):
    """The same path in-process (whoever runs the tests): the OS refuses the open."""
    secret = tmp_path / "secret.py"
    secret.write_text(GOOD)
    real_open = os.open

    def refusing_open(path, flags, *a, **kw):
        if os.fspath(path) == str(secret):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(source.os, "open", refusing_open)
    code, found, _ = invoke(tmp_path)
    assert "permission denied" in only_il001(found, "secret.py")["message"]
    good_still_linted(found)


def test_file_deleted_between_discovery_and_reading(tmp_path, good, monkeypatch):
    import initlint.discover as discover_mod

    doomed = tmp_path / "doomed.py"
    doomed.write_text(GOOD)
    real = discover_mod.discover

    def discover_then_delete(paths, config):
        targets, missing = real(paths, config)
        assert any(t.path.endswith("doomed.py") for t in targets)
        doomed.unlink()
        return targets, missing

    monkeypatch.setattr(discover_mod, "discover", discover_then_delete)
    for cache in ("--no-cache", "--jobs=1"):  # with and without the cache's own read
        doomed.write_text(GOOD)
        res = CliRunner().invoke(main, [str(tmp_path), "--output-format", "json", cache])
        assert res.exit_code == 1, res.output
        found = json.loads(res.stdout)
        assert "vanished" in only_il001(found, "doomed.py")["message"]
        good_still_linted(found)


def test_non_utf8_file_name(tmp_path, good):
    name = os.fsdecode(b"bad\xffname.py")
    try:
        (tmp_path / name).write_text(GOOD)
    except (UnicodeEncodeError, OSError):
        pytest.skip("this file system refuses non-UTF-8 names")
    for fmt in ("concise", "full", "json", "sarif", "github", "junit"):
        proc = subprocess.run([sys.executable, "-m", "initlint", str(tmp_path), "--no-cache",
                               "--output-format", fmt], capture_output=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert b"Traceback" not in proc.stderr
        if fmt in ("json", "sarif"):
            doc = json.loads(proc.stdout.decode("utf-8"))  # valid UTF-8 JSON
            assert doc


# ---------------------------------------------------------------- notebooks
@pytest.mark.parametrize("payload,needle", [
    (b"\xff\xfe{", "notebook"),
    (b'{"cells": 5}', "cells"),
    (b"[1, 2]", "cells"),
    (b'{"cells": [{"cell_type": "code", "source": "x = (\\n"}]}', "never closed"),
])
def test_broken_notebooks_are_il001(tmp_path, good, payload, needle):
    (tmp_path / "nb.ipynb").write_bytes(payload)
    code, found, _ = invoke(tmp_path)
    assert needle in only_il001(found, "nb.ipynb")["message"]
    good_still_linted(found)


def test_malformed_notebook_cells_are_tolerated(tmp_path, good):
    cell = {"cell_type": "code", "source": GOOD.splitlines(keepends=True)}
    nb = {"cells": [{"cell_type": "code", "source": 5}, None, "x",
                    {"cell_type": "code", "source": None}, cell], "metadata": []}
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))
    code, found, err = invoke(tmp_path)
    assert "internal error" not in err
    items = by_file(found)["nb.ipynb"]
    assert [(f["code"], f["location"]["row"]) for f in items] == [("IL101", GOOD_AT[0])]
    good_still_linted(found)


# ---------------------------------------------------------------- internal errors
def _boom_for(monkeypatch, name):
    real = engine.extract

    def extract(tree, text, path, *a, **kw):
        if os.path.basename(path) == name:
            raise ValueError("simulated analysis bug")
        return real(tree, text, path, *a, **kw)

    monkeypatch.setattr(engine, "extract", extract)


def test_internal_error_in_one_file_is_reported_and_the_run_goes_on(tmp_path, good, monkeypatch):
    (tmp_path / "victim.py").write_text(GOOD)
    _boom_for(monkeypatch, "victim.py")
    for verbose in (False, True):
        res = CliRunner().invoke(main, [str(tmp_path), "--no-cache", "--output-format", "json",
                                        *(["--verbose"] if verbose else [])])
        assert res.exit_code == 2
        good_still_linted(json.loads(res.stdout))
        lines = [ln for ln in res.stderr.splitlines() if "internal error" in ln]
        assert lines == [f"initlint: internal error in {tmp_path / 'victim.py'}: "
                         "ValueError: simulated analysis bug"]
        assert ("Traceback" in res.stderr) is verbose
        if verbose:
            assert "_boom_for" in res.stderr or "extract" in res.stderr


def test_internal_error_in_a_rule_is_reported_and_other_rules_run(tmp_path, good, monkeypatch):
    from initlint.rules import RULES

    def broken(self, project, emit):
        raise KeyError("simulated rule bug")

    monkeypatch.setattr(RULES["IL202"], "check", broken)
    res = CliRunner().invoke(main, [str(tmp_path), "--no-cache", "--output-format", "json"])
    assert res.exit_code == 2
    good_still_linted(json.loads(res.stdout))
    assert "initlint: internal error in rule IL202: KeyError: 'simulated rule bug'" in res.stderr
    assert "Traceback" not in res.stderr


def test_unexpected_crash_outside_the_engine_is_one_line_exit_2(tmp_path, good, monkeypatch):
    from initlint import report

    def broken(*a, **kw):
        raise RuntimeError("simulated renderer bug")

    monkeypatch.setattr(report, "render", broken)
    res = CliRunner().invoke(main, [str(good), "--no-cache"])
    assert res.exit_code == 2
    assert "initlint: internal error: RuntimeError: simulated renderer bug" in res.stderr
    assert "Traceback" not in res.stderr
    res = CliRunner().invoke(main, [str(good), "--no-cache", "-v"])
    assert res.exit_code == 2 and "Traceback" in res.stderr


def test_internal_error_subprocess_with_worker_pool(tmp_path):
    """The same through a real process pool (`--jobs 2`, enough files to start workers): the
    failing file is named, the others are linted, exit 2. The failure is a sitecustomize
    patch so that it exists in the worker processes too."""
    for i in range(12):
        (tmp_path / f"m{i:02}.py").write_text(GOOD + "#" * 30_000 + "\n")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent("""\
        import initlint.engine as e
        _real = e.extract
        def extract(tree, text, path, *a, **kw):
            if path.endswith("m07.py"):
                raise ValueError("simulated analysis bug")
            return _real(tree, text, path, *a, **kw)
        e.extract = extract
    """))
    env = {"PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    proc = run_cli(str(tmp_path), "--jobs", "2", "--no-cache", "--output-format", "json",
                   cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.decode()
    assert "internal error in" in err and "m07.py: ValueError: simulated analysis bug" in err
    assert "Traceback" not in err
    found = json.loads(proc.stdout)
    assert sorted(by_file(found)) == sorted(f"m{i:02}.py" for i in range(12) if i != 7)


# ---------------------------------------------------------------- static mode never runs code
def test_static_mode_never_imports_or_executes_the_code(tmp_path):
    marker = tmp_path / "MARKER"
    m = repr(str(marker))
    (tmp_path / "helper.py").write_text(f"open({m} + '-helper', 'w').write('imported')\n"
                                        "import torch.nn as nn\nLinear = nn.Linear\n")
    (tmp_path / "evil.py").write_text(textwrap.dedent(f"""\
        import torch.nn as nn
        import helper
        from helper import Linear
        open({m} + '-module', 'w').write('module')

        def deco(f):
            open({m} + '-decorator', 'w').write('decorator')
            return f

        def side(tag):
            open({m} + '-' + tag, 'w').write(tag)
            return 10

        @deco
        class Net(nn.Module):
            open({m} + '-classbody', 'w').write('class body')
            width = side('classattr')

            def __init__(self, d=side('default'), e=nn.Linear(side('defaultlayer'), 4)):
                super().__init__()
                self.fc = nn.Linear(side('init'), 10)
                nn.init.xavier_uniform_(self.fc.weight)
                self.act = nn.ReLU()
                self.out = Linear(10, side('helperlayer'))

            def forward(self, x=side('fwddefault')):
                return self.out(self.act(self.fc(x)))

        if __name__ == "__main__":
            side('main')
        Net()
        __import__('os').system('touch ' + {m} + '-system')
    """))
    (tmp_path / "nb.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": [
        f"open({m} + '-notebook', 'w').write('nb')\n", "import torch.nn as nn\n"]}]}))
    code, found, _ = invoke(tmp_path)
    assert [f["code"] for f in by_file(found)["evil.py"]] == ["IL101"]  # really analysed
    for args in ([str(tmp_path), "--no-cache", "--output-format", "full"],
                 [str(tmp_path), "--jobs", "2", "--output-format", "sarif"],
                 [str(tmp_path / "evil.py"), "--diff", "--unsafe-fixes", "--no-cache"],
                 ["graph", str(tmp_path / "evil.py")]):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode in (0, 1), proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("MARKER")) == []
    assert "helper" not in sys.modules  # nor in this process
