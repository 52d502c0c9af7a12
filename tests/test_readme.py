"""The README as a user reads it: `initlint check --help` and the README name the same
options and formats, and the command lines of its usage and fix sections run as written
(in a sandbox project holding the files they name), as does the quick start in a fresh
virtualenv."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from conftest import ROOT, snapshot_tree
from initlint.cli import main
from initlint.report import FORMATS
from test_cli import BAD

with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as _fh:
    README = _fh.read()


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def _sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)


def _help_options() -> set[str]:
    out = CliRunner().invoke(main, ["check", "--help"], terminal_width=200).stdout
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", out))


def test_help_and_readme_name_the_same_options():
    usage = _section("Using it")
    block = usage[usage.index("Options of `initlint [check] PATH...`"):]
    block = block[:block.index("\n\n`initlint -V`")]
    in_readme = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", block))
    in_help = _help_options()
    # `--no-force-exclude` is spelled `--force-exclude/--no-force-exclude` in both
    assert in_help - in_readme == set(), f"options missing from the README: {in_help - in_readme}"
    assert in_readme - in_help == set(), f"README options initlint lacks: {in_readme - in_help}"
    fmt = _section("Output formats")
    for name in FORMATS:
        assert f"`{name}`" in fmt, name
    top = CliRunner().invoke(main, ["--help"], terminal_width=200).stdout
    assert "-V, --version" in top
    commands = re.findall(r"^  (\w+)  ", top.split("Commands:", 1)[1], re.M)
    assert len(commands) >= 6, top
    for cmd in set(commands) - {"check"}:  # (`check` is implied: `initlint PATH`)
        assert re.search(rf"^initlint {cmd}\b", usage, re.M), cmd  # shown in the usage lines
    assert "`initlint [check] PATH...`" in usage
    assert "`initlint -V` (or `--version`)" in usage


# what the usage lines name: a model, a package folder, a probe target (tiny, on CPU)
SANDBOX = {
    "model.py": BAD,
    "src/models/net.py": BAD,
    "src/models/__init__.py": "",
    "tests/test_net.py": BAD,
    "legacy/old.py": BAD,
    "mypkg/__init__.py": "",
    "mypkg/models.py": textwrap.dedent("""\
        import torch.nn as nn


        class ResNet18(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv2d(3, 4, 3, stride=4)
                self.pool = nn.AdaptiveAvgPool2d(1)
                self.fc = nn.Linear(4, 10)

            def forward(self, x):
                return self.fc(self.pool(self.stem(x).relu()).flatten(1))
        """),
}


def _lines(title: str) -> list[str]:
    out = []
    for block in _sh_blocks(_section(title)):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and ("initlint" in line.split()[0] or line.startswith("cat ")):
                out.append(line)
    return out


USAGE_LINES = _lines("Using it") + _lines("Fixes")


def test_usage_lines_were_found():
    assert len(USAGE_LINES) >= 15, USAGE_LINES
    assert any("--watch" in ln for ln in USAGE_LINES)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme-sandbox")
    for rel, text in SANDBOX.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def _command(line: str) -> tuple[list[str], str | None]:
    stdin_file = None
    if line.startswith("cat "):
        left, _, line = line.partition("|")
        stdin_file = shlex.split(left)[1]
    line = line.split(" | ")[0]  # `... | dot -Tsvg > net.svg`: initlint's part
    argv = shlex.split(line)
    assert argv[0] == "initlint", line
    return argv[1:], stdin_file


@pytest.mark.parametrize("line", USAGE_LINES)
def test_usage_line_runs_as_written(sandbox, line):
    args, stdin_file = _command(line)
    env = dict(os.environ, PYTHONPATH=str(sandbox))
    cmd = [sys.executable, "-m", "initlint", *args]
    if "--watch" in args:
        proc = subprocess.Popen(cmd, cwd=sandbox, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            seen = []
            while time.monotonic() < deadline:
                ln = proc.stdout.readline()
                seen.append(ln)
                if "Watching for file changes." in ln or not ln:
                    break
            assert "Watching for file changes." in "".join(seen), "".join(seen)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        return
    data = (sandbox / stdin_file).read_bytes() if stdin_file else None
    r = subprocess.run(cmd, cwd=sandbox, env=env, input=data, capture_output=True,
                       timeout=600)
    err = r.stderr.decode(errors="replace")
    assert r.returncode in (0, 1), f"{line}: exit {r.returncode}\n{err}"
    assert "Traceback" not in err and "error:" not in err, err
    assert r.stdout or r.stderr or "--diff" in args, line  # (a diff after --fix: nothing left)


def test_quick_start_runs_as_written_in_a_fresh_clone(tmp_path):
    """The first command of the README, verbatim, in a snapshot of the tree: a fresh
    virtualenv, an editable install, `initlint fixtures/` (the model examples only)."""
    (line,) = [ln for ln in _sh_blocks(_section("Quick start"))[0].splitlines() if ln.strip()]
    assert line.endswith("initlint fixtures/")
    snapshot_tree(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    r = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 1, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    findings = [ln for ln in lines if re.match(r"^\S+:\d+:\d+: IL\d{3}", ln)]
    assert findings and all(ln.startswith("fixtures/models/") for ln in findings), r.stdout
    assert re.search(r"^Found \d+ findings\.$", r.stdout, re.M)


def test_first_example_output_is_what_initlint_prints():
    """The README's opening example: every line shown is a line `initlint fixtures/` prints."""
    from conftest import run_cli

    block = re.search(r"^```\n\$ initlint fixtures/\n(.*?)^```", README, re.M | re.S).group(1)
    shown = [ln for ln in block.splitlines() if ln and ln != "..."]
    assert shown
    real = run_cli("fixtures/", "--no-cache", cwd=ROOT).stdout.decode().splitlines()
    for ln in shown:
        assert ln in real, ln
