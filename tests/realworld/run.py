"""Lint the pinned zoos and compare with tests/realworld/expected.json.

    python tests/realworld/run.py            # print the diff against the expectation
    python tests/realworld/run.py --update   # rewrite expected.json (keeps justifications)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zoo  # noqa: E402

EXPECTED = os.path.join(HERE, "expected.json")


def lint_zoo(name: str) -> list[dict]:
    root, paths = zoo.files(name)
    proc = subprocess.run([sys.executable, "-m", "initlint", "--no-cache", "--show-info",
                           "--output-format", "json", "--exit-zero",
                           *[os.path.relpath(p, root) for p in paths]],
                          cwd=root, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"initlint failed on {name} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    findings = json.loads(proc.stdout)
    return [{"zoo": name, "file": f["filename"], "row": f["location"]["row"], "code": f["code"],
             "severity": f["severity"], "message": f["message"]} for f in findings]


def key(f: dict) -> tuple:
    return (f["zoo"], f["file"], f["row"], f["code"], f["severity"])


def compare(actual: list[dict], expected: list[dict]) -> tuple[list, list]:
    a = {key(f) for f in actual}
    e = {key(f) for f in expected}
    return sorted(a - e), sorted(e - a)


def main() -> int:
    actual = [f for name in zoo.PINS for f in lint_zoo(name)]
    old = json.load(open(EXPECTED)) if os.path.exists(EXPECTED) else []
    if "--update" in sys.argv:
        just = {key(f): f.get("justification") for f in old}
        for f in actual:
            if just.get(key(f)):
                f["justification"] = just[key(f)]
            elif f["severity"] == "error":
                f["justification"] = "TODO"
        json.dump(actual, open(EXPECTED, "w"), indent=1, ensure_ascii=False)
        print(f"wrote {len(actual)} findings to {EXPECTED}")
        return 0
    new, gone = compare(actual, old)
    for k in new:
        print("NEW    ", k)
    for k in gone:
        print("VANISHED", k)
    return 1 if new or gone else 0


if __name__ == "__main__":
    sys.exit(main())
