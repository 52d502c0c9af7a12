"""The command line (RULES.md §3): options, exit codes, paths, discovery.

Exit codes are checked twice: in-process through click's CliRunner and as a real
subprocess (`python -m initlint`, conftest.run_cli).
"""

import json
import os
import re
import textwrap

import pytest
from click.testing import CliRunner

from conftest import ROOT, run_cli
from initlint.cli import main
from initlint.rules import RULES

# IL202 at line 10 (normal_ on a hidden layer), IL201 at line 11 (zero hidden weight),
# IL101 at line 12 (Xavier feeding ReLU)
BAD = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(64, 64)
            self.b = nn.Linear(64, 64)
            self.c = nn.Linear(64, 10)
            nn.init.normal_(self.a.weight)
            nn.init.zeros_(self.b.weight)
            nn.init.xavier_uniform_(self.c.weight)
            self.act = nn.ReLU()

        def forward(self, x):
            x = self.act(self.a(x))
            x = self.act(self.b(x))
            return self.act(self.c(x))
""")
BAD_ROWS = {10: "IL202", 11: "IL201", 12: "IL101"}

GOOD = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(64, 64)
            self.b = nn.Linear(64, 10)
            nn.init.kaiming_normal_(self.a.weight, nonlinearity="relu")
            nn.init.xavier_uniform_(self.b.weight)

        def forward(self, x):
            return self.b(nn.functional.relu(self.a(x)))
""")

# IL101 at `info` severity (BatchNorm follows the conv directly), line 10
INFO_ONLY = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3)
            self.bn = nn.BatchNorm2d(16)
            self.act = nn.ReLU()
            nn.init.xavier_uniform_(self.conv.weight)

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))
""")

# opt-in rules only: IL302 and IL303 (info) on the LSTM constructor, line 7
LSTM = textwrap.dedent("""\
    import torch.nn as nn


    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16)

        def forward(self, x):
            return self.lstm(x)[0]
""")

BROKEN = "import torch.nn as nn\n\nclass Net(nn.Module:\n    pass\n"


def invoke(*args, cwd=None, input=None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, list(args), input=input)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, list(args), input=input)
    finally:
        os.chdir(old)


def codes_of(result) -> list[tuple[str, int]]:
    return [(f["code"], f["location"]["row"]) for f in json.loads(result.stdout)]


@pytest.fixture
def proj(tmp_path):
    """A project without configuration: bad.py, good.py."""
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "good.py").write_text(GOOD)
    return tmp_path


# ---------------------------------------------------------------- exit codes, in-process


def test_findings_exit_1_clean_exit_0(proj):
    r = invoke(str(proj / "bad.py"), "--no-cache")
    assert r.exit_code == 1, r.output
    assert "IL202" in r.stdout and "Found 3 findings." in r.stdout
    r = invoke(str(proj / "good.py"), "--no-cache")
    assert r.exit_code == 0, r.output
    assert r.stdout == "All checks passed!\n"


def test_check_word_is_optional(proj):
    a = invoke("check", str(proj / "bad.py"), "--output-format", "json")
    b = invoke(str(proj / "bad.py"), "--output-format", "json")
    assert a.exit_code == b.exit_code == 1
    assert a.stdout == b.stdout
    assert sorted(codes_of(a)) == sorted((c, r) for r, c in BAD_ROWS.items())


def test_bad_option_exits_2(proj):
    r = invoke(str(proj), "--no-such-option")
    assert r.exit_code == 2
    assert "No such option" in r.output
    r = invoke(str(proj), "--output-format", "xml")
    assert r.exit_code == 2
    assert "xml" in r.output
    r = invoke(str(proj), "--jobs", "-1")
    assert r.exit_code == 2


def test_missing_path_exits_2_naming_it(proj):
    r = invoke(str(proj / "good.py"), str(proj / "nope.py"))
    assert r.exit_code == 2
    assert "nope.py: no such file or directory" in r.stderr
    assert "Traceback" not in r.output


def test_unknown_code_on_command_line_exits_2(proj):
    for opt in ("--select", "--extend-select", "--ignore"):
        r = invoke(str(proj), opt, "IL999")
        assert r.exit_code == 2, (opt, r.output)
        assert f"{opt}: unknown rule code or prefix 'IL999'" in r.stderr
    r = invoke(str(proj), "--select", "E501")
    assert r.exit_code == 2 and "E501" in r.stderr


def test_version_and_help():
    r = invoke("--version")
    assert r.exit_code == 0 and "initlint" in r.stdout
    r = invoke("--help")
    assert r.exit_code == 0 and "check" in r.stdout and "rule" in r.stdout
    r = invoke("check", "--help")
    assert r.exit_code == 0
    for opt in ("--select", "--extend-select", "--ignore", "--fix", "--unsafe-fixes", "--diff",
                "--output-format", "--statistics", "--show-info", "--exit-zero", "--config",
                "--no-cache", "--jobs", "--quiet", "--stdin-filename", "--output-file"):
        assert opt in r.stdout, opt


# ---------------------------------------------------------------- exit codes, subprocess


def test_subprocess_exit_codes(proj):
    r = run_cli("bad.py", cwd=proj)
    assert r.returncode == 1, r.stderr
    assert b"bad.py:10:9: IL202" in r.stdout
    r = run_cli("good.py", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"All checks passed!\n"
    r = run_cli("good.py", "--bogus", cwd=proj)
    assert r.returncode == 2
    assert b"No such option" in r.stderr
    r = run_cli("missing_dir", cwd=proj)
    assert r.returncode == 2
    assert b"missing_dir: no such file or directory" in r.stderr
    r = run_cli("bad.py", "--exit-zero", cwd=proj)
    assert r.returncode == 0 and b"IL202" in r.stdout
    r = run_cli("rule", "IL999", cwd=proj)
    assert r.returncode == 2 and b"unknown rule code" in r.stderr
    for res in (r,):
        assert b"Traceback" not in res.stderr


@pytest.mark.parametrize("toml,needle", [
    ('[tool.initlint]\nselct = ["IL1"]\n', "tool.initlint.selct: unknown configuration key 'selct'"),
    ('[tool.initlint]\nselect = ["IL999"]\n', "tool.initlint.select: unknown rule code or prefix 'IL999'"),
    ('[tool.initlint]\nselect = "IL1\n', "invalid TOML"),
    ('[tool.initlint]\nmin-chain = "six"\n', "tool.initlint.min-chain: expected an integer"),
])
def test_subprocess_bad_config_exits_2_naming_key_and_file(proj, toml, needle):
    (proj / "pyproject.toml").write_text(toml)
    r = run_cli("bad.py", cwd=proj)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert needle in err
    assert str(proj / "pyproject.toml") in err
    assert "Traceback" not in err
    assert r.stdout == b""


# ---------------------------------------------------------------- selection


def _codes(path, *args):
    r = invoke(str(path), "--output-format", "json", "--no-cache", *args)
    assert r.exit_code in (0, 1), r.output
    return sorted({f["code"] for f in json.loads(r.stdout)})


def test_select_by_code_prefix_and_all(proj):
    bad = proj / "bad.py"
    assert _codes(bad) == ["IL101", "IL201", "IL202"]
    assert _codes(bad, "--select", "IL202") == ["IL202"]
    assert _codes(bad, "--select", "IL2") == ["IL201", "IL202"]
    assert _codes(bad, "--select", "IL20") == ["IL201", "IL202"]
    assert _codes(bad, "--select", "IL1") == ["IL101"]
    assert _codes(bad, "--select", "IL101,IL201") == ["IL101", "IL201"]
    assert _codes(bad, "--select", "IL101", "--select", "IL201") == ["IL101", "IL201"]
    assert _codes(bad, "--select", "il202") == ["IL202"]  # codes are case-insensitive
    assert _codes(bad, "--select", "ALL") == ["IL101", "IL201", "IL202"]
    assert _codes(bad, "--select", "IL3") == []


def test_ignore_by_code_prefix_and_all(proj):
    bad = proj / "bad.py"
    assert _codes(bad, "--ignore", "IL202") == ["IL101", "IL201"]
    assert _codes(bad, "--ignore", "IL2") == ["IL101"]
    assert _codes(bad, "--ignore", "IL101,IL201") == ["IL202"]
    assert _codes(bad, "--ignore", "ALL") == []
    assert _codes(bad, "--select", "IL2", "--ignore", "IL201") == ["IL202"]
    r = invoke(str(bad), "--ignore", "ALL")
    assert r.exit_code == 0 and r.stdout == "All checks passed!\n"


def test_extend_select_adds_opt_in_rules(tmp_path):
    (tmp_path / "enc.py").write_text(LSTM)
    enc = tmp_path / "enc.py"
    assert _codes(enc) == []  # IL302/IL303 are opt-in
    # selected by full code: their info findings are shown
    assert _codes(enc, "--extend-select", "IL302") == ["IL302"]
    assert _codes(enc, "--extend-select", "IL302,IL303") == ["IL302", "IL303"]
    assert _codes(enc, "--select", "IL303") == ["IL303"]
    # selected by prefix or ALL: enabled, but info stays hidden without --show-info
    assert _codes(enc, "--extend-select", "IL30") == []
    assert _codes(enc, "--select", "ALL") == []
    assert _codes(enc, "--select", "ALL", "--show-info") == ["IL302", "IL303"]
    assert _codes(enc, "--extend-select", "IL3", "--show-info") == ["IL302", "IL303"]
    r = invoke(str(enc), "--extend-select", "IL302", "--output-format", "json")
    f = json.loads(r.stdout)[0]
    assert f["severity"] == "info" and f["location"]["row"] == 7
    assert r.exit_code == 1  # a shown info finding is a finding


def test_show_info(tmp_path):
    (tmp_path / "m.py").write_text(INFO_ONLY)
    m = tmp_path / "m.py"
    r = invoke(str(m), "--no-cache")
    assert r.exit_code == 0 and r.stdout == "All checks passed!\n"
    r = invoke(str(m), "--show-info", "--output-format", "json")
    assert r.exit_code == 1
    (f,) = json.loads(r.stdout)
    assert (f["code"], f["severity"], f["location"]["row"]) == ("IL101", "info", 10)
    # naming the rule by its full code shows its info findings; a prefix does not
    assert _codes(m, "--select", "IL101") == ["IL101"]
    assert _codes(m, "--extend-select", "IL101") == ["IL101"]
    assert _codes(m, "--select", "IL1") == []
    assert _codes(m, "--select", "IL101", "--ignore", "IL101") == []
    r = invoke(str(m), "--show-info")
    assert "[info]" in r.stdout


# ---------------------------------------------------------------- outputs and modes


def test_exit_zero(proj):
    r = invoke(str(proj / "bad.py"), "--exit-zero")
    assert r.exit_code == 0
    assert "Found 3 findings." in r.stdout
    r = invoke(str(proj / "bad.py"), "--exit-zero", "--select", "IL999")
    assert r.exit_code == 2  # a usage error is still an error


def test_output_file(proj, tmp_path):
    out = tmp_path / "report.json"
    r = invoke(str(proj / "bad.py"), "--output-format", "json", "-o", str(out))
    assert r.exit_code == 1
    assert r.stdout == ""
    data = json.loads(out.read_text())
    assert sorted((f["code"], f["location"]["row"]) for f in data) == \
        sorted((c, r) for r, c in BAD_ROWS.items())
    out2 = tmp_path / "report.txt"
    r = invoke(str(proj / "good.py"), "--output-file", str(out2))
    assert r.exit_code == 0 and r.stdout == ""
    assert out2.read_text() == "All checks passed!\n"
    r = invoke(str(proj / "bad.py"), "-o", str(tmp_path / "no" / "such" / "dir.txt"))
    assert r.exit_code == 2 and "cannot write" in r.stderr


def test_output_file_subprocess(proj):
    r = run_cli("bad.py", "-o", "out.txt", "--output-format", "concise", cwd=proj)
    assert r.returncode == 1 and r.stdout == b""
    text = (proj / "out.txt").read_text()
    assert re.match(r"bad\.py:10:9: IL202( \[\*\])? \[error\] ", text), text
    assert "\nFound 3 findings.\n" in text


def test_stdin_with_and_without_filename(proj):
    r = invoke("-", "--stdin-filename", "src/models/net.py", "--output-format", "json", input=BAD)
    assert r.exit_code == 1, r.output
    data = json.loads(r.stdout)
    assert {f["filename"] for f in data} == {"src/models/net.py"}
    assert sorted((f["code"], f["location"]["row"]) for f in data) == \
        sorted((c, r) for r, c in BAD_ROWS.items())
    r = invoke("-", input=BAD)
    assert r.exit_code == 1
    assert r.stdout.splitlines()[0].startswith("-:10:9: IL202")
    r = invoke("-", "--stdin-filename", "x.py", input=GOOD)
    assert r.exit_code == 0 and r.stdout == "All checks passed!\n"
    r = invoke("-", "--stdin-filename", "x.py", input=BROKEN)
    assert r.exit_code == 1 and "x.py:3:" in r.stdout and "IL001" in r.stdout


def test_stdin_subprocess_uses_config_near_stdin_filename(proj):
    sub = proj / "pkg"
    sub.mkdir()
    (sub / "pyproject.toml").write_text('[tool.initlint]\nignore = ["IL202"]\n')
    r = run_cli("-", "--stdin-filename", "pkg/net.py", "--output-format", "json",
                cwd=proj, input=BAD.encode())
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert sorted(f["code"] for f in data) == ["IL101", "IL201"]
    assert {f["filename"] for f in data} == {"pkg/net.py"}
    # the same from stdin without the name: no config found from the cwd
    r = run_cli("-", "--output-format", "json", cwd=proj, input=BAD.encode())
    assert sorted(f["code"] for f in json.loads(r.stdout)) == ["IL101", "IL201", "IL202"]


def test_stdin_together_with_files(proj):
    r = invoke(str(proj / "good.py"), "-", "--stdin-filename", "piped.py",
               "--output-format", "json", input=BAD)
    assert r.exit_code == 1
    assert {f["filename"] for f in json.loads(r.stdout)} == {"piped.py"}


@pytest.mark.parametrize("args", [("--jobs", "1"), ("--jobs", "2"), ("-j", "0"), ("--no-cache",),
                                  ("--jobs", "2", "--no-cache")])
def test_jobs_and_no_cache_do_not_change_results(proj, args):
    base = invoke(str(proj), "--output-format", "json")
    r = invoke(str(proj), "--output-format", "json", *args)
    assert r.exit_code == base.exit_code == 1
    assert r.stdout == base.stdout


def test_jobs_subprocess(proj):
    for i in range(6):
        (proj / f"copy{i}.py").write_text(BAD)
    a = run_cli(".", "--jobs", "2", "--output-format", "json", cwd=proj)
    b = run_cli(".", "--jobs", "1", "--no-cache", "--output-format", "json", cwd=proj)
    assert a.returncode == b.returncode == 1
    assert a.stdout == b.stdout
    assert len(json.loads(a.stdout)) == 7 * 3


# ---------------------------------------------------------------- `initlint rule`


def test_rule_prints_documentation():
    r = invoke("rule", "IL101")
    assert r.exit_code == 0
    out = r.stdout
    assert out.startswith("IL101 (xavier-before-relu)")
    for section in ("What it does", "Why is this bad?", "Example", "Use instead", "Fix"):
        assert section in out, section
    assert invoke("rule", "il101").stdout == out  # case-insensitive


def test_rule_json():
    r = invoke("rule", "IL204", "--output-format", "json")
    data = json.loads(r.stdout)
    assert data["code"] == "IL204" and data["name"] == RULES["IL204"].name
    assert "What it does" in data["doc"]


def test_rule_all_lists_every_rule():
    r = invoke("rule", "--all")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == sorted(RULES)
    assert any("(opt-in)" in ln and ln.startswith("IL302") for ln in lines)
    data = json.loads(invoke("rule", "--all", "--output-format", "json").stdout)
    assert [d["code"] for d in data] == sorted(RULES)
    from initlint.rules import all_rules
    assert {d["code"] for d in data if not d["default"]} == {
        r.code for r in all_rules() if r.opt_in} >= {"IL302", "IL303"}


def test_rule_unknown_code_exits_2():
    r = invoke("rule", "IL999")
    assert r.exit_code == 2
    assert "unknown rule code 'IL999'" in r.stderr


# ---------------------------------------------------------------- paths and discovery


def _tree(root):
    (root / "src" / "models").mkdir(parents=True)
    (root / "src" / "models" / "a.py").write_text(BAD)
    (root / "src" / "models" / "b.py").write_text(BAD)
    (root / "other").mkdir()
    return root


def _filenames(out: bytes) -> list[str]:
    return sorted({f["filename"] for f in json.loads(out)})


def test_filenames_are_reported_as_given(tmp_path):
    root = _tree(tmp_path)
    other = root / "other"
    cases = [
        (("src/models",), root, ["src/models/a.py", "src/models/b.py"]),
        (("src/models/",), root, ["src/models/a.py", "src/models/b.py"]),
        (("./src/models",), root, ["./src/models/a.py", "./src/models/b.py"]),
        (("./src/models/a.py",), root, ["./src/models/a.py"]),
        (("../src/models",), other, ["../src/models/a.py", "../src/models/b.py"]),
        (("models/b.py",), root / "src", ["models/b.py"]),
        ((str(root / "src" / "models"),), other,
         [str(root / "src" / "models" / "a.py"), str(root / "src" / "models" / "b.py")]),
        ((".",), root / "src" / "models", ["./a.py", "./b.py"]),
    ]
    for i, (args, cwd, want) in enumerate(cases):
        if i in (0, 4, 6):  # a real process for some, in-process for the rest
            r = run_cli(*args, "--output-format", "json", "--select", "IL202", cwd=cwd)
            assert r.returncode == 1, (args, r.stderr)
            out = r.stdout
        else:
            r = invoke(*args, "--output-format", "json", "--select", "IL202", cwd=cwd)
            assert r.exit_code == 1, (args, r.output)
            out = r.stdout.encode()
        assert _filenames(out) == want, args
    # in-process too, and concise lines start with the same name
    r = invoke("../src/models/a.py", "--select", "IL202", cwd=other)
    assert r.stdout.startswith("../src/models/a.py:10:9: IL202"), r.stdout


def test_no_path_means_current_directory(tmp_path):
    root = _tree(tmp_path)
    r = run_cli("--output-format", "json", "--select", "IL202", cwd=root / "src")
    assert r.returncode == 1
    assert _filenames(r.stdout) == ["./models/a.py", "./models/b.py"]


def test_same_file_twice_is_reported_once(tmp_path):
    root = _tree(tmp_path)
    r = invoke("src/models", "src/models/a.py", "src", "--select", "IL202",
               "--output-format", "json", cwd=root)
    assert [f["filename"] for f in json.loads(r.stdout)] == ["src/models/a.py", "src/models/b.py"]


def test_default_excludes(tmp_path):
    for d in (".git", ".venv", "venv", "build", "dist", "__pycache__", "node_modules", ".tox",
              "pkg/build", "pkg/.venv/lib/site-packages"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
        (tmp_path / d / "m.py").write_text(BAD)
    (tmp_path / "pkg" / "kept.py").write_text(BAD)
    (tmp_path / "notes.txt").write_text(BAD)  # not a Python file
    r = run_cli(".", "--output-format", "json", "--select", "IL202", cwd=tmp_path)
    assert r.returncode == 1
    assert _filenames(r.stdout) == ["./pkg/kept.py"]
    # a file named explicitly is linted even inside an excluded folder
    r = run_cli("build/m.py", "--output-format", "json", "--select", "IL202", cwd=tmp_path)
    assert _filenames(r.stdout) == ["build/m.py"]


def test_pyi_and_nested_packages_are_found(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c" / "deep.py").write_text(BAD)
    (tmp_path / "a" / "stub.pyi").write_text(BAD)
    r = invoke(str(tmp_path), "--output-format", "json", "--select", "IL202")
    assert sorted(os.path.relpath(n, tmp_path) for n in _filenames(r.stdout.encode())) == \
        [os.path.join("a", "b", "c", "deep.py"), os.path.join("a", "stub.pyi")]


def test_order_is_deterministic(tmp_path):
    names = ["zeta.py", "alpha.py", "Mid.py", "sub/x.py", "sub/a/y.py", "a_b.py"]
    for n in names:
        p = tmp_path / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(BAD)
    outs = {run_cli(".", "--output-format", "json", cwd=tmp_path).stdout}
    outs |= {invoke(".", "--output-format", "json", cwd=tmp_path).stdout.encode() for _ in range(2)}
    outs.add(run_cli(".", "--output-format", "json", "--jobs", "2", cwd=tmp_path).stdout)
    assert len(outs) == 1
    data = json.loads(outs.pop())
    keys = [(f["filename"], f["location"]["row"], f["location"]["column"]) for f in data]
    assert keys == sorted(keys)
    assert len(data) == 3 * len(names)


def test_parse_error_file_next_to_good_files(tmp_path):
    (tmp_path / "a_broken.py").write_text(BROKEN)
    (tmp_path / "b_bad.py").write_text(BAD)
    (tmp_path / "c_good.py").write_text(GOOD)
    (tmp_path / "d_latin1.py").write_bytes(b"x = '\xe9'\nimport torch\n")
    r = run_cli(".", "--output-format", "json", cwd=tmp_path)
    assert r.returncode == 1
    data = json.loads(r.stdout)
    il001 = {f["filename"]: f for f in data if f["code"] == "IL001"}
    assert sorted(il001) == ["./a_broken.py", "./d_latin1.py"]
    assert il001["./a_broken.py"]["location"]["row"] == 3
    assert il001["./a_broken.py"]["severity"] == "error"
    assert "syntax error" in il001["./a_broken.py"]["message"]
    assert "encod" in il001["./d_latin1.py"]["message"]
    others = sorted((f["filename"], f["code"]) for f in data if f["code"] != "IL001")
    assert others == [("./b_bad.py", "IL101"), ("./b_bad.py", "IL201"), ("./b_bad.py", "IL202")]
    assert b"Traceback" not in r.stderr
    # only the broken file: still exit 1 (a finding), not 2
    r = run_cli("a_broken.py", cwd=tmp_path)
    assert r.returncode == 1
    assert re.match(rb"a_broken\.py:3:\d+: IL001 \[error\] ", r.stdout)
    # IL001 can be ignored like any rule
    r = run_cli("a_broken.py", "--ignore", "IL001", cwd=tmp_path)
    assert r.returncode == 0


def test_cross_file_analysis_from_any_directory(tmp_path):
    """A helper in one file used by a model in another is resolved however the tree is named."""
    pkg = tmp_path / "proj" / "src" / "models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(textwrap.dedent("""\
        import torch.nn as nn


        def make_fc(n):
            return nn.Linear(n, n)
    """))
    (pkg / "net.py").write_text(textwrap.dedent("""\
        import torch.nn as nn

        from .layers import make_fc


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = make_fc(128)
                self.fc2 = make_fc(128)
                self.fc3 = make_fc(128)
                for m in self.modules():
                    if isinstance(m, nn.Linear):
                        nn.init.xavier_uniform_(m.weight)

            def forward(self, x):
                x = nn.functional.relu(self.fc1(x))
                x = nn.functional.relu(self.fc2(x))
                return self.fc3(x)
    """))
    results = []
    for cwd, arg in ((tmp_path / "proj", "src/models"), (pkg, "."), (tmp_path, str(pkg)),
                     (tmp_path / "proj", "src")):
        r = invoke(arg, "--output-format", "json", "--no-cache", cwd=cwd)
        assert r.exit_code == 1, r.output
        data = json.loads(r.stdout)
        results.append(sorted((f["code"], os.path.basename(f["filename"]), f["location"]["row"])
                              for f in data))
    assert results[0] == [("IL101", "net.py", 14)]
    assert all(r == results[0] for r in results), results
