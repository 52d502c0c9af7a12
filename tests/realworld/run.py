"""Lint the pinned zoos and judge every finding against a maintainer's verdicts.

    python tests/realworld/run.py            # the judgement, per zoo and code
    python tests/realworld/run.py --new      # print verdict lines to fill in for unjudged findings

`verdicts.tsv` holds one line per finding a maintainer read: path (as initlint prints it from
the folder holding the unpacked zoos, so `timm/timm/models/x.py`), row, code, the severity it was
shown at, the verdict (`true`, `false`, `debatable`, or `missed` for a real problem nothing
reported) and why. The rules of the judgement:

- every error or warning initlint shows must have a `true` line (a `false` or `debatable` one
  shown by default is a wrong alarm; a finding with no line at all has not been judged);
- every `true` and `missed` line must be shown (at error or warning);
- `info` findings are not shown by default and are not judged.
"""

from __future__ import annotations

import collections
import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zoo  # noqa: E402

VERDICTS = os.path.join(HERE, "verdicts.tsv")
SHOWN = ("error", "warning")


@dataclass(frozen=True)
class Verdict:
    path: str
    row: int
    code: str
    shown: str
    verdict: str
    why: str

    @property
    def key(self) -> tuple:
        return (self.path, self.row, self.code)


def load_verdicts(path: str = VERDICTS) -> dict[tuple, Verdict]:
    out: dict[tuple, Verdict] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    for n, row in enumerate(rows[1:], start=2):
        if not row or not row[0].strip():
            continue
        if len(row) != 6:
            raise ValueError(f"{path}:{n}: expected 6 tab-separated columns, got {len(row)}")
        v = Verdict(row[0], int(row[1]), row[2], row[3], row[4], row[5])
        if v.verdict not in ("true", "false", "debatable", "missed"):
            raise ValueError(f"{path}:{n}: unknown verdict {v.verdict!r}")
        if len(v.why) < 20:
            raise ValueError(f"{path}:{n}: a verdict needs its reason")
        if v.key in out:
            raise ValueError(f"{path}:{n}: a second line for {v.key}")
        out[v.key] = v
    return out


def lint_zoo(name: str) -> list[dict]:
    root, paths = zoo.files(name)
    proc = subprocess.run([sys.executable, "-m", "initlint", "--no-cache", "--show-info",
                           "--output-format", "json", "--exit-zero",
                           *[os.path.relpath(p, root) for p in paths]],
                          cwd=root, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"initlint failed on {name} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return [{"zoo": name, "path": f"{name}/{f['filename']}", "row": f["location"]["row"],
             "code": f["code"], "severity": f["severity"], "message": f["message"],
             "related": [(f"{name}/{r['filename']}", r["location"]["row"]) for r in f["related"]]}
            for f in json.loads(proc.stdout)]


@dataclass
class Judgement:
    shown: list[dict]  # findings shown by default (error/warning)
    right: list[dict]  # ... judged `true`
    wrong: list[tuple[dict, Verdict]]  # ... judged `false` or `debatable`
    unjudged: list[dict]  # ... without a verdict line
    not_found: list[Verdict]  # `true`/`missed` lines of this zoo not shown

    @property
    def precision(self) -> float:
        judged = len(self.right) + len(self.wrong)
        return len(self.right) / judged if judged else 1.0

    def failures(self) -> list[str]:
        out = [f"judged {v.verdict}, shown at {f['severity']}: {f['path']}:{f['row']} {f['code']}"
               f" ({v.why[:120]})" for f, v in self.wrong]
        out += [f"not judged yet (add a line to verdicts.tsv): {f['path']}\t{f['row']}\t"
                f"{f['code']}\t{f['severity']}: {f['message'][:160]}" for f in self.unjudged]
        out += [f"{v.verdict} but not shown: {v.path}:{v.row} {v.code} ({v.why[:120]})"
                for v in self.not_found]
        return out


def judge(name: str, findings: list[dict], verdicts: dict[tuple, Verdict]) -> Judgement:
    shown = [f for f in findings if f["severity"] in SHOWN]
    j = Judgement(shown, [], [], [], [])
    seen = set()
    for f in shown:
        key = (f["path"], f["row"], f["code"])
        seen.add(key)
        v = verdicts.get(key)
        if v is None:
            j.unjudged.append(f)
        elif v.verdict in ("true", "missed"):
            j.right.append(f)
        else:
            j.wrong.append((f, v))
    # a `missed` problem may be reported where the location contract puts it (IL402: at the
    # dead init, in another file) with the line the maintainer named among its related locations
    related = {(p, row, f["code"]) for f in shown for p, row in f.get("related", ())}
    j.not_found = [v for v in verdicts.values() if v.path.split("/", 1)[0] == name
                   and v.verdict in ("true", "missed") and v.key not in seen
                   and not (v.verdict == "missed" and v.key in related)]
    return j


def main() -> int:
    verdicts = load_verdicts()
    bad = 0
    for name in zoo.PINS:
        findings = lint_zoo(name)
        j = judge(name, findings, verdicts)
        counts = collections.Counter((f["code"], f["severity"]) for f in findings)
        print(f"{name}: {len(j.shown)} shown, precision {j.precision:.2f}; all findings by code: "
              f"{sorted(counts.items())}")
        for line in j.failures():
            print("  " + line)
            bad += 1
        if "--new" in sys.argv:
            for f in j.unjudged:
                print(f"{f['path']}\t{f['row']}\t{f['code']}\t{f['severity']}\tTODO\t{f['message']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
