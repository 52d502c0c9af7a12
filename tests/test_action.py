"""action.yml (the GitHub Action), its steps run locally as a script the way the runner runs
a composite action: `${{ inputs.* }}` and `${{ github.action_path }}` substituted, `if:`
evaluated, each `run:` under `bash --noprofile --norc -eo pipefail`, GITHUB_OUTPUT collected.
The install step really pip-installs the action's checkout into a fresh virtualenv."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, snapshot_tree
from test_cli import BAD, BAD_ROWS, GOOD

pytestmark = pytest.mark.packaging

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _eval(expr: str, ctx: dict):
    m = re.fullmatch(r"inputs\.([\w-]+)\s*(!=|==)\s*''", expr)
    if m:
        value = ctx["inputs"][m.group(1)]
        return (value != "") if m.group(2) == "!=" else (value == "")
    m = re.fullmatch(r"(inputs|github|steps)\.([\w.-]+)", expr)
    assert m, f"expression the local runner does not know: {expr}"
    if m.group(1) == "inputs":
        return ctx["inputs"][m.group(2)]
    if m.group(1) == "github":
        return ctx["github"][m.group(2)]
    step, _, out = m.group(2).partition(".outputs.")
    return ctx["outputs"].get(step, {}).get(out, "")


def _sub(text: str, ctx: dict) -> str:
    return _EXPR.sub(lambda m: str(_eval(m.group(1), ctx)), text)


def run_action(action_dir, workspace, inputs: dict, tmp_path) -> tuple[list[dict], dict]:
    with open(os.path.join(action_dir, "action.yml"), encoding="utf-8") as fh:
        action = yaml.safe_load(fh)
    assert action["runs"]["using"] == "composite"
    values = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    unknown = set(inputs) - set(values)
    assert not unknown, unknown
    values.update(inputs)
    ctx = {"inputs": values, "github": {"action_path": str(action_dir)}, "outputs": {}}
    results = []
    for i, step in enumerate(action["runs"]["steps"]):
        cond = step.get("if")
        if cond is not None and not _eval(cond.strip(), ctx):
            results.append({"name": step.get("name"), "skipped": True})
            continue
        assert step["shell"] == "bash"
        out_file = tmp_path / f"github_output_{i}"
        out_file.write_text("")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update({k: _sub(str(v), ctx) for k, v in step.get("env", {}).items()})
        env["GITHUB_OUTPUT"] = str(out_file)
        env["GITHUB_WORKSPACE"] = str(workspace)
        script = tmp_path / f"step_{i}.sh"
        script.write_text(_sub(step["run"], ctx))
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                           cwd=workspace, env=env, capture_output=True, text=True, timeout=600)
        outputs = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if line)
        if step.get("id"):
            ctx["outputs"][step["id"]] = outputs
        results.append({"name": step.get("name"), "rc": r.returncode, "stdout": r.stdout,
                        "stderr": r.stderr, "outputs": outputs})
        if r.returncode != 0:
            break  # a failed step fails the job; later steps (no `if: always()`) do not run
    action_outputs = {k: _sub(v["value"], ctx) for k, v in action.get("outputs", {}).items()}
    return results, action_outputs


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The action's checkout, and a fresh virtualenv for `inputs.python`."""
    action_dir = tmp_path_factory.mktemp("action")
    snapshot_tree(action_dir)
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return action_dir, str(venv / "bin" / "python")


def test_action_annotates_fails_on_findings_and_writes_sarif(installed, tmp_path):
    action_dir, python = installed
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "bad.py").write_text(BAD)
    (ws / "src" / "good.py").write_text(GOOD)
    steps, outputs = run_action(action_dir, ws, {"args": "src/ --no-cache",
                                                 "sarif-file": "initlint.sarif",
                                                 "python": python}, tmp_path)
    install, sarif, lint = steps
    assert install["rc"] == 0, install["stderr"][-3000:]
    assert install["stdout"].startswith("initlint, version ")
    assert sarif["rc"] == 0, sarif["stderr"]
    log = json.loads((ws / "initlint.sarif").read_text())
    assert log["version"] == "2.1.0"
    assert sorted(r["locations"][0]["physicalLocation"]["region"]["startLine"]
                  for r in log["runs"][0]["results"]) == sorted(BAD_ROWS)
    assert lint["rc"] == 1, lint["stderr"]
    for row, code in BAD_ROWS.items():
        assert re.search(rf"^::(error|warning) file=src/bad\.py,line={row},.*title={code}::",
                         lint["stdout"], re.M), lint["stdout"]
    assert "good.py" not in lint["stdout"]
    assert lint["outputs"] == {"exit-code": "1"} and outputs == {"exit-code": "1"}


def test_action_clean_tree_passes_and_skips_sarif_by_default(installed, tmp_path):
    action_dir, python = installed
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "good.py").write_text(GOOD)
    steps, outputs = run_action(action_dir, ws, {"python": python, "args": ". --no-cache"},
                                tmp_path)
    install, sarif, lint = steps
    assert install["rc"] == 0 and sarif == {"name": "SARIF report", "skipped": True}
    assert lint["rc"] == 0 and lint["stdout"] == "" and outputs == {"exit-code": "0"}
