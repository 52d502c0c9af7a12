"""Static prediction of each weight layer's output std, checked by the probe.

Mean-field propagation of three moments per tensor, E[x²] (`q`), the part of it that is the
same at every position and sample (`p`: biases, the mean of a ReLU; what survives pooling) and
the mean (`m`), through the op graph of the forward pass (`trace.py`), starting from the
probe's input. The only numbers that go in are the init moments of the weights, E[w²] and
E[w]: from the static analysis (the init each layer gets, read from the source, never run),
and for a parameter the static analysis does not resolve, from the built parameter (said per
layer: `source`). No activation statistic is read; the measurement then checks the result.

Rules (fan-in n, weight second moment v):
  linear/conv        q' = n·v·q + E[b²] (+ the mean term of a non-zero-mean weight)
  elementwise f      E[f(z)], E[f(z)²] for z ~ N(m, q − m²), Gauss–Hermite quadrature
  norms              reset: q' = E[γ²] + E[β²]
  residual add       q' = q₁ + q₂ + 2·m₁·m₂
  average pooling    q' = p + (q − p)/N over N positions; max pooling: Gaussian order statistics
  attention          near-uniform weights over L keys: the values' fluctuation / L
  dropout            q' = q / (1 − p_drop) (the probe runs in train mode)

The static side: `static_inits()` reads the analysis's replay of each model class (the
writes `initlint graph` shows), the one adapter to change if the analysis does.
"""

from __future__ import annotations

import ast
import math

SHAPE_OPS = {
    "view", "reshape", "flatten", "permute", "transpose", "contiguous", "squeeze",
    "unsqueeze", "expand", "expand_as", "clone", "chunk", "split", "unbind", "getitem",
    "narrow", "select", "repeat", "to", "float", "double", "half", "type", "get", "t",
    "movedim", "swapaxes", "unflatten", "view_as", "reshape_as", "detach", "roll", "flip",
    "tensor_split", "split_with_sizes", "as_strided", "pixel_shuffle", "pixel_unshuffle",
    "channel_shuffle", "repeat_interleave", "masked_fill", "pad", "cpu", "cuda", "bfloat16",
    "requires_grad", "identity", "tile", "index_select", "gather",
}
UNARY = {
    "relu", "relu6", "gelu", "silu", "tanh", "sigmoid", "hardswish", "hardsigmoid", "elu",
    "selu", "celu", "leaky_relu", "softplus", "mish", "hardtanh", "softsign", "tanhshrink",
    "logsigmoid", "exp", "abs", "neg", "square", "sin", "cos", "erf", "rrelu", "prelu",
    "threshold", "hardshrink", "softshrink", "quick_gelu", "clamp", "clip", "clamp_min",
    "clamp_max", "pow", "sqrt", "rsqrt",
}
MONOTONE = {"relu", "relu6", "leaky_relu", "elu", "selu", "celu", "tanh", "sigmoid",
            "hardtanh", "softsign", "softplus", "hardsigmoid", "rrelu", "prelu", "logsigmoid"}
NORMS = {"layer_norm", "batch_norm", "group_norm", "instance_norm", "rms_norm",
         "local_response_norm"}
POOL_AVG = {"avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
            "adaptive_avg_pool2d", "adaptive_avg_pool3d", "mean"}
POOL_MAX = {"max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool1d",
            "adaptive_max_pool2d", "adaptive_max_pool3d", "max_pool1d_with_indices",
            "max_pool2d_with_indices", "max_pool3d_with_indices", "amax"}
CONVS = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
         "conv_transpose3d"}
DROPOUT = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
           "feature_alpha_dropout"}

DEFAULT_INIT_KINDS = {"Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
                      "ConvTranspose2d", "ConvTranspose3d", "Bilinear", "LazyLinear"}

# quadrature for E[f(z)], z ~ N(0, 1): a fine grid on [-8, 8] (f may be any torch op)
_GRID = None


def _gauss_hermite():
    """(nodes, weights) as float64 tensors: 401 points on [-8, 8], weights ∝ the N(0, 1)
    density (for the smooth and piecewise-smooth activations here, error < 1e-4)."""
    global _GRID
    if _GRID is None:
        import torch

        z = torch.linspace(-8.0, 8.0, 401, dtype=torch.float64)
        w = torch.exp(-z * z / 2)
        _GRID = (z, w / w.sum())
    return _GRID


class State:
    """E[x²], the shared (position- and sample-independent) part of it, and E[x]."""

    __slots__ = ("q", "p", "m", "pre")

    def __init__(self, q: float, p: float, m: float, pre=None):
        self.pre = pre  # (op, State): this is an elementwise op of that (Gaussian) state
        self.q = max(q, 0.0)
        self.p = min(max(p, m * m, 0.0), self.q)
        self.m = m

    @property
    def var(self) -> float:
        return max(self.q - self.m * self.m, 0.0)

    @property
    def std(self) -> float:
        return math.sqrt(self.var)


def _prod(shape) -> int:
    n = 1
    for s in shape or ():
        n *= int(s)
    return n


# ---------------------------------------------------------------------------- static side

def _gain(nonlinearity, a) -> float | None:
    nl = nonlinearity or "leaky_relu"
    if nl in ("linear", "sigmoid", "identity") or nl.startswith("conv"):
        return 1.0
    if nl == "tanh":
        return 5.0 / 3
    if nl == "relu":
        return math.sqrt(2.0)
    if nl == "leaky_relu":
        a = 0.01 if a is None and nonlinearity == "leaky_relu" else (a or 0.0)
        return math.sqrt(2.0 / (1 + a * a))
    if nl == "selu":
        return 0.75
    return None


def init_moments(func: str | None, kw: dict, fan_in: int, fan_out: int):
    """(E[w²], E[w]) of the init `func(**kw)` (None: PyTorch's Linear/Conv default) for these
    fans; None when that does not determine it (a symbolic argument, an unknown function)."""
    if func is None:
        return 1.0 / (3 * fan_in), 0.0  # weight: kaiming_uniform_(a=√5); bias: ±1/√fan_in
    func = func.rsplit(".", 1)[-1].rstrip("_")
    if any(v is None for k, v in kw.items() if k in ("std", "gain", "a", "b", "val", "mean")):
        return None
    if func in ("kaiming_normal", "kaiming_uniform"):
        g = _gain(kw.get("nonlinearity"), kw.get("a"))
        fan = fan_out if kw.get("mode") == "fan_out" else fan_in
        return (None if g is None else (g * g / fan, 0.0))
    if func in ("xavier_normal", "xavier_uniform"):
        g = kw.get("gain", 1.0)
        return g * g * 2.0 / (fan_in + fan_out), 0.0
    if func in ("normal", "trunc_normal"):
        s, mu = kw.get("std", 1.0), kw.get("mean", 0.0)
        if func == "trunc_normal":
            a, b = kw.get("a", -2.0), kw.get("b", 2.0)
            if not (a <= mu - 2 * s and b >= mu + 2 * s):
                return None
        return s * s + mu * mu, mu
    if func == "uniform":
        a, b = kw.get("a", 0.0), kw.get("b", 1.0)
        return (b - a) ** 2 / 12 + ((a + b) / 2) ** 2, (a + b) / 2
    if func in ("zeros", "zero"):
        return 0.0, 0.0
    if func == "ones":
        return 1.0, 1.0
    if func in ("constant", "fill"):
        v = kw.get("val")
        return (None if v is None else (v * v, v))
    if func in ("orthogonal", "orthogonal_"):
        g = kw.get("gain", 1.0)
        return g * g / max(fan_in, fan_out), 0.0
    return None


def static_inits(files: list[str], config) -> dict:
    """class key ('module.Qualname') -> {instance path: {param: (init function or None for
    PyTorch's default, its literal arguments)}}: what the static analysis replays for a model
    built from that class, nested instances included (a root's `self.apply(_init_weights)`
    reaching its blocks' layers). Nothing is imported. The one place that reads the analysis."""
    from initlint.analysis.project import Project
    from initlint.discover import discover
    from initlint.engine import analyze_file

    targets, _ = discover(files, config)
    facts = [r.facts for r in (analyze_file(t.path, t.display) for t in targets)
             if r.facts is not None]
    project = Project(facts, relu_like=frozenset(config.relu_like), min_chain=config.min_chain)
    out: dict = {}
    for rp in project.replays:
        table = out.setdefault(f"{rp.root.module}.{rp.root.qualname}", {})
        table[COMPLETE] = rp.complete
        for (path, param), w in rp.weights.items():
            final, _cls, uncertain = project.final_write(w)
            if uncertain or (final is not None and (final.symbolic or final.kind == "copy")):
                table.setdefault(path, {})[param] = UNKNOWN
                continue
            kw = {} if final is None else {k: v for k, v in final.params.items()
                                           if k not in ("dist", "partial", "std_expr")}
            table.setdefault(path, {})[param] = (None if final is None else final.func, kw)
    return out


def fans(shape) -> tuple[int, int] | None:
    """(fan_in, fan_out) of a weight of this shape, as torch.nn.init computes them."""
    if len(shape) < 2:
        return None
    rf = _prod(shape[2:])
    return int(shape[1]) * rf, int(shape[0]) * rf


def _match(table: dict, rest: str):
    """The entry for an instance path: exact, else with its repetition indices generalized
    (the analysis models a loop-built child as `blocks.*`, a comprehension's as `blocks.0`),
    innermost index first."""
    hit = table.get(rest)
    if hit is not None:
        return hit
    parts = rest.split(".")
    nums = [i for i, part in enumerate(parts) if part.isdigit()]
    for sub in ("*", "0"):
        for k in range(len(nums) - 1, -1, -1):
            cand = list(parts)
            for i in nums[k:]:
                cand[i] = sub
            hit = table.get(".".join(cand))
            if hit is not None:
                return hit
    return None


COMPLETE = "__complete__"  # the replay resolved every submodule of the class
UNKNOWN = ("?", {})  # a write the analysis sees but cannot evaluate (symbolic, conditional)


def init_text(func, kw) -> str:
    if func is None:
        return "PyTorch default"
    return f"{func}({', '.join(f'{k}={v!r}' for k, v in kw.items())})"


def static_moments(modules: list[dict], inits: dict, shapes: dict) -> dict:
    """param name -> (E[w²], E[w], init text) where the static analysis determines the init.

    `modules`: the probe's class_info rows (instance path, type, class key); `shapes`: param
    name -> (fan_in, fan_out). A parameter is matched through the outermost enclosing
    instance whose class's replay has it (a parent's init runs after its children's)."""
    by_path, types = {}, {}
    for row in modules:
        types[row["name"]] = row.get("type")
        for k in (row.get("static_key"), f"{row['module']}.{row['qualname']}"):
            if k and k in inits:
                by_path[row["name"]] = inits[k]
                break
    out = {}
    for pname, (fan_in, fan_out) in shapes.items():
        owner, _, local = pname.rpartition(".")
        parts = owner.split(".") if owner else []
        for cut in range(0, len(parts) + 1):
            table = by_path.get(".".join(parts[:cut]))
            rest = ".".join(parts[cut:])
            if table is None:
                continue
            entry = _match(table, rest) if rest else None
            if not entry or local not in entry:
                if not table.get(COMPLETE, True):
                    break  # an outer class's replay misses this layer: its init is unknown
                continue
            if entry[local] is UNKNOWN or entry[local] == UNKNOWN:
                break
            func, kw = entry[local]
            if func is None and types.get(owner) not in DEFAULT_INIT_KINDS:
                break  # other layers' defaults (Embedding N(0, 1), norms' ones): not modeled
            mom = init_moments(func, kw, fan_in, fan_out)
            if mom is not None:
                out[pname] = (mom[0], mom[1], init_text(func, kw))
            break
    return out


# ---------------------------------------------------------------------------- propagation

class Propagator:
    def __init__(self, ops, sources: dict, pmoments: dict, pshapes: dict):
        self.ops = ops
        self.st: dict[int, State | None] = {}
        for k, desc in sources.items():
            self.st[k] = desc
        self.pm = pmoments      # param name -> (E[x²], E[x])
        self.pshapes = pshapes  # param name -> shape
        self._unary_cache: dict = {}
        self.keys: dict[int, float] = {}  # node -> E[1/keys left] of an attention mask

    def pstate(self, name) -> State | None:
        mom = self.pm.get(name)
        if mom is None:
            return None
        q, m = mom[0], mom[1]
        shape = self.pshapes.get(name) or ()
        per_channel = sum(1 for s in shape if s > 1) <= 1
        return State(q, q if per_channel else m * m, m)

    def get(self, ref) -> State | None:
        kind, key = ref
        if kind == "node":
            return self.st.get(key)
        if kind == "param":
            return self.pstate(key)
        return None

    def run(self) -> dict:
        for op in self.ops:
            try:
                res = self.apply(op)
            except (ArithmeticError, ValueError, TypeError, IndexError):
                res = None
            for k in op.outs:
                self.st[k] = res
        return self.st

    # -- helpers
    def _weight(self, op, idx):
        if idx < len(op.ins) and op.ins[idx][0] == "param":
            return self.pm.get(op.ins[idx][1])
        s = self.get(op.ins[idx]) if idx < len(op.ins) else None
        return None if s is None else (s.q, s.m)

    def _affine(self, x: State, n: float, w, b) -> State:
        v, mw = w
        var_w = max(v - mw * mw, 0.0)
        q = n * var_w * x.q + mw * mw * (n * (x.q - x.p) + n * n * x.p)
        p = n * var_w * x.p + mw * mw * n * n * x.p
        m = n * mw * x.m
        if b is not None:
            q += b[0] + 2 * m * b[1]
            p += b[0] + 2 * m * b[1]
            m += b[1]
        return State(q, p, m)

    def _unary(self, op, x: State) -> State | None:
        import torch

        nodes, w = _gauss_hermite()
        sd = math.sqrt(x.var)
        key = (op.name, repr(op.consts[1:]), repr(sorted(op.kwargs.items())), x.m, sd)
        hit = self._unary_cache.get(key)
        if hit is not None:
            return State(*hit, pre=(op, x))
        z = nodes * sd + x.m
        args = [z] + [c for c in op.consts[1:]]
        kw = {k: v for k, v in op.kwargs.items() if not (isinstance(v, tuple) and v and
                                                           v[0] == "tensor")}
        kw.pop("inplace", None)
        if op.name == "prelu":
            a = self._weight(op, 1)
            if a is None:
                return None
            y = torch.where(z > 0, z, z * a[1])
        else:
            fn = op.func if callable(op.func) else (
                getattr(torch.nn.functional, op.name, None) or getattr(torch, op.name))
            if op.name in ("relu", "relu6", "hardtanh", "leaky_relu", "elu", "selu", "celu",
                           "hardswish", "hardsigmoid", "silu", "mish", "threshold", "rrelu"):
                args = args[:1] + [c for c in op.consts[1:] if not isinstance(c, bool)]
            y = fn(*args, **kw)
        ef, ef2 = float((w * y).sum()), float((w * y * y).sum())
        # the shared part: the mean of f, plus the shared fluctuation scaled by f's variance gain
        gain = (ef2 - ef * ef) / x.var if x.var > 0 else 0.0
        p = ef * ef + gain * max(x.p - x.m * x.m, 0.0)
        self._unary_cache[key] = (ef2, p, ef)
        return State(ef2, p, ef, pre=(op, x))

    def _binary(self, name, a: State | None, b, same=False) -> State | None:
        if a is None or b is None:
            return None
        if isinstance(b, (int, float)):
            c = float(b)
            if name in ("add", "radd"):
                return State(a.q + 2 * c * a.m + c * c, a.p + 2 * c * a.m + c * c, a.m + c)
            if name == "sub":
                return State(a.q - 2 * c * a.m + c * c, a.p - 2 * c * a.m + c * c, a.m - c)
            if name == "rsub":
                return State(a.q - 2 * c * a.m + c * c, a.p - 2 * c * a.m + c * c, c - a.m)
            if name in ("mul", "rmul"):
                return State(a.q * c * c, a.p * c * c, a.m * c)
            if name in ("truediv", "div") and c != 0:
                return State(a.q / (c * c), a.p / (c * c), a.m / c)
            return None
        if name in ("add", "radd", "sub", "rsub"):
            if same:
                return State(4 * a.q, 4 * a.p, 2 * a.m) if name in ("add", "radd") else \
                    State(0, 0, 0)
            sgn = 1 if name in ("add", "radd") else -1
            m = a.m + sgn * b.m
            return State(a.q + b.q + 2 * sgn * a.m * b.m, a.p + b.p + 2 * sgn * a.m * b.m, m)
        if name in ("mul", "rmul"):
            if same:
                return State(a.q * a.q, a.p * a.p, a.q)  # x * x: E[x⁴] ≈ E[x²]² (rough)
            return State(a.q * b.q, a.p * b.p, a.m * b.m)
        if name in ("truediv", "div") and b.q > 0 and b.p >= 0.5 * b.q:
            # by a nearly constant tensor (a count, a norm): 1/E[b²] for E[1/b²]
            return State(a.q / b.q, a.p / b.q, a.m / b.m if b.m else 0.0)
        return None

    # -- one op
    def apply(self, op) -> State | None:  # noqa: C901 - one table of rules
        name = op.name
        ins = op.ins
        x = self.get(ins[0]) if ins else None
        if name in ("linear",):
            w = self._weight(op, 1)
            b = self._weight(op, 2) if len(ins) > 2 else None
            shp = op.in_shapes[1] if len(op.in_shapes) > 1 else None
            if x is None or w is None or not shp:
                return None
            return self._affine(x, shp[-1], w, b)
        if name == "addmm" and len(ins) >= 3:
            # torch.addmm(bias, x, W): Hugging Face's Conv1D (GPT-2), weight (in, out)
            x2, w = self.get(ins[1]), self._weight(op, 2)
            shp = op.in_shapes[2]
            if x2 is None or w is None or not shp:
                return None
            return self._affine(x2, shp[0], w, self._weight(op, 0))
        if name in CONVS:
            w = self._weight(op, 1)
            b = self._weight(op, 2) if len(ins) > 2 else None
            shp = op.in_shapes[1] if len(op.in_shapes) > 1 else None
            if x is None or w is None or not shp:
                return None
            groups = op.kwargs.get("groups")
            if groups is None:
                groups = op.consts[6] if len(op.consts) > 6 and isinstance(op.consts[6], int) else 1
            if "transpose" in name:
                # weight (in, out/groups, *k): each output sums in/groups × k / stride taps
                stride = op.kwargs.get("stride", op.consts[3] if len(op.consts) > 3 else 1)
                st = (_prod(stride) if isinstance(stride, (tuple, list)) else
                      int(stride or 1) ** (len(shp) - 2))
                n = max(shp[0] / max(groups, 1) * _prod(shp[2:]) / max(st, 1), 1.0)
            else:
                n = shp[1] * _prod(shp[2:]) * _valid_taps(op, shp)
            return self._affine(x, n, w, b)
        if name == "embedding":
            w = self._weight(op, 1)
            if w is None:
                return None
            return State(w[0], w[1] * w[1], w[1])
        if name in ("matmul", "mm", "bmm") and len(ins) >= 2:
            a, b = self.get(ins[0]), self.get(ins[1])
            k = op.in_shapes[0][-1] if op.in_shapes[0] else 1
            if ins[1][0] == "param":
                w = self.pm.get(ins[1][1])
                return None if a is None or w is None else self._affine(a, k, w, None)
            if a is None or b is None:
                return None
            return State(k * a.q * b.q + k * (k - 1) * a.m * a.m * b.p,
                         k * a.p * b.p + k * (k - 1) * a.m * a.m * b.p, k * a.m * b.m)
        if name in NORMS:
            ws = [self._weight(op, i) for i in range(1, len(ins))]
            if name in ("batch_norm", "instance_norm"):
                # F.batch_norm(input, running_mean, running_var, weight, bias, ...)
                ws = [self._weight(op, i) for i in range(3, len(ins))]
            wkw = {k: self._weight(op, v[1]) for k, v in op.kwargs.items()
                   if isinstance(v, tuple) and v and v[0] == "tensor"}
            gamma = wkw.get("weight") or (ws[0] if len(ws) > 0 else None)
            beta = wkw.get("bias") or (ws[1] if len(ws) > 1 else None)
            g2 = gamma[0] if gamma else 1.0
            b2, bm = (beta[0], beta[1]) if beta else (0.0, 0.0)
            if name == "rms_norm":
                shared = (x.p / x.q) if x is not None and x.q > 0 else 0.0
            elif name in ("batch_norm", "instance_norm"):
                shared = 0.0
            else:
                shared = ((x.p - x.m * x.m) / x.var) if x is not None and x.var > 0 else 0.0
            return State(g2 + b2, g2 * min(max(shared, 0.0), 1.0) + b2, bm)
        if x is None and name not in ("softmax", "scaled_dot_product_attention", "cat", "concat",
                                      "stack", "zeros", "ones", "zeros_like", "ones_like",
                                      "full", "multi_head_attention_forward"):
            return None
        if name in SHAPE_OPS:
            if name == "masked_fill" and op.kwargs.get("_inv_keys"):
                self.keys[op.outs[0]] = op.kwargs["_inv_keys"]
            return x
        if name in DROPOUT:
            pd = op.kwargs.get("p", op.consts[1] if len(op.consts) > 1 and
                               isinstance(op.consts[1], float) else 0.5)
            train = op.kwargs.get("training", op.consts[2] if len(op.consts) > 2 and
                                  isinstance(op.consts[2], bool) else True)
            if not train or not pd or pd >= 1:
                return x
            return State(x.q / (1 - pd), x.p, x.m)
        if name in UNARY:
            if name == "neg":
                return State(x.q, x.p, -x.m)
            return self._unary(op, x)
        if name in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "div"):
            if len(ins) >= 2:
                same = ins[0] == ins[1]
                b = self.get(ins[1])
                if name == "add" and "alpha" in op.kwargs and b is not None:
                    al = float(op.kwargs["alpha"])
                    b = State(b.q * al * al, b.p * al * al, b.m * al)
                return self._binary(name, x, b, same)
            c = next((v for v in op.consts[1:] if isinstance(v, (int, float)) and
                      not isinstance(v, bool)), None)
            return self._binary(name, x, c)
        if name in POOL_AVG:
            n_in, n_out = _prod(op.in_shapes[0]), _prod(op.shapes[0])
            n = n_in / max(n_out, 1)
            if n <= 1:
                return x
            return State(x.p + (x.q - x.p) / n, x.p, x.m)
        if name == "sum":
            n = _prod(op.in_shapes[0]) / max(_prod(op.shapes[0]), 1)
            return State(n * x.q + n * (n - 1) * x.p, n * n * x.p, n * x.m)
        if name in POOL_MAX:
            k = _prod(op.in_shapes[0]) / max(_prod(op.shapes[0]), 1)
            e, v = _max_stats(max(int(round(k)), 1))
            # the max of a monotone activation is the activation of the max: take the
            # Gaussian order statistics before it, then apply it
            base = x.pre[1] if x.pre is not None and x.pre[0].name in MONOTONE else x
            # the shared part (a channel's offset, the same at every position) is not raised
            # by the max; only what differs between the k neighbours is
            shared = max(base.p - base.m * base.m, 0.0)
            fl = math.sqrt(max(base.q - base.p, 0.0))
            mu = base.m + fl * e
            mx = State(mu * mu + shared + fl * fl * v, base.p + (fl * e) ** 2 + 2 * base.m * fl * e,
                       mu)
            if base is not x:
                return self._unary(x.pre[0], mx)
            return mx
        if name in ("cat", "stack", "concat", "concatenate"):
            # empty pieces (a key/value cache before its first update) weigh nothing
            parts = [(r, sh) for r, sh in zip(ins, op.in_shapes) if _prod(sh) > 0]
            sts = [self.get(r) for r, _ in parts]
            if not sts or any(s is None for s in sts):
                return None
            ns = [_prod(sh) for _, sh in parts]
            tot = sum(ns) or 1
            return State(sum(s.q * n for s, n in zip(sts, ns)) / tot,
                         sum(s.p * n for s, n in zip(sts, ns)) / tot,
                         sum(s.m * n for s, n in zip(sts, ns)) / tot)
        if name in ("zeros", "zeros_like"):
            return State(0, 0, 0)
        if name in ("ones", "ones_like"):
            return State(1, 1, 1)
        if name in ("softmax", "log_softmax"):
            if name == "log_softmax" or not op.shapes[0]:
                return None
            dim = op.kwargs.get("dim", op.consts[1] if len(op.consts) > 1 else -1)
            L = op.shapes[0][dim if isinstance(dim, int) else -1]
            var = x.var if x is not None and math.isfinite(x.var) else 0.0
            # near-uniform weights over the keys a row keeps (all L, or 1/E[1/t] under a mask)
            inv = (self.keys.get(ins[0][1]) if ins and ins[0][0] == "node" else None) or 1.0 / L
            return State(min(math.exp(min(var, 50.0)) * inv, 1.0) / L, 1.0 / (L * L), 1.0 / L)
        if name == "scaled_dot_product_attention" and len(ins) >= 3:
            qs, ks, vs = (self.get(r) for r in ins[:3])
            if vs is None:
                return None
            L = op.in_shapes[1][-2] if len(op.in_shapes[1]) >= 2 else 1
            d = op.in_shapes[0][-1] if op.in_shapes[0] else 1
            scale = op.kwargs.get("scale") or 1 / math.sqrt(d)
            var = scale * scale * d * qs.q * ks.q if qs is not None and ks is not None else 0
            causal = op.kwargs.get("is_causal") or (len(op.consts) > 5 and op.consts[5] is True)
            inv = op.kwargs.get("_inv_keys") or (
                (sum(1.0 / t for t in range(1, L + 1)) / L) if causal else 1.0 / max(L, 1))
            f = min(math.exp(min(var, 50.0)) * inv, 1.0)
            return State(vs.p + (vs.q - vs.p) * f, vs.p, vs.m)
        if name == "multi_head_attention_forward":
            return self._mha(op)
        return None

    def _mha(self, op) -> State | None:
        # (query, key, value, embed_dim, num_heads, in_proj_weight, in_proj_bias, bias_k,
        #  bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, ...)
        vals = [self.get(r) if r[0] == "node" else None for r in op.ins]
        params = [r[1] for r in op.ins if r[0] == "param"]
        v_in = vals[2] if len(vals) > 2 else None
        if v_in is None:
            return None
        win = next((p for p in params if p.endswith("in_proj_weight")), None)
        bin_ = next((p for p in params if p.endswith("in_proj_bias")), None)
        wout = next((p for p in params if p.endswith("out_proj.weight")), None)
        bout = next((p for p in params if p.endswith("out_proj.bias")), None)
        if win is None or wout is None:
            return None
        e = self.pshapes[win][-1]
        v = self._affine(v_in, e, self.pm[win], self.pm.get(bin_) if bin_ else None)
        L = op.in_shapes[1][0] if len(op.in_shapes[1]) >= 2 else 1  # (L, N, E) here
        att = State(v.p + (v.q - v.p) / max(L, 1), v.p, v.m)
        return self._affine(att, e, self.pm[wout], self.pm.get(bout) if bout else None)


def _valid_taps(op, wshape) -> float:
    """The fraction of a convolution's kernel taps that fall inside the input, on average over
    the output positions (zero padding: on a 4×4 map a 3×3 kernel sees 69% of its taps)."""
    xshape = op.in_shapes[0] if op.in_shapes else ()
    d = len(wshape) - 2
    if len(xshape) < d + 1 or d < 1:
        return 1.0

    def per_dim(v, i, default):
        if isinstance(v, (tuple, list)):
            return int(v[i]) if i < len(v) else default
        return int(v) if isinstance(v, int) else default

    stride = op.kwargs.get("stride", op.consts[3] if len(op.consts) > 3 else 1)
    pad = op.kwargs.get("padding", op.consts[4] if len(op.consts) > 4 else 0)
    dil = op.kwargs.get("dilation", op.consts[5] if len(op.consts) > 5 else 1)
    if isinstance(pad, str):
        if pad == "valid":
            return 1.0
        pad = [(per_dim(dil, i, 1) * (int(wshape[2 + i]) - 1)) // 2 for i in range(d)]
    frac = 1.0
    for i in range(d):
        size, k = int(xshape[-d + i]), int(wshape[2 + i])
        st, p, dl = per_dim(stride, i, 1), per_dim(pad, i, 0), per_dim(dil, i, 1)
        n_out = (size + 2 * p - dl * (k - 1) - 1) // max(st, 1) + 1
        if n_out < 1 or k < 1:
            continue
        taps = 0
        for o in range(n_out):
            start = o * st - p
            taps += sum(1 for j in range(k) if 0 <= start + j * dl < size)
        frac *= taps / (n_out * k)
    return frac


_MAX_CACHE: dict[int, tuple[float, float]] = {}


def _max_stats(k: int) -> tuple[float, float]:
    """Mean and variance of the largest of k independent N(0, 1) (numerical integration)."""
    if k in _MAX_CACHE:
        return _MAX_CACHE[k]
    if k == 1:
        return 0.0, 1.0
    n, lo, hi = 4000, -8.0, 8.0
    h = (hi - lo) / n
    e = e2 = 0.0
    for i in range(n + 1):
        x = lo + i * h
        pdf = math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        cdf = 0.5 * (1 + math.erf(x / math.sqrt(2)))
        dens = k * pdf * cdf ** (k - 1) * h
        e += x * dens
        e2 += x * x * dens
    _MAX_CACHE[k] = (e, e2 - e * e)
    return _MAX_CACHE[k]


def predict(tracer, events_out: list, input_states: dict, pmoments: dict, pshapes: dict):
    """Predicted output std per recorder event (by index; None where the graph loses track)."""
    prop = Propagator(tracer.ops, input_states, pmoments, pshapes)
    st = prop.run()
    out = []
    for node in events_out:
        s = st.get(node) if node is not None else None
        out.append(None if s is None else s.std)
    return out
