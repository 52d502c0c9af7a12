"""The remedies: one planner per remedy type (`initlint.remedies`), registered by type.

A rule attaches a frozen remedy value to its finding; `plan.plans_for_file` looks up
`PLANNERS[type(remedy)]` and calls it as `planner(builder, finding, node, remedy)` with the
`ast.Call` at the finding's location. A planner appends its edits to `builder.spans` (or asks
the builder to insert a statement), and returns `(applicability, message)`; it raises
`Unfixable` when the code is not in a form it can rewrite safely (no fix is offered then).

A new remedy is one dataclass in `initlint/remedies.py` plus one function here:

    @planner(R.UseOrthogonal)
    def _fix_orthogonal(b, f, node, h): ...
"""

from __future__ import annotations

import ast
import os
from typing import Callable

from initlint import knowledge as K
from initlint import remedies as R
from initlint.findings import Finding
from initlint.fix.locate import FileCtx, layer_ref
from initlint.fix.rewrite import (Builder, Call, as_kw, as_pos, kw_arg, load_libcst,
                                  num_literal, parse_expr, render, with_commas)
from initlint.fix.text import Unfixable

_GAIN_NAMES = ("tanh", "sigmoid")  # saturating activations calculate_gain knows

PLANNERS: dict[type, Callable] = {}  # remedy type -> planner(builder, finding, node, remedy)


def planner(remedy_type: type):
    """Register the decorated function as the planner for `remedy_type`."""
    def register(fn: Callable) -> Callable:
        if remedy_type in PLANNERS:
            raise ValueError(f"two planners for {remedy_type.__name__}")
        PLANNERS[remedy_type] = fn
        return fn
    return register


def _nonlinearity_args(c: Call, act: str | None, a, family: str | None) -> tuple[list, str] | None:
    """`a=`/`nonlinearity=` arguments that match activation `act`."""
    if family == K.RELU or act in ("relu", "relu6", "leaky_relu", "prelu", "rrelu"):
        if a:
            return [kw_arg("a", num_literal(a)), kw_arg("nonlinearity", c.s("leaky_relu"))], \
                f'nonlinearity="leaky_relu", a={num_literal(a)}'
        return [kw_arg("nonlinearity", c.s("relu"))], 'nonlinearity="relu"'
    if act in ("tanh", "sigmoid", "selu", "linear"):
        return [kw_arg("nonlinearity", c.s(act))], f'nonlinearity="{act}"'
    return None


def _to_kaiming(b, c: Call, nl_args: list, dist: str | None = None) -> tuple[tuple, str]:
    short = f"kaiming_{dist or c.dist}_"
    keep = c.keep("mode") if c.short and c.short.startswith("kaiming") else []
    args = [c.tensor_arg()] + keep + nl_args + c.keep("generator")
    return c.replace(c.func_for(short), args), short


def _to_xavier(b, c: Call, act: str | None) -> tuple[tuple, str]:
    short = f"xavier_{c.dist}_"
    args = [c.tensor_arg()]
    if act in _GAIN_NAMES:
        args.append(kw_arg("gain", f"{c.gain_func()}({c.s(act)})"))
    args += c.keep("generator")
    return c.replace(c.func_for(short), args), short


@planner(R.UseKaiming)
def _fix_kaiming(b: Builder, f: Finding, node: ast.Call, h: R.UseKaiming):
    c = Call(b, node)
    nl = _nonlinearity_args(c, h.nonlinearity or "relu", h.a, K.RELU)
    span, short = _to_kaiming(b, c, nl[0])
    b.spans.append(span)
    return ("unsafe" if h.shared else "safe"), f"Use `{short}` with {nl[1]}"


@planner(R.UseXavier)
def _fix_xavier(b: Builder, f: Finding, node: ast.Call, h: R.UseXavier):
    c = Call(b, node)
    act = h.gain
    span, short = _to_xavier(b, c, act)
    b.spans.append(span)
    gain = f' with gain=calculate_gain("{act}")' if act in _GAIN_NAMES else ""
    return ("unsafe" if h.shared else "safe"), f"Use `{short}`{gain}"


@planner(R.MatchNonlinearity)
def _fix_nonlinearity(b: Builder, f: Finding, node: ast.Call, h: R.MatchNonlinearity):
    c = Call(b, node)
    act, a, family = h.act, h.a, h.family
    safety = "unsafe" if h.shared else "safe"
    if c.short and c.short.startswith("kaiming"):
        nl = _nonlinearity_args(c, act, a, family)
        if nl is None:
            raise Unfixable(f"no nonlinearity for {act}")
        span, short = _to_kaiming(b, c, nl[0], c.dist)
        b.spans.append(span)
        return safety, f"Use {nl[1]}"
    if c.short and c.short.startswith("xavier") and "gain" in c.args:
        gain = c.args["gain"]
        value = gain.value
        cst = load_libcst()
        if not (isinstance(value, cst.Call) and render(value.func).endswith("calculate_gain")):
            raise Unfixable("gain is not a calculate_gain() call")
        if family == K.RELU or act in ("relu", "leaky_relu", "prelu", "rrelu", "relu6"):
            new_args = [c.s("leaky_relu"), num_literal(a)] if a else [c.s("relu")]
        elif act in _GAIN_NAMES:
            new_args = [c.s(act)]
        else:
            raise Unfixable(f"no gain for {act}")
        new_value = value.with_changes(args=with_commas(
            [cst.Arg(value=parse_expr(x)) for x in new_args], value.args))
        args = [gain.with_changes(value=new_value) if arg is gain else arg for arg in c.cst.args]
        b.spans.append(c.replace(c.cst.func, args))
        return safety, f"Use gain=calculate_gain({', '.join(new_args)})"
    raise Unfixable("not a kaiming/xavier call")


def _is_init_call(b: Builder, node: ast.Call) -> bool:
    name = b.ctx.resolve(node.func, node)
    if name is not None and name in K.INIT_FUNCTIONS:
        return True
    return isinstance(node.func, ast.Attribute) and node.func.attr in K.TENSOR_INIT_METHODS


@planner(R.UseLecun)
def _fix_lecun(b: Builder, f: Finding, node: ast.Call, h: R.UseLecun):
    safety = "unsafe" if h.shared else "safe"
    if _is_init_call(b, node):
        c = Call(b, node)
        span, _ = _to_kaiming(b, c, [kw_arg("nonlinearity", c.s("linear"))], "normal")
        b.spans.append(span)
        return safety, 'Use LeCun normal init: `kaiming_normal_` with nonlinearity="linear"'
    # the layer is left at PyTorch's default: add an init after the statement that builds it
    if not f.layer:
        raise Unfixable("no layer path")
    stmt, fn, ref = layer_ref(b.ctx, node, f.layer)
    weight = ref + ".weight"
    quote = b.ctx.quote
    call = f"{b.spell('kaiming_normal_', node)}({weight}, nonlinearity={quote}linear{quote})"
    b.insert_after(stmt, call)
    return safety, f"Add LeCun normal init `{call}`"


@planner(R.ScaleByFan)
def _fix_scaled(b: Builder, f: Finding, node: ast.Call, h: R.ScaleByFan):
    if h.runtime:
        raise Unfixable("activation chosen at run time")
    c = Call(b, node)
    act, a, family = h.act, h.a, h.family
    if family == K.RELU:
        nl = _nonlinearity_args(c, act, a if act in ("leaky_relu", "prelu", "rrelu") else None,
                                K.RELU)
        span, short = _to_kaiming(b, c, nl[0])
        what = f"`{short}` with {nl[1]}"
    elif act == "selu":
        span, short = _to_kaiming(b, c, [kw_arg("nonlinearity", c.s("linear"))], "normal")
        what = '`kaiming_normal_` with nonlinearity="linear" (LeCun)'
    else:
        span, short = _to_xavier(b, c, act if act in _GAIN_NAMES else None)
        what = f"`{short}`" + (f' with gain=calculate_gain("{act}")' if act in _GAIN_NAMES else "")
    b.spans.append(span)
    return "unsafe", f"Scale by fan-in: use {what}"


@planner(R.UniformBounds)
def _fix_uniform(b: Builder, f: Finding, node: ast.Call, h: R.UniformBounds):
    c = Call(b, node)
    if c.short not in ("normal_", "normal"):
        raise Unfixable("not normal_")
    lo, hi = c.args.get("mean"), c.args.get("std")
    if lo is None or hi is None:
        raise Unfixable("bounds not given")
    if c.form == "method":
        func = c.cst.func.with_changes(attr=load_libcst().Name("uniform_"))
        args = [as_pos(lo), as_pos(hi)] + c.keep("generator")
    else:
        func = c.func_for("uniform_")
        both_pos = lo.keyword is None and hi.keyword is None
        args = [c.args["tensor"]] + ([lo, hi] if both_pos else [as_kw(lo, "a"), as_kw(hi, "b")])
        args += c.keep("generator")
    b.spans.append(c.replace(func, args))
    return "safe", "Use `uniform_` with these bounds"


@planner(R.ZeroLastNorm)
def _fix_zero_bn(b: Builder, f: Finding, node: ast.Call, h: R.ZeroLastNorm):
    bn, cls_name = h.bn, h.cls
    if not bn or not cls_name:
        raise Unfixable("no BN path")
    cls = b.ctx.enclosing(node, ast.ClassDef)
    stmt, fn, ref = layer_ref(b.ctx, node, bn)
    if cls is None or cls.name != cls_name or fn.name != "__init__" or \
            b.ctx.enclosing(fn, ast.ClassDef) is not cls:
        raise Unfixable("BatchNorm not built in the block's __init__")
    if stmt not in fn.body:
        raise Unfixable("BatchNorm built conditionally")
    later = _norm_overwriter(b.facts, cls_name)
    if later is not None:
        raise Unfixable(f"a later init would overwrite it ({later})")
    weight = ref + ".weight"
    call = f"{b.spell('zeros_', fn.body[-1])}({weight})"
    b.append_to_body(fn, call)
    return "unsafe", f"Zero-init the last BatchNorm's weight: add `{call}` to `__init__`"


def _hits_norm_weight(op) -> bool:
    """Can this loop/applied init write a BatchNorm's weight (then a γ zeroed in the block's
    `__init__` is overwritten when a model containing the block runs it)?"""
    flt = op.filter
    if op.target != "filter" or flt is None or op.kind == "zero" or \
            op.param not in ("weight", "*") or flt.identity or flt.identity_uid:
        return False
    if flt.classname_sub:
        sub = flt.classname_sub.lower()
        return ("norm" in sub or "batch" in sub) != flt.negated
    if flt.types is None:
        return True
    return any("Norm" in t for t in flt.types) != flt.negated


def _norm_overwriter(facts, block: str) -> str | None:
    """Where a class other than `block` (or an init function) writes BatchNorm weights in a
    loop or an applied function, in a file that names the block (builds it directly, through
    a helper, or as a `block=` default); None if nowhere in the linted files."""
    for ff in facts:
        if block not in ff.refs:
            continue  # a model there cannot build the block by name
        owners = [(c.name, c.ops + [o for m in c.methods.values() for o in m.ops])
                  for c in ff.classes if c.name != block]
        owners += [(fn.name, fn.ops) for fn in ff.functions.values()]
        for name, ops in owners:
            for op in ops:
                if _hits_norm_weight(op):
                    return f"`{name}`, {os.path.basename(op.src or ff.path)}:{op.loc.row}"
    return None


@planner(R.ScaleRandn)
def _fix_randn(b: Builder, f: Finding, node: ast.Call, h: R.ScaleRandn):
    ctx = b.ctx
    if not node.args or not isinstance(node.args[0], ast.Call):
        raise Unfixable("not Parameter(torch.randn(...))")
    rnd = node.args[0]
    if ctx.resolve(rnd.func, rnd) != "torch.randn":
        raise Unfixable("not torch.randn")
    dims = None
    size = next((k.value for k in rnd.keywords if k.arg == "size"), None)
    if size is not None and not rnd.args:
        dims = list(size.elts) if isinstance(size, (ast.Tuple, ast.List)) else None
    elif len(rnd.args) == 1 and isinstance(rnd.args[0], (ast.Tuple, ast.List)):
        dims = list(rnd.args[0].elts)
    elif rnd.args:
        dims = list(rnd.args)
    if not dims or len(dims) < 2 or any(isinstance(d, ast.Starred) for d in dims):
        raise Unfixable("shape not known")
    if len(dims) == 3:
        # (n_layers, out, in) stacked linear maps or an (out, in, k) conv1d kernel: which
        # dimensions make the fan-in depends on the use
        raise Unfixable("a stack of weight matrices: the fan-in dimension is not clear")
    orientation = _orientation(ctx, node, h.param or f.layer or "")
    if orientation is None:
        raise Unfixable("fan-in dimension unclear")
    if orientation == "in_first":
        if len(dims) != 2:
            raise Unfixable("fan-in dimension unclear")
        fan_nodes = [dims[0]]
    else:
        fan_nodes = dims[1:]
    parts = [ctx.t.segment(d) if isinstance(d, (ast.Name, ast.Attribute, ast.Constant, ast.Call,
                                                  ast.Subscript)) else f"({ctx.t.segment(d)})"
             for d in fan_nodes]
    if all(isinstance(d, ast.Constant) and d.value == 1 for d in fan_nodes):
        raise Unfixable("fan-in 1: std 1 is already 1/sqrt(fan_in); scaling by 1 does nothing")
    fan = parts[0] if len(parts) == 1 else "(" + " * ".join(parts) + ")"
    _, end = ctx.t.node_span(rnd)
    b.spans.append((end, end, f" * {fan} ** -0.5"))
    return "unsafe", f"Scale `torch.randn(...)` by `{fan} ** -0.5` (1/sqrt(fan_in))"


def _orientation(ctx: FileCtx, node: ast.AST, param: str) -> str | None:
    """How a raw weight is used: `x @ W` (in_first) or `F.linear(x, W)`/`x @ W.t()` (out_first)."""
    cls = ctx.enclosing(node, ast.ClassDef)
    if cls is None or not param:
        return "out_first"

    def is_p(n) -> bool:
        return isinstance(n, ast.Attribute) and n.attr == param and isinstance(n.value, ast.Name) \
            and n.value.id == "self"

    def is_pt(n) -> bool:
        if isinstance(n, ast.Attribute) and n.attr in ("T", "mT") and is_p(n.value):
            return True
        return isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
            n.func.attr in ("t", "transpose") and is_p(n.func.value)

    votes = set()
    for n in ast.walk(cls):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult):
            if is_p(n.right) or is_pt(n.left):
                votes.add("in_first")
            if is_p(n.left) or is_pt(n.right):
                votes.add("out_first")
        elif isinstance(n, ast.Call) and len(n.args) >= 2:
            fname = n.func.attr if isinstance(n.func, ast.Attribute) else (
                n.func.id if isinstance(n.func, ast.Name) else "")
            if fname == "linear" and is_p(n.args[1]):
                votes.add("out_first")
            elif fname in ("matmul", "mm"):
                if is_p(n.args[1]) or is_pt(n.args[0]):
                    votes.add("in_first")
                if is_p(n.args[0]) or is_pt(n.args[1]):
                    votes.add("out_first")
    if len(votes) > 1:
        return None
    return votes.pop() if votes else "out_first"
