"""`--output-format github`: GitHub Actions workflow commands (RULES.md §4)."""

from __future__ import annotations

import re
import textwrap

from click.testing import CliRunner

from initlint.cli import main
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
CMD = re.compile(r"^::(error|warning|notice) file=([^,]+),line=(\d+),col=(\d+),endLine=(\d+),"
                 r"endColumn=(\d+),title=([^:]+)::(.*)$")


def test_github_workflow_commands(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mlp.py").write_text(BAD)
    r = run_cli("models", "--output-format", "github", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 2, lines
    parsed = [CMD.match(ln) for ln in lines]
    assert all(parsed), lines
    by_code = {m.group(7): m for m in parsed}
    row = BAD.splitlines().index("        nn.init.xavier_uniform_(self.fc1.weight)") + 1
    x = by_code["IL101"]
    assert x.group(1) in ("error", "warning", "notice")
    assert x.group(2) == "models/mlp.py"
    assert (int(x.group(3)), int(x.group(4))) == (row, 9)
    assert x.group(8).startswith("Xavier init on `fc1` (Linear)")


def test_github_clean_prints_nothing(tmp_path):
    (tmp_path / "ok.py").write_text("import torch.nn as nn\n")
    r = CliRunner().invoke(main, [str(tmp_path / "ok.py"), "--output-format", "github", "--no-cache"])
    assert r.exit_code == 0 and r.stdout == ""


def test_github_escaping_and_levels():
    fs = [Finding("IL101", "50% off\nsecond line", "dir,with:odd.py", 3, 4, 3, 9, "warning"),
          Finding("IL302", "info level", "a.py", 1, 1, 1, 2, "info")]
    out = render("github", fs).splitlines()
    assert out[0] == ("::warning file=dir%2Cwith%3Aodd.py,line=3,col=4,endLine=3,endColumn=9,"
                      "title=IL101::50%25 off%0Asecond line")
    assert out[1].startswith("::notice file=a.py,")
    assert len(out) == 2


def test_github_levels_and_locations_of_built_findings():
    out = render_findings("github", two_findings("models/mlp.py")).splitlines()
    assert out == [
        "::warning file=models/mlp.py,line=11,col=9,endLine=11,endColumn=49,title=IL101::"
        "Xavier-like test message on `fc1`",
        "::error file=models/mlp.py,line=12,col=9,endLine=12,endColumn=40,title=IL202::"
        "unscaled-like test message on `fc2`"]

