"""How much of each model class the analysis resolves, on the pinned zoos.

For every nn.Module class: *fully* (every submodule built), *partly* (some submodule could
not be built: a config object's class, a factory the evaluator cannot see), *none*
(nothing built, or the evaluation ran out of budget). Two columns: the fact extractor with
its project index (`old`: a class is complete when every attribute's layer kind and every
instance below it resolved), and the abstract interpreter (`new`: `initlint.evaluate`).
Also the time each takes and the most common reasons the evaluator gives for `Unknown`.

    python bench/eval_coverage.py [--zoo timm] [--top 15]
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "realworld"))


def new_core(paths: list[str], texts: dict) -> tuple[collections.Counter, collections.Counter,
                                                     tuple, list]:
    from initlint.evaluate import ClassV, Interpreter, Project

    t0 = time.perf_counter()
    gc.disable()  # many long-lived trees: the collector would rescan them on every pass
    project = Project.from_sources({p: texts[p] for p in paths})
    t_parse = time.perf_counter() - t0
    gc.freeze()
    gc.enable()
    ev = Interpreter(project)
    counts: collections.Counter = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    crashes = []
    for src, name in list(project.classes()):
        c = project.lookup_global(src, name)
        if not isinstance(c, ClassV) or not ev.is_module_class(c):
            continue
        try:
            res = ev.build(c)
        except Exception as exc:  # reported: an evaluator bug, counted as "none"
            crashes.append(f"{c.qualname}: {type(exc).__name__}: {exc}")
            counts["none"] += 1
            continue
        counts[res.status] += 1
        if res.error:
            reasons[res.error] += 1
        elif res.module is not None:
            for _, m in res.module.named_modules():
                for u in m.unknowns:
                    reasons[u.split(": ", 1)[-1].split(" ")[0] + " " + _kind(u)] += 1
    return counts, reasons, (t_parse, time.perf_counter() - t0 - t_parse), crashes


def _kind(u: str) -> str:
    tail = u.split(": ", 1)[-1]
    return tail.split(" ", 1)[1] if " " in tail else ""


def old_core(paths: list[str], texts: dict) -> tuple[collections.Counter, float]:
    from initlint.engine import analyze_file
    from initlint.analysis.index import Index

    t0 = time.perf_counter()
    facts = [analyze_file(p, p, texts[p].encode()).facts for p in paths]
    idx = Index([f for f in facts if f is not None])
    counts: collections.Counter = collections.Counter()
    for cls in idx.all_classes():
        if not idx.is_module(cls):
            continue
        insts, complete = idx.instances(cls)
        if complete and not cls.unknown_attrs:
            counts["fully"] += 1
        elif insts or cls.params:
            counts["partly"] += 1
        else:
            counts["none"] += 1
    return counts, time.perf_counter() - t0


def main() -> int:
    import zoo

    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", action="append", choices=sorted(zoo.PINS))
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--no-old", action="store_true")
    a = ap.parse_args()
    for name in a.zoo or sorted(zoo.PINS):
        root, paths = zoo.files(name)
        texts = {}
        for p in paths:
            with open(p, encoding="utf-8") as fh:
                texts[p] = fh.read()
        print(f"## {name} {zoo.PINS[name]}: {len(paths)} files")
        if not a.no_old:
            old, t_old = old_core(paths, texts)
            print(f"old core: fully {old['fully']} / partly {old['partly']} / none "
                  f"{old['none']}  ({t_old:.1f} s, facts + index)")
        new, reasons, t_new, crashes = new_core(paths, texts)
        print(f"evaluator: fully {new['fully']} / partly {new['partly']} / none "
              f"{new['none']}  (parse {t_new[0]:.1f} s + evaluate {t_new[1]:.1f} s, every "
              f"class built)")
        for crash in crashes[:5]:
            print("  CRASH", crash)
        print("  most common Unknown:", ", ".join(f"{r.strip()} ({n})" for r, n in
                                                reasons.most_common(a.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
