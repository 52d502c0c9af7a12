"""The evaluator's incremental store, measured: cold, warm, and one file's code edited,
against `ast.parse` of the same files; and peak memory for one copy of the tree against
three.

    python bench/eval_incremental.py [--zoo transformers] [--runs 3]

Each step is a fresh process (so its peak RSS is its own), repeated --runs times,
interleaved; medians reported:

  floor     read and `ast.parse` every file
  cold      `Session(empty store).run(tree)`: every model class evaluated, the store written
  warm      the same again: nothing changed
  edit      the largest model file's code edited (a layer made wider): the classes that
            read that file run again, the rest are reused
  copies    memory only: cold on one copy of the tree vs three copies in one process

Files are read from the pinned zoo (`tests/realworld/zoo.py`), under virtual paths
`copyN/<package>/...` so that copies are distinct projects with the same relative imports.
Targets (the evaluator issue): edit ≤ 0.1× cold; three copies ≤ 1.3× the memory of one.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "realworld"))

PATTERNS = {
    "timm": ["timm/models/*.py", "timm/layers/*.py"],
    "torchvision": ["torchvision/models/**/*.py"],
    "transformers": ["transformers/models/*/modeling_*.py", "transformers/modeling_utils.py",
                     "transformers/initialization.py", "transformers/activations.py",
                     "transformers/pytorch_utils.py"],
}
TARGET_EDIT, TARGET_COPIES = 0.10, 1.3


class Tree(Mapping):
    """virtual path -> text, read from disk on each access (as a linter reads files: the
    texts of the whole tree are never held at once)."""

    def __init__(self, real: dict, edits: dict | None = None):
        self.real, self.edits = real, edits or {}

    def __getitem__(self, path):
        if path in self.edits:
            return self.edits[path]
        with open(self.real[path], encoding="utf-8") as fh:
            return fh.read()

    def __iter__(self):
        return iter(self.real)

    def __len__(self):
        return len(self.real)


def tree(zoo: str, copies: int = 1) -> Tree:
    import zoo as zoomod

    base = zoomod.fetch(zoo)
    paths = sorted({p for pat in PATTERNS[zoo]
                    for p in glob.glob(os.path.join(base, pat), recursive=True)})
    inits = sorted(glob.glob(os.path.join(base, zoo, "**", "__init__.py"), recursive=True))
    real = {}
    for p in sorted(set(paths) | set(inits)):
        for i in range(copies):
            real[os.path.join(f"copy{i}", os.path.relpath(p, base))] = p
    return Tree(real)


def edited(sources: Tree) -> Tree:
    """The largest model file with its first positional `nn.Linear(a, ...)` made twice as
    wide (a change to what it builds, not a comment)."""
    import ast

    for path in sorted((p for p in sources if "/models/" in p),
                       key=lambda p: -os.path.getsize(sources.real[p])):
        text, n = re.subn(r"nn\.Linear\(([^,()=]+),", r"nn.Linear(2 * \1,", sources[path],
                          count=1)
        if n:
            ast.parse(text)  # still Python
            return Tree(sources.real, {path: text})
    raise SystemExit("no model file builds an nn.Linear with a positional width")


def worker(step: str, zoo: str, store: str) -> dict:
    import ast
    import resource
    import time

    copies = 3 if step == "copies3" else 1
    sources = tree(zoo, copies)
    if step == "edit":
        sources = edited(sources)
    t0 = time.perf_counter()
    out: dict = {"files": len(sources)}
    if step == "floor":
        for p in sources:
            ast.parse(sources[p], filename=p)
    else:
        from initlint.evaluate.incremental import Session

        key = b"bench-key-" + b"0" * 22
        run = Session(store if step in ("cold", "warm", "edit") else None, key).run(
            sources, keep=False)
        out.update(evaluated=run.evaluated, reused=run.reused, parsed=run.parsed,
                   loaded=run.loaded, classes=run.evaluated + run.reused)
    out["seconds"] = time.perf_counter() - t0
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def step(name: str, zoo: str, store: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, zoo, store]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode:
        raise SystemExit(f"{name} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default="transformers", choices=sorted(PATTERNS))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return 0
    rows: dict = {k: [] for k in ("floor", "cold", "warm", "edit", "copies1", "copies3")}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as store:
            for name in ("floor", "cold", "warm", "edit", "copies1", "copies3"):
                rows[name].append(step(name, args.zoo, store))
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in rows.items()}
    mem = {k: statistics.median(r["maxrss_mb"] for r in v) for k, v in rows.items()}
    last = {k: v[-1] for k, v in rows.items()}
    print(f"{args.zoo}: {last['floor']['files']} files, {last['cold']['classes']} classes; "
          f"median of {args.runs}")
    print(f"{'step':8} {'seconds':>8} {'× floor':>8} {'× cold':>7} {'MB':>6}  evaluated/reused/"
          "parsed/loaded")
    for k in ("floor", "cold", "warm", "edit", "copies1", "copies3"):
        r = last[k]
        counts = "/".join(str(r.get(x, "-")) for x in ("evaluated", "reused", "parsed", "loaded"))
        print(f"{k:8} {med[k]:8.2f} {med[k] / med['floor']:8.2f} {med[k] / med['cold']:7.2f} "
              f"{mem[k]:6.0f}  {counts}")
    edit_ratio, copies_ratio = med["edit"] / med["cold"], mem["copies3"] / mem["copies1"]
    ok = edit_ratio <= TARGET_EDIT and copies_ratio <= TARGET_COPIES
    print(f"edit/cold {edit_ratio:.3f} (target ≤ {TARGET_EDIT}); memory 3 copies / 1 "
          f"{copies_ratio:.2f}× (target ≤ {TARGET_COPIES})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
