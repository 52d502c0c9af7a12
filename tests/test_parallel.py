"""The process pool (`initlint.parallel`): results equal the serial ones, in order, whatever
the worker count, the start method or a worker crashing; small inputs stay in-process."""

import json
import os
import textwrap

import pytest

from conftest import run_cli
from initlint import engine, parallel
from initlint.config import Config
from initlint.discover import Target, discover

MODEL = textwrap.dedent("""\
    import torch.nn as nn


    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)


    class Net{n}(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear({width}, {width})
            self.act = nn.ReLU()
            self.fc2 = nn.Linear({width}, 10)
            nn.init.normal_(self.fc1.weight)
            self.apply(init_weights)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))
""")

# one file subclasses a class from another: cross-file results must survive the pool
BASE = textwrap.dedent("""\
    import torch.nn as nn


    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 16)
            self.act = nn.ReLU()
            self.out = nn.Linear(16, 16)

        def forward(self, x):
            return self.out(self.act(self.fc(x)))
""")
SUB = textwrap.dedent("""\
    import torch.nn as nn

    from base import Block


    class Net(Block):
        def __init__(self):
            super().__init__()
            nn.init.xavier_uniform_(self.fc.weight)
""")


def make_tree(root, count=40):
    """`count` model files of varied size (padding comments), plus the odd ones out."""
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for n in range(count):
        pad = "".join(f"# padding line {i} {'x' * 60}\n" for i in range(40 + 23 * (n % 7)))
        (pkg / f"model_{n:02d}.py").write_text(MODEL.format(n=n, width=8 * (n + 1)) + pad)
    (root / "base.py").write_text(BASE)
    (root / "sub.py").write_text(SUB)
    (root / "broken.py").write_text("def f(:\n    pass\n")  # IL001
    (root / "latin1.py").write_bytes(b"# coding: ascii\nx = '\xe9'\n")  # cannot decode
    (root / "skipped.py").write_text("# initlint: skip-file\nimport torch\n")
    (root / "plain.py").write_text("print('no torch here')\n")
    (root / "nb.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": ["import torch.nn as nn\n", "%matplotlib inline\n",
                                         "lin = nn.Linear(4, 4)\n"]}], "nbformat": 4}))
    return root


def norm(r):
    """A FileResult as plain data (SourceError compares by identity)."""
    err = r.error
    return (r.path, r.display, r.facts, None if err is None else
            (type(err).__name__, err.message, err.row, err.col), r.suppress, r.skip,
            r.cell_map, r.internal_error, r.context)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the pool tests ask for 2 workers; --jobs is capped at the cores, so give them 2
    cores = parallel.available_cores()
    monkeypatch.setattr(parallel, "available_cores", lambda: max(cores, 2))
    return make_tree(tmp_path)


@pytest.fixture
def pool_calls(monkeypatch):
    """Each run_pool call: (files given, files left over for the parent)."""
    calls = []
    real = parallel.run_pool

    def spy(items, sizes, workers, want_hash, sink):
        left = real(items, sizes, workers, want_hash, sink)
        calls.append((len(items), len(left)))
        return left

    monkeypatch.setattr(parallel, "run_pool", spy)
    return calls


def targets_of(root) -> list[Target]:
    targets, missing = discover([str(root)], Config())
    assert not missing
    return targets


@pytest.mark.parametrize("jobs", [2, 3])
def test_pool_results_equal_serial_results_in_order(tree, pool_calls, jobs):
    targets = targets_of(tree)
    assert len(targets) > 45
    serial = [engine.analyze_file(t.path, t.display) for t in targets]
    pooled = parallel.make_analyzer(jobs, Config(), use_cache=False)(targets)
    assert pool_calls == [(len(targets), 0)]  # the pool did all of it
    assert [norm(r) for r in pooled] == [norm(r) for r in serial]
    assert [r.display for r in pooled] == [t.display for t in targets]
    assert any(r.error is not None for r in pooled) and any(r.skip for r in pooled)
    assert any(r.cell_map for r in pooled)


def test_cached_pool_run_equals_serial(tree, pool_calls):
    targets = targets_of(tree)
    serial = [norm(engine.analyze_file(t.path, t.display)) for t in targets]
    first = parallel.make_analyzer(2, Config(), use_cache=True)(targets)
    second = parallel.make_analyzer(2, Config(), use_cache=True)(targets)
    assert pool_calls == [(len(targets), 0)]  # the second run never started a pool
    assert [norm(r) for r in first] == serial == [norm(r) for r in second]


def test_small_inputs_stay_in_process(tmp_path, monkeypatch, pool_calls):
    monkeypatch.chdir(tmp_path)
    for n in range(3):
        (tmp_path / f"m{n}.py").write_text(MODEL.format(n=n, width=8))
    targets = targets_of(tmp_path)
    out = parallel.make_analyzer(0, Config(), use_cache=False)(targets)
    assert pool_calls == []
    assert [norm(r) for r in out] == [norm(engine.analyze_file(t.path, t.display))
                                      for t in targets]


def test_one_job_never_starts_a_pool(tree, pool_calls):
    parallel.make_analyzer(1, Config(), use_cache=False)(targets_of(tree))
    assert pool_calls == []


def test_jobs_zero_means_every_available_core():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert parallel.worker_count(0) == cores
    assert parallel.worker_count(1) == 1
    assert parallel.worker_count(3) == min(3, cores)
    assert parallel.worker_count(1000) == cores  # --jobs 1000 never starts 1000 processes
    assert parallel.make_analyzer(0, Config(), False).workers == cores


def test_chunks_are_largest_first_and_cover_everything():
    items = list(range(50))
    sizes = [(i * 37) % 101 + 1 for i in items]
    chunks = parallel._chunks(items, sizes, workers=2)
    flat = [i for c in chunks for i in c]
    assert sorted(flat) == items
    assert [sizes[i] for i in flat] == sorted(sizes, reverse=True)
    assert 6 <= len(chunks) <= 2 * parallel.CHUNKS_PER_WORKER + 1


def test_crashed_worker_loses_nothing(tree, monkeypatch, pool_calls):
    """A worker killed mid-run (here: os._exit on one file): the parent finishes the files
    the pool did not deliver, and the results are still complete and in order."""
    parent = os.getpid()
    real = parallel.analyze_file

    def dies_in_worker(path, display, data=None):
        if os.getpid() != parent and path.endswith("model_07.py"):
            os._exit(3)
        return real(path, display, data)

    monkeypatch.setattr(parallel, "analyze_file", dies_in_worker)
    targets = targets_of(tree)
    out = parallel.make_analyzer(2, Config(), use_cache=False)(targets)
    assert len(pool_calls) == 1 and pool_calls[0][1] > 0  # something was left to the parent
    assert [norm(r) for r in out] == [norm(real(t.path, t.display)) for t in targets]


def test_spawn_start_method_works(tree, monkeypatch, pool_calls):
    """Where fork is unavailable or unsafe (macOS, Windows, threads), workers are spawned."""
    import multiprocessing as mp

    monkeypatch.setattr(parallel, "_mp_context", lambda: (mp.get_context("spawn"), False))
    targets = targets_of(tree)
    out = parallel.make_analyzer(2, Config(), use_cache=False)(targets)
    assert pool_calls == [(len(targets), 0)]
    assert [norm(r) for r in out] == [norm(engine.analyze_file(t.path, t.display))
                                      for t in targets]


def test_cross_file_findings_same_with_any_job_count(tree):
    """The real CLI, as a subprocess: --jobs 1 and --jobs 2 print the same report, which
    includes a finding that needs two files (sub.py's init on base.py's layer)."""
    one = run_cli(".", "--no-cache", "--jobs", "1", "--output-format", "json", cwd=tree)
    two = run_cli(".", "--no-cache", "--jobs", "2", "--output-format", "json", cwd=tree)
    assert one.returncode == two.returncode == 1, one.stderr
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert a == b
    codes = {(os.path.basename(f["filename"]), f["code"]) for f in a}
    assert ("sub.py", "IL101") in codes and ("broken.py", "IL001") in codes
    assert sum(1 for f in a if f["filename"].endswith(".py") and "model_" in f["filename"]) >= 40


def test_benchmark_harness_on_a_small_corpus(tmp_path):
    """bench/run.py's measuring loop, end to end on a tiny corpus (the real corpora are
    fetched with pip and take minutes): every step runs, outputs agree, ratios come out."""
    import argparse
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(ROOT, "bench", "run.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_tree(corpus, count=12)
    files = sorted(os.path.relpath(os.path.join(d, f), corpus)
                   for d, _, fs in os.walk(corpus) for f in fs if f.endswith(".py"))
    args = argparse.Namespace(runs=1, jobs=0, references=False, torchfix_max_files=0)
    r = bench.measure("tiny", "0", str(corpus), files, args, str(tmp_path / "scratch"))
    assert r["outputs_identical"], "initlint variants disagreed"
    assert r["output_lines"] > 12
    assert set(r["median_s"]) == {"floor", "cold1", "coldN", "fill", "warm", "edit", "recode"}
    # a comment changes no facts: the join is reused; a new function does: it runs
    assert r["join_cpu_s"]["warm"] == "memo" and r["join_cpu_s"]["edit"] == "memo"
    assert isinstance(r["join_cpu_s"]["recode"], float)
    assert all(v > 0 for v in r["median_s"].values())
    assert set(r["ratios"]) >= set(bench.TARGETS)
    text = bench.table([r])
    assert "| initlint, warm cache |" in text and "cold1/floor" in text
    # the edited file is restored afterwards
    assert "initlint-bench edit" not in (corpus / r["edited"]).read_text()
    assert "_initlint_bench_edit_" not in (corpus / r["edited"]).read_text()
