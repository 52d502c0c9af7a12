"""docs/rules/CODE.md and the README's rule table are generated from the rule classes; these
tests fail when either drifts (regenerate with `python -m initlint.report.rulepage`)."""

from __future__ import annotations

import os
import re

from click.testing import CliRunner

from conftest import ROOT, run_cli
from initlint.cli import main
from initlint.report import rulepage
from initlint.rules import RULES, all_rules

RULES_DIR = os.path.join(ROOT, "docs", "rules")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def test_every_rule_page_is_current_and_no_page_is_orphaned():
    want = rulepage.expected_files(ROOT)
    for path, text in want.items():
        assert os.path.isfile(path), f"{os.path.relpath(path, ROOT)} is missing"
        assert _read(path) == text, (f"{os.path.relpath(path, ROOT)} drifted from the rule "
                                     "class: run `python -m initlint.report.rulepage`")
    on_disk = {os.path.join(RULES_DIR, n) for n in os.listdir(RULES_DIR)}
    assert on_disk == set(want), on_disk ^ set(want)


def test_readme_rule_table_is_current():
    readme = _read(os.path.join(ROOT, "README.md"))
    assert rulepage.readme_with_table(readme) == readme, (
        "the README's rule table drifted: run `python -m initlint.report.rulepage`")
    block = readme.split(rulepage.TABLE_START, 1)[1].split(rulepage.TABLE_END, 1)[0]
    codes = re.findall(r"^\| \[(IL\d{3})\]\(docs/rules/(IL\d{3})\.md\)", block, re.M)
    assert [a for a, _ in codes] == sorted(RULES) and all(a == b for a, b in codes)


def test_generator_check_finds_drift_and_rewrites_it(tmp_path, capsys):
    import shutil
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "initlint.report.rulepage", "--check"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout
    shutil.copytree(RULES_DIR, tmp_path / "docs" / "rules")
    shutil.copy(os.path.join(ROOT, "README.md"), tmp_path / "README.md")
    page = tmp_path / "docs" / "rules" / "IL101.md"
    page.write_text(page.read_text().replace("## Why is this bad?", "## Why"))
    (tmp_path / "docs" / "rules" / "IL999.md").write_text("# gone\n")
    assert rulepage.main(["--check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "out of date: docs/rules/IL101.md" in out and "IL999.md (no such rule)" in out
    assert rulepage.main(["--root", str(tmp_path)]) == 0
    assert rulepage.main(["--check", "--root", str(tmp_path)]) == 0
    assert page.read_text() == _read(os.path.join(RULES_DIR, "IL101.md"))
    assert not (tmp_path / "docs" / "rules" / "IL999.md").exists()


def test_page_is_what_initlint_rule_prints():
    for rule in all_rules():
        r = CliRunner().invoke(main, ["rule", rule.code, "--output-format", "markdown"])
        assert r.exit_code == 0
        assert r.stdout == _read(os.path.join(RULES_DIR, f"{rule.code}.md"))
        # the same sections as the terminal page
        text = CliRunner().invoke(main, ["rule", rule.code]).stdout
        assert text.startswith(f"{rule.code} ({rule.name})")
        for section in ("What it does", "Fix"):
            assert section in text and f"## {section}" in r.stdout
    r = CliRunner().invoke(main, ["rule", "--all", "--output-format", "markdown"])
    assert r.stdout == rulepage.table()


def test_links_point_at_the_pages_or_a_configured_base(tmp_path):
    """`url` is the page's path in the repository, or `docs-url` + CODE.md; SARIF's helpUri
    only when that is an absolute URI."""
    import json

    from test_cli import BAD

    (tmp_path / "bad.py").write_text(BAD)
    r = run_cli("bad.py", "--output-format", "json", "--no-cache", cwd=tmp_path)
    urls = {f["code"]: f["url"] for f in json.loads(r.stdout)}
    for code, url in urls.items():
        assert url == f"docs/rules/{code}.md" and os.path.isfile(os.path.join(ROOT, url))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.initlint]\ndocs-url = "https://example.org/initlint/rules/"\n')
    r = run_cli("bad.py", "--output-format", "json", "--no-cache", cwd=tmp_path)
    assert {f["url"] for f in json.loads(r.stdout)} == {
        f"https://example.org/initlint/rules/{c}.md" for c in urls}
    r = run_cli("bad.py", "--output-format", "sarif", "--no-cache", "--config",
                'docs-url = "https://example.org/r/{code}.html"', cwd=tmp_path)
    rules = json.loads(r.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert {d["id"]: d["helpUri"] for d in rules}["IL101"] == "https://example.org/r/IL101.html"
    r = run_cli("bad.py", "--no-cache", "--config", "docs-url = 3", cwd=tmp_path)
    assert r.returncode == 2 and b"docs-url" in r.stderr


def test_language_server_links_the_page_when_docs_url_is_set(tmp_path):
    """Over real stdio JSON-RPC: with `docs-url`, each diagnostic's codeDescription.href is
    the page's absolute URL (without it there is none: see test_lsp)."""
    from test_lsp import BAD as LSP_BAD
    from test_lsp import LspClient

    (tmp_path / "pyproject.toml").write_text(
        '[tool.initlint]\ndocs-url = "https://example.org/initlint/docs/rules/"\n')
    path = tmp_path / "model.py"
    path.write_text(LSP_BAD)
    c = LspClient(cwd=str(tmp_path))
    try:
        c.initialize(tmp_path, {"debounceMs": 50})
        uri = c.open(path, LSP_BAD)
        diags = c.diagnostics(uri, 1)
        assert diags
        for d in diags:
            assert d["codeDescription"]["href"] == \
                f"https://example.org/initlint/docs/rules/{d['code']}.md"
    finally:
        c.close()
