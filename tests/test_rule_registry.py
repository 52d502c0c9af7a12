"""The rule is the unit of change: a rule is one module `initlint/rules/ilNNN_<name>.py`,
found by the registry (no import list), and it brings its own examples, docs, and probe hook.
Also: the size limits of the rule modules, and that rules never import torch."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from initlint.findings import Finding
from initlint.probe import join as joinmod
from initlint.rules import RULES, discover, rule_of

RULES_DIR = os.path.join(ROOT, "initlint", "rules")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# (path relative to initlint/rules, function name): reason. Empty: nothing is over the limits.
SIZE_EXCEPTIONS: dict[tuple[str, str], str] = {}

NEW_RULE = '''
"""IL999 orthogonal-linear: a Linear weight initialized orthogonally (a test rule)."""

from __future__ import annotations

from initlint.rules.base import Rule
from initlint.rules.common import layer_desc, weight_judgments
from initlint.rules.examples import HEADER, Expect, Invalid, Valid

SEVERITY = "info"


class OrthogonalLinear(Rule):
    code = "IL999"
    name = "orthogonal-linear"
    severity = SEVERITY
    summary = "A weight initialized with `orthogonal_`."
    what = "Finds weights whose final init is `orthogonal_`."
    why = "Only here to show that a rule is one file."
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.xavier_uniform_(self.fc.weight)
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.orthogonal_(self.fc.weight)
""", [Expect(10, 9, "info", message_contains="orthogonal init of `fc`")]),
    ]

    def check(self, project, emit) -> None:
        for j in weight_judgments(project):
            if j.final is not None and j.final.kind == "orthogonal":
                desc = layer_desc(project, j.weight.owner, j.weight.local)
                emit(self.code, SEVERITY, f"orthogonal init of {desc}", j.final, j)

    def confirm(self, finding, ev):
        p = ev.ix.weight_of(ev.full)
        return "confirmed", f"IL999 looked at `{p['name']}`"
'''

CHECK_NEW_RULE = '''
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])  # the tests folder: conftest, test_rule_examples
import initlint
from conftest import lint_source
from pathlib import Path
from initlint.findings import Finding
from initlint.probe import join
from initlint.report import rulepage
from initlint.rules import CODES, RULES
from test_rule_examples import check_invalid

assert initlint.__file__.startswith(os.getcwd()), initlint.__file__
rule = RULES["IL999"]
assert CODES == sorted(CODES) and "IL999" in CODES, CODES
page = rulepage.page(rule)
assert page.startswith("# IL999: orthogonal-linear") and "## Example" in page, page
assert "[IL999](docs/rules/IL999.md)" in rulepage.table()
page_path = os.path.join(os.getcwd(), "docs", "rules", "IL999.md")
assert page_path in rulepage.expected_files(os.getcwd())
tmp = Path(tempfile.mkdtemp())
lint = lambda src, *a: lint_source(tmp, src, *a)
for ex in rule.invalid():
    check_invalid(lint, "IL999", ex)
for ex in rule.valid():
    assert not [f for f in lint(ex.code, "--select", "IL999") if f["code"] == "IL999"]
f = Finding("IL999", "m", "m.py", 9, 9, 9, 40, "info", cls="m.Net", layer="fc")
res = {"modules": [{"name": "", "module": "m", "qualname": "Net", "file": None},
                   {"name": "fc", "module": "torch.nn", "qualname": "Linear", "file": None}],
       "params": [{"name": "fc.weight", "module": "fc", "shape": [8, 8]}], "layers": []}
(row,) = join.join(res, [f])
print(json.dumps({"status": row["status"], "evidence": row["evidence"]}))
'''


def test_adding_a_rule_is_adding_one_file(tmp_path):
    """A copy of the package plus one new module: the rule is in CODES, `initlint rule`
    prints its page, the page generator and the README table list it, its examples pass the
    exact example check, and the probe join asks its hook. No other file is edited."""
    shutil.copytree(os.path.join(ROOT, "initlint"), tmp_path / "initlint",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "initlint" / "rules" / "il999_orthogonal_linear.py").write_text(
        textwrap.dedent(NEW_RULE).lstrip())
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = lambda *a: subprocess.run([sys.executable, *a], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=300)
    r = run("-c", CHECK_NEW_RULE, os.path.join(ROOT, "tests"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"status": "confirmed", "evidence": "IL999 looked at `fc.weight`"}
    r = run("-m", "initlint", "rule", "IL999")
    assert r.returncode == 0 and r.stdout.startswith("IL999 (orthogonal-linear)"), r.stderr
    assert "initlint reports IL999 at line 10, column 9: info." in r.stdout
    r = run("-m", "initlint", "rule", "--all")
    assert "IL999  orthogonal-linear" in r.stdout, r.stdout
    # and without the file, the rule is gone
    os.unlink(tmp_path / "initlint" / "rules" / "il999_orthogonal_linear.py")
    r = run("-m", "initlint", "rule", "IL999")
    assert r.returncode == 2, r.stdout


def _fake_package(tmp_path, monkeypatch, name: str, files: dict[str, str]) -> str:
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, text in files.items():
        (pkg / name).write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    return str(pkg)


RULE_TEMPLATE = """
    from initlint.rules.base import Rule

    class {cls}(Rule):
        code = "{code}"
        name = "{name}"
        severity = "info"
        summary = "x"
"""


def test_discovery_finds_only_rule_modules_and_checks_their_names(tmp_path, monkeypatch):
    pkg = _fake_package(tmp_path, monkeypatch, "fakerules_a", {
        "il990_good_rule.py": RULE_TEMPLATE.format(cls="Good", code="IL990", name="good-rule"),
        "helpers.py": "raise RuntimeError('not a rule module: never imported')\n",
    })
    (rule,) = discover("fakerules_a", [pkg])
    assert rule.code == "IL990" and rule.__name__ == "Good"
    assert "IL990" not in RULES  # discovery alone registers nothing


def test_discovery_rejects_a_misnamed_or_crowded_module(tmp_path, monkeypatch):
    pkg = _fake_package(tmp_path, monkeypatch, "fakerules_b", {
        "il991_wrong_name.py": RULE_TEMPLATE.format(cls="A", code="IL991", name="other-name"),
    })
    with pytest.raises(ValueError, match="il991_other_name.py"):
        discover("fakerules_b", [pkg])
    import types
    two = types.ModuleType("x.il992_two")
    exec(RULE_TEMPLATE.format(cls="A", code="IL992", name="two").replace("\n    ", "\n")
         + "\nclass B(A):\n    pass\n", two.__dict__)
    for v in vars(two).values():
        if isinstance(v, type):
            v.__module__ = "x.il992_two"
    with pytest.raises(ValueError, match="2 rules"):
        rule_of(two)


def test_rule_modules_stay_small():
    """Every module of initlint/rules/ <= 400 lines, every function <= 60."""
    over = []
    for name in sorted(os.listdir(RULES_DIR)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(RULES_DIR, name), encoding="utf-8") as fh:
            src = fh.read()
        lines = len(src.splitlines())
        if lines > MAX_MODULE_LINES and (name, "") not in SIZE_EXCEPTIONS:
            over.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and (name, node.name) not in SIZE_EXCEPTIONS:
                    over.append(f"{name}: {node.name}() {n} lines")
    assert not over, over


def test_every_rule_module_holds_exactly_its_rule():
    for name in sorted(os.listdir(RULES_DIR)):
        if name.startswith("il") and name.endswith(".py"):
            mod = sys.modules[f"initlint.rules.{name[:-3]}"]
            assert RULES[rule_of(mod).code] is rule_of(mod)
    assert len([n for n in os.listdir(RULES_DIR) if n.startswith("il")]) == len(RULES)


def test_rules_never_import_torch():
    code = ("import sys, initlint.rules, initlint.probe.join; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


def _measured() -> dict:
    return {"modules": [{"name": "", "module": "m", "qualname": "Net", "file": None},
                        {"name": "bn", "module": "torch.nn", "qualname": "BatchNorm2d",
                         "file": None}],
            "params": [{"name": "bn.weight", "module": "bn", "shape": [4], "std": 0.0,
                        "mean": 1.0, "all_zero": False}],
            "layers": []}


def _finding(code: str) -> Finding:
    return Finding(code, "m", "m.py", 3, 9, 3, 20, "warning", cls="m.Net", layer="bn")


def test_join_asks_the_rule_that_owns_the_finding(monkeypatch):
    """No per-code chain in join.py: the finding's rule's `confirm` decides; a rule without a
    hook is "not measured"; a layer the model lacks is "not measured" before any hook."""
    with open(joinmod.__file__, encoding="utf-8") as fh:
        assert "code ==" not in fh.read()
    (row,) = joinmod.join(_measured(), [_finding("IL301")])
    assert (row["status"], row["evidence"]) == (
        "confirmed", "`bn.weight` has mean 1 at init, not zero")
    (row,) = joinmod.join(_measured(), [_finding("IL302")])
    assert (row["status"], row["evidence"]) == (
        "not measured", "the probe has no runtime test for IL302")
    seen = []
    monkeypatch.setattr(RULES["IL302"], "confirm",
                        lambda self, f, ev: seen.append((f.code, ev.full, ev.mod)) or
                        ("not confirmed", "hooked"))
    (row,) = joinmod.join(_measured(), [_finding("IL302")])
    assert (row["status"], row["evidence"], seen) == ("not confirmed", "hooked",
                                                      [("IL302", "bn", "bn")])
    gone = _finding("IL302")
    gone.layer = "nothere"
    (row,) = joinmod.join(_measured(), [gone])
    assert row["status"] == "not measured" and "not a module or parameter" in row["evidence"]
    assert len(seen) == 1
