"""Precision on real code: timm, torchvision and transformers (pinned) must produce exactly the
findings in expected.json, and every `error` there carries a one-line justification."""

import collections
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402
import zoo  # noqa: E402

pytestmark = pytest.mark.realworld

EXPECTED = json.load(open(run.EXPECTED))


def test_every_error_is_justified():
    for f in EXPECTED:
        if f["severity"] == "error":
            text = f.get("justification", "")
            assert text and text != "TODO" and len(text) > 20, f


@pytest.mark.parametrize("name", sorted(zoo.PINS))
def test_zoo_findings_match_expectation(name):
    try:
        actual = run.lint_zoo(name)
    except zoo.ZooUnavailable as exc:
        pytest.fail(f"cannot fetch the pinned zoo (offline? deselect with -m 'not realworld'): {exc}")
    expected = [f for f in EXPECTED if f["zoo"] == name]
    new, gone = run.compare(actual, expected)
    counts = collections.Counter((f["code"], f["severity"]) for f in actual)
    print(f"{name}: {len(actual)} findings: {sorted(counts.items())}")
    assert not new and not gone, f"new findings: {new}\nvanished findings: {gone}"
