"""`--plot FILE.png|svg`: activation and weight-gradient std per weight layer, log scale
(matplotlib, the `plot` extra)."""

from __future__ import annotations

import importlib.util

from initlint.probe.verdicts import finite, label

FORMATS = (".png", ".svg")


def available() -> bool:
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def _series(layers):
    rows, seen = [], set()
    for r in layers:
        if r["weight"] and r["name"] not in seen:
            seen.add(r["name"])
            rows.append(r)
    return rows


def _points(rows, key):
    xs, ys = [], []
    for i, r in enumerate(rows):
        v = r.get(key)
        if finite(v) and v > 0:
            xs.append(i)
            ys.append(v)
    return xs, ys


MARKERS = {"vanishing": "v", "exploding": "^", "collapsed": "s", "dead": "x", "symmetry": "D",
           "nonfinite": "*"}


def plot(path: str, target: str, res: dict, verdicts: list, threshold: float = 4.0) -> None:
    """Three panels over the weight layers (execution order): output std with the measured
    5–95% / 25–75% quantiles of |output|, the static prediction, the threshold
    band around the first layer and a marker per verdict; weight-gradient std; the fraction of
    exact zeros at each layer's input."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    rows = _series(res["layers"])
    after = (res.get("lsuv") or {}).get("after")
    rows_after = _series(after["layers"]) if after else []
    width = max(6.0, min(14.0, 0.35 * len(rows) + 4))
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, sharex=True, figsize=(width, 8.0),
                                        gridspec_kw={"height_ratios": [3, 2, 1.2]})
    color = "#c0392b" if verdicts else "#2471a3"
    xs, ys = _points(rows, "out_std")
    ax1.plot(xs, ys, marker="o", ms=3.5, lw=1.6, color=color, label="measured std")
    qx = [i for i, r in enumerate(rows) if r.get("quantiles")]
    if qx and ys:
        floor = min(ys) / 100
        q = [[max(v, floor) for v in rows[i]["quantiles"]] for i in qx]
        ax1.fill_between(qx, [v[0] for v in q], [v[4] for v in q], color=color, alpha=0.10,
                         lw=0, label="|x|: 5–95% quantiles")
        ax1.fill_between(qx, [v[1] for v in q], [v[3] for v in q], color=color, alpha=0.20,
                         lw=0, label="|x|: 25–75%")
    px, py = _points(rows, "predicted")
    if px:
        ax1.plot(px, py, ls=":", marker=".", ms=3, lw=1.2, color="#7d3c98",
                 label="static prediction")
    if ys:
        s0 = ys[0]
        ax1.axhspan(s0 / threshold, s0 * threshold, color="#95a5a6", alpha=0.12, lw=0,
                    label=f"first layer ×/÷ {threshold:g}")
    if rows_after:
        xa, ya = _points(rows_after, "out_std")
        ax1.plot(xa, ya, marker="s", ms=3, lw=1.2, ls="--", color="#27ae60",
                 label="after LSUV scaling")
    index = {r["name"]: i for i, r in enumerate(rows)}
    for v in verdicts:
        i = index.get(v["layer"])
        if i is None or not finite(rows[i].get("out_std")) or rows[i]["out_std"] <= 0:
            continue
        ax1.plot([i], [rows[i]["out_std"]], marker=MARKERS.get(v["kind"], "o"), ms=10,
                 mfc="none", mec="#000000", mew=1.4, ls="none")
        ax1.annotate(v["kind"], (i, rows[i]["out_std"]), textcoords="offset points",
                     xytext=(6, 8), fontsize=8)
    gx, gy = _points(rows, "grad_std")
    ax2.plot(gx, gy, marker="o", ms=3.5, lw=1.6, color=color)
    if rows_after:
        xa, ya = _points(rows_after, "grad_std")
        ax2.plot(xa, ya, marker="s", ms=3, lw=1.2, ls="--", color="#27ae60")
    for ax, title in ((ax1, "output std per weight layer"),
                      (ax2, "weight-gradient std per weight layer")):
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(True, which="both", alpha=0.25)
    ax1.legend(fontsize=7, loc="best", ncol=2)
    zx = [i for i, r in enumerate(rows) if r.get("in_zero_fraction") is not None]
    ax3.bar(zx, [rows[i]["in_zero_fraction"] for i in zx], color="#7f8c8d", width=0.7)
    ax3.axhline(0.7, color="#c0392b", lw=0.8, ls="--")
    ax3.set_ylim(0, 1)
    ax3.set_title("fraction of exact zeros at the input (dead units above the dashed line)",
                  fontsize=9, loc="left")
    step = max(1, len(rows) // 24)
    ax3.set_xticks(list(range(0, len(rows), step)))
    ax3.set_xticklabels([label(rows[i]["name"]) for i in range(0, len(rows), step)],
                        rotation=60, ha="right", fontsize=7)
    ax3.set_xlabel("weight layer (execution order)")
    status = ", ".join(sorted({v["kind"] for v in verdicts})) or "healthy"
    fig.suptitle(f"initlint probe {target}  [{status}]", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None} if path.lower().endswith(".svg") else None)
    plt.close(fig)
