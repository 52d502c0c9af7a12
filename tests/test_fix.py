"""`--fix`, `--unsafe-fixes`, `--diff`: behaviour around the fixes themselves.

(The fixes' exact output is pinned by the fixture pairs in test_fix_fixtures.py.)
"""

import ast
import json
import os
import shutil
import stat
import subprocess

import pytest
from click.testing import CliRunner

from conftest import ROOT, run_cli
from initlint.cli import main
from initlint.remedies import UniformBounds

FIXES = os.path.join(ROOT, "tests", "fix_cases")


def case(name: str, ext: str = "py") -> tuple[bytes, bytes]:
    d = os.path.join(FIXES, name)
    with open(os.path.join(d, f"case.in.{ext}"), "rb") as a, \
            open(os.path.join(d, f"case.out.{ext}"), "rb") as b:
        return a.read(), b.read()


def invoke(*args, input=None):
    result = CliRunner().invoke(main, [*args, "--no-cache"], input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def snapshot(root) -> dict:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = (fh.read(), os.stat(p).st_mtime_ns)
    return out


def parses(rel: str, data: bytes) -> bool:
    try:
        if rel.endswith(".ipynb"):
            nb = json.loads(data)
            for cell in nb["cells"]:
                if cell["cell_type"] == "code":
                    src = cell["source"]
                    src = "".join(src) if isinstance(src, list) else src
                    ast.parse("\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                                        for ln in src.splitlines()))
        elif rel.endswith((".py", ".pyi")):
            ast.parse(data)
    except (SyntaxError, ValueError):
        return False
    return True


def fixable(findings, unsafe=True):
    return [f for f in findings if f["fix"] and (unsafe or f["fix"]["applicability"] == "safe")]


# --------------------------------------------------------------------------- round trip

def test_round_trip_over_the_whole_fixture_tree(tmp_path):
    tree = tmp_path / "fixtures"
    shutil.copytree(os.path.join(ROOT, "fixtures"), tree)  # copy2: mtimes kept
    before = snapshot(tree)
    report = run_cli(str(tree), "--output-format", "json", "--no-cache")
    found = json.loads(report.stdout)
    to_fix = {os.path.relpath(f["filename"], tree) for f in fixable(found)}
    assert to_fix, "the fixture tree has fixable findings"

    first = run_cli(str(tree), "--fix", "--unsafe-fixes", "--no-cache")
    assert first.returncode in (0, 1), first.stderr.decode()
    assert "Fixed " in first.stderr.decode()
    after = snapshot(tree)
    assert set(after) == set(before), "no file created or removed (no temp files left)"
    for rel, (data, mtime) in after.items():
        if parses(rel, before[rel][0]):
            assert parses(rel, data), f"{rel} no longer parses"
        if rel not in to_fix:
            assert (data, mtime) == before[rel], f"{rel} had nothing to fix but was rewritten"
    changed = {rel for rel in after if after[rel][0] != before[rel][0]}
    assert changed and changed <= to_fix

    left = json.loads(run_cli(str(tree), "--output-format", "json", "--unsafe-fixes",
                              "--no-cache").stdout)
    assert not fixable(left), fixable(left)

    second = run_cli(str(tree), "--fix", "--unsafe-fixes", "--no-cache")
    assert second.returncode == first.returncode
    assert "Fixed " not in second.stderr.decode()
    assert snapshot(tree) == after, "a second --fix changed something"


def test_files_without_fixes_keep_bytes_and_mtime(tmp_path):
    src, _ = case("il205_function")
    (tmp_path / "bad.py").write_bytes(src)
    clean = b"import torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n"
    (tmp_path / "clean.py").write_bytes(clean)
    os.utime(tmp_path / "clean.py", ns=(1_000_000_000, 1_000_000_000))
    r = invoke(str(tmp_path), "--fix")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "clean.py").read_bytes() == clean
    assert os.stat(tmp_path / "clean.py").st_mtime_ns == 1_000_000_000


def test_message_counts_fixes_and_files(tmp_path):
    for name in ("il205_function", "il101_nn_init"):
        (tmp_path / f"{name}.py").write_bytes(case(name)[0])
    r = invoke(str(tmp_path), "--fix")
    assert "Fixed 3 findings in 2 files." in r.stderr
    assert r.exit_code == 0 and "All checks passed!" in r.stdout


# --------------------------------------------------------------------------- safety & selection

def test_unsafe_fixes_need_the_flag(tmp_path):
    p = tmp_path / "m.py"
    src, _ = case("il301_basic_block")
    p.write_bytes(src)
    r = invoke(str(p), "--fix")
    assert r.exit_code == 1, "the unsafe IL301 fix is not applied: the finding remains"
    assert p.read_bytes() == src
    assert "1 more fixable with `--fix --unsafe-fixes`" in r.stdout
    r = invoke(str(p), "--fix", "--unsafe-fixes")
    assert r.exit_code == 0 and p.read_bytes() == case("il301_basic_block")[1]


def test_only_selected_findings_are_fixed(tmp_path):
    p = tmp_path / "m.py"
    src, _ = case("safe_fixes_only")
    p.write_bytes(src)
    r = invoke(str(p), "--fix", "--unsafe-fixes", "--select", "IL202")
    assert r.exit_code == 0, r.output
    text = p.read_text()
    assert "nn.init.xavier_uniform_(self.fc1.weight)" in text  # IL101 not selected: untouched
    assert "nn.init.kaiming_normal_(self.fc2.weight, nonlinearity=\"relu\")" in text


def test_text_and_statistics_mark_fixable_findings(tmp_path):
    p = tmp_path / "m.py"
    p.write_bytes(case("safe_fixes_only")[0])
    concise = invoke(str(p))
    lines = concise.stdout.splitlines()
    assert any(": IL101 [*] " in ln for ln in lines), concise.stdout
    assert any(": IL202 [error]" in ln for ln in lines), "unsafe fixes get no [*]"
    assert "[*] 1 fixable with the `--fix` option." in concise.stdout
    stats = invoke(str(p), "--statistics")
    assert "IL101\t[*] xavier-before-relu" in stats.stdout
    assert "IL202\t[ ] unscaled-weight-init" in stats.stdout  # unsafe: like concise, no [*]


# --------------------------------------------------------------------------- --diff

def test_diff_prints_a_patch_and_writes_nothing(tmp_path):
    src, want = case("il102_from_import_extended")
    p = tmp_path / "m.py"
    p.write_bytes(src)
    mtime = os.stat(p).st_mtime_ns
    # IL102 on a single layer is `info` (convention more than training): selected by its code
    r = invoke(str(p), "--diff", "--select", "IL102")
    assert r.exit_code == 1, "exit 1: there is a diff"
    assert p.read_bytes() == src and os.stat(p).st_mtime_ns == mtime
    assert r.stdout.startswith(f"--- {p}\n+++ {p}\n@@ ")
    assert "Would fix 1 finding in 1 file." in r.stderr
    # the diff is a real patch: applying it gives what --fix writes
    patch = tmp_path / "fix.diff"
    patch.write_text(r.stdout)
    subprocess.run(["patch", "-s", str(p), str(patch)], check=True)
    assert p.read_bytes() == want


def test_diff_exits_0_without_a_diff(tmp_path):
    p = tmp_path / "m.py"
    p.write_bytes(case("il101_nn_init")[1])  # already fixed
    r = invoke(str(p), "--diff")
    assert r.exit_code == 0 and r.stdout == ""
    p.write_bytes(case("il301_basic_block")[0])  # only an unsafe fix: not without the flag
    r = invoke(str(p), "--diff")
    assert r.exit_code == 0 and r.stdout == ""
    r = invoke(str(p), "--diff", "--unsafe-fixes")
    assert r.exit_code == 1 and "+        nn.init.zeros_(self.bn2.weight)" in r.stdout


def test_diff_subprocess_and_notebook(tmp_path):
    src, want = case("notebook", "ipynb")
    nb = tmp_path / "nb.ipynb"
    nb.write_bytes(src)
    proc = run_cli(str(nb), "--diff", "--unsafe-fixes", "--no-cache")
    assert proc.returncode == 1, proc.stderr.decode()
    out = proc.stdout.decode()
    assert f"--- {nb}:cell 3\n+++ {nb}:cell 3\n" in out and f"--- {nb}:cell 4\n" in out
    assert "+        nn.init.zeros_(self.bn2.weight)" in out
    assert nb.read_bytes() == src


# --------------------------------------------------------------------------- stdin

def test_stdin_fix_prints_the_fixed_source(tmp_path):
    src, want = case("il101_nn_init")
    proc = run_cli("-", "--stdin-filename", "model.py", "--fix", "--no-cache", input=src,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == want
    assert "Fixed 1 finding in 1 file." in proc.stderr.decode()
    assert "All checks passed!" in proc.stderr.decode()  # the report goes to stderr


def test_stdin_fix_with_findings_left(tmp_path):
    src, want = case("safe_fixes_only")
    proc = run_cli("-", "--fix", "--no-cache", input=src, cwd=tmp_path)
    assert proc.returncode == 1, "the unsafe IL202 finding is left"
    assert proc.stdout == want
    assert "IL202" in proc.stderr.decode()
    # nothing to fix: the source comes back unchanged
    proc = run_cli("-", "--fix", "--no-cache", input=want, cwd=tmp_path)
    assert proc.stdout == want and proc.returncode == 1
    proc = run_cli("-", "--fix", "--no-cache", input=b"def f(:\n", cwd=tmp_path)
    assert proc.stdout == b"def f(:\n" and proc.returncode == 1
    assert b"IL001" in proc.stderr and b"Traceback" not in proc.stderr


def test_stdin_diff_and_clirunner(tmp_path):
    src, want = case("il205_function")
    r = invoke("-", "--stdin-filename", "m.py", "--diff", input=src)
    assert r.exit_code == 1
    assert r.stdout.startswith("--- m.py\n+++ m.py\n")
    r = invoke("-", "--stdin-filename", "m.py", "--fix", input=src)
    assert r.exit_code == 0
    assert r.stdout.encode() == want


# --------------------------------------------------------------------------- writing

def test_write_is_atomic_and_keeps_permissions(tmp_path):
    src, want = case("il205_function")
    p = tmp_path / "m.py"
    p.write_bytes(src)
    os.chmod(p, 0o640)
    inode = os.stat(p).st_ino
    r = invoke(str(p), "--fix")
    assert r.exit_code == 0
    assert p.read_bytes() == want
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    assert os.stat(p).st_ino != inode, "replaced by rename, not rewritten in place"
    assert sorted(os.listdir(tmp_path)) == ["m.py"], "no temp file left behind"


def test_fix_through_a_symlink_edits_the_target(tmp_path):
    src, want = case("il205_function")
    real = tmp_path / "real.py"
    real.write_bytes(src)
    (tmp_path / "sub").mkdir()
    link = tmp_path / "sub" / "link.py"
    link.symlink_to(real)
    r = invoke(str(link), "--fix")
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and real.read_bytes() == want


def test_failed_write_leaves_the_file_alone(tmp_path, monkeypatch):
    import initlint.fix.write as fixmod

    src, _ = case("il205_function")
    p = tmp_path / "m.py"
    p.write_bytes(src)
    mtime = os.stat(p).st_mtime_ns

    def boom(a, b):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fixmod.os, "replace", boom)
    r = invoke(str(p), "--fix")
    assert r.exit_code == 2, "a fix that could not be written is an error"
    assert f"cannot write {p}: Permission denied" in r.stderr
    assert p.read_bytes() == src and os.stat(p).st_mtime_ns == mtime
    assert sorted(os.listdir(tmp_path)) == ["m.py"], "the temp file is cleaned up"
    assert r.stdout.count("IL205") == 2 and "Fixed " not in r.stderr
    assert "fixable with" not in r.stdout and "[*]" not in r.stdout  # --fix was just tried


def test_file_changed_on_disk_while_fixing_is_not_overwritten(tmp_path, monkeypatch):
    from initlint import engine

    src, _ = case("il205_function")
    p = tmp_path / "m.py"
    p.write_bytes(src)
    real_finish = engine.finish
    edited = src + b"# edited meanwhile\n"

    calls = []

    def finish(results, config):
        calls.append(1)
        if len(calls) == 2:  # the re-lint after fixing, in memory
            p.write_bytes(edited)  # someone saves the file while initlint is fixing it
        return real_finish(results, config)

    monkeypatch.setattr(engine, "finish", finish)
    r = invoke(str(p), "--fix")
    assert "changed on disk while initlint was fixing it" in r.stderr
    assert p.read_bytes() == edited
    assert r.exit_code == 2  # the fix was not written: an error, not "findings left"


def test_fix_whose_result_does_not_parse_is_dropped(tmp_path, monkeypatch):
    import initlint.fix.remedies as fixmod

    src, _ = case("il205_function")
    p = tmp_path / "m.py"
    p.write_bytes(src)
    mtime = os.stat(p).st_mtime_ns
    good = fixmod.PLANNERS[UniformBounds]

    def broken(b, f, node, h):
        result = good(b, f, node, h)
        if f.row == 8:  # break the first of the two fixes: an unbalanced parenthesis
            s, e, content = b.spans[0]
            b.spans[0] = (s, e, content + ")")
        return result

    monkeypatch.setitem(fixmod.PLANNERS, UniformBounds, broken)
    r = invoke(str(p), "--fix")
    assert f"dropped fix for IL205 at {p}:8:9: the result does not parse" in r.stderr
    # the other fix still applies; the file is re-parsed before it replaces the original
    text = p.read_text()
    ast.parse(text)
    assert "nn.init.normal_(self.fc.weight, -0.1, 0.1)" in text
    assert "nn.init.uniform_(self.fc.bias, a=-0.05, b=0.05)" in text
    assert r.exit_code == 1 and "IL205" in r.stdout

    # when every fix is bad, the file is left exactly as it was
    p.write_bytes(src)
    os.utime(p, ns=(mtime, mtime))
    monkeypatch.setitem(fixmod.PLANNERS, UniformBounds,
                        lambda b, f, n, h: (b.spans.append((0, 0, "(")), ("safe", "x"))[1])
    r = invoke(str(p), "--fix")
    assert r.stderr.count("dropped fix for IL205") == 2
    assert p.read_bytes() == src and os.stat(p).st_mtime_ns == mtime


# --------------------------------------------------------------------------- text details

def test_crlf_line_endings_are_kept(tmp_path):
    src, want = case("il101_multiline_comments")
    p = tmp_path / "m.py"
    p.write_bytes(src.replace(b"\n", b"\r\n"))
    r = invoke(str(p), "--fix")
    assert r.exit_code == 0
    assert p.read_bytes() == want.replace(b"\n", b"\r\n")
    src, want = case("il301_basic_block")  # an inserted line
    p.write_bytes(src.replace(b"\n", b"\r\n"))
    invoke(str(p), "--fix", "--unsafe-fixes")
    assert p.read_bytes() == want.replace(b"\n", b"\r\n")


def test_encoding_and_bom_are_kept(tmp_path):
    src, want = case("il205_function")
    p = tmp_path / "bom.py"
    p.write_bytes(b"\xef\xbb\xbf# caf\xc3\xa9\n" + src)
    assert invoke(str(p), "--fix").exit_code == 0
    assert p.read_bytes() == b"\xef\xbb\xbf# caf\xc3\xa9\n" + want
    p = tmp_path / "latin.py"
    head = "# -*- coding: latin-1 -*-\n# été\n".encode("latin-1")
    p.write_bytes(head + src)
    assert invoke(str(p), "--fix").exit_code == 0
    assert p.read_bytes() == head + want


def test_fix_at_end_of_file_without_newline(tmp_path):
    # __init__ is the last thing in the file, and the file has no final newline
    p = tmp_path / "m.py"
    p.write_bytes(b"import torch.nn as nn\n\n\nclass Block(nn.Module):\n"
                  b"    def forward(self, x):\n        return self.bn(self.conv(x)) + x\n\n"
                  b"    def __init__(self, c):\n        super().__init__()\n"
                  b"        self.conv = nn.Conv2d(c, c, 3, padding=1)\n"
                  b"        self.bn = nn.BatchNorm2d(c)")
    r = invoke(str(p), "--fix", "--unsafe-fixes", "--select", "IL301")
    assert r.exit_code == 0, r.output
    assert p.read_bytes().endswith(b"        self.bn = nn.BatchNorm2d(c)\n"
                                   b"        nn.init.zeros_(self.bn.weight)")
    q = tmp_path / "n.py"
    q.write_bytes(b"import torch.nn as nn\n\n\ndef init_weights(m):\n"
                  b"    if isinstance(m, nn.Linear):\n        m.weight.data.normal_(-0.05, 0.05)")
    invoke(str(q), "--fix", "--select", "IL205")
    assert q.read_bytes().endswith(b"m.weight.data.uniform_(-0.05, 0.05)")


def test_json_fix_edits_reproduce_the_fix(tmp_path):
    """Applying the `fix.edits` of the JSON output by hand gives what --fix writes (1-based
    rows and columns, end exclusive: what the LSP's code actions use)."""
    names = sorted(n for n in os.listdir(FIXES)
                   if os.path.exists(os.path.join(FIXES, n, "case.in.py"))
                   and not os.path.exists(os.path.join(FIXES, n, "args")))
    assert len(names) > 20
    for name in names:
        src, want = case(name)
        p = tmp_path / f"{name}.py"
        p.write_bytes(src)
        found = json.loads(invoke(str(p), "--output-format", "json").stdout)
        lines = src.decode("utf-8").splitlines(keepends=True)
        starts = [0]
        for ln in lines:
            starts.append(starts[-1] + len(ln))
        text = src.decode("utf-8")
        edits = []
        for f in found:
            if f["fix"]:
                for e in f["fix"]["edits"]:
                    s = starts[e["location"]["row"] - 1] + e["location"]["column"] - 1
                    t = starts[e["end_location"]["row"] - 1] + e["end_location"]["column"] - 1
                    edits.append((s, t, e["content"]))
        for s, t, content in sorted(set(edits), reverse=True):
            text = text[:s] + content + text[t:]
        assert text.encode("utf-8") == want, name


def test_shared_init_fix_that_breaks_another_layer_is_dropped(tmp_path):
    """One init loop shared by a layer before ReLU and one before SELU: a fix for one breaks
    the other. The fixer keeps only fixes that draw no new finding where they act, stops
    (bounded), says so, and a second run changes nothing."""
    src = (b"import torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
           b"class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           b"        self.fc1 = nn.Linear(64, 64)\n        self.fc2 = nn.Linear(64, 64)\n"
           b"        for m in self.modules():\n            if isinstance(m, nn.Linear):\n"
           b"                nn.init.xavier_uniform_(m.weight)\n\n"
           b"    def forward(self, x):\n        return F.selu(self.fc2(F.relu(self.fc1(x))))\n")
    results = []
    for i in range(2):
        p = tmp_path / f"m{i}.py"
        p.write_bytes(src)
        r = invoke(str(p), "--fix", "--unsafe-fixes")
        assert r.exit_code == 1
        assert f"dropped fix for IL104 at {p}:12:17: it would draw a new finding" in r.stderr
        # IL101's fix (He init for the ReLU layer) stays: it draws nothing new
        assert b'nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")' in p.read_bytes()
        results.append(p.read_bytes())
        mtime = os.stat(p).st_mtime_ns
        again = invoke(str(p), "--fix", "--unsafe-fixes")
        assert again.exit_code == 1 and "Fixed " not in again.stderr
        assert p.read_bytes() == results[-1] and os.stat(p).st_mtime_ns == mtime
        left = json.loads(invoke(str(p), "--output-format", "json").stdout)
        assert [f["code"] for f in left] == ["IL104"]
    assert results[0].replace(b"m0", b"") == results[1].replace(b"m1", b"")


def test_inserted_init_that_a_later_one_overwrites_is_dropped(tmp_path):
    """IL301 adds `zeros_(self.bn2.weight)` to the block; when the model's own init loop later
    sets every BatchNorm weight to 1, that line would be dead (IL402): no fix then."""
    p = tmp_path / "m.py"
    src = case("il301_basic_block")[0] + (
        b"\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        b"        self.block = BasicBlock(8)\n        for m in self.modules():\n"
        b"            if isinstance(m, nn.BatchNorm2d):\n"
        b"                nn.init.ones_(m.weight)\n\n"
        b"    def forward(self, x):\n        return self.block(x)\n")
    p.write_bytes(src)
    before = json.loads(invoke(str(p), "--output-format", "json").stdout)
    assert [f["code"] for f in before] == ["IL301"] and before[0]["fix"] is None  # not offered
    r = invoke(str(p), "--fix", "--unsafe-fixes")
    assert p.read_bytes() == src and r.exit_code == 1 and "Fixed" not in r.stderr


def test_attach_fixes_uses_an_editor_buffer(tmp_path):
    """initlint.lsp lints unsaved buffers: attach_fixes must compute edits against the buffer
    (set as `text` on the FileResult), not the file on disk."""
    from initlint import engine
    from initlint.config import Config
    from initlint.fix import attach_fixes

    p = tmp_path / "m.py"
    p.write_text("# an older version on disk\n")
    buf, want = case("il101_nn_init")
    report = engine.lint([], Config(), stdin=(str(p), buf))
    for r in report.files:
        r.text = buf.decode()
    assert attach_fixes(report.findings, report) == []
    (f,) = report.findings
    (e,) = f.fix.edits
    assert f.fix.applicability == "safe"
    assert (e.row, e.col, e.end_row, e.end_col) == (12, 9, 12, 49)
    assert e.content == 'nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")'
    # the same through the `stdin` argument
    report = engine.lint([], Config(), stdin=("x.py", buf))
    attach_fixes(report.findings, report, stdin=("x.py", buf))
    assert report.findings[0].fix.edits[0].content == e.content


@pytest.mark.parametrize("code", ["IL201", "IL203", "IL403", "IL401"])
def test_rules_without_a_fix_offer_none(lint, code):
    from initlint.rules import RULES

    for src in [e.code for e in RULES[code].invalid()]:
        for f in lint(src, "--select", code):
            assert f["fix"] is None


def test_a_name_shadowed_in_the_function_is_not_used(tmp_path):
    """`from torch.nn import init` is the file's init alias, but inside `__init__(self, init)`
    `init` is the argument: the fix must spell the call another way."""
    p = tmp_path / "m.py"
    p.write_text("import torch.nn as nn\nfrom torch.nn import init\n\n\n"
                 "class Net(nn.Module):\n    def __init__(self, init=True):\n"
                 "        super().__init__()\n        self.fc = nn.Linear(512, 512)\n"
                 "        self.act = nn.ReLU()\n        self.fc.weight.data.normal_()\n\n"
                 "    def forward(self, x):\n        return self.act(self.fc(x))\n")
    r = invoke(str(p), "--fix", "--unsafe-fixes")
    assert r.exit_code == 0, r.output
    assert 'nn.init.kaiming_normal_(self.fc.weight.data, nonlinearity="relu")' in p.read_text()


def test_layers_in_dynamic_containers_get_no_insertion_fix(lint):
    """An index into a list built at run time (`layers.append`, a comprehension) may not exist
    for every configuration: no `self.conv[3].weight` edits there."""
    src = ("import torch.nn as nn\n\n\nclass Block(nn.Module):\n"
           "    def __init__(self, c, expand=True):\n        super().__init__()\n"
           "        layers = []\n        if expand:\n"
           "            layers.append(nn.Conv2d(c, c, 1, bias=False))\n"
           "        layers.extend([nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)])\n"
           "        self.conv = nn.Sequential(*layers)\n\n"
           "    def forward(self, x):\n        return x + self.conv(x)\n")
    (f,) = lint(src, "--select", "IL301")
    assert f["layer"] == "conv.2" and f["fix"] is None
    literal = ("import torch.nn as nn\n\n\nclass Block(nn.Module):\n"
               "    def __init__(self, c):\n        super().__init__()\n"
               "        self.conv = nn.Sequential(\n            nn.Conv2d(c, c, 3, padding=1),\n"
               "            nn.BatchNorm2d(c),\n        )\n\n"
               "    def forward(self, x):\n        return x + self.conv(x)\n")
    (f,) = lint(literal, "--select", "IL301")
    assert f["fix"]["edits"][0]["content"] == "        nn.init.zeros_(self.conv[1].weight)\n"


def test_a_bug_in_the_fixer_is_an_internal_error_not_a_traceback(tmp_path, monkeypatch):
    import initlint.fix.applying as fixmod

    src, _ = case("il205_function")
    p = tmp_path / "m.py"
    p.write_bytes(src)

    def bug(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(fixmod, "select", bug)
    r = invoke(str(p), "--fix")
    assert r.exit_code == 2
    assert "initlint: internal error in fix: RuntimeError: boom" in r.stderr
    assert "Traceback" not in r.output and p.read_bytes() == src


def test_fix_with_context_keeps_cross_file_facts(tmp_path):
    """`--context .` (the pre-commit hook) brings facts from files that are not linted: an init
    function applied from a training script. The re-lint after fixing must keep them, or the
    fixed file would suddenly report IL401 ("never applied")."""
    (tmp_path / "a.py").write_text(
        "import torch.nn as nn\n\n\ndef init_weights(m):\n    if isinstance(m, nn.Linear):\n"
        "        nn.init.normal_(m.weight, -0.1, 0.1)\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(8, 8)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n")
    (tmp_path / "train.py").write_text(
        "from a import Net, init_weights\n\nmodel = Net()\nmodel.apply(init_weights)\n")
    alone = run_cli("a.py", "--no-cache", cwd=tmp_path)
    assert b"IL401" in alone.stdout  # (without the context, the function looks unused)
    proc = run_cli("a.py", "--context", ".", "--fix", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert "nn.init.uniform_(m.weight, -0.1, 0.1)" in (tmp_path / "a.py").read_text()
    assert (tmp_path / "train.py").read_text().endswith("model.apply(init_weights)\n")
