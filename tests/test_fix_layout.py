"""The fix engine's layout (`initlint/fix/`): small modules and functions, one planner per
remedy type, the public API, one line table shared with the analysis, and a plain lint that
never loads libcst."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import initlint.fix
from initlint import remedies as R
from initlint.source import LineTable, char_col

FIX_DIR = Path(initlint.fix.__file__).parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# (module, function) pairs allowed over MAX_FUNCTION_LINES, each with the reason: none today
FUNCTION_EXCEPTIONS: set[tuple[str, str]] = set()


def _modules():
    return sorted(FIX_DIR.glob("*.py"))


def test_the_package_has_the_modules_the_readme_names():
    names = {p.stem for p in _modules()}
    assert names >= {"__init__", "plan", "locate", "rewrite", "remedies", "text", "write",
                     "notebook", "applying", "checks", "sources"}
    readme = (FIX_DIR.parents[1] / "README.md").read_text()
    for name in names - {"__init__"}:
        assert f"`{name}.py`" in readme, f"README's fix engine table misses {name}.py"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_module_over_the_line_limit(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_MODULE_LINES, f"{path.name}: {n} lines (limit {MAX_MODULE_LINES})"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_function_over_the_line_limit(path):
    tree = ast.parse(path.read_text())
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
            and (path.stem, node.name) not in FUNCTION_EXCEPTIONS]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_limit_check_sees_a_long_function():
    """The AST measure counts a def's whole body (the test above could fail)."""
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (fn,) = ast.parse(f"def f():\n{body}\n").body
    assert fn.end_lineno - fn.lineno + 1 == MAX_FUNCTION_LINES + 1


def test_the_public_api():
    from initlint.fix import (CHANGED_ON_DISK, MAX_PASSES, TEMP_SUFFIX, Outcome, apply,
                              attach_fixes, remove_stale_temps)

    assert MAX_PASSES == 10 and TEMP_SUFFIX == ".initlint" and "changed on disk" in CHANGED_ON_DISK
    assert set(inspect.signature(apply).parameters) == {"report", "cfg", "unsafe", "diff_only",
                                                        "stdin", "analyze"}
    assert set(inspect.signature(attach_fixes).parameters) == {"findings", "report", "stdin",
                                                               "sources"}
    assert dataclasses.is_dataclass(Outcome) and callable(remove_stale_temps)
    assert set(initlint.fix.__all__) == {"CHANGED_ON_DISK", "MAX_PASSES", "TEMP_SUFFIX",
                                         "Outcome", "apply", "attach_fixes", "remove_stale_temps"}


def test_every_remedy_type_has_exactly_one_planner():
    from initlint.fix.remedies import PLANNERS, planner

    kinds = {c for c in vars(R).values() if isinstance(c, type) and issubclass(c, R.Remedy)
             and c is not R.Remedy}
    assert kinds and set(PLANNERS) == kinds
    for kind, fn in PLANNERS.items():
        assert list(inspect.signature(fn).parameters) == ["b", "f", "node", "h"], kind
    with pytest.raises(ValueError, match="two planners for UseKaiming"):
        planner(R.UseKaiming)(lambda b, f, node, h: None)
    assert PLANNERS[R.UseKaiming].__name__ == "_fix_kaiming"  # the refused one did not replace it


def test_one_line_table_for_the_analysis_and_the_fixer():
    from initlint.analysis.facts import _Lines
    from initlint.fix.text import Text

    text = "a = 1\r\nb = 'é' + f(x)\rc = 2\n\fd = 3\ne"  # \f is no line break
    t = Text(text)
    assert isinstance(t, LineTable) and t.newline == "\r\n"
    assert [t.line(r) for r in range(1, 6)] == ["a = 1", "b = 'é' + f(x)", "c = 2", "\fd = 3", "e"]
    for off in range(len(text) + 1):
        assert t.offset(*t.pos(off)) == off
    tree = ast.parse(text)
    call = tree.body[1].value.right
    assert t.segment(call) == "f(x)"
    # the analysis's columns (1-based) and the fixer's (0-based) come from one conversion
    assert _Lines(text).col(2, call.col_offset) == t.char_col(2, call.col_offset) + 1 == 11
    assert char_col("b = 'é' + f(x)", call.col_offset) == 10 != call.col_offset


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


LINT = """
import sys
from initlint.cli import main
try:
    main([{path!r}, "--no-cache"{extra}])
except SystemExit:
    pass
print("libcst" in sys.modules)
"""


def test_the_static_lint_does_not_import_libcst(tmp_path):
    """libcst is loaded only when a fix is computed: not by importing initlint (the fix
    package included), not by a lint whose findings have no fix or whose output shows none."""
    code = ("import sys, initlint, initlint.cli, initlint.engine, initlint.fix, "
            "initlint.fix.applying, initlint.fix.remedies; print('libcst' in sys.modules)")
    assert _run(code) == "False"
    p = tmp_path / "m.py"
    p.write_text("import torch.nn as nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n"
                 "        super().__init__()\n        self.fc = nn.Linear(4, 4)\n"
                 "        nn.init.normal_(self.fc.weight, -0.1, 0.1)\n")
    clean = tmp_path / "clean.py"
    clean.write_text("import torch.nn as nn\n\nlayer = nn.Linear(4, 4)\n")
    assert _run(LINT.format(path=str(clean), extra="")) == "False"
    assert _run(LINT.format(path=str(p), extra=', "--output-format", "github"')) == "False"
    # the same check sees libcst once a fix is computed (for `[*]`, or --diff): it could fail
    assert _run(LINT.format(path=str(p), extra="")) == "True"
    assert _run(LINT.format(path=str(p), extra=', "--diff"')) == "True"
