"""Each rule's VALID/INVALID examples are its tests (and its docs)."""

import pytest

from initlint.rules import RULES, all_rules

CASES_INVALID = [(r.code, i, src) for r in all_rules() for i, src in enumerate(r.INVALID)]
CASES_VALID = [(r.code, i, src) for r in all_rules() for i, src in enumerate(r.VALID)]


@pytest.mark.parametrize("code,i,src", CASES_INVALID, ids=[f"{c}-invalid-{i}" for c, i, _ in CASES_INVALID])
def test_invalid_example_is_reported(lint, code, i, src):
    found = lint(src, "--select", code)
    assert any(f["code"] == code for f in found), f"{code} INVALID[{i}] not reported: {found}"


@pytest.mark.parametrize("code,i,src", CASES_VALID, ids=[f"{c}-valid-{i}" for c, i, _ in CASES_VALID])
def test_valid_example_is_clean(lint, code, i, src):
    found = lint(src, "--select", code)
    assert not [f for f in found if f["code"] == code], f"{code} VALID[{i}] reported: {found}"


def test_every_rule_has_examples_and_docs():
    for code, rule in RULES.items():
        assert rule.INVALID, code
        assert rule.summary and rule.name and rule.severity in ("error", "warning", "info")
        if code != "IL001":
            assert rule.VALID, code
        doc = rule.doc()
        assert code in doc and "What it does" in doc and "Fix" in doc


def test_codes_and_names_are_distinct():
    names = [r.name for r in RULES.values()]
    assert len(set(names)) == len(names)
    assert sorted(RULES) == [r.code for r in all_rules()]
