"""The op graph of the probe's forward pass (torch; child only).

A `TorchFunctionMode` sees every torch function and tensor method the model calls. For each
call it keeps the function, its non-tensor arguments and which earlier tensors (or which
parameters) went in, and numbers the tensors that come out. No statistic of any activation is
read: the graph is the structure the static prediction (`predict.py`) propagates the init
variances through. The probe's own hooks run with torch functions disabled: their ops are not
recorded.
"""

from __future__ import annotations

import weakref

import torch
from torch.overrides import TorchFunctionMode

# tensors per op beyond which the op is recorded as opaque (a `torch.cat` of hundreds)
_MAX_TENSORS = 64


class Op:
    __slots__ = ("name", "func", "ins", "consts", "outs", "shapes", "in_shapes", "kwargs",
                 "inplace")

    def __init__(self, name, func, ins, consts, outs, shapes, in_shapes, kwargs, inplace):
        self.name = name          # normalized name: "add", "linear", "rsub", ...
        self.func = func          # the callable (unary ops are re-evaluated on quadrature nodes)
        self.ins = ins            # per tensor argument: ("node", id) | ("param", name) | ("new", k)
        self.consts = consts      # the positional non-tensor arguments, in order
        self.outs = outs          # node ids of the outputs
        self.shapes = shapes      # their shapes
        self.in_shapes = in_shapes
        self.kwargs = kwargs      # non-tensor keyword arguments
        self.inplace = inplace


def _norm_name(func) -> tuple[str, bool]:
    name = getattr(func, "__name__", "") or ""
    if name.startswith("__") and name.endswith("__") and len(name) > 4:
        core = name[2:-2]
        if core.startswith("i") and core[1:] in ("add", "sub", "mul", "truediv", "matmul"):
            return core[1:], True
        return core, False
    if name.endswith("_") and not name.endswith("__"):
        return name[:-1], True
    return name, False


class Tracer(TorchFunctionMode):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.params = {id(p): n for n, p in model.named_parameters()}
        self.params.update({id(b): n for n, b in model.named_buffers()})
        self.refs: dict[int, tuple] = {}  # id(tensor) -> (weakref, node id)
        self.ops: list[Op] = []
        self.sources: dict[int, tuple] = {}  # node id -> description of an input tensor
        self.next_id = 0
        self.new_count = 0

    # -- tensors
    def node_of(self, t) -> int | None:
        hit = self.refs.get(id(t))
        if hit is not None and hit[0]() is t:
            return hit[1]
        return None

    def _new(self, t) -> int:
        k = self.next_id
        self.next_id += 1
        try:
            self.refs[id(t)] = (weakref.ref(t), k)
        except TypeError:
            pass
        return k

    def add_source(self, t, desc) -> None:
        """An input tensor of the model (its distribution is the probe's input, not the
        model's)."""
        if isinstance(t, torch.Tensor) and self.node_of(t) is None:
            self.sources[self._new(t)] = desc

    def _ref(self, t):
        k = self.node_of(t)
        if k is not None:
            return ("node", k)
        pname = self.params.get(id(t))
        if pname is not None:
            return ("param", pname)
        self.new_count += 1
        return ("new", self.new_count)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name, inplace = _norm_name(func)
        if name in ("get", "set") and not isinstance(out, torch.Tensor):
            return out
        ins, shapes_in, consts = [], [], []
        n = 0
        for a in args:
            if isinstance(a, torch.Tensor):
                ins.append(self._ref(a))
                shapes_in.append(tuple(a.shape))
                consts.append(None)
                n += 1
            elif isinstance(a, (list, tuple)) and a and isinstance(a[0], torch.Tensor):
                for t in a:
                    if isinstance(t, torch.Tensor) and n < _MAX_TENSORS:
                        ins.append(self._ref(t))
                        shapes_in.append(tuple(t.shape))
                        n += 1
                consts.append("list")
            else:
                consts.append(a if isinstance(a, (int, float, bool, str, type(None), tuple,
                                                  list)) else "?")
        kw = {}
        for k, v in kwargs.items():
            if isinstance(v, torch.Tensor):
                ins.append(self._ref(v))
                shapes_in.append(tuple(v.shape))
                kw[k] = ("tensor", len(ins) - 1)
            elif isinstance(v, (int, float, bool, str, type(None), tuple)):
                kw[k] = v
        outs, shapes = [], []
        items = out if isinstance(out, (tuple, list)) else (out,)
        for t in items:
            if isinstance(t, torch.Tensor):
                if inplace and args and t is args[0]:
                    k = self.next_id
                    self.next_id += 1
                    self.refs[id(t)] = (weakref.ref(t), k)
                else:
                    k = self._new(t)
                outs.append(k)
                shapes.append(tuple(t.shape) if t.is_floating_point() else None)
        if outs:
            if name == "masked_fill":
                kw["_inv_keys"] = _inv_keys(args, kwargs)
            elif name == "scaled_dot_product_attention":
                kw["_inv_keys"] = _sdpa_inv_keys(args, kwargs)
            self.ops.append(Op(name, func, ins, consts, outs, shapes, shapes_in, kw, inplace))
        return out


def _inv_keys(args, kwargs):
    """For `scores.masked_fill(mask, -inf)` (attention masking): the mean over rows of
    1 / (number of keys left), a property of the mask's structure (causal: H_T / T), which
    sets how much softmax attention averages. None for any other fill."""
    mask = args[1] if len(args) > 1 else kwargs.get("mask")
    value = args[2] if len(args) > 2 else kwargs.get("value")
    if isinstance(value, torch.Tensor):
        value = float(value) if value.numel() == 1 else None
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() < 1 or \
            not isinstance(value, (int, float)) or value > -1e3:
        return None
    with torch.no_grad():
        left = (~mask).sum(-1).clamp(min=1).double()
        return float((1.0 / left).mean())


def _sdpa_inv_keys(args, kwargs):
    """E[1/keys kept] of scaled_dot_product_attention's `attn_mask` (bool: True keeps; float:
    -inf drops), None without a mask."""
    mask = kwargs.get("attn_mask", args[3] if len(args) > 3 else None)
    if not isinstance(mask, torch.Tensor) or mask.dim() < 1:
        return None
    with torch.no_grad():
        keep = mask if mask.dtype == torch.bool else mask > -1e3
        left = keep.sum(-1).clamp(min=1).double()
        return float((1.0 / left).mean())


_PASS = {"view", "reshape", "flatten", "permute", "transpose", "contiguous", "squeeze",
         "unsqueeze", "clone", "to", "float", "mul", "rmul", "dropout", "drop_path",
         "truediv", "div", "get", "movedim", "unflatten"}


def _is_residual_add(op: Op) -> bool:
    return (op.name in ("add", "radd", "sub") and len(op.ins) >= 2 and op.ins[0] != op.ins[1]
            and all(r[0] == "node" for r in op.ins[:2]))


def residual_ends(ops: list[Op], nodes) -> set[int]:
    """The nodes (layer outputs) that end a residual branch: after reshapes and scalings
    (a layer scale, a Fixup multiplier, dropout) they are added to another tensor."""
    uses: dict[int, list[Op]] = {}
    for op in ops:
        for kind, key in op.ins:
            if kind == "node":
                uses.setdefault(key, []).append(op)
    out = set()
    for start in nodes:
        if start is None:
            continue
        todo, seen = [(start, 0)], set()
        while todo:
            node, depth = todo.pop()
            if node in seen or depth > 6:
                continue
            seen.add(node)
            for op in uses.get(node, ()):
                if _is_residual_add(op):
                    out.add(start)
                    todo = []
                    break
                if op.name in _PASS and op.outs:
                    todo.append((op.outs[0], depth + 1))
    return out


def residual_operands(ops: list[Op]) -> set[int]:
    """Nodes that are one operand of a two-tensor add: the residual stream where a branch's
    output is added back."""
    out = set()
    for op in ops:
        if _is_residual_add(op):
            out.update(r[1] for r in op.ins[:2])
    return out
