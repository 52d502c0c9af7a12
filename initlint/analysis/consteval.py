"""A small constant evaluator over literal expressions and default arguments.

Returns a Python value for what it can evaluate and `None` for anything else: a value read
from a config object stays unknown and is never judged.
"""

from __future__ import annotations

import ast
import math
import operator

from initlint import knowledge

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_MAX_BITS = 4096  # no std, gain or size needs a bigger integer
_MATH = {"sqrt": math.sqrt, "log": math.log, "exp": math.exp, "pow": math.pow}
_MATH_CONST = {"pi": math.pi, "e": math.e}


def evaluate(node: ast.AST | None, env: dict, resolve=None):
    """Evaluate `node`; `env` maps names to known values; `resolve` canonicalizes names."""
    try:
        return _eval(node, env, resolve)
    except Exception:  # arithmetic errors, recursion: unknown
        return None


def _eval(node, env, resolve):
    if node is None:
        return None
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float, str, bool)) and not isinstance(node.value, bytes):
            return node.value
        return None
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env, resolve)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if isinstance(node.op, ast.USub):
                return -v
            if isinstance(node.op, ast.UAdd):
                return v
        return None
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, env, resolve)
        right = _eval(node.right, env, resolve)
        if _num(left) and _num(right):
            op = _BINOPS.get(type(node.op))
            if op is None:
                return None
            if isinstance(node.op, ast.Pow) and (abs(right) > 64 or (isinstance(
                    left, int) and left.bit_length() * abs(right) > _MAX_BITS)):
                return None  # ((10**64)**64)**64...: minutes of big-int arithmetic
            val = op(left, right)
            return None if isinstance(val, int) and val.bit_length() > _MAX_BITS else val
        return None
    if isinstance(node, (ast.Tuple, ast.List)):
        vals = [_eval(e, env, resolve) for e in node.elts]
        return tuple(vals)
    if isinstance(node, ast.Attribute):
        name = resolve(node) if resolve else None
        if name and name.startswith("math.") and name[5:] in _MATH_CONST:
            return _MATH_CONST[name[5:]]
        return None
    if isinstance(node, ast.Call):
        name = resolve(node.func) if resolve else None
        if name is None and isinstance(node.func, ast.Name):
            name = node.func.id
        if name is None:
            return None
        args = [_eval(a, env, resolve) for a in node.args]
        if name.startswith("math.") and name[5:] in _MATH and all(_num(a) for a in args):
            return _MATH[name[5:]](*args)
        if name in ("int", "float") and len(args) == 1 and _num(args[0]):
            return {"int": int, "float": float}[name](args[0])
        if name in ("min", "max") and args and all(_num(a) for a in args):
            return {"min": min, "max": max}[name](args)
        if name in knowledge.CALCULATE_GAIN or name.endswith(".calculate_gain"):
            kw = {k.arg: _eval(k.value, env, resolve) for k in node.keywords}
            nl = args[0] if args else kw.get("nonlinearity")
            param = args[1] if len(args) > 1 else kw.get("param")
            if isinstance(nl, str):
                return knowledge.calculate_gain(nl, param if _num(param) else None)
        return None
    return None


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fan_scaled_gain(node: ast.AST | None, env: dict, resolve=None) -> float | None:
    """Recognize a std written as a function of an unknown fan: `sqrt(K / n)`, `(K / n) ** 0.5`,
    `K / sqrt(n)`, `n ** -0.5`. Returns the implied gain (√K, K or 1), else None."""
    if node is None:
        return None

    def is_sqrt_call(n):
        if isinstance(n, ast.Call) and len(n.args) == 1:
            name = resolve(n.func) if resolve else None
            if name in ("math.sqrt", "numpy.sqrt", "torch.sqrt"):
                return n.args[0]
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow):
            p = evaluate(n.right, env, resolve)
            if p == 0.5:
                return n.left
        return None

    inner = is_sqrt_call(node)
    if inner is not None and isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Div):
        k = evaluate(inner.left, env, resolve)
        if _num(k) and evaluate(inner.right, env, resolve) is None and k > 0:
            return math.sqrt(k)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        k = evaluate(node.left, env, resolve)
        den = is_sqrt_call(node.right)
        if _num(k) and den is not None and evaluate(den, env, resolve) is None:
            return float(k)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        p = evaluate(node.right, env, resolve)
        if p == -0.5 and evaluate(node.left, env, resolve) is None:
            return 1.0
    return None
