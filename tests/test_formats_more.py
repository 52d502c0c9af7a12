"""Formats `gitlab`, `pylint`, `json-lines`; notebook findings in cell order; `full` with the
cell's own lines."""

from __future__ import annotations

import json
import re

import jsonschema
import nbformat

from conftest import run_cli
from test_cli import BAD, BAD_ROWS
from test_notebook import MODEL_CELL, _notebook

# GitLab's Code Quality report, as its documentation lists the required fields
GITLAB_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object", "required": ["path", "lines"],
                "properties": {"path": {"type": "string"},
                               "lines": {"type": "object", "required": ["begin"],
                                         "properties": {"begin": {"type": "integer",
                                                                  "minimum": 1}}}}},
        },
    },
}


def _write(tmp_path, name="bad.py", text=BAD):
    p = tmp_path / "src" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_gitlab_code_quality(tmp_path):
    _write(tmp_path)
    r = run_cli("src", "--output-format", "gitlab", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    issues = json.loads(r.stdout)
    jsonschema.validate(issues, GITLAB_SCHEMA)
    assert sorted((i["location"]["path"], i["location"]["lines"]["begin"]) for i in issues) == \
        [("src/bad.py", row) for row in sorted(BAD_ROWS)]
    assert {i["check_name"].split()[0] for i in issues} == {"IL202", "IL201", "IL101"}
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    # a line added above moves the findings, not their fingerprints
    (tmp_path / "src/bad.py").write_text("# a comment\n" + BAD)
    moved = json.loads(run_cli("src", "--output-format", "gitlab", "--no-cache",
                               cwd=tmp_path).stdout)
    assert {i["fingerprint"] for i in moved} == {i["fingerprint"] for i in issues}
    assert {i["location"]["lines"]["begin"] for i in moved} == {r + 1 for r in BAD_ROWS}
    # nothing found: an empty report, still valid
    (tmp_path / "src/bad.py").write_text("x = 1\n")
    r = run_cli("src", "--output-format", "gitlab", "--no-cache", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_pylint_format(tmp_path):
    _write(tmp_path)
    r = run_cli("src", "--output-format", "pylint", "--no-cache", cwd=tmp_path)
    lines = r.stdout.decode().splitlines()
    assert len(lines) == len(BAD_ROWS)
    pat = re.compile(r"^src/bad\.py:(\d+): \[(IL\d{3})\(([a-z-]+)\)\] \S.*$")
    got = {}
    for ln in lines:
        m = pat.match(ln)
        assert m, ln
        got[int(m.group(1))] = m.group(2)
    assert got == BAD_ROWS


def test_json_lines(tmp_path):
    _write(tmp_path)
    r = run_cli("src", "--output-format", "json-lines", "--no-cache", cwd=tmp_path)
    lines = r.stdout.decode().splitlines()
    items = [json.loads(ln) for ln in lines]
    full = json.loads(run_cli("src", "--output-format", "json", "--no-cache",
                              cwd=tmp_path).stdout)
    assert items == full and len(items) == len(BAD_ROWS)


def _two_cell_notebook(tmp_path):
    """Cell 2 holds a finding on line 7, cell 3 one on line 3: cell order, not line order."""
    v4 = nbformat.v4
    return _notebook(tmp_path / "nb.ipynb", [
        v4.new_code_cell("import torch\nimport torch.nn as nn"),
        v4.new_code_cell(MODEL_CELL),
        v4.new_code_cell("class Small(nn.Module):\n    def __init__(self):\n"
                         "        super().__init__(); self.a = nn.Linear(64, 64); "
                         "nn.init.normal_(self.a.weight)\n\n"
                         "    def forward(self, x):\n        return self.a(x).relu()"),
    ])


def test_notebook_findings_in_cell_order_and_full_shows_the_cell(tmp_path):
    _two_cell_notebook(tmp_path)
    r = run_cli("nb.ipynb", "--no-cache", cwd=tmp_path)
    out = r.stdout.decode()
    where = re.findall(r"^nb\.ipynb:cell (\d+):(\d+):\d+:", out, re.M)
    assert where == sorted(where, key=lambda w: (int(w[0]), int(w[1]))), out
    assert where == [("2", "7"), ("3", "3")], out
    r = run_cli("nb.ipynb", "--output-format", "full", "--no-cache", cwd=tmp_path)
    full = r.stdout.decode()
    xavier = MODEL_CELL.splitlines().index("        nn.init.xavier_uniform_(self.fc1.weight)") + 1
    # the snippet is the cell's own lines, numbered as in the cell, with the caret under it
    assert f"  --> nb.ipynb:cell 2:{xavier}:9\n" in full, full
    assert f"{xavier} |         nn.init.xavier_uniform_(self.fc1.weight)\n" in full, full
    assert "  |         " + "^" * len("nn.init.xavier_uniform_(self.fc1.weight)") in full, full
    assert f"{xavier - 1} |         self.act = nn.ReLU()\n" in full
    assert "  --> nb.ipynb:cell 3:3:" in full and \
        "3 |         super().__init__(); self.a = nn.Linear(64, 64);" in full, full


def test_gitlab_severity_and_location_of_built_findings():
    from findings_factory import make_finding, render_findings

    fs = [make_finding("IL101", "warning", filename="src/bad.py"),
          make_finding("IL202", "error", filename="src/bad.py", row=12),
          make_finding("IL302", "info", filename="src/bad.py", row=7)]
    issues = json.loads(render_findings("gitlab", fs))
    jsonschema.validate(issues, GITLAB_SCHEMA)
    got = {i["check_name"].split()[0]: (i["severity"], i["location"]["lines"]["begin"])
           for i in issues}
    assert got == {"IL101": ("minor", 11), "IL202": ("major", 12), "IL302": ("info", 7)}
    assert all(i["location"]["path"] == "src/bad.py" for i in issues)

