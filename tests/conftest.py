import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# the user's own settings must not change what the tests see (tests set them where they test them)
for _var in ("INITLINT_OUTPUT_FORMAT", "FORCE_COLOR", "NO_COLOR"):
    os.environ.pop(_var, None)


def lint_source(tmp_path, source: str, *args: str, name: str = "model.py"):
    """Lint one source text through the real CLI entry point (CliRunner); return findings."""
    import json

    from click.testing import CliRunner

    from initlint.cli import main

    path = tmp_path / name
    path.write_text(textwrap.dedent(source) if source.startswith("\n    ") else source)
    result = CliRunner().invoke(main, [str(path), "--output-format", "json", "--no-cache", *args])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.fixture
def lint(tmp_path):
    def run(source, *args, name="model.py"):
        return lint_source(tmp_path, source, *args, name=name)
    return run


def run_cli(*args, cwd=None, input=None, env=None):
    """Run `initlint` as a real subprocess."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "initlint", *args], cwd=cwd, input=input,
                          capture_output=True, env=full_env, timeout=300)


def snapshot_tree(dst) -> None:
    """Copy the working tree as git sees it (tracked + untracked, not ignored files) to dst:
    what a clone, pre-commit's checkout or an sdist build starts from."""
    import shutil
    from pathlib import Path

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        s = Path(ROOT) / rel
        if not s.is_file():  # deleted in the working tree
            continue
        d = Path(dst) / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(s, d)
