"""`forward` by the same evaluator, with abstract tensors: each tensor carries the graph
nodes that produced it, so calling a layer, an activation (module, `F.*`, `torch.*`, tensor
method), a norm, or adding two tensors adds a node and its "feeds" edges. Child modules'
own forwards are inlined, so an init inside a custom layer meets the activation after it.
`x * sigmoid(x)` (also `h *= torch.sigmoid(h)`) is SiLU, not a gate."""

from __future__ import annotations

import ast

from initlint import knowledge as K
from initlint.analysis.model import Graph, Loc, Node
from initlint.evaluate.values import FuncV, ModuleV, ParamV, TensorV, Unknown

_PASS_METHODS = K.SHAPE_METHODS | {"flip", "roll", "unbind", "t"}


def _loc(node) -> Loc | None:
    if node is None or not hasattr(node, "lineno"):
        return None
    return Loc(node.lineno, node.col_offset, getattr(node, "end_lineno", node.lineno) or
               node.lineno, getattr(node, "end_col_offset", node.col_offset) or node.col_offset)


def _nodes(values) -> frozenset:
    out: frozenset = frozenset()
    for v in values:
        if isinstance(v, TensorV):
            out |= v.nodes
        elif isinstance(v, (list, tuple)):
            out |= _nodes(v)
    return out


class ForwardMixin:
    def new_node(self, kind, preds, node=None, **kw) -> int:
        g: Graph = self.graph
        nid = len(g.nodes)
        g.nodes.append(Node(nid, kind, loc=_loc(node), **kw))
        for p in sorted(preds):
            g.edges.append((p, nid))
        return nid

    def path_of(self, m) -> str | None:
        return self.paths.get(id(m))

    # ------------------------------------------------------------------ modules
    def call_module(self, m: ModuleV, args, kwargs, fr, node):
        if self.mode != "forward":
            return Unknown("module call")
        ins = _nodes(list(args) + list(kwargs.values()))
        path = self.path_of(m)
        if m.act or m.kind == "?act":
            return TensorV(nodes=frozenset({self.new_node(
                "act", ins, node, ref=path, act=m.act, slope=m.args.get("slope"),
                runtime=m.kind == "?act")}))
        kind = m.kind
        if m.cls is None:
            cat = K.layer_category(kind)
            if cat in ("weight", "embedding", "rnn", "attention"):
                return TensorV(nodes=frozenset({self.new_node("layer", ins, node, ref=path)}))
            if cat == "norm":
                return TensorV(nodes=frozenset({self.new_node("norm", ins, node, ref=path)}))
            if kind.endswith("Sequential"):
                return self._chain(m, args, fr, node)
            if kind in K.TRANSPARENT_LAYERS or K.layer_short(kind).startswith(
                    ("Dropout", "Identity")):
                return next((a for a in args if isinstance(a, TensorV)), TensorV(nodes=ins))
            return TensorV(nodes=frozenset({self.new_node("opaque", ins, node, ref=path)}))
        if K.is_norm(kind):
            return TensorV(nodes=frozenset({self.new_node("norm", ins, node, ref=path)}))
        fwd, _ = self.class_attr(m.cls, "forward")
        if isinstance(fwd, FuncV):
            out = self.invoke(fwd, [m] + list(args), kwargs, node)
            if isinstance(out, (TensorV, tuple, list, dict)):
                return out
        elif any(getattr(b, "name", "").endswith("Sequential") for b in m.cls.mro()):
            return self._chain(m, args, fr, node)
        return TensorV(nodes=frozenset({self.new_node("module", ins, node, ref=path)}))

    def _chain(self, m, args, fr, node):
        x = args[0] if args else TensorV()
        for c in m.children.values():
            x = self.call_module(c, [x], {}, fr, node)
        return x

    # ------------------------------------------------------------------ functions
    def forward_function(self, name, args, kwargs, fr, node):
        tensors = [a for a in args if isinstance(a, (TensorV, ParamV))]
        ins = _nodes(args)
        act = K.ACT_FUNCTIONS.get(name)
        if act is not None:
            return self._act(act, ins, node, args, kwargs)
        if name in K.FUNCTIONAL_NORMS:
            return TensorV(nodes=frozenset({self.new_node("norm", ins, node, ref=name)}))
        if name in K.TRANSPARENT_FUNCTIONS:
            return TensorV(nodes=ins)
        if tensors or ins:
            return self.opaque(args, kwargs, node, fr)
        return NotImplemented

    def _act(self, act, ins, node, args=(), kwargs=None):
        slope = (kwargs or {}).get("negative_slope")
        if slope is None and act == "leaky_relu" and len(args) > 1:
            slope = args[1]
        nid = self.new_node("act", ins, node, ref=act, act=act,
                            slope=slope if isinstance(slope, (int, float)) else None)
        t = TensorV(nodes=frozenset({nid}))
        if act == "sigmoid":
            t.act_of = (ins, nid)
        return t

    def opaque(self, args, kwargs, node, fr):
        ins = _nodes(list(args) + list(kwargs.values()))
        if not ins:
            return Unknown("call")
        return TensorV(nodes=frozenset({self.new_node("opaque", ins, node)}))

    def tensor_forward_method(self, t, name, args, kwargs, fr, node):
        nodes = t.nodes if isinstance(t, TensorV) else frozenset()  # a parameter: no producer
        if name in K.ACT_TENSOR_METHODS:
            return self._act(K.ACT_TENSOR_METHODS[name], nodes, node)
        if name in _PASS_METHODS:
            return TensorV(nodes=nodes)
        return self.opaque([t] + list(args), kwargs, node, fr)

    # ------------------------------------------------------------------ arithmetic
    def tensor_binop(self, op, a, b, node, fr):
        if self.mode != "forward":
            return _scaled(op, a, b)
        ta, tb = isinstance(a, TensorV), isinstance(b, TensorV)
        na = a.nodes if ta else frozenset()
        nb = b.nodes if tb else frozenset()
        if op is ast.MatMult:
            for p, other in ((a, nb), (b, na)):
                if isinstance(p, ParamV) and other:
                    ref = self.param_paths.get(id(p))
                    return TensorV(nodes=frozenset({self.new_node("layer", other, node, ref=ref)}))
        if op is ast.Mult and ta and tb:
            for x, s in ((na, b), (nb, a)):
                if s.act_of is not None and s.act_of[0] == x and x:
                    self._drop_node(s.act_of[1])
                    return self._act("silu", x, node)
            if na and nb:
                return TensorV(nodes=frozenset({self.new_node("mul", na | nb, node)}))
        if op in (ast.Add, ast.Sub) and na and nb and na != nb:
            nid = self.new_node("add", na | nb, node)
            self.graph.residual_adds.append((nid, sorted(na), sorted(nb)))
            return TensorV(nodes=frozenset({nid}))
        return TensorV(nodes=na | nb)

    def _drop_node(self, nid):
        g = self.graph
        g.edges = [e for e in g.edges if nid not in e]
        g.nodes[nid].kind = "opaque"
        g.nodes[nid].act = None

    def tensor_view(self, obj, node, fr):
        if isinstance(obj, ParamV):
            return TensorV(shape=None, param=obj)
        return TensorV(nodes=obj.nodes, param=obj.param)

    def tensor_setitem(self, obj, value, target, fr):
        p = obj if isinstance(obj, ParamV) else obj.param
        if p is not None and self.mode != "forward":
            self.record(p, "partial", "__setitem__", {}, _May(fr), target)


class _May:
    """A frame view whose writes are "may": a slice write leaves the rest of the tensor."""

    def __init__(self, fr):
        self.src, self.may = fr.src, True


def _scaled(op, a, b):
    """`torch.randn(...) * k` in `__init__`: the distribution's std scales by |k|."""
    t, k = (a, b) if isinstance(a, TensorV) else (b, a)
    if not isinstance(t, TensorV):
        return TensorV(ctor="other")
    out = TensorV(shape=t.shape, ctor=t.ctor, std=t.std, value=t.value)
    if op in (ast.Mult, ast.Div) and not isinstance(k, (TensorV, ParamV)):
        if isinstance(k, (int, float)) and (op is ast.Mult or k):
            f = abs(k) if op is ast.Mult or t is b else 1 / abs(k)
            if t.ctor == "randn" and t.std is not None and not isinstance(t.std, Unknown):
                out.std = t.std * f
            elif t.ctor in ("zeros", "ones", "full") and isinstance(t.value, (int, float)):
                out.value = t.value * k if op is ast.Mult else t.value / k
            return out
        if t.ctor == "randn":
            out.std = Unknown("scale")
            return out
        if t.ctor == "zeros":
            return out
    out.ctor = "other"
    return out
