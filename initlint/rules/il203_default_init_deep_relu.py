"""IL203 default-init-deep-relu: A plain chain of ≥ 6 ReLU layers all on PyTorch's default init."""

from __future__ import annotations

import math
import re

from initlint import knowledge as K
from initlint.analysis.index import fan
from initlint.rules.base import Rule
from initlint.rules.common import family, layer_desc, shrink, weight_judgments
from initlint.rules.examples import Expect, HEADER, Invalid, Valid

CHAIN_END = re.compile(r"last layer of the chain `([^`]+)`")  # the related note confirm reads
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
    use_instead = """
        for m in self.net.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    """
    fix_safety = "No automatic fix: the fix is a new init loop, placed by the author."
    EXAMPLES = [
        Valid(HEADER + """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        for _ in range(8):
            layers += [nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
"""),
        Invalid(HEADER + """
class Net(nn.Module):
    def __init__(self, depth=8):
        super().__init__()
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(256, 256), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
""",
                [Expect(11, 24, "warning",
                        message_contains="8 weight layers starting at `net.0` (Linear)")]),
    ]

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

    def confirm(self, finding, ev) -> tuple[str, str]:
        """Confirmed when the signal shrinks by more than PER_LAYER_SHRINK per layer from the
        chain's first layer to its last (named in the finding's related note)."""
        ends = [m.group(1) for m in (CHAIN_END.search(r.message) for r in finding.related) if m]
        return shrink(ev, ends[-1] if ends else None)
