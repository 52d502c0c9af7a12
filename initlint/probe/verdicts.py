"""Verdicts from the probe's measurements (pure Python: no torch).

kind        when
vanishing   within a normalization-free segment (weight layers between two norm modules, in
            execution order), the output std of its last weight layer < its first's /
            threshold; or the same along the residual stream (the inputs of the norms that
            read it, pre-LN style: their input is also added to a branch's output; first to
            last)
exploding   the same with > first × threshold
            (the model's last weight layer, its output head, is left out when there are ≥ 3:
            a small or zero-initialized head is deliberate, RULES.md §2; so is every weight
            layer whose weight is all zero (adaLN-Zero), and every layer that ends a residual
            branch, its output added to the stream: a small branch is deliberate (Fixup,
            GPT-2's scaled projections, layer scale); the stream is checked instead)
collapsed   the model output no longer depends on the input: the samples of a batch differ by
            less than 1e-3 of the per-element std at the last weight layer whose weight is not
            zero (biases dominate); reported when no vanishing/exploding already explains it
dead        ≥ 70% exact zeros at the output of a ReLU-family module, or at the input of a weight
            layer (a functional `torch.relu` upstream)
symmetry    a hidden weight layer whose rows (one per output unit) are all identical; an all-zero
            one only where the model output no longer depends on the input (zero-init of a
            residual branch's last layer is deliberate). Per-channel scales (a layer scale of
            shape (C, 1, 1)) and containers' own parameters are not weight layers.
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


COLLAPSE = 1e-3


def zero_weight_layers(data: dict) -> set[str]:
    """Weight layers whose weight is all zero at init (deliberate: branch ends, zero heads,
    adaLN-Zero modulation)."""
    params = {p["name"]: p for p in data.get("params", [])}
    out = set()
    for r in data.get("layers", []):
        p = params.get(r.get("param") or "")
        if r["weight"] and p is not None and p.get("all_zero"):
            out.add(r["name"])
    return out


def collapse_row(data: dict) -> dict | None:
    """The last weight layer (weight not all zero) whose batch spread says the output no
    longer depends on the input; None if it does (or nothing says)."""
    zeros = zero_weight_layers(data)
    rows = [r for r in data.get("layers", []) if r["weight"] and r["name"] not in zeros and
            finite(r.get("out_std")) and r.get("spread") is not None]
    if not rows:
        return None
    r = rows[-1]
    s, sp = r["out_std"], r["spread"]
    if s > 0 and finite(sp) and sp <= COLLAPSE * s:
        return r
    return None


def is_collapsed(data: dict) -> bool:
    rows = [r for r in data.get("layers", []) if r["weight"] and r.get("spread") is not None]
    if rows:
        return collapse_row(data) is not None
    return collapsed(data.get("output", {}))


def segments(layers: list[dict]) -> list[list[dict]]:
    """Weight-layer rows between normalization modules, in execution order; a layer that
    ends a residual branch ends its segment too (what runs next reads the stream)."""
    out: list[list[dict]] = [[]]
    for r in layers:
        if r.get("norm"):
            if out[-1]:
                out.append([])
        elif r["weight"] and r.get("out_std") is not None:
            out[-1].append(r)
            if r.get("residual_end"):
                out.append([])
    return [s for s in out if s]


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

    # --- vanishing / exploding, per normalization-free segment and on the residual stream
    w = weight_rows(layers)
    names = weight_order(layers)
    zeros = zero_weight_layers(data)
    if len(w) >= 2 and bad is None:
        head = names[-1] if len(names) >= 3 else None
        found = []
        for seg in segments(layers):
            rows = [r for r in seg if r["name"] not in zeros and r["name"] != head and
                    not r.get("residual_end")]
            if len(rows) < 2:
                continue
            first, last = rows[0], rows[-1]
            note = (f" (the output head `{label(head)}` is left out: a small head is "
                    "deliberate)" if head and seg[-1]["name"] == head else "")
            found.append(_scale_verdict(first, last, threshold, note, rows))
        stream = [r for r in layers if r.get("norm") and r.get("stream") and
                  finite(r.get("in_std"))]
        if len(stream) >= 2:
            a0, a1 = stream[0], stream[-1]
            v = _stream_verdict(a0, a1, threshold)
            if v is not None:
                found.append(v)
        found = [f for f in found if f is not None]
        if found:
            found.sort(key=lambda f: -f[3])
            kind, layer_, msg, _ = found[0]
            if len(found) > 1:
                msg += f" ({len(found) - 1} more segment{'s' if len(found) > 2 else ''} " \
                       "past the threshold)"
            add(kind, layer_, msg)
    scaled = any(v["kind"] in ("vanishing", "exploding") for v in out)

    # --- output independent of the input (unless dead units or a vanishing signal, reported
    # above, already explain it)
    cr = collapse_row(data) if bad is None else None
    if cr is not None and not scaled and not _dead_upstream(layers, cr):
        add("collapsed", cr["name"], f"the output no longer depends on the input: at "
            f"`{label(cr['name'])}` the samples of the batch differ by {fmt(cr['spread'])} "
            f"while each output has std {fmt(cr['out_std'])} (biases or constants dominate "
            "the signal)")

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
    hidden = set(names[:-1])
    gone = is_collapsed(data)
    for p in params:
        if not p.get("rows_identical") or p.get("rows", 0) < 2 or p["module"] not in hidden:
            continue
        if p.get("matrix") is False:
            continue
        if p.get("module_type") in EMBEDDING_TYPES:
            continue
        all_zero = bool(p.get("all_zero"))
        if not p.get("unit_rows") and not p.get("zero_variance"):
            continue
        if all_zero and not gone:
            continue
        what = "all zero" if all_zero else ("one constant" if p.get("zero_variance") else
                                            "identical")
        tail = ("; the model output no longer depends on the input" if gone else "")
        add("symmetry", p["module"], f"all {p['rows']} rows of `{p['name']}` are identical "
            f"({what}): every unit of hidden layer `{label(p['module'])}` computes the same "
            f"output and gets the same gradient{tail}")
    return out


def _scale_verdict(first, last, threshold, note, rows):
    """(kind, layer, message, severity) for one segment, or None."""
    s0, s1 = first["out_std"], last["out_std"]
    grads = [r["grad_std"] for r in rows if finite(r.get("grad_std")) and r["grad_std"] > 0]
    gtext = ""
    if len(grads) >= 2:
        gtext = (f"; weight-gradient std {fmt(grads[0])} at `{label(rows[0]['name'])}`, "
                 f"{fmt(grads[-1])} at `{label(rows[-1]['name'])}`")
    where = (f"from {fmt(s0)} at `{label(first['name'])}` to {fmt(s1)} at "
             f"`{label(last['name'])}`, {len(rows)} weight layers with no normalization in "
             f"between{note}")
    if not (finite(s0) and finite(s1)):
        return None
    if s0 == 0 and s1 == 0:
        return ("vanishing", first["name"], f"`{label(first['name'])}` outputs exact zeros and "
                f"so does `{label(last['name'])}`: no signal gets through", math.inf)
    if s0 == 0:
        return ("exploding", last["name"], f"output std grows {where}{gtext}", math.inf)
    r = s1 / s0
    if r < 1 / threshold:
        return ("vanishing", last["name"], f"output std falls {where}: {ratio_text(r)}, beyond "
                f"the threshold of {threshold:g}×{gtext}", 1 / r if r > 0 else math.inf)
    if r > threshold:
        return ("exploding", last["name"], f"output std grows {where}: {ratio_text(r)}, beyond "
                f"the threshold of {threshold:g}×{gtext}", r)
    return None


def _stream_verdict(a0, a1, threshold):
    s0, s1 = a0["in_std"], a1["in_std"]
    if not (finite(s0) and finite(s1)) or s0 <= 0:
        return None
    r = s1 / s0
    where = (f"the residual stream (the input of `{label(a0['name'])}` {fmt(s0)}, of "
             f"`{label(a1['name'])}` {fmt(s1)})")
    if r > threshold:
        return ("exploding", a1["name"], f"std grows along {where}: {ratio_text(r)}, beyond the "
                f"threshold of {threshold:g}×", r)
    if r < 1 / threshold:
        return ("vanishing", a1["name"], f"std falls along {where}: {ratio_text(r)}, beyond the "
                f"threshold of {threshold:g}×", 1 / r if r > 0 else math.inf)
    return None


def _dead_upstream(layers: list[dict], row: dict) -> bool:
    for r in layers:
        if r is row:
            return False
        zf = r.get("zero_fraction")
        if r["relu"] and zf is not None and zf >= DEAD_FRACTION:
            return True
    return False
