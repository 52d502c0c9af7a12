#!/usr/bin/env python3
"""initlint benchmark: how fast is it on real model zoos, and against what floor?

    python bench/run.py                          # timm, torchvision, transformers; 3 runs each
    python bench/run.py --corpus transformers --runs 5
    python bench/run.py --references             # also ruff / TorchFix when installed
    python bench/run.py --json results.json      # raw numbers too

The corpora are pinned releases fetched with `pip download --no-deps` into `.bench-cache/`
(made once, reused; `--cache-dir` to move it) and unpacked: timm's `models/` and `layers/`,
torchvision's `models/`, transformers' `models/*/modeling_*.py` plus its `modeling_utils`,
`initialization`, `activations` and `pytorch_utils`. The rest of each package is unpacked
too (so that `__init__.py` files give the right module names) but not linted.

Per corpus, on the same files, each step is a fresh process, timed wall-clock (median of
`--runs`); repetitions are interleaved (floor, cold, cold, warm, edited, floor, ...) so that
a noisy neighbour hits every step alike:

  floor            CPython: read and `ast.parse` every file, nothing else
  cold, 1 process  `initlint --no-cache --jobs 1`
  cold, all cores  `initlint --no-cache` (jobs 0: one worker per core)
  cold, fill cache `initlint` with an empty cache (reported, not a target)
  warm             `initlint` again, nothing changed
  one file edited  `initlint` after appending a comment to the corpus's largest file (its
                   facts stay the same: the file is analysed again, the join is reused)
  code edited      `initlint` after appending a function to that file (its facts change:
                   the project join runs again; reported, not a target)
  ruff, TorchFix   reference points, with `--references`, when installed

Memory: the largest resident set of any process of the run (`os.wait4`'s rusage, the same
number `getrusage(RUSAGE_CHILDREN)` gives) and the peak of the whole process tree's RSS,
sampled from /proc every 10 ms (Linux only).

initlint runs from a copy of the checkout's `initlint/` taken at the start
(`.bench-cache/snapshot`), so that edits made meanwhile neither mix versions nor void the
cache (its key includes a hash of initlint's own code).

Every initlint variant must print the same findings (appending a comment moves none); the
benchmark checks that and says so. Exit status: 0 when all targets hold, 1 when one is
missed, 2 when the corpus cannot be fetched or a step fails.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PINS = {"timm": "1.0.31", "torchvision": "0.29.1", "transformers": "5.23.0"}
SOURCES = {
    "timm": ["timm/models/**/*.py", "timm/layers/**/*.py"],
    "torchvision": ["torchvision/models/**/*.py"],
    "transformers": ["transformers/models/*/modeling_*.py", "transformers/modeling_utils.py",
                     "transformers/initialization.py", "transformers/activations.py",
                     "transformers/pytorch_utils.py"],
}
# targets (RULES: issue 7), each a ratio measured in the same run
TARGETS = {
    "cold1/floor": 2.0,
    "coldN/cold1": 0.65,
    "warm/coldN": 0.10,
    "edit/coldN": 0.15,
}
MEMORY_TARGET_MB = 300  # on transformers' model sources

FLOOR_CODE = """
import ast, sys
files = open(sys.argv[1], encoding="utf-8").read().splitlines()
for f in files:
    with open(f, "rb") as fh:
        data = fh.read()
    try:
        ast.parse(data)
    except (SyntaxError, ValueError):
        pass
"""


# ---------------------------------------------------------------------- corpora
def fetch(name: str, cache: str, wheelhouse: str | None) -> str:
    """Unpacked sources of the pinned release `name` (downloaded once)."""
    version = PINS[name]
    dest = os.path.join(cache, "src", f"{name}-{version}")
    marker = os.path.join(dest, ".complete")
    if os.path.exists(marker):
        return dest
    wheels = os.path.join(cache, "wheels")
    os.makedirs(wheels, exist_ok=True)
    pattern = f"{name}-{version}-*.whl"
    found = glob.glob(os.path.join(wheels, pattern))
    if not found and wheelhouse:
        for w in glob.glob(os.path.join(wheelhouse, pattern)):
            shutil.copy(w, wheels)
        found = glob.glob(os.path.join(wheels, pattern))
    if not found:
        print(f"bench: pip download --no-deps {name}=={version}", file=sys.stderr)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                               "--only-binary", ":all:", "-d", wheels, f"{name}=={version}"],
                              capture_output=True, text=True, timeout=900)
        found = glob.glob(os.path.join(wheels, pattern))
        if proc.returncode != 0 or not found:
            raise SystemExit(f"bench: cannot fetch {name}=={version}: {proc.stderr.strip()[-400:]}")
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    with zipfile.ZipFile(found[0]) as zf:
        for member in zf.namelist():
            if member.endswith(".py") and member.startswith(f"{name}/"):
                zf.extract(member, dest)
    open(marker, "w").close()
    return dest


def corpus_files(name: str, root: str) -> list[str]:
    out: set[str] = set()
    for pattern in SOURCES[name]:
        out.update(os.path.relpath(p, root)
                   for p in glob.glob(os.path.join(root, pattern), recursive=True))
    return sorted(out)


def prepare_cache_dir(cache: str) -> None:
    os.makedirs(cache, exist_ok=True)
    ignore = os.path.join(cache, ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w") as fh:
            fh.write("# initlint benchmark downloads and scratch space\n*\n")


# ---------------------------------------------------------------------- measuring
class TreeRSS(threading.Thread):
    """Peak of the summed RSS of a process and its descendants, sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.01):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self.stop = threading.Event()
        self.page_kb = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4

    def _tree(self) -> list[int]:
        out, stack = [], [self.pid]
        while stack:
            p = stack.pop()
            out.append(p)
            try:
                for task in os.listdir(f"/proc/{p}/task"):
                    with open(f"/proc/{p}/task/{task}/children") as fh:
                        stack.extend(int(c) for c in fh.read().split())
            except OSError:
                pass
        return out

    def run(self) -> None:
        while not self.stop.is_set():
            total = 0
            for p in self._tree():
                try:
                    with open(f"/proc/{p}/statm") as fh:
                        total += int(fh.read().split()[1]) * self.page_kb
                except (OSError, ValueError, IndexError):
                    pass
            self.peak_kb = max(self.peak_kb, total)
            self.stop.wait(self.interval)


def timed(cmd: list[str], cwd: str, env: dict | None = None) -> dict:
    """Run `cmd`; wall seconds, max RSS (MB) of its largest process, peak tree RSS, output,
    and what initlint says it did (INITLINT_TIMINGS: CPU per process, cache hits, join)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    out_path = os.path.join(cwd, ".bench-stdout")
    timings_path = os.path.join(cwd, ".bench-timings.json")
    full_env["INITLINT_TIMINGS"] = timings_path
    if os.path.exists(timings_path):
        os.unlink(timings_path)
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.PIPE)
        sampler = None
        if os.path.isdir("/proc"):
            sampler = TreeRSS(proc.pid)
            sampler.start()
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
    with open(out_path, "rb") as fh:
        stdout = fh.read()
    os.unlink(out_path)
    info = None
    if os.path.exists(timings_path):
        with open(timings_path, encoding="utf-8") as fh:
            info = json.load(fh)
        os.unlink(timings_path)
    return {"info": info,"seconds": wall, "rc": proc.returncode, "stdout": stdout, "stderr": err,
            "cpu": usage.ru_utime + usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024,
            "tree_mb": sampler.peak_kb / 1024 if sampler and sampler.peak_kb else None}


# ---------------------------------------------------------------------- one corpus
def bench_corpus(name: str, args, cache: str) -> dict:
    root = fetch(name, cache, args.wheelhouse)
    files = corpus_files(name, root)
    if not files:
        raise SystemExit(f"bench: no files for {name} under {root}")
    return measure(name, PINS[name], root, files, args, cache)


def measure(name: str, version: str, root: str, files: list[str], args, cache: str) -> dict:
    """Time every step on `files` (paths relative to `root`), interleaved, `args.runs` times."""
    nbytes = sum(os.path.getsize(os.path.join(root, f)) for f in files)
    nlines = 0
    for f in files:
        with open(os.path.join(root, f), "rb") as fh:
            nlines += fh.read().count(b"\n")
    list_path = os.path.join(root, ".bench-files")
    with open(list_path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(files) + "\n")
    edited = max(files, key=lambda f: os.path.getsize(os.path.join(root, f)))
    edited_path = os.path.join(root, edited)
    with open(edited_path, "rb") as fh:
        # (an interrupted earlier run may have left its edits behind)
        original = re.sub(rb"(?:\n# initlint-bench edit \d+\n|\ndef _initlint_bench_edit_\d+\(x\):"
                          rb"\n    return x\n)+\Z", b"", fh.read())
    cache_dir = os.path.join(cache, "initlint-cache", name)
    if os.path.isdir(cache_dir):
        shutil.rmtree(cache_dir)
    env = {"INITLINT_CACHE_DIR": cache_dir}
    if getattr(args, "snapshot", None):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (args.snapshot,
                                                        os.environ.get("PYTHONPATH")) if p)
    py = sys.executable
    lint = [py, "-m", "initlint", "check", "--exit-zero"]
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    steps: dict[str, list[dict]] = {k: [] for k in
                                    ("floor", "cold1", "coldN", "fill", "warm", "edit", "recode")}
    refs = references(args) if args.references else {}
    for k in refs:
        steps[k] = []
    outputs: dict[str, set] = {}

    def record(step: str, res: dict) -> None:
        if res["rc"] not in ((0, 1) if step in refs else (0,)):  # a reference may find things
            sys.stderr.write(res["stderr"].decode(errors="replace")[-2000:])
            raise SystemExit(f"bench: {step} on {name} exited {res['rc']}")
        steps[step].append(res)
        if step not in ("floor",) and step not in refs:
            outputs.setdefault(step, set()).add(res["stdout"])
        print(f"  {name:<13} {step:<7} {res['seconds']:7.2f} s  {res['maxrss_mb']:6.0f} MB",
              file=sys.stderr)

    print(f"bench: {name}: {len(files)} files, {nlines} lines; edited file: {edited}",
          file=sys.stderr)
    try:
        record("fill", timed(lint + jobs + files, root, env))
        for n in range(args.runs):
            record("floor", timed([py, "-c", FLOOR_CODE, list_path], root))
            record("cold1", timed(lint + ["--no-cache", "--jobs", "1"] + files, root, env))
            record("coldN", timed(lint + ["--no-cache"] + jobs + files, root, env))
            record("warm", timed(lint + jobs + files, root, env))
            with open(edited_path, "ab") as fh:
                fh.write(f"\n# initlint-bench edit {n}\n".encode())
            record("edit", timed(lint + jobs + files, root, env))
            with open(edited_path, "ab") as fh:
                fh.write(f"\ndef _initlint_bench_edit_{n}(x):\n    return x\n".encode())
            record("recode", timed(lint + jobs + files, root, env))
            for ref, cmd in refs.items():
                if ref == "torchfix" and len(files) > args.torchfix_max_files:
                    continue
                record(ref, timed(cmd + files, root))
    finally:
        with open(edited_path, "wb") as fh:
            fh.write(original)
        os.unlink(list_path)
    same = len(set().union(*outputs.values())) == 1
    nfind = next(iter(outputs["cold1"])).count(b"\n")
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in steps.items() if v}
    cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in steps.items() if v}
    mem = {k: max(r["maxrss_mb"] for r in v) for k, v in steps.items() if v}
    tree = {k: max((r["tree_mb"] or 0) for r in v) for k, v in steps.items() if v}
    def crit(r: dict) -> float | None:
        info = r.get("info") or {}
        workers = list((info.get("workers_cpu") or {}).values())
        return info["self_cpu"] + max(workers) if workers and "self_cpu" in info else None

    def join(r: dict):
        return (r.get("info") or {}).get("join")

    critical = [c for c in (crit(r) for r in steps["coldN"]) if c is not None]
    joins = {k: [join(r) for r in v] for k, v in steps.items() if v and k not in ("floor",)}
    join_med = {k: ("memo" if all(j == "memo" for j in v) else
                    statistics.median(j for j in v if isinstance(j, (int, float))))
                for k, v in joins.items() if v and all(j is not None for j in v)}
    info_last = {k: v[-1].get("info") for k, v in steps.items() if v}
    ratios = {
        "cold1/floor": med["cold1"] / med["floor"],
        "coldN/cold1": med["coldN"] / med["cold1"],
        "warm/coldN": med["warm"] / med["coldN"],
        "edit/coldN": med["edit"] / med["coldN"],
        "warm/cold1": med["warm"] / med["cold1"],
        "edit/cold1": med["edit"] / med["cold1"],
        "recode/coldN": med["recode"] / med["coldN"],
    }
    if critical:
        ratios["coldN/cold1 critical path"] = statistics.median(critical) / cpu["cold1"]
    return {"corpus": name, "version": version, "files": len(files), "lines": nlines,
            "bytes": nbytes, "edited": edited, "runs": args.runs, "median_s": med,
            "median_cpu_s": cpu, "join_cpu_s": join_med,
            "coldN_critical_path_cpu_s": statistics.median(critical) if critical else None,
            "cache": {k: {"hits": (i or {}).get("cache_hits"), "misses": (i or {}).get("cache_misses"),
                          "pool": (i or {}).get("pool")} for k, i in info_last.items()},
            "all_s": {k: [round(r["seconds"], 3) for r in v] for k, v in steps.items()},
            "maxrss_mb": mem, "tree_rss_mb": tree, "ratios": ratios,
            "outputs_identical": same, "output_lines": nfind}


def references(args) -> dict[str, list[str]]:
    out = {}
    ruff = shutil.which("ruff")
    if ruff:
        out["ruff"] = [ruff, "check", "--no-cache", "--isolated", "--exit-zero", "--quiet"]
    torchfix = shutil.which("torchfix")
    if torchfix:
        out["torchfix"] = [torchfix, "--select", "ALL"]
    return out


# ---------------------------------------------------------------------- report
LABELS = {
    "floor": "CPython ast.parse (floor)",
    "cold1": "initlint --no-cache --jobs 1",
    "coldN": "initlint --no-cache (all cores)",
    "fill": "initlint, empty cache (fill)",
    "warm": "initlint, warm cache",
    "edit": "initlint, one file edited (comment)",
    "recode": "initlint, one file's code edited",
    "ruff": "ruff check (reference)",
    "torchfix": "TorchFix --select ALL (reference)",
}


def table(results: list[dict]) -> str:
    lines = []
    for r in results:
        lines.append(f"\n### {r['corpus']} {r['version']}: {r['files']} files, {r['lines']:,} lines "
                     f"(median of {r['runs']}; edited: {r['edited']})\n")
        lines.append("| step | seconds | files/s | × floor | CPU s | join CPU s | max RSS (MB) "
                     "| tree RSS (MB) |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for k, label in LABELS.items():
            if k not in r["median_s"]:
                continue
            s = r["median_s"][k]
            tree = r["tree_rss_mb"].get(k)
            j = r["join_cpu_s"].get(k)
            j = "–" if j is None else j if isinstance(j, str) else f"{j:.2f}"
            lines.append(f"| {label} | {s:.2f} | {r['files'] / s:,.0f} | "
                         f"{s / r['median_s']['floor']:.2f} | {r['median_cpu_s'][k]:.2f} | {j} | "
                         f"{r['maxrss_mb'][k]:.0f} | {f'{tree:.0f}' if tree else '–'} |")
        lines.append("")
        lines.append("| ratio | measured | target | |")
        lines.append("| --- | ---: | ---: | --- |")
        for key, target in TARGETS.items():
            v = r["ratios"][key]
            lines.append(f"| {key} | {v:.2f} | ≤ {target:.2f} | {'ok' if v <= target else 'MISSED'} |")
        for key in ("warm/cold1", "edit/cold1", "recode/coldN"):
            lines.append(f"| {key} | {r['ratios'][key]:.2f} | | |")
        if "coldN/cold1 critical path" in r["ratios"]:
            lines.append(f"| coldN/cold1 critical path (CPU of this process + busiest worker, "
                         f"over cold1's CPU: what free cores would give) | "
                         f"{r['ratios']['coldN/cold1 critical path']:.2f} | ≤ 0.65 | |")
        if r["corpus"] == "transformers":
            peak = max(r["maxrss_mb"][k] for k in ("cold1", "coldN", "fill", "warm", "edit", "recode"))
            lines.append(f"| peak RSS, one process (MB) | {peak:.0f} | ≤ {MEMORY_TARGET_MB} | "
                         f"{'ok' if peak <= MEMORY_TARGET_MB else 'MISSED'} |")
        lines.append("")
        lines.append(f"All initlint variants printed identical findings ({r['output_lines']} lines): "
                     f"{'yes' if r['outputs_identical'] else 'NO'}. Cache (last run of each step): "
                     + "; ".join(f"{k} {c['hits']} hits/{c['misses']} misses"
                                 for k, c in r["cache"].items()
                                 if k in ("fill", "warm", "edit", "recode") and c["hits"] is not None)
                     + ".")
    return "\n".join(lines)


def missed(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        for key, target in TARGETS.items():
            if r["ratios"][key] > target:
                out.append(f"{r['corpus']}: {key} = {r['ratios'][key]:.2f} > {target}")
        if r["corpus"] == "transformers":
            peak = max(r["maxrss_mb"][k] for k in ("cold1", "coldN", "fill", "warm", "edit", "recode"))
            if peak > MEMORY_TARGET_MB:
                out.append(f"transformers: peak RSS {peak:.0f} MB > {MEMORY_TARGET_MB} MB")
        if not r["outputs_identical"]:
            out.append(f"{r['corpus']}: initlint variants printed different findings")
    return out


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", action="append", choices=sorted(PINS),
                    help="corpus to run (repeatable; default: all)")
    ap.add_argument("--runs", type=int, default=3, help="repetitions per step (median; ≥ 1)")
    ap.add_argument("--jobs", type=int, default=0, help="--jobs for the parallel steps (0: all cores)")
    ap.add_argument("--cache-dir", default=os.path.join(ROOT, ".bench-cache"),
                    help="downloads, unpacked sources and scratch (default: .bench-cache/)")
    ap.add_argument("--wheelhouse", help="look here for the pinned wheels before downloading")
    ap.add_argument("--references", action="store_true", help="also time ruff and TorchFix if installed")
    ap.add_argument("--torchfix-max-files", type=int, default=200,
                    help="skip TorchFix on larger corpora (it takes minutes)")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be ≥ 1")
    cache = os.path.abspath(args.cache_dir)
    prepare_cache_dir(cache)
    # a kill runs the `finally` that restores the edited file, like Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupted)
    load_before = _load()
    # measure one version of initlint throughout, even while its checkout is being edited
    args.snapshot = os.path.join(cache, "snapshot")
    if os.path.isdir(args.snapshot):
        shutil.rmtree(args.snapshot)
    shutil.copytree(os.path.join(ROOT, "initlint"), os.path.join(args.snapshot, "initlint"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    # byte-compiled, as pip leaves an installed package: where PYTHONDONTWRITEBYTECODE is
    # set, every run would otherwise compile initlint's source again (~0.12 s here)
    subprocess.run([sys.executable, "-m", "compileall", "-q", args.snapshot], check=True)
    results = []
    for name in args.corpus or sorted(PINS):
        results.append(bench_corpus(name, args, cache))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    head = (f"initlint benchmark — Python {sys.version.split()[0]}, {cores} cores, "
            f"{sys.platform}; seconds are wall-clock medians of fresh processes; CPU s is "
            f"user+sys of the process and its workers; load average {load_before} before, "
            f"{_load()} after (other work on the machine slows every step alike)")
    print(head)
    print(table(results))
    miss = missed(results)
    print("\nTargets: " + ("all hold." if not miss else "MISSED: " + "; ".join(miss)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": {"cores": cores, "python": sys.version.split()[0]},
                       "results": results}, fh, indent=2)
    return 1 if miss else 0


if __name__ == "__main__":
    sys.exit(main())
