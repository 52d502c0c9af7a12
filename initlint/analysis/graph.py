"""Model graph queries: what a layer's output feeds, chains, residual branches."""

from __future__ import annotations

from dataclasses import dataclass, field

from initlint import knowledge as K
from initlint.analysis.model import ClassFacts, Graph, Node


@dataclass
class Next:
    """The first significant operation after a layer (seen through normalization)."""

    node: Node
    normalized: bool  # a normalization layer sits between the layer and `node`
    norm: Node | None = None


@dataclass
class ClassGraph:
    cls: ClassFacts
    nodes: dict[int, Node] = field(default_factory=dict)
    succ: dict[int, list[int]] = field(default_factory=dict)
    pred: dict[int, list[int]] = field(default_factory=dict)
    by_ref: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, facts: ClassFacts) -> "ClassGraph":
        g = cls(facts)
        graph: Graph | None = facts.forward
        if graph is None:
            return g
        for n in graph.nodes:
            g.nodes[n.id] = n
            g.succ.setdefault(n.id, [])
            g.pred.setdefault(n.id, [])
            if n.kind in ("layer", "norm", "module", "act") and n.ref:
                g.by_ref.setdefault(n.ref, []).append(n.id)
        for a, b in graph.edges:
            if b not in g.succ.setdefault(a, []):
                g.succ[a].append(b)
                g.pred.setdefault(b, []).append(a)
        return g

    def layer_nodes(self, path: str) -> list[int]:
        ids = list(self.by_ref.get(path, []))
        # `blocks.*` call sites stand for every element
        if not ids and "." in path:
            head, _, tail = path.rpartition(".")
            if tail.isdigit():
                ids = list(self.by_ref.get(f"{head}.*", []))
        return [i for i in ids if self.nodes[i].kind in ("layer", "module")]

    def has_layer(self, path: str) -> bool:
        return bool(self.layer_nodes(path))

    def nexts(self, nid: int) -> list[Next]:
        out: list[Next] = []
        seen = set()
        stack = [(s, False, None) for s in self.succ.get(nid, [])]
        while stack:
            s, normed, norm = stack.pop()
            if (s, normed) in seen:
                continue
            seen.add((s, normed))
            node = self.nodes[s]
            if node.kind == "norm":
                for t in self.succ.get(s, []):
                    stack.append((t, True, node))
                continue
            out.append(Next(node, normed, norm))
        return out

    def following(self, path: str) -> list[Next]:
        out: list[Next] = []
        for nid in self.layer_nodes(path):
            out.extend(self.nexts(nid))
        return out

    def feeds_weight_layer(self, path: str, weighty) -> bool:
        """True when the layer's output reaches another weight layer through activations and
        normalization only (not through a residual add, a gate or an unknown call)."""
        for start in self.layer_nodes(path):
            seen = set()
            stack = list(self.succ.get(start, []))
            while stack:
                s = stack.pop()
                if s in seen:
                    continue
                seen.add(s)
                node = self.nodes[s]
                if node.kind == "layer":
                    return True
                if node.kind == "module" and weighty(node):
                    return True
                if node.kind in ("act", "norm"):
                    stack.extend(self.succ.get(s, []))
        return False

    def renormalized(self, path: str) -> bool:
        """A normalization layer sits somewhere downstream of the layer."""
        seen: set[int] = set()
        stack = [s for nid in self.layer_nodes(path) for s in self.succ.get(nid, [])]
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            if self.nodes[s].kind == "norm":
                return True
            stack.extend(self.succ.get(s, []))
        return False

    def reaches_input(self, nid: int) -> bool:
        seen = set()
        stack = [nid]
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            if self.nodes[s].kind == "input":
                return True
            stack.extend(self.pred.get(s, []))
        return False

    def residual_branches(self) -> list[tuple[Node, Node]]:
        """(add node, last BatchNorm of the branch) for `out += identity`-style adds."""
        out = []
        graph = self.cls.forward
        if graph is None:
            return out
        conditional = set(graph.conditional_adds)
        for add_id, left, right in graph.residual_adds:
            if add_id in conditional:
                continue  # `if self.use_res_connect: x = x + ...`: not a classic residual block
            for branch, other in ((left, right), (right, left)):
                if len(branch) != 1:
                    continue
                b = self.nodes.get(branch[0])
                if b is None or b.kind != "norm":
                    continue
                spec = self.cls.layers.get(b.ref or "")
                if spec is None or not K.is_batchnorm(spec.kind):
                    continue
                if any(o == b.id for o in other):
                    continue
                if not all(self.reaches_input(o) for o in other) or not self.reaches_input(b.id):
                    continue
                # the branch is conv -> BN: a BN applied straight to an activation or to the
                # input is a re-parameterization branch (RepVGG's identity BN), not the end of
                # a residual branch
                preds = self.pred.get(b.id, [])
                if not preds or not all(self.nodes[p].kind in ("layer", "module") for p in preds):
                    continue
                # RepVGG-style: the other side is itself a BN of the input, not a shortcut
                if any(self.nodes[o].kind == "norm" and all(
                        self.nodes[p].kind == "input" for p in self.pred.get(o, []))
                       for o in other):
                    continue
                # the residual branch is the deeper side; a shortcut (downsample conv + BN) or
                # a parallel branch of the same depth (RepVGG, attention fusion) is not
                if self.depth(b.id) <= max((self.depth(o) for o in other), default=0):
                    continue
                out.append((self.nodes[add_id], b))
        return out

    def depth(self, nid: int) -> int:
        """Most weight layers on any path from the input to `nid` (its own included)."""
        memo = self.__dict__.setdefault("_depth", {})
        if nid in memo:
            return memo[nid]
        memo[nid] = 0  # cycle guard (loops in forward)
        node = self.nodes[nid]
        own = 1 if node.kind in ("layer", "module") else 0
        best = max((self.depth(p) for p in self.pred.get(nid, [])), default=0)
        memo[nid] = best + own
        return memo[nid]

    def _ancestors(self, nid: int) -> set[int]:
        seen: set[int] = set()
        stack = list(self.pred.get(nid, []))
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            stack.extend(self.pred.get(s, []))
        return seen
