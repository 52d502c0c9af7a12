"""What a ruff user reaches for: excludes and per-file ignores on the command line,
--force-exclude, stdin by --stdin-filename alone, --config KEY=VALUE, --show-fixes,
--add-noqa, --watch, -V, --statistics as JSON, INITLINT_OUTPUT_FORMAT, colour and progress.

Each is run in process (click's CliRunner) and as a real subprocess (conftest.run_cli).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from conftest import run_cli
from initlint.cli import main
from test_cli import BAD, BAD_ROWS, GOOD


def invoke(*args, cwd, input=None, env=None):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [*args, "--no-cache"], input=input, env=env)
    finally:
        os.chdir(old)


def codes(stdout) -> list[tuple[str, str, int]]:
    return sorted((os.path.normpath(f["filename"]), f["code"], f["location"]["row"])
                  for f in json.loads(stdout))


@pytest.fixture
def tree(tmp_path):
    """models/bad.py, legacy/bad.py, tests/test_bad.py, and a pyproject that excludes legacy/."""
    for rel in ("models/bad.py", "legacy/old/bad.py", "tests/test_bad.py"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(BAD)
    (tmp_path / "models/good.py").write_text(GOOD)
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nextend-exclude = ["legacy"]\n')
    return tmp_path


def _files(result) -> set[str]:
    return {os.path.normpath(f["filename"]) for f in json.loads(result.stdout)}


# ------------------------------------------------------------------ excludes

def test_explicit_file_is_linted_unless_force_exclude(tree):
    r = invoke("legacy/old/bad.py", "--output-format", "json", cwd=tree)
    assert r.exit_code == 1 and _files(r) == {"legacy/old/bad.py"}  # named: linted
    r = invoke("legacy/old/bad.py", "models/bad.py", "--force-exclude", "--output-format",
               "json", cwd=tree)
    assert r.exit_code == 1 and _files(r) == {"models/bad.py"}, r.output
    r = invoke("legacy/old/bad.py", "--force-exclude", cwd=tree)
    assert (r.exit_code, r.stdout) == (0, "All checks passed!\n")
    # the folder itself, named
    r = invoke("legacy", "--force-exclude", cwd=tree)
    assert r.exit_code == 0, r.output


def test_force_exclude_from_configuration_and_no_force_exclude(tree):
    (tree / "pyproject.toml").write_text(
        '[tool.initlint]\nextend-exclude = ["legacy"]\nforce-exclude = true\n')
    assert invoke("legacy/old/bad.py", cwd=tree).exit_code == 0
    r = invoke("legacy/old/bad.py", "--no-force-exclude", cwd=tree)
    assert r.exit_code == 1


def test_force_exclude_only_looks_inside_the_project(tmp_path):
    """A default exclude (`build`) above the project root does not exclude the project."""
    proj = tmp_path / "build" / "proj"
    proj.mkdir(parents=True)
    (proj / "pyproject.toml").write_text("[tool.initlint]\n")
    (proj / "bad.py").write_text(BAD)
    r = invoke("bad.py", "--force-exclude", cwd=proj)
    assert r.exit_code == 1, r.output


def test_exclude_and_extend_exclude_on_the_command_line(tree):
    (tree / "build").mkdir()
    (tree / "build/bad.py").write_text(BAD)
    r = invoke(".", "--output-format", "json", cwd=tree)
    assert _files(r) == {"models/bad.py", "tests/test_bad.py"}
    r = invoke(".", "--extend-exclude", "tests", "--output-format", "json", cwd=tree)
    assert _files(r) == {"models/bad.py"}
    # --exclude replaces `exclude` (the defaults: build/ is back) and keeps the configured
    # `extend-exclude` (legacy/), as ruff's does
    r = invoke(".", "--exclude", "tests,.venv", "--output-format", "json", cwd=tree)
    assert _files(r) == {"models/bad.py", "build/bad.py"}


def test_per_file_ignores_on_the_command_line(tree):
    r = invoke(".", "--per-file-ignores", "tests/*:IL2,IL101", "--output-format", "json",
               cwd=tree)
    assert not [f for f in codes(r.stdout) if f[0].startswith("tests/")], r.output
    assert ("models/bad.py", "IL101", 12) in codes(r.stdout)
    r = invoke(".", "--extend-per-file-ignores", "models/*:IL101", "--output-format", "json",
               cwd=tree)
    assert ("models/bad.py", "IL101", 12) not in codes(r.stdout)
    assert ("tests/test_bad.py", "IL101", 12) in codes(r.stdout)
    r = invoke(".", "--per-file-ignores", "tests/*", cwd=tree)
    assert r.exit_code == 2 and "PATTERN:CODES" in r.stderr
    r = invoke(".", "--per-file-ignores", "tests/*:XY1", cwd=tree)
    assert r.exit_code == 2 and "'XY1'" in r.stderr


# ------------------------------------------------------------------ stdin

def test_stdin_filename_alone_reads_stdin(tree):
    """`cat m.py | initlint --stdin-filename m.py` lints stdin, not the current directory."""
    r = run_cli("--stdin-filename", "models/new.py", "--output-format", "json", "--no-cache",
                cwd=tree, input=BAD.encode())
    assert r.returncode == 1, r.stderr
    assert {f["filename"] for f in json.loads(r.stdout)} == {"models/new.py"}
    r = run_cli("--stdin-filename", "models/new.py", "--no-cache", cwd=tree, input=GOOD.encode())
    assert (r.returncode, r.stdout) == (0, b"All checks passed!\n")


def test_stdin_filename_excluded_with_force_exclude(tree):
    r = run_cli("--stdin-filename", "legacy/x.py", "--force-exclude", "--no-cache", cwd=tree,
                input=BAD.encode())
    assert r.returncode == 0, r.stdout
    # --fix on an excluded buffer gives it back unchanged (an editor replaces the buffer)
    r = run_cli("--stdin-filename", "legacy/x.py", "--force-exclude", "--fix", "--no-cache",
                cwd=tree, input=BAD.encode())
    assert r.returncode == 0 and r.stdout == BAD.encode()


# ------------------------------------------------------------------ --config KEY=VALUE

def test_config_inline_settings_override_the_file(tree):
    r = invoke("models", "--config", 'ignore = ["IL101"]', "--output-format", "json", cwd=tree)
    assert r.exit_code == 1 and "IL101" not in {c for _, c, _ in codes(r.stdout)}
    # a file and an inline setting together; the setting wins
    (tree / "other.toml").write_text('select = ["IL101"]\n')
    r = invoke("models", "--config", "other.toml", "--config", 'select = ["IL202"]',
               "--output-format", "json", cwd=tree)
    assert {c for _, c, _ in codes(r.stdout)} == {"IL202"}, r.output
    r = run_cli("models", "--config", "min-chain = 1", "--no-cache", cwd=tree)
    assert r.returncode == 2 and b"min-chain" in r.stderr and b"Traceback" not in r.stderr
    r = run_cli("models", "--config", "nosuch = 3", "--no-cache", cwd=tree)
    assert r.returncode == 2 and b"unknown configuration key 'nosuch'" in r.stderr
    r = run_cli("models", "--config", "select = [", "--no-cache", cwd=tree)
    assert r.returncode == 2 and b"not a file, and not a TOML" in r.stderr
    r = run_cli("models", "--config", "a.toml", "--config", "b.toml", cwd=tree)
    assert r.returncode == 2 and b"one configuration file at most" in r.stderr


# ------------------------------------------------------------------ output

def test_output_format_from_the_environment(tree):
    r = run_cli("models", "--no-cache", cwd=tree, env={"INITLINT_OUTPUT_FORMAT": "json"})
    assert r.returncode == 1 and {f["filename"] for f in json.loads(r.stdout)} == {"models/bad.py"}
    # the command line wins over the environment
    r = run_cli("models", "--no-cache", "--output-format", "pylint", cwd=tree,
                env={"INITLINT_OUTPUT_FORMAT": "json"})
    assert r.stdout.decode().startswith("models/bad.py:10: [IL202(unscaled-weight-init)] ")
    r = run_cli("models", "--no-cache", cwd=tree, env={"INITLINT_OUTPUT_FORMAT": "yaml"})
    assert r.returncode == 2 and b"'yaml' is not one of" in r.stderr, r.stderr


def test_statistics_as_json(tree):
    r = invoke(".", "--statistics", "--output-format", "json", cwd=tree)
    assert r.exit_code == 1
    stats = json.loads(r.stdout)
    assert [s["code"] for s in stats] == sorted({c for c in BAD_ROWS.values()})
    assert all(s["count"] == 2 and set(s) == {"code", "name", "count", "fixable"} for s in stats)
    assert {s["code"]: s["fixable"] for s in stats}["IL101"] is True
    r = invoke(".", "--statistics", "--output-format", "json-lines", cwd=tree)
    assert [json.loads(line) for line in r.stdout.splitlines()] == stats


def test_short_version_flag():
    r = run_cli("-V")
    assert r.returncode == 0 and r.stdout.decode().startswith("initlint, version ")
    assert run_cli("--version").stdout == r.stdout


def test_show_fixes_lists_available_then_applied(tree):
    r = invoke("models", "--show-fixes", cwd=tree)
    assert "`--fix` would fix 1 finding:\n- models/bad.py:\n    1 × IL101 (xavier-before-relu)\n" \
        in r.stdout, r.stdout
    r = invoke("models", "--show-fixes", "--unsafe-fixes", cwd=tree)
    assert "`--fix --unsafe-fixes` would fix 2 findings:" in r.stdout, r.stdout
    r = run_cli("models", "--fix", "--show-fixes", "--no-cache", cwd=tree)
    out = r.stdout.decode()
    assert "Fixed 1 finding:\n- models/bad.py:\n    1 × IL101 (xavier-before-relu)\n" in out, out
    assert "kaiming_uniform_" in (tree / "models/bad.py").read_text()


# ------------------------------------------------------------------ --add-noqa

def test_add_noqa_then_clean(tree):
    path = tree / "models/bad.py"
    text = path.read_text().replace("nn.init.zeros_(self.b.weight)",
                                    "nn.init.zeros_(self.b.weight)  # noqa: IL999 keep")
    path.write_text(text)
    os.chmod(path, 0o640)
    r = run_cli("models", "--add-noqa", "--no-cache", cwd=tree)
    assert r.returncode == 0, r.stderr
    assert b"Added 3 noqa directives." in r.stderr
    lines = path.read_text().splitlines()
    assert lines[9].endswith("nn.init.normal_(self.a.weight)  # noqa: IL202")
    # an existing noqa comment gets the code merged in, its text kept
    assert lines[10].endswith("nn.init.zeros_(self.b.weight)  # noqa: IL999, IL201 keep")
    assert lines[11].endswith("# noqa: IL101")
    assert os.stat(path).st_mode & 0o777 == 0o640
    r = run_cli("models", "--no-cache", cwd=tree)
    assert (r.returncode, r.stdout) == (0, b"All checks passed!\n")
    r = run_cli("models", "--add-noqa", "--no-cache", cwd=tree)  # nothing left to add
    assert r.returncode == 0 and b"Added 0 noqa directives." in r.stderr
    r = run_cli("models", "--add-noqa", "--fix", "--no-cache", cwd=tree)
    assert r.returncode == 2 and b"--add-noqa cannot be combined with --fix" in r.stderr


MULTILINE = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)
        nn.init.xavier_uniform_(self.a.weight); doc = \"\"\"
        text\"\"\"
        nn.init.normal_(self.b.weight, mean=len(\"\"\"
        \"\"\"), std=1.0)

    def forward(self, x):
        return self.b(self.a(x).relu()).relu()
"""


def test_add_noqa_multiline_string_lines(tmp_path):
    """A finding whose first line ends inside a triple-quoted string gets its comment on its
    last line; one that starts and ends on such a line cannot have one: said, left alone."""
    (tmp_path / "m.py").write_text(MULTILINE)
    found = codes(invoke("m.py", "--output-format", "json", cwd=tmp_path).stdout)
    assert found == [("m.py", "IL101", 9), ("m.py", "IL202", 11)]
    r = invoke("m.py", "--add-noqa", cwd=tmp_path)
    assert r.exit_code == 0
    assert "m.py:9:9: IL101: no line to put a noqa comment on (inside a string)" in r.stderr
    assert "Added 1 noqa directive." in r.stderr
    after = (tmp_path / "m.py").read_text()
    compile(after, "m.py", "exec")
    assert after == MULTILINE.replace('        """), std=1.0)\n',
                                      '        """), std=1.0)  # noqa: IL202\n')
    assert codes(invoke("m.py", "--output-format", "json", cwd=tmp_path).stdout) == [
        ("m.py", "IL101", 9)]


def test_add_noqa_leaves_notebooks_alone(tmp_path):
    from test_notebook import _standard

    nb = _standard(tmp_path)
    before = nb.read_bytes()
    r = invoke("nb.ipynb", "--add-noqa", cwd=tmp_path)
    assert r.exit_code == 0 and "nb.ipynb: --add-noqa edits Python files only" in r.stderr
    assert nb.read_bytes() == before


# ------------------------------------------------------------------ colour

def test_colour_forced_and_disabled(tree):
    r = run_cli("models", "--no-cache", cwd=tree, env={"FORCE_COLOR": "1"})
    out = r.stdout.decode()
    assert "\x1b[" in out and "\x1b[1mmodels/bad.py:10:9\x1b[0m" in out, out
    import click
    plain = run_cli("models", "--no-cache", cwd=tree).stdout.decode()
    assert "\x1b[" not in plain and click.unstyle(out) == plain
    r = run_cli("models", "--no-cache", cwd=tree, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert b"\x1b[" not in r.stdout
    # machine formats never get colour
    r = run_cli("models", "--no-cache", "--output-format", "json", cwd=tree,
                env={"FORCE_COLOR": "1"})
    json.loads(r.stdout)
    # a report written to a file: no colour
    run_cli("models", "--no-cache", "-o", "out.txt", cwd=tree, env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in (tree / "out.txt").read_text()


def _pty_run(args, cwd, env):
    """Run initlint with stdout and stderr on a pseudo-terminal; return what it printed."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "initlint", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env={**os.environ, **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode()


def test_terminal_gets_colour_and_progress_a_pipe_does_not(tree):
    env = {"INITLINT_PROGRESS_DELAY": "0", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    rc, out = _pty_run(["models", "--no-cache"], tree, {**env, "NO_COLOR": ""})
    assert rc == 1
    assert "\x1b[31m\x1b[1mIL202" in out, repr(out)  # colour on a terminal
    assert "initlint: linting 2 files… " in out, repr(out)
    # the progress line is erased before the report
    assert out.index("\r\x1b[K") < out.index("models/bad.py")
    r = run_cli("models", "--no-cache", cwd=tree, env=env)  # pipes: neither
    assert b"linting" not in r.stderr and b"\x1b[" not in r.stdout


# ------------------------------------------------------------------ --watch

def test_watch_lints_again_after_a_change(tree):
    proc = subprocess.Popen([sys.executable, "-m", "initlint", "models", "--watch", "--no-cache",
                             "--output-format", "concise"], cwd=tree, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        seen: list[str] = []

        def wait_for(text):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                seen.append(line)
                if text in line:
                    return
            raise AssertionError(f"no {text!r} in {''.join(seen)}")

        wait_for("Watching for file changes.")
        assert any("models/bad.py:12:9: IL101" in ln for ln in seen)
        first = len(seen)
        time.sleep(0.05)
        (tree / "models/bad.py").write_text(GOOD)
        wait_for("File change detected")
        wait_for("Watching for file changes.")
        assert any("All checks passed!" in ln for ln in seen[first:]), seen
    finally:
        proc.terminate()
        proc.wait(timeout=30)
