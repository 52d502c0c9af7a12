"""Corpus run: lint the whole standard library and the test environment's site-packages,
every file (no default excludes), as a real subprocess with `--exit-zero --no-cache`.

- no internal error (nothing on stderr says so, exit status 0), no traceback;
- every file Python's own parser rejects is reported as IL001, at the row Python gives, and
  no file Python accepts is (the oracle is `ast.parse` on the raw bytes, run here, in a
  process pool);
- prints the number of files linted, the IL001 count and the wall time.

Slow (about a minute or two on 2 cores): marked `corpus`; `pytest -m "not corpus"` skips it.
"""

from __future__ import annotations

import ast
import gc
import json
import os
import sys
import sysconfig
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import pytest

from conftest import run_cli
from initlint import source, suppress
from initlint.config import load
from initlint.discover import discover
from initlint.engine import _PREFILTER

pytestmark = pytest.mark.corpus


def corpus_roots() -> list[str]:
    """The stdlib's entries (without its site-packages) and this environment's
    site-packages."""
    paths = sysconfig.get_paths()
    site = []
    for key in ("purelib", "platlib"):
        p = os.path.realpath(paths[key])
        if os.path.isdir(p) and p not in site:
            site.append(p)
    stdlib = os.path.realpath(paths["stdlib"])
    roots = []
    for name in sorted(os.listdir(stdlib)):
        full = os.path.join(stdlib, name)
        if name in ("site-packages", "dist-packages") or full in site:
            continue
        if os.path.isdir(full) or name.endswith((".py", ".pyi")):
            roots.append(full)
    return roots + site


def python_verdict(path: str):
    """What CPython itself says about a file: None (fine), or (reason, row)."""
    gc.disable()  # millions of short-lived nodes: collections only cost time
    try:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return ("unreadable", 1, str(exc))
        if len(data) > source.max_source_bytes():
            try:
                text = source.decode(data, path)
            except source.SourceError:
                return ("undecodable", 1, "")
            return ("too large", 1, "") if any(t in text for t in _PREFILTER) else None
        try:
            text = source.decode(data, path)
        except source.SourceError:
            text = None
        if text is not None and suppress.skip_file(text):
            return None  # `# initlint: skip-file`: not read further, by request
        try:
            ast.parse(data)  # bytes: CPython's own coding-cookie and BOM handling
        except (SyntaxError, ValueError) as exc:
            return ("syntax", max(getattr(exc, "lineno", 1) or 1, 1), str(exc))
        except (RecursionError, MemoryError) as exc:
            return ("nested", 1, type(exc).__name__)
        return None
    finally:
        gc.enable()


def test_stdlib_and_site_packages(tmp_path):
    roots = corpus_roots()
    cfg_file = tmp_path / "initlint.toml"
    cfg_file.write_text("exclude = []\n")  # every file, even under build/ or dist/
    cfg = load(str(cfg_file))
    targets, missing = discover(roots, cfg)
    assert not missing
    files = [t.path for t in targets]
    assert len(files) > 1000, "the corpus should hold the whole standard library"

    t0 = time.perf_counter()
    proc = run_cli(*roots, "--exit-zero", "--no-cache", "--output-format", "json",
                   "--config", str(cfg_file), cwd=tmp_path)
    wall = time.perf_counter() - t0
    err = proc.stderr.decode("utf-8", "replace")
    assert "internal error" not in err, err[-5000:]
    assert "Traceback" not in err, err[-5000:]
    assert proc.returncode == 0, err[-5000:]
    found = json.loads(proc.stdout)

    il001 = {f["filename"]: f for f in found if f["code"] == "IL001"}
    for f in il001.values():
        assert f["location"]["row"] >= 1 and f["location"]["column"] >= 1, f
        assert f["message"], f

    t1 = time.perf_counter()
    plain = [p for p in files if not p.endswith(".ipynb")]
    with ProcessPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        verdicts = dict(zip(plain, pool.map(python_verdict, plain, chunksize=64)))
    oracle_s = time.perf_counter() - t1
    rejected = {p: v for p, v in verdicts.items() if v is not None}

    # both ways: every file Python rejects is IL001, every IL001 on a plain file is one
    # Python rejects (notebooks are judged by initlint alone: Python has no oracle for them)
    reported_plain = {p for p in il001 if not p.endswith(".ipynb")}
    assert sorted(set(rejected) - reported_plain) == [], "unparsable files not reported"
    assert sorted(reported_plain - set(rejected)) == [], "IL001 on files Python accepts"
    wrong_rows = {p: (il001[p]["location"]["row"], v[1]) for p, v in rejected.items()
                  if v[0] == "syntax" and il001[p]["location"]["row"] != v[1]}
    assert wrong_rows == {}, "IL001 row differs from the row CPython reports"

    by_code = Counter(f["code"] for f in found)
    print(f"\ncorpus: {len(files)} files linted ({sum(os.path.getsize(p) for p in files) / 1e6:.0f} MB) "
          f"from {len(roots)} roots under {sysconfig.get_paths()['stdlib']} and site-packages; "
          f"IL001: {len(il001)}; wall time {wall:.1f} s on {os.cpu_count()} cores "
          f"(oracle parse {oracle_s:.1f} s); findings by code: {dict(sorted(by_code.items()))}")
    for p in sorted(il001):
        print(f"  IL001 {p}:{il001[p]['location']['row']}: {il001[p]['message'][:100]}")
