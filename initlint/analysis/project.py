"""The whole-project view the rules read: index, replays, graphs, effective inits."""

from __future__ import annotations

import math
from dataclasses import dataclass

from initlint import knowledge as K
from initlint.analysis.graph import ClassGraph, Next
from initlint.analysis.index import Index, Weight, certain, fan
from initlint.analysis.model import ClassFacts, FileFacts, InitOp, LayerSpec
from initlint.analysis.resolve import Replay, Replayer

SQRT2 = math.sqrt(2.0)


@dataclass
class Eff:
    """What an init does, reduced to a distribution family and an effective gain."""

    kind: str  # default xavier kaiming normal uniform zero constant orthogonal lecun copy unknown ...
    gain: float | None = None  # gain in the sense of calculate_gain, where it applies
    named: str | None = None  # nonlinearity named by the init (kaiming nonlinearity=, gain_nl)
    slope: float | None = None
    std: float | None = None  # literal std (normal) or implied std (uniform)
    mean: float | None = None
    fan_gain: float | None = None  # std written as sqrt(K/fan)
    implied_gain: float | None = None  # literal std x sqrt(fan_in)
    symbolic: bool = False
    dist: str | None = None


def describe(op: InitOp | None, spec: LayerSpec | None = None) -> Eff:
    e = _describe(op)
    if spec is not None and e.kind in ("normal", "uniform") and e.std and e.fan_gain is None:
        fi, _ = fan(spec)
        if fi:
            e.implied_gain = e.std * math.sqrt(fi)
            if op is not None and op.params.get("std_expr"):
                e.fan_gain = e.implied_gain  # a formula of the fan, evaluated
    return e


def _describe(op: InitOp | None) -> Eff:
    if op is None:
        return Eff("default", gain=math.sqrt(1 / 3), named="leaky_relu", slope=math.sqrt(5))
    p = op.params
    if op.kind == "kaiming":
        nl, a = p.get("nonlinearity"), p.get("a")
        if not isinstance(nl, str) or (a is None and "a" in p):
            return Eff("kaiming", symbolic=True)
        gain = K.calculate_gain(nl, a if isinstance(a, (int, float)) else None)
        return Eff("kaiming", gain=gain, named=nl, slope=a if nl == "leaky_relu" else None,
                   dist=p.get("dist"))
    if op.kind == "xavier":
        g = p.get("gain")
        return Eff("xavier", gain=g, named=p.get("gain_nl"), symbolic=g is None, dist=p.get("dist"))
    if op.kind == "normal":
        std, mean = p.get("std"), p.get("mean")
        if std == 0:  # normal_(w, mean, 0): every weight is `mean`, a constant init
            return Eff("constant", std=0.0, mean=mean if isinstance(mean, (int, float)) else 0.0)
        return Eff("normal", std=std, mean=mean, fan_gain=op.std_fan_gain,
                   symbolic=std is None and op.std_fan_gain is None)
    if op.kind == "uniform":
        a, b = p.get("a"), p.get("b")
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return Eff("uniform", std=abs(b - a) / math.sqrt(12), mean=(a + b) / 2)
        return Eff("uniform", symbolic=True)
    if op.kind == "orthogonal":
        return Eff("orthogonal", gain=p.get("gain"))
    if op.kind == "lecun":
        return Eff("lecun", gain=1.0, fan_gain=1.0)
    if op.kind in ("zero", "constant"):
        return Eff(op.kind, std=0.0, mean=p.get("val", 0.0) if op.kind == "constant" else 0.0)
    return Eff(op.kind, symbolic=True)


def he_like(e: Eff) -> bool:
    g = e.gain if e.kind in ("kaiming", "xavier") else e.fan_gain if e.kind == "normal" else None
    return g is not None and abs(g / SQRT2 - 1) <= 0.1


@dataclass
class Judged:
    """A weight's final init, judged in the context of the class that builds the layer."""

    weight: Weight
    final: InitOp | None
    final_cls: ClassFacts | None
    conditional: bool
    root: ClassFacts


class Project:
    def __init__(self, files: list[FileFacts], relu_like: frozenset = frozenset(),
                 min_chain: int = 6):
        self.files = files
        self.index = Index(files)
        self.relu_like = relu_like
        self.min_chain = min_chain
        self._graphs: dict[int, ClassGraph] = {}
        self._all_ops: list[InitOp] | None = None
        self.module_classes = [c for c in self.index.all_classes() if self.index.is_module(c)]
        rep = Replayer(self.index)
        self.replays: list[Replay] = [rep.run(c) for c in self.module_classes]
        self.judged = self._judge()

    def all_ops(self) -> list[InitOp]:
        """Every init statement in the tree (class __init__s, methods, functions), cached."""
        if self._all_ops is None:
            ops: list[InitOp] = []
            for f in self.files:
                for c in f.classes:
                    ops.extend(c.ops)
                    for m in c.methods.values():
                        ops.extend(m.ops)
                for fn in f.functions.values():
                    ops.extend(fn.ops)
            self._all_ops = ops
        return self._all_ops

    def file_of(self, obj) -> FileFacts:
        return self.index.file_of[id(obj)]

    def graph(self, cls: ClassFacts) -> ClassGraph:
        g = self._graphs.get(id(cls))
        if g is None:
            g = self._graphs[id(cls)] = ClassGraph.of(cls)
        return g

    def family(self, short: str | None) -> str:
        if short is None:
            return K.RUNTIME
        return K.act_family(short, self.relu_like)

    # ------------------------------------------------------------------ judgments
    def _judge(self) -> list[Judged]:
        """Final inits per (owner class, layer, param), dropping a standalone view whose
        final init some containing model overwrites (that init is dead: IL402's business)."""
        by_key: dict[tuple, list[tuple[Replay, Weight]]] = {}
        for rp in self.replays:
            for w in rp.weights.values():
                by_key.setdefault((id(w.owner), w.local, w.param), []).append((rp, w))
        out: list[Judged] = []
        seen_ops = set()
        for key, views in by_key.items():
            finals = {}
            for rp, w in views:
                op, cls, cond = self.final_write(w)
                finals[id(rp)] = (op, cls, cond, rp, w)
            distinct = {}
            for op, cls, cond, rp, w in finals.values():
                k = id(op) if op is not None else None
                distinct.setdefault(k, (op, cls, cond, rp, w))
            keep = list(distinct.values())
            if len(distinct) > 1:
                others = [v for v in keep if v[3].root is not v[4].owner]
                if others and len(others) < len(keep):
                    keep = others
            for op, cls, cond, rp, w in keep:
                tag = (key, id(op) if op is not None else None)
                if tag in seen_ops:
                    continue
                seen_ops.add(tag)
                out.append(Judged(w, op, cls, cond, rp.root))
        return out

    @staticmethod
    def final_write(w: Weight) -> tuple[InitOp | None, ClassFacts | None, bool]:
        """The last unconditional write (None: PyTorch's default), and whether a conditional or
        partial write after it may change the outcome. Rescales fold into the write before."""
        final, final_cls, uncertain = None, None, False
        for op, cls in w.writes:
            if op.kind == "rescale":
                continue
            if op.conditional or op.params.get("partial"):
                uncertain = True
                continue
            final, final_cls, uncertain = op, cls, False
        return final, final_cls, uncertain

    # ------------------------------------------------------------------ graph helpers
    def following(self, owner: ClassFacts, local: str) -> list[Next]:
        return self.graph(owner).following(local)

    def weighty(self, owner: ClassFacts):
        def check(node) -> bool:
            spec = owner.layers.get(node.ref or "")
            if spec is None:
                return False
            kind = self.index.spec_kind(spec)
            if K.layer_category(kind) in ("rnn", "attention", "weight"):
                return True
            sub = self.index.class_of_spec(spec)
            if sub is None:
                return False
            insts, _ = self.index.instances(sub)
            return any(K.layer_category(self.index.spec_kind(i.spec)) == "weight" for i in insts)
        return check

    def is_hidden(self, owner: ClassFacts, local: str) -> bool:
        return self.graph(owner).feeds_weight_layer(local, self.weighty(owner))

    def layer_fan(self, spec: LayerSpec | None):
        if spec is None:
            return None, None
        if spec.kind is None and spec.factory:
            fn = self.index.find_function(spec.factory)
            if fn is not None and fn.returns_spec is not None:
                return None, None
        return fan(spec)

    def weight_category(self, spec: LayerSpec | None) -> str | None:
        if spec is None:
            return None
        return K.layer_category(self.index.spec_kind(spec))


__all__ = ["Project", "Eff", "describe", "he_like", "Judged", "certain"]
