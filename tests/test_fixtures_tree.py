"""`initlint fixtures/` against fixtures/EXPECTED.json, exactly.

The fixture tree is a small realistic model package (fixtures/models/) with known mistakes;
EXPECTED.json lists every finding it must produce. It is the README's first command, so it
prints the model examples' findings and nothing else (the autofix pairs live in
tests/fix_cases/).
"""

import json
import os
import re
import sys

import pytest

from conftest import ROOT, run_cli

FIXTURES = os.path.join(ROOT, "fixtures")
EXPECTED_PATH = os.path.join(FIXTURES, "EXPECTED.json")


def _expected():
    with open(EXPECTED_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def _key(code, file, line, column, severity):
    return (file, line, column, code, severity)


def _actual(*extra):
    proc = run_cli("fixtures/", "--output-format", "json", "--no-cache", *extra, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr.decode()
    findings = json.loads(proc.stdout)
    return {_key(f["code"], f["filename"], f["location"]["row"], f["location"]["column"],
                 f["severity"]): f
            for f in findings}, findings


@pytest.fixture(scope="module")
def default_run():
    return _actual()


def _fmt(keys):
    return "\n".join(f"  {file}:{line}:{col}: {code} [{sev}]" for file, line, col, code, sev
                     in sorted(keys)) or "  (none)"


def test_fixture_tree_findings_match_expectation_exactly(default_run):
    actual, _ = default_run
    want = {_key(e["code"], e["file"], e["line"], e["column"], e["severity"])
            for e in _expected()["findings"]}
    new = set(actual) - want
    vanished = want - set(actual)
    assert not new and not vanished, (
        "initlint fixtures/ differs from fixtures/EXPECTED.json\n"
        f"new findings:\n{_fmt(new)}\nvanished findings:\n{_fmt(vanished)}\n"
        "(a vanished `false_positive` entry means the analysis got better: delete it)")


def test_expectation_entries_point_at_the_intended_statement():
    data = _expected()
    for e in data["findings"] + data["known_misses"]:
        path = os.path.join(ROOT, e["file"])
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        assert 1 <= e["line"] <= len(lines), e
        assert e["at"] in lines[e["line"] - 1], (
            f"{e['file']}:{e['line']} is `{lines[e['line'] - 1].strip()}`, expected `{e['at']}`"
            " - a fixture was edited without updating EXPECTED.json")
        assert e.get("why") or e.get("false_positive") or e.get("note"), e


def test_known_misses_are_still_missed(default_run):
    actual, _ = default_run
    reported = {(file, line, code) for file, line, _c, code, _s in actual}
    for miss in _expected()["known_misses"]:
        assert (miss["file"], miss["line"], miss["code"]) not in reported, (
            f"{miss} is reported now: move it into `findings`")


def test_regressions_seen_on_the_fixture_tree(default_run):
    """Once wrong, now right: keep them right."""
    actual, _ = default_run
    reported = {(file, code) for file, _l, _c, code, _s in actual}
    # the canonical LSTM init loop (`"weight_hh" in name` over named_parameters()) selects
    # weights: no IL404
    assert ("fixtures/models/lstm.py", "IL404") not in reported
    # TinyViT._init_weights is never applied, although another file's class applies a method
    # of the same name
    assert ("fixtures/models/vit.py", "IL401") in reported


def test_every_intended_rule_family_is_exercised():
    codes = {e["code"] for e in _expected()["findings"] if not e.get("false_positive")}
    for code in ("IL001", "IL101", "IL103", "IL201", "IL202", "IL203", "IL204", "IL205",
                 "IL301", "IL401", "IL402", "IL403", "IL404"):
        assert code in codes, code


def test_select_all_and_show_info_add_only_the_listed_findings(default_run):
    actual, _ = default_run
    everything, _ = _actual("--select", "ALL", "--show-info")
    extra = {_key(e["code"], e["file"], e["line"], e["column"], e["severity"])
             for e in _expected()["extra_with_select_all_and_show_info"]}
    assert set(everything) == set(actual) | extra, _fmt(set(everything) ^ (set(actual) | extra))


def test_clean_models_have_no_findings(default_run):
    actual, _ = default_run
    flagged = {file for file, *_ in actual}
    for clean in ("fixtures/models/resnet.py", "fixtures/models/gan.py",
                  "fixtures/models/layers.py", "fixtures/models/__init__.py"):
        # (resnet: zero-init offered behind a flag; gan: N(0, 0.02) convs before BatchNorm)
        assert clean not in flagged, f"{clean} is meant to be clean"


def test_quick_start_output_is_readable():
    """The README quick start: `initlint fixtures/` exits 1 and prints one line per finding."""
    proc = run_cli("fixtures/", "--no-cache", cwd=ROOT)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    lines = out.splitlines()
    n = len(_expected()["findings"])
    own = [ln for ln in lines if ln.startswith("fixtures/models/")]
    assert len(own) == n
    # nothing but the model examples: no autofix pairs, no "after fix" files
    assert [ln for ln in lines if ln.startswith("fixtures/")] == own, out
    pat = re.compile(r"^fixtures/models/\w+\.py:\d+:\d+: IL\d{3}( \[\*\])? \[(error|warning)\] \S.*$")
    for ln in own:
        assert pat.match(ln), ln
    assert re.search(r"^Found \d+ findings?\.$", out, re.M), out
    assert "Traceback" not in proc.stderr.decode()


def test_fixture_package_is_real_runnable_torch_code():
    """Every exported model builds and runs a forward pass (the fixtures are real code)."""
    torch = pytest.importorskip("torch")
    import importlib.util

    # imported under a private name, so that no installed package called `fixtures` interferes
    pkg_dir = os.path.join(FIXTURES, "models")
    spec = importlib.util.spec_from_file_location(
        "_initlint_fixture_models", os.path.join(pkg_dir, "__init__.py"),
        submodule_search_locations=[pkg_dir])
    zoo = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = zoo
    try:
        spec.loader.exec_module(zoo)
    finally:
        for name in [n for n in sys.modules if n.startswith(spec.name)]:
            del sys.modules[name]
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: worker threads only cost time on a busy machine
    try:
        _run_all(torch, zoo)
    finally:
        torch.set_num_threads(threads)


def _run_all(torch, zoo):
    img = torch.randn(2, 3, 16, 16)
    cases = {  # factory: (kwargs, input); small sizes, the code paths are the same
        zoo.MLP: ({"in_features": 64, "hidden": 32}, torch.randn(2, 1, 8, 8)),
        zoo.DeepXavierMLP: ({"width": 32}, torch.randn(2, 32)),
        zoo.TinyRegressor: ({}, torch.randn(2, 32)),
        zoo.SelfNormalizingMLP: ({}, torch.randn(2, 64)),
        zoo.PlainDeepNet: ({"width": 32}, torch.randn(2, 32)),
        zoo.SmallCNN: ({}, img),
        zoo.resnet18: ({"num_classes": 10}, img),
        zoo.TransformerBlock: ({"dim": 32, "heads": 2}, torch.randn(2, 5, 32)),
        zoo.TinyGPT: ({"vocab": 50, "dim": 32}, torch.randint(0, 50, (2, 7))),
        zoo.TinyViT: ({"dim": 32, "classes": 10}, torch.randn(2, 3, 32, 32)),
        zoo.Generator: ({"nz": 8, "ngf": 4}, torch.randn(2, 8, 1, 1)),
        zoo.Discriminator: ({"ndf": 4}, torch.randn(2, 3, 32, 32)),
        zoo.LSTMEncoder: ({"vocab": 50, "emb": 8, "hidden": 16, "out": 8},
                          torch.randint(0, 50, (2, 9))),
        zoo.LegacyClassifier: ({}, torch.randn(2, 128)),
        zoo.AudioTagger: ({"n_mels": 8, "classes": 5}, torch.randn(2, 8, 20)),
        zoo.ScaledLinear: ({"in_features": 8, "out_features": 4}, torch.randn(2, 8)),
    }
    assert set(zoo.__all__) - {"BasicBlock", "ResNet"} == {c.__name__ for c in cases}
    for factory, (kwargs, x) in cases.items():
        model = factory(**kwargs)
        with torch.no_grad():
            y = model(x)
        assert y.shape[0] == 2, factory
        if factory is not zoo.ScaledLinear:  # its weight is uninitialized memory: that is the bug
            assert torch.isfinite(y).all(), factory
