"""Join the static pass with the measurement: lint the source files of the probed model's
classes (never importing them), keep the findings on classes the model instantiates, and say
for each whether the measurement confirms it.

status       meaning
confirmed    the measured numbers show the problem the rule predicts
not confirmed  they do not (a normalization undoes it, the init is overwritten, ...)
not measured the probe has no runtime test for the rule, or the layer never ran
"""

from __future__ import annotations

import math
import os
import re

from initlint.probe.verdicts import finite, fmt, label, ratio_text, weight_order

SHRINK = {"IL101", "IL103", "IL104", "IL203"}
PER_LAYER_SHRINK = 0.85  # He keeps the std of a ReLU chain at ≈1 per layer; Xavier 0.71, default 0.41
GAIN_OFF = 2.0           # IL202: a layer that multiplies (or divides) the std by 2 or more
SATURATED = 0.10
_CHAIN_END = re.compile(r"last layer of the chain `([^`]+)`")


def source_files(result: dict, cwd: str | None = None) -> list[str]:
    """The model classes' source files, relative to `cwd` when under it (as findings show)."""
    cwd = os.path.realpath(cwd or os.getcwd())
    seen: list[str] = []
    for row in result.get("modules", []):
        f = row.get("file")
        if not (f and f.endswith(".py") and os.path.isfile(f)):
            continue
        if f.startswith(cwd.rstrip(os.sep) + os.sep):
            f = os.path.relpath(f, cwd)
        if f not in seen:
            seen.append(f)
    return seen


def lint_files(files: list[str], config) -> tuple[list, list]:
    """Static findings for `files` (engine + discover, no import of the code)."""
    from initlint import engine
    from initlint.discover import discover

    targets, _missing = discover(files, config)
    report = engine.lint(targets, config)
    return report.findings, report.internal_errors


def _instances(result: dict) -> dict[str, list[str]]:
    """Class key ('module.Qualname', module taken from the file as the static pass names it,
    and as Python names it) -> instance paths in the model."""
    from initlint.analysis.names import module_name_for

    out: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for row in result.get("modules", []):
        keys = {f"{row['module']}.{row['qualname']}"}
        f = row.get("file")
        if f:
            if f not in names:
                names[f] = module_name_for(f)
            keys.add(f"{names[f]}.{row['qualname']}")
        for k in keys:
            out.setdefault(k, []).append(row["name"])
    return out


def _full(prefix: str, local: str | None) -> str:
    if not local:
        return prefix
    return f"{prefix}.{local}" if prefix else local


class _Index:
    def __init__(self, data: dict):
        self.layers = data.get("layers", [])
        self.params = {p["name"]: p for p in data.get("params", [])}
        self.first_row: dict[str, dict] = {}
        for r in self.layers:
            self.first_row.setdefault(r["name"], r)
        self.order = weight_order(self.layers)
        self.modules = {m["name"] for m in data.get("modules", [])}

    def weight_of(self, name: str) -> dict | None:
        p = self.params.get(name)
        if p is not None:
            return p
        p = self.params.get(_full(name, "weight"))
        if p is not None:
            return p
        own = [p for p in self.params.values() if p["module"] == name]
        return next((p for p in own if len(p["shape"]) >= 2), own[0] if own else None)

    def in_std(self, name: str):
        r = self.first_row.get(name)
        return r.get("in_std") if r else None

    def norm_between(self, first: str, second: str) -> dict | None:
        """A normalization module that runs after `first` and before `second`."""
        rows = self.layers
        try:
            a = next(n for n, r in enumerate(rows) if r["name"] == first)
            b = next(n for n, r in enumerate(rows) if n > a and r["name"] == second)
        except StopIteration:
            return None
        return next((r for r in rows[a + 1:b] if "Norm" in r["type"]), None)

    def owner(self, name: str) -> str:
        """A finding's layer may name a parameter (`self.w = nn.Parameter(...)`)."""
        if name in self.params and name not in self.modules:
            return self.params[name]["module"]
        return name


def _std(ix: _Index, name: str):
    r = ix.first_row.get(name)
    return r.get("out_std") if r else None


def _predicted(ix: _Index, names: list[str]) -> str:
    """`; static prediction 0.58 → 0.41` over these layers' outputs, when predicted."""
    vals = [(ix.first_row.get(n) or {}).get("predicted") for n in names]
    if not vals or any(not finite(v) for v in vals):
        return ""
    return "; static prediction of the output std " + " → ".join(
        f"{fmt(v)} at `{label(n)}`" for n, v in zip(names, vals))


def _per_step(s0, s1, steps):
    r = s1 / s0
    return r, (r ** (1 / steps) if r > 0 else 0.0)


def _shrink(ix: _Index, mod: str, prefix: str, chain_end: str | None):
    """Does the signal shrink along the layers of the finding? Measured on the signal that
    *enters* the following weight layers (after activations and any normalization), so a
    normalization that undoes the init shows as 'not confirmed'."""
    if mod not in ix.order:
        return "not measured", f"`{label(mod)}` did not run in the forward pass"
    order = ix.order
    i = order.index(mod)
    end = _full(prefix, chain_end) if chain_end else None
    j = order.index(end) if end in order else i
    a, b = i + 1, max(j, i + 2)
    if b < len(order):
        s0, s1 = ix.in_std(order[a]), ix.in_std(order[b])
        if finite(s0) and finite(s1) and s0 > 0:
            steps = b - a
            r, per = _per_step(s0, s1, steps)
            text = (f"std of the signal entering `{label(order[a])}` {fmt(s0)} → entering "
                    f"`{label(order[b])}` {fmt(s1)} ({ratio_text(r)} over {steps} layer"
                    f"{'s' if steps > 1 else ''}, ×{per:.2f} per layer; He init keeps ≈1)")
            text += _predicted(ix, [order[a], order[b]])
            return ("confirmed" if per < PER_LAYER_SHRINK else "not confirmed"), text
    # the last layers: compare outputs, unless a normalization sits in between
    k = max(j, i + 1)
    if k >= len(order):
        return "not measured", f"no weight layer runs after `{label(mod)}` to show the effect"
    norm = ix.norm_between(mod, order[k])
    s0, s1 = _std(ix, mod), _std(ix, order[k])
    if norm is not None:
        return "not confirmed", (f"`{label(norm['name'])}` ({norm['type']}) renormalizes the "
                                 f"output of `{label(mod)}` (std {fmt(s0)}) before the next layer")
    if not (finite(s0) and finite(s1)) or s0 <= 0:
        return "not measured", f"output std at `{label(mod)}` is {fmt(s0)}"
    steps = k - i
    r, per = _per_step(s0, s1, steps)
    text = (f"output std {fmt(s0)} at `{label(mod)}` → {fmt(s1)} at `{label(order[k])}` "
            f"({ratio_text(r)} over {steps} layer{'s' if steps > 1 else ''}, ×{per:.2f} per "
            "layer; He init keeps ≈1)") + _predicted(ix, [mod, order[k]])
    return ("confirmed" if per < PER_LAYER_SHRINK else "not confirmed"), text


def _judge(code: str, finding, prefix: str, ix: _Index, chain_end: str | None):
    full = _full(prefix, finding.layer)
    mod = ix.owner(full)
    if mod not in ix.modules and full not in ix.params:
        return "not measured", f"`{full}` is not a module or parameter of the probed model"
    if code in SHRINK:
        return _shrink(ix, mod, prefix, chain_end)
    if code == "IL202":
        if mod not in ix.order:
            return "not measured", f"`{label(mod)}` did not run in the forward pass"
        i = ix.order.index(mod)
        row = ix.first_row[mod]
        s1 = row.get("out_std")
        if i > 0:
            s0, ref = _std(ix, ix.order[i - 1]), f"`{label(ix.order[i - 1])}`"
        else:
            s0, ref = row.get("in_std"), "its input"
        if not (finite(s0) and finite(s1)) or not s0:
            if s1 is not None and not finite(s1):
                return "confirmed", f"the output of `{label(mod)}` is NaN/Inf"
            return "not measured", f"output std {fmt(s1)} at `{label(mod)}`, {fmt(s0)} at {ref}"
        g = s1 / s0
        text = (f"output std {fmt(s0)} at {ref} → {fmt(s1)} at `{label(mod)}` "
                f"({ratio_text(g)} in one layer)") + _predicted(
                    ix, ([ix.order[i - 1]] if i > 0 else []) + [mod])
        return ("confirmed" if g >= GAIN_OFF or g <= 1 / GAIN_OFF else "not confirmed"), text
    if code == "IL201":
        p = ix.weight_of(full)
        if p is None or "rows" not in p:
            return "not measured", f"no ≥2-D weight found for `{full}`"
        if p.get("rows_identical"):
            what = "all zero" if p.get("all_zero") else "identical"
            return "confirmed", f"all {p['rows']} rows of `{p['name']}` are {what} at init"
        return "not confirmed", (f"the {p['rows']} rows of `{p['name']}` differ at init: a later "
                                 "init overwrites the constant one")
    if code == "IL204":
        p = ix.weight_of(full)
        if p is None or "std" not in p:
            return "not measured", f"no parameter found for `{full}`"
        if p.get("finite") is False:
            return "confirmed", f"`{p['name']}` contains NaN/Inf"
        if p.get("rows_identical") or p.get("all_zero"):
            return "confirmed", f"`{p['name']}` is constant ({fmt(p.get('mean'))})"
        fi = p.get("fan_in") or 1
        gain = p["std"] * math.sqrt(fi)
        if gain > 10 or gain < 0.1:
            return "confirmed", f"`{p['name']}` has std {fmt(p['std'])} (gain std·√fan_in = {fmt(gain)})"
        return "not confirmed", (f"`{p['name']}` happened to hold values with std {fmt(p['std'])} "
                                 "(still uninitialized memory: another run may differ)")
    if code == "IL205":
        p = ix.weight_of(full)
        if p is None or "std" not in p:
            return "not measured", f"no parameter found for `{full}`"
        m, s = p.get("mean"), p.get("std")
        off = finite(m) and finite(s) and abs(m) > 0.5 * s
        return ("confirmed" if off else "not confirmed"), (
            f"`{p['name']}` has mean {fmt(m)} and std {fmt(s)}")
    if code == "IL403":
        own = [p for p in ix.params.values() if p["name"] == full or p["module"] == mod]
        changed = [p["name"] for p in own if p.get("changed_in_forward")]
        if changed:
            return "confirmed", f"`{changed[0]}` changed during the forward pass"
        return "not confirmed", f"the parameters of `{label(mod)}` did not change in the forward pass"
    if code == "IL301":
        p = ix.weight_of(full)
        if p is None or "std" not in p:
            return "not measured", f"no weight found for `{full}`"
        if p.get("all_zero"):
            return "not confirmed", f"`{p['name']}` is zero at init"
        return "confirmed", f"`{p['name']}` has mean {fmt(p.get('mean'))} at init, not zero"
    if code == "IL102":
        rows = ix.layers
        k = next((n for n, r in enumerate(rows) if r["name"] == mod), None)
        if k is None:
            return "not measured", f"`{label(mod)}` did not run in the forward pass"
        nxt = next((r for r in rows[k + 1:k + 4] if r.get("saturated_fraction") is not None), None)
        if nxt is None:
            return "not measured", ("the saturating activation after it is not a module the "
                                    "probe can hook")
        sf = nxt["saturated_fraction"]
        return ("confirmed" if sf >= SATURATED else "not confirmed"), (
            f"{sf:.0%} of the outputs of `{label(nxt['name'])}` ({nxt['type']}) are saturated")
    return "not measured", f"the probe has no runtime test for {code}"


def join(result: dict, findings: list) -> list[dict]:
    """One entry per static finding on a class the model instantiates."""
    inst = _instances(result)
    ix = _Index(result)
    out = []
    rank = {"confirmed": 0, "not confirmed": 1, "not measured": 2}
    for f in findings:
        if not f.cls or f.cls not in inst:
            continue
        chain_end = None
        for rel in f.related:
            m = _CHAIN_END.search(rel.message)
            if m:
                chain_end = m.group(1)
        prefixes = inst[f.cls]
        judged = [(p, *_judge(f.code, f, p, ix, chain_end)) for p in prefixes]
        judged.sort(key=lambda t: rank[t[1]])
        prefix, status, evidence = judged[0]
        n_conf = sum(1 for t in judged if t[1] == "confirmed")
        if len(prefixes) > 1:
            where = f"instance `{label(prefix)}`"
            evidence = (f"{evidence} [{where}; confirmed in {n_conf} of {len(prefixes)} instances]"
                        if status == "confirmed" else f"{evidence} [{where}; {len(prefixes)} instances]")
        d = f.to_json()
        out.append({"code": f.code, "name": d["name"], "severity": f.severity,
                    "message": f.message, "filename": f.filename,
                    "location": {"row": f.row, "column": f.col}, "model": f.cls,
                    "layer": f.layer, "instances": prefixes, "status": status,
                    "evidence": evidence})
    return out
