"""Output formats (RULES.md §4): json, concise, full, github, --statistics, --quiet, -o.
SARIF and JUnit have their own tests."""

import json
import re

import pytest

from conftest import run_cli
from initlint.findings import rule_url
from initlint.rules import RULES
from test_cli import BAD, BAD_ROWS, GOOD, invoke

SEVERITIES = {"error", "warning", "info"}


@pytest.fixture
def bad(tmp_path):
    p = tmp_path / "bad.py"
    p.write_text(BAD)
    return p


def _json(path, *args):
    r = invoke(str(path), "--output-format", "json", "--no-cache", *args)
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


# ---------------------------------------------------------------- json


def _check_location(loc):
    assert set(loc) == {"row", "column"}
    assert isinstance(loc["row"], int) and loc["row"] >= 1
    assert isinstance(loc["column"], int) and loc["column"] >= 1


def test_json_carries_every_field(bad):
    data = _json(bad)
    assert isinstance(data, list) and len(data) == 3
    for f in data:
        for key in ("code", "name", "severity", "message", "filename", "location",
                    "end_location", "related", "fix", "url"):
            assert key in f, key
        assert f["code"] in RULES and f["name"] == RULES[f["code"]].name
        assert f["severity"] in SEVERITIES
        assert isinstance(f["message"], str) and f["message"].strip()
        assert f["filename"] == str(bad)
        _check_location(f["location"])
        _check_location(f["end_location"])
        assert (f["end_location"]["row"], f["end_location"]["column"]) > \
            (f["location"]["row"], f["location"]["column"])
        assert f["url"] == rule_url(f["code"]) == f"docs/rules/{f['code']}.md"
        assert isinstance(f["related"], list) and f["related"]
        for rel in f["related"]:
            assert set(rel) >= {"message", "filename", "location"}
            assert rel["message"] and rel["filename"] == str(bad)
            _check_location(rel["location"])
        if f["fix"] is not None:
            fix = f["fix"]
            assert fix["applicability"] in ("safe", "unsafe")
            assert fix["message"]
            assert fix["edits"]
            for e in fix["edits"]:
                assert isinstance(e["content"], str)
                _check_location(e["location"])
                _check_location(e["end_location"])
    assert sorted((f["location"]["row"], f["code"]) for f in data) == sorted(BAD_ROWS.items())


def test_json_locations_point_at_the_init_call_and_related_at_layer_and_activation(bad):
    lines = BAD.splitlines()
    by_code = {f["code"]: f for f in _json(bad)}
    for code, f in by_code.items():
        row, col = f["location"]["row"], f["location"]["column"]
        end = f["end_location"]["column"]
        assert f["end_location"]["row"] == row
        assert lines[row - 1][col - 1:end - 1].startswith("nn.init.")
        assert lines[row - 1][col - 1:end - 1].endswith(")")
    rel = by_code["IL101"]["related"]
    texts = [lines[r["location"]["row"] - 1][r["location"]["column"] - 1:] for r in rel]
    assert any(t.startswith("nn.Linear(64, 10)") for t in texts), texts  # the layer `c`
    assert any(t.startswith("nn.ReLU()") or t.startswith("self.act") for t in texts), texts


def test_json_columns_count_characters_not_bytes(tmp_path):
    src = BAD.replace("        nn.init.normal_(self.a.weight)",
                      '        ü = "é"; nn.init.normal_(self.a.weight)')
    (tmp_path / "u.py").write_text(src, encoding="utf-8")
    (f,) = _json(tmp_path / "u.py", "--select", "IL202")
    line = src.splitlines()[9]
    assert f["location"]["column"] == line.index("nn.init") + 1 == 18
    assert f["end_location"]["column"] == len(line) + 1
    # the other formats say the same
    concise = invoke(str(tmp_path / "u.py"), "--select", "IL202").stdout
    assert f"u.py:10:18: IL202" in concise
    gh = invoke(str(tmp_path / "u.py"), "--select", "IL202", "--output-format", "github").stdout
    assert f",line=10,col=18,endLine=10,endColumn={len(line) + 1}," in gh


def test_json_empty_is_an_empty_array(tmp_path):
    (tmp_path / "good.py").write_text(GOOD)
    r = invoke(str(tmp_path / "good.py"), "--output-format", "json")
    assert r.exit_code == 0
    assert r.stdout == "[]\n"


def test_json_is_the_only_thing_on_stdout_subprocess(tmp_path):
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "broken.py").write_text("def f(:\n")
    r = run_cli(".", "--output-format", "json", "-q", cwd=tmp_path)
    assert r.returncode == 1
    data = json.loads(r.stdout.decode("utf-8"))  # parses as a whole: nothing else mixed in
    assert sorted({f["filename"] for f in data}) == ["./bad.py", "./broken.py"]
    assert {f["code"] for f in data if f["filename"] == "./broken.py"} == {"IL001"}


# ---------------------------------------------------------------- concise


CONCISE = re.compile(r"^(?P<file>[^:]+):(?P<row>\d+):(?P<col>\d+): (?P<code>IL\d{3})( \[\*\])? "
                     r"\[(?P<sev>error|warning|info)\] (?P<msg>\S.*)$")


def test_concise_format(bad):
    r = invoke(str(bad))
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    body = [ln for ln in lines if CONCISE.match(ln)]
    assert len(body) == 3
    data = {(f["location"]["row"], f["location"]["column"], f["code"], f["severity"], f["message"])
            for f in _json(bad)}
    got = {(int(m["row"]), int(m["col"]), m["code"], m["sev"], m["msg"])
           for m in map(CONCISE.match, body)}
    assert got == data
    assert all(CONCISE.match(ln)["file"] == str(bad) for ln in body)
    assert lines[3] == "Found 3 findings."
    assert lines[:3] == body  # findings first, sorted by position
    assert [int(CONCISE.match(ln)["row"]) for ln in body] == sorted(BAD_ROWS)


def test_concise_marks_safe_fixes(bad):
    by_code = {f["code"]: f for f in _json(bad)}
    out = invoke(str(bad)).stdout
    for code, f in by_code.items():
        safe = f["fix"] is not None and f["fix"]["applicability"] == "safe"
        assert (f"{code} [*] [" in out) == safe, code
    n_safe = sum(1 for f in by_code.values() if f["fix"] and f["fix"]["applicability"] == "safe")
    if n_safe:
        assert f"[*] {n_safe} fixable with the `--fix` option." in out


def test_concise_singular_and_clean(tmp_path, bad):
    r = invoke(str(bad), "--select", "IL201")
    assert r.stdout.splitlines()[-1] == "Found 1 finding."
    (tmp_path / "good.py").write_text(GOOD)
    assert invoke(str(tmp_path / "good.py")).stdout == "All checks passed!\n"


# ---------------------------------------------------------------- full


def test_full_format_shows_source_and_caret(bad):
    r = invoke(str(bad), "--output-format", "full")
    assert r.exit_code == 1
    out = r.stdout
    lines = out.splitlines()
    src = BAD.splitlines()
    for f in _json(bad):
        row, col, end = f["location"]["row"], f["location"]["column"], f["end_location"]["column"]
        header = next(i for i, ln in enumerate(lines)
                      if re.match(rf"{f['code']}( \[\*\])? \[{f['severity']}\] ", ln))
        assert lines[header].endswith(f["message"])
        assert lines[header + 1] == f"  --> {bad}:{row}:{col}"
        # the source line, then the caret line under it
        i = next(i for i in range(header, len(lines)) if re.match(rf"^\s*{row} \| ", lines[i]))
        assert lines[i].split(" | ", 1)[1] == src[row - 1]
        caret = lines[i + 1].split(" | ", 1)[1]
        assert caret == " " * (col - 1) + "^" * (end - col)
        block = "\n".join(lines[header:header + 14])
        for rel in f["related"]:
            loc = rel["location"]
            assert f"  = note: {rel['message']} ({bad}:{loc['row']}:{loc['column']})" in block
        assert f"  = docs: initlint rule {f['code']}" in block
        if f["fix"]:
            assert f"  = help: {f['fix']['message']} ({f['fix']['applicability']} fix)" in block
    assert "Found 3 findings." in lines


def test_full_format_for_stdin_does_not_crash(tmp_path):
    r = invoke("-", "--stdin-filename", "nowhere/x.py", "--output-format", "full", input=BAD)
    assert r.exit_code == 1, r.output
    assert "  --> nowhere/x.py:10:9" in r.stdout


# ---------------------------------------------------------------- github


GITHUB = re.compile(r"^::(?P<level>error|warning|notice) file=(?P<file>[^,]+),line=(?P<line>\d+),"
                    r"col=(?P<col>\d+),endLine=\d+,endColumn=\d+,title=(?P<title>[^:]+)::(?P<msg>.+)$")


def test_github_format(bad):
    r = invoke(str(bad), "--output-format", "github")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 3  # workflow commands only: no summary
    want = {(f["severity"], f["location"]["row"], f["location"]["column"], f["code"])
            for f in _json(bad)}
    got = set()
    for ln in lines:
        m = GITHUB.match(ln)
        assert m, ln
        assert m["file"] == str(bad).replace(":", "%3A").replace(",", "%2C")
        got.add(({"error": "error", "warning": "warning", "notice": "info"}[m["level"]],
                 int(m["line"]), int(m["col"]), m["title"]))
    assert got == want


def test_github_format_escapes_properties_and_data(tmp_path):
    weird = tmp_path / "we%ird,na:me.py"
    weird.write_text(BAD)
    r = run_cli(weird.name, "--output-format", "github", "--select", "IL201", cwd=tmp_path)
    assert r.returncode == 1
    (line,) = r.stdout.decode().splitlines()
    assert line.startswith("::error file=we%25ird%2Cna%3Ame.py,line=11,col=9,")
    assert "title=IL201::" in line


def test_github_info_is_a_notice(tmp_path):
    """IL302/IL303 are info by contract (opt-in; a prefix selects them without showing info)."""
    from test_cli import LSTM

    (tmp_path / "m.py").write_text(LSTM)
    m = str(tmp_path / "m.py")
    r = invoke(m, "--output-format", "github", "--extend-select", "IL3", "--show-info")
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(ln.startswith("::notice file=") for ln in lines), lines
    assert invoke(m, "--output-format", "github", "--extend-select", "IL3").stdout == ""


# ---------------------------------------------------------------- statistics


def test_statistics(tmp_path, bad):
    (tmp_path / "bad2.py").write_text(BAD)
    (tmp_path / "bad3.py").write_text(BAD.replace("nn.init.zeros_(self.b.weight)",
                                                  "nn.init.normal_(self.b.weight)"))
    r = invoke(str(tmp_path), "--statistics")
    assert r.exit_code == 1
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    data = _json(tmp_path)
    counts = {}
    for f in data:
        counts[f["code"]] = counts.get(f["code"], 0) + 1
    assert counts == {"IL202": 4, "IL101": 3, "IL201": 2}
    assert [(int(n), code) for n, code, _ in rows] == [(4, "IL202"), (3, "IL101"), (2, "IL201")]
    for n, code, rest in rows:
        assert rest.endswith(RULES[code].name)
        assert rest.startswith(("[*] ", "[ ] "))
        safe = any(f["fix"] and f["fix"]["applicability"] == "safe"
                   for f in data if f["code"] == code)
        assert rest.startswith("[*]") == safe, code


def test_statistics_clean_and_exit_codes(tmp_path, bad):
    (tmp_path / "good.py").write_text(GOOD)
    r = invoke(str(tmp_path / "good.py"), "--statistics")
    assert r.exit_code == 0 and r.stdout == ""
    r = invoke(str(bad), "--statistics", "--exit-zero")
    assert r.exit_code == 0 and "IL202" in r.stdout
    r = run_cli(str(bad), "--statistics")
    assert r.returncode == 1 and r.stdout.count(b"\n") == 3


# ---------------------------------------------------------------- quiet


def test_quiet(tmp_path, bad):
    loud = invoke(str(bad)).stdout.splitlines()
    quiet = invoke(str(bad), "--quiet").stdout.splitlines()
    assert quiet == [ln for ln in loud if CONCISE.match(ln)]
    assert len(quiet) == 3
    assert invoke(str(bad), "-q").stdout.splitlines() == quiet
    full_q = invoke(str(bad), "--output-format", "full", "-q").stdout
    assert "Found 3 findings." not in full_q and "--> " in full_q
    # quiet changes nothing in machine formats
    assert invoke(str(bad), "-q", "--output-format", "json").stdout == \
        invoke(str(bad), "--output-format", "json").stdout
    (tmp_path / "good.py").write_text(GOOD)
    r = invoke(str(tmp_path / "good.py"), "-q")
    assert r.exit_code == 0 and r.stdout == ""
    r = invoke(str(bad), "-q")
    assert r.exit_code == 1


# ---------------------------------------------------------------- -o FILE, every format


@pytest.mark.parametrize("fmt", ["concise", "full", "json", "github"])
def test_output_file_has_what_stdout_would(tmp_path, bad, fmt):
    stdout = invoke(str(bad), "--output-format", fmt).stdout
    out = tmp_path / f"report.{fmt}"
    r = invoke(str(bad), "--output-format", fmt, "-o", str(out))
    assert r.exit_code == 1 and r.stdout == ""
    assert out.read_text(encoding="utf-8") == stdout


def test_all_formats_agree_on_positions(tmp_path):
    """The same rows and columns in every format (no off-by-one between modes)."""
    (tmp_path / "bad.py").write_text(BAD)
    pos = {(f["location"]["row"], f["location"]["column"], f["code"]) for f in _json(tmp_path / "bad.py")}
    concise = {(int(m["row"]), int(m["col"]), m["code"])
               for m in map(CONCISE.match, invoke(str(tmp_path / "bad.py")).stdout.splitlines()) if m}
    gh = {(int(m["line"]), int(m["col"]), m["title"]) for m in map(
        GITHUB.match, invoke(str(tmp_path / "bad.py"), "--output-format", "github").stdout.splitlines())}
    full = set()
    out = invoke(str(tmp_path / "bad.py"), "--output-format", "full").stdout.splitlines()
    for i, ln in enumerate(out):
        m = re.match(r"^(IL\d{3})", ln)
        if m:
            row, col = out[i + 1].rsplit(":", 2)[1:]
            full.add((int(row), int(col), m[1]))
    assert pos == concise == gh == full
    assert len(pos) == 3
