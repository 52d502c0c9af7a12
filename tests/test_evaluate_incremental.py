"""Incremental evaluation: an edit re-evaluates only the classes whose dependency set holds the
edited file, and what it gives is what a cold run gives (differential tests over the bundled
fixtures and the zoo's multi-file packages)."""

from __future__ import annotations

import glob
import os
import random
import re

import pytest

from conftest import ROOT
from initlint.evaluate.incremental import Session
from initlint.evaluate.summary import Opaque

KEY = b"k" * 32
HDR = "import torch\nimport torch.nn as nn\n"

BLOCK = HDR + """
class Block(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.fc = nn.Linear(d, d)
        nn.init.xavier_uniform_(self.fc.weight)
"""
NET = HDR + """from pkg.a import Block

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(8, 2)
"""
OTHER = HDR + """
class Other(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
"""


def tree(**files) -> dict:
    return {f"pkg/{name}.py": text for name, text in files.items()}


def session(tmp_path) -> Session:
    return Session(str(tmp_path / "store"), KEY)


def cold(sources: dict) -> dict:
    return {k: r.comparable() for k, r in Session(None, None).run(sources).results.items()}


def final_kind(run, key: str, param: str) -> str:
    return run.results[key].params[param][1][-1].kind


def test_unchanged_tree_reuses_every_class_and_parses_nothing(tmp_path):
    src = tree(a=BLOCK, b=NET, c=OTHER)
    s = session(tmp_path)
    first = s.run(src)
    assert (first.evaluated, first.reused, first.parsed) == (3, 0, 3)
    again = session(tmp_path).run(src)  # a new process: everything comes from the store
    assert (again.evaluated, again.reused, again.parsed, again.loaded) == (0, 3, 0, 0)
    assert {k: r.comparable() for k, r in again.results.items()} == cold(src)


def test_edit_reevaluates_only_the_classes_that_read_the_file(tmp_path):
    src = tree(a=BLOCK, b=NET, c=OTHER)
    session(tmp_path).run(src)
    edited = dict(src, **{"pkg/a.py": BLOCK.replace("xavier_uniform_", "zeros_")})
    run = session(tmp_path).run(edited)
    assert run.evaluated == 2 and run.reused == 1  # Block and Net, not Other
    assert final_kind(run, "pkg/b.py::Net", "block.fc.weight") == "zero"
    assert final_kind(run, "pkg/a.py::Block", "fc.weight") == "zero"
    assert {k: r.comparable() for k, r in run.results.items()} == cold(edited)
    # an edit to the independent file touches nothing else
    run = session(tmp_path).run(dict(edited, **{"pkg/c.py": OTHER.replace("3, 3", "3, 5")}))
    assert run.evaluated == 1 and run.reused == 2
    assert run.results["pkg/c.py::Other"].params["fc.weight"][0] == (5, 3)


def test_base_class_constant_and_class_attribute_in_other_files_are_dependencies(tmp_path):
    src = tree(
        consts=HDR + "WIDTH = 4\n",
        base=HDR + """from pkg.consts import WIDTH

class Base(nn.Module):
    act = nn.ReLU

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(WIDTH, WIDTH)
        self.act1 = self.act()
""",
        derived=HDR + "from pkg.base import Base\n\nclass Derived(Base):\n    pass\n",
    )
    session(tmp_path).run(src)
    for path, old, new in [("pkg/consts.py", "WIDTH = 4", "WIDTH = 16"),
                           ("pkg/base.py", "act = nn.ReLU", "act = nn.Tanh")]:
        src = dict(src, **{path: src[path].replace(old, new)})
        run = session(tmp_path).run(src)
        assert {k: r.comparable() for k, r in run.results.items()} == cold(src), path
    derived = run.results["pkg/derived.py::Derived"]
    assert derived.params["fc.weight"][0] == (16, 16)
    assert ("act1", "torch.nn.Tanh", "tanh", False) in derived.modules


def test_star_import_gaining_a_name_is_seen(tmp_path):
    src = tree(
        __init__="from pkg.layers import *\n",
        layers=HDR + "class Helper:\n    pass\n",
        net=HDR + "from pkg import *\n\nclass Net(nn.Module):\n    def __init__(self):\n"
                  "        super().__init__()\n        self.l = Layer(2, 2)\n",
    )
    first = session(tmp_path).run(src)
    assert first.results["pkg/net.py::Net"].status != "fully"
    src = dict(src, **{"pkg/layers.py": HDR + "class Layer(nn.Linear):\n    pass\n"})
    run = session(tmp_path).run(src)
    assert {k: r.comparable() for k, r in run.results.items()} == cold(src)
    assert run.results["pkg/net.py::Net"].status == "fully"


def test_added_file_drops_every_result_and_bad_store_is_a_cold_run(tmp_path):
    src = tree(a=BLOCK, b=NET)
    session(tmp_path).run(src)
    run = session(tmp_path).run(dict(src, **{"pkg/c.py": OTHER}))
    assert run.evaluated == 3 and run.reused == 0
    index = tmp_path / "store" / "index.pickle"
    index.write_bytes(index.read_bytes()[:-5] + b"xxxxx")  # tampered: the seal fails
    run = session(tmp_path).run(dict(src, **{"pkg/c.py": OTHER}))
    assert run.evaluated == 3 and run.reused == 0
    other_key = Session(str(tmp_path / "store"), b"z" * 32).run(src)  # not our key
    assert other_key.reused == 0


def test_a_file_that_stops_parsing_keeps_the_others(tmp_path):
    src = tree(a=BLOCK, b=NET, c=OTHER)
    session(tmp_path).run(src)
    run = session(tmp_path).run(dict(src, **{"pkg/c.py": "class Other(nn.Module:\n"}))
    assert run.reused == 2 and "pkg/c.py::Other" not in run.results


def test_records_keep_no_abstract_values():
    run = Session(None, None).run(tree(a=BLOCK.replace("nn.Linear(d, d)", "nn.Linear(d, cfg.n)")
                                          .replace("d=8", "d=8, cfg=None")))
    shape = run.results["pkg/a.py::Block"].params["fc.weight"][0]
    assert shape[1] == 8 and isinstance(shape[0], Opaque)


# ---------------------------------------------------------------------- differential
_EDITS = [(r"xavier_uniform_", "kaiming_normal_"), (r"nn\.ReLU\b", "nn.Tanh"),
          (r"\b(\d+)\b", lambda m: str(int(m.group(1)) + 1)), (r"zeros_", "ones_")]


def _differential(tmp_path, sources: dict, rounds: int, seed: int) -> int:
    """Random edits, one file at a time: after each, the incremental run must equal a cold
    run of the same tree. Returns how many classes were reused in all (the point of it)."""
    rng = random.Random(seed)
    s = Session(str(tmp_path / "store"), KEY)
    s.run(sources)
    reused = 0
    for _ in range(rounds):
        path = rng.choice(sorted(sources))
        pattern, repl = rng.choice(_EDITS)
        text, n = re.subn(pattern, repl, sources[path], count=3)
        if not n:
            continue
        sources = dict(sources, **{path: text})
        run = Session(str(tmp_path / "store"), KEY).run(sources)
        reused += run.reused
        got = {k: r.comparable() for k, r in run.results.items()}
        assert got == cold(sources), f"incremental != cold after editing {path} ({pattern})"
    return reused


def test_differential_on_the_bundled_fixtures(tmp_path):
    paths = sorted(glob.glob(os.path.join(ROOT, "fixtures", "**", "*.py"), recursive=True))
    sources = {os.path.relpath(p, ROOT): open(p, encoding="utf-8").read() for p in paths}
    assert _differential(tmp_path, sources, rounds=12, seed=1) > 0


@pytest.mark.realworld
def test_differential_on_a_zoo_package(tmp_path):
    import sys

    sys.path.insert(0, os.path.join(ROOT, "tests", "realworld"))
    import zoo

    try:
        base = zoo.fetch("torchvision")
    except zoo.ZooUnavailable as exc:
        pytest.fail(f"zoo unavailable: {exc}")
    paths = sorted(glob.glob(os.path.join(base, "torchvision", "models", "*.py")))
    sources = {os.path.relpath(p, base): open(p, encoding="utf-8").read() for p in paths}
    assert _differential(tmp_path, sources, rounds=6, seed=2) > 0


def test_streaming_runs_skip_unchanged_files_and_stay_exact(tmp_path):
    """keep=False (results to the store only): a file none of whose classes read an edited
    file is not even opened; a later run that returns results gives what a cold run gives."""
    src = tree(a=BLOCK, b=NET, c=OTHER)
    assert session(tmp_path).run(src, keep=False).results == {}
    edited = dict(src, **{"pkg/a.py": BLOCK.replace("d=8", "d=6")})
    run = session(tmp_path).run(edited, keep=False)
    assert (run.evaluated, run.reused) == (2, 1)
    full = session(tmp_path).run(edited)
    assert full.evaluated == 0
    assert {k: r.comparable() for k, r in full.results.items()} == cold(edited)
    assert full.results["pkg/b.py::Net"].params["block.fc.weight"][0] == (6, 6)
