"""The evaluator never raises on real and hostile model code: every class of every fixture
and test-data file is built, its forward evaluated, every file run as a script."""

import glob
import os

import pytest

from initlint.evaluate import ClassV, Interpreter, Project

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = sorted(glob.glob(os.path.join(ROOT, "fixtures", "**", "*.py"), recursive=True)
               + glob.glob(os.path.join(ROOT, "tests", "data", "**", "*.py"), recursive=True))


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_class_builds_without_raising(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        text = fh.read()
    project = Project.from_sources({path: text})
    ev = Interpreter(project, budget=50_000)
    for src in project.files.values():
        ev.run_script(src)
        for name in list(src.defs):
            c = project.lookup_global(src, name)
            if isinstance(c, ClassV) and ev.is_module_class(c):
                res = ev.build(c)
                assert res.status in ("fully", "partly", "none")
                if res.module is not None:
                    ev.forward_graph(res.module)


def test_fixture_models_are_mostly_fully_resolved():
    """The fixture models (one package, imports across its files) are plain PyTorch: the
    evaluator must build nearly all of them completely."""
    paths = sorted(glob.glob(os.path.join(ROOT, "fixtures", "models", "*.py")))
    texts = {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            texts[path] = fh.read()
    project = Project.from_sources(texts)
    ev = Interpreter(project)
    counts = {"fully": 0, "partly": 0, "none": 0}
    for src in project.files.values():
        for name in list(src.defs):
            c = project.lookup_global(src, name)
            if isinstance(c, ClassV) and ev.is_module_class(c):
                counts[ev.build(c).status] += 1
    assert sum(counts.values()) >= 15 and counts["fully"] >= 0.9 * sum(counts.values()), counts
