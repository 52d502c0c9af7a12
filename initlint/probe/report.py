"""Text and JSON output of `initlint probe`."""

from __future__ import annotations

import math
import os
import sys
import textwrap

from initlint.probe.verdicts import finite, fmt, label, weight_order

SPARK = "▁▂▃▄▅▆▇█"
ASCII_SPARK = "_.-=+*#@"
LAYER_KEYS = ("name", "type", "call", "out_mean", "out_std", "zero_fraction", "grad_std",
              "in_std", "saturated_fraction", "weight", "param", "norm", "spread", "predicted",
              "predicted_from", "residual_end", "stream",
              "quantiles")
PREDICTION_OK = 2.0  # predicted within 2× of measured counts as a match


def unicode_ok(stream=None) -> bool:
    enc = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        (SPARK + "→×—").encode(enc)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _clean(v):
    """JSON-safe: NaN/Inf become null (`nonfinite` flags say so)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def _layers_json(layers):
    out = []
    for r in layers:
        row = {k: r.get(k) for k in LAYER_KEYS}
        row["nonfinite"] = r.get("out_std") is not None and not (
            finite(r.get("out_std")) and finite(r.get("out_mean")))
        out.append(row)
    return out


def to_json(target: str, res: dict, verdicts: list, static: dict | None, threshold: float) -> dict:
    if not res.get("ok"):
        return {"target": target, "ok": False, "error": error_json(res)}
    obj = {
        "target": target, "ok": True, "device": res["device"], "input_shape": res["input_shape"],
        "input_kind": res["input_kind"], "input_dtype": res["input_dtype"],
        "input_note": res["input_note"], "batch_size": res["batch_size"], "seed": res["seed"],
        "model_class": res["model_class"], "parameters": res["parameters"],
        "threshold": threshold, "healthy": not verdicts,
        "layers": _layers_json(res["layers"]),
        "params": res["params"], "output": res["output"], "loss": res.get("loss"),
        "verdicts": verdicts, "static": static,
        "prediction": prediction_check(res["layers"]),
        "init_mismatch": res.get("init_mismatch", []),
        "lsuv": None, "timings": res.get("timings"), "peak_rss_mb": res.get("peak_rss_mb"),
        "memory_limit_mb": res.get("memory_limit_mb"), "warnings": res.get("warnings", []),
    }
    if "cuda_peak_mb" in res:
        obj["cuda_peak_mb"] = res["cuda_peak_mb"]
    if res.get("lsuv"):
        lsuv = {"tolerance": res["lsuv"]["tolerance"], "layers": res["lsuv"]["layers"]}
        after = res["lsuv"].get("after")
        if after is not None:
            lsuv["after"] = {"layers": _layers_json(after["layers"]),
                             "verdicts": after.get("verdicts", [])}
        obj["lsuv"] = lsuv
    return _clean(obj)


def error_json(res: dict) -> dict:
    return {"stage": res.get("stage"), "message": error_paragraph(res),
            "exception": (f"{res['exc_type']}: {res['exc_message']}" if res.get("exc_type")
                          else None),
            "where": res.get("where"), "hint": res.get("hint") or None,
            "context": {k: v for k, v in (res.get("context") or {}).items() if k != "kwargs"}}


_DURING = {"import": "importing the module", "build": "building the model",
           "device": "moving the model to the device", "input": "making the input",
           "forward": "running the forward pass", "backward": "running the backward pass",
           "lsuv": "computing LSUV scales"}

_STAGE = {
    "torch": "could not import torch in the probe process",
    "import": "could not import the target",
    "attribute": "could not find the target",
    "build": "building the model failed",
    "device": "the device is not available",
    "input": "could not make an input for the model",
    "forward": "the forward pass failed",
    "backward": "the backward pass failed",
    "lsuv": "LSUV failed",
    "memory": "the model ran out of memory",
    "timeout": "the probe timed out",
    "crash": "the probe process crashed",
}


def error_paragraph(res: dict, target: str | None = None) -> str:
    """One paragraph, one line: what failed, the user's exception line, a hint."""
    head = _STAGE.get(res.get("stage"), "the probe failed")
    parts = [f"{target}: {head}" if target else head]
    if res.get("exc_type"):
        parts.append(f": {res['exc_type']}: {res['exc_message']}")
    elif res.get("exc_message"):
        parts.append(f": {res['exc_message']}")
    w = res.get("where")
    if w:
        code = f": {w['code']}" if w.get("code") else ""
        parts.append(f" (at {w['file']}:{w['line']} in {w['func']}{code})")
    ctx = res.get("context") or {}
    if res.get("stage") == "memory":
        parts.append(f", while {_DURING.get(ctx.get('during'), 'running the model')}")
        if res.get("memory_limit_mb"):
            parts.append(f"; the probe's memory budget is {res['memory_limit_mb']:,} MiB of "
                         "address space on top of what torch itself maps (--memory-mb)")
        res = dict(res, hint="raise --memory-mb, or lower --batch-size / --input-shape")
    text = "".join(parts).rstrip(".") + "."
    if res.get("hint"):
        text += f" Hint: {res['hint']}."
    return text.replace("..", ".")


# ---------------------------------------------------------------------------- text

MIN_SPAN = math.log10(4)  # a scale narrower than 4× would magnify noise


def _span(lo: float, hi: float) -> tuple[float, float]:
    if hi - lo < MIN_SPAN:
        mid = (hi + lo) / 2
        return mid - MIN_SPAN / 2, mid + MIN_SPAN / 2
    return lo, hi


def _bar(v, lo, hi, width, uni) -> str:
    if v is None:
        return ""
    if not math.isfinite(v):
        return "NaN/Inf"
    if v <= 0:
        return "·" if uni else "."
    if hi <= lo:
        n = width
    else:
        n = 1 + round((math.log10(v) - lo) / (hi - lo) * (width - 1))
    return ("█" if uni else "#") * max(1, min(width, n))


def sparkline(values, uni=True) -> str:
    chars = SPARK if uni else ASCII_SPARK
    logs = [math.log10(v) for v in values if finite(v) and v > 0]
    if not logs:
        return ""
    lo, hi = _span(min(logs), max(logs))
    out = []
    for v in values:
        if not finite(v):
            out.append("!")
        elif v <= 0:
            out.append(" ")
        elif hi <= lo:
            out.append(chars[len(chars) // 2])
        else:
            out.append(chars[round((math.log10(v) - lo) / (hi - lo) * (len(chars) - 1))])
    return "".join(out)


def _table(layers, uni) -> list[str]:
    stds = [r["out_std"] for r in layers if finite(r.get("out_std")) and r["out_std"] > 0]
    lo = math.log10(min(stds)) if stds else 0.0
    hi = math.log10(max(stds)) if stds else 0.0
    lo, hi = _span(lo, hi)
    names = [label(r["name"]) + (f"#{r['call']}" if r["call"] > 1 else "") for r in layers]
    nw = max([5] + [len(n) for n in names])
    tw = max([4] + [len(r["type"]) for r in layers])
    pred = any(r.get("predicted") is not None for r in layers)
    head = (f"  {'#':>3}  {'layer':<{nw}}  {'type':<{tw}}  {'out mean':>9}  {'out std':>9}  "
            + (f"{'predicted':>9}  " if pred else "") +
            f"{'zeros':>6}  {'grad std':>9}  std (log scale)")
    lines = [head]
    for k, (r, n) in enumerate(zip(layers, names), 1):
        zf = r.get("zero_fraction")
        z = f"{zf:.1%}" if zf is not None else "—"
        p = ""
        if pred:
            p = f"{fmt(r.get('predicted')) if r['weight'] else '':>9}  "
        lines.append(f"  {k:>3}  {n:<{nw}}  {r['type']:<{tw}}  {fmt(r.get('out_mean')):>9}  "
                     f"{fmt(r.get('out_std')):>9}  {p}{z:>6}  {fmt(r.get('grad_std')):>9}  "
                     f"{_bar(r.get('out_std'), lo, hi, 20, uni)}")
    if not uni:
        lines = [ln.replace("—", "-") for ln in lines]
    return lines


def render_text(target: str, res: dict, verdicts: list, static: dict | None,
                threshold: float, uni: bool = True) -> str:
    arrow = "→" if uni else "->"
    lines = [f"initlint probe {target}"]
    w_names = weight_order(res["layers"])
    lines.append(f"  model   {res['model_class']}: {len(w_names)} weight layers, "
                 f"{res['parameters']:,} parameters, on {res['device']}")
    shape = "×".join(str(s) for s in res["input_shape"]) if uni else "x".join(
        str(s) for s in res["input_shape"])
    lines.append(f"  input   {shape} {res['input_dtype']} ({res['input_note']}); seed {res['seed']}; "
                 "train mode")
    t = res.get("timings") or {}
    if "measure_s" in t:
        extra = f", LSUV {t['lsuv_s']:.2f} s" if "lsuv_s" in t else ""
        lines.append(f"  time    forward+backward with hooks {t['measure_s']:.2f} s{extra}")
    lines.append("")
    lines += _table(res["layers"], uni)
    wr = [r for r in res["layers"] if r["weight"]]
    spark = sparkline([r.get("out_std") for r in wr], uni)
    if spark:
        lines.append("")
        lines.append(f"  output std of the {len(wr)} weight-layer calls (log scale): {spark}")
    summary = prediction_summary(res["layers"])
    if summary:
        lines.append(f"  {summary}")
    for m in res.get("init_mismatch") or []:
        lines.append(f"  note: the static analysis reads `{m['param']}` as {m['static']} (std "
                     f"{fmt(m['static_std'])}); the built weight has std {fmt(m['built_std'])}")
    for w in res.get("warnings", []):
        lines.append(f"  note: {w}")
    lines.append("")
    if verdicts:
        lines.append(f"verdicts (threshold {threshold:g}×):")
        kw = max(len(v["kind"]) for v in verdicts)
        for v in verdicts:
            body = textwrap.wrap(v["message"], width=96 - kw)
            lines.append(f"  {v['kind']:<{kw}}  {body[0]}")
            lines += [f"  {'':<{kw}}  {b}" for b in body[1:]]
    else:
        lines.append(f"verdicts: healthy: no vanishing or exploding signal (threshold "
                     f"{threshold:g}×), no dead units, no symmetric weights, no NaN/Inf")
    if static is not None:
        lines.append("")
        nf = len(static["files"])
        items = static["findings"]
        lines.append(f"static findings on the probed classes ({nf} file{'s' if nf != 1 else ''} "
                     f"linted): {len(items) or 'none'}")
        for it in items:
            loc = f"{it['filename']}:{it['location']['row']}:{it['location']['column']}"
            layer = f" [{it['model'].rsplit('.', 1)[-1]}.{it['layer']}]" if it.get("layer") else ""
            lines.append(f"  {loc}: {it['code']} {it['severity']}{layer} {it['message']}")
            for b in textwrap.wrap(f"{arrow} {it['status']}: {it['evidence']}", width=96):
                lines.append(f"      {b}")
        for where, why in static.get("errors", []):
            lines.append(f"  (static analysis error in {where}: {why.splitlines()[0]})")
    lsuv = res.get("lsuv")
    if lsuv:
        lines.append("")
        lines.append(f"LSUV scale factors (multiply each weight so its layer outputs unit "
                     f"variance, |Var-1| < {lsuv['tolerance']:g}):")
        rows = lsuv["layers"]
        nw = max([5] + [len(r["param"]) for r in rows])
        lines.append(f"  {'parameter':<{nw}}  {'scale':>9}  {'std before':>10}  {'after':>9}  steps")
        for r in rows:
            note = f"  ({r['note']})" if r["note"] else ""
            lines.append(f"  {r['param']:<{nw}}  {fmt(r['scale']):>9}  {fmt(r['std_before']):>10}  "
                         f"{fmt(r['std_after']):>9}  {r['iterations']:>5}{note}")
        after = lsuv.get("after")
        if after is not None:
            lines.append("")
            lines.append("after applying the LSUV scales to a copy (your model is unchanged, "
                         "nothing is written):")
            lines += _table(after["layers"], uni)
            av = after.get("verdicts", [])
            wr2 = [r for r in after["layers"] if r["weight"]]
            s2 = sparkline([r.get("out_std") for r in wr2], uni)
            if s2:
                lines.append(f"  output std of the weight-layer calls (log scale): {s2}")
            lines.append("  verdicts after LSUV: " + (", ".join(
                f"{v['kind']} at `{label(v['layer'])}`" for v in av) if av else "healthy"))
    lines.append("")
    kinds = sorted({v["kind"] for v in verdicts})
    result = (f"result: {len(verdicts)} problem{'s' if len(verdicts) != 1 else ''} measured "
              f"({', '.join(kinds)})" if verdicts else "result: healthy")
    if static is not None and static["findings"]:
        n = sum(1 for it in static["findings"] if it["status"] == "confirmed")
        result += (f"; {n} of {len(static['findings'])} static finding"
                   f"{'s' if len(static['findings']) != 1 else ''} confirmed by the measurement")
    lines.append(result)
    text = "\n".join(lines) + "\n"
    if not uni:
        text = text.replace("→", "->").replace("×", "x").replace("—", "-").replace("·", ".")
        text = text.encode("ascii", "replace").decode("ascii")
    return text


def prediction_check(layers: list[dict]) -> dict:
    """Predicted vs measured output std over the weight-layer calls."""
    rows = [r for r in layers if r["weight"]]
    both = [r for r in rows if finite(r.get("predicted")) and finite(r.get("out_std"))]
    ratios = []
    for r in both:
        a, b = r["predicted"], r["out_std"]
        ratios.append(1.0 if a == b else (math.inf if min(a, b) == 0 else max(a, b) / min(a, b)))
    within = sum(1 for x in ratios if x <= PREDICTION_OK)
    static = sum(1 for r in rows if r.get("predicted_from") == "static")
    return {"weight_layers": len(rows), "predicted": len(both), "within_2x": within,
            "worst_ratio": max(ratios) if ratios else None, "static_inits": static}


def prediction_summary(layers: list[dict]) -> str:
    c = prediction_check(layers)
    if not c["predicted"]:
        return ""
    worst = f", worst ×{c['worst_ratio']:.3g}" if finite(c["worst_ratio"]) else ""
    return (f"prediction: {c['within_2x']} of {c['predicted']} predicted weight-layer outputs "
            f"within 2× of the measured std{worst} (init from the static analysis for "
            f"{c['static_inits']} of {c['weight_layers']}, from the built parameters for the "
            "rest)")


def plot_name(path: str, index: int, count: int) -> str:
    if count <= 1:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}-{index + 1}{ext}"
