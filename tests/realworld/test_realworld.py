"""Precision on real code: every finding initlint shows by default on the pinned zoos (timm,
torchvision, transformers) is judged against a maintainer's verdicts (`verdicts.tsv`): a wrong
or debatable alarm fails, so does an unjudged one, and so does a real problem not shown."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402
import zoo  # noqa: E402

pytestmark = pytest.mark.realworld

VERDICTS = run.load_verdicts()


def test_verdict_file_is_well_formed_and_covers_every_zoo():
    zoos = {v.path.split("/", 1)[0] for v in VERDICTS.values()}
    assert zoos == set(zoo.PINS)
    assert all(v.verdict != "missed" or v.shown == "(none)" for v in VERDICTS.values())


def test_judge_fails_on_a_wrong_an_unjudged_and_a_missing_finding():
    """The judgement itself, on made-up findings: it is what turns a wrong alarm into a red test."""
    v = {("timm/a.py", 3, "IL101"): run.Verdict("timm/a.py", 3, "IL101", "warning", "false", "x" * 20),
         ("timm/b.py", 5, "IL202"): run.Verdict("timm/b.py", 5, "IL202", "error", "true", "y" * 20),
         ("timm/c.py", 7, "IL203"): run.Verdict("timm/c.py", 7, "IL203", "(none)", "missed", "z" * 20)}
    found = [{"path": "timm/a.py", "row": 3, "code": "IL101", "severity": "warning", "message": ""},
             {"path": "timm/b.py", "row": 5, "code": "IL202", "severity": "error", "message": ""},
             {"path": "timm/d.py", "row": 1, "code": "IL201", "severity": "error", "message": ""},
             {"path": "timm/e.py", "row": 1, "code": "IL201", "severity": "info", "message": ""}]
    j = run.judge("timm", found, v)
    assert [f["path"] for f, _ in j.wrong] == ["timm/a.py"]
    assert [f["path"] for f in j.unjudged] == ["timm/d.py"]
    assert [x.path for x in j.not_found] == ["timm/c.py"]
    assert j.precision == 0.5
    assert len(j.failures()) == 3
    # a missed problem reported elsewhere (per the location contract) with its line as related
    found.append({"path": "timm/f.py", "row": 9, "code": "IL203", "severity": "warning",
                  "message": "", "related": [("timm/c.py", 7)]})
    v[("timm/f.py", 9, "IL203")] = run.Verdict("timm/f.py", 9, "IL203", "warning", "true", "w" * 20)
    assert run.judge("timm", found, v).not_found == []


@pytest.mark.parametrize("name", sorted(zoo.PINS))
def test_zoo_findings_match_the_verdicts(name):
    try:
        findings = run.lint_zoo(name)
    except zoo.ZooUnavailable as exc:
        pytest.fail(f"cannot fetch the pinned zoo (offline? deselect with -m 'not realworld'): {exc}")
    j = run.judge(name, findings, VERDICTS)
    print(f"{name}: {len(j.shown)} shown by default, precision {j.precision:.2f}")
    assert not j.failures(), "\n".join(j.failures())
    assert j.precision >= 0.90
