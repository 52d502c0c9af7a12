"""The pre-commit hooks (.pre-commit-hooks.yaml), run by the real `pre-commit` package.

pre-commit clones the hook repository at a commit and pip-installs it into a fresh virtualenv,
so these tests snapshot the working tree (tracked + untracked, not ignored files) into a
temporary git repository and commit it there. Installing takes ~10 s (PyPI or the pip
cache): the tests carry the `precommit` marker, and run in the full suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_cli, snapshot_tree

ROOT = Path(__file__).resolve().parent.parent

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
GOOD = BAD.replace("nn.init.xavier_uniform_(self.fc1.weight)",
                   'nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")').replace(
    "nn.init.normal_(self.fc2.weight)", 'nn.init.kaiming_normal_(self.fc2.weight, nonlinearity="relu")')
XAVIER_ROW = BAD.splitlines().index("        nn.init.xavier_uniform_(self.fc1.weight)") + 1
NORMAL_ROW = BAD.splitlines().index("        nn.init.normal_(self.fc2.weight)") + 1

GIT_ENV = {"GIT_AUTHOR_NAME": "initlint tests", "GIT_AUTHOR_EMAIL": "tests@initlint.invalid",
           "GIT_COMMITTER_NAME": "initlint tests", "GIT_COMMITTER_EMAIL": "tests@initlint.invalid",
           "GIT_CONFIG_NOSYSTEM": "1"}


def _git(*args, cwd):
    env = dict(os.environ, **GIT_ENV)
    env.pop("GIT_DIR", None)
    env.pop("GIT_INDEX_FILE", None)
    r = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main",
                        *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"git {args}: {r.stderr}"
    return r.stdout


def _pre_commit(*args, cwd, home):
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never", **GIT_ENV)
    env.pop("GIT_DIR", None)
    env.pop("VIRTUAL_ENV", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    exe = shutil.which("pre-commit", path=os.path.dirname(sys.executable)) or "pre-commit"
    r = subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> tuple[Path, str]:
    """A committed snapshot of the working tree: what pre-commit would clone from GitHub."""
    src = tmp_path_factory.mktemp("initlint-src")
    snapshot_tree(src)
    assert (src / ".pre-commit-hooks.yaml").is_file()
    _git("init", "-q", cwd=src)
    _git("add", "-A", cwd=src)
    _git("commit", "-q", "-m", "snapshot for the pre-commit tests", cwd=src)
    rev = _git("rev-parse", "HEAD", cwd=src).strip()
    return src, rev


@pytest.fixture(scope="module")
def pc_home(tmp_path_factory) -> Path:
    """One pre-commit cache for the `pre-commit run` tests: the hook env is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


def _project(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", cwd=path)
    for name, text in files.items():
        p = path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    if files:
        _git("add", "-A", cwd=path)
    return path


def _config(project: Path, hook_repo, hooks: str) -> None:
    src, rev = hook_repo
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n-   repo: {src.as_uri()}\n    rev: {rev}\n    hooks:\n{hooks}")
    _git("add", ".pre-commit-config.yaml", cwd=project)


def test_hooks_manifest_is_valid():
    """The manifest loads with pre-commit's own schema and says what the product promises."""
    from pre_commit.clientlib import load_manifest

    hooks = {h["id"]: h for h in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}
    assert set(hooks) == {"initlint", "initlint-fix"}
    lint, fix = hooks["initlint"], hooks["initlint-fix"]
    assert lint["entry"] == "initlint --force-exclude" and lint["language"] == "python"
    assert lint["types_or"] == ["python", "pyi", "jupyter"]
    assert lint["require_serial"] is False
    assert lint["minimum_pre_commit_version"] != "0"
    assert fix["entry"] == "initlint --fix --force-exclude" and fix["types_or"] == lint["types_or"]


def test_initlint_without_files_is_clean(tmp_path):
    r = run_cli(cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert b"Traceback" not in r.stderr
    r = run_cli("--quiet", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, b"")


@pytest.mark.precommit
def test_try_repo_all_files(tmp_path, hook_repo):
    src, _ = hook_repo
    project = _project(tmp_path / "proj", {"models/bad.py": BAD, "models/good.py": GOOD,
                                           "README.md": "# not python\n"})
    code, out = _pre_commit("try-repo", str(src), "initlint", "--all-files",
                            cwd=project, home=tmp_path / "home")
    assert code == 1, out
    assert "initlint" in out and "Failed" in out
    assert re.search(rf"^models/bad\.py:{XAVIER_ROW}:9: IL101( \[\*\])? \[warning\]", out, re.M), out
    assert re.search(rf"^models/bad\.py:{NORMAL_ROW}:9: IL202( \[\*\])? \[error\]", out, re.M), out
    assert "good.py" not in out and "README" not in out


@pytest.mark.precommit
def test_config_repo_clean_skip_staged_and_notebook(tmp_path, hook_repo, pc_home):
    project = _project(tmp_path / "proj", {"good.py": GOOD, "docs/notes.md": "text\n"})
    _config(project, hook_repo, "    -   id: initlint\n")
    code, out = _pre_commit("run", "--all-files", cwd=project, home=pc_home)
    assert code == 0, out
    assert "Passed" in out

    # no Python file at all: pre-commit skips the hook, a clean pass
    bare = _project(tmp_path / "bare", {"README.md": "hello\n"})
    _config(bare, hook_repo, "    -   id: initlint\n")
    code, out = _pre_commit("run", "--files", "README.md", cwd=bare, home=pc_home)
    assert code == 0, out
    assert "(no files to check)Skipped" in out

    # only staged files are linted by `pre-commit run`: a bad file in the index fails the run
    (project / "bad.py").write_text(BAD)
    _git("add", "bad.py", cwd=project)
    code, out = _pre_commit("run", cwd=project, home=pc_home)
    assert code == 1, out
    assert f"bad.py:{XAVIER_ROW}:9: IL101" in out

    # notebooks are passed too (types_or: jupyter)
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import torch.nn as nn"),
                nbformat.v4.new_code_cell(BAD.split("\n", 3)[3])]
    nbformat.write(nb, str(project / "explore.ipynb"))
    _git("rm", "-q", "--cached", "bad.py", cwd=project)
    _git("add", "explore.ipynb", cwd=project)
    code, out = _pre_commit("run", cwd=project, home=pc_home)
    assert code == 1, out
    assert "explore.ipynb:cell 2:" in out and "IL101" in out
    assert "bad.py" not in out


@pytest.mark.precommit
def test_fix_hook(tmp_path, hook_repo, pc_home):
    project = _project(tmp_path / "proj", {"bad.py": BAD, "good.py": GOOD})
    _config(project, hook_repo, "    -   id: initlint-fix\n")
    code, out = _pre_commit("run", "--all-files", cwd=project, home=pc_home)
    assert code == 1, out  # fixed files or findings left: the commit stops either way
    assert "initlint (fix)" in out
    text = (project / "bad.py").read_text()
    # the safe IL101 fix was applied (pre-commit notices the change), IL202 is reported
    assert "files were modified by this hook" in out
    assert "xavier_uniform_(self.fc1.weight)" not in text
    assert 'kaiming_uniform_(self.fc1.weight, nonlinearity="relu")' in text
    compile(text, "bad.py", "exec")
    assert re.search(r"^bad\.py:\d+:9: IL202", out, re.M), out
    assert (project / "good.py").read_text() == GOOD
    # a second run: nothing left to fix, the unfixable finding still fails the commit
    code, out = _pre_commit("run", "--all-files", cwd=project, home=pc_home)
    assert code == 1 and "files were modified" not in out
    assert (project / "bad.py").read_text() == text


@pytest.mark.precommit
def test_real_git_commit_honours_configured_excludes(tmp_path, hook_repo, pc_home):
    """`pre-commit install`, then `git commit`: a staged file under an `extend-exclude`d
    folder does not block the commit (pre-commit names it explicitly; the hook passes
    --force-exclude), a bad model elsewhere does."""
    project = _project(tmp_path / "proj", {
        "pyproject.toml": '[tool.initlint]\nextend-exclude = ["legacy"]\n',
        "legacy/bad.py": BAD, "models/good.py": GOOD})
    _config(project, hook_repo, "    -   id: initlint\n")
    code, out = _pre_commit("install", cwd=project, home=pc_home)
    assert code == 0, out
    env = dict(os.environ, PRE_COMMIT_HOME=str(pc_home), PRE_COMMIT_COLOR="never", **GIT_ENV)
    env.pop("GIT_DIR", None)
    env.pop("VIRTUAL_ENV", None)

    def commit(message):
        return subprocess.run(["git", "-c", "commit.gpgsign=false", "commit", "-m", message],
                              cwd=project, env=env, capture_output=True, text=True, timeout=600)

    # `initlint .` agrees: legacy/ is excluded
    r = run_cli(".", "--no-cache", cwd=project)
    assert r.returncode == 0, r.stdout
    c = commit("legacy code stays as it is")
    assert c.returncode == 0, c.stdout + c.stderr
    assert "initlint" in c.stdout + c.stderr and "Passed" in c.stdout + c.stderr
    assert _git("log", "--format=%s", cwd=project).splitlines() == ["legacy code stays as it is"]

    (project / "models/bad.py").write_text(BAD)
    _git("add", "models/bad.py", cwd=project)
    c = commit("a bad model")
    out = c.stdout + c.stderr
    assert c.returncode != 0, out
    assert f"models/bad.py:{XAVIER_ROW}:9: IL101" in out and "legacy" not in out, out
    assert _git("log", "--format=%s", cwd=project).splitlines() == ["legacy code stays as it is"]


def _readme_yaml(after: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(after)
    return re.search(r"^```yaml\n(.*?)^```", readme[start:], re.M | re.S).group(1)


@pytest.mark.precommit
def test_readme_pre_commit_config_works_as_written(tmp_path, hook_repo, pc_home):
    """The README's `.pre-commit-config.yaml`, with the repository and the rev filled in."""
    src, rev = hook_repo
    text = _readme_yaml("**pre-commit** (")
    assert "URL-OF-THIS-REPOSITORY" in text and "rev: REF" in text
    project = _project(tmp_path / "proj", {"models/bad.py": BAD, "models/good.py": GOOD})
    (project / ".pre-commit-config.yaml").write_text(
        text.replace("URL-OF-THIS-REPOSITORY", src.as_uri()).replace("rev: REF", f"rev: {rev}"))
    _git("add", ".pre-commit-config.yaml", cwd=project)
    code, out = _pre_commit("run", "--all-files", cwd=project, home=pc_home)
    assert code == 1, out
    assert f"models/bad.py:{XAVIER_ROW}:9: IL101" in out and "good.py" not in out
