"""Helpers shared by rules: describing layers, activations and init calls in messages; the
chains IL101/IL102 walk; the init lookup IL302–IL304 share; the probe's shrink test."""

from __future__ import annotations

from initlint import knowledge as K
from initlint.analysis.project import Judged, Project
from initlint.probe.verdicts import finite, fmt, label, ratio_text


def layer_desc(project: Project, owner, local: str) -> str:
    spec = owner.layers.get(local)
    kind = project.index.spec_kind(spec) if spec is not None else None
    short = kind.rsplit(".", 1)[-1] if kind else "layer"
    return f"`{local}` ({short})"


def act_desc(node) -> str:
    if node.runtime or node.act is None:
        return "an activation chosen at run time"
    name = {"relu": "ReLU", "relu6": "ReLU6", "leaky_relu": "LeakyReLU", "prelu": "PReLU",
            "rrelu": "RReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "selu": "SELU",
            "hardtanh": "Hardtanh", "softsign": "Softsign", "gelu": "GELU", "silu": "SiLU",
            "mish": "Mish", "elu": "ELU"}.get(node.act, node.act)
    if node.act == "leaky_relu" and node.slope is not None:
        return f"{name}({node.slope:g})"
    return name


def weight_judgments(project: Project) -> list[Judged]:
    """Final inits of layer weight matrices (not biases, norms or embeddings)."""
    out = []
    for j in project.judged:
        w = j.weight
        if w.param != "weight" or w.spec is None:
            continue
        if project.weight_category(w.spec) != "weight":
            continue
        out.append(j)
    return out


def cap(severity: str, j: Judged) -> str:
    """An init behind a run-time condition is never reported above `warning`; one whose site
    carries a comment saying it is deliberate ("gumbel softmax requires special init") is at
    most `info`."""
    if j.final is not None and getattr(j.final, "deliberate", False):
        return "info"
    if j.conditional and severity == "error":
        return "warning"
    return severity


def related_for(project: Project, j: Judged, nxt=None) -> list[tuple]:
    rel = []
    owner = j.weight.owner
    spec = j.weight.spec
    f = project.file_of(owner)
    if spec is not None:
        rel.append((f"layer {layer_desc(project, owner, j.weight.local)} built here", f.path, spec.loc))
    if nxt is not None and nxt.node.loc is not None:
        rel.append((f"feeds {act_desc(nxt.node)} here", f.path, nxt.node.loc))
    return rel


def family(project: Project, node, owner=None) -> str:
    """The activation family of a graph node; run-time when the activation class is a
    constructor argument's default that some caller overrides."""
    if node.runtime or node.act is None:
        return K.RUNTIME
    if node.param and owner is not None and project.index.arg_overridden(owner, node.param):
        return K.RUNTIME
    return project.family(node.act)


def through_act(project, owner, local: str, fam: str, members) -> set:
    """The layers of `members` that take `local`'s output through one activation of family
    `fam`, with no normalization between: the links of an IL101/IL102 chain."""
    g = project.graph(owner)
    out = set()
    for nid in g.layer_nodes(local):
        for nx in g.nexts(nid):
            if nx.normalized or nx.node.kind != "act" or family(project, nx.node, owner) != fam:
                continue
            out.update(g.nodes[s].ref for s in g.succ.get(nx.node.id, [])
                       if g.nodes[s].kind == "layer" and g.nodes[s].ref in members)
    return out


def has_init(project, cls, path: str, pred) -> bool:
    """Some init in `cls` (or a base) on layer `path`, directly or through a filter,
    satisfies `pred`."""
    for c in project.index.mro(cls):
        ops = list(c.ops) + [op for m in c.methods.values() for op in m.ops]
        for op in ops:
            if op.target == "filter" and op.filter is not None and (
                    op.filter.subpath in ("", path)) and pred(op):
                return True
            if op.target == "attr" and op.path == path and pred(op):
                return True
    return False


# -- probe confirmation shared by the rules that predict a shrinking signal (IL101, IL103,
# IL104, IL203): their `confirm` hooks call `shrink`.

# probe: a per-layer std ratio below this confirms a shrink (He keeps the std of a ReLU chain
# at ≈1 per layer; Xavier 0.71, PyTorch's default 0.41)
PER_LAYER_SHRINK = 0.85


def _per_step(s0: float, s1: float, steps: int) -> tuple[float, float]:
    r = s1 / s0
    return r, (r ** (1 / steps) if r > 0 else 0.0)


def _shrink_text(ix, a: str, b: str, s0: float, s1: float, steps: int,
                 entering: bool) -> tuple[str, str]:
    r, per = _per_step(s0, s1, steps)
    span = (f"({ratio_text(r)} over {steps} layer{'s' if steps > 1 else ''}, ×{per:.2f} per "
            "layer; He init keeps ≈1)")
    if entering:
        text = (f"std of the signal entering `{label(a)}` {fmt(s0)} → entering `{label(b)}` "
                f"{fmt(s1)} {span}")
    else:
        text = f"output std {fmt(s0)} at `{label(a)}` → {fmt(s1)} at `{label(b)}` {span}"
    return ("confirmed" if per < PER_LAYER_SHRINK else "not confirmed"), text + ix.predicted([a, b])


def shrink(ev, chain_end: str | None = None) -> tuple[str, str]:
    """Does the signal shrink along the layers of the finding? Measured on the signal that
    *enters* the following weight layers (after activations and any normalization), so a
    normalization that undoes the init shows as 'not confirmed'."""
    ix, mod = ev.ix, ev.mod
    if mod not in ix.order:
        return "not measured", f"`{label(mod)}` did not run in the forward pass"
    order = ix.order
    i = order.index(mod)
    end = ev.path(chain_end) if chain_end else None
    j = order.index(end) if end in order else i
    a, b = i + 1, max(j, i + 2)
    if b < len(order):
        s0, s1 = ix.in_std(order[a]), ix.in_std(order[b])
        if finite(s0) and finite(s1) and s0 > 0:
            return _shrink_text(ix, order[a], order[b], s0, s1, b - a, entering=True)
    # the last layers: compare outputs, unless a normalization sits in between
    k = max(j, i + 1)
    if k >= len(order):
        return "not measured", f"no weight layer runs after `{label(mod)}` to show the effect"
    norm = ix.norm_between(mod, order[k])
    s0, s1 = ix.out_std(mod), ix.out_std(order[k])
    if norm is not None:
        return "not confirmed", (f"`{label(norm['name'])}` ({norm['type']}) renormalizes the "
                                 f"output of `{label(mod)}` (std {fmt(s0)}) before the next layer")
    if not (finite(s0) and finite(s1)) or s0 <= 0:
        return "not measured", f"output std at `{label(mod)}` is {fmt(s0)}"
    return _shrink_text(ix, mod, order[k], s0, s1, k - i, entering=False)
