"""The content-hash cache (`initlint.cache`) and the project-join memo (`initlint.parallel`).

What must hold: a warm run reads and parses nothing that did not change; a changed file, a
changed configuration and a changed *dependency* (a file defining a class another file
subclasses) invalidate exactly what they must, and every cached run prints what an uncached
run prints. Cross-file results come from the project join over all files' facts, so caching
per-file facts is enough: the dependency test shows the unchanged subclass file served from
the cache while its finding follows the edited base class.
"""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from conftest import run_cli
from initlint import cache as cache_mod
from initlint import engine, parallel
from initlint.cli import main
from initlint.config import Config, load
from initlint.discover import Target, discover

BASE = textwrap.dedent("""\
    import torch.nn as nn


    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 16)
            self.act = nn.ReLU()
            self.out = nn.Linear(16, 16)

        def forward(self, x):
            return self.out(self.act(self.fc(x)))
""")

# the finding (IL101, line 9) is in this file, but whether it exists depends on base.py
SUB = textwrap.dedent("""\
    import torch.nn as nn

    from base import Block


    class Net(Block):
        def __init__(self):
            super().__init__()
            nn.init.xavier_uniform_(self.fc.weight)
""")

# a file of its own, with its own IL202 finding at line 8
OTHER = textwrap.dedent("""\
    import torch.nn as nn


    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(32, 32)
            nn.init.normal_(self.fc.weight)
            self.out = nn.Linear(32, 2)

        def forward(self, x):
            return self.out(self.fc(x))
""")


def _project(tmp_path):
    for name, text in (("base.py", BASE), ("sub.py", SUB), ("other.py", OTHER)):
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(cache_mod.ENV_VAR, raising=False)
    return _project(tmp_path)


@pytest.fixture
def analyses(monkeypatch):
    """Paths analysed (read + parsed + facts) in this process, in order."""
    seen: list[str] = []
    real = parallel.analyze_file

    def spy(path, display, data=None):
        seen.append(os.path.basename(path))
        return real(path, display, data)

    monkeypatch.setattr(parallel, "analyze_file", spy)
    return seen


def lint(cfg: Config | None = None, paths=(".",), use_cache=True):
    """One run through the same path the CLI takes; findings as (file, row, code)."""
    cfg = cfg or Config()
    targets, missing = discover(list(paths), cfg)
    assert not missing
    analyze = parallel.make_analyzer(jobs=1, config=cfg, use_cache=use_cache)
    report = engine.lint(targets, cfg, analyze=analyze)
    found = sorted((os.path.basename(f.filename), f.row, f.code) for f in report.findings)
    return found, analyze


def uncached(cfg: Config | None = None, paths=(".",)):
    cfg = cfg or Config()
    targets, _ = discover(list(paths), cfg)
    report = engine.lint(targets, cfg)
    return sorted((os.path.basename(f.filename), f.row, f.code) for f in report.findings)


def make_old(path, seconds=100):
    """Give a file an mtime in the past, so that the cache trusts it."""
    st = os.stat(path)
    old = st.st_mtime_ns - int(seconds * 1e9)
    os.utime(path, ns=(old, old))


# ---------------------------------------------------------------------- the directory
def test_cache_directory_is_tagged_and_ignored(project):
    found, analyze = lint()
    assert ("sub.py", 9, "IL101") in found and ("other.py", 8, "IL202") in found
    d = project / ".initlint_cache"
    tag = (d / "CACHEDIR.TAG").read_text()
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (d / ".gitignore").read_text().splitlines()[-1] == "*"
    packs = list(d.glob("*/*.pickle"))
    assert any(p.name == f"{Config().fingerprint()}.pickle" for p in packs)
    assert analyze.cache.misses == 3 and analyze.cache.hits == 0


def test_no_cache_writes_nothing(project):
    lint(use_cache=False)
    assert not (project / ".initlint_cache").exists()


def test_env_var_moves_the_cache(project, tmp_path_factory, monkeypatch):
    where = tmp_path_factory.mktemp("elsewhere") / "c"
    monkeypatch.setenv(cache_mod.ENV_VAR, str(where))
    lint()
    assert (where / "CACHEDIR.TAG").is_file()
    assert not (project / ".initlint_cache").exists()


def test_cache_lives_next_to_the_config_file(project, monkeypatch):
    sub = project / "pkg"
    sub.mkdir()
    (project / "pyproject.toml").write_text("[tool.initlint]\nmin-chain = 6\n")
    monkeypatch.chdir(sub)
    cfg = load(str(project / "pyproject.toml"))
    lint(cfg, paths=(str(project),))
    assert (project / ".initlint_cache" / "CACHEDIR.TAG").is_file()
    assert not (sub / ".initlint_cache").exists()


# ---------------------------------------------------------------------- warm runs
def test_warm_run_parses_nothing_and_reads_each_file_once(project, analyses, monkeypatch):
    """Each file is read once to hash it (size and mtime can be kept across an edit) and
    nothing is parsed."""
    for name in ("base.py", "sub.py", "other.py"):
        make_old(project / name)
    first, _ = lint()
    assert sorted(analyses) == ["base.py", "other.py", "sub.py"]
    analyses.clear()
    opened: list[str] = []
    real_open = open

    def spy_open(file, *a, **k):
        opened.append(os.path.basename(str(file)))
        return real_open(file, *a, **k)

    with monkeypatch.context() as m:
        m.setattr("builtins.open", spy_open)
        second, analyze = lint()
    assert second == first == uncached()
    assert analyses == []
    assert sorted(n for n in opened if n.endswith(".py")) == ["base.py", "other.py", "sub.py"]
    assert analyze.cache.hits == 3 and analyze.cache.misses == 0


def test_warm_run_skips_the_join_and_prints_the_same(project, monkeypatch):
    first, _ = lint()
    calls = []
    real = engine.finish
    monkeypatch.setattr(engine, "finish", lambda *a, **k: calls.append(1) or real(*a, **k))
    second, _ = lint()
    assert second == first and calls == []  # memo: nothing changed, nothing recomputed
    (project / "other.py").write_text(OTHER.replace("normal_(self.fc.weight)",
                                                    "kaiming_normal_(self.fc.weight)"))
    third, _ = lint()
    assert calls == [1]  # something changed: the join runs
    assert third == uncached() and ("other.py", 8, "IL202") not in third


def test_edit_that_changes_no_facts_reuses_the_join(project, analyses, monkeypatch):
    """The join is memoized on what it reads (each file's pickled result and facts), not on
    the bytes: a reworded comment re-analyses its file and reuses the join; a `# noqa` (same
    facts, new suppression) or a code change runs the join again."""
    for name in ("base.py", "sub.py", "other.py"):
        make_old(project / name)
    first, _ = lint()
    assert ("other.py", 8, "IL202") in first
    calls = []
    real = engine.finish
    monkeypatch.setattr(engine, "finish", lambda *a, **k: calls.append(1) or real(*a, **k))
    analyses.clear()
    (project / "other.py").write_text(OTHER.replace("normal_(self.fc.weight)",
                                                    "normal_(self.fc.weight)  # std 1"))
    again, _ = lint()
    assert analyses == ["other.py"] and calls == []  # re-read, same facts: the memo holds
    assert again == first
    (project / "other.py").write_text(OTHER.replace("normal_(self.fc.weight)",
                                                    "normal_(self.fc.weight)  # noqa: IL202"))
    quiet, _ = lint()
    assert calls == [1] and ("other.py", 8, "IL202") not in quiet
    assert quiet == uncached()
    calls.clear()
    (project / "other.py").write_text(OTHER.replace("normal_(self.fc.weight)",
                                                    "kaiming_normal_(self.fc.weight)"))
    fixed, _ = lint()
    assert calls == [1] and fixed == uncached()


def test_fixes_are_memoized_beside_the_join(project, monkeypatch):
    """The report's fixes are computed once per join input and file text: a warm run reuses
    them; a changed text of the file they edit computes them again, with the same result."""
    from initlint import fix as fixer

    calls = []
    real = fixer.attach_fixes
    monkeypatch.setattr(fixer, "attach_fixes", lambda *a, **k: calls.append(1) or real(*a, **k))
    args = [".", "--output-format", "json", "--exit-zero"]
    first = CliRunner().invoke(main, args)
    assert calls == [1]
    fixes = [f["fix"] for f in json.loads(first.stdout) if f["code"] == "IL202"]
    assert fixes and fixes[0] is not None and fixes[0]["edits"]
    second = CliRunner().invoke(main, args)
    assert calls == [1] and second.stdout == first.stdout  # served from the memo
    assert parallel.TIMINGS.get("fixes") == "memo"
    (project / "other.py").write_text(OTHER.replace("normal_(self.fc.weight)",
                                                    "normal_(self.fc.weight)  # std 1"))
    third = CliRunner().invoke(main, args)
    assert calls == [1, 1]  # same facts (the join is reused), new text: fixes again
    assert third.stdout == first.stdout
    assert third.stdout == CliRunner().invoke(main, args + ["--no-cache"]).stdout


def test_same_facts_pickle_to_the_same_bytes_in_every_process(project):
    """The memo key needs deterministic pickles: set order follows str hashing, which
    differs per process (PYTHONHASHSEED)."""
    code = ("import hashlib, sys; from initlint.engine import analyze_file; "
            "from initlint.parallel import _split; "
            "r = analyze_file('sub.py', 'sub.py'); b, f = _split(r); "
            "print(hashlib.md5(b + f).hexdigest())")
    outs = {subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                           text=True, env=dict(os.environ, PYTHONHASHSEED=str(seed)),
                           check=True).stdout for seed in (1, 2, 3)}
    assert len(outs) == 1


def test_results_from_the_cache_equal_fresh_ones(project):
    cfg = Config()
    targets, _ = discover(["."], cfg)
    parallel.make_analyzer(1, cfg, True)(targets)
    cached = parallel.make_analyzer(1, cfg, True)(targets)
    fresh = [engine.analyze_file(t.path, t.display) for t in targets]
    assert all(isinstance(r, parallel.LazyResult) for r in cached)
    assert cached == fresh
    assert [r.facts for r in cached] == [r.facts for r in fresh]
    assert pickle.loads(pickle.dumps(cached[0])) == fresh[0]


def test_display_name_comes_from_this_run(project):
    cfg = Config()
    analyze = parallel.make_analyzer(1, cfg, True)
    analyze([Target("other.py", "other.py")])
    again = parallel.make_analyzer(1, cfg, True)([Target("other.py", "shown-as.py")])
    assert again[0].display == "shown-as.py"
    assert again[0].facts is not None and again[0].facts.classes[0].name == "Head"


# ---------------------------------------------------------------------- invalidation
def test_changed_file_is_the_only_one_analysed_again(project, analyses):
    for name in ("base.py", "sub.py", "other.py"):
        make_old(project / name)
    lint()
    analyses.clear()
    (project / "other.py").write_text(OTHER.replace("nn.init.normal_(self.fc.weight)",
                                                    "nn.init.normal_(self.fc.weight)  # x"))
    found, analyze = lint()
    assert analyses == ["other.py"]
    assert found == uncached()


def test_changed_dependency_invalidates_exactly_what_it_must(project, analyses):
    """base.py changes (ReLU -> Tanh); sub.py, unchanged, is served from the cache, and its
    finding (Xavier before ReLU, through the base class) goes away: the join re-judges it."""
    for name in ("base.py", "sub.py", "other.py"):
        make_old(project / name)
    before, _ = lint()
    assert ("sub.py", 9, "IL101") in before
    analyses.clear()
    (project / "base.py").write_text(BASE.replace("nn.ReLU()", "nn.Tanh()"))
    after, analyze = lint()
    assert analyses == ["base.py"]  # sub.py and other.py come from the cache
    assert analyze.cache.hits == 2 and analyze.cache.misses == 1
    assert ("sub.py", 9, "IL101") not in after
    assert after == uncached()
    # and back: the old finding returns, again from sub.py's cached facts
    analyses.clear()
    (project / "base.py").write_text(BASE)
    assert lint()[0] == before
    assert analyses == ["base.py"]


def test_changed_config_invalidates_the_facts_and_the_join(project, analyses, monkeypatch):
    for name in ("base.py", "sub.py", "other.py"):
        make_old(project / name)
    pyproject = project / "pyproject.toml"
    pyproject.write_text("[tool.initlint]\nselect = [\"IL101\"]\n")
    found, _ = lint(load(str(pyproject)))
    assert found == [("sub.py", 9, "IL101")]
    analyses.clear()
    # a different rule selection is a different fingerprint: nothing is reused
    pyproject.write_text("[tool.initlint]\nselect = [\"IL202\"]\n")
    cfg = load(str(pyproject))
    found, analyze = lint(cfg)
    assert found == [("other.py", 8, "IL202")] == uncached(cfg)
    assert sorted(analyses) == ["base.py", "other.py", "sub.py"]
    # per-file-ignores do not change the facts (same fingerprint, cache hits) but the
    # report follows them at once
    analyses.clear()
    pyproject.write_text("[tool.initlint]\nselect = [\"IL202\"]\n"
                         "[tool.initlint.per-file-ignores]\n\"other.py\" = [\"IL202\"]\n")
    cfg = load(str(pyproject))
    found, analyze = lint(cfg)
    assert found == [] == uncached(cfg)
    assert analyses == [] and analyze.cache.hits == 3


def test_touch_without_change_is_a_hit_after_one_hash(project, analyses):
    make_old(project / "other.py")
    lint(paths=("other.py",))
    analyses.clear()
    os.utime(project / "other.py")  # new mtime, same bytes
    _, analyze = lint(paths=("other.py",))
    assert analyses == [] and analyze.cache.hits == 1


def test_same_size_same_mtime_new_content_is_seen_when_recent(project, analyses):
    """A write within the same clock tick as the cached one: the entry was recorded with an
    mtime too recent to trust, so the content hash decides."""
    path = project / "other.py"
    before = os.stat(path)
    lint(paths=("other.py",))
    changed = OTHER.replace("nn.init.normal_(self.fc.weight)", "nn.init.zeros_(self.fc.weight) ")
    assert len(changed) == len(OTHER)
    path.write_text(changed)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    analyses.clear()
    found, analyze = lint(paths=("other.py",))
    assert analyses == ["other.py"]
    assert found == uncached(paths=("other.py",)) == [("other.py", 8, "IL201")]


def test_new_package_marker_changes_module_names(project, analyses):
    """Module names come from `__init__.py` files up the tree: adding one is a change."""
    pkg = project / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text(OTHER)
    make_old(pkg / "m.py")
    lint(paths=("pkg",))
    analyses.clear()
    (pkg / "__init__.py").write_text("")
    lint(paths=("pkg",))
    assert "m.py" in analyses
    cached = parallel.make_analyzer(1, Config(), True)([Target(str(pkg / "m.py"), "m.py")])
    assert cached[0].facts.module == "pkg.m"


def test_corrupt_pack_is_ignored_and_rewritten(project, analyses):
    first, analyze = lint()
    pack = analyze.cache.pack_path
    with open(pack, "wb") as fh:
        fh.write(b"\x80\x05not a pickle")
    analyses.clear()
    again, analyze = lint()
    assert again == first and len(analyses) == 3
    data = cache_mod.read_sealed(pack, cache_mod.secret_key())  # rewritten, sealed
    assert data["format"] == cache_mod.PACK_FORMAT


def test_unwritable_cache_location_still_lints(project, monkeypatch):
    blocker = project / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv(cache_mod.ENV_VAR, str(blocker / "cache"))
    found, _ = lint()
    assert found == uncached()
    result = CliRunner().invoke(main, [".", "--output-format", "json"])
    assert result.exit_code == 1, result.output
    assert {(os.path.basename(f["filename"]), f["code"]) for f in json.loads(result.stdout)} >= {
        ("sub.py", "IL101"), ("other.py", "IL202")}


# ---------------------------------------------------------------------- the real CLI
def test_cli_subprocess_cached_runs_match_uncached(tmp_path):
    _project(tmp_path)
    env = {cache_mod.ENV_VAR: ""}
    cold = run_cli(".", "--no-cache", "--output-format", "json", cwd=tmp_path, env=env)
    assert not (tmp_path / ".initlint_cache").exists()
    fill = run_cli(".", "--output-format", "json", cwd=tmp_path, env=env)
    timings = tmp_path / "timings.json"
    warm = run_cli(".", "--output-format", "json", cwd=tmp_path,
                   env=dict(env, INITLINT_TIMINGS=str(timings)))
    assert cold.returncode == fill.returncode == warm.returncode == 1
    info = json.loads(timings.read_text())  # what the warm run says it did
    assert (info["cache_hits"], info["cache_misses"], info["join"]) == (3, 0, "memo")
    assert json.loads(cold.stdout) == json.loads(fill.stdout) == json.loads(warm.stdout)
    assert (tmp_path / ".initlint_cache" / "CACHEDIR.TAG").is_file()
    # a pre-commit style run: only sub.py reported, base.py analysed for context
    (tmp_path / "base.py").write_text(BASE.replace("nn.ReLU()", "nn.Tanh()"))
    ctx = run_cli("sub.py", "--context", ".", "--output-format", "json", cwd=tmp_path, env=env)
    assert ctx.returncode == 0 and json.loads(ctx.stdout) == [], ctx.stdout + ctx.stderr
    (tmp_path / "base.py").write_text(BASE)
    ctx = run_cli("sub.py", "--context", ".", "--output-format", "json", cwd=tmp_path, env=env)
    assert ctx.returncode == 1
    assert [(f["code"], f["location"]["row"]) for f in json.loads(ctx.stdout)] == [("IL101", 9)]


def test_clean_command(tmp_path):
    _project(tmp_path)
    env = {cache_mod.ENV_VAR: ""}
    run_cli(".", cwd=tmp_path, env=env)
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "m.py").write_text(OTHER)
    run_cli(".", cwd=nested, env=env)
    assert (nested / ".initlint_cache").is_dir()
    # a folder that only happens to have the name is not ours: left alone
    impostor = tmp_path / "deep" / ".initlint_cache"
    impostor.mkdir(parents=True)
    (impostor / "keep.txt").write_text("mine")
    done = run_cli("clean", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / ".initlint_cache").exists()
    assert not (nested / ".initlint_cache").exists()
    assert (impostor / "keep.txt").read_text() == "mine"
    assert done.stdout.decode().count("Removed") == 2
    again = run_cli("clean", cwd=tmp_path, env=env)
    assert again.returncode == 0 and b"No cache to remove." in again.stdout
    missing = run_cli("clean", "no-such-dir", cwd=tmp_path, env=env)
    assert missing.returncode == 2 and b"no such directory" in missing.stderr
    assert b"Traceback" not in missing.stderr


def test_clean_is_listed_in_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "clean" in result.output


def test_bytes_checked_are_the_bytes_analysed(project):
    """When the cache had to read a file to compare hashes, the analysis uses those bytes and
    the stat taken before reading them: a write in between is caught on the next run, never
    recorded as matching content it did not produce."""
    before = cache_mod.Stat(size=1, mtime_ns=12345)
    data = OTHER.encode()
    (project / "other.py").write_text("# rewritten meanwhile\n")
    res, st, digest = parallel._analyze_one("other.py", "other.py", data, before, True)
    assert st is before and digest == cache_mod.content_hash(data)
    assert res.facts.classes[0].name == "Head"  # analysed the bytes given, not the disk
