"""`--output-format sarif`: SARIF 2.1.0, validated against the OASIS schema."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
from click.testing import CliRunner

from initlint.cli import main
from initlint.findings import Edit, Finding, Fix, Related
from initlint.report import render
from initlint.rules import RULES
from initlint.report.sarif import LEVELS

from conftest import run_cli

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())

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


def _validate(log: dict) -> None:
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    # `format: uri` is not checked by jsonschema without extra packages: check by hand
    run = log["runs"][0]
    for base in run.get("originalUriBaseIds", {}).values():
        parts = urlsplit(base["uri"])
        assert parts.scheme == "file" and base["uri"].endswith("/")
    for res in run["results"]:
        for loc in res["locations"] + res.get("relatedLocations", []):
            uri = loc["physicalLocation"]["artifactLocation"]["uri"]
            assert " " not in uri and "\\" not in uri


def _sarif(tmp_path, *args, files=None):
    files = files or {"model.py": BAD}
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        r = CliRunner().invoke(main, [*files, "--output-format", "sarif", "--no-cache", *args])
    finally:
        os.chdir(cwd)
    return r


def test_sarif_validates_and_carries_rules_results_and_related(tmp_path):
    r = _sarif(tmp_path)
    assert r.exit_code == 1, r.output
    log = json.loads(r.stdout)
    _validate(log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "initlint"
    ids = [d["id"] for d in driver["rules"]]
    assert ids == sorted(RULES)
    il101 = driver["rules"][ids.index("IL101")]
    assert il101["name"] == "XavierBeforeRelu"
    assert il101["shortDescription"]["text"] == RULES["IL101"].summary
    assert RULES["IL101"].why.strip()[:40] in il101["fullDescription"]["text"]
    assert il101["help"]["text"] == RULES["IL101"].doc()
    assert "```python" in il101["help"]["markdown"]
    assert "helpUri" not in il101  # no `docs-url`: no absolute URI to give (see test below)
    for code in ("IL101", "IL202", "IL302"):  # a rule's default severity, SARIF-spelled
        level = driver["rules"][ids.index(code)]["defaultConfiguration"]["level"]
        assert level == LEVELS[RULES[code].severity], code
    opt_in = [c for c, rule in RULES.items() if rule.opt_in]
    assert opt_in and all(driver["rules"][ids.index(c)]["defaultConfiguration"]["enabled"] is False
                          for c in opt_in)
    assert run["columnKind"] == "unicodeCodePoints"

    results = {res["ruleId"]: res for res in run["results"]}
    assert set(results) == {"IL101", "IL202"}
    x = results["IL101"]
    assert x["level"] in LEVELS.values()
    assert ids[x["ruleIndex"]] == "IL101"
    loc = x["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "model.py", "uriBaseId": "%SRCROOT%"}
    row = BAD.splitlines().index("        nn.init.xavier_uniform_(self.fc1.weight)") + 1
    assert loc["region"] == {"startLine": row, "startColumn": 9, "endLine": row,
                             "endColumn": 9 + len("nn.init.xavier_uniform_(self.fc1.weight)")}
    rel = {r["message"]["text"]: r for r in x["relatedLocations"]}
    assert set(rel) == {"layer `fc1` (Linear) built here", "feeds ReLU here"}
    built_row = BAD.splitlines().index("        self.fc1 = nn.Linear(256, 256)") + 1
    assert rel["layer `fc1` (Linear) built here"]["physicalLocation"]["region"]["startLine"] == built_row
    assert [r["id"] for r in x["relatedLocations"]] == [1, 2]
    # SRCROOT is where initlint ran
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"
    assert run["invocations"][0]["executionSuccessful"] is True


def test_sarif_same_findings_as_json(tmp_path):
    (tmp_path / "model.py").write_text(BAD)
    js = json.loads(CliRunner().invoke(main, [str(tmp_path / "model.py"), "--output-format", "json",
                                              "--no-cache"]).stdout)
    log = json.loads(_sarif(tmp_path).stdout)
    got = sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"],
                  r["locations"][0]["physicalLocation"]["region"]["startColumn"],
                  r["message"]["text"]) for r in log["runs"][0]["results"])
    want = sorted((f["code"], f["location"]["row"], f["location"]["column"], f["message"])
                  for f in js)
    assert got == want


def test_sarif_clean_run_and_absolute_paths(tmp_path):
    good = BAD.replace("nn.init.xavier_uniform_(self.fc1.weight)",
                       'nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")').replace(
        "nn.init.normal_(self.fc2.weight)", 'nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")')
    (tmp_path / "good.py").write_text(good)
    (tmp_path / "bad dir").mkdir()
    (tmp_path / "bad dir" / "m.py").write_text(BAD)
    r = CliRunner().invoke(main, [str(tmp_path / "good.py"), "--output-format", "sarif", "--no-cache"])
    assert r.exit_code == 0, r.output
    log = json.loads(r.stdout)
    _validate(log)
    assert log["runs"][0]["results"] == []
    r = CliRunner().invoke(main, [str(tmp_path / "bad dir"), "--output-format", "sarif", "--no-cache"])
    assert r.exit_code == 1
    log = json.loads(r.stdout)
    _validate(log)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": (tmp_path / "bad dir" / "m.py").as_uri()}
    assert "%20" in uri["uri"]


def test_sarif_fixes_and_notebook_cells_from_renderer():
    """Fixes (artifactChanges/replacements) and notebook cells, from Finding objects."""
    f = Finding("IL101", "Xavier init on `fc` feeds ReLU", "pkg/model.py", 10, 9, 10, 49, "warning",
                [Related("layer built here", "pkg/model.py", 7, 20)],
                fix=Fix("safe", "Use kaiming_uniform_",
                        [Edit("kaiming_uniform_", 10, 17, 10, 32),
                         Edit(', nonlinearity="relu"', 10, 48, 10, 48)]))
    nb = Finding("IL202", "unscaled init", "nb.ipynb", 3, 5, 3, 30, "error",
                 [Related("layer built here", "nb.ipynb", 2, 1, cell=2)], cell=4)
    info = Finding("IL302", "not orthogonal", "pkg/rnn.py", 1, 1, 1, 5, "info")
    log = json.loads(render("sarif", [f, nb, info]))
    _validate(log)
    r1, r2, r3 = log["runs"][0]["results"]
    (fix,) = r1["fixes"]
    assert fix["description"]["text"] == "Use kaiming_uniform_ (safe fix)"
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "pkg/model.py", "uriBaseId": "%SRCROOT%"}
    assert change["replacements"] == [
        {"deletedRegion": {"startLine": 10, "startColumn": 17, "endLine": 10, "endColumn": 32},
         "insertedContent": {"text": "kaiming_uniform_"}},
        {"deletedRegion": {"startLine": 10, "startColumn": 48, "endLine": 10, "endColumn": 48},
         "insertedContent": {"text": ', nonlinearity="relu"'}}]
    assert r2["properties"]["cell"] == 4 and r2["message"]["text"].startswith("cell 4: ")
    assert r2["relatedLocations"][0]["properties"]["cell"] == 2
    assert "fixes" not in r2
    assert r3["level"] == "note"


def test_sarif_output_file_and_subprocess(tmp_path):
    (tmp_path / "model.py").write_text(BAD)
    out = tmp_path / "out" / "initlint.sarif"
    out.parent.mkdir()
    r = run_cli("model.py", "--output-format", "sarif", "-o", str(out), "--no-cache", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert r.stdout == b""  # the report went to the file
    log = json.loads(out.read_text())
    _validate(log)
    assert {x["ruleId"] for x in log["runs"][0]["results"]} == {"IL101", "IL202"}
    # --output-file to a path that cannot be written: a clear error, exit 2
    r = run_cli("model.py", "--output-format", "sarif", "--output-file",
                str(tmp_path / "missing" / "x.sarif"), "--no-cache", cwd=tmp_path)
    assert r.returncode == 2
    assert b"cannot write" in r.stderr and b"Traceback" not in r.stderr


def test_sarif_parse_error_is_a_result(tmp_path):
    r = _sarif(tmp_path, files={"broken.py": "import torch\nclass Net(nn.Module:\n    pass\n"})
    assert r.exit_code == 1
    log = json.loads(r.stdout)
    _validate(log)
    (res,) = log["runs"][0]["results"]
    assert res["ruleId"] == "IL001" and res["level"] == "error"
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 2


@pytest.mark.parametrize("fmt", ["sarif", "junit", "github", "json"])
def test_formats_on_empty_input(tmp_path, fmt):
    (tmp_path / "empty.py").write_text("")
    r = CliRunner().invoke(main, [str(tmp_path / "empty.py"), "--output-format", fmt, "--no-cache"])
    assert r.exit_code == 0, r.output
    if fmt == "sarif":
        _validate(json.loads(r.stdout))


def test_sarif_level_location_and_related_of_built_findings(tmp_path, monkeypatch):
    """How findings render (built by hand: a rule changing its severity changes nothing here)."""
    from findings_factory import make_finding, render_findings, two_findings

    monkeypatch.chdir(tmp_path)
    fs = two_findings() + [make_finding("IL302", "info", row=7, end_col=30)]
    log = json.loads(render_findings("sarif", fs))
    _validate(log)
    results = {res["ruleId"]: res for res in log["runs"][0]["results"]}
    assert {c: r["level"] for c, r in results.items()} == {
        "IL101": "warning", "IL202": "error", "IL302": "note"}
    x = results["IL101"]
    assert x["message"]["text"] == "Xavier-like test message on `fc1`"
    loc = x["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "model.py", "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {"startLine": 11, "startColumn": 9, "endLine": 11, "endColumn": 49}
    assert [(r["id"], r["message"]["text"], r["physicalLocation"]["region"]["startLine"])
            for r in x["relatedLocations"]] == [(1, "layer `fc1` (Linear) built here", 7),
                                                (2, "feeds ReLU here", 10)]

