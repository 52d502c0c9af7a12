"""Each rule's typed examples (`EXAMPLES`: `Valid`/`Invalid`) are its tests (and its docs).

An `Invalid` example must produce exactly the findings of its rule's code that it lists (row,
column, severity, message fragment): none missing, none extra. Where it gives `fixed`, the
real fix path (`initlint --fix --select CODE`, plus `--unsafe-fixes` when the record says so)
must turn the example into exactly that text."""

from __future__ import annotations

import json
import os
import tempfile

import pytest
from click.testing import CliRunner

from initlint.cli import main
from initlint.rules import RULES, all_rules
from initlint.rules.examples import Expect, Invalid, Valid

CASES_INVALID = [(r.code, i, ex) for r in all_rules() for i, ex in enumerate(r.invalid())]
CASES_VALID = [(r.code, i, ex) for r in all_rules() for i, ex in enumerate(r.valid())]
CASES_FIXED = [(c, i, ex) for c, i, ex in CASES_INVALID if ex.fixed is not None]


def _key(f: dict) -> tuple[int, int, str]:
    return (f["location"]["row"], f["location"]["column"], f["severity"])


def check_invalid(lint, code: str, ex: Invalid) -> None:
    """The findings of `code` on `ex.code` are exactly `ex.expect` (shared with the test that
    a rule added as one file runs its own examples)."""
    found = [f for f in lint(ex.code, "--select", code) if f["code"] == code]
    got = sorted(_key(f) for f in found)
    want = sorted((e.row, e.col, e.severity) for e in ex.expect)
    assert got == want, f"{code}: findings at {got}, the example expects {want}: {found}"
    for e in ex.expect:
        if e.message_contains is None:
            continue
        at = [f["message"] for f in found if _key(f) == (e.row, e.col, e.severity)]
        assert any(e.message_contains in m for m in at), (code, e.message_contains, at)


def check_fixed(tmp_path, code: str, ex: Invalid) -> None:
    path = tmp_path / "example.py"
    path.write_text(ex.code, encoding="utf-8")
    r = CliRunner().invoke(main, [str(path), "--no-cache", "--select", code, *ex.fix_args])
    assert r.exit_code in (0, 1), r.output
    assert path.read_text(encoding="utf-8") == ex.fixed, (
        f"{code}: `initlint {' '.join(ex.fix_args)}` gave\n{path.read_text()}")


@pytest.mark.parametrize("code,i,ex", CASES_INVALID,
                         ids=[f"{c}-invalid-{i}" for c, i, _ in CASES_INVALID])
def test_invalid_example_is_reported_exactly(lint, code, i, ex):
    check_invalid(lint, code, ex)


@pytest.mark.parametrize("code,i,ex", CASES_VALID,
                         ids=[f"{c}-valid-{i}" for c, i, _ in CASES_VALID])
def test_valid_example_is_clean(lint, code, i, ex):
    found = lint(ex.code, "--select", code)
    assert not [f for f in found if f["code"] == code], f"{code} valid[{i}] reported: {found}"


@pytest.mark.parametrize("code,i,ex", CASES_FIXED,
                         ids=[f"{c}-fixed-{i}" for c, i, _ in CASES_FIXED])
def test_fixed_example_is_what_the_fix_writes(tmp_path, code, i, ex):
    check_fixed(tmp_path, code, ex)


def test_every_rule_has_examples_and_docs():
    for code, rule in RULES.items():
        assert rule.invalid(), code
        assert all(isinstance(e, (Valid, Invalid)) for e in rule.EXAMPLES), code
        assert rule.summary and rule.name and rule.severity in ("error", "warning", "info")
        if code != "IL001":
            assert rule.valid(), code
        doc = rule.doc()
        assert code in doc and "What it does" in doc and "Fix" in doc


def test_every_rule_with_a_fix_has_an_example_of_it():
    """A rule whose findings carry a fix (seen on any of its examples) shows the fixed text in
    at least one example, and the docs render it."""
    for rule in all_rules():
        runner = CliRunner()
        has_fix = False
        for ex in rule.invalid():
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "m.py")
                with open(p, "w", encoding="utf-8") as fh:
                    fh.write(ex.code)
                r = runner.invoke(main, [p, "--no-cache", "--select", rule.code,
                                         "--output-format", "json"])
                has_fix |= any(f["fix"] for f in json.loads(r.stdout))
        if has_fix:
            assert any(e.fixed is not None for e in rule.invalid()), rule.code
            assert "After `initlint --fix" in rule.doc(), rule.code


def test_expectations_are_checked_values():
    with pytest.raises(ValueError, match="severity"):
        Expect(1, 1, "fatal")
    with pytest.raises(ValueError, match="1-based"):
        Expect(0, 1, "error")
    with pytest.raises(ValueError, match="at least one"):
        Invalid("x = 1\n", [])
    with pytest.raises(ValueError, match="unsafe_fixes"):
        Invalid("x = 1\n", [Expect(1, 1, "error")], unsafe_fixes=True)


def test_the_exact_check_fails_on_a_wrong_expectation(lint):
    """The example test is not vacuous: a moved column, a changed severity, a missing or an
    extra finding each fail it."""
    rule = RULES["IL101"]
    ex = rule.invalid()[0]
    (e,) = ex.expect
    wrong = [Invalid(ex.code, [Expect(e.row, e.col + 1, e.severity)]),
             Invalid(ex.code, [Expect(e.row, e.col, "error" if e.severity != "error" else "info")]),
             Invalid(ex.code, [e, Expect(e.row + 1, e.col, e.severity)]),
             Invalid(ex.code, [Expect(e.row, e.col, e.severity, message_contains="no such text")])]
    for w in wrong:
        with pytest.raises(AssertionError):
            check_invalid(lint, "IL101", w)


def test_the_fixed_check_fails_on_a_wrong_text(tmp_path):
    ex = next(e for e in RULES["IL101"].invalid() if e.fixed is not None)
    wrong = Invalid(ex.code, ex.expect, fixed=ex.fixed.replace("kaiming", "xavier"))
    with pytest.raises(AssertionError):
        check_fixed(tmp_path, "IL101", wrong)


def test_codes_and_names_are_distinct():
    names = [r.name for r in RULES.values()]
    assert len(set(names)) == len(names)
    assert sorted(RULES) == [r.code for r in all_rules()]
