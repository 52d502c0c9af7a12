"""`initlint graph PATH[::Class]`: what the analysis inferred, as text, Graphviz dot or JSON."""

from __future__ import annotations

import json

from initlint import knowledge as K
from initlint.analysis.project import Project, describe
from initlint.config import Config
from initlint.discover import discover
from initlint.engine import analyze_file


def _init_text(op, param: str = "weight") -> str:
    if op is None:
        if param == "bias":
            return "PyTorch default (uniform ±1/√fan_in)"
        return "PyTorch default (kaiming_uniform_, a=√5)"
    params = ", ".join(f"{k}={v!r}" for k, v in op.params.items()
                       if k not in ("dist", "partial") and v is not None)
    where = f"line {op.loc.row}" + (f", via {op.via}" if op.via else "") + (
        f", if {op.flag}" if op.flag else "")
    return f"{op.func}({params}) [{where}]"


def _node_label(n) -> str:
    if n.kind == "act":
        return f"act:{n.act or 'runtime'}" + (f"({n.slope:g})" if n.slope else "")
    if n.kind in ("layer", "norm", "module"):
        return f"{n.kind}:{n.ref}"
    if n.kind == "input":
        return f"input:{n.ref}"
    if n.kind == "opaque":
        return f"call:{n.ref}"
    return n.kind


def build(project: Project, cls_name: str | None):
    out = []
    for cls in project.module_classes:
        if cls_name and cls.name != cls_name and cls.qualname != cls_name:
            continue
        rp = next(r for r in project.replays if r.root is cls)
        g = project.graph(cls)
        layers = []
        for path, spec in cls.layers.items():
            kind = project.index.spec_kind(spec)
            cat = K.layer_category(kind) or ("activation" if spec.act else "module")
            args = {k: v for k, v in spec.args.items() if v is not None and k != "__name__"}
            inits = {}
            for p in ("weight", "bias"):
                w = rp.weights.get((path, p))
                if w is not None:
                    final, _, uncertain = project.final_write(w)
                    inits[p] = {"final": _init_text(final, p), "uncertain": uncertain,
                                "writes": [_init_text(op) for op, _ in w.writes],
                                "effective": describe(final, spec).kind}
            layers.append({"path": path, "kind": kind or spec.factory or "?", "category": cat,
                           "args": args, "line": spec.loc.row, "act": spec.act,
                           "runtime": spec.runtime, "init": inits,
                           "feeds": sorted({_node_label(n.node) + (" (via norm)" if n.normalized
                                                                   else "")
                                            for n in g.following(path)})})
        params = []
        for name, spec in cls.params.items():
            w = rp.weights.get(("", name))
            final = project.final_write(w)[0] if w else None
            params.append({"name": name, "ctor": spec.ctor, "line": spec.loc.row,
                           "init": _init_text(final) if final else f"torch.{spec.ctor}"})
        nodes = [{"id": n.id, "label": _node_label(n)} for n in g.nodes.values()]
        edges = [(a, b) for a, bs in g.succ.items() for b in bs]
        out.append({"class": f"{cls.module}.{cls.qualname}", "file": project.file_of(cls).path,
                    "line": cls.loc.row, "layers": layers, "params": params, "nodes": nodes,
                    "edges": edges,
                    "residual_adds": [n.id for n in g.nodes.values() if n.kind == "add"],
                    "complete": rp.complete})
    return out


def render_text(models) -> str:
    lines = []
    for m in models:
        lines.append(f"{m['class']}  ({m['file']}:{m['line']})"
                     + ("" if m["complete"] else "  [some submodules not resolved]"))
        lines.append("  layers:")
        for layer in m["layers"]:
            args = ", ".join(f"{k}={v}" for k, v in layer["args"].items())
            kind = layer["kind"].rsplit(".", 1)[-1]
            lines.append(f"    {layer['path']:<24} {kind}({args})  [{layer['category']}] "
                         f"line {layer['line']}" + ("  (chosen at run time)" if layer["runtime"]
                                                    else ""))
            for p, info in layer["init"].items():
                if layer["category"] == "weight" or p == "weight" and info["writes"]:
                    mark = " (uncertain: a conditional init follows)" if info["uncertain"] else ""
                    lines.append(f"        {p}: {info['final']}{mark}")
                    for wtxt in info["writes"][:-1] if len(info["writes"]) > 1 else []:
                        lines.append(f"            overwritten: {wtxt}")
            if layer["feeds"]:
                lines.append(f"        feeds: {', '.join(layer['feeds'])}")
        for p in m["params"]:
            lines.append(f"    param {p['name']:<18} {p['ctor']}  init: {p['init']}")
        lines.append("  forward:")
        labels = {n["id"]: n["label"] for n in m["nodes"]}
        for a, b in sorted(m["edges"]):
            lines.append(f"    {labels[a]} -> {labels[b]}")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_dot(models) -> str:
    out = ["digraph initlint {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    for i, m in enumerate(models):
        out.append(f"  subgraph cluster_{i} {{")
        out.append(f"    label={json.dumps(m['class'])};")
        inits = {layer["path"]: layer["init"].get("weight", {}).get("final", "")
                 for layer in m["layers"]}
        for n in m["nodes"]:
            label = n["label"]
            shape = "ellipse" if label.startswith("act") else "box"
            ref = label.split(":", 1)[-1]
            if label.startswith("layer:") and inits.get(ref):
                label += "\n" + inits[ref].split(" [")[0]
            style = ', style=filled, fillcolor="#eeeeee"' if n["id"] in m["residual_adds"] else ""
            out.append(f"    m{i}_{n['id']} [label={json.dumps(label)}, shape={shape}{style}];")
        for a, b in m["edges"]:
            out.append(f"    m{i}_{a} -> m{i}_{b};")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def show(path: str, cls_name: str | None, fmt: str, config: Config) -> tuple[str, bool]:
    targets, _ = discover([path], config)
    results = [analyze_file(t.path, t.display) for t in targets]
    facts = [r.facts for r in results if r.facts is not None]
    project = Project(facts, relu_like=frozenset(config.relu_like), min_chain=config.min_chain)
    models = build(project, cls_name)
    if fmt == "json":
        return json.dumps(models, indent=2, default=str) + "\n", bool(models)
    if fmt == "dot":
        return render_dot(models), bool(models)
    return render_text(models), bool(models)
