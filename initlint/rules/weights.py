"""Scale and symmetry of weights: IL201–IL205."""

from __future__ import annotations

import math

from initlint import knowledge as K
from initlint.analysis.index import fan
from initlint.analysis.project import describe
from initlint.remedies import ScaleByFan, ScaleRandn, UniformBounds
from initlint.rules import Rule, register
from initlint.rules.common import act_desc, cap, family, layer_desc, related_for, weight_judgments

# literal stds of documented model-wide recipes: a layer they leave "too small" is the recipe's
# choice (GPT-2/BERT `initializer_range`, ViT/DeiT/Swin `trunc_normal_(std=.02)`, DCGAN)
RECIPE_STDS = frozenset({0.02})

_HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"


@register
class ConstantWeightInit(Rule):
    code = "IL201"
    name = "constant-weight-init"
    severity = "error"
    summary = "A hidden layer's weight matrix is set to zero or a constant."
    what = ("Finds a weight matrix (not a bias, not a norm layer's weight) whose final init is "
            "`zeros_`, `ones_`, `constant_`, `.zero_()`, `.fill_()` or a `torch.zeros/ones` "
            "Parameter, in a layer whose output feeds another weight layer.")
    why = ("Every unit of the layer computes the same function and receives the same gradient: "
           "the symmetry is never broken and the layer behaves like a single unit. A zero matrix "
           "also blocks the gradient to everything before it.")
    example = """
        nn.init.zeros_(self.fc1.weight)
        ...
        return self.fc2(F.relu(self.fc1(x)))
    """
    use_instead = """
        nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")
    """
    fix_safety = ("No automatic fix: which random init is right depends on the activation and "
                  "on whether the zero was meant for another layer. Deliberate zero-inits — the "
                  "last layer of a residual branch (Fixup, ReZero, SkipInit), an output head, "
                  "adaLN-Zero modulation — are not reported.")
    VALID = [_HEADER + """
class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(64, 64)
        self.head = nn.Linear(64, 10)
        nn.init.zeros_(self.head.weight)

    def forward(self, x):
        return self.head(F.relu(self.body(x)))
""", _HEADER + """
class AdaLNZero(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.attn = nn.Linear(dim, dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * dim))
        nn.init.constant_(self.adaLN_modulation[-1].weight, 0)
        nn.init.constant_(self.adaLN_modulation[-1].bias, 0)

    def forward(self, x, c):
        shift, scale, gate = self.adaLN_modulation(c).chunk(3, dim=1)
        return x + gate * self.attn(modulate(x, shift, scale))
""", _HEADER + """
class ReZeroBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 64)
        nn.init.zeros_(self.fc2.weight)

    def forward(self, x):
        return x + self.fc2(F.relu(self.fc1(x)))
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 10)
        nn.init.zeros_(self.fc1.weight)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
        with torch.no_grad():
            self.layers[0].weight.fill_(0.01)

    def forward(self, x):
        return self.layers(x)
""", _HEADER + """
class Raw(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.zeros(32, 64))
        self.out = nn.Linear(64, 2)

    def forward(self, x):
        return self.out(torch.tanh(x @ self.w1))
"""]

    def check(self, project, emit) -> None:
        for j in project.judged:
            w = j.weight
            if w.spec is not None:
                if w.param != "weight" or project.weight_category(w.spec) != "weight":
                    continue
                if j.final is None or j.final.kind not in ("zero", "constant"):
                    continue
            else:
                spec = w.owner.params.get(w.local)
                if spec is None or spec.ctor not in ("zeros", "ones", "full"):
                    continue
                if j.final is not None and j.final.kind not in ("zero", "constant"):
                    continue
                if spec.shape is not None and len(spec.shape) < 2:
                    continue
            if not project.is_hidden(w.owner, w.local):
                continue
            kind = "zero" if (j.final is None and w.owner.params[w.local].ctor == "zeros") or (
                j.final is not None and (j.final.kind == "zero" or j.final.params.get("val") == 0)) \
                else "a constant"
            msg = (f"the weight of hidden layer {layer_desc(project, w.owner, w.local)} is set to "
                   f"{kind}: every unit computes the same output and gets the same gradient, so "
                   f"symmetry never breaks; use a random init")
            emit(self.code, cap("error", j), msg, j.final, j, related=related_for(project, j))


@register
class UnscaledWeightInit(Rule):
    code = "IL202"
    name = "unscaled-weight-init"
    severity = "error"
    severity_logic = ("error; warning when the scale is only too small (a single small layer "
                      "attenuates, it does not explode) or when the layer is an output whose "
                      "consumer is not visible (logits: the scale may be a chosen temperature); "
                      "info when a normalization layer directly follows the layer, when a "
                      "comment at the init says it is deliberate, or when a too-small std is "
                      "the model-wide 0.02 recipe")
    summary = "A weight's init scale ignores its fan-in."
    what = ("Finds `normal_(w)`, `normal_(w, 0, 1)`, `uniform_(w)`, `uniform_(w, -1, 1)`, "
            "`nn.Parameter(torch.randn(out, in))` used as a weight, or a literal std whose "
            "implied gain std·√fan_in is more than 4× off the gain of the activation that follows "
            "(too large anywhere; too small only in a hidden layer). Embeddings are exempt.")
    why = ("With std 1 a layer multiplies the variance of its input by fan_in: a 512-wide layer "
           "grows the signal's std ≈ 23×, and a few layers overflow or saturate. `uniform_(w)` "
           "draws from U(0, 1): every weight is positive, with mean 0.5.")
    example = """
        nn.init.normal_(self.fc.weight)
    """
    use_instead = """
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")
    """
    fix_safety = ("Replaces the call with the activation-appropriate Kaiming/Xavier call, or "
                  "scales `torch.randn(out, in)` by `in ** -0.5`; unsafe (it changes the weights' "
                  "distribution, which a checkpoint-loading path may rely on).")
    VALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1000, 64)
        self.fc = nn.Linear(768, 768)
        nn.init.normal_(self.emb.weight)
        nn.init.normal_(self.fc.weight, std=0.02)

    def forward(self, x):
        return self.fc(self.emb(x))
""", _HEADER + """
class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(64, 64, 3)
        self.norm = nn.InstanceNorm2d(64)
        nn.init.normal_(self.conv.weight, 0.0, 0.02)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(512, 512)
        nn.init.normal_(self.fc.weight)

    def forward(self, x):
        return F.relu(self.fc(x))
""", _HEADER + """
class Net(nn.Module):
    def __init__(self, d_in=128, d_out=64):
        super().__init__()
        self.W = nn.Parameter(torch.randn(d_in, d_out))

    def forward(self, x):
        return x @ self.W
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(256, 256)
        self.fc.weight.data.uniform_(-1, 1)

    def forward(self, x):
        return self.fc(x)
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1024, 1024)
        nn.init.normal_(self.fc.weight, std=0.5)

    def forward(self, x):
        return torch.relu(self.fc(x))
"""]

    def check(self, project, emit) -> None:
        for j in project.judged:
            w = j.weight
            if w.spec is None:
                self._raw(project, j, emit)
                continue
            if w.param != "weight" or project.weight_category(w.spec) != "weight":
                continue
            if j.final is None:
                continue
            e = describe(j.final, j.weight.spec)
            if e.kind not in ("normal", "uniform") or e.symbolic or e.std is None:
                continue
            nexts = project.following(w.owner, w.local)
            normalized = any(n.normalized for n in nexts)
            fi, _ = fan(w.spec)
            acts = [n for n in nexts if n.node.kind == "act"]
            gain = K.act_gain(acts[0].node.act or "", acts[0].node.slope) if acts and \
                family(project, acts[0].node, w.owner) != K.RUNTIME else 1.0
            too_small = False
            unit = _unit_draw(j.final, e)
            if unit:
                if fi is not None and fi <= 2:
                    continue
                reason = (f"`{j.final.func}` draws with std {e.std:.3g} whatever the fan-in" +
                          (" and mean 0.5 (all weights positive)" if e.mean == 0.5 else ""))
            else:
                if fi is None:
                    continue
                implied = e.std * math.sqrt(fi)
                if implied > 4 * gain:
                    reason = (f"std {e.std:g} with fan_in {fi:g} implies gain {implied:.3g}, "
                              f"{implied / gain:.1f}× the {gain:.3g} this layer needs")
                elif implied * 4 < gain and not j.final.params.get("std_expr") and \
                        project.is_hidden(w.owner, w.local) and \
                        not project.graph(w.owner).renormalized(w.local):
                    reason = (f"std {e.std:g} with fan_in {fi:g} implies gain {implied:.3g}, "
                              f"{gain / implied:.1f}× below the {gain:.3g} this hidden layer needs")
                    too_small = True
                else:
                    continue
            recipe = too_small and e.std in RECIPE_STDS
            if normalized or recipe:
                severity = "info"
            elif too_small:
                severity = "warning"
            elif unit and not acts and not project.is_hidden(w.owner, w.local):
                # an output whose consumer we cannot see (logits into gumbel-softmax, a loss):
                # the scale may be a deliberate temperature
                severity = "warning"
            else:
                severity = "error"
            msg = (f"unscaled init of {layer_desc(project, w.owner, w.local)}: {reason}; scale by "
                   f"fan-in (Kaiming/Xavier)")
            if normalized:
                msg += " (a normalization layer follows, so its scale is normalized away)"
            elif recipe:
                msg += (f" (std {e.std:g} is the GPT/BERT/ViT/DCGAN recipe, usually applied "
                        f"model-wide on purpose)")
            emit(self.code, cap(severity, j), msg, j.final, j, related=related_for(project, j),
                 remedy=ScaleByFan(act=acts[0].node.act if acts else None,
                                  a=acts[0].node.slope if acts else None,
                                  family=family(project, acts[0].node) if acts else None,
                                  runtime=bool(acts and acts[0].node.runtime),
                                  shared=j.final.target == "filter"))

    def _raw(self, project, j, emit) -> None:
        """A raw `nn.Parameter` used as a weight matrix (2-D, or a stacked bank of them)."""
        w = j.weight
        spec = w.owner.params.get(w.local)
        if spec is None or spec.shape is None or len(spec.shape) < 2:
            return
        if any(isinstance(d, int) and d <= 2 for d in spec.shape[-2:]):
            return  # (d // 2, 1): the fan-in may be that 1, and std 1 is then the scaled init
        g = project.graph(w.owner)
        if not g.layer_nodes(w.local):
            return  # not used as a weight matrix (a token, a position embedding)
        nexts = [n for nid in g.layer_nodes(w.local) for n in g.nexts(nid)]
        severity = "info" if any(n.normalized for n in nexts) else "error"
        f = project.file_of(w.owner)
        stacked = " (a stack of weight matrices)" if len(spec.shape) > 2 else ""
        final_unit = j.final is not None and _unit_draw(j.final, describe(j.final, None))
        if j.final is not None and not final_unit:
            return  # a later init sets the scale
        if spec.ctor in ("randn", "rand") and not spec.scaled:
            ctor = "torch.randn" if spec.ctor == "randn" else "torch.rand"
            msg = (f"`nn.Parameter({ctor}(...))` weight `{w.local}`{stacked} has std "
                   f"{'1' if spec.ctor == 'randn' else '0.29 and mean 0.5'} whatever its fan-in; "
                   f"scale it by fan_in ** -0.5 or init it with nn.init.kaiming_*/xavier_*")
            if final_unit:
                msg += f" (`{j.final.func}` at line {j.final.loc.row} redraws it at std 1 again)"
            emit(self.code, cap(severity, j), msg, None, None, loc=spec.loc, path=f.path,
                 cls=w.owner, layer=w.local, remedy=ScaleRandn(param=w.local))
        if final_unit:
            msg = (f"unscaled init of weight `{w.local}`{stacked}: `{j.final.func}` draws with std "
                   f"1 whatever the fan-in; scale by fan-in (Kaiming/Xavier)")
            emit(self.code, cap(severity, j), msg, j.final, j, related=related_for(project, j),
                 remedy=ScaleByFan(shared=j.final.target == "filter"))


def _unit_draw(op, e) -> bool:
    """`normal_(w)` / `normal_(w, 0, 1)` / `uniform_(w)` / `uniform_(w, -1, 1)`: scale 1."""
    if e.symbolic:
        return False
    return (e.kind == "normal" and e.std == 1.0) or (
        e.kind == "uniform" and op.params.get("b") == 1.0 and op.params.get("a") in (0.0, -1.0))


@register
class DefaultInitDeepReLU(Rule):
    code = "IL203"
    name = "default-init-deep-relu"
    severity = "warning"
    summary = "A plain chain of ≥ 6 ReLU layers all on PyTorch's default init."
    what = ("Finds `min-chain` (default 6) or more weight layers joined by ReLU-family "
            "activations, with no normalization or residual add, none of them given an init.")
    why = ("PyTorch's default `kaiming_uniform_(a=√5)` has variance 1/(3·fan_in): after a ReLU "
           "each layer keeps about 1/6 of the variance He would. Six layers shrink the signal's "
           "std by ≈ 200×, and gradients with it.")
    example = """
        layers = []
        for _ in range(8):
            layers += [nn.Linear(256, 256), nn.ReLU()]
        self.net = nn.Sequential(*layers)
    """
    use_instead = """
        for m in self.net.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    """
    fix_safety = "No automatic fix: the fix is a new init loop, placed by the author."
    VALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        for _ in range(8):
            layers += [nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self, depth=8):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(256, 256), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
"""]

    def check(self, project, emit) -> None:
        by_owner: dict[int, dict] = {}
        for j in weight_judgments(project):
            by_owner.setdefault(id(j.weight.owner), {})[j.weight.local] = j
        for owner_id, layers in by_owner.items():
            default = {k: j for k, j in layers.items() if j.final is None and not j.weight.writes}
            if len(default) < project.min_chain:
                continue
            owner = next(iter(layers.values())).weight.owner
            g = project.graph(owner)
            nxt: dict[str, str] = {}
            has_pred: set[str] = set()
            for local in default:
                for nid in g.layer_nodes(local):
                    for n in g.nexts(nid):
                        if n.normalized or n.node.kind != "act" or \
                                family(project, n.node, owner) != K.RELU:
                            continue
                        for s in g.succ.get(n.node.id, []):
                            node = g.nodes[s]
                            if node.kind == "layer" and node.ref in default and node.ref != local:
                                nxt[local] = node.ref
                                has_pred.add(node.ref)
            for start in default:
                if start in has_pred or start not in nxt:
                    continue
                chain, cur = [start], start
                while cur in nxt and nxt[cur] not in chain:
                    cur = nxt[cur]
                    chain.append(cur)
                if len(chain) < project.min_chain:
                    continue
                if any(default[c].weight.spec.repeated for c in chain):
                    continue  # the loop count is not known: the length is a guess
                j = default[start]
                shrink = _default_chain_shrink(project, owner, chain, default)
                msg = (f"{len(chain)} weight layers starting at "
                       f"{layer_desc(project, owner, start)} are joined by ReLUs with no "
                       f"normalization or residual, all on PyTorch's default init (variance "
                       f"1/(3·fan_in)): the signal's std shrinks ≈ {shrink:.0f}× from the first "
                       f"layer's output to the last's (default biases and max-pools counted); "
                       f"init them with kaiming_*_(nonlinearity=\"relu\")")
                emit(self.code, "warning", msg, None, j, related=[
                    (f"last layer of the chain `{chain[-1]}`", project.file_of(owner).path,
                     default[chain[-1]].weight.spec.loc)])


MAXPOOL_GAIN = 2.5  # second-moment gain of a max-pool over rectified activations (measured
# on AlexNet-style stacks: 1.8-5.1x, overlapping windows of correlated neighbours gain least)


def _default_chain_shrink(project, owner, chain: list[str], default: dict) -> float:
    """Std of the first layer's output over the last's for a chain on PyTorch's default init,
    by propagating the signal's second moment q from a unit-variance input: a layer gives
    q/3 + Var(bias) with the default bias U(±1/sqrt(fan_in)) (Var 1/(3·fan_in)), a ReLU
    halves q, a max-pool between two layers of a Sequential raises it by MAXPOOL_GAIN."""
    q, first, last = 1.0, None, None
    for i, local in enumerate(chain):
        spec = default[local].weight.spec
        fi, _ = fan(spec)
        if i:
            q = q / 2 * MAXPOOL_GAIN ** _pools_between(project, owner, chain[i - 1], local)
        q = q / 3 + (1 / (3 * fi) if fi and spec.args.get("bias", True) is not False else 0.0)
        first = q if first is None else first
        last = q
    return math.sqrt(first / last) if last else float("inf")


def _pools_between(project, owner, a: str, b: str) -> int:
    """Max-pool layers between `a` and `b` in the containers that hold them (AlexNet/VGG's
    `features` Sequential: the pools after `a` in its container and before `b` in its own)."""
    def split(path):
        head, _, idx = path.rpartition(".")
        return (head, int(idx)) if idx.isdigit() else (None, None)

    def pools(container, lo, hi):
        n = 0
        for k in range(lo + 1, hi):
            spec = owner.layers.get(f"{container}.{k}")
            kind = project.index.spec_kind(spec) if spec is not None else None
            n += bool(kind and "MaxPool" in kind)
        return n

    (ca, ia), (cb, ib) = split(a), split(b)
    if ca is None or cb is None:
        return 0
    if ca == cb:
        return pools(ca, ia, ib)
    holder = owner.layers.get(ca)
    n_a = len(holder.children) if holder is not None and holder.children else ia + 1
    return pools(ca, ia, n_a) + pools(cb, -1, ib)


@register
class UninitializedParameter(Rule):
    code = "IL204"
    name = "uninitialized-parameter"
    severity = "error"
    summary = "An `nn.Parameter(torch.empty(...))` that no init call reaches."
    what = ("Finds parameters created from uninitialized memory (`torch.empty`, `torch.Tensor(n, m)`) "
            "that no init statement anywhere in the class (or an `apply`'d function) writes.")
    why = ("`torch.empty` returns whatever was in memory: zeros on one machine, huge values or NaN "
           "on another. Training results depend on the allocator.")
    example = """
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
    """
    use_instead = """
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
    """
    fix_safety = "No automatic fix: the right init depends on what the parameter feeds."
    VALID = [_HEADER + """
class MyLinear(nn.Module):
    def __init__(self, n, m):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(m, n))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")

    def forward(self, x):
        return x @ self.weight.t()
"""]
    INVALID = [_HEADER + """
class MyLinear(nn.Module):
    def __init__(self, n, m):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(m, n))
        self.bias = nn.Parameter(torch.Tensor(m))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)
"""]

    def check(self, project, emit) -> None:
        for cls in project.module_classes:
            for name, spec in cls.params.items():
                if spec.ctor != "empty":
                    continue
                if self._reached(project, cls, name):
                    continue
                f = project.file_of(cls)
                emit(self.code, "error",
                     f"`{name}` is created with uninitialized memory and no init call reaches "
                     f"it: its values are whatever the allocator left there", None, None,
                     loc=spec.loc, path=f.path, cls=cls, layer=name)

    def _reached(self, project, cls, name) -> bool:
        idx = project.index
        if any(name in c.touched for c in idx.mro(cls)):
            return True  # handed to some function (`init_weight(self.weight)`): maybe an init
        if any(not b.startswith("torch.") for b in idx.external_bases(cls)):
            return True  # a base class outside the linted tree may initialize it
        for c in idx.mro(cls):
            for op in c.ops:
                if op.kind == "apply" or op.target == "filter":
                    return True  # a general init: it may reach it
                if op.param == name or op.path == name:
                    return True
            for fn in c.methods.values():
                for op in fn.ops:
                    if op.param == name or op.path == name or op.param == "*":
                        return True
        # another class's init selecting this one (`isinstance(m, ThisClass)`): any function
        names = {c.name for c in idx.mro(cls)}
        for op in project.all_ops():
            if op.target != "filter" or op.filter is None:
                continue
            types = op.filter.types
            if types is None:
                # an applied function with no type test (`m.weight.data.normal_()`): it may be
                # applied from outside the tree; a parameters() loop only reaches its own tree
                flt = op.filter
                if op.param == name and flt.scope == "apply" and flt.identity is None and (
                        flt.classname_sub is None or any(flt.classname_sub in n for n in names)):
                    return True
                continue
            if op.param in (name, "*") and any(t.rsplit(".", 1)[-1] in names for t in types):
                return True
        # a parent's `apply`/parameters() loop
        for rp in project.replays:
            for (full, p), w in rp.weights.items():
                if w.owner is cls and w.local == name and w.writes:
                    return True
        return False


@register
class NormalWithBounds(Rule):
    code = "IL205"
    name = "normal-with-bounds"
    severity = "error"
    summary = "`normal_(t, -b, b)`: uniform bounds given to `normal_`."
    what = ("Finds `normal_` (or `.normal_()`) called with a negative mean and a positive std of "
            "the same magnitude — the arguments of `uniform_(t, -b, b)`.")
    why = ("`normal_`'s second and third arguments are mean and std: this draws N(-b, b²), a "
           "distribution centred on -b, not U(-b, b). The weights are biased and the layer's "
           "output shifted.")
    example = """
        nn.init.normal_(self.fc.weight, -0.1, 0.1)
    """
    use_instead = """
        nn.init.uniform_(self.fc.weight, -0.1, 0.1)
    """
    fix_safety = "Renames `normal_` to `uniform_`, keeping the arguments; safe."
    VALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.uniform_(self.fc.weight, -0.1, 0.1)
        nn.init.normal_(self.fc.bias, 0.0, 0.1)
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.normal_(self.fc.weight, -0.1, 0.1)
""", _HEADER + """
def init_weights(m):
    if isinstance(m, nn.Linear):
        m.weight.data.normal_(-0.05, 0.05)
"""]

    def check(self, project, emit) -> None:
        for f in project.files:
            ops = []
            for c in f.classes:
                ops.extend(c.ops)
                ops.extend(c.forward_ops)
                for m in c.methods.values():
                    ops.extend(m.ops)
            for fn in f.functions.values():
                ops.extend(fn.ops)
            seen = set()
            for op in ops:
                if op.kind != "normal" or (op.loc.row, op.loc.col) in seen:
                    continue
                mean, std = op.params.get("mean"), op.params.get("std")
                if isinstance(mean, (int, float)) and isinstance(std, (int, float)) and mean < 0 \
                        and std > 0 and math.isclose(-mean, std):
                    seen.add((op.loc.row, op.loc.col))
                    emit(self.code, "error",
                         f"`{op.func}` with mean {mean:g} and std {std:g}: these are uniform "
                         f"bounds; this draws N({mean:g}, {std:g}²), centred on {mean:g}. Use "
                         f"uniform_(t, {mean:g}, {std:g})", op, None, path=op.src,
                         remedy=UniformBounds())


@register
class NormWeightRandom(Rule):
    code = "IL206"
    name = "norm-weight-random"
    severity = "error"
    severity_logic = "error; warning when the init sits behind a run-time condition"
    summary = "A normalization layer's weight (γ) is drawn at random around zero."
    what = ("Finds BatchNorm/LayerNorm/GroupNorm/InstanceNorm/RMSNorm weights whose final init is "
            "a draw centred on zero: `normal_(w, std=0.02)`, `trunc_normal_`, `uniform_(w, -b, b)` "
            "— typically a Hugging Face `_init_weights` with `nn.BatchNorm2d` or `nn.LayerNorm` in "
            "the `isinstance` tuple of the Linear/Conv branch.")
    why = ("γ scales the normalized signal. Drawn from N(0, 0.02) it is about 0.02 and negative "
           "for half the channels: the layer's output std collapses to ~0.02 and the sign of half "
           "the features flips at random. A zero γ is a deliberate recipe (the last BN of a "
           "residual branch); a random one is not.")
    example = """
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
    """
    use_instead = """
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    """
    fix_safety = ("No automatic fix: the norm class has to leave the shared branch, which changes "
                  "the structure of the init function.")
    VALID = [_HEADER + """
class DCGANDisc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 4)
        self.bn = nn.BatchNorm2d(16)
        nn.init.normal_(self.conv.weight, 0.0, 0.02)
        nn.init.normal_(self.bn.weight, 1.0, 0.02)  # DCGAN: gamma ~ N(1, 0.02)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x):
        return F.leaky_relu(self.bn(self.conv(x)), 0.2)
""", _HEADER + """
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        nn.init.zeros_(self.bn.weight)  # zero-gamma residual recipe

    def forward(self, x):
        return x + self.bn(self.conv(x))
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).mean((2, 3)))
""", _HEADER + """
class Enc(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                nn.init.trunc_normal_(m.weight, std=0.02)

    def forward(self, x):
        return self.norm(self.fc(x))
"""]

    def check(self, project, emit) -> None:
        reported = set()
        for j in project.judged:
            w = j.weight
            if w.param != "weight" or j.final is None or \
                    project.weight_category(w.spec) != "norm":
                continue
            op = j.final
            e = describe(op)
            if e.kind == "normal":
                centred = isinstance(e.mean, (int, float)) and abs(e.mean) < 0.1
            elif e.kind == "uniform" and not e.symbolic:
                centred = abs(e.mean) < 0.1 * max(e.std or 0, 1e-12) or e.mean == 0
            else:
                continue
            if not centred or (op.loc.row, op.src) in reported:
                continue
            reported.add((op.loc.row, op.src))
            spread = f"std {e.std:g}" if isinstance(e.std, (int, float)) else "a std from config"
            msg = (f"`{op.func}` draws the weight (γ) of "
                   f"{layer_desc(project, w.owner, w.local)} around zero ({spread}): about half "
                   f"the channels get a negative γ and the layer's output std collapses to the "
                   f"draw's spread; init norm weights with ones_ (take the norm class out of "
                   f"this branch)")
            # the statement to change is the filter that lets the norm class in, when there is one
            where = op.filter.filter_loc if op.filter is not None else None
            if where is not None:
                emit(self.code, cap("error", j), msg, None, j, loc=where, path=op.src,
                     related=[("the init call", op.src, op.loc), *related_for(project, j)])
            else:
                emit(self.code, cap("error", j), msg, op, j, related=related_for(project, j))


BIAS_RIVALS = 0.8  # IL207: a bias spread this close to the pre-activation's own spread


def _weight_var(op, spec) -> float | None:
    """Var(W) of a layer's weight after `op` (None: PyTorch's default), when computable."""
    fi, fo = fan(spec)
    if fi is None:
        return None
    if op is None:
        return 1 / (3 * fi)
    e = describe(op, spec)
    if e.symbolic:
        return None
    if e.kind == "kaiming" and e.gain is not None:
        n = fo if op.params.get("mode") == "fan_out" else fi
        return e.gain ** 2 / n if n else None
    if e.kind == "xavier" and e.gain is not None and fo:
        return e.gain ** 2 * 2 / (fi + fo)
    if e.kind in ("normal", "uniform") and isinstance(e.std, (int, float)):
        return e.std ** 2 + (e.mean or 0) ** 2
    if e.kind == "lecun":
        return 1 / fi
    return None


@register
class LargeBiasBeforeReLU(Rule):
    code = "IL207"
    name = "large-bias-before-relu"
    severity = "warning"
    severity_logic = "warning (the input scale is taken as 1)"
    summary = "A bias drawn with a spread (or set to a negative constant) that rivals the pre-activation scale, before a ReLU."
    what = ("Finds biases of layers feeding a ReLU-family activation whose final init is a random "
            "draw with a std of at least 0.8× the std the weights give the pre-activation (for "
            "inputs of unit scale), or a negative constant of that size.")
    why = ("A unit whose bias lies a pre-activation std below zero fires for fewer than one "
           "input in six, two stds below for one in forty: its output and gradient are zero for "
           "nearly every input from the first step on. With the bias spread as large as the "
           "weights' contribution, a sixth of the units start that way, and a negative constant "
           "of that size kills most of them.")
    example = """
        self.fc = nn.Linear(16, 64)
        nn.init.normal_(self.fc.bias, 0, 1)
        ...
        return F.relu(self.fc(x))
    """
    use_instead = """
        nn.init.zeros_(self.fc.bias)
    """
    fix_safety = "Replaces the bias init with `zeros_`; unsafe (it changes the model's init)."
    VALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")
        nn.init.constant_(self.fc.bias, 0.1)  # a small positive bias keeps units alive
        self.out = nn.Linear(64, 10)
        nn.init.normal_(self.out.bias, 0, 1)  # no ReLU after it

    def forward(self, x):
        return self.out(F.relu(self.fc(x)))
"""]
    INVALID = [_HEADER + """
class Net(nn.Module):
    def __init__(self, m=4):
        super().__init__()
        self.fc = nn.Linear(m, 64)
        self.out = nn.Linear(64, 1)
        nn.init.normal_(self.fc.bias, 0, (1 / m) ** 0.5)

    def forward(self, x):
        return self.out(F.relu(self.fc(x)))
""", _HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")
        nn.init.constant_(self.fc.bias, -3.0)

    def forward(self, x):
        return F.relu(self.fc(x))
"""]

    def check(self, project, emit) -> None:
        weights = {}
        for rp in project.replays:
            for (full, param), w in rp.weights.items():
                if param == "weight":
                    weights[(id(rp.root), full)] = w
        for j in project.judged:
            w = j.weight
            if w.param != "bias" or j.final is None or \
                    project.weight_category(w.spec) != "weight":
                continue
            e = describe(j.final)
            if e.symbolic:
                continue
            nexts = project.following(w.owner, w.local)
            relu = [n for n in nexts if n.node.kind == "act" and not n.normalized and
                    family(project, n.node, w.owner) == K.RELU]
            if not relu or any(n.normalized for n in nexts):
                continue
            wt = weights.get((id(j.root), w.full))
            if wt is None:
                continue
            var = _weight_var(project.final_write(wt)[0], w.spec)
            fi, _ = fan(w.spec)
            if var is None or fi is None:
                continue
            sigma = math.sqrt(fi * var)  # pre-activation std of W·x for unit inputs
            if e.kind in ("normal", "uniform") and isinstance(e.std, (int, float)) and \
                    e.std >= BIAS_RIVALS * sigma and abs(e.mean or 0) < e.std:
                dead = 0.5 * math.erfc(sigma / e.std / math.sqrt(2))
                what = (f"drawn with std {e.std:.3g}, while the weights give the "
                        f"pre-activation a std of ≈{sigma:.2g} (unit inputs): about {dead:.0%} "
                        f"of the units start more than one std below zero, firing for fewer "
                        f"than one input in six")
            elif e.kind in ("constant", "normal") and isinstance(e.mean, (int, float)) and \
                    e.mean <= -sigma and not (e.std or 0) > abs(e.mean):
                what = (f"set to {e.mean:g}, below the ≈{sigma:.2g} std the weights give the "
                        f"pre-activation (unit inputs): most units start dead")
            else:
                continue
            msg = (f"bias of {layer_desc(project, w.owner, w.local)} is {what}, so they never "
                   f"activate and get no gradient before {act_desc(relu[0].node)}; init "
                   f"biases to zero or a small positive constant")
            emit(self.code, cap("warning", j), msg, j.final, j, related=related_for(project, j, relu[0]))
