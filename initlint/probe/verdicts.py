"""Verdicts from the probe's measurements (pure Python: no torch).

kind        when
vanishing   output std of the last weight layer < first weight layer's / threshold
exploding   output std of the last weight layer > first weight layer's × threshold
            (the last weight layer is the last one before the output head when there are ≥ 3:
            a small or zero-initialized head is deliberate, RULES.md §2)
dead        ≥ 70% exact zeros at the output of a ReLU-family module, or at the input of a weight
            layer (a functional `torch.relu` upstream)
symmetry    a hidden weight layer whose rows (one per output unit) are all identical; an all-zero
            one only where the model output no longer depends on the input (zero-init of a
            residual branch's last layer is deliberate)
nonfinite   NaN/Inf in an activation, a parameter, a gradient or the loss
"""

from __future__ import annotations

import math

DEAD_FRACTION = 0.7
EMBEDDING_TYPES = {"Embedding", "EmbeddingBag"}


def finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def fmt(v) -> str:
    if v is None:
        return "—"
    if not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        return f"{v:.2e}"
    return f"{v:.3g}"


def ratio_text(r: float) -> str:
    if r >= 1:
        return f"×{r:.3g}"
    return f"×1/{1 / r:.3g}" if r > 0 else "×0"


def weight_rows(layers: list[dict]) -> list[dict]:
    return [r for r in layers if r["weight"] and r.get("out_std") is not None]


def weight_order(layers: list[dict]) -> list[str]:
    out: list[str] = []
    for r in layers:
        if r["weight"] and r["name"] not in out:
            out.append(r["name"])
    return out


def collapsed(output: dict) -> bool:
    """The model output does not depend on the input (identical for every sample)."""
    b, m = output.get("batch_std"), output.get("abs_max")
    if not finite(b) or not finite(m):
        return False
    return b <= 1e-6 * m or b == 0


def label(name: str) -> str:
    return name or "(root)"


def compute(data: dict, threshold: float = 4.0) -> list[dict]:
    layers = data.get("layers", [])
    params = data.get("params", [])
    out: list[dict] = []

    def add(kind, layer, message):
        out.append({"kind": kind, "layer": layer, "message": message})

    # --- nonfinite
    bad = next((r for r in layers if r.get("out_std") is not None and
                not (finite(r["out_std"]) and finite(r["out_mean"]))), None)
    if bad is not None:
        add("nonfinite", bad["name"], f"the output of `{label(bad['name'])}` ({bad['type']}) "
            "contains NaN or Inf (or values beyond float32 range): every later layer inherits it")
    for p in params:
        if p.get("finite") is False:
            add("nonfinite", p["module"], f"parameter `{p['name']}` contains NaN or Inf at init")
    bad_grads = [p for p in params if p.get("grad_finite") is False]
    if bad_grads:
        add("nonfinite", bad_grads[0]["module"],
            f"the gradient of {len(bad_grads)} parameter(s) contains NaN or Inf, first "
            f"`{bad_grads[0]['name']}`")
    loss = data.get("loss")
    if loss is not None and not finite(loss) and bad is None and not bad_grads:
        add("nonfinite", "", "the loss mean(output²) is NaN or Inf")

    # --- vanishing / exploding
    w = weight_rows(layers)
    if len(w) >= 2 and bad is None:
        first = w[0]
        names = weight_order(layers)
        last = w[-1]
        head_note = ""
        if len(names) >= 3:
            hidden = [r for r in w if r["name"] != names[-1]]
            if len(hidden) >= 2:
                last = hidden[-1]
                head_note = (f" (the output head `{label(names[-1])}` is left out: a small head "
                             "is deliberate)")
        s0, s1 = first["out_std"], last["out_std"]
        grads = [r["grad_std"] for r in w if finite(r.get("grad_std")) and r["grad_std"] > 0]
        gtext = ""
        if len(grads) >= 2:
            gtext = (f"; weight-gradient std {fmt(grads[0])} at the first weight layer, "
                     f"{fmt(grads[-1])} at the last")
        where = (f"from {fmt(s0)} at `{label(first['name'])}` (first weight layer) to {fmt(s1)} "
                 f"at `{label(last['name'])}`{head_note}")
        if s0 == 0 and s1 == 0:
            add("vanishing", first["name"], f"the first weight layer `{label(first['name'])}` "
                "outputs exact zeros and so does the last: no signal reaches the output")
        elif s0 == 0:
            add("exploding", last["name"], f"output std grows {where}{gtext}")
        else:
            r = s1 / s0
            if r < 1 / threshold:
                add("vanishing", last["name"], f"output std falls {where}: {ratio_text(r)}, "
                    f"beyond the threshold of {threshold:g}×{gtext}")
            elif r > threshold:
                add("exploding", last["name"], f"output std grows {where}: {ratio_text(r)}, "
                    f"beyond the threshold of {threshold:g}×{gtext}")

    # --- dead units
    prev = None
    for r in layers:
        zf = r.get("zero_fraction")
        if r["relu"] and zf is not None and zf >= DEAD_FRACTION:
            call = f" (call {r['call']})" if r["call"] > 1 else ""
            add("dead", r["name"], f"{zf:.0%} of the outputs of `{label(r['name'])}` "
                f"({r['type']}){call} are exactly zero: those units pass no gradient")
        izf = r.get("in_zero_fraction")
        if (r["weight"] and izf is not None and izf >= DEAD_FRACTION and prev is not None and
                not prev["relu"] and "Dropout" not in prev["type"]):
            add("dead", r["name"], f"{izf:.0%} of the inputs of `{label(r['name'])}` "
                f"({r['type']}) are exactly zero: ReLU units upstream are dead")
        prev = r

    # --- symmetry
    names = weight_order(layers)
    hidden = set(names[:-1])
    is_collapsed = collapsed(data.get("output", {}))
    for p in params:
        if not p.get("rows_identical") or p.get("rows", 0) < 2 or p["module"] not in hidden:
            continue
        if p.get("module_type") in EMBEDDING_TYPES:
            continue
        all_zero = bool(p.get("all_zero"))
        if not p.get("unit_rows") and not p.get("zero_variance"):
            continue
        if all_zero and not is_collapsed:
            continue
        what = "all zero" if all_zero else ("one constant" if p.get("zero_variance") else
                                            "identical")
        tail = ("; the model output no longer depends on the input" if is_collapsed else "")
        add("symmetry", p["module"], f"all {p['rows']} rows of `{p['name']}` are identical "
            f"({what}): every unit of hidden layer `{label(p['module'])}` computes the same "
            f"output and gets the same gradient{tail}")
    return out
