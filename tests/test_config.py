"""Configuration (RULES.md §5): discovery, every key, validation errors, per-file-ignores,
exclude / extend-exclude."""

import json
import os
import textwrap

import pytest
from click.testing import CliRunner

from conftest import run_cli
from initlint.cli import main
from initlint.config import Config, ConfigError, find_config, load
from test_cli import BAD, GOOD, LSTM, invoke

# IL101 on line 10 only when GELU counts as ReLU-like
GELU = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 64)
            self.act = nn.GELU()
            self.out = nn.Linear(64, 2)
            nn.init.xavier_uniform_(self.fc.weight)

        def forward(self, x):
            return self.out(self.act(self.fc(x)))
""")

# four default-init Linear layers joined by ReLU: IL203 (line 8) only with min-chain <= 4
CHAIN4 = textwrap.dedent("""\
    import torch.nn as nn


    class Chain(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(32, 32), nn.ReLU(),
                nn.Linear(32, 32), nn.ReLU(),
                nn.Linear(32, 32), nn.ReLU(),
                nn.Linear(32, 2),
            )

        def forward(self, x):
            return self.body(x)
""")


def _json(cwd, *args, input=None):
    """In-process (CliRunner) run from `cwd`; the subprocess runs are the explicit ones."""
    r = invoke(*args, "--output-format", "json", "--no-cache", cwd=cwd, input=input)
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


def _codes(cwd, *args):
    return sorted({f["code"] for f in _json(cwd, *args)})


def _files(cwd, *args):
    return sorted({f["filename"] for f in _json(cwd, *args)})


# ---------------------------------------------------------------- discovery


@pytest.mark.parametrize("name,body", [
    ("pyproject.toml", '[tool.initlint]\nignore = ["IL202"]\n'),
    ("initlint.toml", 'ignore = ["IL202"]\n'),
    (".initlint.toml", 'ignore = ["IL202"]\n'),
    ("initlint.toml", '[tool.initlint]\nignore = ["IL202"]\n'),
])
def test_config_file_kinds_are_found(tmp_path, name, body):
    (tmp_path / name).write_text(body)
    (tmp_path / "m.py").write_text(BAD)
    assert _codes(tmp_path, "m.py") == ["IL101", "IL201"]
    assert find_config(str(tmp_path / "m.py")) == str(tmp_path / name)


def test_nearest_config_wins_and_pyproject_without_table_is_skipped(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nignore = ["IL101"]\n')
    inner = tmp_path / "pkg" / "sub"
    inner.mkdir(parents=True)
    (inner / "m.py").write_text(BAD)
    # a pyproject.toml without [tool.initlint] in between does not stop the search
    (tmp_path / "pkg" / "pyproject.toml").write_text('[project]\nname = "pkg"\n')
    assert _codes(tmp_path, "pkg/sub") == ["IL201", "IL202"]
    assert _codes(inner, ".") == ["IL201", "IL202"]
    assert _codes(inner, "m.py") == ["IL201", "IL202"]
    # a nearer one with a table wins
    (tmp_path / "pkg" / "initlint.toml").write_text('ignore = ["IL201"]\n')
    assert _codes(tmp_path, "pkg/sub") == ["IL101", "IL202"]
    # run from anywhere: the config is found from the linted path, not the cwd
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _codes(elsewhere, str(inner)) == ["IL101", "IL202"]


def test_no_config_anywhere_uses_defaults(tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    found = find_config(str(tmp_path / "m.py"))
    assert found is None or not found.startswith(str(tmp_path))  # nothing of ours
    assert _codes(tmp_path, "m.py") == ["IL101", "IL201", "IL202"]
    cfg = load(None)
    assert cfg.select is None and cfg.ignore == [] and cfg.min_chain == 6
    assert "IL302" not in cfg.enabled_codes() and "IL101" in cfg.enabled_codes()


def test_explicit_config_path(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nignore = ["IL101"]\n')
    (tmp_path / "m.py").write_text(BAD)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "strict.toml").write_text('select = ["IL202"]\n')
    assert _codes(tmp_path, "m.py") == ["IL201", "IL202"]
    assert _codes(tmp_path, "m.py", "--config", "conf/strict.toml") == ["IL202"]
    (tmp_path / "conf" / "pyproject.toml").write_text('[tool.initlint]\nselect = ["IL201"]\n')
    assert _codes(tmp_path, "m.py", "--config", "conf/pyproject.toml") == ["IL201"]
    r = run_cli("m.py", "--config", "conf/missing.toml", cwd=tmp_path)
    assert r.returncode == 2
    assert b"conf/missing.toml: config file not found" in r.stderr


def test_command_line_overrides_config(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nselect = ["IL2"]\n')
    (tmp_path / "m.py").write_text(BAD)
    assert _codes(tmp_path, "m.py") == ["IL201", "IL202"]
    assert _codes(tmp_path, "m.py", "--select", "IL101") == ["IL101"]
    assert _codes(tmp_path, "m.py", "--extend-select", "IL101") == ["IL101", "IL201", "IL202"]
    assert _codes(tmp_path, "m.py", "--ignore", "IL201") == ["IL202"]


# ---------------------------------------------------------------- every key reaches the rules


def test_select_extend_select_ignore_keys(tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    (tmp_path / "enc.py").write_text(LSTM)
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text('[tool.initlint]\nselect = ["IL1", "IL201"]\n')
    assert _codes(tmp_path, ".") == ["IL101", "IL201"]
    cfg.write_text('[tool.initlint]\nselect = ["ALL"]\nignore = ["IL2"]\n')
    assert _codes(tmp_path, ".") == ["IL101"]
    cfg.write_text('[tool.initlint]\nextend-select = ["IL302"]\nignore = ["IL101"]\n')
    assert _codes(tmp_path, ".") == ["IL201", "IL202", "IL302"]
    cfg.write_text('[tool.initlint]\nextend-select = ["IL30"]\nshow-info = true\n')
    assert _codes(tmp_path, ".") == ["IL101", "IL201", "IL202", "IL302", "IL303"]
    cfg.write_text('[tool.initlint]\nselect = "IL202"\n')  # a single string is accepted
    assert _codes(tmp_path, ".") == ["IL202"]


def test_relu_like_key(tmp_path):
    (tmp_path / "m.py").write_text(GELU)
    assert _codes(tmp_path, "m.py") == []
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nrelu-like = ["GELU"]\n')
    (f,) = _json(tmp_path, "m.py")
    assert (f["code"], f["location"]["row"]) == ("IL101", 10)
    assert "GELU" in f["message"]


def test_min_chain_key(tmp_path):
    (tmp_path / "m.py").write_text(CHAIN4)
    assert _codes(tmp_path, "m.py") == []
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nmin-chain = 4\n')
    (f,) = _json(tmp_path, "m.py")
    assert (f["code"], f["location"]["row"]) == ("IL203", 8)
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nmin-chain = 5\n')
    assert _codes(tmp_path, "m.py") == []


def test_probe_table_is_accepted(tmp_path):
    (tmp_path / "m.py").write_text(GOOD)
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.initlint]
        select = ["ALL"]

        [tool.initlint.probe]
        targets = ["m:Net"]
        timeout = 30
    """))
    r = run_cli("m.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    cfg = load(str(tmp_path / "pyproject.toml"))
    assert cfg.probe == {"targets": ["m:Net"], "timeout": 30}


# ---------------------------------------------------------------- errors: exit 2, key and file named


@pytest.mark.parametrize("body,needle", [
    ('[tool.initlint]\nselct = ["IL1"]\n', "tool.initlint.selct: unknown configuration key 'selct'"),
    ('[tool.initlint]\nselect = ["IL999"]\n', "tool.initlint.select: unknown rule code or prefix 'IL999'"),
    ('[tool.initlint]\nignore = ["F401"]\n', "tool.initlint.ignore: unknown rule code or prefix 'F401'"),
    ('[tool.initlint]\nextend-select = ["XX"]\n', "tool.initlint.extend-select: unknown rule code"),
    ('[tool.initlint]\nselect = "IL1\n', "invalid TOML"),
    ('[tool.initlint\n', "invalid TOML"),
    ('[tool.initlint]\nselect = [1, 2]\n', "tool.initlint.select: expected a list of strings"),
    ('[tool.initlint]\nmin-chain = "six"\n', "tool.initlint.min-chain: expected an integer"),
    ('[tool.initlint]\nmin-chain = 1\n', "tool.initlint.min-chain: expected an integer"),
    ('[tool.initlint]\nmin-chain = true\n', "tool.initlint.min-chain: expected an integer"),
    ('[tool.initlint]\nrelu-like = 5\n', "tool.initlint.relu-like: expected a list of strings"),
    ('[tool.initlint]\nexclude = {a = 1}\n', "tool.initlint.exclude: expected a list of strings"),
    ('[tool.initlint]\nextend-exclude = 3\n', "tool.initlint.extend-exclude: expected a list"),
    ('[tool.initlint]\nshow-info = "yes"\n', "tool.initlint.show-info: expected true or false"),
    ('[tool.initlint]\nper-file-ignores = ["x"]\n', "tool.initlint.per-file-ignores: expected a table"),
    ('[tool.initlint]\nper-file-ignores = {"tests/*" = ["IL9"]}\n',
     "tool.initlint.per-file-ignores.\"tests/*\": unknown rule code or prefix 'IL9'"),
    ('[tool.initlint]\nper-file-ignores = {"tests/*" = 5}\n',
     "tool.initlint.per-file-ignores.tests/*: expected a list of strings"),
    ('[tool.initlint.probe]\ntargts = []\n', "tool.initlint.probe.targts: unknown probe key 'targts'"),
    ('[tool.initlint]\nprobe = 3\n', "tool.initlint.probe: expected a table"),
    ('[tool]\ninitlint = 3\n', "[tool.initlint] must be a table"),
])
def test_bad_config_exits_2_naming_key_and_file(tmp_path, body, needle):
    (tmp_path / "pyproject.toml").write_text(body)
    (tmp_path / "m.py").write_text(BAD)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        r = CliRunner().invoke(main, ["m.py"])
    finally:
        os.chdir(old)
    assert r.exit_code == 2, r.output
    assert needle in r.stderr, r.stderr
    assert str(tmp_path / "pyproject.toml") in r.stderr
    assert r.stderr.startswith("initlint: error: ")
    assert r.stdout == ""
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_bad_config_in_other_file_kinds_names_that_file(tmp_path):
    (tmp_path / "m.py").write_text(GOOD)
    (tmp_path / ".initlint.toml").write_text('selectt = ["IL1"]\n')
    r = run_cli("m.py", cwd=tmp_path)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert str(tmp_path / ".initlint.toml") in err and "selectt" in err
    (tmp_path / "bad.toml").write_bytes(b"select = [\"IL1\"]\n\xff\xfe\n")
    r = run_cli("m.py", "--config", "bad.toml", cwd=tmp_path)
    assert r.returncode == 2 and b"bad.toml" in r.stderr and b"Traceback" not in r.stderr


def test_broken_pyproject_without_initlint_table_is_still_reported(tmp_path):
    # we cannot tell whether it configures initlint: say so rather than silently ignore it
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'x'\n")
    (tmp_path / "m.py").write_text(GOOD)
    r = run_cli("m.py", cwd=tmp_path)
    assert r.returncode == 2 and b"invalid TOML" in r.stderr


def test_config_error_objects():
    with pytest.raises(ConfigError, match="unknown configuration key 'nope'"):
        from initlint.config import apply_table
        apply_table(Config(), {"nope": 1}, "x.toml: ")


# ---------------------------------------------------------------- per-file-ignores


def _pfi_tree(root):
    for rel in ("test_top.py", "tests/test_x.py", "tests/unit/test_y.py", "src/pkg/m.py",
                "src/pkg/legacy.py", "scripts/run.py"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(BAD)
    return root


@pytest.mark.parametrize("pattern,codes,ignored", [
    ("tests/*", ["IL202"], {"tests/test_x.py", "tests/unit/test_y.py"}),
    ("tests/", ["IL202"], {"tests/test_x.py", "tests/unit/test_y.py"}),
    ("tests", ["IL202"], {"tests/test_x.py", "tests/unit/test_y.py"}),
    ("**/test_*.py", ["IL202"], {"test_top.py", "tests/test_x.py", "tests/unit/test_y.py"}),
    ("test_*.py", ["IL202"], {"test_top.py", "tests/test_x.py", "tests/unit/test_y.py"}),
    ("src/**/legacy.py", ["IL202"], {"src/pkg/legacy.py"}),
    ("legacy.py", ["IL2"], {"src/pkg/legacy.py"}),
    ("src/pkg/m.py", ["ALL"], {"src/pkg/m.py"}),
    ("scripts/*.py", ["IL202", "IL201", "IL101"], {"scripts/run.py"}),
])
def test_per_file_ignores_globs(tmp_path, pattern, codes, ignored):
    _pfi_tree(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.initlint]\nper-file-ignores = {{"{pattern}" = {json.dumps(codes)}}}\n')
    data = _json(tmp_path, ".")
    per_file: dict[str, set] = {}
    for f in data:
        per_file.setdefault(os.path.relpath(f["filename"]), set()).add(f["code"])
    everything = {"IL101", "IL201", "IL202"}
    for rel in ("test_top.py", "tests/test_x.py", "tests/unit/test_y.py", "src/pkg/m.py",
                "src/pkg/legacy.py", "scripts/run.py"):
        rel = os.path.normpath(rel)
        if rel in {os.path.normpath(i) for i in ignored}:
            from initlint.config import expand
            from initlint.rules import RULES
            want = everything - expand(codes, set(RULES))
        else:
            want = everything
        assert per_file.get(rel, set()) == want, (pattern, rel)


def test_per_file_ignores_are_relative_to_the_config_file(tmp_path):
    _pfi_tree(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.initlint]\nper-file-ignores = {"src/pkg/*" = ["IL202"]}\n')
    # run from a subfolder, with a path relative to it: the pattern still applies
    data = _json(tmp_path / "src", "pkg")
    assert {(f["filename"], f["code"]) for f in data} == {
        ("pkg/m.py", "IL101"), ("pkg/m.py", "IL201"),
        ("pkg/legacy.py", "IL101"), ("pkg/legacy.py", "IL201")}
    data = _json(tmp_path / "scripts", str(tmp_path / "src" / "pkg" / "m.py"))
    assert sorted(f["code"] for f in data) == ["IL101", "IL201"]


def test_per_file_ignores_apply_to_stdin_filename(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.initlint]\nper-file-ignores = {"tests/*" = ["IL2"]}\n')
    r = run_cli("-", "--stdin-filename", "tests/test_a.py", "--output-format", "json",
                cwd=tmp_path, input=BAD.encode())
    assert sorted(f["code"] for f in json.loads(r.stdout)) == ["IL101"]


# ---------------------------------------------------------------- exclude / extend-exclude


def _ex_tree(root):
    for rel in ("a.py", "gen/g.py", "src/keep.py", "src/old/legacy.py", "build/b.py",
                "src/build/nested.py", "third_party/t.py"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(BAD)
    return root


def test_extend_exclude_keeps_the_defaults(tmp_path):
    _ex_tree(tmp_path)
    assert _files(tmp_path, ".", "--select", "IL202") == [
        "./a.py", "./gen/g.py", "./src/keep.py", "./src/old/legacy.py", "./third_party/t.py"]
    (tmp_path / "pyproject.toml").write_text(
        '[tool.initlint]\nextend-exclude = ["gen", "src/old", "third_*"]\n')
    assert _files(tmp_path, ".", "--select", "IL202") == ["./a.py", "./src/keep.py"]
    # relative to the config file, from another directory
    assert _files(tmp_path / "src", ".", "--select", "IL202") == ["./keep.py"]


def test_exclude_replaces_the_defaults(tmp_path):
    _ex_tree(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nexclude = ["gen/", "*.pyi"]\n')
    assert _files(tmp_path, ".", "--select", "IL202") == [
        "./a.py", "./build/b.py", "./src/build/nested.py", "./src/keep.py",
        "./src/old/legacy.py", "./third_party/t.py"]


def test_exclude_file_glob(tmp_path):
    _ex_tree(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nextend-exclude = ["legacy.py"]\n')
    assert "./src/old/legacy.py" not in _files(tmp_path, ".", "--select", "IL202")
    # named explicitly: linted anyway
    assert _files(tmp_path, "src/old/legacy.py", "--select", "IL202") == ["src/old/legacy.py"]


def test_config_object_unit():
    cfg = Config()
    assert cfg.excluded("proj/.venv", True) and cfg.excluded("proj/node_modules", True)
    assert cfg.excluded("x/pkg.egg-info", True)
    assert not cfg.excluded("proj/src", True)
    cfg = Config(select=["IL2"], ignore=["IL205"], extend_select=["IL302"])
    from initlint.rules import all_rules
    il2 = {r.code for r in all_rules() if r.code.startswith("IL2") and not r.opt_in}
    assert {"IL201", "IL202", "IL203", "IL204", "IL205"} <= il2  # a prefix selects a family
    assert cfg.enabled_codes() == (il2 - {"IL205"}) | {"IL302"}
    assert cfg.explicit_codes() == {"IL302"}
    # the same config gives the same fingerprint; a different selection a different one
    assert cfg.fingerprint() == Config(select=["IL2"], ignore=["IL205"],
                                       extend_select=["IL302"]).fingerprint()
    assert cfg.fingerprint() != Config().fingerprint()


def test_config_is_loaded_once_per_run(tmp_path, monkeypatch):
    """Config parsed once for the whole run, not per file (DESIGN.md 'habits to avoid')."""
    import initlint.cli as cli_mod

    for i in range(5):
        (tmp_path / f"m{i}.py").write_text(BAD)
    (tmp_path / "pyproject.toml").write_text('[tool.initlint]\nignore = ["IL101"]\n')
    calls = []
    real = cli_mod.load

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(cli_mod, "load", counting)
    r = invoke(".", "--output-format", "json", "--no-cache", cwd=tmp_path)
    assert r.exit_code == 1
    assert len(calls) == 1
    assert {f["code"] for f in json.loads(r.stdout)} == {"IL201", "IL202"}
