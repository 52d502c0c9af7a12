"""`--output-format junit`: XML that xml.etree parses, one testcase per linted file."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from initlint.cli import main
from initlint.engine import FileResult, Report
from initlint.findings import Finding
from initlint.report import render

from conftest import run_cli
from findings_factory import render_findings, two_findings

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
GOOD = "import torch.nn as nn\n\nlayer = nn.Linear(4, 4)\n"


def _tree(tmp_path, *extra):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.py").write_text(BAD)
    (tmp_path / "src" / "good.py").write_text(GOOD)
    (tmp_path / "src" / "skipped.py").write_text("# initlint: skip-file\n" + BAD)
    (tmp_path / "src" / "broken.py").write_text("import torch\ndef f(:\n")
    r = CliRunner().invoke(main, [str(tmp_path / "src"), "--output-format", "junit", "--no-cache",
                                  *extra])
    return r


def test_junit_one_testcase_per_file_one_failure_per_finding(tmp_path):
    r = _tree(tmp_path)
    assert r.exit_code == 1, r.output
    assert r.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(r.stdout.split("\n", 1)[1])
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = {c.get("name").replace("\\", "/").rsplit("/", 1)[-1]: c for c in suite.findall("testcase")}
    assert set(cases) == {"bad.py", "good.py", "skipped.py", "broken.py"}
    assert suite.get("tests") == "4" and suite.get("failures") == "2"
    assert suite.get("skipped") == "1" and suite.get("errors") == "0"
    assert root.get("tests") == "4" and root.get("failures") == "2"
    bad = cases["bad.py"].findall("failure")
    assert sorted(f.get("type") for f in bad) == ["IL101", "IL202"]
    x = next(f for f in bad if f.get("type") == "IL101")
    row = BAD.splitlines().index("        nn.init.xavier_uniform_(self.fc1.weight)") + 1
    assert x.get("message").startswith("IL101 [") and "Xavier init on `fc1`" in x.get("message")
    assert f"bad.py:{row}:9: IL101 [" in x.text
    assert "note: layer `fc1` (Linear) built here" in x.text and "docs: docs/rules/IL101.md" in x.text
    assert cases["good.py"].find("failure") is None and len(cases["good.py"]) == 0
    assert cases["skipped.py"].find("skipped") is not None
    (parse,) = cases["broken.py"].findall("failure")
    assert parse.get("type") == "IL001"
    for c in cases.values():
        assert c.get("classname") == "initlint" and c.get("file") == c.get("name")


def test_junit_clean_and_output_file(tmp_path):
    (tmp_path / "good.py").write_text(GOOD)
    out = tmp_path / "report.xml"
    r = run_cli("good.py", "--output-format", "junit", "-o", str(out), "--no-cache", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""
    root = ET.parse(out).getroot()
    (suite,) = root.findall("testsuite")
    (case,) = suite.findall("testcase")
    assert case.get("name") == "good.py" and len(case) == 0
    assert suite.get("failures") == "0" and suite.get("tests") == "1"


def test_junit_escapes_and_internal_errors():
    f = Finding("IL101", 'bad <init> & "quotes" \x1b', "a&b.py", 1, 1, 1, 2, "warning")
    files = [FileResult("a&b.py", "a&b.py"), FileResult("c.py", "c.py")]
    rep = Report([f], files, internal_errors=[("c.py", "ValueError: boom\ntrace"),
                                              ("rule IL101", "KeyError: x")])
    text = render("junit", [f], rep)
    root = ET.fromstring(text.split("\n", 1)[1])
    suite = root.find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["a&b.py"].find("failure").get("message").startswith('IL101 [warning] bad <init> & "quotes" \\x1b')
    assert cases["c.py"].find("error").get("message") == "ValueError: boom"
    assert cases["initlint rules"].find("error").text == "internal error in rule IL101: KeyError: x"
    assert suite.get("errors") == "2" and suite.get("tests") == "3"


def test_junit_failure_carries_code_severity_location_notes_and_docs():
    """How one finding renders (built by hand: no rule's decision in it)."""
    fs = two_findings("bad.py")
    root = ET.fromstring(render_findings("junit", fs, ("good.py",)).split("\n", 1)[1])
    (suite,) = root.findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert suite.get("tests") == "2" and suite.get("failures") == "1"  # failing files
    fails = {f.get("type"): f for f in cases["bad.py"].findall("failure")}
    assert fails["IL101"].get("message") == "IL101 [warning] Xavier-like test message on `fc1`"
    assert fails["IL202"].get("message") == "IL202 [error] unscaled-like test message on `fc2`"
    text = fails["IL101"].text
    assert "bad.py:11:9: IL101 [warning]" in text
    assert "note: layer `fc1` (Linear) built here" in text and "docs: docs/rules/IL101.md" in text
    assert len(cases["good.py"]) == 0

