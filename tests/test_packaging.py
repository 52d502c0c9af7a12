"""The packages a user gets: the sdist is built from a snapshot of the tree, unpacked, and
a meaningful part of its own test suite runs from the unpacked sources; the wheel is
installed into a fresh virtualenv without torch and lints the bundled examples.

`packaging` marker: builds with the setuptools of this environment (no network), and
pip-installs the wheel's dependencies (libcst, click) from the index or pip's cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, snapshot_tree

pytestmark = pytest.mark.packaging

# a subset that exercises the CLI, the rule pages, the fixture tree and the fixes from the
# unpacked sources (the whole suite is the CI's job; these are what an sdist must carry)
SDIST_TESTS = ["tests/test_rule_pages.py", "tests/test_fixtures_tree.py",
               "tests/test_fix_fixtures.py", "tests/test_config_schema.py",
               "tests/test_cli.py::test_version_and_help"]


def fresh_venv(path: Path) -> tuple[Path, dict]:
    """A new virtualenv (without torch) and an environment whose PATH starts with it."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PATH"] = f"{path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return path / "bin" / "python", env


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    src = tmp_path_factory.mktemp("initlint-src")
    snapshot_tree(src)
    out = tmp_path_factory.mktemp("dist")
    built = {}
    for kind in ("sdist", "wheel"):  # one process each, as a build frontend does
        code = (f"import sys\nfrom setuptools import build_meta as b\n"
                f"print('BUILT', b.build_{kind}(sys.argv[1]))\n")
        r = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        (line,) = [ln for ln in r.stdout.splitlines() if ln.startswith("BUILT ")]
        built[kind] = line.split()[1]
    sdist, wheel = built["sdist"], built["wheel"]
    assert (out / wheel).is_file(), os.listdir(out)
    return {"sdist": out / sdist, "wheel": out / wheel}


def test_sdist_carries_its_tests_and_they_pass(dists, tmp_path):
    with tarfile.open(dists["sdist"]) as tf:
        tf.extractall(tmp_path, filter="data")
    (root,) = tmp_path.iterdir()
    for rel in ("LICENSE", "README.md", "tests/conftest.py", "fixtures/EXPECTED.json",
                "fixtures/models/mlp.py", "tests/fix_cases/il101_nn_init/case.in.py",
                "tests/probe_models/mlp.py", "tests/data/sarif-schema-2.1.0.json",
                "docs/rules/IL101.md", "docs/initlint.schema.json", "initlint/py.typed",
                ".pre-commit-hooks.yaml", "action.yml"):
        assert (root / rel).is_file(), rel
    assert "License-Expression: MIT" in (root / "PKG-INFO").read_text()
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    where = subprocess.run([sys.executable, "-c", "import initlint; print(initlint.__file__)"],
                           cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(root / "initlint" / "__init__.py"), where
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        *SDIST_TESTS], cwd=root, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], r.stdout[-500:]


def test_wheel_metadata_and_contents(dists):
    with zipfile.ZipFile(dists["wheel"]) as zf:
        names = set(zf.namelist())
        meta = zf.read("initlint-0.1.0.dist-info/METADATA").decode()
        entry = zf.read("initlint-0.1.0.dist-info/entry_points.txt").decode()
    assert "initlint/py.typed" in names
    assert "initlint-0.1.0.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if n.startswith(("tests/", "fixtures/", "docs/"))]
    assert "License-Expression: MIT" in meta and "Classifier: Typing :: Typed" in meta
    assert "Requires-Dist: torch" in meta and 'extra == "probe"' in meta
    assert "initlint = initlint.cli:main" in entry


def test_wheel_installs_without_torch_and_lints_the_examples(dists, tmp_path):
    venv = tmp_path / "venv"
    py, env = fresh_venv(venv)
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", str(dists["wheel"])],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(py), "-c", "import importlib.util as u; print(u.find_spec('torch'))"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout.strip() == "None"  # the static linter needs no torch
    r = subprocess.run([str(venv / "bin" / "initlint"), "fixtures/", "--no-cache"], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("fixtures/")]
    assert lines and all(ln.startswith("fixtures/models/") for ln in lines)
    r = subprocess.run([str(venv / "bin" / "initlint"), "rule", "IL101"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("IL101 (xavier-before-relu)")


def test_git_url_install_and_the_readme_gitlab_job(tmp_path):
    """`pip install "initlint @ git+URL@REF"` (the README's install before a release) from a
    git repository of this tree, then the README's GitLab CI script lines as written."""
    import json
    import re

    from test_cli import BAD
    from test_formats_more import GITLAB_SCHEMA
    from test_precommit import _git

    import jsonschema

    repo = tmp_path / "repo"
    snapshot_tree(repo)
    _git("init", "-q", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "-m", "snapshot", cwd=repo)
    rev = _git("rev-parse", "HEAD", cwd=repo).strip()
    venv = tmp_path / "venv"
    _, env = fresh_venv(venv)
    readme = (Path(ROOT) / "README.md").read_text(encoding="utf-8")
    job = re.search(r"^```yaml\n(initlint:\n.*?)^```", readme, re.M | re.S).group(1)
    import yaml

    script = yaml.safe_load(job)["initlint"]["script"]
    assert script[0] == 'pip install "initlint @ git+URL-OF-THIS-REPOSITORY@REF"'
    ws = tmp_path / "ws"
    (ws / "models").mkdir(parents=True)
    (ws / "models" / "bad.py").write_text(BAD)
    results = []
    for line in script:
        # (a PEP 508 `name @ url` wants a host: file://localhost/..., as an https URL has)
        url = "file://localhost" + repo.as_posix()
        line = line.replace("URL-OF-THIS-REPOSITORY", url).replace("@REF", f"@{rev}")
        r = subprocess.run(["bash", "-c", line], cwd=ws, env=env, capture_output=True, text=True,
                           timeout=900)
        results.append(r)
    install, report, lint = results
    assert install.returncode == 0, install.stderr[-3000:]
    assert report.returncode == 0, report.stderr
    issues = json.loads((ws / "gl-code-quality-report.json").read_text())
    jsonschema.validate(issues, GITLAB_SCHEMA)
    assert {i["location"]["path"] for i in issues} == {"models/bad.py"}
    assert lint.returncode == 1 and "models/bad.py:" in lint.stdout
    where = subprocess.run(["python", "-c", "import initlint; print(initlint.__file__)"], cwd=ws,
                           env=env, capture_output=True, text=True, timeout=60).stdout
    assert where.startswith(str(venv)), where
