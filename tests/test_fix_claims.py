"""Fixes verified for what they claim, on live weights (issue 18, items 4-6).

For every fixable finding in the fixture models, one fix at a time: copy the tree, apply that
fix's edits, build every model class of the file before and after (same seed, in a fresh
interpreter) and compare the parameters:

- the fix changes something (a fix that a later init overwrites changes nothing: a lie);
- IL301 (zero the last BatchNorm γ): a γ that was not zero is zero after construction;
- a rewritten init: each changed weight's std is the std of the new init for its shape
  (He: gain/sqrt(fan_in), Xavier: gain·sqrt(2/(fan_in+fan_out)));
- the fix touches one layer definition, unless it is labelled unsafe and says how many layers
  its init call reaches.

Then `--fix --unsafe-fixes` on the whole tree, and the same checks on the result against the
fixes it reports; and the fixes offered are the same whatever set of files is linted.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

pytest.importorskip("torch")

MODELS = os.path.join(ROOT, "fixtures", "models")

STATS = r'''
import importlib, inspect, json, sys
import torch, torch.nn as nn
# `torch.empty` memory (the IL204 fixtures) is filled with NaN, the same in every build: a
# parameter nothing initializes must not look changed because the allocator moved
torch.use_deterministic_algorithms(True)
torch.utils.deterministic.fill_uninitialized_memory = True
sys.path.insert(0, sys.argv[1])
out = {}
for name in sys.argv[2:]:
    mod = importlib.import_module(name)
    for cname, obj in sorted(vars(mod).items()):
        if not (isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == name):
            continue
        try:
            req = [p for p in inspect.signature(obj.__init__).parameters.values()
                   if p.name != "self" and p.default is inspect.Parameter.empty
                   and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            torch.manual_seed(0)
            m = obj(*[8] * len(req))
        except Exception as exc:
            out[f"{name}.{cname}"] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        ps = {}
        for pname, p in m.named_parameters():
            t = p.detach().double()
            fan_in = fan_out = None
            if t.dim() >= 2:
                rf = t[0][0].numel()
                fan_in, fan_out = t.size(1) * rf, t.size(0) * rf
            ps[pname] = {"shape": list(t.shape), "std": float(t.std()) if t.numel() > 1 else 0.0,
                         "mean": float(t.mean()), "zero": bool((t == 0).all()),
                         "sum": float(t.abs().sum()), "fan_in": fan_in, "fan_out": fan_out}
        out[f"{name}.{cname}"] = ps
print(json.dumps(out))
'''


def _modules(tree: str) -> list[str]:
    return sorted(f"models.{n[:-3]}" for n in os.listdir(os.path.join(tree, "models"))
                  if n.endswith(".py") and n not in ("__init__.py", "broken.py"))


def _stats(tree: str, modules: list[str]) -> dict:
    r = subprocess.run([sys.executable, "-c", STATS, tree, *modules], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def _baseline(tree: str, modules: list[str]) -> dict:
    """The stats of the unfixed tree, without what differs between two identical builds
    (`torch.empty` memory that nothing initializes)."""
    one, two = _stats(tree, modules), _stats(tree, modules)
    for model, ps in one.items():
        if "error" not in ps:
            for p in [p for p in ps if _changed({model: {p: ps[p]}}, {model: {p: two[model][p]}})]:
                del ps[p]
    return one


# models that reproduce the campaign's lying fixes: an IL301 fix that the model's own later
# BatchNorm init undoes (the blocks built through a helper and a `block=` default), a fan-in-1
# `randn(d // 2, 1)` "fixed" by `* 1 ** -0.5`, and the IL102 fix of a squeeze-excitation layer
# that rewrites the model's shared `modules()` loop (and every conv with it)
CLAIMS = os.path.join(ROOT, "tests", "data", "claims")


def _copy(tmp_path, name="tree") -> str:
    tree = tmp_path / name
    shutil.copytree(MODELS, tree / "models")
    for n in os.listdir(CLAIMS):
        shutil.copyfile(os.path.join(CLAIMS, n), tree / "models" / n)
    return str(tree)


def _findings(tree: str, *paths: str) -> list[dict]:
    r = subprocess.run([sys.executable, "-m", "initlint", *(paths or ("models",)),
                        "--output-format", "json", "--no-cache"], cwd=tree,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def _apply(path: str, edits: list[dict]) -> None:
    """A fix's edits, as an editor applies a quick fix (last first)."""
    with open(path, encoding="utf-8", newline="") as fh:
        text = fh.read()
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def off(loc):
        return starts[loc["row"] - 1] + loc["column"] - 1

    for e in sorted(edits, key=lambda e: (e["location"]["row"], e["location"]["column"]),
                    reverse=True):
        text = text[:off(e["location"])] + e["content"] + text[off(e["end_location"]):]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _close(a: float, b: float, rel: float = 0.2) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rel * max(abs(b), 1e-12)


def _changed(before: dict, after: dict) -> dict[str, list[str]]:
    out = {}
    for model, ps in after.items():
        old = before.get(model)
        if not isinstance(old, dict) or "error" in old:
            continue
        assert "error" not in ps, f"{model} no longer builds: {ps['error']}"
        diff = [p for p, s in ps.items() if p in old and (
            s["zero"] != old[p]["zero"] or not _close(s["std"], old[p]["std"], 0.05) or
            not _close(s["sum"], old[p]["sum"], 0.05))]
        if diff:
            out[model] = diff
    return out


def _expected_std(fix_message: str, s: dict) -> float | None:
    """The std the fix's new init gives a weight of this shape (None: not an std claim)."""
    fan_in, fan_out = s["fan_in"], s["fan_out"]
    if not fan_in:
        return None
    gain = 1.0
    if 'nonlinearity="relu"' in fix_message:
        gain = math.sqrt(2.0)
    m = re.search(r'nonlinearity="leaky_relu", a=([0-9.e-]+)', fix_message)
    if m:
        gain = math.sqrt(2.0 / (1 + float(m.group(1)) ** 2))
    if 'calculate_gain("tanh")' in fix_message or 'nonlinearity="tanh"' in fix_message:
        gain = 5.0 / 3
    if "kaiming" in fix_message:
        return gain / math.sqrt(fan_in)
    if "xavier" in fix_message:
        return gain * math.sqrt(2.0 / (fan_in + fan_out))
    return None


def _layer_key(param: str) -> str:
    """`layers.2.weight` and `layers.4.weight` are two layers; `blocks.0.conv` and
    `blocks.1.conv` built by one class are one definition (digits dropped)."""
    return re.sub(r"\.\d+(?=\.|$)", ".#", param.rsplit(".", 1)[0])


def _block_gammas(f: dict, after: dict) -> list[tuple[str, bool]]:
    """(where, is zero) for the γ of every instance of the finding's block, in every model
    of its file that contains one (a model's own later init must not undo the fix)."""
    m = re.search(r"block `(\w+)`.*?BatchNorm `([\w.]+)`", f["message"])
    mod = "models." + os.path.basename(f["filename"])[:-3]
    block = after.get(f"{mod}.{m.group(1)}") if m else None
    if not isinstance(block, dict) or "error" in block:
        return []
    gamma = m.group(2) + ".weight"
    out = []
    for model, ps in after.items():
        if not model.startswith(mod + ".") or "error" in ps:
            continue
        for p in ps:
            if p == gamma or p.endswith("." + gamma):
                prefix = p[: len(p) - len(gamma)]
                if all(prefix + q in ps for q in block):  # an instance of the block
                    out.append((f"{model}.{p}", ps[p]["zero"]))
    return out


def _check_claim(f: dict, changed: dict[str, list[str]], after: dict) -> list[str]:
    fix = f["fix"]
    where = f"{f['code']} at {f['filename']}:{f['location']['row']} ({fix['message']})"
    problems = []
    if not changed:
        return [f"{where}: the fix changes no parameter of any model"]
    if f["code"] == "IL301":
        zeroed = [(m, p) for m, ps in changed.items() for p in ps if after[m][p]["zero"]]
        if not zeroed:
            problems.append(f"{where}: no γ is zero after construction ({changed})")
        problems += [f"{where}: {bad} is not zero after construction"
                     for bad in _block_gammas(f, after) if not bad[1]]
    else:
        for m, ps in changed.items():
            for p in ps:
                s = after[m][p]
                want = _expected_std(fix["message"], s)
                if want is not None and not p.endswith("bias") and not _close(s["std"], want):
                    problems.append(f"{where}: {m}.{p} has std {s['std']:.4g}, the new init "
                                    f"gives {want:.4g}")
    # per model (a block class is also a model of its own: `bn2` there is `block.bn2` here)
    layers = max(({_layer_key(p) for p in ps} for ps in changed.values()), key=len)
    if len(layers) > 1:
        if fix["applicability"] != "unsafe" or not re.search(r"\d+ layers", fix["message"]):
            problems.append(f"{where}: changes {len(layers)} layers ({sorted(layers)}) but is "
                            f"`{fix['applicability']}` and does not say how many")
    return problems


def test_each_fix_does_what_it_claims_on_live_weights(tmp_path):
    base = _copy(tmp_path, "base")
    modules = _modules(base)
    before = _baseline(base, modules)
    fixable = [f for f in _findings(base) if f.get("fix")]
    assert len(fixable) >= 4, fixable
    problems = []
    for n, f in enumerate(fixable):
        tree = _copy(tmp_path, f"one{n}")
        _apply(os.path.join(tree, f["filename"]), f["fix"]["edits"])
        mod = "models." + os.path.basename(f["filename"])[:-3]
        after = _stats(tree, [mod])
        problems += _check_claim(f, _changed(before, after), after)
    assert not problems, "\n".join(problems)


def test_fix_all_keeps_every_claim_and_touches_nothing_else(tmp_path):
    tree = _copy(tmp_path)
    modules = _modules(tree)
    before = _baseline(tree, modules)
    offered = [f for f in _findings(tree) if f.get("fix")]
    r = subprocess.run([sys.executable, "-m", "initlint", "models", "--fix", "--unsafe-fixes",
                        "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    assert re.search(r"Fixed \d+ finding", r.stderr), r.stderr
    after = _stats(tree, modules)
    changed = _changed(before, after)
    left = {(f["filename"], f["code"]) for f in _findings(tree)}
    applied = [f for f in offered if (f["filename"], f["code"]) not in left]
    assert applied
    # every changed parameter belongs to a file whose fixes were applied
    files = {"models." + os.path.basename(f["filename"])[:-3] for f in applied}
    stray = {m: ps for m, ps in changed.items() if m.rsplit(".", 1)[0] not in files}
    assert not stray, f"parameters changed where no fix was applied: {stray}"
    for f in applied:  # each applied fix's claim holds in the fixed tree
        mod = "models." + os.path.basename(f["filename"])[:-3]
        mine = {m: ps for m, ps in changed.items() if m.startswith(mod + ".")}
        if f["code"] == "IL301":
            assert any(after[m][p]["zero"] for m, ps in mine.items() for p in ps), f
            assert all(zero for _, zero in _block_gammas(f, after)), _block_gammas(f, after)
        else:
            assert mine, f"{f['code']} at {f['filename']}:{f['location']['row']}: no effect"


def test_the_same_fixes_whatever_files_are_linted(tmp_path):
    tree = _copy(tmp_path)
    together = {(f["filename"], f["location"]["row"], f["code"]): f["fix"]
                for f in _findings(tree) if f.get("fix")}
    alone = {}
    for name in sorted(os.listdir(os.path.join(tree, "models"))):
        if name.endswith(".py"):
            for f in _findings(tree, f"models/{name}"):
                if f.get("fix"):
                    alone[(f["filename"], f["location"]["row"], f["code"])] = f["fix"]
    assert together == alone
