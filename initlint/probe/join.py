"""Join the static pass with the measurement: lint the source files of the probed model's
classes (never importing them), keep the findings on classes the model instantiates, and say
for each whether the measurement confirms it.

status       meaning
confirmed    the measured numbers show the problem the rule predicts
not confirmed  they do not (a normalization undoes it, the init is overwritten, ...)
not measured the probe has no runtime test for the rule, or the layer never ran

Each rule judges its own findings: `Rule.confirm(finding, Evidence)` in the rule's module
(initlint/rules/ilNNN_*.py) reads the plain-data `Index` below; a rule without the hook is
"not measured".
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from initlint.probe.verdicts import finite, fmt, label, weight_order


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


class Index:
    """The measurement as plain data, looked up by module and parameter name (what a rule's
    `confirm` hook reads; no torch)."""

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

    def out_std(self, name: str):
        r = self.first_row.get(name)
        return r.get("out_std") if r else None

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

    def predicted(self, names: list[str]) -> str:
        """`; static prediction 0.58 → 0.41` over these layers' outputs, when predicted."""
        vals = [(self.first_row.get(n) or {}).get("predicted") for n in names]
        if not vals or any(not finite(v) for v in vals):
            return ""
        return "; static prediction of the output std " + " → ".join(
            f"{fmt(v)} at `{label(n)}`" for n, v in zip(names, vals))


@dataclass(frozen=True)
class Evidence:
    """What a rule's `confirm` hook judges one finding on: the measured model (`ix`) and
    where the finding sits in it (`full`: its layer's path under instance `prefix`; `mod`:
    the module that owns it)."""

    ix: Index
    prefix: str
    full: str
    mod: str

    def path(self, local: str | None) -> str:
        """A path inside the finding's class instance, as the measurement names it."""
        return _full(self.prefix, local)


def _judge(finding, prefix: str, ix: Index) -> tuple[str, str]:
    """The owning rule's probe hook decides (`Rule.confirm`); a rule without one says "not
    measured"."""
    from initlint.rules import RULES

    full = _full(prefix, finding.layer)
    mod = ix.owner(full)
    if mod not in ix.modules and full not in ix.params:
        return "not measured", f"`{full}` is not a module or parameter of the probed model"
    rule = RULES.get(finding.code)
    if rule is None:
        return "not measured", f"the probe has no runtime test for {finding.code}"
    return rule().confirm(finding, Evidence(ix, prefix, full, mod))


def join(result: dict, findings: list) -> list[dict]:
    """One entry per static finding on a class the model instantiates."""
    inst = _instances(result)
    ix = Index(result)
    out = []
    rank = {"confirmed": 0, "not confirmed": 1, "not measured": 2}
    for f in findings:
        if not f.cls or f.cls not in inst:
            continue
        prefixes = inst[f.cls]
        judged = [(p, *_judge(f, p, ix)) for p in prefixes]
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
