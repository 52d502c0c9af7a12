"""Jupyter notebooks: code cells are linted as one module; findings name the cell and the
line inside it (text, json, sarif, junit, github)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import nbformat
from click.testing import CliRunner

from initlint.cli import main

from conftest import run_cli

MODEL_CELL = """\
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(256, 256)
        self.fc2 = nn.Linear(256, 10)
        self.act = nn.ReLU()
        nn.init.xavier_uniform_(self.fc1.weight)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))"""

SECOND_MODEL_CELL = """\
%%time
class Deep(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 64)
        self.b = nn.Linear(64, 64)
        nn.init.normal_(self.a.weight)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))"""


def _notebook(path, cells, language="python"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "k", "display_name": "K", "language": language}
    nb.metadata["language_info"] = {"name": language}
    nb.cells = cells
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path


def _standard(tmp_path, name="nb.ipynb"):
    v4 = nbformat.v4
    return _notebook(tmp_path / name, [
        v4.new_markdown_cell("# Models\n\nsome text"),                                   # 1
        v4.new_code_cell("%matplotlib inline\n!pip install torch\nimport torch\n"
                         "import torch.nn as nn\nfiles = !ls\ntorch.nn.init?"),         # 2
        v4.new_code_cell(MODEL_CELL),                                                    # 3
        v4.new_code_cell("%%bash\necho 'this is not python' {\nls -la | wc -l"),         # 4
        v4.new_markdown_cell("More text"),                                               # 5
        v4.new_code_cell(SECOND_MODEL_CELL),                                             # 6
        v4.new_raw_cell("raw text (not code"),                                           # 7
    ])


def _json(*args):
    r = CliRunner().invoke(main, [*map(str, args), "--output-format", "json", "--no-cache"])
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout)


def test_notebook_findings_name_cell_and_line(tmp_path):
    nb = _standard(tmp_path)
    code, findings = _json(nb)
    assert code == 1
    got = {(f["code"], f["cell"], f["location"]["row"], f["location"]["column"]) for f in findings}
    xavier_line = MODEL_CELL.splitlines().index("        nn.init.xavier_uniform_(self.fc1.weight)") + 1
    normal_line = SECOND_MODEL_CELL.splitlines().index("        nn.init.normal_(self.a.weight)") + 1
    assert got == {("IL101", 3, xavier_line, 9), ("IL202", 6, normal_line, 9)}
    x = next(f for f in findings if f["code"] == "IL101")
    assert x["end_location"] == {"row": xavier_line,
                                 "column": 9 + len("nn.init.xavier_uniform_(self.fc1.weight)")}
    rel = {r["message"]: r for r in x["related"]}
    built = rel["layer `fc1` (Linear) built here"]
    assert built["cell"] == 3
    assert built["location"]["row"] == MODEL_CELL.splitlines().index(
        "        self.fc1 = nn.Linear(256, 256)") + 1


def test_notebook_text_formats_and_subprocess(tmp_path):
    _standard(tmp_path)
    r = run_cli("nb.ipynb", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    out = r.stdout.decode()
    # each finding's severity as the JSON output gives it (the rule decides it, not this test)
    sev = {f["code"]: f["severity"] for f in _json(tmp_path / "nb.ipynb")[1]}
    assert re.search(rf"^nb\.ipynb:cell 3:7:9: IL101( \[\*\])? \[{sev['IL101']}\] Xavier", out,
                     re.M), out
    assert re.search(rf"^nb\.ipynb:cell 6:7:9: IL202( \[\*\])? \[{sev['IL202']}\] unscaled", out,
                     re.M), out
    r = run_cli("nb.ipynb", "--output-format", "full", "--no-cache", cwd=tmp_path)
    full = r.stdout.decode()
    assert "--> nb.ipynb:cell 3:7:9" in full
    assert "= note: layer `fc1` (Linear) built here (nb.ipynb:cell 3:4:20)" in full
    r = run_cli("nb.ipynb", "--output-format", "github", "--no-cache", cwd=tmp_path)
    level = {"error": "error", "warning": "warning", "info": "notice"}[sev["IL101"]]
    assert f"::{level} file=nb.ipynb,line=7,col=9," in r.stdout.decode()
    assert "::cell 3: Xavier init" in r.stdout.decode()


def test_notebook_sarif_and_junit(tmp_path):
    _standard(tmp_path)
    r = run_cli("nb.ipynb", "--output-format", "sarif", "--no-cache", cwd=tmp_path)
    log = json.loads(r.stdout)
    cells = sorted(res["properties"]["cell"] for res in log["runs"][0]["results"])
    assert cells == [3, 6]
    r = run_cli("nb.ipynb", "--output-format", "junit", "--no-cache", cwd=tmp_path)
    root = ET.fromstring(r.stdout.decode().split("\n", 1)[1])
    (case,) = root.iter("testcase")
    texts = sorted(f.text.splitlines()[0] for f in case.findall("failure"))
    assert texts[0].startswith("nb.ipynb:cell 3:7:9: IL101")
    assert texts[1].startswith("nb.ipynb:cell 6:7:9: IL202")


def test_notebook_found_in_folders_and_noqa_in_cells(tmp_path):
    v4 = nbformat.v4
    (tmp_path / "sub").mkdir()
    _standard(tmp_path / "sub", "a.ipynb")
    _notebook(tmp_path / "sub" / "quiet.ipynb", [
        v4.new_code_cell("import torch.nn as nn"),
        v4.new_code_cell(MODEL_CELL.replace("nn.init.xavier_uniform_(self.fc1.weight)",
                                            "nn.init.xavier_uniform_(self.fc1.weight)  # noqa: IL101")),
    ])
    code, findings = _json(tmp_path)
    names = {(f["filename"].replace("\\", "/").rsplit("/", 1)[-1], f["code"], f["cell"])
             for f in findings}
    assert names == {("a.ipynb", "IL101", 3), ("a.ipynb", "IL202", 6)}


def test_notebook_syntax_error_points_into_the_cell(tmp_path):
    v4 = nbformat.v4
    nb = _notebook(tmp_path / "broken.ipynb", [
        v4.new_code_cell("import torch.nn as nn\nx = 1"),
        v4.new_markdown_cell("text"),
        v4.new_code_cell("y = 2\n\ndef f(:\n    pass"),
    ])
    code, findings = _json(nb)
    assert code == 1
    (f,) = findings
    assert (f["code"], f["cell"], f["location"]["row"]) == ("IL001", 3, 3)


def test_notebook_magic_alone_in_a_block_and_shell_assign(tmp_path):
    v4 = nbformat.v4
    nb = _notebook(tmp_path / "magic.ipynb", [
        v4.new_code_cell("import torch.nn as nn\nif True:\n    %timeit nn.Linear(2, 2)\n"
                         "out = !nvidia-smi\nnn.Linear?\ny = (3\n     % 2)"),
    ])
    code, findings = _json(nb)
    assert (code, findings) == (0, [])


def test_non_python_notebook_is_not_linted_as_python(tmp_path):
    v4 = nbformat.v4
    nb = _notebook(tmp_path / "r.ipynb", [v4.new_code_cell("library(torch)\nx <- c(1, 2)\n")],
                   language="R")
    assert _json(nb) == (0, [])


def test_invalid_notebook_is_a_parse_error(tmp_path):
    p = tmp_path / "bad.ipynb"
    p.write_text("{not json")
    code, findings = _json(p)
    assert code == 1
    assert [f["code"] for f in findings] == ["IL001"]
    assert "notebook" in findings[0]["message"]
    p.write_text(json.dumps({"nbformat": 4, "metadata": {}}))
    code, findings = _json(p)
    assert [f["code"] for f in findings] == ["IL001"] and "cells" in findings[0]["message"]


def test_notebook_line_separators_python_does_not_count(tmp_path):
    """U+2028 or a form feed inside a cell is not a line break for Python: rows stay right."""
    v4 = nbformat.v4
    nb = _notebook(tmp_path / "seps.ipynb", [
        v4.new_code_cell("import torch.nn as nn\nlabel = 'a\u2028b'\n\x0c\nsep = '\x1c'"),
        v4.new_code_cell(MODEL_CELL),
    ])
    code, findings = _json(nb)
    assert [(f["code"], f["cell"], f["location"]["row"]) for f in findings] == [
        ("IL101", 2, MODEL_CELL.splitlines().index("        nn.init.xavier_uniform_(self.fc1.weight)") + 1)]
