"""Autofix fixture pairs: tests/fix_cases/NAME/case.in.EXT -> case.out.EXT.

Each directory holds one case (EXT is `py` or `ipynb`) and, optionally, an `args` file with the
command-line options to fix it with (default: `--fix --unsafe-fixes`). Every pair is checked
through click's CliRunner (in process), and the whole set once more through a real
`python -m initlint` subprocess.
"""

import ast
import json
import os
import shlex
import shutil

import pytest
from click.testing import CliRunner

from conftest import ROOT, run_cli
from initlint.cli import main
from initlint.rules import all_rules
from initlint.rules.examples import Invalid

FIXES = os.path.join(ROOT, "tests", "fix_cases")
DEFAULT_ARGS = ["--fix", "--unsafe-fixes"]


def _cases():
    out = []
    for name in sorted(os.listdir(FIXES)):
        d = os.path.join(FIXES, name)
        if not os.path.isdir(d):
            continue
        ins = [f for f in os.listdir(d) if f.startswith("case.in.")]
        assert len(ins) == 1, f"{name}: expected one case.in.* file, found {ins}"
        ext = ins[0][len("case.in."):]
        assert os.path.exists(os.path.join(d, f"case.out.{ext}")), f"{name}: no case.out.{ext}"
        args_file = os.path.join(d, "args")
        args = shlex.split(open(args_file).read()) if os.path.exists(args_file) else DEFAULT_ARGS
        out.append((name, ext, args))
    return out


CASES = _cases()


def _read(path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _invoke(*args):
    result = CliRunner().invoke(main, [*args, "--no-cache"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _parses(path: str, data: bytes) -> None:
    if path.endswith(".ipynb"):
        nb = json.loads(data)
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                ast.parse("\n".join("" if ln.lstrip().startswith("%") else ln
                                    for ln in src.splitlines()))
    else:
        ast.parse(data)


def test_there_are_fixture_pairs():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name,ext,args", CASES, ids=[c[0] for c in CASES])
def test_fixture_pair(tmp_path, name, ext, args):
    d = os.path.join(FIXES, name)
    case = tmp_path / f"case.{ext}"
    shutil.copyfile(os.path.join(d, f"case.in.{ext}"), case)
    expected = _read(os.path.join(d, f"case.out.{ext}"))
    before = _read(case)
    assert before != expected, "a fixture pair must change something"

    first = _invoke(str(case), *args)
    assert first.exit_code in (0, 1), first.output
    assert "Fixed " in first.stderr, first.stderr
    after = _read(case)
    assert after == expected, (
        f"{name}: --fix result differs from case.out.{ext}:\n{after.decode('utf-8', 'replace')}")
    _parses(str(case), after)

    # a second run is a no-op: same bytes, same mtime, nothing left that these options fix
    mtime = os.stat(case).st_mtime_ns
    second = _invoke(str(case), *args)
    assert second.exit_code == first.exit_code
    assert "Fixed " not in second.stderr, second.stderr
    assert _read(case) == expected and os.stat(case).st_mtime_ns == mtime
    found = json.loads(_invoke(str(case), "--output-format", "json").stdout)
    unsafe = "--unsafe-fixes" in args
    left = [f for f in found if f["fix"] and (unsafe or f["fix"]["applicability"] == "safe")]
    assert not left, left


@pytest.mark.parametrize("name,ext,args", CASES, ids=[c[0] for c in CASES])
def test_expected_output_is_valid(name, ext, args):
    path = os.path.join(FIXES, name, f"case.out.{ext}")
    _parses(path, _read(path))


def test_fixture_pairs_cover_every_fix_and_alias_style(tmp_path):
    """Every rule with a fix and every spelling of nn.init has a fixture pair."""
    inputs = {}
    fixed_codes = set()
    for name, ext, args in CASES:
        src = os.path.join(FIXES, name, f"case.in.{ext}")
        inputs[name] = _read(src).decode("utf-8")
        found = json.loads(_invoke(src, "--output-format", "json", *[
            a for a in args if a not in ("--fix", "--unsafe-fixes")]).stdout)
        fixed_codes |= {f["code"] for f in found if f["fix"]}
    # the rules that fix, as the rules say it (an example with a fixed text), not a list here
    fixing = {r.code for r in all_rules()
              if any(isinstance(ex, Invalid) and ex.fixed is not None for ex in r.EXAMPLES)}
    assert len(fixing) >= 7 and fixed_codes >= fixing, sorted(fixing - fixed_codes)
    text = "\n".join(inputs.values())
    for style in ("nn.init.xavier", "torch.nn.init.xavier", "from torch.nn import init",
                  "import torch.nn.init as init", "from torch.nn.init import xavier_uniform_ as xu",
                  ".normal_(", ".uniform_(", "nn.Parameter(torch.randn("):
        assert style in text, f"no fixture spells {style!r}"


def test_all_pairs_through_a_subprocess(tmp_path):
    """The real command line over a tree of cases at once (default-argument cases)."""
    want = {}
    for name, ext, args in CASES:
        if args != DEFAULT_ARGS:
            continue
        dst = tmp_path / f"{name}.{ext}"
        shutil.copyfile(os.path.join(FIXES, name, f"case.in.{ext}"), dst)
        want[dst] = _read(os.path.join(FIXES, name, f"case.out.{ext}"))
    proc = run_cli(str(tmp_path), *DEFAULT_ARGS, "--no-cache")
    assert proc.returncode in (0, 1), proc.stderr.decode()
    assert f"in {len(want)} files" in proc.stderr.decode(), proc.stderr.decode()
    for path, expected in want.items():
        assert _read(path) == expected, f"{path.name} differs:\n{_read(path).decode()}"
